/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kt.h - helpers for the threaded-AIO kernel tests (kernel-patch/tests).
 *
 * The tests run as root inside the patched kernel; argv[1] is an empty
 * scratch directory on tmpfs.  They use raw system calls only.  Exit
 * status: 0 pass, 1 fail.
 */
#ifndef KT_H
#define KT_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/aio_abi.h>
#include "kaio_aio_abi.h"

static const char *kt_name = "?";
static int kt_failed;
static int kt_eintr;	/* io_getevents() calls that failed with EINTR */
static char kt_scratch[256];

#define KT_FAIL(...) do {						\
	fprintf(stderr, "%s: FAIL at %s:%d: ", kt_name, __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__);					\
	fprintf(stderr, "\n");						\
	kt_failed = 1;							\
} while (0)

/* Check a condition; on failure report it and keep going. */
#define KT_CHECK(cond, fmt, ...) do {				\
	if (!(cond))							\
		KT_FAIL("(%s) " fmt, #cond, ##__VA_ARGS__);		\
} while (0)

/* Check a condition; on failure report it and end the test. */
#define KT_REQUIRE(cond, fmt, ...) do {				\
	if (!(cond)) {							\
		KT_FAIL("(%s) " fmt, #cond, ##__VA_ARGS__);		\
		exit(1);						\
	}								\
} while (0)

static inline void kt_init(int argc, char **argv, const char *name)
{
	kt_name = name;
	snprintf(kt_scratch, sizeof(kt_scratch), "%s",
		 argc > 1 ? argv[1] : "/tmp");
	setvbuf(stdout, NULL, _IONBF, 0);
	alarm(60);	/* a hang is a failure, not a stuck boot */
}

static inline int kt_done(void)
{
	if (kt_failed)
		return 1;
	printf("%s: all checks passed\n", kt_name);
	return 0;
}

static inline char *kt_path(const char *leaf)
{
	static char buf[4][512];
	static int n;
	char *p = buf[n++ & 3];

	snprintf(p, 512, "%s/%s", kt_scratch, leaf);
	return p;
}

/* ---- raw aio system calls ---- */
#ifndef IOCTX_FLAG_THREADED	/* a uapi header from before the opt-in */
#define IOCTX_FLAG_THREADED (1U << 30)
#endif

/* io_setup() as mainline has it: the context does not use threads. */
static inline long io_setup_plain(unsigned nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr, ctx);
}

/*
 * The tests of the threaded path use contexts that opt in
 * (IOCTX_FLAG_THREADED); the sysctl still decides whether they get threads.
 */
static inline long io_setup(unsigned nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr | IOCTX_FLAG_THREADED, ctx);
}

static inline long io_destroy(aio_context_t ctx)
{
	return syscall(SYS_io_destroy, ctx);
}

static inline long io_submit(aio_context_t ctx, long nr, struct iocb **iocbs)
{
	return syscall(SYS_io_submit, ctx, nr, iocbs);
}

static inline long io_cancel(aio_context_t ctx, struct iocb *iocb,
			     struct io_event *ev)
{
	return syscall(SYS_io_cancel, ctx, iocb, ev);
}

static inline double kt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Wait up to @secs for @min events; returns how many were read.  Retries
 * EINTR (a caught signal, or io-wq asking this task to create a worker).
 */
static inline long kt_getevents(aio_context_t ctx, long min, long max,
				struct io_event *ev, double secs)
{
	double end = kt_now() + secs;
	long got = 0;

	while (got < min) {
		double left = end - kt_now();
		struct timespec ts;
		long r;

		if (left < 0)
			left = 0;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - ts.tv_sec) * 1e9);
		r = syscall(SYS_io_getevents, ctx, 1, max - got, ev + got, &ts);
		if (r < 0 && errno == EINTR) {
			kt_eintr++;
			continue;
		}
		if (r < 0)
			return got ? got : -1;
		got += r;
		if (left == 0 && r == 0)
			break;
	}
	return got;
}

static inline void kt_prep(struct iocb *cb, int opcode, int fd, const void *buf,
			   unsigned long long nbytes, long long offset)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_lio_opcode = opcode;
	cb->aio_fildes = (unsigned)fd;
	cb->aio_buf = (unsigned long)buf;
	cb->aio_nbytes = nbytes;
	cb->aio_offset = offset;
	cb->aio_data = (unsigned long)cb;
}

/* Submit one iocb; returns 0 or -errno from io_submit(). */
static inline long kt_submit1(aio_context_t ctx, struct iocb *cb)
{
	struct iocb *list[1] = { cb };
	long r = io_submit(ctx, 1, list);

	if (r == 1)
		return 0;
	if (r < 0)
		return -errno;
	return -1000;	/* 0 submitted without an error */
}

/*
 * Submit one iocb and wait for it; returns the event's res, or a value
 * below -4000 when submission failed (-4000 - errno) or no event came.
 */
#define KT_NO_EVENT	(-9999)
static inline long long kt_run1(aio_context_t ctx, struct iocb *cb, double secs)
{
	struct io_event ev;
	long r = kt_submit1(ctx, cb);

	if (r)
		return -4000 + r;
	if (kt_getevents(ctx, 1, 1, &ev, secs) != 1)
		return KT_NO_EVENT;
	if (ev.obj != (unsigned long)cb)
		return -8888;
	return ev.res;
}

/* ---- the sysctl ---- */
static inline int kt_sysctl_get(void)
{
	char buf[32] = "";
	int fd = open(KAIO_AIO_AUTO_THREADS_PATH, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	return atoi(buf);
}

/* Write @val; returns 0 or -errno. */
static inline int kt_sysctl_write(const char *val)
{
	int fd = open(KAIO_AIO_AUTO_THREADS_PATH, O_WRONLY);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static inline void kt_sysctl_set(int on)
{
	KT_REQUIRE(kt_sysctl_write(on ? "1" : "0") == 0,
		   "cannot set %s", KAIO_AIO_AUTO_THREADS_PATH);
	KT_REQUIRE(kt_sysctl_get() == on, "sysctl did not take %d", on);
}

/* ---- misc ---- */
/* Number of threads of this process (from /proc/self/task). */
static inline int kt_nthreads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline void kt_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline void kt_write_file(const char *path, const void *data,
				 size_t len, mode_t mode)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, mode);

	KT_REQUIRE(fd >= 0, "open %s: %s", path, strerror(errno));
	KT_REQUIRE(write(fd, data, len) == (ssize_t)len, "write %s", path);
	KT_REQUIRE(fchmod(fd, mode) == 0, "chmod %s", path);
	close(fd);
}

static inline long kt_gettid(void)
{
	return syscall(SYS_gettid);
}

/* Online CPUs, counted from /proc/stat (sysfs is not mounted). */
static inline int kt_ncpus(void)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "cpu", 3) && line[3] >= '0' && line[3] <= '9')
			n++;
	fclose(f);
	return n;
}

/* The io-wq bound the series uses: clamp(4 * online CPUs, 4, 64). */
static inline int kt_worker_bound(void)
{
	int n = 4 * kt_ncpus();

	return n < 4 ? 4 : n > 64 ? 64 : n;
}

/* A field of /proc/meminfo in KiB, or -1. */
static inline long kt_meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	size_t n = strlen(key);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = atol(line + n + 1);
			break;
		}
	fclose(f);
	return v;
}

/*
 * Occupy every unbound worker of this task: @n OPENATs of FIFOs, which
 * block in fifo_open() until kt_unblock() opens each FIFO for writing.
 * (Pipe reads no longer do: they wait for their pipe with a poll entry,
 * not on a worker.)  Unbound work (OPENAT, UNLINKAT, RENAMEAT) submitted
 * after this stays queued until then.
 */
#ifndef O_PATH		/* a test included <fcntl.h> before _GNU_SOURCE */
#define O_PATH 010000000
#endif

struct kt_blocker {
	int n;
	char fifo[64][512];
	int pathfd[64];		/* O_PATH: reopened through /proc/self/fd */
	struct iocb cb[64];
};

static inline void kt_block(aio_context_t ctx, struct kt_blocker *b)
{
	static int serial;
	struct io_event ev[64];
	int i;

	b->n = kt_worker_bound();
	for (i = 0; i < b->n; i++) {
		char leaf[64];

		snprintf(leaf, sizeof(leaf), "kt-fifo-%d-%d", (int)getpid(),
			 serial++);
		snprintf(b->fifo[i], sizeof(b->fifo[i]), "%s", kt_path(leaf));
		KT_REQUIRE(mkfifo(b->fifo[i], 0666) == 0 &&
			   chmod(b->fifo[i], 0666) == 0, "mkfifo %s: %s",
			   b->fifo[i], strerror(errno));
		b->pathfd[i] = open(b->fifo[i], O_PATH);
		KT_REQUIRE(b->pathfd[i] >= 0, "O_PATH open: %s",
			   strerror(errno));
		kt_prep(&b->cb[i], KAIO_IOCB_CMD_OPENAT, AT_FDCWD, b->fifo[i],
			0, O_RDONLY);
		KT_REQUIRE(kt_submit1(ctx, &b->cb[i]) == 0, "blocker submit");
	}
	/* let io-wq start as many workers as it may */
	for (i = 0; i < 30; i++)
		KT_REQUIRE(kt_getevents(ctx, 1, 64, ev, 0.01) == 0,
			   "a blocking open completed");
}

/*
 * Release the blockers; their events (res: a new fd) come with the
 * others, see kt_is_blocker().  The FIFOs are reopened through
 * /proc/self/fd, so an unprivileged caller need not search the scratch
 * directory's parents.
 */
static inline void kt_unblock(struct kt_blocker *b)
{
	char proc[64];
	int i, fd;

	for (i = 0; i < b->n; i++) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", b->pathfd[i]);
		fd = open(proc, O_WRONLY | O_NONBLOCK);
		KT_REQUIRE(fd >= 0, "blocker open %s: %s", b->fifo[i],
			   strerror(errno));
		close(fd);
	}
}

static inline int kt_is_blocker(const struct kt_blocker *b,
				const struct io_event *ev)
{
	return ev->obj >= (unsigned long)&b->cb[0] &&
	       ev->obj < (unsigned long)&b->cb[b->n];
}

/* A blocker's event: close the fd it opened; was it a success? */
static inline int kt_blocker_done(const struct io_event *ev)
{
	if (ev->res < 0)
		return 0;
	close((int)ev->res);
	return 1;
}

static inline void kt_blocker_close(struct kt_blocker *b)
{
	int i;

	for (i = 0; i < b->n; i++) {
		close(b->pathfd[i]);
		unlink(b->fifo[i]);
	}
}

#endif /* KT_H */
