/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fault-injection shim, preloaded in front of the library:
 * KAIO_SHIM_FAIL=io_setup makes io_setup(2) fail with EAGAIN (as when
 * fs.aio-max-nr is exhausted), io_submit makes io_submit(2) fail with
 * EAGAIN.  Every other system call goes through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

long syscall(long nr, ...);

static int failing(const char *what)
{
	const char *f = getenv("KAIO_SHIM_FAIL");

	return f && strstr(f, what);
}

long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	long a[6];
	va_list ap;
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if ((nr == SYS_io_setup && failing("io_setup")) ||
	    (nr == SYS_io_submit && failing("io_submit"))) {
		errno = EAGAIN;
		return -1;
	}
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
