/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

START_TEST(listio_wait)
{
	enum { N = 16 };
	struct aiocb cb[N], *l[N + 2];
	char buf[N][512];
	int fd = t_tmpfile(N * 512, 0), i;

	for (i = 0; i < N; i++) {
		t_prep(&cb[i], fd, buf[i], 512, (off_t)i * 512);
		cb[i].aio_lio_opcode = LIO_READ;
		l[i] = &cb[i];
	}
	l[N] = NULL;
	l[N + 1] = &cb[0];
	cb[0].aio_lio_opcode = LIO_READ;
	/* The last entry: a NOP (the same aiocb must not be submitted twice). */
	{
		static struct aiocb nop;

		memset(&nop, 0, sizeof(nop));
		nop.aio_lio_opcode = LIO_NOP;
		l[N + 1] = &nop;
	}
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, N + 2, NULL), 0);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(aio_error(&cb[i]), 0);
		ck_assert_int_eq(aio_return(&cb[i]), 512);
		ck_assert(t_check_bytes(buf[i], (off_t)i * 512, 512));
	}
	close(fd);
}
END_TEST

static atomic_int list_done;

static void list_cb(union sigval v)
{
	atomic_fetch_add(&list_done, v.sival_int);
}

START_TEST(listio_nowait_notify)
{
	enum { N = 8 };
	struct aiocb cb[N], *l[N];
	struct sigevent sev;
	char buf[N][64];
	int fd = t_tmpfile(N * 64, 0), i, p[2];

	t_pipe(p);
	for (i = 0; i < N; i++) {
		/* One read waits on a pipe: the list cannot finish early. */
		t_prep(&cb[i], i == 3 ? p[0] : fd, buf[i], 64, (off_t)i * 64);
		cb[i].aio_lio_opcode = LIO_READ;
		l[i] = &cb[i];
	}
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = list_cb;
	sev.sigev_value.sival_int = 1;
	atomic_store(&list_done, 0);
	ck_assert_int_eq(lio_listio(LIO_NOWAIT, l, N, &sev), 0);
	usleep(100000);
	ck_assert_int_eq(atomic_load(&list_done), 0);
	ck_assert_int_eq(write(p[1], "z", 1), 1);
	for (i = 0; i < 500 && !atomic_load(&list_done); i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&list_done), 1);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(aio_error(&cb[i]), 0);
	usleep(20000);
	ck_assert_int_eq(atomic_load(&list_done), 1);
	close(fd);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(listio_errors)
{
	struct aiocb cb[2], *l[2];
	char buf[2][16];
	int fd = t_tmpfile(64, 0);

	t_prep(&cb[0], fd, buf[0], 16, 0);
	cb[0].aio_lio_opcode = LIO_READ;
	t_prep(&cb[1], 999999, buf[1], 16, 0);
	cb[1].aio_lio_opcode = LIO_READ;
	l[0] = &cb[0];
	l[1] = &cb[1];
	ck_assert_int_eq(lio_listio(42, l, 2, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, KAIO_LISTIO_MAX + 1, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* A negative nent is glibc's empty list: 0, the list's signal. */
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, -1, NULL), 0);
	/* One bad request: EIO; each request says how it ended. */
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, 2, NULL), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_int_eq(aio_error(&cb[0]), 0);
	ck_assert_int_eq(aio_return(&cb[0]), 16);
	ck_assert_int_eq(aio_error(&cb[1]), EBADF);
	ck_assert_int_eq(aio_return(&cb[1]), -1);
	/* With LIO_NOWAIT the list was submitted: 0, as in glibc. */
	ck_assert_int_eq(lio_listio(LIO_NOWAIT, l, 2, NULL), 0);
	ck_assert_int_eq(t_wait(&cb[0], 5000), 0);
	ck_assert_int_eq(aio_error(&cb[1]), EBADF);
	/* A request that fails while running: EIO under LIO_WAIT. */
	t_prep(&cb[1], fd, buf[1], 16, -1);
	cb[1].aio_lio_opcode = LIO_READ;
	t_prep(&cb[0], fd, buf[0], 16, 0);
	cb[0].aio_lio_opcode = LIO_READ;
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, 2, NULL), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_int_eq(aio_error(&cb[1]), EINVAL);
	/* Nothing to do. */
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, 0, NULL), 0);
	close(fd);
}
END_TEST

START_TEST(listio_write_read)
{
	enum { N = 64 };
	struct aiocb cb[N], *l[N];
	char buf[N][128], back[N][128];
	int fd = t_tmpfile(0, 0), i, j;

	for (i = 0; i < N; i++) {
		for (j = 0; j < 128; j++)
			buf[i][j] = t_byte(i * 128 + j);
		t_prep(&cb[i], fd, buf[i], 128, (off_t)i * 128);
		cb[i].aio_lio_opcode = LIO_WRITE;
		l[i] = &cb[i];
	}
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, N, NULL), 0);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(aio_return(&cb[i]), 128);
		t_prep(&cb[i], fd, back[i], 128, (off_t)i * 128);
		cb[i].aio_lio_opcode = LIO_READ;
	}
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, N, NULL), 0);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(aio_return(&cb[i]), 128);
		ck_assert(t_check_bytes(back[i], (off_t)i * 128, 128));
	}
	close(fd);
}
END_TEST

Suite *listio_suite(void)
{
	Suite *s = suite_create("lio_listio");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, listio_wait);
	tcase_add_test(tc, listio_nowait_notify);
	tcase_add_test(tc, listio_write_read);
	tcase_add_test(tc, listio_errors);
	suite_add_tcase(s, tc);
	return s;
}
