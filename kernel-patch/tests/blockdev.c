/* SPDX-License-Identifier: GPL-2.0 */
/*
 * blockdev: buffered reads and writes of a block device (the UML disk
 * ubd0, 98:0, that run-tests attaches) work the same with the sysctl at 0
 * and at 1.  A block device supports IOCB_NOWAIT for reads but answers a
 * buffered IOCB_NOWAIT write with -EOPNOTSUPP; with the sysctl at 1 that
 * must send the write to a worker, not complete it with -EOPNOTSUPP.
 * Also O_DSYNC, RWF_DSYNC, PWRITEV and FSYNC on the device.
 */
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include "kt.h"

#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002
#endif

static char wbuf[3][8192], rbuf[8192];

static void rw_round(aio_context_t ctx, const char *dev, int sysctl)
{
	struct iovec iov[2];
	struct iocb cb;
	long long r;
	int fd, i;

	kt_sysctl_set(sysctl);
	for (i = 0; i < 3; i++)
		memset(wbuf[i], 'a' + i + 3 * sysctl, sizeof(wbuf[i]));

	fd = open(dev, O_RDWR);
	KT_REQUIRE(fd >= 0, "open %s: %s (is ubd0 attached?)", dev,
		   strerror(errno));

	kt_prep(&cb, IOCB_CMD_PWRITE, fd, wbuf[0], 8192, 65536);
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == 8192, "sysctl %d: buffered PWRITE to the block device: "
		 "%lld", sysctl, r);
	kt_prep(&cb, IOCB_CMD_PREAD, fd, rbuf, 8192, 65536);
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == 8192 && !memcmp(rbuf, wbuf[0], 8192),
		 "sysctl %d: PREAD after PWRITE: %lld", sysctl, r);

	/* RWF_DSYNC on a buffered write */
	kt_prep(&cb, IOCB_CMD_PWRITE, fd, wbuf[1], 4096, 4096);
	cb.aio_rw_flags = RWF_DSYNC;
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == 4096, "sysctl %d: PWRITE with RWF_DSYNC: %lld", sysctl,
		 r);

	/* PWRITEV, two segments */
	iov[0].iov_base = wbuf[2];
	iov[0].iov_len = 512;
	iov[1].iov_base = wbuf[2] + 512;
	iov[1].iov_len = 3584;
	kt_prep(&cb, IOCB_CMD_PWRITEV, fd, iov, 2, 131072);
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == 4096, "sysctl %d: PWRITEV: %lld", sysctl, r);

	kt_prep(&cb, IOCB_CMD_FSYNC, fd, NULL, 0, 0);
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == 0, "sysctl %d: FSYNC: %lld", sysctl, r);
	close(fd);

	/* O_DSYNC */
	fd = open(dev, O_RDWR | O_DSYNC);
	KT_REQUIRE(fd >= 0, "open O_DSYNC");
	kt_prep(&cb, IOCB_CMD_PWRITE, fd, wbuf[1], 4096, 8192);
	r = kt_run1(ctx, &cb, 10);
	KT_CHECK(r == 4096, "sysctl %d: PWRITE on an O_DSYNC fd: %lld",
		 sysctl, r);
	close(fd);

	/* what was written is what a plain pread() sees */
	fd = open(dev, O_RDONLY);
	KT_REQUIRE(fd >= 0, "open");
	KT_CHECK(pread(fd, rbuf, 4096, 131072) == 4096 &&
		 !memcmp(rbuf, wbuf[2], 4096), "sysctl %d: PWRITEV data",
		 sysctl);
	KT_CHECK(pread(fd, rbuf, 4096, 4096) == 4096 &&
		 !memcmp(rbuf, wbuf[1], 4096), "sysctl %d: RWF_DSYNC data",
		 sysctl);
	close(fd);
}

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;
	const char *dev;

	kt_init(argc, argv, "blockdev");
	if (!getenv("KCHECK_UBD")) {
		/* run-tests attaches the disk under UML only */
		printf("blockdev: no disk attached (KCHECK_UBD unset): SKIP\n");
		return 0;
	}
	dev = kt_path("ubda");
	KT_REQUIRE(mknod(dev, S_IFBLK | 0600, makedev(98, 0)) == 0,
		   "mknod: %s", strerror(errno));
	KT_REQUIRE(io_setup(16, &ctx) == 0, "io_setup");
	rw_round(ctx, dev, 0);
	rw_round(ctx, dev, 1);
	io_destroy(ctx);
	kt_sysctl_set(0);
	return kt_done();
}
