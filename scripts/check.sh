#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check`: every stage, in order, each continuing past an earlier
# stage's failure; prints one "N passed, N failed, N skipped" line summing
# them and exits non-zero on any failure or splat.
#
# One stage at a time: the stages are CPU bound (TCG, UML), and run side by
# side on 2 cores the whole took no less (868 s; the same stages in order
# about 860 s), UML and the stress tests slowed 2-3 times each.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
MAKE=${MAKE:-make}
export O=${O:-$PWD/build}
JOBS=${JOBS:-$(nproc)}

stages=(scripts-test build kunit selftests-uml selftests-qemu selftests-qemu-debug)
P=0 F=0 S=0
begin=$(date +%s)
for s in "${stages[@]}"; do
	echo "=== $s"
	start=$(date +%s)
	rm -f "$O/$s/result"
	case $s in
	build)	# the modules (W=1) with sparse, kernel-doc and checkpatch
		# (make lint), every selftest program and sample, the DKMS
		# builds (make dkms), side by side: any warning fails
		mkdir -p "$O/build"
		if $MAKE --no-print-directory -j"$JOBS" --output-sync=target \
			lint selftests-bin samples dkms \
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
echo "=== make check done in $(( $(date +%s) - begin ))s"
echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
