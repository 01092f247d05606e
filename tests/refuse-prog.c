/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * When every backend refuses a request at once (io_uring_submit() fails and
 * no thread can be started), the request completes with its error or is
 * refused with EAGAIN; nothing hangs.  Run by tests/check-refuse.sh under
 * each KAIO_BACKEND.  The program exports io_uring_submit() and
 * pthread_create() (linked with -export-dynamic), which fail while
 * "refusing" is set.  Three places hand a request to a backend with the
 * fd's lock held (fdmap.c): the first submission of a serial (O_APPEND)
 * write, an aio_fsync(), and the next serial write released when the one
 * before it completes.  A refusal that completes the request there must
 * not take that lock again.  Two more cases follow the two ways io_uring
 * now gives back what it cannot send: a lio_listio() batch of which the
 * kernel consumes only the first entry (io_uring_submit() sends one
 * entry, then fails: the backend takes that prefix and declines the rest
 * by its return value), and a pipe read for io_uring's submitter thread,
 * which takes back what it could not enter and reroutes it itself.  First
 * of all (before the library has a thread), a read refused after its
 * aiocb said EINPROGRESS: another thread that saw EINPROGRESS and sleeps
 * in aio_suspend() on it is woken by the refusal.  Last, a write io_uring
 * drops (-ECANCELED, as io-wq does when it cannot start a worker) while
 * its submitter waits for it: it completes once, with EAGAIN (its
 * submitter's identity was not captured: it must not run with another
 * one on the pool) or, if a backend could take it, done.  Then a
 * SIGEV_THREAD read accepted while no thread can be started: the last
 * notifier, idle, must not leave in the moment between its reservation
 * and the request's binding (fcntl(F_GETFL), exported too, holds it there
 * for more than the idle time), or the callback never runs.  Exit 0 pass,
 * 1 fail (a hang is killed by alarm()).
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "shim-real.h"

static atomic_int refusing;
static atomic_int refusing_threads;	/* pthread_create() alone */
static atomic_int refuse_slowly;	/* a refused pthread_create() sleeps */
/* io_uring_submit() sends one entry per call, budget in all, then fails. */
static atomic_int partial_on, budget;
/* The next completion io_uring_wait_cqes() returns says -ECANCELED. */
static atomic_int drop_next, dropped;
/* fcntl(slow_fd, F_GETFL) sets slowed and sleeps slow_ms once. */
static atomic_int slow_fd = -1, slow_ms, slowed;

__attribute__((visibility("default"))) int fcntl(int fd, int cmd, ...);

int fcntl(int fd, int cmd, ...)
{
	static int (*next)(int, int, ...);

	if (cmd == F_GETFL && fd == atomic_load(&slow_fd)) {
		atomic_store(&slowed, 1);
		usleep(atomic_exchange(&slow_ms, 0) * 1000);
	}
	return SHIM_FCNTL_NEXT(next, fd, cmd);
}

__attribute__((visibility("default")))
int io_uring_wait_cqes(struct io_uring *ring, struct io_uring_cqe **cqe_ptr,
		       unsigned wait_nr, struct __kernel_timespec *ts,
		       sigset_t *sigmask);

/*
 * As io-wq does with a request it cannot start a worker for (a signal
 * pending at each try, RLIMIT_NPROC): it is completed with -ECANCELED,
 * never having run.  Here it has run (a read or a write at an offset:
 * doing it again changes nothing).
 */
int io_uring_wait_cqes(struct io_uring *ring, struct io_uring_cqe **cqe_ptr,
		       unsigned wait_nr, struct __kernel_timespec *ts,
		       sigset_t *sigmask)
{
	static int (*next)(struct io_uring *, struct io_uring_cqe **,
			   unsigned, struct __kernel_timespec *, sigset_t *);
	__typeof__(next) real = SHIM_NEXT(next, "io_uring_wait_cqes");
	int ret;

	if (!real)
		return -ENOSYS;
	ret = real(ring, cqe_ptr, wait_nr, ts, sigmask);
	if (ret == 0 && *cqe_ptr && atomic_exchange(&drop_next, 0)) {
		(*cqe_ptr)->res = -ECANCELED;
		atomic_store(&dropped, 1);
	}
	return ret;
}

__attribute__((visibility("default")))
int io_uring_submit(struct io_uring *ring);
__attribute__((visibility("default")))
int pthread_create(pthread_t *t, const pthread_attr_t *a,
		   void *(*fn)(void *), void *arg);

int io_uring_submit(struct io_uring *ring)
{
	static int (*next)(struct io_uring *);
	__typeof__(next) real = SHIM_NEXT(next, "io_uring_submit");
	unsigned tail, head;
	int ret;

	if (atomic_load(&refusing))
		return -EAGAIN;
	if (!real)
		return -ENOSYS;
	if (!atomic_load(&partial_on))
		return real(ring);
	/* One entry per call while the budget lasts, then refused. */
	if (atomic_fetch_sub(&budget, 1) <= 0)
		return -EAGAIN;
	tail = ring->sq.sqe_tail;
	head = *ring->sq.khead;
	if (tail - head > 1)
		ring->sq.sqe_tail = head + 1;
	ret = real(ring);
	ring->sq.sqe_tail = tail;
	return ret;
}

int pthread_create(pthread_t *t, const pthread_attr_t *a,
		   void *(*fn)(void *), void *arg)
{
	static int (*real)(pthread_t *, const pthread_attr_t *,
			   void *(*)(void *), void *);

	if (atomic_load(&refusing) || atomic_load(&refusing_threads)) {
		if (atomic_load(&refuse_slowly))
			usleep(100 * 1000);
		return EAGAIN;
	}
	return SHIM_NEXT(real, "pthread_create")(t, a, fn, arg);
}

static int failures;
static atomic_int callbacks;

static void count_cb(union sigval v)
{
	(void)v;
	atomic_fetch_add(&callbacks, 1);
}

/* Counted, then leaves its notifier thread once fcntl() is held. */
static void exit_cb(union sigval v)
{
	(void)v;
	atomic_fetch_add(&callbacks, 1);
	while (!atomic_load(&slowed))
		usleep(1000);
	pthread_exit(NULL);
}

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "FAIL: " __VA_ARGS__);			\
		fputc('\n', stderr);					\
		failures++;						\
	}								\
} while (0)

/* Wait for cb (submitted: aio_* returned 0); its aio_return(). */
static ssize_t finish(struct aiocb *cb)
{
	const struct aiocb *l[1] = { cb };

	while (aio_error(cb) == EINPROGRESS)
		aio_suspend(l, 1, NULL);
	return aio_return(cb);
}

/* A submission made while refusing: accepted and then finished with a
 * result or an error, or refused with EAGAIN. */
static void settled(struct aiocb *cb, int ret, size_t want, const char *what)
{
	ssize_t r;

	if (ret) {
		CHECK(errno == EAGAIN, "%s: refused with errno %d, not EAGAIN",
		      what, errno);
		return;
	}
	r = finish(cb);
	CHECK(r == (ssize_t)want || (r < 0 && aio_error(cb) == EAGAIN) ||
	      (r < 0 && aio_error(cb) == 0),
	      "%s: aio_return %zd, aio_error %d", what, r, aio_error(cb));
}

static void prep(struct aiocb *cb, int fd, void *buf, size_t n)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = fd;
	cb->aio_buf = buf;
	cb->aio_nbytes = n;
}

/* Case 0's second thread: it waits for the read once it is in progress. */
static struct aiocb late_cb;
static atomic_int late_submitted, late_saw, late_woken;
static long long late_ms;

static void *late_waiter(void *arg)
{
	const struct aiocb *l[1] = { &late_cb };
	struct timespec ts = { 5, 0 };
	long long t0;

	(void)arg;
	while (aio_error(&late_cb) != EINPROGRESS)
		if (atomic_load(&late_submitted))
			return NULL;	/* refused before it was seen */
	atomic_store(&late_saw, 1);
	t0 = shim_now_ms();
	if (aio_suspend(l, 1, &ts) == 0)
		atomic_store(&late_woken, 1);
	late_ms = shim_now_ms() - t0;
	return NULL;
}

/*
 * 0. A pipe read that no backend takes: the pool cannot start a thread,
 * slowly.  The aiocb says EINPROGRESS from before the read goes to a
 * backend until it is refused; a thread that waits for it in that time
 * must be woken by the refusal, not by its own timeout (5 s).
 */
static int refused_wakes_waiter(void)
{
	pthread_t t;
	char pb[4];
	int p[2], ret, err, tries;

	if (pipe(p)) {
		perror("pipe");
		return -1;
	}
	for (tries = 0; tries < 5 && !atomic_load(&late_saw); tries++) {
		prep(&late_cb, p[0], pb, 1);
		atomic_store(&late_submitted, 0);
		if (pthread_create(&t, NULL, late_waiter, NULL)) {
			perror("pthread_create");
			return -1;
		}
		usleep(10 * 1000);	/* the waiter is looking */
		atomic_store(&refuse_slowly, 1);
		atomic_store(&refusing, 1);
		ret = aio_read(&late_cb);
		err = errno;
		atomic_store(&refusing, 0);
		atomic_store(&refuse_slowly, 0);
		atomic_store(&late_submitted, 1);
		if (ret == 0) {
			/* A backend took it after all: not this case. */
			if (write(p[1], "a", 1) != 1)
				return -1;
			finish(&late_cb);
			pthread_join(t, NULL);
			printf("SKIP: refused read: a backend accepted it\n");
			break;
		}
		CHECK(err == EAGAIN, "refused read: errno %d, not EAGAIN", err);
		pthread_join(t, NULL);
	}
	if (atomic_load(&late_saw)) {
		CHECK(atomic_load(&late_woken) && late_ms < 2000,
		      "refused read: a waiter that saw it in progress %s "
		      "after %lld ms",
		      atomic_load(&late_woken) ? "was woken" : "timed out",
		      late_ms);
		printf("refused read: the waiter returned after %lld ms\n", late_ms);
	} else if (!ret) {
		;	/* skipped, said above */
	} else {
		printf("SKIP: refused read: never seen in progress\n");
	}
	close(p[0]);
	close(p[1]);
	return 0;
}

int main(void)
{
	char path[] = "kaio-refuse-XXXXXX";
	size_t big = 32 << 20;
	struct aiocb w0, w1, w2, fs;
	char *buf;
	int fd, ret;

	alarm(60);	/* a hang is a failure: SIGALRM kills the run */
	buf = malloc(big);
	fd = mkstemp(path);
	if (!buf || fd < 0 || fcntl(fd, F_SETFL, O_APPEND) < 0) {
		perror("setup");
		return 1;
	}
	unlink(path);
	memset(buf, 'r', big);

	if (refused_wakes_waiter())
		return 1;

	/* 1. A serial write submitted while refusing (fd lock held). */
	atomic_store(&refusing, 1);
	prep(&w0, fd, buf, 4096);
	ret = aio_write(&w0);
	atomic_store(&refusing, 0);
	settled(&w0, ret, 4096, "first serial write");

	/* 2. An aio_fsync() submitted while refusing (fd lock held). */
	atomic_store(&refusing, 1);
	prep(&fs, fd, NULL, 0);
	ret = aio_fsync(O_SYNC, &fs);
	atomic_store(&refusing, 0);
	settled(&fs, ret, 0, "aio_fsync");

	/* 3. The next serial write, released when the one before it ends
	 * (by whichever thread completes it, with the fd lock held). */
	prep(&w1, fd, buf, big);
	prep(&w2, fd, buf, 4096);
	ret = aio_write(&w1);
	CHECK(ret == 0, "big serial write: errno %d", errno);
	if (!ret) {
		ret = aio_write(&w2);
		CHECK(ret == 0, "queued serial write: errno %d", errno);
		atomic_store(&refusing, 1);
		/* It may find no thread either (its worker is started
		 * after this point): then it fails with EAGAIN too. */
		settled(&w1, 0, big, "big serial write");
		if (!ret)
			settled(&w2, 0, 4096, "released serial write");
		atomic_store(&refusing, 0);
	}
	close(fd);

	/* 4. A lio_listio() batch of reads of which io_uring takes only the
	 * first (no thread can be started either): each entry ends once,
	 * with its data or EAGAIN. */
	{
		enum { N = 8 };
		static char rb[N][4096];
		char rpath[] = "kaio-refuse-r-XXXXXX";
		struct aiocb rc[N], *rl[N];
		int rfd = mkstemp(rpath), i;

		if (rfd < 0 || write(rfd, buf, N * 4096) != N * 4096) {
			perror("setup 4");
			return 1;
		}
		unlink(rpath);
		for (i = 0; i < N; i++) {
			prep(&rc[i], rfd, rb[i], 4096);
			rc[i].aio_offset = (off_t)i * 4096;
			rc[i].aio_lio_opcode = LIO_READ;
			rl[i] = &rc[i];
		}
		atomic_store(&budget, 1);
		atomic_store(&partial_on, 1);
		atomic_store(&refusing_threads, 1);
		ret = lio_listio(LIO_WAIT, rl, N, NULL);
		atomic_store(&refusing_threads, 0);
		atomic_store(&partial_on, 0);
		CHECK(ret == 0 || errno == EIO || errno == EAGAIN,
		      "partial batch: lio_listio %d errno %d", ret, errno);
		for (i = 0; i < N; i++)
			settled(&rc[i], 0, 4096, "partial batch entry");
		close(rfd);
	}

	/* 5. A pipe read for io_uring's submitter thread (started first),
	 * which cannot enter it and no thread can be started: it comes back
	 * from that thread, to the pool or EAGAIN, once. */
	{
		struct aiocb pc;
		char pb[4];
		int p[2];

		if (pipe(p)) {
			perror("pipe");
			return 1;
		}
		prep(&pc, p[0], pb, 1);
		ret = aio_read(&pc);
		CHECK(ret == 0, "first pipe read: errno %d", errno);
		if (write(p[1], "a", 1) != 1)
			return 1;
		if (!ret)
			settled(&pc, 0, 1, "first pipe read");
		atomic_store(&refusing, 1);
		prep(&pc, p[0], pb, 1);
		ret = aio_read(&pc);
		if (write(p[1], "b", 1) != 1)
			return 1;
		settled(&pc, ret, 1, "pipe read for the submitter thread");
		atomic_store(&refusing, 0);
		close(p[0]);
		close(p[1]);
	}

	/* 6. A write io_uring drops, reaped by its own submitter. */
	{
		char wpath[] = "kaio-refuse-w-XXXXXX", back[4096];
		const struct aiocb *l[1];
		struct aiocb wc;
		int wfd = mkstemp(wpath), err;

		if (wfd < 0) {
			perror("setup 6");
			return 1;
		}
		unlink(wpath);
		memset(buf, 'd', 4096);
		prep(&wc, wfd, buf, 4096);
		l[0] = &wc;
		atomic_store(&drop_next, 1);
		ret = aio_write(&wc);
		CHECK(ret == 0, "dropped write: errno %d", errno);
		while (!ret && aio_error(&wc) == EINPROGRESS)
			aio_suspend(l, 1, NULL);
		atomic_store(&drop_next, 0);
		if (!ret && !atomic_load(&dropped)) {
			printf("SKIP: dropped write: io_uring did not serve it\n");
			(void)aio_return(&wc);
		} else if (!ret) {
			ssize_t wr;

			err = aio_error(&wc);
			wr = aio_return(&wc);
			CHECK((err == 0 && wr == 4096) ||
			      (err == EAGAIN && wr == -1),
			      "dropped write: aio_error %d (%s), aio_return "
			      "%zd", err, strerror(err), wr);
			CHECK(err || (pread(wfd, back, 4096, 0) == 4096 &&
				      !memcmp(back, buf, 4096)),
			      "dropped write: the file does not hold it");
			printf("dropped write: %s\n", err ? strerror(err)
							  : "done");
		}
		close(wfd);
	}
	/* 7. A SIGEV_THREAD read, reserved while a notifier idles, bound
	 * after it would have timed out, with no thread to be had. */
	{
		struct aioinit ai;
		struct aiocb a, c;
		const struct aiocb *l[1];
		int p[2], q[2], i;
		char b1, b2;

		memset(&ai, 0, sizeof(ai));
		ai.aio_idle_time = 1;
		aio_init(&ai);
		if (pipe(p) || pipe(q)) {
			perror("setup 7");
			return 1;
		}
		prep(&a, p[0], &b1, 1);
		a.aio_sigevent.sigev_notify = SIGEV_THREAD;
		a.aio_sigevent.sigev_notify_function = count_cb;
		CHECK(aio_read(&a) == 0, "notifier: first read: errno %d", errno);
		CHECK(write(p[1], "a", 1) == 1, "notifier: pipe");
		for (i = 0; i < 5000 && atomic_load(&callbacks) < 1; i++)
			usleep(1000);
		(void)aio_return(&a);
		CHECK(atomic_load(&callbacks) == 1, "notifier: no first callback");
		CHECK(write(q[1], "b", 1) == 1, "notifier: pipe");
		prep(&c, q[0], &b2, 1);
		c.aio_sigevent = a.aio_sigevent;
		atomic_store(&refusing_threads, 1);
		atomic_store(&slow_ms, 1600);
		atomic_store(&slow_fd, q[0]);
		ret = aio_read(&c);
		atomic_store(&slow_fd, -1);
		if (ret) {
			CHECK(errno == EAGAIN, "notifier: refused with errno %d",
			      errno);
		} else {
			l[0] = &c;
			while (aio_error(&c) == EINPROGRESS)
				aio_suspend(l, 1, NULL);
			for (i = 0; i < 3000 && atomic_load(&callbacks) < 2; i++)
				usleep(1000);
			CHECK(atomic_load(&callbacks) == 2,
			      "notifier: read accepted, its callback did not "
			      "run in 3 s");
			(void)aio_return(&c);
		}
		atomic_store(&refusing_threads, 0);
		close(p[0]);
		close(p[1]);
		close(q[0]);
		close(q[1]);
	}

	/* 8. The same window, but the last notifier leaves from inside a
	 * callback (pthread_exit()) while the read is reserved. */
	{
		struct aiocb a, c;
		const struct aiocb *l[1];
		int p[2], q[2], i, before;
		char b1, b2;

		if (pipe(p) || pipe(q)) {
			perror("setup 8");
			return 1;
		}
		/* Case 7's notifier may still idle: the count starts here. */
		atomic_store(&slowed, 0);
		before = atomic_load(&callbacks);
		prep(&a, p[0], &b1, 1);
		a.aio_sigevent.sigev_notify = SIGEV_THREAD;
		a.aio_sigevent.sigev_notify_function = exit_cb;
		CHECK(aio_read(&a) == 0, "exiting notifier: first read: errno %d",
		      errno);
		CHECK(write(p[1], "a", 1) == 1, "exiting notifier: pipe");
		for (i = 0; i < 5000 && atomic_load(&callbacks) < before + 1; i++)
			usleep(1000);
		CHECK(write(q[1], "b", 1) == 1, "exiting notifier: pipe");
		prep(&c, q[0], &b2, 1);
		c.aio_sigevent = a.aio_sigevent;
		c.aio_sigevent.sigev_notify_function = count_cb;
		atomic_store(&refusing_threads, 1);
		atomic_store(&slow_ms, 300);
		atomic_store(&slow_fd, q[0]);
		ret = aio_read(&c);
		atomic_store(&slow_fd, -1);
		if (ret) {
			CHECK(errno == EAGAIN,
			      "exiting notifier: refused with errno %d", errno);
		} else {
			l[0] = &c;
			while (aio_error(&c) == EINPROGRESS)
				aio_suspend(l, 1, NULL);
			/* The leaving notifier starts its successor now. */
			atomic_store(&refusing_threads, 0);
			for (i = 0; i < 3000 &&
			     atomic_load(&callbacks) < before + 2; i++)
				usleep(1000);
			CHECK(atomic_load(&callbacks) == before + 2,
			      "exiting notifier: read accepted, its callback "
			      "did not run in 3 s");
			(void)aio_return(&c);
		}
		(void)aio_return(&a);
		atomic_store(&refusing_threads, 0);
		close(p[0]);
		close(p[1]);
		close(q[0]);
		close(q[1]);
	}
	free(buf);
	if (failures)
		return 1;
	printf("refuse: pass\n");
	return 0;
}
