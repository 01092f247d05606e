/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdmap.c - per-fd ordering: the fsync barrier and serial (O_APPEND and
 * non-seekable) queues.
 *
 * Concurrency contract:
 * - The state of an fd is found in the fd table (fdtable.h), lock-free.
 * - Every list in a struct kaio_fd is protected by its mutex.  A request is
 *   on at most one of sqhead (waiting for its serial turn), fshead (an
 *   fsync waiting for earlier writes), fghead (an fsync waiting for the
 *   next kernel fsync) or rdhead (an fsync riding on the one in the
 *   kernel) and, independently, on whead (an outstanding tracked write)
 *   until kaio__fd_done().
 * - Lock order: kaio_fd.lock, then the pool's lock.  The fd lock is held
 *   while a request moves from an fd queue to a backend so that
 *   aio_cancel() always finds it in one place or the other.
 * - Nothing completes under the fd lock: a backend's submit() takes a
 *   request or declines it by its return value, never completes one
 *   (backend.h), and what no backend takes is completed after the lock
 *   is dropped.  kaio__complete() fails loudly if it is ever called under
 *   an fd lock (kaio__tls_nocomplete).
 * - A fork child starts with an empty table (fdtable.c).
 * - A close() of a number where fsyncs or O_APPEND writes wait has them
 *   take its file first (kaio__fd_hold_files()): they run on that file
 *   when their turn comes, as if the close had not happened.
 *
 * Group commit: at most one fsync per fd is in the kernel (f->fslead).
 * An fsync whose writes are done while another runs waits on fghead for
 * the next; when the running one ends, the head of fghead goes to the
 * kernel and the others ride on it (rdhead): they complete with its
 * result, without an fsync of their own.  That is exact: each of them was
 * submitted, and its writes had completed, before the fsync it rides on
 * started, so that fsync covers everything it must (fsync(2) flushes the
 * whole file, whatever wrote it).  An fsync(2) that had already started
 * covers nothing submitted after it started, so nothing rides on a
 * running one.  One still in its ring's submission queue has not started:
 * the kernel reads the queue only when the ring is entered, and the fd's
 * fsopen is cleared before that (backend-uring.c).  Until then an fsync
 * whose writes are done rides on it at once.  A leader waits there only
 * on an fd where fsyncs came while one was out (fsburst), until one runs
 * alone: a lone fsync goes to the kernel at once.  The group's head is an
 * O_SYNC fsync if any of the group is one (it covers O_DSYNC's).  Only
 * fsyncs of the same file ride on each other: submitted with no close()
 * or dup2() of the number seen between them (file_key()).  N
 * fsyncs that come while one runs cost the kernel one more, not N, and
 * none if it has not started: fio before 3.37 issues about one per write
 * at iodepth 32 (bench/README.md).  If the one in the kernel is
 * cancelled, its riders wait for the next.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "fdtable.h"

static void track(struct kaio_fd *f, struct kaio_req *req)
{
	req->wseq = f->wseq_next++;
	req->wnext = NULL;
	req->wprev = f->wtail;
	if (f->wtail)
		f->wtail->wnext = req;
	else
		f->whead = req;
	f->wtail = req;
}

/* Link r at the front of a queue. */
static void q_front(struct kaio_req **head, struct kaio_req **tail,
		    struct kaio_req *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	else
		*tail = r;
	*head = r;
}

/* Move the whole of queue b in front of queue a. */
static void q_prepend(struct kaio_req **ah, struct kaio_req **at,
		      struct kaio_req **bh, struct kaio_req **bt)
{
	if (!*bh)
		return;
	(*bt)->next = *ah;
	if (*ah)
		(*ah)->prev = *bt;
	else
		*at = *bt;
	*ah = *bh;
	*bh = *bt = NULL;
}

static void release(struct kaio_fd *f, struct kaio_req **failed);
static void fail_all(struct kaio_req *failed);

/* No request completes while this thread holds an fd lock (request.c). */
static void fd_lock(struct kaio_fd *f)
{
	pthread_mutex_lock(&f->lock);
	kaio__tls_nocomplete++;
}

static void fd_unlock(struct kaio_fd *f)
{
	kaio__tls_nocomplete--;
	pthread_mutex_unlock(&f->lock);
}

/* An fsync whose writes are done waits for the next kernel fsync. */
static void group(struct kaio_fd *f, struct kaio_req *r)
{
	if (r->op == KAIO_OP_FSYNC && f->fghead &&
	    f->fghead->op != KAIO_OP_FSYNC)
		q_front(&f->fghead, &f->fgtail, r);	/* it leads */
	else
		kaio__q_push(&f->fghead, &f->fgtail, r);
}

/* An fsync(2) covers an fdatasync(2), never the other way round. */
static int covers(const struct kaio_req *lead, const struct kaio_req *r)
{
	return lead->op == KAIO_OP_FSYNC || r->op == KAIO_OP_FDSYNC;
}

/*
 * The key of the file f's number names: its generation plus the epoch
 * (fdgen.c), which only grow.  Two fsyncs of the number with the same key
 * were submitted with no close(), dup2() or the like of it seen between
 * them, so they name one file; with different keys they may not.  Under
 * f->lock.
 */
static unsigned long long file_key(struct kaio_fd *f)
{
	return atomic_load_explicit(&f->gen, memory_order_acquire) +
	       atomic_load_explicit(&kaio__fd_epoch, memory_order_acquire);
}

/* Set whenever an fsync or an O_APPEND write waits in an fd's queue
 * (kaio__fd_hold_files()): the highest such number, and whether one
 * waited since kaio__fd_hold_all_files() last looked. */
static atomic_int fs_maxfd, fs_any;

static void fs_queued(struct kaio_fd *f, int fd)
{
	int max;

	atomic_store_explicit(&f->fsq, 1, memory_order_relaxed);
	max = atomic_load_explicit(&fs_maxfd, memory_order_relaxed);
	while (fd > max &&
	       !atomic_compare_exchange_weak(&fs_maxfd, &max, fd))
		;
	if (!atomic_load_explicit(&fs_any, memory_order_relaxed))
		atomic_store(&fs_any, 1);
}

/*
 * The group waiting on f's fghead, less lead, rides on lead: those lead
 * covers() and of the same file (file_key()).  The others wait for the
 * next fsync: one that rode on another file's would sync the wrong file
 * (a number closed and opened again while they waited: each holds its
 * own file then, kaio__fd_hold_files()).
 */
static void board(struct kaio_fd *f, struct kaio_req *lead)
{
	struct kaio_req *r, *next;

	for (r = f->fghead; r; r = next) {
		next = r->next;
		if (r->fkey != lead->fkey || !covers(lead, r))
			continue;
		kaio__q_del(&f->fghead, &f->fgtail, r);
		kaio__q_push(&f->rdhead, &f->rdtail, r);
	}
}

/*
 * No fsync in the kernel: send the group's head, the rest ride on it.  A
 * head the backend refuses goes on *failed (completed with its error once
 * the lock is dropped), and the next one leads.
 */
static void kick(struct kaio_fd *f, struct kaio_req **failed)
{
	struct kaio_req *r;

	while (!f->fslead && f->fghead) {
		/* The leader must cover() the whole group: an O_SYNC
		 * fsync leads if it has one (its order can change when a
		 * leader is cancelled or refused). */
		for (r = f->fghead; r && r->op != KAIO_OP_FSYNC; r = r->next)
			;
		if (!r)
			r = f->fghead;
		kaio__q_del(&f->fghead, &f->fgtail, r);
		board(f, r);
		f->fslead = r;
		if (kaio__backend_submit(r)) {
			f->fslead = NULL;
			q_prepend(&f->fghead, &f->fgtail, &f->rdhead,
				  &f->rdtail);
			r->next = *failed;
			*failed = r;
		}
	}
}

/* The kernel fsync is over (or was taken back): its riders, for res. */
static struct kaio_req *lead_done(struct kaio_fd *f, ssize_t res)
{
	struct kaio_req *riders = f->rdhead;

	f->fslead = NULL;
	if (!riders && !f->fghead)
		f->fsburst = 0;		/* it ran alone */
	if (res == -ECANCELED) {
		/* It did not run: they wait for the next one. */
		q_prepend(&f->fghead, &f->fgtail, &f->rdhead, &f->rdtail);
		return NULL;
	}
	f->rdhead = f->rdtail = NULL;
	return riders;
}

static void untrack(struct kaio_fd *f, struct kaio_req *r)
{
	if (r->wprev)
		r->wprev->wnext = r->wnext;
	else
		f->whead = r->wnext;
	if (r->wnext)
		r->wnext->wprev = r->wprev;
	else
		f->wtail = r->wprev;
	r->wnext = r->wprev = NULL;
}

/*
 * Queue a request on the fd's lists and, if its turn has come, a backend.
 * Everything is recorded before the request is handed on: once a backend
 * has it, another thread may be completing it.
 */
int kaio__fd_dispatch(struct kaio_req *req)
{
	struct kaio_fd *f;
	int flags = req->flags, ret = 0;

	req->tid = kaio__tid();	/* its submitter hands it on (backend.c) */
	if (!(flags & (KAIO_RQ_SERIAL | KAIO_RQ_TRACKED)) &&
	    req->op != KAIO_OP_FSYNC && req->op != KAIO_OP_FDSYNC)
		return kaio__backend_submit(req);

	f = kaio__fd_get(req->fd);
	if (!f)
		return -EAGAIN;
	req->f = f;
	fd_lock(f);
	if (req->op == KAIO_OP_FSYNC || req->op == KAIO_OP_FDSYNC) {
		req->wseq = f->wseq_next;	/* ticket: writes before it */
		req->fkey = file_key(f);
		if (f->fslead || f->fghead)
			f->fsburst = 1;
		if (!f->whead && f->fslead && atomic_load(&f->fsopen) &&
		    covers(f->fslead, req) && f->fslead->fkey == req->fkey) {
			/* Not started yet: it covers this one.  It is
			 * entered now, not at its thread's next call, for
			 * another thread's or one that is waited for. */
			int now = f->fslead->tid != req->tid || req->list ||
				  kaio__notifies(req->nt.notify,
						 req->nt.signo);

			kaio__q_push(&f->rdhead, &f->rdtail, req);
			req->flags |= KAIO_RQ_QUEUED;
			fs_queued(f, req->fd);
			kaio__backend_defer(req);	/* req->tid = 0 */
			if (now)
				kaio__uring_enter_ring(f->fsring);
			goto out;
		}
		if (f->whead || f->fslead || f->fghead) {
			if (f->whead)
				kaio__q_push(&f->fshead, &f->fstail, req);
			else
				group(f, req);
			req->flags |= KAIO_RQ_QUEUED;
			fs_queued(f, req->fd);
			kaio__backend_defer(req);	/* released by another */
			goto out;
		}
		f->fslead = req;
		if (f->fsburst)		/* may wait in a ring for more */
			kaio__tls_fs_leader = req;
		ret = kaio__backend_submit(req);
		kaio__tls_fs_leader = NULL;
		if (ret)
			f->fslead = NULL;	/* not accepted */
		goto out;
	} else if (flags & KAIO_RQ_SERIAL) {
		if (f->serial_busy) {
			kaio__q_push(&f->sqhead, &f->sqtail, req);
			req->flags |= KAIO_RQ_QUEUED;
			if (!(flags & KAIO_RQ_NOSEEK))	/* O_APPEND */
				fs_queued(f, req->fd);
			kaio__backend_defer(req);	/* released by another */
			if (flags & KAIO_RQ_TRACKED)
				track(f, req);
			goto out;
		}
		f->serial_busy = 1;
	}
	if (flags & KAIO_RQ_TRACKED)
		track(f, req);
	ret = kaio__backend_submit(req);
	if (ret) {
		/* Not accepted: nobody else can see it. */
		if (flags & KAIO_RQ_SERIAL)
			f->serial_busy = 0;
		if (flags & KAIO_RQ_TRACKED)
			untrack(f, req);
	}
out:
	fd_unlock(f);
	return ret;
}

/*
 * Start what became runnable: fsyncs whose earlier writes are all done,
 * and the next serial request.  Called with f->lock held.  A request the
 * backend refuses is completed with its error after the lock is dropped
 * (collected on *failed).
 */
static void release(struct kaio_fd *f, struct kaio_req **failed)
{
	struct kaio_req *r;

	while ((r = f->fshead) && (!f->whead || f->whead->wseq >= r->wseq)) {
		kaio__q_del(&f->fshead, &f->fstail, r);
		group(f, r);
	}
	kick(f, failed);
	while (!f->serial_busy && (r = f->sqhead)) {
		kaio__q_del(&f->sqhead, &f->sqtail, r);
		f->serial_busy = 1;
		if (kaio__backend_submit(r)) {
			f->serial_busy = 0;
			if (r->flags & KAIO_RQ_TRACKED)
				untrack(f, r);
			r->next = *failed;
			*failed = r;
		}
	}
}

/* Complete a chain of requests (linked by next) with res. */
static void complete_all(struct kaio_req *list, ssize_t res)
{
	struct kaio_req *r;

	while ((r = list)) {
		list = r->next;
		r->f = NULL;	/* its fd bookkeeping is done */
		kaio__complete(r, res);
		kaio__req_free(r);
	}
}

static void fail_all(struct kaio_req *failed)
{
	complete_all(failed, -EAGAIN);
}

/* req's bookkeeping when it ends with res; its riders, to complete. */
static struct kaio_req *done_locked(struct kaio_fd *f, struct kaio_req *req,
				    ssize_t res)
{
	if (req->flags & KAIO_RQ_TRACKED)
		untrack(f, req);
	if (req->flags & KAIO_RQ_SERIAL)
		f->serial_busy = 0;
	return f->fslead == req ? lead_done(f, res) : NULL;
}

/*
 * The request has finished running with res (or was cancelled from a
 * backend); the fsyncs that rode on it finish with the same result.
 */
void kaio__fd_done(struct kaio_req *req, ssize_t res)
{
	struct kaio_fd *f = req->f;
	struct kaio_req *failed = NULL, *riders;

	fd_lock(f);
	riders = done_locked(f, req, res);
	release(f, &failed);
	fd_unlock(f);
	req->f = NULL;
	complete_all(riders, res);
	fail_all(failed);
}

/* Is cb's request f's fsync leader, or one riding on it? */
static int rides(const struct kaio_fd *f, const struct aiocb *cb)
{
	const struct kaio_req *r;

	if (cb == f->fslead->cb)
		return 1;
	for (r = f->rdhead; r; r = r->next)
		if (cb == r->cb)
			return 1;
	return 0;
}

/* Riders at most for kaio__fd_take_held()'s look (the pairs it tries). */
#define TAKE_LOOK_MAX	64

/*
 * aio_suspend() without a timeout, in a thread that left fd's fsync
 * leader in its ring (suspend.c, kaio__suspend_run_held()): if every
 * request of list[] still in progress is the leader or an fsync riding on
 * it (nothing else could end the wait sooner), the leader, taken out of
 * that ring for the caller to run (kaio__uring_take_held()); else NULL.
 * It stays the fd's leader, no longer open to riders: it is about to
 * start.  It is marked KAIO_RQ_HERE, on no backend's list, for
 * aio_cancel() (kaio__fd_cancel()), and run here for close() (fdgen.c),
 * until kaio__fd_here_end().  *cw: a canceller to tell that it runs on.
 */
struct kaio_req *kaio__fd_take_held(int fd, const struct aiocb *const list[],
				    int nent, struct kaio_cancel **cw)
{
	struct kaio_fd *f = kaio__fd_peek(fd);
	struct kaio_req *lead = NULL;
	int i, seen = 0;

	if (!f || nent > TAKE_LOOK_MAX)
		return NULL;
	fd_lock(f);
	if (!f->fslead || !f->fsring || !atomic_load(&f->fsopen))
		goto out;
	for (i = 0; i < nent; i++) {
		if (!list[i] || !kaio__cb_in_progress(list[i]))
			continue;
		if (list[i]->aio_fildes != fd || !rides(f, list[i]))
			goto out;
		seen = 1;
	}
	if (!seen)
		goto out;
	/* Marked before the ring lets go of it (kaio__uring_take_held()). */
	kaio__fd_here_begin(f);
	if (kaio__uring_take_held(f->fsring, f->fslead, cw)) {
		lead = f->fslead;
		lead->flags |= KAIO_RQ_HERE;
	} else {
		kaio__fd_here_end(f);
	}
out:
	fd_unlock(f);
	return lead;
}

/* Is an fsync leader of fd left in a ring, not yet entered? */
int kaio__fd_fs_open(int fd)
{
	struct kaio_fd *f = kaio__fd_peek(fd);

	return f && atomic_load(&f->fsopen);
}

/* The requests waiting in f's queues take their file
 * (kaio__backend_hold_file()): fsyncs waiting for their writes or for the
 * next fsync, and O_APPEND writes waiting for their turn; those riding on
 * an fsync that runs need none, nor does a stream's read or write (it may
 * wait without bound: kaio_posix(7)).  f->lock held. */
static void hold_locked(struct kaio_fd *f)
{
	struct kaio_req *r;

	for (r = f->fshead; r; r = r->next)
		if (!r->uslot)
			kaio__backend_hold_file(r);
	for (r = f->fghead; r; r = r->next)
		if (!r->uslot)
			kaio__backend_hold_file(r);
	for (r = f->sqhead; r; r = r->next)
		if (!r->uslot && !(r->flags & KAIO_RQ_NOSEEK))
			kaio__backend_hold_file(r);
	if (!f->fshead && !f->fghead && !f->rdhead && !f->sqhead)
		atomic_store_explicit(&f->fsq, 0, memory_order_relaxed);
}

/*
 * fdgen.c calls these only outside the library (a handler that
 * interrupted it may hold a ring's lock or f's) and its threads: in a
 * window, so that no handler runs while the locks are held here (a
 * close() in it would wait for them for ever).
 */
static void hold_begin(struct kaio_window *w)
{
	kaio__window_open(w, 0);
	kaio__tls_depth++;
}

static void hold_end(struct kaio_window *w)
{
	kaio__tls_depth--;
	kaio__window_close(w);
}

void kaio__fd_hold_files(struct kaio_fd *f)
{
	struct kaio_window w;

	hold_begin(&w);
	fd_lock(f);
	hold_locked(f);
	fd_unlock(f);
	hold_end(&w);
}

/*
 * The numbers first to last are about to go (close_range(), closefrom(),
 * fcloseall()...): each one where a request waited since the last such
 * look.  Not if a ring's own descriptor is among them (rings: the call
 * may close one): a slot of a ring
 * the program closed could never be emptied (its file held till exit);
 * the requests keep their numbers then, as before.
 */
void kaio__fd_hold_range(int first, int last, int rings)
{
	struct kaio_window w;
	struct kaio_fd *f;
	int fd, max;

	if (kaio_likely(!atomic_load_explicit(&fs_any,
					      memory_order_relaxed)) ||
	    first < 0 || last < first ||
	    (rings && kaio__backend_holds_in(first, last)))
		return;
	hold_begin(&w);
	atomic_store(&fs_any, 0);	/* one queued from now sets it */
	max = atomic_load(&fs_maxfd);
	if (max > last)
		max = last;
	for (fd = first; fd <= max; fd++) {
		f = kaio__fd_peek(fd);
		if (!f || !atomic_load_explicit(&f->fsq, memory_order_relaxed))
			continue;
		fd_lock(f);
		hold_locked(f);
		if (atomic_load_explicit(&f->fsq, memory_order_relaxed))
			atomic_store(&fs_any, 1);	/* still waiting */
		fd_unlock(f);
	}
	hold_end(&w);
}

void kaio__fd_hold_fork_child(void)
{
	atomic_store(&fs_maxfd, 0);
	atomic_store(&fs_any, 0);
}

/* Take the matching requests off one fd queue, onto *out. */
static int steal(struct kaio_fd *f, struct kaio_req **head,
		 struct kaio_req **tail, int fd, struct aiocb *cb,
		 struct kaio_req **out, struct kaio_cancel *t)
{
	struct kaio_req *r, *next;
	int n = 0;

	for (r = *head; r; r = next) {
		next = r->next;
		if (!kaio__cancel_may(r, fd, cb, t))
			continue;
		kaio__q_del(head, tail, r);
		if (r->flags & KAIO_RQ_TRACKED)
			untrack(f, r);
		r->f = NULL;
		r->next = *out;
		*out = r;
		n++;
	}
	return n;
}

/*
 * Cancel what is queued for fd (only cb, if not NULL), in the fd's queues
 * and in the backends.  The cancelled requests are returned on *out, not
 * yet completed; kernel-backend requests are put on the ticket t.  The fd
 * lock is held throughout, so no request moves from an fd queue to a
 * backend between the two looks (one would be missed).
 */
int kaio__fd_cancel(int fd, struct aiocb *cb, struct kaio_req **out,
		    struct kaio_cancel *t)
{
	struct kaio_fd *f = kaio__fd_get(fd);
	struct kaio_req *pooled = NULL, *failed = NULL, *r;
	int n;

	if (!f) {
		n = 0;
		kaio__backend_cancel(fd, cb, out, t, &n);
		return n;
	}
	fd_lock(f);
	n = steal(f, &f->sqhead, &f->sqtail, fd, cb, out, t);
	n += steal(f, &f->fshead, &f->fstail, fd, cb, out, t);
	n += steal(f, &f->fghead, &f->fgtail, fd, cb, out, t);
	n += steal(f, &f->rdhead, &f->rdtail, fd, cb, out, t);
	kaio__backend_cancel(fd, cb, &pooled, t, &n);
	/* A leader its thread runs in aio_suspend(): on no backend's list,
	 * and running (kaio__fd_take_held()). */
	if (f->fslead && (f->fslead->flags & KAIO_RQ_HERE) &&
	    kaio__cancel_may(f->fslead, fd, cb, t))
		atomic_store(&t->running, 1);
	/* Requests taken from the backend still hold their fd bookkeeping. */
	while ((r = pooled)) {
		pooled = r->next;
		if (r->f) {
			if (r->flags & KAIO_RQ_TRACKED)
				untrack(f, r);
			if (r->flags & KAIO_RQ_SERIAL)
				f->serial_busy = 0;
			if (f->fslead == r)
				lead_done(f, -ECANCELED);
			r->f = NULL;
		}
		r->next = *out;
		*out = r;
	}
	release(f, &failed);
	fd_unlock(f);
	fail_all(failed);
	return n;
}
