#!/bin/sh
# A lio_listio() batch's reads past the caller's copy budget put their
# files into io_uring's table of fixed files in one call, and a call the
# kernel stops part-way loses no read and no slot (tests/fixfile-prog.c),
# under the backends that use io_uring.
exec sh "$(dirname "$0")/run-backends.sh" fixfile-prog auto uring
