/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stress: races between submitters, workers, io_cancel(), completions and
 * exit.  Meant for "run-tests --qemu" (-smp 2); under UML it still mixes
 * the paths.  Checks that every request completes exactly once with a
 * plausible result, that concurrent submitters on one context get their
 * own events, and that children exiting, killed or destroying their
 * context with requests in every state are reaped promptly.  The kernel
 * log check of run-tests catches lockdep or list corruption reports.
 */
#include <pthread.h>
#include "kt.h"

#define THREADS	4
#define ROUNDS	150

static aio_context_t shared_ctx;
static volatile int thread_fail[THREADS];

/* one submitter thread: file I/O, OPENAT and pipe reads on a shared ctx */
static void *submitter(void *arg)
{
	long id = (long)arg;
	char path[512], wbuf[512], rbuf[512];
	struct iocb cbs[3], *list[3];
	struct io_event ev[3];
	int fd, p[2], i, j;

	snprintf(path, sizeof(path), "%s/t%ld", kt_scratch, id);
	fd = open(path, O_CREAT | O_RDWR, 0644);
	if (fd < 0 || pipe(p))
		goto fail;
	for (i = 0; i < ROUNDS; i++) {
		memset(wbuf, 'a' + (i + id) % 26, sizeof(wbuf));
		kt_prep(&cbs[0], IOCB_CMD_PWRITE, fd, wbuf, sizeof(wbuf),
			(i % 8) * 512);
		kt_prep(&cbs[1], KAIO_IOCB_CMD_OPENAT, AT_FDCWD, path, 0,
			O_RDONLY | O_CLOEXEC);
		kt_prep(&cbs[2], IOCB_CMD_PREAD, p[0], rbuf, 4, 0);
		for (j = 0; j < 3; j++)
			list[j] = &cbs[j];
		if (io_submit(shared_ctx, 3, list) != 3)
			goto fail;
		if (write(p[1], "ping", 4) != 4)
			goto fail;
		/*
		 * Both submitter threads reap from the shared ctx, so a thread
		 * may get the other's events; each reaps as many as it
		 * submitted, so none is left behind.  exact() checks data on
		 * a per-thread ctx.
		 */
		for (j = 0; j < 3; ) {
			long n = kt_getevents(shared_ctx, 1, 3 - j, ev + j, 10);

			if (n <= 0)
				goto fail;
			j += n;
		}
		for (j = 0; j < 3; j++) {
			struct iocb *cb = (struct iocb *)(unsigned long)ev[j].obj;

			if (cb == &cbs[1] && ev[j].res >= 0)
				close((int)ev[j].res);
		}
	}
	close(fd);
	close(p[0]);
	close(p[1]);
	return NULL;
fail:
	thread_fail[id] = 1;
	return NULL;
}

/* per-thread context: results must match exactly */
static void *exact(void *arg)
{
	long id = (long)arg;
	aio_context_t ctx = 0;
	char path[512], wbuf[4096], rbuf[4096];
	struct iocb w, r, *list[1];
	struct io_event ev;
	int fd, i;

	snprintf(path, sizeof(path), "%s/e%ld", kt_scratch, id);
	fd = open(path, O_CREAT | O_RDWR, 0644);
	if (fd < 0 || io_setup(8, &ctx))
		goto fail;
	for (i = 0; i < ROUNDS; i++) {
		memset(wbuf, (int)(i + id), sizeof(wbuf));
		kt_prep(&w, IOCB_CMD_PWRITE, fd, wbuf, sizeof(wbuf), 0);
		list[0] = &w;
		if (io_submit(ctx, 1, list) != 1 ||
		    kt_getevents(ctx, 1, 1, &ev, 10) != 1 ||
		    ev.obj != (unsigned long)&w || ev.res != sizeof(wbuf))
			goto fail;
		kt_prep(&r, IOCB_CMD_PREAD, fd, rbuf, sizeof(rbuf), 0);
		list[0] = &r;
		if (io_submit(ctx, 1, list) != 1 ||
		    kt_getevents(ctx, 1, 1, &ev, 10) != 1 ||
		    ev.obj != (unsigned long)&r || ev.res != sizeof(rbuf) ||
		    memcmp(wbuf, rbuf, sizeof(rbuf)))
			goto fail;
	}
	io_destroy(ctx);
	close(fd);
	return NULL;
fail:
	thread_fail[id] = 1;
	return NULL;
}

/* io_cancel() racing the completion: exactly one event, either result */
static void cancel_race(void)
{
	aio_context_t ctx = 0;
	struct io_event ev[2];
	struct iocb cb;
	char buf[8];
	int i, p[2], odd = 0;

	KT_REQUIRE(io_setup(8, &ctx) == 0 && pipe(p) == 0, "setup");
	for (i = 0; i < 300; i++) {
		long n;

		kt_prep(&cb, IOCB_CMD_PREAD, p[0], buf, 1, 0);
		KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "submit");
		if (i & 1)
			KT_REQUIRE(write(p[1], "x", 1) == 1, "write");
		io_cancel(ctx, &cb, &ev[0]);	/* may or may not find it */
		if (!(i & 1))
			KT_REQUIRE(write(p[1], "x", 1) == 1, "write");
		n = kt_getevents(ctx, 1, 2, ev, 10);
		KT_CHECK(n == 1, "round %d: %ld events", i, n);
		if (n < 1)
			break;
		KT_CHECK(ev[0].res == 1 || ev[0].res == -ECANCELED,
			 "round %d: res %lld", i, (long long)ev[0].res);
		/* a cancelled read left its byte in the pipe: drain it */
		if (ev[0].res != 1) {
			odd++;
			KT_REQUIRE(read(p[0], buf, 1) == 1, "drain");
		}
		n = kt_getevents(ctx, 1, 2, ev, 0);
		KT_CHECK(n == 0, "round %d: a second event", i);
	}
	fprintf(stderr, "cancel race: %d of 300 reads were cancelled\n", odd);
	io_destroy(ctx);
	fprintf(stderr, "cancel race: context destroyed\n");
	close(p[0]);
	close(p[1]);
}

/* children that end in every way with requests in every state */
static void exit_race(void)
{
	int i, slow = 0;

	for (i = 0; i < 60; i++) {
		int status, sync[2];
		pid_t pid;
		double t;
		char c;

		KT_REQUIRE(pipe(sync) == 0, "pipe");
		pid = fork();
		KT_REQUIRE(pid >= 0, "fork");
		if (pid == 0) {
			aio_context_t ctx = 0;
			static char buf[8][64], wbuf[8192];
			struct iocb cbs[12], *list[12];
			int p[8][2], j, fd;

			close(sync[0]);
			fd = open(kt_path("exit-race"), O_CREAT | O_RDWR, 0644);
			if (fd < 0 || io_setup(32, &ctx))
				_exit(3);
			for (j = 0; j < 8; j++) {
				if (pipe(p[j]))
					_exit(4);
				kt_prep(&cbs[j], IOCB_CMD_PREAD, p[j][0], buf[j],
					64, 0);
			}
			for (j = 8; j < 12; j++)
				kt_prep(&cbs[j], IOCB_CMD_PWRITE, fd, wbuf,
					sizeof(wbuf), (j - 8) * 8192);
			for (j = 0; j < 12; j++)
				list[j] = &cbs[j];
			if (io_submit(ctx, 12, list) != 12)
				_exit(5);
			if (write(p[0][1], "data", 4) != 4)
				_exit(6);
			switch (i % 4) {
			case 0:
				break;
			case 1:
				for (j = 0; j < 12; j += 2)
					io_cancel(ctx, &cbs[j], NULL);
				break;
			case 2:
				io_destroy(ctx);
				break;
			case 3:
				c = 'r';
				if (write(sync[1], &c, 1) != 1)
					_exit(7);
				for (;;)
					pause();
			}
			_exit(0);
		}
		close(sync[1]);
		if (i % 4 == 3) {
			KT_REQUIRE(read(sync[0], &c, 1) == 1, "sync");
			kill(pid, SIGKILL);
		}
		close(sync[0]);
		t = kt_now();
		while (waitpid(pid, &status, WNOHANG) == 0) {
			if (kt_now() - t > 10) {
				KT_FAIL("child %d (mode %d) hangs", i, i % 4);
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				break;
			}
			kt_sleep_ms(5);
		}
		if (kt_now() - t > 1)
			slow++;
		if (i % 4 == 3)
			KT_CHECK(WIFSIGNALED(status), "child %d: %#x", i, status);
		else
			KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				 "child %d (mode %d): status %#x", i, i % 4,
				 status);
	}
	KT_CHECK(slow == 0, "%d children took more than 1s to exit", slow);
}

int main(int argc, char **argv)
{
	pthread_t th[THREADS];
	long i;

	kt_init(argc, argv, "stress");
	alarm(240);
	kt_sysctl_set(1);

	KT_REQUIRE(io_setup(64, &shared_ctx) == 0, "io_setup");
	for (i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, i < THREADS / 2 ? submitter : exact,
			       (void *)i);
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		KT_CHECK(!thread_fail[i], "thread %ld failed", i);
	}
	fprintf(stderr, "stress: threads done\n");
	io_destroy(shared_ctx);
	fprintf(stderr, "stress: shared context destroyed\n");

	cancel_race();
	exit_race();

	kt_sysctl_set(0);
	return kt_done();
}
