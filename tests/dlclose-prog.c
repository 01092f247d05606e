/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dlopen() the library, run requests that start its threads (pool
 * workers, reapers, notifiers), dlclose() it, and outlive the threads'
 * idle time: a thread left in unmapped code would crash the program.
 * Usage: dlclose-prog PATH-TO-libkaio_posix.so
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 8

static int (*p_read)(struct aiocb *);
static int (*p_error)(const struct aiocb *);
static ssize_t (*p_return)(struct aiocb *);
static atomic_int callbacks;

static void cb_fn(union sigval v)
{
	(void)v;
	atomic_fetch_add(&callbacks, 1);
}

static int wait_done(struct aiocb *cb)
{
	int i, e;

	for (i = 0; i < 10000; i++) {
		e = p_error(cb);
		if (e != EINPROGRESS)
			return e;
		usleep(1000);
	}
	return ETIMEDOUT;
}

int main(int argc, char **argv)
{
	struct aiocb cb[N], pc;
	char buf[N][64], path[] = "kaio-dlclose-XXXXXX", data[N * 64], ch;
	void *h;
	int fd, p[2], i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
		return 2;
	}
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	p_read = (int (*)(struct aiocb *))dlsym(h, "aio_read");
	p_error = (int (*)(const struct aiocb *))dlsym(h, "aio_error");
	p_return = (ssize_t (*)(struct aiocb *))dlsym(h, "aio_return");
	if (!p_read || !p_error || !p_return) {
		fprintf(stderr, "dlsym: %s\n", dlerror());
		return 1;
	}
	fd = mkstemp(path);
	if (fd < 0 || pipe(p))
		return 1;
	unlink(path);
	memset(data, 'd', sizeof(data));
	if (write(fd, data, sizeof(data)) != (ssize_t)sizeof(data))
		return 1;

	/* File reads, half of them with SIGEV_THREAD (notifier threads). */
	for (i = 0; i < N; i++) {
		memset(&cb[i], 0, sizeof(cb[i]));
		cb[i].aio_fildes = fd;
		cb[i].aio_buf = buf[i];
		cb[i].aio_nbytes = 64;
		cb[i].aio_offset = (off_t)i * 64;
		if (i % 2) {
			cb[i].aio_sigevent.sigev_notify = SIGEV_THREAD;
			cb[i].aio_sigevent.sigev_notify_function = cb_fn;
		} else {
			cb[i].aio_sigevent.sigev_notify = SIGEV_NONE;
		}
		if (p_read(&cb[i]))
			return perror("aio_read"), 1;
	}
	/* A pipe read: goes to a backend thread (pool or reaper). */
	memset(&pc, 0, sizeof(pc));
	pc.aio_fildes = p[0];
	pc.aio_buf = &ch;
	pc.aio_nbytes = 1;
	pc.aio_sigevent.sigev_notify = SIGEV_NONE;
	if (p_read(&pc))
		return perror("aio_read pipe"), 1;
	usleep(10000);
	if (write(p[1], "x", 1) != 1)
		return 1;
	for (i = 0; i < N; i++)
		if (wait_done(&cb[i]) != 0 || p_return(&cb[i]) != 64)
			return fprintf(stderr, "request %d failed\n", i), 1;
	if (wait_done(&pc) != 0 || p_return(&pc) != 1)
		return fprintf(stderr, "pipe request failed\n"), 1;
	for (i = 0; i < 5000 && atomic_load(&callbacks) < N / 2; i++)
		usleep(1000);
	if (atomic_load(&callbacks) != N / 2)
		return fprintf(stderr, "callbacks: %d\n",
			       atomic_load(&callbacks)), 1;

	if (dlclose(h))
		return fprintf(stderr, "dlclose: %s\n", dlerror()), 1;
	/* Idle threads time out after KAIO_IDLE (1 s): outlive that. */
	usleep(2500000);
	close(fd);
	printf("ok\n");
	return 0;
}
