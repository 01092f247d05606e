#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every apt-get the project's scripts run waits for the package manager's
# lock instead of failing when another apt-get holds it (a shared build
# machine): each call carries -o DPkg::Lock::Timeout=N.  Scans the shell
# scripts of the source tree (by name or #! line) and the sh code blocks of
# the README files; a call is "apt-get" in a line once quoted strings and
# comments are removed, so messages that only name apt-get do not count.
src=${top_srcdir:-.}

# Shell scripts and README files, outside build trees.
files=$(find "$src" \( -name .git -o -name autom4te.cache -o -name 'build*' \) \
	-prune -o -type f \( -name '*.md' -o -name '*.sh' -o -name rules -o \
	-perm -u+x \) -print | sort)

pass=0 fail=0 calls=0
bad=''
for f in $files; do
	case $f in
	*.md)
		# fenced code blocks only
		code=$(awk '/^```/ { inblk = !inblk; next } inblk { print FNR ":" $0 }' "$f") ;;
	*.sh|*/rules)
		code=$(grep -n '' "$f") ;;
	*)
		head -c 2 "$f" 2>/dev/null | grep -q '^#!' || continue
		head -n 1 "$f" | grep -Eq '^#!.*(sh|bash)( |$)' || continue
		code=$(grep -n '' "$f") ;;
	esac
	hits=$(printf '%s\n' "$code" | grep 'apt-get' | while IFS= read -r line; do
		# drop quoted strings, then comments
		stripped=$(printf '%s\n' "${line#*:}" |
			sed -e "s/\"[^\"]*\"//g" -e "s/'[^']*'//g" -e 's/\(^\|[[:space:]]\)#.*//')
		printf '%s\n' "$stripped" | grep -Eq '(^|[^A-Za-z0-9_./-])apt-get([[:space:]]|$)' ||
			continue
		case $stripped in
		*'command -v apt-get'*) continue ;;
		esac
		echo "$line"
	done)
	[ -n "$hits" ] || continue
	n=$(printf '%s\n' "$hits" | wc -l)
	calls=$((calls + n))
	missing=$(printf '%s\n' "$hits" | grep -v 'apt-get[[:space:]].*-o DPkg::Lock::Timeout=[0-9]')
	if [ -z "$missing" ]; then
		echo "PASS: ${f#"$src"/}: $n apt-get call(s) wait for the lock"
		pass=$((pass + 1))
	else
		echo "FAIL: ${f#"$src"/}: apt-get without -o DPkg::Lock::Timeout=N:"
		printf '%s\n' "$missing" | sed 's/^/    line /'
		fail=$((fail + 1))
	fi
done
if [ "$calls" -eq 0 ]; then
	echo "SKIP: no apt-get call under $src (a release tarball has no CI scripts)"
	exit 77
fi
echo "$pass passed, $fail failed ($calls apt-get calls)"
[ "$fail" -eq 0 ]
