/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * path-trace.c - linked into a copy of the library built with
 * -finstrument-functions by tests/check-path.sh: records, for each
 * aio_read(), aio_write() and aio_fsync() call, every function the
 * calling thread enters and leaves inside the library until the call
 * returns, and appends it to the file $KAIO_PATH_TRACE:
 *
 *   B read|write|fsync
 *   > OFFSET        entered the function at OFFSET in the library
 *   < OFFSET        left it
 *   E
 *
 * OFFSET is the function's address less the library's load address, in
 * hex (addr2line takes it).  Other threads (the library's workers and
 * reapers) are not recorded.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOTRACE	__attribute__((no_instrument_function, visibility("hidden")))
#define MAXEV	(1 << 16)

/* compat.c's entries (the exported names are aliases of them). */
int kaio_entry_aio_read(struct aiocb *cb);
int kaio_entry_aio_write(struct aiocb *cb);
int kaio_entry_aio_fsync(int op, struct aiocb *cb);

void __cyg_profile_func_enter(void *fn, void *site) NOTRACE;
void __cyg_profile_func_exit(void *fn, void *site) NOTRACE;

static __thread int on, depth;
static struct { char dir; void *fn; } ev[MAXEV];
static int nev, lost;
static const char *what;

static NOTRACE void dump(void)
{
	const char *path = getenv("KAIO_PATH_TRACE");
	char line[64];
	Dl_info info;
	uintptr_t base = 0;
	int fd, i, n;

	if (!path || (fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
				0644)) < 0)
		return;
	if (dladdr((void *)kaio_entry_aio_read, &info))
		base = (uintptr_t)info.dli_fbase;
	n = snprintf(line, sizeof(line), "B %s%s\n", what,
		     lost ? " (truncated)" : "");
	if (write(fd, line, (size_t)n) != n)
		goto out;
	for (i = 0; i < nev; i++) {
		n = snprintf(line, sizeof(line), "%c %lx\n", ev[i].dir,
			     (unsigned long)((uintptr_t)ev[i].fn - base));
		if (write(fd, line, (size_t)n) != n)
			goto out;
	}
	if (write(fd, "E\n", 2) != 2)
		goto out;
out:
	close(fd);
}

static NOTRACE void record(char dir, void *fn)
{
	if (nev < MAXEV) {
		ev[nev].dir = dir;
		ev[nev].fn = fn;
		nev++;
	} else {
		lost = 1;
	}
}

void __cyg_profile_func_enter(void *fn, void *site)
{
	(void)site;
	if (!on) {
		if (fn == (void *)kaio_entry_aio_read)
			what = "read";
		else if (fn == (void *)kaio_entry_aio_write)
			what = "write";
		else if (fn == (void *)kaio_entry_aio_fsync)
			what = "fsync";
		else
			return;
		on = 1;
		depth = 0;
		nev = 0;
		lost = 0;
	}
	depth++;
	record('>', fn);
}

void __cyg_profile_func_exit(void *fn, void *site)
{
	(void)site;
	if (!on)
		return;
	record('<', fn);
	if (--depth == 0) {
		on = 0;
		dump();
	}
}
