#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/server-bench --redraw DIR draws DIR/server.png from the tables of
# DIR/server.md without running anything: on a small report (two workloads,
# a row that was not built, a cell with errors, a workload whose req/s
# dwarf the others) it writes a PNG; on a directory without server.md, or a
# server.md without result tables, it fails and writes none.
src=${top_srcdir:-.}
sb=$src/bench/server-bench
[ -f "$sb" ] || { echo "SKIP: $sb not in this tree (not distributed)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
command -v gnuplot >/dev/null ||
	{ echo "SKIP: gnuplot not installed (apt-get install gnuplot-nox)"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-server-chart.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; [ ! -s "$tmp/err" ] || sed 's/^/    /' "$tmp/err"; fail=$((fail + 1)); }
is_png() { [ "$(head -c 8 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }

mkdir "$tmp/ok" "$tmp/none" "$tmp/empty"
cat >"$tmp/ok/server.md" <<'MD'
# server-bench results

- date: 2026-01-02 03:04:05 UTC
- machine: x86_64, 2 CPUs, kernel 6.1
- command: `bench/server-bench --quick`
- 1 reps interleaved, 0.8 s measured (+0.2 s warmup) per run, 4 connections x depth 8, 16 files x 16M; 9 s in all
- medians over reps; every reply verified by the loader; a cell with a non-zero error counter is marked

## cached-rand

random 4-64 KiB reads over all files, page cache warm; 4% pings

| row | req/s | p50 µs | p99 µs | p99.9 µs | ping p99 µs | CPU µs/req | errors |
|---|---:|---:|---:|---:|---:|---:|---:|
| `glibc-signal` glibc POSIX AIO, signal handler | 33599 | 875 | 2059 | 3339 | 1200 | 38.4 | 0 |
| `kaio-queue` libkaio_posix, SIGEV_KAIO queue | n/a (not built) | | | | | | |
| `pool` Samba-like pthread pool (8 threads) | 59609 | 472 | 941 | 1901 | 717 | 20.1 | 2 **ERRORS 2 (rc 0)** |

## ping

pings only: no disk

| row | req/s | p50 µs | p99 µs | p99.9 µs | ping p99 µs | CPU µs/req | errors |
|---|---:|---:|---:|---:|---:|---:|---:|
| `glibc-signal` glibc POSIX AIO, signal handler | 1298355 | 21 | 57 | 78 | 57 | 0.7 | 0 |
| `kaio-queue` libkaio_posix, SIGEV_KAIO queue | 1247251 | 21 | 58 | 79 | 58 | 0.7 | 0 |
| `pool` Samba-like pthread pool (8 threads) | 1292859 | 21 | 57 | 82 | 57 | 0.7 | 0 |

## Targets (cached-rand)

| target | measured | met |
|---|---|---|
| kaio-queue req/s >= 1.5x glibc-signal | missing | n/a |
MD
printf '# server-bench results\n\nno tables\n' >"$tmp/empty/server.md"

if bash "$sb" --redraw "$tmp/ok" >"$tmp/out" 2>"$tmp/err" && is_png "$tmp/ok/server.png"; then
	ok "--redraw draws server.png from a server.md ($(wc -c <"$tmp/ok/server.png") bytes)"
else
	ko "--redraw did not draw $tmp/ok/server.png"
fi
if grep -q 'cached-rand/pool has errors' "$tmp/err"; then
	ok "a cell with errors is left out of the chart, with a message"
else
	ko "no message for the cell with errors"
fi
ls "$tmp/ok" | grep -qv '^server\.\(md\|png\)$' &&
	ko "--redraw left files beside server.png: $(ls "$tmp/ok" | tr '\n' ' ')" ||
	ok "--redraw writes nothing but server.png"
for d in none:'no server.md' empty:'a server.md without tables'; do
	what=${d#*:} d=${d%%:*}
	if bash "$sb" --redraw "$tmp/$d" >"$tmp/out" 2>"$tmp/err"; then
		ko "--redraw succeeded on a directory with $what"
	elif [ -e "$tmp/$d/server.png" ]; then
		ko "--redraw failed but wrote $tmp/$d/server.png"
	else
		ok "--redraw fails on a directory with $what"
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
