/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pathops.c - asynchronous path operations: openat, unlinkat, renameat and
 * readahead, with the aiocb, sigevent, aio_error()/aio_return(),
 * aio_cancel() and lio_listio() model of the POSIX calls.
 *
 * The aiocb carries the arguments exactly as the threaded-AIO kernel ABI
 * does (include/kaio_aio_abi.h), so every backend reads one encoding:
 *   openat:    aio_fildes dirfd, aio_buf path, aio_offset flags | mode << 32
 *   unlinkat:  aio_fildes dirfd, aio_buf path, aio_offset 0 or AT_REMOVEDIR
 *   renameat:  aio_buf struct kaio_renameat_info *, aio_nbytes its size
 *   readahead: aio_fildes fd, aio_offset, aio_nbytes
 * The strings are copied at submission: the caller may reuse them at once.
 * They are copied as the kernel would copy them, never read blindly: a
 * NULL or unmapped path (or struct kaio_renameat_info) fails the
 * submission with EFAULT, one with no NUL in its first PATH_MAX bytes
 * with ENAMETOOLONG, as the system calls themselves would fail.
 *
 * Identity: on a pool worker, a path operation runs, as every request
 * does, with the submitting thread's fsuid, fsgid, supplementary groups
 * and effective capabilities (creds.c); io_uring and the threaded-AIO
 * kernel take the submitter's credentials themselves.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kaio-int.h"
#include "kaio_aio_abi.h"

#define CHUNK	4096	/* never crosses a page: all of it is mapped or none */

/* Read len bytes (within one page) at addr of this process: 0 or -errno. */
static int peek_pipe(uintptr_t addr, void *buf, size_t len)
{
	ssize_t n;
	int p[2], ret = 0;

	/* The kernel copies what write() is given: EFAULT if unmapped. */
	if (pipe2(p, O_CLOEXEC))
		return -EAGAIN;
	n = write(p[1], (const void *)addr, len);
	if (n < 0)
		ret = errno == EFAULT ? -EFAULT : -EAGAIN;
	else if (n != (ssize_t)len || read(p[0], buf, len) != (ssize_t)len)
		ret = -EAGAIN;
	close(p[0]);
	close(p[1]);
	return ret;
}

static int peek(uintptr_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)addr, len };
	ssize_t n;

	if (!addr)
		return -EFAULT;
	n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n >= 0 || errno == EFAULT)
		return -EFAULT;
	return peek_pipe(addr, buf, len);	/* filtered out, say */
}

/* Copy len bytes at addr, which may cross pages: 0 or -errno. */
static int copy_in(uintptr_t addr, void *buf, size_t len)
{
	size_t done = 0, n;
	int ret;

	while (done < len) {
		n = CHUNK - ((addr + done) & (CHUNK - 1));
		if (n > len - done)
			n = len - done;
		ret = peek(addr + done, (char *)buf + done, n);
		if (ret)
			return ret;
		done += n;
	}
	return 0;
}

/* A copy of the path at addr, as getname() would take it: 0 or -errno. */
static int copy_path(uintptr_t addr, char **out)
{
	char *buf = malloc(PATH_MAX), *nul;
	size_t len = 0, n;
	int ret, saved = errno;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == PATH_MAX) {
			ret = -ENAMETOOLONG;
			break;
		}
		n = CHUNK - ((addr + len) & (CHUNK - 1));
		if (n > PATH_MAX - len)
			n = PATH_MAX - len;
		ret = peek(addr + len, buf + len, n);
		if (ret)
			break;
		nul = memchr(buf + len, 0, n);
		len += n;
		if (nul) {
			*out = realloc(buf, (size_t)(nul - buf) + 1);
			if (!*out)
				*out = buf;
			errno = saved;
			return 0;
		}
	}
	free(buf);
	errno = saved;
	return ret;
}

/* Copy the arguments into req (the identity is captured elsewhere). */
int kaio__path_capture(struct kaio_req *req, const struct aiocb *cb)
{
	struct kaio_renameat_info ri;
	int ret, saved = errno;

	switch (req->op) {
	case KAIO_OP_RENAMEAT:
		if (!cb->aio_buf || cb->aio_nbytes != sizeof(ri) ||
		    cb->aio_offset)
			return -EINVAL;
		ret = copy_in((uintptr_t)cb->aio_buf, &ri, sizeof(ri));
		errno = saved;
		if (ret)
			return ret;
		req->dirfd2 = (int)ri.newdirfd;
		req->fd = (int)ri.olddirfd;
		req->pflags = ri.flags;
		ret = copy_path((uintptr_t)ri.oldpath, &req->path);
		if (!ret)
			ret = copy_path((uintptr_t)ri.newpath, &req->path2);
		return ret;
	case KAIO_OP_OPENAT:
	case KAIO_OP_UNLINKAT:
		req->pflags = (uint64_t)cb->aio_offset;
		if (req->op == KAIO_OP_UNLINKAT && (req->pflags & ~AT_REMOVEDIR))
			return -EINVAL;
		return copy_path((uintptr_t)cb->aio_buf, &req->path);
	}
	return 0;
}

void kaio__path_release(struct kaio_req *req)
{
	free(req->path);
	free(req->path2);
}

/* Run a path operation on a pool worker; returns the result or -errno. */
ssize_t kaio__path_execute(struct kaio_req *req)
{
	long ret;

	switch (req->op) {
	case KAIO_OP_OPENAT:
		ret = openat(req->fd, req->path, (int)(uint32_t)req->pflags,
			     (mode_t)((req->pflags >> 32) & 0xffff));
		break;
	case KAIO_OP_UNLINKAT:
		ret = unlinkat(req->fd, req->path, (int)req->pflags);
		break;
	case KAIO_OP_RENAMEAT:
		ret = syscall(SYS_renameat2, req->fd, req->path, req->dirfd2,
			      req->path2, (unsigned)req->pflags);
		break;
	case KAIO_OP_READAHEAD:
		ret = readahead(req->fd, req->off, req->nbytes);
		break;
	default:
		ret = -1;
		errno = EINVAL;
	}
	return ret < 0 ? -errno : ret;
}

/* No cancellation point, as aio_read() (compat.c). */
static int submit_path(struct aiocb *cb, int op)
{
	int ret, cs;

	kaio__flush_deferred();
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	ret = kaio__submit(cb, op, NULL, 0, NULL);
	pthread_setcancelstate(cs, NULL);
	return ret ? kaio__fail(-ret) : 0;
}

KAIO_EXPORT int kaio_openat(struct aiocb *cb)
{
	return submit_path(cb, KAIO_OP_OPENAT);
}

KAIO_EXPORT int kaio_unlinkat(struct aiocb *cb)
{
	return submit_path(cb, KAIO_OP_UNLINKAT);
}

KAIO_EXPORT int kaio_renameat(struct aiocb *cb)
{
	return submit_path(cb, KAIO_OP_RENAMEAT);
}

KAIO_EXPORT int kaio_readahead(struct aiocb *cb)
{
	return submit_path(cb, KAIO_OP_READAHEAD);
}
