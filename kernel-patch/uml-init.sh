#!/bin/sh
# PID 1 inside the User-Mode Linux kernel booted by run-tests.
# Root is the host's / on hostfs (read-only); KCHECK_* come from the kernel
# command line.  Each test gets an empty directory on a fresh tmpfs.
#
# Library mode (KCHECK_LIB = a library build directory): instead of the
# kernel tests, run the library's unit suite (tests/.libs/kaio-check) once
# per KCHECK_LIB_RUNS entry NAME:SYSCTL, with fs.aio-auto-threads=SYSCTL,
# KAIO_BACKEND=kernel and KAIO_STATS=1, in an empty directory on the ext4
# disk ubd0 if KCHECK_LIB_DISK is set, else on the tmpfs.
# Every output line of a run is prefixed "KLIB-NAME "; Check's TAP log goes
# to the same pipe, so each test's "ok N - file:tcase:test" line comes
# right after the stats lines of its processes.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
SCRATCH=${KCHECK_SCRATCH:?}
mount -t tmpfs -o size=256m,mode=0755 tmpfs "$SCRATCH" || echo "KCHECK-ERROR no tmpfs"
echo "kcheck: kernel $(uname -r), fs.aio-auto-threads=$(cat /proc/sys/fs/aio-auto-threads 2>&1)"
if [ -n "${KCHECK_LIB:-}" ]; then
	# The build may live under the host's /tmp, which the tmpfs below
	# hides: reach it through a bind mount made first.
	mkdir -p "$SCRATCH/lib" &&
		mount --bind "$KCHECK_LIB" "$SCRATCH/lib" &&
		KCHECK_LIB=$SCRATCH/lib || echo "KCHECK-ERROR no bind mount"
	# Check's tmpfile() wants a writable /tmp (this tmpfs hides the
	# host's /tmp from UML only)
	mount -t tmpfs -o size=64m tmpfs /tmp || echo "KCHECK-ERROR no /tmp"
	# KCHECK_LIB_DISK: the runs go on the ext4 disk ubd0 (O_DIRECT works)
	base=$SCRATCH fs=tmpfs
	if [ -n "${KCHECK_LIB_DISK:-}" ]; then
		mknod "$SCRATCH/ubda" b 98 0 && mkdir -p "$SCRATCH/disk" &&
			mount -t ext4 "$SCRATCH/ubda" "$SCRATCH/disk" &&
			base=$SCRATCH/disk fs=ext4 || echo "KCHECK-ERROR no ext4 disk"
	fi
	echo "KLIB-FS $fs"
	for run in $(echo "$KCHECK_LIB_RUNS" | tr , ' '); do
		name=${run%%:*}
		mkdir -p "$base/lib-$name"
		cd "$base/lib-$name" || echo "KCHECK-ERROR no run dir"
		echo "${run#*:}" > /proc/sys/fs/aio-auto-threads
		echo "KLIB-START $name fs.aio-auto-threads=$(cat /proc/sys/fs/aio-auto-threads)"
		s=$(date +%s)
		{
			env KAIO_BACKEND=kernel KAIO_STATS=1 \
				CK_TAP_LOG_FILE_NAME=/dev/stderr \
				LD_LIBRARY_PATH="$KCHECK_LIB/.libs" \
				timeout -s KILL "${KCHECK_LIB_TIMEOUT:-600}" \
				"$KCHECK_LIB/tests/.libs/kaio-check"
			echo "KLIB-RC $?"
		} 2>&1 | sed -u "s/^/KLIB-$name /"
		echo "KLIB-END $name $(( $(date +%s) - s ))s"
	done
	cd /
	[ "$fs" = ext4 ] && umount "$SCRATCH/disk"
	echo "KCHECK-DONE"
	echo o > /proc/sysrq-trigger
	sleep 10
fi
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
