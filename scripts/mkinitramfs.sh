#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build a test initramfs: static busybox, the project's /init, the
# selftest programs, and optionally modules and a setup script.
# usage: scripts/mkinitramfs.sh OUT.cpio.gz ROOTDIR
#   ROOTDIR is prepared by the caller (lazymap/bin, lazymap/run,
#   lazymap/setup, lazymap/modules); this adds busybox and /init.
set -euo pipefail
OUT=${1:?usage: $0 OUT ROOTDIR}
ROOT=${2:?usage: $0 OUT ROOTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)

BB=/bin/busybox		# busybox-static's, statically linked
mkdir -p "$ROOT/bin" "$ROOT/dev" "$ROOT/proc" "$ROOT/sys" "$ROOT/tmp"
cp "$BB" "$ROOT/bin/busybox"
ln -sf busybox "$ROOT/bin/sh"
cp "$HERE/initramfs/init" "$ROOT/init"
(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) > "$OUT"
