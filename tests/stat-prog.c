/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How many fstat(2) and fcntl(2) calls a request costs on its way to a
 * backend (run by tests/check-stat.sh under each backend).  The library
 * learns what an fd is (a file, a stream) from one fstat() per request that
 * reaches a backend; nothing on the way should ask again.  A read of a
 * regular file needs its open flags (fcntl(F_GETFL)) only once in a while:
 * they are cached, and that fstat() shows the fd is still such a file.  The
 * program's own fstat(), fstat64() and fcntl() (exported with -rdynamic, as
 * osync-prog's fsync()) count the calls made on the test's fd.  Cases, each
 * from the main thread and from a second thread (which has an io_uring ring
 * of its own):
 *   append  O_APPEND writes to a regular file (two fstat() calls each
 *           under auto and uring before 66ee25b: this case failed)
 *   read    reads of a regular file: one fstat() each at most, and one
 *           fcntl() per 8 (under uring and kernel, which complete nothing
 *           in the caller, one fcntl() each before the flags were kept for
 *           a backend's reads: this case failed)
 *   direct  O_DIRECT reads of a file in the working directory: the same
 *           bounds (one fcntl() each under every backend before; skipped
 *           where O_DIRECT is refused), but for reads native AIO served
 *           on a stock kernel: it asks whether the fd is O_DIRECT still
 *           (one fcntl() more each, as the counters show)
 *   many    reads of 16 numbers of one file, in turn: each number's flags
 *           are kept as one number's are (the same bounds per request;
 *           the flags were kept in 8 slots by fd & 7 before, so two of
 *           these numbers took each slot from the other, and every read
 *           made an fcntl() and an fstat(): this case failed)
 *   high    the same from 2000, above the table's cap (1024 slots): the
 *           numbers share slots with lower ones, not with each other
 * Each request is awaited before the next.  Exit 0 pass, 1 fail, 77 skip.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "shim-real.h"

#define NREQ	64
#define NMANY	16

/* The calls counted are those on fds watched .. watched + nwatched - 1. */
static atomic_int watched = -1, nwatched = 1, n_fstat, n_fcntl;

static int is_watched(int fd)
{
	int w = atomic_load(&watched);

	return w >= 0 && fd >= w && fd < w + atomic_load(&nwatched);
}

__attribute__((visibility("default"))) int fstat(int fd, struct stat *st);
__attribute__((visibility("default"))) int fstat64(int fd, struct stat64 *st);
__attribute__((visibility("default"))) int fcntl(int fd, int cmd, ...);

int fcntl(int fd, int cmd, ...)
{
	static int (*next)(int, int, ...);

	if (is_watched(fd) && cmd == F_GETFL)
		atomic_fetch_add(&n_fcntl, 1);
	return SHIM_FCNTL_NEXT(next, fd, cmd);
}

int fstat(int fd, struct stat *st)
{
	static int (*real)(int, struct stat *);

	if (is_watched(fd))
		atomic_fetch_add(&n_fstat, 1);
	return SHIM_NEXT(real, "fstat")(fd, st);
}

int fstat64(int fd, struct stat64 *st)
{
	static int (*real)(int, struct stat64 *);

	if (is_watched(fd))
		atomic_fetch_add(&n_fstat, 1);
	return SHIM_NEXT(real, "fstat64")(fd, st);
}

/* Requests go to fd, fd + 1, ... fd + nfd - 1 in turn, NREQ to each. */
struct job {
	const char *name;
	int fd, nfd, write;
	int fail;
};

static void *run(void *arg)
{
	struct job *j = arg;
	static char buf[4096] __attribute__((aligned(4096)));
	const struct aiocb *l[1];
	struct aiocb cb;
	int i, err;

	for (i = 0; i < NREQ * j->nfd; i++) {
		memset(&cb, 0, sizeof(cb));
		cb.aio_fildes = j->fd + i % j->nfd;
		cb.aio_buf = buf;
		cb.aio_nbytes = sizeof(buf);
		cb.aio_offset = 0;
		l[0] = &cb;
		if ((j->write ? aio_write(&cb) : aio_read(&cb)) < 0) {
			printf("FAIL: %s: submit: %s\n", j->name,
			       strerror(errno));
			j->fail = 1;
			return NULL;
		}
		while ((err = aio_error(&cb)) == EINPROGRESS)
			aio_suspend(l, 1, NULL);
		if (err || aio_return(&cb) != (ssize_t)sizeof(buf)) {
			printf("FAIL: %s: request %d: %s\n", j->name, i,
			       strerror(err));
			j->fail = 1;
			return NULL;
		}
	}
	return NULL;
}

/* most, most_fcntl: the bounds on fstat() and fcntl(F_GETFL) calls per
 * NREQ requests to each of the nfd numbers from fd; a negative one is not
 * checked.  direct: fd is O_DIRECT. */
static int one(const char *name, int fd, int nfd, int write, int direct,
	       int thread, int most, int most_fcntl)
{
	struct job j = { name, fd, nfd, write, 0 };
	struct kaio_stats s0, s1;
	pthread_t t;
	int n, nf;

	most *= nfd;
	most_fcntl = most_fcntl < 0 ? -1 : most_fcntl * nfd;
	kaio_stats_get(&s0, sizeof(s0));
	atomic_store(&n_fstat, 0);
	atomic_store(&n_fcntl, 0);
	atomic_store(&nwatched, nfd);
	atomic_store(&watched, fd);
	if (thread) {
		if (pthread_create(&t, NULL, run, &j)) {
			printf("SKIP: %s: pthread_create failed\n", name);
			return 77;
		}
		pthread_join(t, NULL);
	} else {
		run(&j);
	}
	atomic_store(&watched, -1);
	if (j.fail)
		return 1;
	n = atomic_load(&n_fstat);
	nf = atomic_load(&n_fcntl);
	kaio_stats_get(&s1, sizeof(s1));
	if (most_fcntl >= 0 && direct)
		most_fcntl += (int)(s1.v[KAIO_STAT_KERNEL] -
				    s0.v[KAIO_STAT_KERNEL]);
	printf("%s (%s thread): %d fstat() and %d fcntl(F_GETFL) for %d "
	       "requests\n", name, thread ? "second" : "main", n, nf,
	       NREQ * nfd);
	if (n > most) {
		printf("FAIL: %s: more than %d fstat() for %d requests\n",
		       name, most, NREQ * nfd);
		return 1;
	}
	if (most_fcntl >= 0 && nf > most_fcntl) {
		printf("FAIL: %s: more than %d fcntl(F_GETFL) for %d "
		       "requests\n", name, most_fcntl, NREQ * nfd);
		return 1;
	}
	return 0;
}

/* NMANY duplicates of fd numbered from, from + 1, ...: from, or -1. */
static int dup_run(int fd, int from)
{
	struct rlimit rl;
	int i;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)(from + NMANY) &&
	    rl.rlim_max >= (rlim_t)(from + NMANY)) {
		rl.rlim_cur = (rlim_t)(from + NMANY);
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (i = 0; i < NMANY; i++)
		if (fcntl(fd, F_DUPFD, from + i) != from + i) {
			printf("SKIP: no %d free fd numbers from %d\n", NMANY,
			       from);
			return -1;
		}
	return from;
}

int main(void)
{
	char path[] = "/tmp/kaio-stat.XXXXXX", dpath[] = "kaio-stat-d.XXXXXX";
	static char buf[4096];
	int fd, afd, dfd, mfd, hfd, rc = 0, r, thread;

	fd = mkstemp(path);
	if (fd < 0) {
		printf("SKIP: mkstemp: %s\n", strerror(errno));
		return 77;
	}
	afd = open(path, O_WRONLY | O_APPEND);
	unlink(path);
	memset(buf, 'x', sizeof(buf));
	if (afd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf)) {
		printf("SKIP: cannot set up the file\n");
		return 77;
	}
	/* /tmp may be a tmpfs, without O_DIRECT before Linux 6.6. */
	dfd = mkstemp(dpath);
	if (dfd >= 0) {
		if (write(dfd, buf, sizeof(buf)) != sizeof(buf) ||
		    fcntl(dfd, F_SETFL, O_DIRECT) < 0) {
			close(dfd);
			dfd = -1;
		}
		unlink(dpath);
	}
	if (dfd < 0)
		printf("SKIP: direct: no O_DIRECT file in the working "
		       "directory\n");
	/* NMANY numbers in a row, from 200: 16 to a power of two, and more
	 * than the 8 slots (fd & 7) the flags had before. */
	mfd = dup_run(fd, 200);
	hfd = dup_run(fd, 2000);
	for (thread = 0; thread < 2; thread++) {
		r = one("append", afd, 1, 1, 0, thread, NREQ, -1);
		rc = r == 1 || rc == 1 ? 1 : r ? r : rc;
		r = one("read", fd, 1, 0, 0, thread, NREQ, NREQ / 8);
		rc = r == 1 || rc == 1 ? 1 : r ? r : rc;
		if (dfd >= 0) {
			r = one("direct", dfd, 1, 0, 1, thread, NREQ, NREQ / 8);
			rc = r == 1 || rc == 1 ? 1 : r ? r : rc;
		}
		if (mfd >= 0) {
			r = one("many", mfd, NMANY, 0, 0, thread, NREQ,
				NREQ / 8);
			rc = r == 1 || rc == 1 ? 1 : r ? r : rc;
		}
		if (hfd >= 0) {
			r = one("high", hfd, NMANY, 0, 0, thread, NREQ,
				NREQ / 8);
			rc = r == 1 || rc == 1 ? 1 : r ? r : rc;
		}
	}
	return rc;
}
