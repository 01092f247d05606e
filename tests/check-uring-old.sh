#!/bin/sh
# io_uring without IORING_FEAT_EXT_ARG (before 5.11) is not used, and
# nothing breaks (tests/uring-old-prog.c), under the backends that would
# use io_uring.
RUN_BACKENDS_CHECK= exec sh "$(dirname "$0")/run-backends.sh" uring-old-prog auto uring
