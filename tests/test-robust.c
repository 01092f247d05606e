/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Robustness of notifications (issue 12): a queue destroyed while its
 * completions arrive, SIGEV_THREAD with no thread to be had, allocation
 * failures at completion time, a callback that ends its thread.
 *
 * Faults are injected by interposition in this test program: while
 * t_fail_thread_create is set, pthread_create() fails with EAGAIN (as
 * under RLIMIT_NPROC); while t_fail_alloc is set, malloc() and calloc()
 * fail (not in sanitizer builds, whose runtimes own the allocator).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define T_SANITIZED 1
#endif
#endif

/* Visible to the library: the tests are built with -fvisibility=hidden. */
#define T_EXPORT __attribute__((visibility("default")))

atomic_int t_fail_thread_create;	/* also test-adversary.c */

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *,
			 void *(*)(void *), void *);

T_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *a,
			    void *(*fn)(void *), void *arg)
{
	static _Atomic(create_fn) real;
	create_fn f = atomic_load(&real);

	if (atomic_load(&t_fail_thread_create))
		return EAGAIN;
	if (!f) {
		f = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
		atomic_store(&real, f);
	}
	return f(t, a, fn, arg);
}

#ifndef T_SANITIZED
static atomic_int t_fail_alloc;

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);

T_EXPORT void *malloc(size_t n)
{
	if (atomic_load_explicit(&t_fail_alloc, memory_order_relaxed)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

T_EXPORT void *calloc(size_t n, size_t size)
{
	if (atomic_load_explicit(&t_fail_alloc, memory_order_relaxed)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

/* While set, this thread's next mmap() first raises SIGUSR2. */
static __thread int t_raise_in_mmap;

T_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd,
		    off_t off)
{
	if (t_raise_in_mmap) {
		t_raise_in_mmap = 0;
		raise(SIGUSR2);
	}
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}
#endif

static void prep_q(struct aiocb *cb, int fd, void *buf, size_t len,
		   off_t off, int q, int val)
{
	t_prep(cb, fd, buf, len, off);
	cb->aio_sigevent.sigev_notify = SIGEV_KAIO;
	cb->aio_sigevent.sigev_signo = q;
	cb->aio_sigevent.sigev_value.sival_int = val;
}

static void prep_thread(struct aiocb *cb, int fd, void *buf, size_t len,
			void (*fn)(union sigval), void *arg)
{
	t_prep(cb, fd, buf, len, 0);
	cb->aio_sigevent.sigev_notify = SIGEV_THREAD;
	cb->aio_sigevent.sigev_notify_function = fn;
	cb->aio_sigevent.sigev_value.sival_ptr = arg;
}

/* Backend threads up: a pipe read that goes to a backend, then completes. */
static void warm_up(void)
{
	struct aiocb cb;
	char c;
	int p[2];

	t_pipe(p);
	t_prep(&cb, p[0], &c, 1, 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(write(p[1], "w", 1), 1);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 1);
	close(p[0]);
	close(p[1]);
}

/* --- finding 3: kaio_queue_destroy() while completions arrive ---------- */

/* A completion for a destroyed queue never reaches a new queue that
 * happens to get the same descriptor number: it is dropped, and counted. */
START_TEST(robust_queue_destroy_stale)
{
	struct aiocb cb;
	struct kaio_event ev[4];
	struct timespec zero = { 0, 0 };
	char c;
	int p[2], q, q2, i;
	unsigned long failed0;

	t_pipe(p);
	q = kaio_queue_create(0);
	ck_assert_int_ge(q, 0);
	prep_q(&cb, p[0], &c, 1, 0, q, 1);
	ck_assert_int_eq(aio_read(&cb), 0);
	failed0 = t_stat(KAIO_STAT_NOTIFY_FAILED);
	ck_assert_int_eq(kaio_queue_destroy(q), 0);
	q2 = kaio_queue_create(0);
	ck_assert_int_ge(q2, 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 1);
	/* The notification follows the result: wait for its verdict. */
	for (i = 0; i < 5000; i++) {
		if (t_stat(KAIO_STAT_NOTIFY_FAILED) != failed0 ||
		    t_stat(KAIO_STAT_NOTIFY_QUEUE) != 0)
			break;
		usleep(1000);
	}
	ck_assert_int_eq(kaio_queue_reap(q2, ev, 4, &zero), 0);
	ck_assert_uint_eq(t_stat(KAIO_STAT_NOTIFY_FAILED), failed0 + 1);
	ck_assert_uint_eq(t_stat(KAIO_STAT_NOTIFY_QUEUE), 0);
	ck_assert_int_eq(kaio_queue_destroy(q2), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

struct qreaper {
	int q;
	long timeout_ns;		/* 0: block */
	atomic_int ret, err, done, events;
	atomic_int *seen;
	int nseen;
};

/* Reap until the queue is destroyed: then -1 with EBADF. */
static void *qreaper(void *arg)
{
	struct qreaper *r = arg;
	struct kaio_event ev[16];
	struct timespec ts = { 0, r->timeout_ns };
	int n, i;

	for (;;) {
		n = kaio_queue_reap(r->q, ev, 16, r->timeout_ns ? &ts : NULL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			atomic_store(&r->err, errno);
			break;
		}
		for (i = 0; i < n; i++) {
			int k = ev[i].value.sival_int;

			if (r->seen && k >= 0 && k < r->nseen)
				atomic_fetch_add(&r->seen[k], 1);
		}
		atomic_fetch_add(&r->events, n);
	}
	atomic_store(&r->ret, n);
	atomic_store(&r->done, 1);
	return NULL;
}

static int join_within(pthread_t t, int ms)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(t, NULL, &dl);
}

/* A reaper blocked on a queue that is destroyed returns EBADF. */
START_TEST(robust_queue_destroy_reaper)
{
	struct qreaper r;
	pthread_t t;

	memset(&r, 0, sizeof(r));
	r.q = kaio_queue_create(0);
	ck_assert_int_ge(r.q, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, qreaper, &r), 0);
	usleep(50000);		/* in poll(2), most likely */
	ck_assert_int_eq(kaio_queue_destroy(r.q), 0);
	if (join_within(t, 5000)) {
		t_dump_state("reaper of a destroyed queue still blocked");
		ck_abort_msg("kaio_queue_reap() blocked on a destroyed queue");
	}
	ck_assert_int_eq(atomic_load(&r.ret), -1);
	ck_assert_int_eq(atomic_load(&r.err), EBADF);
}
END_TEST

/* Destroy while completions arrive and reapers wait: no use after free,
 * every request completes, no event is seen twice. */
START_TEST(robust_queue_destroy_race)
{
	enum { ROUNDS = 40, N = 96, R = 2 };
	struct aiocb *cb = calloc(N, sizeof(*cb));
	char *buf = malloc(N * 512);
	atomic_int *seen = calloc(N, sizeof(*seen));
	int fd = t_tmpfile(N * 512, 0), round, i, k, ok[N];

	ck_assert_ptr_nonnull(cb);
	for (round = 0; round < ROUNDS; round++) {
		struct qreaper r;
		pthread_t t[R];

		memset(&r, 0, sizeof(r));
		r.q = kaio_queue_create(0);
		ck_assert_int_ge(r.q, 0);
		r.seen = seen;
		r.nseen = N;
		/* Timed reaps first (the race), then blocked ones. */
		r.timeout_ns = round < ROUNDS / 2 ? 2000000 : 0;
		for (i = 0; i < N; i++)
			atomic_store(&seen[i], 0);
		for (k = 0; k < R; k++)
			ck_assert_int_eq(pthread_create(&t[k], NULL, qreaper,
							&r), 0);
		for (i = 0; i < N; i++) {
			prep_q(&cb[i], fd, buf + i * 512, 512,
			       (off_t)i * 512, r.q, i);
			if (i == N / 2 + round % (N / 2))
				ck_assert_int_eq(kaio_queue_destroy(r.q), 0);
			ok[i] = (i % 3 ? aio_read(&cb[i])
				       : aio_write(&cb[i])) == 0;
			if (!ok[i])
				ck_assert_int_eq(errno, EINVAL);
		}
		for (i = 0; i < N; i++)
			if (ok[i]) {
				ck_assert_int_eq(t_wait(&cb[i], 10000), 0);
				ck_assert_int_eq(aio_return(&cb[i]), 512);
			}
		for (k = 0; k < R; k++)
			if (join_within(t[k], 5000)) {
				t_dump_state("reaper of a destroyed queue");
				ck_abort_msg("reaper blocked after destroy");
			}
		ck_assert_int_eq(atomic_load(&r.err), EBADF);
		for (i = 0; i < N; i++)
			ck_assert_int_le(atomic_load(&seen[i]), 1);
	}
	free(cb);
	free(buf);
	free(seen);
	close(fd);
}
END_TEST

/* --- finding 7: SIGEV_THREAD when no thread can be created -------------- */

static atomic_int in_submit;		/* the test thread is in aio_read() */
static atomic_long submit_tid;

struct nested {
	atomic_int ran, bad;
	int np[2];			/* the pipe of the nested request */
};

static long gettid_(void)
{
	return (long)syscall(SYS_gettid);
}

/*
 * Runs where a callback may run: not inside the submitting call, and on a
 * thread that is free to wait for another request (a reaper or a pool
 * worker running it could not complete that one).
 */
static void nested_cb(union sigval v)
{
	struct nested *c = v.sival_ptr;
	struct aiocb n;
	const struct aiocb *l[1] = { &n };
	struct timespec ts = { 0, 100000000 };
	char ch;
	long t0 = t_now_ms();

	if (atomic_load(&in_submit) && atomic_load(&submit_tid) == gettid_())
		atomic_fetch_or(&c->bad, 1);
	t_prep(&n, c->np[0], &ch, 1, 0);
	if (aio_read(&n)) {
		atomic_fetch_or(&c->bad, 2);
		atomic_fetch_add(&c->ran, 1);
		return;
	}
	if (write(c->np[1], "n", 1) != 1)
		atomic_fetch_or(&c->bad, 2);
	while (aio_error(&n) == EINPROGRESS && t_now_ms() - t0 < 4000)
		aio_suspend(l, 1, &ts);
	if (aio_error(&n) != 0)
		atomic_fetch_or(&c->bad, 4);	/* stuck: left behind */
	else
		aio_return(&n);
	atomic_fetch_add(&c->ran, 1);
}

static int submit_marked(struct aiocb *cb)
{
	int ret;

	atomic_store(&submit_tid, gettid_());
	atomic_store(&in_submit, 1);
	ret = aio_read(cb);
	atomic_store(&in_submit, 0);
	return ret;
}

static int wait_ran(atomic_int *ran, int want, int ms)
{
	long t0 = t_now_ms();

	while (atomic_load(ran) < want && t_now_ms() - t0 < ms)
		usleep(1000);
	return atomic_load(ran);
}

/*
 * No notifier thread can be created: the callback never runs inside
 * aio_read() nor on a thread that reaps or serves requests; the request
 * is either refused (EAGAIN) or notified exactly once, later.
 */
START_TEST(robust_sigev_thread_no_thread)
{
	static struct nested c1, c2;
	struct aiocb a, b;
	char buf[64], ch;
	int fd = t_tmpfile(64, 0), p[2], ret, ran, bad;

	t_pipe(c1.np);
	t_pipe(c2.np);
	t_pipe(p);
	warm_up();

	/* 1. No notifier exists and none can start. */
	atomic_store(&t_fail_thread_create, 1);
	prep_thread(&a, fd, buf, sizeof(buf), nested_cb, &c1);
	ret = submit_marked(&a);
	if (ret == 0) {
		ck_assert_int_eq(t_wait(&a, 5000), 0);
		ran = wait_ran(&c1.ran, 1, 6000);
		atomic_store(&t_fail_thread_create, 0);
		bad = atomic_load(&c1.bad);
		ck_assert_msg(ran == 1 && bad == 0,
			      "callback ran %d times, where it must not (%d)",
			      ran, bad);
		aio_return(&a);
	} else {
		atomic_store(&t_fail_thread_create, 0);
		ck_assert_int_eq(errno, EAGAIN);
		ran = atomic_load(&c1.ran);
		ck_assert_int_eq(ran, 0);
	}

	/*
	 * 2. Accepted while threads could be made; by completion, past the
	 * idle time, none can be.  The notification still comes, once, on
	 * a notifier.
	 */
	prep_thread(&b, p[0], &ch, 1, nested_cb, &c2);
	ck_assert_int_eq(submit_marked(&b), 0);
	usleep(1600000);	/* KAIO_IDLE is 1 s: idle threads are gone */
	atomic_store(&t_fail_thread_create, 1);
	ck_assert_int_eq(write(p[1], "b", 1), 1);
	ret = t_wait(&b, 5000);
	wait_ran(&c2.ran, 1, 8000);
	usleep(50000);
	atomic_store(&t_fail_thread_create, 0);
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(aio_return(&b), 1);
	ran = atomic_load(&c2.ran);
	bad = atomic_load(&c2.bad);
	ck_assert_msg(ran == 1 && bad == 0,
		      "callback ran %d times, bad %d (1: in aio_read(), "
		      "4: could not wait for another request)", ran, bad);
	close(fd);
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * The pool's spawner runs, but no worker can be started and none runs
 * (the user's RLIMIT_NPROC reached; here pthread_create() fails): a
 * request for the pool is refused by aio_read() (-1, EAGAIN), as glibc's
 * is when no thread can run it.  It was accepted, then completed with
 * EAGAIN, an error POSIX gives aio_read() only for a request it did not
 * queue: 5120 of 5120 O_DIRECT reads so under KAIO_BACKEND=threads, as
 * nobody with RLIMIT_NPROC 3 (main thread, spawner, notifier).
 */
START_TEST(robust_pool_no_worker_refused)
{
	unsigned long pool0 = t_stat(KAIO_STAT_POOL);
	struct aiocb cb;
	int p[2], ret, err, e = 0;
	char c;

	warm_up();	/* a pipe read: starts the spawner, if the pool's */
	if (t_stat(KAIO_STAT_POOL) == pool0) {
		printf("SKIP: robust_pool_no_worker_refused: a pipe read does "
		       "not go to the pool here\n");
		return;
	}
	usleep(1600000);	/* KAIO_IDLE is 1 s: the worker is gone */
	t_pipe(p);
	t_prep(&cb, p[0], &c, 1, 0);
	atomic_store(&t_fail_thread_create, 1);
	ret = aio_read(&cb);
	err = errno;
	if (ret == 0) {
		ck_assert_int_eq(write(p[1], "x", 1), 1);
		e = t_wait(&cb, 5000);
	}
	atomic_store(&t_fail_thread_create, 0);
	if (ret == 0) {
		ck_assert_msg(e != EAGAIN, "aio_read() returned 0, then its "
			      "request failed with EAGAIN");
		ck_assert_int_eq(e, 0);
		ck_assert_int_eq(aio_return(&cb), 1);
	} else {
		ck_assert_int_eq(err, EAGAIN);
		/* Threads can be made again: the same aiocb goes through. */
		ck_assert_int_eq(aio_read(&cb), 0);
		ck_assert_int_eq(write(p[1], "y", 1), 1);
		ck_assert_int_eq(t_wait(&cb, 5000), 0);
		ck_assert_int_eq(aio_return(&cb), 1);
		ck_assert_int_eq(c, 'y');
	}
	close(p[0]);
	close(p[1]);
}
END_TEST

/* --- finding 11: a callback that ends its thread ---------------------- */

static atomic_int exit_ran, count_ran;

static void exit_cb(union sigval v)
{
	(void)v;
	atomic_fetch_add(&exit_ran, 1);
	pthread_exit(NULL);
}

static void count_cb(union sigval v)
{
	(void)v;
	atomic_fetch_add(&count_ran, 1);
}

/*
 * pthread_exit() in a callback gives its notifier slot back: with no
 * thread to be had afterwards, a new request is either refused (EAGAIN)
 * or notified, never left waiting for a notifier that is gone.
 */
START_TEST(robust_sigev_thread_exit)
{
	struct aiocb a, b, c;
	char buf[3][64];
	int fd = t_tmpfile(64, 0), ret, n, want;

	prep_thread(&a, fd, buf[0], 64, exit_cb, NULL);
	ck_assert_int_eq(aio_read(&a), 0);
	ck_assert_int_eq(wait_ran(&exit_ran, 1, 5000), 1);
	ck_assert_int_eq(t_wait(&a, 5000), 0);
	aio_return(&a);
	usleep(100000);		/* the thread is gone */

	atomic_store(&t_fail_thread_create, 1);
	prep_thread(&b, fd, buf[1], 64, count_cb, NULL);
	ret = aio_read(&b);
	if (ret == 0) {
		ck_assert_int_eq(t_wait(&b, 5000), 0);
		wait_ran(&count_ran, 1, 3000);
	}
	atomic_store(&t_fail_thread_create, 0);
	if (ret == 0) {
		n = atomic_load(&count_ran);
		ck_assert_msg(n == 1, "accepted, never notified (%d)", n);
		aio_return(&b);
	} else {
		ck_assert_int_eq(errno, EAGAIN);
	}

	/* Threads can be made again: notified exactly once. */
	prep_thread(&c, fd, buf[2], 64, count_cb, NULL);
	ck_assert_int_eq(aio_read(&c), 0);
	ck_assert_int_eq(t_wait(&c, 5000), 0);
	want = ret == 0 ? 2 : 1;
	wait_ran(&count_ran, want, 5000);
	usleep(100000);
	n = atomic_load(&count_ran);
	ck_assert_int_eq(n, want);
	n = atomic_load(&exit_ran);
	ck_assert_int_eq(n, 1);
	aio_return(&c);
	close(fd);
}
END_TEST

/* --- finding 8: no allocation at completion time ------------------------ */

/*
 * Requests accepted, then every malloc() fails while they complete: the
 * queue event, the SIGEV_THREAD callback and the list event all arrive.
 */
START_TEST(robust_alloc_fail_completion)
{
#ifdef T_SANITIZED
	/* The sanitizer owns malloc: nothing to interpose. */
	return;
#else
	struct aiocb a, b, c, *list[1] = { &c };
	struct sigevent sev;
	struct kaio_event ev[4];
	struct timespec zero = { 0, 0 };
	char ca, cbb, cc;
	int pa[2], pb[2], pc[2], q, got = 0, reqs = 0, lists = 0, n, i;
	long t0;

	t_pipe(pa);
	t_pipe(pb);
	t_pipe(pc);
	q = kaio_queue_create(0);
	ck_assert_int_ge(q, 0);
	prep_q(&a, pa[0], &ca, 1, 0, q, 1);
	ck_assert_int_eq(aio_read(&a), 0);
	prep_thread(&b, pb[0], &cbb, 1, count_cb, NULL);
	ck_assert_int_eq(aio_read(&b), 0);
	t_prep(&c, pc[0], &cc, 1, 0);
	c.aio_lio_opcode = LIO_READ;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_KAIO;
	sev.sigev_signo = q;
	sev.sigev_value.sival_int = 777;
	ck_assert_int_eq(lio_listio(LIO_NOWAIT, list, 1, &sev), 0);
	usleep(100000);		/* all three wait in a backend */

	atomic_store(&t_fail_alloc, 1);
	if (write(pa[1], "a", 1) != 1 || write(pb[1], "b", 1) != 1 ||
	    write(pc[1], "c", 1) != 1)
		got = -100;
	t0 = t_now_ms();
	while ((got < 2 || atomic_load(&count_ran) < 1) &&
	       t_now_ms() - t0 < 5000) {
		n = kaio_queue_reap(q, ev, 4, &zero);
		for (i = 0; i < n; i++) {
			if (ev[i].aiocb == &a && ev[i].res == 1)
				reqs++;
			if (!ev[i].aiocb && ev[i].value.sival_int == 777)
				lists++;
		}
		got += n > 0 ? n : 0;
		usleep(1000);
	}
	atomic_store(&t_fail_alloc, 0);
	n = atomic_load(&count_ran);
	ck_assert_msg(got == 2 && reqs == 1 && lists == 1 && n == 1,
		      "lost: %d events (request %d, list %d), %d callbacks",
		      got, reqs, lists, n);
	ck_assert_int_eq(aio_return(&a), 1);
	ck_assert_int_eq(aio_return(&b), 1);
	ck_assert_int_eq(aio_return(&c), 1);
	ck_assert_int_eq(kaio_queue_destroy(q), 0);
#endif
}
END_TEST

/* --- a signal handler's request while the flags table grows ------------ */

#ifndef T_SANITIZED
static struct aiocb nest_cb;
static char nest_buf[4096];
static int nest_fd;
static volatile sig_atomic_t nest_ran, nest_ret;

static void nest_handler(int sig)
{
	(void)sig;
	t_prep(&nest_cb, nest_fd, nest_buf, sizeof(nest_buf), 8192);
	nest_ret = aio_read(&nest_cb);
	nest_ran++;
}

/*
 * A thread reads a low fd (its table of cached flags is made small), then
 * a high one: the table grows, and in the mmap() for it a signal handler
 * reads a higher fd still.  The handler's request must leave the table
 * alone: it grew it too, and unmapped the old one, which the growth it
 * interrupted then copied from (and unmapped again).
 */
static void *nest_thread(void *arg)
{
	struct aiocb cb;
	char buf[4096];
	int fd = *(int *)arg, lo, hi, i;

	lo = dup(fd);
	hi = fcntl(fd, F_DUPFD, 200);
	nest_fd = fcntl(fd, F_DUPFD, 900);
	ck_assert(lo >= 0 && lo < 16 && hi >= 200 && nest_fd >= 900);
	for (i = 0; i < 4; i++) {
		t_prep(&cb, lo, buf, sizeof(buf), 0);
		ck_assert_int_eq(aio_read(&cb), 0);
		ck_assert_int_eq(t_wait(&cb, 5000), 0);
		ck_assert_int_eq(aio_return(&cb), 4096);
	}
	t_prep(&cb, hi, buf, sizeof(buf), 4096);
	t_raise_in_mmap = 1;
	ck_assert_int_eq(aio_read(&cb), 0);
	t_raise_in_mmap = 0;
	ck_assert_int_eq(nest_ran, 1);
	ck_assert_int_eq(nest_ret, 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 4096);
	ck_assert(t_check_bytes(buf, 4096, 4096));
	ck_assert_int_eq(t_wait(&nest_cb, 5000), 0);
	ck_assert_int_eq(aio_return(&nest_cb), 4096);
	ck_assert(t_check_bytes(nest_buf, 8192, 4096));
	/* Both numbers still read right, from whatever the table holds. */
	for (i = 0; i < 2 * 32 + 2; i++) {
		t_prep(&cb, i & 1 ? hi : nest_fd, buf, sizeof(buf), 0);
		ck_assert_int_eq(aio_read(&cb), 0);
		ck_assert_int_eq(t_wait(&cb, 5000), 0);
		ck_assert_int_eq(aio_return(&cb), 4096);
		ck_assert(t_check_bytes(buf, 0, 4096));
	}
	close(lo);
	close(hi);
	close(nest_fd);
	return NULL;
}
#endif

START_TEST(robust_flags_grow_nested)
{
#ifdef T_SANITIZED
	fprintf(stderr, "SKIP robust_flags_grow_nested: the sanitizer's "
		"runtime owns mmap(), where the signal is raised\n");
#else
	struct sigaction sa;
	pthread_t t;
	int fd = t_tmpfile(16384, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = nest_handler;
	ck_assert_int_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, nest_thread, &fd), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	close(fd);
#endif
}
END_TEST

/* The waits the filters below forbid: io_uring's enter, then native AIO's. */
static const int waits[] = { __NR_io_uring_enter, __NR_io_getevents };

/*
 * A seccomp filter that forbids waiting in io_uring and native AIO comes
 * (for every thread) while a pipe read is in io_uring.  The read's data
 * comes later: the read still completes, with no call that reaps (only
 * aio_error()).  The reaper, refused its wait, used to leave; the
 * completion then stayed in the ring for ever.  Before the data, a
 * 300 ms aio_suspend() must sleep, not spin: refused its wait too, it
 * looked again at once, and used the whole 300 ms of CPU.
 */
START_TEST(robust_wait_forbidden_midway)
{
	const char *b = getenv("KAIO_BACKEND");
	struct aiocb cb;
	char c;
	int p[2], i, err;

	if ((b && strcmp(b, "auto") && strcmp(b, "uring")) || !t_uring_ok() ||
	    t_threaded_kernel()) {
		printf("SKIP: robust_wait_forbidden_midway: io_uring does not "
		       "serve pipe reads here\n");
		return;
	}
	t_pipe(p);
	t_prep(&cb, p[0], &c, 1, 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	usleep(100 * 1000);	/* io_uring's submitter thread enters it */
	if ((err = t_seccomp_refuse(EPERM, 1, waits, 2))) {
		printf("SKIP: robust_wait_forbidden_midway: seccomp: %s\n",
		       strerror(err));
		return;
	}
	usleep(1500 * 1000);	/* past the reaper's 1 s wait in the ring */
	{
		const struct aiocb *l[1] = { &cb };
		struct timespec to = { 0, 300 * 1000000L }, c0, c1;
		long cpu_ms;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
		ck_assert_int_eq(aio_suspend(l, 1, &to), -1);
		ck_assert_int_eq(errno, EAGAIN);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		cpu_ms = (c1.tv_sec - c0.tv_sec) * 1000L +
			 (c1.tv_nsec - c0.tv_nsec) / 1000000;
		ck_assert_msg(cpu_ms < 150, "a 300 ms aio_suspend() used %ld ms "
			      "of CPU", cpu_ms);
	}
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	for (i = 0; i < 5000 && aio_error(&cb) == EINPROGRESS; i++)
		usleep(1000);
	ck_assert_msg(aio_error(&cb) == 0,
		      "the read did not complete (aio_error %d)", aio_error(&cb));
	ck_assert_int_eq(aio_return(&cb), 1);
	ck_assert_uint_eq(t_stat(KAIO_STAT_URING), 1);	/* io_uring's */
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * The filter forbids every wait before anything was submitted: the first
 * O_DIRECT read then goes to native AIO (io_uring's enter is refused), and
 * io_getevents() is refused too.  Its completion reaches the context's
 * ring all the same, which the library must read without the system call:
 * it waited for ever.  Reads after that go where they can complete.
 */
START_TEST(robust_native_wait_forbidden)
{
	const struct aiocb *l[1];
	struct timespec to = { 0, 50 * 1000000L };
	struct aiocb cb;
	unsigned char *buf;
	long t0;
	int fd, i, err;

	if (!t_direct_ok()) {
		printf("SKIP: robust_native_wait_forbidden: no O_DIRECT here\n");
		return;
	}
	fd = t_tmpfile(1 << 20, O_DIRECT);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, 65536), 0);
	if ((err = t_seccomp_refuse(EPERM, 1, waits, 2))) {
		printf("SKIP: robust_native_wait_forbidden: seccomp: %s\n",
		       strerror(err));
		return;
	}
	for (i = 0; i < 4; i++) {
		memset(buf, 0, 65536);
		t_prep(&cb, fd, buf, 65536, (off_t)i * 65536);
		ck_assert_int_eq(aio_read(&cb), 0);
		l[0] = &cb;
		t0 = t_now_ms();
		while (aio_error(&cb) == EINPROGRESS && t_now_ms() - t0 < 5000)
			aio_suspend(l, 1, &to);
		ck_assert_msg(aio_error(&cb) == 0, "read %d: aio_error %d after "
			      "5 s", i, aio_error(&cb));
		ck_assert_int_eq(aio_return(&cb), 65536);
		ck_assert(t_check_bytes(buf, (off_t)i * 65536, 65536));
	}
	free(buf);
	close(fd);
}
END_TEST

/*
 * A thread's ring holds an fsync it has not entered yet: after a burst of
 * fsyncs on an fd, the next one leading its fd's group waits in the
 * thread's submission queue for the thread's next call (fdmap.c,
 * backend-uring.c's defer_ok()).  A filter that forbids io_uring_enter()
 * comes first.  The fsync must still complete: it waited in the queue for
 * ever, and so did a wait without a timeout.
 */
START_TEST(robust_held_fsync_enter_refused)
{
	struct timespec to = { 0, 50 * 1000000L };
	const struct aiocb *l[6];
	struct aiocb w[4], s[4];
	unsigned long pool0;
	const char *b;
	char buf[4096];
	int fd, i, n, err;
	long t0;

	fd = t_tmpfile(0, 0);
	memset(buf, 'k', sizeof(buf));
	/* The burst: a write and an fsync, three times, all in flight. */
	for (i = 0; i < 3; i++) {
		t_prep(&w[i], fd, buf, sizeof(buf), (off_t)i * 4096);
		ck_assert_int_eq(aio_write(&w[i]), 0);
		t_prep(&s[i], fd, NULL, 0, 0);
		ck_assert_int_eq(aio_fsync(O_SYNC, &s[i]), 0);
	}
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(t_wait(&w[i], 5000), 0);
		ck_assert_int_eq(aio_return(&w[i]), 4096);
		ck_assert_int_eq(t_wait(&s[i], 5000), 0);
		ck_assert_int_eq(aio_return(&s[i]), 0);
	}
	pool0 = t_stat(KAIO_STAT_POOL);
	t_prep(&w[3], fd, buf, sizeof(buf), 3 * 4096);
	ck_assert_int_eq(aio_write(&w[3]), 0);
	t_prep(&s[3], fd, NULL, 0, 0);
	ck_assert_int_eq(aio_fsync(O_SYNC, &s[3]), 0);
	if ((err = t_seccomp_refuse(EPERM, 1, waits, 1))) {
		printf("SKIP: robust_held_fsync_enter_refused: seccomp: %s\n",
		       strerror(err));
		close(fd);
		return;
	}
	for (t0 = t_now_ms(); t_now_ms() - t0 < 10000;) {
		n = 0;
		if (aio_error(&w[3]) == EINPROGRESS)
			l[n++] = &w[3];
		if (aio_error(&s[3]) == EINPROGRESS)
			l[n++] = &s[3];
		if (!n)
			break;
		aio_suspend(l, n, &to);
	}
	ck_assert_msg(aio_error(&w[3]) == 0 && aio_error(&s[3]) == 0,
		      "after 10 s: write %d, fsync %d", aio_error(&w[3]),
		      aio_error(&s[3]));
	ck_assert_int_eq(aio_return(&w[3]), 4096);
	ck_assert_int_eq(aio_return(&s[3]), 0);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 3 * 4096), 4096);
	ck_assert_int_eq(buf[0], 'k');
	/* Taken back, it went to the pool; elsewhere the pool takes fsyncs
	 * anyway (ext4 has no native AIO fsync). */
	b = getenv("KAIO_BACKEND");
	if ((b && strcmp(b, "auto")) || t_stat(KAIO_STAT_POOL) == pool0)
		printf("SKIP: robust_held_fsync_enter_refused: no fsync was "
		       "left in a thread's ring\n");
	close(fd);
}
END_TEST

/*
 * The same refusal where the waiter reaps: a thread waits in
 * lio_listio(LIO_WAIT) for a pipe read in io_uring.  The filter comes, and
 * an O_DIRECT read completes (robust_native_wait_forbidden), which wakes
 * the waiter.  The reaper thread, refused its wait in turn, leaves the
 * role; the waiter, which waits for no list, takes it (reap.c's
 * sole_ring()) and is refused too.  It must then look again every 10 ms,
 * not at once: without the back-off in reap_claimed() it spins and uses
 * all of the 300 ms it is watched for.  The read completes once data
 * comes.
 */
static _Atomic pid_t lw_tid;

static void *lw_thread(void *arg)
{
	struct aiocb *cb = arg;
	struct aiocb *l[1] = { cb };
	long ret;

	atomic_store(&lw_tid, (pid_t)syscall(SYS_gettid));
	ret = lio_listio(LIO_WAIT, l, 1, NULL);
	return (void *)(ret ? -(long)errno : 0L);
}

START_TEST(robust_wait_forbidden_list_wait)
{
	const char *b = getenv("KAIO_BACKEND");
	struct timespec to = { 0, 50 * 1000000L }, c0, c1;
	const struct aiocb *l[1];
	struct aiocb cb, d;
	unsigned char *buf;
	clockid_t clk;
	pthread_t t;
	void *res;
	long cpu_ms, t0;
	char c;
	int p[2], tid, fd, err, up = 0;

	if ((b && strcmp(b, "auto") && strcmp(b, "uring")) || !t_uring_ok() ||
	    t_threaded_kernel() || !t_direct_ok()) {
		printf("SKIP: robust_wait_forbidden_list_wait: io_uring does not "
		       "serve pipe reads here, or no O_DIRECT\n");
		return;
	}
	fd = t_tmpfile(65536, O_DIRECT);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, 4096), 0);
	t_pipe(p);
	t_prep(&cb, p[0], &c, 1, 0);
	cb.aio_lio_opcode = LIO_READ;
	ck_assert_int_eq(pthread_create(&t, NULL, lw_thread, &cb), 0);
	ck_assert_int_eq(pthread_getcpuclockid(t, &clk), 0);
	usleep(200 * 1000);	/* asleep, the read in io_uring */
	tid = atomic_load(&lw_tid);
	ck_assert_int_gt(tid, 0);
	if ((err = t_seccomp_refuse(EPERM, 1, waits, 2))) {
		printf("SKIP: robust_wait_forbidden_list_wait: seccomp: %s\n",
		       strerror(err));
		ck_assert_int_eq(write(p[1], "x", 1), 1);
		ck_assert_int_eq(pthread_join(t, &res), 0);
		return;
	}
	t_prep(&d, fd, buf, 4096, 0);
	ck_assert_int_eq(aio_read(&d), 0);
	l[0] = &d;
	for (t0 = t_now_ms();
	     aio_error(&d) == EINPROGRESS && t_now_ms() - t0 < 5000;)
		aio_suspend(l, 1, &to);
	ck_assert_int_eq(aio_error(&d), 0);
	ck_assert_int_eq(aio_return(&d), 4096);
	/* Out of the futex sleep for good: it holds the role (the reaper's
	 * wait ends within 1 s, refused after it). */
	for (t0 = t_now_ms(); up < 20 && t_now_ms() - t0 < 5000; usleep(1000))
		up = t_thread_syscall(tid) == SYS_futex ? 0 : up + 1;
	ck_assert_msg(t_thread_syscall(tid) != -2, "lio_listio(LIO_WAIT) "
		      "returned before its read had data");
	if (up < 20) {
		ck_assert_int_eq(write(p[1], "x", 1), 1);
		ck_assert_int_eq(pthread_join(t, &res), 0);
		printf("SKIP: robust_wait_forbidden_list_wait: the waiter never "
		       "took the ring's role\n");
		return;
	}
	ck_assert_int_eq(clock_gettime(clk, &c0), 0);
	usleep(300 * 1000);
	ck_assert_int_eq(clock_gettime(clk, &c1), 0);
	cpu_ms = (c1.tv_sec - c0.tv_sec) * 1000L +
		 (c1.tv_nsec - c0.tv_nsec) / 1000000;
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(pthread_join(t, &res), 0);
	ck_assert_msg(cpu_ms < 150, "a waiter refused its ring's wait used "
		      "%ld ms of CPU in 300 ms", cpu_ms);
	ck_assert_int_eq((long)res, 0);
	ck_assert_int_eq(aio_error(&cb), 0);
	ck_assert_int_eq(aio_return(&cb), 1);
	free(buf);
	close(fd);
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * A handler that leaves with siglongjmp() out of aio_error(), which is
 * async-signal-safe.  It first enters what the thread left in its ring
 * (O_DIRECT reads at depth, backend-uring.c's defer_ok()), under the
 * ring's lock: a handler that ran there and jumped out left the lock
 * held, and the thread's next aio_read() and the ring's reaper waited for
 * it for ever (an outside run: 64 of 64 reads lost).  Signals come every
 * 300 us from another thread; the handler jumps only while the loop is
 * inside aio_error().  (Out of aio_suspend()'s wait in a ring, a jump
 * still loses requests: not covered here, see kaio_posix(7).)
 */
#define LJ_N	64
static sigjmp_buf lj_jb;
static volatile sig_atomic_t lj_armed;
static _Atomic int lj_stop;
static pthread_t lj_victim;

static void lj_handler(int sig)
{
	(void)sig;
	if (lj_armed) {
		lj_armed = 0;
		siglongjmp(lj_jb, 1);
	}
}

static void *lj_bomber(void *arg)
{
	(void)arg;
	while (!atomic_load(&lj_stop)) {
		pthread_kill(lj_victim, SIGUSR1);
		usleep(300);
	}
	return NULL;
}

START_TEST(robust_longjmp_out_of_flush)
{
	static struct aiocb cb[LJ_N];
	const struct aiocb *l[LJ_N];
	struct timespec to = { 1, 0 };
	struct sigaction sa;
	unsigned char *buf;
	volatile int i, k, jumps = 0;
	unsigned seed = 7;
	pthread_t t;
	long t0;
	int fd;

	if (!t_direct_ok() || !t_wrappers_first()) {
		printf("SKIP: robust_longjmp_out_of_flush: no O_DIRECT, or "
		       "close() not seen first (nothing is left in a ring)\n");
		return;
	}
	fd = t_tmpfile(4 << 20, O_DIRECT);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, LJ_N * 4096), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = lj_handler;
	sa.sa_flags = SA_RESTART;
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	lj_victim = pthread_self();
	ck_assert_int_eq(pthread_create(&t, NULL, lj_bomber, NULL), 0);
	for (k = 0; k < 20; k++) {
		for (i = 0; i < LJ_N; i++) {
			t_prep(&cb[i], fd, buf + i * 4096, 4096,
			       (off_t)(rand_r(&seed) % 1024) * 4096);
			ck_assert_int_eq(aio_read(&cb[i]), 0);
			l[i] = &cb[i];
		}
		t0 = t_now_ms();
		for (i = 0; i < LJ_N && t_now_ms() - t0 < 5000;) {
			if (sigsetjmp(lj_jb, 1)) {
				jumps++;
				continue;
			}
			lj_armed = 1;
			if (aio_error(&cb[i]) != EINPROGRESS) {
				lj_armed = 0;
				i++;
				continue;
			}
			lj_armed = 0;
			aio_suspend(l, LJ_N, &to);
		}
		lj_armed = 0;
		for (i = 0; i < LJ_N; i++) {
			ck_assert_msg(aio_error(&cb[i]) != EINPROGRESS, "round %d: "
				      "read %d still in progress after 5 s (%d "
				      "jumps)", k, i, jumps);
			ck_assert_int_eq(aio_return(&cb[i]), 4096);
			ck_assert(t_check_bytes(buf + i * 4096, cb[i].aio_offset,
						4096));
		}
	}
	atomic_store(&lj_stop, 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	if (!jumps)
		printf("SKIP: robust_longjmp_out_of_flush: no handler jumped "
		       "out of the library\n");
	free(buf);
	close(fd);
}
END_TEST

Suite *robust_suite(void)
{
	Suite *s = suite_create("robust");
	TCase *tc = t_tcase("robust");

	tcase_add_test(tc, robust_queue_destroy_stale);
	tcase_add_test(tc, robust_queue_destroy_reaper);
	tcase_add_test(tc, robust_queue_destroy_race);
	tcase_add_test(tc, robust_sigev_thread_no_thread);
	tcase_add_test(tc, robust_sigev_thread_exit);
	tcase_add_test(tc, robust_pool_no_worker_refused);
	tcase_add_test(tc, robust_alloc_fail_completion);
	tcase_add_test(tc, robust_wait_forbidden_midway);
	tcase_add_test(tc, robust_wait_forbidden_list_wait);
	tcase_add_test(tc, robust_native_wait_forbidden);
	tcase_add_test(tc, robust_held_fsync_enter_refused);
	tcase_add_test(tc, robust_longjmp_out_of_flush);
	tcase_add_test(tc, robust_flags_grow_nested);
	suite_add_tcase(s, tc);
	return s;
}
