/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The files of a lio_listio() batch's reads past the caller's copy budget
 * go into the ring's table of fixed files together: io-wq reads them, and
 * looks a number up only when it starts, so the ring holds each file from
 * submission on (backend-uring.c, fix_sqe()).  One io_uring_register()
 * call fills every slot of the batch (each was one call, 0.7 us: a
 * quarter of the file server's requests paid two), and the kernel's way
 * of failing part of such a call is handled: it fills the slots in order
 * and stops at the first it cannot, returning how many it got through.
 *
 * The program exports io_uring_register_files_update() (linked with
 * -export-dynamic), counts the calls that fill slots and those that empty
 * them, and can make one call stop at a given entry as the kernel does
 * for a number closed meanwhile.  Three parts, four 1 MiB files each:
 *   1. (after a first batch, while the rings are made) a batch of four
 *      reads whose numbers are closed as soon as lio_listio() returns:
 *      every read returns its file's data, and the four files went into
 *      the table in one call;
 *   2. the same with the fill stopping at its second entry: that read
 *      names its number (kept open this time), the others are filled by
 *      a second call; all four return their data;
 *   3. 40 batches more (160 files through a 64-slot table), closed at
 *      once: each still in one call, so no slot was lost on the way.
 * Run by tests/check-fixfile.sh under KAIO_BACKEND=auto and uring.
 * Exit 0 pass, 1 fail, 77 skip (io_uring or its table not used here).
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <liburing.h>

#include "kaio_posix.h"
#include "shim-real.h"

enum { NF = 4, LEN = 1 << 20, ROUNDS = 40 };

/* Calls that filled slots and how many; calls that emptied slots. */
static atomic_int fills, filled, empties;
/* The next filling call stops at its entry fail_at - 1 (0: none). */
static atomic_int fail_at, failed_once;

__attribute__((visibility("default")))
int io_uring_register_files_update(struct io_uring *ring, unsigned off,
				   const int *files, unsigned nr_files);

int io_uring_register_files_update(struct io_uring *ring, unsigned off,
				   const int *files, unsigned nr_files)
{
	static int (*next)(struct io_uring *, unsigned, const int *,
			   unsigned);
	__typeof__(next) real = SHIM_NEXT(next, "io_uring_register_files_update");
	unsigned i, k = 0, stop = nr_files;
	int f = 0, e = 0;

	if (!real)
		return -ENOSYS;
	for (i = 0; i < nr_files; i++) {
		if (files[i] >= 0) {
			f++;
			if (++k == (unsigned)atomic_load(&fail_at) &&
			    stop == nr_files)
				stop = i;
		} else if (files[i] == -1) {
			e++;
		}
	}
	if (f) {
		atomic_fetch_add(&fills, 1);
		atomic_fetch_add(&filled, f);
	}
	if (e)
		atomic_fetch_add(&empties, 1);
	if (stop < nr_files) {
		atomic_store(&fail_at, 0);
		atomic_store(&failed_once, 1);
		if (!stop)
			return -EBADF;
		/* The kernel's partial answer: what it got through. */
		atomic_fetch_sub(&filled, f);
		f = real(ring, off, files, stop);
		if (f > 0) {
			for (i = 0, k = 0; i < (unsigned)f; i++)
				k += files[i] >= 0;
			atomic_fetch_add(&filled, (int)k);
		}
		return f;
	}
	return real(ring, off, files, nr_files);
}

static char *buf[NF];
static char path[NF][32];

static unsigned char byte_of(int file, size_t off)
{
	return (unsigned char)(file * 37 + off % 251);
}

/* One batch: its reads, each file's data checked.  close_at_once: the
 * numbers are closed as soon as lio_listio() has returned.  Returns the
 * number of reads that went wrong (printed), or -1 if it could not run. */
static int batch(int close_at_once, const char *what)
{
	struct aiocb cb[NF], *l[NF];
	const struct aiocb *w[1];
	int fd[NF], i, bad = 0, err;
	ssize_t got;
	size_t j;

	for (i = 0; i < NF; i++) {
		fd[i] = open(path[i], O_RDONLY);
		if (fd[i] < 0)
			return -1;
		memset(&cb[i], 0, sizeof(cb[i]));
		memset(buf[i], 0, LEN);
		cb[i].aio_fildes = fd[i];
		cb[i].aio_buf = buf[i];
		cb[i].aio_nbytes = LEN;
		cb[i].aio_lio_opcode = LIO_READ;
		l[i] = &cb[i];
	}
	if (lio_listio(LIO_NOWAIT, l, NF, NULL)) {
		fprintf(stderr, "FAIL: %s: lio_listio: %s\n", what,
			strerror(errno));
		return NF;
	}
	if (close_at_once)
		for (i = 0; i < NF; i++)
			close(fd[i]);
	for (i = 0; i < NF; i++) {
		w[0] = &cb[i];
		while ((err = aio_error(&cb[i])) == EINPROGRESS)
			aio_suspend(w, 1, NULL);
		got = aio_return(&cb[i]);
		for (j = 0; got == LEN && j < LEN; j++)
			if ((unsigned char)buf[i][j] != byte_of(i, j))
				break;
		if (err || got != LEN || j != LEN) {
			fprintf(stderr, "FAIL: %s: read %d: error %d, %zd "
				"bytes, first wrong byte at %zu\n", what, i,
				err, got, j);
			bad++;
		}
	}
	if (!close_at_once)
		for (i = 0; i < NF; i++)
			close(fd[i]);
	return bad;
}

static unsigned long uring_served(void)
{
	struct kaio_stats st;

	if (kaio_stats_get(&st, sizeof(st)))
		return 0;
	return st.v[KAIO_STAT_URING];
}

int main(void)
{
	unsigned char *blk;
	unsigned long u0;
	int i, r, fd, bad = 0, f0, n0, e0;
	size_t j;

	alarm(120);	/* a hang is a failure */
	blk = malloc(LEN);
	if (!blk)
		return 1;
	for (i = 0; i < NF; i++) {
		buf[i] = malloc(LEN);
		snprintf(path[i], sizeof(path[i]), "kaio-fixfile-%d.XXXXXX", i);
		fd = mkstemp(path[i]);
		if (!buf[i] || fd < 0) {
			perror("fixfile-prog: setup");
			return 1;
		}
		for (j = 0; j < LEN; j++)
			blk[j] = byte_of(i, j);
		if (write(fd, blk, LEN) != LEN) {
			perror("fixfile-prog: write");
			return 1;
		}
		close(fd);
	}
	free(blk);

	/* The rings are made during the first batch, and each tries its
	 * table with a pipe (fix_prompt()): not counted. */
	r = batch(1, "first batch");
	if (r < 0)
		goto setup_failed;
	bad += r;

	/* 1. One batch, closed at once: one fill for its four files. */
	u0 = uring_served();
	f0 = atomic_load(&fills);
	n0 = atomic_load(&filled);
	e0 = atomic_load(&empties);
	r = batch(1, "batch closed at once");
	if (r < 0)
		goto setup_failed;
	if (uring_served() - u0 < NF || atomic_load(&filled) - n0 < NF) {
		printf("SKIP: io_uring served %lu of %d reads, %d files went "
		       "into its table (KAIO_BACKEND=%s)\n",
		       uring_served() - u0, NF, atomic_load(&filled) - n0,
		       getenv("KAIO_BACKEND") ? getenv("KAIO_BACKEND") : "");
		for (i = 0; i < NF; i++)
			unlink(path[i]);
		return r ? 1 : 77;
	}
	bad += r;
	printf("batch of %d: %d filling call(s) for %d files, %d emptying "
	       "call(s)\n", NF, atomic_load(&fills) - f0,
	       atomic_load(&filled) - n0, atomic_load(&empties) - e0);
	if (atomic_load(&fills) - f0 != 1) {
		fprintf(stderr, "FAIL: the batch's %d files took %d calls to "
			"go into the table, not one\n", NF,
			atomic_load(&fills) - f0);
		bad++;
	}

	/* 2. The fill stops at its second entry. */
	atomic_store(&fail_at, 2);
	f0 = atomic_load(&fills);
	r = batch(0, "fill stopped at its second entry");
	if (r < 0)
		goto setup_failed;
	bad += r;
	printf("stopped fill: %d filling call(s)\n", atomic_load(&fills) - f0);
	if (!atomic_load(&failed_once)) {
		fprintf(stderr, "FAIL: no fill was stopped\n");
		bad++;
	}
	atomic_store(&fail_at, 0);

	/* 3. Many more, closed at once: no slot lost. */
	for (i = 0; i < ROUNDS; i++) {
		f0 = atomic_load(&fills);
		n0 = atomic_load(&filled);
		r = batch(1, "later batch");
		if (r < 0)
			goto setup_failed;
		bad += r;
		if (atomic_load(&fills) - f0 != 1 ||
		    atomic_load(&filled) - n0 != NF) {
			fprintf(stderr, "FAIL: batch %d: %d files in %d "
				"calls\n", i, atomic_load(&filled) - n0,
				atomic_load(&fills) - f0);
			bad++;
			break;
		}
	}
	for (i = 0; i < NF; i++)
		unlink(path[i]);
	if (bad)
		return 1;
	printf("PASS: %d batches of %d reads, each filled in one call\n",
	       ROUNDS + 2, NF);
	return 0;

setup_failed:
	perror("fixfile-prog: open");
	for (i = 0; i < NF; i++)
		unlink(path[i]);
	return 1;
}
