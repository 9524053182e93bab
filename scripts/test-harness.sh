#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Tests of the harness itself: the result parser and the splat scanner
# must count and catch what the stages rely on them for.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export O=${O:-$PWD/build}
. "$HERE/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

check() {	# check <name> <expected> <actual>
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "not ok $1: expected '$2', got '$3'" >&2
	fi
}

printf '%s\r\n' 'LAZYMAP-BEGIN a' 'ok 1 a.x' 'ok 2 a.y # SKIP' \
	'# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0' \
	'LAZYMAP-END a rc=0' > "$T/good"
check "totals, CRLF console" "1 0 1" "$(tap_count "$T/good" 2>/dev/null)"

cat "$T/good" - > "$T/crash" <<'EOF2'
LAZYMAP-BEGIN b
ok 1 b.x
EOF2
check "program never ends" "1 1 1" "$(tap_count "$T/crash" 2>/dev/null)"

cat > "$T/rc" <<'EOF2'
LAZYMAP-BEGIN c
# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0
LAZYMAP-END c rc=139
EOF2
check "non-zero exit without failed case" "2 1 0" "$(tap_count "$T/rc" 2>/dev/null)"

cat > "$T/fails" <<'EOF2'
LAZYMAP-BEGIN d
# Totals: pass:2 fail:3 xfail:0 xpass:0 skip:0 error:1
LAZYMAP-END d rc=1
LAZYMAP-BEGIN e
LAZYMAP-END e rc=0
EOF2
check "failed and errored cases, no totals" "2 5 0" "$(tap_count "$T/fails" 2>/dev/null)"

check "no kmemleak report" 0 "$(kmemleak_count "$T/good")"
printf '%s\r\n' 'unreferenced object 0xffff888003e6c000 (size 64):' \
	'  comm "init", pid 1, jiffies 4294892296' \
	'unreferenced object 0xffff888003e6d000 (size 32):' \
	'kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)' > "$T/leaks"
check "kmemleak reports, CRLF console" 2 "$(kmemleak_count "$T/leaks")"

"$HERE/splat-scan.sh" "$T/good" >/dev/null 2>&1
check "clean log passes the scan" 0 $?
while read -r line; do
	printf 'ok 1 x\n%s\n' "$line" > "$T/splat"
	"$HERE/splat-scan.sh" "$T/splat" >/dev/null 2>&1
	check "scan catches: $line" 1 $?
done <<'EOF2'
WARNING: possible circular locking dependency detected
WARNING: CPU: 0 PID: 1 at drivers/virt/lazymap/core.c:10 foo+0x1/0x2
BUG: KASAN: slab-use-after-free in lazymap_vm_close+0x10/0x20
BUG: sleeping function called from invalid context at kernel/locking/mutex.c:283
kernel BUG at mm/memory.c:1234!
WARNING: suspicious RCU usage
ODEBUG: free active (active state 0) object: 000000 object type: timer_list
unreferenced object 0xffff888003e6c000 (size 64):
UBSAN: shift-out-of-bounds in drivers/virt/lazymap/vma.c:40:10
INFO: task init:1 blocked for more than 120 seconds.
Kernel panic - not syncing: Attempted to kill init!
EOF2

result scripts-test "$pass" "$fail" 0
[ "$fail" -eq 0 ]
