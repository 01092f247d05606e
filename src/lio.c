/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lio.c - lio_listio().
 *
 * The list holds one reference for the submitter and one per accepted
 * request, so a LIO_NOWAIT list's notification goes out only after the
 * last request completed *and* the whole list was submitted.  With
 * LIO_WAIT the submitter sleeps until its reference is the only one left.
 *
 * Errors, as POSIX and glibc have them: EINVAL for a bad mode, for more
 * than KAIO_LISTIO_MAX entries or a bad sigevent (nothing submitted); a
 * negative nent is glibc's empty list.  An entry refused at once (no
 * resources: EAGAIN; a bad aio_reqprio or an aiocb in progress: EINVAL)
 * makes a LIO_NOWAIT call, or a LIO_WAIT call that submitted nothing,
 * fail with the last refusal's errno, as glibc's does; EIO if a request
 * failed or was refused in a LIO_WAIT call that submitted others; EINTR
 * if a handler without SA_RESTART ended a LIO_WAIT wait (the requests go
 * on), as glibc's.  The glibc 2.2.5 binding (old librt) sends only the
 * list's notification, never the requests' own.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "kaio-int.h"

#define KAIO_LIO_QUIET	128	/* glibc's LIO_NO_INDIVIDUAL_BIT */

/* ran: a handler ran as the wait began (kaio__let_in(): came). */
static int wait_list(struct kaio_list *list, int ran, unsigned long long came)
{
	unsigned long long held;
	struct timespec dl;
	int seq, ret = 0;

	kaio__deadline(&dl, NULL);
	for (;;) {
		seq = atomic_load(&kaio__done_seq);
		if (atomic_load(&list->refs) == 1)
			break;
		if (ran) {
			ran = 0;
			ret = -EINTR;
		} else {
			held = kaio__tls_sigdeferred;
			ret = kaio__wait_seq(seq, &dl);
			held |= kaio__tls_sigdeferred;
			/* Held back in the wait, which they ended; unless
			 * every one waits behind a running handler's mask
			 * (sigdefer.c): none ran, the wait goes on. */
			if (ret == -EINTR && !kaio__let_in(1, &came) && held)
				ret = 0;
		}
		if (ret == -EINTR && atomic_load(&list->refs) == 1)
			ret = 0;	/* the last request's own signal */
		/* As glibc's: restarted after a handler with SA_RESTART. */
		if (ret == -EINTR && !kaio__restartable(came))
			break;
		if (ret == -ETIMEDOUT)
			kaio__deadline(&dl, NULL);
		ret = 0;
	}
	return ret;
}

/*
 * The request's operation, from its aio_lio_opcode; -1 if none.  As
 * glibc's worker: 3 and 4 (its internal LIO_DSYNC and LIO_SYNC) are
 * fdatasync and fsync, and otherwise only the low 7 bits count, which
 * LIO_READ or LIO_WRITE must be (128 is glibc's mark of an aiocb64).
 */
static int lio_op(int opcode)
{
	switch (opcode) {
	case 3:
		return KAIO_OP_FDSYNC;
	case 4:
		return KAIO_OP_FSYNC;
	case LIO_KAIO_OPENAT:
		return KAIO_OP_OPENAT;
	case LIO_KAIO_UNLINKAT:
		return KAIO_OP_UNLINKAT;
	case LIO_KAIO_RENAMEAT:
		return KAIO_OP_RENAMEAT;
	case LIO_KAIO_READAHEAD:
		return KAIO_OP_READAHEAD;
	case LIO_KAIO_POLL:
		return KAIO_OP_POLL;
	}
	switch (opcode & 127) {
	case LIO_READ:
		return KAIO_OP_READ;
	case LIO_WRITE:
		return KAIO_OP_WRITE;
	}
	return -1;
}

/*
 * Submit every entry.  An entry refused at once (no resources, a bad
 * aio_reqprio, an aiocb still in progress) counts in *failed, and its
 * errno is left in *err; one whose operation fails (a bad fd or opcode)
 * is accepted and completes with its error, as in glibc.  An aiocb still
 * in progress is never written into: its first request owns it.
 */
/* request.c: send the batch on; how many no backend took (refused). */
int kaio__batch_submit(struct kaio_batch *batch) KAIO_HIDDEN;

/* The batch goes on; what no backend took counts as refused (EAGAIN). */
static void flush(struct kaio_batch *batch, int *nok, int *failed, int *err)
{
	int n = kaio__batch_submit(batch);

	if (n) {
		*nok -= n;
		*failed += n;
		*err = EAGAIN;
	}
}

/*
 * A list with LIO_RING_MIN reads or more, where io_uring serves this
 * thread's batches: its reads skip the caller's RWF_NOWAIT attempt (one
 * system call each) and go into the batch, whose one enter completes
 * those the page cache holds; the caller reaps them before it returns
 * (kaio__reaper_poll_begin()), three system calls in all with the signal
 * mask's two.  Not from a handler that interrupted the library.
 */
#define LIO_RING_MIN	4

static struct kaio_reaper *ring_reads(struct aiocb *const list[], int nent)
{
	struct kaio_reaper *r;
	int i, n = 0;

	if (kaio__tls_depth > 1 || kaio__cfg.backend == KAIO_BACKEND_THREADS)
		return NULL;
	for (i = 0; i < nent && n < LIO_RING_MIN; i++)
		if (list[i] && lio_op(list[i]->aio_lio_opcode) == KAIO_OP_READ)
			n++;
	return n >= LIO_RING_MIN && kaio__backend_own_ring(&r) ? r : NULL;
}

static void submit_all(struct aiocb *const list[], int nent,
		       struct kaio_list *l, int quiet, int *nok,
		       int *failed, int *err)
{
	struct kaio_batch batch;
	int flags = quiet ? KAIO_RQ_QUIET : 0;
	int i, op, ret;

	batch.n = 0;
	batch.caller_left = KAIO_CALLER_BYTES;
	batch.ring = ring_reads(list, nent);
	batch.diverted = 0;
	for (i = 0; i < nent; i++) {
		if (!list[i] || list[i]->aio_lio_opcode == LIO_NOP)
			continue;
		op = lio_op(list[i]->aio_lio_opcode);
		if (op < 0)
			ret = kaio__submit_failed(list[i], EINVAL, l, flags);
		else
			ret = kaio__submit(list[i], op, l, flags, &batch);
		if (ret) {
			*err = -ret;
			(*failed)++;
		} else {
			(*nok)++;
		}
		if (batch.n == KAIO_BATCH_MAX)
			flush(&batch, nok, failed, err);
	}
	flush(&batch, nok, failed, err);
}

/*
 * The call's result, as glibc's: refusals make it fail (with the last
 * refusal's errno, or EIO in a LIO_WAIT call that submitted others); with
 * LIO_WAIT, so does any request that failed.  Errors a request reports
 * itself leave LIO_NOWAIT's 0.
 */
static int lio(int mode, struct aiocb *const list[], int nent,
	       struct sigevent *sig)
{
	struct kaio_list *l;
	int quiet = mode & KAIO_LIO_QUIET, nok = 0, failed = 0, err = 0;
	int ret = 0, wret, ran;
	unsigned long long came;

	mode &= ~KAIO_LIO_QUIET;
	if ((mode != LIO_WAIT && mode != LIO_NOWAIT) ||
	    nent > KAIO_LISTIO_MAX || (nent > 0 && !list))
		return kaio__fail(EINVAL);
	if (nent < 0)
		nent = 0;	/* glibc's loop runs no entry */
	if (mode == LIO_NOWAIT && sig && (ret = kaio__sigevent_check(sig))) {
		if (ret == -EAGAIN) {
			kaio__init();
			kaio__lio_refused(list, nent, EAGAIN);
		}
		return kaio__fail(-ret);	/* EINVAL, or EAGAIN */
	}
	kaio__init();
	kaio__count(KAIO_STAT_LISTIO);
	l = calloc(1, sizeof(*l));
	if (!l) {
		kaio__notify_unreserve();
		kaio__lio_refused(list, nent, EAGAIN);
		return kaio__fail(EAGAIN);
	}
	atomic_init(&l->refs, 1);
	l->wait = mode == LIO_WAIT;
	if (mode == LIO_NOWAIT && sig)
		kaio__sigevent_copy(&l->nt, sig);
	else
		l->nt.notify = SIGEV_NONE;

	submit_all(list, nent, l, quiet, &nok, &failed, &err);
	if (failed)
		ret = mode == LIO_NOWAIT || !nok ? -err : -EIO;
	if (mode == LIO_NOWAIT) {
		kaio__list_put(l);	/* may notify now, if all are done */
		return ret ? kaio__fail(-ret) : 0;
	}
	/* Signals held in this call (a completion's, or one that came)
	 * come in now, and the wait can end with EINTR, as glibc's. */
	ran = kaio__let_in(1, &came);
	wret = wait_list(l, ran, came);
	if (!ret && atomic_load(&l->failed))
		ret = -EIO;
	kaio__list_put(l);
	if (wret)
		return kaio__fail(EINTR);
	return ret ? kaio__fail(-ret) : 0;
}

int kaio__lio_listio(int mode, struct aiocb *const list[], int nent,
		     struct sigevent *sig)
{
	return lio(mode, list, nent, sig);
}

/* glibc 2.2.5 (librt before 2.4): only the list's notification is sent. */
int kaio__lio_listio_old(int mode, struct aiocb *const list[], int nent,
			 struct sigevent *sig)
{
	return lio(mode | KAIO_LIO_QUIET, list, nent, sig);
}
