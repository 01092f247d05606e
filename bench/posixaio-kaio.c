/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * posixaio-kaio.c - the yardstick for bench/fio-bench's "aioshim" row.
 *
 * posixaio-ring.c's twin over the kernel's native AIO: aio_read(),
 * aio_write() and aio_fsync() put one iocb into the calling thread's
 * context with io_submit(); aio_error() of a request in flight takes what
 * the context's ring holds, read in user space (no system call);
 * aio_suspend() waits in io_getevents().  Nothing else: no notification,
 * no cancellation, no check of the aiocb or the fd, and a request can only
 * be waited for by the thread that submitted it (as fio does).  It is not
 * a library.  On an O_DIRECT row it is the least a POSIX AIO library
 * serving requests from native AIO can cost under fio's posixaio engine;
 * set against the ring row, it shows what each kernel interface costs
 * around the same loop.  (Buffered files: native AIO blocks in io_submit.)
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define NEVENTS	256

/* The kernel's completion ring, mapped at the context's address. */
struct ring {
	unsigned id, nr, head, tail, magic, compat, incompat, hlen;
	struct io_event ev[];
};

static __thread aio_context_t ctx;
static __thread int ctx_state;		/* 0 untried, 1 up, -1 failed */

static int ctx_up(void)
{
	if (!ctx_state)
		ctx_state = syscall(SYS_io_setup, NEVENTS, &ctx) ? -1 : 1;
	return ctx_state > 0;
}

static void done(const struct io_event *e)
{
	struct aiocb *cb = (struct aiocb *)(uintptr_t)e->data;
	long res = (long)e->res;

	cb->__return_value = res < 0 ? -1 : res;
	__atomic_store_n(&cb->__error_code, res < 0 ? (int)-res : 0,
			 __ATOMIC_RELEASE);
}

/* Every completion the ring holds, written into its aiocb. */
static void reap(void)
{
	struct ring *r = (struct ring *)ctx;
	unsigned head = r->head, tail;

	tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	while (head != tail) {
		done(&r->ev[head]);
		head = (head + 1) % r->nr;
	}
	__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
}

static int submit(struct aiocb *cb, int opcode, unsigned int rwflags)
{
	struct iocb io, *ios = &io;
	long ret;

	if (!ctx_up()) {
		errno = EAGAIN;
		return -1;
	}
	memset(&io, 0, sizeof(io));
	io.aio_data = (uintptr_t)cb;
	io.aio_lio_opcode = opcode;
	io.aio_fildes = cb->aio_fildes;
	io.aio_buf = (uintptr_t)cb->aio_buf;
	io.aio_nbytes = cb->aio_nbytes;
	io.aio_offset = cb->aio_offset;
	io.aio_rw_flags = rwflags;
	cb->__error_code = EINPROGRESS;
	ret = syscall(SYS_io_submit, ctx, 1L, &ios);
	if (ret != 1) {
		cb->__error_code = ret < 0 ? errno : EAGAIN;
		cb->__return_value = -1;
	}
	return 0;
}

EXPORT int aio_read(struct aiocb *cb)
{
	return submit(cb, IOCB_CMD_PREAD, 0);
}

EXPORT int aio_write(struct aiocb *cb)
{
	return submit(cb, IOCB_CMD_PWRITE, 0);
}

EXPORT int aio_fsync(int op, struct aiocb *cb)
{
	return submit(cb, op == O_DSYNC ? IOCB_CMD_FDSYNC : IOCB_CMD_FSYNC, 0);
}

EXPORT int aio_error(const struct aiocb *cb)
{
	int err = __atomic_load_n(&cb->__error_code, __ATOMIC_ACQUIRE);

	if (err == EINPROGRESS && ctx_state > 0) {
		reap();
		err = __atomic_load_n(&cb->__error_code, __ATOMIC_ACQUIRE);
	}
	return err;
}

EXPORT ssize_t aio_return(struct aiocb *cb)
{
	return cb->__return_value;
}

EXPORT int aio_suspend(const struct aiocb *const list[], int nent,
		       const struct timespec *timeout)
{
	struct io_event ev[64];
	long n, i;
	int k;

	(void)timeout;		/* fio waits without one */
	for (;;) {
		for (k = 0; k < nent; k++)
			if (list[k] && __atomic_load_n(&list[k]->__error_code,
						       __ATOMIC_ACQUIRE) !=
					       EINPROGRESS)
				return 0;
		if (ctx_state <= 0)
			return 0;
		n = syscall(SYS_io_getevents, ctx, 1L, 64L, ev, NULL);
		if (n < 0 && errno != EINTR)
			return 0;
		for (i = 0; i < n; i++)
			done(&ev[i]);
	}
}

EXPORT int aio_cancel(int fd, struct aiocb *cb)
{
	(void)fd;
	(void)cb;
	return AIO_NOTCANCELED;
}

/* fio is built with 64-bit offsets: it calls the *64 names (one layout). */
#define ALIAS64(name) \
	__asm__(".globl " #name "64\n.set " #name "64, " #name)
ALIAS64(aio_read);
ALIAS64(aio_write);
ALIAS64(aio_fsync);
ALIAS64(aio_error);
ALIAS64(aio_return);
ALIAS64(aio_suspend);
ALIAS64(aio_cancel);
