/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.h - what every backend is to the dispatcher (backend.c).
 *
 * A backend runs requests: native AIO (backend-kaio.c), io_uring
 * (backend-uring.c), the thread pool (pool.c).  Each defines one
 * struct kaio_backend; backend.c keeps them in ordered lists, one per
 * KAIO_BACKEND mode, and offers a request to each in turn.  A backend
 * never calls another: what it declines or cannot finish it returns, to
 * the dispatcher, which offers it to the next.
 *
 * What a backend may call outside its own file: the way out (request.c:
 * kaio__complete(), kaio__req_free(), kaio__execute(), the batch wake-up),
 * the dispatcher's kaio__backend_resubmit(), the reaper support
 * (reap.c), cancel.c's kaio__cancel_settle() and hand-off counters, the
 * counters and logs (observe.c), the pool's identity (creds.c) and the
 * configuration (init.c).  tests/check-path.sh checks the list.
 *
 * Contract of each operation (all but submit may be NULL):
 * - probe(): < 0 unusable (configured out, refused by the kernel), 0
 *   usable, KAIO_PROBE_ALL usable and runs every read, write and fsync
 *   asynchronously (the threaded-AIO kernel).  Cheap, and makes nothing
 *   a backend would not make for its first request.
 * - wants(req): would it take req now (usable, and req is of a kind it
 *   runs asynchronously, with the identity req needs)?  May mark req for
 *   its submit (KAIO_RQ_KNOWAIT).  In the submitting thread.
 * - submit(reqs, n): takes a prefix of reqs[0..n) and returns its length,
 *   or -errno if it took none; the rest are declined, unchanged but for
 *   the backend's own marks, which it clears.  A request taken is the
 *   backend's until it completes it through kaio__complete(), or hands it
 *   back with kaio__backend_resubmit().  It completes nothing in the
 *   call, neither reqs nor a request of an earlier call: its caller may
 *   hold an fd's lock (fdmap.c), which the completion path takes.  What
 *   it cannot keep of an earlier call is completed by one of its own
 *   threads (a reaper, io_uring's submitter thread).  kaio__complete()
 *   aborts if called inside submit() or under an fd lock.
 * - defer(req): req will be handed on later by another thread (fdmap.c);
 *   in its submitting thread, keep what req needs to run as its submitter.
 * - hold_file(req): req, an fsync waiting in its fd's queue (fdmap.c),
 *   is about to lose its fd number (a close() or dup2() of it, fdgen.c):
 *   take the file the number names now, for req to run on.  1 if taken.
 *   In whatever thread closes, outside every library lock but the fd's.
 * - holds_in(first, last): would closing the numbers first to last close
 *   a descriptor that what hold_file() took needs (a ring's own)?
 * - release(req): req is freed; drop what defer(), hold_file() or
 *   submit() kept for it.
 * - cancel(fd, cb, t, out, n): cancel the matching requests.  Answered per
 *   request: one still queued is taken off, put on *out and counted in *n
 *   (the caller completes it with ECANCELED); one the kernel was asked to
 *   stop, or had finished unreaped, goes on the ticket t, which its
 *   completion settles; one that runs on sets t->running.
 * - cancel_retry(t): ask again for the requests on the ticket t.
 * - fork_child(): in a fork child, forget the parent's state.
 * - config_changed(): aio_init() changed the limits.
 * - mode(): one word for the KAIO_STATS line ("unused", "on", ...).
 * - own_ring(r): does a batch of file reads this thread gives it go to a
 *   ring of the thread's own, whose enter completes the reads the page
 *   cache holds (io_uring)?  Then 1, and *r is that ring's reaper, made
 *   now if need be: lio_listio() then submits such reads as one batch
 *   and reaps them at once (kaio__reaper_poll_begin()).  Else 0.
 */
#ifndef KAIO_BACKEND_H
#define KAIO_BACKEND_H

#include "kaio-int.h"

#define KAIO_PROBE_ALL	1	/* probe(): runs everything asynchronously */

/*
 * The most a read or write system call transfers (the kernel's
 * MAX_RW_COUNT).  pread() checks the caller's whole range before it cuts
 * the length to this (EFAULT past the end of user space, as glibc
 * reports); io_submit() and io_uring cut first and check only what is
 * left, so a longer request goes to the pool.
 */
#define KAIO_RW_MAX	0x7ffff000UL

/* flags */
enum {
	/* Runs a request another backend hands back from its completion, in
	 * whatever thread that is, with the submitter's identity captured at
	 * submission (the pool). */
	KAIO_BE_HANDOFF = 1 << 0,
};

struct kaio_backend {
	const char *name;		/* in the KAIO_STATS line, or NULL */
	int flags;
	int (*probe)(void);
	int (*wants)(struct kaio_req *req);
	int (*submit)(struct kaio_req **reqs, int n);
	void (*defer)(struct kaio_req *req);
	int (*hold_file)(struct kaio_req *req);
	int (*holds_in)(int first, int last);
	void (*release)(struct kaio_req *req);
	void (*cancel)(int fd, struct aiocb *cb, struct kaio_cancel *t,
		       struct kaio_req **out, int *n);
	void (*cancel_retry)(struct kaio_cancel *t);
	void (*fork_child)(void);
	void (*config_changed)(void);
	const char *(*mode)(void);
	int (*own_ring)(struct kaio_reaper **r);
};

extern const struct kaio_backend kaio__kernel_backend KAIO_HIDDEN;
extern const struct kaio_backend kaio__uring_backend KAIO_HIDDEN;
extern const struct kaio_backend kaio__pool_backend KAIO_HIDDEN;

/*
 * The dispatcher's side, for backends: req, which backend from took, has
 * left it before completion (the rest of a short read, a request the
 * kernel would not run).  Called between kaio__handoff_begin() and
 * kaio__handoff_end(), req on none of from's lists.  Returns 0 if a later
 * backend took it (the hand-off has then ended), or -errno: req is from's
 * again, to complete, then to end the hand-off.  KAIO_RQ_INKERNEL says
 * whether req was counted out of kaio__user_pending (reap.c) when the
 * kernel took it; it is counted in again, and the flag cleared, here.
 */
int kaio__backend_resubmit(struct kaio_req *req,
			   const struct kaio_backend *from) KAIO_HIDDEN;
/* req, which the kernel had (KAIO_RQ_INKERNEL), is taken back from its
 * ring before it ran: counted in kaio__user_pending again, a stray. */
void kaio__backend_took_back(struct kaio_req *req) KAIO_HIDDEN;

/* Is req in the thread that submitted it, handed on at its submission? */
static inline int kaio__own_thread(const struct kaio_req *req)
{
	return req->tid && req->tid == kaio__tid();
}

#endif /* KAIO_BACKEND_H */
