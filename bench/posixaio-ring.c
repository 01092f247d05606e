/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * posixaio-ring.c - the yardstick for bench/fio-bench's "ring" row.
 *
 * The least a POSIX AIO library that serves requests from an io_uring
 * can cost under fio's posixaio engine: aio_read(), aio_write() and
 * aio_fsync() put one entry into the calling thread's ring and enter it;
 * aio_error() of a request in flight takes what the ring holds; aio_suspend()
 * waits in the ring.  Nothing else: no notification, no cancellation, no
 * check of the aiocb or the fd, no fallback when the kernel refuses, and a
 * request can only be waited for by the thread that submitted it (as fio
 * does).  It is not a library.  On an O_DIRECT row the distance from this
 * row to fio's io_uring engine is what fio's posixaio engine costs around
 * the same ring; the distance from this row to libkaio_posix's is the
 * library's own cost.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>

#define EXPORT __attribute__((visibility("default")))

static __thread struct io_uring ring;
static __thread int ring_state;		/* 0 untried, 1 up, -1 failed */

static int ring_up(void)
{
	if (!ring_state)
		ring_state = io_uring_queue_init(256, &ring, 0) ? -1 : 1;
	return ring_state > 0;
}

/* Every completion the ring holds, written into its aiocb. */
static void reap(void)
{
	struct io_uring_cqe *cqe;
	struct aiocb *cb;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&ring, head, cqe) {
		cb = io_uring_cqe_get_data(cqe);
		cb->__return_value = cqe->res < 0 ? -1 : cqe->res;
		__atomic_store_n(&cb->__error_code,
				 cqe->res < 0 ? -cqe->res : 0,
				 __ATOMIC_RELEASE);
		n++;
	}
	io_uring_cq_advance(&ring, n);
}

static struct io_uring_sqe *entry(struct aiocb *cb)
{
	struct io_uring_sqe *sqe;

	if (!ring_up()) {
		errno = EAGAIN;
		return NULL;
	}
	sqe = io_uring_get_sqe(&ring);
	if (!sqe)
		errno = EAGAIN;
	else
		cb->__error_code = EINPROGRESS;
	return sqe;
}

static int enter(struct io_uring_sqe *sqe, struct aiocb *cb)
{
	int ret;

	io_uring_sqe_set_data(sqe, cb);
	ret = io_uring_submit(&ring);
	if (ret < 0) {
		cb->__error_code = -ret;
		cb->__return_value = -1;
	}
	return 0;
}

EXPORT int aio_read(struct aiocb *cb)
{
	struct io_uring_sqe *sqe = entry(cb);

	if (!sqe)
		return -1;
	io_uring_prep_read(sqe, cb->aio_fildes, (void *)cb->aio_buf,
			   cb->aio_nbytes, cb->aio_offset);
	return enter(sqe, cb);
}

EXPORT int aio_write(struct aiocb *cb)
{
	struct io_uring_sqe *sqe = entry(cb);

	if (!sqe)
		return -1;
	io_uring_prep_write(sqe, cb->aio_fildes, (const void *)cb->aio_buf,
			    cb->aio_nbytes, cb->aio_offset);
	return enter(sqe, cb);
}

EXPORT int aio_fsync(int op, struct aiocb *cb)
{
	struct io_uring_sqe *sqe = entry(cb);

	if (!sqe)
		return -1;
	io_uring_prep_fsync(sqe, cb->aio_fildes,
			    op == O_DSYNC ? IORING_FSYNC_DATASYNC : 0);
	return enter(sqe, cb);
}

EXPORT int aio_error(const struct aiocb *cb)
{
	int err = __atomic_load_n(&cb->__error_code, __ATOMIC_ACQUIRE);

	if (err == EINPROGRESS && ring_state > 0) {
		reap();
		err = __atomic_load_n(&cb->__error_code, __ATOMIC_ACQUIRE);
	}
	return err;
}

EXPORT ssize_t aio_return(struct aiocb *cb)
{
	return cb->__return_value;
}

EXPORT int aio_suspend(const struct aiocb *const list[], int nent,
		       const struct timespec *timeout)
{
	struct io_uring_cqe *cqe;
	int i;

	(void)timeout;		/* fio waits without one */
	for (;;) {
		for (i = 0; i < nent; i++)
			if (list[i] && __atomic_load_n(&list[i]->__error_code,
						       __ATOMIC_ACQUIRE) !=
					       EINPROGRESS)
				return 0;
		if (ring_state <= 0 || io_uring_wait_cqe(&ring, &cqe) < 0)
			return 0;
		reap();
	}
}

EXPORT int aio_cancel(int fd, struct aiocb *cb)
{
	(void)fd;
	(void)cb;
	return AIO_NOTCANCELED;
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
