/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sysctl_gate: fs.aio-auto-threads exists, is 0644, defaults to 0, takes
 * only 0/1, only root with CAP_SYS_ADMIN can change it, and with it at 0 the new commands fail
 * io_submit() with -EINVAL (and work with it at 1).
 */
#include "kt.h"

static void check_gated(aio_context_t ctx, int on)
{
	const char *file = kt_path("gate-file");
	struct kaio_renameat_info ri;
	struct iocb cb;
	int fd = open(file, O_RDONLY);
	long long r;

	if (fd < 0) {	/* the run with the sysctl at 1 renamed it away */
		kt_write_file(file, "hello", 5, 0644);
		fd = open(file, O_RDONLY);
	}
	KT_REQUIRE(fd >= 0, "open %s", file);

	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, file, 0, O_RDONLY);
	r = on ? kt_run1(ctx, &cb, 5) : kt_submit1(ctx, &cb);
	if (on) {
		KT_CHECK(r >= 0, "OPENAT with sysctl 1: %lld", r);
		if (r >= 0)
			close((int)r);
	} else {
		KT_CHECK(r == -EINVAL, "OPENAT with sysctl 0: %lld", r);
	}

	kt_prep(&cb, KAIO_IOCB_CMD_READAHEAD, fd, NULL, 4096, 0);
	r = on ? kt_run1(ctx, &cb, 5) : kt_submit1(ctx, &cb);
	KT_CHECK(on ? r == 5 : r == -EINVAL, "READAHEAD with sysctl %d: %lld",
		 on, r);

	memset(&ri, 0, sizeof(ri));
	ri.olddirfd = AT_FDCWD;
	ri.newdirfd = AT_FDCWD;
	ri.oldpath = (unsigned long)file;
	ri.newpath = (unsigned long)kt_path("gate-file2");
	kt_prep(&cb, KAIO_IOCB_CMD_RENAMEAT, -1, &ri, sizeof(ri), 0);
	r = on ? kt_run1(ctx, &cb, 5) : kt_submit1(ctx, &cb);
	KT_CHECK(on ? r == 0 : r == -EINVAL, "RENAMEAT with sysctl %d: %lld",
		 on, r);

	kt_prep(&cb, KAIO_IOCB_CMD_UNLINKAT, AT_FDCWD,
		on ? kt_path("gate-file2") : file, 0, 0);
	r = on ? kt_run1(ctx, &cb, 5) : kt_submit1(ctx, &cb);
	KT_CHECK(on ? r == 0 : r == -EINVAL, "UNLINKAT with sysctl %d: %lld",
		 on, r);

	/* 11 stays unassigned */
	kt_prep(&cb, 11, fd, file, 0, 0);
	KT_CHECK(kt_submit1(ctx, &cb) == -EINVAL, "command 11 was accepted");
	close(fd);
}

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;
	struct stat st;
	pid_t pid;
	int status;

	kt_init(argc, argv, "sysctl_gate");

	KT_REQUIRE(stat(KAIO_AIO_AUTO_THREADS_PATH, &st) == 0,
		   "no %s: %s", KAIO_AIO_AUTO_THREADS_PATH, strerror(errno));
	KT_CHECK((st.st_mode & 07777) == 0644, "mode is %o",
		 (unsigned)(st.st_mode & 07777));
	KT_CHECK(st.st_uid == 0, "owner %u", (unsigned)st.st_uid);
	KT_CHECK(kt_sysctl_get() == 0, "default is %d, not 0", kt_sysctl_get());

	KT_CHECK(kt_sysctl_write("2") == -EINVAL, "2 was accepted");
	KT_CHECK(kt_sysctl_get() == 0, "value changed by a rejected write");

	/* an unprivileged user cannot switch it on */
	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		if (syscall(SYS_setresgid, 65534, 65534, 65534) ||
		    syscall(SYS_setresuid, 65534, 65534, 65534))
			_exit(2);
		_exit(kt_sysctl_write("1") == -EACCES ? 0 : 1);
	}
	KT_REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid");
	KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "uid 65534 could write the sysctl (status %#x)", status);
	KT_CHECK(kt_sysctl_get() == 0, "value changed by uid 65534");

	/* nor can root without CAP_SYS_ADMIN */
	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		struct { unsigned int version; int pid; } hdr = {
			0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
		struct { unsigned int eff, perm, inh; } data[2];

		if (syscall(SYS_capget, &hdr, data))
			_exit(2);
		data[0].eff &= ~(1U << 21);	/* CAP_SYS_ADMIN */
		data[0].perm &= ~(1U << 21);
		data[0].inh &= ~(1U << 21);
		if (syscall(SYS_capset, &hdr, data) || getuid() != 0)
			_exit(3);
		_exit(kt_sysctl_write("1") == -EPERM ? 0 : 1);
	}
	KT_REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid");
	KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "uid 0 without CAP_SYS_ADMIN could write the sysctl "
		 "(status %#x)", status);
	KT_CHECK(kt_sysctl_get() == 0, "value changed without CAP_SYS_ADMIN");

	kt_write_file(kt_path("gate-file"), "hello", 5, 0644);
	KT_REQUIRE(io_setup(16, &ctx) == 0, "io_setup: %s", strerror(errno));

	check_gated(ctx, 0);
	kt_sysctl_set(1);
	check_gated(ctx, 1);
	kt_sysctl_set(0);
	/* the gate is checked per submission, not per context */
	check_gated(ctx, 0);

	io_destroy(ctx);
	return kt_done();
}
