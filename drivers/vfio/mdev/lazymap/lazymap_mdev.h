/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymap-mdev internals, shared by main.c (module, mdev parent and types),
 * device.c (the vfio_device and its regions), config.c (virtual PCI config
 * space), mmio.c (BAR0 registers), memory.c (BAR2 device memory, a lazymap
 * space) and debugfs.c (the revoke knob).
 *
 * Device model, register layout and semantics are documented in
 * Documentation/driver-api/lazymap-mdev.rst.
 */
#ifndef _LAZYMAP_MDEV_H
#define _LAZYMAP_MDEV_H

#include <linux/atomic.h>
#include <linux/lazymap.h>
#include <linux/mdev.h>
#include <linux/mutex.h>
#include <linux/pci_regs.h>
#include <linux/sizes.h>
#include <linux/types.h>
#include <linux/vfio.h>
#include <linux/xarray.h>

#define LAZYMAP_MDEV_NAME		"lazymap-mdev"

/*
 * PCI identity.  0x1b36 is Red Hat's vendor ID for QEMU's virtual devices;
 * device 0x4c4d ("LM") is made up for this simulator and assigned to
 * nothing: no real driver binds it.  The subsystem ID is the size of the
 * device memory in MiB, so a guest can tell the types apart.
 */
#define LAZYMAP_MDEV_VENDOR_ID		0x1b36
#define LAZYMAP_MDEV_DEVICE_ID		0x4c4d
#define LAZYMAP_MDEV_REVISION		0x01
/* Memory controller, "other" (0x0580), programming interface 0. */
#define LAZYMAP_MDEV_CLASS		0x058000

/* VFIO region offsets, like vfio-pci: the region index in bits 40 and up. */
#define LAZYMAP_MDEV_OFFSET_SHIFT	40
#define LAZYMAP_MDEV_OFFSET_MASK	((1ULL << LAZYMAP_MDEV_OFFSET_SHIFT) - 1)
#define LAZYMAP_MDEV_INDEX(off)		((off) >> LAZYMAP_MDEV_OFFSET_SHIFT)
#define LAZYMAP_MDEV_INDEX_TO_OFFSET(i)	((u64)(i) << LAZYMAP_MDEV_OFFSET_SHIFT)

#define LAZYMAP_MDEV_CONFIG_SIZE	256
#define LAZYMAP_MDEV_BAR0_SIZE		SZ_4K

/*
 * BAR0 registers: 32 bits, little endian; accessed with 1, 2 or 4 byte
 * naturally aligned reads and writes through the device fd (not mmap).
 * Offsets not listed read 0 and ignore writes; writes to read-only
 * registers are ignored.
 */
#define LAZYMAP_MDEV_REG_ID		0x00	/* RO: LAZYMAP_MDEV_ID */
#define LAZYMAP_MDEV_REG_VERSION	0x04	/* RO: LAZYMAP_MDEV_VERSION */
#define LAZYMAP_MDEV_REG_SCRATCH	0x08	/* RW, 0 after reset */
#define LAZYMAP_MDEV_REG_STATUS		0x0c	/* RO: LAZYMAP_MDEV_STATUS_* */
#define LAZYMAP_MDEV_REG_MEM_SIZE_LO	0x10	/* RO: BAR2 size, bits 31:0 */
#define LAZYMAP_MDEV_REG_MEM_SIZE_HI	0x14	/* RO: BAR2 size, bits 63:32 */
#define LAZYMAP_MDEV_REG_GENERATION	0x18	/* RO: resets since creation */
#define LAZYMAP_MDEV_REG_MEM_PAGES	0x1c	/* RO: BAR2 pages backed now */
#define LAZYMAP_MDEV_NR_REGS		8

#define LAZYMAP_MDEV_ID			0x6c7a6d64	/* "lzmd" */
#define LAZYMAP_MDEV_VERSION		0x00010000	/* 1.0 */

/* STATUS: BAR2 can be accessed (memory enabled and not revoked). */
#define LAZYMAP_MDEV_STATUS_MEM_ACCESSIBLE	BIT(0)
/* STATUS: BAR2 is revoked through the debugfs knob. */
#define LAZYMAP_MDEV_STATUS_MEM_REVOKED		BIT(1)

/* Config space bits the guest may write: command and interrupt line. */
#define LAZYMAP_MDEV_CMD_WMASK	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | \
				 PCI_COMMAND_MASTER)

/**
 * struct lazymap_mdev_type - one mdev type: the size of its device memory
 * @type: the mdev core's part; sysfs_name is the type name's suffix
 * @mem_size: BAR2 size in bytes, a power of two
 * @max_instances: how many mdevs of this type may exist at once
 * @avail: instances left; the vfio_device's init op takes one, its release
 *	gives it back
 */
struct lazymap_mdev_type {
	struct mdev_type type;
	u64 mem_size;
	unsigned int max_instances;
	atomic_t avail;
};

/**
 * struct lazymap_mdev - one mediated device
 * @vdev: the VFIO device; its refcount owns this structure
 * @mdev: the mdev it is the driver data of
 * @type: its type
 * @space: BAR2's lazymap space, on @vdev's inode mapping; the space's
 *	own gate is the "BAR2 can be accessed" lock, see below
 * @mem_size: BAR2 size in bytes
 * @pages: BAR2 page offset -> struct page, allocated by the first fault or
 *	write (xa_cmpxchg() settles races); entries are added with the gate
 *	held for read and removed only with the gate held for write
 * @nr_pages: pages in @pages
 * @lock: protects @config, @wmask, @regs, @knob_revoked and @revoked, and
 *	serialises config writes, resets and the knob; taken before the gate
 * @config: the virtual config space, little endian
 * @wmask: per config byte, the bits a write may change
 * @scratch: BAR0 SCRATCH register
 * @generation: resets since creation (BAR0 GENERATION)
 * @knob_revoked: BAR2 revoked through debugfs
 * @revoked: the space is revoked over all of BAR2 (memory disabled in
 *	@config or @knob_revoked): the state lazymap_revoke() and
 *	lazymap_restore() last put it in
 * @debugfs: lazymap-mdev/<uuid>/ in debugfs, or NULL
 *
 * Lock order: @lock -> gate (write: revoke, restore, reset) -> the lazymap
 * core's locks.  Faults and BAR2 reads/writes take the gate for read and
 * never @lock; nothing copies to or from user memory while holding either.
 */
struct lazymap_mdev {
	struct vfio_device vdev;
	struct mdev_device *mdev;
	struct lazymap_mdev_type *type;
	struct lazymap_space *space;
	u64 mem_size;

	struct xarray pages;
	atomic_long_t nr_pages;

	struct mutex lock;		/* see above */
	u8 config[LAZYMAP_MDEV_CONFIG_SIZE];
	u8 wmask[LAZYMAP_MDEV_CONFIG_SIZE];
	u32 scratch;
	u32 generation;
	bool knob_revoked;
	bool revoked;

	struct dentry *debugfs;
};

static inline struct lazymap_mdev *to_lazymap_mdev(struct vfio_device *vdev)
{
	return container_of(vdev, struct lazymap_mdev, vdev);
}

/* device.c */
extern const struct vfio_device_ops lazymap_mdev_dev_ops;
int lazymap_mdev_reset(struct lazymap_mdev *ld);

/* config.c */
void lazymap_mdev_config_init(struct lazymap_mdev *ld);
int lazymap_mdev_config_read(struct lazymap_mdev *ld, unsigned int off,
			     unsigned int len, u32 *val);
int lazymap_mdev_config_write(struct lazymap_mdev *ld, unsigned int off,
			      unsigned int len, u32 val);
bool lazymap_mdev_mem_enabled(struct lazymap_mdev *ld);

/* mmio.c */
int lazymap_mdev_mmio_read(struct lazymap_mdev *ld, unsigned int off,
			   unsigned int len, u32 *val);
int lazymap_mdev_mmio_write(struct lazymap_mdev *ld, unsigned int off,
			    unsigned int len, u32 val);

/* memory.c */
int lazymap_mdev_mem_init(struct lazymap_mdev *ld);
void lazymap_mdev_mem_exit(struct lazymap_mdev *ld);
int lazymap_mdev_mem_sync(struct lazymap_mdev *ld, bool mem_enabled,
			  bool knob_revoked);
void lazymap_mdev_mem_clear(struct lazymap_mdev *ld);
ssize_t lazymap_mdev_mem_rw(struct lazymap_mdev *ld, char __user *ubuf,
			    size_t count, u64 off, bool write);
int lazymap_mdev_mem_mmap(struct lazymap_mdev *ld, struct vm_area_struct *vma,
			  u64 off);

/* debugfs.c */
void lazymap_mdev_debugfs_init(void);
void lazymap_mdev_debugfs_exit(void);
void lazymap_mdev_debugfs_add(struct lazymap_mdev *ld);
void lazymap_mdev_debugfs_remove(struct lazymap_mdev *ld);

#endif /* _LAZYMAP_MDEV_H */
