/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * glibc-test-config.h - the few definitions glibc's build would give the
 * files of its support/ test driver and its rt/ AIO tests, which
 * run-glibc-tests compiles outside glibc's tree (-include'd first).
 *
 * glibc's config.h and libc-symbols.h are not used: the tests only need
 * the public headers of the installed glibc, plus these.
 */
#ifndef KAIO_GLIBC_TEST_CONFIG_H
#define KAIO_GLIBC_TEST_CONFIG_H

#ifndef _GNU_SOURCE
# define _GNU_SOURCE 1		/* mempcpy, error(), getopt_long */
#endif

/* support_test_main.c: the default multiplier of a test's TIMEOUT (the
 * TIMEOUTFACTOR environment variable still overrides it). */
#define TIMEOUTFACTOR 1

/* temp_file.c uses NAME_MAX and PATH_MAX without including <limits.h>:
 * glibc's internal headers bring it in there. */
#include <limits.h>

#endif
