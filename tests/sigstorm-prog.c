/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A storm of signals at a thread that loops in aio_read() and
 * aio_suspend(): every one is handled once, each handler runs with its
 * number and its mask blocked, and none is left blocked.  Another thread
 * sends bursts of four real-time numbers with values counting up
 * (pthread_sigqueue(), up to 24 outstanding) and four standard ones (one
 * outstanding each).  The handlers' masks differ: SIGRTMIN+4's blocks all
 * eight, SIGRTMIN+3's (which calls aio_suspend() on a request done
 * already, every third time) blocks SIGRTMIN+4; more come than the
 * library keeps (four), so some are queued again, and signals kept
 * behind a kept handler are let in by that handler's own call.  The
 * order of one number's values is not checked: one queued again goes
 * behind those pending (kaio_posix(7)).
 *
 * Under CPU load (make check -j2 is enough) a number was left blocked for
 * good in 1 run of 8: the kernel stacked two signals' frames, the top
 * one's handler (SIGRTMIN+3's aio_suspend()) let in what the thread held
 * back, and the frame below, not yet looked at, blocked it all again as
 * it returned.  An outside review, pinned to one CPU with a busy loop,
 * failed 23 of 32 runs before that fix, 6 of 32 after it (the same
 * windows after the look, and as the frame returns), 0 of 32 since.
 * Before the fixes of session 42, 8 of 8 runs under load left numbers
 * blocked, and an outside tester's program of the same kind left
 * SIGRTMIN+4 blocked in every 6 s run on every backend, idle.
 * Exit 0 pass, 1 fail, 77 skip (under ThreadSanitizer).
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { NRT = 4, NSTD = 4, OUTSTANDING = 24, RUN_MS = 4000, CALL_EVERY = 3 };

static const int std_sig[NSTD] = { SIGUSR1, SIGUSR2, SIGWINCH, SIGURG };
static pthread_t reader;
static atomic_int stop, rt_calls;
static atomic_long rt_sent[NRT], rt_run[NRT], rt_dup;
static atomic_int std_out[NSTD];
static atomic_long std_sent[NSTD], std_run[NSTD];
static unsigned char *seen[NRT];
static struct aiocb done_cb;
static sigset_t reader_mask;
static int fd;
/* Handlers that ran without their number, or a number of their mask,
 * blocked (each looks: a system call, where others may come in). */
static atomic_long mask_bad;
static char mask_bad_what[80];
static sigset_t rt_mask[NRT], std_mask[NSTD];

static void look(int sig, const sigset_t *want)
{
	sigset_t cur;
	int i;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	for (i = 1; i < SIGRTMAX; i++)
		if ((i == sig || sigismember(want, i)) &&
		    !sigismember(&cur, i) &&
		    !atomic_fetch_add(&mask_bad, 1))
			snprintf(mask_bad_what, sizeof(mask_bad_what),
				 "the first: %d's handler ran with %d not "
				 "blocked", sig, i);
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	int k = sig - SIGRTMIN - 1, v = si->si_value.sival_int;
	const struct aiocb *l[1] = { &done_cb };

	(void)uc;
	if (k < 0 || k >= NRT)
		return;
	look(sig, &rt_mask[k]);
	if (seen[k][v]++)
		atomic_fetch_add(&rt_dup, 1);
	atomic_fetch_add(&rt_run[k], 1);
	if (k == 2 && atomic_fetch_add(&rt_calls, 1) % CALL_EVERY == 0)
		aio_suspend(l, 1, NULL);
}

static void on_std(int sig)
{
	int k;

	for (k = 0; k < NSTD; k++)
		if (std_sig[k] == sig)
			break;
	look(sig, &std_mask[k]);
	atomic_fetch_add(&std_run[k], 1);
	atomic_store(&std_out[k], 0);
}

static void *read_loop(void *arg)
{
	static char buf[512];
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };

	(void)arg;
	while (!atomic_load(&stop)) {
		memset(&cb, 0, sizeof(cb));
		cb.aio_fildes = fd;
		cb.aio_buf = buf;
		cb.aio_nbytes = sizeof(buf);
		if (aio_read(&cb))
			continue;
		while (aio_error(&cb) == EINPROGRESS)
			aio_suspend(l, 1, NULL);
		aio_return(&cb);
		/* Between calls, where signals come in too. */
		pthread_sigmask(SIG_BLOCK, NULL, &reader_mask);
	}
	pthread_sigmask(SIG_BLOCK, NULL, &reader_mask);
	return NULL;
}

static long outstanding(void)
{
	long n = 0;
	int k;

	for (k = 0; k < NRT; k++)
		n += atomic_load(&rt_sent[k]) - atomic_load(&rt_run[k]);
	return n;
}

int main(void)
{
	const char *san = getenv("SANITIZED");
	char path[] = "kaio-sigstorm-XXXXXX";
	struct sigaction sa;
	union sigval v;
	static char block[4096];
	unsigned seed = 1;
	long t0;
	int k, i, bad = 0;

	if (san && strstr(san, "thread")) {
		printf("SKIP: ThreadSanitizer delivers the program's handlers "
		       "itself\n");
		return 77;
	}
	alarm(60);
	fd = mkstemp(path);
	memset(block, 'x', sizeof(block));
	if (fd < 0 || write(fd, block, sizeof(block)) != sizeof(block))
		return 1;
	unlink(path);
	for (k = 0; k < NRT; k++)
		if (!(seen[k] = calloc(1 << 22, 1)))
			return 1;
	done_cb.aio_fildes = fd;
	done_cb.aio_buf = path;
	done_cb.aio_nbytes = 1;
	if (aio_read(&done_cb))
		return 1;
	while (aio_error(&done_cb) == EINPROGRESS)
		usleep(1000);

	/* Each handler's mask: some of the others (SIGRTMIN+3's, which
	 * calls the library, blocks SIGRTMIN+4's; SIGRTMIN+4's all eight). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sa.sa_sigaction = on_rt;
	for (k = 0; k < NRT; k++) {
		sigemptyset(&sa.sa_mask);
		if (k == 0) {
			sigaddset(&sa.sa_mask, SIGRTMIN + 2);
			sigaddset(&sa.sa_mask, SIGUSR1);
		} else if (k == 2) {
			sigaddset(&sa.sa_mask, SIGRTMIN + 1);
			sigaddset(&sa.sa_mask, SIGRTMIN + 4);
			sigaddset(&sa.sa_mask, SIGUSR2);
		} else if (k == 3) {
			for (i = 0; i < NRT; i++)
				sigaddset(&sa.sa_mask, SIGRTMIN + 1 + i);
			for (i = 0; i < NSTD; i++)
				sigaddset(&sa.sa_mask, std_sig[i]);
		}
		rt_mask[k] = sa.sa_mask;
		if (sigaction(SIGRTMIN + 1 + k, &sa, NULL))
			return 1;
	}
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_std;
	for (k = 0; k < NSTD; k++) {
		sigemptyset(&sa.sa_mask);
		if (std_sig[k] == SIGUSR1) {
			sigaddset(&sa.sa_mask, SIGRTMIN + 3);
		} else if (std_sig[k] == SIGWINCH) {
			sigaddset(&sa.sa_mask, SIGUSR1);
			sigaddset(&sa.sa_mask, SIGRTMIN + 2);
		}
		std_mask[k] = sa.sa_mask;
		if (sigaction(std_sig[k], &sa, NULL))
			return 1;
	}
	if (pthread_create(&reader, NULL, read_loop, NULL))
		return 1;

	/* Bursts of one to four, a pause of up to 40 us between. */
	t0 = now_ms();
	while (now_ms() - t0 < RUN_MS) {
		struct timespec pause = { 0, 0 };
		int n = 1 + rand_r(&seed) % 4, r;

		for (i = 0; i < n; i++) {
			r = rand_r(&seed) % 12;
			if (r < 8) {
				k = r % NRT;
				if (outstanding() > OUTSTANDING ||
				    atomic_load(&rt_sent[k]) >= (1 << 22) - 1)
					continue;
				v.sival_int = (int)atomic_load(&rt_sent[k]);
				if (pthread_sigqueue(reader, SIGRTMIN + 1 + k,
						     v) == 0)
					atomic_fetch_add(&rt_sent[k], 1);
			} else if (!atomic_exchange(&std_out[r - 8], 1)) {
				atomic_fetch_add(&std_sent[r - 8], 1);
				pthread_kill(reader, std_sig[r - 8]);
			}
		}
		pause.tv_nsec = 1000 * (rand_r(&seed) % 40);
		nanosleep(&pause, NULL);
	}
	/* What was sent is handled within 2 s, or never. */
	t0 = now_ms();
	while (outstanding() && now_ms() - t0 < 2000)
		usleep(1000);
	atomic_store(&stop, 1);
	pthread_join(reader, NULL);
	printf("sent");
	for (k = 0; k < NRT; k++)
		printf(" RT+%d %ld", k + 1, atomic_load(&rt_sent[k]));
	for (k = 0; k < NSTD; k++)
		printf(", %s %ld", strsignal(std_sig[k]),
		       atomic_load(&std_sent[k]));
	printf("\n");
	for (k = 0; k < NRT; k++)
		if (atomic_load(&rt_run[k]) != atomic_load(&rt_sent[k])) {
			fprintf(stderr, "FAIL: SIGRTMIN+%d: %ld sent, %ld "
				"handled\n", k + 1, atomic_load(&rt_sent[k]),
				atomic_load(&rt_run[k]));
			bad = 1;
		}
	if (atomic_load(&mask_bad)) {
		fprintf(stderr, "FAIL: %ld handlers ran with their number or "
			"their mask not blocked (%s)\n", atomic_load(&mask_bad),
			mask_bad_what);
		bad = 1;
	}
	if (atomic_load(&rt_dup)) {
		fprintf(stderr, "FAIL: %ld values handled twice\n",
			atomic_load(&rt_dup));
		bad = 1;
	}
	/* A standard one still outstanding (its send merged with one
	 * pending) is not an error; one blocked for good is, below. */
	for (k = 0; k < NSTD; k++)
		if (atomic_load(&std_run[k]) > atomic_load(&std_sent[k])) {
			fprintf(stderr, "FAIL: %s: %ld sent, %ld handled\n",
				strsignal(std_sig[k]),
				atomic_load(&std_sent[k]),
				atomic_load(&std_run[k]));
			bad = 1;
		}
	/* Nothing the library held is left blocked in the reader. */
	for (k = 0; k < NRT + NSTD; k++) {
		int sig = k < NRT ? SIGRTMIN + 1 + k : std_sig[k - NRT];

		if (sigismember(&reader_mask, sig)) {
			fprintf(stderr, "FAIL: %s left blocked in the reader\n",
				strsignal(sig));
			bad = 1;
		}
	}
	if (!bad)
		printf("PASS: every value handled once\n");
	return bad;
}
