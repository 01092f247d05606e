#!/bin/sh
# The unit suite with the default configuration (caller-side RWF_NOWAIT on).
exec env KAIO_NOWAIT=1 "${top_builddir:-.}/tests/kaio-check"
