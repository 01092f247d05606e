/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the library holds and for how long:
 * - native AIO events (fs.aio-nr, a system-wide budget) are reserved only
 *   when native AIO really serves a request, and then few;
 * - a request outlives the thread that submitted it, whatever the thread
 *   (an application thread, a SIGEV_THREAD notifier that exits when idle);
 * - a request that another thread dispatches later (an O_APPEND write
 *   queued behind another) still runs with its submitter's identity.
 * The suite runs under every backend policy (tests/check-*.sh).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "test-common.h"

static const char *backend(void)
{
	const char *m = getenv("KAIO_BACKEND");

	return m && *m ? m : "auto";
}

static int is(const char *mode)
{
	return !strcmp(backend(), mode);
}

/* The native AIO rings mapped in this process: how many, how many bytes. */
static void aio_rings(int *count, long *bytes)
{
	char line[512];
	unsigned long lo, hi;
	FILE *f = fopen("/proc/self/maps", "r");

	ck_assert_ptr_nonnull(f);
	*count = 0;
	*bytes = 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/[aio]") &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			(*count)++;
			*bytes += (long)(hi - lo);
		}
	fclose(f);
}

/* Is the kernel the threaded-AIO kind (fs.aio-auto-threads = 1)? */
static int threaded_kernel(void)
{
	char c = '0';
	int fd = open("/proc/sys/fs/aio-auto-threads", O_RDONLY);

	if (fd < 0)
		return 0;
	if (read(fd, &c, 1) != 1)
		c = '0';
	close(fd);
	return c == '1';
}

static void run(int (*submit)(struct aiocb *), struct aiocb *cb, long want)
{
	ck_assert_int_eq(submit(cb), 0);
	ck_assert_int_eq(t_wait(cb, 10000), 0);
	ck_assert_int_eq(aio_return(cb), want);
}

static int fsync_sync(struct aiocb *cb)
{
	return aio_fsync(O_SYNC, cb);
}

/*
 * Finding 10: a process that io_uring or the caller serves reserves no
 * native AIO events (it reserved 4096 only to learn what kind of kernel it
 * ran on, and 16 idle processes exhausted fs.aio-max-nr); one that native
 * AIO serves reserves few.  The rings a process has mapped are its
 * contexts, so /proc/self/maps measures this process alone (fs.aio-nr is
 * the whole system's, moved by whatever else runs).
 */
START_TEST(aio_events_only_when_used)
{
	char buf[4096], *dbuf = NULL;
	struct aiocb cb;
	int fd = t_tmpfile(65536, 0), dfd = -1, p[2], n0, n1;
	long b0, b1;

	aio_rings(&n0, &b0);
	ck_assert_uint_eq(t_stat(KAIO_STAT_AIO_EVENTS), 0);

	t_prep(&cb, fd, buf, sizeof(buf), 4096);	/* cached: the caller */
	run(aio_read, &cb, sizeof(buf));
	t_prep(&cb, fd, NULL, 0, 0);
	run(fsync_sync, &cb, 0);
	t_pipe(p);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	t_prep(&cb, p[0], buf, 1, 0);
	run(aio_read, &cb, 1);
	if (t_direct_ok() && (dfd = t_tmpfile(65536, O_DIRECT)) >= 0) {
		ck_assert_int_eq(posix_memalign((void **)&dbuf, 4096, 4096), 0);
		t_prep(&cb, dfd, dbuf, 4096, 8192);
		run(aio_read, &cb, 4096);
		ck_assert(t_check_bytes(dbuf, 8192, 4096));
	}

	aio_rings(&n1, &b1);
	if (is("threads") || is("uring") ||
	    (is("auto") && t_uring_ok() && !threaded_kernel())) {
		ck_assert_msg(n1 == n0, "%d native AIO context(s) made (%ld bytes)"
			      " with KAIO_BACKEND=%s", n1 - n0, b1 - b0, backend());
		ck_assert_uint_eq(t_stat(KAIO_STAT_AIO_EVENTS), 0);
	} else if (is("kernel") && !t_stat(KAIO_STAT_KERNEL)) {
		/* io_setup() or io_submit() refused (tests/check-fallback.sh) */
		ck_assert_int_le(n1, n0 + 1);
		ck_assert_int_le(b1 - b0, 16384);
		ck_assert_uint_le(t_stat(KAIO_STAT_AIO_EVENTS), 256);
	} else if (is("kernel")) {
		/* The fsync (and the O_DIRECT read) went to native AIO. */
		ck_assert_int_eq(n1, n0 + 1);
		ck_assert_msg(b1 - b0 <= 16384, "a ring of %ld bytes", b1 - b0);
		ck_assert_uint_ge(t_stat(KAIO_STAT_AIO_EVENTS), 1);
		ck_assert_uint_le(t_stat(KAIO_STAT_AIO_EVENTS), 256);
	} else {
		/* auto with io_uring refused (tests/check-uring.sh's seccomp
		 * run) or a threaded native AIO: native AIO serves the fsync
		 * and the O_DIRECT read, with few events. */
		ck_assert_int_le(n1, n0 + 1);
		ck_assert_msg(b1 - b0 <= 16384, "a ring of %ld bytes", b1 - b0);
		ck_assert_uint_le(t_stat(KAIO_STAT_AIO_EVENTS), 256);
		if (t_stat(KAIO_STAT_KERNEL))
			ck_assert_uint_ge(t_stat(KAIO_STAT_AIO_EVENTS), 1);
	}
	free(dbuf);
	if (dfd >= 0)
		close(dfd);
	close(fd);
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * A small context never fails a request: with KAIO_BACKEND=kernel, polls
 * on an empty pipe fill it, the rest go to the pool (counted as its
 * overflow), and all complete when data comes; the next submission with
 * nothing in flight makes it bigger.
 */
START_TEST(aio_events_grow_never_fail)
{
	enum { N = 800 };	/* more than 128 events hold (about 380) */
	struct aiocb *cb = calloc(N, sizeof(*cb));
	unsigned long first, later, pool0, over0;
	int p[2], i, n0, n;
	long b;

	if (!is("kernel")) {
		printf("SKIP: aio_events_grow_never_fail: KAIO_BACKEND=%s\n",
		       backend());
		free(cb);
		return;
	}
	aio_rings(&n0, &b);
	t_pipe(p);
	pool0 = t_stat(KAIO_STAT_POOL);
	over0 = t_stat(KAIO_STAT_POOL_OVERFLOW);
	for (i = 0; i < N; i++) {
		t_prep(&cb[i], p[0], NULL, POLLIN, 0);
		ck_assert_int_eq(kaio_poll(&cb[i]), 0);
	}
	first = t_stat(KAIO_STAT_AIO_EVENTS);
	ck_assert_uint_le(first, 256);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(t_wait(&cb[i], 10000), 0);
		ck_assert_int_eq(aio_return(&cb[i]) & POLLIN, POLLIN);
	}
	/* Nothing in flight now: the next request gets a bigger context. */
	t_prep(&cb[0], p[0], NULL, POLLIN, 0);
	ck_assert_int_eq(kaio_poll(&cb[0]), 0);
	ck_assert_int_eq(t_wait(&cb[0], 10000), 0);
	ck_assert_int_eq(aio_return(&cb[0]) & POLLIN, POLLIN);
	later = t_stat(KAIO_STAT_AIO_EVENTS);
	if (!t_stat(KAIO_STAT_KERNEL)) {	/* tests/check-fallback.sh */
		printf("SKIP: aio_events_grow_never_fail: native AIO refused\n");
		ck_assert_uint_le(later, 256);
		goto out;
	}
	ck_assert_uint_ge(first, 1);
	ck_assert_uint_eq(later, first * 2);
	/* The pool ran only what the full context refused, and said so. */
	ck_assert_uint_ge(t_stat(KAIO_STAT_POOL_OVERFLOW) - over0, 1);
	ck_assert_uint_eq(t_stat(KAIO_STAT_POOL_OVERFLOW) - over0,
			  t_stat(KAIO_STAT_POOL) - pool0);
	aio_rings(&n, &b);
	ck_assert_int_eq(n, n0 + 1);	/* the small one was given back */
out:
	close(p[0]);
	close(p[1]);
	free(cb);
}
END_TEST

/* --- requests outlive their submitting thread ------------------------- */

enum { NP = 64 };

struct exiting {
	int (*p)[2];		/* NP pipes to read */
	int (*q)[2];		/* NP pipes to poll */
	char *buf;		/* NP bytes */
	struct aiocb *rd, *pl;	/* NP reads, NP polls */
	int fd;			/* a file, its pages dropped */
	char *fbuf;		/* NP x 4096 */
	struct aiocb *frd;	/* NP reads of it */
};

static void *submit_and_exit(void *arg)
{
	struct exiting *x = arg;
	int i;

	for (i = 0; i < NP; i++) {
		t_prep(&x->rd[i], x->p[i][0], &x->buf[i], 1, 0);
		ck_assert_int_eq(aio_read(&x->rd[i]), 0);
		t_prep(&x->pl[i], x->q[i][0], NULL, POLLIN, 0);
		ck_assert_int_eq(kaio_poll(&x->pl[i]), 0);
		t_prep(&x->frd[i], x->fd, x->fbuf + i * 4096, 4096,
		       (off_t)i * 4096);
		ck_assert_int_eq(aio_read(&x->frd[i]), 0);
	}
	return NULL;	/* exits with all of them in progress */
}

/*
 * Finding 4: io_uring cancels what a thread entered when it exits (the
 * reads and polls of pipes ended with ECANCELED).  64 pipe reads, 64 polls
 * and 64 reads of a file not in the page cache, from a thread that exits
 * at once; data comes later: every one completes, with the data.
 */
START_TEST(requests_outlive_thread)
{
	struct exiting x;
	pthread_t t;
	int i, e;

	if (t_threaded_kernel()) {
		/* Known gap, kaio_backends(7): the series cancels what a
		 * thread left in native AIO when it exits (issue 13). */
		printf("SKIP: %s: the threaded-AIO series cancels an exiting "
		       "thread's native AIO requests\n", __func__);
		return;
	}
	x.p = calloc(NP, sizeof(*x.p));
	x.q = calloc(NP, sizeof(*x.q));
	x.buf = calloc(NP, 1);
	x.rd = calloc(NP, sizeof(*x.rd));
	x.pl = calloc(NP, sizeof(*x.pl));
	x.fbuf = malloc(NP * 4096);
	x.frd = calloc(NP, sizeof(*x.frd));
	for (i = 0; i < NP; i++) {
		t_pipe(x.p[i]);
		t_pipe(x.q[i]);
	}
	x.fd = t_tmpfile(NP * 4096, 0);
	ck_assert_int_eq(fdatasync(x.fd), 0);
	ck_assert_int_eq(posix_fadvise(x.fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, submit_and_exit, &x), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	usleep(50000);		/* what the exit cancels ends meanwhile */
	for (i = 0; i < NP; i++) {
		ck_assert_int_eq(write(x.p[i][1], &"abcdefgh"[i % 8], 1), 1);
		ck_assert_int_eq(write(x.q[i][1], "q", 1), 1);
	}
	for (i = 0; i < NP; i++) {
		e = t_wait(&x.rd[i], 10000);
		ck_assert_msg(e == 0, "pipe read %d: error %d", i, e);
		ck_assert_int_eq(aio_return(&x.rd[i]), 1);
		ck_assert_int_eq(x.buf[i], "abcdefgh"[i % 8]);
		e = t_wait(&x.pl[i], 10000);
		ck_assert_msg(e == 0, "poll %d: error %d", i, e);
		ck_assert(aio_return(&x.pl[i]) & POLLIN);
		e = t_wait(&x.frd[i], 10000);
		ck_assert_msg(e == 0, "file read %d: error %d", i, e);
		ck_assert_int_eq(aio_return(&x.frd[i]), 4096);
		ck_assert(t_check_bytes(x.fbuf + i * 4096, (off_t)i * 4096, 4096));
	}
	for (i = 0; i < NP; i++) {
		close(x.p[i][0]);
		close(x.p[i][1]);
		close(x.q[i][0]);
		close(x.q[i][1]);
	}
	close(x.fd);
	free(x.p);
	free(x.q);
	free(x.buf);
	free(x.rd);
	free(x.pl);
	free(x.fbuf);
	free(x.frd);
}
END_TEST

/*
 * SIGEV_THREAD callbacks that chain the next read of their pipe: NCH
 * chains whose callbacks overlap, so that NCH notifier threads run them;
 * all but one exit when idle (aio_idle_time 1 s) before the data comes,
 * and the reads they submitted must not end with them.
 */
enum { NCH = 4, CHAIN = 3 };
static int chain_fd[NCH];
static char chain_buf[NCH][CHAIN];
static struct aiocb chain_cb[NCH][CHAIN];
static atomic_int chain_done[NCH];

static void chain_read(int c, int i);

static void chain_next(union sigval v)
{
	int c = v.sival_int / CHAIN, i = v.sival_int % CHAIN;

	usleep(100000);		/* the others' callbacks run meanwhile */
	atomic_fetch_add(&chain_done[c], 1);
	if (i + 1 < CHAIN)
		chain_read(c, i + 1);
}

static void chain_read(int c, int i)
{
	struct aiocb *cb = &chain_cb[c][i];

	t_prep(cb, chain_fd[c], &chain_buf[c][i], 1, 0);
	cb->aio_sigevent.sigev_notify = SIGEV_THREAD;
	cb->aio_sigevent.sigev_notify_function = chain_next;
	cb->aio_sigevent.sigev_value.sival_int = c * CHAIN + i;
	if (aio_read(cb))
		abort();
}

START_TEST(chained_reads_outlive_notifier)
{
	struct aioinit ai = { 0 };
	int p[NCH][2], c, i, e, k, left;

	if (t_threaded_kernel()) {
		/* Known gap, kaio_backends(7): the series cancels what a
		 * thread left in native AIO when it exits (issue 13). */
		printf("SKIP: %s: the threaded-AIO series cancels an exiting "
		       "thread's native AIO requests\n", __func__);
		return;
	}
	ai.aio_idle_time = 1;
	aio_init(&ai);
	for (c = 0; c < NCH; c++) {
		t_pipe(p[c]);
		chain_fd[c] = p[c][0];
		atomic_store(&chain_done[c], 0);
		chain_read(c, 0);
	}
	for (i = 0; i < CHAIN; i++) {
		if (i)
			usleep(1800000);	/* notifiers idle, and exit */
		for (c = 0; c < NCH; c++)
			ck_assert_int_eq(write(p[c][1], &"xyz"[i], 1), 1);
		/* Read i's callback ran (after read i was prepared and
		 * submitted by read i-1's): only then is its aiocb ours. */
		for (k = 0; k < 1000; k++) {
			for (c = 0, left = 0; c < NCH; c++)
				left += atomic_load(&chain_done[c]) <= i;
			if (!left)
				break;
			usleep(10000);
		}
		for (c = 0; c < NCH; c++) {
			e = aio_error(&chain_cb[c][i]);
			ck_assert_msg(e == 0, "chain %d read %d: error %d", c, i, e);
			ck_assert_int_eq(aio_return(&chain_cb[c][i]), 1);
			ck_assert_int_eq(chain_buf[c][i], "xyz"[i]);
		}
	}
	for (c = 0; c < NCH; c++) {
		for (k = 0; k < 500 && atomic_load(&chain_done[c]) < CHAIN; k++)
			usleep(10000);
		ck_assert_int_eq(atomic_load(&chain_done[c]), CHAIN);
		close(p[c][0]);
		close(p[c][1]);
	}
}
END_TEST

/* --- a request released by another thread keeps its identity --------- */

struct appender {
	int fd;
	struct aiocb *cb;
	int ret;
};

/* This thread only becomes uid 1000, with no groups and no capability. */
static void *append_as_user(void *arg)
{
	struct appender *a = arg;

	if (syscall(SYS_setgroups, 0, NULL) ||
	    syscall(SYS_setresgid, 1000, 1000, 1000) ||
	    syscall(SYS_setresuid, 1000, 1000, 1000)) {
		a->ret = -errno;
		return NULL;
	}
	a->ret = aio_write(a->cb) ? -errno : 0;
	return NULL;
}

/*
 * Finding 1's hole: an O_APPEND write waits in its fd's queue behind one
 * that blocks (its buffer is a userfaultfd page nobody has filled); the
 * thread that then releases it is root's (the reaper, or this one), the
 * write's submitter is uid 1000 without CAP_FSETID.  Written as its
 * submitter, it clears the setuid bit of the 04777 file; written as root
 * it would not.
 */
START_TEST(released_write_keeps_identity)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct uffdio_copy copy;
	struct aiocb first, second, sync;
	struct appender a;
	char path[] = "kaio-life-XXXXXX", *page, *src, data[8] = "later!\n";
	struct stat st;
	pthread_t t;
	int fd, uffd, e;

	if (geteuid() != 0) {
		printf("SKIP: released_write_keeps_identity: needs root\n");
		return;
	}
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		printf("SKIP: released_write_keeps_identity: no userfaultfd\n");
		if (uffd >= 0)
			close(uffd);
		return;
	}
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(page, MAP_FAILED);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (unsigned long)page;
	reg.range.len = 4096;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	ck_assert_int_eq(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 04777), 0);
	close(fd);
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	unlink(path);

	/* Root starts the backend's threads (they are root's). */
	t_prep(&sync, fd, NULL, 0, 0);
	ck_assert_int_eq(aio_fsync(O_SYNC, &sync), 0);
	ck_assert_int_eq(t_wait(&sync, 10000), 0);
	aio_return(&sync);

	t_prep(&first, fd, page, 16, 0);	/* blocks on the missing page */
	ck_assert_int_eq(aio_write(&first), 0);
	usleep(50000);
	ck_assert_int_eq(aio_error(&first), EINPROGRESS);
	t_prep(&second, fd, data, sizeof(data), 0);
	a.fd = fd;
	a.cb = &second;
	ck_assert_int_eq(pthread_create(&t, NULL, append_as_user, &a), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(a.ret, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_msg(st.st_mode & S_ISUID, "the setuid bit went too early");

	src = malloc(4096);
	memset(src, 'a', 4096);
	copy.dst = (unsigned long)page;
	copy.src = (unsigned long)src;
	copy.len = 4096;
	copy.mode = 0;
	copy.copy = 0;
	ck_assert_int_eq(ioctl(uffd, UFFDIO_COPY, &copy), 0);
	ck_assert_int_eq(t_wait(&first, 10000), 0);
	ck_assert_int_eq(aio_return(&first), 16);
	e = t_wait(&second, 10000);
	ck_assert_msg(e == 0, "the released write: error %d", e);
	ck_assert_int_eq(aio_return(&second), sizeof(data));
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 16 + sizeof(data));
	ck_assert_msg(!(st.st_mode & S_ISUID),
		      "mode %o: the write ran as the thread that released it,"
		      " not as its submitter", st.st_mode & 07777);
	free(src);
	close(fd);
	munmap(page, 4096);
	close(uffd);
}
END_TEST

/*
 * Counters are kept per thread (observe.c): every read of every thread is
 * counted once, whether its thread still runs or exited, with more
 * threads alive at once than there are per-thread blocks, and a fork
 * child counts from zero.
 */
struct count_arg {
	int fd, reads, fail;
	pthread_barrier_t *hold;
};

static void *count_reads(void *p)
{
	struct count_arg *a = p;
	struct aiocb cb;
	char buf[512];
	int i;

	if (a->hold)
		pthread_barrier_wait(a->hold);
	for (i = 0; i < a->reads; i++) {
		t_prep(&cb, a->fd, buf, sizeof(buf), (i % 8) * 512);
		if (aio_read(&cb) || t_wait(&cb, 5000) || aio_return(&cb) != 512)
			a->fail = 1;
	}
	if (a->hold)
		pthread_barrier_wait(a->hold);	/* all alive at once */
	return NULL;
}

START_TEST(stats_count_every_thread)
{
	enum { WIDE = 80, ROUNDS = 3, READS = 20 };
	struct kaio_stats st0, st1;
	struct count_arg a[WIDE];
	pthread_barrier_t hold;
	pthread_t t[WIDE];
	int fd = t_tmpfile(4096, 0), i, r, status;
	unsigned long want = 0;
	pid_t pid;

	ck_assert_int_eq(kaio_stats_get(&st0, sizeof(st0)), 0);
	for (r = 0; r < ROUNDS; r++) {
		pthread_barrier_init(&hold, NULL, WIDE);
		for (i = 0; i < WIDE; i++) {
			a[i] = (struct count_arg){ fd, READS, 0,
						   r == 1 ? &hold : NULL };
			ck_assert_int_eq(pthread_create(&t[i], NULL,
							count_reads, &a[i]), 0);
		}
		for (i = 0; i < WIDE; i++) {
			pthread_join(t[i], NULL);
			ck_assert_int_eq(a[i].fail, 0);
			want += READS;
		}
		pthread_barrier_destroy(&hold);
	}
	ck_assert_int_eq(kaio_stats_get(&st1, sizeof(st1)), 0);
	ck_assert_uint_eq(st1.v[KAIO_STAT_READ] - st0.v[KAIO_STAT_READ], want);

	pid = t_fork();
	if (pid == 0) {
		struct kaio_stats c0, c1;

		kaio_stats_get(&c0, sizeof(c0));
		a[0] = (struct count_arg){ fd, 3, 0, NULL };
		count_reads(&a[0]);
		kaio_stats_get(&c1, sizeof(c1));
		_exit(c0.v[KAIO_STAT_READ] != 0 ? 1 :
		      c1.v[KAIO_STAT_READ] != 3 ? 2 : a[0].fail ? 3 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(fd);
}
END_TEST

Suite *lifecycle_suite(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = t_tcase("aio_events");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, aio_events_only_when_used);
	tcase_add_test(tc, aio_events_grow_never_fail);
	suite_add_tcase(s, tc);
	tc = t_tcase("thread_exit");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, requests_outlive_thread);
	tcase_add_test(tc, chained_reads_outlive_notifier);
	tcase_add_test(tc, stats_count_every_thread);
	suite_add_tcase(s, tc);
	tc = t_tcase("identity");
	tcase_add_test(tc, released_write_keeps_identity);
	suite_add_tcase(s, tc);
	return s;
}
