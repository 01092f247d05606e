/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* glibc's struct aiocb layout on x86_64, and a program's view of it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "test-common.h"

_Static_assert(sizeof(struct aiocb) == 168, "struct aiocb size");
_Static_assert(sizeof(struct aiocb64) == 168, "struct aiocb64 size");
_Static_assert(offsetof(struct aiocb, aio_fildes) == 0, "aio_fildes");
_Static_assert(offsetof(struct aiocb, aio_lio_opcode) == 4, "aio_lio_opcode");
_Static_assert(offsetof(struct aiocb, aio_reqprio) == 8, "aio_reqprio");
_Static_assert(offsetof(struct aiocb, aio_buf) == 16, "aio_buf");
_Static_assert(offsetof(struct aiocb, aio_nbytes) == 24, "aio_nbytes");
_Static_assert(offsetof(struct aiocb, aio_sigevent) == 32, "aio_sigevent");
_Static_assert(offsetof(struct aiocb, __error_code) == 112, "__error_code");
_Static_assert(offsetof(struct aiocb, __return_value) == 120, "__return_value");
_Static_assert(offsetof(struct aiocb, aio_offset) == 128, "aio_offset");
_Static_assert(offsetof(struct aiocb64, aio_offset) == 128, "aio_offset64");

/* The public fields are exactly as the program left them. */
START_TEST(abi_public_fields_untouched)
{
	char buf[100];
	struct aiocb cb, copy;
	int fd = t_tmpfile(100, 0);

	t_prep(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_lio_opcode = 77;		/* glibc would overwrite it */
	cb.aio_reqprio = 3;
	memcpy(&copy, &cb, sizeof(cb));
	ck_assert_int_eq(aio_read(&cb), 0);
	ck_assert_int_eq(t_wait(&cb, 5000), 0);
	ck_assert_int_eq(aio_return(&cb), 100);
	ck_assert(memcmp(&cb, &copy, offsetof(struct aiocb, __next_prio)) == 0);
	ck_assert(memcmp(&cb.aio_offset, &copy.aio_offset,
			 sizeof(cb.aio_offset)) == 0);
	ck_assert(cb.__next_prio == copy.__next_prio);
	close(fd);
}
END_TEST

START_TEST(abi_aiocb64)
{
	char buf[100];
	struct aiocb64 cb;
	int fd = t_tmpfile(100, 0);

	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_buf = buf;
	cb.aio_nbytes = 50;
	cb.aio_offset = 25;
	ck_assert_int_eq(aio_read64(&cb), 0);
	while (aio_error64(&cb) == EINPROGRESS)
		usleep(1000);
	ck_assert_int_eq(aio_return64(&cb), 50);
	ck_assert(t_check_bytes(buf, 25, 50));
	close(fd);
}
END_TEST

Suite *abi_suite(void)
{
	Suite *s = suite_create("abi");
	TCase *tc = t_tcase("layout");

	tcase_add_test(tc, abi_public_fields_untouched);
	tcase_add_test(tc, abi_aiocb64);
	suite_add_tcase(s, tc);
	return s;
}
