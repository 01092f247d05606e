/* SPDX-License-Identifier: GPL-2.0 */
/*
 * worker_bound: with more blocked requests than the bound, a task never has
 * more than clamp(4 * CPUs, 4, 64) workers, the excess waits, and all
 * requests complete once they can.  The blocked requests are OPENATs of
 * FIFOs (fifo_open() waits for a writer); pipe reads no longer hold a
 * worker (poll_wait).  Worker creation never makes io_getevents() fail
 * with EINTR.
 */
#include "kt.h"

#define N 24

int main(int argc, char **argv)
{
	static char fifo[N][512];
	static struct iocb cbs[N];
	struct iocb *list[N];
	struct io_event ev[N];
	aio_context_t ctx = 0;
	int i, max_threads = 0, bound = kt_worker_bound(), wfd[N];
	long got;

	kt_init(argc, argv, "worker_bound");
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(64, &ctx) == 0, "io_setup");
	for (i = 0; i < N; i++) {
		char leaf[32];

		snprintf(leaf, sizeof(leaf), "fifo%d", i);
		snprintf(fifo[i], sizeof(fifo[i]), "%s", kt_path(leaf));
		KT_REQUIRE(mkfifo(fifo[i], 0600) == 0, "mkfifo");
		kt_prep(&cbs[i], KAIO_IOCB_CMD_OPENAT, AT_FDCWD, fifo[i], 0,
			O_RDONLY);
		list[i] = &cbs[i];
	}
	KT_REQUIRE(io_submit(ctx, N, list) == N, "io_submit");

	/* give io-wq every chance to create workers */
	for (i = 0; i < 50; i++) {
		int n;

		kt_getevents(ctx, 1, N, ev, 0.01);
		n = kt_nthreads();
		if (n > max_threads)
			max_threads = n;
	}
	printf("bound %d, at most %d threads with %d blocked opens\n",
	       bound, max_threads, N);
	KT_CHECK(max_threads >= 2, "no worker at all");
	/*
	 * io-wq creates the workers through task_work on this task; that must
	 * not make io_getevents() fail with EINTR (there is no signal).
	 */
	KT_CHECK(kt_eintr == 0, "io_getevents failed %d times with EINTR",
		 kt_eintr);
	KT_CHECK(max_threads - 1 <= bound, "%d workers, bound %d",
		 max_threads - 1, bound);

	/*
	 * A writer for each FIFO (O_RDWR does not wait for a reader: the
	 * queued opens have not started), kept until every open is done.
	 */
	for (i = 0; i < N; i++) {
		wfd[i] = open(fifo[i], O_RDWR);
		KT_REQUIRE(wfd[i] >= 0, "open %s: %s", fifo[i],
			   strerror(errno));
	}
	got = kt_getevents(ctx, N, N, ev, 20);
	for (i = 0; i < N; i++)
		close(wfd[i]);
	KT_CHECK(got == N, "only %ld of %d opens completed", got, N);
	for (i = 0; i < got; i++) {
		struct stat st;

		KT_CHECK(ev[i].res >= 0 && fstat(ev[i].res, &st) == 0 &&
			 S_ISFIFO(st.st_mode), "res %lld",
			 (long long)ev[i].res);
		if (ev[i].res >= 0)
			close(ev[i].res);
	}
	io_destroy(ctx);
	kt_sysctl_set(0);
	return kt_done();
}
