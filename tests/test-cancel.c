/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test-common.h"

static atomic_int notified;

static void count_cb(union sigval v)
{
	(void)v;
	atomic_fetch_add(&notified, 1);
}

/*
 * On a pipe the first read runs (and blocks); the rest wait their turn.
 * Where the backend can interrupt a blocked read (io_uring), the running
 * one is cancelled too; elsewhere it is AIO_NOTCANCELED.
 */
START_TEST(cancel_queued_and_running)
{
	enum { N = 4 };
	struct aiocb cb[N];
	char buf[N][8];
	int p[2], i, ret, live = t_running_cancellable();

	atomic_store(&notified, 0);
	t_pipe(p);
	for (i = 0; i < N; i++) {
		t_prep(&cb[i], p[0], buf[i], 8, 0);
		cb[i].aio_sigevent.sigev_notify = SIGEV_THREAD;
		cb[i].aio_sigevent.sigev_notify_function = count_cb;
		ck_assert_int_eq(aio_read(&cb[i]), 0);
	}
	usleep(50000);
	/* A queued one. */
	ck_assert_int_eq(aio_cancel(p[0], &cb[2]), AIO_CANCELED);
	ck_assert_int_eq(aio_error(&cb[2]), ECANCELED);
	ck_assert_int_eq(aio_return(&cb[2]), -1);
	/* Again: it is done now. */
	t_prep(&cb[2], p[0], buf[2], 8, 0);
	ck_assert_int_eq(aio_cancel(p[0], &cb[2]), AIO_ALLDONE);
	/* The running one. */
	if (live) {
		ck_assert_int_eq(aio_cancel(p[0], &cb[0]), AIO_CANCELED);
		ck_assert_int_eq(aio_error(&cb[0]), ECANCELED);
		usleep(50000);	/* cb[1] has its turn now */
		ret = aio_cancel(p[0], NULL);
		ck_assert_int_eq(aio_error(&cb[3]), ECANCELED);
		if (ret == AIO_NOTCANCELED && t_threaded_kernel()) {
			/* Released by another thread, cb[1] runs on the pool
			 * (its submitter's identity): not cancellable. */
			ck_assert_int_eq(aio_error(&cb[1]), EINPROGRESS);
			ck_assert_int_eq(write(p[1], "12345678", 8), 8);
			ck_assert_int_eq(t_wait(&cb[1], 5000), 0);
			ck_assert_int_eq(aio_return(&cb[1]), 8);
		} else {
			ck_assert_int_eq(ret, AIO_CANCELED);
			ck_assert_int_eq(aio_error(&cb[1]), ECANCELED);
		}
	} else {
		ck_assert_int_eq(aio_cancel(p[0], &cb[0]), AIO_NOTCANCELED);
		/* All on the fd: one runs, so NOTCANCELED; cb[1], cb[3] go. */
		ck_assert_int_eq(aio_cancel(p[0], NULL), AIO_NOTCANCELED);
		ck_assert_int_eq(aio_error(&cb[1]), ECANCELED);
		ck_assert_int_eq(aio_error(&cb[3]), ECANCELED);
		ck_assert_int_eq(aio_error(&cb[0]), EINPROGRESS);
		ck_assert_int_eq(write(p[1], "12345678", 8), 8);
		ck_assert_int_eq(t_wait(&cb[0], 5000), 0);
		ck_assert_int_eq(aio_return(&cb[0]), 8);
	}
	for (i = 0; i < 200 && atomic_load(&notified) < 4; i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&notified), 4);	/* exactly once each */
	usleep(50000);
	ck_assert_int_eq(atomic_load(&notified), 4);
	ck_assert_int_eq(aio_cancel(p[0], NULL), AIO_ALLDONE);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(cancel_errors)
{
	struct aiocb cb;
	char buf[8];
	int fd = t_tmpfile(8, 0);

	ck_assert_int_eq(aio_cancel(-1, NULL), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(aio_cancel(1000000, NULL), -1);
	ck_assert_int_eq(errno, EBADF);
	t_prep(&cb, fd, buf, 8, 0);
	ck_assert_int_eq(aio_cancel(0, &cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(aio_cancel(fd, &cb), AIO_ALLDONE);
	ck_assert_int_eq(aio_cancel(fd, NULL), AIO_ALLDONE);
	close(fd);
}
END_TEST

/* Cancelling a queued write lets an fsync waiting on it go. */
START_TEST(cancel_write_releases_fsync)
{
	enum { SZ = 1 << 20 };
	struct aiocb w1, w2, fs;
	char *big = calloc(1, SZ), *sink = malloc(SZ);
	int p[2];
	ssize_t got = 0, n;

	t_pipe(p);
	t_prep(&w1, p[1], big, SZ, 0);
	ck_assert_int_eq(aio_write(&w1), 0);
	t_prep(&w2, p[1], big, SZ, 0);
	ck_assert_int_eq(aio_write(&w2), 0);
	t_prep(&fs, p[1], NULL, 0, 0);
	ck_assert_int_eq(aio_fsync(O_SYNC, &fs), 0);
	usleep(50000);
	ck_assert_int_eq(aio_cancel(p[1], &w2), AIO_CANCELED);
	ck_assert_int_eq(aio_cancel(p[1], &fs), AIO_CANCELED);
	while (got < SZ) {
		n = read(p[0], sink, SZ);
		ck_assert_int_gt(n, 0);
		got += n;
	}
	ck_assert_int_eq(t_wait(&w1, 5000), 0);
	ck_assert_int_eq(aio_error(&w2), ECANCELED);
	ck_assert_int_eq(aio_error(&fs), ECANCELED);
	free(big);
	free(sink);
	close(p[0]);
	close(p[1]);
}
END_TEST

struct race {
	int fd;
	struct aiocb *cb;
	int n;
};

static void *canceller(void *arg)
{
	struct race *r = arg;
	int i;

	for (i = 0; i < r->n; i++)
		aio_cancel(r->fd, &r->cb[(i * 7) % r->n]);
	return NULL;
}

/* Cancels racing completions: each request ends exactly once. */
START_TEST(cancel_race)
{
	enum { N = 2000 };
	struct aiocb *cb = calloc(N, sizeof(*cb));
	char *buf = malloc(N * 64);
	struct race r;
	pthread_t t;
	int fd = t_tmpfile(N * 64, 0), i, ok = 0, canceled = 0;

	atomic_store(&notified, 0);
	for (i = 0; i < N; i++) {
		t_prep(&cb[i], fd, buf + i * 64, 64, (off_t)i * 64);
		cb[i].aio_sigevent.sigev_notify = SIGEV_THREAD;
		cb[i].aio_sigevent.sigev_notify_function = count_cb;
	}
	r.fd = fd;
	r.cb = cb;
	r.n = N;
	pthread_create(&t, NULL, canceller, &r);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(aio_read(&cb[i]), 0);
	pthread_join(t, NULL);
	for (i = 0; i < N; i++) {
		int e = t_wait(&cb[i], 10000);

		if (e == 0) {
			ck_assert_int_eq(aio_return(&cb[i]), 64);
			ck_assert(t_check_bytes(buf + i * 64, (off_t)i * 64, 64));
			ok++;
		} else {
			ck_assert_int_eq(e, ECANCELED);
			canceled++;
		}
	}
	ck_assert_int_eq(ok + canceled, N);
	for (i = 0; i < 500 && atomic_load(&notified) < N; i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&notified), N);
	free(cb);
	free(buf);
	close(fd);
}
END_TEST

Suite *cancel_suite(void)
{
	Suite *s = suite_create("aio_cancel");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, cancel_queued_and_running);
	tcase_add_test(tc, cancel_write_releases_fsync);
	tcase_add_test(tc, cancel_errors);
	suite_add_tcase(s, tc);
	tc = t_tcase("races");
	tcase_add_test(tc, cancel_race);
	suite_add_tcase(s, tc);
	return s;
}
