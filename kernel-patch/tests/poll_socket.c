/* SPDX-License-Identifier: GPL-2.0 */
/*
 * poll_socket: patch 12 for sockets.  Threaded reads of AF_UNIX stream
 * sockets with nothing to read wait with a poll entry, not on a worker:
 * with 100 reads pending (more than the clamp(4 * CPUs, 4, 64) workers)
 * the task has no worker thread and an OPENAT still completes at once;
 * each read completes with its own data once the peer writes.
 * io_cancel() of a waiting read gives one -ECANCELED event and leaves
 * the data for a later read(2).  Without AF_UNIX (no CONFIG_UNIX, e.g.
 * the --qemu config) the test says SKIP.
 */
#include "kt.h"
#include <sys/socket.h>

#define N 100

static int sv[N][2];
static char rbuf[N][8];
static struct iocb rcb[N];

int main(int argc, char **argv)
{
	static struct io_event ev[N + 8];
	struct iocb *list[N], ocb, ccb;
	aio_context_t ctx = 0;
	struct io_event cev;
	int i, n, seen_o = 0, threads, csv[2];
	char data[8], cbuf[8];
	long got, r;
	double t;

	kt_init(argc, argv, "poll_socket");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, csv) < 0) {
		printf("poll_socket: socketpair(AF_UNIX): %s: SKIP\n",
		       strerror(errno));
		return 0;
	}
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(N + 16, &ctx) == 0, "io_setup");

	for (i = 0; i < N; i++) {
		KT_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0,
			   "socketpair %d: %s", i, strerror(errno));
		kt_prep(&rcb[i], IOCB_CMD_PREAD, sv[i][0], rbuf[i], 8, 0);
		list[i] = &rcb[i];
	}
	t = kt_now();
	r = io_submit(ctx, N, list);
	KT_REQUIRE(r == N, "io_submit of %d socket reads: %ld (%s)", N, r,
		   strerror(errno));
	KT_CHECK(kt_now() - t < 1, "io_submit took %.3f s", kt_now() - t);
	got = kt_getevents(ctx, 1, N, ev, 0.3);
	KT_CHECK(got == 0, "%ld socket reads completed with nothing sent",
		 got);
	threads = kt_nthreads();
	printf("%d socket reads pending: %d threads (worker bound %d)\n", N,
	       threads, kt_worker_bound());
	KT_CHECK(threads == 1, "%d worker threads for %d pending socket "
		 "reads", threads - 1, N);

	/* an OPENAT is not queued behind them */
	kt_prep(&ocb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("o"), 0,
		O_CREAT | O_RDWR);
	KT_REQUIRE(kt_submit1(ctx, &ocb) == 0, "OPENAT submit");
	got = kt_getevents(ctx, 1, 1, ev, 2);
	KT_CHECK(got == 1 && ev[0].obj == (unsigned long)&ocb &&
		 ev[0].res >= 0, "OPENAT with %d socket reads pending: %ld "
		 "events", N, got);
	if (got == 1 && ev[0].res >= 0)
		close((int)ev[0].res);

	/* each read gets its own data */
	for (i = 0; i < N; i++) {
		snprintf(data, sizeof(data), "s%06d", i);
		KT_REQUIRE(write(sv[i][1], data, 8) == 8, "write %d", i);
	}
	got = kt_getevents(ctx, N, N, ev, 10);
	KT_CHECK(got == N, "%ld of %d socket reads completed", got, N);
	for (n = 0; n < got; n++) {
		i = (int)((struct iocb *)(unsigned long)ev[n].obj - rcb);
		if (ev[n].obj == (unsigned long)&ocb) {
			seen_o++;
			continue;
		}
		KT_CHECK(i >= 0 && i < N, "stray event");
		if (i < 0 || i >= N)
			continue;
		snprintf(data, sizeof(data), "s%06d", i);
		KT_CHECK(ev[n].res == 8 && !memcmp(rbuf[i], data, 8),
			 "socket read %d: res %lld", i, (long long)ev[n].res);
	}
	KT_CHECK(!seen_o, "OPENAT completed twice");

	/* cancel a waiting read: one event, the data stays in the socket */
	kt_prep(&ccb, IOCB_CMD_PREAD, csv[0], cbuf, 8, 0);
	KT_REQUIRE(kt_submit1(ctx, &ccb) == 0, "submit");
	KT_CHECK(kt_getevents(ctx, 1, 1, ev, 0.2) == 0, "read completed");
	r = io_cancel(ctx, &ccb, &cev);
	KT_CHECK(r == -1 && errno == EINPROGRESS, "io_cancel: %ld (%s)", r,
		 strerror(errno));
	got = kt_getevents(ctx, 1, 8, ev, 2);
	KT_CHECK(got == 1 && ev[0].obj == (unsigned long)&ccb &&
		 ev[0].res == -ECANCELED, "cancelled socket read: %ld events, "
		 "res %lld", got, got ? (long long)ev[0].res : 0);
	KT_REQUIRE(write(csv[1], "cancel!", 8) == 8, "write");
	KT_CHECK(read(csv[0], cbuf, 8) == 8 && !strcmp(cbuf, "cancel!"),
		 "data after the cancelled read");
	KT_CHECK(kt_getevents(ctx, 0, 8, ev, 0.2) == 0, "a second event");

	io_destroy(ctx);
	for (i = 0; i < N; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	kt_sysctl_set(0);
	return kt_done();
}
