#!/bin/sh
# The whole suite again with the kernel refusing: io_setup() failing (as
# with fs.aio-max-nr exhausted), then io_submit() failing.  Every request
# must still complete, on the pool.
b=${top_builddir:-.}
shim="$b/tests/.libs/shim-syscall.so"
if [ -n "$SANITIZED" ]; then
	echo "SKIP: check-fallback: the shim cannot be preloaded ahead of a sanitizer runtime"
	exit 77
fi
[ -f "$shim" ] || { echo "FAIL: $shim not built"; exit 1; }
rc=0
for f in io_setup io_submit; do
	echo "== KAIO_SHIM_FAIL=$f"
	LD_PRELOAD="$shim" KAIO_SHIM_FAIL=$f KAIO_BACKEND=kernel \
		"$b/tests/kaio-check" || rc=1
done
exit $rc
