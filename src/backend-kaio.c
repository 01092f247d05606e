/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-kaio.c - native kernel AIO (io_setup/io_submit) backend.
 *
 * What goes here (the policy is in backend.c):
 * - on every kernel: O_DIRECT reads and writes (IOCB_CMD_PREAD/PWRITE), and
 *   fsync/fdatasync (IOCB_CMD_FSYNC/FDSYNC, a workqueue since Linux 4.18;
 *   the library's own barrier has already ordered them after the fd's
 *   earlier writes);
 * - with KAIO_BACKEND=kernel on a stock kernel, buffered reads too, with
 *   RWF_NOWAIT: one that would block comes back -EAGAIN and moves on to the
 *   thread pool;
 * - on a kernel with the threaded-AIO series and fs.aio-auto-threads = 1
 *   (AIO_RING_COMPAT_THREADED in the ring header), buffered reads and
 *   writes as well: the kernel's workers do the blocking.
 *
 * Concurrency contract:
 * - One context per process, made on first use (kaio_once); a fork child
 *   makes its own, since contexts belong to the mm.
 * - kctx.lock protects the in-flight list (for aio_cancel()); it is taken
 *   around io_submit() so a completion can never be reaped before its
 *   request is on the list.  Lock order: kaio_fd lock, then kctx.lock.
 * - Completions are reaped by one thread at a time, recorded in kctx.who:
 *   the background reaper thread, or an application thread sleeping in
 *   aio_suspend()/lio_listio(LIO_WAIT) whose requests can only be finished
 *   by the kernel (kaio__user_pending == 0).  Such a thread reaps for
 *   itself, so the kernel's wake-up reaches it directly, with no second
 *   hop through the reaper.  The reaper steps aside after each batch while
 *   an application thread wants the role (kctx.app_wants), and resumes
 *   when none does.  The background reaper starts with the first request
 *   and guarantees progress (notifications, aio_error() polling).
 * - A refusal from the kernel is never a failure: io_setup() failing (for
 *   example fs.aio-max-nr exhausted) disables the backend, and io_submit()
 *   failing sends that request on to the pool.
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

#include "kaio-int.h"
#include "kaio_aio_abi.h"
#include "sys.h"

#define KCTX_EVENTS	4096
#define REAP_BATCH	128

/* The ring header the kernel maps at the context's address. */
struct kring {
	unsigned id, nr, head, tail;
	unsigned magic, compat_features, incompat_features, header_length;
};

enum { WHO_NONE, WHO_REAPER, WHO_APP };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t rcond;	/* the reaper waits for work or its turn */
	atomic_int who;		/* WHO_*: who may call io_getevents() */
	atomic_int app_wants;	/* application threads waiting to reap */
	atomic_int inflight_n;	/* requests in the kernel */
	atomic_int urgent;	/* ... of them with a notification or list */
	atomic_llong app_reaped; /* when an application thread last reaped */
	int bg_sleep;		/* the reaper sleeps: 1 timed, 2 untimed */
	aio_context_t ctx;
	int state;		/* 0 untried, 1 usable, -1 unusable */
	int threaded;		/* patched kernel, sysctl on */
	int reaper;		/* the reaper thread is running */
	int fsync_ok;		/* IOCB_CMD_FSYNC accepted */
	struct kaio_q inflight;
} kctx = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.rcond = PTHREAD_COND_INITIALIZER,
	.fsync_ok = 1,
};

static long sys_io_setup(unsigned nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr, ctx);
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

static int threaded_kernel(aio_context_t ctx)
{
	const struct kring *r = (const struct kring *)(uintptr_t)ctx;

	return (r->compat_features & KAIO_AIO_RING_COMPAT_THREADED) != 0;
}

static void setup_locked(void)
{
	aio_context_t ctx = 0;
	int saved = errno;

	if (kctx.state)
		return;
	if (kaio__cfg.backend == KAIO_BACKEND_THREADS ||
	    sys_io_setup(KCTX_EVENTS, &ctx) < 0) {
		kctx.state = -1;
		errno = saved;
		return;
	}
	kctx.ctx = ctx;
	kctx.threaded = threaded_kernel(ctx);
	kctx.state = 1;
}

/* Is the backend usable, and does the kernel run buffered I/O threaded? */
int kaio__kernel_probe(int *threaded)
{
	int state;

	pthread_mutex_lock(&kctx.lock);
	setup_locked();
	state = kctx.state;
	if (threaded)
		*threaded = kctx.threaded;
	pthread_mutex_unlock(&kctx.lock);
	return state > 0 ? 0 : -ENOSYS;
}

static void reap(struct io_event *ev, long n)
{
	struct kaio_req *req;
	long i, res;

	kaio__defer_wake(1);
	for (i = 0; i < n; i++) {
		req = (struct kaio_req *)(uintptr_t)ev[i].data;
		res = (long)ev[i].res;
		pthread_mutex_lock(&kctx.lock);
		kaio__q_del(&kctx.inflight.head, &kctx.inflight.tail, req);
		pthread_mutex_unlock(&kctx.lock);
		atomic_fetch_sub(&kctx.inflight_n, 1);
		if (req->list || req->nt.notify != SIGEV_NONE)
			atomic_fetch_sub(&kctx.urgent, 1);
		if (res > 0 && (req->flags & KAIO_RQ_KNOWAIT) &&
		    (size_t)res < req->nbytes - req->done) {
			/* Part was cached: a worker reads the rest. */
			req->done += (size_t)res;
			res = -EAGAIN;
		}
		if ((res == -EAGAIN && (req->flags & KAIO_RQ_KNOWAIT)) ||
		    (res == -EINVAL && (req->op == KAIO_OP_FSYNC ||
					req->op == KAIO_OP_FDSYNC))) {
			/*
			 * The page cache did not have it (a worker will wait),
			 * or the kernel has no asynchronous fsync for it.
			 */
			if (res == -EINVAL)
				kctx.fsync_ok = 0;
			else
				kaio__count(KAIO_STAT_NOWAIT_FALLBACK);
			req->flags &= ~(KAIO_RQ_KNOWAIT | KAIO_RQ_INKERNEL);
			atomic_fetch_add(&kaio__user_pending, 1);
			if (kaio__pool_enqueue(req) == 0)
				continue;
		}
		kaio__count(KAIO_STAT_KERNEL);
		kaio__complete(req, res);
		kaio__req_free(req);
	}
	kaio__defer_wake(0);	/* one wake-up for the whole batch */
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Is it the background reaper's turn?  Called with kctx.lock held. */
static int reaper_turn(void)
{
	return atomic_load(&kctx.inflight_n) > 0 &&
	       atomic_load(&kctx.app_wants) == 0;
}

/*
 * An application that waits in aio_suspend() reaps for itself; while it
 * does so (it reaped in the last APP_GRACE_NS), the reaper leaves requests
 * that nobody is notified of to it, unless they sit unreaped that long.
 */
#define APP_GRACE_NS	10000000LL

static int app_active(void)
{
	return now_ns() - atomic_load(&kctx.app_reaped) < APP_GRACE_NS;
}

/*
 * Sleep until the reaper should reap; called with kctx.lock held.  While
 * requests are in flight, or an application thread has reaped lately, the
 * sleep is timed (kctx.bg_sleep = 1), so that a submission may leave the
 * reaper asleep; only an untimed sleep (2) must be interrupted.
 */
static void reaper_wait_locked(void)
{
	struct timespec dl;
	int ret;

	for (;;) {
		if (reaper_turn() &&
		    (atomic_load(&kctx.urgent) || !app_active()))
			return;
		if (!atomic_load(&kctx.inflight_n) && !app_active()) {
			kctx.bg_sleep = 2;
			pthread_cond_wait(&kctx.rcond, &kctx.lock);
			kctx.bg_sleep = 0;
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += APP_GRACE_NS;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
		kctx.bg_sleep = 1;
		ret = pthread_cond_timedwait(&kctx.rcond, &kctx.lock, &dl);
		kctx.bg_sleep = 0;
		/* Requests left unreaped for a whole grace period: reap. */
		if (ret == ETIMEDOUT && reaper_turn())
			return;
	}
}

static void *reaper(void *arg)
{
	struct io_event ev[REAP_BATCH];
	aio_context_t ctx = kctx.ctx;
	int none = WHO_NONE;
	long n;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&kctx.lock);
		reaper_wait_locked();
		pthread_mutex_unlock(&kctx.lock);
		none = WHO_NONE;
		if (!atomic_compare_exchange_strong(&kctx.who, &none,
						    WHO_REAPER))
			continue;	/* an application thread reaps */
		n = sys_io_getevents(ctx, 1, REAP_BATCH, ev, NULL);
		if (n > 0)
			reap(ev, n);
		atomic_store(&kctx.who, WHO_NONE);
		/* Sleepers that want the role must wake up to take it. */
		if (atomic_load(&kctx.app_wants))
			kaio__wake_waiters();
		if (n < 0 && errno != EINTR)
			break;	/* the context is gone (a fork child's copy) */
	}
	return NULL;
}

/* Let the reaper resume if nobody else will reap. */
static void hand_back(void)
{
	if (atomic_load(&kctx.app_wants) || !atomic_load(&kctx.inflight_n))
		return;
	pthread_mutex_lock(&kctx.lock);
	pthread_cond_signal(&kctx.rcond);
	pthread_mutex_unlock(&kctx.lock);
}

/*
 * Sleep until something completes, reaping kernel completions in this
 * thread if its requests can only be finished by the kernel.  Returns 0,
 * -EINTR or -ETIMEDOUT; -EAGAIN if the caller must sleep on the futex.
 */
int kaio__kernel_wait(int seq, const struct timespec *deadline)
{
	struct io_event ev[REAP_BATCH];
	struct timespec now, rel;
	int none = WHO_NONE, ret;
	long n;

	if (kctx.state <= 0 || !atomic_load(&kctx.inflight_n))
		return -EAGAIN;
	if (atomic_load(&kaio__user_pending)) {
		/* This thread sleeps on the futex: the reaper must not wait. */
		if (app_active()) {
			atomic_store(&kctx.app_reaped, 0);
			pthread_mutex_lock(&kctx.lock);
			pthread_cond_signal(&kctx.rcond);
			pthread_mutex_unlock(&kctx.lock);
		}
		return -EAGAIN;
	}
	atomic_fetch_add(&kctx.app_wants, 1);
	if (!atomic_compare_exchange_strong(&kctx.who, &none, WHO_APP)) {
		/* The reaper is in io_getevents(): it yields after a batch. */
		ret = sys_futex_wait(&kaio__done_seq, seq, deadline);
		atomic_fetch_sub(&kctx.app_wants, 1);
		hand_back();
		return ret == -EAGAIN ? 0 : ret;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	rel.tv_sec = deadline->tv_sec - now.tv_sec;
	rel.tv_nsec = deadline->tv_nsec - now.tv_nsec;
	if (rel.tv_nsec < 0) {
		rel.tv_sec--;
		rel.tv_nsec += 1000000000;
	}
	if (rel.tv_sec < 0)
		rel.tv_sec = rel.tv_nsec = 0;
	n = sys_io_getevents(kctx.ctx, 1, REAP_BATCH, ev, &rel);
	ret = n < 0 ? -errno : 0;
	if (n > 0) {
		atomic_store(&kctx.app_reaped, now_ns());
		reap(ev, n);
	}
	atomic_store(&kctx.who, WHO_NONE);
	/* Others who wanted the role sleep on the futex: let them retry. */
	if (atomic_fetch_sub(&kctx.app_wants, 1) > 1)
		kaio__wake_waiters();
	hand_back();
	if (ret == -EINTR)
		return -EINTR;
	if (n == 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline->tv_sec ||
		    (now.tv_sec == deadline->tv_sec &&
		     now.tv_nsec >= deadline->tv_nsec))
			return -ETIMEDOUT;
	}
	return 0;
}

static int start_reaper_locked(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t old;
	int ret;

	if (kctx.reaper)
		return 0;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	kaio__block_signals(&old);
	ret = pthread_create(&t, &attr, reaper, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret)
		return -ret;
	kctx.reaper = 1;
	return 0;
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
		cb->aio_offset = req->off + (off_t)req->done;
		if (req->flags & KAIO_RQ_KNOWAIT)
			cb->aio_rw_flags = RWF_NOWAIT;
		break;
	case KAIO_OP_FSYNC:
		cb->aio_lio_opcode = IOCB_CMD_FSYNC;
		break;
	case KAIO_OP_FDSYNC:
		cb->aio_lio_opcode = IOCB_CMD_FDSYNC;
		break;
	}
}

/*
 * Submit reqs[0..n) in one io_submit().  Returns how many the kernel took
 * (the rest are the caller's to send elsewhere), or -errno if none.
 */
int kaio__kernel_submit(struct kaio_req **reqs, int n)
{
	struct iocb *iocbs[64];
	int i, done = 0, saved = errno, wake = 0;
	long ret;

	pthread_mutex_lock(&kctx.lock);
	setup_locked();
	if (kctx.state <= 0 || start_reaper_locked()) {
		pthread_mutex_unlock(&kctx.lock);
		return -ENOSYS;
	}
	while (done < n) {
		int m = n - done > 64 ? 64 : n - done;

		for (i = 0; i < m; i++) {
			prep(reqs[done + i]);
			iocbs[i] = &reqs[done + i]->iocb;
			kaio__q_push(&kctx.inflight.head, &kctx.inflight.tail,
				     reqs[done + i]);
		}
		ret = sys_io_submit(kctx.ctx, m, iocbs);
		if (ret < 0)
			ret = 0;
		for (i = 0; i < (int)ret; i++) {
			struct kaio_req *r = reqs[done + i];

			r->flags |= KAIO_RQ_INKERNEL;
			if (r->list || r->nt.notify != SIGEV_NONE) {
				atomic_fetch_add(&kctx.urgent, 1);
				wake = 1;
			}
		}
		for (i = (int)ret; i < m; i++)
			kaio__q_del(&kctx.inflight.head, &kctx.inflight.tail,
				    reqs[done + i]);
		if (ret > 0) {
			atomic_fetch_sub(&kaio__user_pending, (int)ret);
			if (atomic_fetch_add(&kctx.inflight_n, (int)ret) == 0 &&
			    !atomic_load(&kctx.app_wants) &&
			    (wake || kctx.bg_sleep == 2 || !app_active()))
				pthread_cond_signal(&kctx.rcond);
		}
		done += (int)ret;
		if (ret < m)
			break;
	}
	pthread_mutex_unlock(&kctx.lock);
	errno = saved;
	return done ? done : -EAGAIN;
}

int kaio__kernel_fsync_ok(void)
{
	return kctx.fsync_ok;
}

int kaio__kernel_threaded(void)
{
	return kctx.state > 0 && kctx.threaded;
}

/*
 * Requests in the kernel are running: the mainline kernel cancels no read,
 * write or fsync, so aio_cancel() answers AIO_NOTCANCELED for them.
 */
void kaio__kernel_cancel(int fd, struct aiocb *cb, int *running)
{
	struct kaio_req *r;

	pthread_mutex_lock(&kctx.lock);
	for (r = kctx.inflight.head; r; r = r->next)
		if (r->fd == fd && (!cb || r->cb == cb))
			*running = 1;
	pthread_mutex_unlock(&kctx.lock);
}

const char *kaio__kernel_mode(void)
{
	if (kctx.state <= 0)
		return kctx.state ? "off" : "unused";
	return kctx.threaded ? "threaded" : "native";
}

void kaio__kernel_reset(void)
{
	/* The parent's context is not ours: make a new one on first use. */
	memset(&kctx, 0, sizeof(kctx));
	pthread_mutex_init(&kctx.lock, NULL);
	pthread_cond_init(&kctx.rcond, NULL);
	kctx.fsync_ok = 1;
}
