/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Asynchronous path operations: kaio_openat/unlinkat/renameat/readahead. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kaio_aio_abi.h"
#include "kaio_posix.h"
#include "test-common.h"

static char dir[64];

static void mkscratch(void)
{
	strcpy(dir, "kaio-path-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rmscratch(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void prep_open(struct aiocb *cb, int dirfd, const char *path,
		      int flags, mode_t mode)
{
	t_prep(cb, dirfd, (void *)path, 0, (off_t)((uint64_t)mode << 32 |
						    (uint32_t)flags));
}

static ssize_t run(int (*fn)(struct aiocb *), struct aiocb *cb, int *err)
{
	ck_assert_int_eq(fn(cb), 0);
	*err = t_wait(cb, 5000);
	return aio_return(cb);
}

START_TEST(path_open_create_read)
{
	char path[128], buf[8];
	struct aiocb cb;
	struct stat st;
	ssize_t fd;
	int err, dfd;

	mkscratch();
	dfd = open(dir, O_DIRECTORY | O_RDONLY);
	/* The path buffer is overwritten right after submission. */
	strcpy(path, "new-file");
	prep_open(&cb, dfd, path, O_CREAT | O_RDWR | O_EXCL, 0640);
	ck_assert_int_eq(kaio_openat(&cb), 0);
	memset(path, 'z', 20);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	fd = aio_return(&cb);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write((int)fd, "hello", 5), 5);
	ck_assert_int_eq(fstatat(dfd, "new-file", &st, 0), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640 & ~umask(022));
	close((int)fd);
	/* O_EXCL again: EEXIST, reported through aio_error(). */
	prep_open(&cb, dfd, "new-file", O_CREAT | O_RDWR | O_EXCL, 0640);
	ck_assert_int_eq(run(kaio_openat, &cb, &err), -1);
	ck_assert_int_eq(err, EEXIST);
	/* AT_FDCWD and a relative path; then read what was written. */
	snprintf(path, sizeof(path), "%s/new-file", dir);
	prep_open(&cb, AT_FDCWD, path, O_RDONLY, 0);
	fd = run(kaio_openat, &cb, &err);
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(read((int)fd, buf, 8), 5);
	close((int)fd);
	close(dfd);
	rmscratch();
}
END_TEST

START_TEST(path_unlink_rename)
{
	struct kaio_renameat_info ri;
	struct aiocb cb;
	char sub[96];
	int dfd, err;

	mkscratch();
	dfd = open(dir, O_DIRECTORY | O_RDONLY);
	close(openat(dfd, "a", O_CREAT | O_WRONLY, 0600));
	close(openat(dfd, "b", O_CREAT | O_WRONLY, 0600));
	ck_assert_int_eq(mkdirat(dfd, "d", 0700), 0);
	/* renameat with RENAME_NOREPLACE onto an existing name. */
	memset(&ri, 0, sizeof(ri));
	ri.olddirfd = dfd;
	ri.oldpath = (uintptr_t)"a";
	ri.newdirfd = dfd;
	ri.newpath = (uintptr_t)"b";
	ri.flags = 1;	/* RENAME_NOREPLACE */
	t_prep(&cb, -1, &ri, sizeof(ri), 0);
	ck_assert_int_eq(run(kaio_renameat, &cb, &err), -1);
	ck_assert_int_eq(err, EEXIST);
	ri.newpath = (uintptr_t)"c";
	t_prep(&cb, -1, &ri, sizeof(ri), 0);
	ck_assert_int_eq(run(kaio_renameat, &cb, &err), 0);
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(faccessat(dfd, "c", F_OK, 0), 0);
	ck_assert_int_eq(faccessat(dfd, "a", F_OK, 0), -1);
	/* A bad size is refused at submission. */
	t_prep(&cb, -1, &ri, sizeof(ri) - 1, 0);
	ck_assert_int_eq(kaio_renameat(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* unlinkat: a file, a missing one, a directory with AT_REMOVEDIR. */
	t_prep(&cb, dfd, "c", 0, 0);
	ck_assert_int_eq(run(kaio_unlinkat, &cb, &err), 0);
	t_prep(&cb, dfd, "c", 0, 0);
	ck_assert_int_eq(run(kaio_unlinkat, &cb, &err), -1);
	ck_assert_int_eq(err, ENOENT);
	t_prep(&cb, dfd, "d", 0, 0);
	ck_assert_int_eq(run(kaio_unlinkat, &cb, &err), -1);
	ck_assert_int_eq(err, EISDIR);
	t_prep(&cb, dfd, "d", 0, AT_REMOVEDIR);
	ck_assert_int_eq(run(kaio_unlinkat, &cb, &err), 0);
	snprintf(sub, sizeof(sub), "%s/d", dir);
	ck_assert_int_eq(access(sub, F_OK), -1);
	t_prep(&cb, dfd, "b", 0, 12345);
	ck_assert_int_eq(kaio_unlinkat(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	close(dfd);
	rmscratch();
}
END_TEST

START_TEST(path_readahead_listio)
{
	struct aiocb cb[3], *l[3];
	int fd = t_tmpfile(1 << 20, 0), dfd, err;

	t_prep(&cb[0], fd, NULL, 1 << 20, 0);
	ck_assert_int_eq(run(kaio_readahead, &cb[0], &err), 0);
	ck_assert_int_eq(err, 0);
	mkscratch();
	dfd = open(dir, O_DIRECTORY | O_RDONLY);
	close(openat(dfd, "x", O_CREAT | O_WRONLY, 0600));
	prep_open(&cb[0], dfd, "x", O_RDONLY, 0);
	cb[0].aio_lio_opcode = LIO_KAIO_OPENAT;
	t_prep(&cb[1], dfd, "x", 0, 0);
	cb[1].aio_lio_opcode = LIO_KAIO_UNLINKAT;
	t_prep(&cb[2], fd, NULL, 4096, 0);
	cb[2].aio_lio_opcode = LIO_KAIO_READAHEAD;
	l[0] = &cb[0];
	l[1] = NULL;
	l[2] = &cb[2];
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, 3, NULL), 0);
	ck_assert_int_ge(aio_return(&cb[0]), 0);
	close((int)cb[0].__return_value);
	ck_assert_int_eq(aio_return(&cb[2]), 0);
	l[0] = &cb[1];
	ck_assert_int_eq(lio_listio(LIO_WAIT, l, 1, NULL), 0);
	ck_assert_int_eq(aio_return(&cb[1]), 0);
	close(dfd);
	close(fd);
	rmscratch();
}
END_TEST

/*
 * Credentials: a thread that switched its own fsuid (as Samba does, with
 * the per-thread system call) gets EACCES where that user would.
 */
START_TEST(path_thread_creds)
{
	struct aiocb cb;
	char path[128];
	ssize_t fd;
	int dfd, err;

	mkscratch();
	ck_assert_int_eq(chmod(dir, 0755), 0);
	dfd = open(dir, O_DIRECTORY | O_RDONLY);
	close(openat(dfd, "secret", O_CREAT | O_WRONLY, 0600));
	close(openat(dfd, "public", O_CREAT | O_WRONLY, 0644));
	fchmodat(dfd, "public", 0644, 0);
	snprintf(path, sizeof(path), "%s/secret", dir);
	/* Warm up every backend as root first. */
	prep_open(&cb, dfd, "secret", O_RDONLY, 0);
	fd = run(kaio_openat, &cb, &err);
	ck_assert_int_ge(fd, 0);
	close((int)fd);
	/* This thread only becomes nobody for file access. */
	syscall(SYS_setgroups, 0, NULL);
	syscall(SYS_setfsgid, 65534);
	syscall(SYS_setfsuid, 65534);
	prep_open(&cb, dfd, "secret", O_RDONLY, 0);
	ck_assert_int_eq(run(kaio_openat, &cb, &err), -1);
	ck_assert_int_eq(err, EACCES);
	prep_open(&cb, dfd, "public", O_RDONLY, 0);
	fd = run(kaio_openat, &cb, &err);
	ck_assert_int_eq(err, 0);
	close((int)fd);
	t_prep(&cb, dfd, "public", 0, 0);	/* no write access to dir */
	ck_assert_int_eq(run(kaio_unlinkat, &cb, &err), -1);
	ck_assert_int_eq(err, EACCES);
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
	close(dfd);
	rmscratch();
}
END_TEST

Suite *pathops_suite(void)
{
	Suite *s = suite_create("path operations");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, path_open_create_read);
	tcase_add_test(tc, path_unlink_rename);
	tcase_add_test(tc, path_readahead_listio);
	if (geteuid() == 0)
		tcase_add_test(tc, path_thread_creds);
	else
		printf("SKIP: path_thread_creds: needs root to switch fsuid\n");
	suite_add_tcase(s, tc);
	return s;
}

START_TEST(poll_pipe)
{
	struct aiocb cb;
	int p[2], r;

	t_pipe(p);
	t_prep(&cb, p[0], NULL, POLLIN, 0);
	ck_assert_int_eq(kaio_poll(&cb), 0);
	usleep(20000);
	ck_assert_int_eq(aio_error(&cb), EINPROGRESS);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_ne(aio_return(&cb) & POLLIN, 0);
	/* A waiting poll can be cancelled, or else completes once ready. */
	t_prep(&cb, p[1], NULL, POLLPRI, 0);
	ck_assert_int_eq(kaio_poll(&cb), 0);
	usleep(20000);
	r = aio_cancel(p[1], &cb);
	ck_assert(r == AIO_CANCELED || r == AIO_NOTCANCELED);
	if (r == AIO_CANCELED)
		ck_assert_int_eq(aio_error(&cb), ECANCELED);
	close(p[0]);	/* POLLERR ends a poll that was not cancelled */
	ck_assert_int_ne(t_wait(&cb, 5000), EINPROGRESS);
	aio_return(&cb);
	t_prep(&cb, p[1], NULL, 0x10000, 0);
	ck_assert_int_eq(kaio_poll(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	close(p[1]);
}
END_TEST

Suite *poll_suite(void)
{
	Suite *s = suite_create("kaio_poll");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, poll_pipe);
	suite_add_tcase(s, tc);
	return s;
}
