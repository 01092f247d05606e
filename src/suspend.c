/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * suspend.c - aio_suspend() and the wait every waiter shares.
 *
 * Every completion bumps kaio__done_seq after publishing its result, then
 * wakes the futex if kaio__done_waiters is non-zero.  A waiter counts
 * itself in kaio__done_waiters, reads the sequence, checks its condition,
 * and sleeps only if the sequence has not moved: with both sides using
 * sequentially consistent operations, either the completer sees the waiter
 * or the waiter sees the result.  aio_suspend() is async-signal-safe.
 */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "kaio-int.h"
#include "sys.h"

atomic_int kaio__done_seq;
atomic_int kaio__done_waiters;
atomic_int kaio__user_pending;

/*
 * Absolute CLOCK_MONOTONIC deadline rel from now.  With rel NULL, a year
 * from now: a wait with a timeout ends in EINTR when a handler runs, even
 * one installed with SA_RESTART, as aio_suspend() must.
 */
void kaio__deadline(struct timespec *abs, const struct timespec *rel)
{
	clock_gettime(CLOCK_MONOTONIC, abs);
	if (!rel) {
		abs->tv_sec += 365 * 24 * 3600;
		return;
	}
	abs->tv_sec += rel->tv_sec;
	abs->tv_nsec += rel->tv_nsec;
	if (abs->tv_nsec >= 1000000000) {
		abs->tv_sec++;
		abs->tv_nsec -= 1000000000;
	}
}

/*
 * Sleep while kaio__done_seq == seq: 0, -ETIMEDOUT or -EINTR.  When only
 * the kernel can finish what is outstanding, sleep in the kernel backend
 * instead, reaping in this thread.
 */
int kaio__wait_seq(int seq, const struct timespec *deadline)
{
	return kaio__reaper_wait(seq, deadline);
}

static int done(const struct aiocb *cb)
{
	if (cb->__policy != KAIO_MAGIC ||
	    cb->__abs_prio != atomic_load_explicit(&kaio__epoch,
						   memory_order_relaxed))
		return 1;	/* not an operation in progress here */
	return atomic_load_explicit((atomic_int *)&cb->__error_code,
				    memory_order_acquire) != EINPROGRESS;
}

static int any_done(const struct aiocb *const list[], int nent)
{
	int i;

	for (i = 0; i < nent; i++)
		if (list[i] && done(list[i]))
			return 1;
	return 0;
}

int kaio__aio_suspend(const struct aiocb *const list[], int nent,
		      const struct timespec *timeout)
{
	struct timespec dl;
	int seq, ret = 0;

	if (nent < 0 || (nent > 0 && !list))
		return kaio__fail(EINVAL);
	if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
			timeout->tv_nsec >= 1000000000))
		return kaio__fail(EINVAL);
	if (any_done(list, nent))
		return 0;
	kaio__deadline(&dl, timeout);
	atomic_fetch_add(&kaio__done_waiters, 1);
	for (;;) {
		seq = atomic_load(&kaio__done_seq);
		if (any_done(list, nent)) {
			ret = 0;
			break;
		}
		ret = kaio__wait_seq(seq, &dl);
		if (ret)
			break;
	}
	atomic_fetch_sub(&kaio__done_waiters, 1);
	if (ret == -ETIMEDOUT)
		return kaio__fail(EAGAIN);
	return ret ? kaio__fail(-ret) : 0;
}
