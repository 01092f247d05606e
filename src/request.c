/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * request.c - submission, the caller-side fast path, and the one completion
 * path every backend uses.
 *
 * Life of a request:
 *   kaio__submit() validates synchronously (EINVAL, EBADF, EAGAIN), marks
 *   the aiocb in progress and then either completes it in the caller (a
 *   read or write that RWF_NOWAIT serves in full, or a buffered write the
 *   filesystem takes without blocking, try_write()) or builds a kaio_req and
 *   hands it to kaio__fd_dispatch(), which orders it against the fd's
 *   other requests and queues it on a backend.  Whoever runs it calls
 *   kaio__complete() exactly once, with the result or -ECANCELED.
 *
 * kaio__complete() does, in this order: __return_value, then a release
 * store of __error_code (after which the aiocb is never touched again);
 * the fd's ordering bookkeeping (which may start an fsync that waited for
 * this write); the request's notification; the wake-up of aio_suspend()
 * waiters; the list's reference (its notification comes last).
 *
 * Lock order: free_lock (the shared list of recycled requests) is
 * innermost; nothing else is taken under it.  Whatever lock a completion
 * takes, it takes after the result is published, and the caller of
 * kaio__complete() holds no backend lock.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdtable.h"
#include "sys.h"

#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC	0x19800202	/* fs/mqueue.c; not in linux/magic.h */
#endif

__thread int kaio__tls_nocomplete __attribute__((tls_model("initial-exec")));

/* An internal rule was broken: say which, and stop (tests see a crash). */
void kaio__bug(const char *what)
{
	static const char head[] = "libkaio_posix: internal error: ";
	ssize_t r;

	r = write(2, head, sizeof(head) - 1);
	r = write(2, what, strlen(what));
	r = write(2, "\n", 1);
	(void)r;
	abort();
}

int kaio__fail(int err)
{
	errno = err;
	return -1;
}

int kaio__sigevent_check(const struct sigevent *sev)
{
	switch (sev->sigev_notify) {
	case SIGEV_NONE:
		return 0;
	case SIGEV_SIGNAL:
	case SIGEV_THREAD_ID:
		if (sev->sigev_signo < 0 || sev->sigev_signo > SIGRTMAX)
			return -EINVAL;
		return 0;
	case SIGEV_THREAD:	/* -EAGAIN: no record or no notifier */
		if (!sev->sigev_notify_function)
			return -EINVAL;
		return kaio__notify_reserve(sev);
	case SIGEV_KAIO:
		if (!kaio__queue_valid(sev->sigev_signo))
			return -EINVAL;
		return kaio__notify_reserve(sev);
	default:
		return -EINVAL;
	}
}

void kaio__sigevent_copy(struct kaio_notify *nt, const struct sigevent *sev)
{
	nt->notify = sev->sigev_notify;
	nt->signo = sev->sigev_signo;
	nt->value = sev->sigev_value;
	nt->fn = sev->sigev_notify_function;
	nt->attr = sev->sigev_notify_attributes;
	nt->tid = sev->_sigev_un._tid;
	nt->queue = sev->sigev_signo;
	if (nt->notify == SIGEV_THREAD_ID || nt->notify == SIGEV_KAIO)
		nt->fn = NULL, nt->attr = NULL;
	kaio__notify_bind(nt);	/* takes the record reserved by the check */
}

/* Publish a result in the aiocb: the last store that touches it. */
static void store_result(struct aiocb *cb, ssize_t res)
{
	cb->__return_value = res < 0 ? -1 : res;
	atomic_store_explicit((atomic_int *)&cb->__error_code,
			      res < 0 ? (int)-res : 0, memory_order_release);
}

/*
 * Set while a thread completes a batch (the kernel reaper): the sleepers
 * are woken once, at the end, by kaio__wake_waiters().
 */
static __thread int defer_wake __attribute__((tls_model("initial-exec")));

void kaio__wake_waiters(void)
{
	/*
	 * Against the sleeper's count-then-look (suspend.c): the sequence
	 * moves before kaio__waiters_now()'s fence, so either a sleeper is
	 * counted here or its futex sees the new sequence.
	 */
	atomic_fetch_add(&kaio__done_seq, 1);
	if (kaio__waiters_now())
		sys_futex_wake(&kaio__done_seq, INT32_MAX);
}

void kaio__defer_wake(int on)
{
	defer_wake = on;
	if (!on)
		kaio__wake_waiters();
}

/* Wake aio_suspend() and lio_listio(LIO_WAIT) sleepers, if there are any. */
static void wake_waiters(void)
{
	if (!defer_wake)
		kaio__wake_waiters();
}

/*
 * Drop a reference to a list.  The last one sends a LIO_NOWAIT list's
 * notification and frees it.  Nothing touches the list after its own
 * decrement, so a LIO_WAIT submitter may free it once only its own
 * reference is left.
 */
void kaio__list_put(struct kaio_list *list)
{
	struct kaio_notify nt;
	int wait = list->wait, old;

	old = atomic_fetch_sub(&list->refs, 1);
	if (old == 2 && wait)
		wake_waiters();		/* only the LIO_WAIT submitter is left */
	if (old != 1)
		return;
	nt = list->nt;
	free(list);
	if (!wait)
		kaio__notify(&nt, NULL, 0);
}

/* The result, in the aiocb and the list; the aiocb is not touched after. */
static void publish(struct aiocb *cb, struct kaio_list *list, ssize_t res)
{
	if (list && res < 0)
		atomic_fetch_add(&list->failed, 1);
	store_result(cb, res);
}

/* Tell whoever waits: the list, aio_suspend() sleepers, the sigevent. */
/*
 * The request's own notification goes out before its list's reference is
 * dropped: a list's notification follows every notification of its
 * requests, as in glibc.
 */
/*
 * Requests between publishing their result and queuing their signal.  As
 * in glibc (whose aio_suspend() reads results under the lock its worker
 * holds while it signals), a waiter that finds its request done returns
 * only once that request's signal is queued (suspend.c).
 */
atomic_int kaio__signalling;

/*
 * How many of kaio__signalling are this thread's own.  A signal this
 * thread queues may be delivered to it at once, on the way out of the
 * system call: a handler that then calls aio_suspend() must not wait for
 * its own thread's signal to be counted out (suspend.c), it never would.
 * Counted in before kaio__signalling and out after it, so a handler never
 * finds more of its thread's own in kaio__signalling than here.
 */
extern __thread int kaio__tls_signalling
	__attribute__((tls_model("initial-exec"))) KAIO_HIDDEN;
__thread int kaio__tls_signalling __attribute__((tls_model("initial-exec")));

static int signals(const struct kaio_notify *nt, int quiet)
{
	return !quiet && nt->signo > 0 &&
	       (nt->notify == SIGEV_SIGNAL || nt->notify == SIGEV_THREAD_ID);
}

static void signalling_begin(void)
{
	kaio__tls_signalling++;
	atomic_signal_fence(memory_order_seq_cst);
	atomic_fetch_add(&kaio__signalling, 1);
}

static void signalling_end(void)
{
	atomic_fetch_sub(&kaio__signalling, 1);
	atomic_signal_fence(memory_order_seq_cst);
	kaio__tls_signalling--;
}

static void announce(struct aiocb *cb, const struct kaio_notify *nt,
		     struct kaio_list *list, int quiet, ssize_t res, int wake)
{
	/* The signal is queued before aio_suspend() can return, as in
	 * glibc: a program that waits, then looks at what its handler
	 * recorded, finds the request there. */
	if (!quiet)
		kaio__notify(nt, cb, res);
	else
		kaio__notify_release(nt);
	if (signals(nt, quiet))
		signalling_end();
	if (wake > 0 || (wake < 0 && kaio__suspending_now()))
		wake_waiters();
	if (list)
		kaio__list_put(list);
}

/*
 * wake: 1, or -1 for a request completed in the caller, which only a
 * thread inside aio_suspend() can be waiting for (kaio-int.h): looked at
 * after the result is out.
 */
static void finish(struct aiocb *cb, const struct kaio_notify *nt,
		   struct kaio_list *list, int quiet, ssize_t res, int wake)
{
	if (signals(nt, quiet))
		signalling_begin();
	publish(cb, list, res);
	announce(cb, nt, list, quiet, res, wake);
}

/*
 * The one completion path of every backend.  The order matters:
 * - the result is published before the fd's bookkeeping releases what
 *   waited for this request (an fsync must never be seen complete before
 *   the writes it covers);
 * - kaio__user_pending drops only after the completion is announced (the
 *   sequence moved, the list's reference dropped): a waiter without a
 *   list that finds no request outside the rings may sleep in a ring
 *   (reap.c), where a later announcement would not reach it.  Inside a
 *   reaper's batch the sequence moves only at its end (kaio__defer_wake()):
 *   the request is then still counted in that ring, whose role its reaper
 *   holds, so no waiter sleeps in a ring meanwhile (sole_ring()).
 */
void kaio__complete(struct kaio_req *req, ssize_t res)
{
	int counted = !(req->flags & KAIO_RQ_INKERNEL);

	if (kaio_unlikely(kaio__tls_nocomplete))
		kaio__bug("a request completed under an fd lock or inside a "
			  "backend's submit()");
	/* Bytes moved in the caller, then an error on the rest (EFAULT,
	 * EFBIG, ENOSPC, EIO): the count, as one read(2) or write(2) that
	 * failed partway returns, and as glibc's single pread()/pwrite(). */
	if (res >= 0 || (req->done && res != -ECANCELED))
		res = (ssize_t)req->done + (res > 0 ? res : 0);
	else if (res == -ECANCELED)
		kaio__count(KAIO_STAT_CANCELED);
	if (signals(&req->nt, req->flags & KAIO_RQ_QUIET))
		signalling_begin();
	/* aio_cancel() never takes a request the program may have seen done
	 * for running, nor answers AIO_ALLDONE while its aiocb is still to be
	 * written: one it finds between the two stores is waited for
	 * (kaio__cancel_may()). */
	atomic_store_explicit(&req->finished, KAIO_RQ_PUBLISHING,
			      memory_order_relaxed);
	publish(req->cb, req->list, res);
	atomic_store_explicit(&req->finished, KAIO_RQ_DONE,
			      memory_order_release);
	if (req->f)
		kaio__fd_done(req, res);
	announce(req->cb, &req->nt, req->list, req->flags & KAIO_RQ_QUIET,
		 res, 1);
	if (counted)
		kaio__pending_sub(req);
	if (req->flags & KAIO_RQ_STRAY)
		atomic_fetch_sub(&kaio__strays, 1);
}

/*
 * Move data for a request on a worker; returns bytes or -errno.  A file
 * that cannot pread()/pwrite() (ESPIPE: /proc/PID/comm, a number reused
 * for a stream) is read or written as glibc's worker does then: read(2)
 * or write(2).
 */
static ssize_t rw(struct kaio_req *req)
{
	char *buf = (char *)req->buf + req->done;
	size_t len = req->nbytes - req->done;
	off_t off = req->off + (off_t)req->done;
	int rd = req->op == KAIO_OP_READ, seek = !(req->flags & KAIO_RQ_NOSEEK);
	ssize_t n;

	do {
		if (seek)
			n = rd ? pread(req->fd, buf, len, off)
			       : pwrite(req->fd, buf, len, off);
		else
			n = rd ? read(req->fd, buf, len)
			       : write(req->fd, buf, len);
		if (n < 0 && errno == ESPIPE && seek) {
			seek = 0;
			errno = EINTR;	/* again, without the offset */
		}
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* A pool worker's poll: blocks until ready (signals are blocked here). */
static ssize_t poll_wait(struct kaio_req *req)
{
	struct pollfd p = { req->fd, (short)req->nbytes, 0 };
	int n;

	do
		n = poll(&p, 1, -1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (p.revents & POLLNVAL)
		return -EBADF;
	return p.revents;
}

ssize_t kaio__execute(struct kaio_req *req)
{
	int ret;

	switch (req->op) {
	case KAIO_OP_READ:
	case KAIO_OP_WRITE:
		return rw(req);
	case KAIO_OP_FSYNC:
		ret = fsync(req->fd);
		return ret < 0 ? -errno : 0;
	case KAIO_OP_FDSYNC:
		ret = fdatasync(req->fd);
		return ret < 0 ? -errno : 0;
	case KAIO_OP_POLL:
		return poll_wait(req);
	}
	return kaio__path_execute(req);
}

/*
 * Try to serve a read or write in the caller without blocking.  Returns the
 * bytes moved so far (the request is complete if that is everything, or
 * EOF was seen), or -errno: -EAGAIN means "go to a backend", -ESPIPE "the
 * fd cannot seek", anything else is the request's result.
 */
static ssize_t try_nowait(struct aiocb *cb, int op, size_t *done, int *eof)
{
	ssize_t n;

	*done = 0;
	*eof = 0;
	while (*done < cb->aio_nbytes) {
		n = sys_rwv2(op == KAIO_OP_WRITE, cb->aio_fildes,
			     (char *)cb->aio_buf + *done,
			     cb->aio_nbytes - *done,
			     cb->aio_offset + (off_t)*done, RWF_NOWAIT);
		if (n == -EINTR)
			continue;
		if (n == -EOPNOTSUPP && !*done)
			return -EOPNOTSUPP;
		if (n == -EOPNOTSUPP || n == -EAGAIN || n == -EWOULDBLOCK)
			return *done ? (ssize_t)*done : -EAGAIN;
		if (n < 0)
			return *done ? (ssize_t)*done : n;
		if (n == 0) {
			*eof = 1;
			break;
		}
		*done += (size_t)n;
	}
	return (ssize_t)*done;
}

/*
 * A buffered write the filesystem will not take with RWF_NOWAIT (ext4 and
 * tmpfs refuse the flag for buffered writes; xfs takes it, but answers
 * EAGAIN whenever the write must update the file's times): a plain
 * pwritev2() in the caller, as psync and fio's libaio engine do.  Such a
 * write costs a copy into the page cache, about 5 us for 4 KiB, against
 * 20-30 us of CPU for a trip through io_uring's io-wq.  What can make it
 * block: dirty throttling (balance_dirty_pages() pauses the writer for
 * 4-200 ms), a partial page that must be read first, a stable page under
 * writeback, the inode's lock held by an fsync.  So every such write is
 * timed.  One that held the caller KAIO_WRITE_SLOW_NS or more, if another
 * did within KAIO_WRITE_AGAIN_NS before it on the fd (or if it alone held
 * it 10 ms), stops caller-side writes on that fd for KAIO_WRITE_HOLD times
 * as long (10 ms to 2 s): they go to a backend, and the caller spends at
 * most about 1/KAIO_WRITE_HOLD of its time held by writes that block.
 * One slow write alone is not enough: on a busy machine a write is now
 * and then preempted for a scheduler slice (1-4 ms, measured: involuntary
 * switches only), while what blocks a write comes back at once (dirty
 * throttling pauses a writer every few pages; every fsync takes the
 * inode's lock).  Bounded per call by KAIO_CALLER_BYTES, like a read.
 * Returns as try_nowait().
 */
#define KAIO_WRITE_SLOW_NS	1000000LL
#define KAIO_WRITE_ONCE_NS	10000000LL
#define KAIO_WRITE_AGAIN_NS	50000000LL
#define KAIO_WRITE_HOLD		16
#define KAIO_WRITE_HOLD_MIN	10000000LL
#define KAIO_WRITE_HOLD_MAX	2000000000LL

/* May a plain write be done in the caller on fd at time now? */
static int write_fast(int fd, long long now)
{
	struct kaio_fd *f = kaio__fd_peek(fd);

	return !f || atomic_load_explicit(&f->wr_hold,
					  memory_order_relaxed) <= now;
}

static ssize_t try_write(struct aiocb *cb, size_t *done, long long t0)
{
	struct kaio_fd *f;
	long long end, held, hold, prev;
	ssize_t n = 0;

	while (*done < cb->aio_nbytes) {
		n = sys_rwv2(1, cb->aio_fildes, (char *)cb->aio_buf + *done,
			     cb->aio_nbytes - *done,
			     cb->aio_offset + (off_t)*done, 0);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			break;
		*done += (size_t)n;
		/* Short: the file size limit, or no space.  The rest goes
		 * to a backend, whose error then leaves this count. */
		if (*done < cb->aio_nbytes)
			break;
	}
	end = kaio__now_ns();
	held = end - t0;
	if (held >= KAIO_WRITE_SLOW_NS && (f = kaio__fd_get(cb->aio_fildes))) {
		prev = atomic_exchange_explicit(&f->wr_slow, end,
						memory_order_relaxed);
		if (held >= KAIO_WRITE_ONCE_NS ||
		    (prev && t0 - prev < KAIO_WRITE_AGAIN_NS)) {
			hold = held * KAIO_WRITE_HOLD;
			hold = hold < KAIO_WRITE_HOLD_MIN ? KAIO_WRITE_HOLD_MIN :
			       hold > KAIO_WRITE_HOLD_MAX ? KAIO_WRITE_HOLD_MAX :
			       hold;
			atomic_store_explicit(&f->wr_hold, end + hold,
					      memory_order_relaxed);
		}
	}
	/* A stream (ESPIPE) or anything that would block goes on. */
	if (n == -EAGAIN || n == -EWOULDBLOCK || n == -ESPIPE || n == 0)
		return *done ? (ssize_t)*done : (n ? n : -EAGAIN);
	if (n < 0)
		return *done ? (ssize_t)*done : n;
	return (ssize_t)*done;
}

/*
 * A filesystem that refuses RWF_NOWAIT for an fd (ext4 does for buffered
 * writes) is not asked again for the next KAIO_NOWAIT_SKIP requests there:
 * a wasted system call per request otherwise.  Then it is asked once more,
 * since the fd number may by then name another file.
 */
#define KAIO_NOWAIT_SKIP	4096

static int nowait_ok(int fd, int op)
{
	struct kaio_fd *f = kaio__fd_peek(fd);
	atomic_int *bad;

	if (!f)
		return 1;
	bad = &f->nowait_bad[op == KAIO_OP_WRITE];
	if (atomic_load_explicit(bad, memory_order_relaxed) <= 0)
		return 1;
	atomic_fetch_sub_explicit(bad, 1, memory_order_relaxed);
	return 0;
}

static void nowait_refused(int fd, int op)
{
	struct kaio_fd *f = kaio__fd_get(fd);

	if (f)
		atomic_store_explicit(&f->nowait_bad[op == KAIO_OP_WRITE],
				      KAIO_NOWAIT_SKIP, memory_order_relaxed);
}

/* May op go to the fd with flags fl?  Not a read or write of an O_PATH
 * fd, whose open mode reads as O_RDONLY: glibc's pread() fails with EBADF
 * whatever its buffer, where io_uring may look at the buffer first
 * (EFAULT). */
static int access_ok(int op, int fl)
{
	int acc = fl & O_ACCMODE;

	if (kaio_unlikely(fl & O_PATH))
		return op != KAIO_OP_READ && op != KAIO_OP_WRITE;
	if (op == KAIO_OP_READ)
		return acc == O_RDONLY || acc == O_RDWR;
	if (op == KAIO_OP_WRITE)
		return acc == O_WRONLY || acc == O_RDWR;
	return 1;
}

/*
 * Two threads that submit one aiocb at once must not both take it: each
 * looked for a request of it in progress before the other marked it, both
 * were accepted, and the second result came after the first aio_return()
 * (an outside tester: 8-239 of 3,000 rounds, every backend); or one was
 * refused as in progress and its refusal, written after the other's
 * request had ended, replaced that result.  So whoever writes an aiocb it
 * does not own yet claims it first, in the claim word (__glibc_reserved
 * bytes 16-23): the process's tag (CLAIM_TAG ^ the epoch) in the upper
 * half, and in the lower a count of claims shifted left by one, and bit 0
 * set while one is under way.  A claimer sets bit 0 with a compare-and-
 * swap from the value it read after it looked again that no request of
 * the aiocb is in progress; the end of the claim clears it and adds one to
 * the count, with release order after the aiocb's new state.  Every claim
 * leaves a value never seen before, so a compare-and-swap from a value
 * read before another thread's claim fails, and the next look sees that
 * claim under way, or its request in progress.  A word without the tag (a
 * new aiocb, one from before a fork) is unclaimed.  No lock: a handler
 * that submits the aiocb its thread is claiming finds it taken (EINVAL).
 */
#define CLAIM_TAG	0x4b41434cu	/* "KACL" */

static unsigned long long *claim_word(struct aiocb *cb)
{
	return (unsigned long long *)(void *)(cb->__glibc_reserved + 16);
}

/* cb taken for this thread (0, and *w for claim_end()), or -EBUSY. */
static int claim(struct aiocb *cb, unsigned long long *w)
{
	unsigned long long tag, v, mine;

	tag = (unsigned long long)(CLAIM_TAG ^
		(unsigned)atomic_load_explicit(&kaio__epoch,
					       memory_order_relaxed)) << 32;
	v = __atomic_load_n(claim_word(cb), __ATOMIC_ACQUIRE);
	for (;;) {
		if ((v & ~0xffffffffULL) == tag) {
			if (v & 1)
				return -EBUSY;	/* another's claim */
			mine = v | 1;
		} else {
			mine = tag | 1;
		}
		if (kaio__cb_in_progress(cb))
			return -EBUSY;
		if (__atomic_compare_exchange_n(claim_word(cb), &v, mine, 0,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
	}
	*w = mine;
	return 0;
}

static void claim_end(struct aiocb *cb, unsigned long long w)
{
	__atomic_store_n(claim_word(cb), (w & ~0xffffffffULL) |
			 ((w + 1) & 0xffffffffULL), __ATOMIC_RELEASE);
}

/* cb, not owned yet, becomes a new request of op in progress: 0, or
 * -EBUSY if another thread's submission has it (see above).  An fsync has
 * its aio_reqprio set to 0, as glibc's queue does. */
static int mark(struct aiocb *cb, int op)
{
	unsigned long long w;

	if (claim(cb, &w))
		return -EBUSY;
	if (kaio_unlikely(op == KAIO_OP_FSYNC || op == KAIO_OP_FDSYNC))
		cb->aio_reqprio = 0;
	cb->__return_value = 0;
	kaio__cb_set(&cb->__abs_prio,
		     atomic_load_explicit(&kaio__epoch, memory_order_relaxed));
	kaio__cb_set(&cb->__policy, KAIO_MAGIC);
	kaio__cb_hint_set(cb, NULL);
	kaio__cb_owner_set(cb, NULL);
	atomic_store_explicit((atomic_int *)&cb->__error_code, EINPROGRESS,
			      memory_order_relaxed);
	claim_end(cb, w);
	return 0;
}

/*
 * The open flags of a seekable fd that is not a stream, kept for the
 * caller-side read or write: a cached read then costs one system call, not
 * two (fcntl() was a tenth of its CPU), a write one, not three (fcntl() and
 * fstat()).  They are re-checked after KAIO_FLAGS_REUSE uses by a thread
 * (the count is the thread's own, in its table indexed by fd: threads
 * reading one fd at once write no shared word); flags that do not allow the
 * operation are fetched again.  Where fcntl() and the calls that close a
 * number are seen (fdgen.c), the flags are good only while the number's
 * generation stays as it was before their fcntl(): any F_SETFL, close()
 * or dup2() onto it fetches them again at its next use, and the re-check
 * comes only after KAIO_FLAGS_REUSE_SEEN uses (the fcntl() every 32 reads
 * was 2% of a cached read's rate), for a change through a duplicate in
 * another process.  The re-check is an fcntl(), and an
 * fd_type() only if the number may name another file since this thread
 * last saw it (seen_file_now()).  What a stale entry can do in the caller:
 * an fd number reused for an O_DIRECT file, or switched to O_DIRECT with
 * F_SETFL where that is not seen, may serve up to KAIO_FLAGS_REUSE (or
 * KAIO_FLAGS_REUSE_SEEN) requests of each thread in the
 * caller, at device speed; one that became O_APPEND appends (Linux's
 * pwrite() does on such an fd), in submission order, since the caller
 * writes before it returns; one that became a stream fails with ESPIPE and
 * goes to a backend.  The data and errors are those of the fd as it is.
 *
 * A request that goes to a backend is routed on fresh flags, but for a
 * read of a regular file or block device (an O_DIRECT one too: that is
 * every read, and fcntl() and fstat() were two of its three system calls).
 * There the fd must still be such a file (still_file()): this thread saw
 * it was, with fd_type(), and the number has not been closed or replaced
 * since (its generation, fdgen.c), or a new fd_type() shows it; the request
 * is marked KAIO_RQ_KEPT.  What else a read's route depends on
 * and may have changed (an fd number closed and reused, or F_SETFL) is
 * O_DIRECT and the access mode.  io_uring and the pool serve a read of such
 * a file right either way, and an fd no longer open for reading fails with
 * EBADF where the read runs, as glibc reports it (through aio_error(), not
 * from aio_read()).  Native AIO on a stock kernel would run a read of a file
 * that is not O_DIRECT inside io_submit(), blocking the caller for the
 * device: it asks again before it takes a KAIO_RQ_KEPT read as O_DIRECT
 * (backend-kaio.c).  A write is routed on fresh flags: O_APPEND decides its
 * order.
 */
#define KAIO_FLAGS_REUSE	32
#define KAIO_FLAGS_REUSE_SEEN	4096	/* while fcntl() and close() are seen */
#define KAIO_FLAGS_MIN	128	/* slots of a thread's first table (4 KiB) */
#define KAIO_FLAGS_MAX	1024	/* at most: higher numbers share slots */

struct flag_use {
	unsigned fd1;		/* fd + 1; 0: a free slot */
	int left;		/* uses left before the flags are re-checked */
	/* fetched at the number's generation fl_gen and the epoch fl_epoch,
	 * read before the fcntl() (fdgen.c); fl_seen: the flags are good
	 * only while both stay, and then for KAIO_FLAGS_REUSE_SEEN uses */
	int fl_seen;
	unsigned long long fl_gen, fl_epoch;
	/* fd was a file (KAIO_FL_FILE) at its generation file_gen and the
	 * epoch file_epoch (fdgen.c): still_file() need not ask again */
	int file;
	unsigned long long file_gen, file_epoch;
};

/*
 * This thread's table, indexed by fd & tls_flags_mask, made on its first
 * fetch and grown (a power of two) to cover the numbers it uses, up to
 * KAIO_FLAGS_MAX: a server reading many files from one thread keeps the
 * flags of each.  NULL: none yet, or none to be had (no memory, or the
 * thread is exiting); every request then asks the kernel.  Unmapped at
 * thread exit (cache_drain()).  Mapped, not malloc()ed: the exit may be a
 * pthread_exit() or cancellation inside a signal handler, which may have
 * interrupted malloc() itself, and a handler's request may grow it.
 *
 * Used only between flags_hold() and flags_release().  A signal handler's
 * request that interrupted a use (tls_flags_busy) leaves the table alone
 * and asks the kernel: the interrupted call's slot pointer stays valid
 * (no growth frees the table under it) and its entry whole (no other fd
 * takes the slot between its fields).  A thread left in a hold for good,
 * by a longjmp() out of such a handler, asks the kernel from then on.
 */
static __thread struct flag_use *tls_flags
	__attribute__((tls_model("initial-exec")));
static __thread unsigned tls_flags_mask
	__attribute__((tls_model("initial-exec")));
static __thread int tls_flags_busy
	__attribute__((tls_model("initial-exec")));

static int thread_armed(void);

/* May this call use the table?  If so, flags_release() ends the use. */
static int flags_hold(void)
{
	if (tls_flags_busy)
		return 0;
	tls_flags_busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	return 1;
}

static void flags_release(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	tls_flags_busy = 0;
}

/* fd's slot, if this thread keeps one for it (in a hold). */
static struct flag_use *flag_slot(int fd)
{
	struct flag_use *u;

	if (!tls_flags || fd < 0)
		return NULL;
	u = &tls_flags[(unsigned)fd & tls_flags_mask];
	return u->fd1 == (unsigned)fd + 1 ? u : NULL;
}

/*
 * A larger table, covering fd if the cap allows, with what the old one
 * held (each in its own slot still: the old index is the new one's low
 * bits).  In a hold: no signal handler's request reads either table.
 */
static void flags_grow(int fd)
{
	struct flag_use *t, *old = tls_flags;
	unsigned had = old ? tls_flags_mask + 1 : 0, n, i;

	for (n = had ? had : KAIO_FLAGS_MIN;
	     n <= (unsigned)fd && n < KAIO_FLAGS_MAX; n *= 2)
		;
	if (n == had)
		return;
	t = mmap(NULL, n * sizeof(*t), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return;
	for (i = 0; i < had; i++)
		if (old[i].fd1)
			t[(old[i].fd1 - 1) & (n - 1)] = old[i];
	tls_flags = t;
	tls_flags_mask = n - 1;
	if (old)
		munmap(old, had * sizeof(*old));
}

/* A slot for fd, taken from whatever number held it; NULL if none (in a
 * hold). */
static struct flag_use *flag_slot_take(int fd)
{
	struct flag_use *u;

	if (fd < 0)
		return NULL;
	if ((!tls_flags || ((unsigned)fd > tls_flags_mask &&
			    tls_flags_mask + 1 < KAIO_FLAGS_MAX)) &&
	    thread_armed())
		flags_grow(fd);
	if (!tls_flags)
		return NULL;
	u = &tls_flags[(unsigned)fd & tls_flags_mask];
	u->fd1 = (unsigned)fd + 1;
	return u;
}

/*
 * At thread exit, whatever hold it is in: a call that pthread_exit() left
 * from a signal handler does not come back to its slot.
 */
static void flags_free(void)
{
	struct flag_use *t = tls_flags;
	size_t len = (tls_flags_mask + 1UL) * sizeof(*t);

	tls_flags_busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	tls_flags = NULL;
	tls_flags_mask = 0;
	if (t)
		munmap(t, len);
}

/* The tag of flags fetched at generation gen and epoch epoch: both only
 * grow, so their sum moves with either (struct kaio_fd.rd_flags). */
static unsigned rd_tag(unsigned long long gen, unsigned long long epoch)
{
	return (unsigned)(gen + epoch);
}

static int read_flags_cached(int fd, int *fl)
{
	struct flag_use *u;
	struct kaio_fd *f;
	unsigned long long v;
	int ok = 0;

	if (!flags_hold())
		return 0;
	u = flag_slot(fd);
	if (u && u->left > 0 && (f = kaio__fd_peek(fd))) {
		v = atomic_load_explicit(&f->rd_flags, memory_order_acquire);
		/* Vouched for: this thread's look and the shared flags are
		 * of the number's generation and epoch as they are now (a
		 * slower fetch of an older one may have stored after). */
		if ((unsigned)v &&
		    (!u->fl_seen ||
		     ((unsigned)(v >> 32) == rd_tag(u->fl_gen, u->fl_epoch) &&
		      atomic_load_explicit(&f->gen, memory_order_acquire) ==
			      u->fl_gen &&
		      atomic_load_explicit(&kaio__fd_epoch,
					   memory_order_acquire) ==
			      u->fl_epoch))) {
			u->left--;
			*fl = (int)(unsigned)v - 1;
			ok = 1;
		}
	}
	flags_release();
	return ok;
}

/*
 * Set in an fd's flags (bits no O_* flag uses) from one fd_type():
 * KAIO_FL_STREAM when reads and writes on it are a stream, whatever
 * lseek() says: pipes, sockets, terminals, and the anonymous-inode fds
 * (eventfd, timerfd, signalfd, inotify) that accept lseek() and then
 * ignore the offset.  Only regular files, block devices and seekable
 * character devices are read and written at aio_offset.  KAIO_FL_FILE
 * for a regular file or block device (where an O_APPEND write ends in
 * bounded time: the backends need not ask again).
 */
#define KAIO_FL_STREAM	0x40000000
#define KAIO_FL_FILE	0x20000000
#define KAIO_FL_PIPE	0x10000000	/* a pipe, FIFO or socket */

/* What fd_kind() and still_file() need to know of an fd. */
struct kaio_ftype {
	mode_t mode;
	unsigned long long blocks;
};

/*
 * Its type and blocks, and not its times: statx() for just those.  On a
 * kernel with multigrain timestamps (6.13 on: ext4, xfs, btrfs, tmpfs) a
 * file whose times were read takes a fine-grained time at its next
 * write, which dirties the inode; fstat() reads them.  Measured on ext4:
 * 32 writes and an fsync in a loop, with an fstat() in each round, wrote
 * the inode at every fsync (one device write more, and a wait for it),
 * without it at one fsync in three or four (once per 4 ms tick).  This
 * library re-checks an fd's flags every KAIO_FLAGS_REUSE uses: once in
 * every round of fio's --fsync=32.  fstat() where statx() is refused
 * (before Linux 4.11, or a seccomp profile).  0 or -errno.
 */
static int fd_type(int fd, struct kaio_ftype *t)
{
	struct statx sx;
	struct stat st;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_BLOCKS, &sx) == 0 &&
	    (sx.stx_mask & (STATX_TYPE | STATX_BLOCKS)) ==
	    (STATX_TYPE | STATX_BLOCKS)) {
		t->mode = sx.stx_mode;
		t->blocks = sx.stx_blocks;
		return 0;
	}
	if (errno == EBADF)
		return -EBADF;
	if (fstat(fd, &st) < 0)
		return -errno;
	t->mode = st.st_mode;
	t->blocks = (unsigned long long)st.st_blocks;
	return 0;
}

/*
 * A "regular file" of the kernel's own file systems, which may wait
 * without bound (/proc/kmsg, a tracing pipe): such files occupy no blocks
 * (their size is 0, or 4096 on sysfs).  They are neither file nor stream
 * here (KAIO_RQ_SYSCALL, the pool): io_uring would tie the read to the
 * submitting thread, whose exit then waited for data that may never come.
 * A POSIX message queue's fd is one too: its read never waits, but
 * io_uring, turned back by it, waits on its poll(), which is for messages.
 */
static int kernel_fs(int fd, const struct kaio_ftype *t)
{
	struct statfs sf;

	if (t->blocks != 0 || fstatfs(fd, &sf) < 0)
		return 0;
	return sf.f_type == PROC_SUPER_MAGIC || sf.f_type == SYSFS_MAGIC ||
	       sf.f_type == TRACEFS_MAGIC || sf.f_type == DEBUGFS_MAGIC ||
	       sf.f_type == MQUEUE_MAGIC;
}

static int fd_kind(int fd)
{
	struct kaio_ftype t;

	if (fd_type(fd, &t) < 0)
		return 0;	/* the operation reports the error */
	if (S_ISREG(t.mode) && kernel_fs(fd, &t))
		return 0;
	if (S_ISREG(t.mode) || S_ISBLK(t.mode))
		return KAIO_FL_FILE;
	if (S_ISDIR(t.mode))
		return 0;
	if (S_ISFIFO(t.mode) || S_ISSOCK(t.mode))
		return KAIO_FL_STREAM | KAIO_FL_PIPE;
	if (S_ISCHR(t.mode))
		return lseek(fd, 0, SEEK_CUR) < 0 && errno == ESPIPE ?
		       KAIO_FL_STREAM : 0;
	return KAIO_FL_STREAM;
}

/* The fd's generation and the epoch, read before a look at the fd. */
static void fd_gen(struct kaio_fd *f, unsigned long long *gen,
		   unsigned long long *epoch)
{
	*epoch = atomic_load_explicit(&kaio__fd_epoch, memory_order_acquire);
	*gen = f ? atomic_load_explicit(&f->gen, memory_order_acquire) : 0;
}

/* This thread saw fd was a file, and the number has not been closed or
 * replaced since (gen and epoch, read before the look; in a hold)? */
static int seen_file(const struct flag_use *u, const struct kaio_fd *f,
		     unsigned long long gen, unsigned long long epoch)
{
	return f && u && u->file && u->file_gen == gen &&
	       u->file_epoch == epoch && kaio__fdgen_trusted();
}

/*
 * seen_file(), outside a hold.  What makes an fd a file changes only with
 * the file the number names: the flags' re-check (fcntl()) then needs no
 * fd_type() (a statx(), as costly as the fcntl()).
 */
static int seen_file_now(int fd, const struct kaio_fd *f,
			 unsigned long long gen, unsigned long long epoch)
{
	int ok;

	if (!f || !flags_hold())
		return 0;
	ok = seen_file(flag_slot(fd), f, gen, epoch);
	flags_release();
	return ok;
}

/* The fd's flags from the kernel, checked for op; 0 or -errno. */
static int fetch_flags(int fd, int op, int *fl)
{
	struct kaio_fd *f = NULL, *was = kaio__fd_peek(fd);
	unsigned long long gen, epoch, fl_gen, fl_epoch;

again:
	/* The number's generation before the flags: an F_SETFL, close() or
	 * dup2() after this look bumps it (fdgen.c). */
	fd_gen(was, &fl_gen, &fl_epoch);
	*fl = fcntl(fd, F_GETFL);
	if (*fl < 0)
		return -errno;
	if (!access_ok(op, *fl))
		return -EBADF;
	if (op != KAIO_OP_READ && op != KAIO_OP_WRITE)
		return 0;
	/* The fd's state first: a close() from now on bumps its
	 * generation, so what fd_kind() sees is not taken for longer. */
	f = kaio__fd_get(fd);
	if (!was && f && kaio__fdgen_flags_trusted()) {
		/* The number had no generation to bump before: once more,
		 * so that these flags are vouched for (below). */
		was = f;
		goto again;
	}
	fd_gen(f, &gen, &epoch);
	*fl |= seen_file_now(fd, f, gen, epoch) ? KAIO_FL_FILE : fd_kind(fd);
	if (f) {
		struct flag_use *u;

		if (flags_hold()) {
			u = flag_slot_take(fd);
			if (u) {
				/* An entry made after the look had no
				 * generation to bump: not vouched for. */
				u->fl_seen = was == f &&
					     kaio__fdgen_flags_trusted();
				u->fl_gen = fl_gen;
				u->fl_epoch = fl_epoch;
				u->left = u->fl_seen ? KAIO_FLAGS_REUSE_SEEN
						     : KAIO_FLAGS_REUSE;
				u->file = (*fl & KAIO_FL_FILE) != 0;
				u->file_gen = gen;
				u->file_epoch = epoch;
			}
			flags_release();
		}
		/* Not a stream, nor O_DIRECT on anything but a file (a
		 * packet-mode pipe: native AIO would block on it). */
		atomic_store_explicit(&f->rd_flags,
				      (unsigned long long)rd_tag(fl_gen,
								 fl_epoch)
						      << 32 |
					      (unsigned)((*fl & KAIO_FL_STREAM) ||
							 ((*fl & O_DIRECT) &&
							  !(*fl &
							    KAIO_FL_FILE))
							 ? 0 : *fl + 1),
				      memory_order_release);
	}
	return 0;
}

/*
 * May a read go to a backend on cached flags fl?  Only if they are a
 * regular file's or block device's and the fd is one still (see above
 * KAIO_FLAGS_REUSE): this thread saw it was, and the number has not been
 * closed or replaced since (fdgen.c), or one fd_type() shows it.  Its
 * error, if any, is left to fetch_flags().
 */
static int still_file(int fd, int op, int fl)
{
	struct flag_use *u = NULL;
	struct kaio_fd *f;
	unsigned long long gen, epoch;
	struct kaio_ftype t;
	int ok, held;

	if (op != KAIO_OP_READ || !(fl & KAIO_FL_FILE))
		return 0;
	f = kaio__fd_peek(fd);
	fd_gen(f, &gen, &epoch);
	held = flags_hold();
	if (held)
		u = flag_slot(fd);
	if (seen_file(u, f, gen, epoch)) {
		flags_release();
		return 1;
	}
	if (fd_type(fd, &t) < 0) {
		ok = 0;
		goto out;
	}
	ok = S_ISBLK(t.mode) || (S_ISREG(t.mode) && !kernel_fs(fd, &t));
	if (f && u) {
		u->file = ok;
		u->file_gen = gen;
		u->file_epoch = epoch;
	}
out:
	if (held)
		flags_release();
	return ok;
}

/*
 * aio_fsync() checks that fd is open, as glibc's does with fcntl(): not
 * again while this thread saw it was a file (its read or write fetched
 * the flags) and the number has not been closed or replaced since
 * (fdgen.c).  fio asks about one fsync per write at iodepth 32: the
 * fcntl() was one of its six system calls per write.
 */
static int still_open(int fd)
{
	struct kaio_fd *f = kaio__fd_peek(fd);
	unsigned long long gen, epoch;

	fd_gen(f, &gen, &epoch);
	return seen_file_now(fd, f, gen, epoch);
}

/*
 * What is refused at once, as in glibc, without touching the aiocb: an
 * aiocb still in progress here (glibc does not check; a second request
 * on it would have two results written into one aiocb), a bad aio_reqprio
 * (ignored by aio_fsync(), as glibc's), and a sigevent no notification
 * could be sent for (glibc accepts it and sends nothing, or crashes on a
 * SIGEV_THREAD without a function).  Everything else is the operation's
 * own result, reported through aio_error().
 */
static int validate_sync(const struct aiocb *cb, int op, int flags)
{
	if (kaio_unlikely(kaio__cb_in_progress(cb)))
		return -EBUSY;	/* in progress: EINVAL, and not touched */
	if (op != KAIO_OP_FSYNC && op != KAIO_OP_FDSYNC &&
	    (cb->aio_reqprio < 0 || cb->aio_reqprio > AIO_PRIO_DELTA_MAX))
		return -EINVAL;
	if (flags & KAIO_RQ_QUIET)
		return 0;	/* no notification: the sigevent is not read */
	return kaio__sigevent_check(&cb->aio_sigevent);
}

/*
 * The fd's open flags, checked for op: 0 or -errno, which glibc reports
 * late (aio_error() says EBADF) for reads and writes, and at once for
 * aio_fsync().  *cached: *fl came from read_flags_cached().  A read or
 * write at a negative offset fails with EINVAL first, whatever the fd:
 * glibc's pread()/pwrite() check the offset before the fd, on a stream or
 * an O_APPEND file too, where the library uses no offset.
 */
static int validate_fd(const struct aiocb *cb, int op, int *fl, int *cached)
{
	*cached = 0;
	*fl = 0;
	if ((op == KAIO_OP_READ || op == KAIO_OP_WRITE) && cb->aio_offset < 0)
		return -EINVAL;
	if (kaio__is_pathop(op) && op != KAIO_OP_READAHEAD)
		return 0;	/* a dirfd: the operation itself checks it */
	if ((op == KAIO_OP_FSYNC || op == KAIO_OP_FDSYNC) &&
	    still_open(cb->aio_fildes))
		return 0;	/* glibc's fcntl() would find it open */
	if ((op == KAIO_OP_READ || (op == KAIO_OP_WRITE && kaio__cfg.nowait)) &&
	    read_flags_cached(cb->aio_fildes, fl) && access_ok(op, *fl)) {
		*cached = 1;
		return 0;
	}
	return fetch_flags(cb->aio_fildes, op, fl);
}

static int classify(struct kaio_req *req, int fl)
{
	if (req->op != KAIO_OP_READ && req->op != KAIO_OP_WRITE)
		return 0;
	if (fl & O_DIRECT)
		req->flags |= KAIO_RQ_DIRECT;
	if (fl & KAIO_FL_STREAM)
		req->flags |= KAIO_RQ_NOSEEK | KAIO_RQ_SERIAL;
	if (fl & KAIO_FL_FILE)
		req->flags |= KAIO_RQ_FILE;
	/*
	 * io_uring waits for a non-blocking stream to be ready (glibc's
	 * read(2) fails with EAGAIN at once), ignores SO_RCVTIMEO, and never
	 * completes some reads and writes of other kinds of fd (an epoll fd,
	 * /dev/kmsg, a 0-byte read of a pty), which a system call answers.
	 */
	if (((fl & KAIO_FL_STREAM) && (fl & O_NONBLOCK)) ||
	    !(fl & (KAIO_FL_FILE | KAIO_FL_PIPE)))
		req->flags |= KAIO_RQ_SYSCALL;
	if (req->op == KAIO_OP_WRITE) {
		req->flags |= KAIO_RQ_TRACKED;
		/* In submission order; at the offset, which the kernel
		 * ignores for O_APPEND: pwrite(2), as glibc's, leaves the
		 * fd's file position where it was, write(2) moves it. */
		if (fl & O_APPEND)
			req->flags |= KAIO_RQ_APPEND | KAIO_RQ_SERIAL;
	}
	return 0;
}

/*
 * Request structures are recycled through a free list of at most aio_num
 * (aio_init(), default 64) entries: glibc's "number of expected
 * simultaneous requests".  Beyond that they come from malloc.
 *
 * A thread that submits also keeps up to REQ_CACHE (at most aio_num) of
 * its own, with no lock: a thread that reaps its own requests
 * (aio_suspend() on its ring) then never touches the shared list, whose
 * lock bounced between submitting threads.  Only a thread that has
 * allocated caches (pool workers and reapers, which only free, use the
 * shared list); at its exit (a key's destructor) its cache goes to the
 * shared list, and nothing more is cached there.  An application thread
 * allocates and frees only inside a library call, and a signal handler's
 * aio_suspend() that interrupted one frees nothing unless it interrupted
 * a wait (reap.c), never a cache operation; the destructor counts as a
 * call.
 */
#define REQ_CACHE	32

static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kaio_req *free_head;
static int free_n;

static __thread struct kaio_req *tls_cache
	__attribute__((tls_model("initial-exec")));
static __thread int tls_cache_n __attribute__((tls_model("initial-exec")));
/* 1: this thread caches; -1: it never will (exiting, or no key) */
static __thread int tls_cache_on __attribute__((tls_model("initial-exec")));
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;
static int cache_key_ok;

static void req_put_shared(struct kaio_req *req)
{
	pthread_mutex_lock(&free_lock);
	if (free_n < atomic_load_explicit(&kaio__cfg.num,
					  memory_order_relaxed)) {
		req->next = free_head;
		free_head = req;
		free_n++;
		req = NULL;
	}
	pthread_mutex_unlock(&free_lock);
	free(req);
}

/*
 * At thread exit.  Counted as a library call (kaio__tls_depth): a signal
 * handler's aio_suspend() then reaps nothing here, so it frees nothing
 * while free_lock is held or the cache half unlinked.
 */
static void cache_drain(void *unused)
{
	struct kaio_req *req;

	(void)unused;
	kaio__tls_depth++;
	tls_cache_on = -1;
	atomic_signal_fence(memory_order_seq_cst);
	while ((req = tls_cache)) {
		tls_cache = req->next;
		req_put_shared(req);
	}
	tls_cache_n = 0;
	flags_free();
	kaio__tls_depth--;
	kaio__call_leave();
}

static void cache_key_make(void)
{
	cache_key_ok = !pthread_key_create(&cache_key, cache_drain);
}

static void cache_start(void)
{
	pthread_once(&cache_once, cache_key_make);
	if (cache_key_ok && !pthread_setspecific(cache_key, (void *)1))
		tls_cache_on = 1;
	else
		tls_cache_on = -1;
}

/* May this thread keep memory of its own (freed by cache_drain())? */
static int thread_armed(void)
{
	if (kaio_unlikely(!tls_cache_on))
		cache_start();
	return tls_cache_on > 0;
}

static struct kaio_req *req_alloc(void)
{
	struct kaio_req *req = tls_cache;

	if (kaio_likely(req)) {
		tls_cache = req->next;
		tls_cache_n--;
		memset(req, 0, sizeof(*req));
		return req;
	}
	if (kaio_unlikely(!tls_cache_on))
		cache_start();
	pthread_mutex_lock(&free_lock);
	req = free_head;
	if (req) {
		free_head = req->next;
		free_n--;
	}
	pthread_mutex_unlock(&free_lock);
	if (!req)
		return calloc(1, sizeof(*req));
	memset(req, 0, sizeof(*req));
	return req;
}

void kaio__req_reset(void)
{
	free_head = NULL;	/* the parent's, leaked in the child */
	free_n = 0;
	pthread_mutex_init(&free_lock, NULL);
	tls_cache = NULL;	/* the forking thread's, leaked alike */
	tls_cache_n = 0;
}

static struct kaio_req *build(struct aiocb *cb, int op,
			      struct kaio_list *list, int flags)
{
	struct kaio_req *req = req_alloc();

	if (!req)
		return NULL;
	req->cb = cb;
	kaio__cb_owner_set(cb, req);
	req->op = op;
	req->fd = cb->aio_fildes;
	req->flags = flags;
	req->list = list;
	req->prio = op == KAIO_OP_FSYNC || op == KAIO_OP_FDSYNC ? 0
							       : cb->aio_reqprio;
	req->buf = (void *)cb->aio_buf;
	req->nbytes = cb->aio_nbytes;
	req->off = cb->aio_offset;
	kaio__sigevent_copy(&req->nt, &cb->aio_sigevent);
	return req;
}

void kaio__req_free(struct kaio_req *req)
{
	/* Refused after it was built: its notification record is unused. */
	if (!atomic_load_explicit(&req->finished, memory_order_relaxed))
		kaio__notify_release(&req->nt);
	if (kaio__is_pathop(req->op))
		kaio__path_release(req);
	if (req->flags & KAIO_RQ_CREDS)
		kaio__creds_release(&req->creds);
	if (req->personality > 0 || req->uslot)
		kaio__backend_release(req);	/* io_uring's: defer(),
						 * hold_file() */
	if (tls_cache_on > 0 && tls_cache_n < REQ_CACHE &&
	    tls_cache_n < atomic_load_explicit(&kaio__cfg.num,
					       memory_order_relaxed)) {
		req->next = tls_cache;
		tls_cache = req;
		tls_cache_n++;
		return;
	}
	req_put_shared(req);
}

static const int op_stat[] = {
	[KAIO_OP_READ] = KAIO_STAT_READ,
	[KAIO_OP_WRITE] = KAIO_STAT_WRITE,
	[KAIO_OP_FSYNC] = KAIO_STAT_FSYNC,
	[KAIO_OP_FDSYNC] = KAIO_STAT_FDSYNC,
	[KAIO_OP_OPENAT] = KAIO_STAT_PATHOP,
	[KAIO_OP_UNLINKAT] = KAIO_STAT_PATHOP,
	[KAIO_OP_RENAMEAT] = KAIO_STAT_PATHOP,
	[KAIO_OP_READAHEAD] = KAIO_STAT_PATHOP,
	[KAIO_OP_POLL] = KAIO_STAT_POLL,
};

static void refused(struct aiocb *cb, int ret);
static void refuse(struct aiocb *cb, int ret);

/*
 * Accept cb and complete it at once with -err, in the caller: an error
 * glibc reports through aio_error() rather than from the call (a bad fd,
 * an fd not open for the operation, a bad lio_listio opcode).  The
 * request's notification and its list's reference work as for any other
 * completion.  Returns 0, or -errno if cb is refused outright.
 */
static int submit_failed(struct aiocb *cb, int op, int err,
			 struct kaio_list *list, int flags)
{
	struct kaio_notify nt;
	int ret;

	kaio__init();
	ret = validate_sync(cb, op, flags);
	if (ret) {
		/* Refused as kaio__submit() refuses (a bad aio_reqprio is
		 * looked at first, as in glibc, but for an fsync): written
		 * into, unless in progress. */
		kaio__notify_unreserve();
		if (ret == -EBUSY)
			return -EINVAL;
		refuse(cb, ret);
		return ret;
	}
	if (mark(cb, op)) {
		kaio__notify_unreserve();
		return -EINVAL;
	}
	if (list)
		atomic_fetch_add(&list->refs, 1);
	kaio__sigevent_copy(&nt, &cb->aio_sigevent);
	finish(cb, &nt, list, flags & KAIO_RQ_QUIET, -(ssize_t)err, 1);
	return 0;
}

int kaio__submit_failed(struct aiocb *cb, int err, struct kaio_list *list,
			int flags)
{
	return submit_failed(cb, -1, err, list, flags);
}

/*
 * Is all of the write cb below RLIMIT_FSIZE?  The kernel sends SIGXFSZ to
 * the thread that writes at or past the limit.  glibc's worker has every
 * signal blocked, so there it is only EFBIG (or a short count); in the
 * caller, the default action would kill the program.  Such a write goes
 * to a backend.  The limit is read again after KAIO_FSIZE_REUSE caller-side
 * writes of a thread while it is infinite, before every one while not.
 */
#define KAIO_FSIZE_REUSE	32

static __thread rlim_t tls_fsize;
static __thread int tls_fsize_left;

static int below_fsize(const struct aiocb *cb)
{
	struct rlimit rl;

	if (tls_fsize_left > 0 && tls_fsize == RLIM_INFINITY) {
		tls_fsize_left--;
		return 1;
	}
	if (getrlimit(RLIMIT_FSIZE, &rl))
		return 0;
	tls_fsize = rl.rlim_cur;
	tls_fsize_left = KAIO_FSIZE_REUSE;
	return rl.rlim_cur == RLIM_INFINITY ||
	       ((rlim_t)cb->aio_offset < rl.rlim_cur &&
		cb->aio_nbytes <= rl.rlim_cur - (rlim_t)cb->aio_offset);
}

/*
 * May a read or write of cb be tried in the caller, within the budget?
 * 0: no; 1: with RWF_NOWAIT; 2: a write, where RWF_NOWAIT is refused
 * (try_write() alone).
 */
static int caller_may(const struct aiocb *cb, int op, int fl, size_t *left)
{
	if (op != KAIO_OP_READ && (op != KAIO_OP_WRITE || (fl & O_APPEND)))
		return 0;
	/* A stream is never read in the caller: a short read of it must
	 * not be finished with a second one.  Nor a transfer of nothing:
	 * preadv2() and pwritev2() answer 0 before they ask the file or look
	 * at the buffer, where pread(2) and pwrite(2), glibc's and a
	 * backend's, give a directory's EISDIR or a bad buffer's EFAULT. */
	if ((fl & (O_DIRECT | KAIO_FL_STREAM)) || cb->aio_offset < 0 ||
	    !cb->aio_nbytes || !kaio__cfg.nowait ||
	    kaio__cfg.backend == KAIO_BACKEND_KERNEL ||
	    kaio__cfg.backend == KAIO_BACKEND_URING)
		return 0;
	if (cb->aio_nbytes > *left)
		return 0;
	if (op == KAIO_OP_WRITE && !below_fsize(cb))
		return 0;
	if (nowait_ok(cb->aio_fildes, op))
		return 1;
	return op == KAIO_OP_WRITE ? 2 : 0;
}

/*
 * aio_error() then says why cb was refused (lio_listio's EIO and EAGAIN
 * send the program there), and aio_return() gives -1.  A refusal after
 * mark() ends what aio_error() showed as EINPROGRESS: a thread in
 * aio_suspend() may have seen that and gone to sleep on it.
 */
static void refused(struct aiocb *cb, int ret)
{
	cb->__return_value = -1;
	kaio__cb_set(&cb->__abs_prio,
		     atomic_load_explicit(&kaio__epoch, memory_order_relaxed));
	kaio__cb_set(&cb->__policy, KAIO_MAGIC);
	atomic_store_explicit((atomic_int *)&cb->__error_code, -ret,
			      memory_order_release);
	if (kaio__suspending_now())
		wake_waiters();
}

/* refused(), for an aiocb not owned yet: unless another thread's
 * submission has it meanwhile (then it is left to that one). */
static void refuse(struct aiocb *cb, int ret)
{
	unsigned long long w;

	if (claim(cb, &w))
		return;
	refused(cb, ret);
	claim_end(cb, w);
}

/*
 * lio_listio() refused as a whole before it submitted any (its own
 * notification could not be reserved, or no memory): each entry it would
 * have submitted says so, as each of glibc's says EAGAIN when it could
 * not be queued.  POSIX sends the program to them.  Not one in progress
 * (the program's mistake: it keeps its own state), nor a LIO_NOP.
 */
void kaio__lio_refused(struct aiocb *const list[], int nent, int err)
{
	int i;

	for (i = 0; i < nent; i++)
		if (list[i] && (list[i]->aio_lio_opcode == LIO_READ ||
				list[i]->aio_lio_opcode == LIO_WRITE))
			refuse(list[i], -err);
}

/*
 * Cancellation, for aio_read() and aio_write(), which are no cancellation
 * points (in glibc only aio_suspend() is).  Their entries do not disable
 * it: a cached read or a write completed in the caller, without a
 * notification, reaches no cancellation point (its system calls are made
 * with the syscall instruction; fcntl(F_GETFL), fstat() and lseek() are
 * none), and two pthread_setcancelstate() calls were 45 of its 330
 * instructions in the library and libc.  Every other way through
 * submit() disables it first, through *cs (-1: not yet; NULL: the caller
 * did), and the entry restores it.  A handler of some other signal that
 * acts on a pending cancellation in the middle of aio_read() unwinds it
 * there, as it would glibc's (which holds its request lock meanwhile).
 */
static void nocancel(int *cs)
{
	if (cs && *cs < 0)
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, cs);
}

/*
 * Does a completion in the caller run anything of the program's or the
 * library's that may act on a cancellation?  A callback, a queue, and a
 * signal too: it may be delivered to this thread on the way out of the
 * system call that queues it, and its handler may call write(2) or
 * aio_suspend(), which would unwind the thread with the signal counted
 * in (kaio__signalling) for ever.  No notification, or signal number 0
 * (a zeroed aiocb: nothing is sent), does not.
 */
static int notifies(const struct sigevent *sev)
{
	return kaio__notifies(sev->sigev_notify, sev->sigev_signo);
}

/*
 * Submit cb.  Returns 0 when the request was accepted (it may already be
 * complete) or -errno when it was not; then nothing was queued, no
 * notification will follow, and the list (if any) holds no reference.
 * The aiocb is not touched when it is refused because it is still in
 * progress, or by aio_fsync() for a bad fd; otherwise a refusal is also
 * written into it, as glibc does.
 */
static int submit(struct aiocb *cb, int op, struct kaio_list *list,
		  int flags, struct kaio_batch *batch, int *cs)
{
	struct kaio_notify nt;
	struct kaio_req *req;
	size_t done = 0, budget = KAIO_CALLER_BYTES;
	size_t *left = batch ? &batch->caller_left : &budget;
	ssize_t n = -EAGAIN;
	long long t0 = 0, now;
	/* errno's address once: restoring it then touches no libc code
	 * after the read's system call (a call per request, measured). */
	int *errp = &errno;
	int fl, eof = 0, ret, cached, how, saved = *errp;

	if (kaio_unlikely(notifies(&cb->aio_sigevent)))
		nocancel(cs);
	kaio__init();
	if (kaio_unlikely(kaio__cfg.stats))
		t0 = kaio__now_ns();
	ret = validate_sync(cb, op, flags);
	if (ret) {
		if (ret == -EBUSY)
			return -EINVAL;	/* in progress: not touched */
		kaio__notify_unreserve();	/* nothing was bound */
		refuse(cb, ret);
		return ret;
	}
	ret = validate_fd(cb, op, &fl, &cached);
	if (kaio_unlikely(ret)) {
		/* glibc's aio_fsync() checks the fd before it touches the
		 * aiocb: refused, it is left as it was.  A lio_listio()
		 * entry (list) is not checked there: it completes with the
		 * error, as a read's does. */
		if ((op == KAIO_OP_FSYNC || op == KAIO_OP_FDSYNC) && !list) {
			kaio__notify_unreserve();
			return ret;
		}
		nocancel(cs);
		kaio__count(op_stat[op]);
		ret = submit_failed(cb, op, -ret, list, flags);
		*errp = saved;
		return ret;
	}
	if (kaio_unlikely(mark(cb, op))) {
		kaio__notify_unreserve();
		return -EINVAL;		/* another thread's submission has it */
	}
	kaio__count(op_stat[op]);

	/* A read the page cache may serve at once, in a list entered into
	 * this thread's ring: into the batch, reaped at once (lio.c). */
	how = caller_may(cb, op, fl, left);
	if (batch && batch->ring && op == KAIO_OP_READ &&
	    (how || (kaio__cfg.backend == KAIO_BACKEND_URING &&
		     !(fl & (O_DIRECT | KAIO_FL_STREAM))))) {
		how = 0;
		batch->diverted++;
	}
	if (how) {
		n = how == 1 ? try_nowait(cb, op, &done, &eof) : -EOPNOTSUPP;
		if (n == -EOPNOTSUPP && how == 1)
			nowait_refused(cb->aio_fildes, op);
		/* A buffered write RWF_NOWAIT did not finish: a plain one,
		 * while the fd's writes do not block (try_write()). */
		if (op == KAIO_OP_WRITE &&
		    (n == -EOPNOTSUPP || n == -EAGAIN ||
		     (n >= 0 && done < cb->aio_nbytes)) &&
		    write_fast(cb->aio_fildes, now = kaio__now_ns()))
			n = try_write(cb, &done, now);
		*left -= done;
		if (n == -ESPIPE || n == -EAGAIN || n == -EOPNOTSUPP)
			done = 0;
		else if (n == -EBADF && cached) {
			/*
			 * The fd changed since its flags were cached.  EBADF
			 * is the read's own result: the fd was closed, or not
			 * open for it, when it ran.  The fresh flags replace
			 * the cached ones; if they fail, their error is the
			 * one glibc's check would have given.
			 */
			cached = 0;
			ret = fetch_flags(cb->aio_fildes, op, &fl);
			if (ret)
				n = ret;
		}
		if (n != -ESPIPE && n != -EAGAIN && n != -EOPNOTSUPP &&
		    (n < 0 || done == cb->aio_nbytes || eof)) {
			kaio__count(KAIO_STAT_INLINE);
			if (t0)
				kaio__latency(KAIO_SERVED_INLINE, t0);
			if (!list && !notifies(&cb->aio_sigevent)) {
				/* finish() with nothing to send: the result,
				 * and a wake for aio_suspend() (a tenth of a
				 * cached read's instructions were the rest). */
				store_result(cb, n);
				if (kaio__suspending_now())
					wake_waiters();
				*errp = saved;
				return 0;
			}
			if (list)
				atomic_fetch_add(&list->refs, 1);
			kaio__sigevent_copy(&nt, &cb->aio_sigevent);
			finish(cb, &nt, list, flags & KAIO_RQ_QUIET, n,
			       list ? 1 : -1);
			*errp = saved;
			return 0;
		}
		kaio__count(KAIO_STAT_NOWAIT_FALLBACK);
	}
	nocancel(cs);
	/* A backend gets the request: route it on the fd's flags as they are. */
	if (cached && !still_file(cb->aio_fildes, op, fl)) {
		cached = 0;
		ret = fetch_flags(cb->aio_fildes, op, &fl);
		if (ret) {
			if (list)
				atomic_fetch_add(&list->refs, 1);
			kaio__sigevent_copy(&nt, &cb->aio_sigevent);
			finish(cb, &nt, list, flags & KAIO_RQ_QUIET, ret, 1);
			*errp = saved;
			return 0;
		}
	}

	req = build(cb, op, list, flags);
	if (!req)
		goto nomem;
	if (kaio__is_pathop(op)) {
		ret = kaio__path_capture(req, cb);
		if (ret) {
			kaio__req_free(req);
			goto fail;
		}
	}
	req->done = done;
	req->t0 = t0;
	if ((op == KAIO_OP_READ || op == KAIO_OP_WRITE) &&
	    cb->aio_nbytes - done > *left)
		req->flags |= KAIO_RQ_OFFLOAD;
	else if (op == KAIO_OP_READ || op == KAIO_OP_WRITE)
		*left -= cb->aio_nbytes - done;
	classify(req, fl);
	if (cached)
		req->flags |= KAIO_RQ_KEPT;
	ret = kaio__creds_prepare(req);	/* what may reach the pool later */
	if (ret) {
		kaio__req_free(req);
		goto fail;
	}
	kaio__pending_add(req, 1);
	if (list)
		atomic_fetch_add(&list->refs, 1);
	if (batch && batch->n < KAIO_BATCH_MAX &&
	    !(req->flags & (KAIO_RQ_SERIAL | KAIO_RQ_TRACKED)) &&
	    req->op == KAIO_OP_READ) {
		batch->reqs[batch->n++] = req;	/* submitted by the caller */
		*errp = saved;
		return 0;
	}
	kaio__creds_window(req, NULL);	/* the pool may capture it now */
	ret = kaio__fd_dispatch(req);
	kaio__creds_window(NULL, NULL);
	if (ret) {
		kaio__pending_sub(req);
		if (list)
			atomic_fetch_sub(&list->refs, 1);
		kaio__req_free(req);
		goto fail;
	}
	*errp = saved;
	return 0;
nomem:
	ret = -EAGAIN;
fail:
	kaio__notify_unreserve();	/* nothing was bound: see notify.c */
	refused(cb, ret);
	return ret;
}

int kaio__submit(struct aiocb *cb, int op, struct kaio_list *list, int flags,
		 struct kaio_batch *batch)
{
	return submit(cb, op, list, flags, batch, NULL);
}

/*
 * Send a batch on.  A request no backend takes is refused, as it would
 * have been alone (kaio__submit()) and as glibc's lio_listio() refuses an
 * entry it cannot queue: no backend ever saw it, its aiocb says EAGAIN,
 * it sends no notification and its list holds no reference for it.
 * Returns how many were refused (lio.c counts them as refusals).
 */
int kaio__batch_submit(struct kaio_batch *batch) KAIO_HIDDEN;
int kaio__batch_submit(struct kaio_batch *batch)
{
	struct kaio_req *failed = NULL, *r;
	struct aiocb *cb;
	struct kaio_window old;
	int n = 0, poll;

	if (!batch->n)
		return 0;
	/* Reads entered into this thread's ring: reaped here, at once. */
	poll = batch->ring && batch->diverted;
	batch->diverted = 0;
	if (poll)
		kaio__reaper_poll_begin(batch->ring, &old);
	kaio__creds_window(NULL, batch);
	kaio__backend_submit_batch(batch->reqs, batch->n, &failed);
	kaio__creds_window(NULL, NULL);
	batch->n = 0;
	while ((r = failed)) {
		failed = r->next;
		cb = r->cb;
		kaio__pending_sub(r);
		if (r->list)	/* the submitter holds one: never the last */
			atomic_fetch_sub(&r->list->refs, 1);
		kaio__req_free(r);	/* unfinished: its record is released */
		refused(cb, -EAGAIN);
		n++;
	}
	if (poll)
		kaio__reaper_poll_end(batch->ring, &old);
	return n;
}

void kaio__batch_flush(struct kaio_batch *batch)
{
	kaio__batch_submit(batch);
}

KAIO_EXPORT int kaio_poll(struct aiocb *cb)
{
	int ret, cs;

	if (cb->aio_nbytes > 0xffff)
		return kaio__fail(EINVAL);
	/* No cancellation point, as aio_read() (compat.c). */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	ret = kaio__submit(cb, KAIO_OP_POLL, NULL, 0, NULL);
	pthread_setcancelstate(cs, NULL);
	return ret ? kaio__fail(-ret) : 0;
}

/* aio_read() and aio_write(): cancellation is disabled by submit(), if
 * at all (nocancel()), and restored here, after errno is set. */
static int submit_public(struct aiocb *cb, int op)
{
	int cs = -1, ret = submit(cb, op, NULL, 0, NULL, &cs);

	if (ret)
		ret = kaio__fail(-ret);
	if (cs >= 0)
		pthread_setcancelstate(cs, NULL);	/* keeps errno */
	return ret;
}

int kaio__aio_read(struct aiocb *cb)
{
	return submit_public(cb, KAIO_OP_READ);
}

int kaio__aio_write(struct aiocb *cb)
{
	return submit_public(cb, KAIO_OP_WRITE);
}

int kaio__aio_fsync(int op, struct aiocb *cb)
{
	int ret;

	if (op != O_SYNC && op != O_DSYNC)
		return kaio__fail(EINVAL);
	ret = kaio__submit(cb, op == O_SYNC ? KAIO_OP_FSYNC : KAIO_OP_FDSYNC,
			   NULL, 0, NULL);
	return ret ? kaio__fail(-ret) : 0;
}

/* Is cb a request of this process (its result taken or not)? */
static int ours(const struct aiocb *cb)
{
	return kaio__cb_state(cb) != KAIO_CB_FOREIGN;
}

/*
 * Async-signal-safe.  After aio_return() it still gives the request's
 * final status, as glibc's does.  A request in progress in a ring that
 * holds completions: they are reaped here (kaio__reaper_collect()), so a
 * program that polls aio_error() reads its completions in its own thread,
 * as an io_uring program reads its completion queue.  Not from a handler
 * that interrupted the library, which may hold the ring's lock.
 */
int kaio__aio_error(const struct aiocb *cb)
{
	struct kaio_reaper *r;
	int err, saved, held;

	held = kaio__flush_deferred_poll(cb);
	if (!ours(cb))
		return kaio__fail(EINVAL);
	err = kaio__cb_error(cb);
	if (err != EINPROGRESS || kaio__tls_depth || held ||
	    !(r = kaio__cb_hint(cb)) || !r->ready)
		return err;
	saved = errno;
	if (kaio__reaper_collect(r))
		err = kaio__cb_error(cb);
	errno = saved;
	return err;
}

/*
 * Lock-free and async-signal-safe; releases the request.  While the
 * request is in progress it gives what glibc's gives, the value so far
 * (0), and releases nothing.
 */
ssize_t kaio__aio_return(struct aiocb *cb)
{
	int magic = KAIO_MAGIC;

	if (!ours(cb))
		return kaio__fail(EINVAL);
	if (atomic_load_explicit((atomic_int *)&cb->__error_code,
				 memory_order_acquire) == EINPROGRESS)
		return 0;
	if (!atomic_compare_exchange_strong((atomic_int *)&cb->__policy,
					    &magic, KAIO_MAGIC_RETURNED))
		return kaio__fail(EINVAL);
	return cb->__return_value;
}
