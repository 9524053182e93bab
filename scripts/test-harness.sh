#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Tests of the harness itself: the result parsers (kselftest TAP, KUnit
# JSON) and the splat scanner must count and catch what the stages rely on
# them for.
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
check "exit status of a signal named" "c: exit status 139 (killed by signal 11)" \
	"$(tap_count "$T/rc" 2>&1 >/dev/null)"

cat > "$T/fails" <<'EOF2'
LAZYMAP-BEGIN d
# Totals: pass:2 fail:3 xfail:0 xpass:0 skip:0 error:1
LAZYMAP-END d rc=1
LAZYMAP-BEGIN e
LAZYMAP-END e rc=0
EOF2
check "failed and errored cases, no totals" "2 5 0" "$(tap_count "$T/fails" 2>/dev/null)"

# END markers with the seconds a program took, as the init writes them.
printf '%s\r\n' 'LAZYMAP-BEGIN f' '# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0' \
	'LAZYMAP-END f rc=0 secs=2.5' 'LAZYMAP-BEGIN g' \
	'# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0' \
	'LAZYMAP-END g rc=1 secs=10.0' > "$T/secs"
check "END markers with secs=" "1 1 0" "$(tap_count "$T/secs" 2>/dev/null)"
check "time by program, slowest first" "g 10.0s, f 2.5s" "$(prog_times "$T/secs")"
check "time by program, no secs=" "" "$(prog_times "$T/good")"

# The KUnit counter on the JSON kunit.py writes: leaves are tests
# (parameters of a parameterized case included), at any depth.
printf '%s\n' 'KTAP version 1' '1..1' 'ok 1 s' > "$T/k.ktap"
cat > "$T/k.json" <<'EOF2'
{"name": "KUnit Test Group", "test_cases": [], "sub_groups": [
 {"name": "s1", "test_cases": [{"name": "a", "status": "PASS"},
  {"name": "b", "status": "SKIP"}, {"name": "c", "status": "FAIL"}],
  "sub_groups": [{"name": "p", "sub_groups": [], "test_cases": [
   {"name": "p0", "status": "PASS"}, {"name": "p1", "status": "ERROR"},
   {"name": "p2", "status": "SKIP"}]}]},
 {"name": "s2", "sub_groups": [], "test_cases": [{"name": "d", "status": "PASS"}]}]}
EOF2
check "kunit: JSON, failed, crashed and parameterized cases" "3 2 2" \
	"$(kunit_count "$T/k.json" 1 "$T/k.ktap" 2>/dev/null)"
check "kunit: failed cases are named" "not ok s1.c (FAIL)|not ok s1.p.p1 (ERROR)" \
	"$(kunit_count "$T/k.json" 1 "$T/k.ktap" 2>&1 >/dev/null | paste -sd'|')"
echo '{"name": "KUnit Test Group", "test_cases": [], "sub_groups": [{"name": "s", "sub_groups": [], "test_cases": [{"name": "a", "status": "PASS"}]}]}' > "$T/k1.json"
check "kunit: all passed, exit 0" "1 0 0" "$(kunit_count "$T/k1.json" 0 "$T/k.ktap" 2>/dev/null)"
check "kunit: non-zero exit without a failed case" "1 1 0" \
	"$(kunit_count "$T/k1.json" 1 "$T/k.ktap" 2>/dev/null)"
check "kunit: no JSON" "0 1 0" "$(kunit_count "$T/none.json" 0 "$T/k.ktap" 2>/dev/null)"
head -c 40 "$T/k1.json" > "$T/k2.json"
check "kunit: truncated JSON" "0 1 0" "$(kunit_count "$T/k2.json" 0 "$T/k.ktap" 2>/dev/null)"
printf '%s\n' 'KTAP version 1' '1..1' '    ok 1 a' 'not ok 1 s' > "$T/k3.ktap"
check "kunit: a \"not ok\" in the KTAP the JSON lacks" "1 1 0" \
	"$(kunit_count "$T/k1.json" 0 "$T/k3.ktap" 2>/dev/null)"

# The same through kunit.py itself: KTAP as the kernel prints it, parsed
# by the pinned release's kunit.py into JSON, counted.
kunit_ktap() {	# kunit_ktap <name> <expected> <ktap file>
	local rc
	python3 "$KSRC/tools/testing/kunit/kunit.py" parse \
		--json="$T/ktap.json" "$3" >/dev/null 2>&1
	rc=$?
	check "kunit.py: $1" "$2" "$(kunit_count "$T/ktap.json" $rc "$3" 2>/dev/null)"
}
if [ -f "${KSRC:-}/tools/testing/kunit/kunit.py" ]; then
	cat > "$T/ok.ktap" <<'EOF2'
[    0.100000] KTAP version 1
[    0.100000] 1..2
[    0.100000]     KTAP version 1
[    0.100000]     # Subtest: suite_a
[    0.100000]     1..3
[    0.100000]     ok 1 case_pass
[    0.100000]         KTAP version 1
[    0.100000]         # Subtest: case_param
[    0.100000]         ok 1 param-0
[    0.100000]         ok 2 param-1 # SKIP not here
[    0.100000]     # case_param: pass:1 fail:0 skip:1 total:2
[    0.100000]     ok 2 case_param
[    0.100000]     ok 3 case_skip # SKIP reason
[    0.100000] # suite_a: pass:2 fail:0 skip:1 total:3
[    0.100000] ok 1 suite_a
[    0.100000]     KTAP version 1
[    0.100000]     # Subtest: suite_b
[    0.100000]     1..1
[    0.100000]     ok 1 case_ok
[    0.100000] ok 2 suite_b
EOF2
	kunit_ktap "all passed or skipped" "3 0 2" "$T/ok.ktap"
	sed 's/    ok 1 case_ok/    not ok 1 case_ok/; s/^\(\[[^]]*\]\) ok 2 suite_b/\1 not ok 2 suite_b/' \
		"$T/ok.ktap" > "$T/fail.ktap"
	kunit_ktap "one case failed" "2 1 2" "$T/fail.ktap"
	# The kernel died in suite_a: its last case and suite_b never came.
	head -n 12 "$T/ok.ktap" > "$T/trunc.ktap"
	kunit_ktap "results missing" "2 2 1" "$T/trunc.ktap"
	# A suite that fails as a whole, all its cases passed.
	sed 's/^\(\[[^]]*\]\) ok 2 suite_b/\1 not ok 2 suite_b/' \
		"$T/ok.ktap" > "$T/suite.ktap"
	kunit_ktap "suite failed, its cases passed" "3 1 2" "$T/suite.ktap"
	: > "$T/empty.ktap"
	kunit_ktap "no KTAP at all" "0 1 0" "$T/empty.ktap"
else
	echo "not ok kunit.py: no kernel source in KSRC (run: make scripts-test)" >&2
	fail=$((fail + 1))
fi
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
Huh VM_FAULT_OOM leaked out to the #PF handler. Retrying PF
lazymap_fuzz invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0
Out of memory: Killed process 97 (lazymap_fuzz) total-vm:1120kB, anon-rss:4kB, file-rss:0kB
Memory cgroup out of memory: Killed process 98 (vm_access) total-vm:1120kB, anon-rss:4kB, file-rss:0kB
mm/mremap.c:41: bad pud 00000000a1b2c3d4(8000000fe0000ee7)
Kernel panic - not syncing: Attempted to kill init!
EOF2

result scripts-test "$pass" "$fail" 0
[ "$fail" -eq 0 ]
