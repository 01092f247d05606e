/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * When every backend refuses a request at once (io_uring_submit() fails and
 * no thread can be started), the request completes with its error or is
 * refused with EAGAIN; nothing hangs.  Run by tests/check-refuse.sh under
 * each KAIO_BACKEND.  The program exports io_uring_submit() and
 * pthread_create() (linked with -export-dynamic), which fail while
 * "refusing" is set.  Three places hand a request to a backend with the
 * fd's lock held (fdmap.c): the first submission of a serial (O_APPEND)
 * write, an aio_fsync(), and the next serial write released when the one
 * before it completes.  A refusal that completes the request there must
 * not take that lock again.  Exit 0 pass, 1 fail (a hang is killed by
 * alarm()).
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
#include <unistd.h>

struct io_uring;

static atomic_int refusing;

__attribute__((visibility("default")))
int io_uring_submit(struct io_uring *ring);
__attribute__((visibility("default")))
int pthread_create(pthread_t *t, const pthread_attr_t *a,
		   void *(*fn)(void *), void *arg);

int io_uring_submit(struct io_uring *ring)
{
	static int (*real)(struct io_uring *);

	if (atomic_load(&refusing))
		return -EAGAIN;
	if (!real)
		real = (int (*)(struct io_uring *))dlsym(RTLD_NEXT,
							 "io_uring_submit");
	return real ? real(ring) : -ENOSYS;
}

int pthread_create(pthread_t *t, const pthread_attr_t *a,
		   void *(*fn)(void *), void *arg)
{
	static int (*real)(pthread_t *, const pthread_attr_t *,
			   void *(*)(void *), void *);

	if (atomic_load(&refusing))
		return EAGAIN;
	if (!real)
		real = (int (*)(pthread_t *, const pthread_attr_t *,
				void *(*)(void *), void *))
			dlsym(RTLD_NEXT, "pthread_create");
	return real(t, a, fn, arg);
}

static int failures;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "FAIL: " __VA_ARGS__);			\
		fputc('\n', stderr);					\
		failures++;						\
	}								\
} while (0)

/* Wait for cb (submitted: aio_* returned 0); its aio_return(). */
static ssize_t finish(struct aiocb *cb)
{
	const struct aiocb *l[1] = { cb };

	while (aio_error(cb) == EINPROGRESS)
		aio_suspend(l, 1, NULL);
	return aio_return(cb);
}

/* A submission made while refusing: accepted and then finished with a
 * result or an error, or refused with EAGAIN. */
static void settled(struct aiocb *cb, int ret, size_t want, const char *what)
{
	ssize_t r;

	if (ret) {
		CHECK(errno == EAGAIN, "%s: refused with errno %d, not EAGAIN",
		      what, errno);
		return;
	}
	r = finish(cb);
	CHECK(r == (ssize_t)want || (r < 0 && aio_error(cb) == EAGAIN) ||
	      (r < 0 && aio_error(cb) == 0),
	      "%s: aio_return %zd, aio_error %d", what, r, aio_error(cb));
}

static void prep(struct aiocb *cb, int fd, void *buf, size_t n)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = fd;
	cb->aio_buf = buf;
	cb->aio_nbytes = n;
}

int main(void)
{
	char path[] = "kaio-refuse-XXXXXX";
	size_t big = 32 << 20;
	struct aiocb w0, w1, w2, fs;
	char *buf;
	int fd, ret;

	alarm(60);	/* a hang is a failure: SIGALRM kills the run */
	buf = malloc(big);
	fd = mkstemp(path);
	if (!buf || fd < 0 || fcntl(fd, F_SETFL, O_APPEND) < 0) {
		perror("setup");
		return 1;
	}
	unlink(path);
	memset(buf, 'r', big);

	/* 1. A serial write submitted while refusing (fd lock held). */
	atomic_store(&refusing, 1);
	prep(&w0, fd, buf, 4096);
	ret = aio_write(&w0);
	atomic_store(&refusing, 0);
	settled(&w0, ret, 4096, "first serial write");

	/* 2. An aio_fsync() submitted while refusing (fd lock held). */
	atomic_store(&refusing, 1);
	prep(&fs, fd, NULL, 0);
	ret = aio_fsync(O_SYNC, &fs);
	atomic_store(&refusing, 0);
	settled(&fs, ret, 0, "aio_fsync");

	/* 3. The next serial write, released when the one before it ends
	 * (by whichever thread completes it, with the fd lock held). */
	prep(&w1, fd, buf, big);
	prep(&w2, fd, buf, 4096);
	ret = aio_write(&w1);
	CHECK(ret == 0, "big serial write: errno %d", errno);
	if (!ret) {
		ret = aio_write(&w2);
		CHECK(ret == 0, "queued serial write: errno %d", errno);
		atomic_store(&refusing, 1);
		/* It may find no thread either (its worker is started
		 * after this point): then it fails with EAGAIN too. */
		settled(&w1, 0, big, "big serial write");
		if (!ret)
			settled(&w2, 0, 4096, "released serial write");
		atomic_store(&refusing, 0);
	}
	close(fd);
	if (failures)
		return 1;
	printf("refuse: pass\n");
	return 0;
}
