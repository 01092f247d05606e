/* SPDX-License-Identifier: GPL-2.0 */
/*
 * readahead: IOCB_CMD_READAHEAD reports the bytes made resident, clamped
 * to the file size, on hostfs (the test binary itself, really read from
 * the host) and tmpfs, and rejects bad arguments.
 */
#include "kt.h"

int main(int argc, char **argv)
{
	static char data[3 * 4096 + 100];
	aio_context_t ctx = 0;
	struct iocb cb;
	struct stat st;
	long long r;
	int fd, wfd;

	kt_init(argc, argv, "readahead");
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(16, &ctx) == 0, "io_setup");

	/* hostfs: our own binary */
	fd = open("/proc/self/exe", O_RDONLY);
	KT_REQUIRE(fd >= 0 && fstat(fd, &st) == 0, "open self");
	kt_prep(&cb, KAIO_IOCB_CMD_READAHEAD, fd, NULL, 1 << 30, 0);
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == st.st_size, "whole binary: %lld, size %lld", r,
		 (long long)st.st_size);
	kt_prep(&cb, KAIO_IOCB_CMD_READAHEAD, fd, NULL, 5000, 1000);
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == 5000, "range: %lld", r);
	kt_prep(&cb, KAIO_IOCB_CMD_READAHEAD, fd, NULL, 100, st.st_size + 10);
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == 0, "past EOF: %lld", r);
	kt_prep(&cb, KAIO_IOCB_CMD_READAHEAD, fd, data, 100, 0);
	KT_CHECK(kt_submit1(ctx, &cb) == -EINVAL, "aio_buf != 0 accepted");
	close(fd);

	/* tmpfs */
	memset(data, 'r', sizeof(data));
	kt_write_file(kt_path("ra"), data, sizeof(data), 0644);
	fd = open(kt_path("ra"), O_RDONLY);
	KT_REQUIRE(fd >= 0, "open");
	kt_prep(&cb, KAIO_IOCB_CMD_READAHEAD, fd, NULL, 1 << 20, 0);
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == (long long)sizeof(data), "tmpfs: %lld", r);

	/* write-only fd: -EBADF; a directory: -EINVAL */
	wfd = open(kt_path("ra"), O_WRONLY);
	kt_prep(&cb, KAIO_IOCB_CMD_READAHEAD, wfd, NULL, 100, 0);
	KT_CHECK(kt_submit1(ctx, &cb) == -EBADF, "write-only fd accepted");
	close(wfd);
	wfd = open(kt_scratch, O_RDONLY | O_DIRECTORY);
	kt_prep(&cb, KAIO_IOCB_CMD_READAHEAD, wfd, NULL, 100, 0);
	KT_CHECK(kt_submit1(ctx, &cb) == -EINVAL, "directory accepted");
	close(wfd);
	close(fd);

	io_destroy(ctx);
	kt_sysctl_set(0);
	return kt_done();
}
