/* SPDX-License-Identifier: GPL-2.0 */
/*
 * write_hash: threaded buffered writes to one regular file run one at a
 * time on the workers (hashed per inode, as io_uring hashes its writes),
 * not concurrently and unordered.
 *
 * The file is on ext4 (the disk ubd1, 98:16, that run-tests formats and
 * attaches), frozen with FIFREEZE: a write on a worker then sleeps in
 * sb_start_write() until FITHAW, and io-wq starts another worker for the
 * next queued request each time one sleeps.  Eight PWRITEs of one file
 * must take at most two workers (one runs the inode's chain; a second may
 * wait for the hash), where unhashed writes take one each up to the
 * bound; eight PWRITEs of eight files must still take more than one.
 * After the thaw all complete, and the eight writes of one block of the
 * one file ran in submission order: the file holds the last one's data.
 */
#include "kt.h"
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>

#ifndef FIFREEZE
#define FIFREEZE _IOWR('X', 119, int)
#define FITHAW _IOWR('X', 120, int)
#endif

#define N 8
#define LEN 4096

static char buf[N][LEN];

/* Queue N writes (to one file or to N files) on a frozen fs; workers? */
static int frozen_round(const char *mnt, int same, int *order_ok)
{
	struct iocb cb[N], *list[N];
	struct io_event ev[N];
	aio_context_t ctx = 0;
	int fd[N], i, workers, dfd, got = 0, frozen;
	char path[600], rb[LEN];
	long r;

	KT_REQUIRE(io_setup(64, &ctx) == 0, "io_setup");
	for (i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "%s/%s%d", mnt,
			 same ? "one" : "many", same ? 0 : i);
		fd[i] = open(path, O_CREAT | O_RDWR, 0644);
		KT_REQUIRE(fd[i] >= 0, "open %s: %s", path, strerror(errno));
		memset(buf[i], 'a' + i, LEN);
		kt_prep(&cb[i], IOCB_CMD_PWRITE, fd[i], buf[i], LEN, 0);
		list[i] = &cb[i];
	}
	syncfs(fd[0]);
	KT_REQUIRE(kt_nthreads() == 1, "%d threads before the round",
		   kt_nthreads());

	dfd = open(mnt, O_RDONLY | O_DIRECTORY);
	KT_REQUIRE(dfd >= 0, "open %s", mnt);
	frozen = ioctl(dfd, FIFREEZE, 0) == 0;
	KT_REQUIRE(frozen, "FIFREEZE: %s", strerror(errno));

	/* from here on thaw before any KT_REQUIRE */
	r = io_submit(ctx, N, list);
	/* let io-wq start the workers it wants (task_work in getevents) */
	for (i = 0; i < 30 && got == 0; i++)
		got = kt_getevents(ctx, 1, N, ev, 0.01);
	workers = kt_nthreads() - 1;
	printf("%s: %d writes queued on the frozen fs: %d workers "
	       "(bound %d), %d events before the thaw\n",
	       same ? "one file" : "eight files", N, workers,
	       kt_worker_bound(), got);

	KT_CHECK(ioctl(dfd, FITHAW, 0) == 0, "FITHAW: %s", strerror(errno));
	close(dfd);
	KT_REQUIRE(r == N, "io_submit: %ld (%s)", r, strerror(errno));
	KT_CHECK(got == 0, "%d writes completed on a frozen fs", got);
	got += kt_getevents(ctx, N - got, N - got, ev + got, 10);
	KT_CHECK(got == N, "%d of %d events after the thaw", got, N);
	for (i = 0; i < got; i++)
		KT_CHECK(ev[i].res == LEN, "write res %lld",
			 (long long)ev[i].res);
	*order_ok = 1;
	if (same) {
		KT_REQUIRE(pread(fd[0], rb, LEN, 0) == LEN, "pread");
		*order_ok = !memcmp(rb, buf[N - 1], LEN);
		if (!*order_ok)
			printf("one file: block holds '%c', the last write "
			       "was '%c'\n", rb[0], buf[N - 1][0]);
	}
	for (i = 0; i < N; i++)
		close(fd[i]);
	io_destroy(ctx);
	return workers;
}

int main(int argc, char **argv)
{
	char dev[600], mnt[600];
	int one, many, order_ok, st = 0;
	pid_t pid;

	kt_init(argc, argv, "write_hash");
	if (!getenv("KCHECK_EXT4")) {
		/* run-tests attaches the ext4 disk under UML only */
		printf("write_hash: no ext4 disk (KCHECK_EXT4 unset): SKIP\n");
		return 0;
	}
	snprintf(dev, sizeof(dev), "%s", kt_path("ubdb"));
	snprintf(mnt, sizeof(mnt), "%s", kt_path("ext4"));
	KT_REQUIRE(mknod(dev, S_IFBLK | 0600, makedev(98, 16)) == 0,
		   "mknod: %s", strerror(errno));
	KT_REQUIRE(mkdir(mnt, 0755) == 0, "mkdir");
	KT_REQUIRE(mount(dev, mnt, "ext4", 0, NULL) == 0, "mount ext4: %s",
		   strerror(errno));
	kt_sysctl_set(1);

	/* each round in a child of its own, which starts with no worker */
	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		one = frozen_round(mnt, 1, &order_ok);
		KT_CHECK(one >= 1 && one <= 2,
			 "eight writes to one file took %d workers, want 1 or "
			 "2 (serialized per inode)", one);
		KT_CHECK(order_ok, "the writes to one file ran out of order");
		exit(kt_failed);
	}
	KT_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		 !WEXITSTATUS(st), "one file: child status %#x", st);

	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		kt_failed = 0;
		many = frozen_round(mnt, 0, &order_ok);
		KT_CHECK(many >= 2,
			 "eight writes to eight files took %d workers: the "
			 "freeze did not block them, or they were serialized",
			 many);
		exit(kt_failed);
	}
	KT_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		 !WEXITSTATUS(st), "eight files: child status %#x", st);

	kt_sysctl_set(0);
	KT_CHECK(umount(mnt) == 0, "umount: %s", strerror(errno));
	return kt_done();
}
