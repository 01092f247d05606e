/* SPDX-License-Identifier: GPL-2.0 */
/*
 * destroy_wait: io_destroy() of a context must not wait behind the work of
 * another context.  A child fills every worker of an io-wq with OPENATs of
 * a FIFO on context A that never complete (no writer comes), queues one
 * more on context B (it cannot start: no worker is free) and destroys B.
 * The queued open must be cancelled at once rather than wait for a
 * worker, so io_destroy() returns within 3 s.  Three cases: "self" (the
 * destroying thread queued it), "thread" (another thread of the process
 * queued it on its own io-wq, and lives on), "retired" (the thread queued
 * it, then unshared its files table and submitted again, so the request
 * waits on a retired io-wq).  Then a SIGKILL must end the child: it must
 * not stay in D state (/proc/PID/stat).
 */
#include "kt.h"
#include <pthread.h>
#include <sched.h>

#define MAXR 80

static char state_of(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '-';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : '?';
}

static aio_context_t a, b;
static struct iocb cbs[MAXR + 1];
static int nreads, ready[2];

/*
 * Fill every worker of the calling thread with opens of a FIFO on A, then
 * queue one more on B: it cannot start.
 */
static void fill_and_queue(void)
{
	struct iocb *list[MAXR];
	struct io_event ev[4];
	char *fa = kt_path("fifo-a"), *fb = kt_path("fifo-b");
	int i;

	if (mkfifo(fa, 0600) || mkfifo(fb, 0600))
		_exit(2);
	for (i = 0; i < nreads; i++) {
		kt_prep(&cbs[i], KAIO_IOCB_CMD_OPENAT, AT_FDCWD, fa, 0,
			O_RDONLY);
		list[i] = &cbs[i];
	}
	if (io_submit(a, nreads, list) != nreads)
		_exit(3);
	/* let io-wq create its workers (task_work on this task) */
	for (i = 0; i < 30; i++)
		kt_getevents(a, 1, 4, ev, 0.01);
	kt_prep(&cbs[MAXR], KAIO_IOCB_CMD_OPENAT, AT_FDCWD, fb, 0, O_RDONLY);
	if (kt_submit1(b, &cbs[MAXR]))
		_exit(4);
}

/* "thread": another thread of the process queued them, and stays */
static void *filler(void *arg)
{
	(void)arg;
	fill_and_queue();
	if (write(ready[1], "r", 1) != 1)
		_exit(7);
	for (;;)
		pause();
	return NULL;
}

/*
 * "retired": after queueing, this thread unshares its files table and
 * submits again, so a new io-wq takes over and the request waits on the
 * retired one.
 */
static void retire(void)
{
	aio_context_t c = 0;
	struct iocb cb;

	if (unshare(CLONE_FILES) || io_setup(4, &c))
		_exit(8);
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("fifo-a"), 0,
		O_RDONLY | O_NONBLOCK);
	if (kt_run1(c, &cb, 5) < 0)
		_exit(9);
}

static void child(const char *mode, int report)
{
	pthread_t t;
	long r;
	char c;

	if (io_setup(MAXR, &a) || io_setup(4, &b))
		_exit(2);
	if (!strcmp(mode, "thread")) {
		if (pipe(ready) || pthread_create(&t, NULL, filler, NULL) ||
		    read(ready[0], &c, 1) != 1)
			_exit(10);
	} else {
		fill_and_queue();
		if (!strcmp(mode, "retired"))
			retire();
	}
	kt_sleep_ms(100);
	c = 'S';
	if (write(report, &c, 1) != 1)
		_exit(5);
	r = io_destroy(b);
	c = r == 0 ? 'D' : 'E';
	if (write(report, &c, 1) != 1)
		_exit(6);
	for (;;)
		pause();
}

/* One case in a child: io_destroy(B) returns, then SIGKILL ends it. */
static int run_case(const char *mode)
{
	int rp[2], status, i;
	char c = 0, st;
	pid_t pid, w = 0;
	double end;

	KT_REQUIRE(pipe(rp) == 0, "pipe");
	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		kt_name = mode;
		close(rp[0]);
		child(mode, rp[1]);
	}
	close(rp[1]);
	KT_REQUIRE(read(rp[0], &c, 1) == 1 && c == 'S',
		   "%s: the child failed to set up (%c)", mode, c);

	/* io_destroy(B) must return within 3 s */
	fcntl(rp[0], F_SETFL, O_NONBLOCK);
	c = 0;
	end = kt_now() + 3;
	while (kt_now() < end && read(rp[0], &c, 1) != 1)
		kt_sleep_ms(20);
	close(rp[0]);
	st = state_of(pid);
	KT_CHECK(c == 'D', "%s: io_destroy() of B %s (child state %c)", mode,
		 c == 'E' ? "failed" : "did not return in 3 s", st);
	printf("%s: io_destroy: %s, child state %c\n", mode,
	       c == 'D' ? "returned" : "blocked", st);

	/* a SIGKILL must end the child wherever it is */
	kill(pid, SIGKILL);
	end = kt_now() + 10;
	while (kt_now() < end) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		kt_sleep_ms(20);
	}
	if (w != pid) {
		st = state_of(pid);
		KT_FAIL("%s: the child did not exit 10 s after SIGKILL "
			"(state %c)", mode, st);
		for (i = 0; i < 3; i++)
			printf("child state %c\n", state_of(pid));
		return -1;	/* do not reset the sysctl under a stuck task */
	}
	KT_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		 "%s: child status %#x", mode, status);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "self", "thread", "retired" };
	unsigned int i;

	kt_init(argc, argv, "destroy_wait");
	nreads = kt_worker_bound() + 4;
	KT_REQUIRE(nreads <= MAXR, "worker bound %d", nreads - 4);
	kt_sysctl_set(1);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		size_t l = strlen(kt_scratch);

		/* each case in a directory of its own */
		KT_REQUIRE(l + 16 < sizeof(kt_scratch), "scratch path");
		sprintf(kt_scratch + l, "/%s", modes[i]);
		KT_REQUIRE(mkdir(kt_scratch, 0755) == 0, "mkdir");
		if (run_case(modes[i]))
			return 1;
		kt_scratch[l] = 0;
	}
	kt_sysctl_set(0);
	return kt_done();
}
