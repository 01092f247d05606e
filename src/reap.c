/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reap.c - who reaps a kernel backend's completions (native AIO's
 * io_getevents(), io_uring's completion queue).
 *
 * Each ring (native AIO's context, io_uring's shared ring, each of its
 * per-thread rings) has a reaper.  One thread at a time holds its role
 * (r->who): its background reaper thread, or an application thread
 * sleeping in aio_suspend() or lio_listio(LIO_WAIT) whose requests only
 * this ring can finish: every request aio_suspend() waits for carries
 * this reaper as its hint (kaio-int.h), or, for a wait without a list
 * (lio_listio(), aio_cancel()), kaio__user_pending == 0 and no other ring
 * has requests in flight.  A request without a hint may complete
 * anywhere, and wakes only the futex: whoever waits for it sleeps there.
 * Such a thread reaps for itself, so the kernel's wake-up reaches it
 * directly, with no second hop through the reaper.
 *
 * Lock order: a kaio_fd lock, then a backend's lock (kctx.lock, ur.lock),
 * then r->lock, innermost: nothing else is taken under it.
 *
 * Concurrency contract:
 * - r->lock protects r->bg_sleep, and r->started's change (it is read
 *   without), and pairs with r->rcond; the counters are atomics.  A
 *   backend may hold its own lock when it calls kaio__reaper_start() or
 *   kaio__reaper_submitted().
 * - The background reaper steps aside after each batch while an
 *   application thread wants the role (r->app_wants), waking it.  A thread
 *   that releases the role wakes the others that want it.
 * - While the application reaps (it did so in the last APP_GRACE_NS), the
 *   reaper sleeps with a timeout, so a submission need not wake it; once
 *   the application has not reaped for that long, it reaps what is left.
 *   Requests with a notification or in a list (r->urgent) are reaped at
 *   once.
 *
 * Signal handlers (aio_suspend() is async-signal-safe):
 * - An application thread blocks every signal while it wants or holds the
 *   role, except during its waits: the ring's wait gets the caller's mask
 *   (io_uring_enter's and io_pgetevents' sigmask), so a handler runs there
 *   only when the wait ends with EINTR, with nothing consumed; the futex
 *   sleep runs with the caller's mask.  Such a wait is a "park": no lock
 *   is held and the state is whole (kaio__tls_park).
 * - Where sigdefer.c holds the program's handlers back, none runs inside
 *   a call: a signal at a park ends the wait, and its handler runs once
 *   the call let go of the role (kaio__let_in()).  Else, or when the
 *   signal cannot be queued again: aio_suspend() from a handler that
 *   interrupted a park does what any waiter does; if its thread holds
 *   the role, it reaps with it.
 * - aio_suspend() from a handler that interrupted the library anywhere
 *   else (kaio__tls_depth > 1: a lock may be held) takes no lock and
 *   reaps nothing: it sleeps on the completion futex while the reaper
 *   works.  Its thread neither holds nor wants the role there.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "kaio-int.h"
#include "sys.h"

#define APP_GRACE_NS	10000000LL

enum { WHO_NONE, WHO_REAPER, WHO_APP };

static _Atomic(struct kaio_reaper *) reapers[KAIO_REAPER_SLOTS];

__thread int kaio__tls_depth __attribute__((tls_model("initial-exec")));
__thread int kaio__tls_libthread __attribute__((tls_model("initial-exec")));
__thread struct kaio_reaper *kaio__tls_reaping
	__attribute__((tls_model("initial-exec")));
/* This thread waits at a park (see above), and the role it holds. */
__thread int kaio__tls_park __attribute__((tls_model("initial-exec")));
static __thread struct kaio_reaper *tls_role
	__attribute__((tls_model("initial-exec")));

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Has the application reaped r lately, or polled it since the reaper's
 * last timed sleep ended (kaio__reaper_collect())? */
static int app_active(struct kaio_reaper *r)
{
	return atomic_load_explicit(&r->app_polled, memory_order_relaxed) ||
	       now_ns() - atomic_load(&r->app_reaped) < APP_GRACE_NS;
}

/* The application looked at r: one shared load, a store only when the
 * reaper has cleared the mark since. */
static void mark_polled(struct kaio_reaper *r)
{
	if (!atomic_load_explicit(&r->app_polled, memory_order_relaxed))
		atomic_store_explicit(&r->app_polled, 1, memory_order_relaxed);
}

static int reaper_turn(struct kaio_reaper *r)
{
	return atomic_load(&r->inflight_n) > 0 &&
	       atomic_load(&r->app_wants) == 0;
}

/* Sleep until the reaper should reap; called with r->lock held. */
static void reaper_wait_locked(struct kaio_reaper *r)
{
	struct timespec dl;
	int ret;

	for (;;) {
		if (reaper_turn(r) &&
		    (atomic_load(&r->urgent) || !app_active(r)))
			return;
		if (!atomic_load(&r->inflight_n) && !app_active(r)) {
			r->bg_sleep = 2;	/* untimed: must be signalled */
			pthread_cond_wait(&r->rcond, &r->lock);
			r->bg_sleep = 0;
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += APP_GRACE_NS;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
		r->bg_sleep = 1;
		ret = pthread_cond_timedwait(&r->rcond, &r->lock, &dl);
		r->bg_sleep = 0;
		/* Polled in the period: the application attends the ring
		 * (and reaps what it finds there): one more. */
		if (ret == ETIMEDOUT && atomic_load(&r->app_polled) &&
		    atomic_exchange(&r->app_polled, 0)) {
			atomic_store(&r->app_reaped, now_ns());
			continue;
		}
		/*
		 * Requests left unreaped for a whole grace period: reap.
		 * Not while the application reaps: the reaper would hold
		 * the role in its wait, and take every completion after it
		 * (a polling aio_error() finds the role taken, and then
		 * never reaps: the reaper stays).
		 */
		if (ret == ETIMEDOUT && reaper_turn(r) && !app_active(r))
			return;
	}
}

/* The reaper, too, wakes at least this often while requests are out. */
static const struct timespec reaper_slice = { 1, 0 };

static void *reaper(void *arg)
{
	struct kaio_reaper *r = arg;
	int none;
	long n;

	kaio__tls_libthread = 1;
	kaio__tls_reaping = r;
	for (;;) {
		pthread_mutex_lock(&r->lock);
		reaper_wait_locked(r);
		pthread_mutex_unlock(&r->lock);
		none = WHO_NONE;
		if (!atomic_compare_exchange_strong(&r->who, &none, WHO_REAPER))
			continue;	/* an application thread reaps */
		n = r->reap_batch(r, &reaper_slice, 0, NULL);
		atomic_store(&r->who, WHO_NONE);
		/* Sleepers that want the role must wake up to take it. */
		if (atomic_load(&r->app_wants))
			kaio__wake_waiters();
		if (n == -EPERM || n == -EACCES || n == -ENOSYS) {
			/*
			 * The wait is forbidden now: a seccomp filter came
			 * after the ring was made.  Completions still reach
			 * an io_uring CQ, and reap_batch() takes those it
			 * finds there without a system call: look every
			 * 10 ms.  Leaving, the reaper left them there, and
			 * what was in flight never completed.
			 */
			struct timespec dl;

			clock_gettime(CLOCK_REALTIME, &dl);	/* rcond's */
			dl.tv_nsec += 10 * 1000000L;
			if (dl.tv_nsec >= 1000000000L) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000L;
			}
			pthread_mutex_lock(&r->lock);
			pthread_cond_timedwait(&r->rcond, &r->lock, &dl);
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		if (n < 0 && n != -EINTR && n != -ETIME && n != -ETIMEDOUT)
			break;	/* the context is gone (a fork child's copy) */
	}
	return NULL;
}

/*
 * Enter async cancellation mode (if cancellation is enabled) around a
 * reaper's wait, for kaio__cancel_async_end(): the wait is then a
 * cancellation point (suspend.c).  The backends' reap_batch() uses it.
 */
int kaio__cancel_async_begin(void)
{
	int old = PTHREAD_CANCEL_DEFERRED;

	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
	return old;
}

void kaio__cancel_async_end(int old)
{
	pthread_setcanceltype(old, NULL);
}

/* Start the background reaper if it is not running; -errno on failure. */
int kaio__reaper_start(struct kaio_reaper *r)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t old;
	int ret = 0;

	if (atomic_load_explicit(&r->started, memory_order_acquire))
		return 0;		/* every list of cached reads asks */
	pthread_mutex_lock(&r->lock);
	if (atomic_load_explicit(&r->started, memory_order_relaxed))
		goto out;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	kaio__block_signals(&old);
	ret = -pthread_create(&t, &attr, reaper, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (!ret) {
		atomic_store(&reapers[r->slot], r);
		atomic_store_explicit(&r->started, 1, memory_order_release);
	}
out:
	pthread_mutex_unlock(&r->lock);
	return ret;
}

/*
 * n requests went into the kernel; urgent of them are notified.  They are
 * counted in the ring here, and the caller then takes each out of
 * kaio__user_pending (kaio__reaper_took()), still under the lock the
 * ring's reaper takes before it completes any: a request is always in one
 * count or the other (see sole_ring()).
 */
void kaio__reaper_submitted(struct kaio_reaper *r, int n, int urgent)
{
	int was, uwas = 1;

	if (urgent)
		uwas = atomic_fetch_add(&r->urgent, urgent);
	was = atomic_fetch_add(&r->inflight_n, n);
	/* The reaper sleeps if the ring was empty, or held only requests
	 * nobody waits for at once (it sleeps with a timeout then): the
	 * first urgent one wakes it. */
	if ((was != 0 && uwas != 0) || atomic_load(&r->app_wants))
		return;
	pthread_mutex_lock(&r->lock);
	if (urgent || r->bg_sleep == 2 || !app_active(r))
		pthread_cond_signal(&r->rcond);
	pthread_mutex_unlock(&r->lock);
}

void kaio__reaper_app_returns(struct kaio_reaper *r)
{
	mark_polled(r);
}

/* req, counted in its ring by kaio__reaper_submitted(), leaves the count
 * of requests outside the rings. */
void kaio__reaper_took(const struct kaio_req *req)
{
	kaio__pending_sub(req);
}

/*
 * Is req one whose completion someone waits for at once (r->urgent)?  Its
 * own notification, unless its completion queue hears of it from the
 * ring's eventfd (queue.c), or its list's: a LIO_WAIT caller's, or the
 * list's notification.
 */
int kaio__reaper_urgent(const struct kaio_req *req)
{
	const struct kaio_list *l = req->list;

	if (l && (l->wait || kaio__notifies(l->nt.notify, l->nt.signo)))
		return 1;
	return kaio__notifies(req->nt.notify, req->nt.signo) &&
	       !(req->flags & KAIO_RQ_EVFD);
}

/*
 * n requests left the kernel, urgent of them notified: their completions
 * are announced (the batch's wake-up is out, and the settling of any
 * aio_cancel() ticket they were on), or they went on to the pool (counted
 * in kaio__user_pending again).  Only then out of the ring's count: a
 * waiter that finds it empty must find the sequence moved.
 */
void kaio__reaper_retire(struct kaio_reaper *r, int n, int urgent)
{
	if (urgent)
		atomic_fetch_sub(&r->urgent, urgent);
	if (n)
		atomic_fetch_sub(&r->inflight_n, n);
}

/*
 * Let the reaper resume if nobody else will reap.  While the application
 * reaps (and nothing is urgent), a reaper in its timed sleep would only go
 * back to sleep: it is woken only from an untimed one.  (Waking it after
 * every aio_suspend() of a thread that leaves requests in flight cost two
 * futex calls per call, and the reaper's lock bounced between them.)
 */
static void hand_back(struct kaio_reaper *r)
{
	int quiet;

	if (atomic_load(&r->app_wants) || !atomic_load(&r->inflight_n))
		return;
	quiet = app_active(r) && !atomic_load(&r->urgent);
	pthread_mutex_lock(&r->lock);
	if (!quiet || r->bg_sleep == 2)
		pthread_cond_signal(&r->rcond);
	pthread_mutex_unlock(&r->lock);
}

/*
 * Sleep on the completion futex until the caller's deadline: one system
 * call, so a signal handler that runs meanwhile always ends it with EINTR
 * (sleeping in slices would leave windows where a handler runs between
 * them unnoticed).  With cancel, the sleep is a cancellation point.
 * Returns 0 (woken), -EINTR or -ETIMEDOUT.
 */
static void sleeper_gone(void *arg)
{
	(void)arg;
	atomic_fetch_sub(&kaio__done_waiters, 1);
}

static int futex_sleep(int seq, const struct timespec *deadline, int cancel,
		       int park)
{
	volatile int ret = 0;
	int old = 0;

	/* Counted only while on the futex (suspend.c): a completer makes no
	 * futex call while every waiter sleeps in a ring of its own. */
	kaio__waiter_enter();
	pthread_cleanup_push(sleeper_gone, NULL);
	if (cancel)
		old = kaio__cancel_async_begin();
	/* A park: where handlers are deferred (in a window, reap_claimed(),
	 * or in a call: sigdefer.c), one ends it, as in the wait of a call
	 * they are not, whatever its SA_RESTART. */
	if (park)
		ret = (int)kaio__park_call(&kaio__tls_sigdeferred,
					   SYS_FUTEX_WAIT_ARGS(&kaio__done_seq,
							       seq, deadline));
	else
		ret = sys_futex_wait(&kaio__done_seq, seq, deadline);
	if (cancel)
		kaio__cancel_async_end(old);
	pthread_cleanup_pop(1);
	return ret == -EAGAIN ? 0 : ret;
}

/*
 * A waiter cancelled in its sleep gives back what it held: its claim on
 * the role and, if it had it, the role itself.
 */
struct role_hold {
	struct kaio_reaper *r;
	volatile int held;	/* read by the cleanup of a cancelled thread */
	struct kaio_window w;	/* w.old: the caller's signal mask */
};

/* Give up wanting r's role, and the role itself if held. */
static void unwant(struct kaio_reaper *r, int held)
{
	int others;

	if (held)
		atomic_store(&r->who, WHO_NONE);
	others = atomic_fetch_sub(&r->app_wants, 1) > 1;
	/* Others who wanted the role sleep on the futex: let them retry. */
	if (held && others)
		kaio__wake_waiters();
	hand_back(r);
}

static void role_release(void *arg)
{
	struct role_hold *h = arg;

	if (h->held)
		tls_role = NULL;
	unwant(h->r, h->held);
	kaio__window_close(&h->w);
}

/*
 * Hold r's role for a moment, without waiting, if nobody has it: while a
 * thread holds it nobody sleeps in r's ring, so a request may leave the
 * ring in its hands, as in a reaper's (kaio__uring_take_held()); a waiter
 * that comes later finds it a stray.  In a window (every signal waits),
 * and not while this thread holds a role already.  1 if taken.
 */
int kaio__reaper_grab(struct kaio_reaper *r)
{
	int none = WHO_NONE;

	if (tls_role)
		return 0;
	/* Wanted meanwhile: the reaper stands back instead of spinning. */
	atomic_fetch_add(&r->app_wants, 1);
	if (atomic_compare_exchange_strong(&r->who, &none, WHO_APP))
		return 1;
	unwant(r, 0);
	return 0;
}

void kaio__reaper_ungrab(struct kaio_reaper *r)
{
	unwant(r, 1);
}

/*
 * This thread will sleep on the futex, not reap: a reaper that was
 * leaving completions to the application must not wait any longer.
 */
static void kick(struct kaio_reaper *r)
{
	int polled, reaped;

	polled = atomic_load(&r->app_polled) &&
		 atomic_exchange(&r->app_polled, 0);
	reaped = atomic_load(&r->app_reaped) &&
		 atomic_exchange(&r->app_reaped, 0);
	if ((!polled && !reaped) || !atomic_load(&r->inflight_n))
		return;
	pthread_mutex_lock(&r->lock);
	pthread_cond_signal(&r->rcond);
	pthread_mutex_unlock(&r->lock);
}

/*
 * The one reaper that can finish everything list[] waits for, by the
 * requests' hints; NULL if there is none, or no list.
 */
static struct kaio_reaper *reaper_of(const struct aiocb *const list[],
				     int nent)
{
	struct kaio_reaper *r = NULL, *h;
	int i;

	/* A stray's hint names a ring it left (kaio-int.h). */
	if (!list || atomic_load(&kaio__strays))
		return NULL;
	for (i = 0; i < nent; i++) {
		if (!list[i] || !kaio__cb_in_progress(list[i]))
			continue;
		h = kaio__cb_hint(list[i]);
		if (!h || (r && h != r))
			return NULL;
		r = h;
	}
	return r;
}

/*
 * The one ring that can finish everything outstanding, for a waiter
 * without a list; NULL if there is none.  Every accepted request not yet
 * announced is counted in kaio__user_pending or in its ring's inflight_n,
 * and moves between them counted in the new place before it leaves the
 * old (kaio__reaper_submitted(), kaio__backend_resubmit() before
 * kaio__reaper_retire()).  So the count outside the rings is read before
 * and after the rings': a request moving into a ring is seen by the first
 * read or in its ring, one moving out in its ring or by the second read.
 * A count drops only after the completion's announcement, so a caller
 * that then finds kaio__done_seq unmoved has nothing left to miss.
 */
static struct kaio_reaper *sole_ring(void)
{
	struct kaio_reaper *r = NULL, *ri;
	int i;

	if (kaio__pending_any())
		return NULL;
	for (i = 0; i < KAIO_REAPER_SLOTS; i++) {
		ri = atomic_load(&reapers[i]);
		if (!ri || !atomic_load(&ri->inflight_n))
			continue;
		if (r)
			return NULL;
		r = ri;
	}
	if (kaio__pending_any())
		return NULL;
	return r;
}

/* What a waiter waits for: a list (and its hints), or anything. */
struct wait_set {
	const struct aiocb *const *list;
	int nent;
};

/* reap_here() with the role's claim made: see there. */
static int reap_claimed(struct kaio_reaper *r, int seq,
			const struct timespec *deadline, int cancel,
			struct role_hold *hold, const struct wait_set *ws)
{
	struct timespec now, rel;
	int none = WHO_NONE;
	long n;

	if (tls_role == r) {
		/* A handler interrupted this thread's own wait with the
		 * role: the state is whole, reap with it. */
	} else if (!atomic_compare_exchange_strong(&r->who, &none, WHO_APP)) {
		/*
		 * The reaper holds the role: it yields after a batch.  This
		 * thread counts as reaping, so that the reaper then stands
		 * back and the next submission does not wake it to take the
		 * role again: else the application would never reap, and
		 * every completion would cost a hop through the reaper.
		 * The sleep is a park: the caller's signals come in.
		 */
		sigset_t all;
		int ret;

		atomic_store(&r->app_reaped, now_ns());
		if (hold->w.defer)	/* a park: see futex_sleep() */
			return futex_sleep(seq, deadline, cancel, 1);
		kaio__tls_masked = 0;
		pthread_sigmask(SIG_SETMASK, &hold->w.old, NULL);
		kaio__tls_park = 1;
		ret = futex_sleep(seq, deadline, cancel, 1);
		kaio__tls_park = 0;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, NULL);
		kaio__tls_masked = 1;
		return ret;
	} else {
		hold->held = 1;
		tls_role = r;
	}
	/*
	 * The role was free, but its last holder may have completed what
	 * this thread waits for after the caller looked (it bumps the
	 * sequence before it lets go), or moved a request to the pool: then
	 * nothing in the ring would wake this thread.  Look again: by the
	 * hints if the caller went by them (a request leaves the ring only
	 * in its reaper's hands, which are now this thread's), else by the
	 * counts (sole_ring()).  The counts first: a request leaves them
	 * only after its completion moved the sequence (kaio__complete(),
	 * kaio__reaper_retire()), so counts that show only this ring and
	 * then an unmoved sequence leave nothing elsewhere to announce.
	 */
	if (!atomic_load(&r->inflight_n) ||
	    (ws->list ? reaper_of(ws->list, ws->nent) != r
		      : sole_ring() != r) ||
	    atomic_load(&kaio__done_seq) != seq)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	rel.tv_sec = deadline->tv_sec - now.tv_sec;
	rel.tv_nsec = deadline->tv_nsec - now.tv_nsec;
	if (rel.tv_nsec < 0) {
		rel.tv_sec--;
		rel.tv_nsec += 1000000000;
	}
	if (rel.tv_sec < 0)
		rel.tv_sec = rel.tv_nsec = 0;
	if (hold->w.defer) {
		/* The wait is a park (sigdefer.c). */
		n = r->reap_batch(r, &rel, cancel, &kaio__park_mask);
	} else {
		/* A handler runs only if the wait ends in EINTR. */
		kaio__tls_park = 1;
		n = r->reap_batch(r, &rel, cancel, &hold->w.old);
		kaio__tls_park = 0;
	}
	if (n == -EPERM || n == -EACCES || n == -ENOSYS) {
		/* The wait is forbidden (see reaper()): the caller looks
		 * again in 10 ms, not at once, which spun a CPU. */
		struct timespec t = { 0, 10 * 1000000L };

		nanosleep(&t, NULL);
	}
	if (n > 0)
		atomic_store(&r->app_reaped, now_ns());
	if (n == -EINTR)
		return -EINTR;
	if (n <= 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline->tv_sec ||
		    (now.tv_sec == deadline->tv_sec &&
		     now.tv_nsec >= deadline->tv_nsec))
			return -ETIMEDOUT;
	}
	return 0;
}

/*
 * Did a handler run for a signal held back while this thread reaped?  The
 * signals the caller's mask old lets in come in now: pselect6() with no
 * descriptor, a zero timeout and that mask fails with EINTR only if one
 * of them ran a handler.  One that is ignored (SIG_IGN, or SIGCHLD's
 * default; queued only because it was blocked) or that another thread
 * took meanwhile restarts the call, which then returns 0.  sigpending()
 * counted those too (an outside tester: waits ended in EINTR with no
 * handler run).  The state is whole here, as in a wait: a handler's
 * aio_suspend() may reap with the role (kaio__tls_park).
 */
static int held_back(struct role_hold *h)
{
	const sigset_t *old = &h->w.old;
	int park = kaio__tls_park, ran;

	/* Deferred: they come in as the window closes (role_release()). */
	if (h->w.defer)
		return kaio__tls_sigdeferred != 0;
	kaio__tls_park = 1;
	kaio__tls_masked = 0;
	ran = kaio__signals_ran(old);
	kaio__tls_masked = 1;
	kaio__tls_park = park;
	return ran;
}

/*
 * Reap the one busy backend in this thread, if the role is free; else
 * sleep on the futex until its holder hands over.  0, -EINTR or
 * -ETIMEDOUT; the role is given back in every case, cancellation too.
 */
static int reap_here(struct kaio_reaper *r, int seq,
		     const struct timespec *deadline, int cancel,
		     const struct wait_set *ws)
{
	struct role_hold hold = { .r = r };
	volatile int ret = 0;

	/* Every signal waits while this thread wants or holds the role,
	 * but in its waits (see the top of the file): deferred (sigdefer.c)
	 * or blocked. */
	kaio__window_open(&hold.w, 0);
	atomic_fetch_add(&r->app_wants, 1);
	pthread_cleanup_push(role_release, &hold);
	ret = reap_claimed(r, seq, deadline, cancel, &hold, ws);
	/* A signal held back meanwhile is handled as this returns: EINTR,
	 * as if it had come during the wait, if it ran a handler.  Not
	 * looked for when the caller's wait is over anyway (a system call
	 * in every aio_suspend() that reaped its request here): the
	 * handler runs all the same as the mask is restored. */
	if (!ret && !(ws->list && kaio__any_done(ws->list, ws->nent)) &&
	    held_back(&hold))
		ret = -EINTR;
	pthread_cleanup_pop(1);
	return ret;
}

/*
 * Sleep until something completes: 0, -EINTR or -ETIMEDOUT.  Reaps in
 * this thread when one ring can finish what is outstanding: the ring of
 * every request of list[] (by their hints; list may be NULL), or the only
 * ring with requests in flight.  With cancel, the sleep is a cancellation
 * point.
 */
int kaio__reaper_wait(int seq, const struct timespec *deadline, int cancel,
		      const struct aiocb *const list[], int nent)
{
	struct kaio_reaper *r = NULL, *ri;
	struct wait_set ws = { NULL, 0 };
	int i, park = kaio__tls_park, ret;

	/* From a handler that interrupted the library: no lock, no reaping.
	 * In a window whose handlers are deferred, only one installed
	 * behind sigdefer.c's back runs here: windows mask from now on. */
	if (kaio__tls_depth > 1 && !park) {
		/* Nor a park: a handler caught in this sleep would find
		 * the interrupted window's state whole. */
		if (kaio__tls_defer)
			kaio__sigdefer_foreign();
		return futex_sleep(seq, deadline, cancel, 0);
	}
	kaio__tls_park = 0;

	r = reaper_of(list, nent);
	if (r && atomic_load(&r->inflight_n)) {
		ws.list = list;
		ws.nent = nent;
		ret = reap_here(r, seq, deadline, cancel, &ws);
		kaio__tls_park = park;
		return ret;
	}
	/*
	 * With a list, only the ring its hints name: a request of it in no
	 * ring (being submitted, completed in the caller, on the pool) or in
	 * another ring completes with a wake-up that reaches the futex, not
	 * this ring.  Without one, only a ring that can finish everything.
	 */
	if (!list && (r = sole_ring())) {
		ret = reap_here(r, seq, deadline, cancel, &ws);
		kaio__tls_park = park;
		return ret;
	}
	kaio__tls_park = 0;
	for (i = 0; i < KAIO_REAPER_SLOTS; i++) {
		ri = atomic_load(&reapers[i]);
		if (ri)
			kick(ri);
	}
	kaio__tls_park = 1;
	ret = futex_sleep(seq, deadline, cancel, 1);
	kaio__tls_park = park;
	return ret;
}

/*
 * lio_listio() enters a batch of reads into this thread's own ring, whose
 * enter completes those the page cache holds: the caller reaps them as
 * the call returns, as a read completed in the caller would be, instead
 * of a wake-up of the reaper thread per batch.  Begin before the batch is
 * submitted: this thread then wants the role, so the submission does not
 * wake the reaper (kaio__reaper_submitted()), and every signal waits, as
 * whenever an application thread wants or holds the role (top of the
 * file).  End after it: reap what is there, if the role is free, without
 * waiting; what is left (a read the kernel must fetch) is the reaper's.
 * Not from a handler that interrupted the library (the caller checks
 * kaio__tls_depth); never a cancellation point.
 */
void kaio__reaper_poll_begin(struct kaio_reaper *r, struct kaio_window *w)
{
	kaio__window_open(w, 1);
	atomic_fetch_add(&r->app_wants, 1);
}

void kaio__reaper_poll_end(struct kaio_reaper *r, struct kaio_window *w)
{
	static const struct timespec zero = { 0, 0 };
	int none = WHO_NONE, held, others;
	long n, all = 0;

	held = atomic_compare_exchange_strong(&r->who, &none, WHO_APP);
	if (held) {
		while ((n = r->reap_batch(r, &zero, 0, NULL)) > 0)
			all += n;
		if (all)
			atomic_store(&r->app_reaped, now_ns());
		atomic_store(&r->who, WHO_NONE);
	}
	others = atomic_fetch_sub(&r->app_wants, 1) > 1;
	if (held && others)
		kaio__wake_waiters();
	hand_back(r);
	kaio__window_close(w);
}

/*
 * A completion queue that r's ring signals (queue.c) is being reaped:
 * reap the ring too, if completions wait there, without waiting.  Its
 * application attends the ring, so its reaper sleeps (app_active()) and
 * the completion reaches the queue with no wake-up of another thread.
 * As kaio__reaper_poll_begin(): not from a handler that interrupted the
 * library, never a cancellation point.
 *
 * The look counts even when the reaper has already taken what was there,
 * as aio_error()'s does (kaio__reaper_collect()).  Counting only a look
 * that found requests in flight, a loop a little slower than the reaper
 * (preempted, say) never counted as attending the ring once the reaper
 * had reaped one read: the reaper then took every later one, and woke
 * two or three times per read for good.
 */
void kaio__reaper_poll(struct kaio_reaper *r)
{
	struct kaio_window w;

	mark_polled(r);
	if (atomic_load(&r->inflight_n))
		atomic_store(&r->app_reaped, now_ns());
	if (!r->ready(r))
		return;
	kaio__reaper_poll_begin(r, &w);
	kaio__reaper_poll_end(r, &w);
}

/*
 * aio_error() found a request of r's in progress (not from a handler that
 * interrupted the library): the application polls the ring, so its
 * reaper sleeps (app_active()); if completions wait there and nobody holds
 * the role, they are reaped here, without a wait.  1 if it looked.
 *
 * A polling program that left them to the reaper paid a wake-up of it per
 * completion, and once the reaper had the role, kept it: it reaped in its
 * wait in the kernel, and the program, finding the role taken, never
 * reaped, never counted as reaping, and the reaper was never told to stand
 * back (measured: 2-3 switches of the reaper per read under CPU load).
 * Marking the ring polled costs one shared load; the reap, the signal
 * window (kaio__window_open()), as kaio__reaper_poll().
 */
int kaio__reaper_collect(struct kaio_reaper *r)
{
	struct kaio_window w;
	int cs;

	mark_polled(r);
	if (!r->ready(r))
		return 0;
	cs = kaio__call_begin();
	kaio__reaper_poll_begin(r, &w);
	kaio__reaper_poll_end(r, &w);
	kaio__call_end(cs);
	return 1;
}

void kaio__reaper_reset(struct kaio_reaper *r)
{
	long (*fn)(struct kaio_reaper *, const struct timespec *, int,
		   const sigset_t *) = r->reap_batch;
	int (*ready)(struct kaio_reaper *) = r->ready;
	int slot = r->slot;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->rcond, NULL);
	r->reap_batch = fn;
	r->ready = ready;
	r->slot = slot;
	atomic_store(&reapers[slot], NULL);
}
