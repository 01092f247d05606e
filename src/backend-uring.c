/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-uring.c - the io_uring backend (liburing).
 *
 * io_uring's io-wq workers are the "kernel thread helpers" of every stock
 * kernel since 5.x: a buffered read or write that would block is punted to
 * a kernel worker, and fsync, pipes and sockets are served too.  The
 * backend takes reads and writes (pread/pwrite style, or at the file
 * position for non-seekable fds, which the per-fd layer serialises), and
 * fsync/fdatasync (after the library's barrier).
 *
 * Why liburing: it is in Debian, and it owns the ring's memory barriers,
 * feature probing (EXT_ARG timeouts) and the synchronous cancel call; a
 * private copy of that code would only add risk.
 *
 * Lock order: a kaio_fd lock (fdmap.c), then a ring's lock (never two),
 * then owner_lock or the reaper's lock (reap.c).  A ring's lock is never
 * held while a request completes, nor while another backend is called.
 *
 * Rings:
 * - A shared ring (ring0), made on first use: the submitter thread's
 *   requests, requests handed on with a personality, and everything of a
 *   thread without a ring of its own.
 * - A ring per submitting thread (up to UR_TRINGS, KAIO_URING_RINGS), for
 *   the requests it enters itself: threads submitting at once then share
 *   no lock, no submission queue and no reaper role, and a thread waiting
 *   for its own requests sleeps in its own ring.  A thread ring goes with
 *   the thread's owner slot (below): when the thread has exited and the
 *   kernel is done with what it entered, the next thread takes slot and
 *   ring.  Rings are never freed; a thread that cannot have one (the
 *   limit, no fd, no memory, no reaper thread) uses ring0.
 *
 * Concurrency contract:
 * - Each ring's lock serialises its submission queue (liburing's SQ side
 *   is single-threaded) and protects its in-flight list and each listed
 *   request's canceller (req->cw); ring0's also the submitter thread's
 *   queue.
 * - A ring's completion queue is consumed by one thread at a time: the
 *   holder of its reaper's role (reap.c).
 * - A request its submitting thread entered carries its ring's reaper as
 *   a hint in its aiocb (kaio-int.h), written under the ring's lock, which
 *   the reaper takes before it completes anything.  One the submitter
 *   thread enters carries none.  One that leaves the ring for another
 *   backend (reroute()) keeps its hint and becomes a stray.
 * - Never IORING_SETUP_SQPOLL: its kernel thread would carry the ring
 *   creator's credentials (libuv's CVE-2024-22017).  Without it every
 *   request runs with its submitting thread's credentials, captured at
 *   submission for work punted to io-wq.
 * - Never IORING_SETUP_DEFER_TASKRUN: completions must arrive without the
 *   application entering the kernel.
 * - Fork: the ring is mapped MADV_DONTFORK (io_uring_ring_dontfork()); a
 *   child makes its own on first use.
 * - A refusal (setup failing with EPERM/ENOSYS/EACCES under a seccomp
 *   profile or kernel.io_uring_disabled, a full ring, a failed submit)
 *   never fails a request: it goes to the next backend.
 *
 * A request outlives the thread that submitted it.  io_uring ties a
 * request to the task that entered it: when that task exits, its requests
 * waiting on a pipe, a socket or a poll end with ECANCELED, and so does
 * its work not yet started in io-wq.  So:
 * - a request that may wait without bound (a poll, a read or write of a
 *   stream: a pipe, socket, terminal...) is entered by the library's own
 *   submitter thread, which lives as long as the process (the hop costs
 *   a wake-up, on requests that wait anyway).  It runs with its
 *   submitter's identity through an io_uring personality registered by
 *   the submitting thread (a poll needs none);
 * - the rest (files, block devices: bounded waits) is entered by the
 *   submitting thread itself, the fast path, and counted per thread: a
 *   thread that exits waits (a pthread key's destructor) until the kernel
 *   has finished what it entered.
 * A request another thread hands on (released from its fd's queue) comes
 * with the personality its submitter registered when it was queued
 * (backend.c), or goes to the pool.  A request left in the
 * submission queue by a failed enter (-EBUSY, the completion queue
 * overflowing) is entered by the next thread that enters the ring.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "backend.h"
#include "sys.h"

#define UR_ENTRIES	256
#define UR_BATCH	128
#define UR_TRINGS	(KAIO_REAPER_SLOTS - 2)	/* thread rings at most */
#define UR_DEFER_MIN	8	/* reads in flight before one waits */
#define UR_DEFER_MAX	16	/* entries left in a queue at most */
#define UR_HELD_MAX	4	/* fsyncs (of as many fds) among them */
#define UR_FIXED	64	/* fixed-file slots of a ring (fsyncs) */

struct uring {
	pthread_mutex_t lock;
	/* Under lock (the completion queue is the reaper's, reap.c). */
	struct io_uring ring;
	struct kaio_q inflight;
	/* The completion queue whose eventfd the ring signals (queue.c),
	 * its identity, and whether registering it worked. */
	const struct kaio_queue *evq;
	uint64_t evqid;
	int evok;
	/* Entries its thread left in the submission queue (defer_ok()):
	 * written under lock, read without it. */
	atomic_int deferred;
	/* The fds of the fsyncs among them, whose fsopen flush_locked()
	 * clears before it enters the ring.  Under lock. */
	struct kaio_fd *held[UR_HELD_MAX];
	int nheld;
	/* io_uring_enter() refused to submit (a seccomp filter that came
	 * later): nothing may wait in the submission queue any more. */
	atomic_int refused;
	/* Its table of fixed files (fix_locked()): nfix slots, 0 if the
	 * kernel has none or it is used no more; bit i of fixmap set while
	 * slot i holds an fsync's file, or is past nfix.  Under lock. */
	int nfix;
	uint64_t fixmap;
	/* Entries fix_sqe() gave a slot to that fix_commit_locked() is
	 * still to fill, by slot (each takes the lowest free one, and none
	 * is freed meanwhile: ascending).  Under lock. */
	struct io_uring_sqe *fixq_sqe[UR_FIXED];
	struct kaio_req *fixq_req[UR_FIXED];
	int nfixq;
	struct kaio_reaper reaper;
};

#define ring_of(r)	((struct uring *)((char *)(r) - \
				  offsetof(struct uring, reaper)))

static long reap_batch(struct kaio_reaper *r, const struct timespec *rel,
		       int cancel, const sigset_t *sigmask);
static void flush_locked(struct uring *u);
static int take_back_last_locked(struct uring *u, int k);
static int take_back_locked(struct uring *u, struct kaio_req **back);
static void undefer_locked(struct uring *u);
static int cancel_one(struct uring *u, struct kaio_req *req);
static void personality_put(struct kaio_req *req);
static int ring_ready(struct kaio_reaper *r);

/* The shared ring; its lock also guards ur's fields but state. */
static struct uring ring0 = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.fixmap = ~0ull,
	.reaper = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.rcond = PTHREAD_COND_INITIALIZER,
		.slot = 1,
		.reap_batch = reap_batch,
		.ready = ring_ready,
	},
};

static struct {
	int setup_err;		/* why not, for the stats line */
	int trings_max;		/* KAIO_URING_RINGS */
	int defer_min;		/* KAIO_URING_DEFER; < 0: never */
	/* Requests for the submitter thread (on ring0's inflight too). */
	struct kaio_req *ho_head, *ho_tail;
	int ho_started;
	/* Written under ring0.lock, read without it. */
	atomic_int state;	/* 0 untried, 1 usable, -1 unusable */
	/* No lock. */
	atomic_int ho_word;	/* the submitter's futex: 1 when woken */
} ur;

/* The thread rings made so far (under owner_lock; read without it). */
static struct uring *_Atomic trings[UR_TRINGS];
static atomic_int ntrings;

/* --- threads: what each has entered -------------------------------------- */

/*
 * A thread's count of requests it entered that the kernel still has.
 * Slots are recycled, never freed: a completer may wake one whose thread
 * has just gone (a spurious wake-up for the next user).
 */
struct owner {
	struct owner *next;	/* free list */
	atomic_int n;		/* requests in the kernel */
	atomic_int exiting;	/* its thread waits for n == 0 */
	/* Its thread's own ring, or NULL; tried: making one failed. */
	struct uring *ring;
	int tried;
};

static __thread struct owner *tls_owner
	__attribute__((tls_model("initial-exec")));
static pthread_once_t owner_once = PTHREAD_ONCE_INIT;
static pthread_key_t owner_key;
static int owner_key_ok;
static pthread_mutex_t owner_lock = PTHREAD_MUTEX_INITIALIZER;
static struct owner *owner_free;

static void owner_put(struct owner *o)
{
	if (atomic_fetch_sub(&o->n, 1) == 1 && atomic_load(&o->exiting))
		sys_futex_wake(&o->n, 1);
}

/*
 * A request this thread entered itself completes (but in io-wq) through
 * task work run by this thread, and io-wq starts a worker for it through
 * task work too: the kernel wakes this thread from whatever it sleeps in,
 * and a call that does not restart fails with EINTR.  eintr.c retries the
 * program's calls that end so (epoll_wait(), sigtimedwait()) while this
 * thread has such requests.
 */
int kaio__uring_in_kernel(void)
{
	struct owner *o = tls_owner;

	return o && atomic_load_explicit(&o->n, memory_order_relaxed) > 0;
}

/* The CLOCK_MONOTONIC time ns (< 1 s) from now. */
static void deadline_in(struct timespec *dl, long ns)
{
	clock_gettime(CLOCK_MONOTONIC, dl);
	dl->tv_nsec += ns;
	if (dl->tv_nsec >= 1000000000) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000;
	}
}

/* A thread that entered requests exits: not before the kernel is done. */
static void owner_exit(void *arg)
{
	struct owner *o = arg;
	struct timespec dl;
	int n;

	atomic_store(&o->exiting, 1);
	/* What it left in its ring first: nobody else may come (above). */
	if (o->ring && atomic_load(&o->ring->deferred)) {
		pthread_mutex_lock(&o->ring->lock);
		flush_locked(o->ring);
		pthread_mutex_unlock(&o->ring->lock);
	}
	while ((n = atomic_load(&o->n)) > 0) {
		deadline_in(&dl, 50000000);	/* and look again */
		sys_futex_wait(&o->n, n, &dl);
	}
	atomic_store(&o->exiting, 0);
	tls_owner = NULL;
	pthread_mutex_lock(&owner_lock);
	o->next = owner_free;
	owner_free = o;
	pthread_mutex_unlock(&owner_lock);
}

static void owner_init(void)
{
	owner_key_ok = pthread_key_create(&owner_key, owner_exit) == 0;
}

static struct uring *thread_ring(struct owner *o);
static void iowq_prestart(void);

/*
 * This thread's slot, taken on its first request; NULL without memory.
 * Then, once per thread but the library's own, its ring is made and its
 * io-wq worker started, in that order (iowq_prestart()).
 */
static struct owner *owner_get(void)
{
	struct owner *o = tls_owner;

	if (kaio_likely(o != NULL))
		return o;
	pthread_once(&owner_once, owner_init);
	if (!owner_key_ok)
		return NULL;
	pthread_mutex_lock(&owner_lock);
	o = owner_free;
	if (o)
		owner_free = o->next;
	pthread_mutex_unlock(&owner_lock);
	if (!o && !(o = calloc(1, sizeof(*o))))
		return NULL;
	if (pthread_setspecific(owner_key, o)) {
		pthread_mutex_lock(&owner_lock);
		o->next = owner_free;
		owner_free = o;
		pthread_mutex_unlock(&owner_lock);
		return NULL;
	}
	tls_owner = o;
	if (!kaio__tls_libthread) {
		if (ur.trings_max)
			thread_ring(o);
		iowq_prestart();
	}
	return o;
}

/*
 * May req wait without bound?  Then the submitter thread enters it.  An
 * O_APPEND write is a stream's only if its fd is not a file (as the look
 * at submission found it: KAIO_RQ_FILE).
 */
static int unbounded(const struct kaio_req *req)
{
	if (req->op == KAIO_OP_POLL)
		return 1;
	if (!(req->flags & KAIO_RQ_NOSEEK))
		return 0;
	return !(req->flags & KAIO_RQ_APPEND) || !(req->flags & KAIO_RQ_FILE);
}

/*
 * Move a ring's descriptor out of the low numbers.  glibc's AIO keeps no
 * descriptor: a program that closed fd 0 (a daemon) or any other number
 * gets it back from its next open(), and a stale number of its own must
 * fail with EBADF, never name a ring.  The ring goes to the lowest free
 * number from half the soft limit, at most 512 (the kernel's table stays
 * small).  If none is free there: -1, and the caller does without the
 * ring, which kept a number the program freed (with the table full, its
 * next open() failed with EMFILE, and a stale number named the ring: an
 * outside tester).  liburing keeps the number in two places.
 */
static int ring_fd_up(struct io_uring *ring)
{
	struct rlimit rl;
	long floor = 512;
	int fd;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    (long)(rl.rlim_cur / 2) < floor)
		floor = (long)(rl.rlim_cur / 2);
	if (ring->ring_fd >= floor)
		return 0;
	fd = fcntl(ring->ring_fd, F_DUPFD_CLOEXEC, floor);
	if (fd < 0)
		return -1;
	close(ring->ring_fd);
	ring->ring_fd = ring->enter_ring_fd = fd;
	return 0;
}

/*
 * io-wq runs what io_uring cannot do without blocking (an fsync, a write
 * the filesystem will not take at once, a read past a copy budget) on
 * kernel workers of the thread that entered it, and starts that thread's
 * first one as the work comes.  The kernel starts no thread while the
 * caller has a signal pending (copy_process() restarts); after three
 * tries io-wq cancels the work: ECANCELED, which nobody asked for, and
 * the request failed with EAGAIN where the pool could not take it
 * (measured: an aio_write() and an aio_fsync() from a fresh thread under
 * a stream of signals failed 10 times in 100).  io-wq keeps a thread's
 * last worker until the thread exits, and cancels only where it has none.
 * So each thread starts one before its first request, with every signal
 * blocked: a no-op that must run there (IOSQE_ASYNC), entered into a ring
 * kept for this alone (the worker belongs to the thread, not the ring).
 * After the thread's own ring is made: the first ring a thread makes or
 * enters sizes its io-wq (min(entries, 4 x CPUs) workers) and lends it
 * its hash of files; this ring has as many entries as the others, for a
 * thread that has none of its own.  Its wait is short: the worker starts
 * inside the enter, or not at all (RLIMIT_NPROC), and a late completion
 * is drained by the next thread.
 */
static struct {
	pthread_mutex_t lock;
	struct io_uring ring;
	int state;		/* 0: not made yet, 1: made, -1: failed */
} pre = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void iowq_prestart(void)
{
	struct __kernel_timespec ts = { 0, 50 * 1000 * 1000 };
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	sigset_t all, old;
	int saved = errno;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_mutex_lock(&pre.lock);
	if (!pre.state) {
		pre.state = io_uring_queue_init(UR_ENTRIES, &pre.ring, 0) ?
			    -1 : 1;
		if (pre.state > 0 && ring_fd_up(&pre.ring)) {
			io_uring_queue_exit(&pre.ring);
			pre.state = -1;
		}
		if (pre.state > 0)
			io_uring_ring_dontfork(&pre.ring);
	}
	if (pre.state > 0) {
		while (!io_uring_peek_cqe(&pre.ring, &cqe))	/* late ones */
			io_uring_cqe_seen(&pre.ring, cqe);
		if ((sqe = io_uring_get_sqe(&pre.ring))) {
			io_uring_prep_nop(sqe);
			sqe->flags |= IOSQE_ASYNC;
			if (io_uring_submit(&pre.ring) == 1 &&
			    !io_uring_wait_cqe_timeout(&pre.ring, &cqe, &ts))
				io_uring_cqe_seen(&pre.ring, cqe);
		}
	}
	pthread_mutex_unlock(&pre.lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
}

/*
 * Fixed files for fsyncs.  io_uring makes every fsync async and looks its
 * number up only when an io-wq worker starts it, after io_uring_enter()
 * has returned: a close() or dup2() of the number meanwhile made it fail
 * with EBADF, or sync the file put there (plain liburing: an fsync closed
 * at once by its thread, 1998 of 2000), where POSIX wants an operation
 * that is not cancelled to complete as if the close had not happened.  So
 * an fsync's file goes into its ring's table of fixed files as the entry
 * is prepared (one io_uring_register() call, which looks the number up
 * then), the entry names the slot, and the slot is emptied when the
 * request leaves the ring (one more).  The table holds a reference, no
 * descriptor: emptying it goes through no filp_close(), so the process's
 * record locks stay.  No table (before 5.19, RLIMIT_NOFILE under
 * UR_FIXED) or no free slot: the entry names the number, as before.
 */
/*
 * Does emptying a slot let its file go at once?  Before 6.4 the kernel
 * drops a removed file a second later (its resource node's delayed
 * free): a file the program closes after its fsync would stay open that
 * long (its flock(2) lock held, a pipe's reader without EOF).  So a pipe's
 * write end goes into slot 0 and out again, our descriptor closed: its
 * reader must see the hang-up at once.  u->lock held.
 */
static int fix_prompt(struct uring *u)
{
	struct timespec zero = { 0, 0 };
	struct pollfd pfd;
	int p[2], none = -1, ok;

	if (sys_call6(__NR_pipe2, (long)p, O_CLOEXEC, 0, 0, 0, 0))
		return 0;
	ok = io_uring_register_files_update(&u->ring, 0, &p[1], 1) == 1;
	sys_call6(__NR_close, p[1], 0, 0, 0, 0, 0);
	if (ok) {
		ok = io_uring_register_files_update(&u->ring, 0, &none, 1) == 1;
		pfd.fd = p[0];
		pfd.events = POLLIN;
		pfd.revents = 0;
		ok = ok && sys_call6(__NR_ppoll, (long)&pfd, 1, (long)&zero,
				     0, 0, 0) == 1 && (pfd.revents & POLLHUP);
	}
	sys_call6(__NR_close, p[0], 0, 0, 0, 0, 0);
	return ok;
}

static void fix_init(struct uring *u)
{
	struct io_uring_rsrc_register reg = {
		.flags = IORING_RSRC_REGISTER_SPARSE,
	};
	struct rlimit rl;
	int saved = errno;

	/* As many slots as RLIMIT_NOFILE allows, up to UR_FIXED; not
	 * liburing's call, which raises the limit if it is low. */
	u->nfix = 0;
	u->fixmap = ~0ull;
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		reg.nr = rl.rlim_cur < UR_FIXED ? (unsigned)rl.rlim_cur
						: UR_FIXED;
		if (reg.nr &&
		    !sys_call6(__NR_io_uring_register, u->ring.ring_fd,
			       IORING_REGISTER_FILES2, (long)&reg,
			       sizeof(reg), 0, 0) &&
		    fix_prompt(u)) {
			u->nfix = (int)reg.nr;
			u->fixmap = reg.nr < 64 ? ~0ull << reg.nr : 0;
		}
	}
	errno = saved;
}

/* The lowest free slot of u's table, taken; -1 if none.  u->lock held. */
static int slot_take(struct uring *u)
{
	int slot;

	if (!u->nfix || !~u->fixmap)
		return -1;
	slot = __builtin_ctzll(~u->fixmap);
	u->fixmap |= 1ull << slot;
	return slot;
}

/* fd's file into a free slot of u's table: the slot, or -1.  u->lock
 * held. */
static int fix_locked(struct uring *u, int fd)
{
	int slot = slot_take(u), saved = errno;

	if (slot < 0)
		return -1;
	if (io_uring_register_files_update(&u->ring, (unsigned)slot, &fd,
					   1) != 1) {
		u->fixmap &= ~(1ull << slot);
		slot = -1;
	}
	errno = saved;
	return slot;
}

/*
 * sqe, prepared for req, names a slot of u's table if there is one free;
 * req's file goes there with the other entries' of this submission, in
 * one io_uring_register() call (fix_commit_locked()), before the ring is
 * entered.  A lio_listio() batch past the caller's copy budget (the file
 * server) had one call per read: 0.7 us each, and as much again to empty
 * the slot.  u->lock held.
 */
static void fix_sqe(struct uring *u, struct io_uring_sqe *sqe,
		    struct kaio_req *req)
{
	int slot = slot_take(u);

	if (slot < 0)
		return;
	sqe->fd = slot;
	sqe->flags |= IOSQE_FIXED_FILE;
	req->uslot = slot + 1;
	u->fixq_sqe[u->nfixq] = sqe;
	u->fixq_req[u->nfixq++] = req;
}

/* Entry i of u's pending slots names its file by number again. */
static void fix_drop_locked(struct uring *u, int i)
{
	struct io_uring_sqe *sqe = u->fixq_sqe[i];
	struct kaio_req *r = u->fixq_req[i];

	u->fixmap &= ~(1ull << (r->uslot - 1));
	r->uslot = 0;
	sqe->fd = r->fd;
	sqe->flags &= ~IOSQE_FIXED_FILE;
}

/*
 * Fill the slots fix_sqe() gave out: one call for the range they span,
 * IORING_REGISTER_FILES_SKIP for the slots between them.  The kernel
 * fills them in order and stops at the first it cannot (a number closed
 * meanwhile: EBADF) or at a fault, returning how many it got through: that
 * entry names its number, as with no table, and the rest are tried again.
 * Before every enter of u (submit_on(), flush_locked()).  u->lock held.
 */
static void fix_commit_locked(struct uring *u)
{
	int fds[UR_FIXED];
	int i = 0, j, lo, n, ret, saved;

	if (kaio_likely(!u->nfixq))
		return;
	saved = errno;
	while (i < u->nfixq) {
		lo = u->fixq_req[i]->uslot - 1;
		n = u->fixq_req[u->nfixq - 1]->uslot - lo;
		for (j = 0; j < n; j++)
			fds[j] = IORING_REGISTER_FILES_SKIP;
		for (j = i; j < u->nfixq; j++)
			fds[u->fixq_req[j]->uslot - 1 - lo] = u->fixq_req[j]->fd;
		ret = io_uring_register_files_update(&u->ring, (unsigned)lo,
						     fds, (unsigned)n);
		if (ret == n)
			break;
		if (ret < 0)
			ret = 0;
		while (u->fixq_req[i]->uslot - 1 < lo + ret)
			i++;
		fix_drop_locked(u, i++);
	}
	u->nfixq = 0;
	errno = saved;
}

/* r's slot, if it has one, emptied and free.  u->lock held: ring0's for
 * a slot taken by hold_file().  KAIO_RQ_HOLD stays (r->flags is read
 * under its fd's lock, not this one): it counts only with a slot. */
static void unfix_locked(struct uring *u, struct kaio_req *r)
{
	int none = -1, slot = r->uslot - 1, saved = errno;

	if (kaio_likely(!r->uslot))
		return;
	r->uslot = 0;
	/* Refused (a seccomp filter that came later): the file stays
	 * there, its slot taken, and the table is used no more. */
	if (io_uring_register_files_update(&u->ring, (unsigned)slot, &none,
					   1) == 1)
		u->fixmap &= ~(1ull << slot);
	else
		u->nfix = 0;
	errno = saved;
}

/*
 * The slots of reqs[0..n), completed by u's kernel, emptied in one call
 * (fix_sqe()), before any of them is published: the program may close
 * the file then, and its last reference must go with that close.  Emptied
 * one at a time if the call fails.  u->lock held (u is ring0 for a slot
 * hold_file() took).
 */
static void unfix_batch_locked(struct uring *u, struct kaio_req **reqs,
			       unsigned n)
{
	int fds[UR_FIXED];
	int lo = UR_FIXED, hi = -1, k = 0, s, ret, saved;
	struct kaio_req *one = NULL;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (kaio_likely(!reqs[i]->uslot))
			continue;
		one = reqs[i];
		s = one->uslot - 1;
		lo = s < lo ? s : lo;
		hi = s > hi ? s : hi;
		k++;
	}
	if (k <= 1) {
		if (one)
			unfix_locked(u, one);
		return;
	}
	saved = errno;
	for (s = lo; s <= hi; s++)
		fds[s - lo] = IORING_REGISTER_FILES_SKIP;
	for (i = 0; i < n; i++)
		if (reqs[i]->uslot)
			fds[reqs[i]->uslot - 1 - lo] = -1;
	ret = io_uring_register_files_update(&u->ring, (unsigned)lo, fds,
					     (unsigned)(hi - lo + 1));
	errno = saved;
	for (i = 0; i < n; i++) {
		if (!reqs[i]->uslot)
			continue;
		if (ret == hi - lo + 1) {
			u->fixmap &= ~(1ull << (reqs[i]->uslot - 1));
			reqs[i]->uslot = 0;
		} else {
			unfix_locked(u, reqs[i]);
		}
	}
}

/* The slots of the requests of u's submission queue from entry i to its
 * tail, emptied: they are being taken back.  u->lock held. */
static void unfix_sq_locked(struct uring *u, unsigned i)
{
	struct io_uring_sq *sq = &u->ring.sq;
	unsigned mask = *sq->kring_mask;
	struct io_uring_sqe *sqe;
	struct kaio_req *r;

	for (; i != sq->sqe_tail; i++) {
		sqe = &sq->sqes[sq->array[i & mask] & mask];
		r = (struct kaio_req *)(uintptr_t)sqe->user_data;
		if (r)
			unfix_locked(u, r);
	}
}

/*
 * Called with ring0.lock held.  ur.state stays 0 until the ring is made
 * or refused: a thread that probes meanwhile waits for the lock and then
 * sees the answer.  Set to -1 at once, as it was, every other thread's
 * request in the setup's window (an F_DUPFD in ring_fd_up() waits for an
 * RCU grace period while other threads run: 20 ms measured) went to the
 * pool as if io_uring were off, and an O_APPEND write waiting behind it
 * ran by number there.
 */
static void setup_locked(void)
{
	const char *env;
	int ret, saved = errno;

	if (ur.state)
		return;
	if (kaio__cfg.backend == KAIO_BACKEND_THREADS ||
	    kaio__cfg.backend == KAIO_BACKEND_KERNEL || getenv("KAIO_NO_URING")) {
		ur.state = -1;
		return;
	}
	ret = io_uring_queue_init(UR_ENTRIES, &ring0.ring, 0);
	if (ret < 0) {
		ur.setup_err = -ret;
		ur.state = -1;
		errno = saved;
		return;
	}
	/*
	 * Before 5.11 (no IORING_FEAT_EXT_ARG) liburing times a wait out
	 * with a timeout request of its own: it takes a submission entry
	 * without the ring's lock, and its completion would reach
	 * reap_batch() as a request.  Not used there.
	 */
	if (!(ring0.ring.features & IORING_FEAT_EXT_ARG)) {
		io_uring_queue_exit(&ring0.ring);
		ur.setup_err = ENOSYS;
		ur.state = -1;
		errno = saved;
		return;
	}
	if (ring_fd_up(&ring0.ring)) {
		io_uring_queue_exit(&ring0.ring);
		ur.setup_err = EMFILE;
		ur.state = -1;
		errno = saved;
		return;
	}
	io_uring_ring_dontfork(&ring0.ring);
	fix_init(&ring0);
	env = getenv("KAIO_URING_RINGS");
	ur.trings_max = env && *env ? atoi(env) : UR_TRINGS;
	if (ur.trings_max < 0 || ur.trings_max > UR_TRINGS)
		ur.trings_max = UR_TRINGS;
	env = getenv("KAIO_URING_DEFER");
	ur.defer_min = env && *env ? atoi(env) : UR_DEFER_MIN;
	if (ur.defer_min > UR_ENTRIES)
		ur.defer_min = -1;
	ur.state = 1;
	errno = saved;
}

static int probe(void)
{
	int state = atomic_load(&ur.state);

	if (kaio_likely(state))		/* decided: no lock on the hot path */
		return state > 0 ? 0 : -ENOSYS;
	if (kaio__tls_depth > 1)	/* a handler, maybe in the setup */
		return -ENOSYS;
	pthread_mutex_lock(&ring0.lock);
	setup_locked();
	state = ur.state;
	pthread_mutex_unlock(&ring0.lock);
	return state > 0 ? 0 : -ENOSYS;
}

/*
 * The calling thread's own ring, made on its first request (one try per
 * owner slot); NULL: it uses ring0.  Called with no ring's lock held.
 */
static struct uring *thread_ring(struct owner *o)
{
	struct uring *u;
	int i, saved = errno;

	if (kaio_likely(o->ring != NULL) || o->tried)
		return o->ring;
	o->tried = 1;
	pthread_mutex_lock(&owner_lock);
	i = atomic_load(&ntrings);
	if (i >= ur.trings_max || !(u = calloc(1, sizeof(*u)))) {
		pthread_mutex_unlock(&owner_lock);
		return NULL;
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_init(&u->reaper.lock, NULL);
	pthread_cond_init(&u->reaper.rcond, NULL);
	u->reaper.slot = 2 + i;
	u->reaper.reap_batch = reap_batch;
	u->reaper.ready = ring_ready;
	if (io_uring_queue_init(UR_ENTRIES, &u->ring, 0) < 0) {
		pthread_mutex_unlock(&owner_lock);
		free(u);
		errno = saved;
		return NULL;
	}
	if (ring_fd_up(&u->ring)) {
		io_uring_queue_exit(&u->ring);
		pthread_mutex_unlock(&owner_lock);
		free(u);
		errno = saved;
		return NULL;
	}
	io_uring_ring_dontfork(&u->ring);
	fix_init(u);
	atomic_store(&trings[i], u);
	atomic_store(&ntrings, i + 1);
	pthread_mutex_unlock(&owner_lock);
	o->ring = u;
	errno = saved;
	return u;
}

/* Off u's in-flight list; returns the canceller waiting for it, if any. */
static struct kaio_cancel *unlist_locked(struct uring *u, struct kaio_req *req)
{
	struct kaio_cancel *cw = req->cw;

	kaio__q_del(&u->inflight.head, &u->inflight.tail, req);
	req->cw = NULL;
	return cw;
}

/*
 * req left io_uring having moved done more bytes (or none): the next
 * backend (the pool) does the rest.  If it refuses, req completes with
 * what it moved, or with fail if it moved nothing.  Returns 0 (req is no
 * longer ours).
 */
static int reroute(struct uring *u, struct kaio_req *req, size_t done,
		   long fail)
{
	struct kaio_cancel *cw;
	long res;

	kaio__handoff_begin();
	pthread_mutex_lock(&u->lock);
	cw = unlist_locked(u, req);
	pthread_mutex_unlock(&u->lock);
	req->done += done;
	if (kaio__backend_resubmit(req, &kaio__uring_backend) == 0) {
		if (cw)
			kaio__cancel_settle(cw, -EINPROGRESS);
		return 0;
	}
	res = req->done ? 0 : fail;
	kaio__served(req, KAIO_SERVED_URING, KAIO_STAT_URING);
	kaio__complete(req, res);
	kaio__handoff_end();
	kaio__req_free(req);
	if (cw)
		kaio__cancel_settle(cw, res);
	return 0;
}

/*
 * Complete req with res.  Returns 1 if it stays on the in-flight list, for
 * the caller to take off after the whole batch (then to free): aio_cancel()
 * must find a request there until its result is published, or it would
 * answer AIO_ALLDONE for a request whose aiocb is still to be written.
 */
static int complete_one(struct uring *u, struct kaio_req *req, long *resp)
{
	long res = *resp;

	/* Its slot, if it had one, was emptied with the batch's
	 * (unfix_batch_locked()). */
	/* The kernel is done with it: its submitter may exit, its
	 * personality goes. */
	if (req->owner) {
		owner_put(req->owner);
		req->owner = NULL;
	}
	if (req->personality > 0) {	/* only ring0's requests have one */
		io_uring_unregister_personality(&ring0.ring, req->personality);
		req->personality = 0;
	}
	if (res == -EINTR && atomic_load(&req->cancel_asked))
		res = -ECANCELED;	/* io-wq's worker interrupted by it */
	/*
	 * ECANCELED that no aio_cancel() counts on: io-wq could not start a
	 * worker for it (RLIMIT_NPROC) and dropped it, or it stopped one
	 * that aio_cancel() answered AIO_NOTCANCELED for (io-wq had it and
	 * was told to stop it: cancel(); 1-243 such writes in 3 s, an outside
	 * tester).  It never ran: the pool runs it to its end, as that
	 * answer says, or it fails with EAGAIN, as a refused submission
	 * would.
	 */
	if (res == -ECANCELED && atomic_load(&req->cancel_asked) != 1)
		return reroute(u, req, 0, -EAGAIN);
	if (res > 0 && !kaio__is_pathop(req->op) && req->op != KAIO_OP_POLL &&
	    (size_t)res < req->nbytes - req->done &&
	    (req->op == KAIO_OP_WRITE ||
	     (req->op == KAIO_OP_READ && !(req->flags & KAIO_RQ_NOSEEK)))) {
		/*
		 * A short read of a regular file, or a short write (a pipe
		 * takes what fits), where a blocking pread()/write() would
		 * have gone on: a worker does the rest (a read of 0 there is
		 * EOF).  A canceller waiting for it is told it runs on.
		 */
		return reroute(u, req, (size_t)res, 0);
	}
	kaio__served(req, KAIO_SERVED_URING, KAIO_STAT_URING);
	kaio__complete(req, res);
	*resp = res;
	return 1;
}

/*
 * An application thread's wait, where its signal handlers are deferred
 * (sigdefer.c): io_uring_enter() in kaio__park_call(), with no sigmask of
 * its own, the thread's being the caller's.  0 when completions are there
 * (or the wait ended without any: the caller looks again), else -errno.
 * Every ring has IORING_FEAT_EXT_ARG (see the setup).
 */
static int park_wait(struct uring *u, struct __kernel_timespec *tp)
{
	struct io_uring_getevents_arg arg = {
		.sigmask = 0,
		.sigmask_sz = _NSIG / 8,
		.ts = (uint64_t)(uintptr_t)tp,
	};
	long ret;

	/* aio_suspend() without a timeout waits a year at a time (suspend.c):
	 * no timer for that, one less to arm and cancel per wait. */
	if (tp && tp->tv_sec >= KAIO_WAIT_FOREVER_S)
		arg.ts = 0;
	if (io_uring_cq_ready(&u->ring))
		return 0;
	ret = kaio__park_call(&kaio__tls_sigdeferred, __NR_io_uring_enter,
			      u->ring.ring_fd, 0, 1,
			      IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
			      (long)&arg, sizeof(arg));
	return ret < 0 ? (int)ret : 0;
}

/*
 * u's thread may no longer enter its ring (u->refused): what its
 * submission queue still holds (reads and fsyncs left there to be entered
 * together, defer_ok()) would wait there for ever.  Take it back and hand
 * it on to the next backend, as a request io_uring stopped short
 * (reroute()).  By the holder of u's reaper's role: the requests are
 * counted in its ring until here.
 */
static void refused_back(struct uring *u)
{
	struct kaio_req *back = NULL, *r, *next;
	int n, urgent = 0;

	pthread_mutex_lock(&u->lock);
	n = io_uring_sq_ready(&u->ring) ? take_back_locked(u, &back) : 0;
	undefer_locked(u);
	pthread_mutex_unlock(&u->lock);
	for (r = back; r; r = next) {
		next = r->hnext;
		r->hnext = NULL;
		urgent += kaio__reaper_urgent(r);
		if (r->owner) {
			owner_put(r->owner);
			r->owner = NULL;
		}
		r->flags &= ~KAIO_RQ_EVFD;
		reroute(u, r, 0, -EAGAIN);
	}
	if (n)
		kaio__reaper_retire(&u->reaper, n, urgent);
}

/*
 * Wait for completions (rel NULL: forever) and complete a batch.  With
 * cancel, the wait runs in async cancellation mode: io_uring_wait_cqes()
 * only looks at the ring, so a thread cancelled there leaves every
 * completion in it.
 */
static long reap_batch(struct kaio_reaper *r, const struct timespec *rel,
		       int cancel, const sigset_t *sigmask)
{
	struct uring *u = ring_of(r);
	struct io_uring_cqe *cqe;
	struct kaio_req *batch[UR_BATCH];
	struct kaio_cancel *cw[UR_BATCH];
	struct __kernel_timespec ts, *tp = NULL;
	long res[UR_BATCH];
	unsigned head, n = 0, i;
	int ret, old = 0, keep[UR_BATCH], urgent = 0;

	if (rel) {
		ts.tv_sec = rel->tv_sec;
		ts.tv_nsec = rel->tv_nsec;
		tp = &ts;
		/* A caller's look after its own enter (no wait, no mask:
		 * kaio__reaper_poll_end()), nothing there: no system call
		 * either. */
		if (!ts.tv_sec && !ts.tv_nsec && !sigmask && !cancel &&
		    !io_uring_cq_ready(&u->ring) &&
		    !io_uring_cq_has_overflow(&u->ring) &&
		    !atomic_load(&u->deferred))
			return -ETIMEDOUT;
	}
	/* What a thread left in the submission queue (defer_ok()): the
	 * SQ is the submitters'.  Nothing else stays there once a
	 * submitter drops the lock (submit_on() takes back what the kernel
	 * would not consume). */
	if (atomic_load(&u->deferred)) {
		pthread_mutex_lock(&u->lock);
		flush_locked(u);
		pthread_mutex_unlock(&u->lock);
	}
	if (kaio_unlikely(atomic_load_explicit(&u->refused,
					       memory_order_relaxed)) &&
	    u != &ring0)
		refused_back(u);
	if (cancel)
		old = kaio__cancel_async_begin();
	if (sigmask == &kaio__park_mask)
		ret = park_wait(u, tp);
	else
		do
			ret = io_uring_wait_cqes(&u->ring, &cqe, 1, tp,
						 (sigset_t *)sigmask);
		while (ret == -EINTR && !tp);
	if (cancel)
		kaio__cancel_async_end(old);
	if (ret < 0)
		return ret == -ETIME ? -ETIMEDOUT : ret;
	io_uring_for_each_cqe(&u->ring, head, cqe) {
		batch[n] = io_uring_cqe_get_data(cqe);
		res[n] = cqe->res;
		if (++n == UR_BATCH)
			break;
	}
	io_uring_cq_advance(&u->ring, n);
	/*
	 * A completion can come while its submitter is still inside
	 * submit() (the kernel may finish it during the enter): let that
	 * finish first, so its bookkeeping (the reaper's counts) precedes
	 * the completion's (and its hint).
	 */
	pthread_mutex_lock(&u->lock);
	unfix_batch_locked(u, batch, n);
	pthread_mutex_unlock(&u->lock);
	kaio__defer_wake(1);
	for (i = 0; i < n; i++) {
		urgent += kaio__reaper_urgent(batch[i]);
		keep[i] = complete_one(u, batch[i], &res[i]);
	}
	kaio__defer_wake(0);	/* one wake-up for the whole batch */
	pthread_mutex_lock(&u->lock);
	for (i = 0; i < n; i++)
		if (keep[i])
			cw[i] = unlist_locked(u, batch[i]);
	pthread_mutex_unlock(&u->lock);
	for (i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		if (cw[i])	/* wakes its canceller (cancel.c) */
			kaio__cancel_settle(cw[i], res[i]);
		kaio__req_free(batch[i]);
	}
	/* Out of the count once every waiter was told: the batch's
	 * wake-up, and each canceller's (kaio__reaper_retire()). */
	kaio__reaper_retire(&u->reaper, (int)n, urgent);
	return (long)n;
}

/*
 * Completions wait in r's ring?  Read by a thread that may not hold the
 * role: the head with the release store's pair (io_uring_cq_advance()).
 */
static int ring_ready(struct kaio_reaper *r)
{
	struct io_uring *ring = &ring_of(r)->ring;
	unsigned tail = __atomic_load_n(ring->cq.ktail, __ATOMIC_ACQUIRE);
	unsigned head = __atomic_load_n(ring->cq.khead, __ATOMIC_ACQUIRE);

	return tail != head ||
	       (__atomic_load_n(ring->sq.kflags, __ATOMIC_RELAXED) &
		IORING_SQ_CQ_OVERFLOW) ||
	       atomic_load(&ring_of(r)->deferred);
}

/* The ring's eventfd is efd now (kaio__queue_link()); u->lock held. */
static int evfd_attach(struct kaio_reaper *r, int efd)
{
	struct uring *u = ring_of(r);

	if (u->evq && u->evok)
		io_uring_unregister_eventfd(&u->ring);
	u->evok = 0;
	if (io_uring_register_eventfd(&u->ring, efd))
		return -1;
	u->evok = 1;
	return 0;
}

/*
 * req, a SIGEV_KAIO request this thread enters into its ring u: may its
 * queue hear of it from u's eventfd?  u->lock held.  The first such
 * request links u to its queue (one register call), and u stays with
 * that queue while it lives; one that could not be linked is urgent, as
 * before (its reaper wakes and posts its event).
 */
static int evfd_to(struct uring *u, const struct kaio_req *req)
{
	const struct kaio_note *n = req->nt.note;

	if (!n || !n->q)
		return 0;
	if (u->evq == n->q && u->evqid == n->qid)
		return u->evok;
	if (!kaio__queue_link(n, &u->reaper, u->evq, u->evqid, evfd_attach)) {
		if (!u->evok && u->evq != n->q) {
			/* Not registered: not asked again for this queue. */
			u->evq = n->q;
			u->evqid = n->qid;
		}
		return 0;
	}
	u->evq = n->q;
	u->evqid = n->qid;
	return 1;
}

static void prep(struct uring *u, struct io_uring_sqe *sqe,
		 struct kaio_req *req)
{
	char *buf = (char *)req->buf + req->done;
	unsigned len = (unsigned)(req->nbytes - req->done);
	__u64 off = req->flags & KAIO_RQ_NOSEEK ? (__u64)-1
						: (__u64)(req->off + (off_t)req->done);

	switch (req->op) {
	case KAIO_OP_READ:
		io_uring_prep_read(sqe, req->fd, buf, len, off);
		break;
	case KAIO_OP_WRITE:
		io_uring_prep_write(sqe, req->fd, buf, len, off);
		break;
	case KAIO_OP_FSYNC:
	case KAIO_OP_FDSYNC:
		io_uring_prep_fsync(sqe, req->fd, req->op == KAIO_OP_FDSYNC ?
				    IORING_FSYNC_DATASYNC : 0);
		if (!req->uslot)
			fix_sqe(u, sqe, req);
		break;
	case KAIO_OP_OPENAT:
		io_uring_prep_openat(sqe, req->fd, req->path,
				     (int)(uint32_t)req->pflags,
				     (mode_t)((req->pflags >> 32) & 0xffff));
		break;
	case KAIO_OP_UNLINKAT:
		io_uring_prep_unlinkat(sqe, req->fd, req->path,
				       (int)req->pflags);
		break;
	case KAIO_OP_RENAMEAT:
		io_uring_prep_renameat(sqe, req->fd, req->path, req->dirfd2,
				       req->path2, (unsigned)req->pflags);
		break;
	case KAIO_OP_READAHEAD:
		io_uring_prep_fadvise(sqe, req->fd, req->off, (off_t)req->nbytes,
				      POSIX_FADV_WILLNEED);
		break;
	case KAIO_OP_POLL:
		io_uring_prep_poll_add(sqe, req->fd, (unsigned)req->nbytes);
		break;
	}
	/* Past the caller's copy budget: io-wq copies it, not the submitter,
	 * and looks the file up then too.  A stream's is not held: its read
	 * may wait without bound. */
	if (req->flags & KAIO_RQ_OFFLOAD) {
		sqe->flags |= IOSQE_ASYNC;
		if (!(req->flags & KAIO_RQ_NOSEEK) && !req->uslot)
			fix_sqe(u, sqe, req);
	}
	if ((req->flags & KAIO_RQ_HOLD) && req->uslot) {	/* ring0's */
		sqe->fd = req->uslot - 1;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	if (req->personality > 0)
		sqe->personality = (__u16)req->personality;
	io_uring_sqe_set_data(sqe, req);
}

/* u's queue is empty: nothing of it waits to be entered (u->lock held). */
static void undefer_locked(struct uring *u)
{
	if (atomic_load_explicit(&u->deferred, memory_order_relaxed)) {
		atomic_store(&u->deferred, 0);
		atomic_fetch_sub(&kaio__sq_deferring, 1);
	}
}

/* Send what u's submission queue holds; called with u->lock held. */
static void flush_locked(struct uring *u)
{
	int tries = 0, ret;

	fix_commit_locked(u);
	/* No fsync rides on these from now on: the kernel may start them. */
	while (u->nheld > 0)
		atomic_store(&u->held[--u->nheld]->fsopen, 0);
	while (io_uring_sq_ready(&u->ring) && tries++ < 16) {
		ret = io_uring_submit(&u->ring);
		if (ret == -EPERM || ret == -EACCES || ret == -ENOSYS) {
			atomic_store(&u->refused, 1);
			break;
		}
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			break;
	}
	if (!io_uring_sq_ready(&u->ring))
		undefer_locked(u);
}

/*
 * Deferred entry (O_DIRECT reads at depth).  Every read is one
 * io_uring_enter(), and on a virtual machine each enter rings the
 * device's doorbell, a VM exit that is most of an O_DIRECT read's cost:
 * fio's posixaio engine at iodepth 32 spent 5.7 us of 17.8 per read
 * there.  A program that keeps many reads in flight enters them one call
 * at a time, and comes back to the library to collect them.  So while 8
 * or more (KAIO_URING_DEFER) of a thread ring's reads are in flight, none
 * of them notified, a new O_DIRECT read without a notification or list
 * stays in the ring's submission queue, up to 16 entries, and the next
 * call of that thread into the library enters them together: one enter,
 * one plug, one doorbell.  The device is kept busy meanwhile by the reads
 * already in flight.  Whoever enters the ring first sends them too: any
 * submission, a reap (reap_batch()), aio_cancel(), the thread's exit
 * (owner_exit()), and a close(), dup2() or close_range() of any thread
 * (fdgen.c): io_uring looks a descriptor up only when the entry is
 * entered, and POSIX wants a read to complete as if the close had not
 * happened.  If nothing does, the ring's reaper does within 20 ms
 * (reap.c).  Not where close() is not seen first (kaio__fdgen_trusted()).
 *
 * Deferred fsync.  An fsync leading its fd's group (fdmap.c), without a
 * notification or list, stays there too, whatever is in flight: until
 * the ring is entered the kernel has not started it, so every fsync of
 * that fd whose writes are done rides on it, and a program that issues
 * them back to back (fio before 3.37 issues up to one per write at
 * iodepth 32) pays for one kernel fsync, not for that one and then one
 * more for all that came while it ran, each with its cache flush.  The
 * thread's aio_fsync() of that fd leaves it there (compat.c); any other
 * entry, or any of the above, enters it.
 */
static __thread struct uring *tls_deferred
	__attribute__((tls_model("initial-exec")));
__thread int kaio__tls_sq_deferred __attribute__((tls_model("initial-exec")));
__thread int kaio__tls_fs_held __attribute__((tls_model("initial-exec")));
__thread long long kaio__tls_fs_t0 __attribute__((tls_model("initial-exec")));
__thread struct kaio_req *kaio__tls_fs_leader
	__attribute__((tls_model("initial-exec")));
atomic_int kaio__sq_deferring;

static int defer_ok(struct uring *u, struct owner *o, struct kaio_req **reqs,
		    int n)
{
	struct kaio_req *r;
	int i, fs = u->nheld;

	if (u == &ring0 || !o || o->ring != u || ur.defer_min < 0 ||
	    atomic_load_explicit(&u->refused, memory_order_relaxed) ||
	    kaio__tls_depth > 1 || atomic_load(&u->reaper.urgent) ||
	    io_uring_sq_ready(&u->ring) > UR_DEFER_MAX ||
	    !kaio__fdgen_trusted())
		return 0;
	for (i = 0; i < n; i++) {
		r = reqs[i];
		if (r->list || (r->flags & (KAIO_RQ_EVFD | KAIO_RQ_OFFLOAD)) ||
		    r->personality > 0 ||
		    kaio__notifies(r->nt.notify, r->nt.signo))
			return 0;
		if (r == kaio__tls_fs_leader) {
			if (++fs > UR_HELD_MAX)
				return 0;
		} else if (r->op != KAIO_OP_READ ||
			   !(r->flags & KAIO_RQ_DIRECT) ||
			   atomic_load(&u->reaper.inflight_n) < ur.defer_min) {
			return 0;
		}
	}
	return 1;
}

/* The fsyncs of reqs[0..n) that stay in u (defer_ok()); u->lock held. */
static void hold_fsyncs(struct uring *u, struct kaio_req **reqs, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (reqs[i] != kaio__tls_fs_leader)
			continue;
		u->held[u->nheld++] = reqs[i]->f;
		reqs[i]->f->fsring = u;
		atomic_store(&reqs[i]->f->fsopen, 1);
		kaio__tls_fs_held = reqs[i]->fd + 1;
		kaio__tls_fs_t0 = kaio__now_ns();
		/* Not entered by a reaper woken now, but within its grace:
		 * the thread's next aio_fsync() is likely to come first. */
		kaio__reaper_app_returns(&u->reaper);
	}
}

/*
 * flush_locked(), from a call the program made outside the library
 * (aio_error(), close()...), where a signal handler may run.  In a window
 * (kaio-int.h): a handler waits until the lock is released and the count
 * is back, so one that leaves with siglongjmp() leaves neither behind (it
 * left u->lock held, and every later call of the thread, and the ring's
 * reaper, waited for it for ever).  Counted in kaio__tls_depth meanwhile,
 * for a handler installed behind sigdefer.c's back that the window does
 * not hold: its close() or aio_*() call, which would take u->lock again,
 * finds the library busy and leaves the rings alone.  All of it is
 * async-signal-safe.
 */
static void flush_ring(struct uring *u)
{
	struct kaio_window w;

	kaio__window_open(&w, 0);
	kaio__tls_depth++;
	pthread_mutex_lock(&u->lock);
	flush_locked(u);
	pthread_mutex_unlock(&u->lock);
	kaio__tls_depth--;
	kaio__window_close(&w);
}

/* Enter what this thread left in its ring (kaio__flush_deferred()). */
void kaio__uring_flush_mine(void)
{
	struct uring *u = tls_deferred;

	if (kaio__tls_depth)
		return;		/* a handler that interrupted the library */
	kaio__tls_sq_deferred = 0;
	kaio__tls_fs_held = 0;
	tls_deferred = NULL;
	if (u && atomic_load(&u->deferred))
		flush_ring(u);
}

/*
 * Enter ring, where a thread left an fsync that the caller's rides on
 * (fdmap.c), another thread's or one with a notification: it must not
 * wait for that thread's next call.  Only if fsyncs are all it holds:
 * an O_DIRECT read entered by another thread would run with that
 * thread's identity (the reaper enters them within its grace).  Its fd's
 * lock may be held (it comes before a ring's); not from a handler that
 * interrupted the library, which may hold the ring's.
 */
void kaio__uring_enter_ring(void *ring)
{
	struct uring *u = ring;

	if (kaio__tls_depth > 1 || !atomic_load(&u->deferred))
		return;
	pthread_mutex_lock(&u->lock);
	if (io_uring_sq_ready(&u->ring) <= (unsigned)u->nheld)
		flush_locked(u);
	pthread_mutex_unlock(&u->lock);
}

/*
 * Take lead, an fsync leader this thread left in its ring (hold_fsyncs()),
 * out of the submission queue, for the caller to run (suspend.c,
 * kaio__suspend_run_held()): only while the queue holds nothing else, and
 * only if the ring's role is free.  The caller takes it for the moment:
 * nobody sleeps in the ring for the leader then, and a waiter that comes
 * later finds it a stray.  Its fd's lock held (fdmap.c).  Returns 1 if
 * taken, else 0; *cw: a canceller waiting for it.
 *
 * The caller marked it run here (fdgen.c) before: a close() of the fd by
 * another thread enters every ring marked so first, under its lock
 * (kaio__uring_flush_all()), then waits for a leader run here, so the
 * fsync still syncs the file the request named, as the entry would have:
 * the entry names the file in the ring's table (fix_locked()).  Taken
 * back, it gives its slot back.
 */
int kaio__uring_take_held(void *ring, struct kaio_req *lead,
			  struct kaio_cancel **cw)
{
	struct uring *u = ring;
	struct io_uring_sq *sq = &u->ring.sq;
	struct io_uring_sqe *sqe;
	int took = 0;

	if (u != tls_deferred || !kaio__reaper_grab(&u->reaper))
		return 0;
	/*
	 * Not if another thread holds the lock: it enters the ring, and may
	 * be in a signal handler's close() of this fd meanwhile, which waits
	 * for the leader marked here (fdgen.c) to end.
	 */
	if (pthread_mutex_trylock(&u->lock)) {
		kaio__reaper_ungrab(&u->reaper);
		return 0;
	}
	if (u->nheld == 1 && u->held[0] == lead->f &&
	    io_uring_sq_ready(&u->ring) == 1) {
		sqe = &sq->sqes[(sq->sqe_tail - 1) & *sq->kring_mask];
		took = sqe->user_data == (uintptr_t)lead &&
		       take_back_last_locked(u, 1) == 1;
	}
	if (took) {
		u->nheld = 0;
		atomic_store(&lead->f->fsopen, 0);
		*cw = unlist_locked(u, lead);
		undefer_locked(u);
	}
	pthread_mutex_unlock(&u->lock);
	if (took) {
		/* Counted on the user side before it leaves the ring's
		 * count, a stray (backend.c). */
		kaio__backend_took_back(lead);
		kaio__reaper_retire(&u->reaper, 1, kaio__reaper_urgent(lead));
		owner_put(lead->owner);
		lead->owner = NULL;
	}
	kaio__reaper_ungrab(&u->reaper);
	return took;
}

/* Enter what every thread left in its ring: a descriptor is going. */
void kaio__uring_flush_all(void)
{
	struct uring *u;
	int i, n = atomic_load(&ntrings);

	/* Not from inside the library, which may hold a ring's lock. */
	if (kaio__tls_depth || kaio__tls_libthread)
		return;
	for (i = 0; i < n; i++) {
		u = atomic_load(&trings[i]);
		if (u && atomic_load(&u->deferred))
			flush_ring(u);
	}
}

/*
 * Take back the entries io_uring_enter() would not consume (it keeps
 * failing: no memory, a fault): without SQPOLL the kernel reads the
 * submission queue only inside io_uring_enter() with to_submit, and every
 * such call here runs under ring0.lock, so those entries are ours again.
 * Their requests go on *back (still on the in-flight list, where
 * aio_cancel() finds them), for requeue_back() once the lock is dropped;
 * returns how many.
 * Only the submitter thread takes back what it entered this way: it holds
 * no caller's lock, so it may complete what no backend takes (submit()
 * declines its own by its return value instead); on a thread's ring, only
 * the holder of its reaper's role (refused_back()).  Called with u->lock
 * held.
 */
static int take_back_locked(struct uring *u, struct kaio_req **back)
{
	struct io_uring_sq *sq = &u->ring.sq;
	unsigned head = io_uring_smp_load_acquire(sq->khead);
	unsigned tail = sq->sqe_tail, mask = *sq->kring_mask, i;
	struct io_uring_sqe *sqe;
	struct kaio_req *r;
	int n = 0;

	unfix_sq_locked(u, head);
	for (i = head; i != tail; i++) {
		sqe = &sq->sqes[sq->array[i & mask] & mask];
		r = (struct kaio_req *)(uintptr_t)sqe->user_data;
		if (!r)
			continue;
		r->hnext = *back;
		*back = r;
		n++;
	}
	sq->sqe_head = sq->sqe_tail = head;
	io_uring_smp_store_release(sq->ktail, head);
	return n;
}

/* Requests io_uring never took: on to the next backend, or EAGAIN (in
 * the submitter thread, holding no lock). */
static void requeue_back(struct kaio_req *r)
{
	struct kaio_req *next;

	for (; r; r = next) {
		next = r->hnext;
		r->hnext = NULL;
		if (r->owner) {
			owner_put(r->owner);
			r->owner = NULL;
		}
		if (r->personality > 0)
			personality_put(r);
		/* Never the reaper's (submitter()): not counted there. */
		reroute(&ring0, r, 0, -EAGAIN);
	}
}

/*
 * Register the calling thread's identity as req's personality: its
 * submitter does, for a request another thread will hand on.  0 or -errno.
 */
static int personality_get(struct kaio_req *req)
{
	int id;

	if (probe())
		return -ENOSYS;
	id = io_uring_register_personality(&ring0.ring);
	if (id <= 0)
		return id < 0 ? id : -EINVAL;
	req->personality = id;
	return 0;
}

/* req is freed with a personality no completion took back. */
static void personality_put(struct kaio_req *req)
{
	if (req->personality <= 0)
		return;
	if (atomic_load(&ur.state) > 0)
		io_uring_unregister_personality(&ring0.ring, req->personality);
	req->personality = 0;
}

/*
 * The submitter thread: enters the requests that may wait without bound,
 * so that they belong to a task that lives as long as the process.  It
 * blocks every signal; io_uring's task work for its requests (a pipe
 * read retried when data comes) interrupts its sleep.
 */
static void *submitter(void *arg)
{
	struct kaio_req *r, *next, *cancel, *back, *sent[UR_ENTRIES];
	struct io_uring_sqe *sqe;
	struct timespec dl;
	int nsent, in, urgent, i;

	(void)arg;
	kaio__tls_libthread = 1;
	for (;;) {
		while (!atomic_exchange(&ur.ho_word, 0))
			sys_futex_wait(&ur.ho_word, 0, NULL);
		for (;;) {
			cancel = NULL;
			nsent = 0;
			pthread_mutex_lock(&ring0.lock);
			for (r = ur.ho_head; r && nsent < UR_ENTRIES; r = next) {
				next = r->hnext;
				sqe = io_uring_get_sqe(&ring0.ring);
				if (!sqe) {
					flush_locked(&ring0);
					sqe = io_uring_get_sqe(&ring0.ring);
				}
				if (!sqe)
					break;	/* the ring is full: soon */
				prep(&ring0, sqe, r);
				sent[nsent++] = r;
				r->hnext = NULL;
				if (atomic_load(&r->cancel_asked)) {
					r->hnext = cancel;
					cancel = r;
				}
			}
			ur.ho_head = r;
			if (!r)
				ur.ho_tail = NULL;
			flush_locked(&ring0);
			/* An aio_cancel() came first: it waits on a ticket. */
			for (r = cancel; r; r = next) {
				next = r->hnext;
				r->hnext = NULL;
				cancel_one(&ring0, r);
			}
			back = NULL;
			in = nsent;
			if (io_uring_sq_ready(&ring0.ring))
				in -= take_back_locked(&ring0, &back);
			/*
			 * The kernel consumed sent[0..in) (in order): only now
			 * are they the reaper's (kaio__user_pending counted
			 * them till here, so no thread waited for them in the
			 * ring, which would not have woken it for one taken
			 * back).
			 */
			for (i = 0, urgent = 0; i < in; i++) {
				/* No hint: this thread is not the
				 * submitter's call (kaio-int.h). */
				sent[i]->flags |= KAIO_RQ_INKERNEL;
				sent[i]->flags &= ~KAIO_RQ_EVFD;
				urgent += kaio__reaper_urgent(sent[i]);
			}
			if (in)
				kaio__reaper_submitted(&ring0.reaper, in,
						       urgent);
			for (i = 0; i < in; i++)
				kaio__reaper_took(sent[i]);
			r = ur.ho_head;
			pthread_mutex_unlock(&ring0.lock);
			requeue_back(back);
			if (!r)
				break;
			deadline_in(&dl, 1000000);	/* 1 ms */
			sys_futex_wait(&ur.ho_word, 0, &dl);
		}
	}
	return NULL;
}

/* Start the submitter thread; called with ring0.lock held. */
static int submitter_start_locked(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t old;
	int ret;

	if (ur.ho_started)
		return 0;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 128 * 1024);
	kaio__block_signals(&old);
	ret = pthread_create(&t, &attr, submitter, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret)
		return -ret;
	ur.ho_started = 1;
	return 0;
}

/*
 * The last k entries of u's submission queue are this call's: give back
 * those the kernel did not consume (io_uring_enter() kept failing: no
 * memory, a fault).  Without SQPOLL the kernel reads the submission queue
 * only inside io_uring_enter() with to_submit, and every such call here
 * runs under u->lock, so those entries are ours again.  An earlier entry
 * is not this call's and stays for the next enter.  Returns how many of
 * the k were given back: always the last ones (the kernel consumes in
 * order).  Called with u->lock held.
 */
static int take_back_last_locked(struct uring *u, int k)
{
	struct io_uring_sq *sq = &u->ring.sq;
	unsigned head = io_uring_smp_load_acquire(sq->khead);
	unsigned tail = sq->sqe_tail, left = tail - head;

	if (left > (unsigned)k)
		left = (unsigned)k;
	tail -= left;
	unfix_sq_locked(u, tail);
	sq->sqe_head = sq->sqe_tail = tail;
	io_uring_smp_store_release(sq->ktail, tail);
	return (int)left;
}

/*
 * Submit reqs[0..n) on u, in the thread that submitted them (backend.c),
 * with one io_uring_enter() for those this thread enters.  Takes a prefix
 * (backend.h): up to the first request it cannot take now (over the
 * kernel's size cap, no submitter thread or personality, a full ring) or
 * the first the kernel did not consume (io_uring_enter() kept failing).
 * The rest are declined as they came: taken back out of the submission
 * queue, their owner count and any personality registered here given
 * back, on no list.  A request for the submitter thread (only on ring0)
 * joins its queue only once it is known to be in the prefix, and is the
 * reaper's only once that thread has entered it (submitter()).  Completes
 * nothing: returns the prefix's length, or -errno if it is empty.  A
 * request in the submission queue is the ring's: if the kernel could not
 * take it at once (-EBUSY while the completion queue overflows), the next
 * enter, or the reaper's, sends it.  Bit i of unb: reqs[i] may wait
 * without bound (unbounded()), so on ring0 the submitter thread enters it.
 */
static int submit_on(struct uring *u, struct kaio_req **reqs, int n,
		     struct owner *o, uint64_t unb)
{
	struct io_uring_sqe *sqe;
	struct kaio_req *r;
	uint64_t handed = 0, mine = 0;	/* by index: submitter's, registered */
	int i, j, m, direct = 0, back, urgent = 0, in = 0;

	pthread_mutex_lock(&u->lock);
	if (u == &ring0)
		setup_locked();
	if (ur.state <= 0 || kaio__reaper_start(&u->reaper)) {
		pthread_mutex_unlock(&u->lock);
		return -ENOSYS;
	}
	for (i = 0; i < n; i++) {
		r = reqs[i];
		if (r->nbytes - r->done > KAIO_RW_MAX)
			break;	/* over the kernel's cap: to the pool */
		if (u == &ring0 && (unb >> i & 1)) {
			if (submitter_start_locked())
				break;
			/* Its identity, for the thread that enters it (one
			 * released from its fd's queue has it already). */
			if (r->op != KAIO_OP_POLL && r->personality <= 0) {
				r->personality =
					io_uring_register_personality(
						&ring0.ring);
				if (r->personality <= 0) {
					r->personality = 0;
					break;
				}
				mine |= 1ull << i;
			}
			handed |= 1ull << i;
			r->flags &= ~KAIO_RQ_EVFD;
		} else {
			if (!o)
				break;
			sqe = io_uring_get_sqe(&u->ring);
			if (!sqe)
				break;
			/* Before the enter, which may complete it. */
			if (u != &ring0 && r->nt.notify == SIGEV_KAIO &&
			    evfd_to(u, r))
				r->flags |= KAIO_RQ_EVFD;
			else
				r->flags &= ~KAIO_RQ_EVFD;
			prep(u, sqe, r);
			r->owner = o;
			atomic_fetch_add(&o->n, 1);
			direct++;
		}
	}
	m = i;
	fix_commit_locked(u);
	if (direct && m == direct && defer_ok(u, o, reqs, m)) {
		hold_fsyncs(u, reqs, m);
		if (!atomic_load_explicit(&u->deferred, memory_order_relaxed)) {
			atomic_store(&u->deferred, 1);
			atomic_fetch_add(&kaio__sq_deferring, 1);
		}
		tls_deferred = u;
		kaio__tls_sq_deferred = 1;
	} else if (direct) {
		flush_locked(u);
		back = io_uring_sq_ready(&u->ring) ?
		       take_back_last_locked(u, direct) : 0;
		/* The prefix ends at the first of them. */
		for (j = m - 1; back > 0; j--) {
			if (handed & (1ull << j))
				continue;
			r = reqs[j];
			owner_put(r->owner);
			r->owner = NULL;
			back--;
			m = j;
		}
	}
	for (j = m; j < i; j++) {
		reqs[j]->flags &= ~KAIO_RQ_EVFD;	/* not this ring's */
		if (mine & (1ull << j)) {
			io_uring_unregister_personality(&ring0.ring,
							reqs[j]->personality);
			reqs[j]->personality = 0;
		}
	}
	for (j = 0; j < m; j++) {
		r = reqs[j];
		if (handed & (1ull << j)) {
			r->hnext = NULL;
			if (ur.ho_tail)
				ur.ho_tail->hnext = r;
			else
				ur.ho_head = r;
			ur.ho_tail = r;
		}
		kaio__q_push(&u->inflight.head, &u->inflight.tail, r);
		kaio__debug_route(r, KAIO_SERVED_URING);
		if (handed & (1ull << j))
			continue;	/* the reaper's once entered */
		r->flags |= KAIO_RQ_INKERNEL;
		/* Before u's reaper can complete it: it takes u->lock.  Not
		 * in a call that released it from its fd's queue. */
		if (!(r->flags & KAIO_RQ_QUEUED))
			kaio__cb_hint_set(r->cb, &u->reaper);
		urgent += kaio__reaper_urgent(r);
		in++;
	}
	if (in)
		kaio__reaper_submitted(&u->reaper, in, urgent);
	for (j = 0; j < m; j++)
		if (!(handed & (1ull << j)))
			kaio__reaper_took(reqs[j]);
	pthread_mutex_unlock(&u->lock);
	if ((handed & (m >= 64 ? ~0ull : (1ull << m) - 1)) &&
	    !atomic_exchange(&ur.ho_word, 1))
		sys_futex_wake(&ur.ho_word, 1);
	return m ? m : -EAGAIN;
}

/* May req go to the calling thread's own ring?  Not with a personality
 * or a file slot of ring0's, nor if unbounded(). */
static int ours(const struct kaio_req *req, int unb)
{
	return req->personality <= 0 && !(req->flags & KAIO_RQ_HOLD) &&
	       !unb;
}

/*
 * Submit reqs[0..n) (see submit_on()): what this thread enters itself
 * goes to its own ring if it has one; what the submitter thread enters,
 * or what comes with a personality, to ring0.  Runs of each go in turn;
 * a run taken only in part ends the prefix.
 */
static int submit(struct kaio_req **reqs, int n)
{
	struct owner *o;
	struct uring *t;
	uint64_t unb = 0;	/* by index: unbounded() */
	int i, j, m, own;

	if (n > 64)
		n = 64;		/* the masks' width: a prefix is allowed */
	if (probe())
		return -ENOSYS;
	for (i = 0; i < n; i++)
		if (unbounded(reqs[i]))
			unb |= 1ull << i;
	o = owner_get();
	if (kaio_unlikely(kaio__tls_libthread))
		t = kaio__tls_reaping && kaio__tls_reaping->reap_batch ==
		    reap_batch ? ring_of(kaio__tls_reaping) : NULL;
	else
		t = o && ur.trings_max ? thread_ring(o) : NULL;
	if (!t || t == &ring0)
		return submit_on(&ring0, reqs, n, o, unb);
	for (i = 0; i < n; i = j) {
		own = ours(reqs[i], unb >> i & 1);
		for (j = i + 1; j < n; j++)
			if (ours(reqs[j], unb >> j & 1) != own)
				break;
		m = submit_on(own ? t : &ring0, reqs + i, j - i, o, unb >> i);
		if (m == -ENOSYS && own)	/* no reaper thread for t */
			m = submit_on(&ring0, reqs + i, j - i, o, unb >> i);
		if (m < 0)
			return i ? i : m;
		if (m < j - i)
			return i + m;
	}
	return n;
}

/*
 * Ask io_uring to cancel req, without waiting for a running request: 0
 * (cancelled, or it finished meanwhile), -ENOENT (not found: finished, its
 * completion not yet reaped), -EALREADY or -ETIME (it runs in io-wq, which
 * was told to stop it), or another error (no synchronous cancel here).
 * Called with u->lock held.
 */
static int cancel_one(struct uring *u, struct kaio_req *req)
{
	struct io_uring_sync_cancel_reg reg;

	memset(&reg, 0, sizeof(reg));
	reg.addr = (__u64)(uintptr_t)req;
	reg.fd = -1;
	reg.timeout.tv_sec = 0;		/* do not wait for what runs */
	reg.timeout.tv_nsec = 0;
	atomic_store(&req->cancel_asked, 1);
	return io_uring_register_sync_cancel(&u->ring, &reg);
}

/*
 * r is left to run: aio_cancel() answers AIO_NOTCANCELED.  If io-wq stops
 * it all the same, before it began (ECANCELED), it runs elsewhere, as that
 * answer says (complete_one()), with its submitter's identity if that
 * thread is the one cancelling (kaio__creds_keep()): its completion takes u->lock before it
 * looks (reap_batch()), and u->lock is held here.
 */
static void runs_on(struct kaio_req *r, struct kaio_cancel *t)
{
	kaio__creds_keep(r);	/* the pool may run it from another thread */
	atomic_store(&r->cancel_asked, 2);
	atomic_store(&t->running, 1);
}

/* Each ring in turn: ring0, then the thread rings (never freed). */
static struct uring *ring_at(int i)
{
	if (i == 0)
		return &ring0;
	if (i > atomic_load(&ntrings))
		return NULL;
	return atomic_load(&trings[i - 1]);
}

/*
 * Cancel the matching requests in flight.  One that was cancelled, or that
 * the kernel finished (its completion not reaped yet), goes on the ticket
 * t: its completion settles it, by the result it really had.  So does one
 * io-wq runs, if it ends within aio_cancel()'s first wait (cancel.c);
 * else it runs on, and sets t->running.  A ring's lock is held only for
 * its scan, never across a wait, so submitters do not stall.
 */
static void cancel(int fd, struct aiocb *cb, struct kaio_cancel *t,
		   struct kaio_req **out, int *n)
{
	struct kaio_req *r;
	struct uring *u;
	int i, ret;

	(void)out;
	(void)n;
	if (atomic_load(&ur.state) <= 0)
		return;
	for (i = 0; (u = ring_at(i)); i++) {
		pthread_mutex_lock(&u->lock);
		flush_locked(u);	/* the kernel knows every request */
		for (r = u->inflight.head; r; r = r->next) {
			if (!kaio__cancel_may(r, fd, cb, t))
				continue;
			if (r->cw) {	/* another aio_cancel() waits for it */
				atomic_store(&t->running, 1);
				continue;
			}
			ret = cancel_one(u, r);
			if (ret == 0 || ret == -ENOENT || ret == -ETIME ||
			    ret == -EALREADY) {
				/* Settled by the result it ends with.  One in
				 * io-wq, told to stop (-ETIME, -EALREADY), may
				 * yet not run at all (ECANCELED) or run: its
				 * result tells, if it comes soon
				 * (cancel_retry()). */
				r->cw = t;
				atomic_fetch_add(&t->pending, 1);
			} else {
				runs_on(r, t);
			}
		}
		pthread_mutex_unlock(&u->lock);
	}
}

/*
 * The ticket still waits: ask again for each of its requests.  One the
 * kernel did not find may have been between a wake-up and its next wait;
 * one found running is left to run (AIO_NOTCANCELED).
 */
static void cancel_retry(struct kaio_cancel *t)
{
	struct kaio_req *r;
	struct uring *u;
	int i, ret;

	if (atomic_load(&ur.state) <= 0)
		return;
	for (i = 0; (u = ring_at(i)); i++) {
		pthread_mutex_lock(&u->lock);
		flush_locked(u);
		for (r = u->inflight.head; r; r = r->next) {
			if (r->cw != t)
				continue;
			ret = cancel_one(u, r);
			if (ret != 0 && ret != -ENOENT) {
				r->cw = NULL;
				runs_on(r, t);
				kaio__cancel_settle(t, -EINPROGRESS);
			}
		}
		pthread_mutex_unlock(&u->lock);
	}
}

/*
 * A batch of file reads from this thread goes to its own ring (submit()),
 * made now if need be; io_uring's enter completes those the page cache
 * holds, so the caller may reap them at once.
 */
static int own_ring(struct kaio_reaper **r)
{
	struct owner *o;
	struct uring *t;

	if (probe() || !ur.trings_max || kaio__tls_libthread ||
	    !(o = owner_get()) || !(t = thread_ring(o)) ||
	    kaio__reaper_start(&t->reaper))
		return 0;
	*r = &t->reaper;
	return 1;
}

static const char *mode(void)
{
	if (ur.state == 0)
		return "unused";
	if (ur.state < 0)
		return ur.setup_err == EPERM || ur.setup_err == EACCES
			? "refused" : "off";
	return "on";
}

/*
 * May io_uring run req?  Not at offset -1 (io_uring reads it as "the file
 * position": the pool fails a negative offset with EINVAL, as pread does),
 * nor one only a system call answers right (KAIO_RQ_SYSCALL), and only if
 * the ring is there.
 */
static int can_run(const struct kaio_req *req)
{
	if (req->flags & KAIO_RQ_SYSCALL)
		return 0;
	if (!(req->flags & KAIO_RQ_NOSEEK) && req->off < 0 &&
	    (req->op == KAIO_OP_READ || req->op == KAIO_OP_WRITE))
		return 0;
	return probe() == 0;
}

/*
 * Take req?  Another thread than its submitter hands it on only with the
 * personality its submitter registered (defer()), but for an fsync, which
 * no permission check concerns.
 */
static int wants(struct kaio_req *req)
{
	if (!kaio__own_thread(req) && req->op != KAIO_OP_FSYNC &&
	    req->op != KAIO_OP_FDSYNC && req->personality <= 0)
		return 0;
	return can_run(req);
}

/* req will be handed on by another thread: its submitter's identity, as a
 * personality (without one, wants() declines it, for the pool). */
static void defer(struct kaio_req *req)
{
	if (req->op != KAIO_OP_FSYNC && req->op != KAIO_OP_FDSYNC &&
	    can_run(req))
		personality_get(req);	/* 0 or -errno: the pool */
}

/*
 * req, an fsync waiting in its fd's queue for earlier writes or for the
 * fsync of the number that runs, or an O_APPEND write waiting for its
 * turn, is about to lose its number (fdgen.c calls this before close(),
 * dup2() and their kin, with the fd's lock held): its file goes into a
 * slot of ring0's table now, and req goes to ring0 when its turn comes,
 * naming the slot (prep()), so that it runs on that file, as if the close
 * had not happened.  The slot is emptied when its completion is handled,
 * when it is taken back, or when req is freed without having reached a
 * ring (release()).  No free slot: req stays with its number, as before.
 */
static int hold_file(struct kaio_req *req)
{
	int slot;

	/* wants() said yes first (kaio__backend_hold_file()). */
	if (req->uslot || kaio__is_pathop(req->op) ||
	    req->op == KAIO_OP_POLL || (req->flags & KAIO_RQ_NOSEEK))
		return 0;
	pthread_mutex_lock(&ring0.lock);
	slot = fix_locked(&ring0, req->fd);
	pthread_mutex_unlock(&ring0.lock);
	if (slot < 0)
		return 0;
	req->uslot = slot + 1;
	req->flags |= KAIO_RQ_HOLD;
	return 1;
}

/* Is ring0's descriptor, whose table hold_file() fills, among first to
 * last (a close_range() or closefrom() that would close it)? */
static int holds_in(int first, int last)
{
	int fd;

	if (atomic_load(&ur.state) <= 0)
		return 0;
	fd = ring0.ring.ring_fd;
	return fd >= first && fd <= last;
}

/* req is freed: its personality, and a slot hold_file() took that no ring
 * emptied. */
static void release(struct kaio_req *req)
{
	personality_put(req);
	if (kaio_unlikely(req->uslot) && (req->flags & KAIO_RQ_HOLD)) {
		pthread_mutex_lock(&ring0.lock);
		unfix_locked(&ring0, req);
		pthread_mutex_unlock(&ring0.lock);
	}
}

static void fork_child(void)
{
	struct owner *o;
	struct uring *u;
	int i;

	/* The parent's rings are not mapped here (MADV_DONTFORK), nor its
	 * submitter and reaper threads; this thread is a new one, with
	 * nothing in it.  The thread rings' memory is left behind; their
	 * descriptors are closed, or every generation of children would
	 * hold its ancestors' rings.  What the parent left in its queues
	 * stays there: first, so that these close() calls (fdgen.c) do not
	 * go looking in unmapped rings. */
	tls_deferred = NULL;
	kaio__tls_sq_deferred = 0;
	kaio__tls_fs_held = 0;
	atomic_store(&kaio__sq_deferring, 0);
	if (ur.state > 0)
		close(ring0.ring.ring_fd);
	memset(&ur, 0, sizeof(ur));
	for (i = atomic_load(&ntrings); i > 0; i--) {
		u = atomic_load(&trings[i - 1]);
		close(u->ring.ring_fd);
		kaio__reaper_reset(&u->reaper);
		atomic_store(&trings[i - 1], NULL);
	}
	atomic_store(&ntrings, 0);
	if (pre.state > 0)
		close(pre.ring.ring_fd);
	memset(&pre.ring, 0, sizeof(pre.ring));
	pre.state = 0;
	pthread_mutex_init(&pre.lock, NULL);
	memset(&ring0.ring, 0, sizeof(ring0.ring));
	memset(&ring0.inflight, 0, sizeof(ring0.inflight));
	/* What a parent thread had under way in ring0 stays behind with
	 * it: slots still to fill (a fork while another thread was in
	 * fix_commit_locked(): the child's first batch filled its new
	 * slots after them, and wrote below the array), fsyncs left in the
	 * submission queue, the eventfd of the parent's ring. */
	ring0.nfixq = 0;
	ring0.nheld = 0;
	atomic_store(&ring0.deferred, 0);
	ring0.evq = NULL;
	ring0.evqid = 0;
	ring0.evok = 0;
	ring0.nfix = 0;
	ring0.fixmap = ~0ull;
	pthread_mutex_init(&ring0.lock, NULL);
	kaio__reaper_reset(&ring0.reaper);
	for (o = owner_free; o; o = o->next) {
		o->ring = NULL;
		o->tried = 0;
	}
	/* This thread's owner goes back as new: its io-wq is new too
	 * (iowq_prestart()), and its first request takes it again. */
	if (tls_owner) {
		o = tls_owner;
		atomic_store(&o->n, 0);
		o->ring = NULL;
		o->tried = 0;
		o->next = owner_free;
		owner_free = o;
		tls_owner = NULL;
		pthread_setspecific(owner_key, NULL);
	}
	pthread_mutex_init(&owner_lock, NULL);
}

const struct kaio_backend kaio__uring_backend = {
	.name = "io_uring",
	.probe = probe,
	.wants = wants,
	.submit = submit,
	.defer = defer,
	.hold_file = hold_file,
	.holds_in = holds_in,
	.release = release,
	.cancel = cancel,
	.cancel_retry = cancel_retry,
	.fork_child = fork_child,
	.mode = mode,
	.own_ring = own_ring,
};
