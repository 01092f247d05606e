/* SPDX-License-Identifier: GPL-2.0 */
/*
 * context: path operations run in the files table, root, cwd and mount
 * namespace the submitter has at submission, also when it changed them
 * after its workers were created.  Each case runs in a child that first
 * makes an idle worker (an OPENAT), then changes its context and submits
 * again; an io-wq that kept that worker would serve the request in the old
 * context:
 *   files    unshare(CLONE_FILES): the OPENAT fd is in the new table, and
 *            a dirfd number is looked up there; a pipe read queued before
 *            the unshare still completes with its data; the old idle
 *            worker exits at once, the busy one once its read is done
 *            (both well before the 5 s idle timeout)
 *   range    close_range(CLOSE_RANGE_UNSHARE): likewise
 *   cwd      unshare(CLONE_FS) + chdir(): a relative path follows the cwd
 *   mntns    unshare(CLONE_NEWNS) + a tmpfs mounted there: OPENAT creates
 *            the file in that mount; then chroot() + chdir("/"): absolute
 *            and relative paths resolve in the new root (OPENAT, UNLINKAT)
 *   setns    back to the first mount namespace with setns(): the file is
 *            created under the mount point, not in the other namespace's
 *            tmpfs
 *   exit     a thread queues a pipe read, unshares its files table,
 *            submits again and exits: the read, left on the old workers,
 *            is cancelled (-ECANCELED) like the thread's other requests
 */
#include "kt.h"
#include <sched.h>
#include <sys/mount.h>
#include <pthread.h>
#include <linux/close_range.h>

static int exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

/* OPENAT @path relative to @dfd with O_CREAT; returns res. */
static long long openat_create(aio_context_t ctx, int dfd, const char *path)
{
	struct iocb cb;

	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, dfd, path, 0,
		(O_CREAT | O_RDWR | O_CLOEXEC) | ((long long)0644 << 32));
	return kt_run1(ctx, &cb, 5);
}

/* An idle worker of this task that has the current context. */
static void make_worker(aio_context_t ctx, const char *leaf)
{
	long long r = openat_create(ctx, AT_FDCWD, kt_path(leaf));

	KT_REQUIRE(r >= 0, "OPENAT %s before the change: %lld", leaf, r);
	close((int)r);
	KT_REQUIRE(kt_nthreads() >= 2, "no worker thread");
}

/* Wait up to @secs for at most @n threads; returns the count. */
static int threads_at_most(int n, double secs)
{
	double end = kt_now() + secs;
	int t;

	while ((t = kt_nthreads()) > n && kt_now() < end)
		kt_sleep_ms(20);
	return t;
}

/* The fd @fd of this task's table is the file at @path. */
static void check_fd(long long fd, const char *path, const char *what)
{
	struct stat a, b;

	KT_CHECK(fd >= 0, "%s: OPENAT res %lld", what, fd);
	if (fd < 0)
		return;
	KT_CHECK(fcntl((int)fd, F_GETFD) == FD_CLOEXEC,
		 "%s: fd %lld is not in the current table (%s)", what, fd,
		 strerror(errno));
	KT_CHECK(stat(path, &a) == 0 && fstat((int)fd, &b) == 0 &&
		 a.st_ino == b.st_ino && a.st_dev == b.st_dev,
		 "%s: fd %lld is not %s", what, fd, path);
	close((int)fd);
}

static void case_files(aio_context_t ctx)
{
	struct io_event ev;
	struct iocb rd;
	char c = 0;
	int p[2], da, db;

	KT_REQUIRE(mkdir(kt_path("fa"), 0755) == 0 &&
		   mkdir(kt_path("fb"), 0755) == 0, "mkdir");
	/* a read that stays queued on a worker across the change */
	KT_REQUIRE(pipe(p) == 0, "pipe");
	kt_prep(&rd, IOCB_CMD_PREAD, p[0], &c, 1, 0);
	KT_REQUIRE(kt_submit1(ctx, &rd) == 0, "pipe read");
	make_worker(ctx, "f0");
	da = open(kt_path("fa"), O_RDONLY | O_DIRECTORY);
	KT_REQUIRE(da >= 0 && dup2(da, 100) == 100, "dirfd 100");

	KT_REQUIRE(unshare(CLONE_FILES) == 0, "unshare(CLONE_FILES): %s",
		   strerror(errno));
	check_fd(openat_create(ctx, AT_FDCWD, kt_path("f1")), kt_path("f1"),
		 "after unshare(CLONE_FILES)");
	/* us, the old worker blocked in the read, one new worker */
	KT_CHECK(threads_at_most(3, 2) <= 3,
		 "%d threads: the old idle worker did not exit", kt_nthreads());

	/* fd 100 is another directory in the new table only */
	db = open(kt_path("fb"), O_RDONLY | O_DIRECTORY);
	KT_REQUIRE(db >= 0 && dup2(db, 100) == 100, "dup2");
	check_fd(openat_create(ctx, 100, "r"), kt_path("fb/r"),
		 "dirfd after unshare(CLONE_FILES)");
	KT_CHECK(!exists(kt_path("fa/r")),
		 "dirfd 100 was looked up in the old table");

	/* the read queued before the change is served, not cancelled */
	KT_REQUIRE(write(p[1], "x", 1) == 1, "pipe write");
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 5) == 1, "no event for the read");
	KT_CHECK(ev.obj == (unsigned long)&rd && ev.res == 1 && c == 'x',
		 "queued read: res %lld, byte %c", (long long)ev.res, c);
	KT_CHECK(threads_at_most(2, 2) <= 2,
		 "%d threads: the old worker did not exit after its read",
		 kt_nthreads());
}

static void case_range(aio_context_t ctx)
{
	int i;

	make_worker(ctx, "g0");
	/* fds the old table keeps and the new one does not */
	for (i = 0; i < 4; i++)
		KT_REQUIRE(open(kt_path("g0"), O_RDONLY) >= 0, "open");
	KT_REQUIRE(syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_UNSHARE) == 0,
		   "close_range(CLOSE_RANGE_UNSHARE): %s", strerror(errno));
	check_fd(openat_create(ctx, AT_FDCWD, kt_path("g1")), kt_path("g1"),
		 "after close_range(CLOSE_RANGE_UNSHARE)");
}

static void case_cwd(aio_context_t ctx)
{
	KT_REQUIRE(mkdir(kt_path("cd"), 0755) == 0, "mkdir");
	KT_REQUIRE(chdir(kt_scratch) == 0, "chdir");
	make_worker(ctx, "c0");
	KT_REQUIRE(unshare(CLONE_FS) == 0, "unshare(CLONE_FS): %s",
		   strerror(errno));
	KT_REQUIRE(chdir(kt_path("cd")) == 0, "chdir");
	check_fd(openat_create(ctx, AT_FDCWD, "rel"), kt_path("cd/rel"),
		 "relative path after unshare(CLONE_FS) + chdir()");
	KT_CHECK(!exists(kt_path("rel")), "resolved in the old cwd");
}

static void case_mntns(aio_context_t ctx)
{
	struct iocb cb;
	long long r;

	KT_REQUIRE(mkdir(kt_path("m"), 0755) == 0 &&
		   mkdir(kt_path("root"), 0755) == 0, "mkdir");
	make_worker(ctx, "m0");
	KT_REQUIRE(unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS): %s",
		   strerror(errno));
	mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	KT_REQUIRE(mount("none", kt_path("m"), "tmpfs", 0, "size=1m") == 0,
		   "mount tmpfs: %s", strerror(errno));
	check_fd(openat_create(ctx, AT_FDCWD, kt_path("m/x")), kt_path("m/x"),
		 "path under a mount of the new mount namespace");

	KT_REQUIRE(chroot(kt_path("root")) == 0 && chdir("/") == 0,
		   "chroot: %s", strerror(errno));
	check_fd(openat_create(ctx, AT_FDCWD, "/abs"), "/abs",
		 "absolute path after chroot()");
	check_fd(openat_create(ctx, AT_FDCWD, "rel"), "/rel",
		 "relative path after chroot()");
	kt_prep(&cb, KAIO_IOCB_CMD_UNLINKAT, AT_FDCWD, "/abs", 0, 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 0 && !exists("/abs"), "UNLINKAT /abs after chroot: %lld",
		 r);
}

static void case_setns(aio_context_t ctx)
{
	int ns0;

	KT_REQUIRE(mkdir(kt_path("s"), 0755) == 0, "mkdir");
	ns0 = open("/proc/self/ns/mnt", O_RDONLY);
	if (ns0 < 0) {
		printf("context: setns: SKIP (/proc/self/ns/mnt: %s)\n",
		       strerror(errno));
		return;
	}
	KT_REQUIRE(unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS)");
	mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	KT_REQUIRE(mount("none", kt_path("s"), "tmpfs", 0, "size=1m") == 0,
		   "mount tmpfs: %s", strerror(errno));
	make_worker(ctx, "s/in-ns1");
	/* setns() into a mount namespace needs an fs_struct of our own */
	KT_REQUIRE(unshare(CLONE_FS) == 0, "unshare(CLONE_FS)");
	KT_REQUIRE(setns(ns0, CLONE_NEWNS) == 0, "setns: %s", strerror(errno));
	KT_REQUIRE(!exists(kt_path("s/in-ns1")), "setns: still in the new ns");
	check_fd(openat_create(ctx, AT_FDCWD, kt_path("s/y")), kt_path("s/y"),
		 "path under the other namespace's mount point after setns()");
}

struct exit_arg {
	aio_context_t ctx;
	struct iocb rd;
	int p[2];
	char c;
};

static void *exit_thread(void *data)
{
	struct exit_arg *a = data;

	make_worker(a->ctx, "e0");
	kt_prep(&a->rd, IOCB_CMD_PREAD, a->p[0], &a->c, 1, 0);
	KT_REQUIRE(kt_submit1(a->ctx, &a->rd) == 0, "pipe read");
	KT_REQUIRE(unshare(CLONE_FILES) == 0, "unshare(CLONE_FILES)");
	check_fd(openat_create(a->ctx, AT_FDCWD, kt_path("e1")),
		 kt_path("e1"), "thread: after unshare(CLONE_FILES)");
	return NULL;
}

static void case_exit(aio_context_t ctx)
{
	struct exit_arg a = { .ctx = ctx };
	struct io_event ev = { 0 };
	pthread_t t;
	double t0;

	KT_REQUIRE(pipe(a.p) == 0, "pipe");
	KT_REQUIRE(pthread_create(&t, NULL, exit_thread, &a) == 0, "thread");
	KT_REQUIRE(pthread_join(t, NULL) == 0, "join");
	t0 = kt_now();
	KT_CHECK(kt_getevents(ctx, 1, 1, &ev, 5) == 1 &&
		 ev.obj == (unsigned long)&a.rd && ev.res == -ECANCELED,
		 "read left on the old workers of an exited thread: res %lld",
		 (long long)ev.res);
	KT_CHECK(kt_now() - t0 < 2, "cancelled after %.1fs", kt_now() - t0);
	KT_CHECK(threads_at_most(1, 2) == 1, "%d threads left",
		 kt_nthreads());
}

static const struct {
	const char *name;
	void (*fn)(aio_context_t ctx);
} cases[] = {
	{ "files", case_files },
	{ "range", case_range },
	{ "cwd", case_cwd },
	{ "mntns", case_mntns },
	{ "setns", case_setns },
	{ "exit", case_exit },
};

int main(int argc, char **argv)
{
	unsigned int i;

	kt_init(argc, argv, "context");
	kt_sysctl_set(1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		aio_context_t ctx = 0;
		int status;
		pid_t pid = fork();

		KT_REQUIRE(pid >= 0, "fork");
		if (pid == 0) {
			kt_name = cases[i].name;
			KT_REQUIRE(io_setup(16, &ctx) == 0, "io_setup");
			cases[i].fn(ctx);
			_exit(kt_failed);
		}
		KT_REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid");
		KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			 "case %s failed (status 0x%x)", cases[i].name, status);
		printf("context: %s %s\n", cases[i].name,
		       WIFEXITED(status) && !WEXITSTATUS(status) ? "ok" :
		       "FAILED");
	}
	kt_sysctl_set(0);
	return kt_done();
}
