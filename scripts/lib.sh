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
		if (rc[2] + 0 != 0 && nf[$2] == 0) { f++; printf "%s: exit status %s\n", $2, rc[2] > "/dev/stderr" }
		if (!tot[$2] && rc[2] + 0 == 0) { f++; printf "%s: no totals\n", $2 > "/dev/stderr" }
		ended[$2] = 1; name = ""
	}
	END {
		for (n in seen) if (!ended[n]) { f++; printf "%s: did not finish\n", n > "/dev/stderr" }
		printf "%d %d %d\n", p, f, s
	}' "$1"
}

# kmemleak_count <log>: the reports of the kmemleak scan /init prints at
# the end of a run (0 without kmemleak).
kmemleak_count() {
	sed 's/\r$//' "$1" | grep -c '^unreferenced object 0x'
}
