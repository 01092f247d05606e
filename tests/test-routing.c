/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which backend served what, read from the library's counters.  The
 * expectations follow the configuration the suite runs under
 * (KAIO_BACKEND, and KAIO_SHIM_FAIL=io_setup when tests/shim-syscall.so
 * makes io_setup() fail).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

static const char *mode(void)
{
	const char *m = getenv("KAIO_BACKEND");

	return m && *m ? m : "auto";
}

static int is(const char *m)
{
	return !strcmp(mode(), m);
}

/* Native AIO made unusable by tests/shim-syscall.so? */
static int kernel_blocked(void)
{
	const char *f = getenv("KAIO_SHIM_FAIL");

	return f && (strstr(f, "io_setup") || strstr(f, "io_submit"));
}

/* Does the caller-side RWF_NOWAIT path run? */
static int inline_on(void)
{
	const char *n = getenv("KAIO_NOWAIT");

	return !is("kernel") && !is("uring") && !(n && !strcmp(n, "0"));
}

/*
 * The counter that must account for a request the policy sends to a
 * kernel backend (O_DIRECT, fsync, or a buffered read that missed the
 * cache); KAIO_STAT_POOL if none can take it here.
 */
static int kernel_stat(int buffered_read)
{
	if (is("threads"))
		return KAIO_STAT_POOL;
	if ((is("auto") || is("uring")) && t_uring_ok())
		return KAIO_STAT_URING;
	if (is("uring") || kernel_blocked())
		return KAIO_STAT_POOL;
	if (buffered_read && !is("kernel"))
		return KAIO_STAT_POOL;
	return KAIO_STAT_KERNEL;
}

static int kernel_expected(void)
{
	return kernel_stat(0) != KAIO_STAT_POOL;
}

static unsigned long stat(int which)
{
	struct kaio_stats st;

	kaio_stats_get(&st, sizeof(st));
	return st.v[which];
}

START_TEST(route_direct_read)
{
	enum { N = 16 };
	struct aiocb cb[N];
	void *buf;
	int fd = t_tmpfile(1 << 20, O_DIRECT), i;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign(&buf, 4096, N * 4096), 0);
	for (i = 0; i < N; i++) {
		t_prep(&cb[i], fd, (char *)buf + i * 4096, 4096, (off_t)i * 8192);
		ck_assert_int_eq(aio_read(&cb[i]), 0);
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(t_wait(&cb[i], 5000), 0);
		ck_assert_int_eq(aio_return(&cb[i]), 4096);
		ck_assert(t_check_bytes((char *)buf + i * 4096, (off_t)i * 8192, 4096));
	}
	ck_assert_uint_eq(stat(kernel_stat(0)), N);
	if (kernel_expected())
		ck_assert_uint_eq(stat(KAIO_STAT_POOL), 0);
	free(buf);
	close(fd);
}
END_TEST

/*
 * An fd number reused for an O_DIRECT file: after at most 32 reads served
 * in the caller (the library re-checks cached open flags that often),
 * reads go where O_DIRECT reads go, and every byte is right throughout.
 */
START_TEST(route_direct_after_reuse)
{
	enum { N = 48, STALE_MAX = 32 };
	void *buf;
	int fd = t_tmpfile(1 << 16, 0), dfd = t_tmpfile(1 << 20, O_DIRECT);
	unsigned long inl;

	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(posix_memalign(&buf, 4096, 4096), 0);
	t_read_n(fd, buf, 4, 4096);
	/* Written back: an O_DIRECT read need not wait for the page cache. */
	ck_assert_int_eq(fsync(dfd), 0);
	inl = stat(KAIO_STAT_INLINE);
	ck_assert_int_eq(dup2(dfd, fd), fd);
	t_read_n(fd, buf, N, 8192);
	ck_assert_uint_le(stat(KAIO_STAT_INLINE) - inl, STALE_MAX);
	ck_assert_uint_ge(stat(kernel_stat(0)), N - STALE_MAX);
	free(buf);
	close(dfd);
	close(fd);
}
END_TEST

/*
 * The reverse: an fd number that was an O_DIRECT file, reused for a
 * buffered one whose pages are not cached.  The library keeps the old
 * flags for a while (request.c); native AIO on a stock kernel must not take
 * the read as O_DIRECT on them, for io_submit() would then read the file in
 * the caller, which aio_read() must never wait for.  The read goes to the
 * pool on a stock kernel (native AIO declines it), to io_uring where that
 * takes it, or to native AIO on the threaded series.  With the flags taken
 * as they were kept, native AIO served it under KAIO_BACKEND=kernel and
 * under auto without io_uring.
 */
START_TEST(route_buffered_after_direct_reuse)
{
	struct aiocb cb;
	void *buf;
	int fd = t_tmpfile(1 << 16, O_DIRECT), bfd = t_tmpfile(1 << 20, 0);
	int want = kernel_stat(0);
	unsigned long before, inl, served;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign(&buf, 4096, 4096), 0);
	t_read_n(fd, buf, 4, 4096);
	/* Written back, then dropped from the page cache. */
	ck_assert_int_eq(fdatasync(bfd), 0);
	ck_assert_int_eq(posix_fadvise(bfd, 0, 0, POSIX_FADV_DONTNEED), 0);
	ck_assert_int_eq(dup2(bfd, fd), fd);
	if (want == KAIO_STAT_KERNEL && !t_threaded_kernel())
		want = KAIO_STAT_POOL;
	before = stat(want);
	inl = stat(KAIO_STAT_INLINE);
	t_prep(&cb, fd, buf, 4096, 1 << 19);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 4096);
	ck_assert(t_check_bytes(buf, 1 << 19, 4096));
	/* RWF_NOWAIT in the caller starts readahead of a page it misses; a
	 * fast device may have it read by the time the kernel looks again,
	 * and the caller then serves the read: right too, where the caller
	 * reads at all. */
	served = stat(want) - before;
	if (inline_on())
		served += stat(KAIO_STAT_INLINE) - inl;
	ck_assert_msg(served == 1, "the read was not served by %s%s",
		      kaio_stat_name(want), inline_on() ? " or the caller" : "");
	free(buf);
	close(bfd);
	close(fd);
}
END_TEST

/*
 * A "regular file" of the kernel's own file systems (/proc, /sys): such a
 * read may wait without bound (/proc/kmsg), so io_uring, which ties it to
 * the submitting thread's exit, must not take it; the pool reads it, as
 * glibc's worker would.  It used to go to io_uring under auto and uring.
 * Here /proc/version, which does not wait: its bytes are checked.
 */
START_TEST(route_procfs_read)
{
	char buf[64], want[64];
	struct aiocb cb;
	unsigned long ur = stat(KAIO_STAT_URING);
	int fd = open("/proc/version", O_RDONLY), i;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, want, sizeof(want), 0), (ssize_t)sizeof(want));
	for (i = 0; i < 4; i++) {
		t_prep(&cb, fd, buf, sizeof(buf), 0);
		ck_assert_int_eq(aio_read(&cb), 0);
		ck_assert_int_eq(t_wait(&cb, 5000), 0);
		ck_assert_int_eq(aio_return(&cb), (ssize_t)sizeof(buf));
		ck_assert(memcmp(buf, want, sizeof(buf)) == 0);
	}
	ck_assert_msg(stat(KAIO_STAT_URING) == ur,
		      "io_uring served a read of a /proc file");
	close(fd);
}
END_TEST

/* A cached buffered read never touches the pool. */
START_TEST(route_cached_read)
{
	char buf[4096];
	int fd = t_tmpfile(1 << 16, 0);

	t_read_n(fd, buf, 16, 4096);
	if (inline_on()) {
		ck_assert_uint_eq(stat(KAIO_STAT_INLINE), 16);
		ck_assert_uint_eq(stat(KAIO_STAT_POOL), 0);
	} else {
		ck_assert_uint_eq(stat(kernel_stat(1)), 16);
	}
	close(fd);
}
END_TEST

/*
 * A buffered write the page cache takes completes in the caller, RWF_NOWAIT
 * or not (ext4 and tmpfs refuse it for buffered writes): the first one on
 * a fresh fd always, the others unless one blocked (the library then sends
 * the fd's writes to a backend for a while).  Nothing reaches the pool
 * where a kernel backend takes writes.
 */
START_TEST(route_buffered_write)
{
	enum { N = 16 };
	char buf[4096], back[4096];
	struct aiocb cb;
	int fd = t_tmpfile(0, 0), i, j;

	for (i = 0; i < N; i++) {
		for (j = 0; j < 4096; j++)
			buf[j] = t_byte((off_t)i * 8192 + j);
		t_prep(&cb, fd, buf, sizeof(buf), (off_t)i * 8192);
		ck_assert_int_eq(aio_write(&cb), 0);
		if (inline_on() && i == 0)	/* done before aio_write returned */
			ck_assert_int_eq(aio_error(&cb), 0);
		ck_assert_int_eq(t_wait(&cb, 5000), 0);
		ck_assert_int_eq(aio_return(&cb), 4096);
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(pread(fd, back, 4096, (off_t)i * 8192), 4096);
		ck_assert(t_check_bytes(back, (off_t)i * 8192, 4096));
	}
	if (inline_on()) {
		ck_assert_uint_ge(stat(KAIO_STAT_INLINE), 1);
		ck_assert_uint_eq(stat(KAIO_STAT_INLINE) +
				  stat(KAIO_STAT_NOWAIT_FALLBACK), N);
	} else {
		ck_assert_uint_eq(stat(KAIO_STAT_INLINE), 0);
	}
	if ((is("auto") || is("uring")) && t_uring_ok())
		ck_assert_uint_eq(stat(KAIO_STAT_POOL), 0);
	close(fd);
}
END_TEST

/* An uncached buffered read falls back to the pool and is still right. */
START_TEST(route_uncached_read)
{
	char buf[4096];
	struct aiocb cb;
	int fd = t_tmpfile(1 << 22, 0);

	ck_assert_int_eq(fdatasync(fd), 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	t_prep(&cb, fd, buf, sizeof(buf), 3 << 20);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 4096);
	ck_assert(t_check_bytes(buf, 3 << 20, 4096));
	/* The page may still be cached (a filesystem that ignores the
	 * advice); a miss that RWF_NOWAIT saw must end on a backend that
	 * can wait: io_uring where it can, else the pool. */
	if (stat(KAIO_STAT_NOWAIT_FALLBACK)) {
		ck_assert_uint_eq(stat(KAIO_STAT_INLINE), 0);
		/* native AIO's RWF_NOWAIT miss moves on to the pool */
		ck_assert_uint_ge(stat(is("kernel") ? KAIO_STAT_POOL
						    : kernel_stat(1)), 1);
	}
	close(fd);
}
END_TEST

/* The fsync barrier with O_DIRECT writes in the kernel. */
START_TEST(route_direct_write_fsync)
{
	enum { N = 64, ROUNDS = 4 };
	struct aiocb cb[N], fs;
	void *buf;
	int fd = t_tmpfile(0, O_DIRECT), i, r;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign(&buf, 4096, 4096), 0);
	memset(buf, 'k', 4096);
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < N; i++) {
			t_prep(&cb[i], fd, buf, 4096, (off_t)(r * N + i) * 4096);
			ck_assert_int_eq(aio_write(&cb[i]), 0);
		}
		t_prep(&fs, fd, NULL, 0, 0);
		ck_assert_int_eq(aio_fsync(O_SYNC, &fs), 0);
		ck_assert_int_eq(t_wait(&fs, 20000), 0);
		for (i = 0; i < N; i++)
			ck_assert_int_ne(aio_error(&cb[i]), EINPROGRESS);
		for (i = 0; i < N; i++)
			ck_assert_int_eq(aio_return(&cb[i]), 4096);
		ck_assert_int_eq(aio_return(&fs), 0);
	}
	ck_assert_uint_eq(stat(kernel_stat(0)), ROUNDS * (N + 1));
	free(buf);
	close(fd);
}
END_TEST

/* lio_listio sends its O_DIRECT reads to the kernel. */
START_TEST(route_listio_direct)
{
	enum { N = 40 };
	struct aiocb cb[N], *l[N];
	void *buf;
	int fd = t_tmpfile(1 << 20, O_DIRECT), i;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign(&buf, 4096, N * 4096), 0);
	for (i = 0; i < N; i++) {
		t_prep(&cb[i], fd, (char *)buf + i * 4096, 4096, (off_t)i * 4096);
		cb[i].aio_lio_opcode = LIO_READ;
		l[i] = &cb[i];
	}
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, N, NULL), 0);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(aio_return(&cb[i]), 4096);
		ck_assert(t_check_bytes((char *)buf + i * 4096, (off_t)i * 4096, 4096));
	}
	ck_assert_uint_eq(stat(kernel_stat(0)), N);
	free(buf);
	close(fd);
}
END_TEST

Suite *routing_suite(void)
{
	Suite *s = suite_create("routing");
	TCase *tc = t_tcase("backends");

	if (t_direct_ok()) {
		tcase_add_test(tc, route_direct_read);
		tcase_add_test(tc, route_direct_write_fsync);
		tcase_add_test(tc, route_listio_direct);
		tcase_add_test(tc, route_direct_after_reuse);
		tcase_add_test(tc, route_buffered_after_direct_reuse);
	} else {
		printf("SKIP: routing: O_DIRECT not supported here\n");
	}
	tcase_add_test(tc, route_cached_read);
	tcase_add_test(tc, route_uncached_read);
	tcase_add_test(tc, route_buffered_write);
	tcase_add_test(tc, route_procfs_read);
	suite_add_tcase(s, tc);
	return s;
}
