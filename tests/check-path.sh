#!/bin/bash
# tests/check-path.sh - one request's path through src/, and what the
# backends call (issue 15).
#
# 1. The path.  A copy of the library is built from src/ with
#    -finstrument-functions and tests/path-trace.c, which records every
#    function the calling thread enters and leaves inside the library
#    during an aio_read(), aio_write() or aio_fsync().  tests/path-prog
#    runs two such requests with it preloaded under each backend that can
#    run here (threads, uring, kernel; an O_DIRECT read and write too);
#    addr2line names each function's file.  What counts:
#    - A file is a src/*.c file.  A function defined in a header (a static
#      inline: kaio-int.h, fdtable.h, backend.h, sys.h ...) is compiled
#      into the file that calls it and counts as that file.
#    - The stages are compat.c, request.c, fdmap.c, backend.c and the
#      backends (backend-uring.c, backend-kaio.c, pool.c), in that order;
#      every other file (init.c, notify.c, creds.c, observe.c, fdtable.c,
#      ...) is a helper.
#    - An entry is a call from a function of one file into a function of
#      another.  The trace is followed from the entry into compat.c to the
#      moment the backend's submit() is entered; what runs inside a
#      backend's submit() is the backend's and is not looked at.
#    The request's path passes each file at most once when:
#    R1 at each entry into a backend's submit(), the call stack, its
#       frames merged by file, lists each file once;
#    R2 compat.c, request.c, fdmap.c and backend.c are each entered at
#       most once, and the stages are entered in their order (a stage is
#       never entered after a later one: no return to request.c's work
#       once fdmap.c has been entered, and so on);
#    R3 a backend file is entered only from backend.c: the dispatcher
#       offering the request to the backends of its list in turn
#       (probe(), wants(), submit(); one that declines returns to it);
#    R4 a helper calls no stage: it is a leaf of the path.
#    For each case the script prints the stack at the submit() that took
#    the request and the entries in order (a helper marked with *), and
#    each rule broken.
# 2. What the backends call (src/README): each backend compiled alone;
#    every kaio__ symbol it leaves undefined must be in the allow-list
#    below, and defined in the file the list names.
#
# Exit 0 pass, 1 a rule broken, 77 cannot run here (no compiler, no
# addr2line, no -finstrument-functions).
set -u
src=${top_srcdir:-.}
bld=${top_builddir:-.}
CC=${CC:-cc}
for t in "$CC" addr2line nm awk; do
	command -v "$t" >/dev/null || { echo "SKIP: no $t"; exit 77; }
done
[ -f "$bld/config.h" ] || { echo "SKIP: $bld/config.h missing (run configure)"; exit 77; }
out=$(mktemp -d "${TMPDIR:-/tmp}/kaio-path.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT
uring=$(pkg-config --cflags --libs liburing 2>/dev/null) || uring=-luring
inc="-I$bld -I$src/include -I$src/src"

# --- 1. the path ------------------------------------------------------------
# shellcheck disable=SC2086
if ! $CC -O0 -g -fPIC -shared -pthread -fexceptions -fvisibility=hidden \
	-finstrument-functions $inc "$src"/src/*.c "$src/tests/path-trace.c" \
	-Wl,--version-script="$src/src/libkaio_posix.map" \
	-o "$out/libtraced.so" $uring -ldl 2>"$out/cc.log"; then
	cat "$out/cc.log"
	echo "FAIL: building the traced library"
	exit 1
fi
$CC -O2 -pthread -o "$out/path-prog" "$src/tests/path-prog.c" -lrt ||
	{ echo "FAIL: building path-prog"; exit 1; }

# case: NAME BACKEND OP MODE [ENV...]
cases=(
	"read/threads threads read buffered"
	"read/uring uring read buffered"
	"read/kernel kernel read buffered"
	"read/kernel-direct kernel read direct"
	"read/auto-direct auto read direct"
	"write/threads threads write buffered KAIO_NOWAIT=0"
	"write/uring uring write buffered"
	"write/kernel-direct kernel write direct"
	"fsync/threads threads fsync buffered"
	"fsync/uring uring fsync buffered"
	"fsync/kernel kernel fsync buffered"
)
declare -A skip=()
for c in "${cases[@]}"; do
	set -- $c
	name=$1 be=$2 op=$3 mode=$4; shift 4
	f=$out/${name//\//_}
	mkdir -p "$f.dir"
	env "$@" KAIO_BACKEND="$be" KAIO_PATH_TRACE="$f.trace" \
		LD_PRELOAD="$out/libtraced.so" \
		"$out/path-prog" "$op" "$mode" "$f.dir" >"$f.out" 2>&1
	rc=$?
	if [ $rc -eq 77 ]; then
		skip[$name]="$mode I/O not supported on $(df -T "$f.dir" | awk 'NR==2 {print $2}')"
	elif [ $rc -ne 0 ] || [ ! -s "$f.trace" ]; then
		skip[$name]="FAIL: path-prog exit $rc: $(tr '\n' ' ' <"$f.out")"
	fi
done

# The functions' names and files, for every address in the traces.
cat "$out"/*.trace 2>/dev/null | awk '$1 == ">" || $1 == "<" { print "0x" $2 }' |
	sort -u >"$out/addrs"
addr2line -f -e "$out/libtraced.so" $(cat "$out/addrs") 2>/dev/null |
	paste - - | paste "$out/addrs" - |
	awk '{ f = $3; sub(/:.*/, "", f); n = split(f, p, "/"); print $1, $2, p[n] }' \
		>"$out/syms"

st=0
for c in "${cases[@]}"; do
	set -- $c
	name=$1
	f=$out/${name//\//_}
	if [ -n "${skip[$name]:-}" ]; then
		case ${skip[$name]} in
		FAIL:*) echo "$name: ${skip[$name]}"; st=1 ;;
		*) echo "$name: SKIP: ${skip[$name]}" ;;
		esac
		continue
	fi
	awk -v name="$name" '
	BEGIN {
		rank["compat.c"] = 0; rank["request.c"] = 1; rank["fdmap.c"] = 2
		rank["backend.c"] = 3; rank["backend-uring.c"] = 4
		rank["backend-kaio.c"] = 4; rank["pool.c"] = 4
		bad = 0; reached = 0
	}
	FILENAME != ARGV[ARGC - 1] { fn[$1] = $2; file[$1] = $3; next }
	function violation(s) {
		if (!(s in seen)) { seen[s] = 1; why = why "\n    " s }
	}
	$1 == "B" { sp = 0; insub = 0; lastrank = -1; seq = ""; took = ""
		    delete cnt; n++; next }
	$1 == ">" {
		a = "0x" $2; f = file[a]; g = fn[a]
		caller = sp > 0 ? ef[sp] : ""
		e = (f ~ /\.h$/ || f == "" || f == "??") ? caller : f
		if (e == "") e = f
		ef[++sp] = e; fnm[sp] = g
		if (insub || e == caller) next
		mark = (e in rank) ? "" : "*"
		seq = seq (seq == "" ? "" : " ") e mark "(" g ")"
		if (e in rank) {
			r = rank[e]
			if (r < 4 && cnt[e]++ > 0)
				violation("R2: " e " entered again (" g ", from " caller ")")
			if (r < lastrank)
				violation("R2: " e " entered (" g ", from " caller ") after a later stage")
			if (r == 4 && caller != "backend.c")
				violation("R3: " e " entered (" g ") from " caller ", not from backend.c")
			if (caller != "" && !(caller in rank))
				violation("R4: helper " caller " calls " e " (" g ")")
			if (r > lastrank) lastrank = r
		}
		if (g == "submit" && rank[e] == 4 && caller == "backend.c") {
			insub = sp; reached = 1; took = e; seq_at = seq
			stack = ""; delete onstack
			for (i = 1; i <= sp; i++) {
				if (i > 1 && ef[i] == ef[i - 1]) continue
				if (ef[i] in onstack)
					violation("R1: " ef[i] " twice on the stack at the submit() of " e)
				onstack[ef[i]] = 1
				stack = stack (stack == "" ? "" : " > ") ef[i]
			}
		}
		next
	}
	$1 == "<" { if (sp == insub) insub = 0; sp--; next }
	$1 == "E" {
		if (took == "") { caller_only++; next }
		last_stack = stack; last_seq = seq_at; last_took = took
	}
	END {
		if (!reached) {
			printf "%s: SKIP: no request reached a backend (%d completed in the caller)\n", name, caller_only
			exit 0
		}
		printf "%s: %s: %s\n", name, (why == "" ? "PASS" : "FAIL"), last_stack
		printf "    entries: %s\n", last_seq
		if (why != "") { print "    broken:" why; exit 1 }
	}' "$out/syms" "$f.trace" || st=1
done

# --- 2. what the backends call ---------------------------------------------
allow="
request.c kaio__complete kaio__req_free kaio__execute kaio__wake_waiters kaio__defer_wake
backend.c kaio__backend_resubmit kaio__backend_took_back kaio__tls_tid
reap.c kaio__reaper_start kaio__reaper_submitted kaio__reaper_app_returns kaio__reaper_grab kaio__reaper_ungrab kaio__reaper_took kaio__reaper_urgent kaio__reaper_retire kaio__reaper_reset kaio__cancel_async_begin kaio__cancel_async_end kaio__tls_libthread kaio__tls_reaping kaio__tls_depth
cancel.c kaio__cancel_settle kaio__handoff_begun kaio__handoff_ended kaio__cancel_may
observe.c kaio__debug_route kaio__latency kaio__now_ns kaio__statp kaio__stats_thread kaio__tls_stats
creds.c kaio__creds_for_pool kaio__creds_keep kaio__creds_apply kaio__creds_worker_init kaio__creds_worker_fini
init.c kaio__block_signals kaio__cfg
queue.c kaio__queue_link
fdgen.c kaio__fdgen_trusted
sigdefer.c kaio__park_call kaio__park_mask kaio__tls_sigdeferred
notify.c kaio__window_open kaio__window_close
"
nm -l --defined-only "$out/libtraced.so" 2>/dev/null |
	awk '$3 ~ /^kaio__/ && NF >= 4 { f = $4; sub(/:.*/, "", f); n = split(f, p, "/"); print $3, p[n] }' \
		>"$out/defs"
for b in backend-uring.c backend-kaio.c pool.c; do
	o=$out/${b%.c}.o
	# shellcheck disable=SC2086
	$CC -O2 -fPIC -pthread -fvisibility=hidden -c $inc "$src/src/$b" -o "$o" ||
		{ echo "FAIL: compiling $b"; st=1; continue; }
	calls=$(nm -u "$o" | awk '$2 ~ /^kaio__/ { print $2 }' | sort -u)
	line="$b calls:"
	for s in $calls; do
		want=$(echo "$allow" | awk -v s="$s" '{ for (i = 2; i <= NF; i++) if ($i == s) print $1 }')
		have=$(awk -v s="$s" '$1 == s { print $2; exit }' "$out/defs")
		if [ -z "$want" ]; then
			echo "FAIL: $b calls $s (defined in ${have:-?}), not on the allow-list"
			st=1
		elif [ -n "$have" ] && [ "$have" != "$want" ]; then
			echo "FAIL: $s is defined in $have, the allow-list says $want"
			st=1
		fi
		line="$line $s(${have:-$want})"
	done
	echo "$line"
done

[ $st -eq 0 ] && echo "check-path: PASS" || echo "check-path: FAIL"
exit $st
