/* SPDX-License-Identifier: GPL-2.0 */
/*
 * optin: a context uses threads only if it asked for them at io_setup()
 * (IOCTX_FLAG_THREADED in nr_events) and the sysctl allows them; the
 * sysctl is a ceiling, not a switch for every process.
 *
 * With fs.aio-auto-threads at 1, a context created without the flag
 * behaves as mainline 6.1: the ring has compat_features 1; a buffered
 * PWRITE and PREAD of a tmpfs file are done inside io_submit() (the event
 * is in the ring when io_submit() returns); no worker thread appears;
 * OPENAT, UNLINKAT, RENAMEAT and READAHEAD fail with EINVAL; and a
 * blocking pipe read submitted by a thread that then exits is not
 * cancelled: as on mainline it is done inside that thread's io_submit()
 * and completes with the byte written later.
 *
 * A context created with the flag gets AIO_RING_COMPAT_THREADED and
 * OPENAT while the sysctl is 1; with the sysctl at 0 (at io_setup() or
 * later) its OPENAT fails with EINVAL again.  The flag alone, with no
 * event count, is EINVAL.
 */
#include <pthread.h>
#include "kt.h"

struct ring_head {	/* the head of struct aio_ring in fs/aio.c */
	unsigned int id, nr, head, tail, magic, compat_features;
	unsigned int incompat_features, header_length;
};

static const struct ring_head *ring(aio_context_t ctx)
{
	const struct ring_head *r = (const void *)ctx;

	KT_REQUIRE(r->magic == 0xa10a10a1, "ring magic %#x", r->magic);
	return r;
}

static long submit_cmd(aio_context_t ctx, int cmd, int fd, const void *buf,
		       unsigned long long nbytes, long long off)
{
	struct iocb cb;

	kt_prep(&cb, cmd, fd, buf, nbytes, off);
	return kt_submit1(ctx, &cb);
}

static aio_context_t pipe_ctx;
static int pipe_rd;
static char pipe_byte;
static long pipe_submit_res;
static struct iocb pipe_cb;

static void *pipe_reader(void *arg)
{
	(void)arg;
	kt_prep(&pipe_cb, IOCB_CMD_PREAD, pipe_rd, &pipe_byte, 1, 0);
	pipe_submit_res = kt_submit1(pipe_ctx, &pipe_cb);
	return NULL;	/* the thread exits: its threaded requests would end */
}

static void plain_context(void)
{
	static char wbuf[65536], rbuf[65536];
	struct aio_renameat_info ri;
	const struct ring_head *r;
	aio_context_t ctx = 0;
	struct io_event ev;
	struct iocb cb;
	unsigned int tail;
	pthread_t t;
	long long res;
	int fd, p[2];
	long e;

	kt_sysctl_set(1);
	KT_REQUIRE(io_setup_plain(16, &ctx) == 0, "io_setup: %s",
		   strerror(errno));
	r = ring(ctx);
	KT_CHECK(r->compat_features == 1,
		 "sysctl 1, no opt-in: ring compat_features %#x, want 1",
		 r->compat_features);

	memset(wbuf, 'w', sizeof(wbuf));
	fd = open(kt_path("plain"), O_CREAT | O_RDWR, 0644);
	KT_REQUIRE(fd >= 0, "open: %s", strerror(errno));

	tail = r->tail;
	kt_prep(&cb, IOCB_CMD_PWRITE, fd, wbuf, sizeof(wbuf), 0);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "PWRITE submit");
	KT_CHECK(r->tail != tail,
		 "sysctl 1, no opt-in: buffered PWRITE not done inside "
		 "io_submit() (no event in the ring when it returned)");
	KT_REQUIRE(kt_getevents(ctx, 1, 1, &ev, 5) == 1, "PWRITE event");
	KT_CHECK(ev.res == (long long)sizeof(wbuf), "PWRITE res %lld",
		 (long long)ev.res);

	tail = r->tail;
	kt_prep(&cb, IOCB_CMD_PREAD, fd, rbuf, sizeof(rbuf), 0);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "PREAD submit");
	KT_CHECK(r->tail != tail,
		 "sysctl 1, no opt-in: buffered PREAD not done inside "
		 "io_submit() (no event in the ring when it returned)");
	KT_REQUIRE(kt_getevents(ctx, 1, 1, &ev, 5) == 1, "PREAD event");
	KT_CHECK(ev.res == (long long)sizeof(rbuf) &&
		 !memcmp(rbuf, wbuf, sizeof(rbuf)), "PREAD res %lld",
		 (long long)ev.res);
	KT_CHECK(kt_nthreads() == 1,
		 "sysctl 1, no opt-in: %d threads after a PWRITE and a PREAD "
		 "(worker threads)", kt_nthreads());

	/* the commands that need threads */
	e = submit_cmd(ctx, KAIO_IOCB_CMD_OPENAT, AT_FDCWD,
		       kt_path("plain-open"), 0, O_CREAT | O_RDWR);
	KT_CHECK(e == -EINVAL, "sysctl 1, no opt-in: OPENAT submit %ld", e);
	e = submit_cmd(ctx, KAIO_IOCB_CMD_UNLINKAT, AT_FDCWD,
		       kt_path("plain"), 0, 0);
	KT_CHECK(e == -EINVAL, "sysctl 1, no opt-in: UNLINKAT submit %ld", e);
	memset(&ri, 0, sizeof(ri));
	ri.olddirfd = AT_FDCWD;
	ri.oldpath = (unsigned long)kt_path("plain");
	ri.newdirfd = AT_FDCWD;
	ri.newpath = (unsigned long)kt_path("plain2");
	e = submit_cmd(ctx, KAIO_IOCB_CMD_RENAMEAT, AT_FDCWD, &ri, sizeof(ri),
		       0);
	KT_CHECK(e == -EINVAL, "sysctl 1, no opt-in: RENAMEAT submit %ld", e);
	e = submit_cmd(ctx, KAIO_IOCB_CMD_READAHEAD, fd, NULL, 4096, 0);
	KT_CHECK(e == -EINVAL, "sysctl 1, no opt-in: READAHEAD submit %ld",
		 e);
	KT_CHECK(access(kt_path("plain-open"), F_OK) < 0 &&
		 access(kt_path("plain"), F_OK) == 0,
		 "a refused path operation was done");
	KT_REQUIRE(kt_getevents(ctx, 0, 1, &ev, 0.2) == 0,
		   "an event for a refused command");
	close(fd);

	/*
	 * A pipe read from a thread that exits right after io_submit().
	 * Threaded, it would be pending and cancelled at the thread's exit;
	 * as on mainline, io_submit() itself waits for the byte.
	 */
	KT_REQUIRE(pipe(p) == 0, "pipe");
	pipe_ctx = ctx;
	pipe_rd = p[0];
	KT_REQUIRE(pthread_create(&t, NULL, pipe_reader, NULL) == 0,
		   "pthread_create");
	kt_sleep_ms(300);
	KT_REQUIRE(write(p[1], "x", 1) == 1, "pipe write");
	pthread_join(t, NULL);
	KT_CHECK(pipe_submit_res == 0, "pipe read submit %ld",
		 pipe_submit_res);
	res = kt_getevents(ctx, 1, 1, &ev, 2) == 1 ? (long long)ev.res :
	      KT_NO_EVENT;
	KT_CHECK(res == 1 && pipe_byte == 'x',
		 "sysctl 1, no opt-in: pipe read of a thread that exited: "
		 "res %lld (%s), byte %#x", res,
		 res < 0 && res != KT_NO_EVENT ? strerror((int)-res) : "-",
		 pipe_byte);
	close(p[0]);
	close(p[1]);
	KT_CHECK(kt_nthreads() == 1, "sysctl 1, no opt-in: %d threads",
		 kt_nthreads());
	io_destroy(ctx);
}

static void optin_context(void)
{
	aio_context_t on = 0, off = 0;
	struct io_event ev;
	struct iocb cb;
	long long res;
	long e;

	/* created at sysctl 1 */
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(16, &on) == 0, "io_setup(IOCTX_FLAG_THREADED): %s",
		   strerror(errno));
	KT_CHECK(ring(on)->compat_features ==
		 (1 | KAIO_AIO_RING_COMPAT_THREADED),
		 "opt-in, sysctl 1: compat_features %#x",
		 ring(on)->compat_features);
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("on-open"), 0,
		O_CREAT | O_RDWR);
	res = kt_run1(on, &cb, 5);
	KT_CHECK(res >= 0, "opt-in, sysctl 1: OPENAT %lld", res);
	if (res >= 0)
		close((int)res);

	/* the ceiling, lowered after io_setup() */
	kt_sysctl_set(0);
	e = submit_cmd(on, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("on-open2"),
		       0, O_CREAT | O_RDWR);
	KT_CHECK(e == -EINVAL, "opt-in, sysctl back at 0: OPENAT submit %ld",
		 e);

	/* created at sysctl 0: no ring flag, no threads until it is 1 */
	KT_REQUIRE(io_setup(16, &off) == 0, "io_setup(IOCTX_FLAG_THREADED) at "
		   "sysctl 0: %s", strerror(errno));
	KT_CHECK(ring(off)->compat_features == 1,
		 "opt-in, sysctl 0: compat_features %#x",
		 ring(off)->compat_features);
	e = submit_cmd(off, KAIO_IOCB_CMD_OPENAT, AT_FDCWD,
		       kt_path("off-open"), 0, O_CREAT | O_RDWR);
	KT_CHECK(e == -EINVAL, "opt-in, sysctl 0: OPENAT submit %ld", e);
	kt_sysctl_set(1);
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("off-open3"), 0,
		O_CREAT | O_RDWR);
	res = kt_run1(off, &cb, 5);
	KT_CHECK(res >= 0, "opt-in at sysctl 0, sysctl now 1: OPENAT %lld",
		 res);
	if (res >= 0)
		close((int)res);
	KT_CHECK(kt_getevents(on, 0, 1, &ev, 0.1) == 0, "stray event");
	io_destroy(on);
	io_destroy(off);

	/* the flag is not an event count */
	on = 0;
	e = syscall(SYS_io_setup, IOCTX_FLAG_THREADED, &on);
	KT_CHECK(e == -1 && errno == EINVAL,
		 "io_setup(IOCTX_FLAG_THREADED | 0): %ld (%s)", e,
		 strerror(errno));
}

int main(int argc, char **argv)
{
	kt_init(argc, argv, "optin");
	plain_context();
	optin_context();
	kt_sysctl_set(0);
	return kt_done();
}
