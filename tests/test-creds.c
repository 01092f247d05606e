/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every request runs with the credentials its submitter has at submission.
 * A root process starts every backend (io_uring ring, native AIO context,
 * pool workers) while root, then drops to an unprivileged uid and writes to
 * a setuid file it may write: the write must clear the setuid bit, as a
 * write by that user does (root's CAP_FSETID would keep it).  This is what
 * SQPOLL got wrong in libuv (CVE-2024-22017).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-common.h"

/* Over the bytes a call completes itself (KAIO_CALLER_BYTES): each write
 * goes to a backend under KAIO_BACKEND=auto too. */
enum { BIG = 1 << 20 };
static char buf[BIG];

static int child(void)
{
	char path[] = "kaio-creds-XXXXXX";
	struct aiocb cb;
	struct stat st;
	int fd, i;

	fd = mkstemp(path);
	if (fd < 0)
		return 10;
	unlink(path);	/* the fd is all the test needs */
	if (fchmod(fd, 04777) || write(fd, "x", 1) != 1)
		return 11;
	/* As root: start every backend the configuration uses. */
	for (i = 0; i < 8; i++) {
		t_prep(&cb, fd, buf, 1, 0);
		if (aio_read(&cb) || t_wait(&cb, 5000) || aio_return(&cb) != 1)
			return 12;
		t_prep(&cb, fd, buf, BIG, (off_t)BIG * (i + 1));
		memset(buf, 'r', BIG);
		if (aio_write(&cb) || t_wait(&cb, 5000) ||
		    aio_return(&cb) != BIG)
			return 13;
	}
	if (fstat(fd, &st) || !(st.st_mode & S_ISUID))
		return 14;	/* root's writes keep the bit */
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 15;
	memset(buf, 'u', BIG);
	t_prep(&cb, fd, buf, BIG, (off_t)BIG * 10);
	if (aio_write(&cb) || t_wait(&cb, 5000) || aio_return(&cb) != BIG)
		return 16;
	if (fstat(fd, &st))
		return 17;
	return st.st_mode & S_ISUID ? 1 : 0;
}

START_TEST(creds_write_clears_setuid)
{
	int status;
	pid_t pid = t_fork();

	if (pid == 0)
		_exit(child());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) != 1,
		      "a write after setuid() ran with root's credentials");
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

Suite *creds_suite(void)
{
	Suite *s = suite_create("credentials");
	TCase *tc = t_tcase("setuid");

	if (geteuid() == 0)
		tcase_add_test(tc, creds_write_clears_setuid);
	else
		printf("SKIP: credentials: needs root to drop privileges\n");
	suite_add_tcase(s, tc);
	return s;
}
