/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Defects an adversarial review found (hurried users, hostile input),
 * each pinned by the test that showed it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test-common.h"

/*
 * aio_suspend() is async-signal-safe: a handler for a request's own
 * completion signal may call it.  When the request completes in the
 * submitting thread (a read the page cache serves), the signal is
 * delivered to that thread on the way out of the system call that
 * queued it, before the library has noted the signal as sent; the
 * handler's aio_suspend() must not wait for that (it would wait for
 * itself, forever).
 */
static struct aiocb *hs_cb;
static volatile sig_atomic_t hs_calls, hs_ret = -2;

static void hs_handler(int sig, siginfo_t *si, void *uc)
{
	const struct aiocb *l[1];
	struct timespec zero = { 0, 0 };
	int saved = errno;

	(void)sig; (void)si; (void)uc;
	l[0] = hs_cb;
	hs_ret = aio_suspend(l, 1, &zero);
	hs_calls++;
	errno = saved;
}

START_TEST(suspend_in_own_completion_handler)
{
	struct sigaction sa, old;
	static char buf[512];
	struct aiocb cb;
	int fd, i;

	fd = t_tmpfile(4096, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = hs_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old), 0);
	for (i = 0; i < 20; i++) {
		t_prep(&cb, fd, buf, sizeof(buf), 0);
		cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
		cb.aio_sigevent.sigev_signo = SIGUSR1;
		hs_cb = &cb;
		hs_calls = 0;
		ck_assert_int_eq(aio_read(&cb), 0);
		ck_assert_int_eq(t_wait(&cb, 10000), 0);
		/* The signal is queued before aio_suspend() says done. */
		{
			const struct aiocb *l[1] = { &cb };

			ck_assert_int_eq(aio_suspend(l, 1, NULL), 0);
		}
		ck_assert_int_eq(hs_calls, 1);
		ck_assert_int_eq(hs_ret, 0);
		ck_assert_int_eq(aio_return(&cb), (ssize_t)sizeof(buf));
	}
	sigaction(SIGUSR1, &old, NULL);
	close(fd);
}
END_TEST

Suite *adversary_suite(void)
{
	Suite *s = suite_create("adversary");
	TCase *tc = t_tcase("adversary");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, suspend_in_own_completion_handler);
	suite_add_tcase(s, tc);
	return s;
}
