/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cancel_memory: an unprivileged user cannot make the kernel hold an
 * unbounded amount of memory with cancelled requests.
 *
 * All unbound workers of the task are blocked, so a PREADV of /dev/full
 * (a character device with no ->poll() and no FMODE_NOWAIT: unbound work
 * for a worker) with 1024 segments (a 16 KiB kernel copy of the iovec
 * array) stays queued.  A pipe would not do: its reads wait for the pipe
 * with a poll entry and hold no worker.
 * io_cancel() of it may post its -ECANCELED event at once, but the request
 * itself stays queued until a worker is free.  If reaping that event gave
 * its ring slot back, a loop of submit, cancel, reap would queue requests
 * without limit.  The loop (as uid 65534) runs 3000 times or until
 * io_submit() says EAGAIN; the free memory must not drop by more than
 * 16 MiB (3000 leaked requests would take about 48 MiB).  Once the
 * workers are free, every request has exactly one -ECANCELED event.
 */
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include "kt.h"

#define LOOPS	3000
#define NSEG	1024

static int child(void)
{
	static struct iovec iov[NSEG];
	static struct kt_blocker b;
	static char buf[16];
	struct timespec zero = { 0, 0 };
	struct io_event ev[64];
	aio_context_t ctx = 0;
	long submitted = 0, events = 0, early = 0, free0, free1;
	int fd, i, eagain = 0;
	struct iocb cb;

	/* as root: the scratch directory's parents are not searchable */
	KT_REQUIRE(io_setup(64, &ctx) == 0, "io_setup");
	fd = open(kt_path("full"), O_RDONLY);
	KT_REQUIRE(fd >= 0, "open full: %s", strerror(errno));
	for (i = 0; i < NSEG; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = 1;
	}
	kt_block(ctx, &b);
	KT_REQUIRE(syscall(SYS_setresgid, 65534, 65534, 65534) == 0 &&
		   syscall(SYS_setresuid, 65534, 65534, 65534) == 0,
		   "setresuid");

	free0 = kt_meminfo("MemFree");
	for (i = 0; i < LOOPS; i++) {
		long r, n;

		kt_prep(&cb, IOCB_CMD_PREADV, fd, iov, NSEG, 0);
		r = kt_submit1(ctx, &cb);
		if (r == -EAGAIN) {
			eagain = 1;
			break;
		}
		KT_REQUIRE(r == 0, "submit %d: %ld", i, r);
		submitted++;
		r = io_cancel(ctx, &cb, ev);
		KT_REQUIRE(r == -1 && errno == EINPROGRESS,
			   "io_cancel %d: %ld errno %d", i, r, errno);
		n = syscall(SYS_io_getevents, ctx, 0, 64, ev, &zero);
		KT_REQUIRE(n >= 0, "io_getevents: %s", strerror(errno));
		for (r = 0; r < n; r++)
			KT_CHECK(!kt_is_blocker(&b, &ev[r]) &&
				 ev[r].res == -ECANCELED,
				 "early event: res %lld",
				 (long long)ev[r].res);
		events += n;
		early += n;
	}
	free1 = kt_meminfo("MemFree");
	printf("%ld requests submitted and cancelled (%s), %ld events at "
	       "once; free memory %ld KiB -> %ld KiB\n", submitted,
	       eagain ? "then EAGAIN" : "no EAGAIN", early, free0, free1);
	KT_CHECK(free0 - free1 < 16384,
		 "free memory dropped by %ld KiB over %ld cancelled requests",
		 free0 - free1, submitted);

	/* the workers are free again: the rest of the events come */
	kt_unblock(&b);
	while (events < submitted + b.n) {
		long n = kt_getevents(ctx, 1, 64, ev, 10);

		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			KT_CHECK(kt_is_blocker(&b, &ev[i]) ?
				 kt_blocker_done(&ev[i]) :
				 ev[i].res == -ECANCELED,
				 "late event: res %lld",
				 (long long)ev[i].res);
		events += n;
	}
	KT_CHECK(events == submitted + b.n, "%ld events for %ld requests",
		 events, submitted + b.n);
	KT_CHECK(kt_getevents(ctx, 1, 64, ev, 0.2) == 0, "extra events");
	close(fd);
	io_destroy(ctx);
	kt_blocker_close(&b);
	return kt_failed;
}

int main(int argc, char **argv)
{
	int status;
	pid_t pid;

	kt_init(argc, argv, "cancel_memory");
	kt_sysctl_set(1);
	KT_REQUIRE(mknod(kt_path("full"), S_IFCHR | 0666, makedev(1, 7)) == 0,
		   "mknod /dev/full: %s", strerror(errno));
	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0)
		_exit(child());
	KT_REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid");
	KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "child failed (status %#x)", status);
	kt_sysctl_set(0);
	return kt_done();
}
