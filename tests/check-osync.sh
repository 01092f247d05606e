#!/bin/sh
# An O_SYNC aio_fsync() is never satisfied by an fdatasync(2) of the fd's
# fsync group (tests/osync-prog.c), on the pool with one worker.
exec env KAIO_BACKEND=threads KAIO_THREADS=1 "${top_builddir:-.}/tests/osync-prog"
