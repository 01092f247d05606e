/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kaio_posix.h - libkaio_posix extensions to POSIX AIO.
 *
 * The POSIX calls themselves are declared by glibc's <aio.h>; this header
 * declares only what libkaio_posix adds.  It compiles as C89 and C++,
 * given POSIX.1b (union sigval, struct timespec), as <aio.h> needs too.
 */
#ifndef KAIO_POSIX_H
#define KAIO_POSIX_H

#include <signal.h>
#include <stddef.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The most requests one lio_listio() call takes (glibc has no limit and
 * sysconf(_SC_AIO_LISTIO_MAX) reports -1; this library has this one).
 */
#define KAIO_LISTIO_MAX		16384

/*
 * Counters, as indices into struct kaio_stats.v.  New counters are only
 * ever added before KAIO_STAT_MAX, so old indices keep their meaning.
 */
enum kaio_stat {
	KAIO_STAT_READ,			/* aio_read requests accepted */
	KAIO_STAT_WRITE,		/* aio_write requests accepted */
	KAIO_STAT_FSYNC,		/* aio_fsync(O_SYNC) */
	KAIO_STAT_FDSYNC,		/* aio_fsync(O_DSYNC) */
	KAIO_STAT_INLINE,		/* completed in the calling thread */
	KAIO_STAT_POOL,			/* served by the user-space pool */
	KAIO_STAT_KERNEL,		/* served by native kernel AIO */
	KAIO_STAT_NOWAIT_FALLBACK,	/* RWF_NOWAIT would block: to the pool */
	KAIO_STAT_CANCELED,		/* completed with ECANCELED */
	KAIO_STAT_NOTIFY_SIGNAL,	/* SIGEV_SIGNAL sent */
	KAIO_STAT_NOTIFY_THREAD,	/* SIGEV_THREAD callbacks run */
	KAIO_STAT_NOTIFY_THREAD_ID,	/* SIGEV_THREAD_ID sent */
	KAIO_STAT_NOTIFY_FAILED,	/* a signal could not be queued */
	KAIO_STAT_THREADS_CREATED,	/* pool workers started */
	KAIO_STAT_LISTIO,		/* lio_listio calls */
	KAIO_STAT_URING,		/* served by io_uring */
	KAIO_STAT_NOTIFY_QUEUE,		/* SIGEV_KAIO events queued */
	KAIO_STAT_PATHOP,		/* path operations accepted */
	KAIO_STAT_POLL,			/* kaio_poll requests accepted */
	KAIO_STAT_AIO_EVENTS,		/* native AIO events reserved now
					 * (counted in fs.aio-nr) */
	KAIO_STAT_POOL_OVERFLOW,	/* of pool: refused by a full native
					 * AIO context first */
	KAIO_STAT_MAX
};

struct kaio_stats {
	unsigned long v[KAIO_STAT_MAX];
};

/*
 * kaio_stats_get - copy the process's counters into *st.
 * size is sizeof(*st) as the caller was compiled; counters the caller does
 * not know of are left out, ones it knows and the library does not are
 * zeroed.  Returns 0, or -EINVAL if st is NULL.
 */
int kaio_stats_get(struct kaio_stats *st, size_t size);

/* kaio_stat_name - the counter's name (as in KAIO_STATS=1 output), or NULL. */
const char *kaio_stat_name(int stat);

/*
 * Completion queues: completions on a file descriptor epoll can watch.
 *
 * A request opts in with aio_sigevent.sigev_notify = SIGEV_KAIO and the
 * queue's fd in aio_sigevent.sigev_signo (as FreeBSD aliases
 * sigev_notify_kqueue); sigev_value comes back in the event.  A
 * lio_listio() list event may target a queue too (its aiocb is NULL).
 */
#define SIGEV_KAIO		0x4b41
#define KAIO_QUEUE_CLOEXEC	1

struct aiocb;

struct kaio_event {
	struct aiocb *aiocb;		/* the request, or NULL for a list */
	union sigval value;		/* its sigev_value */
	long res;			/* what aio_return() gives */
	int error;			/* what aio_error() gives */
	int reserved;
};

/*
 * kaio_queue_create - a new queue; returns its fd (readable while events
 * wait), or -1 with errno (EINVAL, EMFILE, ENFILE, ENOMEM).
 */
int kaio_queue_create(int flags);

/*
 * kaio_queue_reap - take up to max events, each exactly once whichever
 * thread reaps.  timeout NULL waits for one; a zero timeout never blocks.
 * Returns the number taken (0 on timeout), or -1 with errno: EBADF (not a
 * queue of this process: a fork child must make its own), EINVAL, EINTR.
 */
int kaio_queue_reap(int q, struct kaio_event *events, int max,
		    const struct timespec *timeout);

/* kaio_queue_destroy - close q; events still to come are dropped. */
int kaio_queue_destroy(int q);

/*
 * Asynchronous path operations.  Submitted, waited for, cancelled and
 * notified like aio_read(); aio_return() gives openat's new fd, or 0.
 * The aiocb carries the arguments (the encoding of <kaio_aio_abi.h>):
 *   kaio_openat:    aio_fildes = dirfd, aio_buf = path,
 *                   aio_offset = flags | (off_t)mode << 32
 *   kaio_unlinkat:  aio_fildes = dirfd, aio_buf = path,
 *                   aio_offset = 0 or AT_REMOVEDIR
 *   kaio_renameat:  aio_buf = struct kaio_renameat_info *,
 *                   aio_nbytes = sizeof(struct kaio_renameat_info)
 *   kaio_readahead: aio_fildes, aio_offset, aio_nbytes
 * Paths are copied at submission.  Each runs with the submitting thread's
 * fsuid, fsgid and supplementary groups.  In lio_listio(), the opcodes
 * are LIO_KAIO_OPENAT and so on.
 */
#define LIO_KAIO_OPENAT		0x4b00
#define LIO_KAIO_UNLINKAT	0x4b01
#define LIO_KAIO_RENAMEAT	0x4b02
#define LIO_KAIO_READAHEAD	0x4b03

int kaio_openat(struct aiocb *cb);
int kaio_unlinkat(struct aiocb *cb);
int kaio_renameat(struct aiocb *cb);
int kaio_readahead(struct aiocb *cb);

/*
 * kaio_poll - wait asynchronously until aio_fildes has any of the poll(2)
 * events in aio_nbytes (POLLIN, POLLOUT, ...); aio_return() gives the
 * events that are ready.  aio_cancel() cancels a waiting poll.  In
 * lio_listio() the opcode is LIO_KAIO_POLL.
 */
#define LIO_KAIO_POLL		0x4b04

int kaio_poll(struct aiocb *cb);

#ifdef __cplusplus
}
#endif

#endif /* KAIO_POSIX_H */
