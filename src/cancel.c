/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cancel.c - aio_cancel().
 *
 * Queued requests are taken off their queues under the locks that guard
 * them (kaio__fd_cancel()), so a worker can no longer start them, and are
 * then completed with ECANCELED through the usual completion path, with
 * their notification.  A running request is left alone: AIO_NOTCANCELED.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>

#include "kaio-int.h"

/* Wait until an asynchronously cancelled request has its result. */
static void await(struct aiocb *cb)
{
	struct timespec dl;
	int seq;

	kaio__deadline(&dl, NULL);
	atomic_fetch_add(&kaio__done_waiters, 1);
	for (;;) {
		seq = atomic_load(&kaio__done_seq);
		if (atomic_load_explicit((atomic_int *)&cb->__error_code,
					 memory_order_acquire) != EINPROGRESS)
			break;
		if (kaio__wait_seq(seq, &dl) == -ETIMEDOUT)
			kaio__deadline(&dl, NULL);
	}
	atomic_fetch_sub(&kaio__done_waiters, 1);
}

int kaio__aio_cancel(int fd, struct aiocb *cb)
{
	struct kaio_req *out = NULL, *r;
	struct aiocb *async[64];
	int running = 0, n, na, i;

	if (fcntl(fd, F_GETFD) < 0)
		return kaio__fail(EBADF);
	if (cb && cb->aio_fildes != fd)
		return kaio__fail(EINVAL);
	n = kaio__fd_cancel(fd, cb, &out, &running);
	while ((r = out)) {
		out = r->next;
		kaio__complete(r, -ECANCELED);
		kaio__req_free(r);
	}
	/* io_uring interrupts what waits (pipes, sockets); then its result
	 * (ECANCELED) comes through the ring: wait for it, so that
	 * aio_error() already says so when this returns. */
	na = kaio__backend_cancel_async(fd, cb, &running, async, 64);
	for (i = 0; i < na; i++)
		await(async[i]);
	n += na;
	if (running)
		return AIO_NOTCANCELED;
	return n ? AIO_CANCELED : AIO_ALLDONE;
}
