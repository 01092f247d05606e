#!/bin/sh
# Signals kept during a call run with the masks of those still kept, as
# the kernel runs signals delivered at once (tests/sigorder-prog.c).
exec sh "$(dirname "$0")/run-backends.sh" sigorder-prog auto threads
