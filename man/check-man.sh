#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Lint every man page: mandoc -T lint (warnings and worse fail; style notes
# are shown but pass) and, when groff is there too, groff -ww -z -man (any
# message fails).  A page that is only a ".so" link must name a page that
# exists.  Exits 77 (skip) if neither linter is installed.
src=${top_srcdir:-.}/man
have_mandoc='' have_groff=''
command -v mandoc >/dev/null 2>&1 && have_mandoc=1
command -v groff >/dev/null 2>&1 && have_groff=1
if [ -z "$have_mandoc" ] && [ -z "$have_groff" ]; then
	echo "SKIP: check-man: neither mandoc nor groff is installed (apt-get install mandoc)"
	exit 77
fi
[ -n "$have_mandoc" ] || echo "NOTE: mandoc not installed: groff only"

pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; [ -z "$2" ] || printf '%s\n' "$2" | sed 's/^/    /'; fail=$((fail + 1)); }

npages=0
for page in "$src"/*.[1-8]; do
	[ -f "$page" ] || continue
	npages=$((npages + 1))
	name=${page##*/}
	sect=${name##*.}

	# A .so link: one line naming manN/target.N, which must exist here.
	if head -n 1 "$page" | grep -q '^\.so '; then
		target=$(sed -n '1s/^\.so  *//p' "$page")
		if [ "$(grep -cv '^[.][\\]' "$page")" -eq 1 ] &&
		   [ -f "$src/${target##*/}" ]; then
			ok "$name: .so link to $target"
		else
			ko "$name: .so link to missing page $target"
		fi
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
done
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
