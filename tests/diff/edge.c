// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * edge.c: edge cases of the POSIX AIO calls, one per output line, for a
 * differential test against glibc (tests/diff/run).  Built against glibc
 * alone: run it plain for glibc's answers, and with LD_PRELOAD for the
 * library's.
 *
 *   edge [-j N] [-c GLOB] DIR
 *
 * DIR is an empty scratch directory (the cases create fixed files there).
 * -j runs N cases at once (default 4); -c runs only the cases whose name
 * matches the fnmatch(3) pattern GLOB.
 *
 * Each case runs in a child process of its own, so that no case sees
 * another's requests and a crash or a hang ends only that case.  A case
 * prints "NAME: key=value ..." with what a program can observe:
 *
 *   call=R       the call's return value, "-1/ERRNO" on failure (-1/0:
 *                errno left alone)
 *   wait=done    every request of the case completed (aio_suspend() loop
 *                with a timeout); "HANG" if one did not within 5 s; "-"
 *                if nothing was submitted
 *   err=E        aio_error() afterwards (0, an errno name, or -1/ERRNO)
 *   ret=, ret2=  aio_return() and a second aio_return()
 *   notify=      the notifications that arrived, sorted: sV a signal (the
 *                expected one, si_code SI_ASYNCIO, si_value V), tV a
 *                SIGEV_THREAD callback with V, "!..." a wrong detail;
 *                "none"
 *   data=        bytes read (C escapes), and other case-specific keys
 *
 * A child killed by a signal prints "died=SIGNAME" alone.  The first line,
 * "# impl: ...", names the object that each call binds to; lines starting
 * with "#" are not cases.  Nothing printed depends on addresses, timings,
 * pids or the scratch directory.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_LIMIT_MS	5000	/* a request not done by then: HANG */
#define NOTE_LIMIT_MS	2000	/* an expected notification not come: none */
#define NOTE_EXTRA_MS	50	/* then a look for extra ones */
#define SETTLE_MS	300	/* let a worker start a blocking read */
#define CASE_ALARM_S	30	/* a child still running then is killed */
#define PRIO_MAX_GLIBC	20	/* glibc's AIO_PRIO_DELTA_MAX */
#define LISTIO_OVER	16385	/* one above the largest list kaio_posix(7) takes */

/* ---- the output line -------------------------------------------------- */

static char line[8192];
static size_t linelen;

static void out(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (linelen >= sizeof(line) - 1)
		return;
	if (linelen)
		line[linelen++] = ' ';
	va_start(ap, fmt);
	n = vsnprintf(line + linelen, sizeof(line) - linelen, fmt, ap);
	va_end(ap);
	if (n > 0)
		linelen += (size_t)n < sizeof(line) - linelen ?
			   (size_t)n : sizeof(line) - linelen - 1;
}

static const char *ename(int e)
{
	static char buf[8][16];
	static int k;
	const char *s;

	if (e == 0)
		return "0";
	s = strerrorname_np(e);
	if (s)
		return s;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "E%d", e);
	return buf[k];
}

/* key=R, or key=-1/ERRNO */
static void put_rc(const char *key, long rc, int err)
{
	if (rc == -1)
		out("%s=-1/%s", key, ename(err));
	else
		out("%s=%ld", key, rc);
}

/* aio_error() of cb: key=0, key=EBADF, key=-1/EINVAL */
static void put_err(const char *key, const struct aiocb *cb)
{
	int e;

	errno = 0;
	e = aio_error(cb);
	if (e == -1)
		out("%s=-1/%s", key, ename(errno));
	else
		out("%s=%s", key, ename(e));
}

static void put_return(const char *key, struct aiocb *cb)
{
	ssize_t r;

	errno = 0;
	r = aio_return(cb);
	put_rc(key, r, errno);
}

/* key=R of a call made here, with errno cleared before it */
#define PUT_CALL(key, expr) do {			\
		long r_;				\
							\
		errno = 0;				\
		r_ = (expr);				\
		put_rc(key, r_, errno);			\
	} while (0)

static void put_cancel(const char *key, int rc, int err)
{
	switch (rc) {
	case AIO_CANCELED:
		out("%s=AIO_CANCELED", key);
		break;
	case AIO_NOTCANCELED:
		out("%s=AIO_NOTCANCELED", key);
		break;
	case AIO_ALLDONE:
		out("%s=AIO_ALLDONE", key);
		break;
	default:
		put_rc(key, rc, err);
	}
}

static void put_data(const char *key, const void *p, size_t n)
{
	const unsigned char *c = p;
	char buf[256];
	size_t i, k = 0;

	if (n > 32)
		n = 32;
	for (i = 0; i < n; i++) {
		if (c[i] > ' ' && c[i] < 127 && c[i] != '\\')
			buf[k++] = (char)c[i];
		else
			k += (size_t)sprintf(buf + k, "\\x%02x", c[i]);
	}
	buf[k] = 0;
	out("%s=\"%s\"", key, buf);
}

/* ---- time --------------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* ---- notifications -------------------------------------------------------- */

struct note {
	int kind;		/* 's' signal, 't' SIGEV_THREAD callback */
	int signo;
	int code;
	int val;
	int on_main;
};

#define MAX_NOTES 32
static struct note notes[MAX_NOTES];
static atomic_int nnotes;
static sem_t note_sem;
static pthread_t main_thread;
static int sig_ok;		/* the RT signal used: SIGRTMIN + 2 */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int i = atomic_fetch_add(&nnotes, 1);

	(void)uc;
	if (i < MAX_NOTES) {
		notes[i].kind = 's';
		notes[i].signo = sig;
		notes[i].code = si->si_code;
		notes[i].val = si->si_value.sival_int;
	}
	sem_post(&note_sem);
}

static void on_thread(union sigval v)
{
	int i = atomic_fetch_add(&nnotes, 1);

	if (i < MAX_NOTES) {
		notes[i].kind = 't';
		notes[i].val = v.sival_int;
		notes[i].on_main = pthread_equal(pthread_self(), main_thread);
	}
	sem_post(&note_sem);
}

static void sev_none(struct sigevent *sev)
{
	memset(sev, 0, sizeof(*sev));
	sev->sigev_notify = SIGEV_NONE;
}

static void sev_signal(struct sigevent *sev, int signo, int val)
{
	memset(sev, 0, sizeof(*sev));
	sev->sigev_notify = SIGEV_SIGNAL;
	sev->sigev_signo = signo;
	sev->sigev_value.sival_int = val;
}

static void sev_thread(struct sigevent *sev, int with_fn, int val)
{
	memset(sev, 0, sizeof(*sev));
	sev->sigev_notify = SIGEV_THREAD;
	sev->sigev_notify_function = with_fn ? on_thread : NULL;
	sev->sigev_value.sival_int = val;
}

static void sev_thread_id(struct sigevent *sev, pid_t tid, int val)
{
	memset(sev, 0, sizeof(*sev));
	sev->sigev_notify = SIGEV_THREAD_ID;
	sev->sigev_signo = sig_ok;
	sev->sigev_value.sival_int = val;
	sev->_sigev_un._tid = tid;
}

static int note_cmp(const void *a, const void *b)
{
	const struct note *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind - y->kind;
	return (x->val > y->val) - (x->val < y->val);
}

/*
 * Wait until @expect notifications arrived (at most NOTE_LIMIT_MS), then a
 * little more for extra ones, and print them.  @expect 0: only the extra
 * look (nothing should come).
 */
static void put_notes(int expect)
{
	struct note v[MAX_NOTES];
	long long end = now_ms() + NOTE_LIMIT_MS;
	char buf[512];
	size_t k = 0;
	int i, n;

	while (atomic_load(&nnotes) < expect && now_ms() < end) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		sem_timedwait(&note_sem, &ts);
	}
	sleep_ms(NOTE_EXTRA_MS);
	n = atomic_load(&nnotes);
	if (n > MAX_NOTES)
		n = MAX_NOTES;
	if (n == 0) {
		out("notify=none");
		return;
	}
	memcpy(v, notes, n * sizeof(v[0]));
	qsort(v, n, sizeof(v[0]), note_cmp);
	for (i = 0; i < n; i++) {
		k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%c%d",
				      i ? "," : "", v[i].kind, v[i].val);
		if (v[i].kind == 's' && v[i].signo != sig_ok)
			k += (size_t)snprintf(buf + k, sizeof(buf) - k,
					      "!sig=RTMIN%+d", v[i].signo - SIGRTMIN);
		if (v[i].kind == 's' && v[i].code != SI_ASYNCIO)
			k += (size_t)snprintf(buf + k, sizeof(buf) - k,
					      "!code=%d", v[i].code);
		if (v[i].kind == 't' && v[i].on_main)
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, "!main");
		if (k >= sizeof(buf) - 32)
			break;
	}
	out("notify=%s", buf);
}

/* How many notifications a sigevent asks for (as POSIX reads it). */
static int sev_expects(const struct sigevent *sev)
{
	switch (sev->sigev_notify) {
	case SIGEV_SIGNAL:
	case SIGEV_THREAD_ID:
		return sev->sigev_signo > 0 && sev->sigev_signo <= SIGRTMAX;
	case SIGEV_THREAD:
		return 1;	/* without a function: wait for what happens */
	default:
		return 0;
	}
}

/* ---- requests ----------------------------------------------------------------- */

static char rbuf[4][64];	/* read buffers (static: low addresses) */
static const char wdata[] = "ABCDEFGHIJKLMNOP";

static void cb_init(struct aiocb *cb, int fd, void *buf, size_t n, off_t off)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = fd;
	cb->aio_buf = buf;
	cb->aio_nbytes = n;
	cb->aio_offset = off;
	sev_none(&cb->aio_sigevent);
}

/*
 * Wait until no entry of @l is in progress (aio_error() is not
 * EINPROGRESS), at most WAIT_LIMIT_MS.  Returns 0, or -1 on a hang.
 */
static int wait_all(struct aiocb *const *l, int n)
{
	long long end = now_ms() + WAIT_LIMIT_MS;

	for (;;) {
		struct timespec ts = { 0, 100 * 1000000L };
		int i, busy = 0;

		for (i = 0; i < n; i++)
			if (l[i] && aio_error(l[i]) == EINPROGRESS)
				busy = 1;
		if (!busy)
			return 0;
		if (now_ms() >= end)
			return -1;
		aio_suspend((const struct aiocb *const *)l, n, &ts);
	}
}

static void put_wait_key(const char *key, struct aiocb *const *l, int n,
			 int submitted)
{
	if (!submitted)
		out("%s=-", key);
	else
		out("%s=%s", key, wait_all(l, n) ? "HANG" : "done");
}

static void put_wait(struct aiocb *const *l, int n, int submitted)
{
	put_wait_key("wait", l, n, submitted);
}

/*
 * The common tail: wait, aio_error(), aio_return() twice, the
 * notifications, and the data of a read.
 */
static void finish(struct aiocb *cb, int submitted, int is_read)
{
	ssize_t r;
	int e;

	put_wait(&cb, 1, submitted);
	put_err("err", cb);
	errno = 0;
	r = aio_return(cb);
	e = errno;
	put_rc("ret", r, e);
	put_return("ret2", cb);
	if (cb->aio_sigevent.sigev_notify != SIGEV_NONE)
		put_notes(submitted ? sev_expects(&cb->aio_sigevent) : 0);
	if (is_read && r > 0 && cb->aio_buf)
		put_data("data", (const void *)cb->aio_buf, (size_t)r);
}

enum op { RD, WR, FS_SYNC, FS_DSYNC };

static int submit(enum op op, struct aiocb *cb)
{
	int rc;

	errno = 0;
	switch (op) {
	case RD:
		rc = aio_read(cb);
		break;
	case WR:
		rc = aio_write(cb);
		break;
	case FS_SYNC:
		rc = aio_fsync(O_SYNC, cb);
		break;
	default:
		rc = aio_fsync(O_DSYNC, cb);
		break;
	}
	put_rc("call", rc, errno);
	return rc;
}

/* one request: submit, and the common tail */
static void one(enum op op, struct aiocb *cb)
{
	int rc = submit(op, cb);

	finish(cb, rc == 0, op == RD);
}

/* ---- fixtures --------------------------------------------------------------- */

#define DATA "abcdefghijklmnopqrstuvwxyz012345"	/* the file "data", 32 bytes */

static int xopen(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);

	if (fd < 0) {
		fprintf(stderr, "edge: open %s: %s\n", path, strerror(errno));
		_exit(3);
	}
	return fd;
}

static void xpipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC)) {
		fprintf(stderr, "edge: pipe: %s\n", strerror(errno));
		_exit(3);
	}
}

static void xwrite(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n) {
		fprintf(stderr, "edge: write: %s\n", strerror(errno));
		_exit(3);
	}
}

/* a fresh file of the case, holding @s */
static int new_file(const char *name, const char *s, int flags)
{
	int fd = xopen(name, O_RDWR | O_CREAT | O_TRUNC);

	if (s)
		xwrite(fd, s, strlen(s));
	close(fd);
	return xopen(name, flags);
}

static void put_file(const char *key, const char *name)
{
	char buf[64];
	int fd = xopen(name, O_RDONLY);
	ssize_t n = pread(fd, buf, sizeof(buf), 0);

	close(fd);
	put_data(key, buf, n > 0 ? (size_t)n : 0);
}

static int pipe_pending(int fd)
{
	int n = -1;

	ioctl(fd, FIONREAD, &n);
	return n;
}

/* ---- aio_read / aio_write ---------------------------------------------------- */

static void rd_fd(int fd)
{
	struct aiocb cb;

	cb_init(&cb, fd, rbuf[0], 16, 0);
	one(RD, &cb);
}

static void wr_fd(int fd)
{
	struct aiocb cb;

	cb_init(&cb, fd, (void *)wdata, 4, 0);
	one(WR, &cb);
}

static void c_read_file(void)		{ rd_fd(xopen("data", O_RDONLY)); }
static void c_read_fd_neg(void)		{ rd_fd(-1); }
static void c_read_fd_huge(void)	{ rd_fd(1000000); }
static void c_read_wronly(void)		{ rd_fd(xopen("data", O_WRONLY)); }
static void c_read_dir(void)		{ rd_fd(xopen("d", O_RDONLY | O_DIRECTORY)); }
static void c_read_opath(void)		{ rd_fd(xopen("data", O_PATH)); }
static void c_read_devnull(void)	{ rd_fd(xopen("/dev/null", O_RDONLY)); }
static void c_read_devzero(void)	{ rd_fd(xopen("/dev/zero", O_RDONLY)); }
static void c_write_fd_neg(void)	{ wr_fd(-1); }
static void c_write_fd_huge(void)	{ wr_fd(1000000); }
static void c_write_rdonly(void)	{ wr_fd(xopen("data", O_RDONLY)); }
static void c_write_dir(void)		{ wr_fd(xopen("d", O_RDONLY | O_DIRECTORY)); }
static void c_write_opath(void)		{ wr_fd(xopen("data", O_PATH)); }
static void c_write_devnull(void)	{ wr_fd(xopen("/dev/null", O_WRONLY)); }
static void c_write_devfull(void)	{ wr_fd(xopen("/dev/full", O_WRONLY)); }

static void c_write_file(void)
{
	struct aiocb cb;

	cb_init(&cb, new_file("w.file", "0123456789", O_RDWR), (void *)wdata, 4, 3);
	one(WR, &cb);
	put_file("file", "w.file");
}

static void rd_geom(size_t n, off_t off, int nullbuf)
{
	struct aiocb cb;

	cb_init(&cb, xopen("data", O_RDONLY), nullbuf ? NULL : rbuf[0], n, off);
	one(RD, &cb);
}

static void c_read_nbytes0(void)	{ rd_geom(0, 0, 0); }

/* A kernel address: a transfer of 0 bytes still has the kernel check it
 * (pread(2): EFAULT). */
#define KERNEL_BUF	((void *)(uintptr_t)0xffff800000001000ULL)

/* 0 bytes: pread(2) still asks the file (a directory's EISDIR) and checks
 * the buffer, as glibc's worker does; preadv2() in the caller did not. */
static void c_read_nbytes0_dir(void)
{
	struct aiocb cb;

	cb_init(&cb, xopen("d", O_RDONLY | O_DIRECTORY), rbuf[0], 0, 0);
	one(RD, &cb);
}

/* op of n bytes from or to a kernel address, on "data" opened with flags. */
static void kbuf_op(int op, int flags, size_t n)
{
	struct aiocb cb;

	cb_init(&cb, xopen("data", flags), KERNEL_BUF, n, 0);
	one(op, &cb);
}
static void c_read_nbytes0_kbuf(void)	{ kbuf_op(RD, O_RDONLY, 0); }
/* An O_PATH fd is no fd for a transfer (EBADF), whatever the buffer: io_uring
 * looks at the buffer first (EFAULT) on kernels that import it at prep. */
static void c_read_opath_kbuf(void)	{ kbuf_op(RD, O_PATH, 16); }
static void c_read_opath_nbytes0_kbuf(void) { kbuf_op(RD, O_PATH, 0); }
static void c_write_opath_kbuf(void)	{ kbuf_op(WR, O_PATH, 16); }
static void c_read_buf_null(void)	{ rd_geom(16, 0, 1); }
static void c_read_off_neg(void)	{ rd_geom(16, -1, 0); }
static void c_read_off_eof(void)	{ rd_geom(16, 1000, 0); }
static void c_read_off_tail(void)	{ rd_geom(16, 28, 0); }
static void c_read_nbytes_ssize_max(void) { rd_geom(SSIZE_MAX, 0, 0); }
static void c_read_nbytes_over_ssize(void) { rd_geom((size_t)SSIZE_MAX + 1, 0, 0); }
/* 4 GiB + 4: the file's 32 bytes fit the buffer; 4 if the length were cut to 32 bits */
static void c_read_nbytes_4g(void)	{ rd_geom(((size_t)1 << 32) + 4, 0, 0); }

static void wr_geom(const char *name, const void *buf, size_t n, off_t off)
{
	struct aiocb cb;
	struct stat st;

	cb_init(&cb, new_file(name, "0123456789", O_RDWR), (void *)buf, n, off);
	one(WR, &cb);
	if (fstat(cb.aio_fildes, &st) == 0)
		out("size=%lld", (long long)st.st_size);
}

static void c_write_nbytes0(void)	{ wr_geom("w.n0", wdata, 0, 0); }
static void c_write_nbytes0_kbuf(void)	{ wr_geom("w.n0k", KERNEL_BUF, 0, 0); }
static void c_write_buf_null(void)	{ wr_geom("w.null", NULL, 16, 0); }
static void c_write_off_neg(void)	{ wr_geom("w.neg", wdata, 4, -1); }
static void c_write_off_beyond(void)	{ wr_geom("w.beyond", wdata, 4, 40); }
static void c_write_nbytes_over_ssize(void)
{
	wr_geom("w.huge", wdata, (size_t)SSIZE_MAX + 1, 0);
}

static void rd_prio(int prio)
{
	struct aiocb cb;

	cb_init(&cb, xopen("data", O_RDONLY), rbuf[0], 16, 0);
	cb.aio_reqprio = prio;
	one(RD, &cb);
}

static void c_read_prio_neg(void)	{ rd_prio(-1); }
static void c_read_prio_1(void)		{ rd_prio(1); }
static void c_read_prio_max(void)	{ rd_prio(PRIO_MAX_GLIBC); }
static void c_read_prio_over(void)	{ rd_prio(PRIO_MAX_GLIBC + 1); }

static void c_write_prio_over(void)
{
	struct aiocb cb;

	cb_init(&cb, new_file("w.prio", "0123456789", O_RDWR), (void *)wdata, 4, 0);
	cb.aio_reqprio = PRIO_MAX_GLIBC + 1;
	one(WR, &cb);
	put_file("file", "w.prio");
}

/* a read of "data" with the sigevent @sev */
static void rd_sev(const struct sigevent *sev)
{
	struct aiocb cb;

	cb_init(&cb, xopen("data", O_RDONLY), rbuf[0], 16, 0);
	cb.aio_sigevent = *sev;
	one(RD, &cb);
}

static void c_sev_notify_99(void)
{
	struct sigevent sev;

	sev_signal(&sev, sig_ok, 1);
	sev.sigev_notify = 99;
	rd_sev(&sev);
}

static void c_sev_signal_0(void)
{
	struct sigevent sev;

	sev_signal(&sev, 0, 1);
	rd_sev(&sev);
}

static void c_sev_signal_neg(void)
{
	struct sigevent sev;

	sev_signal(&sev, -1, 1);
	rd_sev(&sev);
}

static void c_sev_signal_over(void)
{
	struct sigevent sev;

	sev_signal(&sev, SIGRTMAX + 1, 1);
	rd_sev(&sev);
}

static void c_sev_signal_rt(void)
{
	struct sigevent sev;

	sev_signal(&sev, sig_ok, 7);
	rd_sev(&sev);
}

static void c_sev_thread(void)
{
	struct sigevent sev;

	sev_thread(&sev, 1, 7);
	rd_sev(&sev);
}

static void c_sev_thread_nofn(void)
{
	struct sigevent sev;

	sev_thread(&sev, 0, 7);
	rd_sev(&sev);
}

static void c_sev_thread_id_0(void)
{
	struct sigevent sev;

	sev_thread_id(&sev, 0, 7);
	rd_sev(&sev);
}

static void c_sev_thread_id_bogus(void)
{
	struct sigevent sev;

	sev_thread_id(&sev, 0x3ffffff0, 7);	/* above any pid_max */
	rd_sev(&sev);
}

static void c_sev_thread_id_self(void)
{
	struct sigevent sev;

	sev_thread_id(&sev, (pid_t)syscall(SYS_gettid), 7);
	rd_sev(&sev);
}

static void c_sev_signal_write(void)
{
	struct aiocb cb;

	cb_init(&cb, new_file("w.sig", "0123456789", O_RDWR), (void *)wdata, 4, 0);
	sev_signal(&cb.aio_sigevent, sig_ok, 9);
	one(WR, &cb);
	put_file("file", "w.sig");
}

static void c_read_pipe_data(void)
{
	struct aiocb cb;
	int p[2];

	xpipe(p);
	xwrite(p[1], "hello", 5);
	cb_init(&cb, p[0], rbuf[0], 16, 12345);	/* the offset is ignored */
	one(RD, &cb);
}

static void c_write_pipe(void)
{
	struct aiocb cb;
	char buf[16];
	ssize_t n;
	int p[2];

	xpipe(p);
	cb_init(&cb, p[1], (void *)wdata, 6, 777);
	one(WR, &cb);
	n = read(p[0], buf, sizeof(buf));
	put_data("piped", buf, n > 0 ? (size_t)n : 0);
}

static void c_write_pipe_closed(void)
{
	struct aiocb cb;
	int p[2];

	xpipe(p);
	close(p[0]);
	cb_init(&cb, p[1], (void *)wdata, 4, 0);
	one(WR, &cb);
}

static void c_read_socket(void)
{
	struct aiocb cb;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		_exit(3);
	xwrite(sv[1], "sock", 4);
	cb_init(&cb, sv[0], rbuf[0], 16, 0);
	one(RD, &cb);
}

static void c_read_eventfd(size_t n)
{
	struct aiocb cb;
	uint64_t v = 0;

	cb_init(&cb, eventfd(3, EFD_CLOEXEC | EFD_NONBLOCK), &v, n, 0);
	one(RD, &cb);
	out("value=%llu", (unsigned long long)v);
}

static void c_read_eventfd_8(void)	{ c_read_eventfd(8); }
static void c_read_eventfd_4(void)	{ c_read_eventfd(4); }

static void c_write_eventfd_8(void)
{
	struct aiocb cb;
	uint64_t add = 5, v = 0;
	int fd = eventfd(3, EFD_CLOEXEC | EFD_NONBLOCK);

	cb_init(&cb, fd, &add, 8, 0);
	one(WR, &cb);
	if (read(fd, &v, 8) != 8)
		v = 0;
	out("counter=%llu", (unsigned long long)v);
}

/* two O_APPEND writes in a row, with offsets that must be ignored */
static void c_write_append(void)
{
	struct aiocb a, b;
	struct aiocb *l[2] = { &a, &b };
	int fd = new_file("w.append", "xyz", O_WRONLY | O_APPEND);
	int ra, rb;

	cb_init(&a, fd, (void *)wdata, 3, 0);
	cb_init(&b, fd, (void *)(wdata + 8), 4, 1);
	errno = 0;
	ra = aio_write(&a);
	put_rc("call", ra, errno);
	errno = 0;
	rb = aio_write(&b);
	put_rc("call2", rb, errno);
	put_wait(l, 2, ra == 0 || rb == 0);
	put_err("err", &a);
	put_return("ret", &a);
	put_err("err2", &b);
	put_return("ret2", &b);
	put_file("file", "w.append");
}

/* O_APPEND at a negative offset: pwrite(2)'s EINVAL; the fd's position */
static void c_write_append_off_neg(void)
{
	struct aiocb cb;
	int fd = new_file("w.appneg", "xyz", O_WRONLY | O_APPEND);

	cb_init(&cb, fd, (void *)wdata, 3, -3);
	one(WR, &cb);
	out("pos=%lld", (long long)lseek(fd, 0, SEEK_CUR));
	put_file("file", "w.appneg");
}

/* O_APPEND: appended, and the fd's file position stays where it was */
static void c_write_append_pos(void)
{
	struct aiocb cb;
	int fd = new_file("w.apppos", "xyz", O_RDWR | O_APPEND);

	lseek(fd, 1, SEEK_SET);
	cb_init(&cb, fd, (void *)wdata, 3, 0);
	one(WR, &cb);
	out("pos=%lld", (long long)lseek(fd, 0, SEEK_CUR));
	put_file("file", "w.apppos");
}

/* a stream at a negative offset: EINVAL before the fd is looked at */
static void c_read_pipe_off_neg(void)
{
	struct aiocb cb;
	int p[2];

	xpipe(p);
	xwrite(p[1], "data", 4);
	cb_init(&cb, p[0], rbuf[0], 4, -1);
	one(RD, &cb);
	out("left=%d", pipe_pending(p[0]));
}

static void c_write_pipe_off_neg(void)
{
	struct aiocb cb;
	int p[2];

	xpipe(p);
	cb_init(&cb, p[1], (void *)wdata, 4, -1);
	one(WR, &cb);
	out("left=%d", pipe_pending(p[0]));
}

static void c_read_fd_neg_off_neg(void)
{
	struct aiocb cb;

	cb_init(&cb, -1, rbuf[0], 4, -1);
	one(RD, &cb);
}

/* non-blocking streams with nothing to read: EAGAIN at once */
static void c_read_pipe_nonblock(void)
{
	struct aiocb cb;
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		_exit(3);
	cb_init(&cb, p[0], rbuf[0], 4, 0);
	one(RD, &cb);
}

static void c_read_socket_nonblock(void)
{
	struct aiocb cb;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		_exit(3);
	cb_init(&cb, sv[0], rbuf[0], 4, 0);
	one(RD, &cb);
}

static void c_read_eventfd_nonblock(void)
{
	struct aiocb cb;

	cb_init(&cb, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), rbuf[0], 8, 0);
	one(RD, &cb);
}

/* a non-blocking pipe that is full: the write fails with EAGAIN */
static void c_write_pipe_full_nonblock(void)
{
	static char fill[65536];
	struct aiocb cb;
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		_exit(3);
	while (write(p[1], fill, sizeof(fill)) > 0)
		;
	cb_init(&cb, p[1], (void *)wdata, 4, 0);
	one(WR, &cb);
}

/* an epoll fd cannot be read: EINVAL */
static void c_read_epoll(void)
{
	struct aiocb cb;

	cb_init(&cb, epoll_create1(EPOLL_CLOEXEC), rbuf[0], 8, 0);
	one(RD, &cb);
}

/* /proc/self/comm cannot pwrite(): written with write(2), as glibc's */
static void c_write_proc_comm(void)
{
	struct aiocb cb;

	cb_init(&cb, xopen("/proc/self/comm", O_WRONLY), (void *)"edgeprog", 8, 0);
	one(WR, &cb);
	put_file("comm", "/proc/self/comm");
}

/*
 * RLIMIT_FSIZE of 4096 bytes, SIGXFSZ at its default action: a write
 * across the limit writes what fits (6 bytes), one past it fails with
 * EFBIG; the program lives (glibc's worker has the signal blocked).
 */
static void fsize_write(off_t off)
{
	struct rlimit rl = { 4096, 4096 };
	struct aiocb cb;
	struct stat st;
	char name[24];

	snprintf(name, sizeof(name), "w.fsize%lld", (long long)off);
	if (setrlimit(RLIMIT_FSIZE, &rl))
		_exit(3);
	cb_init(&cb, new_file(name, NULL, O_RDWR), (void *)wdata, 10, off);
	one(WR, &cb);
	if (fstat(cb.aio_fildes, &st) == 0)
		out("size=%lld", (long long)st.st_size);
}

static void c_write_fsize_across(void)	{ fsize_write(4090); }
static void c_write_fsize_past(void)	{ fsize_write(8192); }

/*
 * A read into a buffer whose second page cannot be written: the bytes of
 * the first page, as one pread(2) returns them, not EFAULT.
 */
static void c_read_fault_partway(void)
{
	static char big[8192];
	struct aiocb cb;
	char *m;
	int fd = new_file("r.fault", NULL, O_RDWR);

	memset(big, 'q', sizeof(big));
	xwrite(fd, big, sizeof(big));
	m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (m == MAP_FAILED || mprotect(m + 4096, 4096, PROT_NONE))
		_exit(3);
	cb_init(&cb, fd, m, 8192, 0);
	submit(RD, &cb);
	put_wait((struct aiocb *const[]){ &cb }, 1, 1);
	put_err("err", &cb);
	put_return("ret", &cb);
}

/* a read of an empty pipe, left waiting; @sig: with a signal (value 5) */
static void pending_read(struct aiocb *cb, int p[2], int sig, int buf)
{
	xpipe(p);
	cb_init(cb, p[0], rbuf[buf], 4, 0);
	if (sig)
		sev_signal(&cb->aio_sigevent, sig_ok, 5 + buf);
}

/* the same aiocb submitted again while its pipe read waits for data */
static void c_read_twice_in_progress(void)
{
	struct aiocb cb;
	long long end;
	int p[2], rc;

	pending_read(&cb, p, 1, 0);
	rc = submit(RD, &cb);
	errno = 0;
	rc = aio_read(&cb);
	put_rc("call2", rc, errno);
	xwrite(p[1], "AAAA", 4);
	put_wait((struct aiocb *[]){ &cb }, 1, 1);
	/* if it was queued twice, the second read takes these */
	xwrite(p[1], "BBBB", 4);
	end = now_ms() + 1000;
	while (pipe_pending(p[0]) != 0 && now_ms() < end)
		sleep_ms(10);
	sleep_ms(100);
	out("left=%d", pipe_pending(p[0]));
	put_err("err", &cb);
	put_return("ret", &cb);
	put_return("ret2", &cb);
	put_notes(1);
	put_data("data", rbuf[0], 4);
}

/* ---- aio_fsync ---------------------------------------------------------------- */

static void fs_op(int op, int fd)
{
	struct aiocb cb;
	int rc;

	cb_init(&cb, fd, NULL, 0, 0);
	errno = 0;
	rc = aio_fsync(op, &cb);
	put_rc("call", rc, errno);
	finish(&cb, rc == 0, 0);
}

static void c_fsync_op0(void)	{ fs_op(0, xopen("data", O_RDWR)); }
static void c_fsync_rdwr(void)	{ fs_op(O_RDWR, xopen("data", O_RDWR)); }
static void c_fsync_sync(void)	{ fs_op(O_SYNC, xopen("data", O_RDWR)); }
static void c_fsync_dsync(void)	{ fs_op(O_DSYNC, xopen("data", O_RDWR)); }
static void c_fsync_fd_neg(void)	{ fs_op(O_SYNC, -1); }
static void c_fsync_fd_neg_op0(void)	{ fs_op(0, -1); }
static void c_fsync_fd_huge(void)	{ fs_op(O_DSYNC, 1000000); }
static void c_fsync_rdonly(void)	{ fs_op(O_SYNC, xopen("data", O_RDONLY)); }
static void c_fsync_opath(void)	{ fs_op(O_SYNC, xopen("data", O_PATH)); }
static void c_fsync_dir(void)	{ fs_op(O_SYNC, xopen("d", O_RDONLY | O_DIRECTORY)); }
static void c_fsync_devnull(void)	{ fs_op(O_SYNC, xopen("/dev/null", O_WRONLY)); }

static void c_fsync_pipe(void)
{
	int p[2];

	xpipe(p);
	fs_op(O_SYNC, p[1]);
}

/* only aio_fildes and aio_sigevent count */
static void fs_garbage(int prio)
{
	struct aiocb cb;
	int rc;

	cb_init(&cb, xopen("data", O_RDWR), (void *)(uintptr_t)1, (size_t)-1, -7);
	cb.aio_reqprio = prio;
	cb.aio_lio_opcode = 77;
	errno = 0;
	rc = aio_fsync(O_DSYNC, &cb);
	put_rc("call", rc, errno);
	out("prio=%d", cb.aio_reqprio);
	finish(&cb, rc == 0, 0);
}

static void c_fsync_garbage(void)	{ fs_garbage(12345); }
static void c_fsync_prio_neg(void)	{ fs_garbage(-1); }

static void c_fsync_signal(void)
{
	struct aiocb cb;

	cb_init(&cb, xopen("data", O_RDWR), NULL, 0, 0);
	sev_signal(&cb.aio_sigevent, sig_ok, 3);
	one(FS_SYNC, &cb);
}

static void c_fsync_sev_99(void)
{
	struct aiocb cb;

	cb_init(&cb, xopen("data", O_RDWR), NULL, 0, 0);
	sev_signal(&cb.aio_sigevent, sig_ok, 3);
	cb.aio_sigevent.sigev_notify = 99;
	one(FS_DSYNC, &cb);
}

/* a write and then an fsync of it, both submitted before either is done */
static void c_fsync_after_write(void)
{
	struct aiocb w, f;
	struct aiocb *l[2] = { &w, &f };
	int fd = new_file("w.fsync", "0123456789", O_RDWR);
	int rw, rf;

	cb_init(&w, fd, (void *)wdata, 4, 2);
	cb_init(&f, fd, NULL, 0, 0);
	errno = 0;
	rw = aio_write(&w);
	put_rc("call", rw, errno);
	errno = 0;
	rf = aio_fsync(O_SYNC, &f);
	put_rc("call2", rf, errno);
	put_wait(l, 2, 1);
	put_err("err", &w);
	put_return("ret", &w);
	put_err("err2", &f);
	put_return("ret2", &f);
	put_file("file", "w.fsync");
}

/* ---- aio_error / aio_return ---------------------------------------------------- */

static void c_error_zeroed(void)
{
	struct aiocb cb;

	memset(&cb, 0, sizeof(cb));
	put_err("err", &cb);
	put_return("ret", &cb);
	put_return("ret2", &cb);
	put_err("err2", &cb);
}

static void c_error_after_return(void)
{
	struct aiocb cb;
	int rc;

	cb_init(&cb, xopen("data", O_RDONLY), rbuf[0], 4, 0);
	rc = submit(RD, &cb);
	put_wait((struct aiocb *[]){ &cb }, 1, rc == 0);
	put_return("ret", &cb);
	put_err("err", &cb);
	put_return("ret2", &cb);
	put_err("err2", &cb);
}

static void c_error_after_return_failed(void)
{
	struct aiocb cb;
	int rc;

	cb_init(&cb, -1, rbuf[0], 4, 0);
	rc = submit(RD, &cb);
	put_wait((struct aiocb *[]){ &cb }, 1, rc == 0);
	put_return("ret", &cb);
	put_err("err", &cb);
	put_return("ret2", &cb);
	put_err("err2", &cb);
}

/*
 * aio_error() and aio_return() while a pipe read waits (for glibc, once its
 * worker has tried pread(), failed with ESPIPE and blocks in read())
 */
static void c_error_in_progress(void)
{
	struct aiocb cb;
	int p[2];

	pending_read(&cb, p, 0, 0);
	submit(RD, &cb);
	sleep_ms(SETTLE_MS);
	put_err("err_now", &cb);
	put_return("ret_now", &cb);
	put_err("err_now2", &cb);
	xwrite(p[1], "abcd", 4);
	finish(&cb, 1, 1);
}

/* a second submission after aio_return(): the aiocb is reusable */
static void c_error_resubmit(void)
{
	struct aiocb cb;
	int rc;

	cb_init(&cb, xopen("data", O_RDONLY), rbuf[0], 4, 0);
	rc = submit(RD, &cb);
	put_wait_key("wait_first", (struct aiocb *[]){ &cb }, 1, rc == 0);
	put_return("ret_first", &cb);
	cb.aio_offset = 4;
	errno = 0;
	rc = aio_read(&cb);
	put_rc("call2", rc, errno);
	finish(&cb, rc == 0, 1);
}

/* ---- aio_cancel ------------------------------------------------------------ */

static void cancel_key(const char *key, int fd, struct aiocb *cb)
{
	int rc;

	errno = 0;
	rc = aio_cancel(fd, cb);
	put_cancel(key, rc, errno);
}

static void cancel_rc(int fd, struct aiocb *cb)
{
	cancel_key("cancel", fd, cb);
}

static void c_cancel_fd_neg(void)	{ cancel_rc(-1, NULL); }
static void c_cancel_fd_huge(void)	{ cancel_rc(1000000, NULL); }
static void c_cancel_idle_null(void)	{ cancel_rc(xopen("data", O_RDONLY), NULL); }

static void c_cancel_fd_neg_cb(void)
{
	struct aiocb cb;

	cb_init(&cb, -1, rbuf[0], 4, 0);
	cancel_rc(-1, &cb);
}

static void c_cancel_never_submitted(void)
{
	struct aiocb cb;
	int fd = xopen("data", O_RDONLY);

	cb_init(&cb, fd, rbuf[0], 4, 0);
	cancel_rc(fd, &cb);
	put_err("err", &cb);
}

static void c_cancel_fd_mismatch(void)
{
	struct aiocb cb;
	int fd = xopen("data", O_RDONLY);

	cb_init(&cb, fd, rbuf[0], 4, 0);
	cancel_rc(xopen("data", O_RDONLY), &cb);
}

static void c_cancel_fd_mismatch_pending(void)
{
	struct aiocb cb;
	int p[2];

	pending_read(&cb, p, 0, 0);
	submit(RD, &cb);
	cancel_rc(p[1], &cb);
	put_err("err_now", &cb);
	xwrite(p[1], "abcd", 4);
	finish(&cb, 1, 1);
}

/* a pipe read that waits for data, then aio_cancel(): @null cancels by fd */
static void cancel_pending(int null)
{
	struct aiocb cb;
	int p[2];

	pending_read(&cb, p, 1, 0);
	submit(RD, &cb);
	sleep_ms(SETTLE_MS);
	cancel_rc(p[0], null ? NULL : &cb);
	put_err("err_now", &cb);
	/* not cancelled: let it finish */
	if (aio_error(&cb) == EINPROGRESS)
		xwrite(p[1], "wxyz", 4);
	finish(&cb, 1, 1);
}

static void c_cancel_pending(void)	{ cancel_pending(0); }
static void c_cancel_pending_null(void)	{ cancel_pending(1); }

/* two reads of one empty pipe: the second waits its turn, and is cancelled */
static void c_cancel_queued_second(void)
{
	struct aiocb a, b;
	int p[2];

	pending_read(&a, p, 1, 0);
	cb_init(&b, p[0], rbuf[1], 4, 0);
	sev_signal(&b.aio_sigevent, sig_ok, 6);
	submit(RD, &a);
	PUT_CALL("call2", aio_read(&b));
	sleep_ms(SETTLE_MS);
	cancel_rc(p[0], &b);
	put_err("err_now", &b);
	xwrite(p[1], "abcdefgh", aio_error(&b) == EINPROGRESS ? 8 : 4);
	put_wait((struct aiocb *[]){ &a, &b }, 2, 1);
	put_err("err", &a);
	put_return("ret", &a);
	put_err("err2", &b);
	put_return("ret2", &b);
	put_notes(2);
	put_data("data", rbuf[0], 4);
}

/* a pending read on one pipe, aio_cancel(NULL) on another fd */
static void c_cancel_other_fd(void)
{
	struct aiocb cb;
	int p[2];

	pending_read(&cb, p, 0, 0);
	submit(RD, &cb);
	cancel_rc(xopen("data", O_RDONLY), NULL);
	put_err("err_now", &cb);
	xwrite(p[1], "abcd", 4);
	finish(&cb, 1, 1);
}

static void c_cancel_completed(void)
{
	struct aiocb cb;
	int rc;

	cb_init(&cb, xopen("data", O_RDONLY), rbuf[0], 4, 0);
	rc = submit(RD, &cb);
	put_wait((struct aiocb *[]){ &cb }, 1, rc == 0);
	cancel_rc(cb.aio_fildes, &cb);
	cancel_key("cancel_null", cb.aio_fildes, NULL);
	put_err("err", &cb);
	put_return("ret", &cb);
}

static void c_cancel_returned(void)
{
	struct aiocb cb;
	int rc;

	cb_init(&cb, xopen("data", O_RDONLY), rbuf[0], 4, 0);
	rc = submit(RD, &cb);
	put_wait((struct aiocb *[]){ &cb }, 1, rc == 0);
	put_return("ret", &cb);
	cancel_rc(cb.aio_fildes, &cb);
	put_err("err", &cb);
}

/* ---- aio_suspend ----------------------------------------------------------- */

/* aio_suspend(): its result, and whether it waited (1 s or more) */
static void suspend_key(const char *key, const struct aiocb *const *l, int n,
			const struct timespec *ts)
{
	long long t0 = now_ms();
	int rc;

	errno = 0;
	rc = aio_suspend(l, n, ts);
	put_rc(key, rc, errno);
	out("%s_waited=%s", key, now_ms() - t0 >= 1000 ? "yes" : "no");
}

static void suspend_rc(const struct aiocb *const *l, int n, const struct timespec *ts)
{
	suspend_key("suspend", l, n, ts);
}

static const struct timespec ts_3s = { 3, 0 };

static void c_suspend_nent0(void)
{
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };

	cb_init(&cb, -1, NULL, 0, 0);
	suspend_rc(l, 0, &ts_3s);
}

static void c_suspend_nent_neg(void)
{
	struct aiocb cb;
	int p[2];
	const struct aiocb *l[1] = { &cb };

	pending_read(&cb, p, 0, 0);
	submit(RD, &cb);
	suspend_rc(l, -1, &ts_3s);
}

static void c_suspend_nulls(void)
{
	const struct aiocb *l[3] = { NULL, NULL, NULL };

	suspend_rc(l, 3, &ts_3s);
}

static void c_suspend_zero_timeout(void)
{
	struct aiocb cb;
	struct timespec ts = { 0, 0 };
	const struct aiocb *l[1] = { &cb };
	int p[2];

	pending_read(&cb, p, 0, 0);
	submit(RD, &cb);
	suspend_rc(l, 1, &ts);
}

static void c_suspend_short_timeout(void)
{
	struct aiocb cb;
	struct timespec ts = { 0, 20 * 1000000L };
	const struct aiocb *l[1] = { &cb };
	int p[2];

	pending_read(&cb, p, 0, 0);
	submit(RD, &cb);
	suspend_rc(l, 1, &ts);
}

static void c_suspend_completed(void)
{
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	int rc;

	cb_init(&cb, xopen("data", O_RDONLY), rbuf[0], 4, 0);
	rc = submit(RD, &cb);
	put_wait((struct aiocb *[]){ &cb }, 1, rc == 0);
	suspend_rc(l, 1, NULL);
	put_return("ret", &cb);
	suspend_key("suspend_returned", l, 1, &ts_3s);
}

static void c_suspend_never_submitted(void)
{
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };

	cb_init(&cb, xopen("data", O_RDONLY), rbuf[0], 4, 0);
	suspend_rc(l, 1, &ts_3s);
}

static void c_suspend_mixed(void)
{
	struct aiocb a, b;
	const struct aiocb *l[4] = { NULL, &a, NULL, &b };
	int p[2], rc;

	pending_read(&a, p, 0, 0);
	submit(RD, &a);
	cb_init(&b, xopen("data", O_RDONLY), rbuf[1], 4, 0);
	errno = 0;
	rc = aio_read(&b);
	put_rc("call2", rc, errno);
	put_wait((struct aiocb *[]){ &b }, 1, rc == 0);
	suspend_rc(l, 4, &ts_3s);
	put_err("err", &a);
}

static void suspend_bad_ts(time_t sec, long nsec)
{
	struct aiocb cb;
	struct timespec ts = { sec, nsec };
	const struct aiocb *l[1] = { &cb };
	int p[2];

	pending_read(&cb, p, 0, 0);
	submit(RD, &cb);
	suspend_rc(l, 1, &ts);
}

static void c_suspend_nsec_over(void)	{ suspend_bad_ts(0, 2000000000L); }
static void c_suspend_nsec_neg(void)	{ suspend_bad_ts(0, -1); }
static void c_suspend_sec_neg(void)	{ suspend_bad_ts(-1, 0); }
/* glibc adds tv_nsec to the clock's and brings the sum into range once:
 * a second's wait, then EAGAIN; a deadline past, EAGAIN at once. */
static void c_suspend_nsec_1s(void)	{ suspend_bad_ts(0, 1000000000L); }
static void c_suspend_both_neg(void)	{ suspend_bad_ts(-1, -1); }

/* an invalid timeout with nothing to wait for */
static void c_suspend_nsec_over_done(void)
{
	struct aiocb cb;
	struct timespec ts = { 0, 2000000000L };
	const struct aiocb *l[1] = { &cb };
	int rc;

	cb_init(&cb, xopen("data", O_RDONLY), rbuf[0], 4, 0);
	rc = submit(RD, &cb);
	put_wait((struct aiocb *[]){ &cb }, 1, rc == 0);
	suspend_rc(l, 1, &ts);
}

/* ---- lio_listio ------------------------------------------------------------ */

/*
 * lio_listio(@mode, @l, @n, @sev), then for every non-NULL entry (at most
 * 8): its aio_error(), aio_return() twice, aio_lio_opcode, data read.
 * @expect: notifications expected.
 */
static void lio(int mode, struct aiocb **l, int n, struct sigevent *sev, int expect)
{
	int rc, i, m = n < 8 ? n : 8, op[8];
	char k[16];

	for (i = 0; i < m; i++)
		op[i] = l[i] ? l[i]->aio_lio_opcode : -1;
	errno = 0;
	rc = lio_listio(mode, l, n, sev);
	put_rc("call", rc, errno);
	put_wait(l, m > 0 ? m : 0, m > 0);
	for (i = 0; i < m; i++) {
		ssize_t r;

		if (!l[i])
			continue;
		snprintf(k, sizeof(k), "e%d.err", i);
		put_err(k, l[i]);
		snprintf(k, sizeof(k), "e%d.ret", i);
		errno = 0;
		r = aio_return(l[i]);
		put_rc(k, r, errno);
		snprintf(k, sizeof(k), "e%d.ret2", i);
		put_return(k, l[i]);
		out("e%d.op=%d", i, l[i]->aio_lio_opcode);
		if (r > 0 && op[i] != LIO_WRITE && l[i]->aio_buf) {
			snprintf(k, sizeof(k), "e%d.data", i);
			put_data(k, (const void *)l[i]->aio_buf, (size_t)r);
		}
	}
	if (expect >= 0)
		put_notes(expect);
}

/* entry @i: a read of "data" at offset 4 * @i, opcode @op */
static struct aiocb *entry(struct aiocb *cb, int i, int op)
{
	cb_init(cb, xopen("data", O_RDONLY), rbuf[i], 4, 4 * i);
	cb->aio_lio_opcode = op;
	return cb;
}

/* A list of two entries of "data" (offsets 0 and 4), opcodes @op0, @op1. */
struct lio2 {
	struct aiocb a, b;
	struct aiocb *l[2];
};

static struct aiocb **lio2(struct lio2 *t, int op0, int op1)
{
	t->l[0] = entry(&t->a, 0, op0);
	t->l[1] = entry(&t->b, 1, op1);
	return t->l;
}

static void c_lio_mode_bad(void)
{
	struct aiocb a;
	struct aiocb *l[1] = { entry(&a, 0, LIO_READ) };

	lio(2, l, 1, NULL, -1);
}

static void c_lio_nent0_wait(void)
{
	struct aiocb *l[1] = { NULL };

	lio(LIO_WAIT, l, 0, NULL, -1);
}

static void c_lio_nent0_nowait_sig(void)
{
	struct aiocb *l[1] = { NULL };
	struct sigevent sev;

	sev_signal(&sev, sig_ok, 100);
	lio(LIO_NOWAIT, l, 0, &sev, 1);
}

static void c_lio_nent_neg(void)
{
	struct aiocb a;
	struct aiocb *l[1] = { entry(&a, 0, LIO_READ) };

	lio(LIO_WAIT, l, -1, NULL, -1);
}

static void c_lio_nent_neg_nowait_sig(void)
{
	struct aiocb a;
	struct aiocb *l[1] = { entry(&a, 0, LIO_READ) };
	struct sigevent sev;

	sev_signal(&sev, sig_ok, 100);
	lio(LIO_NOWAIT, l, -1, &sev, 1);
}

static void c_lio_sysconf_max(void)
{
	PUT_CALL("sysconf", sysconf(_SC_AIO_LISTIO_MAX));
}

/* a list longer than any limit: only NULLs, and one read at the end */
static void c_lio_nent_over(void)
{
	static struct aiocb *l[LISTIO_OVER];
	struct aiocb a;
	int rc;

	l[LISTIO_OVER - 1] = entry(&a, 0, LIO_READ);
	errno = 0;
	rc = lio_listio(LIO_WAIT, l, LISTIO_OVER, NULL);
	put_rc("call", rc, errno);
	put_err("err", &a);
	put_return("ret", &a);
}

static void c_lio_nop_only_wait(void)
{
	struct lio2 t;
	struct aiocb **l = lio2(&t, LIO_NOP, LIO_NOP);

	lio(LIO_WAIT, l, 2, NULL, -1);
}

static void c_lio_nop_only_nowait_sig(void)
{
	struct lio2 t;
	struct aiocb **l = lio2(&t, LIO_NOP, LIO_NOP);
	struct sigevent sev;

	sev_signal(&sev, sig_ok, 100);
	lio(LIO_NOWAIT, l, 2, &sev, 1);
}

static void c_lio_nop_and_read(void)
{
	struct aiocb a, b, c;
	struct aiocb *l[3] = { entry(&a, 0, LIO_NOP), entry(&b, 1, LIO_READ),
			       entry(&c, 2, LIO_NOP) };

	lio(LIO_WAIT, l, 3, NULL, -1);
}

static void c_lio_null_entries(void)
{
	struct aiocb b;
	struct aiocb *l[3] = { NULL, entry(&b, 1, LIO_READ), NULL };

	lio(LIO_WAIT, l, 3, NULL, -1);
}

static void c_lio_bad_opcode_wait(void)
{
	struct lio2 t;
	struct aiocb **l = lio2(&t, LIO_READ, 42);

	lio(LIO_WAIT, l, 2, NULL, -1);
}

/* opcodes glibc's worker runs: 3 and 4 (fdatasync, fsync), 128 and 256
 * (a read: the low 7 bits), 129 (a write) */
static void lio_op1(int op)
{
	struct aiocb a;
	struct aiocb *l[1];
	char name[16];

	snprintf(name, sizeof(name), "l.op%d", op);	/* cases run at once */
	cb_init(&a, new_file(name, "0123456789", O_RDWR), rbuf[0], 4, 0);
	a.aio_lio_opcode = op;
	l[0] = &a;
	lio(LIO_WAIT, l, 1, NULL, -1);
	put_file("file", name);
}

static void c_lio_opcode_3(void)	{ lio_op1(3); }
static void c_lio_opcode_4(void)	{ lio_op1(4); }
static void c_lio_opcode_128(void)	{ lio_op1(128); }
static void c_lio_opcode_129(void)	{ lio_op1(129); }
static void c_lio_opcode_256(void)	{ lio_op1(256); }
static void c_lio_opcode_130(void)	{ lio_op1(130); }

/* an fsync entry on an fd that is not open: it completes with EBADF (only
 * aio_fsync() refuses a bad fd at once) */
static void c_lio_opcode_4_badfd(void)
{
	struct aiocb a;
	struct aiocb *l[1] = { &a };

	cb_init(&a, 77, rbuf[0], 4, 0);
	a.aio_lio_opcode = 4;
	lio(LIO_WAIT, l, 1, NULL, -1);
}

/* glibc's queue sets an fsync's aio_reqprio to 0 and never checks it: an
 * entry with a bad fd and a priority out of range is accepted, and fails
 * with EBADF. */
static void c_lio_opcode_4_badfd_prio(void)
{
	struct aiocb a;
	struct aiocb *l[1] = { &a };

	cb_init(&a, 77, rbuf[0], 4, 0);
	a.aio_lio_opcode = 4;
	a.aio_reqprio = PRIO_MAX_GLIBC + 1;
	lio(LIO_NOWAIT, l, 1, NULL, -1);
	out("prio=%d", a.aio_reqprio);
}

static void c_lio_bad_opcode_nowait(void)
{
	struct lio2 t;
	struct aiocb **l = lio2(&t, LIO_READ, 42);
	struct sigevent sev;

	sev_signal(&sev, sig_ok, 100);
	sev_signal(&t.b.aio_sigevent, sig_ok, 2);
	lio(LIO_NOWAIT, l, 2, &sev, 2);
}

static void c_lio_wait_one_fail(void)
{
	struct lio2 t;
	struct aiocb **l = lio2(&t, LIO_READ, LIO_READ);

	t.b.aio_fildes = -1;
	lio(LIO_WAIT, l, 2, NULL, -1);
}

static void c_lio_wait_all_fail(void)
{
	struct lio2 t;
	struct aiocb **l = lio2(&t, LIO_WRITE, LIO_READ);

	t.b.aio_fildes = 1000000;		/* a: a write to a read-only fd */
	lio(LIO_WAIT, l, 2, NULL, -1);
}

static void c_lio_nowait_one_fail(void)
{
	struct lio2 t;
	struct aiocb **l = lio2(&t, LIO_READ, LIO_READ);
	struct sigevent sev;

	t.b.aio_fildes = -1;
	sev_signal(&t.a.aio_sigevent, sig_ok, 1);
	sev_signal(&t.b.aio_sigevent, sig_ok, 2);
	sev_signal(&sev, sig_ok, 100);
	lio(LIO_NOWAIT, l, 2, &sev, 3);
}

/* the order of a LIO_NOWAIT list's notifications: the list's comes last */
static void c_lio_nowait_order(void)
{
	struct aiocb a, b, c;
	struct aiocb *l[3] = { entry(&a, 0, LIO_READ), entry(&b, 1, LIO_READ),
			       entry(&c, 2, LIO_READ) };
	struct sigevent sev;
	int i, n;

	sev_signal(&a.aio_sigevent, sig_ok, 1);
	sev_signal(&b.aio_sigevent, sig_ok, 2);
	sev_signal(&c.aio_sigevent, sig_ok, 3);
	sev_signal(&sev, sig_ok, 100);
	lio(LIO_NOWAIT, l, 3, &sev, 4);
	n = atomic_load(&nnotes);
	for (i = 0; i < n && i < MAX_NOTES; i++)
		if (notes[i].val == 100)
			break;
	out("list_at=%d", i);
}

static void c_lio_reqprio_bad_nowait(void)
{
	struct lio2 t;
	struct aiocb **l = lio2(&t, LIO_READ, LIO_READ);

	t.b.aio_reqprio = -1;
	lio(LIO_NOWAIT, l, 2, NULL, -1);
}

static void c_lio_reqprio_bad_wait(void)
{
	struct lio2 t;
	struct aiocb **l = lio2(&t, LIO_READ, LIO_READ);

	t.b.aio_reqprio = PRIO_MAX_GLIBC + 1;
	lio(LIO_WAIT, l, 2, NULL, -1);
}

static void lio_list_sev(int mode, struct sigevent *sev, int expect)
{
	struct aiocb a;
	struct aiocb *l[1] = { entry(&a, 0, LIO_READ) };

	lio(mode, l, 1, sev, expect);
}

static void c_lio_sev_99(void)
{
	struct sigevent sev;

	sev_signal(&sev, sig_ok, 100);
	sev.sigev_notify = 99;
	lio_list_sev(LIO_NOWAIT, &sev, 0);
}

static void c_lio_sev_signal_over(void)
{
	struct sigevent sev;

	sev_signal(&sev, SIGRTMAX + 1, 100);
	lio_list_sev(LIO_NOWAIT, &sev, 0);
}

static void c_lio_sev_signal_0(void)
{
	struct sigevent sev;

	sev_signal(&sev, 0, 100);
	lio_list_sev(LIO_NOWAIT, &sev, 0);
}

static void c_lio_sev_thread(void)
{
	struct sigevent sev;

	sev_thread(&sev, 1, 100);
	lio_list_sev(LIO_NOWAIT, &sev, 1);
}

static void c_lio_sev_thread_nofn(void)
{
	struct sigevent sev;

	sev_thread(&sev, 0, 100);
	lio_list_sev(LIO_NOWAIT, &sev, 0);
}

static void c_lio_sev_thread_id_self(void)
{
	struct sigevent sev;

	sev_thread_id(&sev, (pid_t)syscall(SYS_gettid), 100);
	lio_list_sev(LIO_NOWAIT, &sev, 1);
}

static void c_lio_sev_none_nowait(void)
{
	struct sigevent sev;

	sev_none(&sev);
	lio_list_sev(LIO_NOWAIT, &sev, -1);
}

static void c_lio_sev_null_nowait(void)
{
	lio_list_sev(LIO_NOWAIT, NULL, -1);
}

/* LIO_WAIT ignores the list's sigevent, even an invalid one */
static void c_lio_wait_sev_ignored(void)
{
	struct sigevent sev;

	sev_signal(&sev, sig_ok, 100);
	lio_list_sev(LIO_WAIT, &sev, 0);
}

static void c_lio_wait_sev_99(void)
{
	struct sigevent sev;

	sev_signal(&sev, sig_ok, 100);
	sev.sigev_notify = 99;
	lio_list_sev(LIO_WAIT, &sev, 0);
}

/* an entry with an invalid sigevent of its own */
static void c_lio_entry_sev_99(void)
{
	struct lio2 t;
	struct aiocb **l = lio2(&t, LIO_READ, LIO_READ);

	sev_signal(&t.b.aio_sigevent, sig_ok, 2);
	t.b.aio_sigevent.sigev_notify = 99;
	lio(LIO_WAIT, l, 2, NULL, 0);
}

static void c_lio_write_read(void)
{
	struct aiocb a, b;
	struct aiocb *l[2] = { &a, &b };
	int fd = new_file("w.lio", "0123456789", O_RDWR);

	cb_init(&a, fd, (void *)wdata, 4, 0);
	a.aio_lio_opcode = LIO_WRITE;
	cb_init(&b, fd, rbuf[1], 4, 6);
	b.aio_lio_opcode = LIO_READ;
	lio(LIO_WAIT, l, 2, NULL, -1);
	put_file("file", "w.lio");
}

/* an aiocb still in progress, listed again */
static void c_lio_entry_in_progress(void)
{
	struct aiocb a, b;
	struct aiocb *l[2] = { &a, &b };
	int p[2], rc;

	pending_read(&a, p, 0, 0);
	submit(RD, &a);
	a.aio_lio_opcode = LIO_READ;
	entry(&b, 1, LIO_READ);
	errno = 0;
	rc = lio_listio(LIO_NOWAIT, l, 2, NULL);
	put_rc("call2", rc, errno);
	put_wait_key("wait1", &l[1], 1, 1);
	put_err("e1.err", &b);
	put_return("e1.ret", &b);
	xwrite(p[1], "AAAABBBB", 8);
	put_wait(l, 1, 1);
	sleep_ms(100);
	put_err("e0.err", &a);
	put_return("e0.ret", &a);
	out("left=%d", pipe_pending(p[0]));
}

/* ---- the *64 names ---------------------------------------------------------- */

static void c_read64(void)
{
	struct aiocb64 cb;
	const struct aiocb64 *l[1] = { &cb };
	struct timespec ts = { 5, 0 };
	int rc;

	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = xopen("data", O_RDONLY);
	cb.aio_buf = rbuf[0];
	cb.aio_nbytes = 8;
	cb.aio_offset = 24;
	errno = 0;
	rc = aio_read64(&cb);
	put_rc("call", rc, errno);
	while (rc == 0 && aio_error64(&cb) == EINPROGRESS)
		if (aio_suspend64(l, 1, &ts) && errno != EINTR)
			break;
	out("err=%s", ename(aio_error64(&cb)));
	PUT_CALL("ret", aio_return64(&cb));
	PUT_CALL("ret2", aio_return64(&cb));
	put_data("data", rbuf[0], 8);
}

static void c_read64_fd_neg(void)
{
	struct aiocb64 cb;
	const struct aiocb64 *l[1] = { &cb };
	struct timespec ts = { 5, 0 };
	int rc;

	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = -1;
	cb.aio_buf = rbuf[0];
	cb.aio_nbytes = 8;
	errno = 0;
	rc = aio_read64(&cb);
	put_rc("call", rc, errno);
	while (rc == 0 && aio_error64(&cb) == EINPROGRESS)
		if (aio_suspend64(l, 1, &ts) && errno != EINTR)
			break;
	out("err=%s", ename(aio_error64(&cb)));
	PUT_CALL("ret", aio_return64(&cb));
}

static void c_write64_fsync64(void)
{
	struct aiocb64 w, f;
	const struct aiocb64 *l[2] = { &w, &f };
	struct timespec ts = { 5, 0 };
	int fd = new_file("w.64", "0123456789", O_RDWR);

	memset(&w, 0, sizeof(w));
	memset(&f, 0, sizeof(f));
	w.aio_fildes = f.aio_fildes = fd;
	w.aio_buf = (void *)wdata;
	w.aio_nbytes = 3;
	w.aio_offset = 1;
	PUT_CALL("call", aio_write64(&w));
	PUT_CALL("call2", aio_fsync64(O_SYNC, &f));
	PUT_CALL("call3", aio_fsync64(0, &f));
	while (aio_error64(&w) == EINPROGRESS || aio_error64(&f) == EINPROGRESS)
		if (aio_suspend64(l, 2, &ts) && errno != EINTR)
			break;
	out("err=%s", ename(aio_error64(&w)));
	PUT_CALL("ret", aio_return64(&w));
	out("err2=%s", ename(aio_error64(&f)));
	PUT_CALL("ret2", aio_return64(&f));
	put_file("file", "w.64");
}

static void c_cancel64(void)
{
	struct aiocb64 cb;
	int p[2], rc;

	xpipe(p);
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = p[0];
	cb.aio_buf = rbuf[0];
	cb.aio_nbytes = 4;
	PUT_CALL("call", aio_read64(&cb));
	errno = 0;
	rc = aio_cancel64(p[1], &cb);
	put_cancel("cancel", rc, errno);
	errno = 0;
	rc = aio_cancel64(-1, NULL);
	put_cancel("cancel2", rc, errno);
	xwrite(p[1], "abcd", 4);
	while (aio_error64(&cb) == EINPROGRESS)
		sleep_ms(10);
	out("err=%s", ename(aio_error64(&cb)));
	PUT_CALL("ret", aio_return64(&cb));
}

static void c_lio64(void)
{
	struct aiocb64 a, b;
	struct aiocb64 *l[3] = { &a, NULL, &b };
	int fd = xopen("data", O_RDONLY);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.aio_fildes = fd;
	a.aio_buf = rbuf[0];
	a.aio_nbytes = 4;
	a.aio_lio_opcode = LIO_READ;
	b.aio_fildes = -1;
	b.aio_buf = rbuf[1];
	b.aio_nbytes = 4;
	b.aio_lio_opcode = LIO_READ;
	PUT_CALL("call", lio_listio64(LIO_WAIT, l, 3, NULL));
	out("e0.err=%s", ename(aio_error64(&a)));
	PUT_CALL("e0.ret", aio_return64(&a));
	out("e2.err=%s", ename(aio_error64(&b)));
	PUT_CALL("e2.ret", aio_return64(&b));
	put_data("data", rbuf[0], 4);
}

/* ---- the cases ------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "read.file", c_read_file },
	{ "read.fd_neg", c_read_fd_neg },
	{ "read.fd_huge", c_read_fd_huge },
	{ "read.fd_wronly", c_read_wronly },
	{ "read.fd_dir", c_read_dir },
	{ "read.fd_opath", c_read_opath },
	{ "read.nbytes_0", c_read_nbytes0 },
	{ "read.nbytes_0_dir", c_read_nbytes0_dir },
	{ "read.nbytes_0_kernel_buf", c_read_nbytes0_kbuf },
	{ "read.fd_opath_kernel_buf", c_read_opath_kbuf },
	{ "read.fd_opath_nbytes_0_kernel_buf", c_read_opath_nbytes0_kbuf },
	{ "write.fd_opath_kernel_buf", c_write_opath_kbuf },
	{ "read.buf_null", c_read_buf_null },
	{ "read.offset_neg", c_read_off_neg },
	{ "read.offset_past_eof", c_read_off_eof },
	{ "read.offset_tail", c_read_off_tail },
	{ "read.nbytes_ssize_max", c_read_nbytes_ssize_max },
	{ "read.nbytes_over_ssize_max", c_read_nbytes_over_ssize },
	{ "read.nbytes_4g_plus_4", c_read_nbytes_4g },
	{ "read.reqprio_neg", c_read_prio_neg },
	{ "read.reqprio_1", c_read_prio_1 },
	{ "read.reqprio_max", c_read_prio_max },
	{ "read.reqprio_over", c_read_prio_over },
	{ "read.sigev_notify_99", c_sev_notify_99 },
	{ "read.sigev_signal_0", c_sev_signal_0 },
	{ "read.sigev_signal_neg", c_sev_signal_neg },
	{ "read.sigev_signal_over_rtmax", c_sev_signal_over },
	{ "read.sigev_signal_rt", c_sev_signal_rt },
	{ "read.sigev_thread", c_sev_thread },
	{ "read.sigev_thread_no_function", c_sev_thread_nofn },
	{ "read.sigev_thread_id_0", c_sev_thread_id_0 },
	{ "read.sigev_thread_id_bogus", c_sev_thread_id_bogus },
	{ "read.sigev_thread_id_self", c_sev_thread_id_self },
	{ "read.pipe_data", c_read_pipe_data },
	{ "read.socket_data", c_read_socket },
	{ "read.eventfd_8", c_read_eventfd_8 },
	{ "read.eventfd_4", c_read_eventfd_4 },
	{ "read.dev_null", c_read_devnull },
	{ "read.dev_zero", c_read_devzero },
	{ "read.twice_in_progress", c_read_twice_in_progress },
	{ "write.file", c_write_file },
	{ "write.fd_neg", c_write_fd_neg },
	{ "write.fd_huge", c_write_fd_huge },
	{ "write.fd_rdonly", c_write_rdonly },
	{ "write.fd_dir", c_write_dir },
	{ "write.fd_opath", c_write_opath },
	{ "write.nbytes_0", c_write_nbytes0 },
	{ "write.nbytes_0_kernel_buf", c_write_nbytes0_kbuf },
	{ "write.buf_null", c_write_buf_null },
	{ "write.offset_neg", c_write_off_neg },
	{ "write.offset_past_eof", c_write_off_beyond },
	{ "write.nbytes_over_ssize_max", c_write_nbytes_over_ssize },
	{ "write.reqprio_over", c_write_prio_over },
	{ "write.sigev_signal_rt", c_sev_signal_write },
	{ "write.pipe", c_write_pipe },
	{ "write.pipe_reader_closed", c_write_pipe_closed },
	{ "write.eventfd_8", c_write_eventfd_8 },
	{ "write.dev_null", c_write_devnull },
	{ "write.dev_full", c_write_devfull },
	{ "write.append_two", c_write_append },
	{ "write.append_offset_neg", c_write_append_off_neg },
	{ "write.append_keeps_position", c_write_append_pos },
	{ "read.pipe_offset_neg", c_read_pipe_off_neg },
	{ "write.pipe_offset_neg", c_write_pipe_off_neg },
	{ "read.fd_neg_offset_neg", c_read_fd_neg_off_neg },
	{ "read.pipe_nonblock_empty", c_read_pipe_nonblock },
	{ "read.socket_nonblock_empty", c_read_socket_nonblock },
	{ "read.eventfd_nonblock_0", c_read_eventfd_nonblock },
	{ "write.pipe_nonblock_full", c_write_pipe_full_nonblock },
	{ "read.epoll_fd", c_read_epoll },
	{ "write.proc_self_comm", c_write_proc_comm },
	{ "write.fsize_across_limit", c_write_fsize_across },
	{ "write.fsize_past_limit", c_write_fsize_past },
	{ "read.fault_partway", c_read_fault_partway },
	{ "fsync.op_0", c_fsync_op0 },
	{ "fsync.op_o_rdwr", c_fsync_rdwr },
	{ "fsync.o_sync", c_fsync_sync },
	{ "fsync.o_dsync", c_fsync_dsync },
	{ "fsync.fd_neg", c_fsync_fd_neg },
	{ "fsync.fd_neg_op_0", c_fsync_fd_neg_op0 },
	{ "fsync.fd_huge", c_fsync_fd_huge },
	{ "fsync.fd_pipe", c_fsync_pipe },
	{ "fsync.fd_rdonly", c_fsync_rdonly },
	{ "fsync.fd_opath", c_fsync_opath },
	{ "fsync.fd_dir", c_fsync_dir },
	{ "fsync.dev_null", c_fsync_devnull },
	{ "fsync.garbage_fields", c_fsync_garbage },
	{ "fsync.reqprio_neg", c_fsync_prio_neg },
	{ "fsync.sigev_signal_rt", c_fsync_signal },
	{ "fsync.sigev_notify_99", c_fsync_sev_99 },
	{ "fsync.after_write", c_fsync_after_write },
	{ "error.zeroed_aiocb", c_error_zeroed },
	{ "error.after_return", c_error_after_return },
	{ "error.after_return_failed", c_error_after_return_failed },
	{ "error.in_progress", c_error_in_progress },
	{ "error.resubmit_after_return", c_error_resubmit },
	{ "cancel.fd_neg", c_cancel_fd_neg },
	{ "cancel.fd_huge", c_cancel_fd_huge },
	{ "cancel.fd_neg_aiocb", c_cancel_fd_neg_cb },
	{ "cancel.idle_fd_null", c_cancel_idle_null },
	{ "cancel.never_submitted", c_cancel_never_submitted },
	{ "cancel.fd_mismatch", c_cancel_fd_mismatch },
	{ "cancel.fd_mismatch_pending", c_cancel_fd_mismatch_pending },
	{ "cancel.pending_pipe_read", c_cancel_pending },
	{ "cancel.pending_pipe_read_null", c_cancel_pending_null },
	{ "cancel.queued_second_read", c_cancel_queued_second },
	{ "cancel.other_fd", c_cancel_other_fd },
	{ "cancel.completed", c_cancel_completed },
	{ "cancel.returned", c_cancel_returned },
	{ "suspend.nent_0", c_suspend_nent0 },
	{ "suspend.nent_neg", c_suspend_nent_neg },
	{ "suspend.only_nulls", c_suspend_nulls },
	{ "suspend.zero_timeout_in_progress", c_suspend_zero_timeout },
	{ "suspend.short_timeout_in_progress", c_suspend_short_timeout },
	{ "suspend.completed", c_suspend_completed },
	{ "suspend.never_submitted", c_suspend_never_submitted },
	{ "suspend.nulls_pending_done", c_suspend_mixed },
	{ "suspend.nsec_over", c_suspend_nsec_over },
	{ "suspend.nsec_neg", c_suspend_nsec_neg },
	{ "suspend.sec_neg", c_suspend_sec_neg },
	{ "suspend.nsec_1s", c_suspend_nsec_1s },
	{ "suspend.sec_neg_nsec_neg", c_suspend_both_neg },
	{ "suspend.nsec_over_nothing_pending", c_suspend_nsec_over_done },
	{ "lio.mode_2", c_lio_mode_bad },
	{ "lio.nent_0_wait", c_lio_nent0_wait },
	{ "lio.nent_0_nowait_signal", c_lio_nent0_nowait_sig },
	{ "lio.nent_neg", c_lio_nent_neg },
	{ "lio.nent_neg_nowait_signal", c_lio_nent_neg_nowait_sig },
	{ "lio.sysconf_listio_max", c_lio_sysconf_max },
	{ "lio.nent_over_max", c_lio_nent_over },
	{ "lio.nop_only_wait", c_lio_nop_only_wait },
	{ "lio.nop_only_nowait_signal", c_lio_nop_only_nowait_sig },
	{ "lio.nop_and_read", c_lio_nop_and_read },
	{ "lio.null_entries", c_lio_null_entries },
	{ "lio.bad_opcode_wait", c_lio_bad_opcode_wait },
	{ "lio.opcode_3_dsync", c_lio_opcode_3 },
	{ "lio.opcode_4_sync", c_lio_opcode_4 },
	{ "lio.opcode_128_read", c_lio_opcode_128 },
	{ "lio.opcode_129_write", c_lio_opcode_129 },
	{ "lio.opcode_256_read", c_lio_opcode_256 },
	{ "lio.opcode_130_nop64", c_lio_opcode_130 },
	{ "lio.opcode_4_sync_bad_fd", c_lio_opcode_4_badfd },
	{ "lio.opcode_4_sync_bad_fd_bad_prio", c_lio_opcode_4_badfd_prio },
	{ "lio.bad_opcode_nowait", c_lio_bad_opcode_nowait },
	{ "lio.wait_one_fails", c_lio_wait_one_fail },
	{ "lio.wait_all_fail", c_lio_wait_all_fail },
	{ "lio.nowait_one_fails", c_lio_nowait_one_fail },
	{ "lio.nowait_notify_order", c_lio_nowait_order },
	{ "lio.reqprio_bad_nowait", c_lio_reqprio_bad_nowait },
	{ "lio.reqprio_bad_wait", c_lio_reqprio_bad_wait },
	{ "lio.list_sigev_notify_99", c_lio_sev_99 },
	{ "lio.list_sigev_signal_over_rtmax", c_lio_sev_signal_over },
	{ "lio.list_sigev_signal_0", c_lio_sev_signal_0 },
	{ "lio.list_sigev_thread", c_lio_sev_thread },
	{ "lio.list_sigev_thread_no_function", c_lio_sev_thread_nofn },
	{ "lio.list_sigev_thread_id_self", c_lio_sev_thread_id_self },
	{ "lio.list_sigev_none", c_lio_sev_none_nowait },
	{ "lio.list_sigev_null", c_lio_sev_null_nowait },
	{ "lio.wait_list_sigev_ignored", c_lio_wait_sev_ignored },
	{ "lio.wait_list_sigev_notify_99", c_lio_wait_sev_99 },
	{ "lio.entry_sigev_notify_99", c_lio_entry_sev_99 },
	{ "lio.write_then_read", c_lio_write_read },
	{ "lio.entry_in_progress", c_lio_entry_in_progress },
	{ "aio64.read", c_read64 },
	{ "aio64.read_fd_neg", c_read64_fd_neg },
	{ "aio64.write_fsync", c_write64_fsync64 },
	{ "aio64.cancel", c_cancel64 },
	{ "aio64.lio_listio", c_lio64 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* the child: set up, run case @i, write its line */
static void run_child(size_t i, int fd)
{
	struct sigaction sa;
	struct rlimit nocore = { 0, 0 };
	size_t off = 0;

	setrlimit(RLIMIT_CORE, &nocore);
	main_thread = pthread_self();
	sig_ok = SIGRTMIN + 2;
	sem_init(&note_sem, 0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(sig_ok, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	alarm(CASE_ALARM_S);

	cases[i].fn();

	line[linelen++] = '\n';
	while (off < linelen) {
		ssize_t n = write(fd, line + off, linelen - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	_exit(0);
}

enum { IDLE, SKIP, RUNNING, DONE };

struct slot {
	int state;
	pid_t pid;
	int fd;
	char *buf;
	size_t len;
	int status;
};

static void slot_read(struct slot *s)
{
	char tmp[4096];
	ssize_t n;

	while ((n = read(s->fd, tmp, sizeof(tmp))) > 0) {
		s->buf = realloc(s->buf, s->len + (size_t)n + 1);
		if (!s->buf)
			abort();
		memcpy(s->buf + s->len, tmp, (size_t)n);
		s->len += (size_t)n;
	}
}

static void slot_print(size_t i, const struct slot *s)
{
	if (WIFSIGNALED(s->status))
		printf("%s: died=%s\n", cases[i].name,
		       sigabbrev_np(WTERMSIG(s->status)) ?: "?");
	else if (!s->len || WEXITSTATUS(s->status))
		printf("%s: exit=%d\n", cases[i].name, WEXITSTATUS(s->status));
	else
		printf("%s: %.*s", cases[i].name, (int)s->len, s->buf);
	fflush(stdout);
}

static const char *where(void *fn)
{
	Dl_info di;
	const char *s;

	if (!dladdr(fn, &di) || !di.dli_fname)
		return "?";
	s = strrchr(di.dli_fname, '/');
	return s ? s + 1 : di.dli_fname;
}

static void usage(void)
{
	fprintf(stderr, "usage: edge [-j N] [-c GLOB] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct slot slots[NCASES];
	const char *only = NULL;
	size_t i, next = 0, shown = 0;
	int jobs = 4, opt, running = 0, fd;

	while ((opt = getopt(argc, argv, "j:c:")) != -1) {
		if (opt == 'j')
			jobs = atoi(optarg) > 0 ? atoi(optarg) : 1;
		else if (opt == 'c')
			only = optarg;
		else
			usage();
	}
	if (optind != argc - 1)
		usage();
	if (chdir(argv[optind])) {
		fprintf(stderr, "edge: %s: %s\n", argv[optind], strerror(errno));
		return 2;
	}
	fd = xopen("data", O_RDWR | O_CREAT | O_TRUNC);
	xwrite(fd, DATA, strlen(DATA));
	close(fd);
	if (mkdir("d", 0700) && errno != EEXIST) {
		fprintf(stderr, "edge: mkdir d: %s\n", strerror(errno));
		return 2;
	}

	printf("# impl: aio_read=%s aio_read64=%s lio_listio=%s aio_suspend=%s\n",
	       where((void *)aio_read), where((void *)aio_read64),
	       where((void *)lio_listio), where((void *)aio_suspend));
	fflush(stdout);

	for (i = 0; i < NCASES; i++)
		slots[i].state = !only || !fnmatch(only, cases[i].name, 0) ?
				 IDLE : SKIP;
	for (;;) {
		int status;
		pid_t pid;

		/* start cases while there is room */
		for (; running < jobs && next < NCASES; next++) {
			struct slot *s = &slots[next];
			int p[2];

			if (s->state == SKIP)
				continue;
			if (pipe2(p, O_CLOEXEC)) {
				perror("edge: pipe");
				return 2;
			}
			s->pid = fork();
			if (s->pid == 0) {
				close(p[0]);
				run_child(next, p[1]);
			}
			close(p[1]);
			if (s->pid < 0) {
				perror("edge: fork");
				return 2;
			}
			s->fd = p[0];
			s->state = RUNNING;
			running++;
		}
		/* print, in order, what is done */
		for (; shown < NCASES; shown++) {
			if (slots[shown].state == DONE)
				slot_print(shown, &slots[shown]);
			else if (slots[shown].state != SKIP)
				break;
		}
		if (!running)
			break;
		pid = wait(&status);
		if (pid < 0) {
			perror("edge: wait");
			return 2;
		}
		for (i = 0; i < NCASES; i++) {
			struct slot *s = &slots[i];

			if (s->state != RUNNING || s->pid != pid)
				continue;
			slot_read(s);
			close(s->fd);
			s->status = status;
			s->state = DONE;
			running--;
		}
	}
	return 0;
}
