/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <fcntl.h>
#include <mntent.h>
#include <mqueue.h>
#include <pty.h>
#include <utmp.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <linux/perf_event.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
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

	/* Bad fd: accepted, and it fails with EBADF, as in glibc; also once
	 * this thread keeps flags (a read of fd first), at the ends of the
	 * int range (INT_MAX + 1 overflowed in the table's lookup). */
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), sizeof(buf));
	t_prep(&cb, 1000000, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EBADF);
	t_prep(&cb, INT_MAX, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EBADF);
	t_prep(&cb, INT_MIN, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EBADF);
	t_prep(&cb, -1, buf, sizeof(buf), 0);
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
 * after one statx() (request.c): here its check that the number still
 * names that file (fdgen.c's generation) must send it back to fresh flags.  Routed on the file's flags, the socket's read failed with
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

/*
 * Each call of glibc's that takes a number from its file (src/fdgen.c):
 * a thread reads an O_DIRECT file (so that it knows the number for a
 * file), the call takes the number from it, and a stream is put on the
 * number by a path the library does not watch (the raw dup3 system call)
 * or by the call itself.  The thread's read of the number must then be a
 * stream's: its exit does not wait for it, and it gets the data written
 * after.  A library that took the number for a file still would enter the
 * read into io_uring from the thread, whose exit then waits for the data.
 */
extern int __close(int fd);
extern int __dup2(int oldfd, int newfd);
extern int _IO_fclose(FILE *fp);
extern int _IO_file_close(FILE *fp);
extern int _IO_file_close_it(FILE *fp);
extern void _IO_file_finish(FILE *fp, int dummy);

enum take_way {
	BY_CLOSE, BY___CLOSE, BY_DUP2, BY___DUP2, BY_DUP3, BY_CLOSE_RANGE,
	BY_CLOSEFROM, BY_FCLOSE, BY__IO_FCLOSE, BY_FCLOSEALL, BY_FREOPEN,
	BY_FREOPEN64, BY_PCLOSE, BY_ENDMNTENT, BY__IO_FILE_CLOSE,
	BY__IO_FILE_CLOSE_IT, BY__IO_FILE_FINISH, BY_LOGIN_TTY, BY_MQ_CLOSE,
	BY_N
};

static const char *const way_name[BY_N] = {
	"close", "__close", "dup2", "__dup2", "dup3", "close_range",
	"closefrom", "fclose", "_IO_fclose", "fcloseall", "freopen",
	"freopen64", "pclose", "endmntent", "_IO_file_close",
	"_IO_file_close_it", "_IO_file_finish", "login_tty", "mq_close",
};

/* Run in a child of their own: they close or replace stdio. */
static int way_in_child(int way)
{
	return way == BY_FCLOSEALL || way == BY_LOGIN_TTY;
}

struct take_arg {
	enum take_way way;
	int fd, rd;		/* the file's number; a stream to put there */
	const char *fifo;	/* for freopen: a FIFO's path */
	FILE *fp;		/* a stream the way leaves open */
	void *buf;
	char sbuf[8];
	struct aiocb cb;
	int err;		/* a step that failed, or 0 */
};

static int raw_dup3(int oldfd, int newfd)
{
	return (int)syscall(SYS_dup3, oldfd, newfd, 0);
}

/* Takes a->fd from its file the way a->way says; the stream is then on
 * the number.  No ck_assert: fcloseall() runs in a child without stdio. */
static int take(struct take_arg *a)
{
	FILE *fp = NULL;

	if (a->way != BY_CLOSE && a->way != BY___CLOSE &&
	    a->way != BY_DUP2 && a->way != BY___DUP2 && a->way != BY_DUP3 &&
	    a->way != BY_CLOSE_RANGE && a->way != BY_CLOSEFROM &&
	    a->way != BY_LOGIN_TTY && a->way != BY_MQ_CLOSE) {
		fp = fdopen(a->fd, "r");
		if (!fp)
			return 1;
	}
	switch (a->way) {
	case BY_CLOSE:
		return close(a->fd) || raw_dup3(a->rd, a->fd) != a->fd;
	case BY___CLOSE:
		return __close(a->fd) || raw_dup3(a->rd, a->fd) != a->fd;
	case BY_DUP2:
		return dup2(a->rd, a->fd) != a->fd;
	case BY___DUP2:
		return __dup2(a->rd, a->fd) != a->fd;
	case BY_DUP3:
		return dup3(a->rd, a->fd, 0) != a->fd;
	case BY_CLOSE_RANGE:
		return close_range(a->fd, a->fd, 0) ||
		       raw_dup3(a->rd, a->fd) != a->fd;
	case BY_CLOSEFROM:	/* a->fd is the highest number in use */
		closefrom(a->fd);
		return raw_dup3(a->rd, a->fd) != a->fd;
	case BY_FCLOSE:
		return fclose(fp) || raw_dup3(a->rd, a->fd) != a->fd;
	case BY__IO_FCLOSE:
		return _IO_fclose(fp) || raw_dup3(a->rd, a->fd) != a->fd;
	case BY_PCLOSE:		/* glibc's closes any stream */
		pclose(fp);
		return raw_dup3(a->rd, a->fd) != a->fd;
	case BY_ENDMNTENT:
		return endmntent(fp) != 1 || raw_dup3(a->rd, a->fd) != a->fd;
	case BY__IO_FILE_CLOSE:	/* the fd only: the stream stays */
		a->fp = fp;
		return _IO_file_close(fp) || raw_dup3(a->rd, a->fd) != a->fd;
	case BY__IO_FILE_CLOSE_IT:
		a->fp = fp;
		return _IO_file_close_it(fp) ||
		       raw_dup3(a->rd, a->fd) != a->fd;
	case BY__IO_FILE_FINISH:	/* closes; fclose() then frees */
		a->fp = fp;
		_IO_file_finish(fp, 0);
		return raw_dup3(a->rd, a->fd) != a->fd;
	case BY_LOGIN_TTY:	/* a->fd is 0, a->rd a terminal */
		return login_tty(a->rd) != 0;
	case BY_MQ_CLOSE:	/* glibc's is close() */
		return mq_close(a->fd) || raw_dup3(a->rd, a->fd) != a->fd;
	case BY_FCLOSEALL:
		return fcloseall() || raw_dup3(a->rd, a->fd) != a->fd;
	case BY_FREOPEN:
		return !(fp = freopen(a->fifo, "r+", fp)) || fileno(fp) != a->fd;
	case BY_FREOPEN64:
		return !(fp = freopen64(a->fifo, "r+", fp)) ||
		       fileno(fp) != a->fd;
	default:
		return 1;
	}
}

static void *take_reader(void *p)
{
	struct take_arg *a = p;
	int i;

	for (i = 0; i < 4; i++) {	/* t_read_n(), without ck_assert */
		t_prep(&a->cb, a->fd, a->buf, 4096, (off_t)i * 4096);
		if (aio_read(&a->cb) || t_wait(&a->cb, 5000) ||
		    aio_return(&a->cb) != 4096) {
			a->err = 1;
			return NULL;
		}
	}
	if (take(a)) {
		a->err = 2;
		return NULL;
	}
	t_prep(&a->cb, a->fd, a->sbuf, 3, 4096);
	if (aio_read(&a->cb))
		a->err = 3;
	return NULL;
}

#define TAKE_NO_PTY	100	/* no terminal to be had here */

/* One way, start to end: 0, or the step that failed. */
static int take_case(enum take_way way, const char *dir)
{
	struct take_arg a;
	struct timespec dl;
	char fifo[256];
	pthread_t t;
	int p[2], w, fd, ret = 0;

	memset(&a, 0, sizeof(a));
	a.way = way;
	if (posix_memalign(&a.buf, 4096, 4096) || pipe(p))
		return 10;
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	a.fifo = fifo;
	a.rd = p[0];
	w = p[1];
	fd = t_tmpfile(1 << 16, O_DIRECT);
	if (fd < 0)
		return 11;
	if (way == BY_LOGIN_TTY) {	/* the file on 0, a terminal to put there */
		signal(SIGHUP, SIG_IGN);	/* closing the master hangs up */
		close(p[0]);
		close(p[1]);
		if (openpty(&w, &a.rd, NULL, NULL, NULL))
			return TAKE_NO_PTY;
		a.fd = dup2(fd, 0);
	} else {	/* above every number the library or the test opens */
		a.fd = fcntl(fd, F_DUPFD, 900);
	}
	close(fd);
	if (a.fd < 0)
		return 12;
	if (pthread_create(&t, NULL, take_reader, &a))
		return 13;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 2;
	if (pthread_timedjoin_np(t, NULL, &dl))
		return 14;	/* the thread's exit waited for its read */
	if (a.err)
		return 20 + a.err;
	if (aio_error(&a.cb) != EINPROGRESS)
		return 15;
	if (way == BY_FREOPEN || way == BY_FREOPEN64) {
		close(w);
		w = open(fifo, O_WRONLY | O_NONBLOCK);
		if (w < 0)
			return 16;
	}
	if (write(w, way == BY_LOGIN_TTY ? "xyz\n" : "xyz",
		  way == BY_LOGIN_TTY ? 4 : 3) != (way == BY_LOGIN_TTY ? 4 : 3))
		ret = 17;
	else if (t_wait(&a.cb, 5000) != 0 || aio_return(&a.cb) != 3)
		ret = 18;
	else if (memcmp(a.sbuf, "xyz", 3) != 0)
		ret = 19;
	close(w);
	close(a.rd);
	if (a.fp)
		fclose(a.fp);	/* _IO_file_close(): closes the number again */
	close(a.fd);
	free(a.buf);
	return ret;
}

START_TEST(read_direct_taken_every_way)
{
	char dir[] = "/tmp/kaio-take-XXXXXX", fifo[256], failed[512] = "";
	int way, ret, status;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	for (way = 0; way < BY_N; way++) {
		if (way_in_child(way)) {
			pid = t_fork();
			ck_assert_int_ge(pid, 0);
			if (pid == 0)
				_exit(take_case(way, dir));
			ck_assert_int_eq(waitpid(pid, &status, 0), pid);
			ret = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
		} else {
			ret = take_case(way, dir);
		}
		if (ret == TAKE_NO_PTY) {
			printf("SKIP: read_direct_taken_every_way: %s: no "
			       "pseudo-terminal here (openpty failed)\n",
			       way_name[way]);
			continue;
		}
		if (ret)
			snprintf(failed + strlen(failed),
				 sizeof(failed) - strlen(failed), " %s (step %d)",
				 way_name[way], ret);
	}
	unlink(fifo);
	rmdir(dir);
	ck_assert_msg(!failed[0], "failed:%s", failed);
}
END_TEST

/*
 * The point of src/fdgen.c: reads of a file whose number this thread saw
 * is a file, and which nothing has closed since, make no fstat() or
 * statx() of it (request.c's fd_type()).  This program's fstat() and
 * statx() count the library's calls (the executable comes first in the
 * search order).  Where the process does not bind all of close(),
 * fclose()... to the library first (ASan's runtime wraps fclose() and
 * freopen()), the library asks the kernel on every read, as it must: SKIP.
 */
static atomic_int type_watch = -1, type_seen;
static int (*real_fstat)(int, struct stat *);
static int (*real_statx)(int, const char *, int, unsigned, struct statx *);

__attribute__((constructor)) static void find_type_calls(void)
{
	real_fstat = (int (*)(int, struct stat *))dlsym(RTLD_NEXT, "fstat");
	real_statx = (int (*)(int, const char *, int, unsigned,
			      struct statx *))dlsym(RTLD_NEXT, "statx");
}

__attribute__((visibility("default"))) int fstat(int fd, struct stat *st);
int fstat(int fd, struct stat *st)
{
	if (fd == atomic_load(&type_watch))
		atomic_fetch_add(&type_seen, 1);
	return real_fstat(fd, st);
}

__attribute__((visibility("default"))) int
statx(int dfd, const char *path, int flags, unsigned mask, struct statx *sx);
static __thread int statx_slow;	/* the next statx() of this thread sleeps */

int statx(int dfd, const char *path, int flags, unsigned mask,
	  struct statx *sx)
{
	if (dfd == atomic_load(&type_watch))
		atomic_fetch_add(&type_seen, 1);
	if (statx_slow) {
		statx_slow = 0;
		usleep(300 * 1000);
	}
	if (!real_statx) {
		errno = ENOSYS;
		return -1;
	}
	return real_statx(dfd, path, flags, mask, sx);
}

/* n reads of fd after two, counting fstat() and statx() of it. */
static int type_calls(const char *name, int oflags, int n)
{
	void *buf;
	int fd = t_tmpfile((size_t)(n + 2) * 4096, oflags), seen;

	if (!t_wrappers_first()) {
		printf("SKIP: %s: close(), fclose() or another is not the "
		       "library's first here (a sanitizer's runtime wraps "
		       "it)\n", name);
		close(fd);
		return 0;
	}
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign(&buf, 4096, 4096), 0);
	t_read_n(fd, buf, 2, 4096);	/* the flags, and the file seen */
	atomic_store(&type_seen, 0);
	atomic_store(&type_watch, fd);
	t_read_n(fd, buf, n, 4096);
	atomic_store(&type_watch, -1);
	seen = atomic_load(&type_seen);
	close(fd);
	free(buf);
	return seen;
}

START_TEST(read_direct_kept_no_fstat)
{
	int seen = type_calls("read_direct_kept_no_fstat", O_DIRECT, 8);

	ck_assert_msg(seen == 0, "%d fstat() or statx() calls for 8 reads",
		      seen);
}
END_TEST

/*
 * The open flags a thread keeps are fetched again every 32 of its uses
 * (request.c, KAIO_FLAGS_REUSE): with an fcntl() alone, while the number
 * still names the file this thread saw.  The statx() beside it was as
 * costly as the fcntl(), and a sixteenth of fio's system calls with 4
 * threads reading a cached file.
 */
START_TEST(read_recheck_no_fstat)
{
	int seen = type_calls("read_recheck_no_fstat", 0, 100);

	ck_assert_msg(seen == 0, "%d fstat() or statx() calls for 100 reads",
		      seen);
}
END_TEST

/*
 * Where fcntl() and close() are the library's first, a thread's kept flags
 * stay good while nothing changed them (request.c,
 * KAIO_FLAGS_REUSE_SEEN): no fcntl() at all in 100 reads.  The fcntl()
 * every 32 reads was 2% of a cached read's rate.
 */
START_TEST(read_flags_kept_no_fcntl)
{
	long long n = -1;
	void *buf;
	int fd, pfd;

	if (!t_wrappers_first()) {
		printf("SKIP: read_flags_kept_no_fcntl: fcntl() or close() is "
		       "not the library's first here\n");
		return;
	}
	pfd = t_syscall_counter("fcntl", 0);
	if (pfd < 0) {
		printf("SKIP: read_flags_kept_no_fcntl: no syscall tracepoint "
		       "to count fcntl() with (%s)\n", strerror(errno));
		return;
	}
	fd = t_tmpfile(100 * 4096, 0);
	ck_assert_int_eq(posix_memalign(&buf, 4096, 4096), 0);
	t_read_n(fd, buf, 2, 4096);	/* the flags fetched */
	ck_assert_int_eq(ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0), 0);
	t_read_n(fd, buf, 100, 4096);
	ck_assert_int_eq(ioctl(pfd, PERF_EVENT_IOC_DISABLE, 0), 0);
	ck_assert_int_eq(read(pfd, &n, sizeof(n)), (ssize_t)sizeof(n));
	ck_assert_msg(n == 0, "%lld fcntl() calls for 100 reads", n);
	close(pfd);
	close(fd);
	free(buf);
}
END_TEST

/* Cached reads of fd served in the caller by n reads. */
static unsigned long inline_of(int fd, void *buf, int n)
{
	unsigned long before = t_stat(KAIO_STAT_INLINE);

	t_read_n(fd, buf, n, 4096);
	return t_stat(KAIO_STAT_INLINE) - before;
}

/* The F_SETFL tests' file (8 pages) and page buffer, when the library's
 * fcntl() comes first, O_DIRECT works and cached reads are served in the
 * caller; else SKIP said, and 0. */
static int setfl_setup(const char *name, int *fd, void **buf)
{
	if (!t_wrappers_first() || !t_direct_ok()) {
		printf("SKIP: %s: fcntl() is not the library's first here, or "
		       "no O_DIRECT\n", name);
		return 0;
	}
	*fd = t_tmpfile(8 * 4096, 0);
	ck_assert_int_ge(*fd, 0);
	ck_assert_int_eq(posix_memalign(buf, 4096, 4096), 0);
	if (inline_of(*fd, *buf, 3) != 3) {
		printf("SKIP: %s: cached reads are not served in the caller "
		       "here\n", name);
		close(*fd);
		free(*buf);
		return 0;
	}
	return 1;
}

/*
 * fcntl(F_SETFL) is seen at once: an fd switched to O_DIRECT is no longer
 * read in the caller (where it would wait for the device), and one
 * switched back is again.  With flags kept for 32 uses, the next 29 reads
 * went on as before.  The flags are the open file description's: a
 * duplicate made O_DIRECT through the other number is seen too (it was
 * not: 4094 of 5000 reads of it were served in the caller).
 */
START_TEST(read_setfl_seen)
{
	unsigned long n;
	void *buf;
	int fd, fd2, fl;

	if (!setfl_setup("read_setfl_seen", &fd, &buf))
		return;
	fl = fcntl(fd, F_GETFL);
	ck_assert_int_ge(fl, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_DIRECT), 0);
	n = inline_of(fd, buf, 3);
	ck_assert_msg(n == 0, "%lu of 3 O_DIRECT reads served in the caller", n);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl), 0);
	n = inline_of(fd, buf, 3);
	ck_assert_msg(n == 3, "%lu of 3 cached reads served in the caller after "
		      "O_DIRECT was cleared", n);
	fd2 = dup(fd);
	ck_assert_int_ge(fd2, 0);
	ck_assert_int_eq(inline_of(fd2, buf, 3), 3);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_DIRECT), 0);
	n = inline_of(fd2, buf, 3);
	ck_assert_msg(n == 0, "%lu of 3 O_DIRECT reads of a duplicate served in "
		      "the caller", n);
	close(fd2);
	close(fd);
	free(buf);
}
END_TEST

/*
 * A thread's fetch of the flags that is overtaken: it read them before an
 * F_SETFL and stores them into the fd's shared entry after another thread
 * fetched the new ones there.  Those stale flags must not be taken for the
 * new ones (they were, for 4094 of 5000 reads served in the caller).
 * The slow fetch: this file's statx() sleeps in that thread (fd_kind()).
 */
static int race_fd;

static void *slow_fetch(void *arg)
{
	void *buf;

	(void)arg;
	if (posix_memalign(&buf, 4096, 4096))
		return NULL;
	statx_slow = 1;
	t_read_n(race_fd, buf, 1, 4096);
	statx_slow = 0;
	free(buf);
	return NULL;
}

START_TEST(read_setfl_overtaken_fetch)
{
	unsigned long n;
	pthread_t t;
	void *buf;
	int fl;

	if (!setfl_setup("read_setfl_overtaken_fetch", &race_fd, &buf))
		return;
	ck_assert_int_eq(pthread_create(&t, NULL, slow_fetch, NULL), 0);
	usleep(100 * 1000);	/* past its fcntl(F_GETFL), in its statx() */
	fl = fcntl(race_fd, F_GETFL);
	ck_assert_int_ge(fl, 0);
	ck_assert_int_eq(fcntl(race_fd, F_SETFL, fl | O_DIRECT), 0);
	t_read_n(race_fd, buf, 3, 4096);	/* the new flags fetched here */
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	n = inline_of(race_fd, buf, 8);
	ck_assert_msg(n == 0, "%lu of 8 O_DIRECT reads served in the caller "
		      "after an overtaken fetch", n);
	close(race_fd);
	free(buf);
}
END_TEST

/*
 * A POSIX message queue's fd reads as a short text at any offset (its
 * size, its notification), as glibc's pread() gives it.  Its inode is a
 * "regular file" with no blocks, whose poll() is about messages: io_uring,
 * retrying a read it was turned back from on poll, waited for a message
 * for ever.  Such files go to the pool (request.c, kernel_fs()).
 */
START_TEST(read_mqueue)
{
	char name[64], want[128], got[128];
	struct aiocb cb;
	ssize_t n;
	int mq;

	snprintf(name, sizeof(name), "/kaio-test-%d", (int)getpid());
	mq = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
	if (mq < 0) {
		printf("SKIP: read_mqueue: mq_open: %s\n", strerror(errno));
		return;
	}
	mq_unlink(name);
	memset(want, 0, sizeof(want));
	memset(got, 0, sizeof(got));
	n = pread(mq, want, sizeof(want), 0);
	ck_assert_int_gt(n, 0);
	t_prep(&cb, mq, got, sizeof(got), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), n);
	ck_assert(memcmp(got, want, sizeof(got)) == 0);
	mq_close(mq);
}
END_TEST

/*
 * A read past the caller's copy budget goes to io_uring with IOSQE_ASYNC:
 * io-wq copies it, and used to look its descriptor up only then, after
 * aio_read() had returned, so a close() of the number at once failed it
 * with EBADF (300 of 300 reads of 8 MiB; glibc's too), where POSIX wants
 * it to complete as if the close had not happened.  The ring holds the
 * file now (backend-uring.c's fixed files).  Rounds io_uring did not
 * serve are not counted (the pool reads by number, as glibc's worker).
 */
START_TEST(read_offload_outlives_close)
{
	enum { ROUNDS = 20, LEN = 2 << 20 };
	struct aiocb cb;
	char *buf = malloc(LEN);
	int fd, r, err, bad = 0, eb = 0, counted = 0;
	unsigned long u0;
	ssize_t got;
	char path[64];

	ck_assert_ptr_nonnull(buf);
#ifdef T_TSAN
	{
		const char *e = getenv("KAIO_BACKEND");

		if (e && (!strcmp(e, "threads") || !strcmp(e, "kernel"))) {
			printf("SKIP: read_offload_outlives_close: the pool reads "
			       "here, and ThreadSanitizer reports the test's "
			       "close() of the number while it does, which is "
			       "the point\n");
			free(buf);
			return;
		}
	}
#endif
	fd = t_tmpfile(LEN, 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (r = 0; r < ROUNDS; r++) {
		int rfd = open(path, O_RDONLY);

		ck_assert_int_ge(rfd, 0);
		t_prep(&cb, rfd, buf, LEN, 0);
		u0 = t_stat(KAIO_STAT_URING);
		ck_assert_int_eq(aio_read(&cb), 0);
		ck_assert_int_eq(close(rfd), 0);
		err = t_wait(&cb, 10000);
		ck_assert_int_ne(err, EINPROGRESS);
		got = aio_return(&cb);
		if (t_stat(KAIO_STAT_URING) == u0)
			continue;
		counted++;
		if (err || got != LEN || buf[LEN - 1] != (char)t_byte(LEN - 1)) {
			bad++;
			eb += err == EBADF;
		}
	}
	close(fd);
	free(buf);
	if (!counted) {
		printf("SKIP: read_offload_outlives_close: io_uring served no "
		       "read (KAIO_BACKEND=%s)\n", getenv("KAIO_BACKEND") ?
		       getenv("KAIO_BACKEND") : "");
		return;
	}
	ck_assert_msg(!bad, "%d of %d reads of 2 MiB whose number was closed "
		      "at once failed (%d EBADF)", bad, counted, eb);
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
	tcase_add_test(tc, read_mqueue);
	if (t_direct_ok()) {
		tcase_add_test(tc, read_direct_fd_reused_stream);
		tcase_add_test(tc, read_direct_reused_pipe_thread_exits);
		tcase_add_test(tc, read_direct_reused_eventfd);
		tcase_add_test(tc, read_direct_reused_pipe_order);
		tcase_add_test(tc, read_direct_reused_proc_dir);
		tcase_add_test(tc, read_direct_taken_every_way);
		tcase_add_test(tc, read_direct_kept_no_fstat);
	} else
		printf("SKIP: read_direct_fd_reused_stream: O_DIRECT not "
		       "supported here\n");
	tcase_add_test(tc, read_recheck_no_fstat);
	tcase_add_test(tc, read_flags_kept_no_fcntl);
	tcase_add_test(tc, read_setfl_seen);
	tcase_add_test(tc, read_setfl_overtaken_fetch);
	tcase_add_test(tc, read_offload_outlives_close);
	if (t_direct_ok())
		tcase_add_test(tc, read_direct_huge_length);
	else
		printf("SKIP: read_direct_huge_length: O_DIRECT not "
		       "supported here\n");
	suite_add_tcase(s, tc);
	return s;
}
