/* SPDX-License-Identifier: LGPL-2.1-or-later OR GPL-2.0 WITH Linux-syscall-note */
/*
 * kaio_aio_abi.h - the user ABI of the threaded-AIO kernel series.
 *
 * This is the one place that defines what kernel-patch/ adds to
 * <linux/aio_abi.h>.  The library includes it; the kernel series adds the
 * same values to include/uapi/linux/aio_abi.h, and kernel-patch/run-tests
 * checks that both agree.  It compiles on its own, with or without
 * <linux/aio_abi.h>, under -std=c89 -pedantic.
 */
#ifndef KAIO_AIO_ABI_H
#define KAIO_AIO_ABI_H

#include <linux/types.h>

/* Mainline commands (unchanged; listed so the library needs no other header). */
#define KAIO_IOCB_CMD_PREAD		0
#define KAIO_IOCB_CMD_PWRITE		1
#define KAIO_IOCB_CMD_FSYNC		2
#define KAIO_IOCB_CMD_FDSYNC		3
#define KAIO_IOCB_CMD_POLL		5
#define KAIO_IOCB_CMD_NOOP		6
#define KAIO_IOCB_CMD_PREADV		7
#define KAIO_IOCB_CMD_PWRITEV		8

/*
 * Commands added by the series, valid only while fs.aio-auto-threads = 1
 * (otherwise io_submit() fails them with -EINVAL).  11 is left unassigned,
 * as in the 2016 series.
 *
 * OPENAT:    aio_fildes = dirfd (s32, AT_FDCWD allowed), aio_buf = path,
 *            aio_offset = open flags (bits 0-31) | mode << 32 (bits 32-47).
 *            res = the new fd.
 * UNLINKAT:  aio_fildes = dirfd, aio_buf = path, aio_offset = 0 or
 *            AT_REMOVEDIR.  res = 0.
 * READAHEAD: aio_fildes = fd, aio_buf = 0, aio_nbytes = length,
 *            aio_offset = file offset.  res = bytes now resident.
 * RENAMEAT:  aio_buf = pointer to struct kaio_renameat_info,
 *            aio_nbytes = sizeof(struct kaio_renameat_info), aio_offset = 0.
 *            res = 0.
 */
#define KAIO_IOCB_CMD_OPENAT		9
#define KAIO_IOCB_CMD_UNLINKAT		10
#define KAIO_IOCB_CMD_READAHEAD		12
#define KAIO_IOCB_CMD_RENAMEAT		13

/* Set in struct aio_ring.compat_features while fs.aio-auto-threads = 1. */
#define KAIO_AIO_RING_COMPAT_THREADED	2

/* Where the sysctl lives. */
#define KAIO_AIO_AUTO_THREADS_PATH	"/proc/sys/fs/aio-auto-threads"

/* The argument block of IOCB_CMD_RENAMEAT: renameat2(2)'s arguments. */
struct kaio_renameat_info {
	__s64	olddirfd;
	__u64	oldpath;	/* const char * */
	__s64	newdirfd;
	__u64	newpath;	/* const char * */
	__u64	flags;		/* RENAME_NOREPLACE, RENAME_EXCHANGE, ... */
};

#endif /* KAIO_AIO_ABI_H */
