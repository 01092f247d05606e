#!/bin/sh
# One fstat(2) at most per request on its way to a backend, under each
# backend (tests/stat-prog.c).
rc=0
for b in auto threads uring kernel; do
	echo "KAIO_BACKEND=$b"
	env KAIO_BACKEND=$b "${top_builddir:-.}/tests/stat-prog"
	r=$?
	[ $r -eq 1 ] && rc=1
	[ $r -eq 77 ] && [ $rc -eq 0 ] && rc=77
done
exit $rc
