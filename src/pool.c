/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool.c - the user-space thread pool backend.
 *
 * Lock order: a kaio_fd lock (fdmap.c), then pool.lock.  No other lock of
 * the library is taken under pool.lock.
 *
 * Concurrency contract:
 * - pool.lock protects everything in struct pool but the spawner's futex
 *   word: the priority queues, the running list and the thread counts.
 *   It is never held while a request runs, while a request completes, or
 *   while user code runs.
 * - A worker keeps the request it runs on the running list until the
 *   request has completed, so aio_cancel() sees it as running (and answers
 *   AIO_NOTCANCELED) until its result is published.
 * - Workers block every signal; they grow on demand up to max_threads and
 *   exit after idle_secs without work.  An idle worker sleeps on its own
 *   futex; whoever takes it off the idle stack (under pool.lock) owns its
 *   wake-up.  A fork child starts with an empty
 *   pool (fork_child()).
 * - Identity: every request runs with the fsuid, fsgid, supplementary
 *   groups and effective capabilities of the thread that submitted it,
 *   captured in that thread; a request that has none is refused, one whose
 *   identity the worker cannot take completes with EPERM unrun (creds.c).
 * - Workers are started by one spawner thread, which is started by the
 *   first thread that needs the pool, or by aio_init(), and lives as long
 *   as the process: a thread inherits the identity of the thread that
 *   creates it, and what a worker can switch to is bounded by that, so the
 *   pool's reach is that of the spawner, not of whichever thread happened
 *   to need one more worker (a thread that dropped its own privileges).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "sys.h"

/*
 * An idle worker sleeps on its own futex word, on a LIFO stack: enqueue
 * wakes exactly one, the most recently idle (its cache is warm), without
 * a condition variable's second trip through the pool lock.  Worker slots
 * are never freed (they are recycled), so a waker may still store to one
 * whose thread has just exited.
 */
struct worker {
	struct worker *next;		/* idle stack, or free list */
	atomic_int word;		/* 0 asleep, 1 woken */
	int idle;			/* on the idle stack */
};

/* A submitter waiting for the spawner to start the pool's first worker
 * (first_worker_locked()), on pool.waiters; taken once its request has
 * left the queue for a worker or aio_cancel(). */
struct waiter {
	struct waiter *next;
	const struct kaio_req *req;
	int taken;
};

static struct pool {
	pthread_mutex_t lock;
	/* Under lock. */
	struct kaio_q q[KAIO_NPRIO];	/* by aio_reqprio, 0 first */
	unsigned int qmask;		/* bit p set: q[p] not empty */
	struct kaio_q running;
	struct worker *idle;		/* idle workers, most recent first */
	struct worker *free;		/* unused worker slots */
	int nthreads;
	int want;			/* workers the spawner should start */
	int spawner;			/* the spawner is running */
	unsigned int fails;		/* the spawner's failed starts */
	struct waiter *waiters;
	pthread_cond_t tried;		/* the spawner tried, or a waiter's
					 * request was taken */
	/* No lock. */
	atomic_int spawner_word;	/* its futex: 1 when woken */
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.tried = PTHREAD_COND_INITIALIZER,
};

/* The submitter waiting for r, if any.  Under the lock. */
static struct waiter *waiter_of(const struct kaio_req *r)
{
	struct waiter *w;

	for (w = pool.waiters; w; w = w->next)
		if (w->req == r)
			return w;
	return NULL;
}

/* r leaves the queue for a worker or aio_cancel(): its waiter, if any,
 * has its answer (accepted). */
static void taken(const struct kaio_req *r)
{
	struct waiter *w;

	if (kaio_likely(!pool.waiters) || !(w = waiter_of(r)))
		return;
	w->taken = 1;
	pthread_cond_broadcast(&pool.tried);
}

/* r off its priority's queue, and the queue's bit off if it is empty:
 * the one way out of pool.q.  Under the lock. */
static void unqueue(struct kaio_req *r)
{
	int p = r->prio;

	kaio__q_del(&pool.q[p].head, &pool.q[p].tail, r);
	if (!pool.q[p].head)
		pool.qmask &= ~(1u << p);
}

static struct kaio_req *dequeue(void)
{
	struct kaio_req *r;
	int p;

	if (!pool.qmask)
		return NULL;
	p = __builtin_ctz(pool.qmask);
	r = pool.q[p].head;
	unqueue(r);
	taken(r);
	return r;
}

static void unidle(struct worker *w)
{
	struct worker **pp;

	for (pp = &pool.idle; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	w->idle = 0;
}

/* Sleep until woken or idle_secs pass; called and returns with the lock. */
static int sleep_locked(struct worker *w)
{
	struct timespec dl;
	int ret;

	atomic_store(&w->word, 0);
	w->next = pool.idle;
	pool.idle = w;
	w->idle = 1;
	pthread_mutex_unlock(&pool.lock);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += atomic_load(&kaio__cfg.idle_secs);
	do
		ret = sys_futex_wait(&w->word, 0, &dl);
	while (ret == -EINTR);
	pthread_mutex_lock(&pool.lock);
	if (w->idle)
		unidle(w);	/* not taken by a waker: timed out */
	return ret == -ETIMEDOUT;
}

/* Wait for work; returns NULL when this worker should exit. */
static struct kaio_req *next_locked(struct worker *w)
{
	struct kaio_req *r;
	int timedout = 0;

	while (!(r = dequeue())) {
		if (timedout ||
		    pool.nthreads > atomic_load(&kaio__cfg.max_threads)) {
			pool.nthreads--;	/* under the lock: see enqueue */
			w->next = pool.free;
			pool.free = w;
			return NULL;
		}
		timedout = sleep_locked(w);
	}
	kaio__q_push(&pool.running.head, &pool.running.tail, r);
	return r;
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct kaio_req *r, *prev = NULL;
	struct kaio_wcreds me;
	ssize_t res;

	kaio__tls_libthread = 1;
	kaio__creds_worker_init(&me);
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		if (prev) {
			kaio__q_del(&pool.running.head, &pool.running.tail,
				    prev);
		}
		r = next_locked(w);
		pthread_mutex_unlock(&pool.lock);
		if (prev)
			kaio__req_free(prev);
		if (!r) {
			kaio__creds_worker_fini(&me);
			return NULL;
		}
		/* As its submitter, or not at all; an fsync sent on by
		 * another thread as the worker (creds.c). */
		if (kaio_likely(r->flags & KAIO_RQ_CREDS) ?
		    kaio__creds_apply(&me, &r->creds) == 0 :
		    r->op == KAIO_OP_FSYNC || r->op == KAIO_OP_FDSYNC)
			res = kaio__execute(r);
		else
			res = -EPERM;
		kaio__served(r, KAIO_SERVED_POOL, KAIO_STAT_POOL);
		if (r->flags & KAIO_RQ_FULL)
			kaio__count(KAIO_STAT_POOL_OVERFLOW);
		kaio__complete(r, res);
		prev = r;
		pthread_mutex_lock(&pool.lock);
	}
}

static int start_thread(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t old;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	kaio__block_signals(&old);
	ret = pthread_create(&t, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -ret;
}

/* Start a worker; called with pool.lock held. */
static int spawn(void)
{
	struct worker *w = pool.free;
	int ret;

	if (w)
		pool.free = w->next;
	else if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	w->idle = 0;
	ret = start_thread(worker, w);
	if (ret) {
		w->next = pool.free;
		pool.free = w;
		return ret;
	}
	pool.nthreads++;
	kaio__count(KAIO_STAT_THREADS_CREATED);
	return 0;
}

/*
 * Requests queued when no worker could be started and none runs, but for
 * those whose submitters wait for the answer (they refuse them): they
 * were accepted, so they complete, with EAGAIN.  Called without the lock.
 */
static void fail_queued(struct kaio_req *r)
{
	struct kaio_req *next;

	for (; r; r = next) {
		next = r->next;
		kaio__complete(r, -EAGAIN);
		kaio__req_free(r);
	}
}

/* The spawner: starts the workers enqueue asks for, forever. */
static void *spawner(void *arg)
{
	struct kaio_req *stranded, *r, *next;
	int ret, p;

	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (!pool.want) {
			atomic_store(&pool.spawner_word, 0);
			pthread_mutex_unlock(&pool.lock);
			while (sys_futex_wait(&pool.spawner_word, 0, NULL) == -EINTR)
				;
			pthread_mutex_lock(&pool.lock);
		}
		pool.want--;
		ret = pool.qmask ? spawn() : 0;	/* else a worker got to it */
		if (ret)
			pool.fails++;
		if (pool.waiters)
			pthread_cond_broadcast(&pool.tried);
		if (!ret || pool.nthreads > 0)
			continue;	/* the running workers will get to it */
		/* Nobody will ever run what is queued.  Never reached
		 * today: a request queued while no worker runs has its
		 * submitter waiting (first_worker_locked()), which refuses
		 * it.  Kept so that a path that queues without a waiter
		 * fails its requests rather than hang them. */
		stranded = NULL;
		for (p = 0; p < KAIO_NPRIO; p++)
			for (r = pool.q[p].head; r; r = next) {
				next = r->next;
				if (waiter_of(r))
					continue;	/* refused there */
				unqueue(r);
				r->next = stranded;
				stranded = r;
			}
		pool.want = 0;
		pthread_mutex_unlock(&pool.lock);
		fail_queued(stranded);
		pthread_mutex_lock(&pool.lock);
	}
	return arg;
}

/* Start the spawner if there is none; called with pool.lock held. */
static int spawner_locked(void)
{
	int ret;

	if (pool.spawner)
		return 0;
	ret = start_thread(spawner, NULL);
	if (!ret)
		pool.spawner = 1;
	return ret;
}

static void wake(struct worker *w)
{
	atomic_store(&w->word, 1);
	sys_futex_wake(&w->word, 1);
}

/*
 * req is queued, no worker runs and the spawner is to start one: wait
 * for its try.  If it failed and still none runs, req is taken back and
 * refused (-EAGAIN), as glibc's aio_read() refuses a request when no
 * thread can run it: accepted, it would complete with EAGAIN, an error
 * POSIX gives aio_read() only for a request it did not queue.  0 once a
 * worker runs or req has left the queue (for a worker, or cancelled: it
 * may be freed by then, so it is only compared).  Called with pool.lock
 * held, and maybe an fd's lock (the spawner takes neither).  Rare: once
 * per idle spell of the pool, as glibc starts its first thread in
 * aio_read().
 */
static int first_worker_locked(struct kaio_req *req)
{
	struct waiter me = { pool.waiters, req, 0 }, **pp;
	unsigned int fails = pool.fails;
	int cs;

	pool.waiters = &me;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	while (!me.taken && pool.nthreads == 0 && pool.fails == fails)
		pthread_cond_wait(&pool.tried, &pool.lock);
	pthread_setcancelstate(cs, NULL);
	for (pp = &pool.waiters; *pp != &me; pp = &(*pp)->next)
		;
	*pp = me.next;
	if (me.taken || pool.nthreads > 0)
		return 0;
	/* Still queued: only a worker, aio_cancel() (both take()) and this
	 * thread take a waited request off. */
	unqueue(req);
	return -EAGAIN;
}

static int enqueue(struct kaio_req *req)
{
	struct worker *w = NULL;
	int p = req->prio, ret, ask = 0;

	ret = kaio__creds_for_pool(req);
	if (ret)
		return ret;
	kaio__debug_route(req, KAIO_SERVED_POOL);
	pthread_mutex_lock(&pool.lock);
	kaio__q_push(&pool.q[p].head, &pool.q[p].tail, req);
	pool.qmask |= 1u << p;
	if (pool.idle) {
		w = pool.idle;
		pool.idle = w->next;
		w->idle = 0;
	} else if (pool.nthreads + pool.want <
		   atomic_load(&kaio__cfg.max_threads)) {
		if (spawner_locked() == 0) {
			pool.want++;
			ask = 1;
		} else {
			/* No spawner: start the worker here, as before. */
			ret = spawn();
			if (ret && pool.nthreads > 0)
				ret = 0;  /* the running workers will get to it */
			if (ret) {
				unqueue(req);
				ret = -EAGAIN;
			}
		}
	}
	if (!w && !ret && pool.nthreads == 0 && pool.want > 0) {
		atomic_store(&pool.spawner_word, 1);
		sys_futex_wake(&pool.spawner_word, 1);
		ask = 0;
		ret = first_worker_locked(req);
	}
	pthread_mutex_unlock(&pool.lock);
	if (w)
		wake(w);
	if (ask) {
		atomic_store(&pool.spawner_word, 1);
		sys_futex_wake(&pool.spawner_word, 1);
	}
	return ret;
}

static void steal_q(struct kaio_q *q, int fd, struct aiocb *cb,
		    struct kaio_cancel *t, struct kaio_req **out, int *n)
{
	struct kaio_req *r, *next;

	for (r = q->head; r; r = next) {
		next = r->next;
		if (!kaio__cancel_may(r, fd, cb, t))
			continue;
		unqueue(r);
		taken(r);
		r->next = *out;
		*out = r;
		(*n)++;
	}
}

/* Queued requests come back on *out; a running one makes t->running. */
static void cancel(int fd, struct aiocb *cb, struct kaio_cancel *t,
		   struct kaio_req **out, int *np)
{
	struct kaio_req *r;
	int p, n = 0, running = 0;

	pthread_mutex_lock(&pool.lock);
	for (p = 0; p < KAIO_NPRIO; p++)
		steal_q(&pool.q[p], fd, cb, t, out, &n);
	/* Running until its result is in the aiocb (kaio__cancel_may()):
	 * AIO_ALLDONE lets the caller free the aiocb. */
	for (r = pool.running.head; r; r = r->next)
		if (kaio__cancel_may(r, fd, cb, t))
			running = 1;
	pthread_mutex_unlock(&pool.lock);
	*np += n;
	if (running)
		atomic_store(&t->running, 1);
}

/*
 * aio_init() changed the limits: wake every idle worker to re-check.  It
 * also starts the spawner, so that the pool's workers get the identity of
 * the thread that called aio_init() (see above).
 */
static void config_changed(void)
{
	struct worker *w;

	pthread_mutex_lock(&pool.lock);	/* rare: wake under the lock */
	spawner_locked();
	while ((w = pool.idle)) {
		pool.idle = w->next;
		w->idle = 0;
		wake(w);
	}
	pthread_mutex_unlock(&pool.lock);
}

static void fork_child(void)
{
	/* Worker slots of the parent are leaked in the child, unused. */
	memset(&pool, 0, sizeof(pool));
	pthread_mutex_init(&pool.lock, NULL);
	pthread_cond_init(&pool.tried, NULL);
}

/* Takes reqs in order until one is refused (no identity, no worker). */
static int submit(struct kaio_req **reqs, int n)
{
	int i, ret;

	for (i = 0; i < n; i++) {
		ret = enqueue(reqs[i]);
		if (ret)
			return i ? i : ret;
	}
	return n;
}

const struct kaio_backend kaio__pool_backend = {
	.name = NULL,		/* always there: not in the stats line */
	.flags = KAIO_BE_HANDOFF,
	.submit = submit,
	.cancel = cancel,
	.fork_child = fork_child,
	.config_changed = config_changed,
};
