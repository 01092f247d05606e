/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdgen.c - has an fd number been closed or replaced since the library
 * last looked at it?
 *
 * A read of a regular file or block device goes to a backend on the open
 * flags the thread keeps (request.c), if the fd number still names such a
 * file: a read of anything else may wait without bound, and must not be
 * entered into io_uring by a thread that may exit.  Asking the kernel is
 * an fstat() per read, a third of an O_DIRECT read's CPU (bench/README.md).
 * Linux has no cheaper way to ask, so the library watches the calls that
 * take an fd number away from its file: each bumps the number's generation
 * (struct kaio_fd.gen), or the epoch for all numbers, before and after the
 * real call (before: a cancelled close() may have closed; after: a reader
 * may have looked in between).  request.c takes that look on trust for
 * as long as both are unchanged.
 *
 * The calls: close, dup2, dup3, close_range, closefrom, fclose, fcloseall,
 * freopen, freopen64, pclose (glibc's closes any stream), endmntent,
 * login_tty (glibc's own dup2() onto 0, 1 and 2), mq_close (close() by
 * another name), and the exported aliases and libio internals that close
 * a stream's fd: __close, __dup2, _IO_fclose, _IO_file_close,
 * _IO_file_close_it and _IO_file_finish.  The fork child's table starts
 * anew (fdtable.c).
 * Not needed: closedir() and _IO_proc_close() close a directory or a
 * pipe, never a number this thread saw was a file (its file was closed
 * first, and that was seen).
 *
 * fcntl(F_SETFL), which changes the open flags a thread keeps (request.c),
 * bumps the generation too, after the call (the epoch, if it sets
 * O_DIRECT: a duplicate of the number shares the flags): a thread that
 * read the generation before its own fcntl(F_GETFL) finds it moved.  While
 * fcntl() is seen (kaio__fdgen_flags_trusted()), kept flags are fetched
 * again only once in a long while, for a change made through a duplicate
 * in another process, which nothing here sees, or one that clears
 * O_DIRECT through another number (its reads then go to a backend, which
 * serves them right).
 *
 * They interpose only when the process finds them before glibc's: under
 * LD_PRELOAD, or linked with -lkaio_posix.  Loaded with dlopen(), or behind
 * another wrapper (ASan's runtime wraps fclose()), they may not be reached
 * first, and kaio__fdgen_trusted() says so: request.c then asks the kernel
 * on every read, as before.  Not seen (kaio_posix(7) says so): close(2)
 * as a raw system call or an io_uring request; a library opened with
 * RTLD_DEEPBIND, or in another namespace (dlmopen()), which binds glibc's
 * close() directly; a process sharing the fd table but not the memory
 * (clone(CLONE_FILES) without CLONE_VM); a call through libio's exported
 * function tables (_IO_file_jumps).
 *
 * Each wrapper is what it wraps: async-signal-safe (two atomic adds on a
 * table that is never freed), a cancellation point where glibc's is one.
 * Where an fsync waits in the library on the number, the wrapper first
 * has it take the number's file (fdmap.c, kaio__fd_hold_files()): under
 * the fd's lock and a ring's, in a window where no handler runs, and not
 * from a handler that interrupted the library.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kaio-int.h"
#include "fdtable.h"
#include "sys.h"

atomic_ullong kaio__fd_epoch;
static atomic_int trusted, flags_trusted;

/*
 * Reads some thread left in its io_uring ring's submission queue name
 * their descriptor by number, looked up when the ring is entered: enter
 * them before a number goes (backend-uring.c).  One load when there are
 * none; not from a handler that interrupted the library.
 */
static void enter_deferred(void)
{
	if (kaio_unlikely(atomic_load_explicit(&kaio__sq_deferring,
					       memory_order_acquire)))
		kaio__uring_flush_all();
}

/*
 * An fsync leader run by the thread that waits for it (suspend.c) runs on
 * its fd number, as glibc's worker runs it: a close() or dup2() that takes
 * the number away first waits for it to end, so it syncs the file it was
 * asked for.  It is not run on a duplicate: closing any descriptor of a
 * file releases the process's POSIX record locks on it (fcntl(F_SETLK),
 * lockf()).  kaio__fd_here_begin() is called before the leader leaves its
 * ring's submission queue, whose lock a close() takes first
 * (enter_deferred()): a close() that found the leader there entered it
 * (and the take fails), and one that did not finds it marked here.
 * here_n counts the leaders being run, the futex their waiters sleep on;
 * tls_here: this thread runs one (a handler on it, installed behind the
 * library's back, must not wait for itself).
 */
static atomic_int here_n, here_waiters;
static __thread int tls_here __attribute__((tls_model("initial-exec")));

void kaio__fd_here_begin(struct kaio_fd *f)
{
	tls_here = 1;
	atomic_store(&f->here, 1);
	atomic_fetch_add(&here_n, 1);
}

void kaio__fd_here_end(struct kaio_fd *f)
{
	atomic_store(&f->here, 0);
	if (!tls_here)
		return;		/* a fork child's, of a count reset there */
	tls_here = 0;
	atomic_fetch_sub(&here_n, 1);
	if (atomic_load(&here_waiters))
		sys_futex_wake(&here_n, INT32_MAX);
}

void kaio__fd_here_fork_child(void)
{
	atomic_store(&here_n, 0);	/* the parent's other threads' */
	atomic_store(&here_waiters, 0);
	tls_here = 0;
}

/* Until f's leader (every leader, if f is NULL) has run here. */
static void here_wait(struct kaio_fd *f, int all)
{
	int n;

	if (kaio_likely(!atomic_load(&here_n)) || tls_here)
		return;
	atomic_fetch_add(&here_waiters, 1);
	for (;;) {
		n = atomic_load(&here_n);
		if (!n || (!all && (!f || !atomic_load(&f->here))))
			break;
		sys_futex_wait(&here_n, n, NULL);
	}
	atomic_fetch_sub(&here_waiters, 1);
}

static void gone(int fd)
{
	struct kaio_fd *f = kaio__fd_peek(fd);

	enter_deferred();
	if (f)
		atomic_fetch_add_explicit(&f->gen, 1, memory_order_release);
}

static void all_gone(void)
{
	enter_deferred();
	atomic_fetch_add_explicit(&kaio__fd_epoch, 1, memory_order_release);
}

/*
 * The requests waiting in the library on the number take its file
 * (fdmap.c): one load where none ever waited.  Not for the library's own
 * closes, nor from a handler that interrupted it (it may hold their
 * locks).
 */
static void hold(int fd)
{
	struct kaio_fd *f;

	if (kaio__tls_depth || kaio__tls_libthread)
		return;
	f = kaio__fd_peek(fd);
	if (f && atomic_load_explicit(&f->fsq, memory_order_relaxed))
		kaio__fd_hold_files(f);
}

/* Before the call: the waiting requests take their file, the bumps, and
 * the wait for a leader run on the number. */
static void going(int fd)
{
	hold(fd);
	gone(fd);
	here_wait(kaio__fd_peek(fd), 0);
}

/* The same for the numbers first to last; rings: the call may close a
 * ring's own descriptor (not one that closes streams). */
static void all_going(int first, int last, int rings)
{
	if (!kaio__tls_depth && !kaio__tls_libthread)
		kaio__fd_hold_range(first, last, rings);
	all_gone();
	here_wait(NULL, 1);
}

/* The bumps after the call: cleanups, so that they run when the call is
 * cancelled too (forced unwinding; the library is built -fexceptions). */
static void gone_after(int *fd)
{
	gone(*fd);
}

static void all_gone_after(int *unused)
{
	(void)unused;
	all_gone();
}

#define GONE(fd) \
	int after_ __attribute__((cleanup(gone_after))) = (fd); \
	going(after_)
#define ALL_GONE(first, last, rings) \
	int after_ __attribute__((cleanup(all_gone_after))) = 0; \
	all_going((first), (last), (rings))

void *kaio__real(void *_Atomic *slot, const char *name, const char *ver)
{
	void *p = atomic_load_explicit(slot, memory_order_acquire);

	if (kaio_unlikely(!p)) {
		p = dlvsym(RTLD_NEXT, name, ver);
		atomic_store_explicit(slot, p, memory_order_release);
	}
	return p;
}

/* The stream's fd, or -1 (fmemopen()'s has none); errno is kept. */
static int number(FILE *fp)
{
	int saved = errno, fd = fp ? fileno(fp) : -1;

	errno = saved;
	return fd;
}

/* The types of glibc's functions. */
typedef int (*fd_fn)(int);
typedef int (*fd2_fn)(int, int);
typedef int (*fd3_fn)(int, int, int);
typedef int (*range_fn)(unsigned int, unsigned int, int);
typedef void (*from_fn)(int);
typedef int (*file_fn)(FILE *);
typedef int (*void_fn)(void);
typedef FILE *(*reopen_fn)(const char *, const char *, FILE *);
typedef void (*finish_fn)(FILE *, int);
typedef int (*fcntl_fn)(int, int, ...);

#define ENTRY(ret, name, params) \
	__attribute__((visibility("default"))) ret kaio_fd_##name params; \
	ret kaio_fd_##name params

/* A call that closes a stream's fd: fclose() and its kin. */
#define WRAP_FILE(name, ver) \
	KAIO_REAL(file_fn, name, ver) \
	ENTRY(int, name, (FILE *fp)) \
	{ \
		file_fn fn = get_##name(); \
		GONE(number(fp)); \
		if (!fn) { \
			errno = ENOSYS; \
			return EOF; \
		} \
		return fn(fp); \
	}

KAIO_REAL(fd_fn, close, "GLIBC_2.2.5")
KAIO_REAL(fd2_fn, dup2, "GLIBC_2.2.5")
KAIO_REAL(fd3_fn, dup3, "GLIBC_2.9")
KAIO_REAL(range_fn, close_range, "GLIBC_2.34")
KAIO_REAL(from_fn, closefrom, "GLIBC_2.34")
KAIO_REAL(void_fn, fcloseall, "GLIBC_2.2.5")
KAIO_REAL(reopen_fn, freopen, "GLIBC_2.2.5")
KAIO_REAL(reopen_fn, freopen64, "GLIBC_2.2.5")
KAIO_REAL(fd_fn, login_tty, "GLIBC_2.34")
KAIO_REAL(fd_fn, mq_close, "GLIBC_2.34")
KAIO_REAL(finish_fn, _IO_file_finish, "GLIBC_2.2.5")
KAIO_REAL(fcntl_fn, fcntl, "GLIBC_2.2.5")

ENTRY(int, close, (int fd))
{
	fd_fn fn = get_close();
	GONE(fd);

	return fn ? fn(fd) : (int)syscall(SYS_close, fd);
}

ENTRY(int, dup2, (int oldfd, int newfd))
{
	fd2_fn fn = get_dup2();
	GONE(newfd);

	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(oldfd, newfd);
}

ENTRY(int, dup3, (int oldfd, int newfd, int flags))
{
	fd3_fn fn = get_dup3();
	GONE(newfd);

	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(oldfd, newfd, flags);
}

ENTRY(int, close_range, (unsigned int first, unsigned int last, int flags))
{
	range_fn fn = get_close_range();
	/* CLOSE_RANGE_CLOEXEC closes nothing now. */
	ALL_GONE(first > INT_MAX || (flags & CLOSE_RANGE_CLOEXEC) ? -1 :
		 (int)first, last > INT_MAX ? INT_MAX : (int)last, 1);

	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(first, last, flags);
}

ENTRY(void, closefrom, (int lowfd))
{
	from_fn fn = get_closefrom();
	ALL_GONE(lowfd < 0 ? 0 : lowfd, INT_MAX, 1);

	if (fn)
		fn(lowfd);
}

WRAP_FILE(fclose, "GLIBC_2.2.5")
WRAP_FILE(pclose, "GLIBC_2.2.5")	/* glibc's closes any stream */
WRAP_FILE(endmntent, "GLIBC_2.2.5")
WRAP_FILE(_IO_file_close, "GLIBC_2.2.5")
WRAP_FILE(_IO_file_close_it, "GLIBC_2.2.5")

/* libio's finish: closes the fd through its own table, not through
 * _IO_file_close(). */
ENTRY(void, _IO_file_finish, (FILE *fp, int dummy))
{
	finish_fn fn = get__IO_file_finish();
	GONE(number(fp));

	if (fn)
		fn(fp, dummy);
}

ENTRY(int, fcloseall, (void))
{
	void_fn fn = get_fcloseall();
	ALL_GONE(0, INT_MAX, 0);	/* streams: never a ring's */

	if (!fn) {
		errno = ENOSYS;
		return EOF;
	}
	return fn();
}

/* freopen() may close the stream's fd and put the new file on its
 * number (dup3), or leave the number to another open(). */
static FILE *reopen(reopen_fn fn, const char *path, const char *mode,
		    FILE *fp)
{
	GONE(number(fp));

	if (!fn) {
		errno = ENOSYS;
		return NULL;
	}
	return fn(path, mode, fp);
}

ENTRY(FILE *, freopen, (const char *path, const char *mode, FILE *fp))
{
	return reopen(get_freopen(), path, mode, fp);
}

ENTRY(FILE *, freopen64, (const char *path, const char *mode, FILE *fp))
{
	return reopen(get_freopen64(), path, mode, fp);
}

/* login_tty() puts the terminal on 0, 1 and 2 with glibc's own dup2(). */
ENTRY(int, login_tty, (int fd))
{
	fd_fn fn = get_login_tty();
	ALL_GONE(0, 2, 1);		/* dup2() onto 0, 1 and 2 */

	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(fd);
}

ENTRY(int, mq_close, (int mqd))
{
	fd_fn fn = get_mq_close();
	GONE(mqd);

	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	return fn(mqd);
}

/*
 * fcntl(): the third argument, if any, is an int or a pointer, passed
 * on as glibc's own fcntl() takes it (va_arg() of a void *).  F_SETFL
 * bumps the generation once the flags changed (see the top of this file);
 * every other command is glibc's alone (F_SETLKW, a cancellation point,
 * too).
 */
ENTRY(int, fcntl, (int fd, int cmd, ...))
{
	fcntl_fn fn = get_fcntl();
	struct kaio_fd *f;
	va_list ap;
	void *arg;
	int ret;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (kaio_unlikely(!fn))
		return (int)syscall(SYS_fcntl, fd, cmd, arg);
	ret = fn(fd, cmd, arg);
	if (cmd != F_SETFL)
		return ret;
	/* The flags are the open file description's, which a duplicate
	 * (dup(), F_DUPFD, SCM_RIGHTS) shares: one made O_DIRECT changes
	 * what every number may name (a read in the caller would wait for
	 * the device), the rest only this number's route. */
	if ((int)(intptr_t)arg & O_DIRECT)
		atomic_fetch_add_explicit(&kaio__fd_epoch, 1,
					  memory_order_release);
	else if ((f = kaio__fd_peek(fd)))
		atomic_fetch_add_explicit(&f->gen, 1, memory_order_release);
	return ret;
}

/* name@@ver onto the wrapper called entry */
#define EXPORT_AS(entry, name, ver) \
	KAIO_ALIAS(kaio_fd_##entry, kaio_fdv_##name); \
	KAIO_DEFSYMVER(kaio_fdv_##name, name, ver)
#define EXPORT(name, ver)	EXPORT_AS(name, name, ver)

EXPORT(close, GLIBC_2.2.5);
EXPORT_AS(close, __close, GLIBC_2.2.5);
EXPORT(dup2, GLIBC_2.2.5);
EXPORT_AS(dup2, __dup2, GLIBC_2.2.5);
EXPORT(dup3, GLIBC_2.9);
EXPORT(close_range, GLIBC_2.34);
EXPORT(closefrom, GLIBC_2.34);
EXPORT(fclose, GLIBC_2.2.5);
EXPORT_AS(fclose, _IO_fclose, GLIBC_2.2.5);
EXPORT(fcloseall, GLIBC_2.2.5);
EXPORT(freopen, GLIBC_2.2.5);
EXPORT(freopen64, GLIBC_2.2.5);
EXPORT(pclose, GLIBC_2.2.5);
EXPORT(endmntent, GLIBC_2.2.5);
EXPORT(_IO_file_close, GLIBC_2.2.5);
EXPORT(_IO_file_close_it, GLIBC_2.2.5);
EXPORT(_IO_file_finish, GLIBC_2.2.5);
/* login_tty() and mq_close() moved into libc.so.6 in 2.34; programs
 * linked before still ask for libutil's and librt's versions. */
EXPORT(login_tty, GLIBC_2.34);
KAIO_ALIAS(kaio_fd_login_tty, kaio_fdv_login_tty_old);
KAIO_SYMVER(kaio_fdv_login_tty_old, login_tty, GLIBC_2.2.5);
EXPORT(mq_close, GLIBC_2.34);
KAIO_ALIAS(kaio_fd_mq_close, kaio_fdv_mq_close_old);
KAIO_SYMVER(kaio_fdv_mq_close_old, mq_close, GLIBC_2.3.4);
EXPORT(fcntl, GLIBC_2.2.5);
EXPORT_AS(fcntl, __fcntl, GLIBC_2.2.5);
EXPORT_AS(fcntl, fcntl64, GLIBC_2.28);

/*
 * Does every name above reach its wrapper here, as the process binds it?
 * Then an unchanged generation means the number was not closed through
 * glibc.  Once, from the constructor (init.c); glibc's functions are
 * looked up then too, so that a wrapper called from a signal handler
 * never calls dlvsym().
 */
void kaio__fdgen_setup(void)
{
	static const struct {
		const char *name;
		void *ours;
	} names[] = {
		{ "close", (void *)kaio_fd_close },
		{ "__close", (void *)kaio_fd_close },
		{ "dup2", (void *)kaio_fd_dup2 },
		{ "__dup2", (void *)kaio_fd_dup2 },
		{ "dup3", (void *)kaio_fd_dup3 },
		{ "close_range", (void *)kaio_fd_close_range },
		{ "closefrom", (void *)kaio_fd_closefrom },
		{ "fclose", (void *)kaio_fd_fclose },
		{ "_IO_fclose", (void *)kaio_fd_fclose },
		{ "fcloseall", (void *)kaio_fd_fcloseall },
		{ "freopen", (void *)kaio_fd_freopen },
		{ "freopen64", (void *)kaio_fd_freopen64 },
		{ "pclose", (void *)kaio_fd_pclose },
		{ "endmntent", (void *)kaio_fd_endmntent },
		{ "_IO_file_close", (void *)kaio_fd__IO_file_close },
		{ "_IO_file_close_it", (void *)kaio_fd__IO_file_close_it },
		{ "_IO_file_finish", (void *)kaio_fd__IO_file_finish },
		{ "login_tty", (void *)kaio_fd_login_tty },
		{ "mq_close", (void *)kaio_fd_mq_close },
	};
	size_t i;
	int all = get_close() && get_dup2() && get_dup3() &&
		  get_close_range() && get_closefrom() && get_fclose() &&
		  get_fcloseall() && get_freopen() && get_freopen64() &&
		  get_pclose() && get_endmntent() && get__IO_file_close() &&
		  get__IO_file_close_it() && get__IO_file_finish() &&
		  get_login_tty() && get_mq_close();

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (dlsym(RTLD_DEFAULT, names[i].name) != names[i].ours)
			all = 0;
	atomic_store_explicit(&trusted, all, memory_order_release);
	all = all && get_fcntl() &&
	      dlsym(RTLD_DEFAULT, "fcntl") == (void *)kaio_fd_fcntl &&
	      dlsym(RTLD_DEFAULT, "__fcntl") == (void *)kaio_fd_fcntl &&
	      dlsym(RTLD_DEFAULT, "fcntl64") == (void *)kaio_fd_fcntl;
	atomic_store_explicit(&flags_trusted, all, memory_order_release);
}

int kaio__fdgen_trusted(void)
{
	return atomic_load_explicit(&trusted, memory_order_relaxed);
}

/* And fcntl(F_SETFL) too: an unchanged generation means the number's open
 * flags were not changed through this process's glibc either. */
int kaio__fdgen_flags_trusted(void)
{
	return atomic_load_explicit(&flags_trusted, memory_order_relaxed);
}
