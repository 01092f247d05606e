/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kaio-fileserver - a one-thread epoll file server on 127.0.0.1, in the
 * shape of smbd: network events and disk I/O meet in one event loop.
 * --io=STYLE picks how the disk I/O is done; see usage() and README.md.
 *
 * The protocol is in kaio-proto.h.  Files are made at startup in --dir,
 * with content that is a function of (file, offset), so the loader can
 * check every byte it gets back.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_URING
#include <liburing.h>
#endif
#ifdef HAVE_KAIO
#include <kaio_posix.h>
#endif

#include "kaio-proto.h"

enum style { S_SYNC, S_SIGNAL, S_SIGNALFD, S_THREAD, S_KAIO, S_POOL, S_URING };
static const char *style_names[] = {
	"sync", "posix-signal", "posix-signalfd", "posix-thread",
	"kaio-queue", "pool", "uring",
};

enum tag { T_LISTEN = 1, T_CONN, T_COMPL };

struct conn;

struct op {
	struct op *next;		/* pool queue, done lists */
	struct conn *c;
	uint64_t id;
	int kind;
	uint32_t file, len;
	uint64_t off;
	char *buf;
	long res;			/* bytes or 0; -1 with err */
	int err;
	struct aiocb cb;
};

struct conn {
	int tag;
	int fd;
	int refs, closed, out_armed;
	char *in;
	size_t inlen, incap;
	char *out;
	size_t outoff, outlen, outcap;
};

/* Options. */
static enum style style = S_SYNC;
static const char *dir = "/var/tmp/kaio-fileserver";
static unsigned nfiles = 16;
static uint64_t fsize = 8u << 20;
static int port = 0, do_fork, direct_io, pool_threads = 8, quiet;

static int *fds;
static int ep = -1;
static int compl_fd = -1;		/* pipe/signalfd/eventfd/queue */
static int pipe_w = -1;
static int compl_tag = T_COMPL, listen_tag = T_LISTEN;
static volatile sig_atomic_t stop;
static long inflight;
static int rtsig;

static struct {
	unsigned long reqs, by_op[6], bytes, sync_fallback, io_errors,
		proto_errors, conns, wakeups, completions;
} cnt;

/* Completions handed over by other threads (pool, SIGEV_THREAD). */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static struct op *done_head;

#ifdef HAVE_URING
static struct io_uring ring;
static int uring_pending;
#endif

/* The POSIX styles' reads and writes of one pass of the loop, submitted
 * with one lio_listio() at its end, as the uring style enters its ring
 * once a pass. */
#define LIO_PEND_MAX	64
static struct aiocb *lio_pend[LIO_PEND_MAX];
static int lio_n;

static void die(const char *what)
{
	fprintf(stderr, "kaio-fileserver: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *xalloc(size_t n)
{
	void *p;

	if (posix_memalign(&p, KP_ALIGN, n ? n : 1))
		die("posix_memalign");
	return p;
}

static void ep_ctl(int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event e = { .events = events, .data.ptr = ptr };

	if (epoll_ctl(ep, op, fd, &e) < 0)
		die("epoll_ctl");
}

/* ---- connections --------------------------------------------------- */

static void conn_put(struct conn *c)
{
	if (--c->refs)
		return;
	free(c->in);
	free(c->out);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	conn_put(c);
}

static void conn_flush(struct conn *c)
{
	while (c->outlen > c->outoff) {
		ssize_t n = send(c->fd, c->out + c->outoff,
				 c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!c->out_armed) {
					c->out_armed = 1;
					ep_ctl(EPOLL_CTL_MOD, c->fd,
					       EPOLLIN | EPOLLOUT, c);
				}
				return;
			}
			conn_close(c);
			return;
		}
		c->outoff += n;
	}
	c->outoff = c->outlen = 0;
	if (c->out_armed) {
		c->out_armed = 0;
		ep_ctl(EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
	}
}

static void conn_reply(struct conn *c, uint64_t id, int32_t status,
		       const void *data, uint32_t len)
{
	struct kp_rep r = { .id = id, .status = status, .len = len };
	size_t need = sizeof(r) + len;

	if (c->closed)
		return;
	if (kp_reserve(&c->out, &c->outoff, &c->outlen, &c->outcap, need))
		die("realloc");
	memcpy(c->out + c->outlen, &r, sizeof(r));
	if (len)
		memcpy(c->out + c->outlen + sizeof(r), data, len);
	c->outlen += need;
	/* Replies made in one loop pass go out together (see flush_all). */
}

/* Connections with replies waiting to go out this loop pass. */
static struct conn **dirty;
static int ndirty, dirtycap;

static void mark_dirty(struct conn *c)
{
	int i;

	for (i = 0; i < ndirty; i++)
		if (dirty[i] == c)
			return;
	if (ndirty == dirtycap) {
		dirtycap = dirtycap ? dirtycap * 2 : 16;
		dirty = realloc(dirty, dirtycap * sizeof(*dirty));
		if (!dirty)
			die("realloc");
	}
	c->refs++;
	dirty[ndirty++] = c;
}

static void flush_all(void)
{
	int i;

	for (i = 0; i < ndirty; i++) {
		if (!dirty[i]->closed && !dirty[i]->out_armed)
			conn_flush(dirty[i]);
		conn_put(dirty[i]);
	}
	ndirty = 0;
}

/* ---- I/O ----------------------------------------------------------- */

static void do_sync(struct op *o)
{
	ssize_t r;

	switch (o->kind) {
	case KP_READ:
		r = pread(fds[o->file], o->buf, o->len, o->off);
		break;
	case KP_WRITE:
		r = pwrite(fds[o->file], o->buf, o->len, o->off);
		break;
	default:
		r = fsync(fds[o->file]);
		break;
	}
	o->res = r;
	o->err = r < 0 ? errno : 0;
}

static void op_done(struct op *o)
{
	struct conn *c = o->c;
	int32_t status = o->res < 0 ? -o->err : (int32_t)o->res;

	cnt.completions++;
	if (o->res < 0)
		cnt.io_errors++;
	else if (o->kind != KP_FSYNC)
		cnt.bytes += o->res;
	if (!c->closed) {
		conn_reply(c, o->id, status, o->buf,
			   o->kind == KP_READ && o->res > 0 ? o->res : 0);
		mark_dirty(c);
	}
	conn_put(c);
	free(o->buf);
	free(o);
}

static void aio_done(struct op *o)
{
	o->err = aio_error(&o->cb);
	o->res = aio_return(&o->cb);
	if (o->err)
		o->res = -1;
	inflight--;
	op_done(o);
}

/* Samba-like pool: workers run pread/pwrite/fsync, completions go back on
 * a list and an eventfd (one write per burst). */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct op *pool_head, *pool_tail;
static int pool_stop;

static void push_done(struct op *o)
{
	int was_empty;
	uint64_t one = 1;

	pthread_mutex_lock(&done_lock);
	was_empty = !done_head;
	o->next = done_head;
	done_head = o;
	pthread_mutex_unlock(&done_lock);
	if (was_empty && write(compl_fd, &one, sizeof(one)) < 0)
		abort();
}

static void *pool_worker(void *arg)
{
	struct op *o;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&pool_lock);
		while (!pool_head && !pool_stop)
			pthread_cond_wait(&pool_cond, &pool_lock);
		if (!pool_head) {
			pthread_mutex_unlock(&pool_lock);
			return NULL;
		}
		o = pool_head;
		pool_head = o->next;
		if (!pool_head)
			pool_tail = NULL;
		pthread_mutex_unlock(&pool_lock);
		do_sync(o);
		push_done(o);
	}
}

static void thread_notify(union sigval v)
{
	push_done(v.sival_ptr);
}

static void rt_handler(int sig, siginfo_t *si, void *uc)
{
	int e = errno;
	void *p = si->si_value.sival_ptr;

	(void)sig;
	(void)uc;
	if (p && write(pipe_w, &p, sizeof(p)) != sizeof(p))
		abort();	/* the pipe holds 128k pointers: cannot fill */
	errno = e;
}

/*
 * Submit the pass's list.  An entry lio_listio() could not queue (it
 * fails with EAGAIN or EIO, and that entry's aio_error() says EAGAIN)
 * is done here, as Samba does with a refused aio_read().
 */
static void lio_flush(void)
{
	struct op *o;
	int i, n = lio_n;

	if (!n)
		return;
	lio_n = 0;
	if (lio_listio(LIO_NOWAIT, lio_pend, n, NULL) == 0)
		return;
	if (errno != EAGAIN && errno != EIO)
		die("lio_listio");
	for (i = 0; i < n; i++) {
		if (aio_error(lio_pend[i]) != EAGAIN)
			continue;
		o = (struct op *)((char *)lio_pend[i] - offsetof(struct op, cb));
		inflight--;
		cnt.sync_fallback++;
		do_sync(o);
		op_done(o);
	}
}

static void submit(struct op *o)
{
	int r;

	switch (style) {
	case S_SYNC:
		break;
	case S_POOL:
		o->next = NULL;
		pthread_mutex_lock(&pool_lock);
		if (pool_tail)
			pool_tail->next = o;
		else
			pool_head = o;
		pool_tail = o;
		pthread_cond_signal(&pool_cond);
		pthread_mutex_unlock(&pool_lock);
		inflight++;
		return;
#ifdef HAVE_URING
	case S_URING: {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		if (!sqe) {
			io_uring_submit(&ring);
			uring_pending = 0;
			sqe = io_uring_get_sqe(&ring);
			if (!sqe)
				break;		/* sync */
		}
		if (o->kind == KP_READ)
			io_uring_prep_read(sqe, fds[o->file], o->buf, o->len,
					   o->off);
		else if (o->kind == KP_WRITE)
			io_uring_prep_write(sqe, fds[o->file], o->buf, o->len,
					    o->off);
		else
			io_uring_prep_fsync(sqe, fds[o->file], 0);
		io_uring_sqe_set_data(sqe, o);
		uring_pending++;
		inflight++;
		return;
	}
#endif
	default:		/* the POSIX AIO styles */
		memset(&o->cb, 0, sizeof(o->cb));
		o->cb.aio_fildes = fds[o->file];
		o->cb.aio_buf = o->buf;
		o->cb.aio_nbytes = o->len;
		o->cb.aio_offset = o->off;
		o->cb.aio_sigevent.sigev_value.sival_ptr = o;
		if (style == S_THREAD) {
			o->cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
			o->cb.aio_sigevent.sigev_notify_function = thread_notify;
#ifdef HAVE_KAIO
		} else if (style == S_KAIO) {
			o->cb.aio_sigevent.sigev_notify = SIGEV_KAIO;
			o->cb.aio_sigevent.sigev_signo = compl_fd;
#endif
		} else {
			o->cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
			o->cb.aio_sigevent.sigev_signo = rtsig;
		}
		if (o->kind != KP_FSYNC) {
			o->cb.aio_lio_opcode = o->kind == KP_READ ? LIO_READ
								  : LIO_WRITE;
			lio_pend[lio_n++] = &o->cb;
			inflight++;
			if (lio_n == LIO_PEND_MAX)
				lio_flush();
			return;
		}
		/* After the writes before it. */
		lio_flush();
		r = aio_fsync(O_SYNC, &o->cb);
		if (r == 0) {
			inflight++;
			return;
		}
		if (errno != EAGAIN) {
			o->res = -1;
			o->err = errno;
			op_done(o);
			return;
		}
		break;		/* EAGAIN: do it here, as Samba does */
	}
	if (style != S_SYNC)
		cnt.sync_fallback++;
	do_sync(o);
	op_done(o);
}

static void drain_completions(void)
{
	cnt.wakeups++;
	switch (style) {
	case S_SIGNAL: {
		void *p[256];
		ssize_t n;
		int i;

		while ((n = read(compl_fd, p, sizeof(p))) > 0)
			for (i = 0; i < n / (ssize_t)sizeof(p[0]); i++)
				aio_done(p[i]);
		break;
	}
	case S_SIGNALFD: {
		struct signalfd_siginfo si[64];
		ssize_t n;
		int i;

		while ((n = read(compl_fd, si, sizeof(si))) > 0)
			for (i = 0; i < n / (ssize_t)sizeof(si[0]); i++)
				if (si[i].ssi_ptr)
					aio_done((struct op *)(uintptr_t)
						 si[i].ssi_ptr);
		break;
	}
#ifdef HAVE_KAIO
	case S_KAIO: {
		struct kaio_event ev[64];
		struct timespec zero = { 0, 0 };
		int n, i;

		while ((n = kaio_queue_reap(compl_fd, ev, 64, &zero)) > 0) {
			for (i = 0; i < n; i++) {
				struct op *o = ev[i].value.sival_ptr;

				/* The event has the result; aio_return()
				 * releases the request. */
				aio_return(&o->cb);
				o->res = ev[i].error ? -1 : ev[i].res;
				o->err = ev[i].error;
				inflight--;
				op_done(o);
			}
			if (n < 64)
				break;
		}
		if (n < 0 && errno != EINTR)
			die("kaio_queue_reap");
		break;
	}
#endif
#ifdef HAVE_URING
	case S_URING: {
		struct io_uring_cqe *cqe;
		uint64_t v;

		if (read(compl_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			die("read eventfd");
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			struct op *o = io_uring_cqe_get_data(cqe);

			o->res = cqe->res < 0 ? -1 : cqe->res;
			o->err = cqe->res < 0 ? -cqe->res : 0;
			io_uring_cqe_seen(&ring, cqe);
			inflight--;
			op_done(o);
		}
		break;
	}
#endif
	default: {		/* pool, posix-thread: list + eventfd */
		struct op *o, *next;
		uint64_t v;

		if (read(compl_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			die("read eventfd");
		pthread_mutex_lock(&done_lock);
		o = done_head;
		done_head = NULL;
		pthread_mutex_unlock(&done_lock);
		for (; o; o = next) {
			next = o->next;
			if (style == S_THREAD) {
				aio_done(o);
			} else {
				inflight--;
				op_done(o);
			}
		}
		break;
	}
	}
}

static void setup_io(void)
{
	sigset_t ss;
	int i, p[2];

	switch (style) {
	case S_SYNC:
		return;
	case S_SIGNAL: {
		struct sigaction sa;

		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
			die("pipe");
		fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
		compl_fd = p[0];
		pipe_w = p[1];
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = rt_handler;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(rtsig, &sa, NULL) < 0)
			die("sigaction");
		break;
	}
	case S_SIGNALFD:
		sigemptyset(&ss);
		sigaddset(&ss, rtsig);
		if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
			die("sigprocmask");
		compl_fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
		if (compl_fd < 0)
			die("signalfd");
		break;
#ifdef HAVE_KAIO
	case S_KAIO:
		compl_fd = kaio_queue_create(KAIO_QUEUE_CLOEXEC);
		if (compl_fd < 0)
			die("kaio_queue_create");
		break;
#endif
#ifdef HAVE_URING
	case S_URING:
		errno = -io_uring_queue_init(512, &ring, 0);
		if (errno)
			die("io_uring_queue_init");
		compl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (compl_fd < 0)
			die("eventfd");
		errno = -io_uring_register_eventfd(&ring, compl_fd);
		if (errno)
			die("io_uring_register_eventfd");
		break;
#endif
	case S_POOL:
		for (i = 0; i < pool_threads; i++) {
			pthread_t t;
			sigset_t all, old;

			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			errno = pthread_create(&t, NULL, pool_worker, NULL);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			if (errno)
				die("pthread_create");
			pthread_detach(t);
		}
		/* fall through */
	default:
		compl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (compl_fd < 0)
			die("eventfd");
		break;
	}
	ep_ctl(EPOLL_CTL_ADD, compl_fd, EPOLLIN, &compl_tag);
}

/* ---- requests ------------------------------------------------------ */

/* Parse complete requests from c->in; returns 0, or -1 if c closed. */
static void conn_input(struct conn *c)
{
	size_t pos = 0;

	while (c->inlen - pos >= sizeof(struct kp_req)) {
		struct kp_req q;
		struct op *o;

		memcpy(&q, c->in + pos, sizeof(q));
		if (q.op == KP_WRITE && q.len <= KP_MAX_LEN &&
		    c->inlen - pos < sizeof(q) + q.len)
			break;		/* payload not all here yet */
		pos += sizeof(q);
		cnt.reqs++;
		cnt.by_op[q.op < 6 ? q.op : 0]++;
		if (q.op == KP_PING) {
			conn_reply(c, q.id, 0, NULL, 0);
			mark_dirty(c);
			continue;
		}
		if (q.op == KP_INFO) {
			struct kp_info in = {
				.files = nfiles, .max_len = KP_MAX_LEN,
				.size = fsize, .direct = direct_io,
			};
			conn_reply(c, q.id, sizeof(in), &in, sizeof(in));
			mark_dirty(c);
			continue;
		}
		if ((q.op != KP_READ && q.op != KP_WRITE && q.op != KP_FSYNC) ||
		    q.file >= nfiles || q.len > KP_MAX_LEN ||
		    q.offset > fsize || q.len > fsize - q.offset) {
			cnt.proto_errors++;
			if (q.op != KP_WRITE || q.len > KP_MAX_LEN) {
				/* cannot resync after a bad header */
				conn_close(c);
				return;
			}
			pos += q.len;
			conn_reply(c, q.id, -EINVAL, NULL, 0);
			mark_dirty(c);
			continue;
		}
		o = calloc(1, sizeof(*o));
		if (!o)
			die("calloc");
		o->c = c;
		c->refs++;
		o->id = q.id;
		o->kind = q.op;
		o->file = q.file;
		o->off = q.offset;
		o->len = q.op == KP_FSYNC ? 0 : q.len;
		o->buf = xalloc(o->len);
		if (q.op == KP_WRITE) {
			memcpy(o->buf, c->in + pos, q.len);
			pos += q.len;
		}
		submit(o);
		if (c->closed)
			return;
	}
	if (pos) {
		memmove(c->in, c->in + pos, c->inlen - pos);
		c->inlen -= pos;
	}
}

static void conn_read(struct conn *c)
{
	c->refs++;
	for (;;) {
		ssize_t n = kp_recv(c->fd, &c->in, &c->incap, &c->inlen);

		if (n < 0 && errno == ENOMEM)
			die("realloc");
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_close(c);
			break;
		}
		conn_input(c);
		if (c->closed)
			break;
		if ((size_t)n < 65536)
			break;	/* probably drained: back to the loop */
	}
	conn_put(c);
}

static struct conn *conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		die("calloc");
	c->tag = T_CONN;
	c->fd = fd;
	c->refs = 1;
	c->incap = 2 * (KP_MAX_LEN + sizeof(struct kp_req));
	c->in = malloc(c->incap);
	if (!c->in)
		die("malloc");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ep_ctl(EPOLL_CTL_ADD, fd, EPOLLIN, c);
	cnt.conns++;
	return c;
}

/* ---- files --------------------------------------------------------- */

static void make_files(void)
{
	char path[4096];
	char *buf = xalloc(1 << 20), *chk = xalloc(4096);
	unsigned f;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die(dir);
	fds = calloc(nfiles, sizeof(*fds));
	for (f = 0; f < nfiles; f++) {
		struct stat st;
		uint64_t off;
		int fd, ok = 0;

		snprintf(path, sizeof(path), "%s/kfs-%04u.dat", dir, f);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			die(path);
		/* Reuse a file of the right size whose ends check out. */
		if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == fsize &&
		    fsize >= 4096 &&
		    pread(fd, chk, 4096, 0) == 4096 &&
		    kp_check(chk, f, 0, 4096) == 4096 &&
		    pread(fd, chk, 4096, fsize - 4096) == 4096 &&
		    kp_check(chk, f, fsize - 4096, 4096) == 4096)
			ok = 1;
		for (off = 0; !ok && off < fsize; off += 1 << 20) {
			size_t n = fsize - off < (1 << 20) ? fsize - off
							   : 1 << 20;
			kp_fill(buf, f, off, n);
			if (pwrite(fd, buf, n, off) != (ssize_t)n)
				die("pwrite");
		}
		if (!ok && (ftruncate(fd, fsize) < 0 || fsync(fd) < 0))
			die("ftruncate");
		if (direct_io) {
			close(fd);
			fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
			if (fd < 0)
				die("open O_DIRECT");
		}
		fds[f] = fd;
	}
	free(buf);
	free(chk);
}

/* ---- the loop ------------------------------------------------------ */

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run the loop.  lfd: the listening socket, or -1 in a fork child, which
 * serves only `only` and returns when it is closed and drained. */
static void serve(int lfd, struct conn *only)
{
	struct epoll_event ev[64];
	double deadline = 0;

	for (;;) {
		int i, n, timeout = 200;

		if (stop && !deadline) {
			deadline = now() + 5;
			if (lfd >= 0)
				epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
		}
		if (deadline && (!inflight || now() > deadline))
			break;
		if (only && only->closed && !inflight)
			break;
		if (deadline)
			timeout = 20;
		n = epoll_wait(ep, ev, 64, timeout);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			int tag = *(int *)ev[i].data.ptr;

			if (tag == T_COMPL) {
				drain_completions();
			} else if (tag == T_LISTEN) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_NONBLOCK |
						     SOCK_CLOEXEC)) >= 0)
					conn_new(fd);
			} else {
				struct conn *c = ev[i].data.ptr;

				if (c->closed)
					continue;
				if (ev[i].events & EPOLLOUT) {
					c->refs++;
					conn_flush(c);
					conn_put(c);
				}
				if (!c->closed &&
				    ev[i].events & (EPOLLIN | EPOLLHUP |
						    EPOLLERR))
					conn_read(c);
			}
		}
#ifdef HAVE_URING
		if (style == S_URING && uring_pending) {
			io_uring_submit(&ring);
			uring_pending = 0;
		}
#endif
		lio_flush();
		flush_all();
	}
}

static void print_counters(void)
{
	if (quiet)
		return;
	fprintf(stderr,
		"kaio-fileserver: pid=%d io=%s conns=%lu reqs=%lu read=%lu "
		"write=%lu fsync=%lu ping=%lu bytes=%lu completions=%lu "
		"wakeups=%lu sync_fallback=%lu io_errors=%lu proto_errors=%lu "
		"inflight=%ld\n",
		(int)getpid(), style_names[style], cnt.conns, cnt.reqs,
		cnt.by_op[KP_READ], cnt.by_op[KP_WRITE], cnt.by_op[KP_FSYNC],
		cnt.by_op[KP_PING], cnt.bytes, cnt.completions, cnt.wakeups,
		cnt.sync_fallback, cnt.io_errors, cnt.proto_errors, inflight);
}

/* smbd-style: the parent accepts, a child per connection serves it. */
static void fork_server(int lfd)
{
	pid_t kids[1024];
	int nkids = 0, i;

	while (!stop) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
		int err = errno;
		pid_t pid;

		while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
			for (i = 0; i < nkids; i++)
				if (kids[i] == pid)
					kids[i] = kids[--nkids];
		if (fd < 0) {
			if (err == EINTR || err == EAGAIN)
				continue;
			errno = err;
			die("accept");
		}
		cnt.conns++;
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			struct conn *c;

			close(lfd);
			memset(&cnt, 0, sizeof(cnt));
			ep = epoll_create1(EPOLL_CLOEXEC);
			if (ep < 0)
				die("epoll_create1");
			fcntl(fd, F_SETFL, O_NONBLOCK);
			setup_io();
			c = conn_new(fd);
			c->refs++;
			serve(-1, c);
			print_counters();
			exit(0);	/* exit(): the library's stats print */
		}
		close(fd);
		if (nkids < (int)(sizeof(kids) / sizeof(kids[0])))
			kids[nkids++] = pid;
	}
	for (i = 0; i < nkids; i++)
		kill(kids[i], SIGTERM);
	while (waitpid(-1, NULL, 0) > 0)
		;
	print_counters();
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: kaio-fileserver [options]\n"
"  --io=STYLE     sync | posix-signal | posix-signalfd | posix-thread |\n"
"                 kaio-queue | pool | uring   (default sync)\n"
"  --port=N       TCP port on 127.0.0.1 (default 0: any; printed)\n"
"  --dir=DIR      where the files are made (default %s)\n"
"  --files=N      number of files (default %u)\n"
"  --size=BYTES   size of each file (default %llu; K/M/G suffixes)\n"
"  --threads=N    pool workers for --io=pool (default %d)\n"
"  --direct       open the files O_DIRECT\n"
"  --fork         fork a child per connection (as smbd does)\n"
"  --quiet        no counters at exit\n"
"Prints 'ready port=N pid=P io=STYLE' on stdout when listening.\n"
"Available here:", dir, nfiles, (unsigned long long)fsize, pool_threads);
	for (int i = 0; i < (int)(sizeof(style_names) / sizeof(*style_names)); i++) {
#ifndef HAVE_KAIO
		if (i == S_KAIO)
			continue;
#endif
#ifndef HAVE_URING
		if (i == S_URING)
			continue;
#endif
		fprintf(f, " %s", style_names[i]);
	}
	fprintf(f, "\n");
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; end++; break;
	}
	if (*end || !v) {
		fprintf(stderr, "kaio-fileserver: bad size: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "io", 1, 0, 'i' }, { "port", 1, 0, 'p' },
		{ "dir", 1, 0, 'd' }, { "files", 1, 0, 'n' },
		{ "size", 1, 0, 's' }, { "threads", 1, 0, 't' },
		{ "direct", 0, 0, 'D' }, { "fork", 0, 0, 'f' },
		{ "quiet", 0, 0, 'q' }, { "help", 0, 0, 'h' }, { 0 },
	};
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct sigaction st;
	int c, lfd, one = 1;
	unsigned i;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			for (i = 0; i < sizeof(style_names) / sizeof(*style_names); i++)
				if (!strcmp(optarg, style_names[i]))
					break;
			if (i == sizeof(style_names) / sizeof(*style_names)) {
				fprintf(stderr, "kaio-fileserver: unknown --io %s\n", optarg);
				return 2;
			}
			style = i;
#ifndef HAVE_KAIO
			if (style == S_KAIO) {
				fprintf(stderr, "kaio-fileserver: kaio-queue needs a build against libkaio_posix\n");
				return 77;
			}
#endif
#ifndef HAVE_URING
			if (style == S_URING) {
				fprintf(stderr, "kaio-fileserver: built without liburing\n");
				return 77;
			}
#endif
			break;
		case 'p': port = atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'n': nfiles = atoi(optarg); break;
		case 's': fsize = parse_size(optarg); break;
		case 't': pool_threads = atoi(optarg); break;
		case 'D': direct_io = 1; break;
		case 'f': do_fork = 1; break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!nfiles || pool_threads < 1 || (direct_io && fsize % 4096)) {
		usage(stderr);
		return 2;
	}
	rtsig = SIGRTMIN + 1;
	signal(SIGPIPE, SIG_IGN);
	memset(&st, 0, sizeof(st));
	st.sa_handler = on_stop;	/* no SA_RESTART: wake epoll/accept */
	sigaction(SIGTERM, &st, NULL);
	sigaction(SIGINT, &st, NULL);

	make_files();

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
		     (do_fork ? 0 : SOCK_NONBLOCK), 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	if (listen(lfd, 128) < 0)
		die("listen");
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	printf("ready port=%d pid=%d io=%s%s\n", ntohs(sa.sin_port),
	       (int)getpid(), style_names[style], do_fork ? " fork" : "");
	fflush(stdout);

	if (do_fork) {
		fork_server(lfd);
		return 0;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	setup_io();
	ep_ctl(EPOLL_CTL_ADD, lfd, EPOLLIN, &listen_tag);
	serve(lfd, NULL);
	print_counters();
	return 0;	/* exit(): the library's KAIO_STATS line prints */
}
