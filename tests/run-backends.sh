#!/bin/sh
# run-backends.sh PROG BACKEND...: run tests/PROG once under each
# KAIO_BACKEND given, with whatever else the caller's environment says.
# A run that exits 77 is skipped, any other non-zero status fails; the
# whole is skipped (77) if no run counted.  Before each run the script
# named by $RUN_BACKENDS_CHECK, if set, may judge it: it is sourced with
# $b (the backend), $r (the status) and $err (a file holding the run's
# standard error), and may set r=77 to skip the run.
prog=$1
shift
rc=0 ran=0
err=$(mktemp "${TMPDIR:-/tmp}/kaio-run.XXXXXX") || exit 1
trap 'rm -f "$err"' EXIT
for b in "$@"; do
	echo "KAIO_BACKEND=$b"
	env KAIO_BACKEND="$b" "${top_builddir:-.}/tests/$prog" 2>"$err"
	r=$?
	cat "$err" >&2
	[ -n "${RUN_BACKENDS_CHECK:-}" ] && [ $r -eq 0 ] && . "$RUN_BACKENDS_CHECK"
	if [ $r -eq 77 ]; then
		continue
	elif [ $r -ne 0 ]; then
		echo "FAIL: KAIO_BACKEND=$b: exit status $r"
		rc=1
	fi
	ran=$((ran + 1))
done
[ $rc -eq 0 ] && [ $ran -eq 0 ] && exit 77
exit $rc
