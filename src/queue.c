/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * queue.c - completion queues: POSIX AIO completions on a file descriptor
 * that epoll can watch (the Linux counterpart of FreeBSD's SIGEV_KEVENT and
 * illumos's SIGEV_PORT).
 *
 * A queue is an eventfd plus a list of events.  A request opts in with
 * sigev_notify = SIGEV_KAIO and the queue's fd in sigev_signo.  When it
 * completes, its result is published in the aiocb first (so aio_error()
 * and aio_return() work after a reap), then an event is appended; the
 * eventfd is written only when the list goes from empty to non-empty, so
 * a burst of completions costs one write(2).  kaio_queue_reap() takes each
 * event exactly once, whichever thread reaps; it drains the eventfd when
 * it empties the list, so the fd stays readable exactly while events wait.
 *
 * Concurrency contract: qtab_lock protects the table of queues (indexed
 * by fd); each queue's lock protects its list.  Lock order: qtab_lock,
 * then a queue's lock.  No lock is held across a blocking poll(2).
 * Queues belong to the process that made them: in a fork child an
 * inherited queue answers EBADF, and the child can make its own.
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

#define QTAB_MAX	65536	/* queue fds must be below this */

struct qev {
	struct qev *next;
	struct kaio_event ev;
};

struct kaio_queue {
	pthread_mutex_t lock;
	int fd;
	int epoch;
	struct qev *head, *tail;
	unsigned long n;
};

static pthread_mutex_t qtab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kaio_queue *qtab[QTAB_MAX];

/* The queue behind fd, if this process made it; called with qtab_lock. */
static struct kaio_queue *lookup_locked(int fd)
{
	struct kaio_queue *q;

	if (fd < 0 || fd >= QTAB_MAX)
		return NULL;
	q = qtab[fd];
	if (!q || q->epoch != atomic_load(&kaio__epoch))
		return NULL;
	return q;
}

int kaio__queue_valid(int fd)
{
	int ok;

	pthread_mutex_lock(&qtab_lock);
	ok = lookup_locked(fd) != NULL;
	pthread_mutex_unlock(&qtab_lock);
	return ok;
}

KAIO_EXPORT int kaio_queue_create(int flags)
{
	struct kaio_queue *q;
	int fd;

	if (flags & ~KAIO_QUEUE_CLOEXEC)
		return kaio__fail(EINVAL);
	kaio__init();
	fd = eventfd(0, EFD_NONBLOCK |
			(flags & KAIO_QUEUE_CLOEXEC ? EFD_CLOEXEC : 0));
	if (fd < 0)
		return -1;
	if (fd >= QTAB_MAX) {
		close(fd);
		return kaio__fail(EMFILE);
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		close(fd);
		return kaio__fail(ENOMEM);
	}
	pthread_mutex_init(&q->lock, NULL);
	q->fd = fd;
	q->epoch = atomic_load(&kaio__epoch);
	pthread_mutex_lock(&qtab_lock);
	free(qtab[fd]);		/* a parent's, inherited and closed */
	qtab[fd] = q;
	pthread_mutex_unlock(&qtab_lock);
	return fd;
}

KAIO_EXPORT int kaio_queue_destroy(int fd)
{
	struct kaio_queue *q;
	struct qev *e;

	pthread_mutex_lock(&qtab_lock);
	q = lookup_locked(fd);
	if (q)
		qtab[fd] = NULL;
	pthread_mutex_unlock(&qtab_lock);
	if (!q)
		return kaio__fail(EBADF);
	while ((e = q->head)) {
		q->head = e->next;
		free(e);
	}
	close(q->fd);
	pthread_mutex_destroy(&q->lock);
	free(q);
	return 0;
}

/* Deliver an event; returns 0, or -errno if the queue is gone. */
int kaio__queue_post(int fd, struct aiocb *cb, union sigval value,
		     ssize_t res)
{
	struct kaio_queue *q;
	struct qev *e = malloc(sizeof(*e));
	uint64_t one = 1;
	int was_empty, saved = errno;

	if (!e)
		return -ENOMEM;
	e->next = NULL;
	e->ev.aiocb = cb;
	e->ev.value = value;
	e->ev.res = res < 0 ? -1 : res;
	e->ev.error = res < 0 ? (int)-res : 0;
	pthread_mutex_lock(&qtab_lock);
	q = lookup_locked(fd);
	if (!q) {
		pthread_mutex_unlock(&qtab_lock);
		free(e);
		return -EBADF;
	}
	pthread_mutex_lock(&q->lock);
	pthread_mutex_unlock(&qtab_lock);
	was_empty = !q->head;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->n++;
	/* Under the queue lock, so a reaper's drain cannot race it. */
	if (was_empty && write(q->fd, &one, sizeof(one)) < 0)
		errno = saved;
	pthread_mutex_unlock(&q->lock);
	return 0;
}

/* Take up to max events; drains the eventfd when the list empties. */
static int take(int fd, struct kaio_event *ev, int max)
{
	struct kaio_queue *q;
	struct qev *e;
	uint64_t cnt;
	int n = 0, saved = errno;

	pthread_mutex_lock(&qtab_lock);
	q = lookup_locked(fd);
	if (!q) {
		pthread_mutex_unlock(&qtab_lock);
		return -EBADF;
	}
	pthread_mutex_lock(&q->lock);
	pthread_mutex_unlock(&qtab_lock);
	while (n < max && (e = q->head)) {
		q->head = e->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		ev[n++] = e->ev;
		free(e);
	}
	if (!q->head && n && read(q->fd, &cnt, sizeof(cnt)) < 0)
		errno = saved;
	pthread_mutex_unlock(&q->lock);
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

KAIO_EXPORT int kaio_queue_reap(int fd, struct kaio_event *events, int max,
				const struct timespec *timeout)
{
	struct timespec dl;
	struct pollfd p;
	int n, ms;

	if (!events || max <= 0)
		return kaio__fail(EINVAL);
	if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
			timeout->tv_nsec >= 1000000000))
		return kaio__fail(EINVAL);
	if (timeout)
		kaio__deadline(&dl, timeout);
	for (;;) {
		n = take(fd, events, max);
		if (n)
			return n < 0 ? kaio__fail(-n) : n;
		ms = remaining_ms(timeout ? &dl : NULL);
		if (ms == 0)
			return 0;
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, ms) < 0 && errno == EINTR)
			return -1;
	}
}

void kaio__queue_reset(void)
{
	/* The parent's queues stay in the table, refused by their epoch. */
	pthread_mutex_init(&qtab_lock, NULL);
}
