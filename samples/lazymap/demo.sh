#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`, inside the QEMU guest: bind the ivshmem device to
# lazymap-vfio-pci and show its BAR being mapped lazily, tracked, revoked
# and refaulted (vfio_bar_demo.c, next to this script).
set -u
echo "== lazymap demo, kernel $(uname -r)"
echo "== lazymap modules: $(lsmod | awk '$1 ~ /^lazymap/ { printf "%s ", $1 }')"
echo "== PCI devices"
printf '   %-14s %-11s %-8s %s\n' BDF ID CLASS DRIVER
IV=
for d in /sys/bus/pci/devices/*; do
	id="$(cut -c3- "$d/vendor"):$(cut -c3- "$d/device")"
	drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
	printf '   %-14s %-11s %-8s %s\n' "$(basename "$d")" "$id" \
		"$(cut -c3-6 "$d/class")" "${drv:--}"
	[ "$id" = "1af4:1110" ] && IV=$(basename "$d")
done
[ -n "$IV" ] || { echo "no ivshmem device"; exit 1; }
echo "== bind $IV (ivshmem, 1 GiB BAR2) to lazymap-vfio-pci"
echo lazymap-vfio-pci > "/sys/bus/pci/devices/$IV/driver_override"
[ -e "/sys/bus/pci/devices/$IV/driver" ] &&
	echo "$IV" > "/sys/bus/pci/devices/$IV/driver/unbind"
echo "$IV" > /sys/bus/pci/drivers_probe
echo "   driver: $(basename "$(readlink "/sys/bus/pci/devices/$IV/driver")")," \
	"IOMMU group $(basename "$(readlink "/sys/bus/pci/devices/$IV/iommu_group")")"
echo "== debugfs: /sys/kernel/debug/lazymap/vfio-$IV/"
vfio_bar_demo "$IV" 2
