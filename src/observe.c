/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * observe.c - what KAIO_STATS=1 and KAIO_DEBUG=1 show.
 *
 * Counters: kaio__count() adds to the calling thread's own block, one of
 * TBLOCKS, claimed at its first count and given back when it exits (the
 * counts stay in it: the next thread adds to them); without a free block,
 * and always with a shared slot (below), to *kaio__statp, chosen at init
 * and at fork.  A reader adds *kaio__statp and every block
 * (kaio__stats_total()): threads counting at once share no cache line.
 * With KAIO_STATS=1 the counters and the latency histograms of a process
 * live in a slot of a shared segment, so that they survive a process that
 * ends with _exit() and another process can read them:
 *   - KAIO_STATS_SHM=PATH (set by "kaio-run --stats"): a file kaio-run
 *     created, starting with SEG_MAGIC.  Every process of the program's
 *     tree takes a slot in it, forked or executed; none prints a line, and
 *     kaio-run prints every process's counters and their total at the end.
 *   - otherwise an anonymous shared mapping made at init, which fork
 *     children inherit (and exec drops).  Each process prints its own line
 *     at exit(); a process that prints also prints a line, with "end=",
 *     for each forked descendant that never printed its own (it ended with
 *     _exit() or a signal, or is still running), once.
 * Without KAIO_STATS, or if no slot is free, the counters are the
 * process's own (kaio__stats) and nothing is shared.  The segment's layout
 * is read by src/kaio-run.in: change both together.
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

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdtable.h"

#define NBUCKET		40	/* 2^39 ns: ten minutes */
#define KAIO_DEBUG_MAX	256

static const char *const served_names[KAIO_SERVED_MAX] = {
	[KAIO_SERVED_INLINE] = "inline",
	[KAIO_SERVED_POOL] = "pool",
	[KAIO_SERVED_KERNEL] = "kernel",
	[KAIO_SERVED_URING] = "uring",
};

static atomic_ulong hist[KAIO_SERVED_MAX][NBUCKET];
static atomic_ulong (*histp)[NBUCKET] = hist;
static atomic_int debug_lines;

struct kaio_stats_int *kaio__statp = &kaio__stats;

#define TBLOCKS		64
static struct tblock {
	struct kaio_stats_int st;
} __attribute__((aligned(64))) tblocks[TBLOCKS];
static atomic_ullong tblocks_used;	/* bit i: tblocks[i] has a thread */
static pthread_key_t tblock_key;
static int tblock_keyed;
__thread struct kaio_stats_int *kaio__tls_stats
	__attribute__((tls_model("initial-exec")));

/* The thread exits: its block (and its counts) goes to the next one. */
static void tblock_put(void *arg)
{
	struct tblock *b = arg;

	kaio__tls_stats = NULL;
	atomic_fetch_and(&tblocks_used, ~(1ULL << (b - tblocks)));
}

void kaio__stats_setup(void)
{
	tblock_keyed = pthread_key_create(&tblock_key, tblock_put) == 0;
}

/*
 * The first count of a thread: claim a block.  Lock-free, so a handler
 * may count.  With a shared slot every count goes there, where kaio-run
 * reads it.
 */
struct kaio_stats_int *kaio__stats_thread(void)
{
	unsigned long long used = atomic_load(&tblocks_used);
	int i;

	if (kaio__statp != &kaio__stats || !tblock_keyed)
		return kaio__statp;
	while (~used) {
		i = __builtin_ctzll(~used);
		if (atomic_compare_exchange_weak(&tblocks_used, &used,
						 used | (1ULL << i))) {
			if (pthread_setspecific(tblock_key, &tblocks[i])) {
				atomic_fetch_and(&tblocks_used, ~(1ULL << i));
				break;
			}
			kaio__tls_stats = &tblocks[i].st;
			return kaio__tls_stats;
		}
	}
	return kaio__statp;
}

/* Every counter: *kaio__statp plus every thread's block. */
void kaio__stats_total(unsigned long *v)
{
	int i, b;

	for (i = 0; i < KAIO_STAT_MAX; i++) {
		v[i] = atomic_load_explicit(&kaio__statp->v[i],
					    memory_order_relaxed);
		for (b = 0; b < TBLOCKS; b++)
			v[i] += atomic_load_explicit(&tblocks[b].st.v[i],
						     memory_order_relaxed);
	}
}

/*
 * The shared segment: a 4 KiB header, then SEG_SLOTS slots of 2 KiB, all
 * fields 8-byte words (kaio-run reads them with od).  Slot i describes
 * one process image; it is taken at init or in a fork child and never
 * given back.
 */
#define SEG_MAGIC	"KAIOSTATS 1\n"	/* written by kaio-run */
#define SEG_HDR		4096
#define SEG_SLOT	2048
#define SEG_SLOTS	4096
#define SEG_SIZE	(SEG_HDR + (size_t)SEG_SLOTS * SEG_SLOT)
#define SEG_NSTATS	32

enum { SLOT_FREE, SLOT_LIVE, SLOT_EXITED, SLOT_REPORTED };

struct seg_hdr {
	char magic[16];			/* SEG_MAGIC, NUL-padded */
	atomic_ulong next;		/* slots handed out (may pass SEG_SLOTS) */
	atomic_ulong nslots, nstats, nbuckets;
	atomic_ulong names_state;	/* 0, 1 being written, 2 written */
	atomic_ulong owner;		/* anonymous: the pid that made it */
	char names[SEG_HDR - 64];	/* "read write ...\ninline pool ...\n" */
};

struct seg_slot {
	atomic_ulong pid, state;
	atomic_ulong parent;		/* parent's slot + 1; 0: none */
	atomic_ulong ppid;
	atomic_ulong pad[4];
	char modes[64];			/* "backend=auto[ kaio=... io_uring=...]" */
	union {
		struct kaio_stats_int st;
		atomic_ulong v[SEG_NSTATS];
	};
	atomic_ulong hist[KAIO_SERVED_MAX][NBUCKET];
};

_Static_assert(sizeof(struct seg_hdr) == SEG_HDR, "segment header");
_Static_assert(sizeof(struct seg_slot) <= SEG_SLOT, "segment slot");
_Static_assert(KAIO_STAT_MAX <= SEG_NSTATS, "segment counters");

static struct seg_hdr *seg;
static int seg_file;			/* kaio-run's file: it prints */
static struct seg_slot *slot;		/* ours, or NULL */
static unsigned long slot_no;
static char backend_text[24];

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
	atomic_fetch_add_explicit(&histp[served][b], 1, memory_order_relaxed);
}

/* The upper bound, in microseconds, of the bucket holding quantile q. */
static double quantile(atomic_ulong (*h)[NBUCKET], int served, double q,
		       unsigned long total)
{
	unsigned long seen = 0, want = (unsigned long)(q * total + 0.5);
	int b;

	for (b = 0; b < NBUCKET; b++) {
		seen += atomic_load_explicit(&h[served][b],
					     memory_order_relaxed);
		if (seen >= want && seen)
			return (2LL << b) / 1000.0;
	}
	return 0;
}

/* Append " lat_us_<backend>=p50/p99" for each backend that served. */
static int latency_format(atomic_ulong (*h)[NBUCKET], char *buf, size_t len)
{
	unsigned long total;
	int i, b, n = 0;

	for (i = 0; i < KAIO_SERVED_MAX; i++) {
		total = 0;
		for (b = 0; b < NBUCKET; b++)
			total += atomic_load_explicit(&h[i][b],
						      memory_order_relaxed);
		if (!total || n >= (int)len)
			continue;
		n += snprintf(buf + n, len - n, " lat_us_%s=%.1f/%.1f",
			      served_names[i], quantile(h, i, 0.5, total),
			      quantile(h, i, 0.99, total));
	}
	return n;
}

int kaio__latency_format(char *buf, size_t len)
{
	return latency_format(histp, buf, len);
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

/* --- the shared counter segment (KAIO_STATS=1) ------------------------- */

static struct seg_slot *slot_at(unsigned long i)
{
	return (struct seg_slot *)((char *)seg + SEG_HDR + i * SEG_SLOT);
}

static void note(const char *what, const char *path, int err)
{
	char line[512];
	int n;

	n = snprintf(line, sizeof(line),
		     "kaio_posix: pid %d: KAIO_STATS_SHM=%s: %s%s%s; "
		     "printing this process's own line at exit\n",
		     (int)getpid(), path, what, err ? ": " : "",
		     err ? strerror(err) : "");
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

/* kaio-run's file, or NULL (with a note on stderr) if it cannot be used. */
static struct seg_hdr *map_file(const char *path)
{
	char magic[sizeof(SEG_MAGIC) - 1];
	struct stat st;
	void *p;
	int fd, err = 0;

	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		note("cannot open", path, errno);
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
	    memcmp(magic, SEG_MAGIC, sizeof(magic))) {
		note("not a kaio-run counter file", path, 0);
		close(fd);
		return NULL;
	}
	/* Only ever grown, and by every process to the same size. */
	if (st.st_size < (off_t)SEG_SIZE && ftruncate(fd, SEG_SIZE))
		err = errno;
	p = err ? MAP_FAILED : mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE,
				    MAP_SHARED, fd, 0);
	if (p == MAP_FAILED && !err)
		err = errno;
	close(fd);
	if (err) {
		note("cannot map", path, err);
		return NULL;
	}
	return p;
}

/* Take the next slot; without one, count in the process's own kaio__stats. */
static void take_slot(unsigned long parent)
{
	unsigned long i = atomic_fetch_add(&seg->next, 1);
	struct seg_slot *s;

	slot = NULL;
	kaio__statp = &kaio__stats;
	histp = hist;
	if (i >= SEG_SLOTS)
		return;
	s = slot_at(i);
	atomic_store_explicit(&s->pid, (unsigned long)getpid(),
			      memory_order_relaxed);
	atomic_store_explicit(&s->ppid, (unsigned long)getppid(),
			      memory_order_relaxed);
	atomic_store_explicit(&s->parent, parent, memory_order_relaxed);
	memcpy(s->modes, backend_text, sizeof(backend_text));
	atomic_store_explicit(&s->state, SLOT_LIVE, memory_order_release);
	slot = s;
	slot_no = i;
	kaio__statp = &s->st;
	histp = s->hist;
}

/* At init, with KAIO_STATS=1: find or make the segment, take a slot. */
void kaio__stats_attach(const char *backend)
{
	const char *path = secure_getenv("KAIO_STATS_SHM");
	unsigned long zero = 0;
	void *p;
	int i, n;

	snprintf(backend_text, sizeof(backend_text), "backend=%s", backend);
	if (path && *path) {
		seg = map_file(path);
		seg_file = seg != NULL;
	}
	if (!seg) {
		p = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return;
		seg = p;
		memcpy(seg->magic, SEG_MAGIC, sizeof(SEG_MAGIC) - 1);
		atomic_store(&seg->owner, (unsigned long)getpid());
	}
	atomic_store(&seg->nslots, SEG_SLOTS);
	atomic_store(&seg->nstats, KAIO_STAT_MAX);
	atomic_store(&seg->nbuckets, NBUCKET);
	if (atomic_compare_exchange_strong(&seg->names_state, &zero, 1)) {
		n = 0;
		for (i = 0; i < KAIO_STAT_MAX; i++)
			n += snprintf(seg->names + n, sizeof(seg->names) - n,
				      "%s%s", i ? " " : "", kaio_stat_name(i));
		for (i = 0; i < KAIO_SERVED_MAX; i++)
			n += snprintf(seg->names + n, sizeof(seg->names) - n,
				      "%s%s", i ? " " : "\n", served_names[i]);
		snprintf(seg->names + n, sizeof(seg->names) - n, "\n");
		atomic_store(&seg->names_state, 2);
	}
	take_slot(0);
}

/* In a fork child: the parent's slot is the parent's; take a new one. */
void kaio__stats_fork(void)
{
	unsigned long parent = slot ? slot_no + 1 : 0;
	int i;

	/* The child counts from zero; only this thread lives on. */
	memset(&kaio__stats, 0, sizeof(kaio__stats));
	for (i = 0; i < TBLOCKS; i++)
		memset(&tblocks[i].st, 0, sizeof(tblocks[i].st));
	atomic_store(&tblocks_used, kaio__tls_stats ?
		     1ULL << ((struct tblock *)kaio__tls_stats - tblocks) : 0);
	if (seg) {
		kaio__tls_stats = NULL;
		take_slot(parent);
	}
}

/* "kaio_posix: pid=P HEAD name=value... lat_us_..." and a newline. */
static int format_line(char *line, size_t len, unsigned long pid,
		       const char *head, const atomic_ulong *v,
		       atomic_ulong (*h)[NBUCKET])
{
	int i, n;

	n = snprintf(line, len, "kaio_posix: pid=%lu %s", pid, head);
	for (i = 0; i < KAIO_STAT_MAX && n < (int)len; i++)
		n += snprintf(line + n, len - n, " %s=%lu", kaio_stat_name(i),
			      atomic_load_explicit(&v[i],
						   memory_order_relaxed));
	if (n < (int)len)
		n += latency_format(h, line + n, len - n);
	if (n >= (int)len - 1)
		n = len - 2;
	line[n++] = '\n';
	return n;
}

/* Is pid still running (neither gone nor a zombie)? */
static int running(unsigned long pid)
{
	char path[64], buf[512], *p;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%lu/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/*
 * Print a line for each forked descendant that never printed its own,
 * claiming it so that no other process prints it too.  A child's slot
 * always comes after its parent's, so one pass finds the whole subtree.
 */
static void report_descendants(void)
{
	static unsigned long mine[SEG_SLOTS / 64];
	unsigned long i, k, end, parent, live;
	struct seg_slot *s;
	char line[1200], head[160];
	int n, any;

	end = atomic_load(&seg->next);
	if (end > SEG_SLOTS)
		end = SEG_SLOTS;
	memset(mine, 0, sizeof(mine));
	mine[slot_no / 64] |= 1UL << (slot_no % 64);
	for (i = slot_no + 1; i < end; i++) {
		s = slot_at(i);
		parent = atomic_load(&s->parent);
		if (!parent || !(mine[(parent - 1) / 64] &
				 (1UL << ((parent - 1) % 64))))
			continue;
		live = SLOT_LIVE;
		if (!atomic_compare_exchange_strong(&s->state, &live,
						    SLOT_REPORTED))
			continue;
		mine[i / 64] |= 1UL << (i % 64);
		for (any = 0, k = 0; k < KAIO_STAT_MAX; k++)
			any |= atomic_load(&s->v[k]) != 0;
		if (!any)
			continue;	/* did no AIO: a fork before an exec */
		snprintf(head, sizeof(head), "%.*s end=%s parent=%lu",
			 (int)sizeof(s->modes), s->modes,
			 running(atomic_load(&s->pid)) ? "running" : "no_exit",
			 (unsigned long)atomic_load(&s->ppid));
		n = format_line(line, sizeof(line), atomic_load(&s->pid),
				head, s->v, s->hist);
		if (write(STDERR_FILENO, line, n) < 0)
			return;
	}
}

/*
 * At exit(), with KAIO_STATS=1.  head: "backend=... kaio=... io_uring=...".
 * Under kaio-run, record how the process ended and print nothing.
 */
void kaio__stats_exit(const char *head)
{
	struct kaio_stats_int sum;
	unsigned long total[KAIO_STAT_MAX];
	char line[1200];
	int i, n;

	if (slot) {
		snprintf(slot->modes, sizeof(slot->modes), "%s", head);
		if (seg_file) {
			atomic_store(&slot->state, SLOT_EXITED);
			return;
		}
	}
	kaio__stats_total(total);
	for (i = 0; i < KAIO_STAT_MAX; i++)
		atomic_store_explicit(&sum.v[i], total[i], memory_order_relaxed);
	n = format_line(line, sizeof(line), (unsigned long)getpid(), head,
			sum.v, histp);
	if (write(STDERR_FILENO, line, n) < 0)
		return;
	if (slot) {
		atomic_store(&slot->state, SLOT_EXITED);
		report_descendants();
	}
}
