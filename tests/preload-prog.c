/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An ordinary POSIX AIO program, built against glibc alone.  Three builds:
 * plain (aio_*@GLIBC_2.34), PRELOAD_64 (-D_FILE_OFFSET_BITS=64, so
 * aio_*64@GLIBC_2.34) and PRELOAD_OLD (references bound to old librt's
 * @GLIBC_2.2.5, lio_listio@GLIBC_2.4).  It prints which implementation
 * served it: libkaio_posix answers EINVAL for an aiocb that was never
 * submitted, glibc does not.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef PRELOAD_OLD
__asm__(".symver aio_read,aio_read@GLIBC_2.2.5");
__asm__(".symver aio_write,aio_write@GLIBC_2.2.5");
__asm__(".symver aio_error,aio_error@GLIBC_2.2.5");
__asm__(".symver aio_return,aio_return@GLIBC_2.2.5");
__asm__(".symver aio_suspend,aio_suspend@GLIBC_2.2.5");
__asm__(".symver aio_fsync,aio_fsync@GLIBC_2.2.5");
__asm__(".symver aio_cancel,aio_cancel@GLIBC_2.2.5");
__asm__(".symver aio_init,aio_init@GLIBC_2.2.5");
__asm__(".symver lio_listio,lio_listio@GLIBC_2.4");
#endif

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); exit(1); } while (0)

int main(void)
{
	struct aioinit init = { .aio_threads = 8, .aio_num = 32 };
	struct aiocb never, cb[4], *l[4];
	const struct aiocb *sl[1];
	char path[] = "/tmp/kaio-preload-XXXXXX";
	char data[4][512], back[4][512];
	int fd, i, e;

	aio_init(&init);
	memset(&never, 0, sizeof(never));
	errno = 0;
	e = aio_error(&never);
	printf("served-by=%s\n", e == -1 && errno == EINVAL ? "kaio" : "glibc");

	fd = mkstemp(path);
	if (fd < 0)
		FAIL("mkstemp: %s\n", strerror(errno));
	unlink(path);
	for (i = 0; i < 4; i++) {
		memset(data[i], 'A' + i, sizeof(data[i]));
		memset(&cb[i], 0, sizeof(cb[i]));
		cb[i].aio_fildes = fd;
		cb[i].aio_buf = data[i];
		cb[i].aio_nbytes = sizeof(data[i]);
		cb[i].aio_offset = i * 512;
		if (aio_write(&cb[i]))
			FAIL("aio_write: %s\n", strerror(errno));
	}
	for (i = 0; i < 4; i++) {
		sl[0] = &cb[i];
		while ((e = aio_error(&cb[i])) == EINPROGRESS)
			aio_suspend(sl, 1, NULL);
		if (e || aio_return(&cb[i]) != 512)
			FAIL("write %d: %s\n", i, strerror(e));
	}
	memset(&cb[0], 0, sizeof(cb[0]));
	cb[0].aio_fildes = fd;
	if (aio_fsync(O_SYNC, &cb[0]))
		FAIL("aio_fsync: %s\n", strerror(errno));
	sl[0] = &cb[0];
	while (aio_error(&cb[0]) == EINPROGRESS)
		aio_suspend(sl, 1, NULL);
	if (aio_return(&cb[0]))
		FAIL("fsync failed\n");
	for (i = 0; i < 4; i++) {
		memset(&cb[i], 0, sizeof(cb[i]));
		cb[i].aio_fildes = fd;
		cb[i].aio_buf = back[i];
		cb[i].aio_nbytes = 512;
		cb[i].aio_offset = i * 512;
		cb[i].aio_lio_opcode = LIO_READ;
		l[i] = &cb[i];
	}
	if (lio_listio(LIO_WAIT, l, 4, NULL))
		FAIL("lio_listio: %s\n", strerror(errno));
	for (i = 0; i < 4; i++)
		if (aio_return(&cb[i]) != 512 || memcmp(back[i], data[i], 512))
			FAIL("read back %d differs\n", i);
	if (aio_cancel(fd, NULL) != AIO_ALLDONE)
		FAIL("aio_cancel\n");
	printf("ok\n");
	return 0;
}
