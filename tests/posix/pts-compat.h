/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pts-compat.h: force-included (gcc -include) ahead of every Open POSIX Test
 * Suite 1.5.2 test that tests/posix/run-posix-tests builds.  The suite's
 * sources are used unchanged; this only bridges two things that changed
 * since they were written (2005), and is the same for glibc and for the
 * library, so it cannot favour either:
 *
 *  - glibc's <aio.h> no longer pulls in <fcntl.h>, <signal.h> and
 *    <sys/stat.h>; 24 of the 104 tests use open(), O_CREAT, S_IRUSR,
 *    siginfo_t or sigaction() and include only <aio.h> for them.
 *  - Every test starts with "#if _POSIX_ASYNCHRONOUS_IO != 200112L exit
 *    (PTS_UNSUPPORTED)", and glibc (POSIX.1-2008) defines 200809L, so all
 *    104 would say UNSUPPORTED.  POSIX.1-2008's AIO is a superset of
 *    2001's: the option is reported as the 2001 value the tests expect
 *    (later versions of these tests, in LTP, test "< 200112L").
 *
 * The tests #define _XOPEN_SOURCE 600 themselves; the feature macros were
 * already fixed by -D_GNU_SOURCE (the suite's LDFLAGS file), so the macro is
 * dropped here to spare every test a "redefined" warning.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined _POSIX_ASYNCHRONOUS_IO && _POSIX_ASYNCHRONOUS_IO >= 200112L
#undef _POSIX_ASYNCHRONOUS_IO
#define _POSIX_ASYNCHRONOUS_IO 200112L
#endif

#undef _XOPEN_SOURCE
