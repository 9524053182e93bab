// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vfio-pci on a real (emulated) PCI device: the ivshmem-plain
 * device of the QEMU stage (BAR2 = 1 GiB of RAM), bound to lazymap-vfio-pci
 * and used through stock VFIO type1.
 *
 * - everything but BAR mmap is vfio-pci-core's: region info is the same as
 *   under stock vfio-pci, and mmap rejects what stock rejects;
 * - BAR2 faults in lazily at the physical limit: one PUD fault for a
 *   1 GiB-aligned mapping, 512 PMD faults for a 2 MiB-aligned one, each
 *   counted in debugfs lazymap/vfio-<BDF>/stats;
 * - vfio-pci-core's zaps reach lazymap's mappings: clearing memory enable
 *   in the command register makes accesses SIGBUS until it is set again,
 *   with the BAR's data intact; VFIO_DEVICE_RESET zaps;
 * - VMA tracking across fork, partial munmap and a closed device fd; a
 *   fork of a PUD-mapped BAR copies the entry (no fault in the child);
 * - munmap, mprotect and mremap of one page inside a PUD- or PMD-mapped
 *   BAR split the VMA with the data intact on both sides (no PUD entry
 *   may span a VMA boundary: 6.12 cannot split one); mremap of the whole
 *   PUD- or PMD-mapped BAR to a 1 GiB- or only 2 MiB-aligned address.
 * - debugfs stats name the memory BARs; unbind and bind again in a loop
 *   (the debugfs files follow each bind); rmmod with a bound device, and
 *   after an unbind that waited for a mapping to go.
 *
 * SKIPs without ivshmem or without the lazymap-vfio-pci driver.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/pci_regs.h>

#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "vfio_util.h"
#include "vfio_split.h"

#define DRIVER		"lazymap-vfio-pci"
#define DEBUGFS		LAZYMAP_DEBUGFS

/* One value of debugfs lazymap/vfio-<bdf>/stats, or -1. */
static long long space_stat(const char *bdf, const char *name)
{
	unsigned long long val;
	char space[64];

	snprintf(space, sizeof(space), "vfio-%s", bdf);
	return lm_space_stat(space, name, &val) ? -1 : (long long)val;
}

/* Lines of debugfs lazymap/vfio-<bdf>/mappings after the header, or -1. */
static int space_mappings(const char *bdf, char lines[][160], int max)
{
	char path[256], line[160];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), DEBUGFS "/vfio-%s/mappings", bdf);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		if (n < max)
			snprintf(lines[n], sizeof(lines[n]), "%s", line);
		n++;
	}
	fclose(f);
	return n;
}

static int config_rw16(int fd, uint64_t cfg_off, unsigned int reg,
		       uint16_t *val, bool write)
{
	ssize_t n = write ? pwrite(fd, val, 2, cfg_off + reg) :
			    pread(fd, val, 2, cfg_off + reg);

	return n == 2 ? 0 : -1;
}

FIXTURE(vfio_pci_lazymap) {
	char bdf[PCI_BDF_LEN];
	struct vfio_type1_dev dev;
	struct vfio_region_info bar2, cfg;
	void *map;
	size_t map_len;
	void *moved;		/* a page moved out of map, or NULL */
};

FIXTURE_SETUP(vfio_pci_lazymap)
{
	int ret;

	vfio_type1_init(&self->dev);
	self->map = NULL;
	self->moved = NULL;

	ret = pci_find_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, self->bdf,
			      sizeof(self->bdf));
	if (ret)
		SKIP(return, "no ivshmem device: %s", strerror(-ret));
	if (access("/sys/bus/pci/drivers/" DRIVER, F_OK))
		SKIP(return, DRIVER " is not loaded");
	ret = pci_bind_driver(self->bdf, DRIVER);
	ASSERT_EQ(0, ret) TH_LOG("binding to " DRIVER ": %s", strerror(-ret));
	ret = vfio_type1_open(&self->dev, self->bdf);
	ASSERT_EQ(0, ret) TH_LOG("VFIO type1 open: %s", strerror(-ret));
	ASSERT_EQ(0, vfio_region_info(self->dev.device_fd,
				      VFIO_PCI_BAR2_REGION_INDEX, &self->bar2));
	ASSERT_EQ(0, vfio_region_info(self->dev.device_fd,
				      VFIO_PCI_CONFIG_REGION_INDEX, &self->cfg));
	ASSERT_EQ(SZ_1G, self->bar2.size);

	ASSERT_EQ(0, sigbus_install());
}

FIXTURE_TEARDOWN(vfio_pci_lazymap)
{
	if (self->map)
		munmap(self->map, self->map_len);
	if (self->moved)
		munmap(self->moved, SZ_4K);
	vfio_type1_close(&self->dev);
}

static volatile uint8_t *bar2_map(FIXTURE_DATA(vfio_pci_lazymap) *self,
				  size_t len, size_t align, size_t skew)
{
	void *p = vfio_mmap_aligned(self->dev.device_fd, self->bar2.offset, len,
				    PROT_READ | PROT_WRITE, align, skew);

	if (p == MAP_FAILED)
		return NULL;
	self->map = p;
	self->map_len = len;
	return p;
}

/* Region info (or its error) under lazymap-vfio-pci equals stock's. */
TEST_F(vfio_pci_lazymap, region_info_matches_stock)
{
	struct vfio_region_info mine[VFIO_PCI_NUM_REGIONS] = {};
	int mine_ret[VFIO_PCI_NUM_REGIONS];
	struct vfio_region_info stock = {};
	struct vfio_type1_dev sdev;
	unsigned int i;

	for (i = 0; i < VFIO_PCI_NUM_REGIONS; i++)
		mine_ret[i] = vfio_region_info(self->dev.device_fd, i, &mine[i]);
	/* BAR2 at least; a non-VGA device has no VGA region (EINVAL). */
	ASSERT_EQ(0, mine_ret[VFIO_PCI_BAR2_REGION_INDEX]);
	vfio_type1_close(&self->dev);

	ASSERT_EQ(0, pci_bind_driver(self->bdf, "vfio-pci"));
	vfio_type1_init(&sdev);
	ASSERT_EQ(0, vfio_type1_open(&sdev, self->bdf));
	for (i = 0; i < VFIO_PCI_NUM_REGIONS; i++) {
		EXPECT_EQ(mine_ret[i], vfio_region_info(sdev.device_fd, i, &stock))
			TH_LOG("region %u", i);
		if (mine_ret[i])
			continue;
		EXPECT_EQ(stock.size, mine[i].size) TH_LOG("region %u", i);
		EXPECT_EQ(stock.flags, mine[i].flags) TH_LOG("region %u", i);
		EXPECT_EQ(stock.offset, mine[i].offset) TH_LOG("region %u", i);
	}
	vfio_type1_close(&sdev);
}

TEST_F(vfio_pci_lazymap, bar2_pattern)
{
	volatile uint64_t *p;
	uint64_t seed = (uint64_t)getpid() << 32;
	size_t i, n = SZ_1G / SZ_4K;

	p = (volatile uint64_t *)bar2_map(self, SZ_1G, SZ_2M, 0);
	ASSERT_NE(NULL, p);
	for (i = 0; i < n; i++)
		p[i * SZ_4K / 8] = seed ^ (i * 0x9e3779b97f4a7c15ULL);
	ASSERT_EQ(0, munmap((void *)p, SZ_1G));
	self->map = NULL;

	p = (volatile uint64_t *)bar2_map(self, SZ_1G, SZ_2M, 0);
	ASSERT_NE(NULL, p);
	for (i = 0; i < n; i++)
		ASSERT_EQ(seed ^ (i * 0x9e3779b97f4a7c15ULL), p[i * SZ_4K / 8])
			TH_LOG("page %zu", i);
}

/* First touch of the whole BAR: faults at the physical limit. */
static void first_touch(struct __test_metadata *_metadata,
			FIXTURE_DATA(vfio_pci_lazymap) *self, size_t align,
			size_t skew, long want_faults, const char *stat,
			long long want_stat)
{
	long long before = space_stat(self->bdf, stat);
	volatile uint8_t *p;
	long f0 = 0, f1;

	ASSERT_LE(0, before) TH_LOG("debugfs stats of vfio-%s", self->bdf);
	p = bar2_map(self, SZ_1G, align, skew);
	ASSERT_NE(NULL, p);
	/*
	 * Warm the code, stack and data sigbus_pages() uses (read_byte()
	 * writes sigbus_env) so that they add no faults to the count.
	 */
	sigbus_pages((const volatile uint8_t *)&f0, 1, SZ_4K);
	f0 = minor_faults();
	ASSERT_EQ(0UL, sigbus_pages(p, SZ_1G, SZ_4K));
	f1 = minor_faults();
	EXPECT_EQ(want_faults, f1 - f0);
	EXPECT_EQ(want_stat, space_stat(self->bdf, stat) - before);
	TH_LOG("%ld minor faults for 262144 pages", f1 - f0);
}

TEST_F(vfio_pci_lazymap, first_touch_1g_aligned)
{
	first_touch(_metadata, self, SZ_1G, 0, 1, "faults_1g", 1);
}

TEST_F(vfio_pci_lazymap, first_touch_2m_aligned)
{
	first_touch(_metadata, self, SZ_1G, SZ_2M, 512, "faults_2m", 512);
}

/* Memory disable in the command register: SIGBUS, then data intact. */
TEST_F(vfio_pci_lazymap, memory_disable_sigbus)
{
	long long sigbus0 = space_stat(self->bdf, "sigbus");
	volatile uint8_t *p;
	uint16_t cmd, off;
	uint8_t v;

	p = bar2_map(self, 8 * SZ_2M, SZ_2M, 0);
	ASSERT_NE(NULL, p);
	p[0] = 0x11;
	p[5 * SZ_2M + 77] = 0x22;

	ASSERT_EQ(0, config_rw16(self->dev.device_fd, self->cfg.offset,
				 PCI_COMMAND, &cmd, false));
	ASSERT_TRUE(cmd & PCI_COMMAND_MEMORY);
	off = cmd & ~PCI_COMMAND_MEMORY;
	ASSERT_EQ(0, config_rw16(self->dev.device_fd, self->cfg.offset,
				 PCI_COMMAND, &off, true));
	EXPECT_EQ(-1, read_byte(p, &v));
	EXPECT_EQ(-1, read_byte(p + 5 * SZ_2M + 77, &v));
	EXPECT_EQ(8 * SZ_2M / SZ_4K, sigbus_pages(p, 8 * SZ_2M, SZ_4K));
	EXPECT_LT(sigbus0, space_stat(self->bdf, "sigbus"));

	ASSERT_EQ(0, config_rw16(self->dev.device_fd, self->cfg.offset,
				 PCI_COMMAND, &cmd, true));
	ASSERT_EQ(0, read_byte(p, &v));
	EXPECT_EQ(0x11, v);
	ASSERT_EQ(0, read_byte(p + 5 * SZ_2M + 77, &v));
	EXPECT_EQ(0x22, v);
}

TEST_F(vfio_pci_lazymap, reset_zaps)
{
	struct vfio_device_info info;
	volatile uint8_t *p;
	long long f0;

	ASSERT_EQ(0, vfio_device_info(self->dev.device_fd, &info));
	if (!(info.flags & VFIO_DEVICE_FLAGS_RESET))
		SKIP(return, "device has no reset");
	p = bar2_map(self, SZ_1G, SZ_1G, 0);
	ASSERT_NE(NULL, p);
	p[123] = 0x5a;
	f0 = space_stat(self->bdf, "faults_1g");
	ASSERT_EQ(0, ioctl(self->dev.device_fd, VFIO_DEVICE_RESET));
	/* The zap dropped the PUD entry: the next access faults again. */
	ASSERT_EQ(0UL, sigbus_pages(p, SZ_1G, SZ_4K));
	EXPECT_EQ(f0 + 1, space_stat(self->bdf, "faults_1g"));
}

TEST_F(vfio_pci_lazymap, fork_tracking)
{
	char lines[4][160];
	volatile uint8_t *p;
	int pipefd[2], status;
	pid_t child;
	char c;

	p = bar2_map(self, 4 * SZ_2M, SZ_2M, 0);
	ASSERT_NE(NULL, p);
	p[0] = 0x42;
	ASSERT_EQ(1, space_mappings(self->bdf, lines, 4));
	ASSERT_EQ(0, pipe(pipefd));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		/* The child sees the same BAR, through its own VMA. */
		if (p[0] != 0x42 || p[3 * SZ_2M] != p[3 * SZ_2M])
			_exit(1);
		close(pipefd[1]);
		(void)!read(pipefd[0], &c, 1);
		_exit(0);
	}
	close(pipefd[0]);
	usleep(200000);
	EXPECT_EQ(2, space_mappings(self->bdf, lines, 4));
	close(pipefd[1]);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(1, space_mappings(self->bdf, lines, 4));
}

/*
 * fork() of a PUD-mapped BAR: the mapping is VM_PFNMAP, so fork copies its
 * page tables, the PUD entry included (copy_huge_pud()): the child reads
 * the whole BAR without a fault of its own, and writes reach the parent.
 */
TEST_F_TIMEOUT(vfio_pci_lazymap, fork_pud, 300)
{
	long long f1g, f2m, f4k;
	volatile uint8_t *p;
	int status;
	pid_t child;
	size_t i;

	p = bar2_map(self, SZ_1G, SZ_1G, 0);
	ASSERT_NE(NULL, p);
	for (i = 0; i < SZ_1G; i += SZ_2M)
		p[i + 16] = (uint8_t)(i / SZ_2M) ^ 0xa5;
	f1g = space_stat(self->bdf, "faults_1g");
	f2m = space_stat(self->bdf, "faults_2m");
	f4k = space_stat(self->bdf, "faults_4k");
	ASSERT_LE(0, f1g);
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		for (i = 0; i < SZ_1G; i += SZ_2M) {
			uint8_t v;

			if (read_byte(p + i + 16, &v) ||
			    v != ((uint8_t)(i / SZ_2M) ^ 0xa5))
				_exit(1);
		}
		p[SZ_1G - 1] = 0x3c;
		_exit(0);
	}
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(0x3c, p[SZ_1G - 1]);
	EXPECT_EQ(f1g, space_stat(self->bdf, "faults_1g"));
	EXPECT_EQ(f2m, space_stat(self->bdf, "faults_2m"));
	EXPECT_EQ(f4k, space_stat(self->bdf, "faults_4k"));
}

TEST_F(vfio_pci_lazymap, partial_munmap)
{
	unsigned long start, end, pgoff;
	char lines[4][160];
	volatile uint8_t *p;
	int n;

	p = bar2_map(self, 4 * SZ_2M, SZ_2M, 0);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, munmap((void *)p, 2 * SZ_2M));
	ASSERT_EQ(1, space_mappings(self->bdf, lines, 4));
	n = sscanf(lines[0], "%*d %*s %lx %lx %lx", &start, &end, &pgoff);
	ASSERT_EQ(3, n);
	EXPECT_EQ((uintptr_t)p + 2 * SZ_2M, start);
	EXPECT_EQ((uintptr_t)p + 4 * SZ_2M, end);
	EXPECT_EQ((self->bar2.offset + 2 * SZ_2M) / SZ_4K, pgoff);
	ASSERT_EQ(0UL, sigbus_pages(p + 2 * SZ_2M, 2 * SZ_2M, SZ_4K));
	self->map = (void *)(p + 2 * SZ_2M);
	self->map_len = 2 * SZ_2M;
}

TEST_F(vfio_pci_lazymap, close_fd_while_mapped)
{
	char lines[2][160];
	volatile uint8_t *p;

	p = bar2_map(self, SZ_2M, SZ_2M, 0);
	ASSERT_NE(NULL, p);
	p[1] = 0x77;
	/* The VMA holds the device file: the mapping keeps working. */
	vfio_type1_close(&self->dev);
	ASSERT_EQ(0UL, sigbus_pages(p, SZ_2M, SZ_4K));
	EXPECT_EQ(0x77, p[1]);
	EXPECT_EQ(1, space_mappings(self->bdf, lines, 2));
	ASSERT_EQ(0, munmap((void *)p, SZ_2M));
	self->map = NULL;
	EXPECT_EQ(0, space_mappings(self->bdf, lines, 2));
}

/*
 * One page split out of a PUD-mapped BAR (1 GiB-aligned) and out of a
 * PMD-mapped one (2 MiB past it), by munmap, mprotect and mremap.
 */
static void split(struct __test_metadata *_metadata,
		  FIXTURE_DATA(vfio_pci_lazymap) *self, size_t skew,
		  enum bar_split_op op)
{
	self->map_len = SZ_1G;
	bar_split(_metadata, self->dev.device_fd, self->bar2.offset, skew, op,
		  &self->map, &self->moved);
}

TEST_F_TIMEOUT(vfio_pci_lazymap, split_pud_munmap, 300)
{
	split(_metadata, self, 0, BAR_SPLIT_MUNMAP);
}

TEST_F_TIMEOUT(vfio_pci_lazymap, split_pud_mprotect, 300)
{
	split(_metadata, self, 0, BAR_SPLIT_MPROTECT);
}

TEST_F_TIMEOUT(vfio_pci_lazymap, split_pud_mremap, 300)
{
	split(_metadata, self, 0, BAR_SPLIT_MREMAP);
}

TEST_F_TIMEOUT(vfio_pci_lazymap, split_pmd_munmap, 300)
{
	split(_metadata, self, SZ_2M, BAR_SPLIT_MUNMAP);
}

TEST_F_TIMEOUT(vfio_pci_lazymap, split_pmd_mprotect, 300)
{
	split(_metadata, self, SZ_2M, BAR_SPLIT_MPROTECT);
}

TEST_F_TIMEOUT(vfio_pci_lazymap, split_pmd_mremap, 300)
{
	split(_metadata, self, SZ_2M, BAR_SPLIT_MREMAP);
}

/*
 * mremap() of a whole BAR mapping from @src_skew to @dst_skew bytes past a
 * 1 GiB boundary: the VMA moves whole, so may_split() does not see it.
 * Mapped 1 GiB aligned, the BAR is one PUD entry, which 6.12's
 * move_page_tables() cannot move (get_old_pud() clears it as a "bad pud",
 * flushing no TLB): lazymap unmaps it when the copy is opened, and the new
 * place refaults, one 1 GiB fault when 1 GiB aligned, 512 at 2 MiB when
 * only 2 MiB aligned.  Mapped 2 MiB aligned, its 512 PMD entries move
 * with the page tables: no fault after the move, even to a 1 GiB-aligned
 * address.  @want_1g and @want_2m count the faults of the first touch and
 * of the reads after the move.  The data is intact and the space tracks
 * the VMA at its new place only; a "bad pud" in the kernel log fails the
 * stage.
 */
static void mremap_whole(struct __test_metadata *_metadata,
			 FIXTURE_DATA(vfio_pci_lazymap) *self, size_t src_skew,
			 size_t dst_skew, long long want_1g, long long want_2m)
{
	long long f1g = space_stat(self->bdf, "faults_1g");
	long long f2m = space_stat(self->bdf, "faults_2m");
	unsigned long start, end, pgoff;
	uintptr_t res_addr, dst;
	volatile uint8_t *p, *q;
	char lines[2][160];
	void *res;
	size_t i;
	int n;

	ASSERT_LE(0, f1g);
	p = bar2_map(self, SZ_1G, SZ_1G, src_skew);
	ASSERT_NE(NULL, p);
	for (i = 0; i < SZ_1G; i += SZ_2M)
		p[i + 8] = (uint8_t)(i / SZ_2M) ^ 0x5a;

	/* A destination: @dst_skew past a 1 GiB boundary, away from the map. */
	res = mmap(NULL, 3 * SZ_1G, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	res_addr = (uintptr_t)res;
	dst = ((res_addr + SZ_1G - 1) & ~(uintptr_t)(SZ_1G - 1)) + dst_skew;
	q = mremap((void *)p, SZ_1G, SZ_1G, MREMAP_MAYMOVE | MREMAP_FIXED,
		   (void *)dst);
	ASSERT_NE(MAP_FAILED, (void *)q) TH_LOG("mremap: %s", strerror(errno));
	ASSERT_EQ(dst, (uintptr_t)q);
	self->map = (void *)q;
	/* What is left of the reservation around it. */
	munmap(res, dst - res_addr);
	munmap((void *)(dst + SZ_1G), res_addr + 3 * SZ_1G - dst - SZ_1G);

	ASSERT_EQ(1, space_mappings(self->bdf, lines, 2));
	n = sscanf(lines[0], "%*d %*s %lx %lx %lx", &start, &end, &pgoff);
	ASSERT_EQ(3, n);
	EXPECT_EQ(dst, start);
	EXPECT_EQ(dst + SZ_1G, end);
	EXPECT_EQ(self->bar2.offset / SZ_4K, pgoff);
	for (i = 0; i < SZ_1G; i += SZ_2M) {
		uint8_t v;

		ASSERT_EQ(0, read_byte(q + i + 8, &v)) TH_LOG("offset %#zx", i);
		ASSERT_EQ((uint8_t)(i / SZ_2M) ^ 0x5a, v) TH_LOG("offset %#zx", i);
	}
	EXPECT_EQ(f1g + want_1g, space_stat(self->bdf, "faults_1g"));
	EXPECT_EQ(f2m + want_2m, space_stat(self->bdf, "faults_2m"));
}

TEST_F_TIMEOUT(vfio_pci_lazymap, mremap_whole_pud_1g, 300)
{
	mremap_whole(_metadata, self, 0, 0, 2, 0);
}

TEST_F_TIMEOUT(vfio_pci_lazymap, mremap_whole_pud_2m, 300)
{
	mremap_whole(_metadata, self, 0, SZ_2M, 1, 512);
}

TEST_F_TIMEOUT(vfio_pci_lazymap, mremap_whole_pmd_2m, 300)
{
	mremap_whole(_metadata, self, SZ_2M, 4 * SZ_2M, 0, 512);
}

TEST_F_TIMEOUT(vfio_pci_lazymap, mremap_whole_pmd_1g, 300)
{
	mremap_whole(_metadata, self, SZ_2M, 0, 0, 512);
}

/*
 * debugfs stats name the memory BARs and their sizes, not the size of the
 * space (the VFIO offsets of BAR0..BAR5, terabytes).
 */
TEST_F(vfio_pci_lazymap, debugfs_bars)
{
	EXPECT_EQ((long long)SZ_1G, space_stat(self->bdf, "bar2"));
	EXPECT_LT(0, space_stat(self->bdf, "bar0"));
	EXPECT_EQ(-1, space_stat(self->bdf, "size"));
	EXPECT_EQ(-1, space_stat(self->bdf, "bar5"));
}

/* mmap errors: the same as stock vfio-pci (vfio_pci_core_mmap()'s). */
TEST_F(vfio_pci_lazymap, mmap_invalid)
{
	const uint64_t bar = self->bar2.offset;
	const struct {
		const char *name;
		int flags;
		uint64_t offset, len;
	} cases[] = {
		{ "private", MAP_PRIVATE, bar, SZ_4K },
		{ "offset at end", MAP_SHARED, bar + SZ_1G, SZ_4K },
		{ "length past end", MAP_SHARED, bar + SZ_1G - SZ_4K, 2 * SZ_4K },
		{ "rom", MAP_SHARED, REGION_OFFSET(VFIO_PCI_ROM_REGION_INDEX), SZ_4K },
		{ "config", MAP_SHARED, REGION_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX), SZ_4K },
		{ "no region", MAP_SHARED, REGION_OFFSET(VFIO_PCI_NUM_REGIONS), SZ_4K },
		{ "index 15", MAP_SHARED, REGION_OFFSET(15), SZ_4K },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int prot = PROT_READ | PROT_WRITE;
		void *p;

		if (cases[i].flags & MAP_PRIVATE)
			prot = PROT_READ;
		p = mmap(NULL, cases[i].len, prot, cases[i].flags,
			 self->dev.device_fd, cases[i].offset);

		EXPECT_EQ(MAP_FAILED, p) TH_LOG("%s", cases[i].name);
		EXPECT_EQ(EINVAL, errno) TH_LOG("%s", cases[i].name);
		if (p != MAP_FAILED)
			munmap(p, cases[i].len);
	}
}

/* read/write at offsets beyond a region: vfio-pci-core's errors. */
TEST_F(vfio_pci_lazymap, rw_invalid)
{
	const struct {
		const char *name;
		uint64_t offset;
		int err;
	} cases[] = {
		{ "bar2 end", self->bar2.offset + SZ_1G, EINVAL },
		/* vfio_config_do_rw(): out of config space is EFAULT */
		{ "config end", self->cfg.offset + self->cfg.size, EFAULT },
		{ "no region", REGION_OFFSET(VFIO_PCI_NUM_REGIONS), EINVAL },
		{ "index 15", REGION_OFFSET(15), EINVAL },
	};
	unsigned int i;
	uint32_t v = 0;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		EXPECT_EQ(-1, pread(self->dev.device_fd, &v, 4, cases[i].offset))
			TH_LOG("read %s", cases[i].name);
		EXPECT_EQ(cases[i].err, errno) TH_LOG("read %s", cases[i].name);
		EXPECT_EQ(-1, pwrite(self->dev.device_fd, &v, 4, cases[i].offset))
			TH_LOG("write %s", cases[i].name);
		EXPECT_EQ(cases[i].err, errno) TH_LOG("write %s", cases[i].name);
	}
}

/* ioctl errors: vfio-pci-core's, unchanged by the variant driver. */
TEST_F(vfio_pci_lazymap, ioctl_invalid)
{
	struct vfio_region_info ri;
	struct vfio_irq_info ii;
	struct vfio_device_info di;
	const struct {
		const char *name;
		unsigned long cmd;
		void *arg;
		__u32 argsz, index;
		int err;
	} cases[] = {
		{ "region info argsz 0", VFIO_DEVICE_GET_REGION_INFO, &ri, 0,
		  VFIO_PCI_BAR2_REGION_INDEX, EINVAL },
		{ "region info short argsz", VFIO_DEVICE_GET_REGION_INFO, &ri,
		  offsetof(struct vfio_region_info, offset),
		  VFIO_PCI_BAR2_REGION_INDEX, EINVAL },
		{ "region info no region", VFIO_DEVICE_GET_REGION_INFO, &ri,
		  sizeof(ri), VFIO_PCI_NUM_REGIONS + 7, EINVAL },
		{ "irq info short argsz", VFIO_DEVICE_GET_IRQ_INFO, &ii, 4,
		  VFIO_PCI_INTX_IRQ_INDEX, EINVAL },
		{ "irq info no irq", VFIO_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii),
		  VFIO_PCI_NUM_IRQS, EINVAL },
		{ "device info short argsz", VFIO_DEVICE_GET_INFO, &di, 4, 0,
		  EINVAL },
		{ "unknown ioctl", _IO(VFIO_TYPE, VFIO_BASE + 60), NULL, 0, 0,
		  ENOTTY },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(&ri, 0, sizeof(ri));
		memset(&ii, 0, sizeof(ii));
		memset(&di, 0, sizeof(di));
		ri.argsz = cases[i].argsz;
		ii.argsz = cases[i].argsz;
		di.argsz = cases[i].argsz;
		ri.index = cases[i].index;
		ii.index = cases[i].index;
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->dev.device_fd, cases[i].cmd,
				    cases[i].arg)) TH_LOG("%s", cases[i].name);
		EXPECT_EQ(cases[i].err, errno) TH_LOG("%s", cases[i].name);
	}
}

/*
 * Binding, unbinding and unloading.  These tests bind and unbind the
 * ivshmem device themselves; the next fixture's setup binds it again.
 */
#define MODULE_NAME	"lazymap_vfio_pci"
#define MODULE_FILE	"lazymap-vfio-pci.ko"

/* Unbind @bdf from its driver: 0 or -errno. */
static int pci_unbind(const char *bdf)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/driver/unbind", PCI_SYSFS_DEVICES,
		 bdf);
	return sysfs_write_str(path, bdf);
}

/* Whether debugfs lazymap/vfio-<bdf>/@file exists. */
static bool space_file(const char *bdf, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), DEBUGFS "/vfio-%s%s%s", bdf,
		 file ? "/" : "", file ? file : "");
	return !access(path, F_OK);
}

/* Find the ivshmem device and the driver, or SKIP: in the caller. */
/* Why this test cannot run here, or NULL; fills @bdf. */
static const char *find_ivshmem(char *bdf, size_t len)
{
	if (pci_find_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, bdf, len))
		return "no ivshmem device";
	if (access("/sys/bus/pci/drivers/" DRIVER, F_OK))
		return DRIVER " is not loaded";
	if (!lm_have_debugfs())
		return "no lazymap debugfs";
	return NULL;
}

/*
 * Unbind and bind again in a loop: the space of each bind has its debugfs
 * files, and an unbind removes them before it returns (a new bind may
 * create the next vfio-<bdf> directory right after).
 */
TEST(rebind_debugfs)
{
	char bdf[PCI_BDF_LEN];
	const char *why;
	int i, ret;

	why = find_ivshmem(bdf, sizeof(bdf));
	if (why)
		SKIP(return, "%s", why);
	for (i = 0; i < 20; i++) {
		ret = pci_bind_driver(bdf, DRIVER);
		ASSERT_EQ(0, ret) TH_LOG("bind %d: %s", i, strerror(-ret));
		EXPECT_TRUE(space_file(bdf, "stats")) TH_LOG("bind %d", i);
		EXPECT_TRUE(space_file(bdf, "mappings")) TH_LOG("bind %d", i);
		ret = pci_unbind(bdf);
		ASSERT_EQ(0, ret) TH_LOG("unbind %d: %s", i, strerror(-ret));
		EXPECT_FALSE(space_file(bdf, NULL))
			TH_LOG("unbind %d left vfio-%s behind", i, bdf);
	}
}

/* Unload and load the driver again; asserts that the load works. */
static void reload_driver(struct __test_metadata *_metadata, const char *ko)
{
	int ret = lm_module_load(ko);

	ASSERT_EQ(0, ret) TH_LOG("loading %s: %s", ko, strerror(-ret));
}

/* Why the module cannot be unloaded and loaded again here, or NULL. */
static const char *find_module(char *ko, size_t len)
{
	if (!lm_module_loaded(MODULE_NAME))
		return MODULE_NAME " is not a module";
	if (lm_module_path(MODULE_FILE, ko, len))
		return "no " MODULE_FILE " to load again";
	return NULL;
}

/* rmmod with a bound device that nothing opened unbinds it and unloads. */
TEST(unload_bound)
{
	char bdf[PCI_BDF_LEN], ko[256], drv[NAME_MAX + 1];
	const char *why;
	int ret;

	why = find_ivshmem(bdf, sizeof(bdf)) ?: find_module(ko, sizeof(ko));
	if (why)
		SKIP(return, "%s", why);
	ret = pci_bind_driver(bdf, DRIVER);
	ASSERT_EQ(0, ret) TH_LOG("bind: %s", strerror(-ret));
	ret = lm_module_unload(MODULE_NAME);
	EXPECT_EQ(0, ret) TH_LOG("unloading with a bound device: %s",
				 strerror(-ret));
	if (ret)
		return;
	EXPECT_EQ(-ENOENT, pci_get_driver(bdf, drv, sizeof(drv)));
	EXPECT_FALSE(space_file(bdf, NULL));
	reload_driver(_metadata, ko);
}

/*
 * A mapping outlives its fds: the unbind waits for it (VFIO waits until
 * the device file, which the VMA holds, is released), the space stays
 * valid meanwhile, and once the mapping is gone the unbind completes and
 * the module unloads.
 */
TEST(unbind_mapped_then_unload)
{
	char bdf[PCI_BDF_LEN], ko[256], lines[2][160];
	struct vfio_region_info bar2;
	struct vfio_type1_dev dev;
	volatile uint8_t *p;
	const char *why;
	int ret, status;
	pid_t child;

	why = find_ivshmem(bdf, sizeof(bdf)) ?: find_module(ko, sizeof(ko));
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, sigbus_install());
	ASSERT_EQ(0, pci_bind_driver(bdf, DRIVER));
	vfio_type1_init(&dev);
	ret = vfio_type1_open(&dev, bdf);
	ASSERT_EQ(0, ret) TH_LOG("VFIO type1 open: %s", strerror(-ret));
	ASSERT_EQ(0, vfio_region_info(dev.device_fd,
				      VFIO_PCI_BAR2_REGION_INDEX, &bar2));
	p = vfio_mmap_aligned(dev.device_fd, bar2.offset, SZ_2M,
			      PROT_READ | PROT_WRITE, SZ_2M, 0);
	ASSERT_NE(MAP_FAILED, (void *)p);
	p[0] = 0x5a;
	vfio_type1_close(&dev);

	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		/* The copy of the mapping would keep the device. */
		munmap((void *)p, SZ_2M);
		_exit(pci_unbind(bdf) ? 1 : 0);
	}
	/* Let the unbind start waiting; the result holds either way. */
	usleep(500 * 1000);
	EXPECT_EQ(1, space_mappings(bdf, lines, 2));
	sigbus_pages(p, SZ_2M, SZ_4K);
	ASSERT_EQ(0, munmap((void *)p, SZ_2M));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("unbind failed: status %#x", status);
	EXPECT_FALSE(space_file(bdf, NULL));

	ret = lm_module_unload(MODULE_NAME);
	EXPECT_EQ(0, ret) TH_LOG("unloading: %s", strerror(-ret));
	if (!ret)
		reload_driver(_metadata, ko);
}

TEST_HARNESS_MAIN
