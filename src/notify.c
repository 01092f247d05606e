/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * notify.c - completion notifications for every sigevent kind.
 *
 * SIGEV_SIGNAL and SIGEV_THREAD_ID queue a signal with si_code SI_ASYNCIO,
 * si_pid, si_uid and the request's si_value; signal number 0 sends nothing.
 * A signal that cannot be queued (EAGAIN: RLIMIT_SIGPENDING) is counted;
 * it never changes the request's result.
 *
 * SIGEV_THREAD with sigev_notify_attributes runs the callback on a new
 * thread made with those attributes, as glibc does (on a notifier thread
 * if that one cannot be made).  Without attributes it runs on a notifier
 * thread: idle ones are reused, and a new one starts whenever none is
 * idle, so a callback that blocks (say, in aio_suspend()) never holds up
 * another.  Notifier threads block every signal but while a callback runs
 * (it runs with none blocked, as in glibc), and exit after the pool's
 * idle time.
 *
 * Nothing is allocated and no thread is needed at completion time, so a
 * notification is never lost there:
 * - kaio__notify_reserve() (at submission, from kaio__sigevent_check())
 *   makes sure the submitting thread holds a spare record, and for
 *   SIGEV_THREAD that a notifier thread exists: failing either, the
 *   submission fails with EAGAIN.
 * - kaio__notify_bind() (kaio__sigevent_copy()) gives that record to the
 *   request or list: a SIGEV_KAIO one is bound to its queue; a
 *   SIGEV_THREAD one counts in nt.pending, and while any is pending the
 *   last notifier thread does not exit.
 * - kaio__notify() hands the record on: to the queue, or to the notifier
 *   threads' job list; kaio__notify_release() frees one that will never
 *   be used (a request refused after all, or a quiet one).
 * A callback never runs in the completing thread (the submitter inside
 * aio_read(), a pool worker, a reaper): if no notifier is idle and no new
 * one can start, the job waits for a busy notifier to finish its callback,
 * and every later submission, completion and callback retries starting
 * one.  Each job is taken from the list once: exactly-once delivery.
 *
 * A callback may leave its thread with pthread_exit() (or be cancelled):
 * a cleanup handler gives the notifier slot back and starts a successor
 * if notifications are still to come; the last notifier's thread ends
 * only once a successor has started (callback_exited()).
 *
 * Lock order: nt.lock is innermost (a completion may come with a kaio_fd
 * lock held, fdmap.c); no other lock of the library is taken under it.
 *
 * Concurrency contract: nt.lock protects the job list and the counts; no
 * lock is held while a callback runs.  A fork child starts with no
 * notifier threads (kaio__notify_reset()).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kaio-int.h"
#include "sys.h"

static struct {
	pthread_mutex_t lock;
	/* Under lock. */
	pthread_cond_t cond;
	struct kaio_note *head, *tail;
	int nthreads, nidle, nqueued;
	int pending;		/* SIGEV_THREAD records bound, not yet taken */
	int reserving;		/* threads between a SIGEV_THREAD reservation
				 * and its binding (tls_reserved) */
} nt = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_once_t nt_once = PTHREAD_ONCE_INIT;

static void nt_init(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&nt.cond, &ca);
	pthread_condattr_destroy(&ca);
}

/*
 * The submitting thread's spare record, freed when the thread exits.
 * The key survives fork (a child keeps the forking thread's spare).
 */
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static pthread_key_t spare_key;
static int spare_ok;

/*
 * A thread between kaio__notify_reserve() and note_make() for a
 * SIGEV_THREAD request.  A submission refused in between leaves it set
 * until the thread's next binding or its exit (spare_free(): the spare
 * record is still there then), so nt.reserving counts each thread once.
 */
static __thread int tls_reserved;

static void unreserve_locked(void)
{
	if (tls_reserved) {
		tls_reserved = 0;
		if (nt.reserving > 0)	/* 0 in a fork child */
			nt.reserving--;
	}
}

static void spare_free(void *s)
{
	kaio__notify_unreserve();
	free(s);
}

static void spare_init(void)
{
	spare_ok = pthread_key_create(&spare_key, spare_free) == 0;
}

static struct kaio_note *spare_take(void)
{
	struct kaio_note *s = NULL;

	pthread_once(&spare_once, spare_init);
	if (spare_ok && (s = pthread_getspecific(spare_key)))
		pthread_setspecific(spare_key, NULL);
	return s ? s : malloc(sizeof(*s));
}

__thread int kaio__tls_sigheld __attribute__((tls_model("initial-exec")));
__thread int kaio__tls_masked __attribute__((tls_model("initial-exec")));
static __thread sigset_t tls_sigold __attribute__((tls_model("initial-exec")));
/* A completion signal was sent while kaio__tls_masked. */
static __thread int tls_sigwanted __attribute__((tls_model("initial-exec")));

/* See kaio-int.h. */
void kaio__signals_hold(void)
{
	sigset_t all;

	if (kaio__tls_masked)
		tls_sigwanted = 1;
	if (kaio__tls_depth <= 0 || kaio__tls_sigheld || kaio__tls_masked)
		return;
	sigfillset(&all);
	if (!pthread_sigmask(SIG_BLOCK, &all, &tls_sigold))
		kaio__tls_sigheld = kaio__tls_depth;
}

/*
 * Block every signal while this thread completes requests in an entry
 * point (kaio__tls_masked; *old: the mask before), until
 * kaio__signals_unmask(old): the signals come in then, or, if a
 * completion sent one meanwhile, as the entry point leaves, like any
 * completion signal of an entry point.
 */
void kaio__signals_mask(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
	kaio__tls_masked = 1;
	tls_sigwanted = 0;
}

void kaio__signals_unmask(const sigset_t *old)
{
	kaio__tls_masked = 0;
	if (tls_sigwanted && !kaio__tls_sigheld && kaio__tls_depth > 0) {
		tls_sigwanted = 0;
		tls_sigold = *old;
		kaio__tls_sigheld = kaio__tls_depth;
		return;
	}
	tls_sigwanted = 0;
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/*
 * A window (kaio-int.h): handlers deferred where sigdefer.c can, else
 * every signal blocked (kaio__signals_mask()).  A window opened inside
 * another leaves what is held back to the outer one.
 */
void kaio__window_open(struct kaio_window *w, int hold)
{
	w->hold = hold;
	w->defer = kaio__sigdefer_on();
	if (!w->defer) {
		kaio__signals_mask(&w->old);
		return;
	}
	w->prev = kaio__tls_defer;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	kaio__tls_defer = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (!w->prev) {
		kaio__tls_masked = 1;	/* no completion signal held apart */
		tls_sigwanted = 0;
	}
}

/*
 * What the window held back comes in now; or, in a window that holds them
 * (w->hold: a poll, reap.c), if this thread sent a completion signal
 * meanwhile, as the entry point leaves, as kaio__signals_unmask() lets it
 * in.  A wait's window (aio_suspend(), lio_listio(LIO_WAIT)) does not: the
 * wait may go on, and must end with EINTR for a signal, as glibc's does.
 */
void kaio__window_close(struct kaio_window *w)
{
	unsigned long long bits, kept;
	sigset_t all, cur;
	unsigned long m;

	if (!w->defer) {
		if (w->hold) {
			kaio__signals_unmask(&w->old);
			return;
		}
		kaio__tls_masked = 0;
		pthread_sigmask(SIG_SETMASK, &w->old, NULL);
		return;
	}
	if (w->prev) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		kaio__tls_defer = w->prev;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		return;
	}
	if (w->hold && tls_sigwanted && !kaio__tls_sigheld &&
	    kaio__tls_depth > 0) {
		/* Blocked before the window ends: none runs in between. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &cur);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		kaio__tls_defer = 0;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		bits = __atomic_exchange_n(&kaio__tls_sigdeferred, 0,
					   __ATOMIC_RELAXED);
		/* A kept one has no copy to let in: the call runs it. */
		kept = bits & kaio__sigdefer_kept();
		if (kept) {
			__atomic_fetch_or(&kaio__tls_sigdeferred, kept,
					  __ATOMIC_RELAXED);
			bits &= ~kept;
		}
		memcpy(&m, &cur, sizeof(m));
		m &= ~(unsigned long)bits;
		memcpy(&cur, &m, sizeof(m));
		tls_sigold = cur;
		kaio__tls_sigheld = kaio__tls_depth;
	} else {
		/* Out of the window before any handler runs: their own
		 * completion signals are held as anywhere else.  Inside a
		 * call, what was held back waits for the call to let it in
		 * (kaio__let_in(), kaio__call_leave()). */
		kaio__tls_masked = 0;
		tls_sigwanted = 0;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		kaio__tls_defer = 0;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (!kaio__tls_depth)
			kaio__sigdefer_let_go();
		return;
	}
	kaio__tls_masked = 0;
	tls_sigwanted = 0;
}

/*
 * A handler caught at a window's park (sigdefer.c) finds the state whole
 * and runs as outside any window: its completion signals are held to its
 * own entry point's exit, and the window's flags are back as it returns.
 */
void kaio__park_enter(struct kaio_parked *p)
{
	p->defer = kaio__tls_defer;
	p->park = kaio__tls_park;
	p->masked = kaio__tls_masked;
	p->wanted = tls_sigwanted;
	p->deferred = 0;
	kaio__tls_masked = 0;
	tls_sigwanted = 0;
	kaio__tls_park = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	kaio__tls_defer = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void kaio__park_leave(const struct kaio_parked *p)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	kaio__tls_defer = p->defer;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	kaio__tls_park = p->park;
	kaio__tls_masked = p->masked;
	tls_sigwanted = p->wanted;
	__atomic_fetch_or(&kaio__tls_sigdeferred, p->deferred,
			  __ATOMIC_RELAXED);
}

/*
 * Let in the signals the mask old lets in, which this thread blocks now:
 * did one of them run a handler?  pselect6() with no descriptor, a zero
 * timeout and that mask fails with EINTR only if one did.  One that is
 * ignored (SIG_IGN, or SIGCHLD's default; queued only because it was
 * blocked) or that another thread took meanwhile restarts the call, which
 * then returns 0 (sigpending() would count those too).  The caller's mask
 * is left as it was.
 */
int kaio__signals_ran(const sigset_t *old)
{
	const struct timespec zero = { 0, 0 };
	/* pselect6()'s last argument: the kernel's sigset_t and its size. */
	const struct {
		const sigset_t *set;
		size_t size;
	} mask = { old, 8 };
	int saved = errno;
	long ret;

	ret = syscall(SYS_pselect6, 0, NULL, NULL, NULL, &zero, &mask);
	if (ret < 0 && errno == EINTR)
		return 1;
	errno = saved;
	return 0;
}

/* An entry point leaves the depth signals were held at: they come in. */
void kaio__signals_release(void)
{
	kaio__tls_sigheld = 0;
	pthread_sigmask(SIG_SETMASK, &tls_sigold, NULL);
}

/* This thread's cancellation state as its outermost call began. */
__thread int kaio__tls_callcs __attribute__((tls_model("initial-exec")));

/*
 * A call about to wait, or to wait again (aio_suspend(), lio_listio()
 * with LIO_WAIT), at a point where it holds nothing of the library: the
 * handlers of the signals held back in it so far run now, as outside
 * the call (one depth lower; with the caller's cancellation state if
 * cs).  A handler that never returns (siglongjmp()) then leaves the
 * library as if the call had returned.  Run there, not as the call
 * returns, because the wait must end with EINTR for them, or go on
 * after them (SA_RESTART, kaio__restartable()).  Returns whether one
 * ran (a signal held back counts: its handler ran, or another thread
 * took it); *came: the signals held back, if no other handler ran (0:
 * not known).
 */
int kaio__let_in(int cs, unsigned long long *came)
{
	int depth = kaio__tls_depth, ran = 0, old;
	unsigned long long bits;

	*came = 0;
	if (!(kaio__tls_sigdeferred | kaio__tls_sigwaiting) &&
	    (!kaio__tls_sigheld || kaio__tls_sigheld != depth))
		return 0;
	if (cs)
		pthread_setcancelstate(kaio__tls_callcs, &old);
	atomic_signal_fence(memory_order_seq_cst);
	kaio__tls_depth = depth - 1;
	atomic_signal_fence(memory_order_seq_cst);
	if (kaio__tls_sigheld == depth) {
		kaio__tls_sigheld = 0;
		ran = kaio__signals_ran(&tls_sigold);
		pthread_sigmask(SIG_SETMASK, &tls_sigold, NULL);
	}
	if (kaio__tls_sigdeferred | kaio__tls_sigwaiting) {
		/* None ran if every one waits behind a running handler's
		 * mask (sigdefer.c): no EINTR for them.  Nor for those that
		 * waited so only, held before this wait: in glibc they ran
		 * before it (the handler that held them returned, or
		 * unblocked them, or jumped out). */
		bits = kaio__tls_sigdeferred;
		if (kaio__sigdefer_let_go() && bits) {
			if (!ran)
				*came = bits;
			ran = 1;
		}
	}
	atomic_signal_fence(memory_order_seq_cst);
	kaio__tls_depth = depth;
	atomic_signal_fence(memory_order_seq_cst);
	if (cs)
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	return ran;
}

static void send_signal(const struct kaio_notify *n)
{
	siginfo_t si;
	int ret;

	if (n->signo == 0)
		return;
	/* One this thread may take: not inside the library (a handler that
	 * jumped out of aio_read() left a count of signals being sent up, on
	 * which every other thread's aio_suspend() then waited for ever). */
	if (n->notify == SIGEV_SIGNAL || n->tid == kaio__tid())
		kaio__signals_hold();
	memset(&si, 0, sizeof(si));
	si.si_signo = n->signo;
	si.si_code = SI_ASYNCIO;
	si.si_pid = kaio__pid;
	si.si_uid = getuid();
	si.si_value = n->value;
	if (n->notify == SIGEV_SIGNAL) {
		ret = sys_sigqueueinfo(kaio__pid, n->signo, &si);
		kaio__count(ret ? KAIO_STAT_NOTIFY_FAILED : KAIO_STAT_NOTIFY_SIGNAL);
	} else {
		ret = sys_tgsigqueueinfo(kaio__pid, n->tid, n->signo, &si);
		kaio__count(ret ? KAIO_STAT_NOTIFY_FAILED
				: KAIO_STAT_NOTIFY_THREAD_ID);
	}
}

static int start_thread(pthread_attr_t *user, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr, *a = user;
	pthread_t t;
	sigset_t old;
	int ret;

	if (!a) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		a = &attr;
	}
	kaio__block_signals(&old);
	ret = pthread_create(&t, a, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (a == &attr)
		pthread_attr_destroy(&attr);
	return ret;
}

static void *notifier(void *arg);

/*
 * Start a notifier if jobs wait with no idle one to take them, or if
 * none exists and one is wanted (want); called with nt.lock.  Returns
 * whether a notifier exists now.
 */
static int spawn_locked(int want)
{
	if ((nt.nqueued > nt.nidle || (want && nt.nthreads == 0)) &&
	    start_thread(NULL, notifier, NULL) == 0)
		nt.nthreads++;
	return nt.nthreads > 0;
}

static struct kaio_note *take_locked(void)
{
	struct kaio_note *j;
	struct timespec dl;
	int ret = 0;

	while (!(j = nt.head)) {
		/*
		 * The last notifier stays while a SIGEV_THREAD request is
		 * outstanding, or reserved and not yet bound: the
		 * reservation found it there, and its callback then needs no
		 * new thread.  Gone in between (the request counts in
		 * nt.pending only once bound), with no thread to be had, it
		 * left a request accepted whose callback never ran.
		 */
		if (ret == ETIMEDOUT && (nt.nthreads > 1 ||
		    (nt.pending == 0 && nt.reserving == 0)))
			return NULL;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += atomic_load(&kaio__cfg.idle_secs);
		nt.nidle++;
		ret = pthread_cond_timedwait(&nt.cond, &nt.lock, &dl);
		nt.nidle--;
	}
	nt.head = j->next;
	if (!nt.head)
		nt.tail = NULL;
	nt.nqueued--;
	nt.pending--;
	return j;
}

/*
 * A callback left its notifier thread (pthread_exit(), cancellation), or
 * an idle notifier was cancelled (arg NULL).
 * If it was the last notifier and a notification is still to come, the
 * thread does not end until a successor has started: otherwise nothing
 * would start one (a job queued with no thread to take it waits for the
 * next call into the library, which may never come).  It retries with
 * growing pauses (no notifier exists meanwhile, so nothing else waits on
 * nt.cond); a completion meanwhile retries too (run_callback()).
 */
static void callback_exited(void *arg)
{
	struct timespec dl;
	long pause_ms = 1;
	sigset_t all;
	int state;

	free(arg);
	/* A library thread again: the callback ran with no signal blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	pthread_mutex_lock(&nt.lock);
	nt.nthreads--;
	/* A reserved request counts as one to come (take_locked()). */
	while (!spawn_locked(nt.pending > 0 || nt.reserving > 0) &&
	       (nt.pending > 0 || nt.reserving > 0)) {
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_nsec += pause_ms * 1000000L;
		dl.tv_sec += dl.tv_nsec / 1000000000L;
		dl.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&nt.cond, &nt.lock, &dl);
		if (pause_ms < 1000)
			pause_ms *= 2;
	}
	pthread_mutex_unlock(&nt.lock);
}

/*
 * The callback runs with no signal blocked, as glibc's SIGEV_THREAD
 * threads do (its notification thread empties its mask first): a callback
 * that raises a signal, waits for one, or starts threads (they inherit
 * its mask) sees what it would see under glibc.  The notifier blocks
 * every signal again afterwards, whatever the callback left.
 */
static void run_unblocked(struct kaio_note *j)
{
	sigset_t none, all;

	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	/* As on a thread of its own: cancellation enabled and deferred. */
	pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, NULL);
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	j->fn(j->ev.value);
	/*
	 * A cancellation the callback asked for and did not reach (say,
	 * pthread_cancel(pthread_self()) and return): under glibc its thread
	 * would just end.  It ends this thread now, through the caller's
	 * cleanup handler, never later in the library's own code, where it
	 * would unwind a notifier holding nt.lock (cancellation stays
	 * disabled there).
	 */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, NULL);
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	pthread_testcancel();
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
}

/* Do a and b name the same identity (creds.h)? */
static int same_identity(const struct kaio_creds *a, const struct kaio_creds *b)
{
	const gid_t *ga = a->ngroups > KAIO_CREDS_NINLINE ? a->more : a->grp;
	const gid_t *gb = b->ngroups > KAIO_CREDS_NINLINE ? b->more : b->grp;

	return a->fsuid == b->fsuid && a->fsgid == b->fsgid &&
	       a->cap[0] == b->cap[0] && a->cap[1] == b->cap[1] &&
	       a->ngroups == b->ngroups &&
	       !memcmp(ga, gb, (size_t)a->ngroups * sizeof(gid_t));
}

/*
 * Did the callback that just ran change this thread's identity (file-system
 * IDs, groups, capabilities: all per thread on Linux)?  Under glibc every
 * callback has a thread of its own; here the next callback would inherit
 * what this one left, so such a notifier retires.
 */
static int identity_changed(const struct kaio_creds *base)
{
	struct kaio_creds now;
	int changed;

	if (kaio__creds_capture(&now))
		return 0;	/* cannot tell: as before */
	changed = !same_identity(base, &now);
	kaio__creds_release(&now);
	return changed;
}

static void *notifier(void *arg)
{
	struct kaio_creds base;
	struct kaio_note *j;
	int known;

	(void)arg;
	/* Only a callback may be cancelled (run_unblocked()). */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	known = kaio__creds_capture(&base) == 0;
	for (;;) {
		/* A cancellation that came while idle (another thread's
		 * pthread_cancel()) retires this notifier before it takes
		 * a job, not in the next callback. */
		pthread_cleanup_push(callback_exited, NULL);
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		pthread_testcancel();
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_cleanup_pop(0);
		pthread_mutex_lock(&nt.lock);
		j = take_locked();
		if (!j)
			nt.nthreads--;
		else
			spawn_locked(0);	/* a retry, if jobs still wait */
		pthread_mutex_unlock(&nt.lock);
		if (!j)
			break;
		pthread_cleanup_push(callback_exited, j);
		run_unblocked(j);
		pthread_cleanup_pop(0);
		free(j);
		if (known && identity_changed(&base)) {
			callback_exited(NULL);	/* retires, as if it had exited */
			break;
		}
	}
	if (known)
		kaio__creds_release(&base);
	return NULL;
}

/* The thread glibc-style SIGEV_THREAD with attributes gets. */
static void *one_shot(void *arg)
{
	struct kaio_note *j = arg;

	pthread_cleanup_push(free, j);
	run_unblocked(j);
	pthread_cleanup_pop(1);
	return NULL;
}

static void run_callback(const struct kaio_notify *n, struct kaio_note *j)
{
	kaio__count(KAIO_STAT_NOTIFY_THREAD);
	if (n->attr && start_thread(n->attr, one_shot, j) == 0) {
		pthread_mutex_lock(&nt.lock);
		nt.pending--;
		pthread_mutex_unlock(&nt.lock);
		return;
	}
	pthread_once(&nt_once, nt_init);
	pthread_mutex_lock(&nt.lock);
	j->next = NULL;
	if (nt.tail)
		nt.tail->next = j;
	else
		nt.head = j;
	nt.tail = j;
	nt.nqueued++;
	if (nt.nidle >= nt.nqueued)
		pthread_cond_signal(&nt.cond);
	else
		spawn_locked(1);
	/*
	 * If none could start, a notifier exists all the same (pending
	 * kept it) and takes the job when its callback returns; never run
	 * it here, in a thread that may hold locks or reap.
	 */
	pthread_mutex_unlock(&nt.lock);
}

int kaio__notify_reserve(const struct sigevent *sev)
{
	struct kaio_note *s;
	int ok;

	if (sev->sigev_notify != SIGEV_THREAD && sev->sigev_notify != SIGEV_KAIO)
		return 0;
	pthread_once(&spare_once, spare_init);
	if (spare_ok && !pthread_getspecific(spare_key)) {
		s = malloc(sizeof(*s));
		if (!s)
			return -EAGAIN;
		if (pthread_setspecific(spare_key, s))
			free(s);
	}
	if (sev->sigev_notify != SIGEV_THREAD)
		return 0;
	pthread_once(&nt_once, nt_init);
	pthread_mutex_lock(&nt.lock);
	ok = spawn_locked(1);
	if (ok && !tls_reserved) {
		tls_reserved = 1;
		nt.reserving++;
	}
	pthread_mutex_unlock(&nt.lock);
	return ok ? 0 : -EAGAIN;
}

/* A record for n, bound to its queue or counted as pending; or NULL. */
static struct kaio_note *note_make(const struct kaio_notify *n)
{
	struct kaio_note *j = spare_take();

	if (!j)
		return NULL;
	memset(j, 0, sizeof(*j));
	j->kind = n->notify;
	j->fn = n->fn;
	j->ev.value = n->value;
	if (n->notify == SIGEV_KAIO) {
		kaio__queue_bind(j, n->queue);	/* unbound: dropped later */
		kaio__notify_unreserve();	/* took the spare it kept */
	} else {
		pthread_once(&nt_once, nt_init);
		pthread_mutex_lock(&nt.lock);
		nt.pending++;
		unreserve_locked();
		spawn_locked(1);	/* the last one left since reserve */
		pthread_mutex_unlock(&nt.lock);
	}
	return j;
}

void kaio__notify_bind(struct kaio_notify *n)
{
	n->note = NULL;
	if (n->notify == SIGEV_THREAD || n->notify == SIGEV_KAIO)
		n->note = note_make(n);
}

void kaio__notify_release(const struct kaio_notify *n)
{
	struct kaio_note *j = n->note;

	if (!j)
		return;
	if (j->kind == SIGEV_THREAD) {
		pthread_mutex_lock(&nt.lock);
		nt.pending--;
		pthread_mutex_unlock(&nt.lock);
	}
	free(j);
}

void kaio__notify(const struct kaio_notify *n, struct aiocb *cb, ssize_t res)
{
	struct kaio_note *j = n->note;

	switch (n->notify) {
	case SIGEV_KAIO:
		/* No record only if none could be had when it was bound. */
		if (!j && !(j = note_make(n))) {
			kaio__count(KAIO_STAT_NOTIFY_FAILED);
			break;
		}
		kaio__count(kaio__queue_post(j, cb, res)
			    ? KAIO_STAT_NOTIFY_FAILED : KAIO_STAT_NOTIFY_QUEUE);
		break;
	case SIGEV_SIGNAL:
	case SIGEV_THREAD_ID:
		send_signal(n);
		break;
	case SIGEV_THREAD:
		if (!j && !(j = note_make(n))) {
			kaio__count(KAIO_STAT_NOTIFY_FAILED);
			break;
		}
		run_callback(n, j);
		break;
	}
}

/* A submission refused after kaio__notify_reserve(), before binding. */
void kaio__notify_unreserve(void)
{
	if (!tls_reserved)
		return;
	pthread_mutex_lock(&nt.lock);
	unreserve_locked();
	pthread_mutex_unlock(&nt.lock);
}

void kaio__notify_reset(void)
{
	tls_reserved = 0;	/* the forking thread's; nt.reserving is 0 */
	memset(&nt, 0, sizeof(nt));
	pthread_mutex_init(&nt.lock, NULL);
	nt_once = (pthread_once_t)PTHREAD_ONCE_INIT;
}
