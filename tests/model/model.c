/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tests/model/model.c - a model-checked random test of the whole API.
 *
 *   kaio-model [--seed S] [--time SECONDS] [--threads N]
 *
 * Several application threads issue random sequences of every call
 * (aio_read/write/fsync in both modes, lio_listio in both modes with list
 * notifications, NOPs, NULL entries and now and then an aiocb listed
 * twice, aio_suspend including nent == 0, aio_error, aio_return,
 * aio_cancel of one request and of a whole fd, kaio_poll, kaio_openat,
 * kaio_unlinkat, kaio_renameat, kaio_readahead, completion queues and
 * their destruction), with every sigevent kind, and now and then fork (the
 * child does a little AIO of its own), a thread exit (another thread takes
 * over its requests) and the close and reopen of an fd or a pipe.
 *
 * Each is checked against a reference model:
 *   - a shadow copy of each file region: every thread writes only its own
 *     region of the shared file and of its private file, so every byte a
 *     read returns is known;
 *   - a pipe stream of numbered 16-byte chunks: reads get whole chunks, in
 *     order, none twice, and the count of chunks read plus those left in
 *     the pipe is the count written;
 *   - a set of names per thread for the path operations;
 *   - every request's notification is counted by the id in its sigval and
 *     must arrive exactly once (SIGEV_SIGNAL with SI_ASYNCIO, SIGEV_THREAD_ID
 *     on its thread, SIGEV_THREAD never on an application thread,
 *     SIGEV_KAIO on its own queue; none for SIGEV_NONE); a missing signal
 *     is accepted only when the library's counters account for it exactly
 *     (notify_failed, or under TSan a signal queued but dropped by TSan's
 *     interceptor: signal_accounting());
 *   - aio_error()/aio_return() agree with the model, aio_return() works
 *     once; aio_cancel()'s answer agrees with what aio_error() then says;
 *     an aio_fsync() is never seen done before an earlier write on its fd.
 * The seed is printed first; --seed reproduces the per-thread choices
 * (their interleaving is the scheduler's).  Exit 0 pass, 1 a check failed
 * (every failure is printed with "FAIL:" and the seed), 2 setup error.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "kaio_aio_abi.h"

#define MAXT		8
#define SLOTS		16		/* file slots per thread and file */
#define SLOT		2048
#define REGION		(SLOTS * SLOT)
#define MAXID		(1 << 20)
#define CHUNK		16
#define MAXOUT		48		/* outstanding requests per thread */
#define WAIT_S		30		/* a request not done by then: hang */

enum { OP_READ, OP_WRITE, OP_FSYNC, OP_DSYNC, OP_PREAD, OP_POLL, OP_OPEN,
       OP_UNLINK, OP_RENAME, OP_RAHEAD };
static const char *const opname[] = { "read", "write", "fsync", "fdatasync",
	"pipe-read", "poll", "openat", "unlinkat", "renameat", "readahead" };
enum { N_NONE, N_SIGNAL, N_THREAD_ID, N_THREAD, N_THREAD_ATTR, N_QUEUE,
       N_SHARED_QUEUE, N_KINDS };
static const char *const nname[] = { "none", "signal", "thread_id", "thread",
	"thread+attr", "queue", "shared-queue" };

/* Expected notifications per id: 0 none, 1 exactly one, 2 at most one. */
static atomic_int notes[MAXID];
static unsigned char expect_notes[MAXID];
static int note_meta[MAXID];	/* THREAD_ID: tid; queue: generation */
static unsigned char note_kind[MAXID];	/* N_* of the id's sigevent */
static unsigned char note_list[MAXID];	/* the id is a list's notification */
static atomic_int next_id = 1;
static atomic_int failures, stop_flag;
static atomic_long n_ops, n_checks;
static unsigned long long seed;
static int run_secs = 20, nthreads = 4;
static char dir[4096];
static int shared_fd;
static pthread_attr_t cb_attr;
static __thread int app_thread;		/* 1 on the test's own threads */

static atomic_int shared_q = -1;
static atomic_int shared_q_gen;
static atomic_int gen_counter = 1;

static void fail(const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FAIL: %s (seed %llu)\n", buf, seed);
	atomic_fetch_add(&failures, 1);
}

static void die(const char *what)
{
	fprintf(stderr, "model: setup: %s: %s\n", what, strerror(errno));
	exit(2);
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void wr(const char *s)
{
	if (write(2, s, strlen(s)) < 0)
		s = NULL;
}

/* --- notifications ----------------------------------------------------- */

static void count_note(int id);
struct tstate;
static void pend_add(struct tstate *t, int id, int kind);
static void pend_wait(struct tstate *t, int kind);

static atomic_long sig_seen[2];	/* SIGRTMIN, SIGRTMIN + 1 handled */

/*
 * TSan's signal interceptor holds a delivered signal in a per-thread slot
 * per signal number until the thread reaches a safe point: a second real-
 * time signal of that number arriving meanwhile is dropped (sent by the
 * library, accepted by the kernel, never handled).  Under TSan a missing
 * signal is then accepted only as the counts account for it, and the
 * waits for one are short; elsewhere every queued signal is handled.
 */
#if defined(__SANITIZE_THREAD__)
static const int sig_lossy = 1;
static const double sig_wait_s = 2;
#else
static const int sig_lossy = 0;
static const double sig_wait_s = 10;
#endif

static void count_note(int id)
{
	if (id <= 0 || id >= MAXID) {
		wr("FAIL: a notification with an unknown id\n");
		atomic_fetch_add(&failures, 1);
		return;
	}
	atomic_fetch_add(&notes[id], 1);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int id = si->si_value.sival_int, saved = errno;

	(void)uc;
	if (si->si_code != SI_ASYNCIO) {
		wr("FAIL: an AIO signal without SI_ASYNCIO\n");
		atomic_fetch_add(&failures, 1);
	}
	if (sig == SIGRTMIN + 1 && id > 0 && id < MAXID &&
	    note_meta[id] != gettid_()) {
		wr("FAIL: a SIGEV_THREAD_ID signal on another thread\n");
		atomic_fetch_add(&failures, 1);
	}
	if (sig == SIGRTMIN || sig == SIGRTMIN + 1)
		atomic_fetch_add(&sig_seen[sig - SIGRTMIN], 1);
	count_note(id);
	errno = saved;
}

static void on_thread(union sigval v)
{
	if (app_thread)
		fail("SIGEV_THREAD callback of #%d ran on an application thread",
		     v.sival_int);
	count_note(v.sival_int);
}

/* Reap a queue; gen is the queue's generation, for the wrong-queue check. */
static void reap(int q, int gen, const struct timespec *ts)
{
	struct kaio_event ev[32];
	int n, i;

	n = kaio_queue_reap(q, ev, 32, ts);
	if (n < 0 && errno != EINTR)
		fail("kaio_queue_reap(%d): %s", q, strerror(errno));
	for (i = 0; i < n; i++) {
		int id = ev[i].value.sival_int;

		if (id > 0 && id < MAXID && note_meta[id] != gen)
			fail("event of #%d came on queue gen %d, it named gen %d",
			     id, gen, note_meta[id]);
		count_note(id);
	}
}

static void *shared_reaper(void *arg)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	(void)arg;
	app_thread = 1;
	while (!atomic_load(&stop_flag) || atomic_load(&stop_flag) == 1)
		reap(shared_q, shared_q_gen, &ts);
	return NULL;
}

/* --- the model ---------------------------------------------------------- */

struct req {
	struct aiocb cb;
	struct req *next;
	int id, op, nk, slot, file;	/* file: 0 shared, 1 private */
	int lio;			/* submitted by lio_listio */
	int rdonly;			/* a write on an O_RDONLY fd */
	int cancel_said;		/* an aio_cancel() covering it answered
					 * CANCELED or NOTCANCELED */
	int single_cancel;		/* aio_cancel(cb) said: -2 none */
	unsigned fsync_after;		/* writes earlier on the fd */
	unsigned long long wseq;
	char *buf;
	unsigned char want[SLOT];	/* the data a read must see */
	char path[64], path2[64];
	struct kaio_renameat_info ri;
	int name_a, name_b;
};

struct tstate {
	int idx;
	uint64_t rng;
	pthread_t thread;
	pid_t tid;
	int priv_fd, priv_rw;		/* private file; O_RDWR or O_RDONLY */
	int pipe_r, pipe_w;
	unsigned chunks_written, chunks_read;
	int last_chunk;
	int q, qgen;
	int dirfd;
	unsigned char names[8];		/* the model of the private dir */
	unsigned char shadow[2][REGION];
	int busy_w[2][SLOTS], busy_r[2][SLOTS];
	unsigned long long wseq_next;
	struct req *out;		/* outstanding */
	int nout;
	int exits;			/* thread exits so far */
	int pend[4096], pend_k[4096], npend;	/* retired, THREAD_ID or
					 * queue notification not seen yet */
	int restart;			/* the thread exits and is restarted */
	/* LIO_NOWAIT lists whose notification is bound to this thread
	 * (SIGEV_THREAD_ID) or to its queue (SIGEV_KAIO), not yet seen. */
	int lists[64], lists_k[64], nlists;
};

static struct tstate *ts_[MAXT];

static uint64_t rnd(struct tstate *t)
{
	uint64_t z = (t->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int rn(struct tstate *t, int n)
{
	return (int)(rnd(t) % (uint64_t)n);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int new_id(void)
{
	int id = atomic_fetch_add(&next_id, 1);

	if (id >= MAXID - 64) {
		atomic_store(&stop_flag, 1);
		return 0;
	}
	return id;
}

static void set_sigevent(struct tstate *t, struct sigevent *sev, int id,
			 int nk)
{
	memset(sev, 0, sizeof(*sev));
	sev->sigev_value.sival_int = id;
	expect_notes[id] = nk != N_NONE;
	note_kind[id] = (unsigned char)nk;
	switch (nk) {
	case N_NONE:
		sev->sigev_notify = SIGEV_NONE;
		break;
	case N_SIGNAL:
		sev->sigev_notify = SIGEV_SIGNAL;
		sev->sigev_signo = SIGRTMIN;
		break;
	case N_THREAD_ID:
		sev->sigev_notify = SIGEV_THREAD_ID;
		sev->sigev_signo = SIGRTMIN + 1;
		sev->_sigev_un._tid = t->tid;
		note_meta[id] = t->tid;
		break;
	case N_THREAD:
	case N_THREAD_ATTR:
		sev->sigev_notify = SIGEV_THREAD;
		sev->sigev_notify_function = on_thread;
		if (nk == N_THREAD_ATTR)
			sev->sigev_notify_attributes = &cb_attr;
		break;
	case N_QUEUE:
		sev->sigev_notify = SIGEV_KAIO;
		sev->sigev_signo = t->q;
		note_meta[id] = t->qgen;
		break;
	case N_SHARED_QUEUE:
		sev->sigev_notify = SIGEV_KAIO;
		sev->sigev_signo = shared_q;
		note_meta[id] = shared_q_gen;
		break;
	}
}

static unsigned char pat(unsigned long long seq, int i)
{
	return (unsigned char)(seq * 131 + (unsigned)i * 7 + 3);
}

/* A new file request (read/write/fsync) on one of the thread's slots. */
static struct req *file_req(struct tstate *t, int op, int file)
{
	struct req *r = calloc(1, sizeof(*r));
	int s, tries;

	if (!r)
		die("calloc");
	r->id = new_id();
	if (!r->id) {
		free(r);
		return NULL;
	}
	r->op = op;
	r->file = file;
	r->single_cancel = -2;
	r->cb.aio_fildes = file ? t->priv_fd : shared_fd;
	r->nk = rn(t, N_KINDS);
	set_sigevent(t, &r->cb.aio_sigevent, r->id, r->nk);
	if (op == OP_FSYNC || op == OP_DSYNC) {
		r->slot = -1;
		return r;
	}
	for (tries = 0; tries < 8; tries++) {
		s = rn(t, SLOTS);
		if (!t->busy_w[file][s] && (op == OP_READ || !t->busy_r[file][s]))
			break;
	}
	if (tries == 8) {
		expect_notes[r->id] = 0;
		free(r);
		return NULL;
	}
	r->slot = s;
	if (op == OP_WRITE)
		t->busy_w[file][s]++;
	else
		t->busy_r[file][s]++;
	r->buf = malloc(SLOT);
	if (!r->buf)
		die("malloc");
	r->cb.aio_buf = r->buf;
	r->cb.aio_nbytes = SLOT;
	r->cb.aio_offset = (off_t)(file ? 0 : t->idx * REGION) + (off_t)s * SLOT;
	r->cb.aio_reqprio = rn(t, 4) == 0 ? rn(t, 3) : 0;
	r->rdonly = op == OP_WRITE && file && !t->priv_rw;
	if (op == OP_WRITE) {
		r->wseq = ++t->wseq_next + ((unsigned long long)t->idx << 40);
		for (int i = 0; i < SLOT; i++)
			r->buf[i] = (char)pat(r->wseq, i);
		r->cb.aio_lio_opcode = LIO_WRITE;
	} else {
		memcpy(r->want, &t->shadow[file][s * SLOT], SLOT);
		memset(r->buf, 0x5a, SLOT);
		r->cb.aio_lio_opcode = LIO_READ;
	}
	return r;
}

/* Bookkeeping once the library accepted r. */
static void accepted(struct tstate *t, struct req *r)
{
	r->next = t->out;
	t->out = r;
	t->nout++;
	atomic_fetch_add(&n_ops, 1);
}

static void unreserve(struct tstate *t, struct req *r)
{
	if (r->slot >= 0 && r->op == OP_WRITE)
		t->busy_w[r->file][r->slot]--;
	if (r->slot >= 0 && r->op == OP_READ)
		t->busy_r[r->file][r->slot]--;
	r->slot = -1;
}

static void dropped(struct tstate *t, struct req *r)
{
	unreserve(t, r);
	expect_notes[r->id] = 0;
	free(r->buf);
	free(r);
}

/* A refusal that the model did not expect. */
static void refused(struct req *r, const char *call)
{
	fail("%s of #%d (%s) refused: %s", call, r->id, opname[r->op],
	     strerror(errno));
}

static int submit_one(struct tstate *t, struct req *r)
{
	int ret;

	switch (r->op) {
	case OP_READ:
	case OP_PREAD:
		ret = aio_read(&r->cb);
		break;
	case OP_WRITE:
		ret = aio_write(&r->cb);
		break;
	case OP_FSYNC:
		ret = aio_fsync(O_SYNC, &r->cb);
		break;
	case OP_DSYNC:
		ret = aio_fsync(O_DSYNC, &r->cb);
		break;
	case OP_POLL:
		ret = kaio_poll(&r->cb);
		break;
	case OP_OPEN:
		ret = kaio_openat(&r->cb);
		break;
	case OP_UNLINK:
		ret = kaio_unlinkat(&r->cb);
		break;
	case OP_RENAME:
		ret = kaio_renameat(&r->cb);
		break;
	default:
		ret = kaio_readahead(&r->cb);
		break;
	}
	if (ret == 0) {
		accepted(t, r);
		return 0;
	}
	/* A write on an O_RDONLY fd is accepted, as in glibc, and completes
	 * with EBADF (kaio_posix(7)): refusing it is wrong too. */
	refused(r, "submission");
	dropped(t, r);
	return -1;
}

/* --- completion and checks --------------------------------------------- */

static void unlink_req(struct tstate *t, struct req *r)
{
	struct req **p;

	for (p = &t->out; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			t->nout--;
			return;
		}
}

static int wait_done(struct req *r)
{
	const struct aiocb *l[1] = { &r->cb };
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	double dl = now() + WAIT_S;

	while (aio_error(&r->cb) == EINPROGRESS) {
		if (now() > dl) {
			fail("hang: #%d (%s, %s) not done after %d s", r->id,
			     opname[r->op], nname[r->nk], WAIT_S);
			return -1;
		}
		if (aio_suspend(l, 1, &ts) < 0 && errno != EAGAIN &&
		    errno != EINTR)
			fail("aio_suspend: %s", strerror(errno));
	}
	return 0;
}

static void check_chunk(struct tstate *t, struct req *r, long n)
{
	int c, i;

	if (n == 0)
		return;		/* EOF: the write end was closed */
	if (n != CHUNK) {
		fail("#%d pipe read gave %ld bytes", r->id, n);
		return;
	}
	c = (unsigned char)r->buf[0] | (unsigned char)r->buf[1] << 8;
	for (i = 2; i < CHUNK; i++)
		if ((unsigned char)r->buf[i] != (unsigned char)(c + i)) {
			fail("#%d pipe read: chunk %d corrupt", r->id, c);
			return;
		}
	if (c <= t->last_chunk && t->last_chunk >= 0)
		fail("#%d pipe read: chunk %d after chunk %d", r->id, c,
		     t->last_chunk);
	t->last_chunk = c;
	t->chunks_read++;
}

/* r is done: check it against the model and release it. */
static void retire(struct tstate *t, struct req *r)
{
	int err, i;
	long ret;

	if (wait_done(r) < 0) {
		atomic_store(&stop_flag, 3);
		return;
	}
	unlink_req(t, r);
	err = aio_error(&r->cb);
	ret = aio_return(&r->cb);
	atomic_fetch_add(&n_checks, 1);
	if (err && ret != -1)
		fail("#%d %s: error %d, aio_return %ld", r->id, opname[r->op],
		     err, ret);
	if (aio_return(&r->cb) != -1 || errno != EINVAL)
		fail("#%d: a second aio_return() did not fail with EINVAL", r->id);
	{
		int e2 = aio_error(&r->cb);

		/* EINVAL, or (as glibc) the result it had */
		if (e2 != err && (e2 != -1 || errno != EINVAL))
			fail("#%d %s%s: aio_error() after aio_return() gave %d, "
			     "not EINVAL or %d", r->id, opname[r->op],
			     r->lio ? " (lio)" : "", e2, err);
	}
	if (err == ECANCELED && !r->cancel_said && r->single_cancel != AIO_CANCELED)
		fail("#%d %s: ECANCELED but no aio_cancel() said so (said %d)",
		     r->id, opname[r->op], r->single_cancel);
	if (err != ECANCELED && r->single_cancel == AIO_CANCELED)
		fail("#%d %s: aio_cancel() said AIO_CANCELED, result %s",
		     r->id, opname[r->op], strerror(err));
	{
		int slot = r->slot;

		unreserve(t, r);
		r->slot = slot;
	}
	if ((r->nk == N_THREAD_ID || r->nk == N_QUEUE) &&
	    expect_notes[r->id] == 1 && !atomic_load(&notes[r->id]))
		pend_add(t, r->id, r->nk);
	switch (r->op) {
	case OP_READ:
		if (err == ECANCELED)
			break;
		if (err || ret != SLOT) {
			fail("#%d read: error %s, aio_return %ld", r->id,
			     strerror(err), ret);
			break;
		}
		for (i = 0; i < SLOT; i++)
			if ((unsigned char)r->buf[i] != r->want[i]) {
				fail("#%d read of %s slot %d (thread %d): byte %d "
				     "is %#x, model says %#x", r->id,
				     r->file ? "private" : "shared", r->slot,
				     t->idx, i, (unsigned char)r->buf[i],
				     r->want[i]);
				break;
			}
		break;
	case OP_WRITE:
		if (err == ECANCELED)
			break;
		if (r->rdonly) {
			if (err != EBADF || ret != -1)
				fail("#%d write on an O_RDONLY fd: error %s, "
				     "aio_return %ld, not EBADF", r->id,
				     strerror(err), ret);
			break;
		}
		if (err || ret != SLOT) {
			fail("#%d write: error %s, aio_return %ld", r->id,
			     strerror(err), ret);
			/* resync the model with the file */
			if (pread(r->cb.aio_fildes,
				  &t->shadow[r->file][r->slot * SLOT], SLOT,
				  r->cb.aio_offset) != SLOT)
				die("pread");
			break;
		}
		memcpy(&t->shadow[r->file][r->slot * SLOT], r->buf, SLOT);
		break;
	case OP_FSYNC:
	case OP_DSYNC:
	case OP_RAHEAD:
		if (err == ECANCELED)
			break;	/* checked above against aio_cancel() */
		if (err || ret)
			fail("#%d %s: error %s, aio_return %ld", r->id,
			     opname[r->op], strerror(err), ret);
		break;
	case OP_PREAD:
		if (err == ECANCELED)
			break;
		if (err)
			fail("#%d pipe read: %s", r->id, strerror(err));
		else
			check_chunk(t, r, ret);
		break;
	case OP_POLL:
		if (err == ECANCELED)
			break;
		if (err || !(ret & (POLLIN | POLLHUP)))
			fail("#%d poll: error %s, events %#lx", r->id,
			     strerror(err), ret);
		break;
	case OP_OPEN: {
		int exists = t->names[r->name_a];

		if (exists && err != EEXIST)
			fail("#%d openat(O_EXCL) of existing n%d: %s", r->id,
			     r->name_a, strerror(err));
		else if (!exists && err)
			fail("#%d openat(O_CREAT) of n%d: %s", r->id, r->name_a,
			     strerror(err));
		if (!err) {
			t->names[r->name_a] = 1;
			close((int)ret);
		}
		break;
	}
	case OP_UNLINK: {
		int exists = t->names[r->name_a];

		if (exists ? err != 0 : err != ENOENT)
			fail("#%d unlinkat of %s n%d: %s", r->id,
			     exists ? "existing" : "missing", r->name_a,
			     strerror(err));
		t->names[r->name_a] = 0;
		break;
	}
	case OP_RENAME: {
		int exists = t->names[r->name_a];

		if (exists ? err != 0 : err != ENOENT)
			fail("#%d renameat of %s n%d: %s", r->id,
			     exists ? "existing" : "missing", r->name_a,
			     strerror(err));
		if (exists && !err) {
			t->names[r->name_a] = 0;
			t->names[r->name_b] = 1;
		}
		break;
	}
	}
	free(r->buf);
	free(r);
}

static void retire_all(struct tstate *t)
{
	while (t->out && !(atomic_load(&stop_flag) & 2))
		retire(t, t->out);
}

static void pend_compact(struct tstate *t)
{
	int i, n = 0;

	for (i = 0; i < t->npend; i++)
		if (!atomic_load(&notes[t->pend[i]])) {
			t->pend_k[n] = t->pend_k[i];
			t->pend[n++] = t->pend[i];
		}
	t->npend = n;
}

/* Wait (10 s at most) until the notifications of kind in pend arrived. */
static void pend_wait(struct tstate *t, int kind)
{
	double dl = now() + (kind == N_THREAD_ID ? sig_wait_s : 10);
	int i, n, left;

	do {
		reap(t->q, t->qgen, &(struct timespec){ 0, 0 });
		pend_compact(t);
		left = 0;
		for (i = 0; i < t->npend; i++)
			left += t->pend_k[i] == kind;
		if (left)
			usleep(1000);
	} while (left && now() < dl);
	for (i = 0, n = 0; i < t->npend; i++) {
		if (t->pend_k[i] != kind) {
			t->pend_k[n] = t->pend_k[i];
			t->pend[n++] = t->pend[i];
			continue;
		}
		/* Under TSan a signal may be lost after the kernel delivered
		 * it: the final count decides (signal_accounting()). */
		if (kind == N_THREAD_ID && sig_lossy)
			continue;
		fail("#%d: its %s notification never came", t->pend[i],
		     nname[kind]);
		expect_notes[t->pend[i]] = 2;	/* reported once */
	}
	t->npend = n;
}

static void pend_add(struct tstate *t, int id, int kind)
{
	if (t->npend == 4096)
		pend_compact(t);
	if (t->npend == 4096) {
		pend_wait(t, N_THREAD_ID);
		pend_wait(t, N_QUEUE);
	}
	t->pend_k[t->npend] = kind;
	t->pend[t->npend++] = id;
}

static void lists_compact(struct tstate *t)
{
	int i, n = 0;

	for (i = 0; i < t->nlists; i++)
		if (!atomic_load(&notes[t->lists[i]])) {
			t->lists_k[n] = t->lists_k[i];
			t->lists[n++] = t->lists[i];
		}
	t->nlists = n;
}

/*
 * Before the thread exits: a list's SIGEV_THREAD_ID notification is sent
 * to this thread once every request of the list completed, so retire them
 * all and wait (10 s at most) for it; a signal to a thread that has exited
 * is lost, rightly.
 */
static void lists_wait(struct tstate *t)
{
	double dl;
	int i, left;

	lists_compact(t);
	for (i = 0, left = 0; i < t->nlists; i++)
		left += t->lists_k[i] == N_THREAD_ID;
	if (!left)
		return;
	retire_all(t);
	if (atomic_load(&stop_flag) & 2)
		return;
	dl = now() + sig_wait_s;
	do {
		lists_compact(t);
		for (i = 0, left = 0; i < t->nlists; i++)
			left += t->lists_k[i] == N_THREAD_ID;
		if (left)
			usleep(1000);
	} while (left && now() < dl);
	for (i = 0; i < t->nlists; i++)
		if (t->lists_k[i] == N_THREAD_ID && !sig_lossy) {
			fail("list #%d: its thread_id notification never came",
			     t->lists[i]);
			expect_notes[t->lists[i]] = 2;	/* reported once */
		}
	t->nlists = 0;
}

/* --- actions ------------------------------------------------------------ */

/*
 * An earlier aio_cancel() may have cancelled r: a later aio_cancel(r)
 * then rightly answers AIO_ALLDONE for an aiocb that reports ECANCELED.
 */
static int cancelled_before(const struct req *r)
{
	return r->cancel_said || r->single_cancel == AIO_CANCELED;
}

/* Remember aio_cancel(r)'s answer; an AIO_CANCELED one stays. */
static void cancel_answer(struct req *r, int ret)
{
	if (r->single_cancel != AIO_CANCELED)
		r->single_cancel = ret;
}

static void act_file(struct tstate *t)
{
	int k = rn(t, 10), op = k < 4 ? OP_READ : k < 8 ? OP_WRITE :
				 k == 8 ? OP_FSYNC : OP_DSYNC;
	int file = rn(t, 3) == 0;
	struct req *r, *w;

	if (op == OP_WRITE && file && !t->priv_rw)
		op = rn(t, 4) ? OP_READ : OP_WRITE;	/* EBADF, sometimes */
	r = file_req(t, op, file);
	if (!r)
		return;
	if (submit_one(t, r) == 0 && (op == OP_FSYNC || op == OP_DSYNC)) {
		/* Is the fsync ever done before an earlier write? */
		if (aio_error(&r->cb) != EINPROGRESS)
			for (w = r->next; w; w = w->next)
				if (w->op == OP_WRITE && w->cb.aio_fildes ==
				    r->cb.aio_fildes &&
				    aio_error(&w->cb) == EINPROGRESS)
					fail("#%d %s done before the earlier "
					     "write #%d", r->id, opname[op],
					     w->id);
	}
}

static void act_lio(struct tstate *t)
{
	struct aiocb *list[12];
	struct req *rs[12];
	struct sigevent lsig;
	int n = 1 + rn(t, 8), m = 0, i, ret, err, mode, list_id = 0, dup = -1;
	int lk;

	mode = rn(t, 2) ? LIO_WAIT : LIO_NOWAIT;
	for (i = 0; i < n; i++) {
		int k = rn(t, 12);

		if (k == 0) {
			list[m] = NULL;
			rs[m++] = NULL;
			continue;
		}
		{
			int op = k < 6 ? OP_READ : OP_WRITE, file = rn(t, 3) == 0;

			if (op == OP_WRITE && !t->priv_rw)
				file = 0;
			rs[m] = file_req(t, op, file);
		}
		if (!rs[m])
			continue;
		if (rn(t, 10) == 0)
			rs[m]->cb.aio_lio_opcode = LIO_NOP;
		rs[m]->lio = 1;
		list[m] = &rs[m]->cb;
		m++;
	}
	/* Now and then a pipe read (it waits: in progress for sure) listed
	 * twice: the second must be refused without touching the first. */
	if (mode == LIO_NOWAIT && t->pipe_w >= 0 && rn(t, 20) == 0 &&
	    (rs[m] = calloc(1, sizeof(struct req)))) {
		struct req *r = rs[m];
		char c[CHUNK];

		/* The pipe must be empty, so that the read waits. */
		fcntl(t->pipe_r, F_SETFL, O_NONBLOCK);
		while (read(t->pipe_r, c, CHUNK) == CHUNK) {
			t->chunks_read++;
			t->last_chunk = (unsigned char)c[0] | (unsigned char)c[1] << 8;
		}
		fcntl(t->pipe_r, F_SETFL, 0);

		r->id = new_id();
		r->slot = -1;
		r->single_cancel = -2;
		r->op = OP_PREAD;
		r->lio = 1;
		r->cb.aio_fildes = t->pipe_r;
		r->cb.aio_lio_opcode = LIO_READ;
		r->nk = rn(t, N_KINDS);
		set_sigevent(t, &r->cb.aio_sigevent, r->id, r->nk);
		r->buf = malloc(CHUNK);
		r->cb.aio_buf = r->buf;
		r->cb.aio_nbytes = CHUNK;
		dup = m;
		list[m++] = &r->cb;
		list[m] = &r->cb;
		rs[m++] = NULL;
	}
	memset(&lsig, 0, sizeof(lsig));
	lk = rn(t, N_KINDS);
	if (mode == LIO_NOWAIT && (list_id = new_id())) {
		set_sigevent(t, &lsig, list_id, lk);
		note_list[list_id] = 1;
		if (lk == N_THREAD_ID || lk == N_QUEUE) {
			if (t->nlists == 64)
				lists_compact(t);
			if (t->nlists == 64) {
				retire_all(t);
				lists_wait(t);
				reap(t->q, t->qgen, &(struct timespec){ 0, 0 });
				lists_compact(t);
			}
			if (t->nlists == 64) {
				fail("64 lists' notifications never came");
				atomic_store(&stop_flag, 3);
				return;
			}
			t->lists_k[t->nlists] = lk;
			t->lists[t->nlists++] = list_id;
		}
	}
	else
		lsig.sigev_notify = SIGEV_NONE;
	ret = lio_listio(mode, list, m, mode == LIO_NOWAIT && list_id ? &lsig : NULL);
	err = errno;
	atomic_fetch_add(&n_ops, 1);
	/* A listed aiocb in progress is refused: LIO_NOWAIT fails with the
	 * refusal's EINVAL (as glibc's with its enqueue's errno), LIO_WAIT,
	 * having submitted the others, with EIO. */
	if (ret != 0 &&
	    !(ret == -1 && dup >= 0 &&
	      err == (mode == LIO_NOWAIT ? EINVAL : EIO)) &&
	    !(ret == -1 && err == EINTR && mode == LIO_WAIT))
		fail("lio_listio(%s, %d entries%s): %d, %s",
		     mode == LIO_WAIT ? "LIO_WAIT" : "LIO_NOWAIT", m,
		     dup >= 0 ? ", one twice" : "", ret, strerror(err));
	if (ret == 0 && dup >= 0)
		fail("lio_listio with an in-progress aiocb listed twice gave 0");
	for (i = 0; i < m; i++) {
		struct req *r = rs[i];

		if (!r)
			continue;
		if (r->cb.aio_lio_opcode == LIO_NOP) {
			dropped(t, r);
			continue;
		}
		if (mode == LIO_WAIT && ret == 0 &&
		    aio_error(&r->cb) == EINPROGRESS)
			fail("#%d in progress after LIO_WAIT gave 0", r->id);
		if (aio_error(&r->cb) == EINVAL && i == dup)
			fail("#%d listed twice: its aio_error() became EINVAL "
			     "while it ran", r->id);
		accepted(t, r);
	}
	if (dup >= 0) {
		/* Feed the pipe read (one chunk more, as act_pipe does). */
		char buf[CHUNK * 2];

		for (i = 0; i < 2; i++) {
			int c = (int)(t->chunks_written + (unsigned)i) & 0xffff;

			buf[i * CHUNK] = (char)(c & 0xff);
			buf[i * CHUNK + 1] = (char)(c >> 8);
			for (int j = 2; j < CHUNK; j++)
				buf[i * CHUNK + j] = (char)(c + j);
		}
		if (write(t->pipe_w, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("pipe write");
		t->chunks_written += 2;
		retire(t, rs[dup]);
	}
}

static void pipe_reopen(struct tstate *t)
{
	int p[2];
	char c[CHUNK];

	/* Drain: chunks written = read by requests + left in the pipe. */
	fcntl(t->pipe_r, F_SETFL, O_NONBLOCK);
	while (read(t->pipe_r, c, CHUNK) == CHUNK)
		t->chunks_read++;
	if (t->chunks_read != t->chunks_written)
		fail("thread %d pipe: %u chunks written, %u read or left",
		     t->idx, t->chunks_written, t->chunks_read);
	close(t->pipe_r);
	if (t->pipe_w >= 0)
		close(t->pipe_w);
	if (pipe(p) < 0)
		die("pipe");
	t->pipe_r = p[0];
	t->pipe_w = p[1];
	t->chunks_written = t->chunks_read = 0;
	t->last_chunk = -1;
}

/* Retire the pipe's requests, oldest first (the order reads get data). */
static void retire_pipe(struct tstate *t)
{
	struct req *v[MAXOUT + 16], *r;
	int n = 0;

	for (r = t->out; r && n < MAXOUT + 16; r = r->next)
		if (r->cb.aio_fildes == t->pipe_r &&
		    (r->op == OP_PREAD || r->op == OP_POLL))
			v[n++] = r;
	while (n-- > 0) {
		retire(t, v[n]);
		if (atomic_load(&stop_flag) & 2)
			return;
	}
}

static void act_pipe(struct tstate *t)
{
	struct req *rs[4], *r;
	int n = 1 + rn(t, 3), i, k, ret, e;
	char buf[CHUNK * 4];

	if (t->pipe_w < 0)
		return;
	for (i = 0; i < n; i++) {
		r = calloc(1, sizeof(*r));
		if (!r)
			die("calloc");
		r->id = new_id();
		if (!r->id) {
			free(r);
			n = i;
			break;
		}
		r->slot = -1;
		r->single_cancel = -2;
		r->op = rn(t, 3) ? OP_PREAD : OP_POLL;
		r->cb.aio_fildes = t->pipe_r;
		r->nk = rn(t, N_KINDS);
		set_sigevent(t, &r->cb.aio_sigevent, r->id, r->nk);
		if (r->op == OP_PREAD) {
			r->buf = malloc(CHUNK);
			r->cb.aio_buf = r->buf;
			r->cb.aio_nbytes = CHUNK;
		} else {
			r->cb.aio_nbytes = POLLIN;
		}
		if (submit_one(t, r))
			r = NULL;
		rs[i] = r;
	}
	if (rn(t, 2))
		usleep(1000 * rn(t, 3));
	k = rn(t, 4);
	if (k == 0 && n) {		/* cancel one */
		i = rn(t, n);
		if ((r = rs[i])) {
			ret = aio_cancel(t->pipe_r, &r->cb);
			e = aio_error(&r->cb);
			atomic_fetch_add(&n_checks, 1);
			if (ret == AIO_CANCELED && e != ECANCELED)
				fail("aio_cancel(#%d %s) said AIO_CANCELED, "
				     "aio_error %d", r->id, opname[r->op], e);
			if (ret == AIO_ALLDONE && (e == EINPROGRESS ||
			    (e == ECANCELED && !cancelled_before(r))))
				fail("aio_cancel(#%d %s) said AIO_ALLDONE, "
				     "aio_error %d", r->id, opname[r->op], e);
			if (ret == -1)
				fail("aio_cancel(#%d): %s", r->id, strerror(errno));
			cancel_answer(r, ret);
		}
	} else if (k == 1) {		/* cancel the fd */
		ret = aio_cancel(t->pipe_r, NULL);
		atomic_fetch_add(&n_checks, 1);
		for (r = t->out; r; r = r->next) {
			if (r->cb.aio_fildes != t->pipe_r ||
			    (r->op != OP_PREAD && r->op != OP_POLL))
				continue;
			e = aio_error(&r->cb);
			if ((ret == AIO_CANCELED || ret == AIO_ALLDONE) &&
			    e == EINPROGRESS)
				fail("aio_cancel(pipe) said %s, #%d in progress",
				     ret == AIO_CANCELED ? "AIO_CANCELED"
							 : "AIO_ALLDONE", r->id);
			if (ret == AIO_CANCELED || ret == AIO_NOTCANCELED)
				r->cancel_said = 1;
			else if (ret == AIO_ALLDONE && e == ECANCELED &&
				 !r->cancel_said && r->single_cancel != AIO_CANCELED)
				fail("aio_cancel(pipe) said AIO_ALLDONE, but #%d "
				     "got ECANCELED", r->id);
		}
		if (ret == -1)
			fail("aio_cancel(pipe): %s", strerror(errno));
	}
	if (rn(t, 8) == 0) {	/* close the write end: EOF for the rest */
		close(t->pipe_w);
		t->pipe_w = -1;
		retire_pipe(t);
		if (atomic_load(&stop_flag) & 2)
			return;
		pipe_reopen(t);
		return;
	}
	/* Feed every outstanding pipe read. */
	k = 0;
	for (r = t->out; r; r = r->next)
		if (r->cb.aio_fildes == t->pipe_r && r->op == OP_PREAD &&
		    aio_error(&r->cb) == EINPROGRESS)
			k++;
	k++;	/* one more: a poll sees data even after the reads took theirs */
	while (k > 0) {
		int m = k > 4 ? 4 : k;

		for (i = 0; i < m; i++) {
			int c = (int)(t->chunks_written + (unsigned)i) & 0xffff;

			buf[i * CHUNK] = (char)(c & 0xff);
			buf[i * CHUNK + 1] = (char)(c >> 8);
			for (int j = 2; j < CHUNK; j++)
				buf[i * CHUNK + j] = (char)(c + j);
		}
		if (write(t->pipe_w, buf, (size_t)m * CHUNK) != m * CHUNK)
			die("pipe write");
		t->chunks_written += (unsigned)m;
		k -= m;
	}
	/* Retire the pipe requests now: the next act may close the pipe. */
	retire_pipe(t);
}

static void act_path(struct tstate *t)
{
	struct req *r = calloc(1, sizeof(*r));
	int k = rn(t, 4);

	if (!r)
		die("calloc");
	r->id = new_id();
	if (!r->id) {
		free(r);
		return;
	}
	r->slot = -1;
	r->single_cancel = -2;
	r->nk = rn(t, N_KINDS);
	set_sigevent(t, &r->cb.aio_sigevent, r->id, r->nk);
	r->name_a = rn(t, 8);
	r->name_b = rn(t, 8);
	if (r->name_b == r->name_a)
		r->name_b = (r->name_a + 1) % 8;
	snprintf(r->path, sizeof(r->path), "n%d", r->name_a);
	snprintf(r->path2, sizeof(r->path2), "n%d", r->name_b);
	switch (k) {
	case 0:
		r->op = OP_OPEN;
		r->cb.aio_fildes = t->dirfd;
		r->cb.aio_buf = r->path;
		r->cb.aio_offset = (off_t)(O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC) |
				   ((off_t)0600 << 32);
		break;
	case 1:
		r->op = OP_UNLINK;
		r->cb.aio_fildes = t->dirfd;
		r->cb.aio_buf = r->path;
		break;
	case 2:
		r->op = OP_RENAME;
		r->ri.olddirfd = t->dirfd;
		r->ri.newdirfd = t->dirfd;
		r->ri.oldpath = (uintptr_t)r->path;
		r->ri.newpath = (uintptr_t)r->path2;
		r->cb.aio_buf = &r->ri;
		r->cb.aio_nbytes = sizeof(r->ri);
		break;
	default:
		r->op = OP_RAHEAD;
		r->cb.aio_fildes = shared_fd;
		r->cb.aio_offset = t->idx * REGION;
		r->cb.aio_nbytes = REGION;
		break;
	}
	/* The path copies are the library's: scribble over ours. */
	if (submit_one(t, r) == 0) {
		memset(r->path, 'x', 8);
		memset(r->path2, 'y', 8);
		r->path[8] = r->path2[8] = 0;
		/* one path operation at a time keeps the name model exact */
		retire(t, r);
	}
}

static atomic_int nent0_checks;

static void act_suspend(struct tstate *t)
{
	const struct aiocb *l[MAXOUT + 2];
	struct timespec ts = { 0, 1000 * 1000 * rn(t, 5) };
	struct timespec two = { 2, 0 };
	struct req *r;
	int n = 0, ret;
	double t0;

	if (rn(t, 10) == 0 && atomic_fetch_add(&nent0_checks, 1) < 8) {
		/* nothing to wait for: returns at once */
		t0 = now();
		ret = aio_suspend(l, 0, &two);
		if (ret != 0 || now() - t0 > 1.5)
			fail("aio_suspend(nent 0) gave %d (%s) after %.1f s, "
			     "not 0 at once", ret, ret ? strerror(errno) : "",
			     now() - t0);
		atomic_fetch_add(&n_checks, 1);
		return;
	}
	for (r = t->out; r; r = r->next)
		if (rn(t, 2))
			l[n++] = rn(t, 8) ? &r->cb : NULL;
	ret = aio_suspend(l, n, &ts);
	if (ret < 0 && errno != EAGAIN && errno != EINTR)
		fail("aio_suspend(%d): %s", n, strerror(errno));
	if (ret == 0) {
		int any = 0, live = 0;

		/* NULL entries are skipped: with only those, 0 at once. */
		for (int i = 0; i < n; i++) {
			live += l[i] != NULL;
			if (l[i] && aio_error(l[i]) != EINPROGRESS)
				any = 1;
		}
		if (!any && live)
			fail("aio_suspend gave 0 with none of %d done", live);
	}
	atomic_fetch_add(&n_checks, 1);
}

static void act_cancel_file(struct tstate *t)
{
	struct req *r;
	int ret, e, n = 0;

	for (r = t->out; r; r = r->next)
		n++;
	if (!n)
		return;
	n = rn(t, n);
	for (r = t->out; n--; r = r->next)
		;
	if (r->op == OP_PREAD || r->op == OP_POLL)
		return;
	ret = aio_cancel(r->cb.aio_fildes, &r->cb);
	e = aio_error(&r->cb);
	atomic_fetch_add(&n_checks, 1);
	if (ret == AIO_CANCELED && e != ECANCELED)
		fail("aio_cancel(#%d %s) said AIO_CANCELED, aio_error %d",
		     r->id, opname[r->op], e);
	if (ret == AIO_ALLDONE && (e == EINPROGRESS ||
	    (e == ECANCELED && !cancelled_before(r))))
		fail("aio_cancel(#%d %s) said AIO_ALLDONE, aio_error %d",
		     r->id, opname[r->op], e);
	if (ret == -1)
		fail("aio_cancel(#%d): %s", r->id, strerror(errno));
	cancel_answer(r, ret);
}

static void reopen_private(struct tstate *t)
{
	char path[4200];
	struct req *r;

	for (r = t->out; r; r = r->next)
		if (r->cb.aio_fildes == t->priv_fd)
			return;		/* only an idle fd is closed */
	close(t->priv_fd);
	t->priv_rw = rn(t, 3) != 0;
	snprintf(path, sizeof(path), "%s/priv%d", dir, t->idx);
	t->priv_fd = open(path, t->priv_rw ? O_RDWR : O_RDONLY);
	if (t->priv_fd < 0)
		die(path);
	atomic_fetch_add(&n_ops, 1);
}

static void queue_cycle(struct tstate *t)
{
	struct req *r;

	/* Requests still to notify the old queue may be dropped (at most
	 * one event), and must never reach the new queue. */
	pend_wait(t, N_QUEUE);	/* retired ones: their events first */
	for (r = t->out; r; r = r->next)
		if (r->nk == N_QUEUE && expect_notes[r->id] == 1)
			expect_notes[r->id] = 2;
	/* So may a list's notification aimed at the old queue. */
	{
		int i, n = 0;

		for (i = 0; i < t->nlists; i++) {
			if (t->lists_k[i] == N_QUEUE) {
				if (expect_notes[t->lists[i]] == 1)
					expect_notes[t->lists[i]] = 2;
				continue;
			}
			t->lists_k[n] = t->lists_k[i];
			t->lists[n++] = t->lists[i];
		}
		t->nlists = n;
	}
	reap(t->q, t->qgen, &(struct timespec){ 0, 0 });
	if (kaio_queue_destroy(t->q) < 0)
		fail("kaio_queue_destroy: %s", strerror(errno));
	t->q = kaio_queue_create(KAIO_QUEUE_CLOEXEC);
	if (t->q < 0)
		die("kaio_queue_create");
	t->qgen = atomic_fetch_add(&gen_counter, 1);
	atomic_fetch_add(&n_ops, 1);
}

static void act_fork(struct tstate *t)
{
	struct aiocb cb;
	char path[4200], buf[64], back[64];
	const struct aiocb *l[1] = { &cb };
	struct timespec ts = { 10, 0 };
	pid_t pid;
	int st, fd, bad = 0;
	double dl;

	snprintf(path, sizeof(path), "%s/child%d", dir, t->idx);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* The parent's requests are not the child's. */
		if (t->out && (aio_error(&t->out->cb) != -1 || errno != EINVAL))
			bad |= 1;
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		memset(&cb, 0, sizeof(cb));
		memset(buf, 'c', sizeof(buf));
		cb.aio_fildes = fd;
		cb.aio_buf = buf;
		cb.aio_nbytes = sizeof(buf);
		if (fd < 0 || aio_write(&cb) < 0)
			_exit(3);
		while (aio_error(&cb) == EINPROGRESS)
			aio_suspend(l, 1, &ts);
		if (aio_error(&cb) || aio_return(&cb) != sizeof(buf))
			bad |= 2;
		memset(&cb, 0, sizeof(cb));
		cb.aio_fildes = fd;
		cb.aio_buf = back;
		cb.aio_nbytes = sizeof(back);
		if (aio_read(&cb) < 0)
			_exit(4);
		while (aio_error(&cb) == EINPROGRESS)
			aio_suspend(l, 1, &ts);
		if (aio_return(&cb) != sizeof(back) || memcmp(buf, back, sizeof(buf)))
			bad |= 4;
		unlink(path);
		_exit(bad ? 10 + bad : 0);
	}
	dl = now() + WAIT_S;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now() > dl) {
			fail("fork child %d hangs", pid);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return;
		}
		usleep(2000);
	}
	atomic_fetch_add(&n_ops, 1);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail("fork child: %s %d (1: parent's aiocb known, 2: write, "
		     "4: read)", WIFEXITED(st) ? "exit" : "signal",
		     WIFEXITED(st) ? WEXITSTATUS(st) - 10 : WTERMSIG(st));
}

/*
 * GCC's ASan allocator is not fork-safe: a child that allocates (the
 * library's worker threads do) hangs when another thread of the parent
 * held an allocator lock at fork() - with or without the library.  So
 * fork is exercised under TSan (which locks its allocator around fork)
 * and not under ASan.
 */
#if defined(__SANITIZE_ADDRESS__)
static const int fork_ok = 0;
#else
static const int fork_ok = 1;
#endif

static void *worker(void *arg)
{
	struct tstate *t = arg;
	int k;

	app_thread = 1;
	t->tid = gettid_();
	while (!atomic_load(&stop_flag)) {
		k = rn(t, 100);
		if (t->nout >= MAXOUT || k < 12) {
			if (t->out)
				retire(t, t->out);
		} else if (k < 45) {
			act_file(t);
		} else if (k < 57) {
			act_lio(t);
		} else if (k < 67) {
			act_pipe(t);
		} else if (k < 73) {
			act_path(t);
		} else if (k < 80) {
			act_suspend(t);
		} else if (k < 85) {
			act_cancel_file(t);
		} else if (k < 88) {
			if (t->out)
				(void)aio_error(&t->out->cb);
		} else if (k < 90) {
			reopen_private(t);
		} else if (k < 91) {
			queue_cycle(t);
		} else if (k < 92 && t->idx == 0 && rn(t, 4) == 0) {
			if (fork_ok)
				act_fork(t);
		} else if (k < 93 && rn(t, 3) == 0) {
			/* Thread exit: SIGEV_THREAD_ID requests aimed here
			 * are waited for; the rest carry on, and the next
			 * thread on this state takes them over. */
			struct req *r, *nx;

			for (r = t->out; r; r = nx) {
				nx = r->next;
				if (r->nk == N_THREAD_ID)
					retire(t, r);
			}
			for (r = t->out; r; r = r->next)
				if (r->nk == N_THREAD_ID)
					break;
			if (!r) {
				lists_wait(t);
				if (atomic_load(&stop_flag) & 2)
					break;
				pend_wait(t, N_THREAD_ID);
				t->restart = 1;
				t->exits++;
				atomic_fetch_add(&n_ops, 1);
				return NULL;
			}
		} else {
			reap(t->q, t->qgen, &(struct timespec){ 0, 0 });
		}
		reap(t->q, t->qgen, &(struct timespec){ 0, 0 });
	}
	retire_all(t);
	lists_wait(t);
	pend_wait(t, N_THREAD_ID);
	return NULL;
}

/*
 * Signal notifications that never arrived, against the library's counts.
 * Every SIGEV_SIGNAL/SIGEV_THREAD_ID notification the library sends is
 * queued (notify_signal, notify_thread_id) or could not be (notify_failed:
 * kaio_posix(7) documents that a signal that cannot be queued, at
 * RLIMIT_SIGPENDING, changes nothing else).  notify_failed also counts
 * events for a destroyed completion queue, at most one per queue event
 * that never came.  Handled signals are counted here; queued minus
 * handled is what was lost after the kernel took it, which only TSan may
 * do.  Returns 1 when every missing signal is accounted for exactly.
 */
static int signal_accounting(int id)
{
	struct kaio_stats st;
	long sent, seen, lost, failed, missing = 0, q_missing = 0;

	if (kaio_stats_get(&st, sizeof(st)) != 0) {
		fail("kaio_stats_get: %s", strerror(errno));
		return 0;
	}
	for (int j = 1; j < id; j++) {
		if (atomic_load(&notes[j]))
			continue;
		if (expect_notes[j] == 1 && (note_kind[j] == N_SIGNAL ||
					     note_kind[j] == N_THREAD_ID))
			missing++;
		if (expect_notes[j] && (note_kind[j] == N_QUEUE ||
					note_kind[j] == N_SHARED_QUEUE))
			q_missing++;
	}
	sent = (long)(st.v[KAIO_STAT_NOTIFY_SIGNAL] +
		      st.v[KAIO_STAT_NOTIFY_THREAD_ID]);
	seen = atomic_load(&sig_seen[0]) + atomic_load(&sig_seen[1]);
	lost = sent - seen;
	failed = (long)st.v[KAIO_STAT_NOTIFY_FAILED];
	printf("model: signals queued %ld, handled %ld, missing %ld; "
	       "notify_failed %ld; queue events missing %ld\n", sent, seen,
	       missing, failed, q_missing);
	if (lost < 0 || (lost > 0 && !sig_lossy)) {
		fail("%ld signals queued by the library, %ld handled", sent, seen);
		return 0;
	}
	/* missing = lost + failed signals; failed - q_missing <= failed
	 * signals <= failed */
	if (missing < lost || missing - lost > failed ||
	    missing - lost < failed - q_missing) {
		fail("%ld signal notifications missing: not what the counts "
		     "explain (%ld lost after queueing, notify_failed %ld, of "
		     "which at most %ld queue events)", missing, lost, failed,
		     q_missing);
		return 0;
	}
	return 1;
}

static void usage(const char *p)
{
	fprintf(stderr, "usage: %s [--seed S] [--time SECONDS] [--threads N] "
		"[--dir DIR]\n", p);
	exit(2);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	pthread_t reaper;
	char path[4200], *tmp = NULL;
	int i, id, bad, waiting, lost_ok;
	double t_end, dl;
	static unsigned char zero[REGION];

	seed = (unsigned long long)time(NULL) * 2654435761ULL ^ (unsigned long long)getpid();
	seed %= 1000000007ULL;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--time") && i + 1 < argc)
			run_secs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			tmp = argv[++i];
		else
			usage(argv[0]);
	}
	if (nthreads < 1 || nthreads > MAXT)
		usage(argv[0]);
	printf("model: seed %llu, %d s, %d threads, KAIO_BACKEND=%s\n", seed,
	       run_secs, nthreads, getenv("KAIO_BACKEND") ? getenv("KAIO_BACKEND") : "auto");
	fflush(stdout);
	app_thread = 1;

	if (tmp)
		snprintf(dir, sizeof(dir), "%s", tmp);
	else {
		snprintf(dir, sizeof(dir), "%s/kaio-model.XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(dir))
			die("mkdtemp");
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGRTMIN, &sa, NULL);
	sigaction(SIGRTMIN + 1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_attr_init(&cb_attr);
	pthread_attr_setdetachstate(&cb_attr, PTHREAD_CREATE_DETACHED);

	snprintf(path, sizeof(path), "%s/shared", dir);
	shared_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (shared_fd < 0)
		die(path);
	for (i = 0; i < nthreads; i++)
		if (pwrite(shared_fd, zero, REGION, (off_t)i * REGION) != REGION)
			die("pwrite");
	shared_q = kaio_queue_create(0);
	if (shared_q < 0)
		die("kaio_queue_create");
	shared_q_gen = atomic_fetch_add(&gen_counter, 1);
	for (i = 0; i < nthreads; i++) {
		struct tstate *t = calloc(1, sizeof(*t));
		int p[2];

		if (!t)
			die("calloc");
		t->idx = i;
		t->rng = seed * 1000003ULL + (uint64_t)i * 7919ULL + 1;
		snprintf(path, sizeof(path), "%s/priv%d", dir, i);
		t->priv_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (t->priv_fd < 0 || pwrite(t->priv_fd, zero, REGION, 0) != REGION)
			die(path);
		t->priv_rw = 1;
		if (pipe(p) < 0)
			die("pipe");
		t->pipe_r = p[0];
		t->pipe_w = p[1];
		t->last_chunk = -1;
		snprintf(path, sizeof(path), "%s/d%d", dir, i);
		if (mkdir(path, 0700) < 0)
			die(path);
		t->dirfd = open(path, O_RDONLY | O_DIRECTORY);
		if (t->dirfd < 0)
			die(path);
		t->q = kaio_queue_create(0);
		if (t->q < 0)
			die("kaio_queue_create");
		t->qgen = atomic_fetch_add(&gen_counter, 1);
		ts_[i] = t;
	}
	if (pthread_create(&reaper, NULL, shared_reaper, NULL))
		die("pthread_create");
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&ts_[i]->thread, NULL, worker, ts_[i]))
			die("pthread_create");

	t_end = now() + run_secs;
	/* Supervise: restart threads that exited, stop at the deadline. */
	for (;;) {
		int live = 0;

		usleep(5000);
		if (now() >= t_end && !atomic_load(&stop_flag))
			atomic_store(&stop_flag, 1);
		for (i = 0; i < nthreads; i++) {
			struct tstate *t = ts_[i];

			if (!t->thread)
				continue;
			if (pthread_tryjoin_np(t->thread, NULL) != 0) {
				live++;
				continue;
			}
			t->thread = 0;
			if (t->restart && !atomic_load(&stop_flag)) {
				t->restart = 0;
				if (pthread_create(&t->thread, NULL, worker, t))
					die("pthread_create");
				live++;
			} else if (t->restart) {
				/* stopping: retire what it left, here */
				t->restart = 0;
				t->tid = gettid_();
				retire_all(t);
			}
		}
		if (!live)
			break;
	}

	/* Notifications: every one expected arrives, exactly once. */
	id = atomic_load(&next_id);
	if (id > MAXID)
		id = MAXID;
	dl = now() + 15;
	do {
		waiting = 0;
		for (i = 0; i < nthreads; i++)
			reap(ts_[i]->q, ts_[i]->qgen, &(struct timespec){ 0, 0 });
		for (int j = 1; j < id; j++)
			if (expect_notes[j] == 1 && atomic_load(&notes[j]) == 0)
				waiting++;
		if (waiting)
			usleep(10000);
	} while (waiting && now() < dl);
	usleep(100000);
	for (i = 0; i < nthreads; i++)
		reap(ts_[i]->q, ts_[i]->qgen, &(struct timespec){ 0, 0 });
	atomic_store(&stop_flag, 4);
	pthread_join(reaper, NULL);
	reap(shared_q, shared_q_gen, &(struct timespec){ 0, 0 });
	bad = 0;
	lost_ok = signal_accounting(id);
	for (int j = 1; j < id; j++) {
		int n = atomic_load(&notes[j]), w = expect_notes[j];

		if (lost_ok && n == 0 && w == 1 &&
		    (note_kind[j] == N_SIGNAL || note_kind[j] == N_THREAD_ID))
			continue;	/* accounted for */
		if (w == 2 ? n > 1 : n != w) {
			if (bad++ < 20)
				fail("#%d (%s%s): %d notifications, expected %s%d",
				     j, nname[note_kind[j]],
				     note_list[j] ? ", a list's" : "", n,
				     w == 2 ? "at most " : "", w == 2 ? 1 : w);
		}
	}
	if (bad > 20)
		fail("... %d requests with wrong notification counts", bad);
	for (i = 0; i < nthreads; i++) {
		if (kaio_queue_destroy(ts_[i]->q) < 0)
			fail("kaio_queue_destroy: %s", strerror(errno));
		if (ts_[i]->pipe_w >= 0)
			pipe_reopen(ts_[i]);
	}
	if (!tmp) {
		char cmd[4300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "model: could not remove %s\n", dir);
	}
	printf("model: %ld operations, %ld checks, %d requests, %d failures "
	       "(seed %llu)\n", atomic_load(&n_ops), atomic_load(&n_checks),
	       id - 1, atomic_load(&failures), seed);
	return atomic_load(&failures) ? 1 : 0;
}
