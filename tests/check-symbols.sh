#!/bin/bash
# The exported names and their versions, exactly: glibc's 17 names at
# GLIBC_2.34 (default) and GLIBC_2.2.5, lio_listio{,64} also at GLIBC_2.4,
# the kaio_* extensions at KAIO_1.0, and the wrappers of glibc's calls
# that close an fd number (src/fdgen.c) at glibc's own versions, as
# defaults.  Nothing else is exported.
b=${top_builddir:-.}
lib="$b/.libs/libkaio_posix.so"
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
got=$(objdump -T "$lib" | awk '$2 ~ /g/ && $4 == ".text" { print $(NF-1), $NF }' | sort)
want=$(
	for n in aio_read aio_write aio_fsync aio_error aio_return aio_suspend \
		 aio_cancel lio_listio; do
		for s in "" 64; do
			echo "GLIBC_2.34 $n$s"
			echo "(GLIBC_2.2.5) $n$s"
		done
	done
	echo "GLIBC_2.34 aio_init"
	echo "(GLIBC_2.2.5) aio_init"
	echo "(GLIBC_2.4) lio_listio"
	echo "(GLIBC_2.4) lio_listio64"
	echo "KAIO_1.0 kaio_stats_get"
	echo "KAIO_1.0 kaio_stat_name"
	echo "KAIO_1.0 kaio_queue_create"
	echo "KAIO_1.0 kaio_queue_reap"
	echo "KAIO_1.0 kaio_queue_destroy"
	for n in openat unlinkat renameat readahead poll; do
		echo "KAIO_1.0 kaio_$n"
	done
	# glibc's calls that close an fd number, wrapped (src/fdgen.c)
	for n in close __close dup2 __dup2 fclose _IO_fclose fcloseall freopen \
		 freopen64 pclose endmntent _IO_file_close _IO_file_close_it \
		 _IO_file_finish fcntl __fcntl; do
		echo "GLIBC_2.2.5 $n"
	done
	# glibc's calls that install a signal handler, wrapped (src/sigdefer.c;
	# not with ThreadSanitizer, which wraps them itself)
	case ${SANITIZED:-} in
	*thread*) ;;
	*)
		for n in sigaction __sigaction signal bsd_signal ssignal \
			 sysv_signal __sysv_signal sigset; do
			echo "GLIBC_2.2.5 $n"
		done
		# and the jumps out of one, which count it out
		for n in longjmp _longjmp siglongjmp setcontext; do
			echo "GLIBC_2.2.5 $n"
		done
		echo "GLIBC_2.11 __longjmp_chk" ;;
	esac
	echo "GLIBC_2.9 dup3"
	# calls that fail with EINTR, wrapped (src/eintr.c)
	echo "GLIBC_2.2.5 sigtimedwait"
	echo "GLIBC_2.2.5 sigwaitinfo"
	echo "GLIBC_2.3.2 epoll_wait"
	echo "GLIBC_2.6 epoll_pwait"
	echo "GLIBC_2.35 epoll_pwait2"
	echo "GLIBC_2.28 fcntl64"
	for n in close_range closefrom login_tty mq_close; do
		echo "GLIBC_2.34 $n"
	done
	echo "GLIBC_2.34 _Fork"	# runs the fork child's reset (src/init.c)
	echo "(GLIBC_2.2.5) login_tty"
	echo "(GLIBC_2.3.4) mq_close"
)
want=$(echo "$want" | sort)
if [ "$got" = "$want" ]; then
	echo "PASS: exported symbols and versions"
	echo "1 passed, 0 failed"
	exit 0
fi
echo "FAIL: exported symbols differ (< expected, > actual):"
diff <(echo "$want") <(echo "$got") 2>/dev/null || { echo "expected:"; echo "$want"; echo "actual:"; echo "$got"; }
echo "0 passed, 1 failed"
exit 1
