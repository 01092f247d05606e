/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tests/fault/shim.c - a fault-injection shim, preloaded after the library:
 *
 *   LD_PRELOAD=libkaio_posix.so:kaio-fault-shim.so
 *
 * It counts the calls of one kind of resource acquisition and makes the Nth
 * fail (KAIO_FAULT_N=N; 0 never fails, and the run only counts).  Kinds
 * (KAIO_FAULT=):
 *   malloc, calloc    NULL, errno ENOMEM
 *   pthread_create    EAGAIN
 *   eventfd           -1, errno EMFILE
 *   io_setup          syscall(SYS_io_setup) -1, errno EAGAIN
 *   io_submit         syscall(SYS_io_submit) -1, errno EAGAIN
 *   uring_setup       io_uring_queue_init() -ENOMEM (liburing is built
 *                     without libc here: its io_uring_setup(2) and
 *                     io_uring_enter(2) are inline system calls, so the
 *                     shim stands in for liburing's entry points instead)
 *   uring_enter       io_uring_submit() -EAGAIN (the kernel's answer when
 *                     it cannot allocate requests)
 *   uring_wait        io_uring_wait_cqes() -EINTR
 *   uring_refused     io_uring_submit() -EPERM, and io_uring_wait_cqes()
 *                     too when the completion queue is empty (a seccomp
 *                     filter's answer to io_uring_enter(2); the library's
 *                     park waits are inline, not seen here)
 *   aio_wait          syscall(SYS_io_getevents or SYS_io_pgetevents) -1,
 *                     errno EPERM (a seccomp filter's answer; the waits
 *                     an application thread makes in sigdefer.c's park
 *                     are inline system calls, not seen here)
 * Only calls made from libkaio_posix's own code are counted (the return
 * address is checked against the library's mapping, found at start-up);
 * with KAIO_FAULT_ANY=1, calls from anywhere are.
 * KAIO_FAULT_PERSIST=1 fails the Nth call and every later one.
 * KAIO_FAULT_ALSO=KIND: once the Nth call has failed, every call of a
 * second kind fails too (not counted): two resources gone at once, e.g.
 * io_uring refusing while no thread can be started.
 * KAIO_FAULT_COUNT=FILE: at exit, the number of calls counted is written
 * there (the range a sweep over N has to cover).
 * KAIO_FAULT_TRACE=1: a backtrace on stderr where a fault is injected.
 *
 * malloc and calloc go to glibc's __libc_malloc/__libc_calloc, so no
 * dlsym() is needed for them (dlsym itself allocates: no recursion).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../shim-real.h"

#define EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);

enum kind { K_NONE, K_MALLOC, K_CALLOC, K_PTHREAD, K_EVENTFD, K_IO_SETUP,
	    K_IO_SUBMIT, K_URING_SETUP, K_URING_ENTER, K_URING_WAIT,
	    K_AIO_WAIT, K_URING_REFUSED };
static const char *const names[] = { "none", "malloc", "calloc",
	"pthread_create", "eventfd", "io_setup", "io_submit", "uring_setup",
	"uring_enter", "uring_wait", "aio_wait", "uring_refused" };

static int kind, also;
static long fail_n;
static int persist, any, trace;
static atomic_long count;
static atomic_int tripped;	/* the Nth call has failed */
static uintptr_t lo = UINTPTR_MAX, hi;
static const char *count_file;

static int find_lib(struct dl_phdr_info *info, size_t size, void *arg)
{
	int i;

	(void)size;
	(void)arg;
	if (!info->dlpi_name || !strstr(info->dlpi_name, "libkaio_posix"))
		return 0;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + p->p_vaddr;

		if (p->p_type != PT_LOAD)
			continue;
		if (a < lo)
			lo = a;
		if (a + p->p_memsz > hi)
			hi = a + p->p_memsz;
	}
	return 1;
}

__attribute__((constructor)) static void shim_init(void)
{
	const char *k = getenv("KAIO_FAULT"), *k2 = getenv("KAIO_FAULT_ALSO");
	const char *s;
	size_t i;

	for (i = 1; i < sizeof(names) / sizeof(names[0]); i++) {
		if (k && !strcmp(k, names[i]))
			kind = (int)i;
		if (k2 && !strcmp(k2, names[i]))
			also = (int)i;
	}
	if ((k && !kind) || (k2 && !also)) {
		fprintf(stderr, "kaio-fault-shim: unknown KAIO_FAULT%s=%s\n",
			k && !kind ? "" : "_ALSO", k && !kind ? k : k2);
		_exit(2);
	}
	s = getenv("KAIO_FAULT_N");
	fail_n = s ? atol(s) : 0;
	persist = (s = getenv("KAIO_FAULT_PERSIST")) && *s == '1';
	any = (s = getenv("KAIO_FAULT_ANY")) && *s == '1';
	trace = (s = getenv("KAIO_FAULT_TRACE")) && *s == '1';
	count_file = getenv("KAIO_FAULT_COUNT");
	dl_iterate_phdr(find_lib, NULL);
	if ((kind || also) && !any && lo == UINTPTR_MAX) {
		fprintf(stderr, "kaio-fault-shim: libkaio_posix is not loaded\n");
		_exit(2);
	}
}

__attribute__((destructor)) static void shim_fini(void)
{
	char buf[32];
	int fd, n;

	if (!count_file || getpid() != (pid_t)syscall(SYS_gettid))
		return;
	fd = open(count_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%ld\n", atomic_load(&count));
	if (write(fd, buf, (size_t)n) != n)
		n = 0;
	close(fd);
}

static __thread int in_trace;

/* Should this call of kind k, made from ret, fail? */
static int inject(int k, void *ret)
{
	long c;
	uintptr_t a = (uintptr_t)ret;

	if ((k != kind && k != also) || in_trace)
		return 0;
	if (!any && (a < lo || a >= hi))
		return 0;
	if (k == also)
		return atomic_load(&tripped);
	c = atomic_fetch_add(&count, 1) + 1;
	if (!fail_n || c < fail_n || (c > fail_n && !persist))
		return 0;
	atomic_store(&tripped, 1);
	if (trace) {
		void *bt[32];
		int n;
		char msg[96];

		in_trace = 1;
		n = snprintf(msg, sizeof(msg),
			     "kaio-fault-shim: failing %s call #%ld\n",
			     names[k], c);
		if (write(2, msg, (size_t)n) < 0)
			n = 0;
		n = backtrace(bt, 32);
		backtrace_symbols_fd(bt, n, 2);
		in_trace = 0;
	}
	return 1;
}

EXPORT void *malloc(size_t n)
{
	if (inject(K_MALLOC, __builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

EXPORT void *calloc(size_t n, size_t m)
{
	if (inject(K_CALLOC, __builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, m);
}

static void *next(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		fprintf(stderr, "kaio-fault-shim: no next %s\n", name);
		abort();
	}
	return p;
}

EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	static int (*real)(pthread_t *, const pthread_attr_t *,
			   void *(*)(void *), void *);

	if (inject(K_PTHREAD, __builtin_return_address(0)))
		return EAGAIN;
	if (!real)
		real = next("pthread_create");
	return real(t, attr, fn, arg);
}

EXPORT int eventfd(unsigned int initval, int flags)
{
	static int (*real)(unsigned int, int);

	if (inject(K_EVENTFD, __builtin_return_address(0))) {
		errno = EMFILE;
		return -1;
	}
	if (!real)
		real = next("eventfd");
	return real(initval, flags);
}

EXPORT long syscall(long nr, ...)
{
	void *ret = __builtin_return_address(0);
	long a[6];

	SHIM_SYSCALL_ARGS(a, nr);
	if ((nr == SYS_io_setup && inject(K_IO_SETUP, ret)) ||
	    (nr == SYS_io_submit && inject(K_IO_SUBMIT, ret))) {
		errno = EAGAIN;
		return -1;
	}
	if ((nr == SYS_io_getevents
#ifdef SYS_io_pgetevents
	     || nr == SYS_io_pgetevents
#endif
	    ) && inject(K_AIO_WAIT, ret)) {
		errno = EPERM;
		return -1;
	}
	return shim_syscall(nr, a);
}

/* liburing's entry points (declared here: the shim needs no liburing). */
struct io_uring;
struct io_uring_cqe;
struct __kernel_timespec;

EXPORT int io_uring_queue_init(unsigned entries, struct io_uring *ring,
			       unsigned flags)
{
	static int (*real)(unsigned, struct io_uring *, unsigned);

	if (inject(K_URING_SETUP, __builtin_return_address(0)))
		return -ENOMEM;
	if (!real)
		real = next("io_uring_queue_init");
	return real(entries, ring, flags);
}

EXPORT int io_uring_submit(struct io_uring *ring)
{
	static int (*real)(struct io_uring *);

	if (inject(K_URING_ENTER, __builtin_return_address(0)))
		return -EAGAIN;
	if (inject(K_URING_REFUSED, __builtin_return_address(0)))
		return -EPERM;
	if (!real)
		real = next("io_uring_submit");
	return real(ring);
}

EXPORT int io_uring_wait_cqes(struct io_uring *ring,
			      struct io_uring_cqe **cqe_ptr, unsigned wait_nr,
			      struct __kernel_timespec *ts, sigset_t *sigmask)
{
	static int (*real)(struct io_uring *, struct io_uring_cqe **, unsigned,
			   struct __kernel_timespec *, sigset_t *);

	if (inject(K_URING_WAIT, __builtin_return_address(0)))
		return -EINTR;
	if (!real)
		real = next("io_uring_wait_cqes");
	/* Refused, liburing still returns what the completion queue holds
	 * without entering the kernel. */
	if (inject(K_URING_REFUSED, __builtin_return_address(0))) {
		static unsigned (*peek)(struct io_uring *,
					struct io_uring_cqe **, unsigned);
		struct io_uring_cqe *c;

		if (!peek)
			peek = next("io_uring_peek_batch_cqe");
		if (!peek(ring, &c, 1))
			return -EPERM;
	}
	return real(ring, cqe_ptr, wait_nr, ts, sigmask);
}
