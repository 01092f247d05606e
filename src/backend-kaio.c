/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-kaio.c - native kernel AIO (io_setup/io_submit) backend.
 *
 * What goes here (the order of the backends is in backend.c; what this
 * one takes, in wants()):
 * - on every kernel: O_DIRECT reads and writes (IOCB_CMD_PREAD/PWRITE), and
 *   fsync/fdatasync (IOCB_CMD_FSYNC/FDSYNC, a workqueue since Linux 4.18;
 *   the library's own barrier has already ordered them after the fd's
 *   earlier writes);
 * - with KAIO_BACKEND=kernel on a stock kernel, buffered reads too, with
 *   RWF_NOWAIT: one that would block comes back -EAGAIN and moves on to the
 *   thread pool;
 * - on a kernel with the threaded-AIO series and fs.aio-auto-threads = 1
 *   (AIO_RING_COMPAT_THREADED in the ring header), buffered reads and
 *   writes as well: the kernel's workers do the blocking.  Since the
 *   series' patch 15 the sysctl is only a ceiling and a context must ask
 *   for threads (IOCTX_FLAG_THREADED in io_setup()'s nr_events); a kernel
 *   without that flag (stock, CONFIG_AIO_THREAD=n, or the series before
 *   patch 15) refuses it with EINVAL, and the context is then made as
 *   before, without it.
 *
 * The context, and what it costs the system (fs.aio-max-nr):
 * - It is made only when a request is really sent to native AIO, never to
 *   learn whether the kernel is the threaded kind (that is read from
 *   /proc/sys/fs/aio-auto-threads, then confirmed by the ring header), so
 *   a process that io_uring or the caller serves reserves no events.
 * - It starts with KCTX_MIN events.  A request the full context refuses
 *   is declined (never a failure: the dispatcher offers it to the next
 *   backend) and asks for a bigger one; the
 *   context is made again, twice the size up to KCTX_MAX, at the next
 *   submission that finds nothing in flight (a context is never destroyed
 *   with requests in it, nor while its events are being reaped).
 *   KAIO_STAT_AIO_EVENTS shows the events reserved.
 *
 * Lock order: a kaio_fd lock (fdmap.c), then kctx.lock, then the
 * reaper's lock (reap.c).  kctx.lock is never held while a request
 * completes, nor while another backend is called.
 *
 * Concurrency contract:
 * - One context per process at a time, made on first use; a fork child
 *   makes its own, since contexts belong to the mm.
 * - kctx.lock protects the in-flight list (for aio_cancel()) and each
 *   listed request's canceller (req->cw); it is taken around io_submit()
 *   so a completion can never be reaped before its request is on the
 *   list.
 * - Completions are reaped with io_getevents() by one thread at a time,
 *   the background reaper or a waiting application thread (reap.c).
 * - A request the kernel took carries the context's reaper as a hint in
 *   its aiocb (kaio-int.h), written under kctx.lock, which reap() takes
 *   before it completes anything.  One that goes back to another backend
 *   keeps it and becomes a stray (kaio__backend_resubmit()).
 * - A refusal from the kernel is never a failure: io_setup() failing (for
 *   example fs.aio-max-nr exhausted) disables the backend, and io_submit()
 *   failing declines that request (submit() returns it to the dispatcher);
 *   one the kernel gives back at completion (RWF_NOWAIT's EAGAIN, an
 *   fsync it cannot run) goes back through kaio__backend_resubmit().
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "kaio_aio_abi.h"
#include "sys.h"

/*
 * io_setup() flag of the threaded-AIO series (its uapi IOCTX_FLAG_THREADED,
 * kernel-patch/tests/abi_check.c checks the value): threads for this
 * context, if fs.aio-auto-threads allows them.  Any other kernel fails
 * io_setup() with EINVAL when it is set.
 */
#define KAIO_IOCTX_FLAG_THREADED	(1U << 30)

#define KCTX_MIN	128	/* events of the first context */
#define KCTX_MAX	4096	/* ... and of the biggest */
#define REAP_BATCH	128
#define REAP_CANCEL_BATCH 32	/* a cancellable wait clears this many */

/* The ring header the kernel maps at the context's address. */
struct kring {
	unsigned id, nr, head, tail;
	unsigned magic, compat_features, incompat_features, header_length;
};

static long reap_batch(struct kaio_reaper *r, const struct timespec *rel,
		       int cancel, const sigset_t *sigmask);

static struct kaio_reaper kreaper = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.rcond = PTHREAD_COND_INITIALIZER,
	.slot = 0,
	.reap_batch = reap_batch,
};

static struct {
	pthread_mutex_t lock;
	/* Under lock. */
	unsigned nr;		/* events the context was made with */
	int grow;		/* it refused a request: make a bigger one */
	struct kaio_q inflight;
	/* Written under lock, read without it. */
	atomic_ulong ctx;	/* aio_context_t; changes only when idle */
	atomic_int state;	/* 0 untried, 1 usable, -1 unusable */
	atomic_int threaded;	/* patched kernel, sysctl on */
	/* No lock. */
	atomic_int fsync_ok;	/* IOCB_CMD_FSYNC accepted */
	atomic_int refused;	/* io_getevents() forbidden: offer nothing */
	atomic_int sysctl;	/* fs.aio-auto-threads: 0 unread, 1 off, 2 on */
} kctx = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.fsync_ok = 1,
};

static long sys_io_setup(unsigned nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr, ctx);
}

static int sysctl_threaded(void);

/*
 * io_setup(), asking for threads when fs.aio-auto-threads is 1; a kernel
 * that does not know the flag says EINVAL, and is not asked again.
 */
static long setup_ctx(unsigned nr, aio_context_t *ctx)
{
	static atomic_int no_flag;
	int saved = errno;

	if (sysctl_threaded() &&
	    !atomic_load_explicit(&no_flag, memory_order_relaxed)) {
		if (sys_io_setup(nr | KAIO_IOCTX_FLAG_THREADED, ctx) == 0)
			return 0;
		if (errno != EINVAL)
			return -1;
		atomic_store_explicit(&no_flag, 1, memory_order_relaxed);
		*ctx = 0;
		errno = saved;
	}
	return sys_io_setup(nr, ctx);
}

static long sys_io_destroy(aio_context_t ctx)
{
	return syscall(SYS_io_destroy, ctx);
}

static long sys_io_submit(aio_context_t ctx, long n, struct iocb **iocbs)
{
	return syscall(SYS_io_submit, ctx, n, iocbs);
}

static long sys_io_getevents(aio_context_t ctx, long min, long max,
			     struct io_event *ev, struct timespec *ts)
{
	return syscall(SYS_io_getevents, ctx, min, max, ev, ts);
}

/*
 * io_getevents() with sigmask for the wait alone (io_pgetevents, 4.18):
 * a handler then runs only when the wait ends with EINTR, having taken
 * no event.  Without it, the signals are let in around the wait.
 */
static long getevents_sig(aio_context_t ctx, long min, long max,
			  struct io_event *ev, struct timespec *ts,
			  const sigset_t *sigmask)
{
	static atomic_int no_pget;
	struct { const sigset_t *mask; size_t size; } usig = { sigmask, 8 };
	sigset_t blocked;
	long n;

	if (!sigmask)
		return sys_io_getevents(ctx, min, max, ev, ts);
	if (sigmask == &kaio__park_mask) {	/* sigdefer.c */
		if (ts && ts->tv_sec >= KAIO_WAIT_FOREVER_S)
			ts = NULL;	/* as backend-uring.c's park_wait() */
		n = kaio__park_call(&kaio__tls_sigdeferred, SYS_io_getevents,
				    (long)ctx, min, max, (long)ev, (long)ts, 0);
		if (n < 0) {
			errno = (int)-n;
			n = -1;
		}
		return n;
	}
#ifdef SYS_io_pgetevents
	if (!atomic_load_explicit(&no_pget, memory_order_relaxed)) {
		n = syscall(SYS_io_pgetevents, ctx, min, max, ev, ts, &usig);
		if (n >= 0 || errno != ENOSYS)
			return n;
		atomic_store(&no_pget, 1);
	}
#endif
	pthread_sigmask(SIG_SETMASK, sigmask, &blocked);
	n = sys_io_getevents(ctx, min, max, ev, ts);
	pthread_sigmask(SIG_SETMASK, &blocked, NULL);
	return n;
}

static int threaded_kernel(aio_context_t ctx)
{
	const struct kring *r = (const struct kring *)(uintptr_t)ctx;

	return (r->compat_features & KAIO_AIO_RING_COMPAT_THREADED) != 0;
}

/* Is fs.aio-auto-threads 1?  Read once; absent (a stock kernel): no. */
static int sysctl_threaded(void)
{
	int v = atomic_load_explicit(&kctx.sysctl, memory_order_relaxed);
	int saved, fd;
	char c = '0';

	if (kaio_likely(v))
		return v == 2;
	saved = errno;
	fd = open("/proc/sys/fs/aio-auto-threads", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = '0';
		close(fd);
	}
	errno = saved;
	v = c == '1' ? 2 : 1;
	atomic_store_explicit(&kctx.sysctl, v, memory_order_relaxed);
	return v == 2;
}

static void reserved(long nr)
{
	atomic_fetch_add_explicit(&kaio__statp->v[KAIO_STAT_AIO_EVENTS],
				  (unsigned long)nr, memory_order_relaxed);
}

/*
 * Make the context, or a bigger one in place of an idle one that was
 * found too small.  Called with kctx.lock held.
 */
static void setup_locked(void)
{
	aio_context_t ctx = 0, old;
	unsigned nr;
	int saved = errno;

	if (kctx.state > 0 && !(kctx.grow && !kctx.inflight.head &&
				kctx.nr < KCTX_MAX))
		return;
	if (kctx.state < 0)
		return;
	if (kaio__cfg.backend == KAIO_BACKEND_THREADS ||
	    kaio__cfg.backend == KAIO_BACKEND_URING) {
		kctx.state = -1;
		return;
	}
	nr = kctx.state > 0 ? kctx.nr * 2 : KCTX_MIN;
	kctx.grow = 0;
	if (setup_ctx(nr, &ctx) < 0) {
		if (kctx.state == 0)
			kctx.state = -1;
		kctx.nr = KCTX_MAX;	/* keep the one there is */
		errno = saved;
		return;
	}
	reserved(nr);
	if (kctx.state > 0) {
		/*
		 * Nothing is in flight, so nothing of ours is in the old
		 * ring; a thread still waiting in it wakes with EINVAL
		 * (reap_batch() sees the context changed).
		 */
		old = (aio_context_t)atomic_load(&kctx.ctx);
		atomic_store(&kctx.ctx, (unsigned long)ctx);
		sys_io_destroy(old);
		reserved(-(long)kctx.nr);
	} else {
		atomic_store(&kctx.ctx, (unsigned long)ctx);
	}
	/* The ring says what the kernel really does. */
	atomic_store(&kctx.threaded, threaded_kernel(ctx));
	kctx.nr = nr;
	kctx.state = 1;
	errno = saved;
}

/*
 * May native AIO be offered a request, and does the kernel run buffered
 * I/O threaded?  Never makes the context (submit() does).
 */
static int probe_threaded(int *threaded)
{
	int state = atomic_load(&kctx.state);

	if (kaio__cfg.backend == KAIO_BACKEND_THREADS ||
	    kaio__cfg.backend == KAIO_BACKEND_URING || state < 0 ||
	    atomic_load_explicit(&kctx.refused, memory_order_relaxed))
		return -ENOSYS;
	if (threaded)
		*threaded = state > 0 ? atomic_load(&kctx.threaded)
				      : sysctl_threaded();
	return 0;
}

/* Off the in-flight list; returns the canceller waiting for it, if any. */
static struct kaio_cancel *unlist_locked(struct kaio_req *req)
{
	struct kaio_cancel *cw = req->cw;

	kaio__q_del(&kctx.inflight.head, &kctx.inflight.tail, req);
	req->cw = NULL;
	return cw;
}

/*
 * Complete a batch of events.  A completed request stays on the in-flight
 * list until its result is published (aio_cancel() looks there), then is
 * taken off and freed; one handed on to the pool is taken off first.
 */
static void reap(struct io_event *ev, long n)
{
	struct kaio_req *req;
	struct kaio_cancel *cw;
	size_t part;
	long i, res;
	int urgent = 0, dropped;

	/* Their submitter may still be in submit(): let it finish first,
	 * so its bookkeeping precedes the completions'. */
	pthread_mutex_lock(&kctx.lock);
	pthread_mutex_unlock(&kctx.lock);
	kaio__defer_wake(1);
	for (i = 0; i < n; i++) {
		req = (struct kaio_req *)(uintptr_t)ev[i].data;
		res = (long)ev[i].res;
		urgent += kaio__reaper_urgent(req);
		if (atomic_load(&req->cancel_asked) &&
		    (res == -EINTR || (res == 0 && req->op == KAIO_OP_POLL)))
			res = -ECANCELED;	/* io_cancel() stopped it */
		part = 0;
		if (res > 0 && (req->flags & KAIO_RQ_KNOWAIT) &&
		    (size_t)res < req->nbytes - req->done) {
			/* Part was cached: a worker reads the rest.  Counted
			 * in req->done once off the list, where aio_cancel()
			 * reads it under kctx.lock. */
			part = (size_t)res;
			res = -EAGAIN;
		}
		/*
		 * ECANCELED that nobody asked for: the threaded series' io-wq
		 * could not start a worker (a signal pending at every try)
		 * and cancelled the work before it moved anything.  As on
		 * io_uring: the pool runs it, or it fails with EAGAIN.
		 */
		if (res == -ECANCELED && !atomic_load(&req->cancel_asked))
			res = -EAGAIN, dropped = 1;
		else
			dropped = 0;
		if ((res == -EAGAIN && ((req->flags & KAIO_RQ_KNOWAIT) ||
					dropped)) ||
		    (res == -EINVAL && (req->op == KAIO_OP_FSYNC ||
					req->op == KAIO_OP_FDSYNC))) {
			/*
			 * The page cache did not have it (a worker will wait),
			 * or the kernel has no asynchronous fsync for it, or
			 * dropped it.
			 */
			if (res == -EINVAL)
				kctx.fsync_ok = 0;
			else if (!dropped)
				kaio__count(KAIO_STAT_NOWAIT_FALLBACK);
			kaio__handoff_begin();
			pthread_mutex_lock(&kctx.lock);
			cw = unlist_locked(req);
			pthread_mutex_unlock(&kctx.lock);
			req->done += part;
			req->flags &= ~KAIO_RQ_KNOWAIT;
			ev[i].data = 0;		/* off the list already */
			if (kaio__backend_resubmit(req,
						   &kaio__kernel_backend) == 0) {
				if (cw)
					kaio__cancel_settle(cw, -EINPROGRESS);
				continue;
			}
			kaio__served(req, KAIO_SERVED_KERNEL, KAIO_STAT_KERNEL);
			kaio__complete(req, res);
			kaio__handoff_end();
			kaio__req_free(req);
			if (cw)
				kaio__cancel_settle(cw, res);
			continue;
		}
		if (req->op == KAIO_OP_READAHEAD && res > 0)
			res = 0;	/* bytes resident: readahead(2) says 0 */
		kaio__served(req, KAIO_SERVED_KERNEL, KAIO_STAT_KERNEL);
		kaio__complete(req, res);
		ev[i].res = res;
	}
	kaio__defer_wake(0);	/* one wake-up for the whole batch */
	pthread_mutex_lock(&kctx.lock);
	for (i = 0; i < n; i++)
		if (ev[i].data)
			ev[i].obj = (uintptr_t)unlist_locked(
				(struct kaio_req *)(uintptr_t)ev[i].data);
	pthread_mutex_unlock(&kctx.lock);
	for (i = 0; i < n; i++) {
		if (!ev[i].data)
			continue;
		if (ev[i].obj)	/* wakes its canceller (cancel.c) */
			kaio__cancel_settle((struct kaio_cancel *)(uintptr_t)
					    ev[i].obj, (long)ev[i].res);
		kaio__req_free((struct kaio_req *)(uintptr_t)ev[i].data);
	}
	/* Out of the count once every waiter was told: the batch's
	 * wake-up, and each canceller's (kaio__reaper_retire()). */
	kaio__reaper_retire(&kreaper, (int)n, urgent);
}

/*
 * A thread cancelled in io_getevents() may have been handed events (the
 * kernel copies them out before the system call returns): complete them,
 * they are no longer in the ring.  They are the leading entries with a
 * request pointer; the array was cleared before the call.
 */
static void reap_abandoned(void *arg)
{
	struct io_event *ev = arg;
	long n = 0;

	while (n < REAP_CANCEL_BATCH && ev[n].data)
		n++;
	if (n)
		reap(ev, n);
}

#define KRING_MAGIC	0xa10a10a1	/* fs/aio.c's AIO_RING_MAGIC */

/*
 * Up to max events taken from the ring the kernel maps at the context's
 * address, with no system call: all a reaper can do once a seccomp
 * filter that came after the context was made forbids io_getevents().
 * The kernel reads the head back to free the events' slots.  Only the
 * holder of the reaper's role reaps (reap.c), so nothing else consumes
 * the ring meanwhile.
 */
static long ring_take(aio_context_t ctx, struct io_event *ev, long max)
{
	struct kring *r = (struct kring *)(uintptr_t)ctx;
	const struct io_event *ring = (const struct io_event *)(r + 1);
	unsigned head, tail, nr;
	long n = 0;

	if (!r || r->magic != KRING_MAGIC || r->incompat_features ||
	    r->header_length != sizeof(*r))
		return 0;
	nr = r->nr;
	head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	if (head >= nr || tail >= nr)
		return 0;
	while (head != tail && n < max) {
		ev[n++] = ring[head];
		head = (head + 1) % nr;
	}
	__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
	return n;
}

/*
 * Wait for events (rel NULL: forever) and complete them.  With cancel,
 * the wait is a cancellation point (see reap_abandoned()).  A wait the
 * system refuses (EPERM, EACCES, ENOSYS) still takes what the ring holds,
 * and then says why it could not wait: the caller looks again later
 * (reap.c).  No request is offered to native AIO after that.
 */
static long reap_batch(struct kaio_reaper *r, const struct timespec *rel,
		       int cancel, const sigset_t *sigmask)
{
	struct io_event ev[REAP_BATCH];
	struct timespec ts, *tp = NULL;
	aio_context_t ctx = (aio_context_t)atomic_load(&kctx.ctx);
	long n;
	int old;

	(void)r;	/* one context, one reaper */
	if (rel) {
		ts = *rel;
		tp = &ts;
	}
	if (!cancel) {
		n = getevents_sig(ctx, 1, REAP_BATCH, ev, tp, sigmask);
	} else {
		memset(ev, 0, REAP_CANCEL_BATCH * sizeof(ev[0]));
		pthread_cleanup_push(reap_abandoned, ev);
		old = kaio__cancel_async_begin();
		n = getevents_sig(ctx, 1, REAP_CANCEL_BATCH, ev, tp, sigmask);
		kaio__cancel_async_end(old);
		pthread_cleanup_pop(0);
	}
	if (n < 0) {
		int err = errno;

		/* The idle context was replaced by a bigger one meanwhile. */
		if (err == EINVAL && ctx != atomic_load(&kctx.ctx))
			return 0;
		if (err != EPERM && err != EACCES && err != ENOSYS)
			return -err;
		atomic_store(&kctx.refused, 1);
		n = ring_take(ctx, ev, REAP_BATCH);
		if (!n)
			return -err;
	}
	reap(ev, n);
	return n;
}

static void prep(struct kaio_req *req)
{
	struct iocb *cb = &req->iocb;

	memset(cb, 0, sizeof(*cb));
	cb->aio_data = (uintptr_t)req;
	cb->aio_fildes = (unsigned)req->fd;
	cb->aio_reqprio = 0;
	switch (req->op) {
	case KAIO_OP_READ:
	case KAIO_OP_WRITE:
		cb->aio_lio_opcode = req->op == KAIO_OP_READ ? IOCB_CMD_PREAD
							     : IOCB_CMD_PWRITE;
		cb->aio_buf = (uintptr_t)req->buf + req->done;
		cb->aio_nbytes = req->nbytes - req->done;
		/* A stream has no offset, and a socket's read_iter fails
		 * any but 0 with ESPIPE (glibc reads it: read(2) after
		 * pread(2)'s ESPIPE).  An O_APPEND write ignores it. */
		cb->aio_offset = req->flags & KAIO_RQ_NOSEEK
				 ? 0 : req->off + (off_t)req->done;
		if (req->flags & KAIO_RQ_KNOWAIT)
			cb->aio_rw_flags = RWF_NOWAIT;
		break;
	case KAIO_OP_FSYNC:
		cb->aio_lio_opcode = IOCB_CMD_FSYNC;
		break;
	case KAIO_OP_FDSYNC:
		cb->aio_lio_opcode = IOCB_CMD_FDSYNC;
		break;
	case KAIO_OP_OPENAT:
	case KAIO_OP_UNLINKAT:
		cb->aio_lio_opcode = req->op == KAIO_OP_OPENAT
				     ? KAIO_IOCB_CMD_OPENAT : KAIO_IOCB_CMD_UNLINKAT;
		cb->aio_buf = (uintptr_t)req->path;
		cb->aio_offset = (__s64)req->pflags;
		break;
	case KAIO_OP_RENAMEAT:
		req->rinfo.olddirfd = req->fd;
		req->rinfo.oldpath = (uintptr_t)req->path;
		req->rinfo.newdirfd = req->dirfd2;
		req->rinfo.newpath = (uintptr_t)req->path2;
		req->rinfo.flags = req->pflags;
		cb->aio_lio_opcode = KAIO_IOCB_CMD_RENAMEAT;
		cb->aio_buf = (uintptr_t)&req->rinfo;
		cb->aio_nbytes = sizeof(req->rinfo);
		break;
	case KAIO_OP_POLL:
		cb->aio_lio_opcode = IOCB_CMD_POLL;
		cb->aio_buf = req->nbytes;	/* the event mask */
		break;
	case KAIO_OP_READAHEAD:
		cb->aio_lio_opcode = KAIO_IOCB_CMD_READAHEAD;
		cb->aio_nbytes = req->nbytes;
		cb->aio_offset = req->off;
		break;
	}
}

/*
 * reqs[i..n) are declined: without the RWF_NOWAIT mark wants() set, and
 * marked if a full context refused them (KAIO_STAT_POOL_OVERFLOW).
 */
static void decline(struct kaio_req **reqs, int i, int n, int full)
{
	for (; i < n; i++) {
		reqs[i]->flags &= ~KAIO_RQ_KNOWAIT;
		if (full)
			reqs[i]->flags |= KAIO_RQ_FULL;
	}
}

/*
 * Submit reqs[0..n) in one io_submit().  Returns how many the kernel took
 * (the rest are declined, for the dispatcher to offer on), or -errno if
 * none.
 */
static int submit(struct kaio_req **reqs, int n)
{
	struct iocb *iocbs[64];
	int i, done = 0, saved = errno, urgent, full = 0;
	long ret;

	pthread_mutex_lock(&kctx.lock);
	setup_locked();
	if (kctx.state <= 0 || kaio__reaper_start(&kreaper)) {
		pthread_mutex_unlock(&kctx.lock);
		decline(reqs, 0, n, 0);
		return -ENOSYS;
	}
	while (done < n) {
		int m = n - done > 64 ? 64 : n - done;

		for (i = 0; i < m; i++) {
			prep(reqs[done + i]);
			iocbs[i] = &reqs[done + i]->iocb;
			kaio__q_push(&kctx.inflight.head, &kctx.inflight.tail,
				     reqs[done + i]);
			kaio__debug_route(reqs[done + i], KAIO_SERVED_KERNEL);
		}
		ret = sys_io_submit((aio_context_t)atomic_load(&kctx.ctx), m,
				    iocbs);
		if (ret < m && (ret >= 0 || errno == EAGAIN) &&
		    atomic_load(&kreaper.inflight_n) >= (int)kctx.nr / 2)
			kctx.grow = full = 1;	/* a bigger one when idle */
		if (ret < 0)
			ret = 0;
		for (i = 0, urgent = 0; i < (int)ret; i++) {
			struct kaio_req *r = reqs[done + i];

			r->flags |= KAIO_RQ_INKERNEL;
			r->flags &= ~KAIO_RQ_EVFD;	/* a ring's, before */
			/* Before the reaper can complete it: reap() takes
			 * kctx.lock first.  Not in a call that released it
			 * from its fd's queue. */
			if (!(r->flags & KAIO_RQ_QUEUED))
				kaio__cb_hint_set(r->cb, &kreaper);
			urgent += kaio__reaper_urgent(r);
		}
		for (i = (int)ret; i < m; i++)
			kaio__q_del(&kctx.inflight.head, &kctx.inflight.tail,
				    reqs[done + i]);
		if (ret > 0)
			kaio__reaper_submitted(&kreaper, (int)ret, urgent);
		for (i = 0; i < (int)ret; i++)
			kaio__reaper_took(reqs[done + i]);
		done += (int)ret;
		if (ret < m)
			break;
	}
	pthread_mutex_unlock(&kctx.lock);
	errno = saved;
	decline(reqs, done, n, full);
	return done ? done : -EAGAIN;
}

/* Usable, and KAIO_PROBE_ALL on the threaded kernel. */
static int probe(void)
{
	int threaded = 0;

	if (probe_threaded(&threaded))
		return -ENOSYS;
	return threaded ? KAIO_PROBE_ALL : 0;
}

/*
 * Should the kernel take this request?  Sets KAIO_RQ_KNOWAIT if so.  Only
 * in its submitting thread, but for an fsync: native AIO has no way to run
 * a request with another thread's identity (backend.c).
 */
static int wants(struct kaio_req *req)
{
	int threaded;

	if (!kaio__own_thread(req) && req->op != KAIO_OP_FSYNC &&
	    req->op != KAIO_OP_FDSYNC)
		return 0;
	if (kaio__cfg.backend == KAIO_BACKEND_THREADS ||
	    probe_threaded(&threaded))
		return 0;
	if (kaio__is_pathop(req->op))
		return threaded;	/* the series' IOCB_CMD_OPENAT and so on */
	if (req->op == KAIO_OP_POLL)
		return 1;		/* IOCB_CMD_POLL: mainline since 4.18 */
	switch (req->op) {
	case KAIO_OP_FSYNC:
	case KAIO_OP_FDSYNC:
		return kctx.fsync_ok;
	case KAIO_OP_READ:
	case KAIO_OP_WRITE:
		/* Longer than one system call moves (backend.h): an
		 * O_DIRECT read of a short file wrote past the buffer. */
		if (req->nbytes - req->done > KAIO_RW_MAX)
			return 0;
		/* O_DIRECT on anything but a file or block device is a
		 * packet-mode pipe or FIFO.  O_DIRECT stays on the native
		 * path, threaded series or not, and io_submit() would read
		 * or write the pipe in the caller, and block there. */
		if ((req->flags & KAIO_RQ_DIRECT) &&
		    !(req->flags & KAIO_RQ_FILE))
			return 0;
		if (threaded)
			return 1;
		/* O_DIRECT as the flags kept for the fd say (request.c)?  One
		 * that lost it since would be read inside io_submit().  It
		 * goes to the pool, not to the RWF_NOWAIT path below: judged
		 * O_DIRECT, it has no identity captured for the reaper to
		 * hand it on with (creds.c), and the pool captures it in the
		 * submitter's window. */
		if ((req->flags & (KAIO_RQ_DIRECT | KAIO_RQ_KEPT)) ==
		    (KAIO_RQ_DIRECT | KAIO_RQ_KEPT) &&
		    !(fcntl(req->fd, F_GETFL) & O_DIRECT))
			return 0;
		if (req->flags & KAIO_RQ_DIRECT)
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

static long sys_io_cancel(aio_context_t ctx, struct iocb *iocb,
			  struct io_event *ev)
{
	return syscall(SYS_io_cancel, ctx, iocb, ev);
}

/* Is req's event in the completion ring, not yet reaped?  kctx.lock held. */
static int in_ring(const struct kaio_req *req)
{
	const struct kring *r = (const struct kring *)(uintptr_t)
				atomic_load(&kctx.ctx);
	const struct io_event *ev = (const struct io_event *)(r + 1);
	unsigned head, tail, nr = r->nr;

	head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	if (head >= nr || tail >= nr)
		return 0;
	for (; head != tail; head = (head + 1) % nr)
		if (ev[head].data == (uintptr_t)req)
			return 1;
	return 0;
}

/*
 * Cancel the matching requests in the kernel.  io_cancel() stops a poll
 * (and, on the threaded series, any threaded request); such a request,
 * and one whose event is already in the ring or being reaped, goes on the
 * ticket t, which its completion settles.  What the kernel cannot cancel
 * (a mainline read, write or fsync) runs on: t->running.  So does file
 * I/O on the threaded series: its wait is bounded, and a worker stopped
 * after part of a read or write ends it with that part's count, a short
 * read of a file that has the data.  As with io_uring, only what may
 * wait without bound is asked to stop: polls, reads and writes of
 * streams, path operations (an open of a FIFO).
 */
static int file_io(const struct kaio_req *r)
{
	return r->op == KAIO_OP_READ || r->op == KAIO_OP_WRITE ||
	       r->op == KAIO_OP_FSYNC || r->op == KAIO_OP_FDSYNC;
}

static void cancel(int fd, struct aiocb *cb, struct kaio_cancel *t,
		   struct kaio_req **out, int *n)
{
	struct io_event ev;
	struct kaio_req *r;
	int saved = errno;
	long ret;

	if (atomic_load(&kctx.state) <= 0)
		return;
	pthread_mutex_lock(&kctx.lock);
	for (r = kctx.inflight.head; r; r = r->next) {
		if (!kaio__cancel_may(r, fd, cb, t))
			continue;
		if (r->cw || !(r->flags & KAIO_RQ_INKERNEL) ||
		    (file_io(r) && !(r->flags & KAIO_RQ_NOSEEK))) {
			atomic_store(&t->running, 1);
			continue;
		}
		atomic_store(&r->cancel_asked, 1);
		ret = sys_io_cancel((aio_context_t)atomic_load(&kctx.ctx),
				    &r->iocb, &ev);
		if ((ret < 0 && errno == EINPROGRESS) ||
		    r->op == KAIO_OP_POLL || in_ring(r)) {
			r->cw = t;
			atomic_fetch_add(&t->pending, 1);
		} else {
			atomic_store(&t->running, 1);
		}
	}
	pthread_mutex_unlock(&kctx.lock);
	errno = saved;
}

static const char *mode(void)
{
	if (kctx.state <= 0)
		return kctx.state ? "off" : "unused";
	return kctx.threaded ? "threaded" : "native";
}

static void fork_child(void)
{
	/* The parent's context is not ours: make a new one on first use. */
	memset(&kctx, 0, sizeof(kctx));
	pthread_mutex_init(&kctx.lock, NULL);
	kaio__reaper_reset(&kreaper);
	kctx.fsync_ok = 1;	/* the sysctl is read again, if need be */
}

const struct kaio_backend kaio__kernel_backend = {
	.name = "kaio",
	.probe = probe,
	.wants = wants,
	.submit = submit,
	.cancel = cancel,
	.fork_child = fork_child,
	.mode = mode,
};
