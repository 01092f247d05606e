#!/bin/sh
# A waiter is woken by a request it saw in progress while a kernel ring is
# busy with something else, under each KAIO_BACKEND (tests/wake-prog.c).
rc=0 ran=0
for b in auto threads uring kernel; do
	echo "KAIO_BACKEND=$b"
	env KAIO_BACKEND=$b "${top_builddir:-.}/tests/wake-prog"
	r=$?
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
