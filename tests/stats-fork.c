/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats-fork FILE [CHILDREN [READS]]: a POSIX AIO program, built against
 * glibc alone, that forks.  The parent and each child make READS aio_read()
 * calls on FILE (default 3 children, 5 reads).  Child 0 forks a grandchild
 * that reads too; children 0 and 2 and the grandchild end with _exit(),
 * the others with exit().  So there are CHILDREN + 2 processes and
 * (CHILDREN + 2) * READS reads, of which the processes that end with
 * _exit() never run the library's exit handler.  Prints "reads=N
 * processes=P no_exit=Q" on stdout for the check to compare with.
 * man/check-stats.sh runs it under kaio-run --stats and KAIO_STATS=1.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "stats-fork: %s: %s\n", what, strerror(errno));
	_exit(1);
}

static void reads(int fd, int n)
{
	const struct aiocb *list[1];
	struct aiocb cb;
	char buf[512];
	int i;

	for (i = 0; i < n; i++) {
		memset(&cb, 0, sizeof(cb));
		cb.aio_fildes = fd;
		cb.aio_buf = buf;
		cb.aio_nbytes = sizeof(buf);
		cb.aio_offset = (off_t)i * sizeof(buf);
		if (aio_read(&cb))
			die("aio_read");
		list[0] = &cb;
		while (aio_error(&cb) == EINPROGRESS)
			aio_suspend(list, 1, NULL);
		if (aio_return(&cb) != (ssize_t)sizeof(buf))
			die("aio_return");
	}
}

static void wait_for(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		die("child failed");
}

int main(int argc, char **argv)
{
	char block[4096];
	int children = argc > 2 ? atoi(argv[2]) : 3;
	int n = argc > 3 ? atoi(argv[3]) : 5;
	int fd, i, no_exit = 0;
	pid_t pid[64], g;

	if (argc < 2 || children < 1 || children > 64 || n < 1 || n > 8)
		return fprintf(stderr, "usage: stats-fork FILE [1-64 [1-8]]\n"), 2;
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die(argv[1]);
	memset(block, 'k', sizeof(block));
	if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
		die("write");
	reads(fd, n);
	fflush(stdout);
	for (i = 0; i < children; i++) {
		pid[i] = fork();
		if (pid[i] < 0)
			die("fork");
		if (pid[i])
			continue;
		reads(fd, n);
		if (i == 0) {
			g = fork();
			if (g < 0)
				die("fork");
			if (!g) {
				reads(fd, n);
				_exit(0);
			}
			wait_for(g);
		}
		if (i % 2 == 0)
			_exit(0);
		exit(0);
	}
	for (i = 0; i < children; i++) {
		wait_for(pid[i]);
		no_exit += i % 2 == 0;
	}
	printf("reads=%d processes=%d no_exit=%d\n", (children + 2) * n,
	       children + 2, no_exit + 1);
	return 0;
}
