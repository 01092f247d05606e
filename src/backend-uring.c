/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-uring.c - the io_uring backend (liburing).
 *
 * io_uring's io-wq workers are the "kernel thread helpers" of every stock
 * kernel since 5.x: a buffered read or write that would block is punted to
 * a kernel worker, and fsync, pipes and sockets are served too.  The
 * backend takes reads and writes (pread/pwrite style, or at the file
 * position for non-seekable fds, which the per-fd layer serialises), and
 * fsync/fdatasync (after the library's barrier).
 *
 * Why liburing: it is in Debian, and it owns the ring's memory barriers,
 * feature probing (EXT_ARG timeouts) and the synchronous cancel call; a
 * private copy of that code would only add risk.
 *
 * Concurrency contract:
 * - One ring per process, made on first use, shared by every submitting
 *   thread: ur.lock serialises the submission queue (liburing's SQ side is
 *   single-threaded) and protects the in-flight list.
 * - The completion queue is consumed by one thread at a time (reap.c).
 * - Never IORING_SETUP_SQPOLL: its kernel thread would carry the ring
 *   creator's credentials (libuv's CVE-2024-22017).  Without it every
 *   request runs with its submitting thread's credentials, captured at
 *   submission for work punted to io-wq.
 * - Never IORING_SETUP_DEFER_TASKRUN: completions must arrive without the
 *   application entering the kernel.
 * - Fork: the ring is mapped MADV_DONTFORK (io_uring_ring_dontfork()); a
 *   child makes its own on first use.
 * - A refusal (setup failing with EPERM/ENOSYS/EACCES under a seccomp
 *   profile or kernel.io_uring_disabled, a full ring, a failed submit)
 *   never fails a request: it goes to the next backend.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "kaio-int.h"

#define UR_ENTRIES	256
#define UR_BATCH	128

static long reap_batch(const struct timespec *rel, int cancel);
static void flush_locked(void);

static struct kaio_reaper ureaper = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.rcond = PTHREAD_COND_INITIALIZER,
	.slot = 1,
	.reap_batch = reap_batch,
};

static struct {
	pthread_mutex_t lock;
	struct io_uring ring;
	atomic_int state;	/* 0 untried, 1 usable, -1 unusable */
	int setup_err;		/* why not, for the stats line */
	struct kaio_q inflight;
} ur = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static void setup_locked(void)
{
	int ret, saved = errno;

	if (ur.state)
		return;
	ur.state = -1;
	if (kaio__cfg.backend == KAIO_BACKEND_THREADS ||
	    kaio__cfg.backend == KAIO_BACKEND_KERNEL || getenv("KAIO_NO_URING"))
		return;
	ret = io_uring_queue_init(UR_ENTRIES, &ur.ring, 0);
	if (ret < 0) {
		ur.setup_err = -ret;
		errno = saved;
		return;
	}
	io_uring_ring_dontfork(&ur.ring);
	ur.state = 1;
	errno = saved;
}

int kaio__uring_probe(void)
{
	int state = atomic_load(&ur.state);

	if (kaio_likely(state))		/* decided: no lock on the hot path */
		return state > 0 ? 0 : -ENOSYS;
	pthread_mutex_lock(&ur.lock);
	setup_locked();
	state = ur.state;
	pthread_mutex_unlock(&ur.lock);
	return state > 0 ? 0 : -ENOSYS;
}

static void complete_one(struct kaio_req *req, long res)
{
	pthread_mutex_lock(&ur.lock);
	kaio__q_del(&ur.inflight.head, &ur.inflight.tail, req);
	pthread_mutex_unlock(&ur.lock);
	kaio__reaper_done(&ureaper, req);
	if (res > 0 && !kaio__is_pathop(req->op) && req->op != KAIO_OP_POLL &&
	    (size_t)res < req->nbytes - req->done &&
	    (req->op == KAIO_OP_WRITE ||
	     (req->op == KAIO_OP_READ && !(req->flags & KAIO_RQ_NOSEEK)))) {
		/*
		 * A short read of a regular file, or a short write (a pipe
		 * takes what fits), where a blocking pread()/write() would
		 * have gone on: a worker does the rest (a read of 0 there is
		 * EOF).
		 */
		req->done += (size_t)res;
		req->flags &= ~KAIO_RQ_INKERNEL;
		atomic_fetch_add(&kaio__user_pending, 1);
		if (kaio__pool_enqueue(req) == 0)
			return;
		res = 0;
	}
	kaio__served(req, KAIO_SERVED_URING, KAIO_STAT_URING);
	kaio__complete(req, res);
	kaio__req_free(req);
}

/*
 * Wait for completions (rel NULL: forever) and complete a batch.  With
 * cancel, the wait runs in async cancellation mode: io_uring_wait_cqes()
 * only looks at the ring, so a thread cancelled there leaves every
 * completion in it.
 */
static long reap_batch(const struct timespec *rel, int cancel)
{
	struct io_uring_cqe *cqe, *batch[UR_BATCH];
	struct __kernel_timespec ts, *tp = NULL;
	long res[UR_BATCH];
	unsigned head, n = 0, i;
	int ret, old = 0;

	if (rel) {
		ts.tv_sec = rel->tv_sec;
		ts.tv_nsec = rel->tv_nsec;
		tp = &ts;
	}
	pthread_mutex_lock(&ur.lock);	/* the SQ is the submitters' */
	flush_locked();
	pthread_mutex_unlock(&ur.lock);
	if (cancel)
		old = kaio__cancel_async_begin();
	do
		ret = io_uring_wait_cqes(&ur.ring, &cqe, 1, tp, NULL);
	while (ret == -EINTR && !tp);
	if (cancel)
		kaio__cancel_async_end(old);
	if (ret < 0)
		return ret == -ETIME ? -ETIMEDOUT : ret;
	io_uring_for_each_cqe(&ur.ring, head, cqe) {
		batch[n] = io_uring_cqe_get_data(cqe);
		res[n] = cqe->res;
		if (++n == UR_BATCH)
			break;
	}
	io_uring_cq_advance(&ur.ring, n);
	kaio__defer_wake(1);
	for (i = 0; i < n; i++)
		complete_one((struct kaio_req *)batch[i], res[i]);
	kaio__defer_wake(0);	/* one wake-up for the whole batch */
	return (long)n;
}

static void prep(struct io_uring_sqe *sqe, struct kaio_req *req)
{
	char *buf = (char *)req->buf + req->done;
	unsigned len = (unsigned)(req->nbytes - req->done);
	__u64 off = req->flags & KAIO_RQ_NOSEEK ? (__u64)-1
						: (__u64)(req->off + (off_t)req->done);

	switch (req->op) {
	case KAIO_OP_READ:
		io_uring_prep_read(sqe, req->fd, buf, len, off);
		break;
	case KAIO_OP_WRITE:
		io_uring_prep_write(sqe, req->fd, buf, len, off);
		break;
	case KAIO_OP_FSYNC:
		io_uring_prep_fsync(sqe, req->fd, 0);
		break;
	case KAIO_OP_FDSYNC:
		io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
		break;
	case KAIO_OP_OPENAT:
		io_uring_prep_openat(sqe, req->fd, req->path,
				     (int)(uint32_t)req->pflags,
				     (mode_t)((req->pflags >> 32) & 0xffff));
		break;
	case KAIO_OP_UNLINKAT:
		io_uring_prep_unlinkat(sqe, req->fd, req->path,
				       (int)req->pflags);
		break;
	case KAIO_OP_RENAMEAT:
		io_uring_prep_renameat(sqe, req->fd, req->path, req->dirfd2,
				       req->path2, (unsigned)req->pflags);
		break;
	case KAIO_OP_READAHEAD:
		io_uring_prep_fadvise(sqe, req->fd, req->off, (off_t)req->nbytes,
				      POSIX_FADV_WILLNEED);
		break;
	case KAIO_OP_POLL:
		io_uring_prep_poll_add(sqe, req->fd, (unsigned)req->nbytes);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
}

/* Send what the submission queue holds; called with ur.lock held. */
static void flush_locked(void)
{
	int tries = 0, ret;

	while (io_uring_sq_ready(&ur.ring) && tries++ < 16) {
		ret = io_uring_submit(&ur.ring);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			break;
	}
}

/*
 * Submit reqs[0..n) with one io_uring_enter().  Returns how many the ring
 * took (the rest are the caller's), or -errno if none.  A request in the
 * submission queue is the ring's: if the kernel could not take it at once
 * (-EBUSY while the completion queue overflows), the next enter, or the
 * reaper's, sends it.
 */
int kaio__uring_submit(struct kaio_req **reqs, int n)
{
	struct io_uring_sqe *sqe;
	int i, m = 0, urgent = 0;

	pthread_mutex_lock(&ur.lock);
	setup_locked();
	if (ur.state <= 0 || kaio__reaper_start(&ureaper)) {
		pthread_mutex_unlock(&ur.lock);
		return -ENOSYS;
	}
	for (i = 0; i < n; i++) {
		if (reqs[i]->nbytes - reqs[i]->done > 0x7ffff000)
			break;	/* over the kernel's cap: the pool loops */
		sqe = io_uring_get_sqe(&ur.ring);
		if (!sqe)
			break;
		prep(sqe, reqs[i]);
		kaio__q_push(&ur.inflight.head, &ur.inflight.tail, reqs[i]);
		kaio__debug_route(reqs[i], KAIO_SERVED_URING);
		reqs[i]->flags |= KAIO_RQ_INKERNEL;
		urgent += reqs[i]->list || reqs[i]->nt.notify != SIGEV_NONE;
		m++;
	}
	if (m) {
		flush_locked();
		kaio__reaper_submitted(&ureaper, m, urgent);
	}
	pthread_mutex_unlock(&ur.lock);
	return m ? m : -EAGAIN;
}

/*
 * Cancel what io_uring can interrupt (a read waiting on a pipe or socket,
 * say); running file I/O stays running.  Returns how many were cancelled,
 * their aiocbs on out[]: their completions (-ECANCELED) arrive through the
 * ring.  *running is set for matching requests that could not be.
 */
int kaio__uring_cancel(int fd, struct aiocb *cb, int *running,
		       struct aiocb **out, int max)
{
	struct io_uring_sync_cancel_reg reg;
	struct kaio_req *r, *hit[64];
	int i, n = 0, cancelled = 0, ret;

	if (ur.state <= 0)
		return 0;
	pthread_mutex_lock(&ur.lock);
	for (r = ur.inflight.head; r && n < 64; r = r->next)
		if (r->fd == fd && (!cb || r->cb == cb))
			hit[n++] = r;
	for (i = 0; i < n; i++) {
		memset(&reg, 0, sizeof(reg));
		reg.addr = (__u64)(uintptr_t)hit[i];
		reg.timeout.tv_sec = -1;
		reg.timeout.tv_nsec = -1;
		ret = io_uring_register_sync_cancel(&ur.ring, &reg);
		if (ret == 0 && cancelled < max)
			out[cancelled++] = hit[i]->cb;
		else if (ret != -ENOENT)
			*running = 1;
	}
	pthread_mutex_unlock(&ur.lock);
	return cancelled;
}

const char *kaio__uring_mode(void)
{
	if (ur.state == 0)
		return "unused";
	if (ur.state < 0)
		return ur.setup_err == EPERM || ur.setup_err == EACCES
			? "refused" : "off";
	return "on";
}

void kaio__uring_reset(void)
{
	/* The parent's ring is not mapped here (MADV_DONTFORK). */
	memset(&ur, 0, sizeof(ur));
	pthread_mutex_init(&ur.lock, NULL);
	kaio__reaper_reset(&ureaper);
}
