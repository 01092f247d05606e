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
 *
 * Credentials: a request runs with the submitting thread's fsuid, fsgid
 * and supplementary groups, as the kernel backends do (Samba switches
 * identities per thread).  A pool worker takes them on with the per-thread
 * system calls for the request's duration, then returns to its own.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kaio-int.h"
#include "kaio_aio_abi.h"

/* Copy the arguments and the submitting thread's credentials into req. */
int kaio__path_capture(struct kaio_req *req, const struct aiocb *cb)
{
	const struct kaio_renameat_info *ri;
	int n;

	switch (req->op) {
	case KAIO_OP_RENAMEAT:
		ri = (const void *)cb->aio_buf;
		if (!ri || cb->aio_nbytes != sizeof(*ri) || cb->aio_offset)
			return -EINVAL;
		req->dirfd2 = (int)ri->newdirfd;
		req->fd = (int)ri->olddirfd;
		req->pflags = ri->flags;
		req->path = strdup((const char *)(uintptr_t)ri->oldpath);
		req->path2 = strdup((const char *)(uintptr_t)ri->newpath);
		if (!req->path || !req->path2)
			return -ENOMEM;
		break;
	case KAIO_OP_OPENAT:
	case KAIO_OP_UNLINKAT:
		if (!cb->aio_buf)
			return -EFAULT;
		req->pflags = (uint64_t)cb->aio_offset;
		if (req->op == KAIO_OP_UNLINKAT && (req->pflags & ~AT_REMOVEDIR))
			return -EINVAL;
		req->path = strdup((const char *)cb->aio_buf);
		if (!req->path)
			return -ENOMEM;
		break;
	case KAIO_OP_READAHEAD:
		return 0;
	}
	req->fsuid = (uid_t)syscall(SYS_setfsuid, -1);
	req->fsgid = (gid_t)syscall(SYS_setfsgid, -1);
	n = (int)syscall(SYS_getgroups, 0, NULL);
	if (n > 0) {
		req->groups = malloc(n * sizeof(gid_t));
		if (!req->groups)
			return -ENOMEM;
		req->ngroups = (int)syscall(SYS_getgroups, n, req->groups);
		if (req->ngroups < 0)
			req->ngroups = 0;
	}
	req->flags |= KAIO_RQ_CREDS;
	return 0;
}

void kaio__path_release(struct kaio_req *req)
{
	free(req->path);
	free(req->path2);
	free(req->groups);
}

struct saved_creds {
	uid_t fsuid;
	gid_t fsgid;
	int ngroups;
	gid_t groups[NGROUPS_MAX > 256 ? 256 : NGROUPS_MAX];
};

/* This thread only: glibc's wrappers would change every thread. */
static void become(const struct kaio_req *req, struct saved_creds *s)
{
	s->fsuid = (uid_t)syscall(SYS_setfsuid, -1);
	s->fsgid = (gid_t)syscall(SYS_setfsgid, -1);
	s->ngroups = (int)syscall(SYS_getgroups, 256, s->groups);
	syscall(SYS_setgroups, req->ngroups, req->groups);
	syscall(SYS_setfsgid, req->fsgid);
	syscall(SYS_setfsuid, req->fsuid);
}

static void unbecome(const struct saved_creds *s)
{
	syscall(SYS_setfsuid, s->fsuid);
	syscall(SYS_setfsgid, s->fsgid);
	if (s->ngroups >= 0)
		syscall(SYS_setgroups, s->ngroups, s->groups);
}

/* Run a path operation on a pool worker; returns the result or -errno. */
ssize_t kaio__path_execute(struct kaio_req *req)
{
	struct saved_creds s;
	long ret;

	if (req->flags & KAIO_RQ_CREDS)
		become(req, &s);
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
	if (ret < 0)
		ret = -errno;
	if (req->flags & KAIO_RQ_CREDS)
		unbecome(&s);
	return ret;
}

static int submit_path(struct aiocb *cb, int op)
{
	int ret = kaio__submit(cb, op, NULL, 0, NULL);

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
