/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * creds.c - every request a pool worker runs, runs with the identity of
 * the thread that submitted it.
 *
 * The identity is what the kernel checks a file operation against: the
 * file-system user ID, file-system group ID, supplementary groups and
 * effective capabilities.  On Linux all four are per thread (the raw
 * setfsuid/setfsgid/setgroups/capset system calls change only the calling
 * thread; glibc's wrappers of the setuid family change every thread), so
 * a worker that runs with its own would decide on a request with whatever
 * identity the thread that happened to start it had: a write that should
 * clear a setuid bit keeps it, one user opens another's file, a thread
 * that dropped CAP_DAC_OVERRIDE still has it.
 *
 * Submission side (the submitting thread, a few system calls):
 *   the identity is read with setfsuid(-1), setfsgid(-1), getgroups() and
 *   capget() of the calling thread, only for a request that may run on the
 *   pool, never for one that completes in the caller (it runs as the
 *   caller already), and when possible only once it is known to go there:
 *   - kaio__creds_prepare() captures at once for the requests that may
 *     reach the pool later, from another thread: those that wait in an fd
 *     queue (serial requests) and those the kernel may hand back (native
 *     AIO's RWF_NOWAIT reads);
 *   - every other request is captured by kaio__creds_for_pool() when the
 *     pool takes it, which must be in the submitting thread, while it
 *     submits that very request (kaio__creds_window()).
 *   A request that reaches the pool with no identity captured is refused
 *   (-EAGAIN: io_uring's completion of a short read or write then reports
 *   the short count); none ever runs with another thread's identity.
 *   The exception is an fsync (kaio_backends(7), "Identity"): fsync(2)
 *   checks no permission, so one sent on by another thread (its writes
 *   done, or native AIO refusing it) runs with that thread's identity in
 *   io_uring or native AIO, and with the worker's on the pool.  Capturing
 *   each was four system calls per aio_fsync(), most of them for fsyncs
 *   that ride on another's fsync(2) and run nothing.
 *
 * Worker side: a worker reads the identity it has before each request
 * (glibc's setuid() family may have changed it since the last), and
 * switches only when the request's differs, with the per-thread system
 * calls, in this order:
 *   1. capset: effective = the worker's permitted set (needs CAP_SETUID
 *      and CAP_SETGID for what follows);
 *   2. setgroups, setfsgid, setfsuid (setfsuid to non-zero drops the
 *      file-system capabilities from the effective set, to zero raises
 *      them: hence last, and then)
 *   3. capset: effective = the request's, exactly.
 * The worker never changes its permitted or inheritable sets, so it can
 * always switch again; what it can become is bounded by the permitted set
 * and IDs it was started with (those of the thread that started it).  A
 * request whose identity is out of reach, or any step that fails,
 * completes with EPERM without running; the worker then reads back what it
 * has.  Nothing is restored after a request: the next one switches only
 * if it must.
 */
#include "config.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kaio-int.h"

/* The 32-bit ID versions where the plain ones take 16-bit IDs. */
#ifdef SYS_setfsuid32
#define SYS_SETFSUID	SYS_setfsuid32
#define SYS_SETFSGID	SYS_setfsgid32
#define SYS_GETGROUPS	SYS_getgroups32
#define SYS_SETGROUPS	SYS_setgroups32
#else
#define SYS_SETFSUID	SYS_setfsuid
#define SYS_SETFSGID	SYS_setfsgid
#define SYS_GETGROUPS	SYS_getgroups
#define SYS_SETGROUPS	SYS_setgroups
#endif

/* -1 is never a thread's file-system ID: it is the "just tell me" call. */
#define NO_ID	((long)(uid_t)-1)

static inline const gid_t *groups_of(const struct kaio_creds *c)
{
	return c->ngroups > KAIO_CREDS_NINLINE ? c->more : c->grp;
}

static int caps_get(uint32_t eff[2], uint32_t prm[2], uint32_t inh[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	eff[0] = d[0].effective, eff[1] = d[1].effective;
	if (prm)
		prm[0] = d[0].permitted, prm[1] = d[1].permitted;
	if (inh)
		inh[0] = d[0].inheritable, inh[1] = d[1].inheritable;
	return 0;
}

static int caps_set(const uint32_t eff[2], const uint32_t prm[2],
		    const uint32_t inh[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int i;

	for (i = 0; i < 2; i++) {
		d[i].effective = eff[i];
		d[i].permitted = prm[i];
		d[i].inheritable = inh[i];
	}
	return (int)syscall(SYS_capset, &h, d);
}

/*
 * The calling thread's identity, into c (c->more is replaced: free it
 * first).  0, -EAGAIN without memory, or -EPERM if the thread's identity
 * cannot be read (a seccomp filter, say).  errno is preserved.
 */
int kaio__creds_capture(struct kaio_creds *c)
{
	int saved = errno, ret = 0;
	long n;

	c->more = NULL;
	c->fsuid = (uid_t)syscall(SYS_SETFSUID, NO_ID);
	c->fsgid = (gid_t)syscall(SYS_SETFSGID, NO_ID);
	if (c->fsuid == (uid_t)-1 || c->fsgid == (gid_t)-1 ||
	    caps_get(c->cap, NULL, NULL)) {
		ret = -EPERM;
		goto out;
	}
	n = syscall(SYS_GETGROUPS, KAIO_CREDS_NINLINE, c->grp);
	while (n < 0 && errno == EINVAL) {	/* more than fit inline */
		free(c->more);
		c->more = NULL;
		n = syscall(SYS_GETGROUPS, 0, NULL);
		if (n <= KAIO_CREDS_NINLINE) {	/* they just changed */
			n = syscall(SYS_GETGROUPS, KAIO_CREDS_NINLINE, c->grp);
			continue;
		}
		c->more = malloc((size_t)n * sizeof(gid_t));
		if (!c->more) {
			ret = -EAGAIN;
			goto out;
		}
		n = syscall(SYS_GETGROUPS, n, c->more);
	}
	if (n < 0) {
		ret = -EPERM;
		goto out;
	}
	c->ngroups = (int)n;
	if (n <= KAIO_CREDS_NINLINE) {
		free(c->more);
		c->more = NULL;
	}
out:
	if (ret) {
		free(c->more);
		c->more = NULL;
	}
	errno = saved;
	return ret;
}

void kaio__creds_release(struct kaio_creds *c)
{
	free(c->more);
	c->more = NULL;
}

static int same(const struct kaio_creds *a, const struct kaio_creds *b)
{
	return a->fsuid == b->fsuid && a->fsgid == b->fsgid &&
	       a->cap[0] == b->cap[0] && a->cap[1] == b->cap[1] &&
	       a->ngroups == b->ngroups &&
	       !memcmp(groups_of(a), groups_of(b),
		       (size_t)a->ngroups * sizeof(gid_t));
}

static int capture_into(struct kaio_req *req)
{
	int ret = kaio__creds_capture(&req->creds);

	if (!ret)
		req->flags |= KAIO_RQ_CREDS;
	return ret;
}

/*
 * Before req leaves its submitting thread (kaio__submit(), after the
 * request is classified): capture now what may reach the pool from another
 * thread later.  Everything else waits for kaio__creds_for_pool().
 */
int kaio__creds_prepare(struct kaio_req *req)
{
	if (req->flags & KAIO_RQ_CREDS)
		return 0;
	if ((req->flags & KAIO_RQ_SERIAL) ||		/* an fd queue */
	    (kaio__cfg.backend == KAIO_BACKEND_KERNEL &&	/* RWF_NOWAIT */
	     req->op == KAIO_OP_READ && !(req->flags & KAIO_RQ_DIRECT)))
		return capture_into(req);
	return 0;
}

/*
 * req, which this thread submitted to a kernel backend, may reach the pool
 * from another thread after all: aio_cancel() left it to run, and io-wq,
 * told to stop it, may yet drop it before it begins (ECANCELED), and it
 * then runs on the pool, as AIO_NOTCANCELED says.  Refused there for want
 * of an identity, such a write completed with EAGAIN instead (1 in 40,000
 * writes cancelled at once, CI).  Captured now, in its submitter; a
 * request another thread cancels keeps none (who is it?), nor needs an
 * fsync one.
 */
void kaio__creds_keep(struct kaio_req *req)
{
	if (!(req->flags & KAIO_RQ_CREDS) && req->op != KAIO_OP_FSYNC &&
	    req->op != KAIO_OP_FDSYNC && req->tid && req->tid == kaio__tid())
		capture_into(req);
}

/* The request (or batch) this thread is handing to the backends now. */
static __thread struct kaio_req *win_req
	__attribute__((tls_model("initial-exec")));
static __thread struct kaio_batch *win_batch
	__attribute__((tls_model("initial-exec")));

void kaio__creds_window(struct kaio_req *req, struct kaio_batch *batch)
{
	win_req = req;
	win_batch = batch;
}

static int in_window(const struct kaio_req *req)
{
	int i;

	if (req == win_req)
		return 1;
	if (win_batch)
		for (i = 0; i < win_batch->n; i++)
			if (win_batch->reqs[i] == req)
				return 1;
	return 0;
}

/* The pool is about to take req: 0 if it has its submitter's identity,
 * or is an fsync sent on by another thread (the worker's will do). */
int kaio__creds_for_pool(struct kaio_req *req)
{
	if (req->flags & KAIO_RQ_CREDS)
		return 0;
	if (!in_window(req))
		return req->op == KAIO_OP_FSYNC || req->op == KAIO_OP_FDSYNC ?
		       0 : -EAGAIN;	/* not its submitter: who is it? */
	return capture_into(req);
}

/* Read what the worker is, and what it may become, from the kernel. */
static void reread(struct kaio_wcreds *w)
{
	uint32_t eff[2];

	kaio__creds_release(&w->cur);
	w->ok = caps_get(eff, w->prm, w->inh) == 0;
	w->known = w->ok && kaio__creds_capture(&w->cur) == 0;
	w->more_cap = w->known && w->cur.ngroups > KAIO_CREDS_NINLINE ?
		      w->cur.ngroups : 0;
}

/* A new worker. */
void kaio__creds_worker_init(struct kaio_wcreds *w)
{
	int saved = errno;

	memset(w, 0, sizeof(*w));
	reread(w);
	errno = saved;
}

void kaio__creds_worker_fini(struct kaio_wcreds *w)
{
	kaio__creds_release(&w->cur);
	w->known = 0;
}

/* Record t as the worker's identity (its groups in the worker's buffer). */
static void remember(struct kaio_wcreds *w, const struct kaio_creds *t)
{
	gid_t *more = w->cur.more;

	if (t->ngroups > KAIO_CREDS_NINLINE && t->ngroups > w->more_cap) {
		free(more);
		more = malloc((size_t)t->ngroups * sizeof(gid_t));
		w->more_cap = more ? t->ngroups : 0;
		if (!more) {
			w->cur.more = NULL;
			w->known = 0;	/* the next request switches fully */
			return;
		}
	}
	w->cur.fsuid = t->fsuid;
	w->cur.fsgid = t->fsgid;
	w->cur.cap[0] = t->cap[0];
	w->cur.cap[1] = t->cap[1];
	w->cur.ngroups = t->ngroups;
	memcpy(w->cur.grp, t->grp, sizeof(w->cur.grp));
	if (t->ngroups > KAIO_CREDS_NINLINE)
		memcpy(more, t->more, (size_t)t->ngroups * sizeof(gid_t));
	w->cur.more = more;
	w->known = 1;
}

/* The switch itself; 0 or -1.  full: the worker's state is not known. */
static int switch_to(struct kaio_wcreds *w, const struct kaio_creds *t)
{
	const struct kaio_creds *c = &w->cur;
	int full = !w->known;
	int grp = full || c->ngroups != t->ngroups ||
		  memcmp(groups_of(c), groups_of(t),
			 (size_t)t->ngroups * sizeof(gid_t));
	int gid = full || c->fsgid != t->fsgid;
	int uid = full || c->fsuid != t->fsuid;

	if (grp || gid || uid) {
		/* Everything the worker may use, to be allowed to switch. */
		if ((full || c->cap[0] != w->prm[0] || c->cap[1] != w->prm[1]) &&
		    caps_set(w->prm, w->prm, w->inh))
			return -1;
		if (grp && syscall(SYS_SETGROUPS, t->ngroups, groups_of(t)))
			return -1;
		if (gid) {
			syscall(SYS_SETFSGID, (long)t->fsgid);
			if ((gid_t)syscall(SYS_SETFSGID, NO_ID) != t->fsgid)
				return -1;
		}
		if (uid) {
			syscall(SYS_SETFSUID, (long)t->fsuid);
			if ((uid_t)syscall(SYS_SETFSUID, NO_ID) != t->fsuid)
				return -1;
		}
	}
	/* Exactly the submitter's effective set: beyond the permitted set
	 * this fails (EPERM). */
	return caps_set(t->cap, w->prm, w->inh) ? -1 : 0;
}

/*
 * Make the calling worker thread run as t.  0, or -EPERM if it cannot
 * (then the request must not run).  errno is preserved.
 */
int kaio__creds_apply(struct kaio_wcreds *w, const struct kaio_creds *t)
{
	int saved = errno, tries;

	/*
	 * What the worker has now, read, not remembered: glibc's setuid()
	 * family changes every thread of the process, this one too, unseen
	 * (and may shrink its permitted set).  Trusted as remembered, a
	 * request submitted as nobody, after which the program went back
	 * to root with seteuid(0), ran as root.  Four system calls.
	 */
	reread(w);
	for (tries = 0; tries < 2; tries++) {
		if (w->known && same(&w->cur, t)) {
			errno = saved;
			return 0;
		}
		if (w->ok && switch_to(w, t) == 0) {
			remember(w, t);
			errno = saved;
			return 0;
		}
		/* Half switched, perhaps: find out what it is now, and try
		 * once more. */
		reread(w);
	}
	errno = saved;
	return -EPERM;
}
