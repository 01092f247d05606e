/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compat.c - the exported names, with glibc's symbol versions.
 *
 * Each POSIX name and its *64 twin are bound twice, as in glibc's libc.so.6
 * on x86_64: name@@GLIBC_2.34 (the default, for programs linked against
 * glibc >= 2.34 or against this library) and name@GLIBC_2.2.5 (programs
 * linked against the old librt.so.1).  lio_listio{,64} also has
 * @GLIBC_2.4, and its 2.2.5 binding keeps that version's semantics.
 *
 * Why glibc's names: the dynamic linker binds a versioned reference such as
 * aio_read@GLIBC_2.34 only to a definition of exactly that version (or an
 * unversioned one).  A private node (KAIO_1.0) would be skipped silently
 * under LD_PRELOAD.  tests/test-preload checks every kind of caller.
 */
#include "config.h"

#include "kaio-int.h"

/*
 * An alias must name a function defined in the same file, so each name gets
 * one local entry (a tail call into the implementation), and the versioned
 * names are aliases of that entry.
 */
#define ENTRY(ret, name, params, args) \
	__attribute__((visibility("default"))) ret kaio_entry_##name params; \
	ret kaio_entry_##name params { return kaio__##name args; }

/* name and name64, each @@GLIBC_2.34 and @GLIBC_2.2.5, onto entry. */
#define EXPORT4(entry, name) \
	KAIO_ALIAS(entry, kaio_v34_##name); \
	KAIO_DEFSYMVER(kaio_v34_##name, name, GLIBC_2.34); \
	KAIO_ALIAS(entry, kaio_v225_##name); \
	KAIO_SYMVER(kaio_v225_##name, name, GLIBC_2.2.5); \
	KAIO_ALIAS(entry, kaio_v34_##name##64); \
	KAIO_DEFSYMVER(kaio_v34_##name##64, name##64, GLIBC_2.34); \
	KAIO_ALIAS(entry, kaio_v225_##name##64); \
	KAIO_SYMVER(kaio_v225_##name##64, name##64, GLIBC_2.2.5)

/*
 * The same, counting the call in kaio__tls_depth: aio_suspend() called
 * from a signal handler that interrupted one of these (which may hold a
 * lock) then takes no lock (reap.c).  aio_return() takes none and is not
 * counted; aio_error() counts itself only when it reaps a ring, and not
 * at all inside another call (kaio__reaper_collect()).
 */
#define ENTRY_DEPTH(ret, name, params, args) \
	__attribute__((visibility("default"))) ret kaio_entry_##name params; \
	ret kaio_entry_##name params \
	{ \
		ret r; \
		FLUSH_##name; \
		kaio__tls_depth++; \
		r = kaio__##name args; \
		kaio__tls_depth--; \
		kaio__call_leave(); \
		return r; \
	}

/*
 * The same, and no cancellation point, as in glibc: of these only
 * aio_suspend() is one.  The library's work on the way in and out uses
 * libc calls that are cancellation points (open(2) of a sysctl, write(2)
 * to a queue's eventfd, a condition wait); a thread with a cancellation
 * pending would be unwound there, its request accepted and never
 * completed, or a lock of the library held for ever.  So cancellation is
 * disabled for the call, and a pending one is acted on at the program's
 * next cancellation point, as under glibc.
 */
#define ENTRY_NOCANCEL(ret, name, params, args) \
	__attribute__((visibility("default"))) ret kaio_entry_##name params; \
	ret kaio_entry_##name params \
	{ \
		int cs; \
		FLUSH_##name; \
		cs = kaio__call_begin(); \
		ret r = kaio__##name args; \
		kaio__call_end(cs); \
		return r; \
	}

/*
 * Every entry but aio_read() and aio_write() first enters what this thread
 * left in its ring (kaio__flush_deferred(), backend-uring.c): the reads
 * that go on leaving them there are those two.  aio_fsync() leaves an
 * fsync this thread left there for the same fd: this one may ride on it
 * (fdmap.c).  aio_suspend() without a timeout runs one it would wait for.
 */
#define FLUSH_aio_read		(void)0
#define FLUSH_aio_write		(void)0
#define FLUSH_aio_suspend	kaio__flush_deferred_suspend(l, n, t)
#define FLUSH_aio_fsync		kaio__flush_deferred_fsync(cb)
#define FLUSH_aio_cancel	kaio__flush_deferred()
#define FLUSH_lio_listio	kaio__flush_deferred()
#define FLUSH_lio_listio_old	kaio__flush_deferred()

/* No cancellation points either; they disable it themselves, only where
 * they may reach one (request.c, submit()). */
ENTRY_DEPTH(int, aio_read, (struct aiocb *cb), (cb))
ENTRY_DEPTH(int, aio_write, (struct aiocb *cb), (cb))
ENTRY_NOCANCEL(int, aio_fsync, (int op, struct aiocb *cb), (op, cb))

ENTRY(int, aio_error, (const struct aiocb *cb), (cb))
ENTRY(ssize_t, aio_return, (struct aiocb *cb), (cb))
ENTRY_DEPTH(int, aio_suspend, (const struct aiocb *const l[], int n,
			       const struct timespec *t), (l, n, t))
ENTRY_NOCANCEL(int, aio_cancel, (int fd, struct aiocb *cb), (fd, cb))
ENTRY_NOCANCEL(int, lio_listio, (int mode, struct aiocb *const l[], int n,
				 struct sigevent *sig), (mode, l, n, sig))
ENTRY_NOCANCEL(int, lio_listio_old, (int mode, struct aiocb *const l[],
				     int n, struct sigevent *sig),
	       (mode, l, n, sig))

__attribute__((visibility("default")))
void kaio_entry_aio_init(const struct aioinit *init);
void kaio_entry_aio_init(const struct aioinit *init)
{
	int cs;

	kaio__flush_deferred();
	cs = kaio__call_begin();

	kaio__aio_init(init);
	kaio__call_end(cs);
}

EXPORT4(kaio_entry_aio_read, aio_read);
EXPORT4(kaio_entry_aio_write, aio_write);
EXPORT4(kaio_entry_aio_fsync, aio_fsync);
EXPORT4(kaio_entry_aio_error, aio_error);
EXPORT4(kaio_entry_aio_return, aio_return);
EXPORT4(kaio_entry_aio_suspend, aio_suspend);
EXPORT4(kaio_entry_aio_cancel, aio_cancel);

KAIO_ALIAS(kaio_entry_aio_init, kaio_v34_aio_init);
KAIO_DEFSYMVER(kaio_v34_aio_init, aio_init, GLIBC_2.34);
KAIO_ALIAS(kaio_entry_aio_init, kaio_v225_aio_init);
KAIO_SYMVER(kaio_v225_aio_init, aio_init, GLIBC_2.2.5);

KAIO_ALIAS(kaio_entry_lio_listio, kaio_v34_lio_listio);
KAIO_DEFSYMVER(kaio_v34_lio_listio, lio_listio, GLIBC_2.34);
KAIO_ALIAS(kaio_entry_lio_listio, kaio_v24_lio_listio);
KAIO_SYMVER(kaio_v24_lio_listio, lio_listio, GLIBC_2.4);
KAIO_ALIAS(kaio_entry_lio_listio_old, kaio_v225_lio_listio);
KAIO_SYMVER(kaio_v225_lio_listio, lio_listio, GLIBC_2.2.5);
KAIO_ALIAS(kaio_entry_lio_listio, kaio_v34_lio_listio64);
KAIO_DEFSYMVER(kaio_v34_lio_listio64, lio_listio64, GLIBC_2.34);
KAIO_ALIAS(kaio_entry_lio_listio, kaio_v24_lio_listio64);
KAIO_SYMVER(kaio_v24_lio_listio64, lio_listio64, GLIBC_2.4);
KAIO_ALIAS(kaio_entry_lio_listio_old, kaio_v225_lio_listio64);
KAIO_SYMVER(kaio_v225_lio_listio64, lio_listio64, GLIBC_2.2.5);
