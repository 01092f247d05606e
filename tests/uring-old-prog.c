/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An io_uring without IORING_FEAT_EXT_ARG (kernels before 5.11, Debian
 * 11's 5.10 among them) is not used.  There liburing times a wait out with
 * a timeout request of its own, taken from the submission queue without
 * the library's lock, and the library would read that request's
 * completion as one of its requests.
 *
 * The program exports io_uring_queue_init() (linked with -export-dynamic)
 * and clears the feature bit in every ring the library makes, as such a
 * kernel reports it.  A poll of an empty pipe then waits for 2.5 s, long
 * enough for the reapers' timed waits (1 s slices) to end in liburing's
 * timeout requests, while a second thread reads a file with aio_read() and
 * aio_suspend().  Everything must complete with the right result, and
 * nothing may have been served by io_uring.  Run by
 * tests/check-uring-old.sh under KAIO_BACKEND=auto and uring.
 *
 * Exit 0 pass, 1 fail, 77 skip (no io_uring here at all).
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "kaio_posix.h"
#include "shim-real.h"

static atomic_int rings, real_ext_arg;

__attribute__((visibility("default")))
int io_uring_queue_init(unsigned entries, struct io_uring *ring,
			unsigned flags);

int io_uring_queue_init(unsigned entries, struct io_uring *ring,
			unsigned flags)
{
	static int (*next)(unsigned, struct io_uring *, unsigned);
	__typeof__(next) real = SHIM_NEXT(next, "io_uring_queue_init");
	int ret;

	if (!real)
		return -ENOSYS;
	ret = real(entries, ring, flags);
	if (ret == 0) {
		atomic_fetch_add(&rings, 1);
		if (ring->features & IORING_FEAT_EXT_ARG)
			atomic_store(&real_ext_arg, 1);
		ring->features &= ~IORING_FEAT_EXT_ARG;
	}
	return ret;
}

static int fd;
static atomic_int reader_bad, reads_done;

static void *reader(void *arg)
{
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	struct timespec ts = { 0, 50 * 1000000 };
	char buf[512];
	int i;

	(void)arg;
	for (i = 0; i < 100; i++) {
		memset(&cb, 0, sizeof(cb));
		cb.aio_fildes = fd;
		cb.aio_buf = buf;
		cb.aio_nbytes = sizeof(buf);
		cb.aio_offset = (off_t)(i % 8) * 512;
		if (aio_read(&cb)) {
			atomic_store(&reader_bad, 1);
			return NULL;
		}
		while (aio_error(&cb) == EINPROGRESS)
			aio_suspend(l, 1, &ts);
		if (aio_error(&cb) || aio_return(&cb) != sizeof(buf) ||
		    buf[0] != (char)('a' + i % 8)) {
			atomic_store(&reader_bad, 1);
			return NULL;
		}
		atomic_fetch_add(&reads_done, 1);
		usleep(20 * 1000);
	}
	return NULL;
}

int main(void)
{
	char path[] = "/tmp/kaio-uring-old.XXXXXX", blk[512];
	struct kaio_stats st;
	struct aiocb pl;
	const struct aiocb *l[1] = { &pl };
	struct timespec ts = { 5, 0 };
	pthread_t t;
	int p[2], i, bad = 0;

	alarm(60);
	fd = mkstemp(path);
	if (fd < 0 || pipe(p)) {
		perror("uring-old-prog: setup");
		return 1;
	}
	unlink(path);
	for (i = 0; i < 8; i++) {
		memset(blk, 'a' + i, sizeof(blk));
		if (write(fd, blk, sizeof(blk)) != (ssize_t)sizeof(blk))
			return 1;
	}
	memset(&pl, 0, sizeof(pl));
	pl.aio_fildes = p[0];
	pl.aio_nbytes = POLLIN;
	if (kaio_poll(&pl)) {
		perror("uring-old-prog: kaio_poll");
		return 1;
	}
	if (pthread_create(&t, NULL, reader, NULL))
		return 1;
	usleep(2500 * 1000);
	if (write(p[1], "x", 1) != 1)
		return 1;
	while (aio_error(&pl) == EINPROGRESS)
		aio_suspend(l, 1, &ts);
	pthread_join(t, NULL);
	if (aio_error(&pl) || !(aio_return(&pl) & POLLIN)) {
		fprintf(stderr, "FAIL: the poll: error %d\n", aio_error(&pl));
		bad = 1;
	}
	if (atomic_load(&reader_bad) || atomic_load(&reads_done) != 100) {
		fprintf(stderr, "FAIL: %d of 100 reads right\n",
			atomic_load(&reads_done));
		bad = 1;
	}
	kaio_stats_get(&st, sizeof(st));
	if (st.v[KAIO_STAT_URING]) {
		fprintf(stderr, "FAIL: io_uring served %lu requests without "
			"IORING_FEAT_EXT_ARG\n", st.v[KAIO_STAT_URING]);
		bad = 1;
	}
	close(fd);
	close(p[0]);
	close(p[1]);
	if (!bad && !atomic_load(&real_ext_arg)) {
		printf("SKIP: %s\n", atomic_load(&rings)
		       ? "this kernel's io_uring has no EXT_ARG itself"
		       : "no io_uring ring was made here");
		return 77;
	}
	if (!bad)
		printf("%d ring(s) made and given up; poll and %d reads "
		       "right, none by io_uring\n", atomic_load(&rings),
		       atomic_load(&reads_done));
	return bad;
}
