/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * path-prog.c - tests/check-path.sh's program: two requests of one kind
 * on a new file, each waited for, with the library preloaded.
 *
 *   path-prog read|write|fsync buffered|direct DIR
 *
 * A buffered read first drops the file's pages (POSIX_FADV_DONTNEED), so
 * that it is not served in the caller from the page cache.  Prints what
 * each request returned; exit 0 if both returned what they should.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Drop fd's pages from the page cache (twice: the first call may find
 * some still on their way to the LRU lists). */
static void drop(int fd)
{
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	usleep(20000);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

int main(int argc, char **argv)
{
	struct aiocb cb;
	const struct aiocb *l[1] = { &cb };
	char path[4096];
	void *buf;
	int fd, i, direct, rc = 0;
	ssize_t want, got;

	if (argc != 4) {
		fprintf(stderr, "usage: %s read|write|fsync buffered|direct DIR\n",
			argv[0]);
		return 2;
	}
	direct = !strcmp(argv[2], "direct");
	snprintf(path, sizeof(path), "%s/path-prog.data", argv[3]);
	if (posix_memalign(&buf, 4096, 65536))
		return 2;
	memset(buf, 'p', 65536);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, 65536) != 65536 || fsync(fd) ||
	    close(fd)) {
		perror(path);
		return 2;
	}
	fd = open(path, O_RDWR | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		perror(path);
		return 77;
	}
	for (i = 0; i < 2; i++) {
		memset(&cb, 0, sizeof(cb));
		cb.aio_fildes = fd;
		cb.aio_buf = buf;
		cb.aio_nbytes = 4096;
		cb.aio_offset = (off_t)i * 4096;
		if (!strcmp(argv[1], "read")) {
			drop(fd);
			rc = aio_read(&cb);
			want = 4096;
		} else if (!strcmp(argv[1], "write")) {
			rc = aio_write(&cb);
			want = 4096;
		} else {
			rc = aio_fsync(O_SYNC, &cb);
			want = 0;
		}
		if (rc) {
			perror(argv[1]);
			return 1;
		}
		while (aio_error(&cb) == EINPROGRESS)
			aio_suspend(l, 1, NULL);
		got = aio_return(&cb);
		printf("%s %d: %zd\n", argv[1], i, got);
		if (got != want)
			rc = 1;
	}
	close(fd);
	unlink(path);
	return rc;
}
