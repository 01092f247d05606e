/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bugs an adversarial review of the fidelity and memory-safety work found,
 * each pinned by the test that showed it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

/*
 * aio_cancel(fd, NULL) never answers AIO_ALLDONE while a request submitted
 * before the call is in progress, even when the request is moving from a
 * kernel backend to the pool (native AIO's RWF_NOWAIT read that the page
 * cache could not serve).
 *
 * On a uniprocessor (User-Mode Linux runs this suite) both loops yield while
 * they spin: a spinning thread there takes the CPU from the pool worker that
 * has to finish the read.  With more CPUs they spin, to keep the race tight.
 * The rounds stop at RACE_ITERS or after RACE_SECONDS, whichever comes
 * first; at least RACE_MIN_ITERS always run.
 */
enum { RACE_ITERS = 2000, RACE_MIN_ITERS = 200, RACE_SECONDS = 15 };
static struct aiocb *race_cbs;
static atomic_int race_gen = -1, race_stop, race_bad;
static int race_fd, race_up;

static void *race_canceller(void *arg)
{
	int i;

	(void)arg;
	while (!atomic_load(&race_stop)) {
		i = atomic_load(&race_gen);
		if (i < 0)
			continue;
		if (aio_cancel(race_fd, NULL) == AIO_ALLDONE &&
		    aio_error(&race_cbs[i]) == EINPROGRESS)
			atomic_fetch_add(&race_bad, 1);
		if (race_up)
			sched_yield();
	}
	return NULL;
}

START_TEST(cancel_alldone_during_handoff)
{
	static char rb[4096];
	struct timespec t0, now;
	pthread_t t;
	int i;

	race_up = sysconf(_SC_NPROCESSORS_ONLN) == 1;
	race_fd = t_tmpfile(1000 * 4096, 0);
	ck_assert_int_eq(fdatasync(race_fd), 0);
	race_cbs = calloc(RACE_ITERS, sizeof(*race_cbs));
	ck_assert_ptr_nonnull(race_cbs);
	ck_assert_int_eq(pthread_create(&t, NULL, race_canceller, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < RACE_ITERS; i++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (i >= RACE_MIN_ITERS && now.tv_sec - t0.tv_sec >= RACE_SECONDS)
			break;
		posix_fadvise(race_fd, 0, 0, POSIX_FADV_DONTNEED);
		t_prep(&race_cbs[i], race_fd, rb, sizeof(rb),
		       (off_t)(i % 1000) * 4096);
		ck_assert_int_eq(aio_read(&race_cbs[i]), 0);
		atomic_store(&race_gen, i);
		while (aio_error(&race_cbs[i]) == EINPROGRESS)
			if (race_up)
				sched_yield();
		aio_return(&race_cbs[i]);
	}
	atomic_store(&race_stop, 1);
	pthread_join(t, NULL);
	ck_assert_msg(atomic_load(&race_bad) == 0, "AIO_ALLDONE %d times "
		      "while a request was in progress", atomic_load(&race_bad));
	free(race_cbs);
	close(race_fd);
}
END_TEST

Suite *review_suite(void)
{
	Suite *s = suite_create("review");
	TCase *tc = t_tcase("found");

	tcase_add_test(tc, cancel_alldone_during_handoff);
	suite_add_tcase(s, tc);
	return s;
}
