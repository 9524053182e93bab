#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check`: every stage, in order, each continuing past an earlier
# stage's failure; prints one "N passed, N failed, N skipped" line summing
# them and exits non-zero on any failure or splat.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
MAKE=${MAKE:-make}
export O=${O:-$PWD/build}

stages=(scripts-test build kunit selftests-uml selftests-qemu selftests-qemu-debug)
P=0 F=0 S=0
for s in "${stages[@]}"; do
	echo "=== $s"
	start=$(date +%s)
	rm -f "$O/$s/result"
	case $s in
	build)	# modules (W=1), every selftest program and sample, sparse,
		# kernel-doc and checkpatch (make lint), the DKMS build (make
		# dkms): any warning fails
		mkdir -p "$O/build"
		if $MAKE --no-print-directory modules selftests-bin samples lint dkms \
			> "$O/build/build.log" 2>&1 &&
		   ! grep -E 'warning:' "$O/build/build.log"; then
			result build 1 0 0
		else
			tail -n 30 "$O/build/build.log"
			echo "build: FAILED, log: $O/build/build.log" >&2
			result build 0 1 0
		fi ;;
	*)	$MAKE --no-print-directory "$s" ;;
	esac
	if [ -f "$O/$s/result" ]; then
		read -r p f k < "$O/$s/result"
	else
		echo "$s: no result (the stage failed before its tests ran)" >&2
		p=0 f=1 k=0
	fi
	P=$((P + p)) F=$((F + f)) S=$((S + k))
	echo "=== $s done in $(( $(date +%s) - start ))s"
done
echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
