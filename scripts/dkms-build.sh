#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make dkms`, part of the build stage of `make check`: build the modules
# as DKMS does for a user (dkms.conf), against the pinned headers, in
# private DKMS trees under build/dkms/ (their own source tree and signing
# key: /usr/src, /var/lib/dkms and /lib/modules are not touched), and check
# what DKMS would install: every module the build makes, the test provider
# only when asked for (CONFIG_LAZYMAP_TEST=m).  Two builds: as a user
# installs it, and asking for the test provider.
# usage: scripts/dkms-build.sh KREL KHDR      (logs in build/dkms/)
set -euo pipefail
KREL=${1:?usage: $0 KREL KHDR}
KHDR=${2:?usage: $0 KREL KHDR}
PROJ=$(cd "$(dirname "$0")/.." && pwd)
out=${O:-$PROJ/build}/dkms

command -v dkms >/dev/null || { echo "dkms: not installed: run 'make deps' first" >&2; exit 1; }
conf() { sed -n "s/^$1=\"\\(.*\\)\"\$/\\1/p" "$PROJ/dkms.conf"; }
name=$(conf PACKAGE_NAME)
ver=$(conf PACKAGE_VERSION)

# Fresh trees every time, so a run depends on nothing a previous one left.
rm -rf "$out"
mkdir -p "$out/src/$name-$ver"
# The sources as a clean checkout has them (no build products).
rsync -a --exclude-from="$PROJ/.gitignore" "$PROJ/Kbuild" "$PROJ/dkms.conf" \
	"$PROJ/drivers" "$PROJ/include" "$out/src/$name-$ver/"
export mok_signing_key=$out/mok.key mok_certificate=$out/mok.pub

fail=0
for test in n m; do		# CONFIG_LAZYMAP_TEST
	tree=$out/tree-test-$test
	log=$out/dkms-test-$test.log
	opts=(--sourcetree "$out/src" --dkmstree "$tree" --kernelsourcedir "$KHDR")
	mkdir -p "$tree"
	if ! { dkms add "$name/$ver" "${opts[@]}" &&
	       CONFIG_LAZYMAP_TEST=$test dkms build "$name/$ver" -k "$KREL" "${opts[@]}"
	     } > "$log" 2>&1; then
		tail -n 30 "$log"
		find "$tree" -name make.log -exec tail -n 30 {} + 2>/dev/null
		echo "dkms: build FAILED, log: $log" >&2
		fail=1
		continue
	fi
	# What the build linked (DKMS cleans its build directory, not its
	# log), and what DKMS would install (its module directory).
	built=$(sed -n 's|^ *LD \[M\] .*/\([^/]*\)\.ko$|\1|p' \
		"$tree/$name/$ver/$KREL"/*/log/make.log | sort)
	inst=$(find "$tree/$name/$ver/$KREL" -path '*/module/*.ko*' -printf '%f\n' |
	       sed 's/\.ko.*$//' | sort)
	if [ -z "$built" ] || [ "$built" != "$inst" ]; then
		echo "dkms: dkms.conf does not install what the build makes" \
		     "(CONFIG_LAZYMAP_TEST=$test):" >&2
		diff <(echo "$built") <(echo "$inst") >&2
		fail=1
	fi
	if grep -qx lazymap_test <<<"$built"; then has=m; else has=n; fi
	if [ $has != $test ]; then
		echo "dkms: CONFIG_LAZYMAP_TEST=$test, but the test provider was" \
		     "$([ $has = m ] || echo "not ")built" >&2
		fail=1
	fi
	echo "dkms: CONFIG_LAZYMAP_TEST=$test: $name/$ver for $KREL installs" $inst
done
[ $fail -eq 0 ] || { echo "dkms: FAILED, logs: $out/" >&2; exit 1; }
