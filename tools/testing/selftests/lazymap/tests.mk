# SPDX-License-Identifier: GPL-2.0
# Which selftest programs run in which stage of `make check`.
# UML: the debug UML kernel with lazymap built in (KASAN, lockdep).
# QEMU: the stock Debian kernel with lazymap's modules and real PCI devices.
UML_TESTS  := lazymap_core lazymap_fail_nth lazymap_mdev \
	vm_memslot vm_access vm_fail_nth
QEMU_TESTS := vfio_pci_stock lazymap_core vfio_pci_lazymap lazymap_mdev \
	vm_access vm_vfio
BENCH_TESTS := bench_vfio bench_core bench_vm
