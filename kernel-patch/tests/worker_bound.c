/* SPDX-License-Identifier: GPL-2.0 */
/*
 * worker_bound: with more blocked requests than the bound, a task never has
 * more than clamp(4 * CPUs, 4, 64) workers, the excess waits, and all
 * requests complete once data arrives.  Worker creation never makes
 * io_getevents() fail with EINTR.
 */
#include "kt.h"

#define N 24

int main(int argc, char **argv)
{
	static char buf[N][16];
	static struct iocb cbs[N];
	struct iocb *list[N];
	struct io_event ev[N];
	aio_context_t ctx = 0;
	int p[N][2], i, max_threads = 0, bound = kt_worker_bound();
	long got;

	kt_init(argc, argv, "worker_bound");
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(64, &ctx) == 0, "io_setup");
	for (i = 0; i < N; i++) {
		KT_REQUIRE(pipe(p[i]) == 0, "pipe");
		kt_prep(&cbs[i], IOCB_CMD_PREAD, p[i][0], buf[i], 8, 0);
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
	printf("bound %d, at most %d threads with %d blocked reads\n",
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

	for (i = 0; i < N; i++)
		KT_REQUIRE(write(p[i][1], "12345678", 8) == 8, "write");
	got = kt_getevents(ctx, N, N, ev, 20);
	KT_CHECK(got == N, "only %ld of %d reads completed", got, N);
	for (i = 0; i < got; i++)
		KT_CHECK(ev[i].res == 8, "res %lld", (long long)ev[i].res);
	for (i = 0; i < N; i++)
		KT_CHECK(!memcmp(buf[i], "12345678", 8), "data of read %d", i);
	io_destroy(ctx);
	kt_sysctl_set(0);
	return kt_done();
}
