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

Suite *stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = t_tcase("mixed");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, stress_many);
	suite_add_tcase(s, tc);
	return s;
}
