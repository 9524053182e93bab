#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`, inside the QEMU guest (or, with UML=1, the UML kernel): pick
# the device, bind it, and run lazymap_demo (next to this script) over it.
#  - QEMU: the ivshmem device (1 GiB BAR2), bound to lazymap-vfio-pci;
#  - UML, no PCI: a lazymap-mdev device of 64 MiB, created through sysfs.
set -u
dmesg -n 1	# the kernel log comes after the demo (make demo V=1)
echo "== lazymap demo, kernel $(uname -r); modules:$(lsmod 2>/dev/null | awk '$1 ~ /^lazymap/ { printf " %s", $1 }')"
IV=
for d in /sys/bus/pci/devices/*; do
	[ -e "$d/vendor" ] || continue
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x1af4:0x1110" ] && IV=$(basename "$d")
done
if [ -n "$IV" ]; then
	echo lazymap-vfio-pci > "/sys/bus/pci/devices/$IV/driver_override"
	[ -e "/sys/bus/pci/devices/$IV/driver" ] &&
		echo "$IV" > "/sys/bus/pci/devices/$IV/driver/unbind"
	echo "$IV" > /sys/bus/pci/drivers_probe
	echo "== ivshmem $IV bound to $(basename "$(readlink "/sys/bus/pci/devices/$IV/driver")")," \
		"IOMMU group $(basename "$(readlink "/sys/bus/pci/devices/$IV/iommu_group")")"
	lazymap_demo "/sys/bus/pci/devices/$IV"
	exit $?
fi
UUID=6c617a79-6d61-7000-0000-64656d6f0001
TYPES=/sys/class/mdev_bus/lazymap-mdev/mdev_supported_types
echo "$UUID" > "$TYPES/lazymap-mdev-64M/create" || exit 1
echo "== no ivshmem: lazymap-mdev $UUID (lazymap-mdev-64M) created"
lazymap_demo "/sys/bus/mdev/devices/$UUID"
rc=$?
echo 1 > "/sys/bus/mdev/devices/$UUID/remove"
exit $rc
