/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cancel.c - aio_cancel().
 *
 * What it answers is true when it returns, on every backend:
 * - AIO_CANCELED: every request it counts as cancelled already reports
 *   ECANCELED (and its notification has been sent); the others that
 *   matched were already complete;
 * - AIO_NOTCANCELED: a matching request is still running;
 * - AIO_ALLDONE: no matching request is in progress.
 * After AIO_CANCELED or AIO_ALLDONE the library does not touch those
 * aiocbs again, so the caller may free them.
 *
 * Queued requests (an fd's serial or fsync queue, the pool's queues) are
 * taken off under the locks that guard them, so nothing can start them,
 * and completed with ECANCELED here, as glibc does.  A request in a kernel
 * backend is asked to cancel (io_uring's synchronous cancel, native AIO's
 * io_cancel()) without waiting; what the kernel cancelled, or had already
 * finished but nobody had reaped yet, is waited for through a ticket its
 * completion settles (struct kaio_cancel), and counted by the result it
 * really ended with: an fsync that ran to the end counts as done, not as
 * cancelled.  What runs on (a pool worker, file I/O in io_uring's io-wq or
 * native AIO) makes the answer AIO_NOTCANCELED, as in glibc.  No lock is
 * held while this waits, and there is no limit on how many it handles.
 *
 * Locks: none of its own.  The search takes the fd's lock, then each
 * backend's (kaio__fd_cancel(), in the order src/README gives); the
 * hand-off counters and the ticket are atomics.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>

#include "kaio-int.h"
#include "sys.h"

atomic_uint kaio__handoff_begun;
atomic_uint kaio__handoff_ended;

/*
 * May aio_cancel(fd, cb) (ticket t) cancel r, on a backend's list or an
 * fd's queue?  1 yes; 0 if r is none of its business, or if r has started
 * (t then says a matching request runs on).
 *
 * Not r once its result is out: the program may have seen it, and freed
 * the aiocb or submitted it again, while r still sits on a list until its
 * completion is over (a kernel backend's reaped batch, a pool worker's
 * last steps).  r->finished says KAIO_RQ_DONE after the result; a request
 * caught while it is stored (KAIO_RQ_PUBLISHING, a few instructions) is
 * waited for, so that one the program already saw done is never taken for
 * running.  For one
 * aiocb, r must also be its owner (kaio-int.h): r->cb alone would match an
 * older request on the same aiocb.
 *
 * r has started if bytes moved for it in the caller (r->done): the rest
 * runs on, as a request glibc's worker has begun does.  Cancelled, it
 * would say ECANCELED for data that was read or written.
 */
int kaio__cancel_may(struct kaio_req *r, int fd, const struct aiocb *cb,
		     struct kaio_cancel *t)
{
	unsigned spins = 0;

	if (r->fd != fd ||
	    (cb && (r->cb != cb || kaio__cb_owner(cb) != (const void *)r)))
		return 0;
	if (kaio_unlikely(atomic_load_explicit(&r->finished,
					       memory_order_relaxed))) {
		while (atomic_load_explicit(&r->finished, memory_order_acquire)
		       != KAIO_RQ_DONE)
			sys_backoff(&spins);
		return 0;
	}
	if (r->done) {
		atomic_store(&t->running, 1);
		return 0;
	}
	return 1;
}

/*
 * A settled request's part of the ticket; the ticket is not touched after.
 * The last part wakes the aio_cancel() waiting on it (await()): whatever
 * woke the sleepers before (a completion, which a request moved on to the
 * pool has not had yet) may have done it before the ticket was settled.
 */
void kaio__cancel_settle(struct kaio_cancel *t, long res)
{
	if (res == -ECANCELED)
		atomic_fetch_add(&t->canceled, 1);
	else if (res == -EINPROGRESS)
		atomic_store(&t->running, 1);	/* moved on, still running */
	if (atomic_fetch_sub_explicit(&t->pending, 1,
				      memory_order_release) == 1)
		kaio__wake_waiters();
}

/*
 * Wait until every request on the ticket is settled.  Now and then the
 * kernel is asked again: a request io_uring did not know of at first (its
 * wake-up was being processed) may be waiting again.  The first time
 * after 2 ms: one io-wq runs, told to stop, is waited for that long, and
 * then left to run (backend-uring.c).
 */
static void await(struct kaio_cancel *t)
{
	static const struct timespec first = { 0, 2 * 1000000 };
	static const struct timespec retry = { 0, 100 * 1000000 };
	struct timespec dl;
	int seq;

	kaio__deadline(&dl, &first);
	for (;;) {
		seq = atomic_load(&kaio__done_seq);
		if (!atomic_load_explicit(&t->pending, memory_order_acquire))
			break;
		if (kaio__wait_seq(seq, &dl) == -ETIMEDOUT) {
			kaio__backend_cancel_retry(t);
			kaio__deadline(&dl, &retry);
		}
	}
}

int kaio__aio_cancel(int fd, struct aiocb *cb)
{
	struct kaio_cancel t = { 0 };
	struct kaio_req *out = NULL, *r;
	int n, pass, unsure = 0;
	unsigned spins;

	if (fcntl(fd, F_GETFL) < 0)
		return kaio__fail(EBADF);
	if (cb && cb->aio_fildes != fd)
		return kaio__fail(EINVAL);
	/* As glibc: an aiocb not in progress (never submitted, finished,
	 * already returned) is all done; one that says EINPROGRESS but is
	 * no request of this process is not found (EINVAL). */
	if (cb && !kaio__cb_in_progress(cb)) {
		if (kaio__cb_error(cb) == EINPROGRESS &&
		    kaio__cb_state(cb) != KAIO_CB_LIVE)
			return kaio__fail(EINVAL);
		return AIO_ALLDONE;
	}
	for (n = 0, pass = 0;; pass++) {
		unsigned b0 = atomic_load(&kaio__handoff_begun);
		unsigned e0 = atomic_load(&kaio__handoff_ended);

		/* Each pass looks at everything again: what an earlier one
		 * saw running may since have moved to a queue and been
		 * cancelled by this one, or ended. */
		atomic_store(&t.running, 0);

		n += kaio__fd_cancel(fd, cb, &out, &t);
		while ((r = out)) {
			out = r->next;
			kaio__complete(r, -ECANCELED);
			kaio__req_free(r);
		}
		if (atomic_load(&t.pending))
			await(&t);
		/*
		 * A request moving from a kernel backend to the pool during
		 * the search may have been on no list when its part was
		 * searched: look again once every such move has ended.
		 */
		if (b0 == e0 && atomic_load(&kaio__handoff_begun) == b0)
			break;
		if (pass == 1000) {	/* moves without end: say it runs */
			unsure = 1;
			break;
		}
		b0 = atomic_load(&kaio__handoff_begun);
		spins = 0;
		while ((int)(atomic_load(&kaio__handoff_ended) - b0) < 0)
			sys_backoff(&spins);	/* the mover may be of lower priority */
	}
	if (atomic_load(&t.running))
		return AIO_NOTCANCELED;
	n += atomic_load(&t.canceled);
	if (n)
		return AIO_CANCELED;
	/* Found nowhere but not finished: between the caller and a backend
	 * (being submitted, or completing in the submitter).  It runs. */
	if ((cb && kaio__cb_in_progress(cb)) || unsure)
		return AIO_NOTCANCELED;
	return AIO_ALLDONE;
}
