#!/bin/sh
# The unit suite with the default policy (KAIO_BACKEND=auto).
exec env KAIO_BACKEND=auto KAIO_NOWAIT=1 "${top_builddir:-.}/tests/kaio-check"
