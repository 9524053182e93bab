// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of lazymap-vm internals: the memory slot validation table
 * (every row of the UAPI contract's SET_USER_MEMORY_REGION order), slot
 * lookup with LAZYMAP_VM_USER_MEM_SLOTS slots, the software stage 2
 * (insertion, invalidation, protection, level math), and guest_memfd
 * bindings (unmap range math, overlap on both axes, lifetime).
 *
 * The VMs here have no mm: slots are linked directly, without an MMU
 * notifier, and unlinked by the test before the VM goes.
 */
#include <kunit/test.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "../lazymap_vm.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define KB		1024ULL
#define MB		(1024 * KB)
#define GB		(1024 * MB)
#define HVA0		0x10000000ULL

static void kvm_put_action(void *vm)
{
	lazymap_vm_put(vm);
}

/* Unlink and free every slot (none has a notifier or pins). */
static void kvm_unlink_all(void *data)
{
	struct lazymap_vm *vm = data;
	struct lazymap_vm_slot *slot;
	unsigned long id;

	down_write(&vm->slots_lock);
	xa_for_each(&vm->slots, id, slot) {
		lazymap_vm_slot_unlink(vm, slot);
		kfree(slot);
	}
	up_write(&vm->slots_lock);
}

static struct lazymap_vm *kvm_new(struct kunit *test)
{
	struct lazymap_vm *vm = lazymap_vm_alloc();

	KUNIT_ASSERT_NOT_NULL(test, vm);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, kvm_put_action, vm), 0);
	/* Runs before the put: actions run in reverse order. */
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, kvm_unlink_all, vm), 0);
	return vm;
}

static struct lazymap_vm_slot *kslot_add(struct kunit *test,
					 struct lazymap_vm *vm, u16 id,
					 u32 flags, u64 gpa, u64 size, u64 hva)
{
	struct lazymap_vm_slot *slot;
	int ret;

	slot = lazymap_vm_slot_new(vm, id, flags, gpa, size, hva);
	KUNIT_ASSERT_NOT_NULL(test, slot);
	down_write(&vm->slots_lock);
	ret = lazymap_vm_slot_link(vm, slot);
	up_write(&vm->slots_lock);
	if (ret)
		kfree(slot);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return slot;
}

/* ---- the slot validation table ---------------------------------------- */

/*
 * The VM of every row: slot 0 (1 MiB at 1 MiB), slot 1 READONLY (1 MiB at
 * 4 MiB), slot 2 locked (1 MiB at 8 MiB).
 */
#define S0_GPA		(1 * MB)
#define S1_GPA		(4 * MB)
#define S2_GPA		(8 * MB)
#define S_SIZE		(1 * MB)
#define S0_HVA		HVA0
#define S1_HVA		(HVA0 + 16 * MB)
#define S2_HVA		(HVA0 + 32 * MB)

struct region_case {
	const char *name;
	bool v1;
	bool full;		/* the VM's page total at U64_MAX - 1 */
	struct lazymap_vm_userspace_memory_region2 mem;
	int expect;		/* -errno, or enum lazymap_vm_change */
};

#define R(_slot, _flags, _gpa, _size, _hva) \
	{ .slot = (_slot), .flags = (_flags), .guest_phys_addr = (_gpa), \
	  .memory_size = (_size), .userspace_addr = (_hva) }

#define DIRTY		LAZYMAP_VM_MEM_LOG_DIRTY_PAGES
#define RO		LAZYMAP_VM_MEM_READONLY
#define GMEM		LAZYMAP_VM_MEM_GUEST_MEMFD
#define NEW_HVA		(HVA0 + 64 * MB)

static const struct region_case region_cases[] = {
	/* (1) */
	{ "v1 guest_memfd flag", true, false, R(5, GMEM, 0, S_SIZE, NEW_HVA), -EINVAL },
	{ "v1 unknown flag", true, false, R(5, BIT(3), 0, S_SIZE, NEW_HVA), -EINVAL },
	{ "v1 valid create", true, false, R(5, DIRTY | RO, 0, S_SIZE, NEW_HVA), LAZYMAP_VM_CREATE },
	/* (2) */
	{ "id = USER_MEM_SLOTS", false, false,
	  R(LAZYMAP_VM_USER_MEM_SLOTS, 0, 0, S_SIZE, NEW_HVA), -EINVAL },
	{ "id 0xffff", false, false, R(0xffff, 0, 0, S_SIZE, NEW_HVA), -EINVAL },
	{ "id max valid", false, false,
	  R(LAZYMAP_VM_USER_MEM_SLOTS - 1, 0, 0, S_SIZE, NEW_HVA), LAZYMAP_VM_CREATE },
	{ "pad1", false, false,
	  { .slot = 5, .guest_phys_addr = 0, .memory_size = S_SIZE,
	    .userspace_addr = NEW_HVA, .pad1 = 1 }, -EINVAL },
	{ "pad2[13]", false, false,
	  { .slot = 5, .guest_phys_addr = 0, .memory_size = S_SIZE,
	    .userspace_addr = NEW_HVA, .pad2[13] = 1 }, -EINVAL },
	/* (3) */
	{ "unknown flag", false, false, R(5, BIT(3), 0, S_SIZE, NEW_HVA), -EINVAL },
	{ "flag bit 31", false, false, R(5, BIT(31), 0, S_SIZE, NEW_HVA), -EINVAL },
	/* A GUEST_MEMFD create: its fd is checked after (10), by the ioctl. */
	{ "guest_memfd", false, false, R(5, GMEM, 0, S_SIZE, NEW_HVA), LAZYMAP_VM_CREATE },
	{ "guest_memfd | dirty", false, false, R(5, GMEM | DIRTY, 0, S_SIZE, NEW_HVA), -EINVAL },
	{ "guest_memfd | readonly", false, false, R(5, GMEM | RO, 0, S_SIZE, NEW_HVA), -EINVAL },
	/* (4) */
	{ "size unaligned", false, false, R(5, 0, 0, S_SIZE + 1, NEW_HVA), -EINVAL },
	{ "gpa unaligned", false, false, R(5, 0, 0x800, S_SIZE, NEW_HVA), -EINVAL },
	{ "hva unaligned", false, false, R(5, 0, 0, S_SIZE, NEW_HVA + 8), -EINVAL },
	{ "hva not user", false, false, R(5, 0, 0, S_SIZE, -PAGE_SIZE), -EINVAL },
	{ "hva + size not user", false, false,
	  R(5, 0, 0, 1ULL << 62, NEW_HVA), -EINVAL },
	{ "hva 0 is fine", false, false, R(5, 0, 0, S_SIZE, 0), LAZYMAP_VM_CREATE },
	/* (5) */
	{ "guest_memfd offset unaligned", false, false,
	  { .slot = 5, .flags = GMEM, .memory_size = S_SIZE,
	    .userspace_addr = NEW_HVA, .guest_memfd_offset = 8 }, -EINVAL },
	{ "guest_memfd offset + size wraps", false, false,
	  { .slot = 5, .flags = GMEM, .memory_size = S_SIZE,
	    .userspace_addr = NEW_HVA, .guest_memfd_offset = -PAGE_SIZE }, -EINVAL },
	{ "offset ignored without guest_memfd", false, false,
	  { .slot = 5, .memory_size = S_SIZE, .userspace_addr = NEW_HVA,
	    .guest_memfd_offset = 8 }, LAZYMAP_VM_CREATE },
	/* (6) */
	{ "address space 1", false, false, R(BIT(16) | 5, 0, 0, S_SIZE, NEW_HVA), -EINVAL },
	{ "gpa + size wraps", false, false,
	  R(5, 0, -PAGE_SIZE, 2 * PAGE_SIZE, NEW_HVA), -EINVAL },
	{ "gpa + size reaches 2^64", false, false,
	  R(5, 0, -S_SIZE, S_SIZE, NEW_HVA), -EINVAL },
	{ "gpa + size right below 2^64", false, false,
	  R(5, 0, -2 * S_SIZE, S_SIZE, NEW_HVA), LAZYMAP_VM_CREATE },
	{ "too many pages", false, false,
	  R(5, 0, 0, (LAZYMAP_VM_MEM_MAX_NR_PAGES + 1) << PAGE_SHIFT, 0), -EINVAL },
	/* (7) */
	{ "delete absent", false, false, R(5, 0, 0, 0, 0), -EINVAL },
	{ "delete", false, false, R(0, 0, 0, 0, 0), LAZYMAP_VM_DELETE },
	{ "delete with junk fields", false, false,
	  R(0, DIRTY, 64 * MB, 0, 0), LAZYMAP_VM_DELETE },
	{ "delete locked", false, false, R(2, 0, 0, 0, 0), LAZYMAP_VM_DELETE },
	/* (8) */
	{ "page total overflows", false, true, R(5, 0, 0, S_SIZE, NEW_HVA), -EINVAL },
	/* (9) */
	{ "modify guest_memfd", false, false, R(0, GMEM, S0_GPA, S_SIZE, S0_HVA), -EINVAL },
	{ "modify hva", false, false, R(0, 0, S0_GPA, S_SIZE, NEW_HVA), -EINVAL },
	{ "modify size", false, false, R(0, 0, S0_GPA, 2 * S_SIZE, S0_HVA), -EINVAL },
	{ "set readonly", false, false, R(0, RO, S0_GPA, S_SIZE, S0_HVA), -EINVAL },
	{ "clear readonly", false, false, R(1, 0, S1_GPA, S_SIZE, S1_HVA), -EINVAL },
	{ "identical", false, false, R(0, 0, S0_GPA, S_SIZE, S0_HVA), LAZYMAP_VM_UNCHANGED },
	{ "identical readonly", false, false, R(1, RO, S1_GPA, S_SIZE, S1_HVA),
	  LAZYMAP_VM_UNCHANGED },
	{ "move", false, false, R(0, 0, 16 * MB, S_SIZE, S0_HVA), LAZYMAP_VM_MOVE },
	{ "move and log", false, false, R(0, DIRTY, 16 * MB, S_SIZE, S0_HVA), LAZYMAP_VM_MOVE },
	{ "flags only", false, false, R(0, DIRTY, S0_GPA, S_SIZE, S0_HVA), LAZYMAP_VM_FLAGS_ONLY },
	{ "locked identical", false, false, R(2, 0, S2_GPA, S_SIZE, S2_HVA), LAZYMAP_VM_UNCHANGED },
	{ "locked move", false, false, R(2, 0, 16 * MB, S_SIZE, S2_HVA), -EBUSY },
	{ "locked flags only", false, false, R(2, DIRTY, S2_GPA, S_SIZE, S2_HVA), -EBUSY },
	{ "locked modify hva", false, false, R(2, 0, S2_GPA, S_SIZE, NEW_HVA), -EINVAL },
	/* (10) */
	{ "create over slot 0", false, false, R(5, 0, S0_GPA, S_SIZE, NEW_HVA), -EEXIST },
	{ "create over slot 0's last page", false, false,
	  R(5, 0, S0_GPA + S_SIZE - PAGE_SIZE, S_SIZE, NEW_HVA), -EEXIST },
	{ "create over slot 0's first page", false, false,
	  R(5, 0, S0_GPA - S_SIZE + PAGE_SIZE, S_SIZE, NEW_HVA), -EEXIST },
	{ "create covering slot 1", false, false,
	  R(5, 0, S1_GPA - S_SIZE, 3 * S_SIZE, NEW_HVA), -EEXIST },
	{ "create right below slot 0", false, false,
	  R(5, 0, S0_GPA - S_SIZE, S_SIZE, NEW_HVA), LAZYMAP_VM_CREATE },
	{ "create right above slot 0", false, false,
	  R(5, 0, S0_GPA + S_SIZE, S_SIZE, NEW_HVA), LAZYMAP_VM_CREATE },
	{ "create with slot 0's hva", false, false,
	  R(5, 0, 32 * MB, S_SIZE, S0_HVA), LAZYMAP_VM_CREATE },
	{ "move onto slot 1", false, false, R(0, 0, S1_GPA + PAGE_SIZE, S_SIZE, S0_HVA), -EEXIST },
	{ "move over itself", false, false, R(0, 0, S0_GPA + PAGE_SIZE, S_SIZE, S0_HVA),
	  LAZYMAP_VM_MOVE },
};

static void region_case_desc(const struct region_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(region, region_cases, region_case_desc);

static void lazymap_vm_test_region_table(struct kunit *test)
{
	const struct region_case *c = test->param_value;
	struct lazymap_vm *vm = kvm_new(test);
	struct lazymap_vm_slot *locked, *old;
	u64 saved;
	int ret;

	kslot_add(test, vm, 0, 0, S0_GPA, S_SIZE, S0_HVA);
	kslot_add(test, vm, 1, RO, S1_GPA, S_SIZE, S1_HVA);
	locked = kslot_add(test, vm, 2, 0, S2_GPA, S_SIZE, S2_HVA);
	/* Only tested for non-NULL: the slot is never unlocked here. */
	locked->pinned = kunit_kzalloc(test, sizeof(*locked->pinned), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, locked->pinned);
	locked->lock_perm = LAZYMAP_VM_LOCK_MEM_READ;

	ret = lazymap_vm_check_region(&c->mem, c->v1);
	if (!ret) {
		down_write(&vm->slots_lock);
		saved = vm->nr_slot_pages;
		if (c->full)
			vm->nr_slot_pages = U64_MAX - 1;
		ret = lazymap_vm_classify_region(vm, &c->mem, &old);
		vm->nr_slot_pages = saved;
		up_write(&vm->slots_lock);
	}
	KUNIT_EXPECT_EQ(test, ret, c->expect);
	locked->pinned = NULL;
}

/* ---- lookup with every slot ------------------------------------------- */

static void lazymap_vm_test_lookup_all_slots(struct kunit *test)
{
	struct lazymap_vm_userspace_memory_region2 mem = {};
	struct lazymap_vm *vm = kvm_new(test);
	struct lazymap_vm_slot **slots, *old;
	unsigned int i, bad, n = LAZYMAP_VM_USER_MEM_SLOTS;

	slots = kunit_kcalloc(test, n, sizeof(*slots), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, slots);
	/* Slot i: 2 pages at frame 3 * i, a page of gap after each. */
	for (i = 0; i < n; i++)
		slots[i] = kslot_add(test, vm, i, 0, (3ULL * i) << PAGE_SHIFT,
				     2 * PAGE_SIZE, HVA0 + ((2ULL * i) << PAGE_SHIFT));

	/* No assertion under the lock: the cleanup takes it. */
	down_read(&vm->slots_lock);
	KUNIT_EXPECT_EQ(test, vm->nr_slot_pages, 2ULL * n);
	for (i = 0, bad = 0; i < n; i++) {
		if (lazymap_vm_slot_find(vm, 3ULL * i) != slots[i] ||
		    lazymap_vm_slot_find(vm, 3ULL * i + 1) != slots[i] ||
		    lazymap_vm_slot_find(vm, 3ULL * i + 2)) {
			if (!bad++)
				kunit_err(test, "lookup around slot %u is wrong\n", i);
		}
	}
	KUNIT_EXPECT_EQ(test, bad, 0U);
	KUNIT_EXPECT_NULL(test, lazymap_vm_slot_find(vm, 3ULL * n));
	KUNIT_EXPECT_NULL(test, lazymap_vm_slot_find(vm, U64_MAX));
	up_read(&vm->slots_lock);

	down_write(&vm->slots_lock);
	/* Every id is taken: a new slot can only be a modification. */
	mem.slot = n - 1;
	mem.guest_phys_addr = (3ULL * (n - 1)) << PAGE_SHIFT;
	mem.memory_size = 2 * PAGE_SIZE;
	mem.userspace_addr = HVA0 + ((2ULL * (n - 1)) << PAGE_SHIFT);
	KUNIT_EXPECT_EQ(test, lazymap_vm_classify_region(vm, &mem, &old),
			LAZYMAP_VM_UNCHANGED);
	KUNIT_EXPECT_PTR_EQ(test, old, slots[n - 1]);
	/* One page down, into the gap before it, overlaps only itself... */
	mem.guest_phys_addr -= PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, lazymap_vm_classify_region(vm, &mem, &old),
			LAZYMAP_VM_MOVE);
	/* ... two pages down reach the slot before. */
	mem.guest_phys_addr -= PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, lazymap_vm_classify_region(vm, &mem, &old), -EEXIST);
	mem.guest_phys_addr = (3ULL * n) << PAGE_SHIFT;
	KUNIT_EXPECT_EQ(test, lazymap_vm_classify_region(vm, &mem, &old),
			LAZYMAP_VM_MOVE);
	/* Unlinking one slot frees its frames and its id only. */
	lazymap_vm_slot_unlink(vm, slots[100]);
	KUNIT_EXPECT_NULL(test, lazymap_vm_slot_find(vm, 300));
	KUNIT_EXPECT_PTR_EQ(test, lazymap_vm_slot_find(vm, 303), slots[101]);
	KUNIT_EXPECT_NULL(test, xa_load(&vm->slots, 100));
	up_write(&vm->slots_lock);
	kfree(slots[100]);
}

/* ---- the software stage 2 --------------------------------------------- */

static void ks2_destroy(void *s2)
{
	lazymap_vm_sw_backend.destroy(s2);
}

static struct lazymap_vm_s2 *ks2_new(struct kunit *test)
{
	struct lazymap_vm_s2 *s2 = kunit_kzalloc(test, sizeof(*s2), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, s2);
	lazymap_vm_s2_init(s2, &lazymap_vm_sw_backend);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, ks2_destroy, s2), 0);
	return s2;
}

static void ks2_map(struct kunit *test, struct lazymap_vm_s2 *s2, u64 gfn,
		    u64 pfn, unsigned int level, unsigned int perm)
{
	struct lazymap_vm_s2_entry e = {
		.gfn = gfn, .pfn = pfn, .level = level, .perm = perm,
	};

	KUNIT_ASSERT_EQ(test, s2->ops->prepare(s2, gfn), 0);
	KUNIT_EXPECT_EQ(test, s2->ops->map(s2, &e), 0);
	s2->ops->cancel(s2, gfn);
}

static int ks2_count(const struct lazymap_vm_s2_entry *e, void *data)
{
	(*(unsigned int *)data)++;
	return 0;
}

static unsigned int ks2_walk_count(struct lazymap_vm_s2 *s2, u64 start, u64 end)
{
	unsigned int n = 0;

	s2->ops->walk(s2, start, end, ks2_count, &n);
	return n;
}

static void lazymap_vm_test_s2_insert_lookup(struct kunit *test)
{
	struct lazymap_vm_s2 *s2 = ks2_new(test);
	const unsigned int rx = LAZYMAP_VM_PERM_R | LAZYMAP_VM_PERM_X;
	struct lazymap_vm_s2_entry e;

	ks2_map(test, s2, 3, 1000, LAZYMAP_VM_LEVEL_4K, LAZYMAP_VM_PERM_RWX);
	ks2_map(test, s2, 512, 4096, LAZYMAP_VM_LEVEL_2M, rx);
	ks2_map(test, s2, 1 << 18, 1 << 18, LAZYMAP_VM_LEVEL_1G, rx | LAZYMAP_VM_S2_IO);

	KUNIT_ASSERT_TRUE(test, s2->ops->lookup(s2, 3, &e));
	KUNIT_EXPECT_EQ(test, e.gfn, 3ULL);
	KUNIT_EXPECT_EQ(test, e.pfn, 1000ULL);
	KUNIT_EXPECT_EQ(test, e.level, LAZYMAP_VM_LEVEL_4K);
	KUNIT_EXPECT_EQ(test, e.perm, LAZYMAP_VM_PERM_RWX);
	KUNIT_EXPECT_FALSE(test, s2->ops->lookup(s2, 2, &e));
	KUNIT_EXPECT_FALSE(test, s2->ops->lookup(s2, 4, &e));
	KUNIT_EXPECT_FALSE(test, s2->ops->lookup(s2, 0, &e));

	/* Every frame of the 2M entry finds it, none beyond. */
	KUNIT_ASSERT_TRUE(test, s2->ops->lookup(s2, 512, &e));
	KUNIT_ASSERT_TRUE(test, s2->ops->lookup(s2, 1023, &e));
	KUNIT_EXPECT_EQ(test, e.gfn, 512ULL);
	KUNIT_EXPECT_EQ(test, e.pfn, 4096ULL);
	KUNIT_EXPECT_EQ(test, e.level, LAZYMAP_VM_LEVEL_2M);
	KUNIT_EXPECT_EQ(test, e.perm, rx);
	KUNIT_EXPECT_FALSE(test, s2->ops->lookup(s2, 1024, &e));
	KUNIT_EXPECT_FALSE(test, s2->ops->lookup(s2, 511, &e));

	KUNIT_ASSERT_TRUE(test, s2->ops->lookup(s2, (1 << 19) - 1, &e));
	KUNIT_EXPECT_EQ(test, e.gfn, 1ULL << 18);
	KUNIT_EXPECT_EQ(test, e.level, LAZYMAP_VM_LEVEL_1G);
	KUNIT_EXPECT_EQ(test, e.perm, rx | LAZYMAP_VM_S2_IO);
	KUNIT_EXPECT_FALSE(test, s2->ops->lookup(s2, 1 << 19, &e));

	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->pages), 1LL + 512 + (1 << 18));
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->nr_entries[0]), 1LL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->nr_entries[1]), 1LL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->nr_entries[2]), 1LL);
	KUNIT_EXPECT_EQ(test, ks2_walk_count(s2, 0, U64_MAX), 3U);
	/* A range inside a huge entry walks it. */
	KUNIT_EXPECT_EQ(test, ks2_walk_count(s2, 600, 601), 1U);
	KUNIT_EXPECT_EQ(test, ks2_walk_count(s2, 4, 512), 0U);
}

static void lazymap_vm_test_s2_invalidate(struct kunit *test)
{
	struct lazymap_vm_s2 *s2 = ks2_new(test);
	struct lazymap_vm_s2_entry e;
	u64 gfn;

	for (gfn = 0; gfn < 8; gfn++)
		ks2_map(test, s2, gfn, 100 + gfn, LAZYMAP_VM_LEVEL_4K,
			LAZYMAP_VM_PERM_RWX);
	ks2_map(test, s2, 1024, 2048, LAZYMAP_VM_LEVEL_2M, LAZYMAP_VM_PERM_RWX);

	/* [2, 5): three 4K entries. */
	KUNIT_EXPECT_EQ(test, s2->ops->unmap(s2, 2, 5), 3ULL);
	KUNIT_EXPECT_TRUE(test, s2->ops->lookup(s2, 1, &e));
	KUNIT_EXPECT_FALSE(test, s2->ops->lookup(s2, 2, &e));
	KUNIT_EXPECT_FALSE(test, s2->ops->lookup(s2, 4, &e));
	KUNIT_EXPECT_TRUE(test, s2->ops->lookup(s2, 5, &e));
	/* One page in the middle of a 2M entry drops all of it. */
	KUNIT_EXPECT_EQ(test, s2->ops->unmap(s2, 1300, 1301), 512ULL);
	KUNIT_EXPECT_FALSE(test, s2->ops->lookup(s2, 1024, &e));
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->pages), 5LL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->nr_entries[1]), 0LL);
	/* Nothing there, nothing dropped; an empty range is empty. */
	KUNIT_EXPECT_EQ(test, s2->ops->unmap(s2, 100, 1000), 0ULL);
	KUNIT_EXPECT_EQ(test, s2->ops->unmap(s2, 5, 5), 0ULL);

	/* A 2M entry over 4K ones replaces them... */
	ks2_map(test, s2, 0, 512, LAZYMAP_VM_LEVEL_2M, LAZYMAP_VM_PERM_RWX);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->pages), 512LL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->nr_entries[0]), 0LL);
	KUNIT_ASSERT_TRUE(test, s2->ops->lookup(s2, 7, &e));
	KUNIT_EXPECT_EQ(test, e.pfn, 512ULL);
	/* ... and a 4K entry inside a 2M one replaces it. */
	ks2_map(test, s2, 7, 7, LAZYMAP_VM_LEVEL_4K, LAZYMAP_VM_PERM_R);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->pages), 1LL);
	KUNIT_EXPECT_FALSE(test, s2->ops->lookup(s2, 6, &e));
	/* The same index overwritten in place. */
	ks2_map(test, s2, 7, 9, LAZYMAP_VM_LEVEL_4K, LAZYMAP_VM_PERM_RWX);
	KUNIT_ASSERT_TRUE(test, s2->ops->lookup(s2, 7, &e));
	KUNIT_EXPECT_EQ(test, e.pfn, 9ULL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->pages), 1LL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->installed[0]), 10LL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->installed[1]), 2LL);

	KUNIT_EXPECT_EQ(test, s2->ops->unmap(s2, 0, U64_MAX), 1ULL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->pages), 0LL);
	/* prepare() + cancel() around every map left nothing behind. */
	KUNIT_EXPECT_TRUE(test, xa_empty(&s2->entries));
}

static void lazymap_vm_test_s2_protect(struct kunit *test)
{
	struct lazymap_vm_s2 *s2 = ks2_new(test);
	struct lazymap_vm_s2_entry e;

	ks2_map(test, s2, 10, 10, LAZYMAP_VM_LEVEL_4K, LAZYMAP_VM_PERM_RWX);
	ks2_map(test, s2, 11, 11, LAZYMAP_VM_LEVEL_4K, LAZYMAP_VM_PERM_R);
	ks2_map(test, s2, 512, 512, LAZYMAP_VM_LEVEL_2M, LAZYMAP_VM_PERM_RWX);

	/* Only entries that had W count. */
	KUNIT_EXPECT_EQ(test, s2->ops->protect(s2, 0, 2048, LAZYMAP_VM_PERM_W),
			1ULL + 512);
	KUNIT_ASSERT_TRUE(test, s2->ops->lookup(s2, 10, &e));
	KUNIT_EXPECT_EQ(test, e.perm, LAZYMAP_VM_PERM_R | LAZYMAP_VM_PERM_X);
	KUNIT_ASSERT_TRUE(test, s2->ops->lookup(s2, 700, &e));
	KUNIT_EXPECT_EQ(test, e.perm, LAZYMAP_VM_PERM_R | LAZYMAP_VM_PERM_X);
	KUNIT_EXPECT_EQ(test, e.level, LAZYMAP_VM_LEVEL_2M);
	KUNIT_EXPECT_EQ(test, s2->ops->protect(s2, 0, 2048, LAZYMAP_VM_PERM_W), 0ULL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s2->pages), 2LL + 512);
}

struct level_case {
	const char *name;
	u64 gfn;
	unsigned long hva;
	u64 base, npages;
	unsigned int host, expect;
};

static const struct level_case level_cases[] = {
	{ "4K host", 512, 2 * MB, 0, 1 << 18, LAZYMAP_VM_LEVEL_4K, LAZYMAP_VM_LEVEL_4K },
	{ "2M host, aligned", 700, 2 * MB + (188 << 12), 0, 1 << 18,
	  LAZYMAP_VM_LEVEL_2M, LAZYMAP_VM_LEVEL_2M },
	{ "2M host, not congruent", 700, 2 * MB + (189 << 12), 0, 1 << 18,
	  LAZYMAP_VM_LEVEL_2M, LAZYMAP_VM_LEVEL_4K },
	{ "2M host, slot starts inside", 700, 2 * MB + (188 << 12), 600, 1 << 18,
	  LAZYMAP_VM_LEVEL_2M, LAZYMAP_VM_LEVEL_4K },
	{ "2M host, slot ends inside", 700, 2 * MB + (188 << 12), 512, 511,
	  LAZYMAP_VM_LEVEL_2M, LAZYMAP_VM_LEVEL_4K },
	{ "2M host, slot exactly 2M", 700, 2 * MB + (188 << 12), 512, 512,
	  LAZYMAP_VM_LEVEL_2M, LAZYMAP_VM_LEVEL_2M },
	{ "1G host, 1G aligned", (1 << 18) + 5, GB + (5 << 12), 1 << 18, 1 << 18,
	  LAZYMAP_VM_LEVEL_1G, LAZYMAP_VM_LEVEL_1G },
	{ "1G host, only 2M congruent", (1 << 18) + 5, 2 * MB + (5 << 12), 0, 1 << 20,
	  LAZYMAP_VM_LEVEL_1G, LAZYMAP_VM_LEVEL_2M },
	{ "1G host, slot 1G - 4K", (1 << 18) + 5, GB + (5 << 12), 1 << 18, (1 << 18) - 1,
	  LAZYMAP_VM_LEVEL_1G, LAZYMAP_VM_LEVEL_2M },
	{ "1G host, not congruent at all", 5, GB + (6 << 12), 0, 1 << 20,
	  LAZYMAP_VM_LEVEL_1G, LAZYMAP_VM_LEVEL_4K },
	{ "gfn below hva", 512, 64 * GB, 0, 1024, LAZYMAP_VM_LEVEL_2M, LAZYMAP_VM_LEVEL_2M },
};

static void level_case_desc(const struct level_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(level, level_cases, level_case_desc);

static void lazymap_vm_test_max_level(struct kunit *test)
{
	const struct level_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, lazymap_vm_max_level(c->gfn, c->hva, c->base,
						   c->npages, c->host), c->expect);
}

static void lazymap_vm_test_level_math(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, lazymap_vm_level_pages(LAZYMAP_VM_LEVEL_4K), 1ULL);
	KUNIT_EXPECT_EQ(test, lazymap_vm_level_pages(LAZYMAP_VM_LEVEL_2M) * PAGE_SIZE,
			2 * MB);
	KUNIT_EXPECT_EQ(test, lazymap_vm_level_pages(LAZYMAP_VM_LEVEL_1G) * PAGE_SIZE,
			GB);
}

/*
 * The range math of MAP_MEM's unmap, with the cases the Gunyah v16 code
 * got wrong: head and tail trims swapped, an off-by-one at the end, a
 * middle that is not split, an end that wraps.
 */
struct split_case {
	const char *name;
	u64 b_gfn, b_npages, gfn, npages;
	int err;
	u64 head, tail;
};

static const struct split_case split_cases[] = {
	{ "whole", 100, 10, 100, 10, 0, 0, 0 },
	{ "head trim", 100, 10, 100, 3, 0, 0, 7 },
	{ "tail trim", 100, 10, 107, 3, 0, 7, 0 },
	{ "middle split", 100, 10, 103, 2, 0, 3, 5 },
	{ "last page", 100, 10, 109, 1, 0, 9, 0 },
	{ "first page", 100, 10, 100, 1, 0, 0, 9 },
	{ "one past the end", 100, 10, 109, 2, -ENOENT },
	{ "at the end", 100, 10, 110, 1, -ENOENT },
	{ "one before", 100, 10, 99, 2, -ENOENT },
	{ "covering", 100, 10, 99, 12, -ENOENT },
	{ "end wraps", U64_MAX - 9, 10, U64_MAX - 1, 5, -ENOENT },
	{ "size wraps", 0, 10, 5, U64_MAX, -ENOENT },
	{ "at the top", U64_MAX - 9, 10, U64_MAX - 1, 2, 0, 8, 0 },
};

static void split_case_desc(const struct split_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(split, split_cases, split_case_desc);

static void lazymap_vm_test_unmap_split(struct kunit *test)
{
	const struct split_case *c = test->param_value;
	u64 head = 0xdead, tail = 0xbeef;

	KUNIT_EXPECT_EQ(test, c->err,
			lazymap_vm_unmap_split(c->b_gfn, c->b_npages, c->gfn,
					       c->npages, &head, &tail));
	if (c->err) {
		/* Nothing written on failure. */
		KUNIT_EXPECT_EQ(test, 0xdeadULL, head);
		KUNIT_EXPECT_EQ(test, 0xbeefULL, tail);
		return;
	}
	KUNIT_EXPECT_EQ(test, c->head, head);
	KUNIT_EXPECT_EQ(test, c->tail, tail);
	KUNIT_EXPECT_EQ(test, c->b_npages, head + c->npages + tail);
}

static void kgmem_free_action(void *gmem)
{
	lazymap_vm_gmem_free(gmem);
}

/* A VM with a 64-page guest_memfd, freed at the test's end. */
static struct lazymap_vm_gmem *kgmem_new(struct kunit *test,
					 struct lazymap_vm **vmp)
{
	struct lazymap_vm_gmem *gmem;
	struct lazymap_vm *vm;

	vm = lazymap_vm_alloc();
	KUNIT_ASSERT_NOT_NULL(test, vm);
	gmem = lazymap_vm_gmem_alloc(vm, 64 * PAGE_SIZE, 0);
	lazymap_vm_put(vm);	/* the guest_memfd holds it now */
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, gmem);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test,
							   kgmem_free_action,
							   gmem));
	*vmp = vm;
	return gmem;
}

/*
 * Overlap rules, half-open on both axes, against one binding at guest
 * frames [100, 110) over file pages [10, 20): Gunyah's inverted test
 * refused the disjoint rows and took the overlapping ones.
 */
static void lazymap_vm_test_bind_overlap(struct kunit *test)
{
	static const struct {
		u64 first, last;
		bool overlap;
	} gpa_rows[] = {
		{ 90, 99, false }, { 110, 119, false }, { 99, 100, true },
		{ 109, 110, true }, { 100, 109, true }, { 102, 103, true },
		{ 0, U64_MAX, true }, { 0, 99, false }, { 110, U64_MAX, false },
	};
	static const struct {
		u64 pgoff, npages;
		int err;
	} file_rows[] = {
		{ 0, 10, 0 }, { 20, 10, 0 }, { 9, 2, -EEXIST },
		{ 19, 2, -EEXIST }, { 10, 10, -EEXIST }, { 12, 1, -EEXIST },
		{ 0, 64, -EEXIST }, { 5, 5, 0 }, { 20, 1, 0 },
	};
	struct lazymap_vm_binding *b, *o;
	struct lazymap_vm_gmem *gmem;
	struct lazymap_vm *vm;
	unsigned int i;
	int ret;

	gmem = kgmem_new(test, &vm);
	down_write(&vm->slots_lock);
	ret = lazymap_vm_bind(vm, gmem, NULL, 100, 10, 10,
			      LAZYMAP_VM_MAP_SHARE | LAZYMAP_VM_MAP_RWX, &b);
	KUNIT_ASSERT_EQ(test, 0, ret);
	for (i = 0; i < ARRAY_SIZE(gpa_rows); i++)
		KUNIT_EXPECT_EQ_MSG(test, gpa_rows[i].overlap,
				    lazymap_vm_bindings_overlap(vm,
								gpa_rows[i].first,
								gpa_rows[i].last),
				    "GPA row %u", i);
	KUNIT_EXPECT_PTR_EQ(test, b, lazymap_vm_binding_find(vm, 100));
	KUNIT_EXPECT_PTR_EQ(test, b, lazymap_vm_binding_find(vm, 109));
	KUNIT_EXPECT_NULL(test, lazymap_vm_binding_find(vm, 110));
	KUNIT_EXPECT_NULL(test, lazymap_vm_binding_find(vm, 99));
	for (i = 0; i < ARRAY_SIZE(file_rows); i++) {
		o = NULL;
		ret = lazymap_vm_bind(vm, gmem, NULL, 1000 + 100 * i,
				      file_rows[i].pgoff, file_rows[i].npages,
				      LAZYMAP_VM_MAP_SHARE | LAZYMAP_VM_MAP_READ,
				      &o);
		KUNIT_EXPECT_EQ_MSG(test, file_rows[i].err, ret, "file row %u", i);
		if (!ret)
			lazymap_vm_unbind(vm, o);
	}
	lazymap_vm_unbind(vm, b);
	KUNIT_EXPECT_TRUE(test, mtree_empty(&vm->bindings));
	KUNIT_EXPECT_TRUE(test, RB_EMPTY_ROOT(&gmem->bindings.rb_root));
	up_write(&vm->slots_lock);
}

/*
 * LEND makes the file range private in the space, the unbind hands it
 * back; a failed bind (file overlap) changes nothing; the last close
 * takes MAP bindings back.
 */
static void lazymap_vm_test_bind_lifetime(struct kunit *test)
{
	struct lazymap_vm_binding *b, *o;
	struct lazymap_vm_gmem *gmem;
	struct lazymap_vm *vm;

	gmem = kgmem_new(test, &vm);
	down_write(&vm->slots_lock);
	KUNIT_ASSERT_EQ(test, 0, lazymap_vm_bind(vm, gmem, NULL, 0, 4, 8,
						 LAZYMAP_VM_MAP_LEND |
						 LAZYMAP_VM_MAP_RWX, &b));
	KUNIT_EXPECT_TRUE(test, lazymap_range_private(gmem->space, 4, 12));
	KUNIT_EXPECT_FALSE(test, lazymap_range_private(gmem->space, 0, 4));
	KUNIT_EXPECT_FALSE(test, lazymap_range_private(gmem->space, 12, 64));
	KUNIT_EXPECT_EQ(test, -EEXIST,
			lazymap_vm_bind(vm, gmem, NULL, 100, 11, 2,
					LAZYMAP_VM_MAP_LEND | LAZYMAP_VM_MAP_RWX,
					&o));
	KUNIT_EXPECT_FALSE(test, lazymap_range_private(gmem->space, 12, 13));
	KUNIT_EXPECT_NULL(test, lazymap_vm_binding_find(vm, 100));
	lazymap_vm_unbind(vm, b);
	KUNIT_EXPECT_FALSE(test, lazymap_range_private(gmem->space, 4, 12));
	/* Left bound: the guest_memfd's end (the test's action) removes it. */
	KUNIT_ASSERT_EQ(test, 0, lazymap_vm_bind(vm, gmem, NULL, 0, 0, 64,
						 LAZYMAP_VM_MAP_LEND |
						 LAZYMAP_VM_MAP_READ, &b));
	up_write(&vm->slots_lock);
}

static struct kunit_case lazymap_vm_test_cases[] = {
	KUNIT_CASE_PARAM(lazymap_vm_test_unmap_split, split_gen_params),
	KUNIT_CASE(lazymap_vm_test_bind_overlap),
	KUNIT_CASE(lazymap_vm_test_bind_lifetime),
	KUNIT_CASE_PARAM(lazymap_vm_test_region_table, region_gen_params),
	KUNIT_CASE_SLOW(lazymap_vm_test_lookup_all_slots),
	KUNIT_CASE(lazymap_vm_test_s2_insert_lookup),
	KUNIT_CASE(lazymap_vm_test_s2_invalidate),
	KUNIT_CASE(lazymap_vm_test_s2_protect),
	KUNIT_CASE_PARAM(lazymap_vm_test_max_level, level_gen_params),
	KUNIT_CASE(lazymap_vm_test_level_math),
	{}
};

static struct kunit_suite lazymap_vm_test_suite = {
	.name = "lazymap_vm",
	.test_cases = lazymap_vm_test_cases,
};

kunit_test_suite(lazymap_vm_test_suite);

MODULE_DESCRIPTION("KUnit tests for lazymap-vm");
MODULE_LICENSE("GPL");
