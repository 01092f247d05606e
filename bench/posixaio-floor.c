/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * posixaio-floor.c - the yardstick for bench/fio-bench's "floor" row.
 *
 * The least any POSIX AIO library can cost under fio's posixaio engine:
 * aio_read() and aio_write() do the transfer with pread()/pwrite() before
 * they return and keep no state; aio_error() and aio_return() read the
 * aiocb back; aio_suspend() has nothing to wait for.  It is not a
 * library: it blocks the caller for as long as the device takes, sends no
 * notification and cancels nothing.  On a cached file the distance from
 * this row to libkaio_posix's is the library's own cost; the distance
 * from this row to fio's psync engine is what fio's posixaio engine costs
 * around the same system call.
 *
 * Built with -DFLOOR_NOWAIT (fio-bench's "nowait" row), a read is first
 * tried with preadv2(RWF_NOWAIT), as a library that must not block its
 * caller has to: on a cached file the distance from "floor" to this row
 * is what that system call costs over pread(), and no library that never
 * blocks its caller can be faster than this row.  A read the page cache
 * cannot serve at once is then done with pread() (the yardstick's
 * cached rows never take that branch).
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static int done(struct aiocb *cb, ssize_t n)
{
	cb->__return_value = n;
	cb->__error_code = n < 0 ? errno : 0;
	return 0;
}

EXPORT int aio_read(struct aiocb *cb)
{
#ifdef FLOOR_NOWAIT
	struct iovec v = { (void *)cb->aio_buf, cb->aio_nbytes };
	ssize_t n = preadv2(cb->aio_fildes, &v, 1, cb->aio_offset, RWF_NOWAIT);

	if (n >= 0 || (errno != EAGAIN && errno != EOPNOTSUPP))
		return done(cb, n);
#endif
	return done(cb, pread(cb->aio_fildes, (void *)cb->aio_buf,
			      cb->aio_nbytes, cb->aio_offset));
}

EXPORT int aio_write(struct aiocb *cb)
{
	return done(cb, pwrite(cb->aio_fildes, (const void *)cb->aio_buf,
			       cb->aio_nbytes, cb->aio_offset));
}

EXPORT int aio_fsync(int op, struct aiocb *cb)
{
	return done(cb, op == O_DSYNC ? fdatasync(cb->aio_fildes)
				      : fsync(cb->aio_fildes));
}

EXPORT int aio_error(const struct aiocb *cb)
{
	return cb->__error_code;
}

EXPORT ssize_t aio_return(struct aiocb *cb)
{
	return cb->__return_value;
}

EXPORT int aio_suspend(const struct aiocb *const list[], int nent,
		       const struct timespec *timeout)
{
	(void)list;
	(void)nent;
	(void)timeout;
	return 0;
}

EXPORT int aio_cancel(int fd, struct aiocb *cb)
{
	(void)fd;
	(void)cb;
	return AIO_ALLDONE;
}

/* fio is built with 64-bit offsets: it calls the *64 names (one layout). */
#define ALIAS64(name) \
	__asm__(".globl " #name "64\n.set " #name "64, " #name)
ALIAS64(aio_read);
ALIAS64(aio_write);
ALIAS64(aio_fsync);
ALIAS64(aio_error);
ALIAS64(aio_return);
ALIAS64(aio_suspend);
ALIAS64(aio_cancel);
