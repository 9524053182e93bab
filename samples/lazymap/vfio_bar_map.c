// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_bar_map: map a PCI BAR through VFIO at a huge-page-aligned address
 * and count the faults that lazymap-vfio-pci served, by size.
 *
 * usage: vfio_bar_map <BDF> <bar>
 *
 * The device must already be bound to lazymap-vfio-pci (see
 * Documentation/admin-guide/lazymap.rst), and every device of its IOMMU
 * group bound to a VFIO driver.  The program opens the group through a
 * type1 container, gets the BAR's region info, mmaps the BAR at an address
 * aligned to 1 GiB (2 MiB, 4 KiB if the BAR is smaller), reads one byte of
 * every page, and prints the fault counters of the device's debugfs
 * directory before and after.  lazymap maps each fault with the largest
 * entry the BAR, its physical address and the user address allow, so the
 * faults must cover the BAR exactly once: the program exits 0 only then.
 *
 * One file, libc and the kernel's UAPI headers only:
 * "cc -O2 -o vfio_bar_map vfio_bar_map.c".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

static const unsigned long sizes[] = { 1UL << 12, 1UL << 21, 1UL << 30 };
static const char *const names[] = { "faults_4k", "faults_2m", "faults_1g" };
static const char *const units[] = { "4 KiB", "2 MiB", "1 GiB" };

/* The fault counters of debugfs lazymap/vfio-<bdf>/stats into @val. */
static int read_faults(const char *bdf, unsigned long long val[3])
{
	char path[PATH_MAX], key[32];
	unsigned long long v;
	int i, found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/lazymap/vfio-%s/stats",
		 bdf);
	f = fopen(path, "r");
	if (!f) {
		perror(path);
		return -1;
	}
	while (fscanf(f, "%31[^:]: %llu\n", key, &v) == 2)
		for (i = 0; i < 3; i++)
			if (!strcmp(key, names[i])) {
				val[i] = v;
				found++;
			}
	fclose(f);
	return found == 3 ? 0 : -1;
}

/*
 * Open @bdf through its IOMMU group (/dev/vfio/<group>) and a type1
 * container: the device fd, or -1.  Container and group stay open for the
 * life of the program; the device belongs to them.
 */
static int vfio_open(const char *bdf)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX], link[PATH_MAX];
	int container, group, device, grp;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		perror(path);
		return -1;
	}
	link[n] = '\0';
	grp = atoi(strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	snprintf(path, sizeof(path), "/dev/vfio/%d", grp);
	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	group = open(path, O_RDWR | O_CLOEXEC);
	if (container < 0 || group < 0) {
		perror("open /dev/vfio");
		return -1;
	}
	/* Viable: every device of the group is bound to VFIO (or none). */
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		fprintf(stderr, "%s: group not viable: bind all its devices\n", path);
		return -1;
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) ||
	    ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		perror("VFIO type1");
		return -1;
	}
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (device < 0)
		perror("VFIO_GROUP_GET_DEVICE_FD");
	else
		printf("%-12s %s, IOMMU group %d\n", "device", bdf, grp);
	return device;
}

int main(int argc, char **argv)
{
	struct vfio_region_info bar = { .argsz = sizeof(bar) };
	unsigned long long before[3] = { 0 }, after[3] = { 0 }, covered = 0;
	uintptr_t res, addr;
	struct timespec t0, t1;
	size_t len, align, off;
	volatile uint8_t *p;
	int device, i, lvl;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <BDF> <bar>\n", argv[0]);
		return 2;
	}
	device = vfio_open(argv[1]);
	if (device < 0)
		return 1;
	bar.index = VFIO_PCI_BAR0_REGION_INDEX + atoi(argv[2]);
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &bar) ||
	    !(bar.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		fprintf(stderr, "BAR%s: no such BAR, or it cannot be mmapped\n",
			argv[2]);
		return 1;
	}
	len = (bar.size + sizes[0] - 1) & ~(sizes[0] - 1);
	for (lvl = 2; lvl > 0 && len < sizes[lvl]; lvl--)
		;
	align = sizes[lvl];

	/*
	 * A huge entry needs the user address aligned like the physical one:
	 * reserve len + align bytes anywhere, then map the BAR over the
	 * aligned part of the reservation and give the rest back.
	 */
	res = (uintptr_t)mmap(NULL, len + align, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	addr = (res + align - 1) & ~(align - 1);
	p = mmap((void *)addr, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, device, bar.offset);
	if (res == (uintptr_t)MAP_FAILED || p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	munmap((void *)res, addr - res);
	munmap((void *)(addr + len), res + align - addr);
	printf("%-12s BAR%s, %llu bytes, at %p (%s-aligned)\n", "mapped",
	       argv[2], bar.size, (void *)p, units[lvl]);

	/* mmap installed nothing: every page table entry comes from a fault. */
	if (read_faults(argv[1], before))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (off = 0; off < len; off += sizes[0])
		(void)p[off];
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (read_faults(argv[1], after))
		return 1;
	printf("%-12s %zu pages in %.1f ms\n", "touched", len / sizes[0],
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	printf("%-12s", "faults");
	for (i = 0; i < 3; i++) {
		printf(" %s: %llu%s", units[i], after[i] - before[i],
		       i < 2 ? "," : "");
		covered += (after[i] - before[i]) * sizes[i];
	}
	printf(" (debugfs lazymap/vfio-%s/stats)\n", argv[1]);
	printf("%-12s %llu of %zu bytes\n", "covered", covered, len);

	munmap((void *)p, len);
	close(device);
	return covered == len ? 0 : 1;
}
