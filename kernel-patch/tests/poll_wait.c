/* SPDX-License-Identifier: GPL-2.0 */
/*
 * poll_wait: reads and writes of pollable files (pipes, eventfd) that would
 * block wait for their file with a poll entry, not on a worker.  With 200
 * pipe reads pending (far more than the clamp(4 * CPUs, 4, 64) workers),
 * the task has no worker thread, and an OPENAT and a regular-file read
 * still complete at once; every pipe read completes with its own data once
 * its pipe is written.  A pipe write larger than the pipe completes once
 * the reader drained it.  io_cancel() of a waiting read gives exactly one
 * -ECANCELED event and leaves the data for a later read; a thread that
 * exits with a waiting read gets it cancelled; io_destroy() returns.
 */
#include "kt.h"
#include <pthread.h>
#include <sys/eventfd.h>

#define N 200

static char rbuf[N][8];
static struct iocb rcb[N];
static int p[N][2];

/* The events of up to @max requests within @secs; their count. */
static long reap(aio_context_t ctx, struct io_event *ev, long min, long max,
		 double secs)
{
	return kt_getevents(ctx, min, max, ev, secs);
}

/* A thread that queues a read of an empty pipe and exits. */
struct exiter {
	aio_context_t ctx;
	int fd;
	struct iocb cb;
	char buf[4];
	long err;
};

static void *exiter(void *arg)
{
	struct exiter *x = arg;

	kt_prep(&x->cb, IOCB_CMD_PREAD, x->fd, x->buf, 1, 0);
	x->err = kt_submit1(x->ctx, &x->cb);
	return NULL;
}

static void many_reads(aio_context_t ctx)
{
	static struct io_event ev[N + 8];
	static char fbuf[64];
	struct iocb *list[N], ocb, fcb;
	int i, n, seen_o = 0, seen_f = 0;
	double t;
	long got;

	for (i = 0; i < N; i++) {
		KT_REQUIRE(pipe(p[i]) == 0, "pipe %d: %s", i, strerror(errno));
		kt_prep(&rcb[i], IOCB_CMD_PREAD, p[i][0], rbuf[i], 8, 0);
		list[i] = &rcb[i];
	}
	KT_REQUIRE(io_submit(ctx, N, list) == N, "io_submit: %s",
		   strerror(errno));
	/* what io-wq would start for them, it has started by now */
	KT_CHECK(reap(ctx, ev, 1, N, 0.3) == 0, "a pipe read completed");
	n = kt_nthreads();
	printf("%d pipe reads pending: %d threads (worker bound %d)\n", N, n,
	       kt_worker_bound());
	KT_CHECK(n == 1, "%d worker threads for %d pending pipe reads", n - 1,
		 N);

	/* an OPENAT and a regular-file read do not wait behind them */
	kt_write_file(kt_path("data"), "regular file data", 17, 0644);
	kt_prep(&ocb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("data"), 0,
		O_RDONLY);
	KT_REQUIRE(kt_submit1(ctx, &ocb) == 0, "OPENAT submit");
	i = open(kt_path("data"), O_RDONLY);
	KT_REQUIRE(i >= 0, "open");
	kt_prep(&fcb, IOCB_CMD_PREAD, i, fbuf, sizeof(fbuf), 0);
	KT_REQUIRE(kt_submit1(ctx, &fcb) == 0, "PREAD submit");
	t = kt_now();
	got = reap(ctx, ev, 2, 2, 2);
	printf("OPENAT and file read: %ld events in %.3f s\n", got,
	       kt_now() - t);
	for (n = 0; n < got; n++) {
		if (ev[n].obj == (unsigned long)&ocb) {
			seen_o = 1;
			KT_CHECK(ev[n].res >= 0, "OPENAT res %lld",
				 (long long)ev[n].res);
			if (ev[n].res >= 0)
				close(ev[n].res);
		} else if (ev[n].obj == (unsigned long)&fcb) {
			seen_f = 1;
			KT_CHECK(ev[n].res == 17 && !memcmp(fbuf,
				 "regular file data", 17), "file read res %lld",
				 (long long)ev[n].res);
		} else {
			KT_FAIL("unexpected event res %lld",
				(long long)ev[n].res);
		}
	}
	KT_CHECK(seen_o, "OPENAT did not complete within 2 s behind %d pipe reads",
		 N);
	KT_CHECK(seen_f, "file read did not complete within 2 s behind %d pipe reads",
		 N);
	close(i);

	/* every pipe read completes with its own data */
	for (i = 0; i < N; i++) {
		char d[9];

		snprintf(d, sizeof(d), "r%07d", i);
		KT_REQUIRE(write(p[i][1], d, 8) == 8, "write");
	}
	got = reap(ctx, ev, N - seen_o - seen_f + 2, N + 2, 20);
	n = 0;
	for (i = 0; i < got; i++) {
		if (ev[i].obj == (unsigned long)&ocb) {
			if (ev[i].res >= 0)
				close(ev[i].res);
			continue;
		}
		if (ev[i].obj == (unsigned long)&fcb)
			continue;
		n++;
		KT_CHECK(ev[i].res == 8, "pipe read res %lld",
			 (long long)ev[i].res);
	}
	KT_CHECK(n == N, "%d of %d pipe reads completed", n, N);
	for (i = 0; i < N; i++) {
		char d[9];

		snprintf(d, sizeof(d), "r%07d", i);
		KT_CHECK(!memcmp(rbuf[i], d, 8), "data of read %d", i);
		close(p[i][0]);
		close(p[i][1]);
	}
}

static void cancel_one(aio_context_t ctx)
{
	struct io_event ev[4];
	struct iocb cb;
	char buf[8], c;
	int q[2], n = kt_nthreads();
	long r;

	KT_REQUIRE(pipe(q) == 0, "pipe");
	kt_prep(&cb, IOCB_CMD_PREAD, q[0], buf, 1, 0);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "submit");
	KT_CHECK(reap(ctx, ev, 1, 4, 0.1) == 0, "read of an empty pipe done");
	KT_CHECK(kt_nthreads() <= n, "%d threads for one pipe read, %d before",
		 kt_nthreads(), n);
	r = io_cancel(ctx, &cb, ev);
	KT_CHECK(r == -1 && errno == EINPROGRESS, "io_cancel: %ld %s", r,
		 strerror(errno));
	r = reap(ctx, ev, 1, 4, 2);
	KT_CHECK(r == 1, "%ld events after io_cancel", r);
	if (r >= 1)
		KT_CHECK(ev[0].obj == (unsigned long)&cb &&
			 ev[0].res == -ECANCELED, "res %lld",
			 (long long)ev[0].res);
	KT_CHECK(reap(ctx, ev, 1, 4, 0.3) == 0, "a second event");
	r = io_cancel(ctx, &cb, ev);
	KT_CHECK(r == -1 && errno == EINVAL, "second io_cancel: %ld %s", r,
		 strerror(errno));
	/* the cancelled read took nothing */
	KT_REQUIRE(write(q[1], "z", 1) == 1, "write");
	KT_CHECK(reap(ctx, ev, 1, 4, 0.2) == 0, "an event after the write");
	KT_CHECK(read(q[0], &c, 1) == 1 && c == 'z',
		 "the byte written after the cancel is gone");
	close(q[0]);
	close(q[1]);
}

static void big_write(aio_context_t ctx)
{
	static char out[256 << 10], in[256 << 10];
	struct io_event ev[2];
	struct iocb cb;
	size_t got = 0;
	int q[2], i, n = kt_nthreads();

	for (i = 0; i < (int)sizeof(out); i++)
		out[i] = (char)(i * 7 + i / 4096);
	KT_REQUIRE(pipe(q) == 0, "pipe");
	kt_prep(&cb, IOCB_CMD_PWRITE, q[1], out, sizeof(out), 0);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "submit");
	KT_CHECK(reap(ctx, ev, 1, 2, 0.1) == 0, "256 KiB pipe write done");
	KT_CHECK(kt_nthreads() <= n, "%d threads for a pending pipe write, "
		 "%d before", kt_nthreads(), n);
	while (got < sizeof(in)) {
		ssize_t r = read(q[0], in + got, sizeof(in) - got);

		if (r < 0 && errno == EINTR)
			continue;
		KT_REQUIRE(r > 0, "read: %zd %s", r, strerror(errno));
		got += r;
	}
	KT_CHECK(!memcmp(in, out, sizeof(in)), "pipe data differ");
	KT_CHECK(reap(ctx, ev, 1, 2, 2) == 1 && ev[0].res == sizeof(out),
		 "write res %lld", (long long)ev[0].res);
	close(q[0]);
	close(q[1]);
}

static void event_fd(aio_context_t ctx)
{
	struct io_event ev[2];
	uint64_t v = 0, w = 42;
	struct iocb cb;
	int fd = eventfd(0, 0), n = kt_nthreads();

	KT_REQUIRE(fd >= 0, "eventfd");
	kt_prep(&cb, IOCB_CMD_PREAD, fd, &v, 8, 0);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "submit");
	KT_CHECK(reap(ctx, ev, 1, 2, 0.1) == 0, "eventfd read done");
	KT_CHECK(kt_nthreads() <= n, "%d threads for an eventfd read, %d before",
		 kt_nthreads(), n);
	KT_REQUIRE(write(fd, &w, 8) == 8, "eventfd write");
	KT_CHECK(reap(ctx, ev, 1, 2, 2) == 1 && ev[0].res == 8 && v == 42,
		 "eventfd read res %lld value %llu", (long long)ev[0].res,
		 (unsigned long long)v);
	close(fd);
}

static void thread_exit(aio_context_t ctx)
{
	static struct exiter x;
	struct io_event ev[2];
	pthread_t th;
	int q[2];
	double t;

	KT_REQUIRE(pipe(q) == 0, "pipe");
	x.ctx = ctx;
	x.fd = q[0];
	KT_REQUIRE(pthread_create(&th, NULL, exiter, &x) == 0, "thread");
	pthread_join(th, NULL);
	KT_REQUIRE(x.err == 0, "thread submit: %ld", x.err);
	t = kt_now();
	KT_CHECK(reap(ctx, ev, 1, 2, 2) == 1 && ev[0].res == -ECANCELED,
		 "read of an exited thread: res %lld after %.2f s",
		 (long long)ev[0].res, kt_now() - t);
	close(q[0]);
	close(q[1]);
}

static void destroy(void)
{
	static struct iocb cb[8];
	static char buf[8];
	aio_context_t ctx = 0;
	int q[2], i;
	double t;

	KT_REQUIRE(io_setup(16, &ctx) == 0, "io_setup");
	KT_REQUIRE(pipe(q) == 0, "pipe");
	for (i = 0; i < 8; i++) {
		kt_prep(&cb[i], IOCB_CMD_PREAD, q[0], &buf[i], 1, 0);
		KT_REQUIRE(kt_submit1(ctx, &cb[i]) == 0, "submit");
	}
	t = kt_now();
	KT_CHECK(io_destroy(ctx) == 0, "io_destroy: %s", strerror(errno));
	KT_CHECK(kt_now() - t < 1, "io_destroy took %.2f s", kt_now() - t);
	KT_REQUIRE(write(q[1], "d", 1) == 1, "write");
	KT_CHECK(read(q[0], buf, 1) == 1, "the destroyed reads took the byte");
	close(q[0]);
	close(q[1]);
}

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;

	kt_init(argc, argv, "poll_wait");
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(N + 64, &ctx) == 0, "io_setup");
	many_reads(ctx);
	cancel_one(ctx);
	big_write(ctx);
	event_fd(ctx);
	thread_exit(ctx);
	io_destroy(ctx);
	destroy();
	kt_sysctl_set(0);
	return kt_done();
}
