/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tests/fault/driver.c - a fixed mixed POSIX AIO workload that checks the
 * library's promises while the fault shim (shim.c) or a resource limit
 * makes one allocation, thread start, eventfd or kernel call fail.
 *
 * Built against glibc alone and run with
 *   LD_PRELOAD=libkaio_posix.so:kaio-fault-shim.so fault-driver DIR
 * (the extensions are looked up with dlsym).  For every request:
 *   - it is refused synchronously (-1, errno EAGAIN; ENOMEM too for the
 *     path operations, EMFILE/ENFILE/ENOMEM for kaio_queue_create), and
 *     then never notified; or
 *   - it completes exactly once: aio_error() leaves EINPROGRESS, the result
 *     is the one expected or an error the fault explains (EAGAIN; ECANCELED
 *     after an aio_cancel() that said so), aio_return() gives it once, the
 *     data read or written is right, and its notification (any sigevent
 *     kind, a completion queue, a SIGEV_THREAD callback on a thread of its
 *     own) arrives exactly once;
 *   - nothing hangs: a watchdog ends the run (exit 3) naming what is still
 *     in progress.
 * Exit 0 when every check held, 1 when one failed (each failure is printed
 * with "FAIL:"), 2 for a setup error (not the library's fault).
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* From kaio_posix.h, repeated: this program is built without the library. */
#define SIGEV_KAIO	0x4b41
struct kaio_event {
	struct aiocb *aiocb;
	union sigval value;
	long res;
	int error;
	int reserved;
};
static int (*q_create)(int);
static int (*q_reap)(int, struct kaio_event *, int, const struct timespec *);
static int (*q_destroy)(int);
static int (*k_openat)(struct aiocb *);
static int (*k_unlinkat)(struct aiocb *);

#define BLK	4096
#define MAXRQ	128
#define WATCHDOG_S	12	/* a run takes ~0.1 s; its own waits are
				 * at most 5 + 3 s */

enum { OP_READ, OP_WRITE, OP_FSYNC, OP_DSYNC, OP_PIPE_READ, OP_OPENAT,
       OP_UNLINKAT };
static const char *const opname[] = { "read", "write", "fsync", "fdatasync",
	"pipe-read", "openat", "unlinkat" };
enum { N_NONE, N_SIGNAL, N_THREAD_ID, N_THREAD, N_THREAD_ATTR, N_QUEUE,
       N_KINDS };
static const char *const nname[] = { "none", "signal", "thread_id", "thread",
	"thread+attr", "queue" };

struct rq {
	struct aiocb cb;
	int id, op, nkind;
	int accepted;		/* 1 accepted, 0 refused, -1 not submitted */
	int in_list;		/* refused inside lio_listio: 0 or 1 notes */
	int canceled_ok;	/* an aio_cancel() answered AIO_CANCELED */
	int blk;		/* file block (read/write) */
	char *buf;
	long expect;		/* aio_return() on success */
};

static struct rq rqs[MAXRQ];
static int nrq;
static atomic_int notes[MAXRQ + 8];	/* notifications, by id */
static atomic_int failures;
static pid_t main_tid;
static __thread int in_call;	/* this thread is inside an aio call */
static int qfd = -1;
static int filefd, pipefd[2];
static char dir[4096];
static pthread_attr_t cb_attr;

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	atomic_fetch_add(&failures, 1);
}

static void die(const char *what)
{
	fprintf(stderr, "setup: %s: %s\n", what, strerror(errno));
	exit(2);
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void note(int id)
{
	if (id < 0 || id >= MAXRQ + 8) {
		static const char m[] = "FAIL: notification with a bad id\n";
		if (write(2, m, sizeof(m) - 1) < 0)
			id = 0;
		atomic_fetch_add(&failures, 1);
		return;
	}
	atomic_fetch_add(&notes[id], 1);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (si->si_code != SI_ASYNCIO) {
		static const char m[] = "FAIL: AIO signal without SI_ASYNCIO\n";
		if (write(2, m, sizeof(m) - 1) < 0)
			sig = 0;
		atomic_fetch_add(&failures, 1);
	}
	if (sig == SIGRTMIN + 1 && gettid_() != main_tid) {
		static const char m[] = "FAIL: SIGEV_THREAD_ID signal on the wrong thread\n";
		if (write(2, m, sizeof(m) - 1) < 0)
			sig = 0;
		atomic_fetch_add(&failures, 1);
	}
	note(si->si_value.sival_int);
}

static void on_thread(union sigval v)
{
	if (gettid_() == main_tid || in_call)
		fail("SIGEV_THREAD callback of request %d ran on the "
		     "application's thread%s", v.sival_int,
		     in_call ? ", inside an AIO call" : "");
	note(v.sival_int);
}

static const char *volatile phase = "start";

static void on_alarm(int sig)
{
	char m[128];
	int i, n;

	(void)sig;
	n = snprintf(m, sizeof(m), "FAIL: hang: in phase '%s' after %d s; "
		     "in progress:", phase, WATCHDOG_S);
	if (write(2, m, (size_t)n) < 0)
		n = 0;
	for (i = 0; i < nrq; i++)
		if (rqs[i].accepted > 0 && aio_error(&rqs[i].cb) == EINPROGRESS) {
			n = snprintf(m, sizeof(m), " #%d(%s)", rqs[i].id,
				     opname[rqs[i].op]);
			if (write(2, m, (size_t)n) < 0)
				n = 0;
		}
	if (write(2, "\n", 1) < 0)
		n = 0;
	_exit(3);
}

static unsigned char pattern(int blk, size_t i)
{
	return (unsigned char)(blk * 31 + i * 7 + 1);
}

static struct rq *new_rq(int op, int nkind, int blk)
{
	struct rq *r = &rqs[nrq];

	if (nrq == MAXRQ) {
		fprintf(stderr, "setup: too many requests\n");
		exit(2);
	}
	memset(r, 0, sizeof(*r));
	r->id = ++nrq;	/* ids from 1 */
	r->op = op;
	r->blk = blk;
	r->accepted = -1;
	if (nkind == N_QUEUE && qfd < 0)
		nkind = N_NONE;		/* the queue could not be made */
	r->nkind = nkind;
	r->cb.aio_fildes = filefd;
	r->cb.aio_offset = (off_t)blk * BLK;
	r->cb.aio_nbytes = BLK;
	r->buf = malloc(BLK);
	if (!r->buf)
		die("malloc");
	r->cb.aio_buf = r->buf;
	r->expect = BLK;
	if (op == OP_WRITE) {
		for (size_t i = 0; i < BLK; i++)
			r->buf[i] = (char)pattern(blk, i);
		r->cb.aio_lio_opcode = LIO_WRITE;
	} else {
		memset(r->buf, 0xee, BLK);
		r->cb.aio_lio_opcode = LIO_READ;
	}
	if (op == OP_FSYNC || op == OP_DSYNC)
		r->expect = 0;
	r->cb.aio_sigevent.sigev_value.sival_int = r->id;
	switch (nkind) {
	case N_NONE:
		r->cb.aio_sigevent.sigev_notify = SIGEV_NONE;
		break;
	case N_SIGNAL:
		r->cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
		r->cb.aio_sigevent.sigev_signo = SIGRTMIN;
		break;
	case N_THREAD_ID:
		r->cb.aio_sigevent.sigev_notify = SIGEV_THREAD_ID;
		r->cb.aio_sigevent.sigev_signo = SIGRTMIN + 1;
		r->cb.aio_sigevent._sigev_un._tid = main_tid;
		break;
	case N_THREAD:
	case N_THREAD_ATTR:
		r->cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
		r->cb.aio_sigevent.sigev_notify_function = on_thread;
		if (nkind == N_THREAD_ATTR)
			r->cb.aio_sigevent.sigev_notify_attributes = &cb_attr;
		break;
	case N_QUEUE:
		r->cb.aio_sigevent.sigev_notify = SIGEV_KAIO;
		r->cb.aio_sigevent.sigev_signo = qfd;
		break;
	}
	return r;
}

/* The outcome of a single submission call. */
static void submitted(struct rq *r, int ret, int err)
{
	if (ret == 0) {
		r->accepted = 1;
		return;
	}
	r->accepted = 0;
	if (ret != -1)
		fail("#%d %s: returned %d", r->id, opname[r->op], ret);
	else if (err != EAGAIN &&
		 !((r->op == OP_OPENAT || r->op == OP_UNLINKAT) && err == ENOMEM))
		fail("#%d %s: refused with %s, not EAGAIN", r->id,
		     opname[r->op], strerror(err));
}

static void submit(struct rq *r)
{
	int ret;

	in_call = 1;
	switch (r->op) {
	case OP_READ:
	case OP_PIPE_READ:
		ret = aio_read(&r->cb);
		break;
	case OP_WRITE:
		ret = aio_write(&r->cb);
		break;
	case OP_FSYNC:
		ret = aio_fsync(O_SYNC, &r->cb);
		break;
	case OP_DSYNC:
		ret = aio_fsync(O_DSYNC, &r->cb);
		break;
	case OP_OPENAT:
		ret = k_openat(&r->cb);
		break;
	default:
		ret = k_unlinkat(&r->cb);
		break;
	}
	in_call = 0;
	submitted(r, ret, errno);
}

/*
 * An entry of a list lio_listio() answered ret/err for.  An entry aio_error()
 * does not know (EINVAL) was never submitted, which is right only when the
 * whole call failed with EAGAIN.  An entry that failed with EAGAIN was
 * either refused or accepted and then failed: no way to tell them apart,
 * so at most one notification.
 */
static void list_entry(struct rq *r, int ret, int err)
{
	int e = aio_error(&r->cb);

	if (e == -1) {
		r->accepted = 0;
		if (!(ret == -1 && err == EAGAIN))
			fail("#%d: lio_listio gave %d (%s) but aio_error() does "
			     "not know the entry", r->id, ret, strerror(err));
		return;
	}
	r->accepted = 1;
	r->in_list = e == EAGAIN;
}

static void reap_queue(void)
{
	struct kaio_event ev[16];
	struct timespec zero = { 0, 0 };
	int n, i;

	if (qfd < 0)
		return;
	while ((n = q_reap(qfd, ev, 16, &zero)) > 0)
		for (i = 0; i < n; i++) {
			int id = ev[i].value.sival_int;

			if (id >= 1 && id <= nrq && ev[i].aiocb &&
			    ev[i].aiocb != &rqs[id - 1].cb)
				fail("queue event #%d names another aiocb", id);
			note(id);
		}
	if (n < 0)
		fail("kaio_queue_reap: %s", strerror(errno));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait (aio_suspend) until every accepted request is done. */
static void wait_all(void)
{
	const struct aiocb *list[MAXRQ];
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int i, n;

	for (;;) {
		n = 0;
		for (i = 0; i < nrq; i++)
			if (rqs[i].accepted > 0 &&
			    aio_error(&rqs[i].cb) == EINPROGRESS)
				list[n++] = &rqs[i].cb;
		if (!n)
			return;
		reap_queue();
		in_call = 1;
		if (aio_suspend(list, n, &ts) < 0 && errno != EAGAIN &&
		    errno != EINTR)
			fail("aio_suspend: %s", strerror(errno));
		in_call = 0;
	}
}

static void set_up(const char *d)
{
	struct sigaction sa;
	char path[4200];
	static char fill[BLK * 64];

	snprintf(dir, sizeof(dir), "%s", d);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGRTMIN, &sa, NULL);
	sigaction(SIGRTMIN + 1, &sa, NULL);
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm(WATCHDOG_S);
	main_tid = gettid_();
	pthread_attr_init(&cb_attr);
	pthread_attr_setdetachstate(&cb_attr, PTHREAD_CREATE_DETACHED);

	snprintf(path, sizeof(path), "%s/data", dir);
	filefd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (filefd < 0)
		die(path);
	for (size_t b = 0; b < 64; b++)
		for (size_t i = 0; i < BLK; i++)
			fill[b * BLK + i] = (char)pattern((int)b, i);
	/* blocks 0..31 hold zeros (written by the test), 32..63 the pattern */
	memset(fill, 0, 32 * BLK);
	if (pwrite(filefd, fill, sizeof(fill), 0) != (ssize_t)sizeof(fill))
		die("pwrite");
	if (pipe(pipefd) < 0)
		die("pipe");
	snprintf(path, sizeof(path), "%s/victim", dir);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	q_create = dlsym(RTLD_DEFAULT, "kaio_queue_create");
	q_reap = dlsym(RTLD_DEFAULT, "kaio_queue_reap");
	q_destroy = dlsym(RTLD_DEFAULT, "kaio_queue_destroy");
	k_openat = dlsym(RTLD_DEFAULT, "kaio_openat");
	k_unlinkat = dlsym(RTLD_DEFAULT, "kaio_unlinkat");
	if (!q_create || !q_reap || !q_destroy || !k_openat || !k_unlinkat) {
		fprintf(stderr, "setup: libkaio_posix is not preloaded\n");
		exit(2);
	}
}

static void run(void)
{
	struct aiocb *list[16];
	struct sigevent lsig;
	struct rq *r, *pr[3];
	char path[4200], path2[4200];
	int i, n, ret, err, list_id, lio_ret, lio_err;

	qfd = q_create(0);
	if (qfd < 0 && errno != EMFILE && errno != ENFILE && errno != ENOMEM)
		fail("kaio_queue_create: %s", strerror(errno));

	phase = "single submissions";
	/* Writes of blocks 0..11, every notification kind. */
	for (i = 0; i < 12; i++)
		submit(new_rq(OP_WRITE, i % N_KINDS, i));
	/* Reads of blocks 32..43. */
	for (i = 0; i < 12; i++)
		submit(new_rq(OP_READ, (i + 3) % N_KINDS, 32 + i));
	submit(new_rq(OP_FSYNC, N_SIGNAL, 0));
	submit(new_rq(OP_DSYNC, N_QUEUE, 0));

	phase = "lio_listio(LIO_WAIT)";
	/* LIO_WAIT: writes of 12..15, reads of 44..47. */
	n = 0;
	for (i = 0; i < 4; i++)
		list[n++] = &new_rq(OP_WRITE, i % N_KINDS, 12 + i)->cb;
	for (i = 0; i < 4; i++)
		list[n++] = &new_rq(OP_READ, (i + 2) % N_KINDS, 44 + i)->cb;
	/* The AIO signals wait until the list is done: no EINTR. */
	{
		sigset_t aio_sigs, old;

		sigemptyset(&aio_sigs);
		sigaddset(&aio_sigs, SIGRTMIN);
		sigaddset(&aio_sigs, SIGRTMIN + 1);
		pthread_sigmask(SIG_BLOCK, &aio_sigs, &old);
		in_call = 1;
		ret = lio_listio(LIO_WAIT, list, n, NULL);
		err = errno;
		in_call = 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	for (i = 0; i < n; i++) {
		r = &rqs[list[i]->aio_sigevent.sigev_value.sival_int - 1];
		list_entry(r, ret, err);
		if (ret == 0 && aio_error(&r->cb) != 0)
			fail("LIO_WAIT gave 0 but #%d has %s", r->id,
			     strerror(aio_error(&r->cb)));
		if (r->accepted > 0 && aio_error(&r->cb) == EINPROGRESS)
			fail("#%d in progress after LIO_WAIT returned", r->id);
	}
	if (ret != 0 && !(ret == -1 && (err == EAGAIN || err == EIO)))
		fail("lio_listio(LIO_WAIT): %d, %s", ret, strerror(err));

	phase = "lio_listio(LIO_NOWAIT)";
	/* LIO_NOWAIT with a list notification: writes 16..19, reads 48..51. */
	n = 0;
	for (i = 0; i < 4; i++)
		list[n++] = &new_rq(OP_WRITE, (i + 1) % N_KINDS, 16 + i)->cb;
	for (i = 0; i < 4; i++)
		list[n++] = &new_rq(OP_READ, (i + 4) % N_KINDS, 48 + i)->cb;
	list_id = ++nrq;		/* an id for the list's notification */
	rqs[list_id - 1].id = list_id;
	rqs[list_id - 1].accepted = -1;
	memset(&lsig, 0, sizeof(lsig));
	lsig.sigev_notify = SIGEV_THREAD;
	lsig.sigev_notify_function = on_thread;
	lsig.sigev_value.sival_int = list_id;
	in_call = 1;
	lio_ret = lio_listio(LIO_NOWAIT, list, n, &lsig);
	lio_err = errno;
	in_call = 0;
	if (lio_ret != 0 && !(lio_ret == -1 && (lio_err == EAGAIN || lio_err == EIO)))
		fail("lio_listio(LIO_NOWAIT): %d, %s", lio_ret, strerror(lio_err));
	for (i = 0; i < n; i++)
		list_entry(&rqs[list[i]->aio_sigevent.sigev_value.sival_int - 1],
			   lio_ret, lio_err);

	phase = "path operations";
	/* Path operations. */
	r = new_rq(OP_OPENAT, N_THREAD, 0);
	snprintf(path, sizeof(path), "%s/created", dir);
	r->cb.aio_fildes = AT_FDCWD;
	r->cb.aio_buf = path;
	r->cb.aio_offset = O_RDWR | O_CREAT | ((off_t)0644 << 32);
	r->cb.aio_nbytes = 0;
	submit(r);
	r = new_rq(OP_UNLINKAT, N_QUEUE, 0);
	snprintf(path2, sizeof(path2), "%s/victim", dir);
	r->cb.aio_fildes = AT_FDCWD;
	r->cb.aio_buf = path2;
	r->cb.aio_offset = 0;
	r->cb.aio_nbytes = 0;
	r->expect = 0;
	submit(r);

	/* Reads blocked on a pipe, then cancelled. */
	for (i = 0; i < 3; i++) {
		pr[i] = new_rq(OP_PIPE_READ, (i * 2 + 1) % N_KINDS, 0);
		pr[i]->cb.aio_fildes = pipefd[0];
		pr[i]->cb.aio_offset = 0;
		pr[i]->cb.aio_nbytes = 16;
		pr[i]->expect = 16;
		submit(pr[i]);
	}
	usleep(20000);
	phase = "aio_cancel";
	in_call = 1;
	ret = aio_cancel(pipefd[0], &pr[1]->cb);
	in_call = 0;
	if (pr[1]->accepted > 0) {
		err = aio_error(&pr[1]->cb);
		if (ret == AIO_CANCELED) {
			pr[1]->canceled_ok = 1;
			if (err != ECANCELED)
				fail("aio_cancel(#%d) said AIO_CANCELED, aio_error %d",
				     pr[1]->id, err);
		} else if (ret == AIO_ALLDONE && (err == EINPROGRESS || err == ECANCELED)) {
			fail("aio_cancel(#%d) said AIO_ALLDONE, aio_error %d",
			     pr[1]->id, err);
		} else if (ret == -1) {
			fail("aio_cancel(#%d): %s", pr[1]->id, strerror(errno));
		}
	}
	in_call = 1;
	ret = aio_cancel(pipefd[0], NULL);
	in_call = 0;
	for (i = 0; i < 3; i++) {
		if (pr[i]->accepted <= 0)
			continue;
		err = aio_error(&pr[i]->cb);
		if (ret == AIO_CANCELED && err == EINPROGRESS)
			fail("aio_cancel(fd) said AIO_CANCELED, #%d in progress",
			     pr[i]->id);
		if (ret == AIO_CANCELED || ret == AIO_NOTCANCELED)
			pr[i]->canceled_ok = 1;
	}
	if (ret == AIO_ALLDONE) {
		for (i = 0; i < 3; i++)
			if (pr[i]->accepted > 0 &&
			    aio_error(&pr[i]->cb) == EINPROGRESS)
				fail("aio_cancel(fd) said AIO_ALLDONE, #%d in progress",
				     pr[i]->id);
	}
	/* Whatever was not cancelled gets its bytes. */
	{
		static char bytes[48];

		memset(bytes, 'p', sizeof(bytes));
		if (write(pipefd[1], bytes, sizeof(bytes)) != (ssize_t)sizeof(bytes))
			die("pipe write");
	}

	phase = "waiting for completions";
	wait_all();

	phase = "the list notification";
	/* The list notification. */
	{
		/* Every request is done: the notification, if one is to
		 * come, is on its way.  Unless it must come, do not wait
		 * long for it (with EAGAIN it may not: the call may have
		 * failed before the list existed). */
		int want = lio_ret == 0 || lio_err == EIO;
		double dl = now() + (want ? 5 : 0.5);

		while (now() < dl && atomic_load(&notes[list_id]) < 1)
			usleep(1000);
		usleep(20000);
		n = atomic_load(&notes[list_id]);
		if (n > 1 || (want && n != 1))
			fail("LIO_NOWAIT list (lio_listio %d/%s): %d notifications",
			     lio_ret, lio_ret ? strerror(lio_err) : "ok", n);
	}
}

static void check(void)
{
	char *cur = malloc(BLK);
	double dl;
	int i, err, pending;
	long ret;

	if (!cur)
		die("malloc");
	phase = "results";
	for (i = 0; i < nrq; i++) {
		struct rq *r = &rqs[i];

		if (r->accepted <= 0 || !r->buf)
			continue;
		err = aio_error(&r->cb);
		ret = aio_return(&r->cb);
		if (err == EINPROGRESS) {
			fail("#%d still in progress", r->id);
			continue;
		}
		if (err == 0 && ret != r->expect && r->op != OP_OPENAT)
			fail("#%d %s: aio_return %ld, not %ld", r->id,
			     opname[r->op], ret, r->expect);
		if (err == 0 && r->op == OP_OPENAT) {
			if (ret < 0)
				fail("#%d openat: aio_return %ld", r->id, ret);
			else
				close((int)ret);
		}
		if (err && ret != -1)
			fail("#%d %s: error %d but aio_return %ld", r->id,
			     opname[r->op], err, ret);
		if (err == ECANCELED && !r->canceled_ok)
			fail("#%d %s: ECANCELED, but no aio_cancel() said so",
			     r->id, opname[r->op]);
		if (err && err != EAGAIN && err != ECANCELED &&
		    !(r->op == OP_OPENAT && (err == EMFILE || err == ENFILE)))
			fail("#%d %s: failed with %s", r->id, opname[r->op],
			     strerror(err));
		if (err && r->op == OP_OPENAT && (err == EMFILE || err == ENFILE))
			continue;	/* the process's own fd limit */
		if (aio_return(&r->cb) != -1 || errno != EINVAL)
			fail("#%d: a second aio_return() did not fail with EINVAL",
			     r->id);
		if (err)
			continue;
		if (r->op == OP_READ)
			for (size_t k = 0; k < BLK; k++)
				if ((unsigned char)r->buf[k] != pattern(r->blk, k)) {
					fail("#%d read of block %d: byte %zu is %#x",
					     r->id, r->blk, k,
					     (unsigned char)r->buf[k]);
					break;
				}
		if (r->op == OP_PIPE_READ && memcmp(r->buf, "pppppppppppppppp", 16))
			fail("#%d pipe read: wrong data", r->id);
		if (r->op == OP_WRITE) {
			if (pread(filefd, cur, BLK, (off_t)r->blk * BLK) != BLK)
				die("pread");
			if (memcmp(cur, r->buf, BLK))
				fail("#%d write of block %d: file differs",
				     r->id, r->blk);
		}
		/* a failed write (EAGAIN/ECANCELED) may or may not have
		 * reached the file: not checked */
	}

	phase = "notifications";
	/* Notifications: exactly one per accepted notified request. */
	dl = now() + 3;
	do {
		reap_queue();
		pending = 0;
		for (i = 0; i < nrq; i++) {
			struct rq *r = &rqs[i];

			if (r->accepted > 0 && r->buf && !r->in_list &&
			    r->nkind != N_NONE && atomic_load(&notes[r->id]) < 1)
				pending++;
		}
		if (pending)
			usleep(2000);
	} while (pending && now() < dl);
	usleep(50000);
	reap_queue();
	for (i = 0; i < nrq; i++) {
		struct rq *r = &rqs[i];
		int n = atomic_load(&notes[r->id]), want;

		if (!r->buf)
			continue;
		want = r->accepted > 0 && r->nkind != N_NONE;
		if (r->in_list ? n > want : n != want)
			fail("#%d %s (%s, %s): %d notifications, expected %s%d",
			     r->id, opname[r->op], nname[r->nkind],
			     r->accepted > 0 ? "accepted" : "refused", n,
			     r->in_list ? "at most " : "", want);
	}
	free(cur);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	set_up(argv[1]);
	run();
	check();
	phase = "kaio_queue_destroy";
	if (qfd >= 0 && q_destroy(qfd) < 0)
		fail("kaio_queue_destroy: %s", strerror(errno));
	if (atomic_load(&failures)) {
		fprintf(stderr, "fault-driver: %d check(s) failed\n",
			atomic_load(&failures));
		return 1;
	}
	return 0;
}
