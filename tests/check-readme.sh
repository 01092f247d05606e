#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# README.md keeps up with the code:
#  - its "Extensions" list names every function and macro that
#    include/kaio_posix.h declares (kaio_*(), SIGEV_KAIO, LIO_KAIO_*,
#    KAIO_*; the KAIO_STAT_* counters are kaio_stats_get()'s), and names no
#    kaio_*() the header lacks;
#  - its environment table has a row for every variable src/ reads
#    (getenv, secure_getenv, env_long), and no row for one it does not;
#  - its "Layout" names every src/*.c file;
#  - kaio_posix.pc.in's description names every backend (io_uring, kernel
#    AIO, the thread pool).
src=${top_srcdir:-.}
readme=$src/README.md
hdr=$src/include/kaio_posix.h
pc=$src/kaio_posix.pc.in
for f in "$readme" "$hdr" "$pc"; do
	[ -f "$f" ] || { echo "FAIL: $f missing"; exit 1; }
done

pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; [ -z "$2" ] || printf '%s\n' "$2" | sed 's/^/    /'; fail=$((fail + 1)); }

# section TITLE-REGEX: README lines from a line matching it to the next
# heading (a "## " line, or a line ending in ":" that starts a paragraph).
section() {
	awk -v re="$1" '
		$0 ~ re { on = 1; print; next }
		on && /^## / { exit }
		on && /^[A-Z][^|`-]*:$/ { exit }
		on && /^[A-Z][^|]*\(.*\):$/ { exit }
		on { print }' "$readme"
}

# --- extensions ------------------------------------------------------------
ext=$(section '^Extensions')
[ -n "$ext" ] || ko "README.md has no Extensions list"
fns=$(sed -n 's/^[a-z].*[ *]\(kaio_[a-z_]*\)(.*/\1/p' "$hdr" | sort -u)
macros=$(sed -n 's/^#define[[:space:]]\{1,\}\([A-Z][A-Z0-9_]*\)[[:space:]].*/\1/p' "$hdr" |
	grep -v '_H$' | sort -u)
missing=''
for n in $fns; do
	printf '%s\n' "$ext" | grep -q "\`$n()\`" || missing="$missing $n()"
done
for n in $macros; do
	printf '%s\n' "$ext" | grep -q "\`$n\`" || missing="$missing $n"
done
[ -z "$missing" ] &&
	ok "Extensions names the header's $(echo $fns | wc -w) functions and $(echo $macros | wc -w) macros" ||
	ko "Extensions in README.md lacks what include/kaio_posix.h declares:$missing"
extra=''
for n in $(printf '%s\n' "$ext" | grep -o '`kaio_[a-z_]*()`' | tr -d '`()' | sort -u); do
	printf '%s\n' "$fns" | grep -qx "$n" || extra="$extra $n()"
done
[ -z "$extra" ] && ok "Extensions names no function the header lacks" ||
	ko "Extensions names functions include/kaio_posix.h does not declare:$extra"

# --- environment -----------------------------------------------------------
env=$(section '^Environment')
rows=$(printf '%s\n' "$env" | sed -n 's/^| `\([A-Z][A-Z0-9_]*\).*/\1/p' | sort -u)
[ -n "$rows" ] || ko "README.md has no environment table"
read=$(cat "$src"/src/*.c "$src"/src/*.h 2>/dev/null |
	grep -o '\(getenv\|secure_getenv\|env_long\)("[A-Z][A-Z0-9_]*"' |
	sed 's/.*("\(.*\)"/\1/' | sort -u)
missing='' extra=''
for v in $read; do
	printf '%s\n' "$rows" | grep -qx "$v" || missing="$missing $v"
done
for v in $rows; do
	printf '%s\n' "$read" | grep -qx "$v" || extra="$extra $v"
done
[ -z "$missing" ] && ok "environment table has all $(echo $read | wc -w) variables src/ reads" ||
	ko "environment table in README.md lacks variables src/ reads:$missing"
[ -z "$extra" ] && ok "environment table has no variable src/ does not read" ||
	ko "environment table in README.md has variables src/ never reads:$extra"

# --- layout ----------------------------------------------------------------
layout=$(section '^## Layout')
missing=''
for f in "$src"/src/*.c; do
	n=${f##*/}
	printf '%s\n' "$layout" | grep -q "\`$n\`" || missing="$missing $n"
done
[ -z "$missing" ] && ok "Layout names every src/*.c" ||
	ko "Layout in README.md does not name:$missing"

# --- pkg-config ------------------------------------------------------------
desc=$(sed -n 's/^Description: //p' "$pc")
case $desc in
*io_uring*"kernel AIO"*"thread pool"*) ok "kaio_posix.pc: $desc" ;;
*) ko "kaio_posix.pc.in's description does not name io_uring, kernel AIO and the thread pool" "$desc" ;;
esac

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
