/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.c - which backend serves a request.
 *
 * KAIO_BACKEND=auto (the default):
 *   1. a read or write the page cache serves completes in the caller
 *      (request.c: RWF_NOWAIT, or a timed plain write where the
 *      filesystem refuses RWF_NOWAIT for buffered writes) - no backend;
 *   2. on a kernel running the threaded-AIO series (fs.aio-auto-threads=1)
 *      native AIO (backend-kaio.c) takes every read, write and fsync;
 *   3. otherwise io_uring (backend-uring.c), where the kernel permits it,
 *      takes every read, write and fsync;
 *   4. otherwise native AIO takes what a stock kernel runs asynchronously:
 *      O_DIRECT reads and writes, and fsync;
 *   5. the thread pool (pool.c) takes the rest, and anything refused.
 * KAIO_BACKEND=uring: steps 3 and 5 (no caller-side completion).
 * KAIO_BACKEND=kernel: steps 2, 4 and 5, no caller-side completion, and
 *   buffered reads go to native AIO with RWF_NOWAIT (a read that would
 *   block moves on to the pool).
 * KAIO_BACKEND=threads: steps 1 and 5.
 *
 * Identity: io_uring and native AIO run a request with the identity of the
 * thread that gives it to the kernel.  A request dispatched later by
 * another thread (a serial request or an fsync released from its fd's
 * queue, fdmap.c) would run as that thread.  So when it is queued, its
 * submitter registers an io_uring personality for it (kaio__backend_defer)
 * and io_uring runs it as that; without one it goes to the pool, which
 * runs it with its submitter's identity, captured at submission (creds.c).
 * Native AIO has no personalities: it takes such a request only if it is
 * an fsync (no permission check; a filesystem that sends the caller's IDs
 * with a flush, FUSE, sees the releasing thread's).
 *
 * Native AIO's context is made only when native AIO takes a request
 * (backend-kaio.c): whether the kernel is the threaded kind is read from
 * fs.aio-auto-threads, not learnt by making one.
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
	if (kaio__is_pathop(req->op))
		return threaded;	/* the series' IOCB_CMD_OPENAT and so on */
	if (req->op == KAIO_OP_POLL)
		return 1;		/* IOCB_CMD_POLL: mainline since 4.18 */
	switch (req->op) {
	case KAIO_OP_FSYNC:
	case KAIO_OP_FDSYNC:
		return kaio__kernel_fsync_ok();
	case KAIO_OP_READ:
	case KAIO_OP_WRITE:
		if (req->flags & KAIO_RQ_DIRECT || threaded)
			return 1;
		/* io_submit() copies a cached RWF_NOWAIT read in the
		 * caller: not past the caller's budget. */
		if (kaio__cfg.backend == KAIO_BACKEND_KERNEL &&
		    req->op == KAIO_OP_READ &&
		    !(req->flags & (KAIO_RQ_NOSEEK | KAIO_RQ_OFFLOAD))) {
			req->flags |= KAIO_RQ_KNOWAIT;
			return 1;
		}
		return 0;
	}
	return 0;
}

/* Should io_uring take it (after native AIO declined)? */
static int uring_wants(const struct kaio_req *req)
{
	if (kaio__cfg.backend != KAIO_BACKEND_AUTO &&
	    kaio__cfg.backend != KAIO_BACKEND_URING)
		return 0;
	if (kaio__cfg.backend == KAIO_BACKEND_AUTO && kaio__kernel_threaded())
		return 0;
	/* io_uring reads offset -1 as "the file position": the pool fails
	 * a negative offset with EINVAL, as pread does. */
	if (!(req->flags & KAIO_RQ_NOSEEK) && req->off < 0 &&
	    (req->op == KAIO_OP_READ || req->op == KAIO_OP_WRITE))
		return 0;
	return kaio__uring_probe() == 0;
}

/* Is req in the thread that submitted it, handed on at its submission? */
static int own_thread(const struct kaio_req *req)
{
	return req->tid && req->tid == kaio__tid();
}

/* req waits in its fd's queue: whoever releases it, not its submitter,
 * will hand it on.  In the submitting thread. */
void kaio__backend_defer(struct kaio_req *req)
{
	req->tid = 0;
	if (req->op != KAIO_OP_FSYNC && req->op != KAIO_OP_FDSYNC &&
	    uring_wants(req))
		kaio__uring_personality(req);	/* 0 or -errno: the pool */
}

/* A serial request released by another thread: io_uring with its
 * submitter's personality, else the pool. */
static int submit_deferred(struct kaio_req *req)
{
	if (req->personality > 0 && uring_wants(req) &&
	    kaio__uring_submit(&req, 1) == 1)
		return 0;
	return kaio__pool_enqueue(req);	/* its identity is captured */
}

int kaio__backend_submit(struct kaio_req *req)
{
	int threaded = 0;

	if (!own_thread(req) && req->op != KAIO_OP_FSYNC &&
	    req->op != KAIO_OP_FDSYNC)
		return submit_deferred(req);
	/* The threaded kernel first; io_uring before plain native AIO. */
	if (kaio__cfg.backend != KAIO_BACKEND_URING &&
	    kaio__cfg.backend != KAIO_BACKEND_THREADS &&
	    kaio__kernel_probe(&threaded) == 0 && threaded &&
	    kernel_wants(req) && kaio__kernel_submit(&req, 1) == 1)
		return 0;
	if (uring_wants(req) && kaio__uring_submit(&req, 1) == 1)
		return 0;
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
	int i, nk = 0, taken, uring = n && !kaio__kernel_threaded() &&
				       kaio__cfg.backend != KAIO_BACKEND_KERNEL &&
				       kaio__uring_probe() == 0;

	for (i = 0; i < n; i++) {
		reqs[i]->tid = kaio__tid();	/* the submitter, at submission */
		if (nk < 64 && (uring ? uring_wants(reqs[i])
				      : kernel_wants(reqs[i])))
			kern[nk++] = reqs[i];
		else if (kaio__pool_enqueue(reqs[i]))
			goto fail;
		continue;
fail:
		reqs[i]->next = *failed;
		*failed = reqs[i];
	}
	taken = !nk ? 0 : uring ? kaio__uring_submit(kern, nk)
				: kaio__kernel_submit(kern, nk);
	for (i = taken < 0 ? 0 : taken; i < nk; i++) {
		kern[i]->flags &= ~KAIO_RQ_KNOWAIT;
		if (kaio__pool_enqueue(kern[i])) {
			kern[i]->next = *failed;
			*failed = kern[i];
		}
	}
}

/*
 * Cancel in every backend, kernel ones first: a request a kernel backend
 * hands on to the pool (the rest of a short read) is then found there.
 * Queued requests come back on *out, counted in *n; kernel-backend
 * requests are settled through the ticket t (cancel.c).
 */
void kaio__backend_cancel(int fd, struct aiocb *cb, struct kaio_req **out,
			  struct kaio_cancel *t, int *n)
{
	int running = 0;

	kaio__uring_cancel(fd, cb, t);
	kaio__kernel_cancel(fd, cb, t);
	*n += kaio__pool_cancel(fd, cb, out, &running);
	if (running)
		atomic_store(&t->running, 1);
}

/* Ask again for what the ticket still waits for (see cancel.c). */
void kaio__backend_cancel_retry(struct kaio_cancel *t)
{
	kaio__uring_cancel_retry(t);
}
