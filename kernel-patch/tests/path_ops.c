/* SPDX-License-Identifier: GPL-2.0 */
/*
 * path_ops: IOCB_CMD_OPENAT, UNLINKAT (with and without AT_REMOVEDIR) and
 * RENAMEAT work, report errors in res, reject bad arguments at submit, and
 * copy their path arguments at submit (changing the user buffers after
 * io_submit() has no effect).
 */
#include <sys/syscall.h>
#include <linux/fs.h>
#include "kt.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

static int exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static void test_openat(aio_context_t ctx)
{
	char buf[16] = "";
	struct iocb cb;
	struct stat st;
	long long r;
	int dfd;
	char path[512];

	kt_write_file(kt_path("a"), "AAAA", 4, 0644);
	kt_write_file(kt_path("b"), "BBBB", 4, 0644);

	/* absolute path with AT_FDCWD */
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("a"), 0, O_RDONLY);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r >= 0, "OPENAT a: %lld", r);
	if (r >= 0) {
		KT_CHECK(read((int)r, buf, 4) == 4 && !memcmp(buf, "AAAA", 4),
			 "wrong file behind the returned fd");
		KT_CHECK(fcntl((int)r, F_GETFD) == 0, "fd flags");
		close((int)r);
	}

	/* relative to a dirfd, O_CREAT|O_EXCL|O_CLOEXEC with a mode */
	dfd = open(kt_scratch, O_RDONLY | O_DIRECTORY);
	KT_REQUIRE(dfd >= 0, "open scratch dir");
	umask(0);
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, dfd, "created", 0,
		(O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC) |
		((long long)0640 << 32));
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r >= 0, "OPENAT O_CREAT: %lld", r);
	if (r >= 0) {
		KT_CHECK(fcntl((int)r, F_GETFD) == FD_CLOEXEC, "O_CLOEXEC lost");
		KT_CHECK(fstat((int)r, &st) == 0 && (st.st_mode & 0777) == 0640,
			 "mode %o", (unsigned)(st.st_mode & 0777));
		close((int)r);
	}
	/* O_EXCL again: -EEXIST in res */
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == -EEXIST, "second O_EXCL create: %lld", r);

	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("missing"), 0,
		O_RDONLY);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == -ENOENT, "missing file: %lld", r);

	/* bad flags are refused by io_submit() */
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("a"), 0,
		O_RDONLY | ((long long)1 << 50));
	KT_CHECK(kt_submit1(ctx, &cb) == -EINVAL, "bits 48-63 accepted");
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, (void *)8, 0, O_RDONLY);
	KT_CHECK(kt_submit1(ctx, &cb) == -EFAULT, "bad path pointer");

	/* the path is copied at submit */
	snprintf(path, sizeof(path), "%s", kt_path("a"));
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, path, 0, O_RDONLY);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "submit");
	snprintf(path, sizeof(path), "%s", kt_path("b"));
	{
		struct io_event ev;

		KT_REQUIRE(kt_getevents(ctx, 1, 1, &ev, 5) == 1, "no event");
		KT_CHECK(ev.res >= 0, "res %lld", (long long)ev.res);
		if (ev.res >= 0) {
			memset(buf, 0, sizeof(buf));
			KT_CHECK(read((int)ev.res, buf, 4) == 4 &&
				 !memcmp(buf, "AAAA", 4),
				 "path was read after submit (got %.4s)", buf);
			close((int)ev.res);
		}
	}
	close(dfd);
}

static void test_unlinkat(aio_context_t ctx)
{
	struct iocb cb;
	long long r;

	kt_write_file(kt_path("victim"), "x", 1, 0644);
	kt_prep(&cb, KAIO_IOCB_CMD_UNLINKAT, AT_FDCWD, kt_path("victim"), 0, 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 0 && !exists(kt_path("victim")), "unlink: %lld", r);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == -ENOENT, "unlink again: %lld", r);

	KT_REQUIRE(mkdir(kt_path("dir"), 0755) == 0, "mkdir");
	kt_prep(&cb, KAIO_IOCB_CMD_UNLINKAT, AT_FDCWD, kt_path("dir"), 0, 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == -EISDIR, "unlink of a directory: %lld", r);
	kt_prep(&cb, KAIO_IOCB_CMD_UNLINKAT, AT_FDCWD, kt_path("dir"), 0,
		AT_REMOVEDIR);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 0 && !exists(kt_path("dir")), "AT_REMOVEDIR: %lld", r);

	kt_prep(&cb, KAIO_IOCB_CMD_UNLINKAT, AT_FDCWD, kt_path("a"), 0, 1);
	KT_CHECK(kt_submit1(ctx, &cb) == -EINVAL, "bad flags accepted");
}

static void test_renameat(aio_context_t ctx)
{
	struct kaio_renameat_info ri;
	struct iocb cb;
	long long r;
	char from[512], to[512];

	kt_write_file(kt_path("r1"), "1", 1, 0644);
	kt_write_file(kt_path("r2"), "2", 1, 0644);
	snprintf(from, sizeof(from), "%s", kt_path("r1"));
	snprintf(to, sizeof(to), "%s", kt_path("r3"));
	memset(&ri, 0, sizeof(ri));
	ri.olddirfd = AT_FDCWD;
	ri.newdirfd = AT_FDCWD;
	ri.oldpath = (unsigned long)from;
	ri.newpath = (unsigned long)to;
	kt_prep(&cb, KAIO_IOCB_CMD_RENAMEAT, 0, &ri, sizeof(ri), 0);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "submit");
	/* the block and the paths were copied at submit */
	snprintf(from, sizeof(from), "%s", kt_path("r2"));
	ri.newpath = (unsigned long)"/nonexistent/x";
	{
		struct io_event ev;

		KT_REQUIRE(kt_getevents(ctx, 1, 1, &ev, 5) == 1, "no event");
		KT_CHECK(ev.res == 0, "rename: %lld", (long long)ev.res);
	}
	KT_CHECK(!exists(kt_path("r1")) && exists(kt_path("r3")) &&
		 exists(kt_path("r2")), "rename used arguments changed after submit");

	/* RENAME_NOREPLACE onto an existing name */
	snprintf(from, sizeof(from), "%s", kt_path("r2"));
	ri.newpath = (unsigned long)to;
	ri.flags = RENAME_NOREPLACE;
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == -EEXIST, "RENAME_NOREPLACE: %lld", r);

	/* argument checks at submit */
	ri.flags = 0;
	kt_prep(&cb, KAIO_IOCB_CMD_RENAMEAT, 0, &ri, sizeof(ri) - 8, 0);
	KT_CHECK(kt_submit1(ctx, &cb) == -EINVAL, "wrong aio_nbytes accepted");
	kt_prep(&cb, KAIO_IOCB_CMD_RENAMEAT, 0, &ri, sizeof(ri), 1);
	KT_CHECK(kt_submit1(ctx, &cb) == -EINVAL, "aio_offset accepted");
	ri.flags = 1ULL << 40;
	kt_prep(&cb, KAIO_IOCB_CMD_RENAMEAT, 0, &ri, sizeof(ri), 0);
	KT_CHECK(kt_submit1(ctx, &cb) == -EINVAL, "64-bit flags accepted");
	ri.flags = 0;
	ri.olddirfd = 1LL << 40;
	KT_CHECK(kt_submit1(ctx, &cb) == -EINVAL, "64-bit dirfd accepted");
}

/*
 * Fields the new commands do not use must be zero: RWF_* flags, an I/O
 * priority (IOCB_FLAG_IOPRIO or aio_reqprio), and aio_nbytes for OPENAT
 * and UNLINKAT.
 */
static void test_unused_fields(aio_context_t ctx)
{
	static const int cmds[] = { KAIO_IOCB_CMD_OPENAT,
		KAIO_IOCB_CMD_UNLINKAT, KAIO_IOCB_CMD_RENAMEAT,
		KAIO_IOCB_CMD_READAHEAD };
	static const char *names[] = { "OPENAT", "UNLINKAT", "RENAMEAT",
		"READAHEAD" };
	struct kaio_renameat_info ri;
	struct iocb cb;
	int i, k, fd;

	kt_write_file(kt_path("u"), "u", 1, 0644);
	fd = open(kt_path("u"), O_RDONLY);
	KT_REQUIRE(fd >= 0, "open");
	memset(&ri, 0, sizeof(ri));
	ri.olddirfd = ri.newdirfd = AT_FDCWD;
	ri.oldpath = (unsigned long)kt_path("u");
	ri.newpath = (unsigned long)kt_path("u2");
	for (i = 0; i < 4; i++) {
		for (k = 0; k < 4; k++) {
			if (cmds[i] == KAIO_IOCB_CMD_RENAMEAT)
				kt_prep(&cb, cmds[i], -1, &ri, sizeof(ri), 0);
			else if (cmds[i] == KAIO_IOCB_CMD_READAHEAD)
				kt_prep(&cb, cmds[i], fd, NULL, 1, 0);
			else
				kt_prep(&cb, cmds[i], AT_FDCWD,
					kt_path("u-missing"), 0, 0);
			if (k == 0)
				cb.aio_rw_flags = 0x2;	/* RWF_DSYNC */
			else if (k == 1)
				cb.aio_reqprio = 1;
			else if (k == 2)
				cb.aio_flags = 2;	/* IOCB_FLAG_IOPRIO */
			else if (cmds[i] == KAIO_IOCB_CMD_OPENAT ||
				 cmds[i] == KAIO_IOCB_CMD_UNLINKAT)
				cb.aio_nbytes = 1;
			else
				continue;
			KT_CHECK(kt_submit1(ctx, &cb) == -EINVAL,
				 "%s with unused field %d set was accepted",
				 names[i], k);
		}
	}
	close(fd);
	KT_CHECK(access(kt_path("u"), F_OK) == 0, "a refused RENAMEAT ran");
}

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;

	kt_init(argc, argv, "path_ops");
	kt_sysctl_set(1);
	KT_REQUIRE(io_setup(16, &ctx) == 0, "io_setup");
	test_openat(ctx);
	test_unlinkat(ctx);
	test_renameat(ctx);
	test_unused_fields(ctx);
	io_destroy(ctx);
	kt_sysctl_set(0);
	return kt_done();
}
