# SPDX-License-Identifier: GPL-2.0
# The selftest programs, one name per program (NAME.c in this directory),
# by the stage of `make check` that runs them.  A new program: add its
# name to the list of each stage that runs it; the kselftest Makefile
# builds and runs the union of the lists (LAZYMAP_TESTS).
# UML: the debug UML kernel with lazymap built in (KASAN, lockdep).
# QEMU: the stock Debian kernel with lazymap's modules and real PCI devices.
# QEMU_DEBUG: the debug SMP x86_64 kernel (configs/qemu-debug.config) with
# the same devices: every program of the two stages above.  A test that
# crashes stock 6.12 through the stock vfio-pci driver alone (no lazymap
# code involved) would be left out of it, per test, with its reason; there
# is none today (vfio_pci_stock only maps, touches and reads its BARs).
UML_TESTS  := lazymap_core lazymap_fail_nth lazymap_mdev \
	      vm_memslot vm_access vm_fail_nth vm_gmem vm_stress
QEMU_TESTS := vfio_pci_stock lazymap_core vfio_pci_lazymap lazymap_mdev lazymap_hwpoison \
	      lazymap_stress vm_access vm_vfio vm_gmem vfio_stress vm_stress
QEMU_TESTS += lazymap_huge
# lazymap_fuzz (the seeded fuzzer; `make fuzz` for longer runs) only here,
# where two vCPUs race its threads under KASAN and lockdep.
QEMU_DEBUG_TESTS := $(QEMU_TESTS) $(filter-out $(QEMU_TESTS),$(UML_TESTS)) \
		    lazymap_fuzz
# Benchmarks (`make bench`): built, but not run as tests.
BENCH_TESTS := bench_vfio bench_core bench_vm bench_gmem

# Every test program; a new stage's list is added here too.
LAZYMAP_TESTS := $(sort $(UML_TESTS) $(QEMU_TESTS) $(QEMU_DEBUG_TESTS))
