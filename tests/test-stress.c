/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Thousands of requests at once over many fds from several threads, with
 * random cancels; every request ends exactly once and every byte is right.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test-common.h"

enum { NFD = 8, NTHR = 4, PER = 1500, SZ = 1024, FSIZE = 1 << 20 };

static int fds[NFD];
static atomic_int notes;

static void note(union sigval v)
{
	(void)v;
	atomic_fetch_add(&notes, 1);
}

struct slot {
	struct aiocb cb;
	char buf[SZ];
	int write;
};

static void *hammer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct slot *s = calloc(PER, sizeof(*s));
	long bad = 0;
	ssize_t ret;
	int i, e, fdi;
	off_t off;

	for (i = 0; i < PER; i++) {
		fdi = rand_r(&seed) % NFD;
		off = (off_t)(rand_r(&seed) % (FSIZE / SZ)) * SZ;
		t_prep(&s[i].cb, fds[fdi], s[i].buf, SZ, off);
		s[i].cb.aio_reqprio = rand_r(&seed) % 4;
		if (i % 3 == 0) {
			s[i].cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
			s[i].cb.aio_sigevent.sigev_notify_function = note;
		}
		/* Writes put back the bytes that are already there. */
		s[i].write = rand_r(&seed) % 4 == 0;
		if (s[i].write) {
			int j;

			for (j = 0; j < SZ; j++)
				s[i].buf[j] = t_byte(off + j);
		}
		if ((s[i].write ? aio_write(&s[i].cb) : aio_read(&s[i].cb)) != 0)
			bad++;
		if (rand_r(&seed) % 8 == 0)
			aio_cancel(s[i].cb.aio_fildes,
				   &s[rand_r(&seed) % (i + 1)].cb);
	}
	for (i = 0; i < PER; i++) {
		e = t_wait(&s[i].cb, 20000);
		if (e == ECANCELED) {
			if (aio_return(&s[i].cb) != -1)
				bad++;
			continue;
		}
		if (e != 0) {
			fprintf(stderr, "stress: %s %d: error %d\n",
				s[i].write ? "write" : "read", i, e);
			bad++;
		} else if ((ret = aio_return(&s[i].cb)) != SZ) {
			fprintf(stderr, "stress: %s %d: returned %zd\n",
				s[i].write ? "write" : "read", i, ret);
			bad++;
		} else if (!t_check_bytes(s[i].buf, s[i].cb.aio_offset, SZ)) {
			fprintf(stderr, "stress: %s %d: wrong bytes\n",
				s[i].write ? "write" : "read", i);
			bad++;
		}
	}
	free(s);
	return (void *)bad;
}

START_TEST(stress_many)
{
	pthread_t t[NTHR];
	void *bad;
	long total = 0;
	int i;

	for (i = 0; i < NFD; i++) {
		fds[i] = t_tmpfile(FSIZE, 0);
		if (i % 2)
			posix_fadvise(fds[i], 0, 0, POSIX_FADV_DONTNEED);
	}
	for (i = 0; i < NTHR; i++)
		pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)(i + 1));
	for (i = 0; i < NTHR; i++) {
		pthread_join(t[i], &bad);
		total += (long)bad;
	}
	ck_assert_int_eq(total, 0);
	/* Every SIGEV_THREAD request (completed or cancelled) notified once. */
	for (i = 0; i < 1000 && atomic_load(&notes) < NTHR * (PER + 2) / 3; i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&notes), NTHR * ((PER + 2) / 3));
	for (i = 0; i < NFD; i++)
		close(fds[i]);
}
END_TEST

/*
 * Many threads (40) each wait in aio_suspend() for a pipe read of their
 * own, this thread waits for one of theirs too, and the bytes come in a
 * shuffled order.  Every completion wakes every sleeper (suspend.c): no
 * wait may outlast its 10 s timeout.  A wait that times out on a request
 * already finished is a lost wake-up, and says so.  This was the test of
 * the aimed wake-ups (15a844d, reverted): there the watcher, waiting for
 * another thread's request, lost its wake-up about once in six TSan runs
 * (a request found done after the sequence was read made it sleep on its
 * own wake bit before that completion moved the sequence).
 */
enum { WT = 40, WROUNDS = 60 };

static struct waiter {
	int p[2];
	struct aiocb cb;
	char byte;
	atomic_int watched;	/* the watcher is done with cb this round */
	int late, lost, bad;
} wt[WT];
static pthread_barrier_t wbar;

/* Wait for l[0] as t_wait() does, counting a timeout in *late, and one on
 * a finished request (a lost wake-up) in *lost too. */
static void wait_one(const struct aiocb *l[1], int *late, int *lost)
{
	struct timespec ts = { 10, 0 };

	while (aio_error(l[0]) == EINPROGRESS)
		if (aio_suspend(l, 1, &ts) < 0 && errno == EAGAIN) {
			int fin = aio_error(l[0]) != EINPROGRESS;

			(*late)++;
			*lost += fin;
			t_dump_state(fin ? "aio_suspend timed out on a finished "
				     "request (a lost wake-up)"
				     : "aio_suspend timed out");
			break;
		}
}

static void *own_waiter(void *arg)
{
	struct waiter *w = arg;
	const struct aiocb *l[1] = { &w->cb };
	int r;

	for (r = 0; r < WROUNDS; r++) {
		t_prep(&w->cb, w->p[0], &w->byte, 1, 0);
		atomic_store(&w->watched, 0);
		if (aio_read(&w->cb))
			w->bad++;
		pthread_barrier_wait(&wbar);	/* all submitted */
		wait_one(l, &w->late, &w->lost);
		while (!atomic_load(&w->watched))
			sched_yield();
		if (aio_error(&w->cb) != 0 || aio_return(&w->cb) != 1 ||
		    w->byte != (char)r)
			w->bad++;
		pthread_barrier_wait(&wbar);	/* all returned */
	}
	return NULL;
}

START_TEST(suspend_many_waiters)
{
	pthread_t t[WT];
	const struct aiocb *l[1];
	int order[WT], i, j, k, r, late = 0, lost = 0, bad = 0;
	unsigned int seed = 12345;

	pthread_barrier_init(&wbar, NULL, WT + 1);
	for (i = 0; i < WT; i++) {
		t_pipe(wt[i].p);
		wt[i].late = wt[i].lost = wt[i].bad = 0;
		ck_assert_int_eq(pthread_create(&t[i], NULL, own_waiter,
						&wt[i]), 0);
	}
	for (r = 0; r < WROUNDS; r++) {
		char c = (char)r;

		pthread_barrier_wait(&wbar);
		for (i = 0; i < WT; i++)
			order[i] = i;
		for (i = WT - 1; i > 0; i--) {
			j = (int)(rand_r(&seed) % (unsigned int)(i + 1));
			k = order[i], order[i] = order[j], order[j] = k;
		}
		/* The watcher (this thread) waits for one of theirs. */
		k = order[WT - 1];
		for (i = 0; i < WT - 1; i++) {
			ck_assert_int_eq(write(wt[order[i]].p[1], &c, 1), 1);
			if (i % 8 == 0)
				usleep(200);
		}
		l[0] = &wt[k].cb;
		for (i = 0; i < WT; i++)
			if (i != k)
				atomic_store(&wt[i].watched, 1);
		ck_assert_int_eq(write(wt[k].p[1], &c, 1), 1);
		wait_one(l, &late, &lost);
		atomic_store(&wt[k].watched, 1);
		pthread_barrier_wait(&wbar);
	}
	for (i = 0; i < WT; i++) {
		pthread_join(t[i], NULL);
		late += wt[i].late;
		lost += wt[i].lost;
		bad += wt[i].bad;
		close(wt[i].p[0]);
		close(wt[i].p[1]);
	}
	pthread_barrier_destroy(&wbar);
	ck_assert_msg(lost == 0, "%d lost wake-ups", lost);
	ck_assert_int_eq(late, 0);
	ck_assert_int_eq(bad, 0);
}
END_TEST

Suite *stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = t_tcase("mixed");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, stress_many);
	suite_add_tcase(s, tc);
	tc = t_tcase("wakeups");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, suspend_many_waiters);
	suite_add_tcase(s, tc);
	return s;
}
