#!/bin/sh
# A waiter is woken by a request it saw in progress while a kernel ring is
# busy with something else, under each KAIO_BACKEND (tests/wake-prog.c).
RUN_BACKENDS_CHECK= exec sh "$(dirname "$0")/run-backends.sh" wake-prog auto threads uring kernel
