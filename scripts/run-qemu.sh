#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Stage 3 (and `make demo` / `make bench`): boot the stock Debian kernel of
# the pinned release under QEMU/TCG (q35 + emulated intel-iommu, ivshmem-plain
# with a 1 GiB BAR2, edu) with the stock VFIO modules and lazymap's modules
# loaded, and run programs from an initramfs.
# Stage 4 (`debug`): the same with the debug kernel built from the pinned
# source (make debug-kernel), its own VFIO modules and lazymap's modules
# built against it, given by the environment:
#   QEMU_KERNEL      kernel image (default: the stock vmlinuz)
#   QEMU_MODROOT     root of lib/modules/<release> (default: the stock image)
#   QEMU_KREL        that release (default: $KREL)
#   QEMU_LAZYMAP_KO  directory holding drivers/**/lazymap*.ko (default: here)
#   QEMU_APPEND      extra kernel command line (e.g. oops=panic)
#   QEMU_MEM, QEMU_TIMEOUT   guest memory, seconds before QEMU is stopped
# usage: scripts/run-qemu.sh tests|debug|fuzz|bench TEST...  |  scripts/run-qemu.sh demo
# (fuzz: as debug, for `make fuzz`.)
# Logs in build/selftests-qemu/ (tests), build/selftests-qemu-debug/ (debug),
# build/fuzz/, build/demo/, build/bench/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
PROJ=$(cd "$HERE/.." && pwd)

mode=${1:?usage: $0 tests|bench|demo [TEST...]}
shift
case $mode in
tests) stage=selftests-qemu ;;
debug) stage=selftests-qemu-debug ;;
*) stage=$mode ;;
esac
out=$O/$stage
root=$out/root
rm -rf "$root" "$out/result" "$out"/console-boot*.log && mkdir -p "$root/lazymap/bin" "$root/lazymap/modules"

KERNEL=${QEMU_KERNEL:-$IMG/boot/vmlinuz-$KREL}
MODROOT=${QEMU_MODROOT:-$IMG}
MODREL=${QEMU_KREL:-$KREL}
LAZYMAP_KO=${QEMU_LAZYMAP_KO:-$PROJ}

# The kernel's modules the tests need, with their dependencies,
# decompressed for busybox insmod, in load order.
: > "$root/lazymap/setup"
for m in $(for x in vfio-pci vfio_iommu_type1 mdev; do
		modprobe -d "$MODROOT" -S "$MODREL" --show-depends "$x" | awk '/^insmod/ { print $2 }'
	   done | awk '!seen[$0]++'); do
	b=$(basename "$m" .xz)
	case $m in
	*.xz) xz -dc "$m" > "$root/lazymap/modules/$b" ;;
	*) cp "$m" "$root/lazymap/modules/$b" ;;
	esac
	echo "insmod /lazymap/modules/$b || return 1" >> "$root/lazymap/setup"
done
# lazymap's own modules, core first: those the last build made (its
# modules.order), not one an earlier build left behind.
for m in lazymap lazymap_test lazymap-vm lazymap-vfio-pci lazymap-mdev; do
	o=$(grep -m1 "/$m\.o\$" "$LAZYMAP_KO/modules.order" 2>/dev/null) || continue
	cp "${o%.o}.ko" "$root/lazymap/modules/" || exit 1
	echo "insmod /lazymap/modules/$m.ko || return 1" >> "$root/lazymap/setup"
done
echo 'echo "LAZYMAP-MODULES $(lsmod | awk '\''NR > 1 { print $1 }'\'' | tr "\n" " ")"' >> "$root/lazymap/setup"

touch "$root/lazymap/run"
for t in "$@"; do
	cp "$O/selftests/bin/$t" "$root/lazymap/bin/"
	echo "$t" >> "$root/lazymap/run"
done
if [ "$mode" = demo ]; then
	cp "$PROJ/samples/lazymap/demo.sh" "$root/lazymap/bin/demo"
	cp "$O"/samples/bin/* "$root/lazymap/bin/"
	echo demo > "$root/lazymap/run"
fi
"$HERE/mkinitramfs.sh" "$out/initramfs.cpio.gz" "$root" || exit 1

# bench_vm keeps 1 GiB of anonymous memory populated at a time.
[ "$mode" = bench ] && : "${QEMU_MEM:=3G}"

# TCG only: /dev/kvm on these machines cannot run a real kernel.  The
# watchdog below stops QEMU on the done marker, on a KVM error, or on time.
boot() {	# boot <log>: one QEMU run
	setsid qemu-system-x86_64 -nographic -no-reboot -nic none \
		-accel tcg -cpu max -smp 2 -m ${QEMU_MEM:-1G} \
		-machine q35 -device intel-iommu,intremap=on \
		-device pcie-root-port,id=rp0,chassis=1,slot=1 \
		-object memory-backend-ram,id=m0,size=1G \
		-device ivshmem-plain,memdev=m0,bus=rp0 \
		-device edu \
		-kernel "$KERNEL" -initrd "$out/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 loglevel=4 intel_iommu=on transparent_hugepage=always ${QEMU_APPEND:-}" \
		</dev/null > "$1" 2>&1 &
	local qpid=$! limit=$(( $(date +%s) + ${QEMU_TIMEOUT:-1200} ))
	while kill -0 $qpid 2>/dev/null; do
		if grep -q 'KVM internal error' "$1"; then
			echo "$stage: KVM internal error, stopping QEMU" >&2
			break
		fi
		if grep -q LAZYMAP-DONE "$1"; then
			sleep 5		# let poweroff finish; it normally exits QEMU
			break
		fi
		if grep -q 'Kernel panic' "$1"; then
			break
		fi
		if [ "$(date +%s)" -ge $limit ]; then
			echo "$stage: timeout, stopping QEMU" >&2
			break
		fi
		sleep 0.2
	done
	kill -- -$qpid 2>/dev/null
	wait $qpid 2>/dev/null
}

# The stock kernel under multi-vCPU TCG occasionally dies while patching
# its own text ("Oops: int3" at a static-key site, seen in early boot):
# a stray int3 is TCG's cross-vCPU code modification, not something C code
# can cause.  Such a run, and any panic before userspace, is retried
# (twice at most), keeping its log as console-bootN.log; every other
# failure counts.
log=$out/console.log
for attempt in 1 2 3; do
	boot "$log"
	if ! grep -q 'Oops: int3' "$log"; then
		grep -q LAZYMAP-BOOT "$log" && break
		grep -q 'Kernel panic' "$log" || break
	fi
	mv "$log" "$out/console-boot$attempt.log"
	echo "$stage: guest kernel died in TCG or before userspace, retrying" \
		"(log: $out/console-boot$attempt.log)" >&2
done

if [ "$mode" = demo ]; then
	"$HERE/splat-scan.sh" "$log" || { echo "demo: kernel splat, log: $log" >&2; exit 1; }
	demo_report "$log"
	exit $?
fi

if [ "$mode" = bench ]; then
	# Benchmarks are not tests: their table and JSON are the result.
	mkdir -p "$out"
	sed 's/\r$//' "$log" | sed -n 's/^# BENCH //p' | tee "$out/bench.txt"
	# One JSON file per benchmark: bench_vfio -> vfio.json.
	for t in "$@"; do
		grep -q "LAZYMAP-END $t rc=0" "$log" ||
			{ echo "bench: $t failed, log: $log" >&2; exit 1; }
		sed 's/\r$//' "$log" | sed -n "/^LAZYMAP-BEGIN $t\$/,/^LAZYMAP-END $t /p" |
			sed -n 's/^LAZYMAP-JSON //p' > "$out/${t#bench_}.json"
	done
	echo "bench: results in $out/bench.txt and $out/{$(echo "$@" | sed 's/bench_//g; s/ /,/g')}.json"
	exit 0
fi

read -r pass fail skip < <(tap_count "$log")
grep -q LAZYMAP-DONE "$log" || { echo "$stage: no LAZYMAP-DONE" >&2; fail=$((fail + 1)); }
# A panic ends the run: each program it kept from starting is a failure.
# (No "sed | grep -q" under pipefail: grep's early exit fails the pipe.)
began=$(sed -n 's/\r$//; s/^LAZYMAP-BEGIN //p' "$log")
for t in "$@"; do
	grep -qxF "$t" <<< "$began" ||
		{ echo "$stage: $t did not run" >&2; fail=$((fail + 1)); }
done
# The core's selftests skip without the test provider: a stage that lost
# it would pass with nothing tested.
mods=$(sed -n 's/\r$//; s/^LAZYMAP-MODULES //p' "$log")
[[ " $mods " == *" lazymap_test "* ]] ||
	{ echo "$stage: lazymap_test was not loaded" >&2; fail=$((fail + 1)); }
# Each kmemleak report of the final scan (a kernel with kmemleak) is one
# failure; the splat scan below prints them.
leaks=$(kmemleak_count "$log")
[ "$leaks" -eq 0 ] || { echo "$stage: $leaks kmemleak report(s)" >&2; fail=$((fail + leaks)); }
"$HERE/splat-scan.sh" "$log" || fail=$((fail + 1))
grep -E '^(not ok|ok) .*' "$log" | grep -vE '^ok ' | head -n 40
times=$(prog_times "$log")
[ -z "$times" ] || echo "$stage: time by program: $times"
result $stage "$pass" "$fail" "$skip"
if [ "$fail" -ne 0 ] || [ $# -gt 0 -a "$pass" -eq 0 ]; then
	echo "$stage: FAILED, log: $log" >&2
	exit 1
fi
