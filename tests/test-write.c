/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

START_TEST(write_basic)
{
	char buf[4096], back[4096];
	struct aiocb cb;
	int fd = t_tmpfile(0, 0), i;

	for (i = 0; i < 4096; i++)
		buf[i] = t_byte(1000 + i);
	t_prep(&cb, fd, buf, sizeof(buf), 1000);
	ck_assert_int_eq(aio_write(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 4096);
	ck_assert_int_eq(pread(fd, back, sizeof(back), 1000), 4096);
	ck_assert(t_check_bytes(back, 1000, 4096));
	close(fd);
}
END_TEST

static struct timespec coarse_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME_COARSE, &t);
	return t;
}

static int ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/*
 * A file's ctime after a plain write, then a second write by write2 in the
 * same clock tick: 1 if it is that tick's coarse time, 0 if not, -1 if
 * nothing can be told.  Multigrain timestamps keep one floor for the whole
 * system: any fine-grained stamp (another process that reads a file's
 * times and writes it) raises the coarse time every file takes for the
 * rest of the tick.  So a control file, last written in an earlier tick,
 * is written first: if it did not take the tick's coarse time, the tick
 * was raised already, and the try tells nothing.  Nor does one in which
 * the tick changed.  (Raised between the control's write and the file's,
 * a few microseconds, the file looks fine-grained: see the caller.)
 */
static int ctime_coarse(int fd, int ctl, int (*write2)(int fd))
{
	struct timespec c0, c1;
	struct stat st, sc;
	char b = 'x';

	c0 = coarse_now();
	ck_assert_int_eq(pwrite(ctl, &b, 1, 0), 1);
	ck_assert_int_eq(pwrite(fd, &b, 1, 0), 1);
	ck_assert_int_eq(write2(fd), 0);
	c1 = coarse_now();
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(fstat(ctl, &sc), 0);
	if (!ts_eq(c0, c1) || !ts_eq(sc.st_ctim, c0))
		return -1;
	return ts_eq(st.st_ctim, c0);
}

/* The times read between the writes: as a stat() by the program would. */
static int stat_then_write(int fd)
{
	struct stat st;
	char b = 'y';

	if (fstat(fd, &st) || pwrite(fd, &b, 1, 1) != 1)
		return -1;
	return 0;
}

static int lib_write(int fd)
{
	static char b = 'z';
	struct aiocb cb;

	t_prep(&cb, fd, &b, 1, 2);
	if (aio_write(&cb) || t_wait(&cb, 5000) || aio_return(&cb) != 1)
		return -1;
	return 0;
}

/*
 * The library looks at a new fd (its type: request.c, fd_type()) without
 * reading the file's times.  With multigrain timestamps (Linux 6.13 on:
 * ext4, xfs, btrfs, tmpfs), a write in the tick of the file's last change
 * after its times were read takes a fine-grained time, and dirties the
 * inode: the next fsync writes it out.  fio's --fsync=32 paid that at
 * every fsync, as the library looks at an fd again every 32 requests.
 * Tries 5 ms apart (a tick is 1-10 ms), each with a new fd kept open, so
 * that each is new to the library.  A library that reads the times makes
 * every try that tells find a fine-grained time; another process can make
 * a few do so (above), not most.
 */
START_TEST(write_reads_no_times)
{
	enum { TRIES = 64 };
	struct timespec gap = { 0, 5 * 1000000L };
	int fds[TRIES + 8], n = 0, told = -1, fine = 0, r, i;
	int ctl = t_tmpfile(4, 0);

	for (i = 0; i < 8 && told < 0; i++) {
		nanosleep(&gap, NULL);
		fds[n] = t_tmpfile(4, 0);
		told = ctime_coarse(fds[n++], ctl, stat_then_write);
	}
	if (told != 0) {
		printf("SKIP: write_reads_no_times: %s\n", told > 0 ?
		       "no multigrain timestamps here (a read of the times "
		       "does not change the next write's)" :
		       "no try could tell (the tick changed or was raised)");
		goto out;
	}
	told = 0;
	for (i = 0; i < TRIES; i++) {
		nanosleep(&gap, NULL);
		fds[n] = t_tmpfile(4, 0);
		r = ctime_coarse(fds[n++], ctl, lib_write);
		if (r >= 0)
			told++;
		fine += r == 0;
	}
	if (told < 4) {
		printf("SKIP: write_reads_no_times: %d of %d tries could tell "
		       "(the tick changed or was raised)\n", told, TRIES);
		goto out;
	}
	ck_assert_msg(fine * 2 <= told, "%d of %d writes through the library "
		      "took a fine-grained time: it read the file's times",
		      fine, told);
out:
	for (i = 0; i < n; i++)
		close(fds[i]);
	close(ctl);
}
END_TEST

START_TEST(write_errors)
{
	char buf[16] = "x";
	struct aiocb cb;
	int fd = t_tmpfile(16, 0), rfd;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rfd = open(path, O_RDONLY);
	/* Reported through aio_error(), as glibc does. */
	t_prep(&cb, rfd, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_write(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EBADF);
	t_prep(&cb, -1, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_write(&cb), 0);
	T_WAIT_ERR(&cb, 5000, EBADF);
	close(rfd);
	close(fd);
}
END_TEST

/* O_APPEND: records land in submission order. */
START_TEST(write_append_order)
{
	enum { N = 200, L = 16 };
	struct aiocb *cb = calloc(N, sizeof(*cb));
	char (*rec)[L] = calloc(N, L), back[N * L];
	int fd = t_tmpfile(0, O_APPEND), i;

	for (i = 0; i < N; i++) {
		snprintf(rec[i], L, "record-%08d", i);
		rec[i][L - 1] = '\n';
		t_prep(&cb[i], fd, rec[i], L, 0);
		ck_assert_int_eq(aio_write(&cb[i]), 0);
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(t_wait(&cb[i], 10000), 0);
		ck_assert_int_eq(aio_return(&cb[i]), L);
	}
	ck_assert_int_eq(pread(fd, back, sizeof(back), 0), N * L);
	for (i = 0; i < N; i++)
		ck_assert(memcmp(back + i * L, rec[i], L) == 0);
	free(cb);
	free(rec);
	close(fd);
}
END_TEST

/*
 * An fd switched to O_APPEND with F_SETFL after the library has seen (and
 * kept) its flags: every later write appends, in submission order, whether
 * the caller writes it on the kept flags (Linux's pwrite() appends on an
 * O_APPEND fd) or the fd's serial queue does.
 */
START_TEST(write_append_after_setfl)
{
	enum { N = 80, L = 16, HEAD = 4 * 4096 };
	struct aiocb *cb = calloc(N, sizeof(*cb)), w;
	char (*rec)[L] = calloc(N, L), *back = malloc(HEAD + N * L + 1);
	char *blk = malloc(4096);
	int fd = t_tmpfile(0, 0), i;

	for (i = 0; i < HEAD / 4096; i++) {
		memset(blk, 'a' + i, 4096);
		t_prep(&w, fd, blk, 4096, (off_t)i * 4096);
		ck_assert_int_eq(aio_write(&w), 0);
		ck_assert_int_eq(t_wait(&w, 5000), 0);
		ck_assert_int_eq(aio_return(&w), 4096);
	}
	ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_APPEND), 0);
	for (i = 0; i < N; i++) {
		snprintf(rec[i], L, "record-%08d", i);
		rec[i][L - 1] = '\n';
		t_prep(&cb[i], fd, rec[i], L, 0);
		ck_assert_int_eq(aio_write(&cb[i]), 0);
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(t_wait(&cb[i], 10000), 0);
		ck_assert_int_eq(aio_return(&cb[i]), L);
	}
	ck_assert_int_eq(pread(fd, back, HEAD + N * L + 1, 0), HEAD + N * L);
	for (i = 0; i < HEAD; i++)
		ck_assert_int_eq(back[i], 'a' + i / 4096);
	for (i = 0; i < N; i++)
		ck_assert(memcmp(back + HEAD + i * L, rec[i], L) == 0);
	free(cb);
	free(rec);
	free(back);
	free(blk);
	close(fd);
}
END_TEST

/* A pipe: writes arrive in submission order. */
START_TEST(write_pipe_order)
{
	enum { N = 64 };
	struct aiocb cb[N];
	char rec[N][8], back[8];
	int p[2], i;

	t_pipe(p);
	for (i = 0; i < N; i++) {
		snprintf(rec[i], 8, "w%06d", i);
		t_prep(&cb[i], p[1], rec[i], 8, 0);
		ck_assert_int_eq(aio_write(&cb[i]), 0);
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(read(p[0], back, 8), 8);
		ck_assert_str_eq(back, rec[i]);
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(t_wait(&cb[i], 5000), 0);
		ck_assert_int_eq(aio_return(&cb[i]), 8);
	}
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * Between the submitting call and the completion the library writes
 * nothing into the aiocb, as glibc's does not.  glibc's tst-cancel17
 * leaves a pipe write that never ends in an aiocb on a stack frame that
 * is gone: a write into it there (io_uring's short write moving the rest
 * to the pool cleared a hint) crashed the test in _dl_fini() about once
 * in fifteen runs.  Here the program scribbles over the aiocb while the
 * write waits on a full pipe, then lets part of it through.
 */
static const size_t res_at = offsetof(struct aiocb, __error_code);
static const size_t res_end = offsetof(struct aiocb, aio_offset);

/* Copy from's bytes into cb, but for the result (__error_code,
 * __return_value). */
static void scribble(struct aiocb *cb, const struct aiocb *from)
{
	memcpy(cb, from, res_at);
	memcpy((char *)cb + res_end, (const char *)from + res_end,
	       sizeof(*cb) - res_end);
}

START_TEST(write_pipe_aiocb_untouched_in_flight)
{
	struct aiocb cb, saved, junk;
	int p[2], cap, fl, left, pending, i;
	size_t len, total;
	char *buf, *sink;
	ssize_t n;

	t_pipe(p);
	cap = fcntl(p[1], F_GETPIPE_SZ);
	ck_assert_int_gt(cap, 0);
	sink = malloc((size_t)cap);
	ck_assert_ptr_nonnull(sink);
	/* Fill the pipe, then make its write end blocking again. */
	fl = fcntl(p[1], F_GETFL);
	ck_assert_int_eq(fcntl(p[1], F_SETFL, fl | O_NONBLOCK), 0);
	total = 0;
	while ((n = write(p[1], sink, (size_t)cap)) > 0)
		total += (size_t)n;
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(fcntl(p[1], F_SETFL, fl), 0);

	len = (size_t)cap + 3 * 4096;
	buf = calloc(1, len);
	ck_assert_ptr_nonnull(buf);
	t_prep(&cb, p[1], buf, len, 0);
	ck_assert_int_eq(aio_write(&cb), 0);
	/* All but the result's fields, which the completion will write:
	 * the program's stores there would race with it. */
	scribble(&saved, &cb);
	memset(&junk, 0xa5, sizeof(junk));
	scribble(&cb, &junk);

	/* Let one page through: the write moves on, and stops again. */
	ck_assert_int_eq(read(p[0], sink, 4096), 4096);
	for (i = 0; i < 2000; i++) {
		ck_assert_int_eq(ioctl(p[0], FIONREAD, &pending), 0);
		if (pending >= cap)
			break;
		usleep(1000);
	}
	usleep(100 * 1000);	/* for whatever the library does next */
	ck_assert_msg(memcmp(&cb, &junk, res_at) == 0 &&
		      memcmp((char *)&cb + res_end, (char *)&junk + res_end,
			     sizeof(cb) - res_end) == 0,
		      "the library wrote into the aiocb while its request "
		      "was in flight");

	scribble(&cb, &saved);
	total += len - 4096;
	while (total > 0) {
		n = read(p[0], sink, total < (size_t)cap ? total : (size_t)cap);
		ck_assert_int_gt(n, 0);
		total -= (size_t)n;
	}
	left = t_wait(&cb, 5000);
	ck_assert_int_eq(left, 0);
	ck_assert_int_eq(aio_return(&cb), (ssize_t)len);
	free(buf);
	free(sink);
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * The same for a request that waits in its fd's queue (an O_APPEND write
 * behind another, an fsync behind a write): the call that sends it on
 * later, in another thread or another entry point, does not write its
 * aiocb either (an outside tester: the reaper hint was written there).
 * Its result is watched in __error_code, as the only field left alone.
 */
static void queued_untouched(int fsync_it)
{
	enum { BIG = 4 << 20, RUNS = 10 };
	struct aiocb a, b, saved, junk;
	char *buf = malloc(BIG);
	int fd, run, err, i;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 'x', BIG);
	memset(&junk, 0xa5, sizeof(junk));
	for (run = 0; run < RUNS; run++) {
		fd = t_tmpfile(0, fsync_it ? 0 : O_APPEND);
		t_prep(&a, fd, buf, BIG, 0);
		b = a;
		ck_assert_int_eq(aio_write(&a), 0);
		if (fsync_it)
			ck_assert_int_eq(aio_fsync(O_SYNC, &b), 0);
		else
			ck_assert_int_eq(aio_write(&b), 0);
		scribble(&saved, &b);
		scribble(&b, &junk);
		for (i = 0; i < 10000; i++) {
			err = __atomic_load_n(&b.__error_code,
					      __ATOMIC_ACQUIRE);
			if (err != EINPROGRESS)
				break;
			usleep(1000);
		}
		ck_assert_int_ne(err, EINPROGRESS);
		ck_assert_msg(memcmp(&b, &junk, res_at) == 0 &&
			      memcmp((char *)&b + res_end,
				     (char *)&junk + res_end,
				     sizeof(b) - res_end) == 0,
			      "run %d: the library wrote into a queued "
			      "request's aiocb before its completion", run);
		scribble(&b, &saved);
		ck_assert_int_eq(aio_error(&b), 0);
		ck_assert_int_eq(aio_return(&b), fsync_it ? 0 : BIG);
		ck_assert_int_eq(t_wait(&a, 10000), 0);
		ck_assert_int_eq(aio_return(&a), BIG);
		close(fd);
	}
	free(buf);
}

START_TEST(write_append_queued_aiocb_untouched)
{
	queued_untouched(0);
}
END_TEST

START_TEST(fsync_queued_aiocb_untouched)
{
	queued_untouched(1);
}
END_TEST

/*
 * An O_APPEND write waits in the library for the one before it on its fd
 * (they run in order, fdmap.c).  If the number goes meanwhile (close(),
 * dup2() of /dev/null onto it, close_range()), it still appends to its
 * file, as if the close had not happened: the close takes the file for it
 * first (kaio__fd_hold_files()).  The first write blocks on a userfaultfd
 * page until the number is gone.  Before, the waiting write went to its
 * backend by number: EBADF, or its bytes went to /dev/null.  Native AIO
 * and the pool run it by number, as glibc does (kaio_posix(7)).
 */
START_TEST(write_append_queued_outlives_close)
{
	static const char *const hows[] = { "close", "dup2", "close_range" };
	char path[] = "kaio-app-XXXXXX", data[4096], back[4096];
	const char *mode = getenv("KAIO_BACKEND");
	struct aiocb a, b;
	struct t_uf u;
	struct stat st;
	unsigned long p0;
	int devnull, fd, rd, how, err;

	if (mode && (!strcmp(mode, "kernel") || !strcmp(mode, "threads"))) {
		printf("SKIP: write_append_queued_outlives_close: "
		       "KAIO_BACKEND=%s runs a waiting write by number, as "
		       "glibc does\n", mode);
		return;
	}
	if (!t_uring_ok() || t_threaded_kernel()) {
		printf("SKIP: write_append_queued_outlives_close: io_uring "
		       "does not run writes here: a waiting write runs by "
		       "number, as glibc's\n");
		return;
	}
	if (!t_kernel_at_least(6, 4)) {
		printf("SKIP: write_append_queued_outlives_close: before Linux "
		       "6.4 the library keeps no file in io_uring's table "
		       "(kaio_backends(7))\n");
		return;
	}
	if (t_uf_skip("write_append_queued_outlives_close"))
		return;
	memset(data, 'b', sizeof(data));
	devnull = open("/dev/null", O_RDWR);
	ck_assert_int_ge(devnull, 0);
	for (how = 0; how < 3; how++) {
		ck_assert(t_uf_open(&u));
		strcpy(path, "kaio-app-XXXXXX");
		fd = t_append_blocked(path, &u, &a);
		t_prep(&b, fd, data, sizeof(data), 0);
		ck_assert_int_eq(aio_write(&b), 0);
		ck_assert_int_eq(aio_error(&b), EINPROGRESS);
		p0 = t_stat(KAIO_STAT_POOL);
		t_take_number(fd, how, devnull);
		t_uf_fill(&u);
		ck_assert_int_eq(t_wait(&a, 10000), 0);
		ck_assert_int_eq(aio_return(&a), 16);
		err = t_wait(&b, 10000);
		ck_assert_int_ne(err, EINPROGRESS);
		err = err ? err : aio_return(&b) == (ssize_t)sizeof(data) ?
				  0 : -1;
		if (t_stat(KAIO_STAT_POOL) != p0) {
			printf("write_append_queued_outlives_close: %s: the "
			       "pool ran the write (by number): not checked\n",
			       hows[how]);
		} else {
			ck_assert_msg(err == 0, "%s: the waiting write of the "
				      "closed number: error %d", hows[how],
				      err);
			ck_assert_int_eq(stat(path, &st), 0);
			ck_assert_msg(st.st_size == 16 + (off_t)sizeof(data),
				      "%s: the file has %lld bytes, not %zu",
				      hows[how], (long long)st.st_size,
				      16 + sizeof(data));
			rd = open(path, O_RDONLY);
			ck_assert_int_ge(rd, 0);
			ck_assert_int_eq(pread(rd, back, sizeof(back), 16),
					 (ssize_t)sizeof(back));
			ck_assert(memcmp(back, data, sizeof(data)) == 0);
			close(rd);
		}
		if (how == 1)
			close(fd);	/* /dev/null's duplicate */
		unlink(path);
		t_uf_close(&u);
	}
	close(devnull);
}
END_TEST

/*
 * closefrom() over a number where an O_APPEND write waits also closes the
 * library's own ring descriptors (above 512).  The waiting write must not
 * take its file into a ring that is closed then: no call could empty the
 * slot, and the file would stay open (its flock() held) until the process
 * exits.  It keeps its number instead, as before the hold existed (it
 * fails with EBADF, as glibc's does).  In a fork child, whose rings this
 * may close.
 */
START_TEST(write_append_closefrom_no_leak)
{
	char path[] = "kaio-cf-XXXXXX", data[512];
	struct aiocb a, b, fs;
	struct t_uf u;
	pid_t pid;
	int fd, st;

	if (!getenv("KAIO_BACKEND") || strcmp(getenv("KAIO_BACKEND"),
					      "threads")) {
		if (!t_uring_ok() || t_threaded_kernel() ||
		    !t_kernel_at_least(6, 4)) {
			printf("SKIP: write_append_closefrom_no_leak: no "
			       "io_uring file table here\n");
			return;
		}
	}
	if (t_uf_skip("write_append_closefrom_no_leak"))
		return;
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	pid = t_fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int lk, tries;

		if (!t_uf_open(&u))
			_exit(2);
		fd = open(path, O_WRONLY | O_APPEND);
		if (fd < 0 || flock(fd, LOCK_EX))
			_exit(2);
		t_prep(&fs, fd, NULL, 0, 0);	/* the child's ring0 */
		if (aio_fsync(O_SYNC, &fs) || t_wait(&fs, 10000))
			_exit(2);
		aio_return(&fs);
		memset(data, 'c', sizeof(data));
		t_prep(&a, fd, u.page, 16, 0);
		t_prep(&b, fd, data, sizeof(data), 0);
		t_prep(&fs, fd, NULL, 0, 0);
		if (aio_write(&a) || aio_write(&b) || aio_fsync(O_SYNC, &fs))
			_exit(2);
		closefrom(fd);
		t_uf_fill(&u);
		if (t_wait(&a, 10000) == EINPROGRESS ||
		    t_wait(&b, 10000) == EINPROGRESS ||
		    t_wait(&fs, 10000) == EINPROGRESS)
			_exit(3);
		aio_return(&a);
		aio_return(&b);
		aio_return(&fs);
		lk = open(path, O_RDONLY);
		for (tries = 0; flock(lk, LOCK_EX | LOCK_NB); tries++) {
			if (tries == 1000)
				_exit(4);
			usleep(1000);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	unlink(path);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 3,
		      "a request never completed after closefrom()");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 4,
		      "the file is still held 1 s after closefrom() and its "
		      "requests' end: a slot of a closed ring");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child: status %#x", st);
}
END_TEST

Suite *write_suite(void)
{
	Suite *s = suite_create("aio_write");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, write_basic);
	tcase_add_test(tc, write_reads_no_times);
	suite_add_tcase(s, tc);
	tc = t_tcase("ordering");
	tcase_add_test(tc, write_append_order);
	tcase_add_test(tc, write_append_after_setfl);
	tcase_add_test(tc, write_pipe_order);
	tcase_add_test(tc, write_pipe_aiocb_untouched_in_flight);
	tcase_add_test(tc, write_append_queued_aiocb_untouched);
	tcase_add_test(tc, fsync_queued_aiocb_untouched);
	tcase_add_test(tc, write_append_queued_outlives_close);
	tcase_add_test(tc, write_append_closefrom_no_leak);
	suite_add_tcase(s, tc);
	tc = t_tcase("errors");
	tcase_add_test(tc, write_errors);
	suite_add_tcase(s, tc);
	return s;
}
