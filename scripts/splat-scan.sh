#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fail on kernel splats that do not fail a test by themselves: lockdep,
# might_sleep, WARN_ON, RCU, debugobjects, KASAN, kmemleak, hung tasks,
# the OOM killer (named, so a log shows why a program got SIGKILL).
# usage: scripts/splat-scan.sh LOG    (exit 1 and print the lines if found)
set -uo pipefail
LOG=${1:?usage: $0 LOG}
PAT='WARNING:|BUG:|Oops|Kernel panic|kernel BUG at|suspicious RCU usage|DEBUG_LOCKS_WARN_ON|ODEBUG:|possible circular locking|possible recursive locking|inconsistent lock state|lock held when returning|unreferenced object|UBSAN:|blocked for more than|general protection fault|Call Trace:|Huh VM_FAULT_OOM leaked out|: bad p[gum4]d |invoked oom-killer|[Oo]ut of memory: Killed process'
if grep -nE "$PAT" "$LOG" | head -n 40; then
	echo "splat-scan: kernel splat(s) in $LOG" >&2
	exit 1
fi
exit 0
