/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test-common.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(suspend_timeout)
{
	char buf[8];
	struct aiocb cb;
	const struct aiocb *l[3];
	struct timespec ts = { 0, 200 * 1000000L };
	double t0;
	int p[2];

	t_pipe(p);
	t_prep(&cb, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	l[0] = NULL;
	l[1] = &cb;
	l[2] = NULL;
	t0 = now();
	ck_assert_int_eq(aio_suspend(l, 3, &ts), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert(now() - t0 >= 0.19);
	ck_assert(now() - t0 < 5);
	/* Zero timeout: a poll. */
	ts.tv_nsec = 0;
	ck_assert_int_eq(aio_suspend(l, 3, &ts), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* Empty list with a timeout. */
	ts.tv_nsec = 1000000;
	ck_assert_int_eq(aio_suspend(l, 0, &ts), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* Bad arguments. */
	ck_assert_int_eq(aio_suspend(l, -1, &ts), -1);
	ck_assert_int_eq(errno, EINVAL);
	close(p[1]);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	close(p[0]);
}
END_TEST

START_TEST(suspend_done_immediately)
{
	char buf[8];
	struct aiocb cb, cb2;
	const struct aiocb *l[2];
	int fd = t_tmpfile(64, 0), p[2];

	t_pipe(p);
	t_prep(&cb2, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb2), 0);
	t_prep(&cb, fd, buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	l[0] = &cb2;
	l[1] = &cb;
	ck_assert_int_eq(aio_suspend(l, 2, NULL), 0);
	close(p[1]);
	ck_assert_int_eq(t_wait(&cb2, 5000), 0);
	close(p[0]);
	close(fd);
}
END_TEST

static void *later_writer(void *arg)
{
	int fd = *(int *)arg;

	usleep(100000);
	if (write(fd, "x", 1) != 1)
		return NULL;
	return NULL;
}

START_TEST(suspend_wakes)
{
	char buf[8];
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	pthread_t t;
	int p[2];

	t_pipe(p);
	t_prep(&cb, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	pthread_create(&t, NULL, later_writer, &p[1]);
	ck_assert_int_eq(aio_suspend(l, 1, NULL), 0);
	ck_assert_int_eq(aio_error(&cb), 0);
	ck_assert_int_eq(aio_return(&cb), 1);
	pthread_join(t, NULL);
	close(p[0]);
	close(p[1]);
}
END_TEST

static volatile sig_atomic_t got_alarm;

static void on_alarm(int sig)
{
	(void)sig;
	got_alarm = 1;
}

START_TEST(suspend_eintr)
{
	char buf[8];
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	struct sigaction sa;
	int p[2];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;	/* EINTR all the same, as POSIX wants */
	sigaction(SIGALRM, &sa, NULL);
	t_pipe(p);
	t_prep(&cb, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	alarm(1);
	ck_assert_int_eq(aio_suspend(l, 1, NULL), -1);
	ck_assert_int_eq(errno, EINTR);
	ck_assert(got_alarm);
	close(p[1]);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	close(p[0]);
}
END_TEST

Suite *suspend_suite(void)
{
	Suite *s = suite_create("aio_suspend");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, suspend_timeout);
	tcase_add_test(tc, suspend_done_immediately);
	tcase_add_test(tc, suspend_wakes);
	tcase_add_test(tc, suspend_eintr);
	suite_add_tcase(s, tc);
	return s;
}
