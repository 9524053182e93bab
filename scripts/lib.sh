# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the stage scripts.  Sourced, not run.

# result <stage> <passed> <failed> <skipped>: record and print a stage result.
result() {
	mkdir -p "$O/$1"
	echo "$2 $3 $4" > "$O/$1/result"
	echo "$1: $2 passed, $3 failed, $4 skipped"
}

# tap_count <log>: sum the kselftest "# Totals:" lines of every program run
# between LAZYMAP-BEGIN/END markers; a program that exits non-zero without
# a failed case, or never reaches its END marker, counts as one failure.
tap_count() {
	awk '
	{ sub(/\r$/, "") }
	/LAZYMAP-BEGIN / { name = $2; seen[name] = 1; tot[name] = 0 }
	/^# Totals: / && name != "" {
		for (i = 1; i <= NF; i++) {
			split($i, kv, ":")
			if (kv[1] == "pass") p += kv[2]
			if (kv[1] == "fail" || kv[1] == "error" || kv[1] == "xpass") { f += kv[2]; nf[name] += kv[2] }
			if (kv[1] == "skip") s += kv[2]
		}
		tot[name] = 1
	}
	/LAZYMAP-END / {
		split($3, rc, "=")
		if (rc[2] + 0 != 0 && nf[$2] == 0) {
			f++
			why = rc[2] > 128 ? sprintf(" (killed by signal %d)", rc[2] - 128) : ""
			printf "%s: exit status %s%s\n", $2, rc[2], why > "/dev/stderr"
		}
		if (!tot[$2] && rc[2] + 0 == 0) { f++; printf "%s: no totals\n", $2 > "/dev/stderr" }
		ended[$2] = 1; name = ""
	}
	END {
		for (n in seen) if (!ended[n]) { f++; printf "%s: did not finish\n", n > "/dev/stderr" }
		printf "%d %d %d\n", p, f, s
	}' "$1"
}

# prog_times <log>: the programs of a run, slowest first, as
# "name 12.3s" on one line (the secs= of their END markers).
prog_times() {
	sed -n 's/\r$//; s/^LAZYMAP-END \([^ ]*\) rc=[0-9-]* secs=\([0-9.]*\)$/\2 \1/p' "$1" |
		sort -rn | awk '{ printf "%s%s %ss", (NR > 1 ? ", " : ""), $2, $1 } END { if (NR) print "" }'
}

# kunit_count <json> <rc> <ktap>: "passed failed skipped" of a KUnit run
# from the JSON kunit.py wrote (--json), its exit status and the KTAP it
# parsed (the kernel log); the cases that did not pass or skip go to
# stderr.  Every leaf of the JSON (a case, or a parameter of a
# parameterized case) is one test: PASS, SKIP, or a failure (FAIL, ERROR:
# crashed or missing).  What has no failed case in the JSON counts as one
# failure: a non-zero exit of kunit.py (e.g. results the KTAP promised and
# lacks), a "not ok" in the KTAP (a suite that failed as a whole), and a
# missing or unreadable JSON file.
kunit_count() {
	python3 - "$1" "$2" "$3" <<'EOF2'
import json, re, sys

path, rc, ktap = sys.argv[1], int(sys.argv[2]), sys.argv[3]
counts = {"pass": 0, "fail": 0, "skip": 0}

def walk(group, prefix):
    for case in group.get("test_cases", []):
        name = prefix + (case.get("name") or "<unnamed>")
        status = case.get("status")
        if status == "PASS":
            counts["pass"] += 1
        elif status == "SKIP":
            counts["skip"] += 1
        else:
            counts["fail"] += 1
            print(f"not ok {name} ({status})", file=sys.stderr)
    for sub in group.get("sub_groups", []):
        walk(sub, prefix + sub.get("name", "<unnamed>") + ".")

try:
    with open(path) as f:
        root = json.load(f)
    walk(root, "")
except (OSError, ValueError, AttributeError) as e:
    print(f"kunit: no results: {e}", file=sys.stderr)
    counts["fail"] += 1
else:
    if rc != 0 and counts["fail"] == 0:
        print(f"kunit: kunit.py exited {rc} with no failed case",
              file=sys.stderr)
        counts["fail"] += 1
    try:
        with open(ktap, errors="replace") as f:
            notok = sum(bool(re.match(r"(\[[^]]*\] )?\s*not ok ", line))
                        for line in f)
    except OSError as e:
        print(f"kunit: no KTAP: {e}", file=sys.stderr)
        notok = 1
    if notok and counts["fail"] == 0:
        print(f"kunit: {notok} \"not ok\" in the KTAP, no failed case",
              file=sys.stderr)
        counts["fail"] += 1
print(counts["pass"], counts["fail"], counts["skip"])
EOF2
}

# kmemleak_count <log>: the reports of the kmemleak scan /init prints at
# the end of a run (0 without kmemleak).
kmemleak_count() {
	sed 's/\r$//' "$1" | grep -c '^unreferenced object 0x'
}

# demo_report <console log>: print the demo's output (and with V=1 the
# kernel log after it); fail unless it ended with rc=0.
demo_report() {
	sed -n '/LAZYMAP-BEGIN demo/,/LAZYMAP-END demo/p' "$1" | sed '1d;$d'
	if [ "${V:-0}" = 1 ]; then
		echo "== kernel log"
		sed -n '/LAZYMAP-DMESG-BEGIN/,/LAZYMAP-DMESG-END/p' "$1" | sed '1d;$d'
	fi
	grep -q 'LAZYMAP-END demo rc=0' "$1" || { echo "demo: FAILED, log: $1" >&2; return 1; }
}
