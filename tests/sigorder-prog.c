/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signals the library keeps during one of its calls run as the kernel
 * runs signals delivered at once: each handler with the masks of those
 * still to run.  Two are caught inside aio_read() (the program's own
 * fcntl(), exported with -export-dynamic, sends them as the library asks
 * the fd's flags): SIGRTMIN+5, whose handler blocks nothing, then SIGUSR1,
 * whose handler blocks SIGUSR1 and SIGUSR2.  Kept, they run as aio_read()
 * returns, in that order; SIGRTMIN+5's handler sends SIGUSR2.  The kernel,
 * given both at once, runs SIGRTMIN+5's handler on top of SIGUSR1's frame,
 * with SIGUSR1's mask: SIGUSR2 waits for SIGUSR1's handler.  So the order
 * is SIGRTMIN+5, SIGUSR1, SIGUSR2; SIGUSR2, sent after SIGUSR1, ran nested
 * in the first handler before (an outside tester saw it as 0-5 of 20,000
 * pairs swapped with a third number beside).  First, a round where the
 * first handler returns through setcontext(), which must change nothing
 * for the rounds after it; then two pairs of numbers sent in turn, the
 * first number kept (its handler's number comes in as it returns); last,
 * the first round again after the first handler blocked nothing of the
 * rest: no number may run twice or be lost.  Run
 * by tests/check-sigorder.sh.
 * Exit 0 pass, 1 fail, 77 skip (signals not kept: KAIO_SIGDEFER=0, or a
 * sanitizer that delivers handlers itself).
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
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "shim-real.h"

static atomic_int armed, not_kept;
/* Round 0: only SIGRTMIN+5 is sent, and its handler returns through
 * setcontext() on its ucontext. */
static atomic_int via_setcontext;
/* The round of pairs in turn: only SIGUSR1 is sent inside aio_read(); its
 * handler sends SIGUSR2, and SIGUSR2's first sends SIGUSR1 and SIGUSR2. */
static atomic_int in_turn, usr2_runs;
/* The round whose kept handler blocks numbers with pthread_sigmask() and
 * returns (only SIGUSR1 is sent), and the one whose kept SIGUSR1 handler
 * calls aio_suspend() after SIGUSR2's sent SIGWINCH (SIGUSR2, then
 * SIGUSR1, are sent). */
static atomic_int blocks, nested;
static struct aiocb done_cb;
static char order[16];
static atomic_int n_order;

static void note(char c)
{
	int i = atomic_fetch_add(&n_order, 1);

	if (i < (int)sizeof(order) - 1)
		order[i] = c;
}

static void send_self(int sig)
{
	syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
}

__attribute__((visibility("default"))) int fcntl(int fd, int cmd, ...);

int fcntl(int fd, int cmd, ...)
{
	static int (*next)(int, int, ...);

	if (cmd == F_GETFL && atomic_exchange(&armed, 0)) {
		if (atomic_load(&nested))
			send_self(SIGUSR2);
		else if (!atomic_load(&in_turn) && !atomic_load(&blocks))
			send_self(SIGRTMIN + 5);
		if (!atomic_load(&via_setcontext))
			send_self(SIGUSR1);
		/* Not kept: the first handler has run already, in here. */
		if (atomic_load(&n_order))
			atomic_store(&not_kept, 1);
	}
	return SHIM_FCNTL_NEXT(next, fd, cmd);
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	if (atomic_load(&via_setcontext)) {
		note('S');
		setcontext(uc);
		return;
	}
	note('R');
	send_self(SIGUSR2);
}

static void on_usr(int sig)
{
	const struct aiocb *l[1] = { &done_cb };
	sigset_t set;

	if (sig == SIGWINCH) {
		note('w');
		return;
	}
	note(sig == SIGUSR1 ? 'a' : 'b');
	if (atomic_load(&blocks)) {
		sigemptyset(&set);
		sigaddset(&set, SIGUSR2);
		sigaddset(&set, SIGWINCH);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
		return;
	}
	if (atomic_load(&nested)) {
		if (sig == SIGUSR2)
			send_self(SIGWINCH);
		else
			aio_suspend(l, 1, NULL);
		return;
	}
	if (!atomic_load(&in_turn))
		return;
	if (sig == SIGUSR1 && atomic_load(&n_order) == 1) {
		send_self(SIGUSR2);
	} else if (sig == SIGUSR2 && atomic_fetch_add(&usr2_runs, 1) == 0) {
		send_self(SIGUSR1);
		send_self(SIGUSR2);
	}
}

/* One aio_read() of a new fd (its flags asked with fcntl()), the signals
 * sent inside it; the handlers' order (or what went wrong), or NULL if
 * they were not kept.  want: the handlers to wait for. */
static const char *round_of(const char *path, int want)
{
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	char buf[16];
	int fd = open(path, O_RDONLY), i;

	if (fd < 0)
		return "open";
	memset(order, 0, sizeof(order));
	atomic_store(&n_order, 0);
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_buf = buf;
	cb.aio_nbytes = sizeof(buf);
	atomic_store(&armed, 1);
	if (aio_read(&cb))
		return "aio_read";
	while (aio_error(&cb) == EINPROGRESS)
		aio_suspend(l, 1, NULL);
	aio_return(&cb);
	/* Not closed: the next round's fd is a number never read before,
	 * whose flags the library asks. */
	if (atomic_exchange(&armed, 0))
		return "no fcntl";
	for (i = 0; i < 200 && atomic_load(&n_order) < want; i++)
		usleep(1000);
	return atomic_load(&not_kept) ? NULL : order;
}

static char done_buf[1];

/* 1 (printed) unless got holds each handler of want once, in any order. */
static int not_each_once(const char *got, const char *want, const char *what)
{
	const char *w;

	if (strlen(got) == strlen(want)) {
		for (w = want; *w && strchr(got, *w); w++)
			;
		if (!*w)
			return 0;
	}
	fprintf(stderr, "FAIL: %s: the handlers ran %s, not each once\n",
		what, got);
	return 1;
}

/* 1 (printed) if SIGUSR2 or SIGWINCH is left blocked in this thread;
 * unblocked for the next round. */
static int left_blocked(const char *what)
{
	sigset_t cur;
	int bad;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	bad = sigismember(&cur, SIGUSR2) || sigismember(&cur, SIGWINCH);
	if (bad) {
		fprintf(stderr, "FAIL: %s: %s%s left blocked\n", what,
			sigismember(&cur, SIGUSR2) ? "SIGUSR2 " : "",
			sigismember(&cur, SIGWINCH) ? "SIGWINCH" : "");
		sigemptyset(&cur);
		sigaddset(&cur, SIGUSR2);
		sigaddset(&cur, SIGWINCH);
		pthread_sigmask(SIG_UNBLOCK, &cur, NULL);
	} else {
		printf("%s: nothing left blocked\n", what);
	}
	return bad;
}

int main(void)
{
	char path[] = "kaio-sigorder-XXXXXX";
	const char *san = getenv("SANITIZED"), *got;
	struct sigaction sa;
	int fd, bad = 0;

	if (san && strstr(san, "thread")) {
		printf("SKIP: ThreadSanitizer delivers the program's handlers "
		       "itself\n");
		return 77;
	}
	alarm(30);
	fd = mkstemp(path);
	if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16) {
		perror("sigorder-prog: setup");
		return 1;
	}
	close(fd);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGRTMIN + 5, &sa, NULL))
		return 1;
	sa.sa_flags = 0;
	sa.sa_handler = on_usr;
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaddset(&sa.sa_mask, SIGUSR2);
	if (sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGUSR2, &sa, NULL))
		return 1;

	/* A kept handler that returns through setcontext() (which the
	 * library supports) must leave the next rounds as they were: it
	 * left the library counting a handler running, for good, and a
	 * signal that came after the first kept one ran was no longer kept
	 * behind the rest (the next round: R, SIGUSR2, SIGUSR1). */
	atomic_store(&via_setcontext, 1);
	got = round_of(path, 1);
	atomic_store(&via_setcontext, 0);
	if (got && strcmp(got, "S")) {
		fprintf(stderr, "FAIL: the handler returning through "
			"setcontext() ran as %s, not S\n", got);
		bad = 1;
	}

	got = round_of(path, 3);
	if (!got) {
		unlink(path);
		printf("SKIP: the signals were not kept in aio_read() "
		       "(KAIO_SIGDEFER=%s)\n", getenv("KAIO_SIGDEFER") ?
		       getenv("KAIO_SIGDEFER") : "");
		return 77;
	}
	printf("handlers ran in the order %s (R: SIGRTMIN+5, a: SIGUSR1, "
	       "b: SIGUSR2)\n", got);
	if (strcmp(got, "Rab")) {
		fprintf(stderr, "FAIL: order %s, not Rab: SIGUSR2, sent after "
			"SIGUSR1, ran %s\n", got, strchr(got, 'b') &&
			strchr(got, 'a') && strchr(got, 'b') < strchr(got, 'a') ?
			"first" : "wrong");
		bad = 1;
	}

	/*
	 * Two numbers sent in turn, twice, the handlers blocking both: the
	 * kept SIGUSR1's handler sends SIGUSR2, which runs as it returns;
	 * SIGUSR2's sends SIGUSR1 and SIGUSR2, which come in as it returns,
	 * the lower first.  The kept handler's number stayed blocked until
	 * the library had let them all in: the second SIGUSR2 ran ahead of
	 * the second SIGUSR1 (abba; two real-time numbers sent in turn to a
	 * thread looping in the library's calls: 3 of 40,000 pairs).
	 */
	atomic_store(&in_turn, 1);
	got = round_of(path, 4);
	atomic_store(&in_turn, 0);
	if (got) {
		printf("two pairs in turn: %s\n", got);
		if (strcmp(got, "abab")) {
			fprintf(stderr, "FAIL: two pairs sent in turn ran %s, "
				"not abab\n", got);
			bad = 1;
		}
	}

	/* SIGUSR1's handler blocks nothing more: each runs once still. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		return 1;
	got = round_of(path, 3);
	if (got) {
		printf("without SIGUSR1's mask: %s\n", got);
		bad |= not_each_once(got, "Rab", "without SIGUSR1's mask");
	}

	/*
	 * A kept handler (its sa_mask empty, none kept after it) blocks
	 * SIGUSR2 and SIGWINCH and returns: as the kernel's sigreturn
	 * would, the library puts the mask back.  It left both blocked.
	 */
	atomic_store(&blocks, 1);
	got = round_of(path, 1);
	atomic_store(&blocks, 0);
	if (got)
		bad |= left_blocked("a kept handler that blocked them returned");

	/*
	 * SIGUSR2, then SIGUSR1, kept; SIGUSR1's handler blocks SIGWINCH,
	 * which SIGUSR2's sends (kept behind SIGUSR1 as it comes in), and
	 * calls aio_suspend() on a request done already.  The library lets
	 * SIGWINCH in at the end of that call, inside SIGUSR1's handler
	 * (glibc: after it, kaio_posix(7)); it then blocked SIGWINCH again
	 * as SIGUSR1's handler returned, for good.
	 */
	memset(&done_cb, 0, sizeof(done_cb));
	done_cb.aio_fildes = open(path, O_RDONLY);
	done_cb.aio_buf = done_buf;
	done_cb.aio_nbytes = 1;
	if (done_cb.aio_fildes < 0 || aio_read(&done_cb))
		return 1;
	while (aio_error(&done_cb) == EINPROGRESS)
		usleep(1000);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_usr;
	if (sigaction(SIGUSR2, &sa, NULL) || sigaction(SIGWINCH, &sa, NULL))
		return 1;
	sigaddset(&sa.sa_mask, SIGWINCH);
	if (sigaction(SIGUSR1, &sa, NULL))
		return 1;
	atomic_store(&nested, 1);
	got = round_of(path, 3);
	atomic_store(&nested, 0);
	if (got) {
		printf("a kept handler's own call: %s\n", got);
		bad |= not_each_once(got, "abw", "a kept handler's own call");
		bad |= left_blocked("a kept handler's own call let one in");
	}
	aio_return(&done_cb);
	close(done_cb.aio_fildes);
	unlink(path);
	if (!bad)
		printf("PASS\n");
	return bad;
}
