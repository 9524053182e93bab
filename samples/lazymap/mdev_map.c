// SPDX-License-Identifier: GPL-2.0
/*
 * mdev_map: create a lazymap-mdev mediated device, map its memory BAR
 * through VFIO, use it, and remove the device.
 *
 * usage: mdev_map [type]     (default lazymap-mdev-16M; root)
 *
 * lazymap-mdev is a software PCI device whose BAR2 is RAM allocated page
 * by page on first touch (Documentation/driver-api/lazymap-mdev.rst).  The
 * program creates one through the mdev sysfs interface with a random UUID,
 * opens it through VFIO (a type1 container where the kernel has one, else
 * the iommufd device cdev), turns memory decoding on (a device starts with
 * it off), mmaps BAR2, writes every page through the mapping and reads the
 * BAR back with pread() of the region, checks the device's page count and
 * the faults in debugfs, then unmaps, closes and removes the device.
 * Exits 0 only if every step worked.
 *
 * One file, libc and the kernel's UAPI headers only:
 * "cc -O2 -o mdev_map mdev_map.c".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#define TYPES		"/sys/class/mdev_bus/lazymap-mdev/mdev_supported_types"
#define DEVICES		"/sys/bus/mdev/devices"
#define PG		4096UL
#define REG_MEM_PAGES	0x1c	/* BAR0: pages of BAR2 backed by RAM */

static int failed;

/* Print one aligned result line; a false @ok makes the program fail. */
static void report(const char *what, bool ok, const char *detail)
{
	printf("  %-34s %-4s %s\n", what, ok ? "ok" : "FAIL", detail);
	failed |= !ok;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : write(fd, s, strlen(s));

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* faults_4k of debugfs lazymap/mdev-<uuid>/stats, or -1. */
static long long space_faults_4k(const char *uuid)
{
	char path[PATH_MAX];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/lazymap/mdev-%s/stats",
		 uuid);
	f = fopen(path, "r");
	if (f && fscanf(f, "faults_4k: %lld", &v) != 1)
		v = -1;
	if (f)
		fclose(f);
	return v;
}

/*
 * The device fd of mdev @uuid, or -1.  A type1 container first (the mdev's
 * IOMMU group is an emulated one, /dev/vfio/<group>); kernels without a
 * type1 driver (UML) have the iommufd cdev, /dev/vfio/devices/vfioN.  The
 * device fd holds the group and the container, or the iommufd, so their
 * own fds are closed at once.
 */
static int vfio_open(const char *uuid)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	char path[PATH_MAX], link[PATH_MAX];
	int container, group, fd = -1;
	struct dirent *de = NULL;
	ssize_t n;
	DIR *dir;

	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	snprintf(path, sizeof(path), DEVICES "/%s/iommu_group", uuid);
	n = readlink(path, link, sizeof(link) - 1);
	if (container >= 0 && n > 0 &&
	    ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0) {
		link[n] = '\0';
		snprintf(path, sizeof(path), "/dev/vfio/%d",
			 atoi(strrchr(link, '/') + 1));
		group = open(path, O_RDWR | O_CLOEXEC);
		if (group >= 0 &&
		    !ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) &&
		    !ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
			fd = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, uuid);
		printf("  %-34s %s\n", "opened through VFIO", path);
		close(group);
		close(container);
		return fd;
	}
	if (container >= 0)
		close(container);

	/* The cdev: bind the device to an iommufd, attach it to an IOAS. */
	snprintf(path, sizeof(path), DEVICES "/%s/vfio-dev", uuid);
	dir = opendir(path);
	while (dir && (de = readdir(dir)) && strncmp(de->d_name, "vfio", 4))
		;
	if (de) {
		snprintf(path, sizeof(path), "/dev/vfio/devices/%s", de->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (dir)
		closedir(dir);
	bind.iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd >= 0 && (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
			ioctl(bind.iommufd, IOMMU_IOAS_ALLOC, &ioas))) {
		close(fd);
		fd = -1;
	}
	at.pt_id = ioas.out_ioas_id;
	if (fd >= 0 && ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at)) {
		close(fd);
		fd = -1;
	}
	printf("  %-34s %s\n", "opened through VFIO", path);
	close(bind.iommufd);
	return fd;
}

/* A random (version 4) UUID into @buf, 37 bytes. */
static int make_uuid(char *buf)
{
	unsigned char b[16];
	int fd, i, n = 0;

	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, b, sizeof(b)) != sizeof(b))
		return -1;
	close(fd);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	for (i = 0; i < 16; i++)
		n += sprintf(buf + n, "%02x%s", b[i],
			     i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
	return 0;
}

int main(int argc, char **argv)
{
	struct vfio_region_info bar0 = { .argsz = sizeof(bar0) };
	struct vfio_region_info bar2 = { .argsz = sizeof(bar2) };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg) };
	const char *type = argc > 1 ? argv[1] : "lazymap-mdev-16M";
	char uuid[40], path[PATH_MAX], line[80];
	uint32_t pages = 0;
	long long f0, f1;
	uint16_t cmd = 0;
	bool ok;
	size_t pg, bad;
	uint8_t *p, buf[PG];
	int dev;

	if (make_uuid(uuid))
		return 1;
	snprintf(path, sizeof(path), TYPES "/%s/create", type);
	if (write_str(path, uuid)) {
		perror(path);
		return 1;
	}
	printf("created %s: %s\n", type, uuid);

	dev = vfio_open(uuid);
	if (dev < 0) {
		perror("VFIO");
		failed = 1;
		goto remove;
	}
	bar0.index = VFIO_PCI_BAR0_REGION_INDEX;
	bar2.index = VFIO_PCI_BAR2_REGION_INDEX;
	cfg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &bar0) ||
	    ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &bar2) ||
	    ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &cfg)) {
		perror("VFIO_DEVICE_GET_REGION_INFO");
		failed = 1;
		goto close;
	}

	/* A new device has memory decoding off: BAR2 accesses get SIGBUS. */
	ok = pread(dev, &cmd, 2, cfg.offset + PCI_COMMAND) == 2;
	cmd |= PCI_COMMAND_MEMORY;
	ok = ok && pwrite(dev, &cmd, 2, cfg.offset + PCI_COMMAND) == 2;
	report("turn memory decoding on", ok, "PCI_COMMAND_MEMORY");

	/* mmap allocates nothing; each first touch allocates a page. */
	p = mmap(NULL, bar2.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev,
		 bar2.offset);
	if (p == MAP_FAILED) {
		perror("mmap BAR2");
		failed = 1;
		goto close;
	}
	snprintf(line, sizeof(line), "%llu MiB at %p", bar2.size >> 20, p);
	report("mmap BAR2", true, line);
	f0 = space_faults_4k(uuid);
	for (pg = 0; pg < bar2.size / PG; pg++)
		memset(p + pg * PG, pg % 251 + 1, PG);
	f1 = space_faults_4k(uuid);
	snprintf(line, sizeof(line), "%zu pages, %lld 4K faults (debugfs)",
		 pg, f1 - f0);
	report("write every page through it", f0 >= 0 && f1 - f0 == (long long)pg,
	       line);

	/* The region's read(2) path sees the same memory as the mapping. */
	for (pg = bad = 0; pg < bar2.size / PG; pg++)
		if (pread(dev, buf, PG, bar2.offset + pg * PG) != PG ||
		    buf[0] != pg % 251 + 1 || memcmp(buf, buf + 1, PG - 1))
			bad++;
	snprintf(line, sizeof(line), "%zu of %zu pages differ", bad, pg);
	report("read BAR2 back with pread()", !bad, line);
	pread(dev, &pages, 4, bar0.offset + REG_MEM_PAGES);
	snprintf(line, sizeof(line), "%u pages backed by RAM", pages);
	report("BAR0 MEM_PAGES register", pages == pg, line);
	munmap(p, bar2.size);
close:
	close(dev);
remove:
	/* Blocks until every file and mapping of the device is gone. */
	snprintf(path, sizeof(path), DEVICES "/%s/remove", uuid);
	report("remove the mdev", !write_str(path, "1") &&
	       access(path, F_OK), uuid);
	printf("%s\n", failed ? "FAILED" : "all as expected");
	return failed;
}
