#!/bin/sh
# A storm of signals at a thread looping in the library's calls: each is
# handled once, masked as its handler asks, and none is left blocked
# (tests/sigstorm-prog.c).  Not in make check yet: the program's header
# says why.  Run it as: make tests/sigstorm-prog && sh tests/check-sigstorm.sh
exec sh "$(dirname "$0")/run-backends.sh" sigstorm-prog auto threads kernel uring
