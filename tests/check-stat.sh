#!/bin/sh
# One fstat(2) at most per request on its way to a backend, under each
# backend (tests/stat-prog.c).  Under KAIO_BACKEND=uring the requests must
# have gone through io_uring (the stats line says uring=N), else that
# backend's run proves nothing here and is skipped.
rc=0 ran=0
err=$(mktemp "${TMPDIR:-/tmp}/kaio-stat.XXXXXX") || exit 1
trap 'rm -f "$err"' EXIT
for b in auto threads uring kernel; do
	echo "KAIO_BACKEND=$b"
	env KAIO_BACKEND=$b KAIO_STATS=1 "${top_builddir:-.}/tests/stat-prog" 2>"$err"
	r=$?
	if [ $r -ne 0 ] && [ $r -ne 77 ]; then
		echo "FAIL: KAIO_BACKEND=$b: exit status $r"
		cat "$err"
		rc=1
		continue
	fi
	if [ $b = uring ] && [ $r -eq 0 ] &&
	   ! grep -q 'io_uring=on.* uring=[1-9]' "$err"; then
		echo "SKIP: KAIO_BACKEND=uring: io_uring did not serve the requests"
		grep 'kaio_posix:' "$err"
		continue
	fi
	[ $r -eq 0 ] && ran=$((ran + 1))
done
[ $rc -eq 0 ] && [ $ran -eq 0 ] && exit 77
exit $rc
