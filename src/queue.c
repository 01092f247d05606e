/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * queue.c - completion queues: POSIX AIO completions on a file descriptor
 * that epoll can watch (the Linux counterpart of FreeBSD's SIGEV_KEVENT and
 * illumos's SIGEV_PORT).
 *
 * A queue is an eventfd plus a list of events.  A request opts in with
 * sigev_notify = SIGEV_KAIO and the queue's fd in sigev_signo.  At
 * submission the request reserves its event record and binds it to the
 * queue (kaio__queue_bind(): the queue and its identity), so a completion
 * neither allocates nor looks anything up.  When it completes, its result
 * is published in the aiocb first (so aio_error() and aio_return() work
 * after a reap), then its event is appended; the eventfd is written only
 * when the list goes from empty to non-empty, so a burst of completions
 * costs one write(2).  kaio_queue_reap() takes each event exactly once,
 * whichever thread reaps; it drains the eventfd when it empties the list,
 * so the fd stays readable while events wait.  A thread's io_uring ring
 * may write the eventfd itself (kaio__queue_link()): kaio_queue_reap()
 * then reaps that ring first, and the fd may be readable with nothing in
 * the list (a completion there of a request for no queue, or another).
 *
 * Destruction at any time: queue structures are never freed, only
 * recycled (type-stable memory), and each queue has an identity (id,
 * never reused; 0 once destroyed).  A completion that arrives for a
 * destroyed queue finds the identity changed under the queue's lock and
 * is dropped (counted as notify_failed), even if a new queue got the same
 * descriptor number, or the same structure.  kaio_queue_destroy() wakes
 * the reapers that wait in poll(2) (they return EBADF) and closes the fd
 * only once none of them polls it, so no reaper ever polls a descriptor
 * number that was closed or reused.
 *
 * Cancellation: the eventfd is read and written with raw system calls,
 * which are no cancellation points (libc's read() and write() are): a
 * thread with a cancellation pending must never be unwound holding a
 * queue's lock, in aio_read() (no cancellation point, as in glibc) or in
 * kaio_queue_reap().  kaio_queue_reap()'s only cancellation point is its
 * poll(2); kaio_queue_destroy() and kaio_queue_create() are none.
 *
 * Concurrency contract: qtab_lock serialises create and destroy (the
 * table's writers) and the free list; readers load table entries without
 * it and check them under the queue's lock.  Each queue's lock protects
 * its list, its identity, its count of pollers and its linked rings.
 * Lock order: qtab_lock, or an io_uring ring's lock (kaio__queue_link()),
 * then a queue's lock; kaio_queue_reap() holds none while it reaps a
 * ring.  No lock is held across a blocking poll(2).
 * Queues belong to the process that made them: in a fork child every
 * inherited queue is dead (kaio__queue_reset()), so it answers EBADF, and
 * the child can make its own.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "kaio-int.h"
#include "sys.h"

#define QTAB_MAX	65536	/* queue fds must be below this */
#define QLINKS		4	/* rings that signal a queue's eventfd */

struct kaio_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* destroy waits for pollers */
	int fd;
	int pollers;			/* reapers in poll(2) on fd */
	uint64_t id;			/* 0: destroyed, or free */
	struct kaio_note *head, *tail;
	unsigned long n;
	int nlinks;			/* rings whose eventfd is fd */
	struct kaio_reaper *links[QLINKS];
	struct kaio_queue *next_free;	/* on qfree */
	struct kaio_queue *next_all;	/* on qall: every structure */
};

static pthread_mutex_t qtab_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct kaio_queue *) qtab[QTAB_MAX];
static struct kaio_queue *qfree;	/* under qtab_lock */
static struct kaio_queue *_Atomic qall;
static uint64_t qid_last;		/* under qtab_lock */

/*
 * The queue behind fd and its identity, if this process made it and it
 * is alive; 0 otherwise.  Lock-free on the table: the structure is never
 * freed, and its lock confirms the entry.
 */
/* Raw system calls: no cancellation points, errno untouched. */
static void efd_write(int fd, uint64_t v)
{
	sys_call6(SYS_write, fd, (long)&v, sizeof(v), 0, 0, 0);
}

static uint64_t lookup(int fd, struct kaio_queue **qp)
{
	struct kaio_queue *q;
	uint64_t id = 0;

	if (fd < 0 || fd >= QTAB_MAX)
		return 0;
	q = atomic_load_explicit(&qtab[fd], memory_order_acquire);
	if (!q)
		return 0;
	pthread_mutex_lock(&q->lock);
	if (q->fd == fd)
		id = q->id;
	pthread_mutex_unlock(&q->lock);
	*qp = q;
	return id;
}

int kaio__queue_valid(int fd)
{
	struct kaio_queue *q;

	return lookup(fd, &q) != 0;
}

int kaio__queue_bind(struct kaio_note *n, int fd)
{
	struct kaio_queue *q = NULL;

	n->qid = lookup(fd, &q);
	n->q = n->qid ? q : NULL;
	return n->q ? 0 : -EINVAL;
}

/*
 * Rings that signal the queue's eventfd themselves.  A ring's submitting
 * thread links its ring to the queue of a SIGEV_KAIO request it enters
 * there (backend-uring.c), with attach(), which registers fd as the ring's
 * eventfd: the kernel then writes it with each completion, and whoever
 * reaps the queue reaps the ring, so the completion reaches the epoll loop
 * with no reaper thread in between.  Such requests are not urgent for the
 * ring's reaper (KAIO_RQ_EVFD), which sleeps while the queue is reaped
 * (reap.c).  A ring stays with the queue it signals while that queue
 * lives (old, old_id): the ring's requests for it count on its eventfd.
 * Called with the ring's lock held (then a queue's lock: ring, queue).
 * Returns 1 if r signals n's queue now.
 */
int kaio__queue_link(const struct kaio_note *n, struct kaio_reaper *r,
		     const struct kaio_queue *old, uint64_t old_id,
		     int (*attach)(struct kaio_reaper *r, int efd))
{
	struct kaio_queue *o = (struct kaio_queue *)old, *q = n->q;
	int alive = 0, ret = 0;

	if (o) {
		pthread_mutex_lock(&o->lock);
		alive = o->id == old_id;
		pthread_mutex_unlock(&o->lock);
		if (alive)
			return 0;
	}
	pthread_mutex_lock(&q->lock);
	/* Under the lock, destroy cannot close fd before the kernel holds
	 * the eventfd (it keeps it, not the number). */
	if (q->id == n->qid && q->nlinks < QLINKS && attach(r, q->fd) == 0) {
		q->links[q->nlinks++] = r;
		ret = 1;
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
}

/* Reap the linked rings, as an entry point (its depth, no cancellation). */
static void rings_poll(struct kaio_reaper *const *rl, int nl)
{
	int i, cs = kaio__call_begin();

	for (i = 0; i < nl; i++)
		kaio__reaper_poll(rl[i]);
	kaio__call_end(cs);
}

static int rings_ready(struct kaio_reaper *const *rl, int nl)
{
	int i;

	for (i = 0; i < nl; i++)
		if (rl[i]->ready(rl[i]))
			return 1;
	return 0;
}

static void free_notes(struct kaio_note *e)
{
	struct kaio_note *next;

	for (; e; e = next) {
		next = e->next;
		free(e);
	}
}

KAIO_EXPORT int kaio_queue_create(int flags)
{
	struct kaio_queue *q, *old;
	struct kaio_note *stale = NULL;
	int fd;

	if (flags & ~KAIO_QUEUE_CLOEXEC)
		return kaio__fail(EINVAL);
	kaio__init();
	fd = eventfd(0, EFD_NONBLOCK |
			(flags & KAIO_QUEUE_CLOEXEC ? EFD_CLOEXEC : 0));
	if (fd < 0)
		return -1;
	if (fd >= QTAB_MAX) {
		sys_close(fd);
		return kaio__fail(EMFILE);
	}
	pthread_mutex_lock(&qtab_lock);
	q = qfree;
	if (q) {
		qfree = q->next_free;
	} else if ((q = calloc(1, sizeof(*q)))) {
		pthread_mutex_init(&q->lock, NULL);
		pthread_cond_init(&q->cond, NULL);
		q->next_all = atomic_load(&qall);
		atomic_store(&qall, q);
	} else {
		pthread_mutex_unlock(&qtab_lock);
		sys_close(fd);
		return kaio__fail(ENOMEM);
	}
	/*
	 * A queue still in the table under this number was closed with
	 * close(2), not destroyed: it dies now (its structure is left
	 * alone, since a reaper may still poll its old descriptor).
	 */
	old = atomic_load(&qtab[fd]);
	if (old) {
		pthread_mutex_lock(&old->lock);
		old->id = 0;
		stale = old->head;
		old->head = old->tail = NULL;
		old->n = 0;
		old->nlinks = 0;
		pthread_mutex_unlock(&old->lock);
	}
	pthread_mutex_lock(&q->lock);
	q->fd = fd;
	q->id = ++qid_last;
	q->pollers = 0;
	q->head = q->tail = NULL;
	q->n = 0;
	q->nlinks = 0;
	pthread_mutex_unlock(&q->lock);
	atomic_store_explicit(&qtab[fd], q, memory_order_release);
	pthread_mutex_unlock(&qtab_lock);
	free_notes(stale);
	return fd;
}

KAIO_EXPORT int kaio_queue_destroy(int fd)
{
	struct kaio_queue *q = NULL;
	struct kaio_note *e;
	uint64_t one = 1;
	int saved = errno, cstate;

	pthread_mutex_lock(&qtab_lock);
	if (fd >= 0 && fd < QTAB_MAX)
		q = atomic_load(&qtab[fd]);
	if (q) {
		pthread_mutex_lock(&q->lock);
		if (q->fd != fd || !q->id) {
			pthread_mutex_unlock(&q->lock);
			q = NULL;
		}
	}
	if (!q) {
		pthread_mutex_unlock(&qtab_lock);
		return kaio__fail(EBADF);
	}
	atomic_store_explicit(&qtab[fd], NULL, memory_order_release);
	pthread_mutex_unlock(&qtab_lock);
	/* From here every completion bound to this queue is dropped. */
	q->id = 0;
	e = q->head;
	q->head = q->tail = NULL;
	q->n = 0;
	q->nlinks = 0;
	if (q->pollers) {
		/* Wake the reapers in poll(2); they see the queue gone. */
		efd_write(fd, one);
		/* No cancellation point: it would unwind with the lock. */
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cstate);
		while (q->pollers)
			pthread_cond_wait(&q->cond, &q->lock);
		pthread_setcancelstate(cstate, NULL);
	}
	pthread_mutex_unlock(&q->lock);
	free_notes(e);
	sys_close(fd);
	pthread_mutex_lock(&qtab_lock);
	q->next_free = qfree;
	qfree = q;
	pthread_mutex_unlock(&qtab_lock);
	errno = saved;
	return 0;
}

/*
 * Deliver a reserved event (kaio__queue_bind() at submission); the event
 * is the queue's, or freed.  Returns 0, or -EBADF if the queue is gone.
 * No allocation, no lookup: the queue's lock only.
 */
int kaio__queue_post(struct kaio_note *e, struct aiocb *cb, ssize_t res)
{
	struct kaio_queue *q = e->q;
	uint64_t one = 1;
	int was_empty;

	e->next = NULL;
	e->ev.aiocb = cb;
	e->ev.res = res < 0 ? -1 : res;
	e->ev.error = res < 0 ? (int)-res : 0;
	e->ev.reserved = 0;
	if (!q) {
		free(e);
		return -EBADF;
	}
	pthread_mutex_lock(&q->lock);
	if (q->id != e->qid) {
		pthread_mutex_unlock(&q->lock);
		free(e);
		return -EBADF;
	}
	was_empty = !q->head;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->n++;
	/* Under the queue lock, so a reaper's drain cannot race it. */
	if (was_empty)
		efd_write(q->fd, one);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

/* Take up to max events, with q->lock; drains the eventfd when the list
 * empties, or is empty and rings write it too (linked: a completion there
 * that some other thread reaped left it readable).  The records are freed
 * after the lock is dropped. */
static int take_locked(struct kaio_queue *q, struct kaio_event *ev, int max,
		       struct kaio_note **done, int linked)
{
	struct kaio_note *e;
	uint64_t cnt;
	int n = 0;

	while (n < max && (e = q->head)) {
		q->head = e->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		ev[n++] = e->ev;
		e->next = *done;
		*done = e;
	}
	if (!q->head && (n || linked))
		sys_call6(SYS_read, q->fd, (long)&cnt, sizeof(cnt), 0, 0, 0);
	return n;
}

static int remaining_ms(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	if (!deadline)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000LL +
	     (deadline->tv_nsec - now.tv_nsec + 999999) / 1000000;
	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

struct poller {
	struct kaio_queue *q;
	uint64_t id;
};

/* A reaper leaves poll(2) (also when cancelled there). */
static void poll_done(void *arg)
{
	struct poller *p = arg;
	struct kaio_queue *q = p->q;

	pthread_mutex_lock(&q->lock);
	if (--q->pollers == 0 && q->id != p->id)
		pthread_cond_broadcast(&q->cond);	/* destroy waits */
	pthread_mutex_unlock(&q->lock);
}

KAIO_EXPORT int kaio_queue_reap(int fd, struct kaio_event *events, int max,
				const struct timespec *timeout)
{
	struct kaio_reaper *rl[QLINKS];
	struct kaio_note *done;
	struct timespec dl;
	struct pollfd p;
	struct poller pl;
	int n, nl, polled, looks = 0, ms, ret, err;

	kaio__flush_deferred();
	if (!events || max <= 0)
		return kaio__fail(EINVAL);
	if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
			timeout->tv_nsec >= 1000000000))
		return kaio__fail(EINVAL);
	if (timeout)
		kaio__deadline(&dl, timeout);
	pl.id = lookup(fd, &pl.q);
	if (!pl.id)
		return kaio__fail(EBADF);
	for (;;) {
		done = NULL;
		pthread_mutex_lock(&pl.q->lock);
		nl = pl.q->id == pl.id ? pl.q->nlinks : 0;
		memcpy(rl, pl.q->links, (size_t)nl * sizeof(rl[0]));
		pthread_mutex_unlock(&pl.q->lock);
		/* Completions in the rings first: their events join the
		 * list.  Not from a handler that interrupted the library
		 * (reap.c); their reapers take them then. */
		polled = nl && kaio__tls_depth == 0;
		if (polled)
			rings_poll(rl, nl);
		pthread_mutex_lock(&pl.q->lock);
		if (pl.q->id != pl.id) {
			pthread_mutex_unlock(&pl.q->lock);
			return kaio__fail(EBADF);	/* destroyed meanwhile */
		}
		n = take_locked(pl.q, events, max, &done, nl);
		/* A completion that came after the look wrote the eventfd
		 * before the drain: look again, or leave fd readable (the
		 * role's holder is reaping it). */
		if (polled && !pl.q->head && rings_ready(rl, nl)) {
			if (!n && looks++ < 4) {
				pthread_mutex_unlock(&pl.q->lock);
				continue;
			}
			efd_write(pl.q->fd, 1);
		}
		ms = n ? 0 : remaining_ms(timeout ? &dl : NULL);
		if (n || ms == 0) {
			pthread_mutex_unlock(&pl.q->lock);
			free_notes(done);
			return n;
		}
		/* Counted under the lock: destroy closes fd only once no
		 * reaper polls it. */
		pl.q->pollers++;
		pthread_mutex_unlock(&pl.q->lock);
		p.fd = fd;
		p.events = POLLIN;
		pthread_cleanup_push(poll_done, &pl);
		ret = poll(&p, 1, ms);
		err = errno;
		pthread_cleanup_pop(1);
		if (ret < 0 && err == EINTR)
			return kaio__fail(EINTR);
	}
}

void kaio__queue_reset(void)
{
	struct kaio_queue *q;

	/*
	 * A fork child: the parent's queues are dead here (the child may
	 * close their descriptors and make its own).  Their structures are
	 * reused; their events, and any lock a parent thread held, are
	 * dropped.
	 */
	pthread_mutex_init(&qtab_lock, NULL);
	qfree = NULL;
	for (q = atomic_load(&qall); q; q = q->next_all) {
		pthread_mutex_init(&q->lock, NULL);
		pthread_cond_init(&q->cond, NULL);
		if (q->fd >= 0 && q->fd < QTAB_MAX &&
		    atomic_load(&qtab[q->fd]) == q)
			atomic_store(&qtab[q->fd], NULL);
		q->id = 0;
		q->pollers = 0;
		q->head = q->tail = NULL;
		q->n = 0;
		q->nlinks = 0;
		q->next_free = qfree;
		qfree = q;
	}
}
