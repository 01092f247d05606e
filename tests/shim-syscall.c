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

#include "shim-real.h"

long syscall(long nr, ...);

static int failing(const char *what)
{
	const char *f = getenv("KAIO_SHIM_FAIL");

	return f && strstr(f, what);
}

long syscall(long nr, ...)
{
	long a[6];

	SHIM_SYSCALL_ARGS(a, nr);
	if ((nr == SYS_io_setup && failing("io_setup")) ||
	    (nr == SYS_io_submit && failing("io_submit"))) {
		errno = EAGAIN;
		return -1;
	}
	return shim_syscall(nr, a);
}
