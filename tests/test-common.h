/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KAIO_TEST_COMMON_H
#define KAIO_TEST_COMMON_H

#include <aio.h>
#include <check.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* T_TSAN: built with ThreadSanitizer, which some fork tests cannot run
 * under (test-rings.c, test-process.c say why). */
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif

/* The byte a test file holds at offset off. */
static inline unsigned char t_byte(off_t off)
{
	return (unsigned char)((off * 7 + (off >> 9) * 13) & 0xff);
}

int t_tmpfile(size_t size, int flags);	/* filled with t_byte(), unlinked */
int t_check_bytes(const void *buf, off_t off, size_t len);
void t_prep(struct aiocb *cb, int fd, void *buf, size_t len, off_t off);
int t_wait(struct aiocb *cb, int timeout_ms);	/* aio_error() when done */
/* cb fails with err within timeout_ms and aio_return() gives -1; a macro,
 * so that a failure names the caller's line */
#define T_WAIT_ERR(cb, timeout_ms, err)					\
	do {								\
		ck_assert_int_eq(t_wait((cb), (timeout_ms)), (err));	\
		ck_assert_int_eq(aio_return(cb), -1);			\
	} while (0)
/* n aio_read()s of 4096 bytes of fd (a t_tmpfile()) at i * step, each
 * awaited and its bytes checked */
void t_read_n(int fd, void *buf, int n, off_t step);
void t_dump_state(const char *why);	/* threads and io_uring state, on stderr */
/* The system call thread tid of this process is in (/proc): its number,
 * -1 when it is in none (or /proc says "running"), -2 when it is gone. */
long t_thread_syscall(int tid);
void t_pipe(int p[2]);
/* A page whose first touch blocks until t_uf_fill(): a write from it
 * waits in the kernel (io-wq, or a pool worker), never in the caller.
 * t_uf_open() is 0 if userfaultfd does not serve kernel faults here (not
 * root). */
struct t_uf {
	int fd;
	char *page;
};
int t_uf_open(struct t_uf *u);
/* 1, after printing name's SKIP line, if t_uf_open() cannot work here. */
int t_uf_skip(const char *name);
/* A new file at path (a mkstemp() template), opened O_WRONLY | O_APPEND,
 * with *w, a 16-byte write from u's page, blocked in it: its fd. */
int t_append_blocked(char *path, struct t_uf *u, struct aiocb *w);
/* fd's number taken away: how 0 close(), 1 dup2() of devnull onto it,
 * 2 close_range() of it alone. */
void t_take_number(int fd, int how, int devnull);
void t_uf_fill(struct t_uf *u);
void t_uf_close(struct t_uf *u);
TCase *t_tcase(const char *name);
int t_direct_ok(void);
int t_uring_ok(void);	/* io_uring is usable in this process */
/* A request blocked in the kernel (a pipe read) can be cancelled. */
int t_running_cancellable(void);
int t_threaded_kernel(void);
/* The running kernel is major.minor or later (uname()). */
int t_kernel_at_least(int major, int minor);
/* Voluntary context switches of this process's threads but the caller
 * and io_uring's io-wq workers (iou-wrk-N: the kernel's). */
long t_others_switches(void);
/* Threads of this process but io-wq's workers (the kernel's); -1 without
 * /proc. */
int t_threads(void);
/* Does every call fdgen.c wraps (close() ...) reach the library first?
 * Not under a sanitizer's runtime, which wraps them. */
int t_wrappers_first(void);
/* Does the process bind name to the library's? */
int t_ours(const char *name);
/* fork() once the other threads sleep (a sanitizer's allocator lock) */
pid_t t_fork(void);
long t_now_ms(void);	/* CLOCK_MONOTONIC, in milliseconds */
/* Is the kernel's handler of a probe signal the library's, in front of
 * the program's (src/sigdefer.c)?  Never under ThreadSanitizer. */
int t_handlers_behind_library(void);
/* The address of a function of the library, hidden ones too, from its
 * file's symbol table: 0 if it has none (stripped) or not that name. */
unsigned long t_lib_fn(const char *name);
/* A hardware breakpoint at code address at, for this thread: SIGTRAP
 * each time it runs there (TRAP_PERF).  The perf fd, or -errno. */
int t_breakpoint(unsigned long at);
/*
 * n rounds of rounds(arg, n, res) in a fork child, whose only other threads
 * are the library's (a suite's earlier tests leave threads that switch on
 * their own).  rounds() gives 0, or the round that went wrong (1-based; -1
 * before the rounds), and res: the other threads' switches and the rounds'
 * milliseconds.  Asserts that no round went wrong and that the other
 * threads switched at most once per 4 rounds, plus two per 10 ms (the
 * reaper's timed sleep, reap.c).
 */
void t_no_hop(int (*rounds)(void *arg, int n, long res[2]), void *arg,
	      int n);

/*
 * The start of a seccomp filter (<linux/filter.h>, <linux/seccomp.h>,
 * <linux/audit.h>): every call of another architecture is allowed, then
 * the system call's number is loaded for the rest to test.
 */
#define T_SECCOMP_LOAD_NR						\
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS,				\
		 offsetof(struct seccomp_data, arch)),			\
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),	\
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),			\
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS,				\
		 offsetof(struct seccomp_data, nr))	/* native AIO on the threaded-AIO series */

/*
 * Installs a seccomp filter that makes the n system calls nr[] fail with
 * err, in this thread only or, with tsync, in every thread of the
 * process.  Returns 0, or the errno that kept the filter out (the caller
 * then skips).  n is at most 8.
 */
int t_seccomp_refuse(int err, int tsync, const int *nr, int n);

/*
 * A perf counter (disabled; PERF_EVENT_IOC_ENABLE starts it) of thread
 * tid's (0: this thread's) entries into the system call name, or -1 where
 * its tracepoint or perf_event_open() is not to be had.
 */
int t_syscall_counter(const char *name, pid_t tid);

/* The library's counter what (kaio_stats_get(), KAIO_STAT_*). */
unsigned long t_stat(int what);

Suite *sigdefer_suite(void);
Suite *read_suite(void);
Suite *write_suite(void);
Suite *fsync_suite(void);
Suite *error_return_suite(void);
Suite *suspend_suite(void);
Suite *cancel_suite(void);
Suite *cancel2_suite(void);
Suite *listio_suite(void);
Suite *sigevent_suite(void);
Suite *process_suite(void);
Suite *abi_suite(void);
Suite *stress_suite(void);
Suite *rings_suite(void);
Suite *routing_suite(void);
Suite *creds_suite(void);
Suite *queue_suite(void);
Suite *robust_suite(void);
Suite *pathops_suite(void);
Suite *poll_suite(void);
Suite *identity_suite(void);
Suite *fidelity_suite(void);
Suite *review_suite(void);
Suite *lifecycle_suite(void);
Suite *adversary_suite(void);

#endif
