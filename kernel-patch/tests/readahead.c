/* SPDX-License-Identifier: GPL-2.0 */
/*
 * readahead: IOCB_CMD_READAHEAD reports the bytes made resident, clamped
 * to the file size, on hostfs (the test binary itself, really read from
 * the host) and tmpfs, and rejects bad arguments.  It really reads: after
 * POSIX_FADV_DONTNEED has dropped a hostfs file from the page cache
 * (mincore() shows nothing resident), READAHEAD of a range makes every
 * page of it resident.
 */
#include <sys/mman.h>
#include <sys/vfs.h>
#include "kt.h"

#define HOSTFS_MAGIC	0x00c0ffee

/* Pages of [0, len) of @fd that are in the page cache. */
static int resident(int fd, size_t len)
{
	static unsigned char vec[256];
	int i, n = 0;
	void *p;

	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	KT_REQUIRE(p != MAP_FAILED, "mmap: %s", strerror(errno));
	KT_REQUIRE(mincore(p, len, vec) == 0, "mincore: %s", strerror(errno));
	for (i = 0; i < (int)((len + 4095) / 4096); i++)
		n += vec[i] & 1;
	munmap(p, len);
	return n;
}

/*
 * Another test's binary (not mapped by this process, so DONTNEED can drop
 * its pages), on hostfs; UML only.
 */
static void check_residency(aio_context_t ctx)
{
	const size_t len = 64 * 4096;
	struct statfs sfs;
	struct iocb cb;
	struct stat st;
	long long r;
	int fd, n;

	fd = open("abi_check", O_RDONLY);
	if (fd < 0 || fstatfs(fd, &sfs) || sfs.f_type != HOSTFS_MAGIC ||
	    fstat(fd, &st) || st.st_size < (off_t)len) {
		printf("no hostfs test binary here: residency not checked\n");
		if (fd >= 0)
			close(fd);
		return;
	}
	KT_REQUIRE(syscall(SYS_fadvise64, fd, 0, 0, 4 /* DONTNEED */) == 0,
		   "fadvise DONTNEED: %s", strerror(errno));
	n = resident(fd, len);
	KT_REQUIRE(n == 0, "%d pages still resident after DONTNEED", n);

	kt_prep(&cb, KAIO_IOCB_CMD_READAHEAD, fd, NULL, len / 2, 0);
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == (long long)len / 2, "READAHEAD of 128 KiB: %lld", r);
	n = resident(fd, len / 2);
	KT_CHECK(n == 32, "%d of 32 pages resident after READAHEAD", n);
	close(fd);
}

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

	check_residency(ctx);

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
