/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdtable.c - creating the entries of the fd table (fdtable.h, where the
 * lookups are).
 *
 * Lock order: top_lock is innermost (only calloc() runs under it).
 */
#include "config.h"

#include <stdlib.h>

#include "fdtable.h"

_Atomic(struct kaio_fd *) *_Atomic kaio__fd_top;
static pthread_mutex_t top_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic(struct kaio_fd *) *get_top(void)
{
	_Atomic(struct kaio_fd *) *t =
		atomic_load_explicit(&kaio__fd_top, memory_order_acquire);

	if (kaio_likely(t != NULL))
		return t;
	pthread_mutex_lock(&top_lock);
	t = atomic_load_explicit(&kaio__fd_top, memory_order_acquire);
	if (!t) {
		/* 8 MiB of address space (malloc maps it); only the pages
		 * that get touched cost memory. */
		t = calloc(KAIO_FD_TOP, sizeof(*t));
		if (t)
			atomic_store_explicit(&kaio__fd_top, t,
					      memory_order_release);
	}
	pthread_mutex_unlock(&top_lock);
	return t;
}

static struct kaio_fd *new_chunk(void)
{
	struct kaio_fd *c = calloc(KAIO_FD_CHUNK, sizeof(*c));
	int i;

	if (!c)
		return NULL;
	for (i = 0; i < KAIO_FD_CHUNK; i++)
		pthread_mutex_init(&c[i].lock, NULL);
	return c;
}

struct kaio_fd *kaio__fd_create(int fd)
{
	_Atomic(struct kaio_fd *) *t;
	struct kaio_fd *c, *expect = NULL;
	unsigned int hi = (unsigned int)fd >> KAIO_FD_CHUNK_SHIFT;

	if (fd < 0 || hi >= KAIO_FD_TOP)
		return NULL;
	t = get_top();
	if (!t)
		return NULL;
	c = atomic_load_explicit(&t[hi], memory_order_acquire);
	if (!c) {
		c = new_chunk();
		if (!c)
			return NULL;
		if (!atomic_compare_exchange_strong(&t[hi], &expect, c)) {
			free(c);
			c = expect;
		}
	}
	return &c[fd & (KAIO_FD_CHUNK - 1)];
}

void kaio__fd_reset(void)
{
	/* The parent's table stays allocated in the child, unused. */
	atomic_store(&kaio__fd_top, NULL);
	pthread_mutex_init(&top_lock, NULL);
	atomic_fetch_add(&kaio__fd_epoch, 1);	/* no generation carries over */
	kaio__fd_hold_fork_child();
}
