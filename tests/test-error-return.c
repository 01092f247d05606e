/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "test-common.h"

START_TEST(error_unsubmitted)
{
	struct aiocb cb;

	memset(&cb, 0, sizeof(cb));
	ck_assert_int_eq(aio_error(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(aio_return(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(error_lifecycle)
{
	char buf[8];
	struct aiocb cb;
	int p[2];

	t_pipe(p);
	t_prep(&cb, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(aio_error(&cb), EINPROGRESS);
	/* aio_return() before completion gives what glibc's gives (0, the
	 * value so far), leaves errno alone and releases nothing. */
	errno = 4321;
	ck_assert_int_eq(aio_return(&cb), 0);
	ck_assert_int_eq(errno, 4321);
	ck_assert_int_eq(aio_error(&cb), EINPROGRESS);
	ck_assert_int_eq(write(p[1], "abc", 3), 3);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_error(&cb), 0);	/* repeatable */
	ck_assert_int_eq(aio_return(&cb), 3);
	/* Released: a second aio_return() is refused; aio_error() still
	 * gives the final status, as glibc's does. */
	ck_assert_int_eq(aio_return(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(aio_error(&cb), 0);
	/* errno is left alone on success. */
	errno = 1234;
	t_prep(&cb, p[0], buf, sizeof(buf), 0);
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(aio_error(&cb), EINPROGRESS);
	ck_assert_int_eq(errno, 1234);
	close(p[1]);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 0);
	close(p[0]);
}
END_TEST

START_TEST(error_reuse_without_return)
{
	char buf[16];
	struct aiocb cb;
	int fd = t_tmpfile(64, 0), i;

	/* Resubmitting a completed aiocb without aio_return() is fine. */
	for (i = 0; i < 100; i++) {
		t_prep(&cb, fd, buf, sizeof(buf), i % 48);
		ck_assert_int_eq(aio_read(&cb), 0);
		ck_assert_int_eq(t_wait(&cb, 5000), 0);
	}
	ck_assert_int_eq(aio_return(&cb), 16);
	close(fd);
}
END_TEST

Suite *error_return_suite(void)
{
	Suite *s = suite_create("aio_error+aio_return");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, error_unsubmitted);
	tcase_add_test(tc, error_lifecycle);
	tcase_add_test(tc, error_reuse_without_return);
	suite_add_tcase(s, tc);
	return s;
}
