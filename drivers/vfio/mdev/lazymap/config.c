// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-mdev virtual PCI config space: 256 bytes of a type 0 header
 * without capabilities, owned by the &struct lazymap_mdev and protected by
 * its lock.
 *
 * Writes go through a per-byte write mask, as in QEMU: a bit the mask does
 * not cover keeps its value.  The masks of the BARs are their size masks,
 * so writing all ones to a BAR reads back the size (with the BAR's type
 * bits), as on real hardware.  Only the command register has side effects:
 * turning PCI_COMMAND_MEMORY off revokes BAR2 (mapped accesses SIGBUS,
 * region reads and writes of BAR0 and BAR2 fail with -EIO), turning it on
 * restores it.
 */
#include <linux/bits.h>
#include <linux/lockdep.h>
#include <linux/pci_regs.h>
#include <linux/string.h>
#include <linux/unaligned.h>

#include "lazymap_mdev.h"

/*
 * Power-on (and reset) state: every register but the identification ones
 * reads 0, so memory decoding is off and the BARs are unassigned.
 */
void lazymap_mdev_config_init(struct lazymap_mdev *ld)
{
	u64 bar2_mask = ~(ld->mem_size - 1);
	u8 *cfg = ld->config;
	u8 *wm = ld->wmask;

	memset(cfg, 0, LAZYMAP_MDEV_CONFIG_SIZE);
	memset(wm, 0, LAZYMAP_MDEV_CONFIG_SIZE);

	put_unaligned_le16(LAZYMAP_MDEV_VENDOR_ID, cfg + PCI_VENDOR_ID);
	put_unaligned_le16(LAZYMAP_MDEV_DEVICE_ID, cfg + PCI_DEVICE_ID);
	cfg[PCI_REVISION_ID] = LAZYMAP_MDEV_REVISION;
	cfg[PCI_CLASS_PROG] = LAZYMAP_MDEV_CLASS & 0xff;
	put_unaligned_le16(LAZYMAP_MDEV_CLASS >> 8, cfg + PCI_CLASS_DEVICE);
	cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	/* BAR0: 32-bit, non-prefetchable memory; BAR2/3: 64-bit prefetchable. */
	put_unaligned_le32(PCI_BASE_ADDRESS_SPACE_MEMORY |
			   PCI_BASE_ADDRESS_MEM_TYPE_32,
			   cfg + PCI_BASE_ADDRESS_0);
	put_unaligned_le32(PCI_BASE_ADDRESS_SPACE_MEMORY |
			   PCI_BASE_ADDRESS_MEM_TYPE_64 |
			   PCI_BASE_ADDRESS_MEM_PREFETCH,
			   cfg + PCI_BASE_ADDRESS_2);
	put_unaligned_le16(LAZYMAP_MDEV_VENDOR_ID, cfg + PCI_SUBSYSTEM_VENDOR_ID);
	put_unaligned_le16(ld->mem_size / SZ_1M, cfg + PCI_SUBSYSTEM_ID);

	put_unaligned_le16(LAZYMAP_MDEV_CMD_WMASK, wm + PCI_COMMAND);
	put_unaligned_le32(~(LAZYMAP_MDEV_BAR0_SIZE - 1),
			   wm + PCI_BASE_ADDRESS_0);
	put_unaligned_le32(lower_32_bits(bar2_mask) & PCI_BASE_ADDRESS_MEM_MASK,
			   wm + PCI_BASE_ADDRESS_2);
	put_unaligned_le32(upper_32_bits(bar2_mask), wm + PCI_BASE_ADDRESS_3);
	wm[PCI_INTERRUPT_LINE] = 0xff;
}

/* Is memory decoding on?  Called with ld->lock held. */
bool lazymap_mdev_mem_enabled(struct lazymap_mdev *ld)
{
	lockdep_assert_held(&ld->lock);
	return get_unaligned_le16(ld->config + PCI_COMMAND) & PCI_COMMAND_MEMORY;
}

/*
 * Read @len (1, 2 or 4) bytes at @off, naturally aligned and inside the
 * config space (checked by the caller), as a little-endian value.
 */
int lazymap_mdev_config_read(struct lazymap_mdev *ld, unsigned int off,
			     unsigned int len, u32 *val)
{
	u8 bytes[4] = {};

	mutex_lock(&ld->lock);
	memcpy(bytes, ld->config + off, len);
	mutex_unlock(&ld->lock);
	*val = get_unaligned_le32(bytes);
	return 0;
}

/*
 * Write the low @len bytes of @val at @off (as lazymap_mdev_config_read()).
 * A change of PCI_COMMAND_MEMORY revokes or restores BAR2 before the new
 * value becomes visible; if that fails (-ENOMEM) nothing changes.
 */
int lazymap_mdev_config_write(struct lazymap_mdev *ld, unsigned int off,
			      unsigned int len, u32 val)
{
	u8 old[4];
	unsigned int i;
	bool was_enabled;
	int ret = 0;

	mutex_lock(&ld->lock);
	was_enabled = lazymap_mdev_mem_enabled(ld);
	memcpy(old, ld->config + off, len);
	for (i = 0; i < len; i++) {
		u8 mask = ld->wmask[off + i];
		u8 byte = val >> (8 * i);

		ld->config[off + i] = (old[i] & ~mask) | (byte & mask);
	}
	if (lazymap_mdev_mem_enabled(ld) != was_enabled) {
		ret = lazymap_mdev_mem_sync(ld, !was_enabled, ld->knob_revoked);
		if (ret)
			memcpy(ld->config + off, old, len);
	}
	mutex_unlock(&ld->lock);
	return ret;
}
