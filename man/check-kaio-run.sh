#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# kaio-run from the build tree: options, exit statuses, the environment it
# builds (LD_PRELOAD kept, library first, no duplicate) and, unless the
# library is built with a sanitizer, a real preload of the built library.
b=${top_builddir:-.}
run="$b/src/kaio-run"
lib="$(cd "$b" && pwd)/.libs/libkaio_posix.so.1"
[ -x "$run" ] || { echo "FAIL: $run not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-kaio-run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# A regular file that is no library: ld.so ignores it (with a message on
# stderr, which the checks drop), so the environment checks below run the
# same with or without sanitizers.
fake="$tmp/fake.so"
: > "$fake"

pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; [ -z "$2" ] || printf '%s\n' "$2" | sed 's/^/    /'; fail=$((fail + 1)); }

# expect STATUS NAME COMMAND...: the command exits with STATUS.
expect() {
	want=$1 name=$2
	shift 2
	out=$("$@" 2>&1)
	st=$?
	if [ "$st" -eq "$want" ]; then ok "$name (exit $st)"; else ko "$name: exit $st, expected $want" "$out"; fi
}

export KAIO_RUN_LIB="$fake"
unset LD_PRELOAD KAIO_BACKEND KAIO_STATS KAIO_THREADS

expect 0 "--help" "$run" --help
"$run" --help | grep -q '^Usage: kaio-run ' && ok "--help prints usage" || ko "--help prints usage"
v=$("$run" --version)
case $v in
"kaio-run (libkaio_posix) "[0-9]*) ok "--version: $v" ;;
*) ko "--version" "$v" ;;
esac
expect 125 "no program" "$run"
expect 125 "unknown option" "$run" --frobnicate true
expect 125 "bad backend" "$run" --backend=fast true
expect 0 "--backend=uring" "$run" --backend=uring true
expect 125 "missing option value" "$run" --backend
expect 125 "threads=0" "$run" --threads=0 true
expect 125 "threads=4097" "$run" --threads=4097 true
expect 125 "threads=abc" "$run" --threads=abc true
expect 125 "threads=99999999999999999999" "$run" --threads=99999999999999999999 true
expect 127 "program not found" "$run" kaio-run-no-such-program
expect 127 "path not found" "$run" "$tmp/nothing"
expect 127 "dash program after --" "$run" -- --no-such-program
printf 'echo hi\n' > "$tmp/noexec"
expect 126 "not executable" "$run" "$tmp/noexec"
expect 126 "a directory" "$run" "$tmp"
expect 125 "relative KAIO_RUN_LIB" env KAIO_RUN_LIB=lib.so "$run" true
expect 125 "missing KAIO_RUN_LIB" env KAIO_RUN_LIB="$tmp/none.so" "$run" true
expect 3 "exit status passed on" "$run" sh -c 'exit 3'

# Arguments arrive untouched.
out=$("$run" -- sh -c 'printf "[%s]" "$@"' sh "a b" "" '*' -x 2>/dev/null)
[ "$out" = "[a b][][*][-x]" ] && ok "arguments kept" || ko "arguments kept" "$out"

# The environment: library first, the program's entries kept, in order.
show='printf "%s|%s|%s|%s\n" "$LD_PRELOAD" "${KAIO_BACKEND-unset}" "${KAIO_STATS-unset}" "${KAIO_THREADS-unset}"'
out=$(LD_PRELOAD="/x/a.so:/x/b.so /x/c.so" "$run" --backend=threads --stats \
	--threads=007 -- sh -c "$show" 2>/dev/null)
[ "$out" = "$fake /x/a.so /x/b.so /x/c.so|threads|1|7" ] &&
	ok "LD_PRELOAD kept after the library, options set" ||
	ko "LD_PRELOAD kept after the library, options set" "$out"
out=$("$run" --backend kernel sh -c "$show" 2>/dev/null)
[ "$out" = "$fake|kernel|unset|unset" ] && ok "no LD_PRELOAD before; --backend VALUE" ||
	ko "no LD_PRELOAD before; --backend VALUE" "$out"
out=$(LD_PRELOAD="/x/a.so:$fake" "$run" sh -c "$show" 2>/dev/null)
[ "$out" = "$fake /x/a.so|unset|unset|unset" ] && ok "no duplicate of the library" ||
	ko "no duplicate of the library" "$out"
out=$(KAIO_BACKEND=kernel "$run" sh -c "$show" 2>/dev/null)
[ "$out" = "$fake|kernel|unset|unset" ] && ok "KAIO_BACKEND from the caller kept" ||
	ko "KAIO_BACKEND from the caller kept" "$out"

# The real library, preloaded into true(1): its exit line shows it loaded
# (not into sh: dash leaves with _exit(), which skips the line).
if [ -n "$SANITIZED" ]; then
	echo "SKIP: real preload: a sanitizer runtime cannot be preloaded into an uninstrumented program"
elif [ ! -f "$lib" ]; then
	ko "real preload: $lib not built"
else
	out=$(KAIO_RUN_LIB="$lib" "$run" --stats --backend=threads true 2>&1)
	echo "$out" | grep -Eq '^kaio_posix: pid=[0-9]+ backend=threads kaio=(off|unused) io_uring=(off|unused) read=0 ' &&
		ok "real preload: kaio_posix: line" || ko "real preload: kaio_posix: line" "$out"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
