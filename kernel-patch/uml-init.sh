#!/bin/sh
# PID 1 inside the User-Mode Linux kernel booted by run-tests.
# Root is the host's / on hostfs (read-only); KCHECK_* come from the kernel
# command line.  Each test gets an empty directory on a fresh tmpfs.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
SCRATCH=${KCHECK_SCRATCH:?}
mount -t tmpfs -o size=256m,mode=0755 tmpfs "$SCRATCH" || echo "KCHECK-ERROR no tmpfs"
echo "kcheck: kernel $(uname -r), fs.aio-auto-threads=$(cat /proc/sys/fs/aio-auto-threads 2>&1)"
cd "${KCHECK_DIR:?}" || echo "KCHECK-ERROR no test dir"
for t in $(echo "$KCHECK_TESTS" | tr , ' '); do
	mkdir -p "$SCRATCH/$t"
	echo "KCHECK-START $t"
	timeout -s KILL "${KCHECK_TIMEOUT:-60}" "./$t" "$SCRATCH/$t"
	echo "KCHECK-TEST $t rc=$?"
done
echo "KCHECK-DONE"
echo o > /proc/sysrq-trigger
sleep 10
