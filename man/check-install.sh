#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The installed copy: configure a fresh build of $top_srcdir in a temporary
# directory with --prefix there, "make install", and then
#  - check the library, header, pkg-config file, kaio-run and man pages are
#    installed;
#  - build a program that uses aio_read() and kaio_stats_get() with nothing
#    but "pkg-config --cflags --libs kaio_posix", run it, and check it ran on
#    the installed library;
#  - run a program built against glibc alone under the installed kaio-run
#    and check the library served it (its kaio_posix: line);
#  - ldconfig, as README's install route says: the linked program does not
#    load without it (or LD_LIBRARY_PATH) and ldconfig lists the installed
#    library under its soname (into a private cache: the system's is not
#    touched);
#  - "make uninstall" leaves no file behind.
# Takes about a minute.  KEEP_INSTALL_TMP=1 keeps the directory.
srcdir=${top_srcdir:-.}
if [ -n "$SANITIZED" ]; then
	echo "SKIP: check-install: sanitizer build (the installed copy is built without; the preload cannot mix runtimes)"
	exit 77
fi
for tool in pkg-config make "${CC:-cc}"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: check-install: $tool not found"
		exit 77
	fi
done
[ -x "$srcdir/configure" ] || { echo "FAIL: $srcdir/configure missing (run autoreconf -fi)"; exit 1; }
srcdir=$(cd "$srcdir" && pwd)
CC=${CC:-cc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-install.XXXXXX") || exit 1
if [ -n "$KEEP_INSTALL_TMP" ]; then
	echo "NOTE: keeping $tmp"
else
	trap 'rm -rf "$tmp"' EXIT
fi
prefix=$tmp/prefix

pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; [ -z "$2" ] || printf '%s\n' "$2" | tail -n 30 | sed 's/^/    /'; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

# --- build and install -------------------------------------------------------
# The parent make's jobserver is not ours: run the inner build on its own.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
jobs=$(nproc 2>/dev/null || echo 2)
# configure refuses a second build of a source tree configured in place (as
# dpkg-buildpackage does): then build a clean copy of it instead.
if [ -f "$srcdir/config.status" ]; then
	mkdir "$tmp/src"
	if (cd "$srcdir" && tar --exclude=./.git --exclude=./build \
		--exclude=./debian -cf - .) | (cd "$tmp/src" && tar -xf -) &&
	   (cd "$tmp/src" && make distclean >"$tmp/distclean.log" 2>&1); then
		ok "in-place configured source: copied and cleaned"
		srcdir=$tmp/src
	else
		ko "copy and clean the in-place configured source" "$(cat "$tmp/distclean.log" 2>/dev/null)"
		finish
	fi
fi
mkdir "$tmp/build"
if (cd "$tmp/build" && "$srcdir/configure" --prefix="$prefix" \
	--disable-dependency-tracking >"$tmp/configure.log" 2>&1); then
	ok "configure --prefix=<tmp>/prefix"
else
	ko "configure" "$(cat "$tmp/configure.log")"; finish
fi
if (cd "$tmp/build" && make -j"$jobs" >"$tmp/make.log" 2>&1 &&
	make install >>"$tmp/make.log" 2>&1); then
	ok "make && make install"
else
	ko "make && make install" "$(cat "$tmp/make.log")"; finish
fi

# --- what is installed ---------------------------------------------------------
libdir=$prefix/lib
for f in lib/libkaio_posix.so.1 lib/libkaio_posix.so include/kaio_posix.h \
	include/kaio_aio_abi.h lib/pkgconfig/kaio_posix.pc bin/kaio-run; do
	if [ -e "$prefix/$f" ]; then ok "installed: $f"; else ko "installed: $f"; fi
done
# Every page in man/ (so a page missing from dist_man_MANS fails here).
for page in "$srcdir"/man/*.[1-8]; do
	name=${page##*/}
	f=share/man/man${name##*.}/$name
	if [ -e "$prefix/$f" ]; then ok "installed: $f"; else ko "installed: $f"; fi
done
[ -x "$prefix/bin/kaio-run" ] && ok "kaio-run is executable" || ko "kaio-run is executable"
grep -q "$libdir/libkaio_posix.so.1" "$prefix/bin/kaio-run" &&
	! grep -q '@libdir@\|@VERSION@' "$prefix/bin/kaio-run" &&
	ok "kaio-run names $libdir/libkaio_posix.so.1" ||
	ko "kaio-run names the installed library" "$(grep -n 'lib=' "$prefix/bin/kaio-run")"
if command -v man >/dev/null 2>&1; then
	out=$(MANPAGER=cat MANWIDTH=80 man -M "$prefix/share/man" 3 kaio_stat_name 2>&1)
	echo "$out" | grep -q 'kaio_stats_get' && ok "man kaio_stat_name shows kaio_stats_get(3)" ||
		ko "man kaio_stat_name" "$out"
	for link in kaio_queue_reap:kaio_queue_create kaio_renameat:kaio_openat; do
		out=$(MANPAGER=cat MANWIDTH=80 man -M "$prefix/share/man" 3 "${link%%:*}" 2>&1)
		echo "$out" | grep -q "${link#*:}" && ok "man ${link%%:*} shows ${link#*:}(3)" ||
			ko "man ${link%%:*}" "$out"
	done
fi

# --- a program built with pkg-config alone ---------------------------------
export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs kaio_posix 2>&1)
case $flags in
*-L"$libdir"*-lkaio_posix*) ok "pkg-config --cflags --libs kaio_posix: $flags" ;;
*) ko "pkg-config --cflags --libs kaio_posix" "$flags" ;;
esac

cat > "$tmp/linked.c" <<'EOF'
/* aio_read() a file and show which library served it. */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <kaio_posix.h>

int main(int argc, char **argv)
{
	const struct aiocb *list[1];
	struct kaio_stats st;
	struct aiocb cb;
	char buf[64];
	int fd;

	fd = open(argc > 1 ? argv[1] : "/dev/null", O_RDONLY);
	if (fd < 0)
		return perror("open"), 2;
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_buf = buf;
	cb.aio_nbytes = sizeof(buf);
	if (aio_read(&cb) != 0)
		return perror("aio_read"), 2;
	list[0] = &cb;
	while (aio_error(&cb) == EINPROGRESS)
		aio_suspend(list, 1, NULL);
	if (aio_error(&cb) != 0 || aio_return(&cb) != 5)
		return fprintf(stderr, "bad result\n"), 2;
	if (kaio_stats_get(&st, sizeof(st)) != 0)
		return fprintf(stderr, "kaio_stats_get failed\n"), 2;
	printf("%s=%lu\n", kaio_stat_name(KAIO_STAT_READ), st.v[KAIO_STAT_READ]);
	return st.v[KAIO_STAT_READ] == 1 ? 0 : 1;
}
EOF
printf 'hello' > "$tmp/data"
# shellcheck disable=SC2086 # the flags are words
if out=$("$CC" -o "$tmp/linked" "$tmp/linked.c" $flags 2>&1); then
	ok "cc linked.c \$(pkg-config --cflags --libs kaio_posix)"
	out=$(LD_LIBRARY_PATH="$libdir" ldd "$tmp/linked" 2>&1)
	echo "$out" | grep -q "libkaio_posix.so.1 => $libdir/libkaio_posix.so.1" &&
		ok "linked: loads $libdir/libkaio_posix.so.1" || ko "linked: ldd" "$out"
	out=$(LD_LIBRARY_PATH="$libdir" "$tmp/linked" "$tmp/data" 2>&1)
	st=$?
	[ "$st" -eq 0 ] && [ "$out" = "read=1" ] &&
		ok "linked: aio_read served by the library (kaio_stats_get: $out)" ||
		ko "linked: exit $st" "$out"
else
	ko "cc linked.c \$(pkg-config --cflags --libs kaio_posix)" "$out"
fi

# --- ldconfig ------------------------------------------------------------------
# A library outside the loader's cache does not load, hence README's
# "ldconfig" after "make install".  (If a copy is in the system's cache
# already, from an earlier install or the Debian package, it loads that.)
if [ -x "$tmp/linked" ]; then
	out=$(env -u LD_LIBRARY_PATH "$tmp/linked" "$tmp/data" 2>&1)
	case $out in
	*"libkaio_posix.so.1: cannot open shared object file"*)
		ok "linked: without ldconfig or LD_LIBRARY_PATH, libkaio_posix.so.1 is not found" ;;
	read=1)
		echo "NOTE: linked: runs without LD_LIBRARY_PATH: a libkaio_posix.so.1 is in the system's loader cache already" ;;
	*)	ko "linked: without LD_LIBRARY_PATH" "$out" ;;
	esac
fi
ldconfig=$(command -v ldconfig 2>/dev/null || echo /sbin/ldconfig)
if [ -x "$ldconfig" ]; then
	# -X: leave the links in the prefix alone (uninstall is checked below).
	out=$("$ldconfig" -X -f /dev/null -C "$tmp/ld.so.cache" "$libdir" 2>&1 &&
		"$ldconfig" -C "$tmp/ld.so.cache" -p 2>&1)
	echo "$out" | grep -q "libkaio_posix\.so\.1 (.*) => $libdir/libkaio_posix\.so\.1\$" &&
		ok "ldconfig lists libkaio_posix.so.1 => $libdir/libkaio_posix.so.1" ||
		ko "ldconfig $libdir" "$(echo "$out" | grep -i kaio)"
else
	echo "SKIP: ldconfig not found"
fi

# --- a glibc-only program under the installed kaio-run ------------------------
cat > "$tmp/plain.c" <<'EOF'
/* POSIX AIO on glibc alone: never built against libkaio_posix. */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const struct aiocb *list[1];
	struct aiocb cb;
	char buf[64];
	int fd;

	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		return perror("open"), 2;
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_buf = buf;
	cb.aio_nbytes = sizeof(buf);
	if (aio_read(&cb) != 0)
		return perror("aio_read"), 2;
	list[0] = &cb;
	while (aio_error(&cb) == EINPROGRESS)
		aio_suspend(list, 1, NULL);
	if (aio_return(&cb) != 5 || memcmp(buf, "hello", 5) != 0)
		return fprintf(stderr, "bad result\n"), 1;
	printf("ok\n");
	return 0;
}
EOF
if out=$("$CC" -pthread -o "$tmp/plain" "$tmp/plain.c" 2>&1); then
	ok "cc plain.c (glibc only)"
	unset KAIO_RUN_LIB LD_PRELOAD KAIO_STATS KAIO_BACKEND
	out=$("$tmp/plain" "$tmp/data" 2>&1)
	[ "$out" = "ok" ] && ok "plain: runs on glibc" || ko "plain: runs on glibc" "$out"
	out=$("$prefix/bin/kaio-run" --stats -- "$tmp/plain" "$tmp/data" 2>&1)
	st=$?
	if [ "$st" -eq 0 ] && echo "$out" | grep -q '^ok$' &&
	   echo "$out" | grep -Eq '^kaio_posix: pid=[0-9]+ backend=auto .* read=1 '; then
		ok "kaio-run --stats -- plain: served by the library"
	else
		ko "kaio-run --stats -- plain: exit $st" "$out"
	fi
	out=$("$prefix/bin/kaio-run" --backend=threads --stats "$tmp/plain" "$tmp/data" 2>&1)
	echo "$out" | grep -Eq '^kaio_posix: pid=[0-9]+ backend=threads ' &&
		ok "kaio-run --backend=threads" || ko "kaio-run --backend=threads" "$out"
else
	ko "cc plain.c" "$out"
fi

# --- make uninstall ------------------------------------------------------------
if (cd "$tmp/build" && make uninstall >"$tmp/uninstall.log" 2>&1); then
	ok "make uninstall"
	left=$(cd "$prefix" && find . ! -type d | sort)
	[ -z "$left" ] && ok "make uninstall: no file left in the prefix" ||
		ko "make uninstall left files" "$left"
else
	ko "make uninstall" "$(cat "$tmp/uninstall.log")"
fi

finish
