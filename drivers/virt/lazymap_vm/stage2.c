// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vm software stage 2: the default struct lazymap_vm_backend_ops.
 *
 * The stage 2 of a VM is an xarray indexed by guest frame number.  An
 * entry of level L (4K, 2M, 1G) is stored once, at the index of its first
 * frame, which is aligned to the level; its value packs the first host
 * frame, the level and the permissions.  Entries never overlap: mapping
 * one drops those it covers or that cover it.  Looking a frame up is at
 * most three loads (one per level).  The VM's mmu_lock serializes writers
 * against readers; the xarray's own lock only guards its nodes.
 *
 * Storing may need xarray nodes, which cannot be allocated under mmu_lock
 * (a spinning lock the invalidate callback takes, possibly in reclaim): the
 * fault path reserves the index first (->prepare, xa_reserve()), so the
 * store under the lock never allocates.
 */
#include <linux/math64.h>
#include <linux/mm.h>

#include "lazymap_vm.h"

#define S2_PERM_BITS	4
#define S2_LEVEL_BITS	2
#define S2_PFN_SHIFT	(S2_PERM_BITS + S2_LEVEL_BITS)

static void *s2_pack(const struct lazymap_vm_s2_entry *e)
{
	return xa_mk_value(((unsigned long)e->pfn << S2_PFN_SHIFT) |
			   (e->level << S2_PERM_BITS) | e->perm);
}

static void s2_unpack(void *entry, u64 gfn, struct lazymap_vm_s2_entry *e)
{
	unsigned long v = xa_to_value(entry);

	e->gfn = gfn;
	e->pfn = v >> S2_PFN_SHIFT;
	e->level = (v >> S2_PERM_BITS) & (BIT(S2_LEVEL_BITS) - 1);
	e->perm = v & (BIT(S2_PERM_BITS) - 1);
}

/*
 * The entry stored at @index, if it covers @gfn.  Reserved slots read as
 * NULL (xa_load() hides them).
 */
static bool s2_load_covering(struct lazymap_vm_s2 *s2, u64 index, u64 gfn,
			     struct lazymap_vm_s2_entry *e)
{
	void *entry = xa_load(&s2->entries, index);

	if (!entry || !xa_is_value(entry))
		return false;
	s2_unpack(entry, index, e);
	return gfn - index < lazymap_vm_level_pages(e->level);
}

static bool s2_sw_lookup(struct lazymap_vm_s2 *s2, u64 gfn,
			 struct lazymap_vm_s2_entry *e)
{
	unsigned int level;

	for (level = 0; level < LAZYMAP_VM_NR_LEVELS; level++) {
		u64 index = round_down(gfn, lazymap_vm_level_pages(level));

		if (s2_load_covering(s2, index, gfn, e))
			return true;
	}
	return false;
}

/*
 * Call @fn on each entry overlapping [@start, @end): those starting before
 * @start that cover it (only huge entries can), then those starting inside.
 * @fn may erase or replace the entry it is given.
 */
static int s2_for_each(struct lazymap_vm_s2 *s2, u64 start, u64 end,
		       int (*fn)(struct lazymap_vm_s2 *s2,
				 const struct lazymap_vm_s2_entry *e, void *data),
		       void *data)
{
	struct lazymap_vm_s2_entry e;
	unsigned long index;
	unsigned int level;
	void *entry;
	int ret;

	if (start >= end)
		return 0;
	for (level = LAZYMAP_VM_NR_LEVELS - 1; level > 0; level--) {
		u64 base = round_down(start, lazymap_vm_level_pages(level));

		if (base < start && s2_load_covering(s2, base, start, &e)) {
			ret = fn(s2, &e, data);
			if (ret)
				return ret;
		}
	}
	xa_for_each_range(&s2->entries, index, entry, start, end - 1) {
		if (!xa_is_value(entry))
			continue;
		s2_unpack(entry, index, &e);
		ret = fn(s2, &e, data);
		if (ret)
			return ret;
	}
	return 0;
}

static void s2_account(struct lazymap_vm_s2 *s2,
		       const struct lazymap_vm_s2_entry *e, int sign)
{
	atomic64_add(sign * (s64)lazymap_vm_level_pages(e->level), &s2->pages);
	atomic64_add(sign, &s2->nr_entries[e->level]);
}

struct s2_erase_args {
	u64 keep;	/* an index map() overwrites in place, or U64_MAX */
	u64 pages;
};

static int s2_erase_one(struct lazymap_vm_s2 *s2,
			const struct lazymap_vm_s2_entry *e, void *data)
{
	struct s2_erase_args *args = data;

	/*
	 * Overwriting keeps the xarray node, erasing could free it and the
	 * store would then have to allocate.
	 */
	if (e->gfn != args->keep)
		xa_erase(&s2->entries, e->gfn);
	s2_account(s2, e, -1);
	args->pages += lazymap_vm_level_pages(e->level);
	return 0;
}

static u64 s2_sw_unmap(struct lazymap_vm_s2 *s2, u64 start, u64 end)
{
	struct s2_erase_args args = { .keep = U64_MAX };

	s2_for_each(s2, start, end, s2_erase_one, &args);
	return args.pages;
}

struct s2_protect_args {
	unsigned int clear;
	u64 pages;
};

static int s2_protect_one(struct lazymap_vm_s2 *s2,
			  const struct lazymap_vm_s2_entry *e, void *data)
{
	struct s2_protect_args *args = data;
	struct lazymap_vm_s2_entry new = *e;

	if (!(e->perm & args->clear))
		return 0;
	new.perm &= ~args->clear;
	/* Replacing a present value needs no allocation. */
	xa_store(&s2->entries, e->gfn, s2_pack(&new), GFP_NOWAIT);
	args->pages += lazymap_vm_level_pages(e->level);
	return 0;
}

static u64 s2_sw_protect(struct lazymap_vm_s2 *s2, u64 start, u64 end,
			 unsigned int clear)
{
	struct s2_protect_args args = { .clear = clear };

	s2_for_each(s2, start, end, s2_protect_one, &args);
	return args.pages;
}

static int s2_sw_prepare(struct lazymap_vm_s2 *s2, u64 gfn)
{
	return xa_reserve(&s2->entries, gfn, GFP_KERNEL_ACCOUNT);
}

static void s2_sw_cancel(struct lazymap_vm_s2 *s2, u64 gfn)
{
	xa_release(&s2->entries, gfn);
}

static int s2_sw_map(struct lazymap_vm_s2 *s2,
		     const struct lazymap_vm_s2_entry *e)
{
	u64 pages = lazymap_vm_level_pages(e->level);
	struct s2_erase_args args = { .keep = e->gfn };
	void *old;

	if (WARN_ON_ONCE(e->level >= LAZYMAP_VM_NR_LEVELS ||
			 !IS_ALIGNED(e->gfn, pages) || !IS_ALIGNED(e->pfn, pages)))
		return -EINVAL;
	s2_for_each(s2, e->gfn, e->gfn + pages, s2_erase_one, &args);
	old = xa_store(&s2->entries, e->gfn, s2_pack(e), GFP_NOWAIT);
	if (xa_is_err(old)) {
		/* Without a prepare(): nothing is mapped at e->gfn now. */
		xa_erase(&s2->entries, e->gfn);
		return xa_err(old);
	}
	s2_account(s2, e, 1);
	atomic64_inc(&s2->installed[e->level]);
	return 0;
}

struct s2_walk_args {
	int (*fn)(const struct lazymap_vm_s2_entry *e, void *data);
	void *data;
};

static int s2_walk_one(struct lazymap_vm_s2 *s2,
		       const struct lazymap_vm_s2_entry *e, void *data)
{
	struct s2_walk_args *args = data;

	return args->fn(e, args->data);
}

static int s2_sw_walk(struct lazymap_vm_s2 *s2, u64 start, u64 end,
		      int (*fn)(const struct lazymap_vm_s2_entry *e, void *data),
		      void *data)
{
	struct s2_walk_args args = { .fn = fn, .data = data };

	return s2_for_each(s2, start, end, s2_walk_one, &args);
}

static void s2_sw_destroy(struct lazymap_vm_s2 *s2)
{
	xa_destroy(&s2->entries);
}

const struct lazymap_vm_backend_ops lazymap_vm_sw_backend = {
	.prepare = s2_sw_prepare,
	.cancel = s2_sw_cancel,
	.map = s2_sw_map,
	.unmap = s2_sw_unmap,
	.protect = s2_sw_protect,
	.lookup = s2_sw_lookup,
	.walk = s2_sw_walk,
	.destroy = s2_sw_destroy,
};
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_sw_backend);

void lazymap_vm_s2_init(struct lazymap_vm_s2 *s2,
			const struct lazymap_vm_backend_ops *ops)
{
	unsigned int level;

	s2->ops = ops;
	xa_init(&s2->entries);
	atomic64_set(&s2->pages, 0);
	for (level = 0; level < LAZYMAP_VM_NR_LEVELS; level++) {
		atomic64_set(&s2->nr_entries[level], 0);
		atomic64_set(&s2->installed[level], 0);
	}
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_s2_init);

/**
 * lazymap_vm_max_level() - the largest stage-2 level for a fault
 * @gfn: the faulting guest frame
 * @hva: its userspace address
 * @base_gfn: the slot's first guest frame
 * @npages: the slot's size in pages
 * @host_level: the level the host maps @hva at
 *
 * Like KVM's kvm_mmu_max_mapping_level(): a level fits when the host maps
 * at least that much, the guest and host addresses are congruent modulo the
 * level's size (so an aligned guest range is an aligned host range), and
 * the aligned guest range lies inside the slot.
 *
 * Return: enum lazymap_vm_level.
 */
unsigned int lazymap_vm_max_level(u64 gfn, unsigned long hva, u64 base_gfn,
				  u64 npages, unsigned int host_level)
{
	unsigned int level;

	for (level = min_t(unsigned int, host_level, LAZYMAP_VM_NR_LEVELS - 1);
	     level > 0; level--) {
		u64 pages = lazymap_vm_level_pages(level);
		u64 first = round_down(gfn, pages);

		if (((hva >> PAGE_SHIFT) - gfn) & (pages - 1))
			continue;
		if (first >= base_gfn && first + pages <= base_gfn + npages)
			break;
	}
	return level;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_max_level);
