# Sourced by tests/run-backends.sh for tests/check-stat.sh: a run under
# KAIO_BACKEND=uring where io_uring served nothing is skipped.
if [ "$b" = uring ] && ! grep -q 'io_uring=on.* uring=[1-9]' "$err"; then
	echo "SKIP: KAIO_BACKEND=uring: io_uring did not serve the requests"
	grep 'kaio_posix:' "$err"
	r=77
fi
