/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * init.c - configuration (aio_init() and the environment), statistics,
 * and process life: fork and exit.
 *
 * Environment:
 *   KAIO_BACKEND=auto|uring|kernel|threads   the policy (backend.c)
 *   KAIO_THREADS=N   the pool's maximum number of workers (default 64)
 *   KAIO_IDLE=S      seconds an idle worker lingers (default 1)
 *   KAIO_NOWAIT=0    never complete a request in the caller
 *   KAIO_STATS=1     print one summary line to stderr at exit, with
 *                    latency percentiles per backend (observe.c)
 *   KAIO_STATS_SHM=PATH  with KAIO_STATS=1: count in kaio-run's shared
 *                    file instead of printing (observe.c)
 *   KAIO_DEBUG=1     log each backend decision once per fd (observe.c)
 *
 * Fork: the child gets a new epoch, an empty pool, no notifier threads, an
 * empty fd table and none of the parent's counts of work in progress.
 * Requests the parent had in flight belong to the parent: in the child,
 * aio_error() and aio_return() on their aiocbs fail with EINVAL and
 * aio_suspend() does not wait for them.  Nothing is locked across fork, so
 * a fork can never deadlock on the library.
 *
 * Exit: workers are detached and nothing waits for them; a pending request
 * simply dies with the process.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdtable.h"

struct kaio_config kaio__cfg = {
	.max_threads = KAIO_DEFAULT_THREADS,
	.idle_secs = KAIO_DEFAULT_IDLE,
	.num = KAIO_DEFAULT_NUM,
	.nowait = 1,
};
atomic_int kaio__epoch = 1;
pid_t kaio__pid;
struct kaio_stats_int kaio__stats;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static const char *const stat_names[KAIO_STAT_MAX] = {
	[KAIO_STAT_READ] = "read",
	[KAIO_STAT_WRITE] = "write",
	[KAIO_STAT_FSYNC] = "fsync",
	[KAIO_STAT_FDSYNC] = "fdsync",
	[KAIO_STAT_INLINE] = "inline",
	[KAIO_STAT_POOL] = "pool",
	[KAIO_STAT_KERNEL] = "kernel",
	[KAIO_STAT_NOWAIT_FALLBACK] = "nowait_fallback",
	[KAIO_STAT_CANCELED] = "canceled",
	[KAIO_STAT_NOTIFY_SIGNAL] = "notify_signal",
	[KAIO_STAT_NOTIFY_THREAD] = "notify_thread",
	[KAIO_STAT_NOTIFY_THREAD_ID] = "notify_thread_id",
	[KAIO_STAT_NOTIFY_FAILED] = "notify_failed",
	[KAIO_STAT_THREADS_CREATED] = "threads_created",
	[KAIO_STAT_LISTIO] = "listio",
	[KAIO_STAT_URING] = "uring",
	[KAIO_STAT_NOTIFY_QUEUE] = "notify_queue",
	[KAIO_STAT_PATHOP] = "pathop",
	[KAIO_STAT_POLL] = "poll",
	[KAIO_STAT_AIO_EVENTS] = "aio_events",
	[KAIO_STAT_POOL_OVERFLOW] = "pool_overflow",
};

int kaio__block_signals(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	return pthread_sigmask(SIG_SETMASK, &all, old);
}

static long env_long(const char *name, long def, long min, long max)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return def;
	return v;
}

static int backend_mode(const char *s)
{
	if (s && (!strcmp(s, "kernel") || !strcmp(s, "kaio")))
		return KAIO_BACKEND_KERNEL;
	if (s && (!strcmp(s, "threads") || !strcmp(s, "pool")))
		return KAIO_BACKEND_THREADS;
	if (s && (!strcmp(s, "uring") || !strcmp(s, "io_uring")))
		return KAIO_BACKEND_URING;
	return KAIO_BACKEND_AUTO;
}

static const char *const mode_names[] = {
	[KAIO_BACKEND_AUTO] = "auto",
	[KAIO_BACKEND_KERNEL] = "kernel",
	[KAIO_BACKEND_THREADS] = "threads",
	[KAIO_BACKEND_URING] = "uring",
};

static void atfork_child(void)
{
	atomic_fetch_add(&kaio__epoch, 1);
	kaio__pid = getpid();
	kaio__stats_fork();
	/*
	 * Counts of work the parent's other threads had in hand: none of
	 * it is the child's, and no thread here will finish it.  Requests
	 * outside the kernel (a reaper would never let a waiting thread
	 * reap, reap.c), signals being sent (aio_suspend() would wait for
	 * them for ever, suspend.c), hand-offs between backends
	 * (aio_cancel() would wait for them to end, cancel.c).
	 */
	atomic_store(&kaio__done_waiters, 0);
	atomic_store(&kaio__suspending, 0);
	kaio__pending_reset();
	atomic_store(&kaio__strays, 0);
	atomic_store(&kaio__signalling, 0);
	atomic_store(&kaio__handoff_ended, atomic_load(&kaio__handoff_begun));
	kaio__backend_fork_child();
	kaio__fd_here_fork_child();
	kaio__notify_reset();
	kaio__fd_reset();
	kaio__queue_reset();
	kaio__req_reset();
	kaio__latency_reset();
	kaio__sigdefer_fork_child();
}

/* glibc's _Fork(), found once (see kaio_entry__Fork()). */
typedef pid_t (*fork_fn)(void);
static void *_Atomic real_fork;

static fork_fn fork_real(void)
{
	void *p = atomic_load_explicit(&real_fork, memory_order_acquire);

	if (kaio_unlikely(!p)) {
		p = dlvsym(RTLD_NEXT, "_Fork", "GLIBC_2.34");
		atomic_store_explicit(&real_fork, p, memory_order_release);
	}
	return (fork_fn)p;
}

/*
 * Once, from the constructor, or from the first call into the library if
 * another constructor makes one first: then from aio_read(), say, which
 * is no cancellation point and may not have disabled cancellation
 * (request.c): the counter file's open(2) is one.
 */
static void setup(void)
{
	int cs;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	kaio__pid = getpid();
	atomic_store(&kaio__cfg.max_threads,
		     (int)env_long("KAIO_THREADS", KAIO_DEFAULT_THREADS, 1, 4096));
	atomic_store(&kaio__cfg.idle_secs,
		     (int)env_long("KAIO_IDLE", KAIO_DEFAULT_IDLE, 1, 86400));
	kaio__cfg.nowait = (int)env_long("KAIO_NOWAIT", 1, 0, 1);
	kaio__cfg.stats = (int)env_long("KAIO_STATS", 0, 0, 1);
	kaio__cfg.debug = (int)env_long("KAIO_DEBUG", 0, 0, 1);
	kaio__cfg.backend = backend_mode(getenv("KAIO_BACKEND"));
	kaio__fdgen_setup();
	kaio__sigdefer_setup();
	kaio__stats_setup();
	if (kaio__cfg.stats)
		kaio__stats_attach(mode_names[kaio__cfg.backend]);
	pthread_atfork(NULL, NULL, atfork_child);
	fork_real();
	pthread_setcancelstate(cs, NULL);
}

void kaio__init(void)
{
	pthread_once(&init_once, setup);
}

/*
 * _Fork() (glibc 2.34) forks without running the fork handlers, so the
 * child kept the parent's library state: io_uring rings that are not
 * mapped there (MADV_DONTFORK: its first request crashed), pool workers
 * and reapers that do not exist (a request never ended).  The wrapper
 * runs in the child what fork() runs there through pthread_atfork():
 * stores, mutex initialisation and close(2), nothing that takes a lock or
 * allocates.  What the child may call afterwards is what it may call
 * after fork(): in the child of a multithreaded parent, aio_read() and
 * the like allocate, and glibc's _Fork() leaves malloc's locks as the
 * parent's other threads held them; a fork from a handler that
 * interrupted a library call leaves the child inside that call (neither
 * is reset here: see kaio_posix(7)).  glibc's fork() calls its own
 * _Fork() directly, never this.  The real one is found when the library
 * is set up, not in a signal handler.
 */
__attribute__((visibility("default"))) pid_t kaio_entry__Fork(void);
pid_t kaio_entry__Fork(void)
{
	fork_fn fn = fork_real();
	int saved = errno;
	pid_t pid;

	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	pid = fn();
	if (pid == 0) {
		atfork_child();
		errno = saved;
	}
	return pid;
}
KAIO_ALIAS(kaio_entry__Fork, kaio_v34__Fork);
KAIO_DEFSYMVER(kaio_v34__Fork, _Fork, GLIBC_2.34);

__attribute__((constructor)) static void kaio_ctor(void)
{
	kaio__init();
}

__attribute__((destructor)) static void kaio_dtor(void)
{
	char head[128], states[96];

	if (!kaio__cfg.stats)
		return;
	kaio__backend_describe(states, sizeof(states));
	snprintf(head, sizeof(head), "backend=%s%s",
		 mode_names[kaio__cfg.backend], states);
	kaio__stats_exit(head);	/* observe.c: the line, or kaio-run's slot */
}

void kaio__aio_init(const struct aioinit *init)
{
	kaio__init();
	if (!init)
		return;
	if (init->aio_threads > 0)
		atomic_store(&kaio__cfg.max_threads, init->aio_threads);
	if (init->aio_num > 0)
		atomic_store(&kaio__cfg.num, init->aio_num);	/* kept for reuse */
	if (init->aio_idle_time > 0)
		atomic_store(&kaio__cfg.idle_secs, init->aio_idle_time);
	kaio__backend_config_changed();
}

KAIO_EXPORT int kaio_stats_get(struct kaio_stats *st, size_t size)
{
	size_t i, n = size / sizeof(st->v[0]);
	unsigned long total[KAIO_STAT_MAX];

	if (!st)
		return -EINVAL;
	memset(st, 0, size);
	kaio__stats_total(total);
	for (i = 0; i < n && i < KAIO_STAT_MAX; i++)
		st->v[i] = total[i];
	return 0;
}

KAIO_EXPORT const char *kaio_stat_name(int stat)
{
	if (stat < 0 || stat >= KAIO_STAT_MAX)
		return NULL;
	return stat_names[stat];
}
