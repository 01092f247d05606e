/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signal handlers deferred while a thread reaps (src/sigdefer.c): the
 * wait costs no signal-mask system call, sigaction() and signal() report
 * what the program installed, and a signal that comes during a reap is
 * delivered once, with its siginfo, after it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stddef.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/userfaultfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

#define DBYTES	4096
#define DFILE	(256 * DBYTES)

static void on_usr(int sig)
{
	(void)sig;
}

static void on_usr_info(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
}

/* Is the wait here one of a kernel ring (io_uring's or native AIO's)? */
static int ring_waits(const char *name)
{
	const char *m = getenv("KAIO_BACKEND");

	if ((m && *m && strcmp(m, "kernel") && strcmp(m, "auto") &&
	     strcmp(m, "uring")) ||
	    (!(m && !strcmp(m, "kernel")) && !t_uring_ok()) ||
	    !t_direct_ok()) {
		printf("SKIP: %s: needs KAIO_BACKEND auto, uring or kernel, "
		       "io_uring for the first two, and O_DIRECT here "
		       "(KAIO_BACKEND=%s)\n", name, m ? m : "");
		return 0;
	}
	return 1;
}

/*
 * Requests served so far by a backend that waits in a kernel ring.  That
 * ring_waits() allows one is not that one serves: with io_setup() or
 * io_submit() refused (check-fallback.sh) every read goes to the pool,
 * whose waits mask nothing whether deferral works or not.
 */
static unsigned long ring_served(void)
{
	struct kaio_stats st;

	kaio_stats_get(&st, sizeof(st));
	return st.v[KAIO_STAT_URING] + st.v[KAIO_STAT_KERNEL];
}

/*
 * aio_suspend() that waits in a ring for an O_DIRECT read reaps it there,
 * and keeps the program's handlers out of that reap without blocking
 * every signal: no rt_sigprocmask pair per wait (two system calls of the
 * four of such a read, measured with fio at depth 1).  A handler is
 * installed, as fio installs its own.
 */
START_TEST(sigdefer_wait_masks_nothing)
{
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	long long n = 0;
	unsigned long ring0;
	char *buf;
	int fd, pfd, i, rounds = 200;

#ifdef T_TSAN
	printf("SKIP: sigdefer_wait_masks_nothing: under ThreadSanitizer, "
	       "which handles signals itself, the library masks\n");
	return;
#endif
	if (!ring_waits("sigdefer_wait_masks_nothing"))
		return;
	pfd = t_syscall_counter("rt_sigprocmask", 0);
	if (pfd < 0) {
		printf("SKIP: sigdefer_wait_masks_nothing: no tracepoint "
		       "syscalls:sys_enter_rt_sigprocmask here (%s)\n",
		       strerror(errno));
		return;
	}
	ck_assert_ptr_ne(signal(SIGUSR1, on_usr), SIG_ERR);
	fd = t_tmpfile(DFILE, O_DIRECT);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, DBYTES), 0);
	/* The first read sets up the ring and its reaper (they block
	 * signals while they start a thread): not counted. */
	ring0 = ring_served();
	t_prep(&cb, fd, buf, DBYTES, 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 10000), 0);
	ck_assert_int_eq(aio_return(&cb), DBYTES);
	if (ring_served() == ring0) {
		printf("SKIP: sigdefer_wait_masks_nothing: the read was not "
		       "served in a kernel ring (no uring or kernel count)\n");
		close(pfd);
		close(fd);
		free(buf);
		signal(SIGUSR1, SIG_DFL);
		return;
	}
	ioctl(pfd, PERF_EVENT_IOC_RESET, 0);
	ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0);
	for (i = 0; i < rounds; i++) {
		t_prep(&cb, fd, buf, DBYTES, (off_t)(i % 256) * DBYTES);
		ck_assert_int_eq(aio_read(&cb), 0);
		while (aio_error(&cb) == EINPROGRESS)
			if (aio_suspend(l, 1, NULL) && errno != EINTR)
				ck_abort_msg("aio_suspend: %s", strerror(errno));
		ck_assert_int_eq(aio_return(&cb), DBYTES);
		ck_assert(t_check_bytes(buf, (off_t)(i % 256) * DBYTES,
					DBYTES));
	}
	ioctl(pfd, PERF_EVENT_IOC_DISABLE, 0);
	ck_assert_int_eq(read(pfd, &n, sizeof(n)), (ssize_t)sizeof(n));
	/* Before sigdefer.c: 2 per round (400). */
	ck_assert_msg(n <= rounds / 10,
		      "%lld rt_sigprocmask calls in %d waits", n, rounds);
	close(pfd);
	close(fd);
	free(buf);
	signal(SIGUSR1, SIG_DFL);
}
END_TEST

/* sigaction(), signal() and sysv_signal() report what the program set,
 * never the library's handler in front of it. */
START_TEST(sigdefer_sigaction_reports_program)
{
	struct sigaction sa, old;

#ifdef T_TSAN
	printf("SKIP: sigdefer_sigaction_reports_program: a ThreadSanitizer "
	       "build has no wrappers (src/sigdefer.c), and ThreadSanitizer's "
	       "own report its handler to glibc's sysv_signal()\n");
	return;
#endif
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr_info;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGHUP);
	ck_assert_int_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	memset(&old, 0, sizeof(old));
	ck_assert_int_eq(sigaction(SIGUSR2, NULL, &old), 0);
	ck_assert_ptr_eq((void *)old.sa_sigaction, (void *)on_usr_info);
	ck_assert(old.sa_flags & SA_SIGINFO);
	ck_assert(old.sa_flags & SA_RESTART);
	ck_assert(sigismember(&old.sa_mask, SIGHUP));
	ck_assert(!sigismember(&old.sa_mask, SIGINT));

	ck_assert_ptr_eq((void *)signal(SIGUSR2, on_usr),
			 (void *)on_usr_info);
	ck_assert_int_eq(sigaction(SIGUSR2, NULL, &old), 0);
	ck_assert_ptr_eq((void *)old.sa_handler, (void *)on_usr);
	ck_assert(!(old.sa_flags & SA_SIGINFO));
	ck_assert(old.sa_flags & SA_RESTART);	/* glibc's signal(): BSD */

	ck_assert_ptr_eq((void *)sysv_signal(SIGUSR2, on_usr),
			 (void *)on_usr);
	ck_assert_int_eq(sigaction(SIGUSR2, NULL, &old), 0);
	ck_assert(old.sa_flags & SA_RESETHAND);
	ck_assert(old.sa_flags & SA_NODEFER);
	ck_assert(!(old.sa_flags & SA_SIGINFO));

	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	ck_assert_int_eq(sigaction(SIGUSR2, &sa, &old), 0);
	ck_assert_ptr_eq((void *)old.sa_handler, (void *)on_usr);
	ck_assert_ptr_eq((void *)signal(SIGUSR2, SIG_IGN), (void *)SIG_DFL);
	ck_assert_ptr_eq((void *)signal(SIGUSR2, SIG_DFL), (void *)SIG_IGN);
	/* Refused as glibc refuses. */
	errno = 0;
	ck_assert_int_eq(sigaction(SIGKILL, &sa, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_eq((void *)signal(0, on_usr), (void *)SIG_ERR);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(sigaction(65, NULL, &old), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static atomic_int once_runs;

static void on_once(int sig)
{
	(void)sig;
	atomic_fetch_add(&once_runs, 1);
}

/* SA_RESETHAND: the handler runs once, then the default is back. */
START_TEST(sigdefer_resethand_once)
{
	struct sigaction sa, old;

	atomic_store(&once_runs, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_once;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	ck_assert_int_eq(raise(SIGUSR2), 0);
	ck_assert_int_eq(atomic_load(&once_runs), 1);
	ck_assert_int_eq(sigaction(SIGUSR2, NULL, &old), 0);
	ck_assert_ptr_eq((void *)old.sa_handler, (void *)SIG_DFL);
	ck_assert_ptr_ne((void *)sysv_signal(SIGUSR2, on_once), SIG_ERR);
	ck_assert_int_eq(raise(SIGUSR2), 0);
	ck_assert_int_eq(atomic_load(&once_runs), 2);
	ck_assert_ptr_eq((void *)signal(SIGUSR2, SIG_DFL), (void *)SIG_DFL);
}
END_TEST

/*
 * Real-time signals sent to a thread while it reads and waits in its
 * ring, many of them during a reap (deferred there): each is handled
 * once, with its value; none is lost or doubled, every read completes.
 * SA_NODEFER: the library must block the signal itself while deferring
 * it (else the queued copy comes back at once, without end).  Sent 16
 * ahead at most.
 */
#define NSIG_SENT	3000

static atomic_long rt_runs, rt_sum;

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	atomic_fetch_add(&rt_runs, 1);
	atomic_fetch_add(&rt_sum, si->si_value.sival_int);
}

struct reader {
	int fd;
	atomic_int tid;
	atomic_int done;
	atomic_int stop;
	long rounds;
	int hup;	/* SIGHUP blocked all along, and still at the end */
	const char *err;
	char msg[96];
};

static void *read_rounds(void *arg)
{
	struct reader *rd = arg;
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	char *buf;
	off_t off;

	if (posix_memalign((void **)&buf, 4096, DBYTES)) {
		rd->err = "no memory";
		atomic_store(&rd->done, 1);
		return NULL;
	}
	if (rd->hup) {
		sigset_t hup;

		sigemptyset(&hup);
		sigaddset(&hup, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &hup, NULL);
	}
	/* One read before the signals: io_uring may hand the ring's first
	 * read to an io-wq worker it starts then, and the kernel does not
	 * start one while the submitter has a signal pending (the read ends
	 * with ECANCELED, kaio_backends(7)). */
	t_prep(&cb, rd->fd, buf, DBYTES, 0);
	if (aio_read(&cb) || t_wait(&cb, 10000) || aio_return(&cb) != DBYTES)
		rd->err = "the first read failed";
	atomic_store(&rd->tid, (int)syscall(SYS_gettid));
	while (!atomic_load(&rd->stop) && !rd->err) {
		off = (off_t)(rd->rounds % 256) * DBYTES;
		t_prep(&cb, rd->fd, buf, DBYTES, off);
		if (aio_read(&cb)) {
			rd->err = "aio_read() refused a read";
			break;
		}
		while (aio_error(&cb) == EINPROGRESS)
			if (aio_suspend(l, 1, NULL) && errno != EINTR) {
				snprintf(rd->msg, sizeof(rd->msg),
					 "aio_suspend(): %s", strerror(errno));
				rd->err = rd->msg;
				break;
			}
		if (!rd->err && (aio_return(&cb) != DBYTES ||
				 !t_check_bytes(buf, off, DBYTES))) {
			snprintf(rd->msg, sizeof(rd->msg), "read %ld: "
				 "aio_error %d, aio_return %zd", rd->rounds,
				 aio_error(&cb), aio_return(&cb));
			rd->err = rd->msg;
		}
		__atomic_store_n(&rd->rounds, rd->rounds + 1,
				 __ATOMIC_RELAXED);
	}
	if (rd->hup && !rd->err) {
		sigset_t now;

		pthread_sigmask(SIG_BLOCK, NULL, &now);
		if (!sigismember(&now, SIGHUP))
			rd->err = "SIGHUP is no longer blocked";
	}
	free(buf);
	atomic_store(&rd->done, 1);
	return NULL;
}

START_TEST(sigdefer_rt_signals_once_each)
{
	struct reader rd;
	struct sigaction sa;
	pthread_t th;
	union sigval v;
	long want = 0, t0;
	long long n = 0;
	unsigned long ring0;
	int i, pfd, sig = SIGRTMIN + 3;

#ifdef T_TSAN
	printf("SKIP: sigdefer_rt_signals_once_each: ThreadSanitizer delivers "
	       "the program's handlers itself, and keeps one pending signal "
	       "of a number (real-time ones too)\n");
	return;
#endif
	if (!ring_waits("sigdefer_rt_signals_once_each"))
		return;
	memset(&rd, 0, sizeof(rd));
	rd.fd = t_tmpfile(DFILE, O_DIRECT);
	ck_assert_int_ge(rd.fd, 0);
	atomic_store(&rt_runs, 0);
	atomic_store(&rt_sum, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
	ring0 = ring_served();
	ck_assert_int_eq(pthread_create(&th, NULL, read_rounds, &rd), 0);
	while (!atomic_load(&rd.tid) && !atomic_load(&rd.done))
		usleep(100);
	/* The reader's own queueing: the library's, of what it defers. */
	pfd = t_syscall_counter("rt_tgsigqueueinfo", atomic_load(&rd.tid));
	if (pfd >= 0)
		ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0);
	for (i = 1; i <= NSIG_SENT && !atomic_load(&rd.done); i++) {
		v.sival_int = i;
		while (pthread_sigqueue(th, sig, v) == EAGAIN)
			usleep(100);
		want += i;
		/* At most 16 pending: with SA_NODEFER the kernel nests
		 * the handlers of all that are pending, one frame each. */
		t0 = t_now_ms();
		while (atomic_load(&rt_runs) < i - 16 &&
		       !atomic_load(&rd.done) && t_now_ms() - t0 < 10000)
			usleep(20);
	}
	t0 = t_now_ms();
	while (atomic_load(&rt_runs) < NSIG_SENT && t_now_ms() - t0 < 10000)
		usleep(1000);
	atomic_store(&rd.stop, 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(!rd.err, "%s", rd.err ? rd.err : "");
	ck_assert_int_gt(rd.rounds, 0);
	ck_assert_int_eq(atomic_load(&rt_runs), NSIG_SENT);
	ck_assert_int_eq(atomic_load(&rt_sum), want);
	if (pfd >= 0 && ring_served() == ring0) {
		printf("SKIP: sigdefer_rt_signals_once_each: no read was "
		       "served in a kernel ring: the count of signals held "
		       "back is not checked\n");
		close(pfd);
	} else if (pfd >= 0) {
		/* Each signal held back at most once (before keep(), an
		 * outer frame let the inner ones' in again: 16 times). */
		ck_assert_int_eq(read(pfd, &n, sizeof(n)), (ssize_t)sizeof(n));
		ck_assert_msg(n <= NSIG_SENT, "%lld signals queued again for "
			      "%d sent", n, NSIG_SENT);
		if (getenv("KAIO_TEST_VERBOSE"))
			printf("sigdefer_rt_signals_once_each: %lld of %d "
			       "held back\n", n, NSIG_SENT);
		close(pfd);
	} else {
		printf("SKIP: sigdefer_rt_signals_once_each: no tracepoint "
		       "syscalls:sys_enter_rt_tgsigqueueinfo here: the count "
		       "of signals held back is not checked\n");
	}
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	sigaction(sig, &sa, NULL);
	close(rd.fd);
}
END_TEST

/*
 * Start rd's thread (read_rounds()), send it the values 1..n of sig (a
 * pause after every fourth), and wait up to 10 s for *runs to reach n;
 * then stop and join it, and check that its reads went well.
 */
static void stream_to_reader(struct reader *rd, int sig, int n,
			     atomic_int *runs)
{
	pthread_t th;
	union sigval v;
	long t0;
	int i;

	ck_assert_int_eq(pthread_create(&th, NULL, read_rounds, rd), 0);
	while (!atomic_load(&rd->tid) && !atomic_load(&rd->done))
		usleep(100);
	for (i = 1; i <= n && !atomic_load(&rd->done); i++) {
		v.sival_int = i;
		while (pthread_sigqueue(th, sig, v) == EAGAIN)
			usleep(100);
		if (i % 4 == 0)
			usleep(20);
	}
	t0 = t_now_ms();
	while (atomic_load(runs) < n && t_now_ms() - t0 < 10000)
		usleep(1000);
	atomic_store(&rd->stop, 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(!rd->err, "%s", rd->err ? rd->err : "");
}

/*
 * Real-time signals of one number sent to a thread that reads and waits
 * in the library come in the order sent, as the kernel queues them.  A
 * copy the library held back and queued again went behind the copies of
 * its number already pending: 4,300-4,800 of 20,000 came out of order
 * (an outside tester's program), 660-1,100 of 6,000 here.
 */
#define NORDER	6000

static atomic_int ord_runs, ord_bad, ord_last, ord_masked;

static void on_ordered(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	/* The mask it returns to, as the kernel's frame has it: without
	 * the signal itself (a handler may restore it and jump out). */
	if (sigismember(&uc->uc_sigmask, sig))
		atomic_fetch_add(&ord_masked, 1);
	if (si->si_value.sival_int < atomic_load(&ord_last))
		atomic_fetch_add(&ord_bad, 1);
	atomic_store(&ord_last, si->si_value.sival_int);
	atomic_fetch_add(&ord_runs, 1);
}

START_TEST(sigdefer_rt_signals_in_order)
{
	struct reader rd;
	struct sigaction sa;
	int sig = SIGRTMIN + 4;

#ifdef T_TSAN
	printf("SKIP: sigdefer_rt_signals_in_order: ThreadSanitizer delivers "
	       "the program's handlers itself, and keeps one pending signal "
	       "of a number\n");
	return;
#endif
	memset(&rd, 0, sizeof(rd));
	rd.fd = t_tmpfile(DFILE, 0);
	ck_assert_int_ge(rd.fd, 0);
	atomic_store(&ord_runs, 0);
	atomic_store(&ord_bad, 0);
	atomic_store(&ord_last, 0);
	atomic_store(&ord_masked, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_ordered;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
	stream_to_reader(&rd, sig, NORDER, &ord_runs);
	ck_assert_int_eq(atomic_load(&ord_runs), NORDER);
	ck_assert_msg(atomic_load(&ord_bad) == 0, "%d of %d signals came "
		      "after a later one", atomic_load(&ord_bad), NORDER);
	ck_assert_msg(atomic_load(&ord_masked) == 0, "%d handlers' ucontext "
		      "masked their own signal", atomic_load(&ord_masked));
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	sigaction(sig, &sa, NULL);
	close(rd.fd);
}
END_TEST

/*
 * A thread that blocks SIGHUP gets signals whose handler blocks another
 * number (sa_mask) while it runs; the ones caught in the library are
 * kept and run at the call's end.  SIGHUP stays blocked: a draft marked
 * "mask changed" in bit 0 of the saved mask, which is SIGHUP's, and
 * cleared it as it put the mask back.
 */
#define NHUP	3000

static atomic_int hup_runs, hup_open;

static void on_hup_kept(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	(void)si;
	if (!sigismember(&uc->uc_sigmask, SIGHUP))
		atomic_fetch_add(&hup_open, 1);
	atomic_fetch_add(&hup_runs, 1);
}

START_TEST(sigdefer_kept_handler_keeps_mask)
{
	struct reader rd;
	struct sigaction sa;
	int sig = SIGRTMIN + 4;

#ifdef T_TSAN
	printf("SKIP: sigdefer_kept_handler_keeps_mask: ThreadSanitizer "
	       "delivers the program's handlers itself\n");
	return;
#endif
	memset(&rd, 0, sizeof(rd));
	rd.hup = 1;
	rd.fd = t_tmpfile(DFILE, 0);
	ck_assert_int_ge(rd.fd, 0);
	atomic_store(&hup_runs, 0);
	atomic_store(&hup_open, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_hup_kept;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaddset(&sa.sa_mask, SIGUSR2);
	ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
	stream_to_reader(&rd, sig, NHUP, &hup_runs);
	ck_assert_int_eq(atomic_load(&hup_runs), NHUP);
	ck_assert_msg(atomic_load(&hup_open) == 0, "%d of %d handlers ran "
		      "with SIGHUP unblocked", atomic_load(&hup_open), NHUP);
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	close(rd.fd);
}
END_TEST

/*
 * Two real-time numbers sent in turn, the lower first, to a thread
 * looping in the library's calls; their handler blocks every signal.
 * The kernel runs the lower first (both pending: the lowest number comes
 * first; one pending: it was sent first), and so must the library.  The
 * higher number, not held back, ran first if it came after the lower was
 * kept and before its handler began: while a kept handler's sa_mask was
 * not yet blocked (26-44 of 150,000 pairs before 811e1b2, in an outside
 * tester's program), or between a call giving its depth back and letting
 * the ring in (10-49 of 40,000 beside another busy test, keep_behind()),
 * or while a kept handler's number stayed blocked after it returned, until
 * the library had let every kept one in (3 of 40,000 in CI, uring).
 * At most NPAIR pairs or PAIR_MS of sending, whichever ends first: a
 * slow machine (User-Mode Linux) sends fewer within Check's timeout.
 */
#define NPAIR	40000
#define PAIR_MS	8000

static atomic_int pair_seq, pair_pos[2];
static atomic_int pair_val[2];

static void on_pair(int sig, siginfo_t *si, void *uc)
{
	int k = sig == SIGRTMIN + 2 ? 0 : 1;

	(void)uc;
	atomic_store(&pair_pos[k], atomic_fetch_add(&pair_seq, 1) + 1);
	atomic_store(&pair_val[k], si->si_value.sival_int);
}

START_TEST(sigdefer_two_numbers_in_turn)
{
	struct reader rd;
	struct sigaction sa;
	pthread_t th;
	union sigval v;
	long t0, start;
	int i, k, swapped = 0, late = 0;

#ifdef T_TSAN
	printf("SKIP: sigdefer_two_numbers_in_turn: ThreadSanitizer "
	       "delivers the program's handlers itself\n");
	return;
#endif
	memset(&rd, 0, sizeof(rd));
	rd.fd = t_tmpfile(DFILE, 0);
	ck_assert_int_ge(rd.fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_pair;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGRTMIN + 2, &sa, NULL), 0);
	ck_assert_int_eq(sigaction(SIGRTMIN + 5, &sa, NULL), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, read_rounds, &rd), 0);
	while (!atomic_load(&rd.tid) && !atomic_load(&rd.done))
		usleep(100);
	start = t_now_ms();
	for (i = 1; i <= NPAIR && !atomic_load(&rd.done) &&
	     t_now_ms() - start < PAIR_MS; i++) {
		for (k = 0; k < 2; k++) {
			v.sival_int = i;
			while (pthread_sigqueue(th, k ? SIGRTMIN + 5 :
						SIGRTMIN + 2, v) == EAGAIN)
				usleep(100);
		}
		t0 = t_now_ms();
		while ((atomic_load(&pair_val[0]) != i ||
			atomic_load(&pair_val[1]) != i) &&
		       t_now_ms() - t0 < 2000)
			sched_yield();
		if (atomic_load(&pair_val[0]) != i ||
		    atomic_load(&pair_val[1]) != i) {
			late++;
			break;
		}
		if (atomic_load(&pair_pos[1]) < atomic_load(&pair_pos[0]))
			swapped++;
	}
	atomic_store(&rd.stop, 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(!rd.err, "%s", rd.err ? rd.err : "");
	ck_assert_msg(!late, "pair %d: a signal not handled within 2 s", i);
	printf("sigdefer_two_numbers_in_turn: %d of %d pairs swapped in "
	       "%ld ms\n", swapped, i - 1, t_now_ms() - start);
	/* No window is known since 068e564 (0 in 12 loaded runs); 2
	 * leave room for one not yet found, not for the ones above. */
	ck_assert_msg(i > 100, "only %d pairs in %d ms", i - 1, PAIR_MS);
	ck_assert_msg(swapped <= 2, "%d of %d pairs: the higher number's "
		      "handler ran first", swapped, i - 1);
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN + 2, &sa, NULL);
	sigaction(SIGRTMIN + 5, &sa, NULL);
	close(rd.fd);
}
END_TEST

/*
 * Bursts of seven numbers (three standard, four real-time with values)
 * sent to a thread that loops in lio_listio(LIO_NOWAIT) and aio_error()
 * over cached reads, which complete with SIGEV_THREAD_ID signals of an
 * eighth number: more numbers held back at once than the library keeps
 * (the rest are queued again), beside completion signals it sends
 * itself.  Each signal comes once, the real-time ones in order.  A
 * draft that let kept signals in from a handler outside calls left
 * numbers blocked for good here: the test timed out under auto and
 * uring (an outside reviewer's program).
 */
#define NBURST	500
#define NMANY	7

static int many_sig[NMANY];
static atomic_int many_runs[NMANY], many_bad, many_last[NMANY];
static atomic_int many_got;

static void on_many(int sig, siginfo_t *si, void *uc)
{
	int i;

	(void)uc;
	for (i = 0; i < NMANY; i++)
		if (many_sig[i] == sig)
			break;
	if (i == NMANY)
		return;
	if (sig >= SIGRTMIN) {
		if (si->si_value.sival_int < atomic_load(&many_last[i]))
			atomic_fetch_add(&many_bad, 1);
		atomic_store(&many_last[i], si->si_value.sival_int);
	}
	atomic_fetch_add(&many_runs[i], 1);
}

static void on_many_done(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	atomic_fetch_add(&many_got, 1);
}

static pthread_t many_target;
static atomic_int many_stop;

static void *many_sender(void *arg)
{
	union sigval v;
	sigset_t all;
	long t0;
	int b, i;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (b = 1; b <= NBURST; b++) {
		for (i = 0; i < NMANY; i++) {
			v.sival_int = b;
			if (many_sig[i] < SIGRTMIN)
				pthread_kill(many_target, many_sig[i]);
			else
				while (pthread_sigqueue(many_target,
							many_sig[i], v) ==
				       EAGAIN)
					usleep(100);
		}
		/* Each burst handled before the next: the standard ones
		 * would merge with their pending copies. */
		for (t0 = t_now_ms(), i = 0; i < NMANY &&
		     t_now_ms() - t0 < 2000;)
			if (atomic_load(&many_runs[i]) >= b)
				i++;
			else
				sched_yield();
	}
	atomic_store(&many_stop, 1);
	return NULL;
}

START_TEST(sigdefer_many_numbers_once_each)
{
	enum { NR = 8 };
	static char buf[NR][4096];
	static struct aiocb cb[NR];
	struct aiocb *l[NR];
	struct sigaction sa;
	pthread_t th;
	long sent = 0, t0;
	int fd, i, k, e, done_sig = SIGRTMIN + 5;

#ifdef T_TSAN
	printf("SKIP: sigdefer_many_numbers_once_each: ThreadSanitizer "
	       "delivers the program's handlers itself\n");
	return;
#endif
	many_sig[0] = SIGUSR1;
	many_sig[1] = SIGRTMIN;
	many_sig[2] = SIGUSR2;
	many_sig[3] = SIGRTMIN + 1;
	many_sig[4] = SIGHUP;
	many_sig[5] = SIGRTMIN + 2;
	many_sig[6] = SIGRTMIN + 3;
	fd = t_tmpfile(NR * 4096, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_many;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	for (i = 0; i < NMANY; i++)
		ck_assert_int_eq(sigaction(many_sig[i], &sa, NULL), 0);
	sa.sa_sigaction = on_many_done;
	ck_assert_int_eq(sigaction(done_sig, &sa, NULL), 0);
	many_target = pthread_self();
	ck_assert_int_eq(pthread_create(&th, NULL, many_sender, NULL), 0);
	while (!atomic_load(&many_stop)) {
		memset(cb, 0, sizeof(cb));
		for (k = 0; k < NR; k++) {
			t_prep(&cb[k], fd, buf[k], 4096, (off_t)k * 4096);
			cb[k].aio_lio_opcode = LIO_READ;
			cb[k].aio_sigevent.sigev_notify = SIGEV_THREAD_ID;
			cb[k].aio_sigevent._sigev_un._tid =
				(pid_t)syscall(SYS_gettid);
			cb[k].aio_sigevent.sigev_signo = done_sig;
			l[k] = &cb[k];
		}
		if (lio_listio(LIO_NOWAIT, l, NR, NULL)) {
			ck_assert(errno == EAGAIN || errno == EINTR);
			continue;
		}
		sent += NR;
		for (k = 0; k < NR; k++) {
			while ((e = aio_error(&cb[k])) == EINPROGRESS)
				;
			ck_assert_int_eq(e, 0);
			ck_assert_int_eq(aio_return(&cb[k]), 4096);
		}
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	for (t0 = t_now_ms(); atomic_load(&many_got) < sent &&
	     t_now_ms() - t0 < 5000;)
		usleep(1000);
	for (i = 0; i < NMANY; i++)
		ck_assert_msg(atomic_load(&many_runs[i]) == NBURST,
			      "signal %d handled %d times of %d", many_sig[i],
			      atomic_load(&many_runs[i]), NBURST);
	ck_assert_msg(atomic_load(&many_bad) == 0, "%d real-time signals "
		      "came after a later one", atomic_load(&many_bad));
	ck_assert_msg(atomic_load(&many_got) == sent, "%d of %ld completion "
		      "signals came", atomic_load(&many_got), sent);
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	for (i = 0; i < NMANY; i++)
		sigaction(many_sig[i], &sa, NULL);
	sigaction(done_sig, &sa, NULL);
	close(fd);
}
END_TEST

/* The kernel's view of an action (rt_sigaction(2)), as a raw call reads it. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

static atomic_int raw_runs;

static void on_raw(int sig)
{
	(void)sig;
	atomic_fetch_add(&raw_runs, 1);
}

/*
 * A program that reads a handler with the raw system call (it sees the
 * library's) and puts it back with sigaction(): its own handler stays,
 * and runs once per signal.  Before: the library's handler stood behind
 * itself and called itself until the stack ran out.
 */
START_TEST(sigdefer_raw_handler_put_back)
{
	struct ksigaction k;
	struct sigaction sa, old;

#ifdef T_TSAN
	printf("SKIP: sigdefer_raw_handler_put_back: a ThreadSanitizer build "
	       "has no wrappers (src/sigdefer.c)\n");
	return;
#endif
	atomic_store(&raw_runs, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_raw;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	ck_assert_int_eq(syscall(SYS_rt_sigaction, SIGUSR1, NULL, &k, 8), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = (void (*)(int, siginfo_t *, void *))k.handler;
	sa.sa_flags = (int)(k.flags & ~0x04000000UL);	/* SA_RESTORER */
	memcpy(&sa.sa_mask, &k.mask, sizeof(k.mask));
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	ck_assert_int_eq(raise(SIGUSR1), 0);
	ck_assert_int_eq(atomic_load(&raw_runs), 1);
	ck_assert_int_eq(sigaction(SIGUSR1, NULL, &old), 0);
	ck_assert_ptr_eq((void *)old.sa_handler, (void *)on_raw);
	ck_assert_ptr_ne((void *)signal(SIGUSR1, SIG_DFL), SIG_ERR);
}
END_TEST

static atomic_int info_ok, info_runs;

/* Installed with signal(): no SA_SIGINFO, but on x86_64 the kernel passes
 * siginfo and ucontext all the same, and some programs read them. */
static void on_plain_info(int sig, siginfo_t *si, void *uc)
{
	atomic_fetch_add(&info_runs, 1);
	if (si && uc && si->si_signo == sig && si->si_code == SI_QUEUE &&
	    si->si_value.sival_int == 4242)
		atomic_fetch_add(&info_ok, 1);
}

START_TEST(sigdefer_plain_handler_gets_siginfo)
{
#if !defined(__x86_64__)
	printf("SKIP: sigdefer_plain_handler_gets_siginfo: only x86_64's "
	       "kernel passes siginfo to every handler\n");
	return;
#endif
	atomic_store(&info_ok, 0);
	atomic_store(&info_runs, 0);
	ck_assert_ptr_ne((void *)signal(SIGUSR1, (sighandler_t)(void *)
					on_plain_info), SIG_ERR);
	ck_assert_int_eq(sigqueue(getpid(), SIGUSR1,
				  (union sigval){ .sival_int = 4242 }), 0);
	ck_assert_int_eq(atomic_load(&info_runs), 1);
	ck_assert_int_eq(atomic_load(&info_ok), 1);
	ck_assert_ptr_ne((void *)signal(SIGUSR1, SIG_DFL), SIG_ERR);
}
END_TEST

static atomic_int flip_stop;

static void *flip(void *arg)
{
	struct sigaction sa;
	int i = 0;

	(void)arg;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	while (!atomic_load(&flip_stop)) {
		sa.sa_handler = i++ & 1 ? on_usr : on_once;
		sigaction(SIGUSR2, &sa, NULL);
	}
	return NULL;
}

/*
 * fork() while another thread installs handlers: the child's sigaction()
 * returns.  Before: a writer the fork caught midway left its slot's
 * sequence odd in the child, whose every look at that signal spun for
 * ever (caught here by alarm()).  The window is a few nanoseconds of
 * each write: up to 3000 forks (4 s at most) catch it only now and then.
 */
START_TEST(sigdefer_fork_midway_writer)
{
	pthread_t t;
	struct sigaction old;
	int i, status, hung = 0;
	time_t t0;
	pid_t pid;

	atomic_store(&flip_stop, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, flip, NULL), 0);
	t0 = time(NULL);
	for (i = 0; i < 3000 && !hung && time(NULL) - t0 < 4; i++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			alarm(5);
			sigaction(SIGUSR2, NULL, &old);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		hung = !WIFEXITED(status);
	}
	atomic_store(&flip_stop, 1);
	pthread_join(t, NULL);
	signal(SIGUSR2, SIG_DFL);
	ck_assert_msg(!hung, "a fork child's sigaction() did not return "
		      "(fork %d)", i);
}
END_TEST

static atomic_int order[4], norder;

static void on_order(int sig)
{
	int i = atomic_fetch_add(&norder, 1);

	if (i < 4)
		atomic_store(&order[i], sig);
}

/*
 * The child of sigdefer_park_keeps_kernel_order: O_DIRECT reads, each
 * waited for in aio_suspend(), until killed; after each pair of signals,
 * one byte to out: 'k' (SIGUSR2's handler first, as the kernel ordered
 * them), 'x' (SIGUSR1's first), 'b' (one of them left blocked).
 */
static void park_order_child(int out, int fd)
{
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	sigset_t cur;
	char *buf, c;
	off_t off = 0;

	if (signal(SIGUSR1, on_order) == SIG_ERR ||
	    signal(SIGUSR2, on_order) == SIG_ERR ||
	    posix_memalign((void **)&buf, 4096, DBYTES))
		_exit(10);
	for (;;) {
		t_prep(&cb, fd, buf, DBYTES, off);
		off = (off + DBYTES) % DFILE;
		if (aio_read(&cb))
			_exit(11);
		while (aio_error(&cb) == EINPROGRESS)
			if (aio_suspend(l, 1, NULL) && errno != EINTR)
				_exit(12);
		if (aio_return(&cb) != DBYTES)
			_exit(13);
		if (atomic_load(&norder) < 2)
			continue;
		pthread_sigmask(SIG_BLOCK, NULL, &cur);
		c = atomic_load(&order[0]) == SIGUSR2 ? 'k' : 'x';
		if (sigismember(&cur, SIGUSR1) || sigismember(&cur, SIGUSR2))
			c = 'b';
		atomic_store(&norder, 0);
		if (write(out, &c, 1) != 1)
			_exit(14);
	}
}

/*
 * Two signals pending together as a wait in a ring ends: the kernel sets
 * up a frame for the first (SIGUSR1), then one for the second on top of
 * it, which runs first.  Both are held back (the one caught at the park
 * too: its wait ends with EINTR), and must come in as the kernel ordered
 * them, SIGUSR2's handler first, as glibc runs them.  When the park ran
 * SIGUSR1's handler at once, the held-back SIGUSR2 first waited for the
 * window to close, and ran after it.  The signals are made pending
 * together by sending them while the child, which reads and waits
 * without pause, is stopped; that it was stopped in the library is told
 * by its rt_tgsigqueueinfo() calls: both held back.  The order is checked
 * every time; up to 60 stops, until 5 were in the library.
 */
START_TEST(sigdefer_park_keeps_kernel_order)
{
	int res[2], fd, status, pfd, tries, parked = 0;
	struct pollfd p;
	long long n;
	pid_t pid;
	char c;

#ifdef T_TSAN
	printf("SKIP: sigdefer_park_keeps_kernel_order: ThreadSanitizer "
	       "delivers the program's handlers itself\n");
	return;
#endif
	if (!ring_waits("sigdefer_park_keeps_kernel_order"))
		return;
	fd = t_tmpfile(DFILE, O_DIRECT);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pipe(res), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(60);
		park_order_child(res[1], fd);
	}
	pfd = t_syscall_counter("rt_tgsigqueueinfo", pid);
	if (pfd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		printf("SKIP: sigdefer_park_keeps_kernel_order: no tracepoint "
		       "syscalls:sys_enter_rt_tgsigqueueinfo here\n");
		return;
	}
	usleep(50000);
	for (tries = 0; tries < 60 && parked < 5; tries++) {
		ioctl(pfd, PERF_EVENT_IOC_RESET, 0);
		ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0);
		ck_assert_int_eq(kill(pid, SIGSTOP), 0);
		ck_assert_int_eq(waitpid(pid, &status, WUNTRACED), pid);
		ck_assert(WIFSTOPPED(status));
		ck_assert_int_eq(syscall(SYS_tgkill, pid, pid, SIGUSR1), 0);
		ck_assert_int_eq(syscall(SYS_tgkill, pid, pid, SIGUSR2), 0);
		ck_assert_int_eq(kill(pid, SIGCONT), 0);
		p.fd = res[0];
		p.events = POLLIN;
		ck_assert_msg(poll(&p, 1, 10000) == 1, "no answer from the "
			      "child after stop %d", tries);
		ck_assert_int_eq(read(res[0], &c, 1), 1);
		ioctl(pfd, PERF_EVENT_IOC_DISABLE, 0);
		ck_assert_int_eq(read(pfd, &n, sizeof(n)), (ssize_t)sizeof(n));
		ck_assert_msg(c == 'k', "stop %d: %s (signals held back %lld "
			      "times)", tries, c == 'b' ? "a signal was left "
			      "blocked" : "SIGUSR1's handler ran first", n);
		parked += n == 2;
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(pfd);
	close(res[0]);
	close(res[1]);
	close(fd);
	if (!parked)
		printf("SKIP: sigdefer_park_keeps_kernel_order: none of %d "
		       "stops caught the reader in the library\n", tries);
}
END_TEST

static atomic_int refused_runs;

static void on_refused(int sig)
{
	(void)sig;
	atomic_fetch_add(&refused_runs, 1);
}

/* rt_tgsigqueueinfo() fails with EAGAIN in every thread of this process,
 * as it does for a real-time signal once RLIMIT_SIGPENDING is reached. */
static int refuse_requeue(void)
{
	return t_seccomp_refuse(EAGAIN, 0,
				(const int[]){ SYS_rt_tgsigqueueinfo }, 1);
}

/* rt_sigprocmask() calls per read of the reader, over 100 ms. */
static double masks_per_read(int pfd, struct reader *rd)
{
	long long n = 0;
	long r0 = __atomic_load_n(&rd->rounds, __ATOMIC_RELAXED), r1;

	ioctl(pfd, PERF_EVENT_IOC_RESET, 0);
	ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0);
	usleep(100000);
	ioctl(pfd, PERF_EVENT_IOC_DISABLE, 0);
	if (read(pfd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return -1;
	r1 = __atomic_load_n(&rd->rounds, __ATOMIC_RELAXED);
	return r1 > r0 ? (double)n / (double)(r1 - r0) : 0;
}

/*
 * The child of sigdefer_requeue_refused: signals one at a time to a thread
 * that reads and waits in its ring, until one came inside a window and
 * could not be queued again.  0: every signal ran its handler once, every
 * read completed, and the reader's waits mask from then on; 3: no signal
 * came in a window (not an error: the caller skips).
 */
static int refused_child(void)
{
	struct reader rd;
	pthread_t th;
	long t0;
	int i, pfd, sent = 0, masked = 0;

	if (refuse_requeue())
		return 4;
	if (signal(SIGUSR1, on_refused) == SIG_ERR)
		return 10;
	memset(&rd, 0, sizeof(rd));
	rd.fd = t_tmpfile(DFILE, O_DIRECT);
	if (rd.fd < 0 || pthread_create(&th, NULL, read_rounds, &rd))
		return 11;
	while (!atomic_load(&rd.tid) && !atomic_load(&rd.done))
		usleep(100);
	pfd = t_syscall_counter("rt_sigprocmask", atomic_load(&rd.tid));
	if (pfd < 0)
		return 5;
	/* Deferring: the reader's waits mask nothing. */
	if (masks_per_read(pfd, &rd) >= 1)
		return 6;
	t0 = t_now_ms();
	while (!masked && !atomic_load(&rd.done) && t_now_ms() - t0 < 8000) {
		for (i = 0; i < 50; i++) {
			syscall(SYS_tgkill, getpid(), atomic_load(&rd.tid),
				SIGUSR1);
			sent++;
			/* One at a time: SIGUSR1s pending together are one. */
			while (atomic_load(&refused_runs) < sent &&
			       t_now_ms() - t0 < 15000)
				sched_yield();
			if (atomic_load(&refused_runs) < sent)
				return 12;	/* lost */
			if (atomic_load(&refused_runs) > sent)
				return 16;	/* doubled */
		}
		/* Deferral off: the reader's every wait masks (two calls). */
		masked = masks_per_read(pfd, &rd) >= 1;
	}
	atomic_store(&rd.stop, 1);
	pthread_join(th, NULL);
	if (rd.err)
		return 14;
	if (atomic_load(&refused_runs) != sent)
		return 15;
	return masked ? 0 : 3;
}

/*
 * A signal held back in a window is queued again to its thread; where
 * that fails (RLIMIT_SIGPENDING, made to fail here with seccomp), its
 * handler runs at once, inside the window, and windows mask from then on.
 * Every signal runs its handler once, every read completes, nothing hangs.
 */
START_TEST(sigdefer_requeue_refused)
{
	int status;
	pid_t pid;

#ifdef T_TSAN
	printf("SKIP: sigdefer_requeue_refused: ThreadSanitizer delivers the "
	       "program's handlers itself\n");
	return;
#endif
	if (!ring_waits("sigdefer_requeue_refused"))
		return;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(30);
		_exit(refused_child());
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "the child died (status %#x)",
		      status);
	switch (WEXITSTATUS(status)) {
	case 3:
		printf("SKIP: sigdefer_requeue_refused: no signal came inside "
		       "a window in 8 s\n");
		return;
	case 4:
		printf("SKIP: sigdefer_requeue_refused: no seccomp filter "
		       "here\n");
		return;
	case 5:
		printf("SKIP: sigdefer_requeue_refused: no tracepoint "
		       "syscalls:sys_enter_rt_sigprocmask here\n");
		return;
	case 6:
		printf("SKIP: sigdefer_requeue_refused: the reader's waits "
		       "mask already (KAIO_SIGDEFER=0?)\n");
		return;
	}
	ck_assert_msg(WEXITSTATUS(status) == 0, "child: %d (12: a signal "
		      "lost, 14: a read failed, 16: a handler ran twice)",
		      WEXITSTATUS(status));
}
END_TEST

/*
 * Where waits mask signals (a handler installed behind the library's
 * back turns the deferral off), another request's completion signal that
 * the program ignores (SIG_IGN) comes while the waiter reaps in its ring
 * with every signal blocked, so the kernel queues it instead of dropping
 * it.  It must not end the wait: no handler ran.  sigpending() counted it
 * (an outside tester's EINTR), where pselect6() lets it in and sees it
 * dropped.  In a child: a is a long O_DIRECT read, b a short one with
 * the ignored signal, both in this thread's ring; the timed wait for a
 * must end with a done, never EINTR.
 */
static void no_handler(int sig)
{
	(void)sig;
}

static int ignored_child(void)
{
	enum { ABYTES = 8 << 20, ROUNDS = 30 };
	struct ksigaction k = { .handler = (void *)no_handler };
	struct timespec ts = { 10, 0 };
	struct aiocb a, b;
	const struct aiocb *l[1] = { &a };
	struct sigaction old;
	unsigned long ring0;
	long long masks = 0;
	char *abuf, *bbuf;
	int fd, pfd, i, r;

	signal(SIGRTMIN + 5, SIG_IGN);
	if (syscall(SYS_rt_sigaction, SIGUSR2, &k, NULL, 8) ||
	    sigaction(SIGUSR2, NULL, &old))	/* seen: windows mask */
		return 3;
	fd = t_tmpfile(ABYTES, O_DIRECT);
	if (fd < 0 || posix_memalign((void **)&abuf, 4096, ABYTES) ||
	    posix_memalign((void **)&bbuf, 4096, DBYTES))
		return 3;
	/* The ring's first read may start its io-wq worker (read_rounds()). */
	t_prep(&b, fd, bbuf, DBYTES, 0);
	if (aio_read(&b) || t_wait(&b, 10000) || aio_return(&b) != DBYTES)
		return 3;
	ring0 = ring_served();
	pfd = t_syscall_counter("rt_sigprocmask", 0);
	if (pfd >= 0)
		ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0);
	for (i = 0; i < ROUNDS; i++) {
		t_prep(&a, fd, abuf, ABYTES, 0);
		t_prep(&b, fd, bbuf, DBYTES, (off_t)(i + 1) * DBYTES);
		b.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
		b.aio_sigevent.sigev_signo = SIGRTMIN + 5;
		if (aio_read(&a) || aio_read(&b))
			return 3;
		while ((r = aio_error(&a)) == EINPROGRESS)
			if (aio_suspend(l, 1, &ts))
				return errno == EINTR ? 1 : 2;
		if (r || aio_return(&a) != ABYTES ||
		    t_wait(&b, 10000) || aio_return(&b) != DBYTES)
			return 3;
	}
	if (ring_served() - ring0 < 2 * ROUNDS)
		return 4;
	if (pfd >= 0) {
		ioctl(pfd, PERF_EVENT_IOC_DISABLE, 0);
		if (read(pfd, &masks, sizeof(masks)) != sizeof(masks))
			return 3;
		if (masks < ROUNDS)
			return 5;	/* the waits did not mask */
	}
	return 0;
}

START_TEST(sigdefer_masked_ignored_no_eintr)
{
	int status;
	pid_t pid;

#ifdef T_TSAN
	printf("SKIP: sigdefer_masked_ignored_no_eintr: a ThreadSanitizer "
	       "build has no wrappers (src/sigdefer.c)\n");
	return;
#endif
	if (!ring_waits("sigdefer_masked_ignored_no_eintr"))
		return;
	pid = t_fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(60);
		_exit(ignored_child());
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "the child died (%#x)", status);
	switch (WEXITSTATUS(status)) {
	case 4:
		printf("SKIP: sigdefer_masked_ignored_no_eintr: the reads were "
		       "not served in a kernel ring\n");
		return;
	case 5:
		printf("SKIP: sigdefer_masked_ignored_no_eintr: the waits did "
		       "not mask (no handler behind the library's back?)\n");
		return;
	}
	ck_assert_msg(WEXITSTATUS(status) == 0, "child: %d (1: aio_suspend() "
		      "failed with EINTR for an ignored signal, 2: it failed, "
		      "3: setup or a read failed)", WEXITSTATUS(status));
}
END_TEST

/*
 * An O_DIRECT read this thread entered into io_uring completes through
 * task work the kernel runs in this thread, waking it from whatever it
 * sleeps in: epoll_wait() and sigtimedwait(), which are never restarted,
 * failed with EINTR, 20 times out of 20 on a disk, where no signal came
 * (under glibc, never).  They must time out as without the library
 * (eintr.c), and a handler that does run must still end them with EINTR.
 */
static int eintr_setup(const char *name, int *fd, unsigned char **buf)
{
	if (!ring_waits(name))
		return 0;
	if (!t_ours("epoll_wait") || !t_ours("sigtimedwait") ||
	    !t_ours("sigaction")) {
		printf("SKIP: %s: epoll_wait(), sigtimedwait() or sigaction() "
		       "is not the library's first here\n", name);
		return 0;
	}
	*fd = t_tmpfile(1 << 20, O_DIRECT);
	ck_assert_int_ge(*fd, 0);
	ck_assert_int_eq(posix_memalign((void **)buf, 4096, 65536), 0);
	return 1;
}

static void eintr_read_start(struct aiocb *cb, int fd, unsigned char *buf,
			     int i)
{
	t_prep(cb, fd, buf, 65536, (off_t)(i % 16) * 65536);
	ck_assert_int_eq(aio_read(cb), 0);
}

static void eintr_read_end(struct aiocb *cb, int i)
{
	ck_assert_int_eq(t_wait(cb, 5000), 0);
	ck_assert_int_eq(aio_return(cb), 65536);
	ck_assert(t_check_bytes((void *)cb->aio_buf, (off_t)(i % 16) * 65536,
				65536));
}

/* The waits the retry covers: an empty epoll set, and SIGUSR2 blocked
 * for sigtimedwait(); eintr_waits_end() puts the mask back. */
static int eintr_waits(sigset_t *set, sigset_t *old)
{
	int ep = epoll_create1(0);

	ck_assert_int_ge(ep, 0);
	sigemptyset(set);
	sigaddset(set, SIGUSR2);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, set, old), 0);
	return ep;
}

static void eintr_waits_end(int ep, const sigset_t *old)
{
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, old, NULL), 0);
	close(ep);
}

/* One of them (epoll_wait() if !sig), for ms: it must time out. */
static void eintr_wait_out(int ep, const sigset_t *set, int sig, int ms)
{
	struct timespec to = { ms / 1000, (ms % 1000) * 1000000L };
	struct epoll_event ev;
	int r, err;

	if (!sig) {
		r = epoll_wait(ep, &ev, 1, ms);
		err = errno;
		ck_assert_msg(r == 0, "epoll_wait(): %d (%s)", r,
			      r < 0 ? strerror(err) : "");
	} else {
		r = sigtimedwait(set, NULL, &to);
		err = errno;
		ck_assert_msg(r < 0 && err == EAGAIN,
			      "sigtimedwait(): %d (%s)", r,
			      r < 0 ? strerror(err) : "");
	}
}

START_TEST(sigdefer_no_eintr_from_completions)
{
	unsigned long served0;
	unsigned char *buf;
	struct aiocb cb;
	sigset_t set, old;
	long t0, ms;
	int fd, ep, i;

	if (!eintr_setup("sigdefer_no_eintr_from_completions", &fd, &buf))
		return;
	ep = eintr_waits(&set, &old);
	served0 = ring_served();
	for (i = 0; i < 12; i++) {
		eintr_read_start(&cb, fd, buf, i);
		t0 = t_now_ms();
		eintr_wait_out(ep, &set, i % 2, 40);
		ms = t_now_ms() - t0;
		ck_assert_msg(ms >= 35, "a 40 ms wait (%d) ended after %ld ms",
			      i, ms);
		eintr_read_end(&cb, i);
	}
	eintr_waits_end(ep, &old);
	if (ring_served() == served0)
		printf("SKIP: sigdefer_no_eintr_from_completions: no read went "
		       "to a kernel ring here\n");
	close(fd);
	free(buf);
}
END_TEST

static void *kill_later(void *arg)
{
	usleep(30 * 1000);
	pthread_kill(*(pthread_t *)arg, SIGUSR1);
	return NULL;
}

START_TEST(sigdefer_handler_still_eintr)
{
	struct sigaction sa, osa;
	struct epoll_event ev;
	unsigned char *buf;
	struct aiocb cb;
	pthread_t me = pthread_self(), t;
	long t0, ms;
	int fd, ep, r, err;

	if (!eintr_setup("sigdefer_handler_still_eintr", &fd, &buf))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr;
	sa.sa_flags = SA_RESTART;	/* epoll_wait() is never restarted */
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, &osa), 0);
	ep = epoll_create1(0);
	ck_assert_int_ge(ep, 0);
	eintr_read_start(&cb, fd, buf, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, kill_later, &me), 0);
	t0 = t_now_ms();
	r = epoll_wait(ep, &ev, 1, 2000);
	err = errno;
	ms = t_now_ms() - t0;
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(r < 0 && err == EINTR, "epoll_wait(): %d (%s) after "
		      "%ld ms", r, r < 0 ? strerror(err) : "", ms);
	ck_assert_int_lt(ms, 1500);
	eintr_read_end(&cb, 0);
	ck_assert_int_eq(sigaction(SIGUSR1, &osa, NULL), 0);
	close(ep);
	close(fd);
	free(buf);
}
END_TEST

/*
 * A file's inode lock, held: a buffered pwrite() into it copies from a
 * page that userfaultfd keeps missing, until hold_release().  An O_DIRECT
 * read of the file then waits in io-wq for the lock, and completes when
 * it is released.
 */
struct lock_hold {
	int fd, uffd;
	char *page;
	pthread_t th;
};

static void *hold_writer(void *arg)
{
	struct lock_hold *h = arg;

	if (pwrite(h->fd, h->page, 4096, 1 << 20) != 4096)
		return (void *)1;
	return NULL;
}

/* 0, or the errno that kept the lock from being held (the caller skips). */
static int hold_lock(struct lock_hold *h, int fd)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;

	h->fd = fd;
	h->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (h->uffd < 0)
		return errno;
	if (ioctl(h->uffd, UFFDIO_API, &api)) {
		close(h->uffd);
		return errno;
	}
	h->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(h->page != MAP_FAILED);
	reg.range.start = (unsigned long)h->page;
	reg.range.len = 4096;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(h->uffd, UFFDIO_REGISTER, &reg)) {
		munmap(h->page, 4096);
		close(h->uffd);
		return errno;
	}
	ck_assert_int_eq(pthread_create(&h->th, NULL, hold_writer, h), 0);
	return 0;
}

static void hold_release(struct lock_hold *h)
{
	static char src[4096] __attribute__((aligned(4096)));
	struct uffdio_copy c = {
		.dst = (unsigned long)h->page,
		.src = (unsigned long)src,
		.len = 4096,
	};

	ck_assert_int_eq(ioctl(h->uffd, UFFDIO_COPY, &c), 0);
}

static void hold_end(struct lock_hold *h)
{
	void *res;

	ck_assert_int_eq(pthread_join(h->th, &res), 0);
	ck_assert_ptr_null(res);
	close(h->uffd);
	munmap(h->page, 4096);
}

static struct lock_hold held[2];
static long held_t0;

static void *release_later(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 2; i++) {
		while (t_now_ms() < held_t0 + 300 * (i + 1))
			usleep(1000);
		hold_release(&held[i]);
	}
	return NULL;
}

/*
 * Two O_DIRECT reads wait in io-wq for their files' locks, released 300
 * and 600 ms into a 1 s wait of this thread.  Starting a second io-wq
 * worker wakes the thread with no completion (task work), and each
 * completion wakes it again: the wait must still last its second.  A
 * check of the completion queues let the first through (EINTR at once),
 * and a retry that counted the time gone from the first call's timeout
 * twice ended it at 800 ms.
 */
START_TEST(sigdefer_no_eintr_timeout_kept)
{
	const char *m = getenv("KAIO_BACKEND");
	const struct aiocb *l[2];
	struct aiocb cb[2];
	unsigned char *buf[2];
	sigset_t set, old;
	char path[64];
	int fd[2], dfd[2], i, round, ep, err;
	pthread_t t;
	long ms;

	if ((m && *m && strcmp(m, "auto") && strcmp(m, "uring")) ||
	    !t_uring_ok() || t_threaded_kernel() || !t_direct_ok() ||
	    !t_ours("epoll_wait") || !t_ours("sigaction")) {
		printf("SKIP: sigdefer_no_eintr_timeout_kept: needs io_uring "
		       "(KAIO_BACKEND auto or uring), O_DIRECT, and the "
		       "library's epoll_wait() and sigaction() first\n");
		return;
	}
	ep = eintr_waits(&set, &old);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 2; i++) {
			fd[i] = t_tmpfile(1 << 20, 0);
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd[i]);
			dfd[i] = open(path, O_RDONLY | O_DIRECT);
			ck_assert_int_ge(dfd[i], 0);
			ck_assert_int_eq(posix_memalign((void **)&buf[i], 4096,
							4096), 0);
			err = hold_lock(&held[i], fd[i]);
			if (err) {
				printf("SKIP: sigdefer_no_eintr_timeout_kept: "
				       "userfaultfd: %s\n", strerror(err));
				ck_assert_int_eq(i, 0);	/* the first only */
				close(dfd[0]);
				close(fd[0]);
				free(buf[0]);
				eintr_waits_end(ep, &old);
				return;
			}
		}
		usleep(100 * 1000);	/* both writers hold their locks */
		held_t0 = t_now_ms();
		ck_assert_int_eq(pthread_create(&t, NULL, release_later, NULL),
				 0);
		for (i = 0; i < 2; i++) {
			t_prep(&cb[i], dfd[i], buf[i], 4096, 0);
			ck_assert_int_eq(aio_read(&cb[i]), 0);
			l[i] = &cb[i];
		}
		eintr_wait_out(ep, &set, round, 1000);
		ms = t_now_ms() - held_t0;
		ck_assert_msg(ms >= 950, "a 1 s wait ended after %ld ms", ms);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		for (i = 0; i < 2; i++)
			hold_end(&held[i]);
		while (aio_error(&cb[0]) == EINPROGRESS ||
		       aio_error(&cb[1]) == EINPROGRESS)
			aio_suspend(l, 2, NULL);
		for (i = 0; i < 2; i++) {
			ck_assert_int_eq(aio_return(&cb[i]), 4096);
			ck_assert(t_check_bytes(buf[i], 0, 4096));
			free(buf[i]);
			close(dfd[i]);
			close(fd[i]);
		}
	}
	eintr_waits_end(ep, &old);
}
END_TEST

/*
 * A completion signal's handler that jumps out of aio_suspend()
 * (siglongjmp(), allowed: aio_suspend() is async-signal-safe) leaves the
 * library whole: the jumping thread's later waits, and another thread's,
 * all end.  Before handlers waited for the call to hold nothing, one
 * caught at a park ran there, with the ring's reaping role, the park's
 * state and the call's depth, and jumped out with them held: the next
 * waits hung (O_DIRECT: 5 of 6 runs under uring, 3 of 6 under auto).
 */
#define JROUNDS	300
#define JN	16
#define JBYTES	(256 * 1024)
static sigjmp_buf jwait;
static volatile sig_atomic_t jarmed, jjumps;
static int jfd;
static atomic_int jstop, jother;

static void on_jump(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	if (jarmed) {
		jarmed = 0;
		jjumps++;
		siglongjmp(jwait, 1);
	}
}

static void *jump_reader(void *arg)
{
	const struct aiocb *l[1];
	struct aiocb cb;
	char *buf;
	int n = 0;

	(void)arg;
	if (posix_memalign((void **)&buf, 4096, JBYTES))
		_exit(20);
	l[0] = &cb;
	while (!atomic_load(&jstop)) {
		t_prep(&cb, jfd, buf, JBYTES, (off_t)(n++ % 16) * JBYTES);
		if (aio_read(&cb))
			_exit(21);
		while (aio_error(&cb) == EINPROGRESS)
			aio_suspend(l, 1, NULL);
		if (aio_return(&cb) != JBYTES)
			_exit(22);
		atomic_fetch_add(&jother, 1);
	}
	free(buf);
	return NULL;
}

static void jump_child(int out)
{
	static struct aiocb cb[JN];
	const struct aiocb *l[JN];
	struct sigaction sa;
	sigset_t rt, old;
	char *buf[JN];
	pthread_t t;
	volatile int r;
	int i, left, res[2];

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_jump;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGRTMIN + 1, &sa, NULL))
		_exit(10);
	for (i = 0; i < JN; i++)
		if (posix_memalign((void **)&buf[i], 4096, JBYTES))
			_exit(11);
	/* Its signals are the main thread's to take. */
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN + 1);
	pthread_sigmask(SIG_BLOCK, &rt, &old);
	if (pthread_create(&t, NULL, jump_reader, NULL))
		_exit(12);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (r = 0; r < JROUNDS; r++) {
		memset(cb, 0, sizeof(cb));
		for (i = 0; i < JN; i++) {
			t_prep(&cb[i], jfd, buf[i], JBYTES,
			       (off_t)((r * JN + i) % 32) * JBYTES);
			cb[i].aio_sigevent.sigev_notify = SIGEV_SIGNAL;
			cb[i].aio_sigevent.sigev_signo = SIGRTMIN + 1;
			if ((r + i) % 3 == 0 ? aio_write(&cb[i])
					     : aio_read(&cb[i]))
				_exit(13);
			l[i] = &cb[i];
		}
		for (;;) {
			for (i = left = 0; i < JN; i++) {
				if (aio_error(&cb[i]) == EINPROGRESS)
					left++;
				else
					l[i] = NULL;
			}
			if (!left)
				break;
			if (sigsetjmp(jwait, 1) == 0) {
				jarmed = 1;
				aio_suspend(l, JN, NULL);
				jarmed = 0;
			}
		}
		for (i = 0; i < JN; i++)
			if (aio_return(&cb[i]) != JBYTES)
				_exit(14);
	}
	atomic_store(&jstop, 1);
	pthread_join(t, NULL);
	res[0] = jjumps;
	res[1] = atomic_load(&jother);
	if (write(out, res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(15);
	_exit(0);
}

START_TEST(sigdefer_jump_out_of_wait)
{
	int p[2], res[2] = { 0, 0 }, status = 0, direct;
	long t0;
	pid_t pid;

#ifdef T_TSAN
	printf("SKIP: sigdefer_jump_out_of_wait: ThreadSanitizer delivers "
	       "the program's handlers itself\n");
	return;
#endif
	direct = t_direct_ok();
	jfd = t_tmpfile(32 * JBYTES, direct ? O_DIRECT : 0);
	ck_assert_int_ge(jfd, 0);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		jump_child(p[1]);
	}
	close(p[1]);
	t0 = t_now_ms();
	while (waitpid(pid, &status, WNOHANG) == 0 && t_now_ms() - t0 < 20000)
		usleep(10000);
	if (t_now_ms() - t0 >= 20000) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ck_abort_msg("a wait after a jump out of aio_suspend() hung "
			     "(O_DIRECT %d)", direct);
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status %#x", status);
	ck_assert_int_eq(read(p[0], res, sizeof(res)), (ssize_t)sizeof(res));
	close(p[0]);
	close(jfd);
	if (!res[0])
		printf("SKIP: sigdefer_jump_out_of_wait: no handler caught "
		       "aio_suspend() in %d rounds\n", JROUNDS);
	ck_assert_int_gt(res[1], 0);
}
END_TEST

/*
 * A handler that jumps out of aio_cancel() leaves the thread's
 * cancellation state as the program had it.  aio_cancel() disables
 * cancellation for its call; the depth that holds handlers back was
 * counted after the disable and given back before the enable, so a
 * signal between the two ran its handler there, and a jump out left
 * cancellation disabled for good (an outside tester: 0.5-4% of jumps).
 */
static sigjmp_buf jcs;
static volatile sig_atomic_t jcs_armed;

static void on_jump_cs(int sig)
{
	(void)sig;
	if (jcs_armed) {
		jcs_armed = 0;
		siglongjmp(jcs, 1);
	}
}

static void cancel_state_child(int fd)
{
	struct itimerval every = { { 0, 50 }, { 0, 50 } };
	struct sigaction sa;
	volatile long jumps = 0, stale = 0;
	long t0 = t_now_ms();
	int old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_jump_cs;
	if (sigaction(SIGALRM, &sa, NULL) ||
	    setitimer(ITIMER_REAL, &every, NULL))
		_exit(10);
	while (t_now_ms() - t0 < 1500) {
		if (sigsetjmp(jcs, 1) == 0) {
			jcs_armed = 1;
			aio_cancel(fd, NULL);
			jcs_armed = 0;
			continue;
		}
		jumps++;
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
		stale += old != PTHREAD_CANCEL_ENABLE;
	}
	printf("sigdefer_jump_keeps_cancel_state: %ld of %ld jumps left "
	       "cancellation disabled\n", (long)stale, (long)jumps);
	fflush(stdout);
	_exit(stale ? 1 : jumps ? 0 : 2);
}

START_TEST(sigdefer_jump_keeps_cancel_state)
{
	int fd, status;
	pid_t pid;

	if (!t_handlers_behind_library()) {
		printf("SKIP: sigdefer_jump_keeps_cancel_state: the program's "
		       "handlers do not run behind the library's here\n");
		return;
	}
	fd = t_tmpfile(4096, 0);
	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		cancel_state_child(fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(fd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 1,
		      "a jump out of aio_cancel() left cancellation disabled");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		printf("SKIP: sigdefer_jump_keeps_cancel_state: no signal "
		       "came during aio_cancel()\n");
	else
		ck_assert_msg(WIFEXITED(status) && !WEXITSTATUS(status),
			      "child status %#x", status);
}
END_TEST

/*
 * A signal held back in aio_suspend() is handled before its thread is
 * cancelled there, as under glibc (whose thread takes the pending signal
 * before the cancellation acts).  Held back, it had been queued again to
 * that thread alone, and died with it, a signal sent to the process too:
 * an outside tester lost 281-297 of 300, glibc 0-3.  Here 40 of 40 were
 * lost before; now 0-3 on an idle machine, and 6-8 of 40 in a loaded
 * fresh-clone CI run.  Under load glibc loses some too (6 of 300 beside
 * two busy loops, the library 0-8), hence a loose bound: half.
 */
static atomic_int held_runs;

static void on_held(int sig)
{
	(void)sig;
	atomic_fetch_add(&held_runs, 1);
}

static atomic_int held_waiting;

/* The waiter's read: outlives the cancelled thread (main waits for it). */
struct held_read {
	int p[2];
	char c;
	struct aiocb cb;
};

static void *held_waiter(void *arg)
{
	struct held_read *h = arg;
	const struct aiocb *l[1] = { &h->cb };
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	atomic_store(&held_waiting, 1);
	for (;;)
		aio_suspend(l, 1, NULL);
	return NULL;
}

START_TEST(sigdefer_cancel_runs_held_handler)
{
	enum { ROUNDS = 40 };
	static struct held_read h;
	struct sigaction sa;
	sigset_t usr1, pend;
	int i, sig, lost = 0;
	char x = 'x';
	pthread_t t;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_held;
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	for (i = 0; i < ROUNDS; i++) {
		t_pipe(h.p);
		t_prep(&h.cb, h.p[0], &h.c, 1, 0);
		ck_assert_int_eq(aio_read(&h.cb), 0);
		atomic_store(&held_runs, 0);
		atomic_store(&held_waiting, 0);
		ck_assert_int_eq(pthread_create(&t, NULL, held_waiter, &h), 0);
		while (!atomic_load(&held_waiting))
			usleep(1000);
		usleep(10000);
		ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
		ck_assert_int_eq(pthread_cancel(t), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		sigpending(&pend);
		if (!atomic_load(&held_runs) && !sigismember(&pend, SIGUSR1))
			lost++;
		if (sigismember(&pend, SIGUSR1))
			sigwait(&usr1, &sig);
		/* The read ends before its pipe goes. */
		ck_assert_int_eq(write(h.p[1], &x, 1), 1);
		ck_assert_int_eq(t_wait(&h.cb, 5000), 0);
		ck_assert_int_eq(aio_return(&h.cb), 1);
		close(h.p[0]);
		close(h.p[1]);
	}
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	signal(SIGUSR1, SIG_DFL);
	printf("sigdefer_cancel_runs_held_handler: %d of %d lost\n", lost,
	       ROUNDS);
	ck_assert_msg(lost < ROUNDS / 2, "%d of %d signals sent to the "
		      "process were never handled nor left pending", lost,
		      ROUNDS);
}
END_TEST

/*
 * A handler's edit of its own ucontext's mask is the program's: two
 * signals delivered at once, the top one's handler (SIGWINCH's) takes
 * SIGTERM, which the program blocked, out of the mask it returns to, the
 * lower one's (SIGUSR2's) frame.  As the lower frame returns, the kernel
 * puts back the program's mask, SIGTERM blocked.  The library, once this
 * thread had held back SIGUSR1 (in SIGUSR2's sa_mask), took SIGTERM for a
 * number a nested handler had let in and left it unblocked.
 */
static atomic_int uc_order_n;
static char uc_order[8];

static void on_uc_low(int sig)
{
	(void)sig;
	uc_order[atomic_fetch_add(&uc_order_n, 1) & 7] = 'A';
}

static void on_uc_top(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	(void)si;
	uc_order[atomic_fetch_add(&uc_order_n, 1) & 7] = 'B';
	sigdelset(&uc->uc_sigmask, SIGTERM);
}

static atomic_int uc_held_runs;

static void on_uc_held(int sig)
{
	(void)sig;
	atomic_fetch_add(&uc_held_runs, 1);
}

struct uc_kick {
	pthread_t to;
	int sig;
};

static void *uc_kicker(void *arg)
{
	struct uc_kick *k = arg;

	usleep(20000);
	pthread_kill(k->to, k->sig);
	return NULL;
}

START_TEST(sigdefer_nested_uc_edit_stays)
{
	struct sigaction sa, old[4];
	const int sigs[4] = { SIGUSR1, SIGUSR2, SIGWINCH, SIGTERM };
	struct timespec ts = { 2, 0 };
	const struct aiocb *l[1];
	struct uc_kick k;
	struct aiocb cb;
	sigset_t two, term, was, cur;
	pthread_t t;
	char c, x = 'x';
	int p[2], i, kept = 0;

#ifdef T_TSAN
	printf("SKIP: sigdefer_nested_uc_edit_stays: ThreadSanitizer delivers "
	       "the program's handlers itself\n");
	return;
#endif
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], NULL, &old[i]);
	pthread_sigmask(SIG_BLOCK, NULL, &was);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_uc_held;
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	sa.sa_handler = on_uc_low;
	sigaddset(&sa.sa_mask, SIGUSR1);
	ck_assert_int_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_uc_top;
	sa.sa_flags = SA_SIGINFO;
	ck_assert_int_eq(sigaction(SIGWINCH, &sa, NULL), 0);

	/* SIGUSR1 sent while this thread waits in aio_suspend(): held
	 * back, its handler run as the wait ends (with EINTR). */
	t_pipe(p);
	t_prep(&cb, p[0], &c, 1, 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	l[0] = &cb;
	k.to = pthread_self();
	k.sig = SIGUSR1;
	for (i = 0; i < 5 && !kept; i++) {
		atomic_store(&uc_held_runs, 0);
		ck_assert_int_eq(pthread_create(&t, NULL, uc_kicker, &k), 0);
		kept = aio_suspend(l, 1, &ts) == -1 && errno == EINTR &&
		       atomic_load(&uc_held_runs) == 1;
		pthread_join(t, NULL);
	}
	ck_assert_int_eq(write(p[1], &x, 1), 1);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 1);
	close(p[0]);
	close(p[1]);

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	sigemptyset(&two);
	sigaddset(&two, SIGUSR2);
	sigaddset(&two, SIGWINCH);
	pthread_sigmask(SIG_BLOCK, &two, NULL);
	atomic_store(&uc_order_n, 0);
	raise(SIGUSR2);
	raise(SIGWINCH);
	pthread_sigmask(SIG_UNBLOCK, &two, NULL);
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (!kept) {
		printf("SKIP: sigdefer_nested_uc_edit_stays: no wait of 5 ended "
		       "with SIGUSR1's handler and EINTR\n");
		return;
	}
	ck_assert_int_eq(atomic_load(&uc_order_n), 2);
	if (uc_order[0] != 'B') {
		printf("SKIP: sigdefer_nested_uc_edit_stays: the kernel ran "
		       "SIGUSR2's handler first, not stacked below\n");
		return;
	}
	ck_assert_msg(sigismember(&cur, SIGTERM), "SIGTERM, which the program "
		      "blocked, was unblocked as SIGUSR2's frame returned");
}
END_TEST

/*
 * A handler that leaves by a jump is counted out as it leaves: by
 * siglongjmp(), by _longjmp(), from the alternate stack, by setcontext()
 * to the point it interrupted.  It was not, and the thread counted a
 * handler of the program as running for good.  A later handler's call of
 * the library then let in what the thread held back, and that handler's
 * frame blocked it again as it returned, for good (an outside review's
 * gdb reproducer, made a test).  Hardware breakpoints place the signals:
 * SIGUSR1 (SA_NODEFER: queued again) at kaio__aio_read(), inside
 * aio_read(), so it is held back; SIGWINCH where aio_read()'s way out
 * lets it in (kaio__sigdefer_let_go()).  SIGWINCH's handler calls
 * aio_suspend(), which lets SIGUSR1 in first.  Each sent from a SIGTRAP
 * handler whose mask blocks it: it comes as that returns, at the
 * breakpoint's instruction, with no frame of the test's between.
 */
#ifndef SS_AUTODISARM
#define SS_AUTODISARM	(1U << 31)	/* linux/signal.h; glibc has none */
#endif
enum { JX_NONE, JX_SIGLONGJMP, JX_LONGJMP, JX_ALTSTACK, JX_SETCONTEXT,
       JX_DISARMED, JX_MODES };
static const char *const jx_name[JX_MODES] = {
	"no jump", "siglongjmp()", "_longjmp()",
	"siglongjmp() off the alternate stack", "setcontext()",
	"siglongjmp() from a handler nested in one on an SS_AUTODISARM "
	"alternate stack",
};
static sigjmp_buf jx_jb;
static int jx_mode;
static struct aiocb jx_done;
static unsigned long jx_at_read, jx_at_letgo;
static volatile sig_atomic_t jx_x, jx_a, jx_usr_armed, jx_winch_armed;

static void jx_on_xcpu(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	switch (jx_mode) {
	case JX_DISARMED:
		raise(SIGPROF);	/* nested; its handler jumps */
		return;
	case JX_SIGLONGJMP:
	case JX_ALTSTACK:
		siglongjmp(jx_jb, 1);
	case JX_LONGJMP:
		_longjmp(jx_jb, 1);
	case JX_SETCONTEXT:
		setcontext((ucontext_t *)uc);
	}
}

static void jx_on_prof(int sig)
{
	(void)sig;
	siglongjmp(jx_jb, 1);
}

/* The jump lands here, below the alternate stack (in the caller's frame):
 * a frame on that stack is above the jump's target.  0 once jumped. */
static __attribute__((noinline)) int jx_jump(int mode)
{
	if (sigsetjmp(jx_jb, mode != JX_LONGJMP) == 0) {
		raise(SIGXCPU);
		if (mode != JX_SETCONTEXT)
			return 18;	/* the handler did not jump */
	}
	return 0;
}

static void jx_on_usr(int sig)
{
	(void)sig;
	jx_x++;
}

static void jx_on_winch(int sig)
{
	const struct aiocb *l[1] = { &jx_done };

	(void)sig;
	jx_a++;
	aio_suspend(l, 1, NULL);
}

static void jx_on_trap(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned long ip = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];

	(void)sig;
	(void)si;
	if (ip == jx_at_read && jx_usr_armed) {
		jx_usr_armed = 0;
		raise(SIGUSR1);
	} else if (ip == jx_at_letgo && jx_winch_armed) {
		jx_winch_armed = 0;
		raise(SIGWINCH);
	}
}

/* 0: nothing left blocked, each handler run once; 77: no breakpoints;
 * else bits: 1 SIGUSR1 blocked, 2 SIGWINCH blocked, 4 SIGUSR1's handler
 * not run once, 8 SIGWINCH's not once, 16 and up: the setup failed. */
static int jx_child(int mode)
{
	char alt[64 * 1024];
	stack_t ss = {
		.ss_sp = alt, .ss_size = sizeof(alt),
		.ss_flags = mode == JX_DISARMED ? SS_AUTODISARM : 0,
	};
	struct sigaction sa;
	struct aiocb cb;
	sigset_t cur, xcpu;
	char buf[8];
	int fd, bp1, bp2, bad = 0;

	fd = t_tmpfile(4096, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = jx_on_usr;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = jx_on_winch;
	sa.sa_flags = 0;
	sigaction(SIGWINCH, &sa, NULL);
	sa.sa_handler = jx_on_prof;
	sigaction(SIGPROF, &sa, NULL);
	sa.sa_sigaction = jx_on_xcpu;
	sa.sa_flags = SA_SIGINFO |
		      (mode == JX_ALTSTACK || mode == JX_DISARMED ? SA_ONSTACK :
								     0);
	sigaction(SIGXCPU, &sa, NULL);
	sa.sa_sigaction = jx_on_trap;
	sa.sa_flags = SA_SIGINFO;
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaddset(&sa.sa_mask, SIGWINCH);
	sigaction(SIGTRAP, &sa, NULL);
	if (fd < 0 || ((mode == JX_ALTSTACK || mode == JX_DISARMED) &&
		       sigaltstack(&ss, NULL)))
		return 16;
	t_prep(&jx_done, fd, buf, 4, 0);
	if (aio_read(&jx_done) || t_wait(&jx_done, 5000) ||
	    aio_return(&jx_done) != 4)
		return 17;

	jx_mode = mode;
	if (mode != JX_NONE && jx_jump(mode))
		return 18;
	sigemptyset(&xcpu);
	sigaddset(&xcpu, SIGXCPU);
	sigprocmask(SIG_UNBLOCK, &xcpu, NULL);	/* _longjmp() left it */

	bp1 = t_breakpoint(jx_at_read);
	bp2 = t_breakpoint(jx_at_letgo);
	if (bp1 < 0 || bp2 < 0)
		return 77;
	jx_usr_armed = jx_winch_armed = 1;
	t_prep(&cb, fd, buf, 4, 0);
	if (aio_read(&cb))
		return 19;
	close(bp1);
	close(bp2);
	if (t_wait(&cb, 5000) || aio_return(&cb) != 4 || jx_usr_armed ||
	    jx_winch_armed)
		return 20;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	bad |= sigismember(&cur, SIGUSR1) ? 1 : 0;
	bad |= sigismember(&cur, SIGWINCH) ? 2 : 0;
	bad |= jx_x != 1 ? 4 : 0;
	bad |= jx_a != 1 ? 8 : 0;
	return bad;
}

START_TEST(sigdefer_jump_out_counted_out)
{
	int mode, status, failed = 0;
	pid_t pid;

#ifdef T_TSAN
	printf("SKIP: sigdefer_jump_out_counted_out: ThreadSanitizer "
	       "delivers the program's handlers itself\n");
	return;
#endif
	if (!t_handlers_behind_library()) {
		printf("SKIP: sigdefer_jump_out_counted_out: the library's "
		       "handler is not in front of the program's\n");
		return;
	}
	jx_at_read = t_lib_fn("kaio__aio_read");
	jx_at_letgo = t_lib_fn("kaio__sigdefer_let_go");
	if (!jx_at_read || !jx_at_letgo) {
		printf("SKIP: sigdefer_jump_out_counted_out: the library's "
		       "file has no symbol table\n");
		return;
	}
	for (mode = 0; mode < JX_MODES; mode++) {
		pid = t_fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			_exit(jx_child(mode));
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status), "%s: child status %#x",
			      jx_name[mode], status);
		if (WEXITSTATUS(status) == 77) {
			printf("SKIP: sigdefer_jump_out_counted_out: no "
			       "hardware breakpoint with SIGTRAP here\n");
			return;
		}
		ck_assert_msg(WEXITSTATUS(status) < 16,
			      "%s: the setup failed (%d)", jx_name[mode],
			      WEXITSTATUS(status));
		if (WEXITSTATUS(status)) {
			fprintf(stderr, "sigdefer_jump_out_counted_out: after "
				"a %s out of a handler: %s%s%s%s\n",
				jx_name[mode],
				WEXITSTATUS(status) & 1 ?
					"SIGUSR1 left blocked; " : "",
				WEXITSTATUS(status) & 2 ?
					"SIGWINCH left blocked; " : "",
				WEXITSTATUS(status) & 4 ?
					"SIGUSR1's handler not run once; " : "",
				WEXITSTATUS(status) & 8 ?
					"SIGWINCH's handler not run once" : "");
			failed |= 1 << mode;
		}
	}
	ck_assert_msg(!failed, "modes failed: %#x (bit n: mode n)", failed);
}
END_TEST

/*
 * A kept handler's sa_mask holds the signals kept behind it, as the
 * kernel's holds a pending one: SIGUSR1, whose handler blocks SIGUSR2,
 * and then SIGUSR2 are caught inside aio_read() and kept (a hardware
 * breakpoint at kaio__aio_read(): both sent from a SIGTRAP handler that
 * blocks them, so both come at that instruction).  In glibc, SIGUSR1's
 * handler runs there and SIGUSR2 waits pending until it returns.
 * - SIGUSR1's handler calls aio_suspend(): SIGUSR2's handler ran inside
 *   it, at that call's end (F3 in kaio_posix(7)).
 * - SIGUSR1's handler sends SIGUSR2 again: a standard signal, merged
 *   with the pending one; SIGUSR2's handler ran twice (F4).
 * - after a handler whose mask blocks SIGUSR2 left by a jump the library
 *   does not see (glibc's own siglongjmp(), as a library bound to it
 *   jumps): a frame left holds nothing, or SIGUSR2 stayed kept for good.
 * - SIGUSR1's handler waits 300 ms in aio_suspend() for a pipe: SIGUSR2,
 *   held for it, ended that wait at once with EINTR, with no handler run
 *   (an outside review; with no timeout and SA_RESTART, a busy loop).
 * - SIGUSR1's handler, run at once outside a call, unblocks SIGUSR2
 *   itself, and SIGUSR2 comes inside that handler's aio_read(): it runs
 *   there, as in glibc; it was held for good (an outside review).
 * A second review's (SIGUSR2's handler writes the pipe in these):
 * - SIGUSR1's handler jumps out; the next aio_suspend() (1 s) for the
 *   pipe slept through the kept SIGUSR2 (EAGAIN);
 * - SIGUSR1's handler unblocks SIGUSR2 itself and waits 1 s for the
 *   pipe: it slept through it too;
 * - SIGUSR1's handler waits 2 s; SIGRTMIN+1, which nothing blocks, comes
 *   from another thread after 300 ms: the wait ended with EINTR, its
 *   handler not run (kept behind SIGUSR2);
 * - SIGUSR1's handler fork()s: in the child SIGUSR2 stayed blocked.
 * A third review's (older than this test):
 * - SIGUSR1 and SIGRTMIN+1, neither blocking the other, both kept:
 *   SIGUSR1's handler's 300 ms wait ended at once with EINTR, letting
 *   SIGRTMIN+1 in; glibc ran it before that handler's body (EAGAIN).
 */
enum { KM_CALL, KM_RAISE, KM_BOTH, KM_STALE, KM_WAIT, KM_OWN, KM_JUMP,
       KM_UNWAIT, KM_LATE, KM_FORK, KM_SIBLING, KM_MODES };
static const char *const km_name[KM_MODES] = {
	"SIGUSR1's handler calls aio_suspend()",
	"SIGUSR1's handler sends SIGUSR2 again",
	"SIGUSR1's handler sends SIGUSR2 again and calls aio_suspend()",
	"after a handler that blocks SIGUSR2 left by glibc's siglongjmp(), "
	"SIGUSR1's handler calls aio_suspend()",
	"SIGUSR1's handler waits in aio_suspend() for 300 ms",
	"SIGUSR1's handler unblocks SIGUSR2 and calls aio_read()",
	"SIGUSR1's handler jumps out; aio_suspend() then",
	"SIGUSR1's handler unblocks SIGUSR2 and waits in aio_suspend()",
	"SIGRTMIN+1 comes while SIGUSR1's handler waits",
	"SIGUSR1's handler fork()s",
	"SIGUSR1 and SIGRTMIN+1 kept; SIGUSR1's handler waits 300 ms",
};
static int km_mode, km_fd, km_pipe[2];
static struct aiocb km_pcb;
static char km_pbuf[4];
static volatile sig_atomic_t km_wait_bad, km_only2, km_nrt, km_go, km_gchild;
static sigjmp_buf km_jb2;
static pthread_t km_main;

static void km_on_rt(int sig)
{
	(void)sig;
	km_nrt++;
}

/* SIGRTMIN+1 to the test's thread 300 ms after km_go. */
static void *km_late(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 5000 && !km_go; i++)
		usleep(1000);
	usleep(300 * 1000);
	pthread_kill(km_main, SIGRTMIN + 1);
	return NULL;
}
static sigjmp_buf km_jb;
static void (*km_libc_siglongjmp)(sigjmp_buf, int);

static void km_on_xcpu(int sig)
{
	(void)sig;
	km_libc_siglongjmp(km_jb, 1);
}

/* Jumped out of SIGXCPU's handler behind the library's back: 0. */
static __attribute__((noinline)) int km_stale(void)
{
	struct sigaction sa;
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);

	km_libc_siglongjmp = libc ? (void (*)(sigjmp_buf, int))dlsym(
					    libc, "siglongjmp") : NULL;
	if (!km_libc_siglongjmp)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = km_on_xcpu;
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGXCPU, &sa, NULL);
	if (sigsetjmp(km_jb, 1) == 0) {
		raise(SIGXCPU);
		return -1;
	}
	return 0;
}
static struct aiocb km_done;
static unsigned long km_at_read;
static volatile sig_atomic_t km_in1, km_n1, km_n2, km_nested, km_armed;

static void km_on_usr1(int sig)
{
	const struct aiocb *l[1] = { &km_done }, *p[1] = { &km_pcb };
	struct timespec ts = { 0, 300 * 1000 * 1000 };
	struct aiocb cb;
	sigset_t two;
	char buf[4];
	long t0;
	int ret, err;

	(void)sig;
	km_in1 = 1;
	km_n1++;
	switch (km_mode) {
	case KM_SIBLING:
	case KM_WAIT:
		t0 = t_now_ms();
		ret = aio_suspend(p, 1, &ts);
		err = errno;
		km_wait_bad = ret != -1 || err != EAGAIN ||
			      t_now_ms() - t0 < 250;
		break;
	case KM_JUMP:
		t_prep(&cb, km_fd, buf, 4, 0);
		if (aio_read(&cb) || t_wait(&cb, 5000) || aio_return(&cb) != 4)
			km_wait_bad = 1;
		siglongjmp(km_jb2, 1);
	case KM_UNWAIT:
		km_in1 = 0;	/* SIGUSR2 may run in it now */
		sigemptyset(&two);
		sigaddset(&two, SIGUSR2);
		sigprocmask(SIG_UNBLOCK, &two, NULL);
		ts.tv_sec = 1;
		ts.tv_nsec = 0;
		t0 = t_now_ms();
		ret = aio_suspend(p, 1, &ts);
		km_wait_bad = ret || t_now_ms() - t0 > 500;
		break;
	case KM_LATE:
		ts.tv_sec = 2;
		ts.tv_nsec = 0;
		km_go = 1;
		t0 = t_now_ms();
		ret = aio_suspend(p, 1, &ts);
		err = errno;
		km_wait_bad = ret != -1 || err != EINTR || km_nrt != 1 ||
			      t_now_ms() - t0 > 1500;
		break;
	case KM_FORK:
		if (fork() == 0)
			km_gchild = 1;
		break;
	case KM_OWN:
		km_in1 = 0;	/* SIGUSR2 may run in it now */
		sigemptyset(&two);
		sigaddset(&two, SIGUSR2);
		sigprocmask(SIG_UNBLOCK, &two, NULL);
		km_only2 = km_armed = 1;
		t_prep(&cb, km_fd, buf, 4, 0);
		if (aio_read(&cb) || t_wait(&cb, 5000) || aio_return(&cb) != 4)
			km_wait_bad = 1;
		break;
	default:
		if (km_mode != KM_CALL)
			raise(SIGUSR2);
		if (km_mode != KM_RAISE)
			aio_suspend(l, 1, NULL);
	}
	km_in1 = 0;
}

static void km_on_usr2(int sig)
{
	int saved = errno;

	(void)sig;
	km_n2++;
	km_nested |= km_in1;
	if (km_mode == KM_JUMP || km_mode == KM_UNWAIT)
		if (write(km_pipe[1], "x", 1) != 1)
			km_wait_bad = 1;
	errno = saved;
}

static void km_on_trap(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	(void)si;
	if ((unsigned long)uc->uc_mcontext.gregs[REG_RIP] == km_at_read &&
	    km_armed) {
		km_armed = 0;
		if (!km_only2)
			raise(SIGUSR1);
		raise(km_mode == KM_SIBLING ? SIGRTMIN + 1 : SIGUSR2);
	}
}

/* 0: as glibc; 77: no breakpoint; else bits: 1 SIGUSR2's handler ran
 * inside SIGUSR1's, 2 SIGUSR2's not once, 4 SIGUSR1's not once, 8 either
 * left blocked, 16 SIGUSR1's wait or read went wrong; 32 and up: the
 * setup failed. */
static int km_child(int mode)
{
	struct sigaction sa;
	struct aiocb cb;
	sigset_t cur;
	char buf[8];
	int fd, bp, bad = 0;

	fd = km_fd = t_tmpfile(4096, 0);
	if (fd < 0 || pipe(km_pipe))
		return 32;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = km_on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = km_on_rt;
	sigaction(SIGRTMIN + 1, &sa, NULL);
	sa.sa_handler = km_on_usr1;
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = km_on_trap;
	sa.sa_flags = SA_SIGINFO;
	sigaddset(&sa.sa_mask, SIGUSR1);
	/* Unblocked, each comes as it is sent, so SIGUSR1 is kept first:
	 * blocked, the kernel would stack SIGRTMIN+1 (unblocked by
	 * SIGUSR1's frame) on top, and it would be kept first. */
	if (mode == KM_SIBLING)
		sigemptyset(&sa.sa_mask);
	sigaction(SIGTRAP, &sa, NULL);
	t_prep(&km_done, fd, buf, 4, 0);
	t_prep(&km_pcb, km_pipe[0], km_pbuf, 1, 0);
	if (aio_read(&km_done) || t_wait(&km_done, 5000) ||
	    aio_return(&km_done) != 4 || aio_read(&km_pcb))
		return 33;
	km_mode = mode == KM_STALE ? KM_CALL : mode;
	if (mode == KM_STALE && km_stale())
		return 34;
	bp = t_breakpoint(km_at_read);
	if (bp < 0)
		return 77;
	if (mode == KM_OWN) {
		raise(SIGUSR1);	/* runs at once: outside any call */
		close(bp);
		if (km_armed)
			return 35;
		/* Looked at before any other call of the library. */
		sigprocmask(SIG_BLOCK, NULL, &cur);
		if (km_n2 != 1 || sigismember(&cur, SIGUSR2))
			bad |= 2;
		raise(SIGUSR2);	/* and once more, outside */
		if (km_n2 != 2)
			bad |= 2;
		km_n2 = 1;
	} else {
		pthread_t late;
		const struct aiocb *p[1] = { &km_pcb };
		struct timespec ts = { 1, 0 };
		long t0;

		km_main = pthread_self();
		if (mode == KM_LATE &&
		    pthread_create(&late, NULL, km_late, NULL))
			return 39;
		km_armed = 1;
		t_prep(&cb, fd, buf, 4, 0);
		if (sigsetjmp(km_jb2, 1) == 0) {
			if (aio_read(&cb))
				return 36;
		} else {
			km_in1 = 0;	/* jumped out of it */
		}
		close(bp);
		if (km_gchild) {
			/* SIGUSR2 was kept in the parent: none here, and
			 * its number not blocked, also after a handler
			 * returns (which blocks what the thread holds). */
			raise(SIGRTMIN + 1);
			sigprocmask(SIG_BLOCK, NULL, &cur);
			if (sigismember(&cur, SIGUSR2) || km_n2)
				_exit(8);
			raise(SIGUSR2);
			_exit(km_n2 != 1 ? 2 : 0);
		}
		if (t_wait(&cb, 5000) || aio_return(&cb) != 4 || km_armed)
			return 37;
		if (mode == KM_LATE)
			pthread_join(late, NULL);
		if (mode == KM_JUMP) {
			t0 = t_now_ms();
			if (aio_suspend(p, 1, &ts) || t_now_ms() - t0 > 500)
				km_wait_bad = 1;
		}
		if (mode == KM_FORK) {
			int st;

			if (wait(&st) < 0 || !WIFEXITED(st))
				return 40;
			bad |= WEXITSTATUS(st);
		}
	}
	if (mode == KM_STALE)
		aio_suspend((const struct aiocb *const[]){ &km_done }, 1,
			    NULL);	/* a later call lets nothing in either */
	if (write(km_pipe[1], "x", 1) != 1 || t_wait(&km_pcb, 5000))
		return 38;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	bad |= km_nested ? 1 : 0;
	bad |= (mode == KM_SIBLING ? km_nrt : km_n2) != 1 ? 2 : 0;
	bad |= km_n1 != 1 ? 4 : 0;
	bad |= sigismember(&cur, SIGUSR1) || sigismember(&cur, SIGUSR2) ||
	       sigismember(&cur, SIGRTMIN + 1) ? 8 : 0;
	bad |= km_wait_bad ? 16 : 0;
	return bad;
}

START_TEST(sigdefer_kept_mask_holds_kept)
{
	int mode, status, failed = 0;
	pid_t pid;

#ifdef T_TSAN
	printf("SKIP: sigdefer_kept_mask_holds_kept: ThreadSanitizer "
	       "delivers the program's handlers itself\n");
	return;
#endif
	if (!t_handlers_behind_library()) {
		printf("SKIP: sigdefer_kept_mask_holds_kept: the library's "
		       "handler is not in front of the program's\n");
		return;
	}
	km_at_read = t_lib_fn("kaio__aio_read");
	if (!km_at_read) {
		printf("SKIP: sigdefer_kept_mask_holds_kept: the library's "
		       "file has no symbol table\n");
		return;
	}
	for (mode = 0; mode < KM_MODES; mode++) {
		pid = t_fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			_exit(km_child(mode));
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status), "%s: child status %#x",
			      km_name[mode], status);
		if (WEXITSTATUS(status) == 77) {
			printf("SKIP: sigdefer_kept_mask_holds_kept: no "
			       "hardware breakpoint with SIGTRAP here\n");
			return;
		}
		ck_assert_msg(WEXITSTATUS(status) < 32,
			      "%s: the setup failed (%d)", km_name[mode],
			      WEXITSTATUS(status));
		if (WEXITSTATUS(status)) {
			fprintf(stderr, "sigdefer_kept_mask_holds_kept: %s: "
				"%s%s%s%s%s\n", km_name[mode],
				WEXITSTATUS(status) & 1 ?
					"SIGUSR2's handler ran inside "
					"SIGUSR1's, whose mask blocks it; " :
					"",
				WEXITSTATUS(status) & 2 ?
					"SIGUSR2's handler not run once; " : "",
				WEXITSTATUS(status) & 4 ?
					"SIGUSR1's handler not run once; " : "",
				WEXITSTATUS(status) & 8 ?
					"a signal left blocked; " : "",
				WEXITSTATUS(status) & 16 ?
					"a wait or read of the mode went wrong "
					"(see the test's comment)" : "");
			failed |= 1 << mode;
		}
	}
	ck_assert_msg(!failed, "modes failed: %#x (bit n: mode n)", failed);
}
END_TEST

Suite *sigdefer_suite(void)
{
	Suite *s = suite_create("sigdefer");
	TCase *tc = t_tcase("sigdefer");

	tcase_add_test(tc, sigdefer_wait_masks_nothing);
	tcase_add_test(tc, sigdefer_sigaction_reports_program);
	tcase_add_test(tc, sigdefer_resethand_once);
	tcase_add_test(tc, sigdefer_rt_signals_once_each);
	tcase_add_test(tc, sigdefer_rt_signals_in_order);
	tcase_add_test(tc, sigdefer_kept_handler_keeps_mask);
	tcase_add_test(tc, sigdefer_two_numbers_in_turn);
	tcase_add_test(tc, sigdefer_many_numbers_once_each);
	tcase_add_test(tc, sigdefer_raw_handler_put_back);
	tcase_add_test(tc, sigdefer_plain_handler_gets_siginfo);
	tcase_add_test(tc, sigdefer_fork_midway_writer);
	tcase_add_test(tc, sigdefer_park_keeps_kernel_order);
	tcase_add_test(tc, sigdefer_requeue_refused);
	tcase_add_test(tc, sigdefer_masked_ignored_no_eintr);
	tcase_add_test(tc, sigdefer_no_eintr_from_completions);
	tcase_add_test(tc, sigdefer_handler_still_eintr);
	tcase_add_test(tc, sigdefer_no_eintr_timeout_kept);
	tcase_add_test(tc, sigdefer_jump_out_of_wait);
	tcase_add_test(tc, sigdefer_jump_keeps_cancel_state);
	tcase_add_test(tc, sigdefer_cancel_runs_held_handler);
	tcase_add_test(tc, sigdefer_nested_uc_edit_stays);
	tcase_add_test(tc, sigdefer_jump_out_counted_out);
	tcase_add_test(tc, sigdefer_kept_mask_holds_kept);
	suite_add_tcase(s, tc);
	return s;
}
