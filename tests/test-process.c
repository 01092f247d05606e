/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

static int wait_child(pid_t pid, int timeout_ms)
{
	int status, i;

	for (i = 0; i < timeout_ms; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* The child starts clean and works; the parent's request is unaffected. */
START_TEST(fork_child_clean)
{
	char pbuf[8], cbuf[64];
	struct aiocb pcb, ccb;
	int p[2], fd = t_tmpfile(64, 0);
	pid_t pid;

	t_pipe(p);
	t_prep(&pcb, p[0], pbuf, sizeof(pbuf), 0);
	ck_assert_int_eq(aio_read(&pcb), 0);
	/*
	 * Let the worker that read starts settle into read(2) first: a fork
	 * while a new thread is inside ASan's allocator leaves that lock held
	 * in the child (GCC 12's ASan takes no fork hooks).
	 */
	usleep(100000);
	pid = fork();
	if (pid == 0) {
		int ok = 0;

		/* The parent's request is not ours here. */
		if (aio_error(&pcb) != -1 || errno != EINVAL)
			ok |= 1;
		t_prep(&ccb, fd, cbuf, sizeof(cbuf), 0);
		if (aio_read(&ccb) != 0 || t_wait(&ccb, 5000) != 0 ||
		    aio_return(&ccb) != 64 || !t_check_bytes(cbuf, 0, 64))
			ok |= 2;
		/* A pipe read in the child goes to a new pool. */
		if (pipe(p))
			ok |= 32;
		t_prep(&ccb, p[0], cbuf, 8, 0);
		if (aio_read(&ccb) != 0)
			ok |= 4;
		if (write(p[1], "childdat", 8) != 8)
			ok |= 8;
		if (t_wait(&ccb, 5000) != 0 || aio_return(&ccb) != 8) {
			struct kaio_stats st;
			int i;

			kaio_stats_get(&st, sizeof(st));
			fprintf(stderr, "child: aio_error %d:", aio_error(&ccb));
			for (i = 0; i < KAIO_STAT_MAX; i++)
				fprintf(stderr, " %s=%lu", kaio_stat_name(i), st.v[i]);
			fprintf(stderr, "\n");
			if (getenv("KAIO_TEST_HANG")) {
				fprintf(stderr, "child pid %d\n", getpid());
				sleep(60);
			}
			ok |= 16;
		}
		_exit(ok);
	}
	ck_assert_int_eq(wait_child(pid, getenv("KAIO_TEST_HANG") ? 100000 : 10000), 0);
	ck_assert_int_eq(aio_error(&pcb), EINPROGRESS);
	ck_assert_int_eq(write(p[1], "parent!!", 8), 8);
	ck_assert_int_eq(t_wait(&pcb, 5000), 0);
	ck_assert_int_eq(aio_return(&pcb), 8);
	ck_assert(memcmp(pbuf, "parent!!", 8) == 0);
	close(p[0]);
	close(p[1]);
	close(fd);
}
END_TEST

/* exit() and return from main with requests pending: no hang, no crash. */
START_TEST(exit_pending)
{
	int p[2], mode;
	pid_t pid;

	for (mode = 0; mode < 2; mode++) {
		t_pipe(p);
		pid = fork();
		if (pid == 0) {
			static struct aiocb cb[64];
			static char buf[64][8];
			int i, fd = t_tmpfile(1 << 16, 0);

			for (i = 0; i < 32; i++) {
				t_prep(&cb[i], p[0], buf[i], 8, 0);
				aio_read(&cb[i]);
			}
			for (; i < 64; i++) {
				t_prep(&cb[i], fd, buf[i], 8, i * 512);
				aio_read(&cb[i]);
			}
			if (mode)
				_exit(0);
			exit(0);
		}
		ck_assert_int_eq(wait_child(pid, 10000), 0);
		close(p[0]);
		close(p[1]);
	}
}
END_TEST

Suite *process_suite(void)
{
	Suite *s = suite_create("process");
	TCase *tc = t_tcase("fork+exit");

	tcase_add_test(tc, fork_child_clean);
	tcase_add_test(tc, exit_pending);
	suite_add_tcase(s, tc);
	return s;
}
