#!/bin/sh
# dlopen() the library, run requests on each backend policy, dlclose() it
# and outlive its idle threads (tests/dlclose-prog.c).
b=${top_builddir:-.}
lib="$b/.libs/libkaio_posix.so"
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
rc=0
for be in auto threads kernel uring; do
	if out=$(KAIO_BACKEND=$be KAIO_IDLE=1 "$b/tests/dlclose-prog" "$lib" 2>&1) &&
	   [ "$out" = ok ]; then
		echo "PASS: dlclose with KAIO_BACKEND=$be"
	else
		echo "FAIL: dlclose with KAIO_BACKEND=$be (status $?): $out"
		rc=1
	fi
done
exit $rc
