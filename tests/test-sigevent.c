/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

static int wait_sig(int sig, siginfo_t *si)
{
	sigset_t set;
	struct timespec ts = { 5, 0 };

	sigemptyset(&set);
	sigaddset(&set, sig);
	return sigtimedwait(&set, si, &ts);
}

START_TEST(sigev_signal)
{
	char buf[64];
	struct aiocb cb;
	siginfo_t si;
	sigset_t set;
	int fd = t_tmpfile(64, 0), sig = SIGRTMIN + 2;

	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb.aio_sigevent.sigev_signo = sig;
	cb.aio_sigevent.sigev_value.sival_ptr = &cb;
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(wait_sig(sig, &si), sig);
	ck_assert_int_eq(si.si_code, SI_ASYNCIO);
	ck_assert_ptr_eq(si.si_value.sival_ptr, &cb);
	ck_assert_int_eq(si.si_pid, getpid());
	ck_assert_int_eq(si.si_uid, getuid());
	/* The result is visible when the signal arrives. */
	ck_assert_int_eq(aio_error(&cb), 0);
	ck_assert_int_eq(aio_return(&cb), 64);
	close(fd);
}
END_TEST

START_TEST(sigev_signal_zero)
{
	char buf[64];
	struct aiocb cb;
	struct kaio_stats st;
	int fd = t_tmpfile(64, 0);

	t_prep(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb.aio_sigevent.sigev_signo = 0;
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	kaio_stats_get(&st, sizeof(st));
	ck_assert_uint_eq(st.v[KAIO_STAT_NOTIFY_SIGNAL], 0);
	ck_assert_uint_eq(st.v[KAIO_STAT_NOTIFY_FAILED], 0);
	close(fd);
}
END_TEST

/*
 * A signal that cannot be queued never changes the request's result.  Run
 * in a child: RLIMIT_SIGPENDING 0 would also starve Check's own timer.
 */
START_TEST(sigev_signal_queue_full)
{
	char buf[64];
	struct aiocb cb;
	struct kaio_stats st;
	struct rlimit rl = { 0, 0 };
	sigset_t set;
	int fd = t_tmpfile(64, 0), sig = SIGRTMIN + 3, status, bad = 0, i;
	pid_t pid;

	pid = t_fork();
	if (pid == 0) {
		sigemptyset(&set);
		sigaddset(&set, sig);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
		if (setrlimit(RLIMIT_SIGPENDING, &rl))
			_exit(10);
		t_prep(&cb, fd, buf, sizeof(buf), 0);
		cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
		cb.aio_sigevent.sigev_signo = sig;
		if (aio_read(&cb))
			bad |= 1;
		if (t_wait(&cb, 5000) != 0 || aio_return(&cb) != 64)
			bad |= 2;
		/* The notification follows the result: wait for it. */
		for (i = 0; i < 5000; i++) {
			kaio_stats_get(&st, sizeof(st));
			if (st.v[KAIO_STAT_NOTIFY_FAILED] ||
			    st.v[KAIO_STAT_NOTIFY_SIGNAL])
				break;
			usleep(1000);
		}
		if (st.v[KAIO_STAT_NOTIFY_FAILED] != 1 ||
		    st.v[KAIO_STAT_NOTIFY_SIGNAL] != 0)
			bad |= 4;
		_exit(bad);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(fd);
}
END_TEST

static atomic_int cb_value;
static atomic_long cb_thread;

static void thread_cb(union sigval v)
{
	atomic_store(&cb_thread, (long)syscall(SYS_gettid));
	atomic_store(&cb_value, v.sival_int);
}

START_TEST(sigev_thread)
{
	char buf[64];
	struct aiocb cb;
	int fd = t_tmpfile(64, 0), i;

	t_prep(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
	cb.aio_sigevent.sigev_notify_function = thread_cb;
	cb.aio_sigevent.sigev_value.sival_int = 4242;
	ck_assert_int_eq(aio_read(&cb), 0);
	for (i = 0; i < 500 && atomic_load(&cb_value) != 4242; i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&cb_value), 4242);
	ck_assert_int_ne(atomic_load(&cb_thread), syscall(SYS_gettid));
	ck_assert_int_eq(aio_error(&cb), 0);
	close(fd);
}
END_TEST

static size_t cb_stack;

static void attr_cb(union sigval v)
{
	pthread_attr_t a;

	pthread_getattr_np(pthread_self(), &a);
	pthread_attr_getstacksize(&a, &cb_stack);
	pthread_attr_destroy(&a);
	atomic_store(&cb_value, v.sival_int);
}

START_TEST(sigev_thread_attr)
{
	char buf[64];
	struct aiocb cb;
	pthread_attr_t attr;
	int fd = t_tmpfile(64, 0), i;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 3 << 20);
	atomic_store(&cb_value, 0);
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
	cb.aio_sigevent.sigev_notify_function = attr_cb;
	cb.aio_sigevent.sigev_notify_attributes = &attr;
	cb.aio_sigevent.sigev_value.sival_int = 7;
	ck_assert_int_eq(aio_read(&cb), 0);
	for (i = 0; i < 500 && atomic_load(&cb_value) != 7; i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&cb_value), 7);
	ck_assert_uint_ge(cb_stack, 3 << 20);
	close(fd);
}
END_TEST

/* Callbacks that block do not hold up other callbacks. */
static atomic_int blockers;
static atomic_int release_blockers;

static void blocking_cb(union sigval v)
{
	(void)v;
	atomic_fetch_add(&blockers, 1);
	while (!atomic_load(&release_blockers))
		usleep(1000);
}

START_TEST(sigev_thread_blocking)
{
	enum { N = 6 };
	char buf[N][8];
	struct aiocb cb[N];
	int fd = t_tmpfile(64, 0), i;

	for (i = 0; i < N; i++) {
		t_prep(&cb[i], fd, buf[i], 8, i);
		cb[i].aio_sigevent.sigev_notify = SIGEV_THREAD;
		cb[i].aio_sigevent.sigev_notify_function = blocking_cb;
		ck_assert_int_eq(aio_read(&cb[i]), 0);
	}
	for (i = 0; i < 500 && atomic_load(&blockers) < N; i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&blockers), N);
	atomic_store(&release_blockers, 1);
	close(fd);
}
END_TEST

static atomic_int target_tid;
static atomic_int tid_got;

static void *sig_thread(void *arg)
{
	siginfo_t si;
	int sig = *(int *)arg;

	atomic_store(&target_tid, (int)syscall(SYS_gettid));
	if (wait_sig(sig, &si) == sig && si.si_code == SI_ASYNCIO &&
	    si.si_value.sival_int == 99)
		atomic_store(&tid_got, 1);
	return NULL;
}

START_TEST(sigev_thread_id)
{
	char buf[64];
	struct aiocb cb;
	pthread_t t;
	sigset_t set;
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	int fd = t_tmpfile(64, 0), sig = SIGRTMIN + 4, i;

	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_create(&t, NULL, sig_thread, &sig);
	for (i = 0; i < 500 && !atomic_load(&target_tid); i++)
		usleep(1000);
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_sigevent.sigev_notify = SIGEV_THREAD_ID;
	cb.aio_sigevent.sigev_signo = sig;
	cb.aio_sigevent.sigev_value.sival_int = 99;
	cb.aio_sigevent._sigev_un._tid = atomic_load(&target_tid);
	ck_assert_int_eq(aio_read(&cb), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(atomic_load(&tid_got), 1);
	/* Directed at that thread: nothing is pending for this one. */
	ck_assert_int_eq(sigtimedwait(&set, &si, &zero), -1);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	close(fd);
}
END_TEST

/*
 * A completion signal that this very thread takes (a request completed
 * inside aio_read(), in the caller) must find the library's state whole:
 * its handler may never return.  Two programs from an outside tester:
 * aio_read(), then pause() until the handler siglongjmp()s back; and a
 * handler that waits for another thread, which calls aio_suspend() on a
 * request long done.  The jump left a count of "signals being sent"
 * raised for good, and aio_suspend() in every other thread waited on it
 * for ever, its timeout too (10 of 10 runs under auto and threads); the
 * waiting handler held the other thread the same way (20 of 20).  The
 * jump is run only where the read completes in the caller: a signal
 * from a reaper or a worker may come while aio_read() holds a lock, and
 * a jump out of it there is undefined (glibc's leaves its mutex held).
 */
static sigjmp_buf jump_back;

static long t_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void jump_handler(int sig)
{
	(void)sig;
	siglongjmp(jump_back, 1);
}

static int jump_fd;
static atomic_int jump_other_ok;

static void *jump_other(void *arg)
{
	static char buf[4096];
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	struct timespec ts = { 3, 0 };
	long t0 = t_ms();

	(void)arg;
	t_prep(&cb, jump_fd, buf, sizeof(buf), 0);
	if (aio_read(&cb) == 0 && aio_suspend(l, 1, &ts) == 0 &&
	    aio_return(&cb) == (ssize_t)sizeof(buf) && t_ms() - t0 < 2000)
		atomic_store(&jump_other_ok, 1);
	return NULL;
}

/* After the jumps: another thread's read and untimed wait still work. */
static void other_thread_reads(void)
{
	struct timespec dl;
	pthread_t t;

	atomic_store(&jump_other_ok, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, jump_other, NULL), 0);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 6;
	ck_assert_msg(pthread_timedjoin_np(t, NULL, &dl) == 0,
		      "another thread's aio_suspend() never returned");
	ck_assert(atomic_load(&jump_other_ok));
}

START_TEST(sigev_signal_handler_jumps_out)
{
	static char buf[4096];
	static struct aiocb cb;
	struct sigaction sa;
	volatile int i, ret;
	sigset_t none;

	jump_fd = t_tmpfile(4096, 0);
	ck_assert_int_eq(pread(jump_fd, buf, sizeof(buf), 0), 4096);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = jump_handler;
	ck_assert_int_eq(sigaction(SIGRTMIN + 3, &sa, NULL), 0);
	sigemptyset(&none);
	for (i = 0; i < 3; i++) {
		if (sigsetjmp(jump_back, 1) == 0) {
			t_prep(&cb, jump_fd, buf, sizeof(buf), 0);
			cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
			cb.aio_sigevent.sigev_signo = SIGRTMIN + 3;
			/* No check before the jump: the signal may come in
			 * it, and Check's checks take a lock.  (Out of
			 * aio_read() itself, ret stays 0.) */
			ret = 0;
			ret = aio_read(&cb);
			for (;;)
				sigsuspend(&none);
		}
		ck_assert_int_eq(ret, 0);
		ck_assert_int_eq(aio_error(&cb), 0);
		ck_assert_int_eq(aio_return(&cb), 4096);
	}
	other_thread_reads();
	close(jump_fd);
}
END_TEST

/*
 * The same for a list of cached reads, which the caller completes too:
 * read by read in the caller, or entered into its io_uring ring as one
 * batch and reaped before lio_listio() returns.  The last read's signal
 * goes to this thread, whose handler jumps out of lio_listio(); the list
 * must still be whole: its own notification comes, and another thread's
 * waits go on.  Before the signals were held to the call's exit after
 * the ring's reaping, the handler ran in the middle of it (auto), and 0
 * to 2 of the 3 lists' notifications came.
 */
static atomic_int list_notes;

static void list_note(union sigval v)
{
	(void)v;
	atomic_fetch_add(&list_notes, 1);
}

START_TEST(sigev_signal_list_handler_jumps_out)
{
	enum { N = 8 };
	static char buf[N][4096];
	static struct aiocb cb[N];
	struct aiocb *l[N];
	struct sigevent lsig;
	struct sigaction sa;
	volatile int i, ret;
	int k;
	long t0;

	jump_fd = t_tmpfile(N * 4096, 0);
	for (k = 0; k < N; k++)
		ck_assert_int_eq(pread(jump_fd, buf[k], 4096, k * 4096), 4096);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = jump_handler;
	ck_assert_int_eq(sigaction(SIGRTMIN + 3, &sa, NULL), 0);
	atomic_store(&list_notes, 0);
	for (i = 0; i < 3; i++) {
		if (sigsetjmp(jump_back, 1) == 0) {
			for (k = 0; k < N; k++) {
				t_prep(&cb[k], jump_fd, buf[k], 4096,
				       (off_t)k * 4096);
				cb[k].aio_lio_opcode = LIO_READ;
				l[k] = &cb[k];
			}
			/* One signal, to this thread: the list's
			 * notification thread must not take it. */
			cb[N - 1].aio_sigevent.sigev_notify = SIGEV_THREAD_ID;
			cb[N - 1].aio_sigevent.sigev_signo = SIGRTMIN + 3;
			cb[N - 1].aio_sigevent._sigev_un._tid =
				(pid_t)syscall(SYS_gettid);
			memset(&lsig, 0, sizeof(lsig));
			lsig.sigev_notify = SIGEV_THREAD;
			lsig.sigev_notify_function = list_note;
			/* As above: the signal may come before pause(). */
			ret = 0;
			ret = lio_listio(LIO_NOWAIT, l, N, &lsig);
			for (;;)
				pause();
		}
		ck_assert_int_eq(ret, 0);
		for (k = 0; k < N; k++)
			ck_assert_int_eq(t_wait(&cb[k], 5000), 0);
		for (k = 0; k < N; k++)
			ck_assert_int_eq(aio_return(&cb[k]), 4096);
	}
	for (t0 = t_ms(); atomic_load(&list_notes) < 3 && t_ms() - t0 < 5000;)
		usleep(1000);
	ck_assert_msg(atomic_load(&list_notes) == 3, "%d of 3 lists' "
		      "notifications came", atomic_load(&list_notes));
	other_thread_reads();
	close(jump_fd);
}
END_TEST

static atomic_int in_handler;
static sem_t handler_go;

static void waiting_handler(int sig)
{
	struct timespec dl;

	(void)sig;
	atomic_store(&in_handler, 1);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	while (sem_timedwait(&handler_go, &dl) < 0 && errno == EINTR)
		;
}

static void *handler_thread(void *arg)
{
	static char buf[4096];
	struct aiocb cb;
	sigset_t m;

	(void)arg;
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 3);
	pthread_sigmask(SIG_UNBLOCK, &m, NULL);
	t_prep(&cb, jump_fd, buf, sizeof(buf), 0);
	cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb.aio_sigevent.sigev_signo = SIGRTMIN + 3;
	if (aio_read(&cb) == 0)
		t_wait(&cb, 10000);
	aio_return(&cb);
	return NULL;
}

START_TEST(sigev_signal_handler_waits_in_caller)
{
	static char buf[4096];
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	struct sigaction sa;
	sigset_t m;
	pthread_t t;
	long t0;
	int i;

	jump_fd = t_tmpfile(4096, 0);
	ck_assert_int_eq(sem_init(&handler_go, 0, 0), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = waiting_handler;
	ck_assert_int_eq(sigaction(SIGRTMIN + 3, &sa, NULL), 0);
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 3);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	t_prep(&cb, jump_fd, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, handler_thread, NULL), 0);
	for (i = 0; i < 5000 && !atomic_load(&in_handler); i++)
		usleep(1000);
	ck_assert(atomic_load(&in_handler));
	t0 = t_ms();
	ck_assert_int_eq(aio_suspend(l, 1, NULL), 0);
	ck_assert_msg(t_ms() - t0 < 2000, "aio_suspend() on a done request "
		      "waited %ld ms for another thread's handler",
		      t_ms() - t0);
	sem_post(&handler_go);
	pthread_join(t, NULL);
	ck_assert_int_eq(aio_return(&cb), 4096);
	close(jump_fd);
}
END_TEST

/* Do cached reads complete inside aio_read() under this configuration? */
static int caller_completes(void)
{
	const char *b = getenv("KAIO_BACKEND"), *nw = getenv("KAIO_NOWAIT");

	return (!b || !strcmp(b, "auto") || !strcmp(b, "threads")) &&
	       !(nw && !strcmp(nw, "0"));
}

/*
 * A notified request entered into a ring whose reaper thread sleeps with
 * a timeout (the application reaped the ring in the last 10 ms, and what
 * is in flight there has no notification): its notification must not
 * wait for that timeout.  Before, the reaper was woken only when the ring
 * had been empty, so the signal came 0-10 ms late (the file server's
 * second queue: 91 of 200 waits took 8 ms or more).  Under
 * KAIO_BACKEND=uring, where a cached read goes into the thread's ring:
 * an aio_fsync() without notification of 32 MiB written just before
 * stays in flight meanwhile.
 */
START_TEST(sigev_urgent_behind_quiet)
{
	enum { ROUNDS = 12, BIG = 32 << 20 };
	const char *m = getenv("KAIO_BACKEND");
	struct aiocb fs, rd, *l[1] = { &rd };
	struct timespec ts = { 5, 0 };
	char *big, buf[512];
	sigset_t set, old;
	long t0, lat, late = 0, valid = 0;
	int fd, r, sig = SIGRTMIN + 4;

	if (!m || strcmp(m, "uring") || !t_uring_ok() || t_threaded_kernel()) {
		printf("SKIP: sigev_urgent_behind_quiet: only KAIO_BACKEND="
		       "uring enters a cached read into the thread's ring "
		       "(KAIO_BACKEND=%s)\n", m ? m : "");
		return;
	}
	fd = t_tmpfile(4096, 0);
	big = malloc(BIG);
	ck_assert_ptr_nonnull(big);
	memset(big, 'z', BIG);
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (r = 0; r < ROUNDS; r++) {
		ck_assert_int_eq(pwrite(fd, big, BIG, 4096), BIG);
		t_prep(&fs, fd, NULL, 0, 0);
		ck_assert_int_eq(aio_fsync(O_SYNC, &fs), 0);
		/* This thread reaps the ring: its reaper sleeps timed. */
		t_prep(&rd, fd, buf, sizeof(buf), 0);
		ck_assert_int_eq(aio_read(&rd), 0);
		ck_assert_int_eq(aio_suspend((const struct aiocb **)l, 1, &ts),
				 0);
		ck_assert_int_eq(aio_return(&rd), (ssize_t)sizeof(buf));
		/* The notified read. */
		t_prep(&rd, fd, buf, sizeof(buf), 0);
		rd.aio_sigevent.sigev_notify = SIGEV_THREAD_ID;
		rd.aio_sigevent.sigev_signo = sig;
		rd.aio_sigevent._sigev_un._tid = (pid_t)syscall(SYS_gettid);
		t0 = t_ms();
		ck_assert_int_eq(aio_read(&rd), 0);
		ck_assert_int_eq(sigtimedwait(&set, NULL, &ts), sig);
		lat = t_ms() - t0;
		if (aio_error(&fs) == EINPROGRESS) {	/* it was behind */
			valid++;
			late += lat >= 5;
		}
		ck_assert_int_eq(aio_return(&rd), (ssize_t)sizeof(buf));
		ck_assert_int_eq(t_wait(&fs, 20000), 0);
		ck_assert_int_eq(aio_return(&fs), 0);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(big);
	close(fd);
	if (valid < ROUNDS / 3) {
		printf("SKIP: sigev_urgent_behind_quiet: the fsync was done "
		       "before the read in %ld of %d rounds\n",
		       ROUNDS - valid, ROUNDS);
		return;
	}
	ck_assert_msg(late <= valid / 4, "%ld of %ld notifications came 5 ms "
		      "or more after the read", late, valid);
}
END_TEST

Suite *sigevent_suite(void)
{
	Suite *s = suite_create("sigevent");
	TCase *tc = t_tcase("kinds");

	tcase_add_test(tc, sigev_signal);
	tcase_add_test(tc, sigev_signal_zero);
	tcase_add_test(tc, sigev_signal_queue_full);
	tcase_add_test(tc, sigev_thread);
	tcase_add_test(tc, sigev_thread_attr);
	tcase_add_test(tc, sigev_thread_blocking);
	tcase_add_test(tc, sigev_thread_id);
	/*
	 * Where the signal comes from another thread, it must come where
	 * the library holds no lock: the library's handler holds it to the
	 * call's end.
	 */
	if (caller_completes() || t_handlers_behind_library()) {
		tcase_add_test(tc, sigev_signal_handler_jumps_out);
		tcase_add_test(tc, sigev_signal_list_handler_jumps_out);
	} else
		printf("SKIP: sigev_signal_handler_jumps_out, "
		       "sigev_signal_list_handler_jumps_out: cached reads do "
		       "not complete in the caller here, and the program's "
		       "handlers run in front of the library's, so the signal "
		       "comes from another thread, maybe while aio_read() "
		       "holds a lock: jumping out of it there is undefined\n");
	tcase_add_test(tc, sigev_signal_handler_waits_in_caller);
	tcase_add_test(tc, sigev_urgent_behind_quiet);
	suite_add_tcase(s, tc);
	return s;
}
