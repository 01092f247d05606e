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

#if defined(__x86_64__)
/*
 * The system call itself, -errno on failure: errno is neither read nor
 * written, and there is no call into libc's variadic syscall() (together
 * a few percent of a cached read done in the caller).
 */
static inline long sys_call6(long nr, long a1, long a2, long a3, long a4,
			     long a5, long a6)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10),
			   "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
static inline long sys_call6(long nr, long a1, long a2, long a3, long a4,
			     long a5, long a6)
{
	int saved = errno;
	long r = syscall(nr, a1, a2, a3, a4, a5, a6);

	if (r < 0) {
		r = -errno;
		errno = saved;
	}
	return r;
}
#endif

/*
 * Wait while *addr == val, until the absolute CLOCK_MONOTONIC deadline.
 * SYS_FUTEX_WAIT_ARGS is the system call's number and arguments, for a
 * caller that makes the call some other way (reap.c's park).
 */
#define SYS_FUTEX_WAIT_ARGS(addr, val, deadline)			\
	SYS_futex, (long)(addr), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,	\
	(val), (long)(deadline), 0, FUTEX_BITSET_MATCH_ANY

static inline int sys_futex_wait(atomic_int *addr, int val,
				 const struct timespec *deadline)
{
	return (int)sys_call6(SYS_FUTEX_WAIT_ARGS(addr, val, deadline));
}

static inline int sys_futex_wake(atomic_int *addr, int n)
{
	return (int)sys_call6(SYS_futex, (long)addr,
			      FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, 0, 0, 0);
}

/*
 * One round of a wait for another thread to leave a short window (a
 * signal being queued, a request changing backends): a yield, and after
 * KAIO_BACKOFF_YIELDS of them a sleep (20 us, then 50 us: the window is
 * short, and may open again at once).  A yield never lets a thread of
 * lower priority run, so a waiter of higher priority on the same CPU
 * would spin until real-time throttling stepped in (50 ms a second by
 * default; never if it is off); a sleep lets it.  Raw system calls: no
 * cancellation point, async-signal-safe.  *n counts the rounds, from 0.
 */
#define KAIO_BACKOFF_YIELDS	16

static inline void sys_backoff(unsigned *n)
{
	struct timespec ts = { 0, 0 };

	if (++*n <= KAIO_BACKOFF_YIELDS) {
		sys_call6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
		return;
	}
	ts.tv_nsec = *n <= 4 * KAIO_BACKOFF_YIELDS ? 20 * 1000 : 50 * 1000;
	sys_call6(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
}

/*
 * close(2) of an fd the library made for itself: not the library's own
 * close() (fdgen.c), which would enter every ring for a number no request
 * names, nor a cancellation point.
 */
static inline int sys_close(int fd)
{
	return (int)sys_call6(SYS_close, fd, 0, 0, 0, 0, 0);
}

/*
 * preadv2()/pwritev2() of one buffer: bytes or -errno.  glibc's wrappers
 * are cancellation points, which aio_read() and aio_write() must not be.
 */
static inline ssize_t sys_rwv2(int write, int fd, void *buf, size_t len,
			       off_t off, int flags)
{
	struct iovec iov = { buf, len };

	return (ssize_t)sys_call6(write ? SYS_pwritev2 : SYS_preadv2, fd,
				  (long)&iov, 1, (long)off,
				  (long)((uint64_t)off >> 32), flags);
}

static inline int sys_sigqueueinfo(pid_t pid, int sig, siginfo_t *si)
{
	return (int)sys_call6(SYS_rt_sigqueueinfo, pid, sig, (long)si, 0, 0,
			      0);
}

static inline int sys_tgsigqueueinfo(pid_t pid, pid_t tid, int sig,
				     siginfo_t *si)
{
	return (int)sys_call6(SYS_rt_tgsigqueueinfo, pid, tid, sig, (long)si,
			      0, 0);
}

#endif /* KAIO_SYS_H */
