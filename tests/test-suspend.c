/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(suspend_timeout)
{
	char buf[8];
	struct aiocb cb;
	const struct aiocb *l[3];
	struct timespec ts = { 0, 200 * 1000000L };
	double t0;
	int p[2];

	t_pipe(p);
	t_prep(&cb, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	l[0] = NULL;
	l[1] = &cb;
	l[2] = NULL;
	t0 = now();
	ck_assert_int_eq(aio_suspend(l, 3, &ts), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert(now() - t0 >= 0.19);
	ck_assert(now() - t0 < 5);
	/* Zero timeout: a poll. */
	ts.tv_nsec = 0;
	ck_assert_int_eq(aio_suspend(l, 3, &ts), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* Empty list: nothing to wait for, 0 at once (glibc). */
	ts.tv_nsec = 1000000;
	ck_assert_int_eq(aio_suspend(l, 0, &ts), 0);
	/* Bad arguments. */
	ck_assert_int_eq(aio_suspend(l, -1, &ts), -1);
	ck_assert_int_eq(errno, EINVAL);
	close(p[1]);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	close(p[0]);
}
END_TEST

/*
 * A negative tv_sec is added to the clock's time with tv_nsec, as glibc
 * adds it: {-1, 1500000000} is half a second ahead, not past (it was
 * EAGAIN at once).  Called in the first 0.4 s of a clock second, so that
 * one carry brings the sum's nanoseconds into range (later, glibc's wait
 * fails an assertion and the library's call EINVAL).
 */
START_TEST(suspend_negative_sec_added)
{
	char buf[8];
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	struct timespec ts = { -1, 1500000000L }, c;
	double t0;
	int p[2];

	t_pipe(p);
	t_prep(&cb, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	do
		clock_gettime(CLOCK_MONOTONIC, &c);
	while (c.tv_nsec >= 400000000L);
	t0 = now();
	ck_assert_int_eq(aio_suspend(l, 1, &ts), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_msg(now() - t0 >= 0.45, "{-1, 1500000000} waited %.3f s, "
		      "not half a second", now() - t0);
	/* {-2, 1500000000} is past. */
	ts.tv_sec = -2;
	do
		clock_gettime(CLOCK_MONOTONIC, &c);
	while (c.tv_nsec >= 400000000L);
	t0 = now();
	ck_assert_int_eq(aio_suspend(l, 1, &ts), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert(now() - t0 < 0.4);
	close(p[1]);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	close(p[0]);
}
END_TEST

START_TEST(suspend_done_immediately)
{
	char buf[8];
	struct aiocb cb, cb2;
	const struct aiocb *l[2];
	int fd = t_tmpfile(64, 0), p[2];

	t_pipe(p);
	t_prep(&cb2, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb2), 0);
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	l[0] = &cb2;
	l[1] = &cb;
	ck_assert_int_eq(aio_suspend(l, 2, NULL), 0);
	close(p[1]);
	ck_assert_int_eq(t_wait(&cb2, 5000), 0);
	close(p[0]);
	close(fd);
}
END_TEST

/* Writes one byte to fd after delay_us, in a thread of its own. */
struct writer {
	int fd;
	useconds_t delay_us;
};

static void *writer(void *arg)
{
	const struct writer *w = arg;

	usleep(w->delay_us);
	if (write(w->fd, "x", 1) != 1)
		return NULL;
	return NULL;
}

START_TEST(suspend_wakes)
{
	char buf[8];
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	struct writer w;
	pthread_t t;
	int p[2];

	t_pipe(p);
	t_prep(&cb, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	w.fd = p[1];
	w.delay_us = 100000;
	pthread_create(&t, NULL, writer, &w);
	ck_assert_int_eq(aio_suspend(l, 1, NULL), 0);
	ck_assert_int_eq(aio_error(&cb), 0);
	ck_assert_int_eq(aio_return(&cb), 1);
	pthread_join(t, NULL);
	close(p[0]);
	close(p[1]);
}
END_TEST

static volatile sig_atomic_t got_alarm;

static void on_alarm(int sig)
{
	(void)sig;
	got_alarm++;
}

/*
 * A handler ends a wait with EINTR as glibc's would: an untimed wait only
 * for a handler without SA_RESTART (glibc sleeps in futex(2), which the
 * kernel restarts after one with it), a timed wait for any handler.
 * SIGALRM after 0.2 s, then every 0.15 s: a signal that lands just before
 * the wait goes to sleep cannot end it (glibc's neither), so the test does
 * not depend on the first one; but a signal during the sleep must.
 */
static int eintr_round(int flags, const struct timespec *timeout,
		       int *signals)
{
	char buf[8];
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	struct itimerval every = { { 0, 150000 }, { 0, 200000 } };
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;
	struct writer w;
	pthread_t t;
	int p[2], ret, err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = flags;
	sigaction(SIGALRM, &sa, NULL);
	got_alarm = 0;
	t_pipe(p);
	t_prep(&cb, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	w.fd = p[1];
	w.delay_us = 800000;
	pthread_create(&t, NULL, writer, &w);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &every, NULL), 0);
	ret = aio_suspend(l, 1, timeout);
	err = errno;
	ck_assert_int_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
	*signals = got_alarm;
	pthread_join(t, NULL);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 1);
	close(p[0]);
	close(p[1]);
	signal(SIGALRM, SIG_DFL);
	return ret ? err : 0;
}

/*
 * Which signal ended a wait is known to the library only where it holds
 * the program's handlers back (t_handlers_behind_library()); elsewhere it
 * goes on only if every signal the thread catches has SA_RESTART.  Check's runner
 * leaves its own SIGINT and SIGTERM handlers (without SA_RESTART) in each
 * test's process; the rounds that need none put them back to default.
 */
static void only_alarm_caught(void)
{
	struct sigaction sa;
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGALRM && !sigaction(sig, NULL, &sa) &&
		    sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)
			signal(sig, SIG_DFL);
}

START_TEST(suspend_eintr)
{
	struct timespec ten = { 10, 0 };
	struct sigaction sa;
	int n;

	/* Another caught signal without SA_RESTART, never sent: the
	 * untimed wait goes on after the SA_RESTART handlers, as glibc's,
	 * where the library knows which signal came.  Elsewhere it ends in
	 * EINTR (it may have been the other one: a program that could see
	 * EINTR under glibc sees it). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGINT, &sa, NULL);
	ck_assert_int_eq(eintr_round(SA_RESTART, NULL, &n),
			 (t_handlers_behind_library() ? 0 : EINTR));
	only_alarm_caught();

	/* No SA_RESTART: EINTR, timed or not. */
	ck_assert_int_eq(eintr_round(0, NULL, &n), EINTR);
	ck_assert(n > 0);
	ck_assert_int_eq(eintr_round(0, &ten, &n), EINTR);
	/* SA_RESTART: a timed wait still ends in EINTR ... */
	ck_assert_int_eq(eintr_round(SA_RESTART, &ten, &n), EINTR);
	/* ... an untimed one goes on until the data comes, through the
	 * handlers that ran meanwhile (about five). */
	ck_assert_int_eq(eintr_round(SA_RESTART, NULL, &n), 0);
	ck_assert_msg(n >= 2, "%d signals during a 0.8 s wait", n);

	/* A crash handler without SA_RESTART (Samba's, a sanitizer's):
	 * the kernel raises SIGSEGV in the thread that faults, never in one
	 * asleep, so the wait goes on, as glibc's.  Before, it ended in
	 * EINTR (and LIO_WAIT under ASan, whose handlers are these). */
	sa.sa_handler = on_alarm;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	ck_assert_int_eq(eintr_round(SA_RESTART, NULL, &n), 0);
	only_alarm_caught();
}
END_TEST

/*
 * Another request's completion signal, ignored (SIG_IGN), does not end a
 * wait: under glibc its worker sends it and the kernel drops it.  Here
 * the waiting thread may reap that completion itself, with every signal
 * blocked, so the signal was queued; sigpending() then counted it as one
 * that had come during the wait, and aio_suspend() failed with EINTR
 * though no handler ran.  Pipe reads carry no ring's hint, so this wait
 * sleeps on the futex and no longer reaps in a ring: it guards the
 * outcome only.  The reaping wait, with the mask, is
 * sigdefer_masked_ignored_no_eintr (test-sigdefer.c), which fails with
 * sigpending() back.
 */
static int ign_wfd;

static void *ign_writer(void *arg)
{
	sigset_t m;

	(void)arg;
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 5);
	pthread_sigmask(SIG_BLOCK, &m, NULL);	/* only the waiter takes it */
	usleep(50000);
	if (write(ign_wfd, "b", 1) != 1)
		abort();
	return NULL;
}

START_TEST(suspend_ignored_signal_no_eintr)
{
	char ba[4], bb[4];
	struct aiocb a, b;
	const struct aiocb *l[1] = { &a };
	struct timespec wait = { 0, 400 * 1000000L };
	int pa[2], pb[2], r, e, i;
	pthread_t t;

	ck_assert(signal(SIGRTMIN + 5, SIG_IGN) != SIG_ERR);
	t_pipe(pa);
	t_pipe(pb);
	for (i = 0; i < 6; i++) {
		t_prep(&a, pa[0], ba, 1, 0);
		t_prep(&b, pb[0], bb, 1, 0);
		b.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
		b.aio_sigevent.sigev_signo = SIGRTMIN + 5;
		ck_assert_int_eq(aio_read(&a), 0);
		ck_assert_int_eq(aio_read(&b), 0);
		ign_wfd = pb[1];
		ck_assert_int_eq(pthread_create(&t, NULL, ign_writer, NULL), 0);
		r = aio_suspend(l, 1, &wait);
		e = errno;
		pthread_join(t, NULL);
		ck_assert_msg(r == -1 && e == EAGAIN, "aio_suspend() = %d, "
			      "errno %d, not the timeout (round %d)", r, e, i);
		ck_assert_int_eq(t_wait(&b, 5000), 0);
		ck_assert_int_eq(aio_return(&b), 1);
		ck_assert_int_eq(write(pa[1], "a", 1), 1);
		ck_assert_int_eq(t_wait(&a, 5000), 0);
		ck_assert_int_eq(aio_return(&a), 1);
	}
	close(pa[0]);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
}
END_TEST

/* LIO_WAIT alike: glibc's waits in futex(2) without a timeout. */
START_TEST(listio_wait_eintr)
{
	char buf[8];
	struct aiocb cb, *l[1] = { &cb };
	struct itimerval every = { { 0, 150000 }, { 0, 200000 } };
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;
	struct writer w;
	pthread_t t;
	int p[2], round, ret, err;

	only_alarm_caught();
	for (round = 0; round < 2; round++) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_alarm;
		sa.sa_flags = round ? SA_RESTART : 0;
		sigaction(SIGALRM, &sa, NULL);
		got_alarm = 0;
		t_pipe(p);
		t_prep(&cb, p[0], buf, sizeof(buf), 0);
		cb.aio_lio_opcode = LIO_READ;
		w.fd = p[1];
		w.delay_us = 800000;
		pthread_create(&t, NULL, writer, &w);
		ck_assert_int_eq(setitimer(ITIMER_REAL, &every, NULL), 0);
		ret = lio_listio(LIO_WAIT, l, 1, NULL);
		err = errno;
		ck_assert_int_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
		pthread_join(t, NULL);
		if (round) {
			ck_assert_int_eq(ret, 0);
			ck_assert_msg(got_alarm >= 2, "%d signals during a "
				      "0.8 s wait", (int)got_alarm);
		} else {
			ck_assert_int_eq(ret, -1);
			ck_assert_int_eq(err, EINTR);
		}
		ck_assert_int_eq(t_wait(&cb, 5000), 0);
		ck_assert_int_eq(aio_return(&cb), 1);
		close(p[0]);
		close(p[1]);
	}
	signal(SIGALRM, SIG_DFL);
}
END_TEST

/*
 * Every wait ends when its request completes, whoever reaps: here a chain
 * of O_APPEND writes, each released by the completion of the one before
 * (by the background reaper, or by the waiter reaping for itself), with
 * a waiter racing the reaper for the role each time.  A wake-up lost in
 * the hand-over shows as a wait that times out on a finished request.
 */
START_TEST(suspend_no_lost_wakeup)
{
	enum { N = 2000, L = 16 };
	struct aiocb *cb = calloc(N, sizeof(*cb));
	const struct aiocb *l[1];
	struct timespec ts = { 10, 0 };
	char rec[L];
	int fd = t_tmpfile(0, O_APPEND), i, j, late = 0;

	memset(rec, 'x', sizeof(rec));
	for (i = 0; i < N; i += 4) {
		for (j = i; j < i + 4; j++) {
			t_prep(&cb[j], fd, rec, L, 0);
			ck_assert_int_eq(aio_write(&cb[j]), 0);
		}
		for (j = i; j < i + 4; j++) {
			l[0] = &cb[j];
			while (aio_error(&cb[j]) == EINPROGRESS)
				if (aio_suspend(l, 1, &ts) < 0 && errno == EAGAIN) {
					late++;
					t_dump_state("suspend_no_lost_wakeup");
					break;
				}
			ck_assert_int_eq(aio_error(&cb[j]), 0);
			ck_assert_int_eq(aio_return(&cb[j]), L);
		}
	}
	ck_assert_int_eq(late, 0);
	free(cb);
	close(fd);
}
END_TEST

/*
 * A read completed in the caller, before aio_read() returns, wakes the
 * futex only if a thread is inside aio_suspend() (request.c, kaio-int.h).
 * Here a second thread watches each of a run of cached 256 KiB reads and,
 * when it catches one in progress (while the caller copies it), waits for
 * it; the submitter goes on to the next read only when the watcher is
 * done, so no later completion can end a wait the read's own completion
 * should have ended.  A wake-up skipped while the watcher was counted
 * shows as a wait that times out on a finished request.
 */
struct watch {
	struct aiocb *cb;
	atomic_int round, acked, caught, late;
};

static void *watch_reads(void *arg)
{
	struct watch *w = arg;
	const struct aiocb *l[1] = { w->cb };
	struct timespec ts = { 2, 0 };
	int r = 0, i;

	for (;;) {
		while (atomic_load(&w->round) == r)
			sched_yield();	/* one CPU (UML): let the submitter run */
		r = atomic_load(&w->round);
		if (r < 0)
			return NULL;
		for (i = 0; i < 20000; i++) {
			if (aio_error(w->cb) != EINPROGRESS)
				continue;
			atomic_fetch_add(&w->caught, 1);
			if (aio_suspend(l, 1, &ts) < 0 && errno == EAGAIN &&
			    aio_error(w->cb) != EINPROGRESS)
				atomic_fetch_add(&w->late, 1);
			break;
		}
		atomic_store(&w->acked, r);
	}
}

START_TEST(suspend_wakes_for_caller_read)
{
	enum { N = 3000, LEN = 256 << 10 };
	struct aiocb cb;
	struct watch w = { .cb = &cb };
	char *buf = malloc(LEN);
	pthread_t t;
	int fd = t_tmpfile(LEN, 0), i;
	double t0;

	ck_assert_ptr_nonnull(buf);
	memset(&cb, 0, sizeof(cb));
	ck_assert_int_eq(pthread_create(&t, NULL, watch_reads, &w), 0);
	t0 = now();
	/* N reads, or 3 s of them where the machine is slow. */
	for (i = 1; i <= N && !atomic_load(&w.late) && now() - t0 < 3; i++) {
		t_prep(&cb, fd, buf, LEN, 0);
		atomic_store(&w.round, i);
		ck_assert_int_eq(aio_read(&cb), 0);
		ck_assert_int_eq(t_wait(&cb, 5000), 0);
		while (atomic_load(&w.acked) != i)
			sched_yield();
		ck_assert_int_eq(aio_return(&cb), LEN);
	}
	atomic_store(&w.round, -1);
	pthread_join(t, NULL);
	printf("suspend_wakes_for_caller_read: %d of %d reads caught in "
	       "progress\n", atomic_load(&w.caught), i - 1);
	ck_assert_msg(!atomic_load(&w.late), "a wait for read %d, caught in "
		      "progress, timed out after it had completed", i - 1);
	free(buf);
	close(fd);
}
END_TEST

static void *suspend_forever(void *arg)
{
	const struct aiocb *l[1] = { arg };

	aio_suspend(l, 1, NULL);
	return NULL;	/* not reached: the thread is cancelled */
}

/* Cancel a thread blocked in aio_suspend() for cb: within 5 s. */
static void cancel_waiter(struct aiocb *cb)
{
	pthread_t t;
	void *res = NULL;
	double t0;

	ck_assert_int_eq(pthread_create(&t, NULL, suspend_forever, cb), 0);
	usleep(100000);		/* asleep by now */
	t0 = now();
	ck_assert_int_eq(pthread_cancel(t), 0);
	ck_assert_int_eq(pthread_join(t, &res), 0);
	ck_assert(res == PTHREAD_CANCELED);
	ck_assert(now() - t0 < 5);
}

/*
 * aio_suspend() is a cancellation point (as glibc's is), whichever backend
 * holds the request, and a waiter cancelled in its sleep leaves the library
 * working: the requests it waited for complete and are waited for again.
 */
START_TEST(suspend_cancel_point)
{
	char buf[8];
	struct aiocb rd, pl;
	int p[2], q[2];

	t_pipe(p);
	t_pipe(q);
	t_prep(&rd, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&rd), 0);
	cancel_waiter(&rd);
	/* A poll: native AIO's IOCB_CMD_POLL where the kernel takes it. */
	t_prep(&pl, q[0], NULL, POLLIN, 0);
	ck_assert_int_eq(kaio_poll(&pl), 0);
	cancel_waiter(&pl);
	cancel_waiter(&rd);
	ck_assert_int_eq(write(p[1], "abcdefgh", 8), 8);
	ck_assert_int_eq(t_wait(&rd, 5000), 0);
	ck_assert_int_eq(aio_return(&rd), 8);
	ck_assert(memcmp(buf, "abcdefgh", 8) == 0);
	ck_assert_int_eq(write(q[1], "x", 1), 1);
	ck_assert_int_eq(t_wait(&pl, 5000), 0);
	ck_assert_int_ne(aio_return(&pl) & POLLIN, 0);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}
END_TEST

/*
 * The same in a ring: a thread waits for an O_DIRECT read it entered into
 * its own ring, so it reaps there (reap.c), holding the ring's role; it
 * is cancelled while it sleeps in the kernel's wait.  suspend_cancel_point
 * cannot see this any more: its pipe read and poll carry no ring's hint,
 * and their waiters sleep on the futex.  The role must come back on
 * cancellation (role_release()): the read then completes, reaped by the
 * ring's reaper, and a wait in that ring works again.
 */
enum { RING_BYTES = 32 << 20 };

struct ring_waiter {
	int fd;
	char *buf;
	struct aiocb cb;
	atomic_int tid;
};

static void *ring_wait(void *arg)
{
	struct ring_waiter *w = arg;
	const struct aiocb *l[1] = { &w->cb };

	t_prep(&w->cb, w->fd, w->buf, RING_BYTES, 0);
	if (aio_read(&w->cb))
		return (void *)2;
	atomic_store(&w->tid, (int)syscall(SYS_gettid));
	while (aio_error(&w->cb) == EINPROGRESS)
		aio_suspend(l, 1, NULL);
	return (void *)1;	/* done before the cancellation */
}

/* Is thread tid in a kernel AIO wait? */
static int in_ring_wait(int tid)
{
	long nr = t_thread_syscall(tid);

	return nr == SYS_io_uring_enter || nr == SYS_io_getevents ||
	       nr == SYS_io_pgetevents;
}

START_TEST(suspend_cancel_in_ring)
{
	struct ring_waiter w;
	struct aiocb cb;
	pthread_t t;
	void *res;
	double t0;
	int round, caught = 0, in;

	if (!t_direct_ok()) {
		printf("SKIP: suspend_cancel_in_ring: no O_DIRECT here\n");
		return;
	}
	memset(&w, 0, sizeof(w));
	w.fd = t_tmpfile(RING_BYTES, O_DIRECT);
	ck_assert_int_ge(w.fd, 0);
	ck_assert_int_eq(posix_memalign((void **)&w.buf, 4096, RING_BYTES), 0);
	for (round = 0; round < 20 && caught < 3; round++) {
		atomic_store(&w.tid, 0);
		ck_assert_int_eq(pthread_create(&t, NULL, ring_wait, &w), 0);
		t0 = now();
		in = 0;
		while (!atomic_load(&w.tid) && now() - t0 < 5)
			usleep(50);
		while (atomic_load(&w.tid) && !(in = in_ring_wait(w.tid)) &&
		       aio_error(&w.cb) == EINPROGRESS && now() - t0 < 5)
			usleep(50);
		ck_assert_int_eq(pthread_cancel(t), 0);
		ck_assert_int_eq(pthread_join(t, &res), 0);
		ck_assert_msg(res != (void *)2, "aio_read() refused the read");
		if (res == PTHREAD_CANCELED && in)
			caught++;
		/* Cancelled or not, the read completes, and whole. */
		ck_assert_msg(t_wait(&w.cb, 10000) == 0, "the read of a "
			      "cancelled waiter did not complete in 10 s "
			      "(round %d)", round);
		ck_assert_int_eq(aio_return(&w.cb), RING_BYTES);
		ck_assert(t_check_bytes(w.buf, 0, RING_BYTES));
	}
	/* This thread's own wait in its ring, after them. */
	t_prep(&cb, w.fd, w.buf, 4096, 4096);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 10000), 0);
	ck_assert_int_eq(aio_return(&cb), 4096);
	printf("suspend_cancel_in_ring: %d of %d waiters cancelled in the "
	       "kernel's wait\n", caught, round);
	if (!caught)
		printf("SKIP: suspend_cancel_in_ring: no waiter was caught in "
		       "a kernel wait (the reads were too fast, or not in a "
		       "ring)\n");
	free(w.buf);
	close(w.fd);
}
END_TEST

/*
 * A waiter of a higher priority than the thread completing its request,
 * both on one CPU.  The request's SIGEV_SIGNAL, sent to the waiter,
 * wakes it while the completer is between queuing that signal and
 * counting it out (request.c, kaio__signalling): the waiter preempts the
 * completer at once.  aio_suspend() then finds the request done and must
 * wait for its signal to be counted out, which only the completer can
 * do: a waiter that spins with sched_yield() never lets a lower priority
 * run, and hangs until the kernel's real-time throttling (by default
 * 50 ms in each second) lets the completer on.
 */
static atomic_int rt_signals;
static struct aiocb rt_cb;
static double rt_returned;
static int rt_ret;

static void rt_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(&rt_signals, 1);
}

static void *rt_waiter(void *arg)
{
	const struct aiocb *l[1] = { &rt_cb };
	struct timespec ts = { 10, 0 };
	sigset_t m;
	int ret;

	(void)arg;
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 5);
	pthread_sigmask(SIG_UNBLOCK, &m, NULL);	/* the signal comes here */
	do
		ret = aio_suspend(l, 1, &ts);
	while (ret < 0 && errno == EINTR && aio_error(&rt_cb) == EINPROGRESS);
	rt_ret = ret;
	rt_returned = now();
	return NULL;
}

START_TEST(suspend_higher_priority_waiter)
{
	struct sched_param sp = { .sched_priority = 10 };
	struct sigaction sa, old;
	pthread_attr_t attr;
	pthread_t t;
	cpu_set_t one, all;
	sigset_t m, oldm;
	char buf[4];
	double t0;
	int p[2], err;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = rt_handler;
	ck_assert_int_eq(sigaction(SIGRTMIN + 5, &sa, &old), 0);
	/* Only the waiter takes the signal (the library's threads block
	 * every signal). */
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 5);
	pthread_sigmask(SIG_BLOCK, &m, &oldm);
	t_pipe(p);
	t_prep(&rt_cb, p[0], buf, 1, 0);
	rt_cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	rt_cb.aio_sigevent.sigev_signo = SIGRTMIN + 5;
	ck_assert_int_eq(aio_read(&rt_cb), 0);

	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
	pthread_attr_setschedparam(&attr, &sp);
	err = pthread_create(&t, &attr, rt_waiter, NULL);
	pthread_attr_destroy(&attr);
	if (err == EPERM) {
		printf("SKIP: suspend_higher_priority_waiter: SCHED_FIFO not "
		       "permitted here\n");
		ck_assert_int_eq(write(p[1], "x", 1), 1);
		ck_assert_int_eq(t_wait(&rt_cb, 5000), 0);
		aio_return(&rt_cb);
		goto out;
	}
	ck_assert_int_eq(err, 0);
	usleep(100 * 1000);	/* the waiter sleeps in aio_suspend() */
	t0 = now();
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(rt_ret, 0);
	ck_assert_int_eq(aio_error(&rt_cb), 0);
	ck_assert_int_eq(aio_return(&rt_cb), 1);
	ck_assert_int_eq(atomic_load(&rt_signals), 1);
	ck_assert_msg(rt_returned - t0 < 0.5, "a higher-priority waiter on the "
		      "completer's CPU returned %.0f ms after the write",
		      (rt_returned - t0) * 1e3);
out:
	sched_setaffinity(0, sizeof(all), &all);
	pthread_sigmask(SIG_SETMASK, &oldm, NULL);
	sigaction(SIGRTMIN + 5, &old, NULL);
	close(p[0]);
	close(p[1]);
}
END_TEST

Suite *suspend_suite(void)
{
	Suite *s = suite_create("aio_suspend");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, suspend_timeout);
	tcase_add_test(tc, suspend_negative_sec_added);
	tcase_add_test(tc, suspend_done_immediately);
	tcase_add_test(tc, suspend_wakes);
	tcase_add_test(tc, suspend_eintr);
	tcase_add_test(tc, listio_wait_eintr);
	tcase_add_test(tc, suspend_ignored_signal_no_eintr);
	tcase_add_test(tc, suspend_no_lost_wakeup);
	tcase_add_test(tc, suspend_wakes_for_caller_read);
	tcase_add_test(tc, suspend_higher_priority_waiter);
#ifdef __SANITIZE_ADDRESS__
	/*
	 * GCC 12's ASan cannot follow the unwinding of a cancelled thread:
	 * its own __asan_handle_no_return() trips over the abandoned frames'
	 * redzones (a false stack-buffer-overflow in sigaltstack).
	 */
	printf("SKIP: suspend_cancel_point, suspend_cancel_in_ring: ASan "
	       "reports pthread_cancel() unwinding as a stack overflow\n");
	(void)suspend_cancel_point;
	(void)suspend_cancel_in_ring;
#else
	tcase_add_test(tc, suspend_cancel_point);
	tcase_add_test(tc, suspend_cancel_in_ring);
#endif
	suite_add_tcase(s, tc);
	return s;
}
