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
 *      once: each still in one call, so no slot was lost on the way;
 *   4. a fork while another thread's batch is inside its fill (the call
 *      made to wait 200 ms), with the thread's earlier batch holding
 *      the lowest slots if its reads are still in flight (8 times): the
 *      child's first batch reads its files.  The
 *      child of a ring shared by every thread (KAIO_URING_RINGS=0) had
 *      the parent's slots still to fill, and filled its own after them:
 *      it wrote below an array on the stack and died of SIGSEGV.
 * Run by tests/check-fixfile.sh under KAIO_BACKEND=auto and uring, with
 * thread rings and with the shared ring alone.
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
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <liburing.h>

#include "kaio_posix.h"
#include "shim-real.h"

enum { NF = 4, LEN = 1 << 20, ROUNDS = 40, FORKS = 8 };

/* Calls that filled slots and how many; calls that emptied slots. */
static atomic_int fills, filled, empties;
/* The next filling call stops at its entry fail_at - 1 (0: none). */
static atomic_int fail_at, failed_once;
/* The next filling call waits 200 ms first, in_fill set (part 4);
 * paused: it did. */
static atomic_int pause_fill, in_fill, paused;

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
		if (atomic_exchange(&pause_fill, 0)) {
			atomic_store(&paused, 1);
			atomic_store(&in_fill, 1);
			usleep(200 * 1000);
		}
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

static char path[NF][32];

static unsigned char byte_of(int file, size_t off)
{
	return (unsigned char)(file * 37 + off % 251);
}

/* A batch's reads of the NF files, each into a buffer of its own. */
struct set {
	struct aiocb cb[NF];
	int fd[NF];
	char *buf[NF];
};

static struct set main_set, racer_sets[2], child_set;

static int set_alloc(struct set *s)
{
	int i;

	for (i = 0; i < NF; i++)
		if (!(s->buf[i] = malloc(LEN)))
			return -1;
	return 0;
}

/* Opens the files and submits their reads: 0, -1 if it could not run,
 * NF if lio_listio() refused (printed). */
static int set_submit(struct set *s, const char *what)
{
	struct aiocb *l[NF];
	int i;

	for (i = 0; i < NF; i++) {
		s->fd[i] = open(path[i], O_RDONLY);
		if (s->fd[i] < 0)
			return -1;
		memset(&s->cb[i], 0, sizeof(s->cb[i]));
		memset(s->buf[i], 0, LEN);
		s->cb[i].aio_fildes = s->fd[i];
		s->cb[i].aio_buf = s->buf[i];
		s->cb[i].aio_nbytes = LEN;
		s->cb[i].aio_lio_opcode = LIO_READ;
		l[i] = &s->cb[i];
	}
	if (lio_listio(LIO_NOWAIT, l, NF, NULL)) {
		fprintf(stderr, "FAIL: %s: lio_listio: %s\n", what,
			strerror(errno));
		return NF;
	}
	return 0;
}

static void set_close(struct set *s)
{
	int i;

	for (i = 0; i < NF; i++)
		close(s->fd[i]);
}

/* Waits for the reads and checks each file's data: the number of reads
 * that went wrong (printed). */
static int set_finish(struct set *s, const char *what)
{
	const struct aiocb *w[1];
	int i, bad = 0, err;
	ssize_t got;
	size_t j;

	for (i = 0; i < NF; i++) {
		w[0] = &s->cb[i];
		while ((err = aio_error(&s->cb[i])) == EINPROGRESS)
			aio_suspend(w, 1, NULL);
		got = aio_return(&s->cb[i]);
		for (j = 0; got == LEN && j < LEN; j++)
			if ((unsigned char)s->buf[i][j] != byte_of(i, j))
				break;
		if (err || got != LEN || j != LEN) {
			fprintf(stderr, "FAIL: %s: read %d: error %d, %zd "
				"bytes, first wrong byte at %zu\n", what, i,
				err, got, j);
			bad++;
		}
	}
	return bad;
}

/* One batch: its reads, each file's data checked.  close_at_once: the
 * numbers are closed as soon as lio_listio() has returned.  Returns the
 * number of reads that went wrong (printed), or -1 if it could not run. */
static int batch(int close_at_once, const char *what)
{
	int r = set_submit(&main_set, what);

	if (r)
		return r;
	if (close_at_once)
		set_close(&main_set);
	r = set_finish(&main_set, what);
	if (!close_at_once)
		set_close(&main_set);
	return r;
}

/* Part 4's other thread: a batch that holds the lowest slots, then one
 * whose fill waits (the fork comes then).  *arg: reads gone wrong. */
static void *racer(void *arg)
{
	int *bad = arg, r;

	r = set_submit(&racer_sets[0], "the other thread's first batch");
	if (r) {
		*bad = NF;
		atomic_store(&in_fill, 1);
		return NULL;
	}
	atomic_store(&pause_fill, 1);
	if (set_submit(&racer_sets[1], "batch paused in its fill")) {
		*bad = NF;
		atomic_store(&in_fill, 1);
		set_finish(&racer_sets[0], "the other thread's first batch");
		set_close(&racer_sets[0]);
		return NULL;
	}
	/* A table without slots: no fill to wait in. */
	atomic_store(&pause_fill, 0);
	atomic_store(&in_fill, 1);
	*bad = set_finish(&racer_sets[0], "the other thread's first batch") +
	       set_finish(&racer_sets[1], "batch paused in its fill");
	set_close(&racer_sets[0]);
	set_close(&racer_sets[1]);
	return NULL;
}

/* 4.  The child's batch must read its files; 0 or the failures. */
static int fork_in_fill(void)
{
	const char *rings = getenv("KAIO_URING_RINGS");
	int racer_bad = 0, st, bad = 0;
	pthread_t t;
	pid_t pid;

	atomic_store(&in_fill, 0);
	atomic_store(&paused, 0);
	if (pthread_create(&t, NULL, racer, &racer_bad))
		return 1;
	while (!atomic_load(&in_fill))
		usleep(100);
	pid = fork();
	if (pid == 0) {
		alarm(30);
		st = set_submit(&child_set, "the child's batch");
		if (!st)
			st = set_finish(&child_set, "the child's batch");
		_exit(st ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		perror("fixfile-prog: fork");
		bad++;
	} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "FAIL: a fork during another thread's fill "
			"(KAIO_URING_RINGS=%s): the child's batch %s %d\n",
			rings ? rings : "", WIFSIGNALED(st) ?
			"died of signal" : "failed, status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		bad++;
	}
	pthread_join(t, NULL);
	printf("fork during a fill (KAIO_URING_RINGS=%s, %s): child %s\n",
	       rings ? rings : "", atomic_load(&paused) ? "the fill waited" :
	       "no fill to wait in", bad ? "failed" : "read its files");
	return bad + racer_bad;
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
	if (set_alloc(&main_set) || set_alloc(&racer_sets[0]) ||
	    set_alloc(&racer_sets[1]) || set_alloc(&child_set))
		return 1;
	for (i = 0; i < NF; i++) {
		snprintf(path[i], sizeof(path[i]), "kaio-fixfile-%d.XXXXXX", i);
		fd = mkstemp(path[i]);
		if (fd < 0) {
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

	/* 4. A fork while another thread fills its batch's slots, a few
	 * times: the slots the thread's first batch holds then are its
	 * reads still in flight, none if they were done. */
	for (i = 0; i < FORKS && !bad; i++)
		bad += fork_in_fill();
	for (i = 0; i < NF; i++)
		unlink(path[i]);
	if (bad)
		return 1;
	printf("PASS: %d batches of %d reads, each filled in one call; a "
	       "fork during a fill\n", ROUNDS + 2, NF);
	return 0;

setup_failed:
	perror("fixfile-prog: open");
	for (i = 0; i < NF; i++)
		unlink(path[i]);
	return 1;
}
