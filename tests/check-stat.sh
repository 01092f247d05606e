#!/bin/sh
# One fstat(2) at most per request on its way to a backend, and few
# fcntl(2) calls, under each backend (tests/stat-prog.c).  Under
# KAIO_BACKEND=uring the requests must have gone through io_uring (the
# stats line says uring=N), else that backend's run proves nothing here
# and is skipped.
here=$(dirname "$0")
KAIO_STATS=1 RUN_BACKENDS_CHECK="$here/stat-uring-served.sh" \
	exec sh "$here/run-backends.sh" stat-prog auto threads uring kernel
