/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by the lazymap VFIO selftests.
 *
 * Everything here is static inline and depends only on libc and the VFIO
 * uapi header, so that the tests can be linked statically and run from a
 * busybox initramfs (no lspci, no libpci).
 *
 * Functions returning int return 0 on success or a negative errno value.
 */
#ifndef __LAZYMAP_VFIO_UTIL_H
#define __LAZYMAP_VFIO_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <linux/vfio.h>

#include "lazymap_util.h"

#define IVSHMEM_VENDOR	0x1af4
#define IVSHMEM_DEVICE	0x1110

/*
 * vfio-pci places region index N at file offset N << 40. This is not uapi
 * (userspace is meant to use the offset from REGION_INFO), but it is the
 * layout every vfio-pci kernel uses, and the only way to name the offset of
 * a region that does not exist. The fixture checks it against BAR2's offset.
 */
#define VFIO_PCI_OFFSET_SHIFT	40
#define REGION_OFFSET(index)	((uint64_t)(index) << VFIO_PCI_OFFSET_SHIFT)

#define BAR2_MMAP_FLAGS	((__u32)(VFIO_REGION_INFO_FLAG_READ |		\
				 VFIO_REGION_INFO_FLAG_WRITE |		\
				 VFIO_REGION_INFO_FLAG_MMAP))

#define PCI_SYSFS_DEVICES	"/sys/bus/pci/devices"
#define PCI_SYSFS_PROBE		"/sys/bus/pci/drivers_probe"
#define VFIO_CONTAINER_PATH	"/dev/vfio/vfio"
#define THP_ENABLED_PATH	"/sys/kernel/mm/transparent_hugepage/enabled"

/* "dddd:bb:dd.f" plus NUL, with room to spare. */
#define PCI_BDF_LEN		32

/* Read a sysfs attribute into @buf (NUL terminated, trailing newline cut). */
static inline int sysfs_read_str(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if (!len)
		return -EINVAL;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;

	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);

	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';

	return 0;
}

/* Write @str to a sysfs attribute in a single write(2). */
static inline int sysfs_write_str(const char *path, const char *str)
{
	size_t len = strlen(str);
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;

	n = write(fd, str, len);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);

	return (size_t)n == len ? 0 : -EIO;
}

static inline int sysfs_read_hex(const char *path, unsigned long *val)
{
	char buf[32], *end;
	int ret;

	ret = sysfs_read_str(path, buf, sizeof(buf));
	if (ret)
		return ret;

	errno = 0;
	*val = strtoul(buf, &end, 16);
	if (errno || end == buf)
		return -EINVAL;

	return 0;
}

/*
 * Find the first PCI device with the given vendor and device IDs by reading
 * the vendor and device attributes of every entry of /sys/bus/pci/devices.
 * Its address ("0000:00:03.0") is stored in @bdf. Returns -ENODEV if there
 * is no such device.
 */
static inline int pci_find_device(uint16_t vendor, uint16_t device,
				  char *bdf, size_t bdf_len)
{
	char path[PATH_MAX];
	unsigned long val;
	struct dirent *de;
	int ret = -ENODEV;
	size_t len;
	DIR *dir;

	dir = opendir(PCI_SYSFS_DEVICES);
	if (!dir)
		return -errno;

	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;

		snprintf(path, sizeof(path), "%s/%s/vendor",
			 PCI_SYSFS_DEVICES, de->d_name);
		if (sysfs_read_hex(path, &val) || val != vendor)
			continue;

		snprintf(path, sizeof(path), "%s/%s/device",
			 PCI_SYSFS_DEVICES, de->d_name);
		if (sysfs_read_hex(path, &val) || val != device)
			continue;

		len = strlen(de->d_name);
		if (len >= bdf_len) {
			ret = -ENAMETOOLONG;
			break;
		}
		memcpy(bdf, de->d_name, len + 1);
		ret = 0;
		break;
	}
	closedir(dir);

	return ret;
}

/*
 * Name of the driver @bdf is bound to, in @drv. Returns -ENOENT if the
 * device is not bound to any driver.
 */
static inline int pci_get_driver(const char *bdf, char *drv, size_t drv_len)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *base;
	size_t len;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s/driver", PCI_SYSFS_DEVICES, bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';

	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	len = strlen(base);
	if (len >= drv_len)
		return -ENAMETOOLONG;
	memcpy(drv, base, len + 1);

	return 0;
}

/*
 * Bind @bdf to @driver: set driver_override, unbind it from its current
 * driver (unless that already is @driver) and ask the PCI core to reprobe.
 * Verifies that the device ended up bound to @driver (-ENODEV if not).
 */
static inline int pci_bind_driver(const char *bdf, const char *driver)
{
	char path[PATH_MAX], cur[NAME_MAX + 1];
	int ret;

	snprintf(path, sizeof(path), "%s/%s/driver_override",
		 PCI_SYSFS_DEVICES, bdf);
	ret = sysfs_write_str(path, driver);
	if (ret)
		return ret;

	ret = pci_get_driver(bdf, cur, sizeof(cur));
	if (!ret && strcmp(cur, driver)) {
		snprintf(path, sizeof(path), "%s/%s/driver/unbind",
			 PCI_SYSFS_DEVICES, bdf);
		ret = sysfs_write_str(path, bdf);
		if (ret)
			return ret;
	} else if (ret && ret != -ENOENT) {
		return ret;
	}

	ret = sysfs_write_str(PCI_SYSFS_PROBE, bdf);
	if (ret)
		return ret;

	ret = pci_get_driver(bdf, cur, sizeof(cur));
	if (ret == -ENOENT)
		return -ENODEV;
	if (ret)
		return ret;

	return strcmp(cur, driver) ? -ENODEV : 0;
}

/* One device opened through the legacy container/group (type1) interface. */
struct vfio_type1_dev {
	int container_fd;
	int group_fd;
	int device_fd;
	int group_id;
	char bdf[PCI_BDF_LEN];
};

static inline void vfio_type1_init(struct vfio_type1_dev *dev)
{
	memset(dev, 0, sizeof(*dev));
	dev->container_fd = -1;
	dev->group_fd = -1;
	dev->device_fd = -1;
	dev->group_id = -1;
}

static inline void vfio_type1_close(struct vfio_type1_dev *dev)
{
	if (dev->device_fd >= 0)
		close(dev->device_fd);
	if (dev->group_fd >= 0)
		close(dev->group_fd);
	if (dev->container_fd >= 0)
		close(dev->container_fd);
	dev->device_fd = -1;
	dev->group_fd = -1;
	dev->container_fd = -1;
}

/* IOMMU group number of @bdf, from the iommu_group symlink. */
static inline int pci_iommu_group(const char *bdf)
{
	char path[PATH_MAX], link[PATH_MAX], *base, *end;
	long grp;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s/iommu_group",
		 PCI_SYSFS_DEVICES, bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';

	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	errno = 0;
	grp = strtol(base, &end, 10);
	if (errno || end == base || *end || grp < 0 || grp > INT_MAX)
		return -EINVAL;

	return grp;
}

/*
 * Open @bdf (already bound to a VFIO driver) via the type1 container
 * interface: container, API version and extension checks, group viability,
 * VFIO_TYPE1v2_IOMMU, and finally the device fd. On failure every fd opened
 * so far is closed again.
 */
static inline int vfio_type1_open(struct vfio_type1_dev *dev, const char *bdf)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	size_t len = strlen(bdf);
	char path[PATH_MAX];
	int ret, grp;

	vfio_type1_init(dev);
	if (len >= sizeof(dev->bdf))
		return -ENAMETOOLONG;
	memcpy(dev->bdf, bdf, len + 1);

	dev->container_fd = open(VFIO_CONTAINER_PATH, O_RDWR | O_CLOEXEC);
	if (dev->container_fd < 0) {
		ret = -errno;
		goto err;
	}

	ret = ioctl(dev->container_fd, VFIO_GET_API_VERSION);
	if (ret != VFIO_API_VERSION) {
		ret = ret < 0 ? -errno : -EPROTO;
		goto err;
	}

	ret = ioctl(dev->container_fd, VFIO_CHECK_EXTENSION,
		    VFIO_TYPE1v2_IOMMU);
	if (ret <= 0) {
		ret = ret < 0 ? -errno : -EOPNOTSUPP;
		goto err;
	}

	grp = pci_iommu_group(bdf);
	if (grp < 0) {
		ret = grp;
		goto err;
	}
	dev->group_id = grp;

	snprintf(path, sizeof(path), "/dev/vfio/%d", grp);
	dev->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->group_fd < 0) {
		ret = -errno;
		goto err;
	}

	if (ioctl(dev->group_fd, VFIO_GROUP_GET_STATUS, &status)) {
		ret = -errno;
		goto err;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ret = -EBUSY;
		goto err;
	}

	if (ioctl(dev->group_fd, VFIO_GROUP_SET_CONTAINER,
		  &dev->container_fd)) {
		ret = -errno;
		goto err;
	}

	if (ioctl(dev->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		ret = -errno;
		goto err;
	}

	dev->device_fd = ioctl(dev->group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev->device_fd < 0) {
		ret = -errno;
		goto err;
	}

	return 0;

err:
	vfio_type1_close(dev);
	return ret;
}

static inline int vfio_device_info(int device_fd, struct vfio_device_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);

	if (ioctl(device_fd, VFIO_DEVICE_GET_INFO, info))
		return -errno;

	return 0;
}

/* VFIO_DEVICE_GET_REGION_INFO for @index (capability chain not fetched). */
static inline int vfio_region_info(int device_fd, uint32_t index,
				   struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;

	if (ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, info))
		return -errno;

	return 0;
}

/*
 * mmap(MAP_SHARED) @len bytes of @fd at file offset @offset so that the
 * returned address is @skew bytes past an @align aligned address (@align a
 * power of two, @skew < @align). A PROT_NONE reservation of len+align+skew
 * bytes is made first, the mapping is placed over it with MAP_FIXED and the
 * unused head and tail of the reservation are unmapped.
 *
 * Returns MAP_FAILED with errno set on failure.
 */
static inline void *vfio_mmap_aligned(int fd, off_t offset, size_t len,
				      int prot, size_t align, size_t skew)
{
	size_t res_len = len + align + skew;
	uintptr_t res, addr;
	void *map;
	int err;

	if (!align || (align & (align - 1)) || skew >= align) {
		errno = EINVAL;
		return MAP_FAILED;
	}

	map = mmap(NULL, res_len, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return MAP_FAILED;
	res = (uintptr_t)map;

	addr = ((res + align - 1) & ~(uintptr_t)(align - 1)) + skew;

	map = mmap((void *)addr, len, prot, MAP_SHARED | MAP_FIXED, fd, offset);
	if (map == MAP_FAILED) {
		err = errno;
		munmap((void *)res, res_len);
		errno = err;
		return MAP_FAILED;
	}

	if (addr > res)
		munmap((void *)res, addr - res);
	if (addr + len < res + res_len)
		munmap((void *)(addr + len), res + res_len - (addr + len));

	return map;
}

/* Minor page faults taken by this process so far. */
static inline long minor_faults(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return -errno;

	return ru.ru_minflt;
}

/*
 * Current THP mode ("always", "madvise" or "never": the word in [brackets]
 * of /sys/kernel/mm/transparent_hugepage/enabled) into @mode.
 */
static inline int thp_get_mode(char *mode, size_t len)
{
	char buf[128], *start, *end;
	int ret;

	ret = sysfs_read_str(THP_ENABLED_PATH, buf, sizeof(buf));
	if (ret)
		return ret;

	start = strchr(buf, '[');
	end = start ? strchr(start, ']') : NULL;
	if (!end)
		return -EINVAL;
	start++;

	if ((size_t)(end - start) >= len)
		return -ENAMETOOLONG;
	memcpy(mode, start, end - start);
	mode[end - start] = '\0';

	return 0;
}

static inline int thp_set_mode(const char *mode)
{
	return sysfs_write_str(THP_ENABLED_PATH, mode);
}

#endif /* __LAZYMAP_VFIO_UTIL_H */
