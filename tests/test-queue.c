/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Completion queues: SIGEV_KAIO, kaio_queue_create/reap/destroy. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

static void prep_q(struct aiocb *cb, int fd, void *buf, size_t len, off_t off,
		   int q, int val)
{
	t_prep(cb, fd, buf, len, off);
	cb->aio_sigevent.sigev_notify = SIGEV_KAIO;
	cb->aio_sigevent.sigev_signo = q;
	cb->aio_sigevent.sigev_value.sival_int = val;
}

static int readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, ms) == 1;
}

START_TEST(queue_epoll)
{
	enum { N = 64 };
	struct aiocb cb[N];
	struct kaio_event ev[N];
	struct epoll_event ee = { .events = EPOLLIN };
	char buf[N][64];
	int seen[N] = { 0 }, q, ep, fd = t_tmpfile(N * 64, 0), i, got = 0, n;

	q = kaio_queue_create(KAIO_QUEUE_CLOEXEC);
	ck_assert_int_ge(q, 0);
	ep = epoll_create1(0);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, q, &ee), 0);
	ck_assert(!readable(q, 0));
	for (i = 0; i < N; i++) {
		prep_q(&cb[i], fd, buf[i], 64, (off_t)i * 64, q, i);
		ck_assert_int_eq(aio_read(&cb[i]), 0);
	}
	while (got < N) {
		ck_assert_int_eq(epoll_wait(ep, &ee, 1, 5000), 1);
		n = kaio_queue_reap(q, ev, N, NULL);
		ck_assert_int_gt(n, 0);
		for (i = 0; i < n; i++) {
			int k = ev[i].value.sival_int;

			ck_assert_ptr_eq(ev[i].aiocb, &cb[k]);
			ck_assert_int_eq(seen[k]++, 0);
			ck_assert_int_eq(ev[i].error, 0);
			ck_assert_int_eq(ev[i].res, 64);
			/* The result is in the aiocb too. */
			ck_assert_int_eq(aio_error(&cb[k]), 0);
			ck_assert_int_eq(aio_return(&cb[k]), 64);
			ck_assert(t_check_bytes(buf[k], (off_t)k * 64, 64));
		}
		got += n;
	}
	ck_assert_int_eq(got, N);
	/* Drained: no longer readable; a zero timeout does not block. */
	ck_assert(!readable(q, 0));
	{
		struct timespec zero = { 0, 0 }, ts = { 0, 100000000 };

		ck_assert_int_eq(kaio_queue_reap(q, ev, N, &zero), 0);
		ck_assert_int_eq(kaio_queue_reap(q, ev, N, &ts), 0);
	}
	close(ep);
	ck_assert_int_eq(kaio_queue_destroy(q), 0);
	close(fd);
}
END_TEST

START_TEST(queue_errors)
{
	struct aiocb cb;
	struct kaio_event ev;
	char buf[8];
	int fd = t_tmpfile(64, 0), q;

	prep_q(&cb, fd, buf, 8, 0, fd, 0);	/* not a queue */
	ck_assert_int_eq(aio_read(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(kaio_queue_reap(fd, &ev, 1, NULL), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(kaio_queue_create(12345), -1);
	ck_assert_int_eq(errno, EINVAL);
	q = kaio_queue_create(0);
	ck_assert_int_ge(q, 0);
	ck_assert_int_eq(kaio_queue_reap(q, &ev, 0, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(kaio_queue_destroy(q), 0);
	ck_assert_int_eq(kaio_queue_destroy(q), -1);
	ck_assert_int_eq(errno, EBADF);
	close(fd);
}
END_TEST

struct reaper_arg {
	int q;
	atomic_int *seen;
	atomic_int *total;
	int want;
};

static void *reaper(void *p)
{
	struct reaper_arg *a = p;
	struct kaio_event ev[16];
	struct timespec ts = { 0, 20000000 };
	int n, i;

	while (atomic_load(a->total) < a->want) {
		n = kaio_queue_reap(a->q, ev, 16, &ts);
		for (i = 0; i < n; i++)
			atomic_fetch_add(&a->seen[ev[i].value.sival_int], 1);
		atomic_fetch_add(a->total, n > 0 ? n : 0);
	}
	return NULL;
}

/* Several reapers: every event exactly once. */
START_TEST(queue_many_reapers)
{
	enum { N = 3000, R = 4 };
	struct aiocb *cb = calloc(N, sizeof(*cb));
	char *buf = malloc(N * 16);
	atomic_int *seen = calloc(N, sizeof(*seen)), total = 0;
	struct reaper_arg a;
	pthread_t t[R];
	int fd = t_tmpfile(N * 16, 0), q = kaio_queue_create(0), i;

	ck_assert_int_ge(q, 0);
	a.q = q;
	a.seen = seen;
	a.total = &total;
	a.want = N;
	for (i = 0; i < R; i++)
		pthread_create(&t[i], NULL, reaper, &a);
	for (i = 0; i < N; i++) {
		prep_q(&cb[i], fd, buf + i * 16, 16, (off_t)i * 16, q, i);
		ck_assert_int_eq(i % 2 ? aio_read(&cb[i]) : aio_write(&cb[i]), 0);
	}
	for (i = 0; i < R; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(atomic_load(&total), N);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(atomic_load(&seen[i]), 1);
	kaio_queue_destroy(q);
	free(cb);
	free(buf);
	free(seen);
	close(fd);
}
END_TEST

/* A lio_listio list event can target a queue. */
START_TEST(queue_list_event)
{
	enum { N = 8 };
	struct aiocb cb[N], *l[N];
	struct sigevent sev;
	struct kaio_event ev[N + 1];
	char buf[N][32];
	int fd = t_tmpfile(N * 32, 0), q = kaio_queue_create(0), i, got = 0,
	    lists = 0, n;

	for (i = 0; i < N; i++) {
		prep_q(&cb[i], fd, buf[i], 32, (off_t)i * 32, q, i);
		cb[i].aio_lio_opcode = LIO_READ;
		l[i] = &cb[i];
	}
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_KAIO;
	sev.sigev_signo = q;
	sev.sigev_value.sival_int = 777;
	ck_assert_int_eq(lio_listio(LIO_NOWAIT, l, N, &sev), 0);
	while (got < N + 1) {
		ck_assert(readable(q, 5000));
		n = kaio_queue_reap(q, ev, N + 1, NULL);
		for (i = 0; i < n; i++)
			if (!ev[i].aiocb) {
				ck_assert_int_eq(ev[i].value.sival_int, 777);
				lists++;
			}
		got += n;
	}
	ck_assert_int_eq(lists, 1);
	kaio_queue_destroy(q);
	close(fd);
}
END_TEST

/* A fork child gets EBADF on an inherited queue and can make its own. */
START_TEST(queue_fork)
{
	struct kaio_event ev;
	int q = kaio_queue_create(0), status;
	pid_t pid;

	ck_assert_int_ge(q, 0);
	pid = t_fork();
	if (pid == 0) {
		struct aiocb cb;
		char buf[8];
		int bad = 0, q2, fd = t_tmpfile(8, 0);

		if (kaio_queue_reap(q, &ev, 1, NULL) != -1 || errno != EBADF)
			bad |= 1;
		q2 = kaio_queue_create(0);
		if (q2 < 0)
			bad |= 2;
		prep_q(&cb, fd, buf, 8, 0, q2, 5);
		if (aio_read(&cb) || kaio_queue_reap(q2, &ev, 1, NULL) != 1 ||
		    ev.aiocb != &cb || ev.res != 8)
			bad |= 4;
		_exit(bad);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	kaio_queue_destroy(q);
}
END_TEST


static int uring_serves_reads(const char *name)
{
	const char *m = getenv("KAIO_BACKEND");

	if (m && !strcmp(m, "uring") && t_uring_ok() && !t_threaded_kernel())
		return 1;
	printf("SKIP: %s: only KAIO_BACKEND=uring enters a cached read into "
	       "the thread's io_uring ring (KAIO_BACKEND=%s, io_uring %s, "
	       "threaded kernel %d)\n", name, m ? m : "",
	       t_uring_ok() ? "usable" : "refused", t_threaded_kernel());
	return 0;
}

/* One read to queue q and its event, through epoll, looked for pause_us
 * after the submission; 0 if all was well. */
static int read_one_after(int ep, int q, int fd, char *buf, off_t off,
			  int val, int pause_us)
{
	struct epoll_event ee;
	struct kaio_event ev;
	struct aiocb cb;
	long t0;
	int n;

	prep_q(&cb, fd, buf, 64, off, q, val);
	if (aio_read(&cb))
		return 1;
	if (pause_us)
		usleep(pause_us);
	t0 = t_now_ms();
	if ((n = epoll_wait(ep, &ee, 1, 5000)) != 1) {
		struct pollfd pf = { .fd = q, .events = POLLIN };
		int err = errno;

		fprintf(stderr, "read_one: epoll_wait() gave %d (%s) after %ld "
			"ms; the queue's fd polls %d\n", n, strerror(err),
			t_now_ms() - t0, poll(&pf, 1, 0));
		t_dump_state("read_one: no event");
		return 2;
	}
	n = kaio_queue_reap(q, &ev, 1, NULL);
	if (n != 1 || ev.aiocb != &cb || ev.value.sival_int != val ||
	    ev.res != 64 || aio_return(&cb) != 64 ||
	    !t_check_bytes(buf, off, 64))
		return 3;
	return 0;
}

static int read_one(int ep, int q, int fd, char *buf, off_t off, int val)
{
	return read_one_after(ep, q, fd, buf, off, val, 0);
}

/*
 * A read entered into the thread's ring with a queue notification reaches
 * an epoll loop on the queue through the ring's eventfd, reaped by the
 * loop's own kaio_queue_reap(): no other thread wakes for it.  Before,
 * the ring's reaper thread woke for each (a notified request was urgent),
 * reaped it and wrote the queue's eventfd: a switch per round.
 */
/*
 * The rounds (t_no_hop()).  arg: NULL, or how long each round looks for
 * its event after the submission, in microseconds; the first round then
 * waits 30 ms, longer than the reaper's grace period.
 */
static int no_hop_rounds(void *arg, int rounds, long res[2])
{
	struct epoll_event ee = { .events = EPOLLIN };
	int q, ep, fd, i, pause = arg ? *(int *)arg : 0;
	char buf[64];
	long sw0, t0;

	fd = t_tmpfile((size_t)rounds * 64, 0);
	q = kaio_queue_create(0);
	ep = epoll_create1(0);
	if (q < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, q, &ee))
		return -1;
	for (i = 0; i < 4; i++)		/* the ring and its reaper exist */
		if (read_one(ep, q, fd, buf, 0, i))
			return -1;
	sw0 = t_others_switches();
	if (sw0 < 0)
		return -1;
	t0 = t_now_ms();
	for (i = 0; i < rounds; i++)
		if (read_one_after(ep, q, fd, buf, (off_t)i * 64, i,
				   pause && !i ? 30000 : pause))
			return i + 1;
	res[1] = t_now_ms() - t0;
	res[0] = t_others_switches() - sw0;
	return 0;
}

START_TEST(queue_ring_no_hop)
{
	if (uring_serves_reads("queue_ring_no_hop"))
		t_no_hop(no_hop_rounds, NULL, 200);
}
END_TEST

/*
 * A loop slower than the reaper: the ring's reaper thread has reaped the
 * first read, after the loop left it for longer than the grace period,
 * and each later one is already reaped (out of the ring's count) when
 * kaio_queue_reap() looks.  The loop still attends the ring, and the
 * reaper must stand back.  Before, a look that found nothing in flight
 * did not count as the application's, so the reaper woke for every read
 * for good (a switch or two per round): seen as queue_ring_no_hop's
 * failures on a loaded machine, where the loop is preempted.
 */
START_TEST(queue_ring_slow_loop_no_hop)
{
	int pause = 1000;

	if (uring_serves_reads("queue_ring_slow_loop_no_hop"))
		t_no_hop(no_hop_rounds, &pause, 100);
}
END_TEST

/*
 * A ring signals one queue at a time.  Its thread's requests for a second
 * live queue still reach that queue (its reaper posts them), and once the
 * first queue is destroyed a new one takes the ring over.
 */
START_TEST(queue_ring_two_queues)
{
	struct epoll_event ee = { .events = EPOLLIN };
	char buf[64];
	int qa, qb, qc, ea, eb, ec, fd, i;

	if (!uring_serves_reads("queue_ring_two_queues"))
		return;
	fd = t_tmpfile(64 * 64, 0);
	qa = kaio_queue_create(0);
	qb = kaio_queue_create(0);
	ck_assert(qa >= 0 && qb >= 0);
	ea = epoll_create1(0);
	eb = epoll_create1(0);
	ck_assert_int_eq(epoll_ctl(ea, EPOLL_CTL_ADD, qa, &ee), 0);
	ck_assert_int_eq(epoll_ctl(eb, EPOLL_CTL_ADD, qb, &ee), 0);
	for (i = 0; i < 16; i++) {
		ck_assert_int_eq(read_one(ea, qa, fd, buf, i * 64, i), 0);
		ck_assert_int_eq(read_one(eb, qb, fd, buf, i * 64, i), 0);
	}
	ck_assert_int_eq(kaio_queue_destroy(qa), 0);
	close(ea);
	qc = kaio_queue_create(0);	/* may get qa's number */
	ck_assert_int_ge(qc, 0);
	ec = epoll_create1(0);
	ck_assert_int_eq(epoll_ctl(ec, EPOLL_CTL_ADD, qc, &ee), 0);
	for (i = 16; i < 32; i++) {
		ck_assert_int_eq(read_one(ec, qc, fd, buf, i * 64, i), 0);
		ck_assert_int_eq(read_one(eb, qb, fd, buf, i * 64, i), 0);
	}
	/* Nothing left behind.  qc's fd may be readable with no event:
	 * qb's reads were in the ring that signals qc.  A reap of qc finds
	 * none and clears it. */
	ck_assert(!readable(qb, 0));
	{
		struct timespec zero = { 0, 0 };
		struct kaio_event ev;

		ck_assert_int_eq(kaio_queue_reap(qc, &ev, 1, &zero), 0);
	}
	ck_assert(!readable(qc, 0));
	close(eb);
	close(ec);
	ck_assert_int_eq(kaio_queue_destroy(qb), 0);
	ck_assert_int_eq(kaio_queue_destroy(qc), 0);
	close(fd);
}
END_TEST

Suite *queue_suite(void)
{
	Suite *s = suite_create("queue");
	TCase *tc = t_tcase("normal");

	tcase_add_test(tc, queue_epoll);
	tcase_add_test(tc, queue_errors);
	tcase_add_test(tc, queue_many_reapers);
	tcase_add_test(tc, queue_list_event);
	tcase_add_test(tc, queue_fork);
	tcase_add_test(tc, queue_ring_no_hop);
	tcase_add_test(tc, queue_ring_slow_loop_no_hop);
	tcase_add_test(tc, queue_ring_two_queues);
	suite_add_tcase(s, tc);
	return s;
}
