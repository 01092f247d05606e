#!/bin/sh
# The unit suite with everything the kernel can take sent to io_submit.
exec env KAIO_BACKEND=kernel "${top_builddir:-.}/tests/kaio-check"
