// SPDX-License-Identifier: GPL-2.0
/*
 * A lazymap-vm slot over a VFIO BAR mmap (device passthrough): the
 * ivshmem-plain device of the QEMU stage (BAR2 = 1 GiB of RAM), bound to
 * lazymap-vfio-pci and, as a baseline, to stock vfio-pci (the variants).
 *
 * - ACCESS reads and writes the BAR's data, the same bytes the host sees
 *   through its mapping and through the VFIO region's read/write;
 * - stage 2 maps a VM_PFNMAP BAR at the size the host mapping has: one
 *   1G entry for a 1 GiB-aligned slot over a 1 GiB-aligned mapping, 2M
 *   entries when only 2 MiB-aligned (GET_STATS s2_faults);
 * - clearing memory enable in the command register (through the VFIO
 *   config region) and VFIO_DEVICE_RESET zap the BAR's host mappings, and
 *   through the mm's notifier the slot's stage-2 entries (s2_pages,
 *   s2_invalidated); while memory is disabled ACCESS is a MEMORY_FAULT,
 *   once re-enabled it faults in again and the data is intact.
 *
 * SKIPs without ivshmem or without the variant's driver.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/pci_regs.h>

#include "lazymap_harness.h"
#include "vfio_util.h"
#include "lazymap_vm_util.h"

#define GPA		(4 * SZ_1G)	/* 1 GiB-aligned */
#define BAR_PAGES	(SZ_1G / SZ_4K)
#define R		LAZYMAP_VM_ACCESS_READ

FIXTURE(vm_vfio) {
	char bdf[PCI_BDF_LEN];
	struct vfio_type1_dev dev;
	struct vfio_region_info bar2, cfg;
	uint8_t *map;		/* BAR2, all of it */
	int dev_fd, vm_fd, vcpu_fd;
};

FIXTURE_VARIANT(vm_vfio) {
	const char *driver;
};

FIXTURE_VARIANT_ADD(vm_vfio, stock) {
	.driver = "vfio-pci",
};

FIXTURE_VARIANT_ADD(vm_vfio, lazymap) {
	.driver = "lazymap-vfio-pci",
};

FIXTURE_SETUP(vm_vfio)
{
	char path[128];
	int ret;

	vfio_type1_init(&self->dev);
	self->map = MAP_FAILED;
	self->vm_fd = -1;
	self->vcpu_fd = -1;
	self->dev_fd = lmvm_open_dev();
	ASSERT_LE(0, self->dev_fd)
		TH_LOG("%s: %s (is lazymap-vm loaded?)", LAZYMAP_VM_DEV,
		       strerror(-self->dev_fd));

	ret = pci_find_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, self->bdf,
			      sizeof(self->bdf));
	if (ret)
		SKIP(return, "no ivshmem device: %s", strerror(-ret));
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s",
		 variant->driver);
	if (access(path, F_OK))
		SKIP(return, "%s is not loaded", variant->driver);
	ret = pci_bind_driver(self->bdf, variant->driver);
	ASSERT_EQ(0, ret) TH_LOG("binding to %s: %s", variant->driver,
				 strerror(-ret));
	ret = vfio_type1_open(&self->dev, self->bdf);
	ASSERT_EQ(0, ret) TH_LOG("VFIO type1 open: %s", strerror(-ret));
	ASSERT_EQ(0, vfio_region_info(self->dev.device_fd,
				      VFIO_PCI_BAR2_REGION_INDEX, &self->bar2));
	ASSERT_EQ(0, vfio_region_info(self->dev.device_fd,
				      VFIO_PCI_CONFIG_REGION_INDEX, &self->cfg));
	ASSERT_EQ(SZ_1G, self->bar2.size);

	self->vm_fd = lmvm_create_vm(self->dev_fd, 0);
	ASSERT_LE(0, self->vm_fd);
	self->vcpu_fd = lmvm_create_vcpu(self->vm_fd, 0);
	ASSERT_LE(0, self->vcpu_fd);
}

FIXTURE_TEARDOWN(vm_vfio)
{
	if (self->vcpu_fd >= 0)
		close(self->vcpu_fd);
	if (self->vm_fd >= 0)
		close(self->vm_fd);
	if (self->map != MAP_FAILED)
		munmap(self->map, SZ_1G);
	vfio_type1_close(&self->dev);
	if (self->dev_fd >= 0)
		close(self->dev_fd);
}

/*
 * Map BAR2 @skew bytes past a 1 GiB-aligned address and make it slot 0
 * at GPA + @skew (so GPA and host address agree modulo 1 GiB).
 */
static void map_slot(struct __test_metadata *_metadata,
		     FIXTURE_DATA(vm_vfio) *self, size_t skew)
{
	size_t len = SZ_1G - skew;
	void *p;

	p = vfio_mmap_aligned(self->dev.device_fd, self->bar2.offset + skew,
			      len, PROT_READ | PROT_WRITE, SZ_1G, skew);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap of BAR2: %s", strerror(errno));
	/* [map, map + skew) is the unmapped head of the reservation. */
	self->map = (uint8_t *)p - skew;
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA + skew, len, p));
}

static struct lazymap_vm_stats stats(struct __test_metadata *_metadata,
				     FIXTURE_DATA(vm_vfio) *self)
{
	struct lazymap_vm_stats st;

	EXPECT_EQ(0, lmvm_stats(self->vm_fd, &st));
	return st;
}

static void set_memory(struct __test_metadata *_metadata,
		       FIXTURE_DATA(vm_vfio) *self, bool on)
{
	uint64_t off = self->cfg.offset + PCI_COMMAND;
	uint16_t cmd;

	ASSERT_EQ(2, pread(self->dev.device_fd, &cmd, 2, off));
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	ASSERT_EQ(2, pwrite(self->dev.device_fd, &cmd, 2, off));
}

/* Read 8 bytes at @off of the slot through ACCESS: 0 or -errno. */
static int guest_read64(FIXTURE_DATA(vm_vfio) *self, uint64_t off,
			uint64_t *val, struct lazymap_vm_exit *exit)
{
	return lmvm_read(self->vcpu_fd, GPA + off, 8, val, exit);
}

TEST_F(vm_vfio, access_bar_data)
{
	static const uint64_t offs[] = {
		0, 8, SZ_4K - 8, SZ_2M + 0x1230, 0x12345678 & ~7UL,
		SZ_1G - SZ_2M, SZ_1G - 8,
	};
	struct lazymap_vm_exit exit;
	uint64_t val, seed = (uint64_t)getpid() << 32;
	unsigned int i;
	uint8_t *buf;

	map_slot(_metadata, self, 0);
	for (i = 0; i < ARRAY_SIZE(offs); i++)
		*(uint64_t *)(self->map + offs[i]) = seed ^ offs[i];
	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		val = 0;
		ASSERT_EQ(0, guest_read64(self, offs[i], &val, &exit));
		ASSERT_EQ(LMVM_EXIT_NONE, exit.reason);
		EXPECT_EQ(seed ^ offs[i], val) TH_LOG("offset 0x%llx",
						      (unsigned long long)offs[i]);
	}
	/* Guest writes: seen by the host mapping and by the region's read. */
	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		val = ~(seed ^ offs[i]);
		ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + offs[i], 8, &val,
					&exit));
		ASSERT_EQ(LMVM_EXIT_NONE, exit.reason);
		EXPECT_EQ(val, *(uint64_t *)(self->map + offs[i]));
		val = 0;
		ASSERT_EQ(8, pread(self->dev.device_fd, &val, 8,
				   self->bar2.offset + offs[i]));
		EXPECT_EQ(~(seed ^ offs[i]), val);
	}
	/* The last MiB in one ACCESS, against the host mapping. */
	buf = malloc(LAZYMAP_VM_ACCESS_MAX_SIZE);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd,
			       GPA + SZ_1G - LAZYMAP_VM_ACCESS_MAX_SIZE,
			       LAZYMAP_VM_ACCESS_MAX_SIZE, buf, &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(0, memcmp(buf, self->map + SZ_1G - LAZYMAP_VM_ACCESS_MAX_SIZE,
			    LAZYMAP_VM_ACCESS_MAX_SIZE));
	free(buf);
}

/* A 1 GiB-aligned slot over a 1 GiB-aligned mapping: one 1G entry. */
TEST_F(vm_vfio, one_1g_entry)
{
	struct lazymap_vm_exit exit;
	struct lazymap_vm_stats st;
	uint64_t val;

	map_slot(_metadata, self, 0);
	ASSERT_EQ(0, guest_read64(self, 0, &val, &exit));
	ASSERT_EQ(0, guest_read64(self, SZ_1G - 8, &val, &exit));
	ASSERT_EQ(0, guest_read64(self, SZ_1G / 2 + 64, &val, &exit));
	st = stats(_metadata, self);
	EXPECT_EQ(1ULL, st.s2_faults[2]);
	EXPECT_EQ(0ULL, st.s2_faults[1]);
	EXPECT_EQ(0ULL, st.s2_faults[0]);
	EXPECT_EQ(BAR_PAGES, st.s2_pages);
}

/* Only 2 MiB-aligned: 2M entries, one per 2 MiB touched. */
TEST_F(vm_vfio, 2m_entries)
{
	struct lazymap_vm_exit exit;
	struct lazymap_vm_stats st;
	uint64_t val;

	map_slot(_metadata, self, SZ_2M);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + SZ_2M, 8, &val, &exit));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 2 * SZ_2M + 8, 8, &val,
			       &exit));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + SZ_1G - 8, 8, &val, &exit));
	st = stats(_metadata, self);
	EXPECT_EQ(0ULL, st.s2_faults[2]);
	EXPECT_EQ(3ULL, st.s2_faults[1]);
	EXPECT_EQ(0ULL, st.s2_faults[0]);
	EXPECT_EQ(3 * SZ_2M / SZ_4K, st.s2_pages);
}

/*
 * Memory disable drops the 1G entry; ACCESS is then a MEMORY_FAULT (the
 * BAR cannot fault in), and after re-enable faults in again, data intact.
 */
TEST_F(vm_vfio, memory_disable)
{
	struct lazymap_vm_stats st0, st;
	struct lazymap_vm_exit exit;
	uint64_t val;

	map_slot(_metadata, self, 0);
	*(uint64_t *)(self->map + 4096) = 0x1122334455667788ULL;
	ASSERT_EQ(0, guest_read64(self, 4096, &val, &exit));
	st0 = stats(_metadata, self);
	ASSERT_EQ(BAR_PAGES, st0.s2_pages);

	set_memory(_metadata, self, false);
	st = stats(_metadata, self);
	EXPECT_EQ(0ULL, st.s2_pages);
	EXPECT_EQ(st0.s2_invalidated + BAR_PAGES, st.s2_invalidated);
	EXPECT_EQ(-EFAULT, guest_read64(self, 4096, &val, &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
	EXPECT_EQ(GPA + 4096, exit.gpa);
	EXPECT_EQ(8ULL, exit.size);
	EXPECT_EQ(R, exit.flags);
	EXPECT_EQ(0ULL, stats(_metadata, self).s2_pages);

	set_memory(_metadata, self, true);
	val = 0;
	ASSERT_EQ(0, guest_read64(self, 4096, &val, &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(0x1122334455667788ULL, val);
	st = stats(_metadata, self);
	EXPECT_EQ(st0.s2_faults[2] + 1, st.s2_faults[2]);
	EXPECT_EQ(BAR_PAGES, st.s2_pages);
}

/* VFIO_DEVICE_RESET zaps: the entry goes, the next ACCESS faults again. */
TEST_F(vm_vfio, reset)
{
	struct lazymap_vm_stats st0, st;
	struct vfio_device_info info;
	struct lazymap_vm_exit exit;
	uint64_t val;

	ASSERT_EQ(0, vfio_device_info(self->dev.device_fd, &info));
	if (!(info.flags & VFIO_DEVICE_FLAGS_RESET))
		SKIP(return, "device has no reset");
	map_slot(_metadata, self, 0);
	*(uint64_t *)(self->map + 64) = 0xabcdefULL;
	ASSERT_EQ(0, guest_read64(self, 64, &val, &exit));
	st0 = stats(_metadata, self);
	ASSERT_EQ(0, ioctl(self->dev.device_fd, VFIO_DEVICE_RESET));
	st = stats(_metadata, self);
	EXPECT_EQ(0ULL, st.s2_pages);
	EXPECT_EQ(st0.s2_invalidated + BAR_PAGES, st.s2_invalidated);
	val = 0;
	ASSERT_EQ(0, guest_read64(self, 64, &val, &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(0xabcdefULL, val);
	EXPECT_EQ(st0.s2_faults[2] + 1, stats(_metadata, self).s2_faults[2]);
}

TEST_HARNESS_MAIN
