#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Stage 2: boot the debug UML kernel (lazymap built in, KUnit disabled at
# boot) with an initramfs that runs the named selftest programs.
# usage: scripts/run-uml.sh TEST...      (logs in build/selftests-uml/)
#        scripts/run-uml.sh --demo       (`make demo UML=1`, build/demo-uml/)
set -uo pipefail
. "$(dirname "$0")/lib.sh"

stage=selftests-uml
[ "${1:-}" = --demo ] && stage=demo-uml
out=$O/$stage
root=$out/root
rm -rf "$out" && mkdir -p "$root/lazymap/bin" "$UMLDIR"
if [ $stage = demo-uml ]; then
	# `make demo UML=1`: the demo over a lazymap-mdev device, no PCI.
	cp "$(dirname "$0")/../samples/lazymap/demo.sh" "$root/lazymap/bin/demo"
	cp "$O"/samples/bin/* "$root/lazymap/bin/"
	echo demo > "$root/lazymap/run"
	set --
fi
for t in "$@"; do
	cp "$O/selftests/bin/$t" "$root/lazymap/bin/"
	echo "$t" >> "$root/lazymap/run"
done
touch "$root/lazymap/run"
"$(dirname "$0")/mkinitramfs.sh" "$out/initramfs.cpio.gz" "$root" || exit 1

# UML backs guest memory with a file in $TMPDIR; the console goes through
# cat so UML does not put the terminal in raw mode.
timeout -k 10 ${UML_TIMEOUT:-900} "$UMLBUILD/linux" mem=${UML_MEM:-1024M} \
	kunit.enable=0 uml_dir="$UMLDIR" initrd="$out/initramfs.cpio.gz" \
	console=tty0 con=null con0=fd:0,fd:1 </dev/null 2>&1 | cat > "$out/console.log"
rc=${PIPESTATUS[0]}
if [ $stage = demo-uml ]; then
	"$(dirname "$0")/splat-scan.sh" "$out/console.log" || { echo "$stage: kernel splat, log: $out/console.log" >&2; exit 1; }
	demo_report "$out/console.log"
	exit $?
fi

read -r pass fail skip < <(tap_count "$out/console.log")
grep -q LAZYMAP-DONE "$out/console.log" || { echo "$stage: no LAZYMAP-DONE (exit $rc)" >&2; fail=$((fail + 1)); }
"$(dirname "$0")/splat-scan.sh" "$out/console.log" || fail=$((fail + 1))
grep -E '^(not ok|ok) .*' "$out/console.log" | grep -vE '^ok ' | head -n 40
times=$(prog_times "$out/console.log")
[ -z "$times" ] || echo "$stage: time by program: $times"
result $stage "$pass" "$fail" "$skip"
if [ "$fail" -ne 0 ] || [ $# -gt 0 -a "$pass" -eq 0 ]; then
	echo "$stage: FAILED, log: $out/console.log" >&2
	exit 1
fi
