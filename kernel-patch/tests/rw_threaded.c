/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rw_threaded: with fs.aio-auto-threads = 1, buffered PWRITE, PREAD,
 * PWRITEV, PREADV and FSYNC/FDSYNC give the right data and results, a
 * worker thread serves them, io_submit() does not block on an empty pipe,
 * and the iovec array is copied at submit.
 */
#include <sys/uio.h>
#include "kt.h"

int main(int argc, char **argv)
{
	static char wbuf[3 * 4096], rbuf[3 * 4096], a[100], b[200], c[300];
	struct iovec iov[3], other[3];
	aio_context_t ctx = 0;
	struct io_event ev;
	struct iocb cb;
	long long r;
	int fd, p[2], i;
	double t;

	kt_init(argc, argv, "rw_threaded");
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(16, &ctx) == 0, "io_setup");
	KT_CHECK(kt_nthreads() == 1, "threads before any request: %d",
		 kt_nthreads());

	fd = open(kt_path("rw"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	KT_REQUIRE(fd >= 0, "open");
	for (i = 0; i < (int)sizeof(wbuf); i++)
		wbuf[i] = (char)(i * 7 + 3);

	kt_prep(&cb, IOCB_CMD_PWRITE, fd, wbuf, sizeof(wbuf), 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == (long long)sizeof(wbuf), "PWRITE: %lld", r);
	KT_CHECK(kt_nthreads() >= 2,
		 "no worker thread after a buffered write (%d threads)",
		 kt_nthreads());

	kt_prep(&cb, IOCB_CMD_PREAD, fd, rbuf, sizeof(rbuf), 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == (long long)sizeof(rbuf) && !memcmp(wbuf, rbuf, sizeof(rbuf)),
		 "PREAD: %lld", r);
	kt_prep(&cb, IOCB_CMD_PREAD, fd, rbuf, 100, sizeof(wbuf) - 10);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 10, "short PREAD at EOF: %lld", r);

	/* vectored, with the iovec array changed right after io_submit() */
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	memset(c, 'c', sizeof(c));
	iov[0].iov_base = a; iov[0].iov_len = sizeof(a);
	iov[1].iov_base = b; iov[1].iov_len = sizeof(b);
	iov[2].iov_base = c; iov[2].iov_len = sizeof(c);
	kt_prep(&cb, IOCB_CMD_PWRITEV, fd, iov, 3, 1000);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 600, "PWRITEV: %lld", r);
	KT_CHECK(pread(fd, rbuf, 600, 1000) == 600 && rbuf[0] == 'a' &&
		 rbuf[99] == 'a' && rbuf[100] == 'b' && rbuf[299] == 'b' &&
		 rbuf[300] == 'c' && rbuf[599] == 'c', "PWRITEV data");

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(c, 0, sizeof(c));
	kt_prep(&cb, IOCB_CMD_PREADV, fd, iov, 3, 1000);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "PREADV submit");
	for (i = 0; i < 3; i++) {
		other[i] = iov[i];
		iov[i].iov_base = rbuf;	/* must not be used */
	}
	memset(rbuf, 0, sizeof(rbuf));
	KT_REQUIRE(kt_getevents(ctx, 1, 1, &ev, 5) == 1, "PREADV event");
	KT_CHECK(ev.res == 600, "PREADV: %lld", (long long)ev.res);
	KT_CHECK(a[0] == 'a' && a[99] == 'a' && b[0] == 'b' && b[199] == 'b' &&
		 c[0] == 'c' && c[299] == 'c', "PREADV data");
	KT_CHECK(rbuf[0] == 0, "iovec array was read after io_submit()");
	(void)other;

	/* fsync and fdatasync */
	kt_prep(&cb, IOCB_CMD_FSYNC, fd, NULL, 0, 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 0, "FSYNC: %lld", r);
	kt_prep(&cb, IOCB_CMD_FDSYNC, fd, NULL, 0, 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 0, "FDSYNC: %lld", r);
	close(fd);

	/* a read of an empty pipe no longer blocks io_submit() */
	KT_REQUIRE(pipe(p) == 0, "pipe");
	kt_prep(&cb, IOCB_CMD_PREAD, p[0], rbuf, 64, 0);
	t = kt_now();
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "pipe read submit");
	KT_CHECK(kt_now() - t < 1.0, "io_submit blocked %.2fs", kt_now() - t);
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 0.2) == 0,
		 "pipe read completed with nothing written");
	KT_REQUIRE(write(p[1], "ping", 4) == 4, "write pipe");
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 5) == 1 && ev.res == 4 &&
		 !memcmp(rbuf, "ping", 4), "pipe read result");
	/* and a pipe write */
	kt_prep(&cb, IOCB_CMD_PWRITE, p[1], "pong", 4, 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 4 && read(p[0], rbuf, 4) == 4 && !memcmp(rbuf, "pong", 4),
		 "pipe write: %lld", r);
	close(p[0]);
	close(p[1]);

	io_destroy(ctx);
	kt_sysctl_set(0);
	return kt_done();
}
