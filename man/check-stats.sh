#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The counters of every process reach a report (src/observe.c, kaio-run):
#  - kaio-run --stats over tests/stats-fork, whose children and grandchild
#    read and end with _exit() or exit(): one line per process, a total
#    equal to every read made, the _exit() ones marked end=no_exit;
#  - KAIO_STATS=1 alone: the processes that printed nothing themselves are
#    printed by the parent, marked, and the lines add up to every read;
#  - a tree of executed programs under kaio-run --stats;
#  - a KAIO_STATS_SHM that is not kaio-run's file is refused, untouched;
#  - fio's default mode (a forked process per job, each ending with
#    _exit()) under kaio-run --stats, if fio is installed.
b=${top_builddir:-.}
run="$b/src/kaio-run"
prog="$(cd "$b" && pwd)/tests/stats-fork"
lib="$(cd "$b" && pwd)/.libs/libkaio_posix.so.1"

if [ -n "$SANITIZED" ]; then
	echo "SKIP: a sanitizer runtime cannot be preloaded into an uninstrumented program"
	exit 77
fi
for f in "$run" "$prog" "$lib"; do
	[ -e "$f" ] || { echo "FAIL: $f not built"; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-stats.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
export KAIO_RUN_LIB="$lib"
unset LD_PRELOAD KAIO_BACKEND KAIO_STATS KAIO_STATS_SHM KAIO_THREADS

pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; [ -z "$2" ] || printf '%s\n' "$2" | sed 's/^/    /'; fail=$((fail + 1)); }

# field NAME LINE: the value of NAME=value in LINE.
field() { printf '%s\n' "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# sum NAME TEXT: NAME= summed over the kaio_posix: lines of TEXT.
sum() {
	printf '%s\n' "$2" | grep '^kaio_posix: ' |
		sed -n "s/.* $1=\([0-9]*\).*/\1/p" | awk '{ s += $1 } END { print s + 0 }'
}
count() { printf '%s\n' "$2" | grep -c -- "$1"; }

# 1. kaio-run --stats: every process, however it ended, and the total.
out=$("$run" --stats -- "$prog" "$tmp/data" 3 5 2>"$tmp/err")
st=$? err=$(cat "$tmp/err")
want_reads=$(field reads " $out") want_procs=$(field processes " $out")
want_noexit=$(field no_exit " $out")
total=$(printf '%s\n' "$err" | grep '^kaio-run: total ')
if [ "$st" -ne 0 ] || [ -z "$want_reads" ]; then
	ko "kaio-run --stats stats-fork: exit $st" "$out
$err"
elif [ "$(field read "$total")" = "$want_reads" ] &&
     [ "$(field processes "$total")" = "$want_procs" ] &&
     [ "$(sum read "$err")" = "$want_reads" ] &&
     [ "$(count '^kaio_posix: ' "$err")" = "$want_procs" ] &&
     [ "$(count ' end=no_exit ' "$err")" = "$want_noexit" ]; then
	ok "kaio-run --stats: $want_procs processes, $want_noexit of them _exit(), read=$want_reads in all"
else
	ko "kaio-run --stats: expected read=$want_reads over $want_procs processes, $want_noexit end=no_exit" "$err"
fi
seg=$("$run" --stats -- sh -c 'printf "%s\n" "$KAIO_STATS_SHM"' 2>/dev/null)
case $seg in
/*) [ ! -e "$seg" ] && ok "kaio-run --stats removes its counter file" ||
	ko "kaio-run --stats left its counter file $seg" ;;
*) ko "kaio-run --stats: no KAIO_STATS_SHM in the program's environment" "$seg" ;;
esac

# 2. KAIO_STATS=1 alone: the parent prints the children that could not.
err=$(KAIO_STATS=1 LD_PRELOAD="$lib" "$prog" "$tmp/data" 3 5 2>&1 >/dev/null)
if [ "$(sum read "$err")" = "$want_reads" ] &&
   [ "$(count '^kaio_posix: ' "$err")" = "$want_procs" ] &&
   [ "$(count '^kaio_posix: pid=[0-9]* backend=auto end=no_exit parent=[0-9]* read=5 ' "$err")" = "$want_noexit" ]; then
	ok "KAIO_STATS=1: the _exit() children reported by a parent (end=no_exit), read=$want_reads in all"
else
	ko "KAIO_STATS=1: expected $want_procs lines, read=$want_reads, $want_noexit end=no_exit" "$err"
fi

# 3. Executed programs: every image of the tree counts into kaio-run's file.
err=$("$run" --stats -- sh -c '"$1" "$2.1" 3 5 >/dev/null & "$1" "$2.2" 3 5 >/dev/null; wait' \
	sh "$prog" "$tmp/data" 2>&1)
total=$(printf '%s\n' "$err" | grep '^kaio-run: total ')
[ "$(field read "$total")" = "$((2 * want_reads))" ] &&
	ok "kaio-run --stats over sh -c 'prog & prog': read=$((2 * want_reads))" ||
	ko "kaio-run --stats over sh -c 'prog & prog': expected read=$((2 * want_reads))" "$err"

# 4. Exit status, and a KAIO_STATS_SHM that is not kaio-run's file.
"$run" --stats -- sh -c 'exit 7' 2>/dev/null
st=$?
[ "$st" -eq 7 ] && ok "kaio-run --stats passes the exit status on" ||
	ko "kaio-run --stats: exit $st, expected 7"
printf 'not a counter file\n' > "$tmp/other"
err=$(KAIO_STATS=1 KAIO_STATS_SHM="$tmp/other" LD_PRELOAD="$lib" "$prog" "$tmp/data" 1 1 2>&1 >/dev/null)
if [ "$(cat "$tmp/other")" = "not a counter file" ] &&
   printf '%s\n' "$err" | grep -q 'KAIO_STATS_SHM=.*not a kaio-run counter file' &&
   [ "$(sum read "$err")" = 3 ]; then
	ok "a foreign KAIO_STATS_SHM file is left alone; the process prints its own line"
else
	ko "a foreign KAIO_STATS_SHM file" "$err"
fi

# 5. fio's default: a process per job, each ending with _exit().
if ! command -v fio >/dev/null 2>&1; then
	echo "SKIP: fio's default mode: fio is not installed (.ci/deps installs it)"
else
	err=$("$run" --stats -- fio --name=stats --filename="$tmp/fio" --size=1m \
		--bs=4k --rw=read --ioengine=posixaio --iodepth=4 --numjobs=2 \
		--output=/dev/null 2>&1)
	st=$?
	total=$(printf '%s\n' "$err" | grep '^kaio-run: total ')
	# 2 jobs x 256 reads of 4 KiB, in forked processes that _exit().
	if [ "$st" -eq 0 ] && [ "$(field read "$total")" = 512 ] &&
	   [ "$(count ' end=no_exit .* read=256 ' "$err")" = 2 ]; then
		ok "kaio-run --stats fio --numjobs=2: read=512, both job processes counted"
	else
		ko "kaio-run --stats fio --numjobs=2: exit $st, expected read=512 from 2 job processes" "$err"
	fi
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
