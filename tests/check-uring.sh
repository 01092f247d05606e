#!/bin/sh
# The unit suite with everything on io_uring (KAIO_BACKEND=uring), then
# with io_uring refused by a seccomp filter (EPERM from io_uring_setup):
# under KAIO_BACKEND=uring and auto, every request must still complete,
# on the pool or native AIO.
b=${top_builddir:-.}
rc=0
echo "== KAIO_BACKEND=uring"
KAIO_BACKEND=uring "$b/tests/kaio-check" || rc=1
for m in uring auto; do
	echo "== KAIO_BACKEND=$m, io_uring_setup refused by seccomp"
	# The fallback is the same code under every build: the plain and
	# ASan runs cover it; TSan (10x slower) runs the io_uring suite only.
	case $SANITIZED in *thread*)
		echo "SKIP: seccomp fallback under TSan (run by the plain and ASan builds)"
		continue ;;
	esac
	KAIO_BACKEND=$m "$b/tests/seccomp-run" "$b/tests/kaio-check"
	r=$?
	[ $r -eq 77 ] && { echo "SKIP: seccomp unavailable"; continue; }
	[ $r -eq 0 ] || rc=1
done
exit $rc
