// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests of lazymap-mdev (CONFIG_LAZYMAP_MDEV), the mediated PCI device
 * whose BAR2 "device memory" is a lazymap space; see
 * Documentation/driver-api/lazymap-mdev.rst.
 *
 * The fixture creates an mdev of each type (variants m16 and m64) through
 * the mdev sysfs interface with a random UUID, opens it through VFIO and
 * removes it in the teardown.  VFIO is reached whichever way the kernel
 * offers: the type1 container (/dev/vfio/vfio, the stock Debian kernel of
 * the QEMU stage) or, without a type1 IOMMU driver (UML), the iommufd
 * device cdev (/dev/vfio/devices/vfioN bound to /dev/iommu).  Everything
 * SKIPs when the lazymap-mdev parent does not exist.
 *
 * What is checked: config space identification, the command register and
 * BAR sizing; the BAR0 registers; region and IRQ info; that BAR2 mmaps fault
 * lazily, page by page, and agree with region reads and writes; that memory
 * disable, VFIO_DEVICE_RESET and the debugfs revoke knob take BAR2 away
 * (SIGBUS, -EIO) and give it back intact (or, after reset, cleared); fork,
 * partial munmap and closing the device fd while mapped; creating and
 * removing mdevs up to the type's limit; and tables of invalid sysfs input,
 * region accesses, mmaps and ioctl arguments with their errnos.  BAR2
 * pages are charged to the memory cgroup of the task that touches them;
 * where lazymap-mdev is a module (QEMU), rmmod removes live mdevs, and
 * works after a remove that waited for a mapping to go.  race_stress:
 * threads and a forked process fault BAR2 while others reset the device
 * and turn memory decoding off and on, then the mdev is removed through
 * sysfs while a child still faults its mapping (fixed rounds).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "vfio_util.h"

#define MDEV_PARENT		"/sys/class/mdev_bus/lazymap-mdev"
#define MDEV_TYPES		MDEV_PARENT "/mdev_supported_types"
#define MDEV_DEVICES		"/sys/bus/mdev/devices"
#define MDEV_DEBUGFS		"/sys/kernel/debug/lazymap-mdev"
#define IOMMUFD_PATH		"/dev/iommu"

#define TYPE_16M		"lazymap-mdev-16M"
#define TYPE_64M		"lazymap-mdev-64M"
#define MAX_INSTANCES		8

/* The layout of drivers/vfio/mdev/lazymap/lazymap_mdev.h. */
#define MDEV_VENDOR		0x1b36
#define MDEV_DEVICE		0x4c4d
#define MDEV_REVISION		0x01
#define MDEV_CLASS		0x058000
#define CONFIG_SIZE		256
#define BAR0_SIZE		4096UL

#define REG_ID			0x00
#define REG_VERSION		0x04
#define REG_SCRATCH		0x08
#define REG_STATUS		0x0c
#define REG_MEM_SIZE_LO		0x10
#define REG_MEM_SIZE_HI		0x14
#define REG_GENERATION		0x18
#define REG_MEM_PAGES		0x1c
#define MDEV_ID			0x6c7a6d64
#define MDEV_VERSION		0x00010000
#define STATUS_ACCESSIBLE	0x1
#define STATUS_REVOKED		0x2

/* Region N at file offset N << 40, as in vfio-pci (checked by region_info). */
#define REGION(index)		((uint64_t)(index) << 40)
#define CFG			VFIO_PCI_CONFIG_REGION_INDEX
#define BAR0			VFIO_PCI_BAR0_REGION_INDEX
#define BAR2			VFIO_PCI_BAR2_REGION_INDEX
#define ROM			VFIO_PCI_ROM_REGION_INDEX
#define VGA			VFIO_PCI_VGA_REGION_INDEX
#define NREG			VFIO_PCI_NUM_REGIONS

#define UUID_LEN		36

/* Byte of the test pattern in page @pg of BAR2, with a per-test @seed. */
static uint8_t pat(size_t pg, unsigned int seed)
{
	return (pg * 7 + seed) % 251 + 1;
}

/* A random (version 4) UUID, lower case, into @buf (UUID_LEN + 1 bytes). */
static int make_uuid(char *buf)
{
	unsigned char b[16];
	int fd, i, n = 0;
	ssize_t r;

	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read(fd, b, sizeof(b));
	close(fd);
	if (r != sizeof(b))
		return -EIO;
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	for (i = 0; i < 16; i++) {
		n += sprintf(buf + n, "%02x", b[i]);
		if (i == 3 || i == 5 || i == 7 || i == 9)
			buf[n++] = '-';
	}
	buf[n] = '\0';
	return 0;
}

static int mdev_create(const char *type, const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), MDEV_TYPES "/%s/create", type);
	return sysfs_write_str(path, uuid);
}

static int mdev_remove(const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/remove", uuid);
	return sysfs_write_str(path, "1");
}

static bool mdev_exists(const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s", uuid);
	return !access(path, F_OK);
}

/* available_instances of @type, or -errno. */
static long mdev_available(const char *type)
{
	char path[PATH_MAX], buf[32];
	int ret;

	snprintf(path, sizeof(path), MDEV_TYPES "/%s/available_instances",
		 type);
	ret = sysfs_read_str(path, buf, sizeof(buf));
	return ret ? ret : strtol(buf, NULL, 10);
}

/* One mdev opened through VFIO, by either interface. */
struct mdev_vfio {
	bool cdev;		/* iommufd cdev, else type1 container */
	int container_fd;
	int group_fd;
	int iommufd;
	int device_fd;
};

static void mdev_vfio_init(struct mdev_vfio *v)
{
	v->cdev = false;
	v->container_fd = -1;
	v->group_fd = -1;
	v->iommufd = -1;
	v->device_fd = -1;
}

static void mdev_vfio_close(struct mdev_vfio *v)
{
	int *fds[] = { &v->device_fd, &v->group_fd, &v->container_fd,
		       &v->iommufd };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* IOMMU group number of the mdev, from its iommu_group link. */
static int mdev_iommu_group(const char *uuid)
{
	char path[PATH_MAX], link[PATH_MAX], *base;
	ssize_t n;

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/iommu_group", uuid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	base = strrchr(link, '/');
	return atoi(base ? base + 1 : link);
}

/*
 * Type1 container: -EOPNOTSUPP (or another error) when the kernel has no
 * container or no type1 IOMMU driver; the caller tries the cdev then.
 */
static int mdev_open_type1(struct mdev_vfio *v, const char *uuid)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX];
	int grp;

	v->container_fd = open(VFIO_CONTAINER_PATH, O_RDWR | O_CLOEXEC);
	if (v->container_fd < 0)
		return -errno;
	if (ioctl(v->container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return -EPROTO;
	if (ioctl(v->container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		return -EOPNOTSUPP;

	grp = mdev_iommu_group(uuid);
	if (grp < 0)
		return grp;
	snprintf(path, sizeof(path), "/dev/vfio/%d", grp);
	v->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (v->group_fd < 0)
		return -errno;
	if (ioctl(v->group_fd, VFIO_GROUP_GET_STATUS, &status))
		return -errno;
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -EBUSY;
	if (ioctl(v->group_fd, VFIO_GROUP_SET_CONTAINER, &v->container_fd))
		return -errno;
	if (ioctl(v->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	v->device_fd = ioctl(v->group_fd, VFIO_GROUP_GET_DEVICE_FD, uuid);
	return v->device_fd < 0 ? -errno : 0;
}

/* The vfioN name of the mdev's device cdev, into @name. */
static int mdev_cdev_name(const char *uuid, char *name, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret = -ENOENT;
	DIR *dir;

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/vfio-dev", uuid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "vfio", 4))
			continue;
		ret = strlen(de->d_name) < len ? 0 : -ENAMETOOLONG;
		if (!ret)
			memcpy(name, de->d_name, strlen(de->d_name) + 1);
		break;
	}
	closedir(dir);
	return ret;
}

/* Open the device cdev and bind it to v->iommufd, attached to a new IOAS. */
static int mdev_open_cdev_device(struct mdev_vfio *v, const char *uuid)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char name[32], path[PATH_MAX];
	int ret;

	ret = mdev_cdev_name(uuid, name, sizeof(name));
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", name);
	v->device_fd = open(path, O_RDWR | O_CLOEXEC);
	if (v->device_fd < 0)
		return -errno;
	bind.iommufd = v->iommufd;
	if (ioctl(v->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -errno;
	if (ioctl(v->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return -errno;
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(v->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return -errno;
	return 0;
}

static int mdev_open_cdev(struct mdev_vfio *v, const char *uuid)
{
	v->cdev = true;
	v->iommufd = open(IOMMUFD_PATH, O_RDWR | O_CLOEXEC);
	if (v->iommufd < 0)
		return -errno;
	return mdev_open_cdev_device(v, uuid);
}

/* Open the mdev through the type1 container, else the iommufd cdev. */
static int mdev_open(struct mdev_vfio *v, const char *uuid)
{
	int ret;

	mdev_vfio_init(v);
	ret = mdev_open_type1(v, uuid);
	if (!ret)
		return 0;
	mdev_vfio_close(v);
	ret = mdev_open_cdev(v, uuid);
	if (ret)
		mdev_vfio_close(v);
	return ret;
}

/* Open the device fd again after it was closed, on the same container/iommufd. */
static int mdev_reopen_device(struct mdev_vfio *v, const char *uuid)
{
	if (v->device_fd >= 0)
		close(v->device_fd);
	v->device_fd = -1;
	if (v->cdev)
		return mdev_open_cdev_device(v, uuid);
	v->device_fd = ioctl(v->group_fd, VFIO_GROUP_GET_DEVICE_FD, uuid);
	return v->device_fd < 0 ? -errno : 0;
}

/*
 * One access of @len bytes at @off of region @index; the value is little
 * endian in the file, host order in *@val (the selftests run on x86 and
 * UML, both little endian).  0, or -errno.
 */
static int region_rw(int fd, unsigned int index, uint64_t off, size_t len,
		     uint32_t *val, bool write)
{
	uint32_t v = write ? *val : 0;
	ssize_t n;

	if (len > sizeof(v))
		return -E2BIG;
	if (write)
		n = pwrite(fd, &v, len, REGION(index) + off);
	else
		n = pread(fd, &v, len, REGION(index) + off);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EIO;
	if (!write)
		*val = v;
	return 0;
}

/* The value read, or -1 if the read failed. */
static int64_t rd(int fd, unsigned int index, uint64_t off, size_t len)
{
	uint32_t v = 0;

	if (region_rw(fd, index, off, len, &v, false))
		return -1;
	return v;
}

static int wr(int fd, unsigned int index, uint64_t off, size_t len,
	      uint32_t v)
{
	return region_rw(fd, index, off, len, &v, true);
}

/* Turn memory decoding on or off in the command register. */
static int mem_enable(int fd, bool on)
{
	uint32_t cmd = 0;
	int ret;

	ret = region_rw(fd, CFG, PCI_COMMAND, 2, &cmd, false);
	if (ret)
		return ret;
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	return wr(fd, CFG, PCI_COMMAND, 2, cmd);
}

/* Write "@val" to the debugfs knob of @uuid: 0 or -errno. */
static int knob_write(const char *uuid, const char *val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), MDEV_DEBUGFS "/%s/revoke", uuid);
	return sysfs_write_str(path, val);
}

static int knob_read(const char *uuid)
{
	char path[PATH_MAX], buf[16];
	int ret;

	snprintf(path, sizeof(path), MDEV_DEBUGFS "/%s/revoke", uuid);
	ret = sysfs_read_str(path, buf, sizeof(buf));
	return ret ? ret : atoi(buf);
}

static bool knob_present(const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), MDEV_DEBUGFS "/%s/revoke", uuid);
	return !access(path, F_OK);
}

FIXTURE(lazymap_mdev) {
	char uuid[UUID_LEN + 1];
	char space[UUID_LEN + 8];	/* lazymap debugfs name: mdev-<uuid> */
	bool created;
	struct mdev_vfio v;
	uint64_t size;			/* BAR2 */
	void *map;			/* the test's mapping, or NULL */
	size_t map_len;
};

FIXTURE_VARIANT(lazymap_mdev) {
	const char *type;
	uint64_t size;
};

FIXTURE_VARIANT_ADD(lazymap_mdev, m16) {
	.type = TYPE_16M,
	.size = 16 * SZ_1M,
};

FIXTURE_VARIANT_ADD(lazymap_mdev, m64) {
	.type = TYPE_64M,
	.size = 64 * SZ_1M,
};

FIXTURE_SETUP(lazymap_mdev)
{
	int ret;

	self->created = false;
	self->map = NULL;
	self->map_len = 0;
	self->size = variant->size;
	mdev_vfio_init(&self->v);

	if (access(MDEV_TYPES, F_OK))
		SKIP(return, "no %s (CONFIG_LAZYMAP_MDEV not enabled?)",
		     MDEV_TYPES);
	if (sysconf(_SC_PAGESIZE) != (long)PG)
		SKIP(return, "page size %ld: these tests assume 4 KiB",
		     sysconf(_SC_PAGESIZE));

	ASSERT_EQ(0, sigbus_install());
	ASSERT_EQ(0, make_uuid(self->uuid));
	snprintf(self->space, sizeof(self->space), "mdev-%s", self->uuid);
	ret = mdev_create(variant->type, self->uuid);
	ASSERT_EQ(0, ret)
		TH_LOG("creating %s %s: %s", variant->type, self->uuid,
		       strerror(-ret));
	self->created = true;

	/* No teardown after a failed setup: remove the mdev here. */
	ret = mdev_open(&self->v, self->uuid);
	if (ret) {
		mdev_remove(self->uuid);
		self->created = false;
	}
	ASSERT_EQ(0, ret)
		TH_LOG("opening %s through VFIO: %s", self->uuid,
		       strerror(-ret));
}

FIXTURE_TEARDOWN(lazymap_mdev)
{
	int ret;

	if (self->map)
		munmap(self->map, self->map_len);
	mdev_vfio_close(&self->v);
	if (self->created) {
		ret = mdev_remove(self->uuid);
		if (ret)
			TH_LOG("removing %s: %s", self->uuid, strerror(-ret));
	}
}

/* mmap(MAP_SHARED) [off, off + len) of BAR2 as self->map. */
static volatile uint8_t *bar2_map(FIXTURE_DATA(lazymap_mdev) *self,
				  uint64_t off, size_t len)
{
	return lm_mmap_noted(self->v.device_fd, REGION(BAR2) + off, len,
			     &self->map, &self->map_len);
}

static int bar2_unmap(FIXTURE_DATA(lazymap_mdev) *self)
{
	return lm_munmap_noted(&self->map, self->map_len);
}

static unsigned long long stat_of(FIXTURE_DATA(lazymap_mdev) *self,
				  const char *name)
{
	unsigned long long v = ~0ULL;

	if (lm_space_stat(self->space, name, &v))
		return ~0ULL;
	return v;
}

/* Fill pages [0, n) of a mapping of BAR2 from offset 0 with pat(., seed). */
static void fill_pages(volatile uint8_t *p, size_t n, unsigned int seed)
{
	size_t pg;

	for (pg = 0; pg < n; pg++)
		memset((uint8_t *)p + pg * PG, pat(pg, seed), PG);
}

/* First byte of pages [0, n) not holding pat(., seed) (or 0), or -1. */
static long check_pages(const volatile uint8_t *p, size_t n,
			unsigned int seed, bool zero)
{
	size_t pg;
	long off;

	for (pg = 0; pg < n; pg++) {
		off = first_mismatch(p + pg * PG, PG, zero ? 0 : pat(pg, seed));
		if (off >= 0)
			return pg * PG + off;
	}
	return -1;
}

TEST_F(lazymap_mdev, config_space)
{
	int fd = self->v.device_fd;

	EXPECT_EQ(MDEV_VENDOR, rd(fd, CFG, PCI_VENDOR_ID, 2));
	EXPECT_EQ(MDEV_DEVICE, rd(fd, CFG, PCI_DEVICE_ID, 2));
	EXPECT_EQ(MDEV_VENDOR | MDEV_DEVICE << 16, rd(fd, CFG, 0, 4));
	EXPECT_EQ(MDEV_CLASS << 8 | MDEV_REVISION,
		  rd(fd, CFG, PCI_CLASS_REVISION, 4));
	EXPECT_EQ(PCI_HEADER_TYPE_NORMAL, rd(fd, CFG, PCI_HEADER_TYPE, 1));
	EXPECT_EQ(MDEV_VENDOR, rd(fd, CFG, PCI_SUBSYSTEM_VENDOR_ID, 2));
	EXPECT_EQ((int64_t)(self->size / SZ_1M), rd(fd, CFG, PCI_SUBSYSTEM_ID, 2));
	EXPECT_EQ(0U, rd(fd, CFG, PCI_CAPABILITY_LIST, 1));
	EXPECT_EQ(0U, rd(fd, CFG, PCI_INTERRUPT_PIN, 1));
	EXPECT_EQ(0U, rd(fd, CFG, 0xfc, 4));

	/* Power-on: command and status 0 (memory decoding off). */
	EXPECT_EQ(0U, rd(fd, CFG, PCI_COMMAND, 4));

	/* Only IO, MEMORY and MASTER are writable; status is read-only. */
	ASSERT_EQ(0, wr(fd, CFG, PCI_COMMAND, 4, 0xffffffff));
	EXPECT_EQ(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER,
		  rd(fd, CFG, PCI_COMMAND, 4));
	ASSERT_EQ(0, wr(fd, CFG, PCI_COMMAND, 2, 0));
	EXPECT_EQ(0U, rd(fd, CFG, PCI_COMMAND, 2));
	ASSERT_EQ(0, wr(fd, CFG, PCI_COMMAND, 1, PCI_COMMAND_MEMORY));
	EXPECT_EQ(PCI_COMMAND_MEMORY, rd(fd, CFG, PCI_COMMAND, 2));
	ASSERT_EQ(0, wr(fd, CFG, PCI_COMMAND + 1, 1, 0xff));
	EXPECT_EQ(PCI_COMMAND_MEMORY, rd(fd, CFG, PCI_COMMAND, 2));

	/* Identification is read-only; the interrupt line is read-write. */
	ASSERT_EQ(0, wr(fd, CFG, PCI_VENDOR_ID, 4, 0));
	EXPECT_EQ(MDEV_VENDOR | MDEV_DEVICE << 16, rd(fd, CFG, 0, 4));
	ASSERT_EQ(0, wr(fd, CFG, PCI_CLASS_REVISION, 4, 0x12345678));
	EXPECT_EQ(MDEV_CLASS << 8 | MDEV_REVISION,
		  rd(fd, CFG, PCI_CLASS_REVISION, 4));
	ASSERT_EQ(0, wr(fd, CFG, PCI_INTERRUPT_LINE, 1, 0x5a));
	EXPECT_EQ(0x5aU, rd(fd, CFG, PCI_INTERRUPT_LINE, 1));
	ASSERT_EQ(0, wr(fd, CFG, PCI_INTERRUPT_PIN, 1, 0x01));
	EXPECT_EQ(0U, rd(fd, CFG, PCI_INTERRUPT_PIN, 1));
}

TEST_F(lazymap_mdev, bar_sizing)
{
	const uint32_t bar2_flags = PCI_BASE_ADDRESS_SPACE_MEMORY |
				    PCI_BASE_ADDRESS_MEM_TYPE_64 |
				    PCI_BASE_ADDRESS_MEM_PREFETCH;
	const unsigned int unused[] = {
		PCI_BASE_ADDRESS_1, PCI_BASE_ADDRESS_4, PCI_BASE_ADDRESS_5,
		PCI_ROM_ADDRESS, PCI_CARDBUS_CIS,
	};
	int fd = self->v.device_fd;
	uint64_t lo, hi, size;
	size_t i;

	/* Power-on values: type bits only. */
	EXPECT_EQ(PCI_BASE_ADDRESS_MEM_TYPE_32,
		  rd(fd, CFG, PCI_BASE_ADDRESS_0, 4));
	EXPECT_EQ(bar2_flags, rd(fd, CFG, PCI_BASE_ADDRESS_2, 4));
	EXPECT_EQ(0U, rd(fd, CFG, PCI_BASE_ADDRESS_3, 4));

	/* BAR0: 4 KiB, 32-bit, non-prefetchable. */
	ASSERT_EQ(0, wr(fd, CFG, PCI_BASE_ADDRESS_0, 4, 0xffffffff));
	EXPECT_EQ((uint32_t)~(BAR0_SIZE - 1),
		  rd(fd, CFG, PCI_BASE_ADDRESS_0, 4));
	ASSERT_EQ(0, wr(fd, CFG, PCI_BASE_ADDRESS_0, 4, 0xfebc1234));
	EXPECT_EQ(0xfebc1000U, rd(fd, CFG, PCI_BASE_ADDRESS_0, 4));
	/* A byte write merges like any other. */
	ASSERT_EQ(0, wr(fd, CFG, PCI_BASE_ADDRESS_0 + 3, 1, 0xe0));
	EXPECT_EQ(0xe0bc1000U, rd(fd, CFG, PCI_BASE_ADDRESS_0, 4));

	/* BAR2/3: the type's size, 64-bit prefetchable. */
	ASSERT_EQ(0, wr(fd, CFG, PCI_BASE_ADDRESS_2, 4, 0xffffffff));
	ASSERT_EQ(0, wr(fd, CFG, PCI_BASE_ADDRESS_3, 4, 0xffffffff));
	lo = rd(fd, CFG, PCI_BASE_ADDRESS_2, 4);
	hi = rd(fd, CFG, PCI_BASE_ADDRESS_3, 4);
	EXPECT_EQ(bar2_flags, lo & 0xf);
	EXPECT_EQ(0xffffffffU, hi);
	size = ~((hi << 32) | (lo & ~0xfULL)) + 1;
	EXPECT_EQ(self->size, size);
	ASSERT_EQ(0, wr(fd, CFG, PCI_BASE_ADDRESS_2, 4, 0x12345678));
	ASSERT_EQ(0, wr(fd, CFG, PCI_BASE_ADDRESS_3, 4, 0x9));
	EXPECT_EQ((0x12345678U & ~(uint32_t)(self->size - 1)) | bar2_flags,
		  rd(fd, CFG, PCI_BASE_ADDRESS_2, 4));
	EXPECT_EQ(0x9U, rd(fd, CFG, PCI_BASE_ADDRESS_3, 4));

	/* Unimplemented BARs and the ROM BAR read 0 whatever is written. */
	for (i = 0; i < ARRAY_SIZE(unused); i++) {
		ASSERT_EQ(0, wr(fd, CFG, unused[i], 4, 0xffffffff));
		EXPECT_EQ(0U, rd(fd, CFG, unused[i], 4))
			TH_LOG("config offset 0x%x", unused[i]);
	}
}

TEST_F(lazymap_mdev, bar0_registers)
{
	int fd = self->v.device_fd;
	uint32_t v;

	/* Memory decoding off: BAR0 does not answer. */
	EXPECT_EQ(-EIO, region_rw(fd, BAR0, REG_ID, 4, &v, false));
	v = 1;
	EXPECT_EQ(-EIO, region_rw(fd, BAR0, REG_SCRATCH, 4, &v, true));

	ASSERT_EQ(0, mem_enable(fd, true));
	EXPECT_EQ(MDEV_ID, rd(fd, BAR0, REG_ID, 4));
	EXPECT_EQ(MDEV_VERSION, rd(fd, BAR0, REG_VERSION, 4));
	EXPECT_EQ((int64_t)self->size, rd(fd, BAR0, REG_MEM_SIZE_LO, 4));
	EXPECT_EQ(0U, rd(fd, BAR0, REG_MEM_SIZE_HI, 4));
	EXPECT_EQ(STATUS_ACCESSIBLE, rd(fd, BAR0, REG_STATUS, 4));
	EXPECT_EQ(0U, rd(fd, BAR0, REG_GENERATION, 4));
	EXPECT_EQ(0U, rd(fd, BAR0, REG_MEM_PAGES, 4));
	EXPECT_EQ(0U, rd(fd, BAR0, REG_SCRATCH, 4));

	/* SCRATCH keeps what is written, by byte lanes. */
	ASSERT_EQ(0, wr(fd, BAR0, REG_SCRATCH, 4, 0xdeadbeef));
	EXPECT_EQ(0xdeadbeefU, rd(fd, BAR0, REG_SCRATCH, 4));
	ASSERT_EQ(0, wr(fd, BAR0, REG_SCRATCH + 2, 2, 0x1234));
	EXPECT_EQ(0x1234beefU, rd(fd, BAR0, REG_SCRATCH, 4));
	ASSERT_EQ(0, wr(fd, BAR0, REG_SCRATCH, 1, 0x55));
	EXPECT_EQ(0x1234be55U, rd(fd, BAR0, REG_SCRATCH, 4));
	EXPECT_EQ(0x12U, rd(fd, BAR0, REG_SCRATCH + 3, 1));
	EXPECT_EQ(0xbe55U, rd(fd, BAR0, REG_SCRATCH, 2));
	EXPECT_EQ(0x6dU, rd(fd, BAR0, REG_ID + 1, 1));

	/* Read-only registers ignore writes; unknown offsets read 0. */
	ASSERT_EQ(0, wr(fd, BAR0, REG_ID, 4, 0));
	EXPECT_EQ(MDEV_ID, rd(fd, BAR0, REG_ID, 4));
	ASSERT_EQ(0, wr(fd, BAR0, REG_MEM_SIZE_LO, 4, 0));
	EXPECT_EQ((int64_t)self->size, rd(fd, BAR0, REG_MEM_SIZE_LO, 4));
	ASSERT_EQ(0, wr(fd, BAR0, REG_GENERATION, 4, 77));
	EXPECT_EQ(0U, rd(fd, BAR0, REG_GENERATION, 4));
	ASSERT_EQ(0, wr(fd, BAR0, 0x100, 4, 0xffffffff));
	EXPECT_EQ(0U, rd(fd, BAR0, 0x100, 4));
	EXPECT_EQ(0U, rd(fd, BAR0, BAR0_SIZE - 4, 4));

	/* Off again: -EIO, and the registers kept their values. */
	ASSERT_EQ(0, mem_enable(fd, false));
	EXPECT_EQ(-EIO, region_rw(fd, BAR0, REG_SCRATCH, 4, &v, false));
	ASSERT_EQ(0, mem_enable(fd, true));
	EXPECT_EQ(0x1234be55U, rd(fd, BAR0, REG_SCRATCH, 4));
}

TEST_F(lazymap_mdev, region_info)
{
	const __u32 rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	struct vfio_device_info info;
	struct vfio_region_info reg;
	unsigned int i;

	TH_LOG("VFIO through the %s", self->v.cdev ?
	       "iommufd device cdev" : "type1 container");
	ASSERT_EQ(0, vfio_device_info(self->v.device_fd, &info));
	EXPECT_EQ((__u32)(VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET),
		  info.flags);
	EXPECT_EQ((__u32)VFIO_PCI_NUM_REGIONS, info.num_regions);
	EXPECT_EQ((__u32)VFIO_PCI_NUM_IRQS, info.num_irqs);

	for (i = 0; i < VFIO_PCI_NUM_REGIONS; i++) {
		__u64 size = 0;
		__u32 flags = 0;

		if (i == CFG) {
			size = CONFIG_SIZE;
			flags = rw;
		} else if (i == BAR0) {
			size = BAR0_SIZE;
			flags = rw;
		} else if (i == BAR2) {
			size = self->size;
			flags = rw | VFIO_REGION_INFO_FLAG_MMAP;
		}
		ASSERT_EQ(0, vfio_region_info(self->v.device_fd, i, &reg));
		EXPECT_EQ(size, reg.size)
			TH_LOG("region %u", i);
		EXPECT_EQ(flags, reg.flags)
			TH_LOG("region %u", i);
		EXPECT_EQ(REGION(i), reg.offset)
			TH_LOG("region %u", i);
		EXPECT_EQ(0U, reg.cap_offset);
	}

	for (i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = i };

		ASSERT_EQ(0, ioctl(self->v.device_fd, VFIO_DEVICE_GET_IRQ_INFO,
				   &irq));
		EXPECT_EQ(0U, irq.count);
		EXPECT_EQ(0U, irq.flags);
	}
}

TEST_F(lazymap_mdev, mmap_lazy)
{
	const size_t n = 16, step = self->size / PG / n;
	int fd = self->v.device_fd;
	volatile uint8_t *p;
	uint8_t buf[PG];
	size_t i;

	if (!lm_have_debugfs())
		SKIP(return, "no %s", LAZYMAP_DEBUGFS);
	ASSERT_EQ(0, mem_enable(fd, true));
	p = bar2_map(self, 0, self->size);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap BAR2: %s", strerror(errno));

	/* mmap installs nothing and allocates nothing. */
	EXPECT_EQ(0ULL, stat_of(self, "faults_4k"));
	EXPECT_EQ(1ULL, stat_of(self, "mappings"));
	EXPECT_EQ(self->size, stat_of(self, "size"));
	EXPECT_EQ(0U, rd(fd, BAR0, REG_MEM_PAGES, 4));

	/* Each page touched faults once and is backed by one page. */
	for (i = 0; i < n; i++)
		memset((uint8_t *)p + i * step * PG, pat(i * step, 1), PG);
	EXPECT_EQ(n, stat_of(self, "faults_4k"));
	EXPECT_EQ((int64_t)n, rd(fd, BAR0, REG_MEM_PAGES, 4));
	for (i = 0; i < n; i++) {
		long bad = first_mismatch(p + i * step * PG, PG,
					  pat(i * step, 1));

		EXPECT_EQ(-1L, bad)
			TH_LOG("page %zu byte %ld", i * step, bad);
	}
	EXPECT_EQ(n, stat_of(self, "faults_4k"));

	/* Region reads see what the mapping wrote, across a page boundary. */
	for (i = 0; i < n; i++) {
		ASSERT_EQ((ssize_t)PG, pread(fd, buf, PG,
					     REGION(BAR2) + i * step * PG));
		EXPECT_EQ(-1L, first_mismatch(buf, PG, pat(i * step, 1)));
	}
	ASSERT_EQ(16, pread(fd, buf, 16, REGION(BAR2) + step * PG - 8));
	EXPECT_EQ(-1L, first_mismatch(buf, 8, 0));
	EXPECT_EQ(-1L, first_mismatch(buf + 8, 8, pat(step, 1)));

	/* A page never touched reads zeroes without being allocated. */
	ASSERT_EQ((ssize_t)PG, pread(fd, buf, PG, REGION(BAR2) + PG));
	EXPECT_EQ(-1L, first_mismatch(buf, PG, 0));
	EXPECT_EQ((int64_t)n, rd(fd, BAR0, REG_MEM_PAGES, 4));

	/* A region write allocates; the mapping faults it in and sees it. */
	memset(buf, 0x3c, PG);
	ASSERT_EQ((ssize_t)PG, pwrite(fd, buf, PG, REGION(BAR2) + PG));
	EXPECT_EQ((int64_t)n + 1, rd(fd, BAR0, REG_MEM_PAGES, 4));
	EXPECT_EQ(-1L, first_mismatch(p + PG, PG, 0x3c));
	EXPECT_EQ(n + 1, stat_of(self, "faults_4k"));

	/* The mapping's own page: a region write shows through it at once. */
	memset(buf, 0xc3, 8);
	ASSERT_EQ(8, pwrite(fd, buf, 8, REGION(BAR2) + 100));
	EXPECT_EQ(0xc3, p[100]);
	EXPECT_EQ(0xc3, p[107]);
	EXPECT_EQ(pat(0, 1), p[108]);

	/* A region read whose buffer is a mapping of BAR2 itself. */
	ASSERT_EQ(64, pread(fd, (void *)(p + 5 * PG), 64, REGION(BAR2) + PG));
	EXPECT_EQ(-1L, first_mismatch(p + 5 * PG, 64, 0x3c));
}

TEST_F(lazymap_mdev, memory_disable)
{
	const size_t n = 8;
	int fd = self->v.device_fd;
	unsigned long long sigbus0, revokes0, faults0;
	volatile uint8_t *p;
	uint8_t v, buf[16];
	long bad;

	if (!lm_have_debugfs())
		SKIP(return, "no %s", LAZYMAP_DEBUGFS);
	ASSERT_EQ(0, mem_enable(fd, true));
	p = bar2_map(self, 0, n * PG);
	ASSERT_NE(NULL, p);
	fill_pages(p, n, 2);
	sigbus0 = stat_of(self, "sigbus");
	revokes0 = stat_of(self, "revokes");
	faults0 = stat_of(self, "faults_4k");

	ASSERT_EQ(0, mem_enable(fd, false));
	EXPECT_EQ(revokes0 + 1, stat_of(self, "revokes"));
	EXPECT_EQ(-1, read_byte(p, &v));
	EXPECT_EQ(-1, write_byte(p + 3 * PG, 1));
	EXPECT_EQ(sigbus0 + 2, stat_of(self, "sigbus"));
	EXPECT_EQ(-1, pread(fd, buf, sizeof(buf), REGION(BAR2)));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(-1, pwrite(fd, buf, sizeof(buf), REGION(BAR2)));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(-1, pread(fd, buf, 4, REGION(BAR0)));
	EXPECT_EQ(EIO, errno);
	/* Config space stays reachable, or nobody could turn it back on. */
	EXPECT_EQ(0U, rd(fd, CFG, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);

	/* Disabling twice changes nothing. */
	ASSERT_EQ(0, mem_enable(fd, false));
	EXPECT_EQ(revokes0 + 1, stat_of(self, "revokes"));

	ASSERT_EQ(0, mem_enable(fd, true));
	bad = check_pages(p, n, 2, false);
	EXPECT_EQ(-1L, bad)
		TH_LOG("byte 0x%lx after re-enable", bad);
	/* Every page faulted in again: the disable zapped them. */
	EXPECT_EQ(faults0 + n, stat_of(self, "faults_4k"));
	EXPECT_EQ((int64_t)n, rd(fd, BAR0, REG_MEM_PAGES, 4));
}

TEST_F(lazymap_mdev, reset)
{
	const size_t n = 8;
	int fd = self->v.device_fd;
	unsigned long long zaps0;
	volatile uint8_t *p;
	uint32_t gen0;
	uint8_t v;
	long bad;

	if (!lm_have_debugfs())
		SKIP(return, "no %s", LAZYMAP_DEBUGFS);
	ASSERT_EQ(0, mem_enable(fd, true));
	ASSERT_EQ(0, wr(fd, CFG, PCI_BASE_ADDRESS_0, 4, 0xfebc0000));
	ASSERT_EQ(0, wr(fd, BAR0, REG_SCRATCH, 4, 0x600dcafe));
	gen0 = rd(fd, BAR0, REG_GENERATION, 4);
	p = bar2_map(self, 0, n * PG);
	ASSERT_NE(NULL, p);
	fill_pages(p, n, 3);
	EXPECT_EQ((int64_t)n, rd(fd, BAR0, REG_MEM_PAGES, 4));
	zaps0 = stat_of(self, "zaps");

	ASSERT_EQ(0, ioctl(fd, VFIO_DEVICE_RESET));

	/* Power-on state: memory decoding off, so BAR2 is revoked. */
	EXPECT_EQ(0U, rd(fd, CFG, PCI_COMMAND, 2));
	EXPECT_EQ(PCI_BASE_ADDRESS_MEM_TYPE_32,
		  rd(fd, CFG, PCI_BASE_ADDRESS_0, 4));
	EXPECT_LT(zaps0, stat_of(self, "zaps"));
	EXPECT_EQ(-1, read_byte(p, &v));

	ASSERT_EQ(0, mem_enable(fd, true));
	EXPECT_EQ(gen0 + 1, rd(fd, BAR0, REG_GENERATION, 4));
	EXPECT_EQ(0U, rd(fd, BAR0, REG_SCRATCH, 4));
	EXPECT_EQ(0U, rd(fd, BAR0, REG_MEM_PAGES, 4));
	/* The memory was cleared: everything reads zero. */
	bad = check_pages(p, n, 0, true);
	EXPECT_EQ(-1L, bad)
		TH_LOG("byte 0x%lx not zero after reset", bad);
	EXPECT_EQ((int64_t)n, rd(fd, BAR0, REG_MEM_PAGES, 4));

	/* Reset with memory already off, and twice in a row. */
	ASSERT_EQ(0, ioctl(fd, VFIO_DEVICE_RESET));
	ASSERT_EQ(0, ioctl(fd, VFIO_DEVICE_RESET));
	ASSERT_EQ(0, mem_enable(fd, true));
	EXPECT_EQ(gen0 + 3, rd(fd, BAR0, REG_GENERATION, 4));
	EXPECT_EQ(0, p[PG]);
}

TEST_F(lazymap_mdev, debugfs_revoke)
{
	static const char * const invalid[] = {
		"2", "abc", "-1", "1x", "256", "0x2", "4294967297",
	};
	const size_t n = 4;
	int fd = self->v.device_fd;
	volatile uint8_t *p;
	uint8_t v, buf[8];
	size_t i;
	long bad;

	if (!knob_present(self->uuid))
		SKIP(return, "no %s/%s/revoke", MDEV_DEBUGFS, self->uuid);
	ASSERT_EQ(0, mem_enable(fd, true));
	p = bar2_map(self, 0, n * PG);
	ASSERT_NE(NULL, p);
	fill_pages(p, n, 4);
	EXPECT_EQ(0, knob_read(self->uuid));

	ASSERT_EQ(0, knob_write(self->uuid, "1"));
	EXPECT_EQ(1, knob_read(self->uuid));
	EXPECT_EQ(-1, read_byte(p, &v));
	EXPECT_EQ(-1, write_byte(p + PG, 0));
	EXPECT_EQ(-1, pread(fd, buf, sizeof(buf), REGION(BAR2)));
	EXPECT_EQ(EIO, errno);
	/* Only BAR2 goes: BAR0 still answers and reports it. */
	EXPECT_EQ(STATUS_REVOKED, rd(fd, BAR0, REG_STATUS, 4));

	/* Memory decoding cycling does not lift the knob. */
	ASSERT_EQ(0, mem_enable(fd, false));
	ASSERT_EQ(0, mem_enable(fd, true));
	EXPECT_EQ(-1, read_byte(p, &v));

	/* Nor does the knob lift memory-disable. */
	ASSERT_EQ(0, mem_enable(fd, false));
	ASSERT_EQ(0, knob_write(self->uuid, "0\n"));
	EXPECT_EQ(0, knob_read(self->uuid));
	EXPECT_EQ(-1, read_byte(p, &v));
	ASSERT_EQ(0, mem_enable(fd, true));
	EXPECT_EQ(STATUS_ACCESSIBLE, rd(fd, BAR0, REG_STATUS, 4));
	bad = check_pages(p, n, 4, false);
	EXPECT_EQ(-1L, bad)
		TH_LOG("byte 0x%lx after the knob", bad);

	/* Writing the current value again is fine. */
	ASSERT_EQ(0, knob_write(self->uuid, "0"));
	ASSERT_EQ(0, knob_write(self->uuid, "1"));
	ASSERT_EQ(0, knob_write(self->uuid, "1"));
	EXPECT_EQ(1, knob_read(self->uuid));
	/* A reset keeps the knob: it is not device state. */
	ASSERT_EQ(0, ioctl(fd, VFIO_DEVICE_RESET));
	ASSERT_EQ(0, mem_enable(fd, true));
	EXPECT_EQ(1, knob_read(self->uuid));
	EXPECT_EQ(-1, read_byte(p, &v));
	ASSERT_EQ(0, knob_write(self->uuid, "0"));
	EXPECT_EQ(0, read_byte(p, &v));
	EXPECT_EQ(0, v);

	for (i = 0; i < ARRAY_SIZE(invalid); i++) {
		EXPECT_EQ(-EINVAL, knob_write(self->uuid, invalid[i]))
			TH_LOG("knob input \"%s\"", invalid[i]);
	}
	EXPECT_EQ(0, knob_read(self->uuid));
}

/* Child side of fork_mapped: one step per byte from the parent. */
static int fork_child(volatile uint8_t *p, size_t n, int in, int out)
{
	int ret = 0;
	uint8_t v;
	char c;

	/* 1: the parent's data; write page 1 for the parent. */
	if (check_pages(p, n, 5, false) >= 0)
		ret |= 1;
	memset((uint8_t *)p + PG, 0x77, PG);
	if (write(out, "1", 1) != 1 || read(in, &c, 1) != 1)
		return 64;
	/* 2: the parent turned memory decoding off: SIGBUS here too. */
	if (read_byte(p, &v) != -1)
		ret |= 2;
	if (write(out, "2", 1) != 1 || read(in, &c, 1) != 1)
		return 64;
	/* 3: back on; this fault makes the child's mapping its own. */
	if (read_byte(p + PG, &v) || v != 0x77)
		ret |= 4;
	if (write(out, "3", 1) != 1 || read(in, &c, 1) != 1)
		return 64;
	return ret;
}

TEST_F(lazymap_mdev, fork_mapped)
{
	const size_t n = 4;
	int fd = self->v.device_fd;
	int to_child[2], to_parent[2];
	struct lm_mapping maps[4];
	volatile uint8_t *p;
	int status, cnt;
	pid_t pid;
	char c;

	if (!lm_have_debugfs())
		SKIP(return, "no %s", LAZYMAP_DEBUGFS);
	ASSERT_EQ(0, mem_enable(fd, true));
	p = bar2_map(self, 0, n * PG);
	ASSERT_NE(NULL, p);
	fill_pages(p, n, 5);
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(to_child[1]);
		close(to_parent[0]);
		_exit(fork_child(p, n, to_child[0], to_parent[1]));
	}
	close(to_child[0]);
	close(to_parent[1]);

	/*
	 * No ASSERT until the child is reaped: the teardown's remove would
	 * wait for the child's mapping.  A short read means the child died;
	 * closing the pipe ends it otherwise.
	 */
	if (read(to_parent[0], &c, 1) != 1)
		goto reap;
	EXPECT_EQ(-1L, first_mismatch(p + PG, PG, 0x77));
	EXPECT_EQ(2ULL, stat_of(self, "mappings"));
	EXPECT_EQ(0, mem_enable(fd, false));
	if (write(to_child[1], "a", 1) != 1 ||
	    read(to_parent[0], &c, 1) != 1)
		goto reap;
	EXPECT_EQ(0, mem_enable(fd, true));
	if (write(to_child[1], "b", 1) != 1 ||
	    read(to_parent[0], &c, 1) != 1)
		goto reap;
	cnt = lm_space_mappings(self->space, maps, ARRAY_SIZE(maps));
	EXPECT_EQ(2, cnt)
		lm_space_dump(self->space, "mappings");
	if (cnt == 2) {
		EXPECT_TRUE((maps[0].pid == getpid() && maps[1].pid == pid) ||
			    (maps[0].pid == pid && maps[1].pid == getpid()))
			lm_space_dump(self->space, "mappings");
		EXPECT_EQ(maps[0].start, maps[1].start);
	}
	EXPECT_EQ(0, write(to_child[1], "c", 1) == 1 ? 0 : -1);
reap:
	close(to_child[1]);
	close(to_parent[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status 0x%x", status);

	EXPECT_EQ(1ULL, stat_of(self, "mappings"));
	cnt = lm_space_mappings(self->space, maps, ARRAY_SIZE(maps));
	ASSERT_EQ(1, cnt);
	EXPECT_EQ(getpid(), maps[0].pid);
}

TEST_F(lazymap_mdev, partial_munmap)
{
	/* 16 pages from page 64 of BAR2; unmap the 4 from the 4th. */
	const size_t base = 64, n = 16, hole = 4, hole_len = 4;
	int fd = self->v.device_fd;
	struct lm_mapping maps[4];
	volatile uint8_t *p;
	unsigned long start;
	size_t i;
	int cnt;

	if (!lm_have_debugfs())
		SKIP(return, "no %s", LAZYMAP_DEBUGFS);
	ASSERT_EQ(0, mem_enable(fd, true));
	p = bar2_map(self, base * PG, n * PG);
	ASSERT_NE(NULL, p);
	start = (unsigned long)p;
	for (i = 0; i < n; i++)
		memset((uint8_t *)p + i * PG, pat(base + i, 6), PG);

	ASSERT_EQ(0, munmap((uint8_t *)p + hole * PG, hole_len * PG));
	EXPECT_EQ(2ULL, stat_of(self, "mappings"));
	cnt = lm_space_mappings(self->space, maps, ARRAY_SIZE(maps));
	ASSERT_EQ(2, cnt)
		lm_space_dump(self->space, "mappings");
	/* pgoff is the page offset into BAR2, not the region file offset. */
	EXPECT_EQ(start, maps[0].start);
	EXPECT_EQ(start + hole * PG, maps[0].end);
	EXPECT_EQ(base, maps[0].pgoff);
	EXPECT_EQ(start + (hole + hole_len) * PG, maps[1].start);
	EXPECT_EQ(start + n * PG, maps[1].end);
	EXPECT_EQ(base + hole + hole_len, maps[1].pgoff);
	EXPECT_EQ(getpid(), maps[0].pid);
	EXPECT_EQ(getpid(), maps[1].pid);

	/* Both parts are zapped by a disable and fault back in intact. */
	ASSERT_EQ(0, mem_enable(fd, false));
	ASSERT_EQ(0, mem_enable(fd, true));
	for (i = 0; i < n; i++) {
		long bad;

		if (i >= hole && i < hole + hole_len)
			continue;
		bad = first_mismatch(p + i * PG, PG, pat(base + i, 6));
		EXPECT_EQ(-1L, bad)
			TH_LOG("page %zu of BAR2, byte %ld", base + i, bad);
	}
	cnt = lm_space_mappings(self->space, maps, ARRAY_SIZE(maps));
	ASSERT_EQ(2, cnt);
	EXPECT_LE(1ULL, maps[0].zaps);
	EXPECT_LE(1ULL, maps[1].zaps);

	/* Unmapping the rest (over the hole) leaves nothing tracked. */
	ASSERT_EQ(0, bar2_unmap(self));
	EXPECT_EQ(0ULL, stat_of(self, "mappings"));
}

/*
 * A mapping holds the device file: closing the fd leaves the mapping
 * working, and only its munmap closes the device, which resets it.
 */
TEST_F(lazymap_mdev, close_while_mapped)
{
	const size_t n = 4;
	volatile uint8_t *p;
	uint8_t buf[PG];
	uint32_t gen0;
	int ret;

	if (!lm_have_debugfs())
		SKIP(return, "no %s", LAZYMAP_DEBUGFS);
	ASSERT_EQ(0, mem_enable(self->v.device_fd, true));
	gen0 = rd(self->v.device_fd, BAR0, REG_GENERATION, 4);
	p = bar2_map(self, 0, n * PG);
	ASSERT_NE(NULL, p);
	fill_pages(p, n, 7);

	close(self->v.device_fd);
	self->v.device_fd = -1;
	EXPECT_EQ(-1L, check_pages(p, n, 7, false));
	fill_pages(p, n, 8);
	EXPECT_EQ(-1L, check_pages(p, n, 8, false));
	EXPECT_EQ(1ULL, stat_of(self, "mappings"));

	ASSERT_EQ(0, bar2_unmap(self));
	EXPECT_EQ(0ULL, stat_of(self, "mappings"));

	/* The last close reset the device: a new open starts afresh. */
	ret = mdev_reopen_device(&self->v, self->uuid);
	ASSERT_EQ(0, ret)
		TH_LOG("reopening: %s", strerror(-ret));
	EXPECT_EQ(0U, rd(self->v.device_fd, CFG, PCI_COMMAND, 2));
	ASSERT_EQ(0, mem_enable(self->v.device_fd, true));
	EXPECT_EQ(gen0 + 1, rd(self->v.device_fd, BAR0, REG_GENERATION, 4));
	EXPECT_EQ(0U, rd(self->v.device_fd, BAR0, REG_MEM_PAGES, 4));
	ASSERT_EQ((ssize_t)PG, pread(self->v.device_fd, buf, PG,
				     REGION(BAR2)));
	EXPECT_EQ(-1L, first_mismatch(buf, PG, 0));
}

/* One read(2)/write(2) of the table below. */
struct rw_case {
	const char *name;
	unsigned int index;
	int64_t off;		/* from the end of BAR2 if @from_end */
	bool from_end;
	size_t len;
	int err;		/* 0: reads/writes all @len bytes */
};

TEST_F(lazymap_mdev, region_rw_invalid)
{
	const struct rw_case cases[] = {
		/* controls */
		{ "cfg_4",		CFG, 0, false, 4, 0 },
		{ "cfg_2",		CFG, 2, false, 2, 0 },
		{ "cfg_1",		CFG, 3, false, 1, 0 },
		{ "cfg_last",		CFG, 252, false, 4, 0 },
		{ "bar0_last",		BAR0, BAR0_SIZE - 4, false, 4, 0 },
		{ "bar0_1",		BAR0, 7, false, 1, 0 },
		{ "bar2_first",		BAR2, 0, false, 1, 0 },
		{ "bar2_unaligned",	BAR2, PG - 3, false, 8, 0 },
		{ "bar2_two_pages",	BAR2, PG / 2, false, 2 * PG, 0 },
		{ "bar2_last",		BAR2, -1, true, 1, 0 },
		{ "bar2_last_page",	BAR2, -(int64_t)PG, true, PG, 0 },
		{ "bar2_empty_at_end",	BAR2, 0, true, 0, 0 },
		/* config: 1, 2 or 4 bytes, naturally aligned, inside */
		{ "cfg_len0",		CFG, 0, false, 0, EINVAL },
		{ "cfg_len3",		CFG, 0, false, 3, EINVAL },
		{ "cfg_len8",		CFG, 0, false, 8, EINVAL },
		{ "cfg_len4096",	CFG, 0, false, 4096, EINVAL },
		{ "cfg_unaligned2",	CFG, 1, false, 2, EINVAL },
		{ "cfg_unaligned4",	CFG, 2, false, 4, EINVAL },
		{ "cfg_end",		CFG, CONFIG_SIZE, false, 1, EINVAL },
		{ "cfg_4k",		CFG, 4096, false, 4, EINVAL },
		{ "cfg_far",		CFG, 1LL << 39, false, 4, EINVAL },
		/* BAR0: the same rules */
		{ "bar0_len0",		BAR0, 0, false, 0, EINVAL },
		{ "bar0_len3",		BAR0, 0, false, 3, EINVAL },
		{ "bar0_len8",		BAR0, 0, false, 8, EINVAL },
		{ "bar0_unaligned",	BAR0, 6, false, 4, EINVAL },
		{ "bar0_end",		BAR0, BAR0_SIZE, false, 4, EINVAL },
		{ "bar0_far",		BAR0, 1LL << 39, false, 4, EINVAL },
		/* BAR2: any access inside */
		{ "bar2_end",		BAR2, 0, true, 1, EINVAL },
		{ "bar2_cross_end",	BAR2, -1, true, 2, EINVAL },
		{ "bar2_page_over",	BAR2, -(int64_t)PG + 1, true, PG, EINVAL },
		{ "bar2_past_empty",	BAR2, 1, true, 0, EINVAL },
		{ "bar2_far",		BAR2, 1LL << 39, false, 1, EINVAL },
		/* regions of size 0 and regions that do not exist */
		{ "bar1",		VFIO_PCI_BAR1_REGION_INDEX, 0, false, 4, EINVAL },
		{ "bar3",		VFIO_PCI_BAR3_REGION_INDEX, 0, false, 4, EINVAL },
		{ "bar4",		VFIO_PCI_BAR4_REGION_INDEX, 0, false, 4, EINVAL },
		{ "bar5",		VFIO_PCI_BAR5_REGION_INDEX, 0, false, 4, EINVAL },
		{ "rom",		VFIO_PCI_ROM_REGION_INDEX, 0, false, 4, EINVAL },
		{ "vga",		VFIO_PCI_VGA_REGION_INDEX, 0, false, 1, EINVAL },
		{ "index_9",		VFIO_PCI_NUM_REGIONS, 0, false, 4, EINVAL },
		{ "index_big",		0x7fffff, 0, false, 4, EINVAL },
	};
	static uint8_t buf[2 * 4096];
	int fd = self->v.device_fd;
	size_t i;

	ASSERT_EQ(0, mem_enable(fd, true));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct rw_case *c = &cases[i];
		uint64_t off = c->from_end ? self->size + c->off : (uint64_t)c->off;
		int w;

		for (w = 0; w < 2; w++) {
			ssize_t n;
			int err;

			memset(buf, 0, sizeof(buf));
			if (w)
				n = pwrite(fd, buf, c->len, REGION(c->index) + off);
			else
				n = pread(fd, buf, c->len, REGION(c->index) + off);
			err = n < 0 ? errno : 0;
			EXPECT_EQ(c->err, err)
				TH_LOG("%s %s: expected %s, got %s", c->name,
				       w ? "write" : "read",
				       c->err ? strerror(c->err) : "success",
				       err ? strerror(err) : "success");
			if (!c->err && n >= 0)
				EXPECT_EQ((ssize_t)c->len, n)
					TH_LOG("%s: short", c->name);
		}
	}
}

struct mmap_case {
	const char *name;
	unsigned int index;
	int64_t off;		/* from the end of BAR2 if @from_end */
	bool from_end;
	int64_t len;		/* BAR2 size plus this if @whole */
	bool whole;
	int flags;
	int err;
};

TEST_F(lazymap_mdev, mmap_invalid)
{
	const int sh = MAP_SHARED;
	const struct mmap_case cases[] = {
		/* controls */
		{ "bar2_page",		BAR2, 0, false, PG, false, sh, 0 },
		{ "bar2_whole",		BAR2, 0, false, 0, true, sh, 0 },
		{ "bar2_last_page",	BAR2, -(int64_t)PG, true, PG, false, sh, 0 },
		{ "bar2_middle",	BAR2, 5 * PG, false, 3 * PG, false, sh, 0 },
		/* shared mappings only */
		{ "private",		BAR2, 0, false, PG, false, MAP_PRIVATE, EINVAL },
		{ "private_whole",	BAR2, 0, false, 0, true, MAP_PRIVATE, EINVAL },
		/* inside BAR2 */
		{ "bar2_past_end",	BAR2, -(int64_t)PG, true, 2 * PG, false, sh, EINVAL },
		{ "bar2_at_end",	BAR2, 0, true, PG, false, sh, EINVAL },
		{ "bar2_too_long",	BAR2, 0, false, PG, true, sh, EINVAL },
		{ "bar2_unaligned",	BAR2, 1, false, PG, false, sh, EINVAL },
		{ "bar2_far",		BAR2, 1LL << 39, false, PG, false, sh, EINVAL },
		/* only BAR2 can be mapped */
		{ "config",		CFG, 0, false, PG, false, sh, EINVAL },
		{ "bar0",		BAR0, 0, false, PG, false, sh, EINVAL },
		{ "bar1",		1, 0, false, PG, false, sh, EINVAL },
		{ "bar3",		3, 0, false, PG, false, sh, EINVAL },
		{ "rom",		ROM, 0, false, PG, false, sh, EINVAL },
		{ "vga",		VGA, 0, false, PG, false, sh, EINVAL },
		{ "index_9",		NREG, 0, false, PG, false, sh, EINVAL },
	};
	int fd = self->v.device_fd;
	void *p;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct mmap_case *c = &cases[i];
		uint64_t off = c->from_end ? self->size + c->off : (uint64_t)c->off;
		size_t len = c->whole ? self->size + c->len : (uint64_t)c->len;
		int err;

		p = mmap(NULL, len, PROT_READ | PROT_WRITE, c->flags, fd,
			 REGION(c->index) + off);
		err = p == MAP_FAILED ? errno : 0;
		if (p != MAP_FAILED)
			munmap(p, len);
		EXPECT_EQ(c->err, err)
			TH_LOG("%s: expected %s, got %s", c->name,
			       c->err ? strerror(c->err) : "success",
			       err ? strerror(err) : "success");
	}

	/* Read-only shared mappings are fine. */
	p = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, REGION(BAR2));
	EXPECT_NE(MAP_FAILED, p);
	if (p != MAP_FAILED)
		munmap(p, PG);
}

/* An ioctl argument larger than any of the structs, to test argsz. */
union ioctl_arg {
	struct vfio_device_info info;
	struct vfio_region_info region;
	struct vfio_irq_info irq;
	uint8_t bytes[256];
};

struct ioctl_case {
	const char *name;
	unsigned long cmd;
	__u32 argsz;
	__u32 index;
	int err;
};

#ifndef offsetofend
#define offsetofend(t, m)	(offsetof(t, m) + sizeof(((t *)0)->m))
#endif
#define DEV_MINSZ	offsetofend(struct vfio_device_info, num_irqs)
#define REG_MINSZ	offsetofend(struct vfio_region_info, offset)
#define IRQ_MINSZ	offsetofend(struct vfio_irq_info, count)

TEST_F(lazymap_mdev, ioctl_invalid)
{
	const struct ioctl_case cases[] = {
		{ "info",		VFIO_DEVICE_GET_INFO, DEV_MINSZ, 0, 0 },
		{ "info_big",		VFIO_DEVICE_GET_INFO, 256, 0, 0 },
		{ "info_argsz_0",	VFIO_DEVICE_GET_INFO, 0, 0, EINVAL },
		{ "info_argsz_short",	VFIO_DEVICE_GET_INFO, DEV_MINSZ - 1, 0, EINVAL },
		{ "region",		VFIO_DEVICE_GET_REGION_INFO, REG_MINSZ, BAR2, 0 },
		{ "region_big",		VFIO_DEVICE_GET_REGION_INFO, 256, CFG, 0 },
		{ "region_empty",	VFIO_DEVICE_GET_REGION_INFO, REG_MINSZ,
		  VFIO_PCI_VGA_REGION_INDEX, 0 },
		{ "region_argsz_0",	VFIO_DEVICE_GET_REGION_INFO, 0, BAR2, EINVAL },
		{ "region_argsz_short",	VFIO_DEVICE_GET_REGION_INFO, REG_MINSZ - 1,
		  BAR2, EINVAL },
		{ "region_index_9",	VFIO_DEVICE_GET_REGION_INFO, REG_MINSZ,
		  VFIO_PCI_NUM_REGIONS, EINVAL },
		{ "region_index_max",	VFIO_DEVICE_GET_REGION_INFO, REG_MINSZ,
		  ~0U, EINVAL },
		{ "irq",		VFIO_DEVICE_GET_IRQ_INFO, IRQ_MINSZ, 0, 0 },
		{ "irq_last",		VFIO_DEVICE_GET_IRQ_INFO, IRQ_MINSZ,
		  VFIO_PCI_NUM_IRQS - 1, 0 },
		{ "irq_argsz_0",	VFIO_DEVICE_GET_IRQ_INFO, 0, 0, EINVAL },
		{ "irq_argsz_short",	VFIO_DEVICE_GET_IRQ_INFO, IRQ_MINSZ - 1, 0,
		  EINVAL },
		{ "irq_index_5",	VFIO_DEVICE_GET_IRQ_INFO, IRQ_MINSZ,
		  VFIO_PCI_NUM_IRQS, EINVAL },
		{ "irq_index_max",	VFIO_DEVICE_GET_IRQ_INFO, IRQ_MINSZ, ~0U,
		  EINVAL },
		/* not implemented */
		{ "set_irqs",		VFIO_DEVICE_SET_IRQS, 64, 0, ENOTTY },
		{ "hot_reset_info",	VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 64, 0,
		  ENOTTY },
		{ "unknown",		_IO(VFIO_TYPE, VFIO_BASE + 60), 0, 0, ENOTTY },
		{ "other_type",		_IO('x', 1), 0, 0, ENOTTY },
	};
	int fd = self->v.device_fd;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct ioctl_case *c = &cases[i];
		union ioctl_arg arg;
		int ret, err;

		memset(&arg, 0, sizeof(arg));
		/* argsz is the first field of all three structs. */
		arg.info.argsz = c->argsz;
		if (c->cmd == VFIO_DEVICE_GET_REGION_INFO)
			arg.region.index = c->index;
		else if (c->cmd == VFIO_DEVICE_GET_IRQ_INFO)
			arg.irq.index = c->index;
		ret = ioctl(fd, c->cmd, &arg);
		err = ret < 0 ? errno : 0;
		EXPECT_EQ(c->err, err)
			TH_LOG("%s: expected %s, got %s", c->name,
			       c->err ? strerror(c->err) : "success",
			       err ? strerror(err) : "success");
		/* Nothing beyond the struct is written back. */
		if (!err && c->argsz > REG_MINSZ)
			EXPECT_EQ(0, arg.bytes[sizeof(arg) - 1]);
	}
}

/*
 * The mdev core and the types' limits: create MAX_INSTANCES mdevs of each
 * type, watching available_instances go down, fail one more (EUSERS), then
 * remove them all.  Needs no other mdev of ours to exist.
 */
TEST(create_remove_many)
{
	static const char * const types[] = { TYPE_16M, TYPE_64M };
	char uuids[2][MAX_INSTANCES][UUID_LEN + 1];
	char extra[UUID_LEN + 1], path[PATH_MAX];
	int created[2] = { 0, 0 };
	long avail;
	int t, i, ret;

	if (access(MDEV_TYPES, F_OK))
		SKIP(return, "no %s (CONFIG_LAZYMAP_MDEV not enabled?)",
		     MDEV_TYPES);

	for (t = 0; t < 2; t++) {
		avail = mdev_available(types[t]);
		ASSERT_EQ(MAX_INSTANCES, avail)
			TH_LOG("%s: available_instances %ld", types[t], avail);
	}

	for (t = 0; t < 2; t++) {
		for (i = 0; i < MAX_INSTANCES; i++) {
			ASSERT_EQ(0, make_uuid(uuids[t][i]));
			ret = mdev_create(types[t], uuids[t][i]);
			EXPECT_EQ(0, ret)
				TH_LOG("%s #%d: %s", types[t], i, strerror(-ret));
			if (ret)
				break;
			created[t]++;
			EXPECT_EQ(MAX_INSTANCES - i - 1,
				  mdev_available(types[t]));
			snprintf(path, sizeof(path), "%s/mdev-%s",
				 LAZYMAP_DEBUGFS, uuids[t][i]);
			if (lm_have_debugfs())
				EXPECT_EQ(0, access(path, F_OK))
					TH_LOG("no %s", path);
		}
		/* One more than the type allows. */
		ASSERT_EQ(0, make_uuid(extra));
		EXPECT_EQ(-EUSERS, mdev_create(types[t], extra));
		EXPECT_FALSE(mdev_exists(extra));
		EXPECT_EQ(0, mdev_available(types[t]));
	}
	/* The types' limits are independent. */
	EXPECT_EQ(created[0], MAX_INSTANCES);
	EXPECT_EQ(created[1], MAX_INSTANCES);

	for (t = 0; t < 2; t++) {
		for (i = 0; i < created[t]; i++) {
			ret = mdev_remove(uuids[t][i]);
			EXPECT_EQ(0, ret)
				TH_LOG("removing %s: %s", uuids[t][i],
				       strerror(-ret));
			EXPECT_FALSE(mdev_exists(uuids[t][i]));
			/* The space is released by the time remove returns. */
			snprintf(path, sizeof(path), "%s/mdev-%s",
				 LAZYMAP_DEBUGFS, uuids[t][i]);
			EXPECT_NE(0, access(path, F_OK))
				TH_LOG("%s still there", path);
		}
		EXPECT_EQ(MAX_INSTANCES, mdev_available(types[t]));
	}
	/* A removed mdev's remove file is gone with it. */
	EXPECT_EQ(-ENOENT, mdev_remove(uuids[0][0]));
}

struct sysfs_case {
	const char *name;
	const char *input;	/* NULL: a fresh valid UUID */
	int err;
};

TEST(sysfs_invalid)
{
	const struct sysfs_case cases[] = {
		{ "empty",		"", EINVAL },
		{ "word",		"not-a-uuid", EINVAL },
		{ "short",		"0123456-89ab-4def-8123-456789abcdef", EINVAL },
		{ "long",		"001234567-89ab-4def-8123-456789abcdef", EINVAL },
		{ "two_newlines",	"01234567-89ab-4def-8123-456789abcd\n\n", EINVAL },
		{ "bad_hex",		"0123456g-89ab-4def-8123-456789abcdef", EINVAL },
		{ "no_dashes",		"0123456789ab4def8123456789abcdef0000", EINVAL },
		{ "dash_moved",		"012345678-9ab-4def-8123-456789abcdef", EINVAL },
		{ "spaces",		" 1234567-89ab-4def-8123-456789abcdef", EINVAL },
	};
	char uuid[UUID_LEN + 1], nl[UUID_LEN + 2], path[PATH_MAX];
	size_t i;
	int ret;

	if (access(MDEV_TYPES, F_OK))
		SKIP(return, "no %s (CONFIG_LAZYMAP_MDEV not enabled?)",
		     MDEV_TYPES);

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct sysfs_case *c = &cases[i];

		snprintf(path, sizeof(path), MDEV_TYPES "/%s/create", TYPE_16M);
		ret = sysfs_write_str(path, c->input);
		/* An empty write never reaches the attribute: 0 bytes written. */
		if (!c->input[0] && !ret)
			continue;
		EXPECT_EQ(-c->err, ret)
			TH_LOG("%s (\"%s\"): %s", c->name, c->input,
			       strerror(-ret));
	}
	EXPECT_EQ(MAX_INSTANCES, mdev_available(TYPE_16M));

	/* One trailing newline is accepted (echo does that). */
	ASSERT_EQ(0, make_uuid(uuid));
	snprintf(nl, sizeof(nl), "%s\n", uuid);
	ASSERT_EQ(0, mdev_create(TYPE_16M, nl));
	EXPECT_TRUE(mdev_exists(uuid));
	/* A UUID in use, in either type. */
	EXPECT_EQ(-EEXIST, mdev_create(TYPE_16M, uuid));
	EXPECT_EQ(-EEXIST, mdev_create(TYPE_64M, uuid));
	EXPECT_EQ(MAX_INSTANCES - 1, mdev_available(TYPE_16M));
	EXPECT_EQ(MAX_INSTANCES, mdev_available(TYPE_64M));

	/* remove: 0 does nothing, garbage is EINVAL, 1 removes. */
	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/remove", uuid);
	EXPECT_EQ(0, sysfs_write_str(path, "0"));
	EXPECT_TRUE(mdev_exists(uuid));
	EXPECT_EQ(-EINVAL, sysfs_write_str(path, "yes"));
	EXPECT_TRUE(mdev_exists(uuid));
	EXPECT_EQ(0, mdev_remove(uuid));
	EXPECT_FALSE(mdev_exists(uuid));
	EXPECT_EQ(MAX_INSTANCES, mdev_available(TYPE_16M));

	/* Creating through a type that does not exist. */
	snprintf(path, sizeof(path), MDEV_TYPES "/lazymap-mdev-1G/create");
	EXPECT_EQ(-ENOENT, sysfs_write_str(path, uuid));
}

/*
 * BAR2 pages are charged to the memory cgroup of the task whose fault or
 * write allocates them (__GFP_ACCOUNT), like any memory a user makes the
 * kernel allocate.  Needs cgroup v2 with the memory controller.
 */
#define CGROUP_ROOT	"/sys/fs/cgroup"

static int cgroup_memory_current(const char *cg, unsigned long long *val)
{
	char path[256], buf[32];
	int ret;

	snprintf(path, sizeof(path), "%s/memory.current", cg);
	ret = sysfs_read_str(path, buf, sizeof(buf));
	if (ret)
		return ret;
	*val = strtoull(buf, NULL, 10);
	return 0;
}

TEST_F(lazymap_mdev, pages_charged)
{
	const size_t n = 512;
	unsigned long long c0, c1;
	char cg[128], path[256], buf[256];
	volatile uint8_t *p;
	size_t i;
	int ret;

	if (access(CGROUP_ROOT "/cgroup.controllers", F_OK)) {
		mkdir(CGROUP_ROOT, 0755);
		if (mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL))
			SKIP(return, "no cgroup v2: %s", strerror(errno));
	}
	if (sysfs_read_str(CGROUP_ROOT "/cgroup.controllers", buf,
			   sizeof(buf)) || !strstr(buf, "memory"))
		SKIP(return, "no memory controller");
	/* May already be on; an error shows in the mkdir'd cgroup's files. */
	sysfs_write_str(CGROUP_ROOT "/cgroup.subtree_control", "+memory");
	snprintf(cg, sizeof(cg), CGROUP_ROOT "/lazymap-mdev-%d", getpid());
	ASSERT_EQ(0, mkdir(cg, 0755)) TH_LOG("mkdir %s: %s", cg,
					     strerror(errno));
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	ret = sysfs_write_str(path, "0");
	if (!ret)
		ret = cgroup_memory_current(cg, &c0);
	if (ret) {
		rmdir(cg);
		SKIP(return, "memory cgroup %s: %s", cg, strerror(-ret));
	}

	ASSERT_EQ(0, mem_enable(self->v.device_fd, true));
	p = bar2_map(self, 0, n * PG);
	ASSERT_NE(NULL, p) TH_LOG("mmap BAR2: %s", strerror(errno));
	for (i = 0; i < n; i++)
		p[i * PG] = 1;
	ASSERT_EQ(0, cgroup_memory_current(cg, &c1));
	ASSERT_EQ(0, sysfs_write_str(CGROUP_ROOT "/cgroup.procs", "0"));
	rmdir(cg);
	/* Page tables and the like add a little; the pages are n * PG. */
	EXPECT_LE(c0 + n * PG, c1)
		TH_LOG("memory.current %llu -> %llu after %zu pages", c0, c1,
		       n);
}

/*
 * Unloading lazymap-mdev: with live mdevs nothing opened it removes them
 * and unloads; an mdev whose mapping outlives its fds is removed once the
 * mapping is gone.  SKIPs when lazymap-mdev is built in (UML).
 */
#define MODULE_NAME	"lazymap_mdev"
#define MODULE_FILE	"lazymap-mdev.ko"

/* Why the module cannot be unloaded and loaded again here, or NULL. */
static const char *find_module(char *ko, size_t len)
{
	if (access(MDEV_TYPES, F_OK))
		return "no " MDEV_TYPES;
	if (!lm_module_loaded(MODULE_NAME))
		return MODULE_NAME " is not a module";
	if (lm_module_path(MODULE_FILE, ko, len))
		return "no " MODULE_FILE " to load again";
	return NULL;
}

TEST(unload_live_mdevs)
{
	char ko[256], uuid[2][UUID_LEN + 1];
	const char *why;
	int i, ret;

	why = find_module(ko, sizeof(ko));
	if (why)
		SKIP(return, "%s", why);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, make_uuid(uuid[i]));
		ASSERT_EQ(0, mdev_create(i ? TYPE_64M : TYPE_16M, uuid[i]));
	}
	ret = lm_module_unload(MODULE_NAME);
	EXPECT_EQ(0, ret) TH_LOG("unloading with live mdevs: %s",
				 strerror(-ret));
	if (ret) {
		for (i = 0; i < 2; i++)
			mdev_remove(uuid[i]);
		return;
	}
	for (i = 0; i < 2; i++)
		EXPECT_FALSE(mdev_exists(uuid[i]));
	ret = lm_module_load(ko);
	ASSERT_EQ(0, ret) TH_LOG("loading %s: %s", ko, strerror(-ret));
}

TEST(remove_mapped_then_unload)
{
	char ko[256], uuid[UUID_LEN + 1], space[UUID_LEN + 8], path[300];
	unsigned long long mappings = 0;
	struct mdev_vfio v;
	volatile uint8_t *p;
	const char *why;
	int ret, status;
	pid_t child;

	why = find_module(ko, sizeof(ko));
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, sigbus_install());
	ASSERT_EQ(0, make_uuid(uuid));
	snprintf(space, sizeof(space), "mdev-%s", uuid);
	ASSERT_EQ(0, mdev_create(TYPE_16M, uuid));
	ret = mdev_open(&v, uuid);
	if (ret)
		mdev_remove(uuid);
	ASSERT_EQ(0, ret) TH_LOG("opening %s: %s", uuid, strerror(-ret));
	ASSERT_EQ(0, mem_enable(v.device_fd, true));
	p = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
		 v.device_fd, REGION(BAR2));
	ASSERT_NE(MAP_FAILED, (void *)p);
	p[0] = 0x5a;
	mdev_vfio_close(&v);

	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		/* The copy of the mapping would keep the device. */
		munmap((void *)p, 16 * PG);
		_exit(mdev_remove(uuid) ? 1 : 0);
	}
	/* Let the remove start waiting; the result holds either way. */
	usleep(500 * 1000);
	if (lm_have_debugfs())
		EXPECT_EQ(0, lm_space_stat(space, "mappings", &mappings));
	EXPECT_EQ(1ULL, mappings);
	sigbus_pages(p, 16 * PG, PG);
	ASSERT_EQ(0, munmap((void *)p, 16 * PG));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("remove failed: status %#x", status);
	EXPECT_FALSE(mdev_exists(uuid));
	snprintf(path, sizeof(path), LAZYMAP_DEBUGFS "/%s", space);
	EXPECT_NE(0, access(path, F_OK));

	ret = lm_module_unload(MODULE_NAME);
	EXPECT_EQ(0, ret) TH_LOG("unloading: %s", strerror(-ret));
	if (!ret) {
		ret = lm_module_load(ko);
		ASSERT_EQ(0, ret) TH_LOG("loading %s: %s", ko, strerror(-ret));
	}
}

/*
 * Race stress: each page of the first STRESS_PAGES of BAR2 holds
 * pat(page, STRESS_SEED) or, after a reset cleared the memory, zero; the
 * faulters read a random byte, check it is one of those and write the
 * pattern back; SIGBUS is expected while a reset or the toggler has
 * memory decoding off.  Fixed rounds per worker; the forker's children
 * race the revokes.
 */
#define STRESS_PAGES		1024
#define STRESS_SEED		11
#define STRESS_FAULTERS		2
#define STRESS_ACCESSES		4000
#define STRESS_RESETS		60
#define STRESS_TOGGLES		100
#define STRESS_FORKS		20
#define STRESS_CHILD_ACCESSES	64
#define STRESS_REMOVE_ACCESSES	1000

struct mdev_stress {
	int fd;
	volatile uint8_t *map;
	unsigned long resets, toggles, forks, children_failed;
	unsigned int next;
	struct lm_first_fail fail;
	/* In a MAP_SHARED page: children count into them too. */
	unsigned long *accesses, *sigbus, *bad;
};

static void ms_fail(struct mdev_stress *ms, const char *op, int err)
{
	lm_fail(&ms->fail, op, err);
}

static void ms_access(struct mdev_stress *ms, volatile uint8_t *map,
		      uint64_t r)
{
	size_t pg = r % STRESS_PAGES, byte = (r >> 32) % PG;
	uint8_t v, want = pat(pg, STRESS_SEED);

	__atomic_fetch_add(ms->accesses, 1, __ATOMIC_RELAXED);
	if (read_byte(map + pg * PG + byte, &v) ||
	    write_byte(map + pg * PG + byte, want)) {
		__atomic_fetch_add(ms->sigbus, 1, __ATOMIC_RELAXED);
		return;
	}
	if (v != want && v != 0)
		__atomic_fetch_add(ms->bad, 1, __ATOMIC_RELAXED);
}

static void *ms_faulter(void *arg)
{
	struct mdev_stress *ms = arg;
	uint64_t s = 0x6d646576 +
		     __atomic_fetch_add(&ms->next, 1, __ATOMIC_RELAXED);
	unsigned int i;

	for (i = 0; i < STRESS_ACCESSES; i++)
		ms_access(ms, ms->map, lm_rnd(&s));
	return NULL;
}

static void *ms_resetter(void *arg)
{
	struct mdev_stress *ms = arg;
	unsigned int i;
	int ret;

	for (i = 0; i < STRESS_RESETS; i++) {
		if (ioctl(ms->fd, VFIO_DEVICE_RESET)) {
			ms_fail(ms, "VFIO_DEVICE_RESET", -errno);
			break;
		}
		ms->resets++;
		sched_yield();
		ret = mem_enable(ms->fd, true);
		if (ret) {
			ms_fail(ms, "memory enable", ret);
			break;
		}
		sched_yield();
	}
	return NULL;
}

static void *ms_toggler(void *arg)
{
	struct mdev_stress *ms = arg;
	unsigned int i;
	int ret;

	for (i = 0; i < STRESS_TOGGLES; i++) {
		ret = mem_enable(ms->fd, false);
		sched_yield();
		ret = ret ?: mem_enable(ms->fd, true);
		if (ret) {
			ms_fail(ms, "memory disable and enable", ret);
			break;
		}
		ms->toggles++;
		sched_yield();
	}
	return NULL;
}

static void *ms_forker(void *arg)
{
	struct mdev_stress *ms = arg;
	uint64_t s = 0xf04c;
	unsigned int i, j;
	int status;
	pid_t pid;

	for (i = 0; i < STRESS_FORKS; i++) {
		lm_rnd(&s);
		pid = fork();
		if (pid < 0) {
			ms_fail(ms, "fork", -errno);
			break;
		}
		if (!pid) {
			for (j = 0; j < STRESS_CHILD_ACCESSES; j++)
				ms_access(ms, ms->map, lm_rnd(&s));
			_exit(0);
		}
		if (waitpid(pid, &status, 0) != pid) {
			ms_fail(ms, "waitpid", -errno);
			break;
		}
		ms->forks++;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			ms->children_failed++;
	}
	return NULL;
}

TEST_F_TIMEOUT(lazymap_mdev, race_stress, 900)
{
	void *(*const workers[])(void *) = {
		ms_faulter, ms_faulter, ms_resetter, ms_toggler, ms_forker,
	};
	struct mdev_stress ms = {
		.fd = self->v.device_fd,
	};
	pthread_t threads[ARRAY_SIZE(workers)];
	unsigned long *counts;
	int ret = 0, status, pipefd[2];
	unsigned int n, i;
	uint32_t gen0;
	pid_t child;
	long bad;
	char x;

	counts = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, counts);
	ms.accesses = &counts[0];
	ms.sigbus = &counts[1];
	ms.bad = &counts[2];
	ASSERT_EQ(0, mem_enable(ms.fd, true));
	gen0 = rd(ms.fd, BAR0, REG_GENERATION, 4);
	ms.map = bar2_map(self, 0, STRESS_PAGES * PG);
	ASSERT_NE(NULL, ms.map);
	fill_pages(ms.map, STRESS_PAGES, STRESS_SEED);

	for (n = 0; n < ARRAY_SIZE(workers); n++) {
		ret = pthread_create(&threads[n], NULL, workers[n], &ms);
		if (ret)
			break;
	}
	while (n--)
		pthread_join(threads[n], NULL);
	ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));

	TH_LOG("%lu accesses, %lu SIGBUS; %lu resets, %lu toggles, %lu forks",
	       counts[0], counts[1], ms.resets, ms.toggles, ms.forks);
	EXPECT_EQ(NULL, ms.fail.op)
		TH_LOG("%s: %s", ms.fail.op, strerror(-ms.fail.err));
	EXPECT_EQ(0UL, counts[2]);
	EXPECT_EQ(0UL, ms.children_failed);
	EXPECT_EQ((unsigned long)STRESS_RESETS, ms.resets);
	EXPECT_EQ(gen0 + STRESS_RESETS, rd(ms.fd, BAR0, REG_GENERATION, 4));
	/*
	 * Enabled now: no SIGBUS, and every byte the pattern or zero (a
	 * reset cleared it and no faulter wrote it since).
	 */
	ASSERT_EQ(0, mem_enable(ms.fd, true));
	EXPECT_EQ(0UL, sigbus_pages(ms.map, STRESS_PAGES * PG, PG));
	bad = -1;
	for (i = 0; i < STRESS_PAGES * PG && bad < 0; i++) {
		uint8_t b = ms.map[i];

		if (b && b != pat(i / PG, STRESS_SEED))
			bad = i;
	}
	EXPECT_EQ(-1L, bad) TH_LOG("byte %#lx neither pattern nor zero", bad);

	/*
	 * Remove the mdev through sysfs while a child faults its copy of
	 * the mapping: the remove waits until the child unmapped it.
	 */
	ASSERT_EQ(0, pipe(pipefd));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		uint64_t s = 0x7e30;

		close(pipefd[0]);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(2);
		for (i = 0; i < STRESS_REMOVE_ACCESSES; i++)
			ms_access(&ms, ms.map, lm_rnd(&s));
		_exit(counts[2] ? 1 : 0);
	}
	close(pipefd[1]);
	ASSERT_EQ(1, read(pipefd[0], &x, 1));
	close(pipefd[0]);
	ASSERT_EQ(0, bar2_unmap(self));
	mdev_vfio_close(&self->v);
	ret = mdev_remove(self->uuid);
	EXPECT_EQ(0, ret) TH_LOG("remove: %s", strerror(-ret));
	if (!ret)
		self->created = false;
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child: status %#x", status);
	EXPECT_FALSE(mdev_exists(self->uuid));
	munmap(counts, PG);
}

TEST_HARNESS_MAIN
