/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool.c - the user-space thread pool backend.
 *
 * Concurrency contract:
 * - pool.lock protects everything in struct pool: the priority queues,
 *   the running list and the thread counts.  It is never held while a
 *   request runs, while a request completes, or while user code runs.
 * - Lock order: a kaio_fd lock may be held when pool.lock is taken, never
 *   the other way round.
 * - A worker keeps the request it runs on the running list until the
 *   request has completed, so aio_cancel() sees it as running (and answers
 *   AIO_NOTCANCELED) until its result is published.
 * - Workers block every signal; they grow on demand up to max_threads and
 *   exit after idle_secs without work.  A fork child starts with an empty
 *   pool (kaio__pool_reset()).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaio-int.h"

static struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* idle workers wait here */
	struct kaio_q q[KAIO_NPRIO];	/* by aio_reqprio, 0 first */
	unsigned int qmask;		/* bit p set: q[p] not empty */
	struct kaio_q running;
	int nthreads;
	int nidle;
	int nwake;			/* signalled, not yet awake */
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

static void cond_init(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool.cond, &ca);
	pthread_condattr_destroy(&ca);
}

static struct kaio_req *dequeue(void)
{
	struct kaio_req *r;
	int p;

	if (!pool.qmask)
		return NULL;
	p = __builtin_ctz(pool.qmask);
	r = pool.q[p].head;
	kaio__q_del(&pool.q[p].head, &pool.q[p].tail, r);
	if (!pool.q[p].head)
		pool.qmask &= ~(1u << p);
	return r;
}

/* Wait for work; returns NULL when this worker should exit. */
static struct kaio_req *next_locked(void)
{
	struct kaio_req *r;
	struct timespec dl;
	int ret = 0;

	while (!(r = dequeue())) {
		if (ret == ETIMEDOUT ||
		    pool.nthreads > atomic_load(&kaio__cfg.max_threads)) {
			pool.nthreads--;	/* under the lock: see enqueue */
			return NULL;
		}
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += atomic_load(&kaio__cfg.idle_secs);
		pool.nidle++;
		ret = pthread_cond_timedwait(&pool.cond, &pool.lock, &dl);
		pool.nidle--;
		if (pool.nwake)
			pool.nwake--;
	}
	kaio__q_push(&pool.running.head, &pool.running.tail, r);
	return r;
}

static void *worker(void *arg)
{
	struct kaio_req *r, *prev = NULL;
	ssize_t res;

	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		if (prev) {
			kaio__q_del(&pool.running.head, &pool.running.tail,
				    prev);
		}
		r = next_locked();
		pthread_mutex_unlock(&pool.lock);
		if (prev)
			kaio__req_free(prev);
		if (!r)
			return NULL;
		res = kaio__execute(r);
		kaio__count(KAIO_STAT_POOL);
		kaio__complete(r, res);
		prev = r;
		pthread_mutex_lock(&pool.lock);
	}
}

/* Start a worker; called with pool.lock held. */
static int spawn(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t old;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	kaio__block_signals(&old);
	ret = pthread_create(&t, &attr, worker, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret)
		return -ret;
	pool.nthreads++;
	kaio__count(KAIO_STAT_THREADS_CREATED);
	return 0;
}

int kaio__pool_enqueue(struct kaio_req *req)
{
	int p = req->prio, ret = 0;

	pthread_once(&cond_once, cond_init);
	pthread_mutex_lock(&pool.lock);
	kaio__q_push(&pool.q[p].head, &pool.q[p].tail, req);
	pool.qmask |= 1u << p;
	if (pool.nidle > pool.nwake) {
		pool.nwake++;
		pthread_cond_signal(&pool.cond);
	} else if (pool.nthreads < atomic_load(&kaio__cfg.max_threads)) {
		ret = spawn();
		if (ret && pool.nthreads > 0)
			ret = 0;	/* the running workers will get to it */
		if (ret) {
			p = req->prio;
			kaio__q_del(&pool.q[p].head, &pool.q[p].tail, req);
			if (!pool.q[p].head)
				pool.qmask &= ~(1u << p);
			ret = -EAGAIN;
		}
	}
	pthread_mutex_unlock(&pool.lock);
	return ret;
}

static void steal_q(struct kaio_q *q, int fd, struct aiocb *cb,
		    struct kaio_req **out, int *n)
{
	struct kaio_req *r, *next;

	for (r = q->head; r; r = next) {
		next = r->next;
		if (r->fd != fd || (cb && r->cb != cb))
			continue;
		kaio__q_del(&q->head, &q->tail, r);
		r->next = *out;
		*out = r;
		(*n)++;
	}
}

int kaio__pool_cancel(int fd, struct aiocb *cb, struct kaio_req **out,
		      int *running)
{
	struct kaio_req *r;
	int p, n = 0;

	pthread_mutex_lock(&pool.lock);
	for (p = 0; p < KAIO_NPRIO; p++) {
		steal_q(&pool.q[p], fd, cb, out, &n);
		if (!pool.q[p].head)
			pool.qmask &= ~(1u << p);
	}
	for (r = pool.running.head; r; r = r->next)
		if (r->fd == fd && (!cb || r->cb == cb) &&
		    !atomic_load_explicit(&r->finished, memory_order_relaxed))
			*running = 1;
	pthread_mutex_unlock(&pool.lock);
	return n;
}

/* aio_init() raised or lowered the limits: wake idle workers to re-check. */
void kaio__pool_config_changed(void)
{
	pthread_once(&cond_once, cond_init);
	pthread_mutex_lock(&pool.lock);
	pthread_cond_broadcast(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
}

void kaio__pool_reset(void)
{
	memset(&pool, 0, sizeof(pool));
	pthread_mutex_init(&pool.lock, NULL);
	/* The condition variable is made again on first use in the child. */
	cond_once = (pthread_once_t)PTHREAD_ONCE_INIT;
}
