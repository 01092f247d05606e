/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdtable.h - the table of struct kaio_fd, indexed by fd number.
 *
 * A data structure, not a step of a request's path: request.c reads an
 * fd's hints here, fdmap.c its ordering state, without a lock and without
 * a call.  Only creating a missing chunk (fdtable.c) is out of line.
 *
 * Concurrency contract: a two-level table; the top array and each chunk
 * of KAIO_FD_CHUNK entries are published with release stores (a chunk by
 * compare-and-swap) and never freed, so a lookup is two acquire loads.
 * A fork child starts with an empty table (kaio__fd_reset()).
 */
#ifndef KAIO_FDTABLE_H
#define KAIO_FDTABLE_H

#include "kaio-int.h"

#define KAIO_FD_CHUNK_SHIFT	10
#define KAIO_FD_CHUNK		(1 << KAIO_FD_CHUNK_SHIFT)
#define KAIO_FD_TOP		(1 << 20)	/* fds below 2^30 */

/* KAIO_FD_TOP chunk pointers, allocated on first use. */
extern _Atomic(struct kaio_fd *) *_Atomic kaio__fd_top KAIO_HIDDEN;

/* The state of fd, made now (fdtable.c); NULL if out of memory or range. */
struct kaio_fd *kaio__fd_create(int fd) KAIO_HIDDEN;
void kaio__fd_reset(void) KAIO_HIDDEN;

/* The state of fd if it exists already; never allocates. */
static inline struct kaio_fd *kaio__fd_peek(int fd)
{
	_Atomic(struct kaio_fd *) *t =
		atomic_load_explicit(&kaio__fd_top, memory_order_acquire);
	unsigned int hi = (unsigned int)fd >> KAIO_FD_CHUNK_SHIFT;
	struct kaio_fd *c;

	if (kaio_unlikely(!t) || fd < 0 || hi >= KAIO_FD_TOP)
		return NULL;
	c = atomic_load_explicit(&t[hi], memory_order_acquire);
	return kaio_likely(c != NULL) ? &c[fd & (KAIO_FD_CHUNK - 1)] : NULL;
}

/* The state of fd, created on first use; NULL if out of memory or range. */
static inline struct kaio_fd *kaio__fd_get(int fd)
{
	struct kaio_fd *f = kaio__fd_peek(fd);

	return kaio_likely(f != NULL) ? f : kaio__fd_create(fd);
}

#endif /* KAIO_FDTABLE_H */
