/* SPDX-License-Identifier: GPL-2.0 */
/*
 * idle_exit: workers do not outlive their use.  After a threaded read and
 * an OPENAT (bound and unbound work), the task has worker threads, and unshare() of
 * what only a single-threaded task may unshare (CLONE_SIGHAND) fails
 * with EINVAL.  Within 15 s of idling (io-wq's idle timeout is 5 s) every
 * worker is gone, unshare() works, and the next requests create workers
 * again and complete.
 */
#include "kt.h"
#include <sched.h>

static void run_reads(aio_context_t ctx, int fd)
{
	struct iocb cb;
	char buf[4];
	long long r;

	kt_prep(&cb, IOCB_CMD_PREAD, fd, buf, 4, 0);
	KT_CHECK(kt_run1(ctx, &cb, 5) == 4, "PREAD");
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("f"), 0,
		O_RDONLY);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r >= 0, "OPENAT: %lld", r);
	if (r >= 0)
		close((int)r);
}

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;
	double t0, t;
	int fd, n;

	kt_init(argc, argv, "idle_exit");
	kt_sysctl_set(1);
	kt_write_file(kt_path("f"), "data", 4, 0644);
	fd = open(kt_path("f"), O_RDONLY);
	KT_REQUIRE(fd >= 0, "open");
	KT_REQUIRE(io_setup(8, &ctx) == 0, "io_setup");

	run_reads(ctx, fd);
	n = kt_nthreads();
	KT_CHECK(n >= 2, "no worker after threaded reads (%d threads)", n);
	KT_CHECK(unshare(CLONE_SIGHAND) < 0 && errno == EINVAL,
		 "control: unshare(CLONE_SIGHAND) with workers did not fail");

	t0 = kt_now();
	while ((n = kt_nthreads()) > 1 && kt_now() - t0 < 15)
		kt_sleep_ms(100);
	t = kt_now() - t0;
	printf("idle_exit: %d thread(s) after %.1fs idle\n", n, t);
	KT_CHECK(n == 1, "%d idle workers still there after %.1fs", n - 1, t);
	KT_CHECK(unshare(CLONE_SIGHAND) == 0,
		 "unshare(CLONE_SIGHAND) when idle: %s", strerror(errno));

	/* workers come back on demand */
	run_reads(ctx, fd);
	KT_CHECK(kt_nthreads() >= 2, "no worker for the next reads");
	close(fd);
	io_destroy(ctx);
	kt_sysctl_set(0);
	return kt_done();
}
