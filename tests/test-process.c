/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

static int wait_child(pid_t pid, int timeout_ms)
{
	int status, i;

	for (i = 0; i < timeout_ms; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* The parent's pipe read, left in flight across a fork, still ends with
 * the bytes written after it; the pipe is closed. */
static void parent_read_done(struct aiocb *pcb, const char *pbuf, int p[2])
{
	ck_assert_int_eq(aio_error(pcb), EINPROGRESS);
	ck_assert_int_eq(write(p[1], "parent!!", 8), 8);
	ck_assert_int_eq(t_wait(pcb, 5000), 0);
	ck_assert_int_eq(aio_return(pcb), 8);
	ck_assert(memcmp(pbuf, "parent!!", 8) == 0);
	close(p[0]);
	close(p[1]);
}

/* The child starts clean and works; the parent's request is unaffected. */
START_TEST(fork_child_clean)
{
	char pbuf[8], cbuf[64];
	struct aiocb pcb, ccb;
	int p[2], fd = t_tmpfile(64, 0);
	pid_t pid;

	t_pipe(p);
	t_prep(&pcb, p[0], pbuf, sizeof(pbuf), 0);
	ck_assert_int_eq(aio_read(&pcb), 0);
	/*
	 * Let the worker that read starts settle into read(2) first: a fork
	 * while a new thread is inside ASan's allocator leaves that lock held
	 * in the child (GCC 12's ASan takes no fork hooks).
	 */
	usleep(100000);
	pid = t_fork();
	if (pid == 0) {
		int ok = 0;

		/* The parent's request is not ours here. */
		if (aio_error(&pcb) != -1 || errno != EINVAL)
			ok |= 1;
		t_prep(&ccb, fd, cbuf, sizeof(cbuf), 0);
		if (aio_read(&ccb) != 0 || t_wait(&ccb, 5000) != 0 ||
		    aio_return(&ccb) != 64 || !t_check_bytes(cbuf, 0, 64))
			ok |= 2;
		/* A pipe read in the child goes to a new pool. */
		if (pipe(p))
			ok |= 32;
		t_prep(&ccb, p[0], cbuf, 8, 0);
		if (aio_read(&ccb) != 0)
			ok |= 4;
		if (write(p[1], "childdat", 8) != 8)
			ok |= 8;
		if (t_wait(&ccb, 5000) != 0 || aio_return(&ccb) != 8) {
			struct kaio_stats st;
			int i;

			kaio_stats_get(&st, sizeof(st));
			fprintf(stderr, "child: aio_error %d:", aio_error(&ccb));
			for (i = 0; i < KAIO_STAT_MAX; i++)
				fprintf(stderr, " %s=%lu", kaio_stat_name(i), st.v[i]);
			fprintf(stderr, "\n");
			if (getenv("KAIO_TEST_HANG")) {
				fprintf(stderr, "child pid %d\n", getpid());
				sleep(60);
			}
			ok |= 16;
		}
		_exit(ok);
	}
	ck_assert_int_eq(wait_child(pid, getenv("KAIO_TEST_HANG") ? 100000 : 10000), 0);
	parent_read_done(&pcb, pbuf, p);
	close(fd);
}
END_TEST

#define REAP_READS	200

/*
 * In a fork child: REAP_READS O_DIRECT reads, each waited for with
 * aio_suspend(); writes to wfd how often the child's other threads (the
 * reaper) were woken meanwhile.  Exit 0, 1 on a wrong result, 77 without
 * O_DIRECT.  Now and then the background reaper takes the role while the
 * application is between requests (reap.c: it reaps what was left for
 * APP_GRACE_NS) and a run of reads then hops through it: 56 to 83
 * wake-ups in about one run in ten, in a child forked with or without
 * requests in flight; more often where the machine is slow (64 in each
 * of three runs, once, in User-Mode Linux with the threaded-AIO series).
 * child_wakeups() takes the least of CHILD_RUNS runs.
 */
static void reads_in_child(int wfd)
{
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	void *buf;
	long s0 = 0, n;
	int fd = t_tmpfile(64 << 10, O_DIRECT), i;

	if (fd < 0 || posix_memalign(&buf, 4096, 4096))
		_exit(77);
	for (i = -20; i < REAP_READS; i++) {	/* 20 to start the reaper */
		if (i == 0)
			s0 = t_others_switches();
		t_prep(&cb, fd, buf, 4096, (off_t)(i & 15) * 4096);
		if (aio_read(&cb))
			_exit(1);
		while (aio_error(&cb) == EINPROGRESS)
			aio_suspend(l, 1, NULL);
		if (aio_return(&cb) != 4096)
			_exit(1);
	}
	n = t_others_switches() - s0;
	if (write(wfd, &n, sizeof(n)) != sizeof(n))
		_exit(1);
	_exit(0);
}

/* Fork, run reads_in_child(); its wake-ups of other threads, or -1. */
static long child_wakeups_once(void)
{
	long n = -1;
	int p[2], st;
	pid_t pid;

	t_pipe(p);
	pid = t_fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		reads_in_child(p[1]);
	}
	close(p[1]);
	st = wait_child(pid, 20000);
	if (st == 0 && read(p[0], &n, sizeof(n)) != sizeof(n))
		n = -1;
	close(p[0]);
	if (st == 77)
		return -77;
	ck_assert_msg(st == 0, "child: status %d", st);
	return n;
}

#define CHILD_RUNS	5

/* The least of CHILD_RUNS children's wake-ups (-77: no O_DIRECT, -1: error). */
static long child_wakeups(void)
{
	long n, least = -1;
	int i;

	for (i = 0; i < CHILD_RUNS; i++) {
		n = child_wakeups_once();
		if (n < 0)
			return n;
		if (least < 0 || n < least)
			least = n;
	}
	return least;
}

/*
 * A child forked while the parent had requests outside the kernel (a pipe
 * read queued behind another on its fd) has none of them: a thread of the
 * child waiting in aio_suspend() for a kernel backend's request reaps it
 * itself (reap.c), as in a child forked with nothing in flight, and the
 * reaper thread stays asleep.  The parent's count of such requests
 * (kaio__user_pending) carried into the child made every completion
 * there a hop through the reaper: a wake-up of another thread per read.
 */
START_TEST(fork_child_reaps_itself)
{
	const char *b = getenv("KAIO_BACKEND");
	char buf[2][8];
	struct aiocb pcb[2];
	long clean, busy;
	int p[2], i;

	if (b && !strcmp(b, "threads"))
		return;		/* no kernel backend: nothing reaps */
	clean = child_wakeups();
	if (clean == -77)
		return;		/* no O_DIRECT here */
	ck_assert_int_ge(clean, 0);
	t_pipe(p);
	for (i = 0; i < 2; i++) {
		t_prep(&pcb[i], p[0], buf[i], 8, 0);
		ck_assert_int_eq(aio_read(&pcb[i]), 0);
	}
	usleep(100000);	/* see fork_child_clean */
	busy = child_wakeups();
	ck_assert_int_ge(busy, 0);
	/* The bug woke them once per read (REAP_READS or more), in every
	 * run; a healthy child stays at half that, or less, in its best. */
	ck_assert_msg(busy <= 2 * clean + REAP_READS / 2,
		      "%d reads in a child forked with requests in flight "
		      "woke its other threads %ld times, %ld times in one "
		      "forked with none (least of %d each)", REAP_READS, busy,
		      clean, CHILD_RUNS);
	ck_assert_int_eq(write(p[1], "parent!!parent!!", 16), 16);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(t_wait(&pcb[i], 5000), 0);
		ck_assert_int_eq(aio_return(&pcb[i]), 8);
	}
	close(p[0]);
	close(p[1]);
}
END_TEST

static struct aiocb sig_cb;
static volatile pid_t sig_child = -1;

/* The completion's signal: fork, and in the child wait for sig_cb. */
static void fork_on_signal(int sig)
{
	const struct aiocb *l[1] = { &sig_cb };
	struct timespec ts = { 2, 0 };
	pid_t pid;

	(void)sig;
	pid = fork();	/* not t_fork(): it is not async-signal-safe */
	if (pid == 0)	/* sig_cb is the parent's: nothing to wait for */
		_exit(aio_suspend(l, 1, &ts) == 0 ? 0 : 1);
	sig_child = pid;
}

/*
 * A child forked by a handler of a request's completion signal, which
 * runs while the library is still sending it (a read served in the
 * caller signals its own thread): aio_suspend() there (async-signal-safe)
 * returns at once.  The parent's count of signals being sent
 * (kaio__signalling), carried into the child, made aio_suspend() wait
 * for ever for a signal nobody in the child would send.
 */
START_TEST(fork_in_completion_signal)
{
	struct sigaction sa, old;
	char buf[64];
	int fd = t_tmpfile(64, 0), i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fork_on_signal;
	sigaction(SIGUSR1, &sa, &old);
	t_prep(&sig_cb, fd, buf, sizeof(buf), 0);
	sig_cb.aio_sigevent.sigev_notify = SIGEV_THREAD_ID;
	sig_cb.aio_sigevent.sigev_signo = SIGUSR1;
	sig_cb.aio_sigevent._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	ck_assert_int_eq(aio_read(&sig_cb), 0);
	ck_assert_int_eq(t_wait(&sig_cb, 5000), 0);
	for (i = 0; i < 5000 && sig_child < 0; i++)
		usleep(1000);
	ck_assert_msg(sig_child > 0, "no completion signal");
	ck_assert_msg(wait_child(sig_child, 5000) == 0,
		      "aio_suspend() in the child did not return");
	sigaction(SIGUSR1, &old, NULL);
	close(fd);
}
END_TEST

/* TSan does not follow a child made by _Fork() (no fork hooks run): its
 * runtime there still has the parent's threads, and the child's first
 * new thread is reported or hangs (T_TSAN). */

#define FORK_BYTES	(640 << 10)	/* past the caller's copy budget */

/*
 * _Fork() runs no fork handlers (glibc 2.34).  A child made by it while
 * the parent had a backend in use (a ring, a pool worker, a native AIO
 * context) and a request outside the kernel: its first read crashed
 * under io_uring (the parent's ring is not mapped in the child) and never
 * ended on the pool.  Now the library's _Fork() resets the child as
 * fork() does, and the child's reads work.
 */
START_TEST(raw_fork_child_works)
{
#ifdef T_TSAN
	printf("SKIP: raw_fork_child_works: ThreadSanitizer does not follow "
	       "a _Fork() child\n");
	return;
#else
	static char buf[FORK_BYTES];
	char pbuf[8], cbuf[8];
	struct aiocb cb, pcb, ccb;
	int p[2], fd = t_tmpfile(2 * FORK_BYTES, 0);
	pid_t pid;

	t_pipe(p);
	t_prep(&cb, fd, buf, FORK_BYTES, 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), FORK_BYTES);
	t_prep(&pcb, p[0], pbuf, sizeof(pbuf), 0);
	ck_assert_int_eq(aio_read(&pcb), 0);
	usleep(100000);		/* see fork_child_clean */
	pid = _Fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int ok = 0, q[2];

		memset(buf, 0, sizeof(buf));
		t_prep(&ccb, fd, buf, FORK_BYTES, FORK_BYTES);
		if (aio_read(&ccb) != 0 || t_wait(&ccb, 5000) != 0 ||
		    aio_return(&ccb) != FORK_BYTES ||
		    !t_check_bytes(buf, FORK_BYTES, FORK_BYTES))
			ok |= 1;
		if (pipe(q))
			_exit(64);
		t_prep(&ccb, q[0], cbuf, sizeof(cbuf), 0);
		if (aio_read(&ccb) != 0)
			ok |= 2;
		if (write(q[1], "childdat", 8) != 8)
			ok |= 4;
		if (t_wait(&ccb, 5000) != 0 || aio_return(&ccb) != 8 ||
		    memcmp(cbuf, "childdat", 8))
			ok |= 8;
		_exit(ok);
	}
	ck_assert_int_eq(wait_child(pid, 20000), 0);
	parent_read_done(&pcb, pbuf, p);
	close(fd);
#endif
}
END_TEST

/* exit() and return from main with requests pending: no hang, no crash. */
START_TEST(exit_pending)
{
	int p[2], mode;
	pid_t pid;

	for (mode = 0; mode < 2; mode++) {
		t_pipe(p);
		pid = t_fork();
		if (pid == 0) {
			static struct aiocb cb[64];
			static char buf[64][8];
			int i, fd = t_tmpfile(1 << 16, 0);

			for (i = 0; i < 32; i++) {
				t_prep(&cb[i], p[0], buf[i], 8, 0);
				aio_read(&cb[i]);
			}
			for (; i < 64; i++) {
				t_prep(&cb[i], fd, buf[i], 8, i * 512);
				aio_read(&cb[i]);
			}
			if (mode)
				_exit(0);
			exit(0);
		}
		ck_assert_int_eq(wait_child(pid, 10000), 0);
		close(p[0]);
		close(p[1]);
	}
}
END_TEST

Suite *process_suite(void)
{
	Suite *s = suite_create("process");
	TCase *tc = t_tcase("fork+exit");

	tcase_add_test(tc, fork_child_clean);
	tcase_add_test(tc, exit_pending);
	tcase_add_test(tc, fork_child_reaps_itself);
	tcase_add_test(tc, fork_in_completion_signal);
	tcase_add_test(tc, raw_fork_child_works);
	suite_add_tcase(s, tc);
	return s;
}
