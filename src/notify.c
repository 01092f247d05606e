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
 * thread made with those attributes, as glibc does.  Without attributes it
 * runs on a notifier thread: idle ones are reused, and a new one starts
 * whenever none is idle, so a callback that blocks (say, in aio_suspend())
 * never holds up another.  Notifier threads block every signal and exit
 * after the pool's idle time.
 *
 * Concurrency contract: nt.lock protects the job queue and the counts; no
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

struct job {
	struct job *next;
	void (*fn)(union sigval);
	union sigval value;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	int nthreads, nidle, nqueued;
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

static void send_signal(const struct kaio_notify *n)
{
	siginfo_t si;
	int ret;

	if (n->signo == 0)
		return;
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

static struct job *take_locked(void)
{
	struct job *j;
	struct timespec dl;
	int ret = 0;

	while (!(j = nt.head)) {
		if (ret == ETIMEDOUT)
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
	return j;
}

static void *notifier(void *arg)
{
	struct job *j;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&nt.lock);
		j = take_locked();
		if (!j)
			nt.nthreads--;
		pthread_mutex_unlock(&nt.lock);
		if (!j)
			return NULL;
		j->fn(j->value);
		free(j);
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

/* The thread glibc-style SIGEV_THREAD with attributes gets. */
static void *one_shot(void *arg)
{
	struct job *j = arg;

	j->fn(j->value);
	free(j);
	return NULL;
}

static void run_inline(struct job *j)
{
	struct job *next;

	for (; j; j = next) {
		next = j->next;
		j->fn(j->value);
		free(j);
	}
}

static void run_callback(const struct kaio_notify *n)
{
	struct job *j = malloc(sizeof(*j)), *here = NULL;

	if (!j) {
		kaio__count(KAIO_STAT_NOTIFY_FAILED);
		return;
	}
	j->next = NULL;
	j->fn = n->fn;
	j->value = n->value;
	kaio__count(KAIO_STAT_NOTIFY_THREAD);
	if (n->attr && start_thread(n->attr, one_shot, j) == 0)
		return;
	pthread_once(&nt_once, nt_init);
	pthread_mutex_lock(&nt.lock);
	if (nt.tail)
		nt.tail->next = j;
	else
		nt.head = j;
	nt.tail = j;
	nt.nqueued++;
	if (nt.nidle >= nt.nqueued)
		pthread_cond_signal(&nt.cond);
	else if (start_thread(NULL, notifier, NULL) == 0)
		nt.nthreads++;
	else if (nt.nthreads == 0) {
		/* No thread at all can run it: run it here, never lose it. */
		here = nt.head;
		nt.head = nt.tail = NULL;
		nt.nqueued = 0;
	}
	/* else: a busy notifier takes it when its callback returns. */
	pthread_mutex_unlock(&nt.lock);
	run_inline(here);
}

void kaio__notify(const struct kaio_notify *n, struct aiocb *cb, ssize_t res)
{
	switch (n->notify) {
	case SIGEV_KAIO:
		kaio__count(kaio__queue_post(n->queue, cb, n->value, res)
			    ? KAIO_STAT_NOTIFY_FAILED : KAIO_STAT_NOTIFY_QUEUE);
		break;
	case SIGEV_SIGNAL:
	case SIGEV_THREAD_ID:
		send_signal(n);
		break;
	case SIGEV_THREAD:
		run_callback(n);
		break;
	}
}

void kaio__notify_reset(void)
{
	memset(&nt, 0, sizeof(nt));
	pthread_mutex_init(&nt.lock, NULL);
	nt_once = (pthread_once_t)PTHREAD_ONCE_INIT;
}
