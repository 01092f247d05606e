/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stock_aio: native AIO behaves as in a kernel without the series.  With
 * KCHECK_NOTHREAD=1 (the CONFIG_AIO_THREAD=n kernel of run-tests
 * --nothread) the sysctl must not exist; otherwise it is set to 0.  Then:
 * the ring has compat_features 1 only; PWRITE, PREAD, PWRITEV, PREADV,
 * FSYNC and FDSYNC on a tmpfs file complete with the data checked; POLL
 * on a pipe completes once the pipe is written, and io_cancel() of a
 * pending POLL gives its event; a pipe read opened O_NONBLOCK with no
 * data gives -EAGAIN; NOOP, the four threaded commands and command 11
 * are refused with EINVAL; io_destroy() works.  No worker thread is
 * created.  The context is created without IOCTX_FLAG_THREADED, which
 * the CONFIG_AIO_THREAD=n kernel must refuse with EINVAL.
 */
#include "kt.h"
#include <poll.h>
#include <sys/uio.h>

struct ring_head {	/* the head of struct aio_ring in fs/aio.c */
	unsigned int id, nr, head, tail, magic, compat_features;
	unsigned int incompat_features, header_length;
};

int main(int argc, char **argv)
{
	const char *nothread = getenv("KCHECK_NOTHREAD");
	static const int refused[] = {
		KAIO_IOCB_CMD_NOOP, KAIO_IOCB_CMD_OPENAT,
		KAIO_IOCB_CMD_UNLINKAT, 11, KAIO_IOCB_CMD_READAHEAD,
		KAIO_IOCB_CMD_RENAMEAT,
	};
	char wbuf[8192], rbuf[8192], a[100], b[200];
	const struct ring_head *ring;
	struct iovec iov[2];
	struct io_event ev;
	aio_context_t ctx = 0;
	struct iocb cb, pcb;
	unsigned int i;
	int fd, p[2];
	long long r;

	kt_init(argc, argv, "stock_aio");
	if (nothread && !strcmp(nothread, "1")) {
		KT_CHECK(kt_sysctl_get() == -ENOENT,
			 "fs.aio-auto-threads exists without CONFIG_AIO_THREAD (%d)",
			 kt_sysctl_get());
	} else {
		kt_sysctl_set(0);
	}

	if (nothread && !strcmp(nothread, "1")) {
		/* a library detects the option by trying the flag */
		KT_CHECK(io_setup(16, &ctx) == -1 && errno == EINVAL,
			 "io_setup(IOCTX_FLAG_THREADED) without CONFIG_AIO_THREAD: "
			 "%s", strerror(errno));
		ctx = 0;
	}
	KT_REQUIRE(io_setup_plain(16, &ctx) == 0, "io_setup: %s",
		   strerror(errno));
	ring = (const void *)ctx;
	KT_CHECK(ring->magic == 0xa10a10a1 && ring->compat_features == 1,
		 "ring magic %#x compat_features %#x", ring->magic,
		 ring->compat_features);

	for (i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (char)(i * 7 + 3);
	fd = open(kt_path("f"), O_CREAT | O_RDWR, 0644);
	KT_REQUIRE(fd >= 0, "open");
	kt_prep(&cb, IOCB_CMD_PWRITE, fd, wbuf, sizeof(wbuf), 0);
	KT_CHECK((r = kt_run1(ctx, &cb, 5)) == (long long)sizeof(wbuf),
		 "PWRITE: %lld", r);
	kt_prep(&cb, IOCB_CMD_PREAD, fd, rbuf, sizeof(rbuf), 0);
	KT_CHECK((r = kt_run1(ctx, &cb, 5)) == (long long)sizeof(rbuf) &&
		 !memcmp(rbuf, wbuf, sizeof(rbuf)), "PREAD: %lld", r);

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	iov[0] = (struct iovec){ a, sizeof(a) };
	iov[1] = (struct iovec){ b, sizeof(b) };
	kt_prep(&cb, IOCB_CMD_PWRITEV, fd, iov, 2, 8192);
	KT_CHECK((r = kt_run1(ctx, &cb, 5)) == 300, "PWRITEV: %lld", r);
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	kt_prep(&cb, IOCB_CMD_PREADV, fd, iov, 2, 8192);
	KT_CHECK((r = kt_run1(ctx, &cb, 5)) == 300 && a[99] == 'a' &&
		 b[0] == 'b' && b[199] == 'b', "PREADV: %lld", r);

	kt_prep(&cb, IOCB_CMD_FSYNC, fd, NULL, 0, 0);
	KT_CHECK((r = kt_run1(ctx, &cb, 5)) == 0, "FSYNC: %lld", r);
	kt_prep(&cb, IOCB_CMD_FDSYNC, fd, NULL, 0, 0);
	KT_CHECK((r = kt_run1(ctx, &cb, 5)) == 0, "FDSYNC: %lld", r);

	/* POLL: completes when the pipe gets data */
	KT_REQUIRE(pipe(p) == 0, "pipe");
	kt_prep(&pcb, IOCB_CMD_POLL, p[0], (void *)(long)POLLIN, 0, 0);
	KT_REQUIRE(kt_submit1(ctx, &pcb) == 0, "POLL submit");
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 0.2) == 0, "POLL completed early");
	KT_REQUIRE(write(p[1], "x", 1) == 1, "write");
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 5) == 1 &&
		 ev.obj == (unsigned long)&pcb && (ev.res & POLLIN),
		 "POLL event: res %#llx", (long long)ev.res);
	/* io_cancel() of a pending POLL */
	KT_REQUIRE(read(p[0], rbuf, 1) == 1, "read");
	kt_prep(&pcb, IOCB_CMD_POLL, p[0], (void *)(long)POLLIN, 0, 0);
	KT_REQUIRE(kt_submit1(ctx, &pcb) == 0, "POLL submit");
	r = io_cancel(ctx, &pcb, &ev);
	KT_CHECK(r == 0 || (r < 0 && errno == EINPROGRESS),
		 "io_cancel of POLL: %lld (%s)", r, strerror(errno));
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 5) == 1 &&
		 ev.obj == (unsigned long)&pcb, "no event for the cancelled POLL");

	/* a non-blocking pipe read is not parked anywhere */
	KT_REQUIRE(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	kt_prep(&cb, IOCB_CMD_PREAD, p[0], rbuf, 1, 0);
	KT_CHECK((r = kt_run1(ctx, &cb, 5)) == -EAGAIN,
		 "non-blocking pipe read: %lld", r);

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		kt_prep(&cb, refused[i], fd, NULL, 0, 0);
		KT_CHECK((r = kt_submit1(ctx, &cb)) == -EINVAL,
			 "command %d: %lld", refused[i], r);
	}
	KT_CHECK(kt_nthreads() == 1, "%d threads: a worker exists",
		 kt_nthreads());
	KT_CHECK(io_destroy(ctx) == 0, "io_destroy: %s", strerror(errno));
	close(fd);
	close(p[0]);
	close(p[1]);
	return kt_done();
}
