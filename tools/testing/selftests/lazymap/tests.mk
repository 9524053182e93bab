# SPDX-License-Identifier: GPL-2.0
# Which selftest programs run in which stage of `make check`.
# UML: the debug UML kernel with lazymap built in (KASAN, lockdep).
# QEMU: the stock Debian kernel with lazymap's modules and real PCI devices.
# QEMU_DEBUG: the debug SMP x86_64 kernel (configs/qemu-debug.config) with
# the same devices: every program of the two stages above.  A test that
# crashes stock 6.12 through the stock vfio-pci driver alone (no lazymap
# code involved) would be left out of it, per test, with its reason; there
# is none today (vfio_pci_stock only maps, touches and reads its BARs).
UML_TESTS  := lazymap_core lazymap_fail_nth lazymap_mdev
QEMU_TESTS := vfio_pci_stock lazymap_core vfio_pci_lazymap lazymap_mdev lazymap_stress
QEMU_DEBUG_TESTS := $(QEMU_TESTS) $(filter-out $(QEMU_TESTS),$(UML_TESTS))
BENCH_TESTS := bench_vfio bench_core
