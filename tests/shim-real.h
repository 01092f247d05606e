/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the test programs and preloaded shims that stand in for a libc or
 * liburing function share: the definition they stand in front of, and a
 * millisecond clock.
 */
#ifndef KAIO_TESTS_SHIM_REAL_H
#define KAIO_TESTS_SHIM_REAL_H

#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <time.h>

/*
 * SHIM_NEXT(var, name): the definition of name after the caller's
 * (dlsym(RTLD_NEXT)), looked up once and kept in the function pointer var
 * (static, declared with the function's type); NULL if there is none.
 * Atomic, for the first calls may come from several threads at once.
 */
#define SHIM_NEXT(var, name) __extension__ ({				\
	__typeof__(var) next_ = __atomic_load_n(&(var), __ATOMIC_RELAXED); \
	if (!next_) {							\
		next_ = (__typeof__(var))dlsym(RTLD_NEXT, (name));	\
		__atomic_store_n(&(var), next_, __ATOMIC_RELAXED);	\
	}								\
	next_; })

/*
 * SHIM_SYSCALL_ARGS(a, nr): syscall()'s six arguments after nr, from the
 * variadic function the caller is in, into long a[6].  A wrapper of
 * syscall() cannot know how many the call has, so it passes on six.
 */
#define SHIM_SYSCALL_ARGS(a, nr) do {					\
	va_list ap_;							\
	int i_;								\
									\
	va_start(ap_, nr);						\
	for (i_ = 0; i_ < 6; i_++)					\
		(a)[i_] = va_arg(ap_, long);				\
	va_end(ap_);							\
} while (0)

/* The next syscall() with a[6] as its arguments. */
static inline long shim_syscall(long nr, const long a[6])
{
	static long (*real)(long, ...);

	return SHIM_NEXT(real, "syscall")(nr, a[0], a[1], a[2], a[3], a[4],
					  a[5]);
}

/*
 * SHIM_FCNTL_NEXT(var, fd, cmd): the rest of a wrapper of fcntl(), from
 * inside it: the next fcntl() (kept in var, as SHIM_NEXT()) with the
 * caller's third argument, if cmd takes one.  It takes nothing, an int or
 * a pointer: passed on as a long.
 */
#define SHIM_FCNTL_NEXT(var, fd, cmd) __extension__ ({			\
	int (*fnext_)(int, int, ...) = SHIM_NEXT(var, "fcntl");		\
	va_list ap_;							\
	long arg_ = 0;							\
									\
	if (!shim_fcntl_no_arg(cmd)) {					\
		va_start(ap_, cmd);					\
		arg_ = va_arg(ap_, long);				\
		va_end(ap_);						\
	}								\
	fnext_(fd, cmd, arg_); })

static inline int shim_fcntl_no_arg(int cmd)
{
	switch (cmd) {
	case F_GETFD:
	case F_GETFL:
	case F_GETOWN:
	case F_GETSIG:
	case F_GETLEASE:
	case F_GETPIPE_SZ:
	case F_GET_SEALS:
		return 1;
	}
	return 0;
}

static inline long long shim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

#endif
