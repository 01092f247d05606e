/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

START_TEST(listio_wait)
{
	enum { N = 16 };
	struct aiocb cb[N], *l[N + 2];
	char buf[N][512];
	int fd = t_tmpfile(N * 512, 0), i;

	for (i = 0; i < N; i++) {
		t_prep(&cb[i], fd, buf[i], 512, (off_t)i * 512);
		cb[i].aio_lio_opcode = LIO_READ;
		l[i] = &cb[i];
	}
	l[N] = NULL;
	l[N + 1] = &cb[0];
	cb[0].aio_lio_opcode = LIO_READ;
	/* The last entry: a NOP (the same aiocb must not be submitted twice). */
	{
		static struct aiocb nop;

		memset(&nop, 0, sizeof(nop));
		nop.aio_lio_opcode = LIO_NOP;
		l[N + 1] = &nop;
	}
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, N + 2, NULL), 0);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(aio_error(&cb[i]), 0);
		ck_assert_int_eq(aio_return(&cb[i]), 512);
		ck_assert(t_check_bytes(buf[i], (off_t)i * 512, 512));
	}
	close(fd);
}
END_TEST

static atomic_int list_done;

static void list_cb(union sigval v)
{
	atomic_fetch_add(&list_done, v.sival_int);
}

START_TEST(listio_nowait_notify)
{
	enum { N = 8 };
	struct aiocb cb[N], *l[N];
	struct sigevent sev;
	char buf[N][64];
	int fd = t_tmpfile(N * 64, 0), i, p[2];

	t_pipe(p);
	for (i = 0; i < N; i++) {
		/* One read waits on a pipe: the list cannot finish early. */
		t_prep(&cb[i], i == 3 ? p[0] : fd, buf[i], 64, (off_t)i * 64);
		cb[i].aio_lio_opcode = LIO_READ;
		l[i] = &cb[i];
	}
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = list_cb;
	sev.sigev_value.sival_int = 1;
	atomic_store(&list_done, 0);
	ck_assert_int_eq(lio_listio(LIO_NOWAIT, l, N, &sev), 0);
	usleep(100000);
	ck_assert_int_eq(atomic_load(&list_done), 0);
	ck_assert_int_eq(write(p[1], "z", 1), 1);
	for (i = 0; i < 500 && !atomic_load(&list_done); i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&list_done), 1);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(aio_error(&cb[i]), 0);
	usleep(20000);
	ck_assert_int_eq(atomic_load(&list_done), 1);
	close(fd);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(listio_errors)
{
	struct aiocb cb[2], *l[2];
	char buf[2][16];
	int fd = t_tmpfile(64, 0);

	t_prep(&cb[0], fd, buf[0], 16, 0);
	cb[0].aio_lio_opcode = LIO_READ;
	t_prep(&cb[1], 999999, buf[1], 16, 0);
	cb[1].aio_lio_opcode = LIO_READ;
	l[0] = &cb[0];
	l[1] = &cb[1];
	ck_assert_int_eq(lio_listio(42, l, 2, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, KAIO_LISTIO_MAX + 1, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* A negative nent is glibc's empty list: 0, the list's signal. */
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, -1, NULL), 0);
	/* One bad request: EIO; each request says how it ended. */
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, 2, NULL), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_int_eq(aio_error(&cb[0]), 0);
	ck_assert_int_eq(aio_return(&cb[0]), 16);
	ck_assert_int_eq(aio_error(&cb[1]), EBADF);
	ck_assert_int_eq(aio_return(&cb[1]), -1);
	/* With LIO_NOWAIT the list was submitted: 0, as in glibc. */
	ck_assert_int_eq(lio_listio(LIO_NOWAIT, l, 2, NULL), 0);
	ck_assert_int_eq(t_wait(&cb[0], 5000), 0);
	ck_assert_int_eq(aio_error(&cb[1]), EBADF);
	/* A request that fails while running: EIO under LIO_WAIT. */
	t_prep(&cb[1], fd, buf[1], 16, -1);
	cb[1].aio_lio_opcode = LIO_READ;
	t_prep(&cb[0], fd, buf[0], 16, 0);
	cb[0].aio_lio_opcode = LIO_READ;
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, 2, NULL), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_int_eq(aio_error(&cb[1]), EINVAL);
	/* Nothing to do. */
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, 0, NULL), 0);
	/* A bad aio_reqprio is refused before the opcode is looked at, and
	 * written into the aiocb, as glibc's __aio_enqueue_request() does:
	 * an unknown opcode does not leave it unsubmitted. */
	t_prep(&cb[0], fd, buf[0], 16, 0);
	cb[0].aio_lio_opcode = 7;
	cb[0].aio_reqprio = AIO_PRIO_DELTA_MAX + 1;
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, 1, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(aio_error(&cb[0]), EINVAL);
	ck_assert_int_eq(aio_return(&cb[0]), -1);
	ck_assert_int_eq(lio_listio(LIO_NOWAIT, l, 1, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(aio_error(&cb[0]), EINVAL);
	ck_assert_int_eq(aio_return(&cb[0]), -1);
	close(fd);
}
END_TEST

START_TEST(listio_write_read)
{
	enum { N = 64 };
	struct aiocb cb[N], *l[N];
	char buf[N][128], back[N][128];
	int fd = t_tmpfile(0, 0), i, j;

	for (i = 0; i < N; i++) {
		for (j = 0; j < 128; j++)
			buf[i][j] = t_byte(i * 128 + j);
		t_prep(&cb[i], fd, buf[i], 128, (off_t)i * 128);
		cb[i].aio_lio_opcode = LIO_WRITE;
		l[i] = &cb[i];
	}
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, N, NULL), 0);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(aio_return(&cb[i]), 128);
		t_prep(&cb[i], fd, back[i], 128, (off_t)i * 128);
		cb[i].aio_lio_opcode = LIO_READ;
	}
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, N, NULL), 0);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(aio_return(&cb[i]), 128);
		ck_assert(t_check_bytes(back[i], (off_t)i * 128, 128));
	}
	close(fd);
}
END_TEST

/*
 * lio_listio(LIO_WAIT) whose request completes on the pool while a pipe
 * read of the process waits in io_uring.  Such a waiter has no list to go
 * by (reap.c): it may sleep in the ring only while no request is outside
 * every ring, and a pool request must not count itself out of that
 * before its completion is announced, or the announcement never reaches
 * the ring the waiter sleeps in (an outside tester saw 4 hangs in 150
 * runs).  Forced with a seccomp listener: it holds the submitter in the
 * fcntl() that looks at the second entry's fd until the pool's worker is
 * held too, in queuing the first entry's signal; then it lets the
 * submitter go, and the worker 300 ms later.  If lio_listio() has not
 * returned 3 s after that, a byte for the pipe read wakes the ring.
 */
struct hold_ctx {
	int lfd;		/* the seccomp listener */
	int rescue;		/* the pipe read's write end */
	atomic_int returned;	/* lio_listio() came back */
	int held_both;		/* the scenario was set up */
	int rescued;		/* lio_listio() had to be woken */
};

static void let_go(int lfd, __u64 id)
{
	struct seccomp_notif_resp r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &r);
}

static void *holder(void *arg)
{
	struct hold_ctx *c = arg;
	struct pollfd pf = { c->lfd, POLLIN, 0 };
	struct seccomp_notif n;
	__u64 sub = 0, wk = 0;
	int have_sub = 0, have_wk = 0, i;

	for (i = 0; i < 300 && !(have_sub && have_wk); i++) {
		if (poll(&pf, 1, 10) <= 0)
			continue;
		memset(&n, 0, sizeof(n));
		if (ioctl(c->lfd, SECCOMP_IOCTL_NOTIF_RECV, &n))
			continue;
		if (n.data.nr == SYS_fcntl) {
			sub = n.id;
			have_sub = 1;
		} else {
			wk = n.id;
			have_wk = 1;
		}
	}
	c->held_both = have_sub && have_wk;
	if (have_sub)
		let_go(c->lfd, sub);
	if (have_wk) {
		usleep(1500000);	/* past the reaper's 1 s slice */
		let_go(c->lfd, wk);
	}
	for (i = 0; i < 300 && !atomic_load(&c->returned); i++)
		usleep(10000);
	if (!atomic_load(&c->returned)) {
		c->rescued = 1;
		if (write(c->rescue, "x", 1) != 1)
			abort();
	}
	return NULL;
}

/* Hold fcntl(fd, ...) and the queuing of signal sig: the listener, or -1. */
static int hold_filter(int fd, int sig)
{
	struct sock_filter f[] = {
		T_SECCOMP_LOAD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fcntl, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)fd, 3, 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigqueueinfo, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)sig, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			    SECCOMP_FILTER_FLAG_NEW_LISTENER |
			    SECCOMP_FILTER_FLAG_TSYNC |
			    SECCOMP_FILTER_FLAG_TSYNC_ESRCH, &prog);
}

START_TEST(listio_wait_pool_completion)
{
	struct hold_ctx c;
	struct aiocb rd, w, r, *l[2];
	struct timespec zero = { 0, 0 };
	const char *fork_mode = getenv("CK_FORK");
	char b0, back[8];
	int p[2], nb[2], fd, sig = SIGRTMIN + 3;
	sigset_t set;
	pthread_t t;

	if (fork_mode && !strcmp(fork_mode, "no")) {
		printf("SKIP: listio_wait_pool_completion: its seccomp filter "
		       "would outlive the test (CK_FORK=no)\n");
		return;
	}
	sigemptyset(&set);
	sigaddset(&set, sig);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
	t_pipe(p);
	ck_assert_int_eq(pipe2(nb, O_NONBLOCK), 0);
	ck_assert_int_eq(write(nb[1], "abcdefgh", 8), 8);
	fd = fcntl(nb[0], F_DUPFD_CLOEXEC, 900);	/* one number to hold */
	ck_assert_int_ge(fd, 900);
	t_prep(&rd, p[0], &b0, 1, 0);
	ck_assert_int_eq(aio_read(&rd), 0);	/* waits: in io_uring if any */
	usleep(20000);
	memset(&c, 0, sizeof(c));
	c.rescue = p[1];
	c.lfd = hold_filter(fd, sig);
	if (c.lfd < 0) {
		printf("SKIP: listio_wait_pool_completion: no seccomp "
		       "listener here (%s)\n", strerror(errno));
		goto out;
	}
	ck_assert_int_eq(pthread_create(&t, NULL, holder, &c), 0);
	t_prep(&w, nb[1], "0123456789abcdef", 16, 0);
	w.aio_lio_opcode = LIO_WRITE;
	w.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	w.aio_sigevent.sigev_signo = sig;
	t_prep(&r, fd, back, sizeof(back), 0);
	r.aio_lio_opcode = LIO_READ;
	l[0] = &w;
	l[1] = &r;
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, 2, NULL), 0);
	atomic_store(&c.returned, 1);
	pthread_join(t, NULL);
	ck_assert_int_eq(aio_return(&w), 16);
	ck_assert_int_eq(aio_return(&r), 8);
	ck_assert(!memcmp(back, "abcdefgh", 8));
	ck_assert_msg(!c.rescued, "lio_listio(LIO_WAIT) slept on after its "
		      "last request had completed on the pool");
	if (!c.held_both)
		printf("SKIP: listio_wait_pool_completion: the write did not "
		       "complete on a pool worker here\n");
	sigtimedwait(&set, NULL, &zero);
	close(c.lfd);
out:
	if (!c.rescued)
		ck_assert_int_eq(write(p[1], "y", 1), 1);
	ck_assert_int_eq(t_wait(&rd, 10000), 0);
	close(fd);
	close(p[0]);
	close(p[1]);
	close(nb[0]);
	close(nb[1]);
}
END_TEST

/*
 * lio_listio(LIO_WAIT) while a pipe read of the same thread waits in
 * io_uring's shared ring and the list's requests complete in another ring
 * (this thread's own), in the pool and in the caller.  A ring whose
 * reaper had counted a request out before the batch's wake-up was out
 * looked idle: the waiter slept in the shared ring for the pipe, and the
 * list's completion never reached it (an outside tester: every run hung
 * within 4 s; this test, on the library before the fix, within 0.4 s).
 * Lists go for 1.5 s; a call held more than 2 s is woken by a byte for
 * its pipe and the test fails.
 */
struct lio_watch {
	atomic_long since;	/* ms the current call began, or 0 */
	atomic_int wfd;		/* its pipe's write end */
	atomic_int stop;
	int hung;
};

static void *lio_watchdog(void *arg)
{
	struct lio_watch *w = arg;
	long s;

	while (!atomic_load(&w->stop)) {
		usleep(50000);
		s = atomic_load(&w->since);
		if (s && t_now_ms() - s > 2000 && !w->hung) {
			w->hung = 1;
			if (write(atomic_load(&w->wfd), "abcd", 4) != 4)
				abort();
		}
	}
	return NULL;
}

static void lio_note(union sigval v)
{
	(void)v;
}

START_TEST(listio_wait_other_ring)
{
	static char buf[3][4096], rbuf[4];
	struct lio_watch w;
	struct aiocb cb[3], rb, *l[3];
	char drain[4096];
	long t0 = t_now_ms();
	int fd = t_tmpfile(3 * 4096, 0), np[2], bp[2], i, k;
	pthread_t t;

	ck_assert_int_eq(pipe2(np, O_NONBLOCK), 0);
	memset(&w, 0, sizeof(w));
	atomic_store(&w.wfd, -1);
	ck_assert_int_eq(pthread_create(&t, NULL, lio_watchdog, &w), 0);
	for (i = 0; i < 20000 && t_now_ms() - t0 < 1500 && !w.hung; i++) {
		t_pipe(bp);
		atomic_store(&w.wfd, bp[1]);
		t_prep(&rb, bp[0], rbuf, 4, 0);
		ck_assert_int_eq(aio_read(&rb), 0);
		t_prep(&cb[0], fd, buf[0], 256, 0);
		cb[0].aio_lio_opcode = LIO_READ;
		t_prep(&cb[1], np[1], buf[1], 64, 0);	/* the pool */
		cb[1].aio_lio_opcode = LIO_WRITE;
		t_prep(&cb[2], fd, buf[2], 256, 8192);
		cb[2].aio_lio_opcode = LIO_WRITE;
		for (k = 0; k < 3; k++) {
			cb[k].aio_sigevent.sigev_notify = SIGEV_THREAD;
			cb[k].aio_sigevent.sigev_notify_function = lio_note;
			l[k] = &cb[k];
		}
		atomic_store(&w.since, t_now_ms());
		ck_assert_int_eq(lio_listio(LIO_WAIT, l, 3, NULL), 0);
		atomic_store(&w.since, 0);
		for (k = 0; k < 3; k++)
			ck_assert_int_ge(aio_return(&cb[k]), 0);
		while (read(np[0], drain, sizeof(drain)) > 0)
			;
		if (!w.hung)
			ck_assert_int_eq(write(bp[1], "abcd", 4), 4);
		ck_assert_int_eq(t_wait(&rb, 10000), 0);
		ck_assert_int_eq(aio_return(&rb), 4);
		atomic_store(&w.wfd, -1);
		close(bp[0]);
		close(bp[1]);
	}
	atomic_store(&w.stop, 1);
	pthread_join(t, NULL);
	ck_assert_msg(!w.hung, "lio_listio(LIO_WAIT) slept on with its "
		      "requests done (call %d)", i);
	close(np[0]);
	close(np[1]);
	close(fd);
}
END_TEST

/* This thread's read system calls so far (/proc/thread-self/io). */
static long read_syscalls(void)
{
	char b[512], *p;
	int fd = open("/proc/thread-self/io", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, b, sizeof(b) - 1, 0);
	close(fd);
	if (n <= 0)
		return -1;
	b[n] = 0;
	p = strstr(b, "syscr: ");
	return p ? atol(p + 7) : -1;
}

/*
 * A list of cached reads where io_uring serves the thread's batches is
 * entered as one batch, not read one system call per entry in the caller,
 * and the call reaps it: the reads are complete, with their data, when
 * lio_listio(LIO_NOWAIT) returns.  Before: 16 read system calls (auto), or
 * every read left for the reaper thread (uring).
 */
START_TEST(listio_cached_reads_one_enter)
{
	enum { N = 16, ROUNDS = 50 };
	static char buf[N][4096];
	const char *m = getenv("KAIO_BACKEND");
	struct aiocb cb[N], *l[N];
	long base, before, after, worst = 0;
	int fd, i, j, r, notdone = 0;

	if ((m && *m && strcmp(m, "auto") && strcmp(m, "uring")) ||
	    !t_uring_ok() || t_threaded_kernel() || read_syscalls() < 0) {
		printf("SKIP: listio_cached_reads_one_enter: io_uring does not "
		       "serve this backend's batches here (KAIO_BACKEND=%s, "
		       "io_uring %s, threaded kernel %d), or no "
		       "/proc/thread-self/io\n", m ? m : "",
		       t_uring_ok() ? "usable" : "refused",
		       t_threaded_kernel());
		return;
	}
	fd = t_tmpfile(N * 4096, 0);
	for (i = 0; i < N; i++)		/* in the page cache */
		ck_assert_int_eq(pread(fd, buf[i], 4096, i * 4096), 4096);
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < N; i++) {
			t_prep(&cb[i], fd, buf[i], 4096, (off_t)i * 4096);
			cb[i].aio_lio_opcode = LIO_READ;
			memset(buf[i], 0, 4096);
			l[i] = &cb[i];
		}
		before = read_syscalls();
		base = read_syscalls() - before;	/* the look itself */
		before = read_syscalls();
		ck_assert_int_eq(lio_listio(LIO_NOWAIT, l, N, NULL), 0);
		after = read_syscalls() - before - base;
		if (after > worst)
			worst = after;
		for (i = 0; i < N; i++)
			notdone += aio_error(&cb[i]) == EINPROGRESS;
		for (i = 0; i < N; i++) {
			ck_assert_int_eq(t_wait(&cb[i], 10000), 0);
			ck_assert_int_eq(aio_return(&cb[i]), 4096);
			for (j = 0; j < 4096; j += 512)
				ck_assert_int_eq((unsigned char)buf[i][j],
						 t_byte((off_t)i * 4096 + j));
		}
	}
	ck_assert_msg(worst <= 1, "lio_listio() of %d cached reads made %ld "
		      "read system calls", N, worst);
	/* A few may be left to the reaper thread: one that held the ring's
	 * role (waiting for a read the kernel had to fetch) reaps the list. */
	ck_assert_msg(notdone <= N * ROUNDS / 10, "%d of %d cached reads "
		      "still in progress when lio_listio(LIO_NOWAIT) returned",
		      notdone, N * ROUNDS);
	close(fd);
}
END_TEST

/*
 * lio_listio(LIO_WAIT) whose cached reads complete in the call (in the
 * caller, or reaped from its io_uring ring) and signal this thread: the
 * completion signals are held while the call completes them, but not
 * through its wait.  A signal whose handler has no SA_RESTART ends the
 * wait with EINTR, as glibc's (there at once: a completion signal ends
 * it).  Before, every signal stayed blocked for the whole wait (auto,
 * threads; uring since the ring's reads were reaped in the call): the
 * call returned 0 when the pipe's read completed, 2.5 s later.
 */
static atomic_int usr1_seen;
static int wake_pipe;

static void usr1_note(int sig)
{
	(void)sig;
	atomic_fetch_add(&usr1_seen, 1);
}

static void *usr1_later(void *arg)
{
	pthread_t *main_thread = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	usleep(200000);
	pthread_kill(*main_thread, SIGUSR1);
	usleep(2300000);
	if (write(wake_pipe, "x", 1) != 1)
		abort();
	return NULL;
}

START_TEST(listio_wait_interruptible_after_caller_completion)
{
	enum { N = 8 };
	static char buf[N][4096], pb[1];
	struct aiocb cb[N + 1], *l[N + 1];
	struct sigaction sa, old_usr1, old_rt;
	pthread_t self = pthread_self(), t;
	long t0, took;
	int fd = t_tmpfile(N * 4096, 0), p[2], i, ret, err;

	t_pipe(p);
	wake_pipe = p[1];
	for (i = 0; i < N; i++)
		ck_assert_int_eq(pread(fd, buf[i], 4096, i * 4096), 4096);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = usr1_note;	/* no SA_RESTART */
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old_usr1), 0);
	ck_assert_int_eq(sigaction(SIGRTMIN + 4, &sa, &old_rt), 0);
	for (i = 0; i < N; i++) {
		t_prep(&cb[i], fd, buf[i], 4096, (off_t)i * 4096);
		cb[i].aio_lio_opcode = LIO_READ;
		cb[i].aio_sigevent.sigev_notify = SIGEV_THREAD_ID;
		cb[i].aio_sigevent.sigev_signo = SIGRTMIN + 4;
		cb[i].aio_sigevent._sigev_un._tid = (pid_t)syscall(SYS_gettid);
		l[i] = &cb[i];
	}
	t_prep(&cb[N], p[0], pb, 1, 0);
	cb[N].aio_lio_opcode = LIO_READ;
	l[N] = &cb[N];
	atomic_store(&usr1_seen, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, usr1_later, &self), 0);
	t0 = t_now_ms();
	ret = lio_listio(LIO_WAIT, l, N + 1, NULL);
	err = errno;
	took = t_now_ms() - t0;
	ck_assert_msg(ret == -1 && err == EINTR && took < 1500,
		      "lio_listio(LIO_WAIT) gave %d (%s) after %ld ms; a "
		      "signal without SA_RESTART came at 200 ms", ret,
		      ret ? strerror(err) : "-", took);
	ck_assert_int_eq(t_wait(&cb[N], 10000), 0);
	ck_assert_int_eq(aio_return(&cb[N]), 1);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(t_wait(&cb[i], 10000), 0);
		ck_assert_int_eq(aio_return(&cb[i]), 4096);
	}
	pthread_join(t, NULL);
	sigaction(SIGUSR1, &old_usr1, NULL);
	sigaction(SIGRTMIN + 4, &old_rt, NULL);
	close(p[0]);
	close(p[1]);
	close(fd);
}
END_TEST

Suite *listio_suite(void)
{
	Suite *s = suite_create("lio_listio");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, listio_wait);
	tcase_add_test(tc, listio_nowait_notify);
	tcase_add_test(tc, listio_write_read);
	tcase_add_test(tc, listio_errors);
	tcase_add_test(tc, listio_wait_pool_completion);
	tcase_add_test(tc, listio_wait_other_ring);
	tcase_add_test(tc, listio_cached_reads_one_enter);
	tcase_add_test(tc, listio_wait_interruptible_after_caller_completion);
	suite_add_tcase(s, tc);
	return s;
}
