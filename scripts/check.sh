#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check`: every stage, each continuing past an earlier stage's
# failure; prints one "N passed, N failed, N skipped" line summing them and
# exits non-zero on any failure or splat.
#
# scripts-test and build run first, one after the other.  Then two tracks
# run side by side: the debug kernel's stage (two TCG vCPUs, which keep
# about 1.3 of the machine's 2 cores busy) alone, and the UML stages and
# the stock-kernel QEMU stage (about one core) one after another.  Each
# stage's output is printed whole when it ends.  CHECK_SERIAL=1 runs every
# stage one after the other instead.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
MAKE=${MAKE:-make}
export O=${O:-$PWD/build}
JOBS=${JOBS:-$(nproc)}
LOGS=$O/check
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log

first=(scripts-test build)
track_a=(kunit selftests-uml selftests-qemu)
track_b=(selftests-qemu-debug)

run_stage() {	# run_stage <stage>: run it, then print its output whole
	local s=$1 start
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
	esac > "$LOGS/$s.log" 2>&1
	echo "=== $s done in $(( $(date +%s) - start ))s" >> "$LOGS/$s.log"
	{
		flock 9
		echo "=== $s"
		cat "$LOGS/$s.log"
	} 9> "$LOGS/.print.lock"
}

start=$(date +%s)
for s in "${first[@]}"; do
	run_stage "$s"
done
if [ "${CHECK_SERIAL:-0}" = 1 ]; then
	for s in "${track_a[@]}" "${track_b[@]}"; do
		run_stage "$s"
	done
else
	# What both tracks use is built here, not by both at once (it is
	# already there unless the build stage failed).
	$MAKE --no-print-directory selftests-bin > "$LOGS/prepare.log" 2>&1
	echo "=== side by side: ${track_a[*]} | ${track_b[*]}"
	( for s in "${track_a[@]}"; do run_stage "$s"; done ) &
	a=$!
	( for s in "${track_b[@]}"; do run_stage "$s"; done ) &
	b=$!
	wait $a $b
fi

P=0 F=0 S=0
for s in "${first[@]}" "${track_a[@]}" "${track_b[@]}"; do
	if [ -f "$O/$s/result" ]; then
		read -r p f k < "$O/$s/result"
	else
		echo "$s: no result (the stage failed before its tests ran)" >&2
		p=0 f=1 k=0
	fi
	P=$((P + p)) F=$((F + f)) S=$((S + k))
done
echo "=== make check done in $(( $(date +%s) - start ))s"
echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
