/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How many fstat(2) calls a request costs on its way to a backend (run by
 * tests/check-stat.sh under each backend).  The library learns what an fd
 * is (a file, a stream) from one fstat() per request that reaches a
 * backend; nothing on the way should ask again.  The program's own
 * fstat() and fstat64() (exported with -rdynamic, as osync-prog's fsync())
 * count the calls made on the test's fd.  Cases, each from the main thread
 * and from a second thread (which has an io_uring ring of its own):
 *   append  O_APPEND writes to a regular file (two fstat() calls each
 *           under auto and uring before 66ee25b: this case failed)
 *   read    reads of a regular file (a guard: one each already)
 *   direct  O_DIRECT reads of a file in the working directory (a guard:
 *           one each; skipped where O_DIRECT is refused)
 * Each request is awaited before the next.  Exit 0 pass, 1 fail, 77 skip.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NREQ	64

static atomic_int watched = -1, n_fstat;

__attribute__((visibility("default"))) int fstat(int fd, struct stat *st);
__attribute__((visibility("default"))) int fstat64(int fd, struct stat64 *st);

int fstat(int fd, struct stat *st)
{
	int (*real)(int, struct stat *) =
		(int (*)(int, struct stat *))dlsym(RTLD_NEXT, "fstat");

	if (fd == atomic_load(&watched))
		atomic_fetch_add(&n_fstat, 1);
	return real(fd, st);
}

int fstat64(int fd, struct stat64 *st)
{
	int (*real)(int, struct stat64 *) =
		(int (*)(int, struct stat64 *))dlsym(RTLD_NEXT, "fstat64");

	if (fd == atomic_load(&watched))
		atomic_fetch_add(&n_fstat, 1);
	return real(fd, st);
}

struct job {
	const char *name;
	int fd, write;
	int fail;
};

static void *run(void *arg)
{
	struct job *j = arg;
	static char buf[4096] __attribute__((aligned(4096)));
	const struct aiocb *l[1];
	struct aiocb cb;
	int i, err;

	for (i = 0; i < NREQ; i++) {
		memset(&cb, 0, sizeof(cb));
		cb.aio_fildes = j->fd;
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

static int one(const char *name, int fd, int write, int thread, int most)
{
	struct job j = { name, fd, write, 0 };
	pthread_t t;
	int n;

	atomic_store(&n_fstat, 0);
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
	printf("%s (%s thread): %d fstat() for %d requests\n", name,
	       thread ? "second" : "main", n, NREQ);
	if (n > most) {
		printf("FAIL: %s: more than %d fstat() for %d requests\n",
		       name, most, NREQ);
		return 1;
	}
	return 0;
}

int main(void)
{
	char path[] = "/tmp/kaio-stat.XXXXXX", dpath[] = "kaio-stat-d.XXXXXX";
	static char buf[4096];
	int fd, afd, dfd, rc = 0, r, thread;

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
	for (thread = 0; thread < 2; thread++) {
		r = one("append", afd, 1, thread, NREQ);
		rc = r == 1 || rc == 1 ? 1 : r ? r : rc;
		r = one("read", fd, 0, thread, NREQ);
		rc = r == 1 || rc == 1 ? 1 : r ? r : rc;
		if (dfd >= 0) {
			r = one("direct", dfd, 0, thread, NREQ);
			rc = r == 1 || rc == 1 ? 1 : r ? r : rc;
		}
	}
	return rc;
}
