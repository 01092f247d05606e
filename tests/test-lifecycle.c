/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the library holds and for how long:
 * - native AIO events (fs.aio-nr, a system-wide budget) are reserved only
 *   when native AIO really serves a request, and then few;
 * - a request outlives the thread that submitted it, whatever the thread
 *   (an application thread, a SIGEV_THREAD notifier that exits when idle);
 * - a request that another thread dispatches later (an O_APPEND write
 *   queued behind another) still runs with its submitter's identity.
 * The suite runs under every backend policy (tests/check-*.sh).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

static const char *backend(void)
{
	const char *m = getenv("KAIO_BACKEND");

	return m && *m ? m : "auto";
}

static int is(const char *mode)
{
	return !strcmp(backend(), mode);
}

/* The native AIO rings mapped in this process: how many, how many bytes. */
static void aio_rings(int *count, long *bytes)
{
	char line[512];
	unsigned long lo, hi;
	FILE *f = fopen("/proc/self/maps", "r");

	ck_assert_ptr_nonnull(f);
	*count = 0;
	*bytes = 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/[aio]") &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			(*count)++;
			*bytes += (long)(hi - lo);
		}
	fclose(f);
}

static unsigned long stat_of(int what)
{
	struct kaio_stats st;

	ck_assert_int_eq(kaio_stats_get(&st, sizeof(st)), 0);
	return st.v[what];
}

/* Is the kernel the threaded-AIO kind (fs.aio-auto-threads = 1)? */
static int threaded_kernel(void)
{
	char c = '0';
	int fd = open("/proc/sys/fs/aio-auto-threads", O_RDONLY);

	if (fd < 0)
		return 0;
	if (read(fd, &c, 1) != 1)
		c = '0';
	close(fd);
	return c == '1';
}

static void run(int (*submit)(struct aiocb *), struct aiocb *cb, long want)
{
	ck_assert_int_eq(submit(cb), 0);
	ck_assert_int_eq(t_wait(cb, 10000), 0);
	ck_assert_int_eq(aio_return(cb), want);
}

static int fsync_sync(struct aiocb *cb)
{
	return aio_fsync(O_SYNC, cb);
}

/*
 * Finding 10: a process that io_uring or the caller serves reserves no
 * native AIO events (it reserved 4096 only to learn what kind of kernel it
 * ran on, and 16 idle processes exhausted fs.aio-max-nr); one that native
 * AIO serves reserves few.  The rings a process has mapped are its
 * contexts, so /proc/self/maps measures this process alone (fs.aio-nr is
 * the whole system's, moved by whatever else runs).
 */
START_TEST(aio_events_only_when_used)
{
	char buf[4096], *dbuf = NULL;
	struct aiocb cb;
	int fd = t_tmpfile(65536, 0), dfd = -1, p[2], n0, n1;
	long b0, b1;

	aio_rings(&n0, &b0);
	ck_assert_uint_eq(stat_of(KAIO_STAT_AIO_EVENTS), 0);

	t_prep(&cb, fd, buf, sizeof(buf), 4096);	/* cached: the caller */
	run(aio_read, &cb, sizeof(buf));
	t_prep(&cb, fd, NULL, 0, 0);
	run(fsync_sync, &cb, 0);
	t_pipe(p);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	t_prep(&cb, p[0], buf, 1, 0);
	run(aio_read, &cb, 1);
	if (t_direct_ok() && (dfd = t_tmpfile(65536, O_DIRECT)) >= 0) {
		ck_assert_int_eq(posix_memalign((void **)&dbuf, 4096, 4096), 0);
		t_prep(&cb, dfd, dbuf, 4096, 8192);
		run(aio_read, &cb, 4096);
		ck_assert(t_check_bytes(dbuf, 8192, 4096));
	}

	aio_rings(&n1, &b1);
	if (is("threads") || is("uring") ||
	    (is("auto") && t_uring_ok() && !threaded_kernel())) {
		ck_assert_msg(n1 == n0, "%d native AIO context(s) made (%ld bytes)"
			      " with KAIO_BACKEND=%s", n1 - n0, b1 - b0, backend());
		ck_assert_uint_eq(stat_of(KAIO_STAT_AIO_EVENTS), 0);
	} else if (is("kernel") && !stat_of(KAIO_STAT_KERNEL)) {
		/* io_setup() or io_submit() refused (tests/check-fallback.sh) */
		ck_assert_int_le(n1, n0 + 1);
		ck_assert_int_le(b1 - b0, 16384);
		ck_assert_uint_le(stat_of(KAIO_STAT_AIO_EVENTS), 256);
	} else if (is("kernel")) {
		/* The fsync (and the O_DIRECT read) went to native AIO. */
		ck_assert_int_eq(n1, n0 + 1);
		ck_assert_msg(b1 - b0 <= 16384, "a ring of %ld bytes", b1 - b0);
		ck_assert_uint_ge(stat_of(KAIO_STAT_AIO_EVENTS), 1);
		ck_assert_uint_le(stat_of(KAIO_STAT_AIO_EVENTS), 256);
	}
	free(dbuf);
	if (dfd >= 0)
		close(dfd);
	close(fd);
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * A small context never fails a request: with KAIO_BACKEND=kernel, polls
 * on an empty pipe fill it, the rest go to the pool, and all complete when
 * data comes; the next submission with nothing in flight makes it bigger.
 */
START_TEST(aio_events_grow_never_fail)
{
	enum { N = 800 };	/* more than 128 events hold (about 380) */
	struct aiocb *cb = calloc(N, sizeof(*cb));
	unsigned long first, later;
	int p[2], i, n0, n;
	long b;

	if (!is("kernel")) {
		printf("SKIP: aio_events_grow_never_fail: KAIO_BACKEND=%s\n",
		       backend());
		free(cb);
		return;
	}
	aio_rings(&n0, &b);
	t_pipe(p);
	for (i = 0; i < N; i++) {
		t_prep(&cb[i], p[0], NULL, POLLIN, 0);
		ck_assert_int_eq(kaio_poll(&cb[i]), 0);
	}
	first = stat_of(KAIO_STAT_AIO_EVENTS);
	ck_assert_uint_le(first, 256);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(t_wait(&cb[i], 10000), 0);
		ck_assert_int_eq(aio_return(&cb[i]) & POLLIN, POLLIN);
	}
	/* Nothing in flight now: the next request gets a bigger context. */
	t_prep(&cb[0], p[0], NULL, POLLIN, 0);
	ck_assert_int_eq(kaio_poll(&cb[0]), 0);
	ck_assert_int_eq(t_wait(&cb[0], 10000), 0);
	ck_assert_int_eq(aio_return(&cb[0]) & POLLIN, POLLIN);
	later = stat_of(KAIO_STAT_AIO_EVENTS);
	if (!stat_of(KAIO_STAT_KERNEL)) {	/* tests/check-fallback.sh */
		printf("SKIP: aio_events_grow_never_fail: native AIO refused\n");
		ck_assert_uint_le(later, 256);
		goto out;
	}
	ck_assert_uint_ge(first, 1);
	ck_assert_uint_eq(later, first * 2);
	aio_rings(&n, &b);
	ck_assert_int_eq(n, n0 + 1);	/* the small one was given back */
out:
	close(p[0]);
	close(p[1]);
	free(cb);
}
END_TEST

Suite *lifecycle_suite(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = t_tcase("aio_events");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, aio_events_only_when_used);
	tcase_add_test(tc, aio_events_grow_never_fail);
	suite_add_tcase(s, tc);
	return s;
}
