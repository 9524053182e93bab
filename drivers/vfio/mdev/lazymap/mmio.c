// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-mdev BAR0: a 4 KiB block of 32-bit registers (layout in
 * lazymap_mdev.h), reached through the device fd at the BAR0 region offset.
 * The registers are fields of the &struct lazymap_mdev, protected by its
 * lock.  Like a real memory BAR, BAR0 answers only while memory decoding is
 * on; otherwise accesses fail with -EIO.
 */
#include <linux/bits.h>
#include <linux/lockdep.h>

#include "lazymap_mdev.h"

static u32 lazymap_mdev_reg(struct lazymap_mdev *ld, unsigned int reg)
{
	lockdep_assert_held(&ld->lock);

	switch (reg) {
	case LAZYMAP_MDEV_REG_ID:
		return LAZYMAP_MDEV_ID;
	case LAZYMAP_MDEV_REG_VERSION:
		return LAZYMAP_MDEV_VERSION;
	case LAZYMAP_MDEV_REG_SCRATCH:
		return ld->scratch;
	case LAZYMAP_MDEV_REG_STATUS:
		return (ld->revoked ? 0 : LAZYMAP_MDEV_STATUS_MEM_ACCESSIBLE) |
		       (ld->knob_revoked ? LAZYMAP_MDEV_STATUS_MEM_REVOKED : 0);
	case LAZYMAP_MDEV_REG_MEM_SIZE_LO:
		return lower_32_bits(ld->mem_size);
	case LAZYMAP_MDEV_REG_MEM_SIZE_HI:
		return upper_32_bits(ld->mem_size);
	case LAZYMAP_MDEV_REG_GENERATION:
		return ld->generation;
	case LAZYMAP_MDEV_REG_MEM_PAGES:
		return min_t(unsigned long, atomic_long_read(&ld->nr_pages),
			     U32_MAX);
	default:
		return 0;
	}
}

/* The byte lanes of an access of @len bytes at @off within its register. */
static u32 lazymap_mdev_lanes(unsigned int off, unsigned int len)
{
	return (u32)GENMASK_ULL(len * 8 - 1, 0) << (8 * (off & 3));
}

/*
 * Read @len (1, 2 or 4) bytes at @off, naturally aligned and inside BAR0
 * (checked by the caller).  -EIO while memory decoding is off.
 */
int lazymap_mdev_mmio_read(struct lazymap_mdev *ld, unsigned int off,
			   unsigned int len, u32 *val)
{
	int ret = 0;

	mutex_lock(&ld->lock);
	if (lazymap_mdev_mem_enabled(ld))
		*val = (lazymap_mdev_reg(ld, off & ~3U) &
			lazymap_mdev_lanes(off, len)) >> (8 * (off & 3));
	else
		ret = -EIO;
	mutex_unlock(&ld->lock);
	return ret;
}

/* Write the low @len bytes of @val at @off: only SCRATCH is writable. */
int lazymap_mdev_mmio_write(struct lazymap_mdev *ld, unsigned int off,
			    unsigned int len, u32 val)
{
	u32 lanes = lazymap_mdev_lanes(off, len);
	int ret = 0;

	mutex_lock(&ld->lock);
	if (!lazymap_mdev_mem_enabled(ld))
		ret = -EIO;
	else if ((off & ~3U) == LAZYMAP_MDEV_REG_SCRATCH)
		ld->scratch = (ld->scratch & ~lanes) |
			      ((val << (8 * (off & 3))) & lanes);
	mutex_unlock(&ld->lock);
	return ret;
}
