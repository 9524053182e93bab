// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-mdev VFIO device: the vfio_device_ops of one mdev.
 *
 * Object model: &struct lazymap_mdev embeds the vfio_device and lives as
 * long as it: allocated by the mdev probe (vfio_alloc_device(), which calls
 * the init op), freed after the release op when the last reference is put
 * (the remove path, after vfio_unregister_group_dev() has waited for every
 * file of the device to be closed).  Its regions follow vfio-pci: region
 * index N at file offset N << 40; config space (256 bytes), BAR0 (4 KiB of
 * registers, read/write only) and BAR2 (device memory, read/write and
 * mmap) exist, every other region has size 0.  The device is reset on
 * VFIO_DEVICE_RESET and when its last file is closed, so every user starts
 * from the power-on state with cleared memory.
 */
#include <linux/lockdep.h>
#include <linux/minmax.h>
#include <linux/uaccess.h>
#include <linux/unaligned.h>
#include <linux/vfio.h>

#include "lazymap_mdev.h"

static int lazymap_mdev_init_dev(struct vfio_device *vdev)
{
	struct lazymap_mdev *ld = to_lazymap_mdev(vdev);
	struct mdev_device *mdev = to_mdev_device(vdev->dev);
	struct lazymap_mdev_type *type =
		container_of(mdev->type, struct lazymap_mdev_type, type);
	int ret;

	/* The mdev core leaves per-type limits to us (get_available). */
	if (atomic_dec_if_positive(&type->avail) < 0)
		return -EUSERS;

	ld->mdev = mdev;
	ld->type = type;
	ld->mem_size = type->mem_size;
	mutex_init(&ld->lock);
	lazymap_mdev_config_init(ld);
	ret = lazymap_mdev_mem_init(ld);
	if (ret)
		goto err_destroy;
	return 0;

err_destroy:
	mutex_destroy(&ld->lock);
	atomic_inc(&type->avail);
	return ret;
}

static void lazymap_mdev_release_dev(struct vfio_device *vdev)
{
	struct lazymap_mdev *ld = to_lazymap_mdev(vdev);

	lazymap_mdev_mem_exit(ld);
	mutex_destroy(&ld->lock);
	atomic_inc(&ld->type->avail);
}

/*
 * As a PCI function reset: the config space returns to its power-on state
 * (command register 0, so memory decoding is off and BAR2 is revoked; BARs
 * unassigned), the BAR0 registers to theirs (GENERATION counts the reset),
 * and BAR2 loses its contents: every mapping is zapped and every page
 * freed.  The debugfs knob is not device state and stays as it is.
 *
 * If BAR2 cannot be revoked (-ENOMEM), nothing changes unless @force; then
 * the rest is reset anyway and the next open revokes BAR2.
 */
static int __lazymap_mdev_reset(struct lazymap_mdev *ld, bool force)
{
	int ret;

	lockdep_assert_held(&ld->lock);

	ret = lazymap_mdev_mem_sync(ld, false, ld->knob_revoked);
	if (ret && !force)
		return ret;
	lazymap_mdev_mem_clear(ld);
	lazymap_mdev_config_init(ld);
	ld->scratch = 0;
	ld->generation++;
	return ret;
}

/**
 * lazymap_mdev_reset() - VFIO_DEVICE_RESET: reset to the power-on state
 * @ld: the device
 *
 * Return: 0, or -ENOMEM if BAR2 could not be revoked (nothing changed).
 */
int lazymap_mdev_reset(struct lazymap_mdev *ld)
{
	int ret;

	mutex_lock(&ld->lock);
	ret = __lazymap_mdev_reset(ld, false);
	mutex_unlock(&ld->lock);
	return ret;
}

/*
 * A reset at last close that failed to revoke BAR2 leaves memory decoding
 * off but BAR2 not revoked; put that right before anyone can map it, or
 * refuse the open.
 */
static int lazymap_mdev_open_device(struct vfio_device *vdev)
{
	struct lazymap_mdev *ld = to_lazymap_mdev(vdev);
	int ret;

	mutex_lock(&ld->lock);
	ret = lazymap_mdev_mem_sync(ld, lazymap_mdev_mem_enabled(ld),
				    ld->knob_revoked);
	mutex_unlock(&ld->lock);
	return ret;
}

/* No file and so no mapping is left: start the next user from scratch. */
static void lazymap_mdev_close_device(struct vfio_device *vdev)
{
	struct lazymap_mdev *ld = to_lazymap_mdev(vdev);

	mutex_lock(&ld->lock);
	__lazymap_mdev_reset(ld, true);
	mutex_unlock(&ld->lock);
}

/*
 * Config space and BAR0 accept single accesses of 1, 2 or 4 bytes,
 * naturally aligned and inside the region; the value is little endian.
 */
static ssize_t lazymap_mdev_rw_regs(struct lazymap_mdev *ld,
				    unsigned int index, char __user *ubuf,
				    size_t count, u64 off, bool write)
{
	u64 size = index == VFIO_PCI_CONFIG_REGION_INDEX ?
		   LAZYMAP_MDEV_CONFIG_SIZE : LAZYMAP_MDEV_BAR0_SIZE;
	u8 bytes[4] = {};
	u32 val = 0;
	int ret;

	if ((count != 1 && count != 2 && count != 4) ||
	    !IS_ALIGNED(off, count) || off >= size)
		return -EINVAL;

	if (write) {
		if (copy_from_user(bytes, ubuf, count))
			return -EFAULT;
		val = get_unaligned_le32(bytes);
		if (index == VFIO_PCI_CONFIG_REGION_INDEX)
			ret = lazymap_mdev_config_write(ld, off, count, val);
		else
			ret = lazymap_mdev_mmio_write(ld, off, count, val);
		return ret ?: count;
	}

	if (index == VFIO_PCI_CONFIG_REGION_INDEX)
		ret = lazymap_mdev_config_read(ld, off, count, &val);
	else
		ret = lazymap_mdev_mmio_read(ld, off, count, &val);
	if (ret)
		return ret;
	put_unaligned_le32(val, bytes);
	if (copy_to_user(ubuf, bytes, count))
		return -EFAULT;
	return count;
}

static ssize_t lazymap_mdev_rw(struct lazymap_mdev *ld, char __user *ubuf,
			       size_t count, loff_t *ppos, bool write)
{
	u64 index = LAZYMAP_MDEV_INDEX((u64)*ppos);
	u64 off = *ppos & LAZYMAP_MDEV_OFFSET_MASK;
	ssize_t ret;

	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
	case VFIO_PCI_BAR0_REGION_INDEX:
		ret = lazymap_mdev_rw_regs(ld, index, ubuf, count, off, write);
		break;
	case VFIO_PCI_BAR2_REGION_INDEX:
		if (off > ld->mem_size || count > ld->mem_size - off)
			return -EINVAL;
		ret = lazymap_mdev_mem_rw(ld, ubuf, count, off, write);
		break;
	default:
		return -EINVAL;
	}
	if (ret > 0)
		*ppos += ret;
	return ret;
}

static ssize_t lazymap_mdev_read(struct vfio_device *vdev, char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	return lazymap_mdev_rw(to_lazymap_mdev(vdev), ubuf, count, ppos, false);
}

static ssize_t lazymap_mdev_write(struct vfio_device *vdev,
				  const char __user *ubuf, size_t count,
				  loff_t *ppos)
{
	/* The write direction only reads *ubuf. */
	return lazymap_mdev_rw(to_lazymap_mdev(vdev), (char __user *)ubuf,
			       count, ppos, true);
}

static long lazymap_mdev_get_info(void __user *uarg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, uarg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = VFIO_PCI_NUM_REGIONS;
	info.num_irqs = VFIO_PCI_NUM_IRQS;
	return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
}

static long lazymap_mdev_get_region_info(struct lazymap_mdev *ld,
					 void __user *uarg)
{
	unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_region_info info;

	if (copy_from_user(&info, uarg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;

	info.offset = LAZYMAP_MDEV_INDEX_TO_OFFSET(info.index);
	info.cap_offset = 0;
	switch (info.index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		info.size = LAZYMAP_MDEV_CONFIG_SIZE;
		info.flags = VFIO_REGION_INFO_FLAG_READ |
			     VFIO_REGION_INFO_FLAG_WRITE;
		break;
	case VFIO_PCI_BAR0_REGION_INDEX:
		info.size = LAZYMAP_MDEV_BAR0_SIZE;
		info.flags = VFIO_REGION_INFO_FLAG_READ |
			     VFIO_REGION_INFO_FLAG_WRITE;
		break;
	case VFIO_PCI_BAR2_REGION_INDEX:
		info.size = ld->mem_size;
		info.flags = VFIO_REGION_INFO_FLAG_READ |
			     VFIO_REGION_INFO_FLAG_WRITE |
			     VFIO_REGION_INFO_FLAG_MMAP;
		break;
	default:
		info.size = 0;
		info.flags = 0;
		break;
	}
	return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
}

static long lazymap_mdev_get_irq_info(void __user *uarg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;

	if (copy_from_user(&info, uarg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	/* No interrupts of any kind. */
	info.flags = 0;
	info.count = 0;
	return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
}

static long lazymap_mdev_ioctl(struct vfio_device *vdev, unsigned int cmd,
			       unsigned long arg)
{
	struct lazymap_mdev *ld = to_lazymap_mdev(vdev);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return lazymap_mdev_get_info(uarg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return lazymap_mdev_get_region_info(ld, uarg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return lazymap_mdev_get_irq_info(uarg);
	case VFIO_DEVICE_RESET:
		return lazymap_mdev_reset(ld);
	default:
		return -ENOTTY;
	}
}

static int lazymap_mdev_mmap(struct vfio_device *vdev,
			     struct vm_area_struct *vma)
{
	struct lazymap_mdev *ld = to_lazymap_mdev(vdev);
	u64 index = vma->vm_pgoff >>
		    (LAZYMAP_MDEV_OFFSET_SHIFT - PAGE_SHIFT);
	u64 off = ((u64)vma->vm_pgoff << PAGE_SHIFT) & LAZYMAP_MDEV_OFFSET_MASK;

	if (index != VFIO_PCI_BAR2_REGION_INDEX)
		return -EINVAL;
	return lazymap_mdev_mem_mmap(ld, vma, off);
}

const struct vfio_device_ops lazymap_mdev_dev_ops = {
	.name = LAZYMAP_MDEV_NAME,
	.init = lazymap_mdev_init_dev,
	.release = lazymap_mdev_release_dev,
	.open_device = lazymap_mdev_open_device,
	.close_device = lazymap_mdev_close_device,
	.read = lazymap_mdev_read,
	.write = lazymap_mdev_write,
	.ioctl = lazymap_mdev_ioctl,
	.mmap = lazymap_mdev_mmap,
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
};
