/* SPDX-License-Identifier: GPL-2.0 */
/*
 * creds: threaded requests run with the submitter's credentials, even on a
 * worker created while the task was still root.  After setresuid(65534):
 * OPENAT of a root-only 0600 file gives -EACCES, UNLINKAT in a root-only
 * directory gives -EACCES, and a PWRITE to a 04777 file clears the setuid
 * bit (a root worker would keep it).  A request queued behind busy workers
 * runs with the identity of its submission, not the one the submitting
 * thread has when the request runs.
 */
#include "kt.h"

/* Only this thread changes its identity (raw syscalls); 0 stays saved. */
static void set_euid(uid_t uid)
{
	KT_REQUIRE(syscall(SYS_setresuid, uid, uid, 0) == 0, "setresuid %u",
		   (unsigned)uid);
}

/*
 * Submit OPENAT of the root-only file as @submit_uid while every unbound
 * worker is busy, become @run_uid, then let the request run; returns its
 * result.
 */
static long long queued_openat(aio_context_t ctx, uid_t submit_uid,
			       uid_t run_uid)
{
	static struct kt_blocker b;
	struct io_event ev[64];
	long long res = KT_NO_EVENT;
	struct iocb cb;
	int seen = 0, i;

	kt_block(ctx, &b);
	set_euid(submit_uid);
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("secret"), 0,
		O_RDONLY);
	KT_REQUIRE(kt_submit1(ctx, &cb) == 0, "OPENAT submit");
	set_euid(run_uid);
	kt_sleep_ms(20);
	kt_unblock(&b);
	while (seen < b.n + 1) {
		long n = kt_getevents(ctx, 1, 64, ev, 5);

		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			if (ev[i].obj == (unsigned long)&cb)
				res = ev[i].res;
			else if (kt_is_blocker(&b, &ev[i]))
				kt_blocker_done(&ev[i]);
		seen += n;
	}
	set_euid(0);
	kt_blocker_close(&b);
	return res;
}

static int child(void)
{
	aio_context_t ctx = 0;
	char buf[8];
	struct iocb cb;
	struct stat st;
	long long r;
	int fd, sfd;

	KT_REQUIRE(io_setup(16, &ctx) == 0, "io_setup");

	/* as root, make the worker exist */
	fd = open(kt_path("public"), O_RDONLY);
	KT_REQUIRE(fd >= 0, "open public");
	kt_prep(&cb, IOCB_CMD_PREAD, fd, buf, 4, 0);
	KT_REQUIRE(kt_run1(ctx, &cb, 5) == 4, "root PREAD");
	close(fd);
	/* and an unbound one (OPENAT is unbound work) */
	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("public"), 0,
		O_RDONLY);
	r = kt_run1(ctx, &cb, 5);
	KT_REQUIRE(r >= 0, "root OPENAT: %lld", r);
	close((int)r);
	KT_REQUIRE(kt_nthreads() >= 3, "want a bound and an unbound worker, "
		   "have %d threads", kt_nthreads());
	/*
	 * The credentials are the submitter's at submission, not at
	 * execution: a request queued behind busy workers runs with the
	 * identity it was submitted with, whatever the thread has become
	 * since then.
	 */
	r = queued_openat(ctx, 65534, 0);
	KT_CHECK(r == -EACCES, "OPENAT submitted as uid 65534, run after a "
		 "switch back to root: %lld", r);
	if (r >= 0)
		close((int)r);
	r = queued_openat(ctx, 0, 65534);
	KT_CHECK(r >= 0, "OPENAT submitted as root, run after a switch to "
		 "uid 65534: %lld", r);
	if (r >= 0)
		close((int)r);

	sfd = open(kt_path("suid"), O_WRONLY);
	KT_REQUIRE(sfd >= 0, "open suid");

	/* only this thread changes its credentials (raw syscalls) */
	KT_REQUIRE(syscall(SYS_setresgid, 65534, 65534, 65534) == 0 &&
		   syscall(SYS_setresuid, 65534, 65534, 65534) == 0,
		   "setresuid");
	KT_REQUIRE(open(kt_path("secret"), O_RDONLY) < 0 && errno == EACCES,
		   "control: open() of the secret file did not fail");

	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("secret"), 0,
		O_RDONLY);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == -EACCES, "OPENAT of a root-only file as uid 65534: %lld",
		 r);
	if (r >= 0)
		close((int)r);

	kt_prep(&cb, KAIO_IOCB_CMD_UNLINKAT, AT_FDCWD, kt_path("rootdir/f"), 0,
		0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == -EACCES, "UNLINKAT in a root-only dir: %lld", r);

	kt_prep(&cb, IOCB_CMD_PWRITE, sfd, "data", 4, 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 4, "PWRITE to the setuid file: %lld", r);
	KT_CHECK(fstat(sfd, &st) == 0 && !(st.st_mode & S_ISUID),
		 "setuid bit survived a write by uid 65534 (mode %o)",
		 (unsigned)st.st_mode);
	close(sfd);
	io_destroy(ctx);
	return kt_failed;
}

int main(int argc, char **argv)
{
	struct stat st;
	int status;
	pid_t pid;

	kt_init(argc, argv, "creds");
	kt_sysctl_set(1);
	KT_REQUIRE(chmod(kt_scratch, 0755) == 0, "chmod scratch");
	kt_write_file(kt_path("public"), "open", 4, 0644);
	kt_write_file(kt_path("secret"), "root", 4, 0600);
	kt_write_file(kt_path("suid"), "xxxx", 4, 04777);
	KT_REQUIRE(stat(kt_path("suid"), &st) == 0 && (st.st_mode & S_ISUID),
		   "cannot make a setuid file");
	KT_REQUIRE(mkdir(kt_path("rootdir"), 0755) == 0, "mkdir");
	kt_write_file(kt_path("rootdir/f"), "f", 1, 0666);

	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0)
		_exit(child());
	KT_REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid");
	KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "child failed (status %#x)", status);
	KT_CHECK(access(kt_path("rootdir/f"), F_OK) == 0,
		 "uid 65534 removed a file in a root-only directory");
	kt_sysctl_set(0);
	return kt_done();
}
