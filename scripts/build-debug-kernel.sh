#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the debug x86_64 kernel of the selftests-qemu-debug stage:
# tinyconfig + FRAGMENT + olddefconfig, then bzImage and the in-tree
# modules (VFIO, mdev, iommufd), installed under OUT/modroot.  Fails if
# olddefconfig dropped or changed an option the fragment sets.  OUT is
# keyed by the fragment's hash by the caller; once OUT/.done exists it is
# final and this script does nothing.
# usage: scripts/build-debug-kernel.sh SRC OUT FRAGMENT [LOG]
set -euo pipefail

SRC=${1:?usage: $0 SRC OUT FRAGMENT [LOG]}
OUT=${2:?usage: $0 SRC OUT FRAGMENT [LOG]}
FRAG=${3:?usage: $0 SRC OUT FRAGMENT [LOG]}
LOG=${4:-/dev/stderr}
JOBS=${JOBS:-$(nproc)}
FRAG=$(cd "$(dirname "$FRAG")" && pwd)/$(basename "$FRAG")

[ -f "$OUT/.done" ] && exit 0
mkdir -p "$OUT" "$(dirname "$LOG")"
kmake() { make -C "$SRC" O="$OUT" ARCH=x86_64 "$@"; }

{
	kmake tinyconfig
	"$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" "$OUT/.config" "$FRAG"
	kmake olddefconfig
} >> "$LOG" 2>&1 || { echo "debug kernel: configuration failed, log: $LOG" >&2; exit 1; }

# Every CONFIG_X=v and "# CONFIG_X is not set" of the fragment must be in
# the final .config exactly so.
dropped=0
while read -r line; do
	case $line in
	CONFIG_*=*)		want=$line ;;
	"# CONFIG_"*" is not set") want=$line ;;
	*) continue ;;
	esac
	sym=$(echo "$want" | grep -oE 'CONFIG_[A-Za-z0-9_]+')
	have=$(grep -E "^($sym=|# $sym is not set)" "$OUT/.config" || true)
	# An unset option may also be absent (its dependencies are off).
	if [ "$have" != "$want" ] && ! { [ "${want:0:1}" = "#" ] && [ -z "$have" ]; }; then
		echo "debug kernel: $want wanted, .config has '${have:-nothing}'" >&2
		dropped=1
	fi
done < "$FRAG"
if [ $dropped -ne 0 ]; then
	echo "debug kernel: olddefconfig dropped options of $FRAG (config: $OUT/.config)" >&2
	exit 1
fi

kmake -j"$JOBS" bzImage modules >> "$LOG" 2>&1 ||
	{ tail -n 30 "$LOG"; echo "debug kernel: build failed, log: $LOG" >&2; exit 1; }
rm -rf "$OUT/modroot"
kmake INSTALL_MOD_PATH="$OUT/modroot" modules_install >> "$LOG" 2>&1 ||
	{ echo "debug kernel: modules_install failed, log: $LOG" >&2; exit 1; }
kmake -s kernelrelease > "$OUT/kernelrelease"
touch "$OUT/.done"
