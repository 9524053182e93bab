// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vfio-pci: a vfio-pci-core variant driver whose BAR mmaps are a
 * lazymap space.
 *
 * Object model: one struct lazymap_vfio_pci_device per bound PCI device,
 * embedding vfio-pci-core's device; it owns one lazymap space (its
 * reference is dropped in .release) covering the VFIO region offsets of
 * BAR0..BAR5.  The space adopts the VFIO device inode's address_space (the
 * one every device fd maps through) and vfio-pci-core's memory_lock as its
 * gate, so vfio-pci-core's own zaps on reset, D3 and memory-disable reach
 * every mapping, and a fault sees the same "memory enabled" state the core
 * checks.  Everything but mmap is vfio-pci-core's.
 */
#include <linux/lazymap.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/seq_file.h>
#include <linux/vfio_pci_core.h>

#define LAZYMAP_VFIO_PCI_PGOFF_SHIFT	(VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)
#define LAZYMAP_VFIO_PCI_PGOFF_MASK	((1UL << LAZYMAP_VFIO_PCI_PGOFF_SHIFT) - 1)

struct lazymap_vfio_pci_device {
	struct vfio_pci_core_device core_device;
	struct lazymap_space *space;
};

static struct lazymap_vfio_pci_device *
to_lazymap_vfio_pci(struct vfio_device *core_vdev)
{
	return container_of(core_vdev, struct lazymap_vfio_pci_device,
			    core_device.vdev);
}

/*
 * The largest order, up to @order, of a naturally aligned block around
 * page @off of a BAR of @nr_pages starting at pfn @base that lies inside
 * the BAR and is physically aligned.
 */
static unsigned int lazymap_vfio_pci_block_order(unsigned long base,
						 unsigned long off,
						 unsigned long nr_pages,
						 unsigned int order)
{
	for (; order; order--) {
		unsigned long start = ALIGN_DOWN(off, 1UL << order);

		if (start + (1UL << order) <= nr_pages &&
		    IS_ALIGNED(base + start, 1UL << order))
			break;
	}
	return order;
}

static int lazymap_vfio_pci_resolve(struct lazymap_space *space, pgoff_t pgoff,
				    unsigned int order,
				    struct lazymap_resolved *res)
{
	struct lazymap_vfio_pci_device *ldev = lazymap_space_private(space);
	struct pci_dev *pdev = ldev->core_device.pdev;
	unsigned int index = pgoff >> LAZYMAP_VFIO_PCI_PGOFF_SHIFT;
	unsigned long off = pgoff & LAZYMAP_VFIO_PCI_PGOFF_MASK;
	unsigned long base, nr_pages;

	/* lazymap_vfio_pci_mmap() only lets BARs through. */
	if (WARN_ON_ONCE(index > VFIO_PCI_BAR5_REGION_INDEX))
		return -EINVAL;
	nr_pages = PAGE_ALIGN(pci_resource_len(pdev, index)) >> PAGE_SHIFT;
	if (off >= nr_pages)
		return -EINVAL;
	base = pci_resource_start(pdev, index) >> PAGE_SHIFT;
	res->order = lazymap_vfio_pci_block_order(base, off, nr_pages, order);
	res->pfn = base + ALIGN_DOWN(off, 1UL << res->order);
	return 0;
}

/*
 * vfio-pci-core's test for "may the BARs be touched": not in D3 and memory
 * decoding enabled in the virtual command register.  Called with
 * memory_lock (the gate) held for read.
 */
static bool lazymap_vfio_pci_accessible(struct lazymap_space *space)
{
	struct lazymap_vfio_pci_device *ldev = lazymap_space_private(space);
	struct vfio_pci_core_device *vdev = &ldev->core_device;
	u16 cmd;

	lockdep_assert_held(&vdev->memory_lock);
	if (vdev->pm_runtime_engaged || !vdev->vconfig)
		return false;
	cmd = le16_to_cpu(*(__le16 *)&vdev->vconfig[PCI_COMMAND]);
	/* pci_power_t is ordered: D0 < D1 < D2 < D3hot */
	return (__force int)vdev->pdev->current_state < (__force int)PCI_D3hot &&
	       (vdev->pdev->no_command_memory || (cmd & PCI_COMMAND_MEMORY));
}

/*
 * debugfs lazymap/vfio-<BDF>/stats: the space covers the VFIO offsets of
 * BAR0..BAR5 (terabytes); what a user wants is each memory BAR a mapping
 * can reach, and its size.
 */
static void lazymap_vfio_pci_describe(struct lazymap_space *space,
				      struct seq_file *m)
{
	struct lazymap_vfio_pci_device *ldev = lazymap_space_private(space);
	struct pci_dev *pdev = ldev->core_device.pdev;
	int i;

	for (i = 0; i < PCI_STD_NUM_BARS; i++)
		if (pci_resource_flags(pdev, i) & IORESOURCE_MEM &&
		    pci_resource_len(pdev, i))
			seq_printf(m, "bar%d: %llu\n", i,
				   (u64)pci_resource_len(pdev, i));
}

static const struct lazymap_ops lazymap_vfio_pci_space_ops = {
	.resolve = lazymap_vfio_pci_resolve,
	.accessible = lazymap_vfio_pci_accessible,
	.describe = lazymap_vfio_pci_describe,
};

static int lazymap_vfio_pci_init_dev(struct vfio_device *core_vdev)
{
	struct lazymap_vfio_pci_device *ldev = to_lazymap_vfio_pci(core_vdev);
	struct lazymap_space_params params = {
		.ops = &lazymap_vfio_pci_space_ops,
		.kind = LAZYMAP_KIND_PFN,
		.size = VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_ROM_REGION_INDEX),
		.mapping = core_vdev->inode->i_mapping,
		.gate = &ldev->core_device.memory_lock,
		.caching = LAZYMAP_UNCACHED,
		.private = ldev,
	};
	char name[32];
	int ret;

	ret = vfio_pci_core_init_dev(core_vdev);
	if (ret)
		return ret;

	snprintf(name, sizeof(name), "vfio-%s", pci_name(ldev->core_device.pdev));
	params.name = name;
	ldev->space = lazymap_space_create(&params);
	if (IS_ERR(ldev->space)) {
		ret = PTR_ERR(ldev->space);
		ldev->space = NULL;
		vfio_pci_core_release_dev(core_vdev);
		return ret;
	}
	return 0;
}

static void lazymap_vfio_pci_release_dev(struct vfio_device *core_vdev)
{
	struct lazymap_vfio_pci_device *ldev = to_lazymap_vfio_pci(core_vdev);

	/*
	 * No VMA is left: each held the device file, hence the device.  So
	 * this put is the last: wait for the release, which removes the
	 * space's debugfs directory, so that a bind right after this unbind
	 * can create vfio-<BDF> again, and which must not run after this
	 * module is gone.
	 */
	lazymap_space_put(ldev->space);
	lazymap_wait_for_releases();
	vfio_pci_core_release_dev(core_vdev);
}

static int lazymap_vfio_pci_open_device(struct vfio_device *core_vdev)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);
	int ret;

	ret = vfio_pci_core_enable(vdev);
	if (ret)
		return ret;
	vfio_pci_core_finish_enable(vdev);
	return 0;
}

/*
 * vfio_pci_core_mmap() checks the region, the BAR's mmap support and the
 * bounds, claims the BAR and sets the VMA flags; for BARs, lazymap then
 * takes the VMA over (vm_ops, tracking).  Device-specific regions keep
 * the handler vfio-pci-core gave them.
 */
static int lazymap_vfio_pci_mmap(struct vfio_device *core_vdev,
				 struct vm_area_struct *vma)
{
	struct lazymap_vfio_pci_device *ldev = to_lazymap_vfio_pci(core_vdev);
	unsigned int index = vma->vm_pgoff >> LAZYMAP_VFIO_PCI_PGOFF_SHIFT;
	int ret;

	ret = vfio_pci_core_mmap(core_vdev, vma);
	if (ret || index > VFIO_PCI_BAR5_REGION_INDEX)
		return ret;
	return lazymap_mmap(ldev->space, vma);
}

static const struct vfio_device_ops lazymap_vfio_pci_ops = {
	.name		= "lazymap-vfio-pci",
	.init		= lazymap_vfio_pci_init_dev,
	.release	= lazymap_vfio_pci_release_dev,
	.open_device	= lazymap_vfio_pci_open_device,
	.close_device	= vfio_pci_core_close_device,
	.ioctl		= vfio_pci_core_ioctl,
	.device_feature = vfio_pci_core_ioctl_feature,
	.read		= vfio_pci_core_read,
	.write		= vfio_pci_core_write,
	.mmap		= lazymap_vfio_pci_mmap,
	.request	= vfio_pci_core_request,
	.match		= vfio_pci_core_match,
	.bind_iommufd	= vfio_iommufd_physical_bind,
	.unbind_iommufd	= vfio_iommufd_physical_unbind,
	.attach_ioas	= vfio_iommufd_physical_attach_ioas,
	.detach_ioas	= vfio_iommufd_physical_detach_ioas,
};

static int lazymap_vfio_pci_probe(struct pci_dev *pdev,
				  const struct pci_device_id *id)
{
	struct lazymap_vfio_pci_device *ldev;
	int ret;

	ldev = vfio_alloc_device(lazymap_vfio_pci_device, core_device.vdev,
				 &pdev->dev, &lazymap_vfio_pci_ops);
	if (IS_ERR(ldev))
		return PTR_ERR(ldev);

	dev_set_drvdata(&pdev->dev, &ldev->core_device);
	ret = vfio_pci_core_register_device(&ldev->core_device);
	if (ret)
		goto err_put_vdev;
	return 0;

err_put_vdev:
	vfio_put_device(&ldev->core_device.vdev);
	return ret;
}

static void lazymap_vfio_pci_remove(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(&pdev->dev);

	vfio_pci_core_unregister_device(vdev);
	vfio_put_device(&vdev->vdev);
}

/* Any device, but only through driver_override: never claimed by ID. */
static const struct pci_device_id lazymap_vfio_pci_table[] = {
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(PCI_ANY_ID, PCI_ANY_ID) },
	{}
};
MODULE_DEVICE_TABLE(pci, lazymap_vfio_pci_table);

static struct pci_driver lazymap_vfio_pci_driver = {
	.name			= "lazymap-vfio-pci",
	.id_table		= lazymap_vfio_pci_table,
	.probe			= lazymap_vfio_pci_probe,
	.remove			= lazymap_vfio_pci_remove,
	.err_handler		= &vfio_pci_core_err_handlers,
	.driver_managed_dma	= true,
};
module_pci_driver(lazymap_vfio_pci_driver);

MODULE_DESCRIPTION("VFIO PCI driver with lazily faulted, tracked BAR mappings");
MODULE_LICENSE("GPL");
