/* SPDX-License-Identifier: GPL-2.0 */
/*
 * destroy_wait: io_destroy() of a context must not wait behind the work of
 * another context.  A child fills every worker of its io-wq with OPENATs
 * of a FIFO on context A that never complete (no writer comes), queues
 * one more on context B (it cannot start: no worker is free) and destroys
 * B.  The queued open must be cancelled at once rather than wait for a
 * worker, so io_destroy() returns.  Then a SIGKILL must end the child: it must not
 * stay in D state (/proc/PID/stat).
 */
#include "kt.h"

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

static void child(int nreads, int report)
{
	static struct iocb cbs[MAXR + 1];
	struct iocb *list[MAXR];
	struct io_event ev[4];
	aio_context_t a = 0, b = 0;
	char *fa = kt_path("fifo-a"), *fb = kt_path("fifo-b");
	int i;
	long r;
	char c;

	if (io_setup(MAXR, &a) || io_setup(4, &b) || mkfifo(fa, 0600) ||
	    mkfifo(fb, 0600))
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

int main(int argc, char **argv)
{
	int nreads = kt_worker_bound() + 4, rp[2], status, i;
	char c = 0, st;
	pid_t pid, w = 0;
	double end;

	kt_init(argc, argv, "destroy_wait");
	KT_REQUIRE(nreads <= MAXR, "worker bound %d", nreads - 4);
	kt_sysctl_set(1);
	KT_REQUIRE(pipe(rp) == 0, "pipe");
	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		close(rp[0]);
		child(nreads, rp[1]);
	}
	close(rp[1]);
	KT_REQUIRE(read(rp[0], &c, 1) == 1 && c == 'S',
		   "the child failed to set up (%c)", c);

	/* io_destroy(B) must return within 3 s */
	fcntl(rp[0], F_SETFL, O_NONBLOCK);
	c = 0;
	end = kt_now() + 3;
	while (kt_now() < end && read(rp[0], &c, 1) != 1)
		kt_sleep_ms(20);
	st = state_of(pid);
	KT_CHECK(c == 'D', "io_destroy() of B %s (child state %c)",
		 c == 'E' ? "failed" : "did not return in 3 s", st);
	printf("io_destroy: %s, child state %c\n",
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
		KT_FAIL("the child did not exit 10 s after SIGKILL (state %c)",
			st);
		for (i = 0; i < 3; i++)
			printf("child state %c\n", state_of(pid));
		return 1;	/* do not reset the sysctl under a stuck task */
	}
	KT_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		 "child status %#x", status);
	kt_sysctl_set(0);
	return kt_done();
}
