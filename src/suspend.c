/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * suspend.c - aio_suspend() and the wait every waiter shares.
 *
 * Every completion publishes its result, bumps kaio__done_seq and, if
 * kaio__done_waiters is non-zero, wakes the futex.  A waiter reads the
 * sequence, checks its condition, and to sleep on the futex counts itself
 * in kaio__done_waiters (reap.c's futex_sleep()), then lets the futex
 * check that the sequence has not moved.  A sequentially consistent fence
 * on each side, between its write and its read (kaio-int.h), makes the
 * completer see the sleeper or the futex see the new sequence.  A waiter
 * that sleeps in a ring instead (reap.c) is not counted: only that ring's
 * completions, which the kernel delivers there, can end its wait.
 * One exception: a request completed in the caller, before aio_read() or
 * aio_write() returned, can be waited for only by a thread inside
 * aio_suspend(); such threads are counted (kaio__suspending) from before
 * their first look that may lead to a sleep, and while there are none
 * that completion skips the sequence and the wake-up (kaio-int.h).
 * aio_suspend() is async-signal-safe.
 *
 * aio_suspend() is a cancellation point, as in glibc: its sleep (a futex
 * wait, or io_uring's wait when this thread reaps the ring itself) runs
 * in async cancellation mode, and a cancelled waiter gives back what it
 * held.  glibc 2.36 sends SIGCANCEL only to a thread in async mode, so a
 * raw system call in deferred mode would never be interrupted.  Native
 * AIO's io_getevents() consumes events: a waiter cancelled there completes
 * what it was handed (backend-kaio.c).
 *
 * Locks: none; the state is the atomics below (a waiter that reaps takes
 * the reaper's lock, reap.c).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

#include "kaio-int.h"
#include "sys.h"

atomic_int kaio__done_seq;
atomic_int kaio__done_waiters;
struct kaio_pending_shard kaio__user_pending[KAIO_PENDING_SHARDS];
static atomic_int pending_next;
static __thread int tls_pshard __attribute__((tls_model("initial-exec")));

/* This thread's shard: taken in turn at its first request. */
int kaio__pending_shard(void)
{
	if (kaio_unlikely(!tls_pshard))
		tls_pshard = 1 + (int)((unsigned)atomic_fetch_add(
				&pending_next, 1) % KAIO_PENDING_SHARDS);
	return tls_pshard - 1;
}

/* Is any request counted?  (Each shard is >= 0: see kaio-int.h.) */
int kaio__pending_any(void)
{
	int i;

	for (i = 0; i < KAIO_PENDING_SHARDS; i++)
		if (atomic_load(&kaio__user_pending[i].n))
			return 1;
	return 0;
}

void kaio__pending_reset(void)
{
	int i;

	for (i = 0; i < KAIO_PENDING_SHARDS; i++)
		atomic_store(&kaio__user_pending[i].n, 0);
}
atomic_int kaio__strays;
atomic_int kaio__suspending;

/*
 * A waiter cancelled (its wait is a cancellation point): unwound, it
 * leaves the call's depth too (compat.c's wrapper never sees it return),
 * and the signals held back in the call come in now, before the thread
 * exits, as glibc's thread runs a handler of a signal pending before the
 * cancellation.  Left queued to this thread, they died with it (a
 * process-directed one too).
 */
static void suspend_cancelled(void *arg)
{
	volatile int *counted = arg;

	if (!*counted)		/* in a handler kaio__let_in() ran: out */
		return;
	atomic_fetch_sub(&kaio__suspending, 1);
	kaio__tls_depth--;
	kaio__call_leave();
}

/*
 * Absolute CLOCK_MONOTONIC deadline rel from now.  With rel NULL, a year
 * from now.  A wait ends in EINTR when a handler runs; whether the call
 * goes on is the caller's to decide (kaio__restartable()).
 */
void kaio__deadline(struct timespec *abs, const struct timespec *rel)
{
	const time_t year = 365 * 24 * 3600;
	time_t now;

	clock_gettime(CLOCK_MONOTONIC, abs);
	now = abs->tv_sec;
	if (!rel || rel->tv_sec >= year) {
		/* Forever, or so far ahead that it is the same: sleeping a
		 * year at a time never overflows, and is still woken. */
		abs->tv_sec += year;
		return;
	}
	/* A negative tv_sec is added too, as glibc adds it: the sum is
	 * past unless tv_nsec brings it back ({-1, 1500000000} is half a
	 * second ahead).  One before the clock's start is past (glibc's
	 * futex wait answers ETIMEDOUT for it). */
	if (rel->tv_sec < -now) {
		abs->tv_sec = 0;
		abs->tv_nsec = 0;
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
	return kaio__reaper_wait(seq, deadline, 0, NULL, 0);
}

static int cancel_enabled(void)
{
	int state;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	pthread_setcancelstate(state, NULL);
	return state == PTHREAD_CANCEL_ENABLE;
}

/*
 * Would a handler that just ended a wait of this thread have had its call
 * restarted?  glibc's untimed aio_suspend() and lio_listio(LIO_WAIT) sleep
 * in futex(2), which the kernel restarts after a handler installed with
 * SA_RESTART, so only a handler without it ends them with EINTR.  came:
 * the signals that ended the wait, held back by sigdefer.c
 * (kaio__let_in()); each must have a handler with SA_RESTART (one reset
 * to the default since, SA_RESETHAND, ends it).  0: which signal came is
 * not known here: the wait goes on only if every signal this thread
 * takes and catches has SA_RESTART, so no program that could see EINTR
 * under glibc misses it.  But for the fault signals: the kernel raises
 * them in the thread that faults, at the faulting instruction, never in
 * one asleep in a system call, so a crash handler (a sanitizer's,
 * Samba's) does not count.  Called only after an EINTR.
 */
static int fault_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
	       sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS;
}

int kaio__restartable(unsigned long long came)
{
	struct sigaction sa;
	sigset_t mask;
	int sig;

	for (sig = 1; came && sig <= 64; sig++) {
		if (!(came & (1ULL << (sig - 1))))
			continue;
		if (sigaction(sig, NULL, &sa) || sa.sa_handler == SIG_DFL ||
		    (sa.sa_handler != SIG_IGN && !(sa.sa_flags & SA_RESTART)))
			return 0;
		if (!(came &= ~(1ULL << (sig - 1))))
			return 1;
	}
	if (pthread_sigmask(SIG_SETMASK, NULL, &mask))
		return 0;
	for (sig = 1; sig < NSIG; sig++) {
		if (sigismember(&mask, sig) == 1 || fault_signal(sig) ||
		    sigaction(sig, NULL, &sa))
			continue;
		if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN &&
		    !(sa.sa_flags & SA_RESTART))
			return 0;
	}
	return 1;
}

/* This thread's own part of kaio__signalling (request.c). */
extern __thread int kaio__tls_signalling
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;

/*
 * aio_suspend() without a timeout, by a thread whose ring holds an fsync
 * leader that list[] waits for, or an fsync riding on it (fdmap.c): the
 * caller runs it, with fsync(2), as psync does, instead of entering it
 * and sleeping while an io-wq worker runs it.  That saves the worker's
 * wake-up and the completion's.  Measured with perf's sched and ext4
 * tracepoints, a round of fio --fsync=32 at iodepth 32 (about 1.3 ms):
 * 47 us from the fsync's end to fio running again (the reaper, then fio,
 * woken), 42 us from the enter to the worker starting the fsync.
 *
 * The caller would sleep until it ends anyway.  What differs is a signal
 * meanwhile: its handler runs when fsync(2) returns, and the call returns
 * 0, its request done, where glibc's may fail with EINTR (kaio_posix(7)).
 * A timeout cannot be kept by fsync(2): not then.  Nor in a handler that
 * interrupted the library, nor while another thread holds the ring's
 * role (one may sleep in the ring for the leader), nor when the list has
 * a request that could end the wait sooner (fdmap.c): the leader is
 * entered as before.  Cancellation waits too: the call disables it.
 * Before anything is entered (kaio__flush_deferred_suspend()).
 *
 * Only where signals are deferred, not masked (sigdefer.c): a mask would
 * hold back SIGINT and SIGTERM, which kill the process at once in glibc's
 * aio_suspend(), for as long as the fsync takes.  On the fd's own number,
 * which a close() or dup2() of it waits to take away (fdgen.c): closing a
 * duplicate would release the process's record locks on the file.  A
 * handler that interrupts the fsync may make it fail with EINTR (FUSE,
 * NFS): it is run again, as io-wq's worker, with signals blocked, would
 * have run it once.
 */
void kaio__suspend_run_held(const struct aiocb *const list[], int nent)
{
	struct kaio_cancel *cw = NULL;
	struct kaio_req *lead;
	struct kaio_window w;
	ssize_t res;
	int cs;

	if (kaio__tls_depth || kaio__tls_fs_held <= 0 || nent <= 0 || !list ||
	    !kaio__sigdefer_on() || kaio__any_done(list, nent))
		return;
	cs = kaio__call_begin();
	kaio__window_open(&w, 1);	/* its completion signals: at the end */
	lead = w.defer ? kaio__fd_take_held(kaio__tls_fs_held - 1, list, nent,
					    &cw) : NULL;
	if (lead) {
		if (cw)
			kaio__cancel_settle(cw, -EINPROGRESS);	/* runs on */
		do
			res = lead->op == KAIO_OP_FDSYNC ? fdatasync(lead->fd)
							 : fsync(lead->fd);
		while (res < 0 && errno == EINTR);
		res = res < 0 ? -errno : 0;
		kaio__fd_here_end(lead->f);
		kaio__served(lead, KAIO_SERVED_INLINE, KAIO_STAT_INLINE);
		kaio__complete(lead, res);
		kaio__req_free(lead);
	}
	kaio__window_close(&w);
	kaio__call_end(cs);
}

/*
 * A request found done may not have queued its signal yet (request.c):
 * wait until every such signal is out, as glibc's aio_suspend() does by
 * reading results under the lock its worker signals under.  Each round
 * is a system call, on whose return a signal for this thread is
 * delivered, and soon a sleep: the signaller may be of lower priority.
 * What this thread itself is signalling is not waited for: a handler
 * that interrupted its own completion would wait for itself.  Since a
 * completion inside an entry point holds every signal of the thread
 * until the entry point leaves (kaio__signals_hold()), and library
 * threads block them all, no known path runs a handler there; the check
 * stays, one TLS read, so that a path found later costs a signal's
 * order, not a thread stuck for ever.
 */
static void signals_out(void)
{
	unsigned n = 0;
	int own;

	atomic_signal_fence(memory_order_seq_cst);
	own = kaio__tls_signalling;
	while (atomic_load(&kaio__signalling) > own)
		sys_backoff(&n);
}

int kaio__aio_suspend(const struct aiocb *const list[], int nent,
		      const struct timespec *timeout)
{
	struct timespec dl;
	unsigned long long came = 0, held;
	int seq, cancel, forever, ran, ret = 0;
	volatile int counted = 1;

	if (nent < 0 || (nent > 0 && !list))
		return kaio__fail(EINVAL);
	if (kaio__any_done(list, nent)) {
		signals_out();
		return 0;
	}
	/* As glibc, only when there is a wait to time: the timeout is added
	 * to the clock's time, tv_nsec and all, and the sum's nanoseconds
	 * are brought into range once ({0, 1000000000} waits a second,
	 * {0, -1} about none: EAGAIN, {-1, 1500000000} half a second).
	 * A sum still out of range fails with EINVAL, where glibc's wait
	 * fails an assertion (certain for a tv_nsec of 2 s or more, or of
	 * -1 s or less, whose sum could also overflow). */
	if (timeout && (timeout->tv_nsec >= 2000000000L ||
			timeout->tv_nsec <= -1000000000L))
		return kaio__fail(EINVAL);
	kaio__deadline(&dl, timeout);
	if (dl.tv_nsec < 0 || dl.tv_nsec >= 1000000000)
		return kaio__fail(EINVAL);
	forever = !timeout || timeout->tv_sec >= 365 * 24 * 3600;
	cancel = cancel_enabled();
	/* Counted before the looks that may lead to a sleep (kaio-int.h). */
	kaio__sb_enter(&kaio__suspending);
	pthread_cleanup_push(suspend_cancelled, (void *)&counted);
	for (;;) {
		/* Kept signals a handler's mask held (sigdefer.c), which no
		 * wait ends for: come in if that handler let them go (it
		 * unblocked them, or jumped out), as they would have before
		 * this call in glibc: no EINTR.  (With one held back in this
		 * call too, the wait ends at once, with EINTR, below.) */
		if (kaio_unlikely(kaio__tls_sigwaiting) &&
		    !kaio__tls_sigdeferred) {
			counted = 0;
			atomic_fetch_sub(&kaio__suspending, 1);
			kaio__let_in(0, &came);
			kaio__sb_enter(&kaio__suspending);
			counted = 1;
		}
		seq = atomic_load(&kaio__done_seq);
		if (kaio__any_done(list, nent)) {
			ret = 0;
			break;
		}
		ret = kaio__reaper_wait(seq, &dl, cancel, list, nent);
		/* The signals held back in the wait, which they ended, come
		 * in with this call uncounted: a handler may jump out.  If
		 * every one of them waits behind a running handler's mask
		 * (none ran), the wait goes on. */
		came = 0;
		if (ret == -EINTR) {
			held = kaio__tls_sigdeferred;
			counted = 0;
			atomic_fetch_sub(&kaio__suspending, 1);
			ran = kaio__let_in(0, &came);
			kaio__sb_enter(&kaio__suspending);
			counted = 1;
			if (held && !ran)
				continue;
		}
		if (ret == -ETIMEDOUT && forever) {
			kaio__deadline(&dl, NULL);
			continue;
		}
		/* A handler that ran for a request this call waits for (its
		 * completion signal) ends the wait with success, not EINTR. */
		if (ret == -EINTR && kaio__any_done(list, nent))
			ret = 0;
		/* As glibc: only a timed wait ends in EINTR after SA_RESTART. */
		if (ret == -EINTR && !timeout && kaio__restartable(came))
			continue;
		if (ret)
			break;
	}
	pthread_cleanup_pop(0);
	atomic_fetch_sub(&kaio__suspending, 1);
	if (ret == -ETIMEDOUT)
		return kaio__fail(EAGAIN);
	if (ret)
		return kaio__fail(-ret);
	signals_out();
	return 0;
}
