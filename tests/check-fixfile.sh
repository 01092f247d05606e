#!/bin/sh
# A lio_listio() batch's reads past the caller's copy budget put their
# files into io_uring's table of fixed files in one call, a call the
# kernel stops part-way loses no read and no slot, and a fork during
# another thread's fill leaves the child nothing of it
# (tests/fixfile-prog.c), under the backends that use io_uring: with a
# ring per thread, and with the one ring every thread shares.
sh "$(dirname "$0")/run-backends.sh" fixfile-prog auto uring
a=$?
KAIO_URING_RINGS=0 sh "$(dirname "$0")/run-backends.sh" fixfile-prog auto uring
b=$?
[ $a -eq 1 ] || [ $b -eq 1 ] && exit 1
[ $a -eq 77 ] && [ $b -eq 77 ] && exit 77
exit 0
