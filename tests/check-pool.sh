#!/bin/sh
# The unit suite with every request on the thread pool.
exec env KAIO_BACKEND=threads KAIO_NOWAIT=0 "${top_builddir:-.}/tests/kaio-check"
