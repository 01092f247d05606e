#!/bin/sh
# The unit suite with every request sent to the thread pool.
exec env KAIO_NOWAIT=0 "${top_builddir:-.}/tests/kaio-check"
