#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Lint every man page: mandoc -T lint (warnings and worse fail; style notes
# are shown but pass) and, when groff is there too, groff -ww -z -man (any
# message fails).  Every page must read in place: no ".so" link (man -l
# cannot resolve one outside an installed manual), the alias pages must be
# up-to-date copies (man/gen-aliases.sh --check), and where man-db is
# installed, "man -l" renders each page, from another directory, with no
# message.  Exits 77 (skip) if neither linter is installed.
src=${top_srcdir:-.}/man
have_mandoc='' have_groff=''
command -v mandoc >/dev/null 2>&1 && have_mandoc=1
command -v groff >/dev/null 2>&1 && have_groff=1
if [ -z "$have_mandoc" ] && [ -z "$have_groff" ]; then
	echo "SKIP: check-man: neither mandoc nor groff is installed (apt-get install mandoc)"
	exit 77
fi
[ -n "$have_mandoc" ] || echo "NOTE: mandoc not installed: groff only"
have_man=''
if man --version >/dev/null 2>&1; then
	have_man=1
else
	echo "NOTE: man-db not installed: pages not rendered with man -l"
fi

pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; [ -z "$2" ] || printf '%s\n' "$2" | sed 's/^/    /'; fail=$((fail + 1)); }

npages=0
for page in "$src"/*.[1-8]; do
	[ -f "$page" ] || continue
	npages=$((npages + 1))
	name=${page##*/}
	sect=${name##*.}

	# A .so link reads only when installed: an alias is a copy instead.
	if grep -q '^\.so ' "$page"; then
		ko "$name: a .so link cannot be read with man -l in place; list it in man/gen-aliases.sh"
		continue
	fi

	# The header every page carries.
	if grep -Eq '^\.TH [A-Za-z0-9_-]+ '"$sect"' [0-9]{4}-[0-9]{2}-[0-9]{2} "libkaio_posix-0\.1" "libkaio_posix Manual"$' "$page"; then
		ok "$name: .TH header"
	else
		ko "$name: .TH header" "$(grep '^\.TH' "$page")"
	fi

	if [ -n "$have_mandoc" ]; then
		out=$(mandoc -T lint -W warning "$page" 2>&1)
		if [ -z "$out" ]; then
			ok "$name: mandoc -T lint"
		else
			ko "$name: mandoc -T lint" "$out"
		fi
		style=$(mandoc -T lint -W style "$page" 2>&1 | grep 'STYLE:')
		[ -z "$style" ] || printf '%s\n' "$style" | sed 's/^/    note: /'
	fi
	if [ -n "$have_groff" ]; then
		out=$(LC_ALL=C.UTF-8 groff -ww -z -t -man "$page" 2>&1)
		if [ -z "$out" ]; then
			ok "$name: groff -ww"
		else
			ko "$name: groff -ww" "$out"
		fi
	fi
	if [ -n "$have_man" ]; then
		abs=$(cd "$(dirname "$page")" && pwd)/$name
		out=$(cd / && LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -P cat -l "$abs" 2>&1 >/dev/null)
		lines=$(cd / && LC_ALL=C.UTF-8 MANWIDTH=80 man -P cat -l "$abs" 2>/dev/null | wc -l)
		if [ -z "$out" ] && [ "$lines" -gt 5 ]; then
			ok "$name: man -l renders it in place ($lines lines)"
		else
			ko "$name: man -l in place: $lines lines" "$out"
		fi
	fi
done
out=$(sh "$src/gen-aliases.sh" --check "$src" 2>&1) &&
	ok "alias pages are copies of their targets" ||
	ko "alias pages out of date" "$out"
[ "$npages" -gt 0 ] || ko "no pages found in $src"

# Every function <kaio_posix.h> declares has a section 3 page (or link).
hdr=${top_srcdir:-.}/include/kaio_posix.h
if [ -f "$hdr" ]; then
	for fn in $(sed -n 's/^[a-z].*[ *]\(kaio_[a-z_]*\)(.*/\1/p' "$hdr"); do
		if [ -f "$src/$fn.3" ]; then
			ok "$fn: has a page"
		else
			ko "$fn: declared in kaio_posix.h but has no page $fn.3"
		fi
	done
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
