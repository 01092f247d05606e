#!/bin/sh
# LD_PRELOAD interposition on programs built against glibc alone: one with
# aio_*@GLIBC_2.34, one with the *64 names, one with old librt's
# @GLIBC_2.2.5 (and lio_listio@GLIBC_2.4).  Each must be served by glibc
# without the preload and by libkaio_posix with it.
b=${top_builddir:-.}
lib="$b/.libs/libkaio_posix.so"
if [ -n "$SANITIZED" ]; then
	echo "SKIP: check-preload: a sanitizer runtime cannot be preloaded into an uninstrumented program"
	exit 77
fi
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
pass=0 fail=0
for p in preload-prog preload-prog64 preload-prog-old; do
	out=$("$b/tests/$p" 2>&1)
	if echo "$out" | grep -q '^served-by=glibc$' && echo "$out" | grep -q '^ok$'; then
		echo "PASS: $p without preload: glibc"
	else
		echo "FAIL: $p without preload: $out"; fail=$((fail + 1)); continue
	fi
	out=$(LD_PRELOAD="$lib" KAIO_STATS=1 "$b/tests/$p" 2>&1)
	if echo "$out" | grep -q '^served-by=kaio$' && echo "$out" | grep -q '^ok$' &&
	   echo "$out" | grep -Eq '^kaio_posix: .* read=4 write=4 fsync=1 '; then
		echo "PASS: $p with LD_PRELOAD: libkaio_posix"
		pass=$((pass + 1))
	else
		echo "FAIL: $p with LD_PRELOAD: $out"; fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
