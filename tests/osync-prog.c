/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An O_SYNC aio_fsync() gets an fsync(2), never a ride on an fdatasync(2)
 * of the fd's group commit, even after the group's leader was cancelled
 * and its order changed.  Run by tests/check-osync.sh on the pool with one
 * worker (KAIO_BACKEND=threads KAIO_THREADS=1); the program's own fsync()
 * and fdatasync() (exported with -rdynamic) count what the pool calls.
 * Exit 0 pass, 1 fail, 77 skip.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim-real.h"

static atomic_int n_fsync, n_fdatasync;

__attribute__((visibility("default"))) int fsync(int fd);
__attribute__((visibility("default"))) int fdatasync(int fd);

int fsync(int fd)
{
	static int (*real)(int);

	atomic_fetch_add(&n_fsync, 1);
	return SHIM_NEXT(real, "fsync")(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);

	atomic_fetch_add(&n_fdatasync, 1);
	return SHIM_NEXT(real, "fdatasync")(fd);
}

static void req(struct aiocb *cb, int fd, int op)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = fd;
	if (aio_fsync(op, cb)) {
		perror("aio_fsync");
		exit(1);
	}
}

static int wait_for(struct aiocb *cb)
{
	const struct aiocb *l[1] = { cb };
	int i;

	for (i = 0; i < 1000 && aio_error(cb) == EINPROGRESS; i++)
		aio_suspend(l, 1, &(struct timespec){ 0, 10000000 });
	return aio_error(cb);
}

int main(void)
{
	static struct aiocb b, f0, d1, d2, s3;
	char c, path[] = "kaio-osync-XXXXXX";
	int p[2], fd = mkstemp(path), r0, r1;

	if (fd < 0 || pipe(p))
		return 1;
	unlink(path);
	memset(&b, 0, sizeof(b));
	b.aio_fildes = p[0];
	b.aio_buf = &c;
	b.aio_nbytes = 1;
	if (aio_read(&b))		/* holds the only worker */
		return 1;
	usleep(100 * 1000);
	req(&f0, fd, O_DSYNC);		/* the group's leader, queued */
	req(&d1, fd, O_DSYNC);		/* these wait for the next one */
	req(&d2, fd, O_DSYNC);
	r0 = aio_cancel(fd, &f0);
	req(&s3, fd, O_SYNC);
	r1 = aio_cancel(fd, &d1);
	if (write(p[1], "x", 1) != 1)
		return 1;
	if (wait_for(&s3) || wait_for(&d2) || wait_for(&b)) {
		fprintf(stderr, "osync: a request failed or never ended\n");
		return 1;
	}
	printf("osync: cancels %d %d; fsync(2) %d, fdatasync(2) %d\n", r0, r1,
	       atomic_load(&n_fsync), atomic_load(&n_fdatasync));
	if (r0 != AIO_CANCELED || r1 != AIO_CANCELED) {
		printf("SKIP: osync: the leaders were not queued (no single "
		       "busy worker here)\n");
		return 77;
	}
	if (atomic_load(&n_fsync) == 0) {
		printf("FAIL: O_SYNC aio_fsync() completed without fsync(2)\n");
		return 1;
	}
	return 0;
}
