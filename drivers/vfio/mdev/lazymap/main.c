// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-mdev: a mediated (software) PCI device whose memory BAR is a
 * lazymap space.  This file holds the module, the mdev parent and its types.
 *
 * Object model: the module registers one parent device,
 * /sys/class/lazymap-mdev/lazymap-mdev (also under /sys/class/mdev_bus/),
 * with one mdev type per device memory size.  Writing a UUID to a type's
 * "create" file makes the mdev core create an mdev and probe it here: the
 * probe allocates a &struct lazymap_mdev (a vfio_device, see device.c) and
 * registers it as an emulated-IOMMU VFIO device.  Writing 1 to the mdev's
 * "remove" file unregisters it, which waits until every file of the device
 * (and so every mapping of it) is gone; the vfio_device's release then
 * frees it and gives its type's instance back.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/mdev.h>
#include <linux/module.h>
#include <linux/sysfs.h>
#include <linux/vfio.h>

#include "lazymap_mdev.h"

#define LAZYMAP_MDEV_MAX_INSTANCES	8

static struct lazymap_mdev_type lazymap_mdev_types[] = {
	{
		.type.sysfs_name = "16M",
		.type.pretty_name = "lazymap-mdev 16 MiB",
		.mem_size = SZ_16M,
		.max_instances = LAZYMAP_MDEV_MAX_INSTANCES,
	},
	{
		.type.sysfs_name = "64M",
		.type.pretty_name = "lazymap-mdev 64 MiB",
		.mem_size = SZ_64M,
		.max_instances = LAZYMAP_MDEV_MAX_INSTANCES,
	},
};

static struct mdev_type *lazymap_mdev_mdev_types[] = {
	&lazymap_mdev_types[0].type,
	&lazymap_mdev_types[1].type,
};

static const struct class lazymap_mdev_class = {
	.name = LAZYMAP_MDEV_NAME,
};

static struct device *lazymap_mdev_parent_dev;
static struct mdev_parent lazymap_mdev_parent;

static int lazymap_mdev_probe(struct mdev_device *mdev)
{
	struct lazymap_mdev *ld;
	int ret;

	/* The instance limit is checked by the vfio_device's init op. */
	ld = vfio_alloc_device(lazymap_mdev, vdev, &mdev->dev,
			       &lazymap_mdev_dev_ops);
	if (IS_ERR(ld))
		return PTR_ERR(ld);

	ret = vfio_register_emulated_iommu_dev(&ld->vdev);
	if (ret)
		goto err_put_vdev;
	dev_set_drvdata(&mdev->dev, ld);
	lazymap_mdev_debugfs_add(ld);
	return 0;

err_put_vdev:
	vfio_put_device(&ld->vdev);
	return ret;
}

static void lazymap_mdev_remove(struct mdev_device *mdev)
{
	struct lazymap_mdev *ld = dev_get_drvdata(&mdev->dev);

	/* The knob goes first: it must not outlive the device. */
	lazymap_mdev_debugfs_remove(ld);
	vfio_unregister_group_dev(&ld->vdev);
	vfio_put_device(&ld->vdev);
}

static unsigned int lazymap_mdev_get_available(struct mdev_type *mtype)
{
	struct lazymap_mdev_type *type =
		container_of(mtype, struct lazymap_mdev_type, type);

	return atomic_read(&type->avail);
}

static ssize_t lazymap_mdev_show_description(struct mdev_type *mtype,
					     char *buf)
{
	struct lazymap_mdev_type *type =
		container_of(mtype, struct lazymap_mdev_type, type);

	return sysfs_emit(buf, "BAR0 %u KiB registers, BAR2 %llu MiB lazily mapped device memory\n",
			  LAZYMAP_MDEV_BAR0_SIZE / SZ_1K, type->mem_size / SZ_1M);
}

static struct mdev_driver lazymap_mdev_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.driver = {
		.name = LAZYMAP_MDEV_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
	},
	.probe = lazymap_mdev_probe,
	.remove = lazymap_mdev_remove,
	.get_available = lazymap_mdev_get_available,
	.show_description = lazymap_mdev_show_description,
};

static int __init lazymap_mdev_init(void)
{
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(lazymap_mdev_types); i++)
		atomic_set(&lazymap_mdev_types[i].avail,
			   lazymap_mdev_types[i].max_instances);
	lazymap_mdev_debugfs_init();

	ret = mdev_register_driver(&lazymap_mdev_driver);
	if (ret)
		goto err_debugfs;
	ret = class_register(&lazymap_mdev_class);
	if (ret)
		goto err_unregister_driver;
	lazymap_mdev_parent_dev = device_create(&lazymap_mdev_class, NULL, 0,
						NULL, LAZYMAP_MDEV_NAME);
	if (IS_ERR(lazymap_mdev_parent_dev)) {
		ret = PTR_ERR(lazymap_mdev_parent_dev);
		goto err_unregister_class;
	}
	ret = mdev_register_parent(&lazymap_mdev_parent,
				   lazymap_mdev_parent_dev,
				   &lazymap_mdev_driver, lazymap_mdev_mdev_types,
				   ARRAY_SIZE(lazymap_mdev_mdev_types));
	if (ret)
		goto err_unregister_device;
	return 0;

err_unregister_device:
	device_unregister(lazymap_mdev_parent_dev);
err_unregister_class:
	class_unregister(&lazymap_mdev_class);
err_unregister_driver:
	mdev_unregister_driver(&lazymap_mdev_driver);
err_debugfs:
	lazymap_mdev_debugfs_exit();
	return ret;
}

static void __exit lazymap_mdev_exit(void)
{
	/* Removes every mdev, waiting for their users to go away. */
	mdev_unregister_parent(&lazymap_mdev_parent);
	device_unregister(lazymap_mdev_parent_dev);
	class_unregister(&lazymap_mdev_class);
	mdev_unregister_driver(&lazymap_mdev_driver);
	lazymap_mdev_debugfs_exit();
}

module_init(lazymap_mdev_init);
module_exit(lazymap_mdev_exit);
MODULE_DESCRIPTION("lazymap-mdev: mediated PCI device with lazily mapped, revocable device memory");
MODULE_LICENSE("GPL");
