/* SPDX-License-Identifier: GPL-2.0 */
/*
 * seccomp: a task under a seccomp filter cannot use the path operations.
 * The filter here denies openat(), unlinkat() and renameat2() (EPERM) and
 * allows everything else, io_submit() included: OPENAT, UNLINKAT and
 * RENAMEAT must then fail io_submit() with EPERM and do nothing, while
 * READAHEAD and buffered PREAD (no path lookup) still work.
 */
#include <stddef.h>
#include <sys/prctl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include "kt.h"

static int install_filter(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unlinkat, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_renameat2, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return -errno;
	return 0;
}

static int child(void)
{
	struct kaio_renameat_info ri;
	aio_context_t ctx = 0;
	char buf[8];
	struct iocb cb;
	long long r;
	int fd;

	fd = open(kt_path("f"), O_RDONLY);
	KT_REQUIRE(fd >= 0, "open");
	KT_REQUIRE(io_setup(16, &ctx) == 0, "io_setup");
	r = install_filter();
	if (r == -EINVAL || r == -ENOSYS) {
		/*
		 * no CONFIG_SECCOMP_FILTER (EINVAL), or no CONFIG_SECCOMP at
		 * all (ENOSYS): the qemu config has no NET
		 */
		printf("seccomp: filters not supported: SKIP\n");
		return 77;
	}
	KT_REQUIRE(r == 0, "seccomp filter: %lld", r);
	KT_REQUIRE(open(kt_path("f"), O_RDONLY) < 0 && errno == EPERM,
		   "control: the filter does not deny openat()");

	kt_prep(&cb, KAIO_IOCB_CMD_OPENAT, AT_FDCWD, kt_path("f"), 0,
		O_RDONLY);
	r = kt_submit1(ctx, &cb);
	KT_CHECK(r == -EPERM, "OPENAT under a seccomp filter: %lld", r);
	if (!r)
		kt_getevents(ctx, 1, 1, (struct io_event[1]){}, 5);

	kt_prep(&cb, KAIO_IOCB_CMD_UNLINKAT, AT_FDCWD, kt_path("f"), 0, 0);
	r = kt_submit1(ctx, &cb);
	KT_CHECK(r == -EPERM, "UNLINKAT under a seccomp filter: %lld", r);
	if (!r)
		kt_getevents(ctx, 1, 1, (struct io_event[1]){}, 5);

	memset(&ri, 0, sizeof(ri));
	ri.olddirfd = ri.newdirfd = AT_FDCWD;
	ri.oldpath = (unsigned long)kt_path("g");
	ri.newpath = (unsigned long)kt_path("g2");
	kt_prep(&cb, KAIO_IOCB_CMD_RENAMEAT, -1, &ri, sizeof(ri), 0);
	r = kt_submit1(ctx, &cb);
	KT_CHECK(r == -EPERM, "RENAMEAT under a seccomp filter: %lld", r);
	if (!r)
		kt_getevents(ctx, 1, 1, (struct io_event[1]){}, 5);

	/* no path lookup: still allowed */
	kt_prep(&cb, KAIO_IOCB_CMD_READAHEAD, fd, NULL, 4, 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 4, "READAHEAD under a seccomp filter: %lld", r);
	kt_prep(&cb, IOCB_CMD_PREAD, fd, buf, 4, 0);
	r = kt_run1(ctx, &cb, 5);
	KT_CHECK(r == 4 && !memcmp(buf, "data", 4),
		 "PREAD under a seccomp filter: %lld", r);
	close(fd);
	io_destroy(ctx);
	return kt_failed;
}

int main(int argc, char **argv)
{
	int status;
	pid_t pid;

	kt_init(argc, argv, "seccomp");
	kt_sysctl_set(1);
	kt_write_file(kt_path("f"), "data", 4, 0644);
	kt_write_file(kt_path("g"), "g", 1, 0644);
	pid = fork();
	KT_REQUIRE(pid >= 0, "fork");
	if (pid == 0)
		_exit(child());
	KT_REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		kt_sysctl_set(0);
		return 0;
	}
	KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "child failed (status %#x)", status);
	KT_CHECK(access(kt_path("f"), F_OK) == 0, "UNLINKAT ran");
	KT_CHECK(access(kt_path("g"), F_OK) == 0, "RENAMEAT ran");
	kt_sysctl_set(0);
	return kt_done();
}
