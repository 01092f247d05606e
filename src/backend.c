/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.c - which backend serves a request.
 *
 * KAIO_BACKEND=auto (the default):
 *   1. a read or write the page cache serves completes in the caller
 *      (request.c, RWF_NOWAIT) - no backend at all;
 *   2. the kernel (backend-kaio.c) takes what it runs asynchronously:
 *      O_DIRECT reads and writes and fsync on every kernel, and buffered
 *      reads and writes too when the threaded-AIO series is running;
 *   3. the thread pool (pool.c) takes the rest, and anything the kernel
 *      refuses.
 * KAIO_BACKEND=kernel skips step 1 and also sends buffered reads to the
 *   kernel with RWF_NOWAIT (a read that would block goes on to the pool).
 * KAIO_BACKEND=threads uses steps 1 and 3 only.
 */
#include "config.h"

#include "kaio-int.h"

/* Should the kernel take this request?  Sets KAIO_RQ_KNOWAIT if so. */
static int kernel_wants(struct kaio_req *req)
{
	int threaded;

	if (kaio__cfg.backend == KAIO_BACKEND_THREADS ||
	    kaio__kernel_probe(&threaded))
		return 0;
	switch (req->op) {
	case KAIO_OP_FSYNC:
	case KAIO_OP_FDSYNC:
		return kaio__kernel_fsync_ok();
	case KAIO_OP_READ:
	case KAIO_OP_WRITE:
		if (req->flags & KAIO_RQ_DIRECT || threaded)
			return 1;
		if (kaio__cfg.backend == KAIO_BACKEND_KERNEL &&
		    req->op == KAIO_OP_READ && !(req->flags & KAIO_RQ_NOSEEK)) {
			req->flags |= KAIO_RQ_KNOWAIT;
			return 1;
		}
		return 0;
	}
	return 0;
}

int kaio__backend_submit(struct kaio_req *req)
{
	if (kernel_wants(req)) {
		if (kaio__kernel_submit(&req, 1) == 1)
			return 0;
		req->flags &= ~KAIO_RQ_KNOWAIT;
	}
	return kaio__pool_enqueue(req);
}

/*
 * Submit requests that need no per-fd ordering, the kernel's in one system
 * call.  Those no backend would take are put on *failed.
 */
void kaio__backend_submit_batch(struct kaio_req **reqs, int n,
				struct kaio_req **failed)
{
	struct kaio_req *kern[64];
	int i, nk = 0, taken;

	for (i = 0; i < n; i++) {
		if (nk < 64 && kernel_wants(reqs[i]))
			kern[nk++] = reqs[i];
		else if (kaio__pool_enqueue(reqs[i]))
			goto fail;
		continue;
fail:
		reqs[i]->next = *failed;
		*failed = reqs[i];
	}
	taken = nk ? kaio__kernel_submit(kern, nk) : 0;
	for (i = taken < 0 ? 0 : taken; i < nk; i++) {
		kern[i]->flags &= ~KAIO_RQ_KNOWAIT;
		if (kaio__pool_enqueue(kern[i])) {
			kern[i]->next = *failed;
			*failed = kern[i];
		}
	}
}

void kaio__backend_cancel(int fd, struct aiocb *cb, struct kaio_req **out,
			  int *running, int *n)
{
	*n += kaio__pool_cancel(fd, cb, out, running);
	kaio__kernel_cancel(fd, cb, running);
}
