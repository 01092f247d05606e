#!/bin/sh
# A request every backend refuses at once completes with its error or is
# refused with EAGAIN, and never hangs, under every KAIO_BACKEND
# (tests/refuse-prog.c).  KAIO_NOWAIT=0: nothing completes in the caller.
st=0
for b in threads kernel uring auto; do
	echo "== KAIO_BACKEND=$b"
	env KAIO_BACKEND=$b KAIO_NOWAIT=0 "${top_builddir:-.}/tests/refuse-prog" ||
		{ echo "FAIL: KAIO_BACKEND=$b (status $?)"; st=1; }
done
exit $st
