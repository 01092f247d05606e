/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A thread in aio_suspend() is woken by the completion of a request it saw
 * in progress, wherever that request completes, also while a kernel ring
 * is busy with something else.  Run by tests/check-wake.sh under each
 * KAIO_BACKEND.
 *
 * The busy ring: a kaio_poll() of an empty pipe, in flight all along.  The
 * request waited for: an aio_fsync() held between the moment its aiocb
 * says EINPROGRESS and the moment a backend has it.  The program exports
 * its own syscall() (linked with -export-dynamic), which makes the
 * library's first gettid(2) in a thread (it notes its submitter's thread
 * ID as it hands the request on, fdmap.c) take HOLD_MS, once: each round
 * submits from a new thread.  The waiter, meanwhile, finds no
 * ring that holds the fsync, nothing counted as pending in user space,
 * and one busy ring.  Were it to sleep in that ring (reaping there for
 * itself, reap.c), the fsync's completion, which comes from elsewhere and
 * wakes the futex sleepers, would not reach it, and it would sleep until
 * its own timeout (WAIT_S).  It must return within a second of the
 * fsync's completion, in each of ROUNDS rounds (where the waiter gets
 * the ring's role only after the ring's reaper has let it go, the old
 * code slept there in most rounds, not all).
 *
 * The wrong sleep shows only where the fsync completes outside the ring
 * the poll keeps busy.  The counters say who served each: a run is
 * SKIP where the pool served the poll (no ring was busy: threads), or
 * where both went to native AIO (one context: kernel, or auto without
 * io_uring), or both to io_uring with KAIO_URING_RINGS=0 (ring0 alone).
 * Both on io_uring otherwise means two rings: the poll on ring0 (its
 * submitter thread enters it), the fsync on the submitting thread's own
 * ring, unless that ring could not be made (no fd, no memory), which the
 * counters do not show.
 *
 * Exit 0 pass, 1 fail, 77 skip (a hang is killed by alarm()).
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "shim-real.h"

enum { HOLD_MS = 1500, WAIT_S = 6, ROUNDS = 3 };

static atomic_int hold_next, held;
static atomic_llong hold_end;
static __thread int i_submit;	/* the round's submitting thread */

__attribute__((visibility("default"))) long syscall(long nr, ...);

long syscall(long nr, ...)
{
	long a[6];

	SHIM_SYSCALL_ARGS(a, nr);
	if (nr == SYS_gettid && i_submit && atomic_exchange(&hold_next, 0)) {
		atomic_store(&held, 1);
		usleep(HOLD_MS * 1000);
		atomic_store(&hold_end, shim_now_ms());
	}
	return shim_syscall(nr, a);
}

static struct aiocb fs_cb;
static atomic_int submitted, saw;
static atomic_llong waited_at, woke_at;
static int wait_ret, wait_errno;

static void *waiter(void *arg)
{
	const struct aiocb *l[1] = { &fs_cb };
	struct timespec ts = { WAIT_S, 0 };

	(void)arg;
	while (aio_error(&fs_cb) != EINPROGRESS)
		if (atomic_load(&submitted))
			return NULL;	/* never seen in progress */
	atomic_store(&saw, 1);
	atomic_store(&waited_at, shim_now_ms());
	wait_ret = aio_suspend(l, 1, &ts);
	wait_errno = errno;
	atomic_store(&woke_at, shim_now_ms());
	return NULL;
}

/*
 * One round: an aio_fsync() of fd, held in submission while a second
 * thread waits for it.  0 pass, 1 fail, 77 inconclusive.
 */
/* Who served the requests between two snapshots of the counters. */
static int served_by(const struct kaio_stats *a, const struct kaio_stats *b)
{
	static const int kinds[] = {
		KAIO_STAT_URING, KAIO_STAT_KERNEL, KAIO_STAT_POOL
	};
	unsigned i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (b->v[kinds[i]] != a->v[kinds[i]])
			return kinds[i];
	return -1;
}

static void *submit_fsync(void *arg)
{
	i_submit = 1;
	atomic_store(&hold_next, 1);
	if (aio_fsync(O_SYNC, arg)) {
		perror("wake-prog: aio_fsync");
		exit(1);
	}
	atomic_store(&hold_next, 0);
	return NULL;
}

static int round_once(int fd, int n, int *kind)
{
	struct kaio_stats sa, sb;
	long long done_at;
	pthread_t t, s;
	int err, ret = 0;

	memset(&fs_cb, 0, sizeof(fs_cb));
	fs_cb.aio_fildes = fd;
	atomic_store(&submitted, 0);
	atomic_store(&saw, 0);
	atomic_store(&held, 0);
	/* fs_cb's memory says 0 (done) until aio_fsync() marks it. */
	if (pthread_create(&t, NULL, waiter, NULL))
		return 1;
	kaio_stats_get(&sa, sizeof(sa));
	if (pthread_create(&s, NULL, submit_fsync, &fs_cb))
		return 1;
	pthread_join(s, NULL);
	atomic_store(&submitted, 1);
	while ((err = aio_error(&fs_cb)) == EINPROGRESS)
		usleep(1000);
	done_at = shim_now_ms();
	kaio_stats_get(&sb, sizeof(sb));
	*kind = served_by(&sa, &sb);
	pthread_join(t, NULL);
	if (err || aio_return(&fs_cb) != 0) {
		fprintf(stderr, "FAIL: round %d: aio_fsync: error %d\n", n,
			err);
		ret = 1;
	}
	if (!atomic_load(&held)) {
		/* The thread's ID was not asked with syscall() there. */
		printf("SKIP: round %d: the fsync was never held in "
		       "submission\n", n);
		return ret ? ret : 77;
	}
	if (!atomic_load(&saw) ||
	    atomic_load(&waited_at) > atomic_load(&hold_end) - 1000) {
		printf("SKIP: round %d: the waiter did not wait while the "
		       "fsync was held\n", n);
		return ret ? ret : 77;
	}
	if (wait_ret != 0 || atomic_load(&woke_at) - done_at > 1000) {
		fprintf(stderr, "FAIL: round %d: a waiter that saw the fsync "
			"in progress %s %lld ms after it completed "
			"(aio_suspend() = %d, errno %d)\n", n,
			wait_ret ? "timed out" : "returned",
			atomic_load(&woke_at) - done_at, wait_ret,
			wait_ret ? wait_errno : 0);
		return 1;
	}
	/* done_at is when the submitter, polling, saw it. */
	printf("round %d: the waiter returned %+lld ms from the fsync's "
	       "completion\n", n, atomic_load(&woke_at) - done_at);
	return ret;
}

int main(void)
{
	char path[] = "/tmp/kaio-wake.XXXXXX";
	struct aiocb pl;
	struct kaio_stats st0, st1;
	const char *rings = getenv("KAIO_URING_RINGS");
	int p[2], fd, bad = 0, ran = 0, i, r, kind[ROUNDS], poll_kind;

	alarm(60);
	fd = mkstemp(path);
	if (fd < 0 || pipe(p)) {
		perror("wake-prog: setup");
		return 1;
	}
	unlink(path);
	if (write(fd, "data", 4) != 4)
		return 1;
	memset(&pl, 0, sizeof(pl));
	pl.aio_fildes = p[0];
	pl.aio_nbytes = POLLIN;
	if (kaio_poll(&pl)) {
		perror("wake-prog: kaio_poll");
		return 1;
	}
	for (i = 0; i < ROUNDS; i++) {
		r = round_once(fd, i + 1, &kind[i]);
		if (r == 1)
			bad = 1;
		else if (r == 0)
			ran |= 1 << i;
	}
	/* The poll ends with the pipe's first byte. */
	kaio_stats_get(&st0, sizeof(st0));
	if (write(p[1], "x", 1) != 1)
		return 1;
	while (aio_error(&pl) == EINPROGRESS)
		usleep(1000);
	kaio_stats_get(&st1, sizeof(st1));
	poll_kind = served_by(&st0, &st1);
	if (aio_error(&pl) || !(aio_return(&pl) & POLLIN)) {
		fprintf(stderr, "FAIL: the poll: error %d\n", aio_error(&pl));
		bad = 1;
	}
	close(fd);
	close(p[0]);
	close(p[1]);
	if (bad)
		return bad;
	if (poll_kind == KAIO_STAT_POOL || poll_kind < 0) {
		printf("SKIP: the pool served the poll: no ring was busy\n");
		return 77;
	}
	/* The rounds whose fsync completed outside the poll's ring. */
	for (i = 0; i < ROUNDS; i++)
		if (kind[i] == poll_kind &&
		    (kind[i] == KAIO_STAT_KERNEL ||
		     (rings && atoi(rings) == 0)))
			ran &= ~(1 << i);
	if (!ran) {
		printf("SKIP: no round's fsync completed outside the poll's "
		       "ring (both served by %s)\n",
		       kaio_stat_name(poll_kind));
		return 77;
	}
	return 0;
}
