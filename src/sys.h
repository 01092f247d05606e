/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sys.h - raw system calls glibc does not wrap, as -errno returning
 * inlines.  They never change errno (a preloaded library must not disturb
 * its host program's errno on paths that succeed).
 */
#ifndef KAIO_SYS_H
#define KAIO_SYS_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static inline long sys_ret(long r, int saved)
{
	if (r < 0) {
		r = -errno;
		errno = saved;
	}
	return r;
}

/* Wait while *addr == val, until the absolute CLOCK_MONOTONIC deadline. */
static inline int sys_futex_wait(atomic_int *addr, int val,
				 const struct timespec *deadline)
{
	int saved = errno;

	return (int)sys_ret(syscall(SYS_futex, addr,
				    FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
				    val, deadline, NULL, FUTEX_BITSET_MATCH_ANY),
			    saved);
}

static inline int sys_futex_wake(atomic_int *addr, int n)
{
	int saved = errno;

	return (int)sys_ret(syscall(SYS_futex, addr,
				    FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n,
				    NULL, NULL, 0), saved);
}

/*
 * preadv2()/pwritev2() of one buffer: bytes or -errno.  glibc's wrappers
 * are cancellation points, which aio_read() and aio_write() must not be.
 */
static inline ssize_t sys_rwv2(int write, int fd, void *buf, size_t len,
			       off_t off, int flags)
{
	struct iovec iov = { buf, len };
	int saved = errno;

	return (ssize_t)sys_ret(syscall(write ? SYS_pwritev2 : SYS_preadv2,
					fd, &iov, 1, (unsigned long)off,
					(unsigned long)((uint64_t)off >> 32),
					flags), saved);
}

static inline int sys_sigqueueinfo(pid_t pid, int sig, siginfo_t *si)
{
	int saved = errno;

	return (int)sys_ret(syscall(SYS_rt_sigqueueinfo, pid, sig, si), saved);
}

static inline int sys_tgsigqueueinfo(pid_t pid, pid_t tid, int sig,
				     siginfo_t *si)
{
	int saved = errno;

	return (int)sys_ret(syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, si),
			    saved);
}

#endif /* KAIO_SYS_H */
