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

#include "kaio-int.h"

int kaio__aio_cancel(int fd, struct aiocb *cb)
{
	struct kaio_req *out = NULL, *r;
	int running = 0, n;

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
	if (running)
		return AIO_NOTCANCELED;
	return n ? AIO_CANCELED : AIO_ALLDONE;
}
