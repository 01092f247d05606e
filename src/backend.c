/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.c - the dispatcher: which backend serves a request.
 *
 * It knows the backends only as their struct kaio_backend (backend.h),
 * and offers a request to each in the order of its mode's list below; the
 * first whose wants() says yes and whose submit() takes it has it.  A
 * backend declines by return value, never by calling another, and one that
 * gives a request back at its completion does so through
 * kaio__backend_resubmit().  No lock is held here.
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
 * A batch (lio_listio()'s reads, no per-fd order) goes in one call to the
 * first backend in the list that is usable; what it does not want or
 * take goes to the last (the pool).
 *
 * Identity: io_uring and native AIO run a request with the identity of the
 * thread that gives it to the kernel.  A request dispatched later by
 * another thread (a serial request or an fsync released from its fd's
 * queue, fdmap.c) would run as that thread.  So when it is queued, its
 * submitter lets the backends keep what it needs (defer(): io_uring
 * registers a personality for it); a backend that cannot run it as its
 * submitter declines it in wants(), and it goes to the pool, which runs
 * it with its submitter's identity, captured at submission (creds.c).
 * Native AIO has no personalities: it takes such a request only if it is
 * an fsync (no permission check; a filesystem that sends the caller's IDs
 * with a flush, FUSE, sees the releasing thread's).
 *
 * Native AIO's context is made only when native AIO takes a request
 * (backend-kaio.c): whether the kernel is the threaded kind is read from
 * fs.aio-auto-threads, not learnt by making one.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"

/* An entry of a mode's list: offer req to b, if its condition holds. */
struct route {
	const struct kaio_backend *b;
	int when;
};

enum {
	WHEN_ALL = 1,		/* b's probe says it runs everything */
	WHEN_NOT_ALL = 2,	/* no WHEN_ALL entry's backend does */
};

static const struct route auto_routes[] = {
	{ &kaio__kernel_backend, WHEN_ALL },
	{ &kaio__uring_backend, WHEN_NOT_ALL },
	{ &kaio__kernel_backend, 0 },
	{ &kaio__pool_backend, 0 },
	{ NULL, 0 },
};

static const struct route kernel_routes[] = {
	{ &kaio__kernel_backend, WHEN_ALL },
	{ &kaio__kernel_backend, 0 },
	{ &kaio__pool_backend, 0 },
	{ NULL, 0 },
};

static const struct route uring_routes[] = {
	{ &kaio__uring_backend, 0 },
	{ &kaio__pool_backend, 0 },
	{ NULL, 0 },
};

static const struct route threads_routes[] = {
	{ &kaio__pool_backend, 0 },
	{ NULL, 0 },
};

/* Every backend, for what concerns them all: kernel ones first. */
static const struct kaio_backend *const backends[] = {
	&kaio__uring_backend,
	&kaio__kernel_backend,
	&kaio__pool_backend,
};
#define NBACKENDS	(int)(sizeof(backends) / sizeof(backends[0]))

__thread pid_t kaio__tls_tid __attribute__((tls_model("initial-exec")));

/*
 * Offer reqs[0..n) to b: it takes a prefix and says how long, or -errno.
 * It completes nothing in this call (backend.h): kaio__complete() there
 * aborts.
 */
static int offer(const struct kaio_backend *b, struct kaio_req **reqs, int n)
{
	int ret;

	kaio__tls_nocomplete++;
	ret = b->submit(reqs, n);
	kaio__tls_nocomplete--;
	return ret;
}

/* The list of KAIO_BACKEND's mode, fixed from the first request on. */
static const struct route *routes(void)
{
	switch (kaio__cfg.backend) {
	case KAIO_BACKEND_KERNEL:
		return kernel_routes;
	case KAIO_BACKEND_URING:
		return uring_routes;
	case KAIO_BACKEND_THREADS:
		return threads_routes;
	}
	return auto_routes;
}

static int runs_all(const struct route *rt)
{
	return rt->b->probe && rt->b->probe() == KAIO_PROBE_ALL;
}

/* Does a WHEN_ALL entry's backend run everything now? */
static int someone_runs_all(const struct route *list)
{
	for (; list->b; list++)
		if ((list->when & WHEN_ALL) && runs_all(list))
			return 1;
	return 0;
}

/*
 * May rt be offered anything now?  Asked afresh by each call: a backend
 * that fails to start no longer runs everything.  *all: whether one of
 * list's WHEN_ALL backends runs everything, -1 until a call's first look
 * (one probe per request, not one per entry).
 */
static int offer_ok(const struct route *rt, const struct route *list,
		    int *all)
{
	if (!(rt->when & (WHEN_ALL | WHEN_NOT_ALL)))
		return 1;
	if (*all < 0)
		*all = someone_runs_all(list);
	if (rt->when & WHEN_ALL)
		return *all && runs_all(rt);
	return !*all;
}

static int wants(const struct route *rt, struct kaio_req *req)
{
	return !rt->b->wants || rt->b->wants(req);
}

/* req waits in its fd's queue: whoever releases it, not its submitter,
 * will hand it on.  In the submitting thread. */
void kaio__backend_defer(struct kaio_req *req)
{
	const struct route *list = routes(), *rt;
	int all = -1;

	req->tid = 0;
	for (rt = list; rt->b; rt++)
		if (rt->b->defer && offer_ok(rt, list, &all))
			rt->b->defer(req);
}

/* req waits in its fd's queue and its number is going: the backend that
 * would run it now takes its file, if it can (fdmap.c).  1 if one did. */
int kaio__backend_hold_file(struct kaio_req *req)
{
	const struct route *list = routes(), *rt;
	int all = -1;

	for (rt = list; rt->b; rt++) {
		if (!offer_ok(rt, list, &all) || !wants(rt, req))
			continue;
		return rt->b->hold_file ? rt->b->hold_file(req) : 0;
	}
	return 0;
}

/* Would closing the numbers first to last take away a descriptor that a
 * backend's hold_file() needs (fdmap.c)? */
int kaio__backend_holds_in(int first, int last)
{
	int i;

	for (i = 0; i < NBACKENDS; i++)
		if (backends[i]->holds_in && backends[i]->holds_in(first, last))
			return 1;
	return 0;
}

/* Offer req to each backend of the list in turn.  0, or the last
 * backend's -errno. */
int kaio__backend_submit(struct kaio_req *req)
{
	const struct route *list = routes(), *rt;
	int ret = -EAGAIN, all = -1;

	for (rt = list; rt->b; rt++) {
		if (!offer_ok(rt, list, &all) || !wants(rt, req))
			continue;
		ret = offer(rt->b, &req, 1);
		if (ret == 1)
			return 0;
		all = -1;	/* it may have failed to start: look again */
	}
	return ret < 0 ? ret : -EAGAIN;
}

/*
 * req, which a kernel ring had (KAIO_RQ_INKERNEL), is the user side's
 * again: counted there, before its ring's count drops (reap.c).  Its
 * aiocb still names the ring (no thread but the submitter's writes it
 * before the completion): it is a stray until it completes.
 */
void kaio__backend_took_back(struct kaio_req *req)
{
	req->flags &= ~KAIO_RQ_INKERNEL;
	kaio__pending_add(req, 0);
	if (!(req->flags & KAIO_RQ_STRAY)) {
		req->flags |= KAIO_RQ_STRAY;
		atomic_fetch_add(&kaio__strays, 1);
	}
}

int kaio__backend_resubmit(struct kaio_req *req,
			   const struct kaio_backend *from)
{
	const struct route *list = routes(), *rt, *after = list;
	int ret = -EAGAIN;

	for (rt = list; rt->b; rt++)
		if (rt->b == from)
			after = rt + 1;
	/* The request is the user side's again, taken or not (reap.c): one
	 * the kernel never took was never counted out. */
	if (req->flags & KAIO_RQ_INKERNEL)
		kaio__backend_took_back(req);
	for (rt = after; rt->b; rt++) {
		if (!(rt->b->flags & KAIO_BE_HANDOFF))
			continue;
		ret = offer(rt->b, &req, 1);
		if (ret == 1) {
			kaio__handoff_end();
			return 0;
		}
	}
	return ret < 0 ? ret : -EAGAIN;
}

/* To the list's last backend, the one that takes anything; else *failed. */
static void submit_last(const struct route *last, struct kaio_req *req,
			struct kaio_req **failed)
{
	if (offer(last->b, &req, 1) != 1) {
		req->next = *failed;
		*failed = req;
	}
}

/*
 * Submit requests that need no per-fd ordering, those the first usable
 * backend wants in one call.  Those no backend would take are put on
 * *failed.
 */
/* The backend a batch goes to, if not the last (*last, the pool). */
static const struct route *batch_route(const struct route **last)
{
	const struct route *list = routes(), *rt;
	int all = -1;

	for (*last = list; (*last)[1].b; (*last)++)
		;
	for (rt = list; rt != *last; rt++)
		if (offer_ok(rt, list, &all) && (!rt->b->probe || rt->b->probe() >= 0))
			return rt;
	return NULL;
}

/* Does this thread's batch go to a ring it may reap at once?  See the
 * own_ring() operation (backend.h). */
int kaio__backend_own_ring(struct kaio_reaper **r)
{
	const struct route *last, *sel = batch_route(&last);

	*r = NULL;
	return sel && sel->b->own_ring ? sel->b->own_ring(r) : 0;
}

void kaio__backend_submit_batch(struct kaio_req **reqs, int n,
				struct kaio_req **failed)
{
	const struct route *last, *sel;
	struct kaio_req *take[KAIO_BATCH_MAX];
	int i, nt = 0, taken;

	if (!n)
		return;
	sel = batch_route(&last);
	for (i = 0; i < n; i++) {
		reqs[i]->tid = kaio__tid();	/* the submitter, at submission */
		if (sel && nt < KAIO_BATCH_MAX && wants(sel, reqs[i]))
			take[nt++] = reqs[i];
		else
			submit_last(last, reqs[i], failed);
	}
	taken = nt ? offer(sel->b, take, nt) : 0;
	for (i = taken < 0 ? 0 : taken; i < nt; i++)
		submit_last(last, take[i], failed);
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
	int i;

	for (i = 0; i < NBACKENDS; i++)
		if (backends[i]->cancel)
			backends[i]->cancel(fd, cb, t, out, n);
}

/* Ask again for what the ticket still waits for (see cancel.c). */
void kaio__backend_cancel_retry(struct kaio_cancel *t)
{
	int i;

	for (i = 0; i < NBACKENDS; i++)
		if (backends[i]->cancel_retry)
			backends[i]->cancel_retry(t);
}

/* req is freed: what a backend kept for it goes. */
void kaio__backend_release(struct kaio_req *req)
{
	int i;

	for (i = 0; i < NBACKENDS; i++)
		if (backends[i]->release)
			backends[i]->release(req);
}

/* In a fork child: this thread is a new one, the backends start empty. */
void kaio__backend_fork_child(void)
{
	int i;

	kaio__tls_tid = 0;
	for (i = 0; i < NBACKENDS; i++)
		if (backends[i]->fork_child)
			backends[i]->fork_child();
}

void kaio__backend_config_changed(void)
{
	int i;

	for (i = 0; i < NBACKENDS; i++)
		if (backends[i]->config_changed)
			backends[i]->config_changed();
}

/* " kaio=native io_uring=on": each named backend's state, for KAIO_STATS
 * (native AIO first, as the line has always had it). */
void kaio__backend_describe(char *buf, size_t len)
{
	size_t at = 0;
	int i, ret;

	buf[0] = '\0';
	for (i = NBACKENDS - 1; i >= 0; i--) {
		if (!backends[i]->name || !backends[i]->mode)
			continue;
		ret = snprintf(buf + at, len - at, " %s=%s", backends[i]->name,
			       backends[i]->mode());
		if (ret < 0 || (size_t)ret >= len - at)
			return;
		at += (size_t)ret;
	}
}
