/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test-common.h"

START_TEST(read_full)
{
	char buf[4096];
	struct aiocb cb;
	int fd = t_tmpfile(65536, 0);

	t_prep(&cb, fd, buf, sizeof(buf), 8192);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 4096);
	ck_assert(t_check_bytes(buf, 8192, sizeof(buf)));
	close(fd);
}
END_TEST

START_TEST(read_eof)
{
	char buf[4096];
	struct aiocb cb;
	int fd = t_tmpfile(1000, 0);

	t_prep(&cb, fd, buf, sizeof(buf), 600);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 400);
	ck_assert(t_check_bytes(buf, 600, 400));

	t_prep(&cb, fd, buf, sizeof(buf), 5000);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 0);
	close(fd);
}
END_TEST

START_TEST(read_errors)
{
	char buf[16];
	struct aiocb cb;
	int fd = t_tmpfile(100, 0), wfd;
	char path[64];

	/* Bad fd: accepted, and it fails with EBADF, as in glibc. */
	t_prep(&cb, 1000000, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EBADF);
	/* Not open for reading: the same. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wfd = open(path, O_WRONLY);
	ck_assert_int_ge(wfd, 0);
	t_prep(&cb, wfd, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EBADF);
	/* Bad priority. */
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_reqprio = -1;
	ck_assert_int_eq(aio_read(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	cb.aio_reqprio = AIO_PRIO_DELTA_MAX + 1;
	ck_assert_int_eq(aio_read(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* Bad sigevent. */
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_sigevent.sigev_notify = 12345;
	ck_assert_int_eq(aio_read(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb.aio_sigevent.sigev_signo = 1000;
	ck_assert_int_eq(aio_read(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
	cb.aio_sigevent.sigev_notify_function = NULL;
	ck_assert_int_eq(aio_read(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* A negative offset fails the request with EINVAL. */
	t_prep(&cb, fd, buf, sizeof(buf), -4096);
	ck_assert_int_eq(aio_read(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EINVAL);
	/* A directory. */
	close(wfd);
	wfd = open(".", O_RDONLY | O_DIRECTORY);
	t_prep(&cb, wfd, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), EISDIR);
	aio_return(&cb);
	close(wfd);
	close(fd);
}
END_TEST

START_TEST(read_in_progress_twice)
{
	char buf[16];
	struct aiocb cb;
	int p[2];

	t_pipe(p);
	t_prep(&cb, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(aio_error(&cb), EINPROGRESS);
	/* The same aiocb, still in progress, is refused. */
	ck_assert_int_eq(aio_read(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(write(p[1], "hello", 5), 5);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* Reads on a pipe complete in submission order, each getting its own data. */
START_TEST(read_pipe_order)
{
	enum { N = 32 };
	struct aiocb cb[N];
	char buf[N][8];
	int p[2], i;

	t_pipe(p);
	for (i = 0; i < N; i++) {
		t_prep(&cb[i], p[0], buf[i], 8, 0);
		ck_assert_int_eq(aio_read(&cb[i]), 0);
	}
	for (i = 0; i < N; i++) {
		char rec[8];

		snprintf(rec, sizeof(rec), "rec%04d", i);
		ck_assert_int_eq(write(p[1], rec, 8), 8);
	}
	for (i = 0; i < N; i++) {
		char rec[8];

		ck_assert_int_eq(t_wait(&cb[i], 5000), 0);
		ck_assert_int_eq(aio_return(&cb[i]), 8);
		snprintf(rec, sizeof(rec), "rec%04d", i);
		ck_assert_str_eq(buf[i], rec);
	}
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(read_direct)
{
	struct aiocb cb[8];
	void *buf[8];
	int fd = t_tmpfile(1 << 20, O_DIRECT), i;

	ck_assert_int_ge(fd, 0);
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(posix_memalign(&buf[i], 4096, 4096), 0);
		t_prep(&cb[i], fd, buf[i], 4096, (off_t)i * 65536);
		ck_assert_int_eq(aio_read(&cb[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(t_wait(&cb[i], 5000), 0);
		ck_assert_int_eq(aio_return(&cb[i]), 4096);
		ck_assert(t_check_bytes(buf[i], (off_t)i * 65536, 4096));
		free(buf[i]);
	}
	close(fd);
}
END_TEST

/*
 * An O_DIRECT read whose length runs past the end of user space: glibc's
 * pread() fails it with EFAULT before it reads a byte.  Native AIO cuts
 * the length to about 2 GiB and then checks, so the read of an 8 KiB
 * file wrote past the end of the caller's buffer (an outside tester: the
 * heap corrupted, 10 of 10 runs under auto and kernel).
 */
START_TEST(read_direct_huge_length)
{
	enum { PG = 4096, NPG = 6 };
	unsigned char *map;
	struct aiocb cb;
	int fd = t_tmpfile(2 * PG, O_DIRECT), i, changed = 0;

	ck_assert_int_ge(fd, 0);
	map = mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(map != MAP_FAILED);
	memset(map, 'G', NPG * PG);
	t_prep(&cb, fd, map, (size_t)0x7ffffffffffff000ULL, 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EFAULT);
	for (i = 0; i < NPG * PG; i++)
		changed += map[i] != 'G';
	ck_assert_msg(!changed, "%d bytes of the buffer written", changed);
	munmap(map, NPG * PG);
	close(fd);
}
END_TEST

/* Many reads on one fd at once: all complete with their own data. */
START_TEST(read_many_one_fd)
{
	enum { N = 256, SZ = 512 };
	struct aiocb *cb = calloc(N, sizeof(*cb));
	char *buf = malloc(N * SZ);
	int fd = t_tmpfile(N * SZ * 4, 0), i;

	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	for (i = 0; i < N; i++) {
		t_prep(&cb[i], fd, buf + i * SZ, SZ, (off_t)(N - i) * SZ * 2);
		cb[i].aio_reqprio = i % (AIO_PRIO_DELTA_MAX + 1);
		ck_assert_int_eq(aio_read(&cb[i]), 0);
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(t_wait(&cb[i], 10000), 0);
		ck_assert_int_eq(aio_return(&cb[i]), SZ);
		ck_assert(t_check_bytes(buf + i * SZ, (off_t)(N - i) * SZ * 2, SZ));
	}
	free(cb);
	free(buf);
	close(fd);
}
END_TEST

/*
 * An fd number that was read from, then closed or reused for another
 * open file: every aio_read() acts on the fd as it is now.
 */
START_TEST(read_fd_reused)
{
	char buf[4096], path[64];
	struct aiocb cb;
	int fd = t_tmpfile(1 << 16, 0), other = t_tmpfile(1 << 17, 0), wfd;

	t_read_n(fd, buf, 8, 4096);
	/* Closed: the request fails with EBADF. */
	ck_assert_int_eq(close(fd), 0);
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EBADF);
	/* The number now names a write-only fd: EBADF again. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", other);
	wfd = open(path, O_WRONLY);
	ck_assert_int_ge(wfd, 0);
	ck_assert_int_eq(dup2(wfd, fd), fd);
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EBADF);
	/* A readable file again, a larger one: its bytes, past the old EOF. */
	ck_assert_int_eq(dup2(other, fd), fd);
	t_prep(&cb, fd, buf, sizeof(buf), 1 << 16);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 4096);
	ck_assert(t_check_bytes(buf, 1 << 16, 4096));
	close(wfd);
	close(other);
	close(fd);
}
END_TEST

/*
 * An fd number read from as a file (flags: 0 or O_DIRECT), then reused for
 * a stream: a read at an offset acts on the stream as glibc's does (read(2)
 * where pread(2) says ESPIPE), and reads of a pipe complete in submission
 * order.  The library keeps a file's open flags and routes a read on them
 * after one fstat() (request.c): here that fstat() must send it back to
 * fresh flags.  Routed on the file's flags, the socket's read failed with
 * ESPIPE (io_uring and the pool), and native AIO read the pipe in
 * io_submit().
 */
static void reused_for_stream(int flags)
{
	char sbuf[16];
	void *buf;
	struct aiocb cb, pc[2];
	int fd = t_tmpfile(1 << 16, flags), sv[2], p[2], i;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign(&buf, 4096, 4096), 0);
	t_read_n(fd, buf, 8, 4096);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], "socket", 6), 6);
	ck_assert_int_eq(dup2(sv[0], fd), fd);
	t_prep(&cb, fd, sbuf, sizeof(sbuf), 4096);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 6);
	ck_assert(memcmp(sbuf, "socket", 6) == 0);

	/* Back to a file, then a pipe: two reads, in order. */
	close(fd);
	fd = t_tmpfile(1 << 16, flags);
	t_read_n(fd, buf, 4, 4096);
	t_pipe(p);
	ck_assert_int_eq(dup2(p[0], fd), fd);
	t_prep(&pc[0], fd, sbuf, 3, 4096);
	t_prep(&pc[1], fd, sbuf + 3, 3, 8192);
	ck_assert_int_eq(aio_read(&pc[0]), 0);
	ck_assert_int_eq(aio_read(&pc[1]), 0);
	ck_assert_int_eq(write(p[1], "abcdef", 6), 6);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(t_wait(&pc[i], 5000), 0);
		ck_assert_int_eq(aio_return(&pc[i]), 3);
	}
	ck_assert(memcmp(sbuf, "abcdef", 6) == 0);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(fd);
	free(buf);
}

START_TEST(read_fd_reused_stream)
{
	reused_for_stream(0);
}
END_TEST

START_TEST(read_direct_fd_reused_stream)
{
	reused_for_stream(O_DIRECT);
}
END_TEST

/*
 * What a read of an fd number must do whatever the library kept of the
 * file the number named before (request.c keeps its open flags for up to
 * 32 requests of a thread).  An attempt to send O_DIRECT reads on kept
 * flags to io_uring with RWF_NOWAIT instead of an fstat() failed
 * read_direct_reused_pipe_order and read_direct_reused_proc_dir below (an
 * outside tester's cases), and at first read_direct_fd_reused_stream.
 *
 * A thread reads an O_DIRECT file, the fd number becomes an empty pipe,
 * and the thread's read of it waits for data while the thread exits.  The
 * exit must not wait for it (io_uring ties a request to the thread that
 * entered it), and the read must get the data written after.
 */
/* Reads fd n times, so that this thread keeps its flags, then makes its
 * number name other's file. */
static void kept_then_dup(int fd, void *buf, int n, int other)
{
	t_read_n(fd, buf, n, 4096);
	ck_assert_int_eq(dup2(other, fd), fd);
}

/* The same for a new O_DIRECT file, whose fd it returns. */
static int direct_reused(void *buf, int n, int other)
{
	int fd = t_tmpfile(1 << 16, O_DIRECT);

	ck_assert_int_ge(fd, 0);
	kept_then_dup(fd, buf, n, other);
	return fd;
}

struct reuse_arg {
	int fd, pipe_rd;
	void *buf;
	char sbuf[8];
	struct aiocb cb;
};

static void *reuse_reader(void *p)
{
	struct reuse_arg *a = p;

	kept_then_dup(a->fd, a->buf, 4, a->pipe_rd);
	t_prep(&a->cb, a->fd, a->sbuf, 3, 4096);
	ck_assert_int_eq(aio_read(&a->cb), 0);
	return NULL;
}

START_TEST(read_direct_reused_pipe_thread_exits)
{
	struct reuse_arg a;
	struct timespec dl;
	pthread_t t;
	int p[2];

	memset(&a, 0, sizeof(a));
	a.fd = t_tmpfile(1 << 16, O_DIRECT);
	ck_assert_int_ge(a.fd, 0);
	ck_assert_int_eq(posix_memalign(&a.buf, 4096, 4096), 0);
	t_pipe(p);
	a.pipe_rd = p[0];
	ck_assert_int_eq(pthread_create(&t, NULL, reuse_reader, &a), 0);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	ck_assert_msg(pthread_timedjoin_np(t, NULL, &dl) == 0,
		      "the thread's exit waited for its pipe read");
	ck_assert_int_eq(aio_error(&a.cb), EINPROGRESS);
	ck_assert_int_eq(write(p[1], "xyz", 3), 3);
	ck_assert_int_eq(t_wait(&a.cb, 5000), 0);
	ck_assert_int_eq(aio_return(&a.cb), 3);
	ck_assert(memcmp(a.sbuf, "xyz", 3) == 0);
	close(p[0]);
	close(p[1]);
	close(a.fd);
	free(a.buf);
}
END_TEST

/*
 * The same for an eventfd, which needs no identity to read: the read waits
 * for the count, as glibc's read(2) does, and gets it.
 */
START_TEST(read_direct_reused_eventfd)
{
	uint64_t v = 0, one = 7;
	struct aiocb cb;
	void *buf;
	int fd, efd = eventfd(0, 0);

	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(posix_memalign(&buf, 4096, 4096), 0);
	fd = direct_reused(buf, 4, efd);
	t_prep(&cb, fd, &v, sizeof(v), 4096);
	ck_assert_int_eq(aio_read(&cb), 0);
	usleep(100 * 1000);
	ck_assert_int_eq(aio_error(&cb), EINPROGRESS);
	ck_assert_int_eq(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), (ssize_t)sizeof(v));
	ck_assert_uint_eq(v, 7);
	close(efd);
	close(fd);
	free(buf);
}
END_TEST

/*
 * Reads of a reused number that is now a pipe complete in submission
 * order, data written between them or not: A, then "a", then B, then "b"
 * gives A "a" and B "b", as glibc's one-at-a-time reads do.
 */
START_TEST(read_direct_reused_pipe_order)
{
	char a, b;
	void *buf;
	struct aiocb ca, cb;
	int i, p[2], fd;

	ck_assert_int_eq(posix_memalign(&buf, 4096, 4096), 0);
	for (i = 0; i < 20; i++) {
		t_pipe(p);
		fd = direct_reused(buf, 3, p[0]);
		a = b = 0;
		t_prep(&ca, fd, &a, 1, 0);
		t_prep(&cb, fd, &b, 1, 0);
		ck_assert_int_eq(aio_read(&ca), 0);
		ck_assert_int_eq(write(p[1], "a", 1), 1);
		ck_assert_int_eq(aio_read(&cb), 0);
		ck_assert_int_eq(write(p[1], "b", 1), 1);
		ck_assert_int_eq(t_wait(&ca, 5000), 0);
		ck_assert_int_eq(t_wait(&cb, 5000), 0);
		ck_assert_int_eq(aio_return(&ca), 1);
		ck_assert_int_eq(aio_return(&cb), 1);
		ck_assert_msg(a == 'a' && b == 'b', "run %d: A read '%c', B '%c'",
			      i, a, b);
		close(p[0]);
		close(p[1]);
		close(fd);
	}
	free(buf);
}
END_TEST

/*
 * A reused number that is now a /proc file reads it, and one that is now a
 * directory fails with EISDIR, as glibc's pread() does.
 */
START_TEST(read_direct_reused_proc_dir)
{
	char got[64], want[64];
	void *buf;
	struct aiocb cb;
	int fd, other;

	ck_assert_int_eq(posix_memalign(&buf, 4096, 4096), 0);
	other = open("/proc/version", O_RDONLY);
	ck_assert_int_ge(other, 0);
	ck_assert_int_eq(pread(other, want, sizeof(want), 0),
			 (ssize_t)sizeof(want));
	fd = direct_reused(buf, 3, other);
	close(other);
	t_prep(&cb, fd, got, sizeof(got), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), (ssize_t)sizeof(got));
	ck_assert(memcmp(got, want, sizeof(got)) == 0);

	close(fd);
	other = open("/", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(other, 0);
	fd = direct_reused(buf, 3, other);
	close(other);
	t_prep(&cb, fd, buf, 4096, 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EISDIR);
	close(fd);
	free(buf);
}
END_TEST

Suite *read_suite(void)
{
	Suite *s = suite_create("aio_read");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, read_full);
	tcase_add_test(tc, read_eof);
	tcase_add_test(tc, read_pipe_order);
	if (t_direct_ok())
		tcase_add_test(tc, read_direct);
	else
		printf("SKIP: read_direct: O_DIRECT not supported here\n");
	tcase_add_test(tc, read_many_one_fd);
	suite_add_tcase(s, tc);
	tc = t_tcase("errors");
	tcase_add_test(tc, read_errors);
	tcase_add_test(tc, read_in_progress_twice);
	tcase_add_test(tc, read_fd_reused);
	tcase_add_test(tc, read_fd_reused_stream);
	if (t_direct_ok()) {
		tcase_add_test(tc, read_direct_fd_reused_stream);
		tcase_add_test(tc, read_direct_reused_pipe_thread_exits);
		tcase_add_test(tc, read_direct_reused_eventfd);
		tcase_add_test(tc, read_direct_reused_pipe_order);
		tcase_add_test(tc, read_direct_reused_proc_dir);
	} else
		printf("SKIP: read_direct_fd_reused_stream: O_DIRECT not "
		       "supported here\n");
	if (t_direct_ok())
		tcase_add_test(tc, read_direct_huge_length);
	else
		printf("SKIP: read_direct_huge_length: O_DIRECT not "
		       "supported here\n");
	suite_add_tcase(s, tc);
	return s;
}
