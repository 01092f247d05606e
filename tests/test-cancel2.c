/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * aio_cancel() tells the truth on every backend: AIO_ALLDONE only when no
 * matching request is in progress, AIO_CANCELED only when every request it
 * cancelled already says ECANCELED, and after either answer the library
 * never writes into those aiocbs again (the caller may free them).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

static atomic_int notified;

static void count_cb(union sigval v)
{
	(void)v;
	atomic_fetch_add(&notified, 1);
}

/* Every cb settled as the answer says; returns how many were cancelled. */
static int check_answer(int ret, struct aiocb **cb, int n)
{
	int i, e, canceled = 0, inprog = 0;

	for (i = 0; i < n; i++) {
		e = aio_error(cb[i]);
		canceled += e == ECANCELED;
		inprog += e == EINPROGRESS;
	}
	if (ret == AIO_ALLDONE) {
		ck_assert_msg(inprog == 0, "AIO_ALLDONE with %d in progress", inprog);
		ck_assert_msg(canceled == 0, "AIO_ALLDONE with %d cancelled", canceled);
	} else if (ret == AIO_CANCELED) {
		ck_assert_msg(inprog == 0, "AIO_CANCELED with %d in progress", inprog);
		ck_assert_msg(canceled > 0, "AIO_CANCELED with none cancelled");
	} else {
		ck_assert_int_eq(ret, AIO_NOTCANCELED);
	}
	return canceled;
}

#define POISON 0x5a

static int poisoned(const struct aiocb *cb)
{
	const unsigned char *p = (const unsigned char *)cb;
	size_t i;

	for (i = 0; i < sizeof(*cb); i++)
		if (p[i] != POISON)
			return 0;
	return 1;
}

/*
 * Reads and an fsync of a regular file, cancelled at once (by fd, then
 * one by one): on io_uring most have completed in the kernel and are not
 * reaped yet.  After AIO_ALLDONE or AIO_CANCELED the aiocbs are poisoned,
 * as a program that frees them would reuse their memory: nothing may
 * write into them afterwards.
 */
START_TEST(cancel_answer_is_true)
{
	enum { ROUNDS = 300, N = 16 };
	struct aiocb **grave = calloc(ROUNDS * (N + 1), sizeof(*grave));
	char *buf = malloc(N * 512);
	int fd = t_tmpfile(N * 512, 0), r, i, ret, ng = 0;

	for (r = 0; r < ROUNDS; r++) {
		struct aiocb *cb[N + 1];
		int by_fd = r % 2 == 0;

		for (i = 0; i <= N; i++) {
			cb[i] = calloc(1, sizeof(struct aiocb));
			t_prep(cb[i], fd, buf + (i % N) * 512, 512,
			       (off_t)(i % N) * 512);
		}
		for (i = 0; i < N; i++)
			ck_assert_int_eq(aio_read(cb[i]), 0);
		ck_assert_int_eq(aio_fsync(O_SYNC, cb[N]), 0);
		if (by_fd) {
			ret = aio_cancel(fd, NULL);
			check_answer(ret, cb, N + 1);
		} else {
			ret = AIO_ALLDONE;
			for (i = N; i >= 0; i--) {
				int one = aio_cancel(fd, cb[i]);

				check_answer(one, &cb[i], 1);
				if (one == AIO_NOTCANCELED)
					ret = one;
				else
					memset(cb[i], POISON, sizeof(*cb[i]));
			}
			if (ret != AIO_NOTCANCELED) {
				for (i = 0; i <= N; i++)
					grave[ng++] = cb[i];
				continue;
			}
		}
		if (ret == AIO_NOTCANCELED) {
			for (i = 0; i <= N; i++) {
				if (!poisoned(cb[i])) {
					int e = t_wait(cb[i], 10000);

					ck_assert(e == 0 || e == ECANCELED);
					aio_return(cb[i]);
				}
				free(cb[i]);
			}
			continue;
		}
		for (i = 0; i <= N; i++) {
			memset(cb[i], POISON, sizeof(*cb[i]));
			grave[ng++] = cb[i];
		}
	}
	/* A last request through every backend, then a moment for strays. */
	{
		struct aiocb last;

		t_prep(&last, fd, buf, 512, 0);
		ck_assert_int_eq(aio_read(&last), 0);
		ck_assert_int_eq(t_wait(&last, 10000), 0);
		ck_assert_int_eq(aio_return(&last), 512);
	}
	usleep(100000);
	for (i = 0; i < ng; i++) {
		ck_assert_msg(poisoned(grave[i]),
			      "the library wrote into an aiocb after aio_cancel() answered");
		free(grave[i]);
	}
	free(grave);
	free(buf);
	close(fd);
}
END_TEST

/*
 * A write cancelled at once: after AIO_NOTCANCELED it must end written,
 * not ECANCELED.  io_uring's synchronous cancel found it in io-wq and
 * timed out (the answer: it runs on), and io-wq then stopped it before it
 * began: 1-243 such writes in 3 s under uring and auto (an outside
 * tester), none under native AIO, the pool or glibc.  Its data must be
 * in the file.
 */
START_TEST(cancel_notcanceled_write_is_written)
{
	enum { N = 64, BS = 4096 };
	char *buf = malloc(BS), *back = malloc(BS);
	int fd = t_tmpfile(N * BS, 0), ret, e, bad = 0, lost = 0, i, first = 0;
	long t0 = t_now_ms(), n = 0, notc = 0;
	struct aiocb cb;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(back);
	ck_assert_int_ge(fd, 0);
	while (t_now_ms() - t0 < 2500 && n < 40000) {
		i = (int)(n % N);
		memset(buf, 'a' + (int)(n % 26), BS);
		memset(&cb, 0, sizeof(cb));
		cb.aio_fildes = fd;
		cb.aio_buf = buf;
		cb.aio_nbytes = BS;
		cb.aio_offset = (off_t)i * BS;
		ck_assert_int_eq(aio_write(&cb), 0);
		ret = aio_cancel(fd, &cb);
		e = t_wait(&cb, 10000);
		ck_assert_int_ne(e, EINPROGRESS);
		n++;
		if (ret == AIO_NOTCANCELED) {
			notc++;
			if (e != 0 || aio_return(&cb) != BS) {
				if (!bad)
					first = e;
				bad++;
				continue;
			}
			ck_assert_int_eq(pread(fd, back, BS, cb.aio_offset), BS);
			if (memcmp(back, buf, BS))
				lost++;
			continue;
		}
		if (ret == AIO_CANCELED)
			ck_assert_int_eq(e, ECANCELED);
		else
			ck_assert_int_eq(e, 0);
		aio_return(&cb);
	}
	ck_assert_msg(bad == 0, "%d of %ld writes answered AIO_NOTCANCELED "
		      "ended otherwise, the first with %s (%ld writes)", bad,
		      notc, strerror(first), n);
	ck_assert_msg(lost == 0, "%d writes answered AIO_NOTCANCELED are not "
		      "in the file", lost);
	free(buf);
	free(back);
	close(fd);
}
END_TEST

/*
 * Many more waiting requests on one fd than any fixed batch: 200 polls of
 * an empty pipe.  Where the backend can stop a waiting request (io_uring,
 * native AIO's IOCB_CMD_POLL) every one is cancelled; on the pool the
 * running ones are not.  Each is notified exactly once either way.
 */
START_TEST(cancel_many_waiting)
{
	enum { N = 200 };
	struct aiocb *cb = calloc(N, sizeof(*cb)), *pcb[N];
	struct kaio_stats st0, st1;
	int p[2], i, ret, e;

	ck_assert_int_eq(kaio_stats_get(&st0, sizeof(st0)), 0);
	atomic_store(&notified, 0);
	t_pipe(p);
	for (i = 0; i < N; i++) {
		t_prep(&cb[i], p[0], NULL, POLLIN, 0);
		cb[i].aio_sigevent.sigev_notify = SIGEV_THREAD;
		cb[i].aio_sigevent.sigev_notify_function = count_cb;
		ck_assert_int_eq(kaio_poll(&cb[i]), 0);
		pcb[i] = &cb[i];
	}
	usleep(20000);
	ret = aio_cancel(p[0], NULL);
	check_answer(ret, pcb, N);
	if (ret == AIO_NOTCANCELED)
		ck_assert_int_eq(write(p[1], "x", 1), 1);
	for (i = 0; i < N; i++) {
		e = t_wait(&cb[i], 10000);
		ck_assert_msg(e == 0 || e == ECANCELED, "poll %d: %d", i, e);
		if (e == 0)
			ck_assert(aio_return(&cb[i]) & POLLIN);
		else
			ck_assert_int_eq(aio_return(&cb[i]), -1);
	}
	for (i = 0; i < 500 && atomic_load(&notified) < N; i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&notified), N);
	/* Only a poll running on a pool worker may stay uncancelled: the
	 * kernel backends (io_uring, IOCB_CMD_POLL) stop every one. */
	ck_assert_int_eq(kaio_stats_get(&st1, sizeof(st1)), 0);
	if (ret != AIO_CANCELED)
		ck_assert_msg(st1.v[KAIO_STAT_POOL] > st0.v[KAIO_STAT_POOL],
			      "aio_cancel answered %d with every poll in a "
			      "kernel backend", ret);
	ck_assert_int_eq(aio_cancel(p[0], NULL), AIO_ALLDONE);
	free(cb);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* An fsync that ran to the end reports its own result, not ECANCELED. */
START_TEST(cancel_fsync_real_result)
{
	enum { ROUNDS = 100 };
	struct aiocb w, fs, *one[1] = { &fs };
	char data[4096];
	int fd = t_tmpfile(0, 0), r, ret, e;

	memset(data, 'f', sizeof(data));
	for (r = 0; r < ROUNDS; r++) {
		t_prep(&w, fd, data, sizeof(data), (off_t)r * 4096);
		ck_assert_int_eq(aio_write(&w), 0);
		ck_assert_int_eq(t_wait(&w, 10000), 0);
		ck_assert_int_eq(aio_return(&w), (ssize_t)sizeof(data));
		t_prep(&fs, fd, NULL, 0, 0);
		ck_assert_int_eq(aio_fsync(r % 2 ? O_DSYNC : O_SYNC, &fs), 0);
		ret = aio_cancel(fd, &fs);
		check_answer(ret, one, 1);
		e = t_wait(&fs, 10000);
		if (ret == AIO_CANCELED)
			ck_assert_int_eq(e, ECANCELED);
		else if (ret == AIO_ALLDONE)
			ck_assert_int_eq(e, 0);
		ck_assert(e == 0 || e == ECANCELED);
		aio_return(&fs);
	}
	close(fd);
}
END_TEST

/* glibc's answers for aiocbs that are no request in progress. */
START_TEST(cancel_not_in_progress)
{
	struct aiocb cb;
	char buf[8];
	int fd = t_tmpfile(8, 0);

	t_prep(&cb, fd, buf, 8, 0);
	ck_assert_int_eq(aio_cancel(fd, &cb), AIO_ALLDONE);	/* never submitted */
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 10000), 0);
	ck_assert_int_eq(aio_cancel(fd, &cb), AIO_ALLDONE);	/* finished */
	ck_assert_int_eq(aio_return(&cb), 8);
	ck_assert_int_eq(aio_cancel(fd, &cb), AIO_ALLDONE);	/* returned */
	t_prep(&cb, fd, buf, 8, 0);
	cb.__error_code = EINPROGRESS;		/* says so, but is not ours */
	errno = 0;
	ck_assert_int_eq(aio_cancel(fd, &cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	close(fd);
}
END_TEST

/* aio_suspend() from a signal handler, interrupting the library anywhere. */
static struct aiocb *sig_cb;
static atomic_int sig_calls, sig_bad;

static void suspend_handler(int sig)
{
	const struct aiocb *l[1] = { sig_cb };
	struct timespec ts = { 0, 1000000 };
	int saved = errno, ret;

	(void)sig;
	ret = aio_suspend(l, 1, &ts);
	if (ret != -1 || (errno != EAGAIN && errno != EINTR))
		atomic_fetch_add(&sig_bad, 1);
	if (aio_error(sig_cb) != EINPROGRESS)
		atomic_fetch_add(&sig_bad, 1);
	atomic_fetch_add(&sig_calls, 1);
	errno = saved;
}

struct kicker {
	pthread_t target;
	atomic_int stop;
};

static void *kick_loop(void *arg)
{
	struct kicker *k = arg;

	int seen;

	while (!atomic_load(&k->stop)) {
		seen = atomic_load(&sig_calls);
		pthread_kill(k->target, SIGUSR1);
		/* One at a time: the target must also get on with its work. */
		while (atomic_load(&sig_calls) == seen && !atomic_load(&k->stop))
			usleep(20);
		usleep(50);
	}
	return NULL;
}

/*
 * A thread submits and waits for reads while a handler calls aio_suspend()
 * (for a pipe read that never completes) on it, again and again: the
 * handler lands while the thread holds the library's locks, and must
 * neither deadlock nor disturb anything.  A stall ends in the timeout.
 */
START_TEST(suspend_in_signal_handler)
{
	enum { N = 20000 };
	struct sigaction sa, old;
	struct aiocb pcb, cb;
	struct kicker k;
	pthread_t t;
	char pbuf[8], buf[512];
	int p[2], fd = t_tmpfile(4096, 0), i, e;

	t_pipe(p);
	t_prep(&pcb, p[0], pbuf, sizeof(pbuf), 0);
	ck_assert_int_eq(aio_read(&pcb), 0);
	sig_cb = &pcb;
	atomic_store(&sig_calls, 0);
	atomic_store(&sig_bad, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = suspend_handler;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old), 0);
	k.target = pthread_self();
	atomic_store(&k.stop, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, kick_loop, &k), 0);
	for (i = 0; i < N; i++) {
		t_prep(&cb, fd, buf, sizeof(buf), (off_t)(i % 8) * 512);
		while (aio_read(&cb) != 0)
			ck_assert_int_eq(errno, EAGAIN);
		e = t_wait(&cb, 20000);
		ck_assert_int_eq(e, 0);
		ck_assert_int_eq(aio_return(&cb), (ssize_t)sizeof(buf));
		ck_assert(t_check_bytes(buf, (off_t)(i % 8) * 512, sizeof(buf)));
	}
	atomic_store(&k.stop, 1);
	pthread_join(t, NULL);
	sigaction(SIGUSR1, &old, NULL);
	ck_assert_int_gt(atomic_load(&sig_calls), 0);
	ck_assert_int_eq(atomic_load(&sig_bad), 0);
	ck_assert_int_eq(write(p[1], "12345678", 8), 8);
	ck_assert_int_eq(t_wait(&pcb, 10000), 0);
	ck_assert_int_eq(aio_return(&pcb), 8);
	close(p[0]);
	close(p[1]);
	close(fd);
}
END_TEST

/*
 * A request io_uring will not take goes on to the pool (reroute()), which
 * settles the ticket of an aio_cancel() waiting for it: that waiter must
 * be woken then, not by its 100 ms retry.  Forced deterministically: the
 * submitter thread (which enters pipe reads) inherits, from the helper
 * thread that starts it, a seccomp filter failing every submitting
 * io_uring_enter() with ENOMEM (so it takes its entries back and reroutes
 * them), and SCHED_IDLE on the test thread's CPU (so it runs only once
 * aio_cancel() sleeps on its ticket, with the request on that ticket).
 */
struct reroute_ctx {
	int cpu;
	int p[2];
	int ok;		/* 0: no seccomp or SCHED_IDLE here; the test skips */
};

static int enter_fails_here(void)
{
	struct sock_filter f[] = {
		T_SECCOMP_LOAD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 0, 2),
		/* to_submit (the low word of args[1]) != 0: ENOMEM */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOMEM),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

static void *start_submitter(void *arg)
{
	struct reroute_ctx *c = arg;
	struct sched_param sp = { 0 };
	cpu_set_t set;
	struct aiocb cb;
	char b;

	CPU_ZERO(&set);
	CPU_SET(c->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) ||
	    sched_setscheduler(0, SCHED_IDLE, &sp) || !enter_fails_here())
		return NULL;
	/* The first pipe read starts the submitter thread, as this one. */
	t_prep(&cb, c->p[0], &b, 1, 0);
	if (aio_read(&cb) || write(c->p[1], "x", 1) != 1 ||
	    t_wait(&cb, 10000) || aio_return(&cb) != 1)
		return NULL;
	c->ok = 1;
	return NULL;
}

START_TEST(cancel_rerouted_wakes)
{
	struct reroute_ctx c;
	struct kaio_stats st0, st1;
	struct timespec t0, t1;
	cpu_set_t set;
	pthread_t t;
	long worst = 0, ms;
	int i, ret, e;
	char b;

	if (!t_uring_ok() || !getenv("KAIO_BACKEND") ||
	    strcmp(getenv("KAIO_BACKEND"), "uring"))
		return;		/* pipe reads go to io_uring's submitter only */
	memset(&c, 0, sizeof(c));
	c.cpu = sched_getcpu();
	ck_assert_int_ge(c.cpu, 0);
	t_pipe(c.p);
	ck_assert_int_eq(pthread_create(&t, NULL, start_submitter, &c), 0);
	pthread_join(t, NULL);
	if (!c.ok) {
		fprintf(stderr, "cancel_rerouted_wakes: SKIP (no seccomp or "
			"SCHED_IDLE here)\n");
		close(c.p[0]);
		close(c.p[1]);
		return;
	}
	CPU_ZERO(&set);
	CPU_SET(c.cpu, &set);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(set), &set), 0);
	kaio_stats_get(&st0, sizeof(st0));
	for (i = 0; i < 5; i++) {
		struct aiocb cb;

		t_prep(&cb, c.p[0], &b, 1, 0);
		ck_assert_int_eq(aio_read(&cb), 0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ret = aio_cancel(c.p[0], &cb);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		     (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms > worst)
			worst = ms;
		ck_assert(ret == AIO_CANCELED || ret == AIO_NOTCANCELED);
		if (aio_error(&cb) == EINPROGRESS)
			ck_assert_int_eq(write(c.p[1], "y", 1), 1);
		e = t_wait(&cb, 10000);
		ck_assert(e == 0 || e == ECANCELED);
		aio_return(&cb);
	}
	kaio_stats_get(&st1, sizeof(st1));
	/* None went through the ring (there they would have been served,
	 * cancelled or not, by io_uring): each was rerouted. */
	ck_assert_uint_eq(st1.v[KAIO_STAT_URING], st0.v[KAIO_STAT_URING]);
	/* The fault takes the 100 ms retry; a loaded machine has been
	 * seen to take 79 ms without it (CI, make check). */
	ck_assert_msg(worst < 95, "aio_cancel() of a rerouted request took "
		      "%ld ms (its 100 ms retry: a settled ticket with no "
		      "wake-up)", worst);
	close(c.p[0]);
	close(c.p[1]);
}
END_TEST

/*
 * The thread of this process blocked in read(2) or pread(2) of fd, or 0.
 */
static pid_t reader_of(int fd)
{
	char path[300];
	struct dirent *d;
	long nr, a0;
	pid_t tid = 0;
	DIR *dir = opendir("/proc/self/task");
	FILE *f;

	if (!dir)
		return 0;
	while (!tid && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/syscall",
			 d->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fscanf(f, "%ld %lx", &nr, &a0) == 2 && a0 == fd &&
		    (nr == SYS_read || nr == SYS_pread64))
			tid = atoi(d->d_name);
		fclose(f);
	}
	closedir(dir);
	return tid;
}

/* Does /proc show what system call a thread is in (not in UML)? */
static int syscalls_seen(void)
{
	long nr = -1;
	FILE *f = fopen("/proc/self/syscall", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	return nr >= 0;
}

/*
 * Let the traced thread tid go on (PTRACE_SYSCALL, PTRACE_SINGLESTEP) to
 * its next stop: the stop's status, or -1 (a bound on the steps, too).
 */
static int resume(pid_t tid, int how, long *steps)
{
	int st;

	if (++*steps > 20000000 || ptrace(how, tid, 0, 0) < 0 ||
	    waitpid(tid, &st, __WALL) != tid || !WIFSTOPPED(st))
		return -1;
	return st;
}

/*
 * The tracer (a child: a thread cannot trace its own process).  It stops
 * thread tid of its parent when the read it is blocked in returns, then
 * single-steps it until *err (in the parent) no longer says EINPROGRESS:
 * the worker has published the result and is held there, before anything
 * after the store.  It tells the parent by a byte on out ('A' attached,
 * 'H' held, 'F' failed), and lets the thread go at a byte on in.
 */
static void hold_after_publish(pid_t tid, const int *err,
			       const unsigned long *text, int in, int out)
{
	unsigned long rip;
	struct __ptrace_syscall_info si;
	pid_t parent = getppid();
	long steps = 0, last_nr = -1;
	int st, v, seen_exit = 0;
	char c = 'F';
	struct iovec l = { &v, sizeof(v) }, r = { (void *)err, sizeof(v) };

	if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD) < 0)
		goto out;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 ||
	    waitpid(tid, &st, __WALL) != tid || !WIFSTOPPED(st))
		goto out;
	c = 'A';
	if (write(out, &c, 1) != 1)
		_exit(1);
	c = 'F';
	/* Through system-call stops, to the exit of the read that got data. */
	while (!seen_exit) {
		if ((st = resume(tid, PTRACE_SYSCALL, &steps)) < 0)
			goto out;
		if (WSTOPSIG(st) != (SIGTRAP | 0x80))
			continue;
		if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(si), &si) <= 0)
			goto out;
		if (si.op == PTRACE_SYSCALL_INFO_ENTRY)
			last_nr = (long)si.entry.nr;
		else if (si.op == PTRACE_SYSCALL_INFO_EXIT &&
			 (last_nr == SYS_read || last_nr == SYS_pread64) &&
			 si.exit.rval == 1)
			seen_exit = 1;
	}
	/* Then one instruction at a time, until the result is out. */
	for (;;) {
		if (process_vm_readv(parent, &l, 1, &r, 1, 0) != sizeof(v))
			goto out;
		if (v != EINPROGRESS)
			break;
		if (resume(tid, PTRACE_SINGLESTEP, &steps) < 0)
			goto out;
	}
	/* Out of whatever the store was in (a sanitizer's runtime holds a
	 * lock of its own there), back into the library's code. */
	while (!(rip = ptrace(PTRACE_PEEKUSER, tid,
			      offsetof(struct user_regs_struct, rip), 0)) ||
	       rip < text[0] || rip >= text[1]) {
		if (resume(tid, PTRACE_SINGLESTEP, &steps) < 0)
			goto out;
	}
	c = 'H';
	if (write(out, &c, 1) != 1 || read(in, &c, 1) != 1)
		_exit(1);
	ptrace(PTRACE_DETACH, tid, 0, 0);
	_exit(0);
out:
	if (write(out, &c, 1) != 1)
		_exit(1);
	_exit(1);
}

/* The executable mapping that holds fn: [text[0], text[1]). */
static int text_of(const void *fn, unsigned long *text)
{
	char line[512];
	unsigned long lo, hi, a = (unsigned long)fn;
	char perm[8];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) == 3 &&
		    perm[2] == 'x' && a >= lo && a < hi) {
			text[0] = lo;
			text[1] = hi;
			found = 1;
		}
	fclose(f);
	return found;
}

static char await_byte(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char c = 0;

	if (poll(&p, 1, ms) != 1 || read(fd, &c, 1) != 1)
		return 0;
	return c;
}

/*
 * A pool worker has published a pipe read's result and not yet finished
 * with the request.  The program takes the result, submits the same aiocb
 * again (it queues behind the first, which still holds the pipe's order),
 * and cancels it.  The answer is about the new request: AIO_CANCELED, as
 * it says ECANCELED.  (The old one, still on the pool's running list with
 * the same aiocb, made it AIO_NOTCANCELED.)  The worker is held there by
 * a tracer that single-steps it up to the store of the result.
 */
START_TEST(cancel_resubmitted_while_worker_finishes)
{
	struct aiocb cb;
	char buf[4], c = 'x';
	int p[2], to[2], from[2], ret, e, i;
	unsigned long text[2];
	pid_t tid = 0, tracer;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(pipe(to), 0);
	ck_assert_int_eq(pipe(from), 0);
	t_prep(&cb, p[0], buf, 1, 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	for (i = 0; i < 3000 && !(tid = reader_of(p[0])); i++)
		usleep(1000);	/* 3 s at most */
	if (!tid) {
		/* A kernel backend (io_uring) took it, or no thread's
		 * /proc/self/task/TID/syscall says read (User-Mode Linux has
		 * none): no worker to hold.  A running read is fed. */
		printf("SKIP: cancel_resubmitted_while_worker_finishes: no pool "
		       "worker is seen reading the pipe here\n");
		ret = aio_cancel(p[0], &cb);
		if (syscalls_seen())	/* then no worker reads it */
			ck_assert_int_eq(ret, AIO_CANCELED);
		ck_assert(ret == AIO_CANCELED || ret == AIO_NOTCANCELED);
		if (ret == AIO_NOTCANCELED)
			ck_assert_int_eq(write(p[1], "x", 1), 1);
		e = t_wait(&cb, 10000);
		ck_assert_int_eq(e, ret == AIO_CANCELED ? ECANCELED : 0);
		goto done;
	}
	ck_assert(text_of((const void *)aio_read, text));
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	tracer = t_fork();
	ck_assert_int_ge(tracer, 0);
	if (tracer == 0)
		hold_after_publish(tid, &cb.__error_code, text, to[0],
				   from[1]);
	c = await_byte(from[0], 10000);
	if (c != 'A') {
		waitpid(tracer, NULL, 0);
		printf("SKIP: cancel_resubmitted_while_worker_finishes: cannot "
		       "trace a pool worker here (ptrace: %c)\n", c ? c : '?');
		ck_assert_int_eq(write(p[1], "x", 1), 1);
		ck_assert_int_eq(t_wait(&cb, 10000), 0);
		goto done;
	}
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	c = await_byte(from[0], 60000);
	if (c != 'H') {
		waitpid(tracer, NULL, 0);
		ck_abort_msg("the tracer did not hold the worker (%c)",
			     c ? c : '?');
	}
	/* The result is out; the worker is still inside kaio__complete(). */
	ck_assert_int_eq(aio_error(&cb), 0);
	ck_assert_int_eq(aio_return(&cb), 1);
	t_prep(&cb, p[0], buf, 1, 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ret = aio_cancel(p[0], &cb);
	e = aio_error(&cb);
	c = 'r';
	ck_assert_int_eq(write(to[1], &c, 1), 1);
	waitpid(tracer, NULL, 0);
	ck_assert_msg(ret == AIO_CANCELED || e == EINPROGRESS,
		      "aio_cancel() said %d (AIO_NOTCANCELED is %d), yet the "
		      "request says %s", ret, AIO_NOTCANCELED, strerror(e));
	ck_assert_int_eq(ret, AIO_CANCELED);
	ck_assert_int_eq(e, ECANCELED);
	ck_assert_int_eq(aio_return(&cb), -1);
done:
	close(p[0]);
	close(p[1]);
	close(to[0]);
	close(to[1]);
	close(from[0]);
	close(from[1]);
}
END_TEST

struct fd_done_arg {
	struct aiocb *cb;
	int wfd;
};

static void *cancel_then_feed(void *arg)
{
	struct fd_done_arg *a = arg;

	aio_cancel(a->cb->aio_fildes, a->cb);
	if (write(a->wfd, "x", 1) != 1)
		abort();
	return NULL;
}

/*
 * Once the program has seen every request on an fd done, aio_cancel(fd,
 * NULL) answers AIO_ALLDONE (glibc's worker publishes and unlists under
 * the lock its aio_error() takes).  A request cancelled by another thread
 * (io_uring, native AIO's poll) or fed and done stays on its backend's
 * list for the rest of the reaped batch: it was taken for running, 2452 of
 * 3000 times under io_uring.
 */
START_TEST(cancel_fd_after_seen_done)
{
	struct fd_done_arg a;
	struct aiocb cb;
	pthread_t th;
	char buf[64];
	int p[2], i, e, ret, wrong = 0, first = -1;

	for (i = 0; i < 300; i++) {
		ck_assert_int_eq(pipe(p), 0);
		t_prep(&cb, p[0], buf, sizeof(buf), 0);
		if (i & 1) {
			cb.aio_nbytes = POLLIN;
			ck_assert_int_eq(kaio_poll(&cb), 0);
		} else {
			ck_assert_int_eq(aio_read(&cb), 0);
		}
		usleep(200);
		a.cb = &cb;
		a.wfd = p[1];
		ck_assert_int_eq(pthread_create(&th, NULL, cancel_then_feed,
						&a), 0);
		while ((e = aio_error(&cb)) == EINPROGRESS)
			sched_yield();
		ret = aio_cancel(p[0], NULL);
		if (ret != AIO_ALLDONE && !wrong++)
			first = ret;
		pthread_join(th, NULL);
		aio_return(&cb);
		close(p[0]);
		close(p[1]);
	}
	ck_assert_msg(!wrong, "aio_cancel(fd, NULL) after every request on fd "
		      "was seen done said %d (not AIO_ALLDONE) %d of 300 times",
		      first, wrong);
}
END_TEST

/*
 * A request that moved from a kernel backend to the pool while aio_cancel()
 * searched: its first pass saw it running, a second found it queued and
 * cancelled it.  The answer is AIO_CANCELED: the "running" of the first
 * pass no longer held (it said AIO_NOTCANCELED for a request it had
 * cancelled, 132 of 300 times, under KAIO_BACKEND=kernel).  The pool's one
 * worker is kept busy, so a read handed to it waits in its queue; the file
 * is dropped from the page cache before each read, so native AIO's
 * RWF_NOWAIT read comes back EAGAIN and is handed on.
 */
START_TEST(cancel_handoff_answer)
{
	struct aioinit ai = { 0 };
	struct aiocb blk, cb;
	const struct aiocb *l[1];
	struct timespec ts = { 0, 200 * 1000000 };
	static char buf[65536];
	char pb[1];
	int fd, p[2], i, ret, e, wrong = 0, left = 0;

	ai.aio_threads = 1;
	ai.aio_num = 4;
	aio_init(&ai);
	fd = t_tmpfile(8 << 20, 0);
	fsync(fd);
	ck_assert_int_eq(pipe(p), 0);
	t_prep(&blk, p[0], pb, 1, 0);
	ck_assert_int_eq(aio_read(&blk), 0);
	usleep(100000);		/* the worker blocks in read(2) */
	for (i = 0; i < 300; i++) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		t_prep(&cb, fd, buf, sizeof(buf),
		       (off_t)(i % 128) * (off_t)sizeof(buf));
		ck_assert_int_eq(aio_read(&cb), 0);
		ret = aio_cancel(fd, &cb);
		ck_assert_int_ne(ret, -1);
		if (ret == AIO_NOTCANCELED) {
			l[0] = &cb;
			aio_suspend(l, 1, &ts);
		}
		e = aio_error(&cb);
		if (ret == AIO_NOTCANCELED && e == ECANCELED)
			wrong++;
		if (ret == AIO_CANCELED)
			ck_assert_int_eq(e, ECANCELED);
		if (e == EINPROGRESS) {
			/* Queued behind the busy worker: a read that had
			 * moved bytes (part was cached) runs on, as may one
			 * the reaper had not handed on yet.  Let the worker
			 * go, and block it again. */
			left++;
			ck_assert_int_eq(write(p[1], "x", 1), 1);
			ck_assert_int_eq(t_wait(&blk, 10000), 0);
			e = t_wait(&cb, 10000);
			ck_assert(e == 0 || e == ECANCELED);
			aio_return(&blk);
			t_prep(&blk, p[0], pb, 1, 0);
			ck_assert_int_eq(aio_read(&blk), 0);
			usleep(10000);
		}
		aio_return(&cb);
	}
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(t_wait(&blk, 10000), 0);
	close(p[0]);
	close(p[1]);
	close(fd);
	ck_assert_msg(!wrong, "aio_cancel() said AIO_NOTCANCELED for a request "
		      "it had cancelled %d of 300 times (%d more stayed queued)",
		      wrong, left);
}
END_TEST

/*
 * A read whose first page came from the page cache in the caller, the
 * rest from a backend: it has started, as a request glibc's worker has
 * begun, and runs on.  aio_cancel() answers AIO_NOTCANCELED and the read
 * ends with all its bytes (it said AIO_CANCELED, and the read ECANCELED
 * after 4096 bytes had been read into the buffer, under threads).  The
 * pool's one worker is kept busy so that the rest waits in its queue.
 */
START_TEST(cancel_started_runs_on)
{
	struct aioinit ai = { 0 };
	struct aiocb blk, cb;
	static char buf[8192];
	char pb[1], c;
	int fd, p[2], ret, e;

	ai.aio_threads = 1;
	ai.aio_num = 4;
	aio_init(&ai);
	fd = t_tmpfile(65536, 0);
	ck_assert_int_eq(pipe(p), 0);
	t_prep(&blk, p[0], pb, 1, 0);
	ck_assert_int_eq(aio_read(&blk), 0);
	usleep(100000);		/* the worker blocks in read(2) */
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);	/* no readahead */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	ck_assert_int_eq(pread(fd, &c, 1, 0), 1);	/* page 0 only */
	memset(buf, 0, sizeof(buf));
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ret = aio_cancel(fd, &cb);
	e = aio_error(&cb);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(t_wait(&blk, 10000), 0);
	if (e != EINPROGRESS && ret == AIO_ALLDONE) {
		/* Done before the cancel: nothing to see here. */
		printf("SKIP: cancel_started_runs_on: the read was done "
		       "before aio_cancel() (%s)\n", strerror(e));
	} else if (ret == AIO_CANCELED) {
		/* Right only if nothing had been read (KAIO_NOWAIT=0: no
		 * caller-side read). */
		ck_assert_int_eq(e, ECANCELED);
		ck_assert_msg(!t_check_bytes(buf, 0, 4096), "aio_cancel() "
			      "cancelled a read that had moved bytes");
		printf("SKIP: cancel_started_runs_on: no byte was read in the "
		       "caller\n");
		goto out;
	} else {
		ck_assert_int_eq(ret, AIO_NOTCANCELED);
	}
	ck_assert_int_eq(t_wait(&cb, 10000), 0);
	ck_assert_int_eq(aio_return(&cb), (ssize_t)sizeof(buf));
	ck_assert(t_check_bytes(buf, 0, sizeof(buf)));
out:
	close(p[0]);
	close(p[1]);
	close(fd);
}
END_TEST

Suite *cancel2_suite(void)
{
	Suite *s = suite_create("aio_cancel_truth");
	TCase *tc = t_tcase("truth");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, cancel_answer_is_true);
	tcase_add_test(tc, cancel_notcanceled_write_is_written);
	tcase_add_test(tc, cancel_many_waiting);
	tcase_add_test(tc, cancel_fsync_real_result);
	tcase_add_test(tc, cancel_not_in_progress);
	tcase_add_test(tc, cancel_rerouted_wakes);
	tcase_add_test(tc, cancel_resubmitted_while_worker_finishes);
	tcase_add_test(tc, cancel_fd_after_seen_done);
	tcase_add_test(tc, cancel_handoff_answer);
	tcase_add_test(tc, cancel_started_runs_on);
	suite_add_tcase(s, tc);
	tc = t_tcase("signal");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, suspend_in_signal_handler);
	suite_add_tcase(s, tc);
	return s;
}
