/* SPDX-License-Identifier: GPL-2.0 */
/*
 * signals: RLIMIT_FSIZE is enforced on threaded writes (-EFBIG past the
 * limit, a short write across it) and SIGXFSZ reaches the submitting
 * thread; a threaded pipe write that loses its reader gets -EPIPE and
 * SIGPIPE reaches the submitting thread.  Without forwarding, the signals
 * would stay pending, blocked, on the worker; sent to the whole process,
 * they would run in another thread (one is waiting with them unblocked).
 * A real signal still interrupts io_getevents() with EINTR.
 */
#include <pthread.h>
#include <sys/resource.h>
#include "kt.h"

/*
 * A second thread with every signal unblocked, while the submitting thread
 * blocks SIGXFSZ and SIGPIPE during the I/O: a signal sent to the process
 * instead of the submitting thread would run its handler here at once.
 */
static volatile int stop_other;

static void *other_thread(void *arg)
{
	sigset_t none;

	(void)arg;
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	while (!stop_other)
		kt_sleep_ms(5);
	return NULL;
}

static sigset_t io_sigs;

/* Unblock SIGXFSZ/SIGPIPE after checking that @sig waits on this thread. */
static void deliver_here(int sig, const char *name)
{
	sigset_t pend;

	kt_sleep_ms(100);	/* time for the other thread to take it */
	KT_CHECK(sigpending(&pend) == 0 && sigismember(&pend, sig),
		 "%s is not pending on the submitting thread", name);
	pthread_sigmask(SIG_UNBLOCK, &io_sigs, NULL);
	pthread_sigmask(SIG_BLOCK, &io_sigs, NULL);
}

static volatile sig_atomic_t got_xfsz, got_pipe;
static volatile long xfsz_tid, pipe_tid;

static volatile sig_atomic_t got_usr1;

static void on_sig(int sig)
{
	if (sig == SIGUSR1)
		got_usr1++;
	if (sig == SIGXFSZ) {
		got_xfsz++;
		xfsz_tid = kt_gettid();
	} else if (sig == SIGPIPE) {
		got_pipe++;
		pipe_tid = kt_gettid();
	}
}

int main(int argc, char **argv)
{
	static char big[65536 * 2], rbuf[4096];
	struct rlimit rl = { 4096, 4096 };
	struct sigaction sa;
	aio_context_t ctx = 0;
	struct io_event ev;
	struct iocb cb;
	long long r;
	int fd, p[2], fl, i;
	pthread_t other;

	kt_init(argc, argv, "signals");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sigaction(SIGXFSZ, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(16, &ctx) == 0, "io_setup");
	sigemptyset(&io_sigs);
	sigaddset(&io_sigs, SIGXFSZ);
	sigaddset(&io_sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &io_sigs, NULL);
	KT_REQUIRE(pthread_create(&other, NULL, other_thread, NULL) == 0,
		   "pthread_create");

	fd = open(kt_path("limited"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	KT_REQUIRE(fd >= 0, "open");
	KT_REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");

	kt_prep(&cb, IOCB_CMD_PWRITE, fd, big, 200, 4000);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 96, "write across the limit: %lld (want 96)", r);
	KT_CHECK(kt_nthreads() >= 2, "the write did not use a worker");

	kt_prep(&cb, IOCB_CMD_PWRITE, fd, big, 100, 4096);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == -EFBIG, "write past the limit: %lld", r);
	deliver_here(SIGXFSZ, "SIGXFSZ");
	for (i = 0; i < 100 && !got_xfsz; i++)
		kt_sleep_ms(10);
	KT_CHECK(got_xfsz == 1, "SIGXFSZ delivered %d times", (int)got_xfsz);
	KT_CHECK(xfsz_tid == kt_gettid(),
		 "SIGXFSZ ran in thread %ld, not the submitter %ld",
		 (long)xfsz_tid, kt_gettid());
	rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
	KT_REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");
	close(fd);

	/* SIGPIPE: fill a pipe, queue a write, then close the reader */
	KT_REQUIRE(pipe(p) == 0, "pipe");
	fl = fcntl(p[1], F_GETFL);
	fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
	while (write(p[1], big, sizeof(big)) > 0)
		;
	fcntl(p[1], F_SETFL, fl);
	kt_prep(&cb, IOCB_CMD_PWRITE, p[1], big, 4096, 0);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "pipe write submit");
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 0.2) == 0,
		 "write to a full pipe completed");
	close(p[0]);
	KT_REQUIRE(kt_getevents(ctx, 1, 1, &ev, 5) == 1, "no event");
	KT_CHECK(ev.res == -EPIPE, "pipe write res %lld", (long long)ev.res);
	deliver_here(SIGPIPE, "SIGPIPE");
	for (i = 0; i < 100 && !got_pipe; i++)
		kt_sleep_ms(10);
	KT_CHECK(got_pipe == 1, "SIGPIPE delivered %d times", (int)got_pipe);
	KT_CHECK(pipe_tid == kt_gettid(), "SIGPIPE ran in thread %ld",
		 (long)pipe_tid);
	close(p[1]);
	(void)rbuf;
	stop_other = 1;
	pthread_join(other, NULL);
	pthread_sigmask(SIG_UNBLOCK, &io_sigs, NULL);

	/* a real signal still interrupts io_getevents() with EINTR */
	{
		struct timespec ts = { 3, 0 };
		pid_t kid, me = getpid();
		double t;
		long r2;

		KT_REQUIRE(pipe(p) == 0, "pipe");
		sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART */
		kt_prep(&cb, IOCB_CMD_PREAD, p[0], rbuf, 16, 0);
		KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "submit");
		kid = fork();
		KT_REQUIRE(kid >= 0, "fork");
		if (kid == 0) {
			kt_sleep_ms(200);
			kill(me, SIGUSR1);
			_exit(0);
		}
		t = kt_now();
		do
			r2 = syscall(SYS_io_getevents, ctx, 1, 1, &ev, &ts);
		while (r2 < 0 && errno == EINTR && !got_usr1);
		KT_CHECK(r2 == -1 && errno == EINTR && got_usr1 == 1,
			 "io_getevents with SIGUSR1: %ld (%s), got_usr1 %d", r2,
			 strerror(errno), (int)got_usr1);
		KT_CHECK(kt_now() - t < 2, "EINTR came after %.2fs",
			 kt_now() - t);
		waitpid(kid, NULL, 0);
		KT_REQUIRE(write(p[1], "x", 1) == 1, "write");
		KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 5) == 1 && ev.res == 1,
			 "pipe read after the signal");
		close(p[0]);
		close(p[1]);
	}

	io_destroy(ctx);
	kt_sysctl_set(0);
	return kt_done();
}
