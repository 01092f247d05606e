/* SPDX-License-Identifier: GPL-2.0 */
/*
 * abi_check: the values in the library's include/kaio_aio_abi.h equal
 * those of the patched kernel's include/uapi/linux/aio_abi.h.  The harness
 * compiles this against the patched uapi header, so a mismatch fails the
 * build (static assertions); the run re-checks and prints the values.
 */
#include <stddef.h>
#include "kt.h"

#define SAME(a, b) _Static_assert((a) == (b), #a " != " #b)

SAME(IOCB_CMD_PREAD, KAIO_IOCB_CMD_PREAD);
SAME(IOCB_CMD_PWRITE, KAIO_IOCB_CMD_PWRITE);
SAME(IOCB_CMD_FSYNC, KAIO_IOCB_CMD_FSYNC);
SAME(IOCB_CMD_FDSYNC, KAIO_IOCB_CMD_FDSYNC);
SAME(IOCB_CMD_POLL, KAIO_IOCB_CMD_POLL);
SAME(IOCB_CMD_NOOP, KAIO_IOCB_CMD_NOOP);
SAME(IOCB_CMD_PREADV, KAIO_IOCB_CMD_PREADV);
SAME(IOCB_CMD_PWRITEV, KAIO_IOCB_CMD_PWRITEV);
SAME(IOCB_CMD_OPENAT, KAIO_IOCB_CMD_OPENAT);
SAME(IOCB_CMD_UNLINKAT, KAIO_IOCB_CMD_UNLINKAT);
SAME(IOCB_CMD_READAHEAD, KAIO_IOCB_CMD_READAHEAD);
SAME(IOCB_CMD_RENAMEAT, KAIO_IOCB_CMD_RENAMEAT);
SAME(AIO_RING_COMPAT_THREADED, KAIO_AIO_RING_COMPAT_THREADED);
/* the value src/backend-kaio.c passes to io_setup() */
SAME(IOCTX_FLAG_THREADED, 1U << 30);
SAME(sizeof(struct aio_renameat_info), sizeof(struct kaio_renameat_info));
SAME(sizeof(struct aio_renameat_info), 40);
#define FIELD(f) \
	SAME(offsetof(struct aio_renameat_info, f), \
	     offsetof(struct kaio_renameat_info, f)); \
	SAME(sizeof(((struct aio_renameat_info *)0)->f), \
	     sizeof(((struct kaio_renameat_info *)0)->f))
FIELD(olddirfd);
FIELD(oldpath);
FIELD(newdirfd);
FIELD(newpath);
FIELD(flags);

int main(int argc, char **argv)
{
	kt_init(argc, argv, "abi_check");
	printf("OPENAT %d UNLINKAT %d READAHEAD %d RENAMEAT %d "
	       "RING_COMPAT_THREADED %d renameat_info %zu bytes\n",
	       IOCB_CMD_OPENAT, IOCB_CMD_UNLINKAT, IOCB_CMD_READAHEAD,
	       IOCB_CMD_RENAMEAT, AIO_RING_COMPAT_THREADED,
	       sizeof(struct aio_renameat_info));
	KT_CHECK(IOCB_CMD_OPENAT == 9 && IOCB_CMD_UNLINKAT == 10 &&
		 IOCB_CMD_READAHEAD == 12 && IOCB_CMD_RENAMEAT == 13,
		 "command numbers differ from the 2016 series");
	KT_CHECK(AIO_RING_COMPAT_THREADED == 2, "ring flag");
	return kt_done();
}
