/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * eintr.c - no EINTR in the program's own waits that only a completion of
 * the library's caused.
 *
 * A request that an application thread enters into io_uring itself (its
 * ring, backend-uring.c) and that does not complete in io-wq (an O_DIRECT
 * read, a buffered read that waited for its page) completes through task
 * work that the kernel runs in that thread.  To run it the kernel wakes
 * the thread from whatever it sleeps in, as a signal would: a call that
 * is never restarted after a signal fails with EINTR, though no signal
 * came.  Measured: an epoll_wait() or sigtimedwait() entered after an
 * O_DIRECT aio_read() on a disk failed with EINTR 20 times out of 20;
 * under glibc, never.  A program that takes EINTR for a signal (a
 * sigtimedwait() loop that reads it as "a handler ran", a server that
 * leaves its loop) then acts on a signal that never came.
 *
 * io-wq does the same to start a worker for such a request (task work
 * again), with no completion at all: a mark of the completion queues
 * missed 8 of 10 such wake-ups (two O_DIRECT reads held in io-wq).
 *
 * So the calls whose EINTR a Samba-style server or a signal-waiting
 * thread sees are wrapped: epoll_wait(), epoll_pwait(), epoll_pwait2(),
 * sigtimedwait() and sigwaitinfo().  One that fails with EINTR is called
 * again, with what is left of its timeout, only if both of these hold:
 * - this thread had requests in io_uring that it entered itself when the
 *   call (or its last retry) began (kaio__uring_in_kernel());
 * - every handler of the program runs behind the library's
 *   (kaio__sigdefer_on(), sigdefer.c), and none ran in this thread
 *   during the call (kaio__tls_handled).
 * A signal with a handler thus always ends the call with EINTR, as
 * without the library.  What the last condition cannot see, and what a
 * retry may then hide while the thread has such requests: a handler
 * installed behind the library's names (a raw rt_sigaction()) or of a
 * fault signal sent with kill(), and a stop and SIGCONT (after which
 * Linux ends these calls with EINTR).  kaio_posix(7) lists them.  errno
 * is left as it was before the call when a retried call succeeds or
 * times out, as after one that never failed.
 *
 * Other calls that fail with EINTR rather than restart (measured: a
 * socket read with SO_RCVTIMEO and semtimedop(); io_getevents() too) are
 * not wrapped; poll(), select(), a pipe's read(), nanosleep() and
 * mq_timedreceive() restart by themselves (measured: poll() never failed).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kaio-int.h"

/* What a wrapped call looked at before it began. */
struct watch {
	int on;
	int saved;		/* errno before the call */
	unsigned long handled;
	struct timespec t0;	/* CLOCK_MONOTONIC, for a timed call */
};

/* Before the call and before each retry. */
static void watch_round(struct watch *w)
{
	w->on = kaio__sigdefer_on() && kaio__uring_in_kernel();
	w->handled = kaio__tls_handled;
	atomic_signal_fence(memory_order_seq_cst);
}

static void watch_begin(struct watch *w, int timed)
{
	w->saved = errno;
	watch_round(w);
	if (w->on && timed)
		clock_gettime(CLOCK_MONOTONIC, &w->t0);
}

/* The call failed with errno err: was it only task work?  Then w is
 * ready for the next round. */
static int spurious(struct watch *w, int err)
{
	if (!w->on || err != EINTR || !kaio__sigdefer_on())
		return 0;
	atomic_signal_fence(memory_order_seq_cst);
	if (kaio__tls_handled != w->handled)
		return 0;
	watch_round(w);		/* the timeout still counts from t0 */
	return 1;
}

/* A retried call's result: errno as before the call if it succeeded. */
static int done(const struct watch *w, int ret, int retried)
{
	if (retried && ret >= 0)
		errno = w->saved;
	return ret;
}

/*
 * What is left of a timeout of rel from w->t0 (rel itself: the call's
 * first, never a left-over): 0, or -1 if none is left.  Without a
 * conversion to nanoseconds, which overflowed for a timeout of more than
 * 292 years (LONG_MAX seconds: "for ever").
 */
static int left_ts(const struct watch *w, const struct timespec *rel,
		   struct timespec *left)
{
	struct timespec now, gone;

	clock_gettime(CLOCK_MONOTONIC, &now);
	gone.tv_sec = now.tv_sec - w->t0.tv_sec;
	gone.tv_nsec = now.tv_nsec - w->t0.tv_nsec;
	if (gone.tv_nsec < 0) {
		gone.tv_sec--;
		gone.tv_nsec += 1000000000L;
	}
	if (rel->tv_sec < gone.tv_sec ||
	    (rel->tv_sec == gone.tv_sec && rel->tv_nsec <= gone.tv_nsec))
		return -1;
	left->tv_sec = rel->tv_sec - gone.tv_sec;
	left->tv_nsec = rel->tv_nsec - gone.tv_nsec;
	if (left->tv_nsec < 0) {
		left->tv_sec--;
		left->tv_nsec += 1000000000L;
	}
	return 0;
}

/* The same for the call's timeout of ms milliseconds (> 0), rounded up. */
static int left_ms(const struct watch *w, int ms)
{
	struct timespec rel = { ms / 1000, (ms % 1000) * 1000000L }, left;

	if (left_ts(w, &rel, &left))
		return -1;
	return (int)(left.tv_sec * 1000 + (left.tv_nsec + 999999) / 1000000);
}

#define ENTRY(ret, name, params) \
	__attribute__((visibility("default"))) ret kaio_intr_##name params; \
	ret kaio_intr_##name params

typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);
typedef int (*epoll_pwait_fn)(int, struct epoll_event *, int, int,
			      const sigset_t *);
typedef int (*epoll_pwait2_fn)(int, struct epoll_event *, int,
			       const struct timespec *, const sigset_t *);
typedef int (*sigtimedwait_fn)(const sigset_t *, siginfo_t *,
			       const struct timespec *);

KAIO_REAL(epoll_wait_fn, epoll_wait, "GLIBC_2.3.2")
KAIO_REAL(epoll_pwait_fn, epoll_pwait, "GLIBC_2.6")
KAIO_REAL(epoll_pwait2_fn, epoll_pwait2, "GLIBC_2.35")
KAIO_REAL(sigtimedwait_fn, sigtimedwait, "GLIBC_2.2.5")

/* epoll_pwait(), and epoll_wait() (masked 0). */
static int pwait(int epfd, struct epoll_event *ev, int n, int ms,
		 const sigset_t *mask, int masked)
{
	epoll_pwait_fn pw = get_epoll_pwait();
	epoll_wait_fn w = get_epoll_wait();
	struct watch wt;
	int ret, left = ms, retried = 0;

	if (!pw || !w)
		return (int)syscall(SYS_epoll_pwait, epfd, ev, n, ms, mask,
				    _NSIG / 8);
	watch_begin(&wt, ms > 0);
	for (;; retried = 1) {
		ret = masked ? pw(epfd, ev, n, left, mask) : w(epfd, ev, n, left);
		if (ret >= 0 || !spurious(&wt, errno))
			return done(&wt, ret, retried);
		if (ms > 0 && (left = left_ms(&wt, ms)) < 0)
			return done(&wt, 0, 1);	/* timed out: no event */
	}
}

ENTRY(int, epoll_wait, (int epfd, struct epoll_event *ev, int n, int ms))
{
	return pwait(epfd, ev, n, ms, NULL, 0);
}

ENTRY(int, epoll_pwait, (int epfd, struct epoll_event *ev, int n, int ms,
			 const sigset_t *mask))
{
	return pwait(epfd, ev, n, ms, mask, 1);
}

ENTRY(int, epoll_pwait2, (int epfd, struct epoll_event *ev, int n,
			  const struct timespec *to, const sigset_t *mask))
{
	epoll_pwait2_fn fn = get_epoll_pwait2();
	struct timespec left;
	struct watch wt;
	int ret, retried = 0;

	if (!fn)
		return (int)syscall(SYS_epoll_pwait2, epfd, ev, n, to, mask,
				    _NSIG / 8);
	watch_begin(&wt, to != NULL);
	if (to)
		left = *to;
	for (;; retried = 1) {
		ret = fn(epfd, ev, n, to ? &left : NULL, mask);
		if (ret >= 0 || !spurious(&wt, errno))
			return done(&wt, ret, retried);
		if (to && (to->tv_sec || to->tv_nsec) &&
		    left_ts(&wt, to, &left))
			return done(&wt, 0, 1);	/* timed out: no event */
	}
}

ENTRY(int, sigtimedwait, (const sigset_t *set, siginfo_t *info,
			  const struct timespec *to))
{
	sigtimedwait_fn fn = get_sigtimedwait();
	struct timespec left;
	struct watch wt;
	int ret, retried = 0;

	if (!fn)
		return (int)syscall(SYS_rt_sigtimedwait, set, info, to,
				    _NSIG / 8);
	watch_begin(&wt, to != NULL);
	if (to)
		left = *to;
	for (;; retried = 1) {
		ret = fn(set, info, to ? &left : NULL);
		if (ret >= 0 || !spurious(&wt, errno))
			return done(&wt, ret, retried);
		if (to && (to->tv_sec || to->tv_nsec) &&
		    left_ts(&wt, to, &left)) {
			errno = EAGAIN;	/* timed out */
			return -1;
		}
	}
}

ENTRY(int, sigwaitinfo, (const sigset_t *set, siginfo_t *info))
{
	return kaio_intr_sigtimedwait(set, info, NULL);
}

/* name@@ver onto the wrapper called entry */
#define EXPORT(name, ver) \
	KAIO_ALIAS(kaio_intr_##name, kaio_intrv_##name); \
	KAIO_DEFSYMVER(kaio_intrv_##name, name, ver)

EXPORT(epoll_wait, GLIBC_2.3.2);
EXPORT(epoll_pwait, GLIBC_2.6);
EXPORT(epoll_pwait2, GLIBC_2.35);
EXPORT(sigtimedwait, GLIBC_2.2.5);
EXPORT(sigwaitinfo, GLIBC_2.2.5);
