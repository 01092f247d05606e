/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * observe.c - what KAIO_STATS=1 and KAIO_DEBUG=1 show.
 *
 * Latency: with KAIO_STATS=1, every request's time from submission to
 * completion goes into a log2 histogram of its backend (relaxed atomic
 * counters; nothing is timed otherwise).  The exit line gives p50 and p99
 * per backend, each the upper bound of its bucket.
 *
 * Decisions: with KAIO_DEBUG=1, the backend chosen for a kind of request
 * on an fd is logged to stderr the first time it is chosen there, and at
 * most KAIO_DEBUG_MAX lines are written in all.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kaio-int.h"

#define NBUCKET		40	/* 2^39 ns: ten minutes */
#define KAIO_DEBUG_MAX	256

static const char *const served_names[KAIO_SERVED_MAX] = {
	[KAIO_SERVED_INLINE] = "inline",
	[KAIO_SERVED_POOL] = "pool",
	[KAIO_SERVED_KERNEL] = "kernel",
	[KAIO_SERVED_URING] = "uring",
};

static atomic_ulong hist[KAIO_SERVED_MAX][NBUCKET];
static atomic_int debug_lines;

long long kaio__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void kaio__latency(int served, long long t0)
{
	long long d = kaio__now_ns() - t0;
	int b = 0;

	while (b < NBUCKET - 1 && d >= (2LL << b))
		b++;
	atomic_fetch_add_explicit(&hist[served][b], 1, memory_order_relaxed);
}

/* The upper bound, in microseconds, of the bucket holding quantile q. */
static double quantile(int served, double q, unsigned long total)
{
	unsigned long seen = 0, want = (unsigned long)(q * total + 0.5);
	int b;

	for (b = 0; b < NBUCKET; b++) {
		seen += atomic_load_explicit(&hist[served][b],
					     memory_order_relaxed);
		if (seen >= want && seen)
			return (2LL << b) / 1000.0;
	}
	return 0;
}

/* Append " lat_us_<backend>=p50/p99" for each backend that served. */
int kaio__latency_format(char *buf, size_t len)
{
	unsigned long total;
	int i, b, n = 0;

	for (i = 0; i < KAIO_SERVED_MAX; i++) {
		total = 0;
		for (b = 0; b < NBUCKET; b++)
			total += atomic_load_explicit(&hist[i][b],
						      memory_order_relaxed);
		if (!total || n >= (int)len)
			continue;
		n += snprintf(buf + n, len - n, " lat_us_%s=%.1f/%.1f",
			      served_names[i], quantile(i, 0.5, total),
			      quantile(i, 0.99, total));
	}
	return n;
}

void kaio__latency_reset(void)
{
	memset(hist, 0, sizeof(hist));
	atomic_store(&debug_lines, 0);
}

static const char *op_name(int op)
{
	switch (op) {
	case KAIO_OP_READ:	return "read";
	case KAIO_OP_WRITE:	return "write";
	case KAIO_OP_FSYNC:	return "fsync";
	case KAIO_OP_FDSYNC:	return "fdatasync";
	case KAIO_OP_OPENAT:	return "openat";
	case KAIO_OP_UNLINKAT:	return "unlinkat";
	case KAIO_OP_RENAMEAT:	return "renameat";
	case KAIO_OP_READAHEAD:	return "readahead";
	case KAIO_OP_POLL:	return "poll";
	}
	return "?";
}

/* Log the backend chosen for a request, once per fd, kind and backend. */
void kaio__debug_route(const struct kaio_req *req, int served)
{
	struct kaio_fd *f;
	char line[160];
	int bit, n;

	if (!kaio__cfg.debug)
		return;
	f = kaio__fd_get(req->fd >= 0 ? req->fd : 0);
	bit = 1 << ((req->op & 7) * 4 + served);
	if (f && (atomic_fetch_or(&f->logged, bit) & bit))
		return;
	if (atomic_fetch_add(&debug_lines, 1) >= KAIO_DEBUG_MAX)
		return;
	n = snprintf(line, sizeof(line),
		     "kaio_posix: pid %d fd %d %s%s -> %s\n", (int)kaio__pid,
		     req->fd, op_name(req->op),
		     req->flags & KAIO_RQ_DIRECT ? " (O_DIRECT)" : "",
		     served_names[served]);
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
