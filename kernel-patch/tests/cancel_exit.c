/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cancel_exit: a threaded pipe read that will never complete can be
 * cancelled with io_cancel() (-EINPROGRESS, then an event with
 * -ECANCELED), io_destroy() returns, and a process that exits, is killed
 * or execs with such a read pending does not hang.  An OPENAT queued
 * before exec never runs, in the old image or in the new one.
 */
#include "kt.h"

static const char *self;

/*
 * Exec with an OPENAT(O_CREAT) queued behind busy workers: exec must cancel
 * it, so it never runs, neither before nor after the new image starts.
 * The new image opens the old workers' FIFOs, runs a request of its own
 * (so a worker exists again) and then checks that the file is not there.
 */
static void exec_with_queued(aio_context_t ctx)
{
	static struct kt_blocker b;
	static char fifos[64 * 520];
	char *p = fifos;
	struct iocb cb;
	int i;

	kt_block(ctx, &b);
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("exec-marker"),
		0, O_CREAT | O_WRONLY | ((long long)0644 << 32));
	if (kt_submit1(ctx, &cb))
		_exit(7);
	for (i = 0; i < b.n; i++)
		p += sprintf(p, "%s,", b.fifo[i]);
	execl(self, self, "--exec-target", kt_path("exec-marker"), fifos,
	      (char *)NULL);
	_exit(6);
}

/* The new image of exec_with_queued(). */
static int exec_target(const char *marker, char *fifos)
{
	static char buf[4];
	aio_context_t ctx = 0;
	char *tok, *save;
	struct iocb cb;
	int fd;

	/* the old workers were killed; open their FIFOs anyway */
	for (tok = strtok_r(fifos, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		fd = open(tok, O_WRONLY | O_NONBLOCK);
		if (fd >= 0)
			close(fd);
		unlink(tok);
	}
	fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0 || io_setup(4, &ctx))
		return 11;
	kt_prep(&cb, IOCB_CMD_PREAD, fd, buf, 4, 0);
	if (kt_run1(ctx, &cb, 5) != 4)
		return 12;
	kt_sleep_ms(100);
	if (access(marker, F_OK) == 0) {
		fprintf(stderr, "cancel_exit: FAIL: the OPENAT queued before "
			"exec ran (%s exists)\n", marker);
		return 13;
	}
	return 0;
}

/* Child: queue a pipe read nobody will satisfy, tell the parent, end. */
static void child(int how, int ready)
{
	aio_context_t ctx = 0;
	static char buf[64];
	struct iocb cb;
	int p[2];

	if (io_setup(8, &ctx) || pipe(p))
		_exit(3);
	kt_prep(&cb, IOCB_CMD_PREAD, p[0], buf, sizeof(buf), 0);
	if (kt_submit1(ctx, &cb))
		_exit(4);
	kt_sleep_ms(50);	/* let the worker block in pipe_read() */
	if (write(ready, "r", 1) != 1)
		_exit(5);
	if (how == 0)
		_exit(0);
	if (how == 1)
		for (;;)
			pause();	/* the parent kills us */
	exec_with_queued(ctx);
}

static void run_child(int how, const char *what)
{
	int sync[2], status = 0;
	char c;
	pid_t pid;
	double t;

	KT_REQUIRE(pipe(sync) == 0, "pipe");
	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		close(sync[0]);
		child(how, sync[1]);
	}
	close(sync[1]);
	KT_REQUIRE(read(sync[0], &c, 1) == 1, "%s: child did not start", what);
	close(sync[0]);
	if (how == 1)
		kill(pid, SIGKILL);
	t = kt_now();
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (kt_now() - t > 10) {
			KT_FAIL("%s: child hangs with a pending read", what);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return;
		}
		kt_sleep_ms(10);
	}
	if (how == 1)
		KT_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			 "%s: status %#x", what, status);
	else
		KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			 "%s: status %#x", what, status);
	if (how == 2)
		KT_CHECK(access(kt_path("exec-marker"), F_OK) != 0,
			 "%s: the OPENAT queued before exec ran", what);
	printf("%s: reaped after %.3fs\n", what, kt_now() - t);
}

int main(int argc, char **argv)
{
	aio_context_t ctx = 0, ctx2 = 0;
	static char buf[64];
	struct io_event ev;
	struct iocb cb, cb2;
	int p[2];
	double t;
	long r;

	if (argc > 3 && !strcmp(argv[1], "--exec-target"))
		return exec_target(argv[2], argv[3]);
	self = "/proc/self/exe";
	kt_init(argc, argv, "cancel_exit");
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(8, &ctx) == 0 && pipe(p) == 0, "setup");

	/* io_cancel of a running (blocked) read */
	kt_prep(&cb, IOCB_CMD_PREAD, p[0], buf, sizeof(buf), 0);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "submit");
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 0.1) == 0, "read completed");
	r = io_cancel(ctx, &cb, &ev);
	KT_CHECK(r == -1 && errno == EINPROGRESS, "io_cancel: %ld errno %d",
		 r, errno);
	t = kt_now();
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 5) == 1 &&
		 ev.obj == (unsigned long)&cb && ev.res == -ECANCELED,
		 "cancelled read: res %lld", (long long)ev.res);
	KT_CHECK(kt_now() - t < 2, "cancel took %.2fs", kt_now() - t);
	/* cancelling again: no longer known */
	r = io_cancel(ctx, &cb, &ev);
	KT_CHECK(r == -1 && errno == EINVAL, "second io_cancel: %ld", r);

	/* the worker is usable again after the cancel */
	kt_prep(&cb, IOCB_CMD_PREAD, p[0], buf, sizeof(buf), 0);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "submit");
	KT_REQUIRE(write(p[1], "after", 5) == 5, "write");
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 5) == 1 && ev.res == 5,
		 "read after cancel: %lld", (long long)ev.res);

	/*
	 * io_cancel of a request that no worker has started yet (all
	 * workers of this task are blocked in opens of FIFOs): its
	 * -ECANCELED event comes at once, and it never runs, even when a
	 * worker is free.
	 */
	{
		static struct kt_blocker b;
		struct io_event qev[64];
		struct iocb qcb;
		int i, seen = 0;

		kt_block(ctx, &b);
		kt_prep(&qcb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD,
			kt_path("queued-marker"), 0,
			O_CREAT | O_WRONLY | ((long long)0644 << 32));
		KT_REQUIRE(kt_submit1(ctx, &qcb) == 0, "submit");
		t = kt_now();
		r = io_cancel(ctx, &qcb, qev);
		KT_CHECK(r == -1 && errno == EINPROGRESS,
			 "io_cancel of a queued OPENAT: %ld", r);
		KT_CHECK(kt_getevents(ctx, 1, 1, qev, 2) == 1 &&
			 qev[0].obj == (unsigned long)&qcb &&
			 qev[0].res == -ECANCELED,
			 "queued OPENAT: no -ECANCELED event (res %lld)",
			 (long long)qev[0].res);
		KT_CHECK(kt_now() - t < 1, "the event took %.2fs", kt_now() - t);
		/* free the workers */
		kt_unblock(&b);
		while (seen < b.n) {
			long got = kt_getevents(ctx, 1, 64, qev, 5);

			if (got <= 0)
				break;
			for (i = 0; i < got; i++) {
				KT_CHECK(qev[i].obj != (unsigned long)&qcb,
					 "second event for the cancelled OPENAT");
				KT_CHECK(kt_is_blocker(&b, &qev[i]) &&
					 kt_blocker_done(&qev[i]),
					 "blocker: %lld", (long long)qev[i].res);
			}
			seen += got;
		}
		KT_CHECK(seen == b.n, "%d of %d events", seen, b.n);
		/* nothing more may come */
		KT_CHECK(kt_getevents(ctx, 1, 64, qev, 0.2) == 0, "extra event");
		KT_CHECK(access(kt_path("queued-marker"), F_OK) != 0,
			 "the cancelled OPENAT ran");
		kt_blocker_close(&b);
	}

	/* io_destroy with a blocked read returns */
	KT_REQUIRE(io_setup(8, &ctx2) == 0, "io_setup");
	kt_prep(&cb2, IOCB_CMD_PREAD, p[0], buf, sizeof(buf), 0);
	KT_REQUIRE(kt_submit1(ctx2, &cb2) == 0, "submit");
	kt_sleep_ms(20);
	t = kt_now();
	KT_CHECK(io_destroy(ctx2) == 0, "io_destroy: %s", strerror(errno));
	KT_CHECK(kt_now() - t < 2, "io_destroy took %.2fs", kt_now() - t);

	io_destroy(ctx);
	close(p[0]);
	close(p[1]);

	run_child(0, "exit with a pending pipe read");
	run_child(1, "SIGKILL with a pending pipe read");
	run_child(2, "exec with a pending pipe read");

	kt_sysctl_set(0);
	return kt_done();
}
