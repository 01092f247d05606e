#!/bin/sh
# A storm of signals at a thread looping in the library's calls: each is
# handled once, masked as its handler asks, and none is left blocked
# (tests/sigstorm-prog.c).
exec sh "$(dirname "$0")/run-backends.sh" sigstorm-prog auto threads kernel uring
