/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kaio-int.h - libkaio_posix internals: the request, the per-fd state, the
 * backends and the one completion path they share.
 *
 * Error convention: every internal function returns 0 or a positive count
 * on success and -errno on failure.  Only the public entry points set errno
 * (through kaio__fail()).
 *
 * Where a request's state lives (glibc's struct aiocb, private fields only):
 *   __error_code    EINPROGRESS while queued or running, then the errno of
 *                   the result (0 on success); written last, with release
 *                   order, by kaio__complete().
 *   __return_value  the result, written before __error_code.
 *   __policy        KAIO_MAGIC from submission until aio_return(), then
 *                   KAIO_MAGIC_RETURNED: aio_error() still reports the
 *                   final status (glibc's does), a second aio_return()
 *                   fails with EINVAL.
 *   __abs_prio      the process epoch at submission (bumped in a fork
 *                   child, so inherited requests are recognised as foreign).
 *   __next_prio     untouched.
 *   __glibc_reserved[0..7]  the reaper of the kernel ring the request is
 *                   in (reap.c), a hint for aio_suspend(): reset at
 *                   submission, set where the submitting thread's call
 *                   put the request in a ring, before anyone can complete
 *                   it.  A request that leaves the ring for another
 *                   backend keeps it, stale, and is counted in
 *                   kaio__strays till it completes; no hint is trusted
 *                   while that count is up.  (Unused by glibc.)
 *   __glibc_reserved[8..15]  the request made for it (its owner), set
 *                   before any backend has it, cleared at submission.
 *                   A request whose result is out can still sit on a
 *                   backend's list while the program submits the same
 *                   aiocb again: aio_cancel(fd, cb) must not take it for
 *                   the new one (cancel.c).
 *   __glibc_reserved[16..23]  the claim word: a submission (or a refusal)
 *                   takes the aiocb there before it writes it, so that
 *                   two threads submitting one aiocb at once cannot both
 *                   have it (request.c, claim()).
 * Only the submitting call and the completion write the aiocb: not a
 * thread that moves the request meanwhile, nor after __error_code is
 * published, since the caller may free it as soon as it sees the result.
 * (glibc's do not either; a program that gives up on a request that never
 * ends, as glibc's tst-cancel17 does with its pipe write, may reuse the
 * memory.)
 */
#ifndef KAIO_INT_H
#define KAIO_INT_H

#include <aio.h>
#include <errno.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "kaio_posix.h"
#include "kaio_aio_abi.h"
#include "creds.h"

#define KAIO_HIDDEN	__attribute__((visibility("hidden")))
#define KAIO_EXPORT	__attribute__((visibility("default")))

/*
 * Exported names with glibc's symbol versions (compat.c, fdgen.c).  An alias
 * must name a function defined in the same file; SYMVER binds a non-default
 * version (name@ver), DEFSYMVER the default one (name@@ver).
 */
#define KAIO_ALIAS(entry, as) \
	extern __typeof(entry) as \
		__attribute__((alias(#entry), visibility("default")))
#define KAIO_SYMVER(as, name, ver) \
	__asm__(".symver " #as "," #name "@" #ver)
#define KAIO_DEFSYMVER(as, name, ver) \
	__asm__(".symver " #as "," #name "@@" #ver)
#define kaio_likely(x)		__builtin_expect(!!(x), 1)
#define kaio_unlikely(x)	__builtin_expect(!!(x), 0)
#define __cold		__attribute__((cold))

#define KAIO_MAGIC		0x4b41494f	/* "KAIO": submitted, not returned */
#define KAIO_MAGIC_RETURNED	0x4b41494e	/* aio_return() took the result */
#define KAIO_NPRIO		(AIO_PRIO_DELTA_MAX + 1)
#define KAIO_DEFAULT_THREADS	64
#define KAIO_DEFAULT_NUM	64
#define KAIO_DEFAULT_IDLE	1	/* seconds */

/* Operations.  The public LIO_* values are kept for the three POSIX ones. */
enum kaio_op {
	KAIO_OP_READ = LIO_READ,
	KAIO_OP_WRITE = LIO_WRITE,
	KAIO_OP_FSYNC = 16,
	KAIO_OP_FDSYNC,
	KAIO_OP_OPENAT,		/* path operations (pathops.c) */
	KAIO_OP_UNLINKAT,
	KAIO_OP_RENAMEAT,
	KAIO_OP_READAHEAD,
	KAIO_OP_POLL,		/* kaio_poll(): wait for poll(2) events */
};

static inline int kaio__is_pathop(int op)
{
	return op >= KAIO_OP_OPENAT && op <= KAIO_OP_READAHEAD;
}

/* Request flags. */
enum {
	KAIO_RQ_SERIAL	= 1 << 0,	/* runs in submission order on its fd */
	KAIO_RQ_TRACKED	= 1 << 1,	/* a write the fd's fsync barrier waits for */
	KAIO_RQ_NOSEEK	= 1 << 2,	/* read(2)/write(2), not pread/pwrite */
	KAIO_RQ_QUIET	= 1 << 3,	/* no per-request notification */
	KAIO_RQ_APPEND	= 1 << 4,	/* O_APPEND write */
	KAIO_RQ_DIRECT	= 1 << 5,	/* the fd has O_DIRECT */
	KAIO_RQ_KNOWAIT	= 1 << 6,	/* in the kernel with RWF_NOWAIT */
	KAIO_RQ_INKERNEL = 1 << 7,	/* owned by the kernel backend */
	KAIO_RQ_CREDS	= 1 << 8,	/* creds: the submitter's identity */
	KAIO_RQ_OFFLOAD	= 1 << 9,	/* the caller's budget is spent: no
					 * backend may copy it in the caller */
	KAIO_RQ_FILE	= 1 << 10,	/* a read or write of a regular file or
					 * block device (fstat() at submission) */
	KAIO_RQ_KEPT	= 1 << 11,	/* routed on kept open flags: O_DIRECT
					 * may be out of date (request.c) */
	KAIO_RQ_SYSCALL	= 1 << 12,	/* only read(2)/write(2) answer as
					 * glibc's: a non-blocking stream, or
					 * an fd neither file, pipe nor socket */
	KAIO_RQ_STRAY	= 1 << 13,	/* left a ring with its hint: counted
					 * in kaio__strays till it completes */
	KAIO_RQ_QUEUED	= 1 << 14,	/* waited in its fd's queue: another
					 * call sends it on, which may not
					 * write its aiocb (no hint) */
	KAIO_RQ_EVFD	= 1 << 15,	/* its completion queue hears of it
					 * from its ring's eventfd (queue.c):
					 * not urgent for the reaper */
	KAIO_RQ_FULL	= 1 << 16,	/* refused by a full native AIO
					 * context (KAIO_STAT_POOL_OVERFLOW) */
	KAIO_RQ_HERE	= 1 << 17,	/* an fsync leader its thread runs in
					 * aio_suspend(), on no backend's list
					 * (suspend.c) */
	KAIO_RQ_HOLD	= 1 << 18,	/* uslot is ring0's, taken while it
					 * waited in its fd's queue as its
					 * number went (fdmap.c) */
};

/* KAIO_BACKEND */
enum kaio_backend_mode {
	KAIO_BACKEND_AUTO,
	KAIO_BACKEND_KERNEL,
	KAIO_BACKEND_THREADS,
	KAIO_BACKEND_URING,
};

/* What a notification needs, copied out of the aiocb at submission. */
struct kaio_notify {
	int notify;			/* SIGEV_* */
	int signo;
	union sigval value;
	void (*fn)(union sigval);
	pthread_attr_t *attr;
	pid_t tid;			/* SIGEV_THREAD_ID */
	int queue;			/* SIGEV_KAIO */
	struct kaio_note *note;		/* SIGEV_THREAD, SIGEV_KAIO: the record
					 * reserved at submission (notify.c) */
};

/*
 * Does a notification of this kind do anything?  SIGEV_NONE does not, nor
 * a signal numbered 0: a zeroed aiocb's (fio's, for one), which sends
 * nothing, as under glibc.
 */
static inline int kaio__notifies(int notify, int signo)
{
	return notify != SIGEV_NONE &&
	       !((notify == SIGEV_SIGNAL || notify == SIGEV_THREAD_ID) &&
		 signo == 0);
}

/*
 * A notification's record, reserved at submission so that a completion
 * never allocates: a SIGEV_KAIO event (bound to its queue) or a
 * SIGEV_THREAD job.  kaio__notify() consumes it; kaio__notify_release()
 * frees one that will not be used.
 */
struct kaio_queue;
struct kaio_note {
	struct kaio_note *next;
	int kind;			/* SIGEV_THREAD or SIGEV_KAIO */
	void (*fn)(union sigval);	/* SIGEV_THREAD */
	struct kaio_queue *q;		/* SIGEV_KAIO: the queue, or NULL */
	uint64_t qid;			/* ... and its identity at submission */
	struct kaio_event ev;		/* ev.value for both kinds */
};

struct kaio_fd;
struct kaio_list;
struct kaio_cancel;

/* req->finished: 0 until kaio__complete() publishes the result. */
enum {
	KAIO_RQ_PUBLISHING = 1,		/* the result is being stored */
	KAIO_RQ_DONE = 2,		/* it is in the aiocb: not "running" */
};

struct kaio_req {
	/* Links: the pool's queues and running list, or an fd's queues. */
	struct kaio_req *next, *prev;
	/* Links: the fd's list of outstanding writes, in wseq order. */
	struct kaio_req *wnext, *wprev;

	struct aiocb *cb;
	struct kaio_fd *f;		/* set for SERIAL, TRACKED and fsync */
	struct kaio_list *list;		/* lio_listio list, or NULL */
	int op;
	int fd;
	int flags;
	atomic_int finished;		/* KAIO_RQ_PUBLISHING, KAIO_RQ_DONE */
	long long t0;			/* submission time (KAIO_STATS) */
	int prio;			/* 0 (first) .. AIO_PRIO_DELTA_MAX */
	void *buf;
	size_t nbytes;
	off_t off;
	size_t done;			/* bytes moved before the pool got it */
	uint64_t wseq;			/* write sequence, or fsync ticket */
	unsigned long long fkey;	/* an fsync's number's generation plus
					 * the epoch at submission (fdmap.c) */
	struct kaio_notify nt;
	struct iocb iocb;		/* while in the kernel backend */
	struct kaio_creds creds;	/* the submitter's, if KAIO_RQ_CREDS */
	/* Path operations: arguments copied at submission. */
	char *path, *path2;
	int dirfd2;
	uint64_t pflags;
	struct kaio_renameat_info rinfo;	/* for IOCB_CMD_RENAMEAT */
	/* aio_cancel(): the canceller waiting for this request (under the
	 * kernel backend's lock), and whether a cancel was asked of it. */
	struct kaio_cancel *cw;
	atomic_int cancel_asked;
	/* The submitting thread, set where it hands req to a backend itself
	 * (0: a thread dispatches it later, fdmap.c), and io_uring's
	 * bookkeeping of who submitted it to the kernel (backend-uring.c). */
	pid_t tid;
	int personality;
	int uslot;			/* its fixed-file slot + 1, or 0 */
	void *owner;
	struct kaio_req *hnext;
	int pshard;			/* its kaio__user_pending shard */
};

/*
 * One aio_cancel() call's ticket (cancel.c): kernel-backend requests it
 * waits for (pending), how they ended, and whether a matching request is
 * still running.  The completer settles its part after the request's
 * result and notification are out, then touches the ticket no more.
 */
struct kaio_cancel {
	atomic_int pending;		/* requests still to be settled */
	atomic_int canceled;		/* ... that ended with ECANCELED */
	atomic_int running;		/* a matching request runs on */
};
void kaio__cancel_settle(struct kaio_cancel *t, long res) KAIO_HIDDEN;

/* A lio_listio() list: freed by whoever drops the last reference. */
struct kaio_list {
	atomic_int refs;		/* live requests + the submitter */
	int wait;			/* LIO_WAIT: the submitter waits */
	atomic_int failed;		/* requests that ended in an error */
	struct kaio_notify nt;		/* LIO_NOWAIT list notification */
};

/*
 * Per-fd state, created on first need and never freed (fd numbers are
 * reused, and the state is only an ordering device).  Lock order:
 * kaio_fd.lock, then a backend's lock (fdmap.c).
 */
struct kaio_fd {
	pthread_mutex_t lock;
	/* Under lock. */
	uint64_t wseq_next;		/* sequence of the next write */
	struct kaio_req *whead, *wtail;	/* outstanding tracked writes */
	struct kaio_req *fshead, *fstail;	/* fsyncs waiting on writes */
	struct kaio_req *sqhead, *sqtail;	/* serial requests not yet run */
	int serial_busy;		/* a serial request is dispatched */
	/* Group commit (fdmap.c): fsyncs whose writes are done, waiting for
	 * the next fsync the kernel starts (the head leads it), the one in
	 * the kernel, and the fsyncs riding on it. */
	struct kaio_req *fghead, *fgtail;
	struct kaio_req *fslead;
	struct kaio_req *rdhead, *rdtail;
	int fsburst;			/* fsyncs came while one was out */
	/* fslead is still in its ring's submission queue, which the kernel
	 * has not read: more fsyncs may ride on it.  Set under lock, cleared
	 * before the ring is entered (backend-uring.c); fsring is that ring
	 * (never freed), set under lock. */
	atomic_int fsopen;
	void *fsring;
	/* fslead runs in the thread that waits for it (suspend.c): a close()
	 * of the number waits (fdgen.c). */
	atomic_int here;
	/* An fsync or an O_APPEND write was queued here since a close() of
	 * the number last found none (kaio__fd_hold_files()).  Set under
	 * lock. */
	atomic_int fsq;
	/* No lock: hints, read and written with atomics (request.c). */
	atomic_int nowait_bad[2];	/* RWF_NOWAIT refused here, for reads
					 * [0] or writes [1]: skip it */
	atomic_int logged;		/* KAIO_DEBUG: decisions shown */
	atomic_ullong rd_flags;		/* F_GETFL + 1 (and its kind) of a
					 * seekable fd, not a stream, in the
					 * low 32 bits (0: unknown); above,
					 * the generation and epoch it was
					 * fetched at (request.c) */
	atomic_ullong gen;		/* bumped when the number is closed
					 * or replaced (fdgen.c) */
	atomic_llong wr_hold;		/* no plain write in the caller before
					 * this time (ns, request.c) */
	atomic_llong wr_slow;		/* when the last slow one ended */
};

/* Global configuration, set from aio_init() and the environment. */
struct kaio_config {
	atomic_int max_threads;
	atomic_int idle_secs;
	atomic_int num;
	int stats;			/* KAIO_STATS=1: print at exit */
	int debug;			/* KAIO_DEBUG=1: log decisions */
	int nowait;			/* try RWF_NOWAIT in the caller */
	int backend;			/* enum kaio_backend_mode */
};

extern struct kaio_config kaio__cfg KAIO_HIDDEN;
extern atomic_int kaio__epoch KAIO_HIDDEN;
/* fdgen.c: the epoch bumped when any number may have been closed
 * (close_range(), a fork child...); whether the wrappers are reached. */
extern atomic_ullong kaio__fd_epoch KAIO_HIDDEN;
void kaio__fdgen_setup(void) KAIO_HIDDEN;
int kaio__fdgen_trusted(void) KAIO_HIDDEN;
int kaio__fdgen_flags_trusted(void) KAIO_HIDDEN;
extern pid_t kaio__pid KAIO_HIDDEN;
/* glibc's function of that name and version (dlvsym(RTLD_NEXT)), looked
 * up once into *slot; NULL if this glibc has none. */
void *kaio__real(void *_Atomic *slot, const char *name, const char *ver)
	KAIO_HIDDEN;
/* KAIO_REAL(type, name, ver): a slot and get_<name>() returning it. */
#define KAIO_REAL(type, name, ver) \
	static void *_Atomic real_##name; \
	static inline type get_##name(void) \
	{ \
		return (type)kaio__real(&real_##name, #name, ver); \
	}

/*
 * The aiocb's private fields are read by other threads (aio_cancel(),
 * aio_suspend(), aio_error()) while a submission may write them; such a
 * race is the program's, but the library's own accesses are atomic so it
 * reads one value or the other.
 */
enum { KAIO_CB_FOREIGN, KAIO_CB_LIVE, KAIO_CB_RETURNED };

static inline int kaio__cb_get(const int *field)
{
	return atomic_load_explicit((atomic_int *)field, memory_order_relaxed);
}

static inline void kaio__cb_set(int *field, int v)
{
	atomic_store_explicit((atomic_int *)field, v, memory_order_relaxed);
}

/* Whose is cb: KAIO_CB_LIVE (submitted here, result not taken), ... */
static inline int kaio__cb_state(const struct aiocb *cb)
{
	int magic = kaio__cb_get(&cb->__policy);

	if (kaio__cb_get(&cb->__abs_prio) !=
	    atomic_load_explicit(&kaio__epoch, memory_order_relaxed))
		return KAIO_CB_FOREIGN;
	return magic == KAIO_MAGIC ? KAIO_CB_LIVE :
	       magic == KAIO_MAGIC_RETURNED ? KAIO_CB_RETURNED :
	       KAIO_CB_FOREIGN;
}

struct kaio_reaper;

_Static_assert(offsetof(struct aiocb, __glibc_reserved) % sizeof(void *) == 0 &&
	       sizeof(((struct aiocb *)0)->__glibc_reserved) >= 24 &&
	       sizeof(void *) <= 8,
	       "room for the reaper hint, the owner and the claim word");

/*
 * The reaper hint (see the top of the file).  Release and acquire: a
 * waiter that reads the hint goes on to read the reaper it points to,
 * which may have been made just before (a thread's first ring); its
 * making must be visible.  Plain moves on x86-64.
 */
static inline void kaio__cb_hint_set(struct aiocb *cb, struct kaio_reaper *r)
{
	__atomic_store_n((void **)(void *)cb->__glibc_reserved, (void *)r,
			 __ATOMIC_RELEASE);
}

static inline struct kaio_reaper *kaio__cb_hint(const struct aiocb *cb)
{
	return (struct kaio_reaper *)__atomic_load_n(
		(void *const *)(const void *)cb->__glibc_reserved, __ATOMIC_ACQUIRE);
}

/* The owner (see the top of the file): written by the submitter only. */
static inline void kaio__cb_owner_set(struct aiocb *cb, const void *req)
{
	__atomic_store_n((const void **)(void *)(cb->__glibc_reserved + 8), req,
			 __ATOMIC_RELAXED);
}

static inline const void *kaio__cb_owner(const struct aiocb *cb)
{
	return __atomic_load_n(
		(const void *const *)(const void *)(cb->__glibc_reserved + 8),
		__ATOMIC_RELAXED);
}

/* The aiocb's __error_code, with acquire: its result is then visible. */
static inline int kaio__cb_error(const struct aiocb *cb)
{
	return atomic_load_explicit((atomic_int *)&cb->__error_code,
				    memory_order_acquire);
}

/* Is cb a request of this process still in progress? */
static inline int kaio__cb_in_progress(const struct aiocb *cb)
{
	return kaio__cb_state(cb) == KAIO_CB_LIVE &&
	       kaio__cb_error(cb) == EINPROGRESS;
}

int kaio__cancel_may(struct kaio_req *r, int fd, const struct aiocb *cb,
		     struct kaio_cancel *t) KAIO_HIDDEN;

/*
 * Is one of list[] done (not in progress here), or is there nothing in it
 * to wait for?  Either way aio_suspend() returns 0, as glibc's does.
 */
static inline int kaio__any_done(const struct aiocb *const list[], int nent)
{
	int i, any = 0;

	for (i = 0; i < nent; i++) {
		if (!list[i])
			continue;
		if (!kaio__cb_in_progress(list[i]))
			return 1;
		any = 1;
	}
	return !any;
}

/*
 * A request moving from a kernel backend to the pool is on no list for a
 * moment.  Such moves are counted as they begin and end, so aio_cancel()
 * knows when one overlapped its search and looks again (cancel.c).
 */
extern atomic_uint kaio__handoff_begun KAIO_HIDDEN;
extern atomic_uint kaio__handoff_ended KAIO_HIDDEN;

static inline void kaio__handoff_begin(void)
{
	atomic_fetch_add(&kaio__handoff_begun, 1);
}

static inline void kaio__handoff_end(void)
{
	atomic_fetch_add(&kaio__handoff_ended, 1);
}

/* Statistics: relaxed counters, one cache line apart from hot data. */
extern struct kaio_stats_int {
	atomic_ulong v[KAIO_STAT_MAX];
} kaio__stats KAIO_HIDDEN;
/* Where the counters live: kaio__stats, or a shared slot (observe.c). */
extern struct kaio_stats_int *kaio__statp KAIO_HIDDEN;
/* This thread's own counters (added to kaio__statp's when read), or NULL. */
extern __thread struct kaio_stats_int *kaio__tls_stats
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
struct kaio_stats_int *kaio__stats_thread(void) KAIO_HIDDEN;
void kaio__stats_setup(void) KAIO_HIDDEN;
void kaio__stats_total(unsigned long *v) KAIO_HIDDEN;

/*
 * Counted where only this thread writes: no cache line shared.  In the
 * thread's own block (kaio__tls_stats) no locked instruction is needed
 * either: on x86_64 one add to memory, which a signal handler counting
 * on this thread cannot split, and which readers see whole.  Elsewhere
 * (a shared block: kaio-run's segment, or more threads than blocks), and
 * under TSan, which must see the write, an atomic add.
 */
static inline void kaio__count(int what)
{
	struct kaio_stats_int *st = kaio__tls_stats;

#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	if (kaio_likely(st)) {
		__asm__ volatile("addq $1, %0"
				 : "+m"(*(unsigned long *)&st->v[what]));
		return;
	}
#endif
	if (kaio_unlikely(!st))
		st = kaio__stats_thread();
	atomic_fetch_add_explicit(&st->v[what], 1, memory_order_relaxed);
}

/* Completion wait: a global sequence bumped by every completion (suspend.c). */
extern atomic_int kaio__done_seq KAIO_HIDDEN;
extern atomic_int kaio__done_waiters KAIO_HIDDEN;
/*
 * Accepted requests not in the kernel whose completion is not yet
 * announced (reap.c's sole_ring()), counted in shards on cache lines of
 * their own: submitting threads then share none.  A request is counted
 * and uncounted in the shard of the thread that first counted it
 * (req->pshard), so no shard ever drops below zero, and one read of its
 * shard sees a counted request as surely as one read of a single count.
 */
#define KAIO_PENDING_SHARDS	16
struct kaio_pending_shard {
	atomic_int n;
} __attribute__((aligned(64)));
extern struct kaio_pending_shard kaio__user_pending[KAIO_PENDING_SHARDS]
	KAIO_HIDDEN;
int kaio__pending_shard(void) KAIO_HIDDEN;
int kaio__pending_any(void) KAIO_HIDDEN;
void kaio__pending_reset(void) KAIO_HIDDEN;

/* Count req (first time: in this thread's shard, from now on its own). */
static inline void kaio__pending_add(struct kaio_req *req, int first)
{
	if (first)
		req->pshard = kaio__pending_shard();
	atomic_fetch_add(&kaio__user_pending[req->pshard].n, 1);
}

static inline void kaio__pending_sub(const struct kaio_req *req)
{
	atomic_fetch_sub(&kaio__user_pending[req->pshard].n, 1);
}
/* Requests that left a ring with their hint, not yet completed (kaio-int.h). */
extern atomic_int kaio__strays KAIO_HIDDEN;
/* Requests whose result is out and whose signal is not yet (request.c). */
extern atomic_int kaio__signalling KAIO_HIDDEN;

/*
 * A store-buffering pair: a waiter counts itself (kaio__sb_enter()), then
 * looks at what it waits for; a completer publishes, then looks at the
 * count (kaio__sb_count()).  A seq_cst fence on each side makes one of them
 * see the other.  TSan does not model fences (GCC drops them under it):
 * there a read-modify-write of the count on both sides does the same.
 * The completion wait is one: a waiter counts itself in kaio__done_waiters,
 * then the futex looks at the sequence; a completer bumps the sequence,
 * then looks for waiters.
 */
static inline void kaio__sb_enter(atomic_int *count)
{
	atomic_fetch_add(count, 1);
#ifndef __SANITIZE_THREAD__
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* The completer's side of such a pair: after publishing, how many count. */
static inline int kaio__sb_count(atomic_int *count)
{
#ifdef __SANITIZE_THREAD__
	return atomic_fetch_add(count, 0);
#else
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(count, memory_order_relaxed);
#endif
}

static inline void kaio__waiter_enter(void)
{
	kaio__sb_enter(&kaio__done_waiters);
}

static inline int kaio__waiters_now(void)
{
	return kaio__sb_count(&kaio__done_waiters);
}

/*
 * Threads inside aio_suspend() past its first look (suspend.c).  A request
 * completed in the caller, before aio_read() or aio_write() returned, can
 * be waited for only by one of them (any other waiter waits for a list or
 * a cancel ticket, which such a request is never on): while there are
 * none, its completion needs no wake-up.  The same store-buffering pair
 * as above: the waiter counts itself, then looks at its aiocbs; the
 * completer publishes, then looks at the count.
 */
extern atomic_int kaio__suspending KAIO_HIDDEN;

static inline int kaio__suspending_now(void)
{
	return kaio__sb_count(&kaio__suspending);
}

int kaio__wait_seq(int seq, const struct timespec *deadline) KAIO_HIDDEN;
int kaio__restartable(unsigned long long came) KAIO_HIDDEN;

/*
 * How many bytes one call may copy in the calling thread (request.c).  A
 * cached read copies 4-8 GB/s on the reference machine (2 vCPU EPYC), so
 * 512 KiB holds a caller 0.07-0.13 ms, about what glibc's submission
 * costs with its thread start; the rest goes to a backend, which must not
 * copy it in the caller either (KAIO_RQ_OFFLOAD).
 */
#define KAIO_CALLER_BYTES	(512 * 1024)

/* Reads of one lio_listio() call, gathered for one io_submit(). */
#define KAIO_BATCH_MAX	64
struct kaio_batch {
	int n;
	size_t caller_left;		/* of KAIO_CALLER_BYTES, this call */
	/* Reads go into the batch, for this ring, reaped at once (lio.c);
	 * how many the caller would have tried itself. */
	struct kaio_reaper *ring;
	int diverted;
	struct kaio_req *reqs[KAIO_BATCH_MAX];
};

/* observe.c: latency histograms and decision logging. */
enum {
	KAIO_SERVED_INLINE,
	KAIO_SERVED_POOL,
	KAIO_SERVED_KERNEL,
	KAIO_SERVED_URING,
	KAIO_SERVED_MAX
};
long long kaio__now_ns(void) KAIO_HIDDEN;
void kaio__latency(int served, long long t0) KAIO_HIDDEN;
int kaio__latency_format(char *buf, size_t len) KAIO_HIDDEN;
void kaio__latency_reset(void) KAIO_HIDDEN;
void kaio__debug_route(const struct kaio_req *req, int served) KAIO_HIDDEN;
void kaio__stats_attach(const char *backend) KAIO_HIDDEN;
void kaio__stats_fork(void) KAIO_HIDDEN;
void kaio__stats_exit(const char *head) KAIO_HIDDEN;

/* A backend is about to complete req: count and time it. */
static inline void kaio__served(struct kaio_req *req, int served, int stat)
{
	kaio__count(stat);
	if (kaio_unlikely(req->t0))
		kaio__latency(served, req->t0);
}

/* request.c */
int kaio__fail(int err) KAIO_HIDDEN;
int kaio__submit(struct aiocb *cb, int op, struct kaio_list *list,
		 int flags, struct kaio_batch *batch) KAIO_HIDDEN;
int kaio__submit_failed(struct aiocb *cb, int err, struct kaio_list *list,
			int flags) KAIO_HIDDEN;
void kaio__batch_flush(struct kaio_batch *batch) KAIO_HIDDEN;
void kaio__complete(struct kaio_req *req, ssize_t res) KAIO_HIDDEN;
void kaio__req_free(struct kaio_req *req) KAIO_HIDDEN;
void kaio__req_reset(void) KAIO_HIDDEN;
ssize_t kaio__execute(struct kaio_req *req) KAIO_HIDDEN;
int kaio__sigevent_check(const struct sigevent *sev) KAIO_HIDDEN;
void kaio__lio_refused(struct aiocb *const list[], int nent, int err)
	KAIO_HIDDEN;
void kaio__sigevent_copy(struct kaio_notify *nt,
			 const struct sigevent *sev) KAIO_HIDDEN;
void kaio__list_put(struct kaio_list *list) KAIO_HIDDEN;
void kaio__wake_waiters(void) KAIO_HIDDEN;
void kaio__defer_wake(int on) KAIO_HIDDEN;
__attribute__((noreturn)) __cold void kaio__bug(const char *what) KAIO_HIDDEN;

/*
 * Non-zero while this thread may not complete a request: it holds an fd's
 * lock (fdmap.c) or is inside a backend's submit() (backend.c).  A
 * completion there would take the fd's lock again, or run the completion
 * path (notifications, the fd's bookkeeping) under it: kaio__complete()
 * aborts instead, so that a test that reaches such a path fails loudly.
 */
extern __thread int kaio__tls_nocomplete
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;

/* pathops.c */
int kaio__path_capture(struct kaio_req *req, const struct aiocb *cb) KAIO_HIDDEN;
void kaio__path_release(struct kaio_req *req) KAIO_HIDDEN;
ssize_t kaio__path_execute(struct kaio_req *req) KAIO_HIDDEN;

/* fdmap.c (the fd table itself: fdtable.h) */
int kaio__fd_dispatch(struct kaio_req *req) KAIO_HIDDEN;
void kaio__fd_done(struct kaio_req *req, ssize_t res) KAIO_HIDDEN;
int kaio__fd_cancel(int fd, struct aiocb *cb, struct kaio_req **out,
		    struct kaio_cancel *t) KAIO_HIDDEN;
/* f's number (f->fsq set), or the numbers first to last, are about to go
 * (fdgen.c, outside the library): the requests queued on them take their
 * file first. */
void kaio__fd_hold_files(struct kaio_fd *f) KAIO_HIDDEN;
void kaio__fd_hold_range(int first, int last, int rings) KAIO_HIDDEN;
void kaio__fd_hold_fork_child(void) KAIO_HIDDEN;

/* backend.c: the dispatcher between the backends (backend.h). */
extern __thread pid_t kaio__tls_tid
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;

/* This thread's id, cached (reset in a fork child, backend.c). */
static inline pid_t kaio__tid(void)
{
	if (kaio_unlikely(!kaio__tls_tid))
		kaio__tls_tid = (pid_t)syscall(SYS_gettid);
	return kaio__tls_tid;
}

void kaio__backend_defer(struct kaio_req *req) KAIO_HIDDEN;
int kaio__backend_hold_file(struct kaio_req *req) KAIO_HIDDEN;
int kaio__backend_holds_in(int first, int last) KAIO_HIDDEN;
int kaio__backend_submit(struct kaio_req *req) KAIO_HIDDEN;
void kaio__backend_submit_batch(struct kaio_req **reqs, int n,
				struct kaio_req **failed) KAIO_HIDDEN;
int kaio__backend_own_ring(struct kaio_reaper **r) KAIO_HIDDEN;
void kaio__backend_cancel(int fd, struct aiocb *cb, struct kaio_req **out,
			  struct kaio_cancel *t, int *n) KAIO_HIDDEN;
void kaio__backend_cancel_retry(struct kaio_cancel *t) KAIO_HIDDEN;
void kaio__backend_release(struct kaio_req *req) KAIO_HIDDEN;
void kaio__backend_fork_child(void) KAIO_HIDDEN;
void kaio__backend_config_changed(void) KAIO_HIDDEN;
void kaio__backend_describe(char *buf, size_t len) KAIO_HIDDEN;

/* reap.c: who reaps a kernel backend's completions (see there). */
struct kaio_reaper {
	pthread_mutex_t lock;
	/* Under lock. */
	pthread_cond_t rcond;		/* the reaper's sleep */
	int bg_sleep;			/* reaper asleep: 1 timed, 2 untimed */
	atomic_int started;		/* set under lock, read without */
	/* No lock. */
	atomic_int who;			/* none, the reaper, an app thread */
	atomic_int app_wants;		/* app threads waiting for the role */
	atomic_int inflight_n;		/* requests in the kernel */
	atomic_int urgent;		/* ... with a notification or list */
	atomic_llong app_reaped;	/* when an app thread last reaped */
	atomic_int app_polled;		/* aio_error() or kaio_queue_reap()
					 * looked at the ring since the
					 * reaper last asked */
	/* Constant. */
	int slot;			/* 0 native AIO, 1 io_uring's shared
					 * ring, 2.. its per-thread rings */
	/*
	 * Wait (rel NULL: forever) for completions and complete a batch;
	 * with cancel, the wait itself is a cancellation point, and a
	 * thread cancelled there loses no completion.  With sigmask, the
	 * caller blocks every signal and the wait alone runs with sigmask
	 * (a handler then runs only when the wait ends with EINTR).
	 */
	long (*reap_batch)(struct kaio_reaper *r, const struct timespec *rel,
			   int cancel, const sigset_t *sigmask);
	/* Completions wait in the ring (a look, no system call)?  NULL:
	 * the ring is never linked to a completion queue. */
	int (*ready)(struct kaio_reaper *r);
};

/* Reapers at most: native AIO, io_uring's shared ring, its thread rings. */
#define KAIO_REAPER_SLOTS	18

/*
 * How deep this thread is in the library's entry points (compat.c):
 * aio_suspend() called from a signal handler that interrupted the library
 * (depth > 1) takes no lock and reaps nothing (reap.c).
 */
extern __thread int kaio__tls_depth
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;

/*
 * A thread of the library's own (a reaper, a pool worker, io_uring's
 * submitter thread) that hands on a request it released from its fd's
 * queue (an fsync whose writes are done): it never gets an io_uring ring
 * of its own, which would bring a reaper thread of its own, whose
 * releases would bring the next (backend-uring.c).  A reaper enters such
 * requests into the ring it reaps (kaio__tls_reaping), the others into
 * the shared ring.
 */
extern __thread int kaio__tls_libthread
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
extern __thread struct kaio_reaper *kaio__tls_reaping
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;

/*
 * A completion signal this thread sends inside an entry point (a request
 * completed in the caller, one aio_cancel() cancelled) is held back until
 * the entry point is on its way out (notify.c): a handler that runs, and
 * perhaps never returns (siglongjmp), then finds the library's state
 * whole.  kaio__tls_sigheld is the depth the signals were blocked at, 0
 * if none are; kaio__tls_masked is set while the library has every signal
 * blocked in this thread anyway (reap.c).
 */
extern __thread int kaio__tls_sigheld
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
extern __thread int kaio__tls_masked
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
void kaio__signals_hold(void) KAIO_HIDDEN;

/*
 * sigdefer.c: handlers wait behind the library's own while this thread is
 * in a window (kaio__tls_defer), but at a park: the system call of
 * kaio__park_call(), which returns -EINTR without entering it if a signal
 * was held back (kaio__tls_sigdeferred: their bits).  kaio__tls_park is
 * set while a handler may find the library's state whole (reap.c).  A
 * backend's reap_batch() given &kaio__park_mask waits in
 * kaio__park_call().
 */
extern __thread int kaio__tls_defer
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
extern __thread int kaio__tls_park
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
extern __thread unsigned long long kaio__tls_sigdeferred
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
/* Kept signals that wait behind a running handler (its sa_mask holds
 * them, or its own call lets them in): let in at a call's end or as a
 * wait begins, never ending a park (sigdefer.c's unblock()). */
extern __thread unsigned long long kaio__tls_sigwaiting
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
extern const sigset_t kaio__park_mask KAIO_HIDDEN;
/* A park's wait at least this long is aio_suspend()'s "forever" (a year
 * at a time, suspend.c): it waits without a timer. */
#define KAIO_WAIT_FOREVER_S	(300L * 24 * 3600)
long kaio__park_call(const unsigned long long *deferred, long nr, long a1,
		     long a2, long a3, long a4, long a5, long a6) KAIO_HIDDEN;
int kaio__sigdefer_on(void) KAIO_HIDDEN;
/* Each of the program's handlers that ran in this thread counts one, while
 * kaio__sigdefer_on() (every one then runs behind the library's). */
extern __thread unsigned long kaio__tls_handled
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
void kaio__sigdefer_foreign(void) KAIO_HIDDEN;
void kaio__sigdefer_setup(void) KAIO_HIDDEN;
void kaio__sigdefer_fork_child(void) KAIO_HIDDEN;

void kaio__signals_release(void) KAIO_HIDDEN;
int kaio__signals_ran(const sigset_t *old) KAIO_HIDDEN;
int kaio__sigdefer_let_go(void) KAIO_HIDDEN;
unsigned long long kaio__sigdefer_kept(void) KAIO_HIDDEN;
int kaio__let_in(int cs, unsigned long long *came) KAIO_HIDDEN;
extern __thread int kaio__tls_callcs
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
void kaio__signals_mask(sigset_t *old) KAIO_HIDDEN;
void kaio__signals_unmask(const sigset_t *old) KAIO_HIDDEN;

/*
 * In and out of a library call that is no cancellation point (compat.c's
 * entry points, kaio_queue_reap()'s reaping of rings): cancellation off,
 * the call counted in kaio__tls_depth, and the completion signals it held
 * let in on the way out.
 */
/*
 * O_DIRECT reads and fsyncs this thread left in its io_uring ring's
 * submission queue (backend-uring.c): its next call into the library
 * enters them, and so does a close() of any thread (fdgen.c).  But an
 * aio_fsync() of the fd whose fsync it left there (kaio__tls_fs_held, fd
 * + 1) leaves that one there too, to ride on it (fdmap.c).  fdmap.c
 * marks the fsync it hands on as leader (kaio__tls_fs_leader).
 */
extern __thread int kaio__tls_sq_deferred
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
extern __thread int kaio__tls_fs_held
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
extern __thread struct kaio_req *kaio__tls_fs_leader
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
extern __thread long long kaio__tls_fs_t0
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
extern atomic_int kaio__sq_deferring KAIO_HIDDEN;
void kaio__uring_flush_mine(void) KAIO_HIDDEN;
/* eintr.c: has this thread requests it entered itself in io_uring? */
int kaio__uring_in_kernel(void) KAIO_HIDDEN;
void kaio__uring_flush_all(void) KAIO_HIDDEN;
void kaio__uring_enter_ring(void *ring) KAIO_HIDDEN;
int kaio__uring_take_held(void *ring, struct kaio_req *lead,
			  struct kaio_cancel **cw) KAIO_HIDDEN;
struct kaio_req *kaio__fd_take_held(int fd, const struct aiocb *const list[],
				    int nent, struct kaio_cancel **cw) KAIO_HIDDEN;
int kaio__fd_fs_open(int fd) KAIO_HIDDEN;
/* fdgen.c: a leader run by its waiter, which a close() waits for. */
void kaio__fd_here_begin(struct kaio_fd *f) KAIO_HIDDEN;
void kaio__fd_here_end(struct kaio_fd *f) KAIO_HIDDEN;
void kaio__fd_here_fork_child(void) KAIO_HIDDEN;
void kaio__suspend_run_held(const struct aiocb *const list[],
			    int nent) KAIO_HIDDEN;

static inline void kaio__flush_deferred(void)
{
	if (kaio_unlikely(kaio__tls_sq_deferred))
		kaio__uring_flush_mine();
}

/* At aio_suspend(): the same, but an fsync left there that a wait without
 * a timeout is for runs in the caller (kaio__suspend_run_held()). */
static inline void kaio__flush_deferred_suspend(const struct aiocb *const l[],
						int n,
						const struct timespec *t)
{
	if (kaio_unlikely(kaio__tls_sq_deferred)) {
		if (!t && kaio__tls_fs_held)
			kaio__suspend_run_held(l, n);
		kaio__uring_flush_mine();
	}
}

/*
 * At aio_error(cb): the same, but an fsync left there for cb's fd, not yet
 * entered by anyone, stays if it was left there in the last
 * KAIO_FS_POLL_NS: a program that looks at each of its requests before it
 * waits for them (fio's posixaio engine) is about to wait for it, and then
 * runs it (kaio__suspend_run_held()).  One that polls enters it at its
 * next look after that.  1 if it stays: the ring then holds no completion
 * of that fd's fsyncs to reap.
 */
#define KAIO_FS_POLL_NS	200000LL
static inline int kaio__flush_deferred_poll(const struct aiocb *cb)
{
	if (kaio_likely(!kaio__tls_sq_deferred))
		return 0;
	if (cb && kaio__tls_fs_held == cb->aio_fildes + 1 &&
	    kaio__now_ns() - kaio__tls_fs_t0 < KAIO_FS_POLL_NS &&
	    kaio__fd_fs_open(cb->aio_fildes))
		return 1;
	kaio__uring_flush_mine();
	return 0;
}

/* At aio_fsync(cb): the same, but not for an fsync of its fd left there. */
static inline void kaio__flush_deferred_fsync(const struct aiocb *cb)
{
	if (kaio_unlikely(kaio__tls_sq_deferred) &&
	    (!cb || kaio__tls_fs_held != cb->aio_fildes + 1))
		kaio__uring_flush_mine();
}

/*
 * The depth is counted before cancellation is disabled, and given back
 * after it is enabled again: a handler of a signal that comes between the
 * two (held back only inside the count, sigdefer.c) that jumped out would
 * leave cancellation disabled for good.
 */
static inline int kaio__call_begin(void)
{
	int cs, depth = kaio__tls_depth;

	kaio__tls_depth = depth + 1;
	atomic_signal_fence(memory_order_seq_cst);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	if (!depth)
		kaio__tls_callcs = cs;	/* kaio__let_in() */
	return cs;
}

/*
 * A call's way out, its depth given back: the signals it held come in,
 * those sigdefer.c held back too if it was the outermost (an inner
 * one's are the outer call's to let in: kaio__let_in()).
 */
static inline void kaio__call_leave(void)
{
	/* The depth given back before anything held back is looked at: a
	 * signal after the look runs at once (sigdefer.c's entry()). */
	atomic_signal_fence(memory_order_seq_cst);
	if (kaio_unlikely(kaio__tls_sigheld > kaio__tls_depth))
		kaio__signals_release();
	if (kaio_unlikely(kaio__tls_sigdeferred | kaio__tls_sigwaiting) &&
	    !kaio__tls_depth && !kaio__tls_defer)
		kaio__sigdefer_let_go();
}

static inline void kaio__call_end(int cs)
{
	pthread_setcancelstate(cs, NULL);
	atomic_signal_fence(memory_order_seq_cst);
	kaio__tls_depth--;
	kaio__call_leave();
}

int kaio__reaper_start(struct kaio_reaper *r) KAIO_HIDDEN;
void kaio__reaper_submitted(struct kaio_reaper *r, int n,
			    int urgent) KAIO_HIDDEN;
/* The application left entries in r's ring for its next call: it counts
 * as reaping, so the reaper waits a grace period before it enters them. */
void kaio__reaper_app_returns(struct kaio_reaper *r) KAIO_HIDDEN;
void kaio__reaper_took(const struct kaio_req *req) KAIO_HIDDEN;
int kaio__reaper_urgent(const struct kaio_req *req) KAIO_HIDDEN;
void kaio__reaper_retire(struct kaio_reaper *r, int n,
			 int urgent) KAIO_HIDDEN;
int kaio__reaper_wait(int seq, const struct timespec *deadline, int cancel,
		      const struct aiocb *const list[], int nent) KAIO_HIDDEN;
int kaio__reaper_grab(struct kaio_reaper *r) KAIO_HIDDEN;
void kaio__reaper_ungrab(struct kaio_reaper *r) KAIO_HIDDEN;

/*
 * A window in which this thread wants or holds a ring's reaping role (or
 * polls it): no signal handler runs there but at its waits (reap.c).
 * sigdefer.c defers the handlers (w->defer); else every signal is
 * blocked (w->old: the mask before).  notify.c.
 */
struct kaio_window {
	int defer;
	int prev;		/* kaio__tls_defer before: a nested window */
	int hold;		/* completion signals sent here: to the exit */
	sigset_t old;
};
void kaio__window_open(struct kaio_window *w, int hold) KAIO_HIDDEN;
void kaio__window_close(struct kaio_window *w) KAIO_HIDDEN;
/* A handler at a window's park runs as outside any window (sigdefer.c):
 * the window's own state, put aside meanwhile. */
struct kaio_parked {
	int defer, park, masked, wanted;
	unsigned long long deferred;	/* held back still: sigdefer.c */
};
void kaio__park_enter(struct kaio_parked *p) KAIO_HIDDEN;
void kaio__park_leave(const struct kaio_parked *p) KAIO_HIDDEN;
void kaio__reaper_poll_begin(struct kaio_reaper *r,
			     struct kaio_window *w) KAIO_HIDDEN;
void kaio__reaper_poll_end(struct kaio_reaper *r,
			   struct kaio_window *w) KAIO_HIDDEN;
void kaio__reaper_poll(struct kaio_reaper *r) KAIO_HIDDEN;
int kaio__reaper_collect(struct kaio_reaper *r) KAIO_HIDDEN;
void kaio__reaper_reset(struct kaio_reaper *r) KAIO_HIDDEN;
/* A reaper's wait as a cancellation point: async mode around it. */
int kaio__cancel_async_begin(void) KAIO_HIDDEN;
void kaio__cancel_async_end(int old) KAIO_HIDDEN;

/* notify.c */
int kaio__notify_reserve(const struct sigevent *sev) KAIO_HIDDEN;
void kaio__notify_bind(struct kaio_notify *nt) KAIO_HIDDEN;
void kaio__notify_release(const struct kaio_notify *nt) KAIO_HIDDEN;
void kaio__notify_unreserve(void) KAIO_HIDDEN;
void kaio__notify(const struct kaio_notify *nt, struct aiocb *cb,
		  ssize_t res) KAIO_HIDDEN;

/* queue.c */
int kaio__queue_valid(int fd) KAIO_HIDDEN;
int kaio__queue_bind(struct kaio_note *n, int fd) KAIO_HIDDEN;
int kaio__queue_link(const struct kaio_note *n, struct kaio_reaper *r,
		     const struct kaio_queue *old, uint64_t old_id,
		     int (*attach)(struct kaio_reaper *r, int efd))
	KAIO_HIDDEN;
int kaio__queue_post(struct kaio_note *n, struct aiocb *cb,
		     ssize_t res) KAIO_HIDDEN;
void kaio__queue_reset(void) KAIO_HIDDEN;
void kaio__notify_reset(void) KAIO_HIDDEN;

/* init.c */
void kaio__init(void) KAIO_HIDDEN;
int kaio__block_signals(sigset_t *old) KAIO_HIDDEN;
void kaio__deadline(struct timespec *abs,
		    const struct timespec *rel) KAIO_HIDDEN;

/* Doubly-linked queue helpers shared by the pool and the fd queues. */
struct kaio_q {
	struct kaio_req *head, *tail;
};

static inline void kaio__q_push(struct kaio_req **head, struct kaio_req **tail,
				struct kaio_req *r)
{
	r->next = NULL;
	r->prev = *tail;
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
}

static inline void kaio__q_del(struct kaio_req **head, struct kaio_req **tail,
			       struct kaio_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		*tail = r->prev;
	r->next = r->prev = NULL;
}

/* The implementations behind the exported names (compat.c binds them). */
int kaio__aio_read(struct aiocb *cb) KAIO_HIDDEN;
int kaio__aio_write(struct aiocb *cb) KAIO_HIDDEN;
int kaio__aio_fsync(int op, struct aiocb *cb) KAIO_HIDDEN;
int kaio__aio_error(const struct aiocb *cb) KAIO_HIDDEN;
ssize_t kaio__aio_return(struct aiocb *cb) KAIO_HIDDEN;
int kaio__aio_suspend(const struct aiocb *const list[], int nent,
		      const struct timespec *timeout) KAIO_HIDDEN;
int kaio__aio_cancel(int fd, struct aiocb *cb) KAIO_HIDDEN;
int kaio__lio_listio(int mode, struct aiocb *const list[], int nent,
		     struct sigevent *sig) KAIO_HIDDEN;
int kaio__lio_listio_old(int mode, struct aiocb *const list[], int nent,
			 struct sigevent *sig) KAIO_HIDDEN;
void kaio__aio_init(const struct aioinit *init) KAIO_HIDDEN;

#endif /* KAIO_INT_H */
