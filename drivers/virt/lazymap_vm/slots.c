// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vm memory slots: SET_USER_MEMORY_REGION and its V2.
 *
 * A slot maps a guest frame range onto a userspace address range of the
 * VM's mm.  The VM owns its slots, from creation to deletion (size 0) or
 * the VM's end, in two indexes under slots_lock: an xarray by slot id and
 * an interval tree by guest frame range (lookup by GPA in O(log n), the
 * overlap check).  A slot keeps the userspace address only, never a VMA:
 * the range may span any number of VMAs, be unmapped, remapped or not
 * mapped yet; one mmu_interval_notifier per slot drops the stage-2 entries
 * of whatever changes under it.
 *
 * Validation follows KVM 6.12's __kvm_set_memory_region() check by check,
 * in its order (the first failure decides the errno); the numbers in the
 * comments are the steps of the lazymap-vm UAPI contract.
 */
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "lazymap_vm.h"

#define LAZYMAP_VM_V1_FLAGS	(LAZYMAP_VM_MEM_LOG_DIRTY_PAGES | \
				 LAZYMAP_VM_MEM_READONLY)
#define LAZYMAP_VM_VALID_FLAGS	(LAZYMAP_VM_V1_FLAGS | LAZYMAP_VM_MEM_GUEST_MEMFD)

/**
 * lazymap_vm_check_region() - the checks that need no VM state
 * @mem: the request (a V1 request is a V2 with a zero tail)
 * @v1: it came through SET_USER_MEMORY_REGION
 *
 * Steps 1 to 6 of the contract.
 *
 * Return: 0 or -EINVAL.
 */
VISIBLE_IF_KUNIT int
lazymap_vm_check_region(const struct lazymap_vm_userspace_memory_region2 *mem,
			bool v1)
{
	unsigned int i;

	/* (1) */
	if (v1 && (mem->flags & ~LAZYMAP_VM_V1_FLAGS))
		return -EINVAL;
	/* (2) */
	if ((u16)mem->slot >= LAZYMAP_VM_USER_MEM_SLOTS || mem->pad1)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(mem->pad2); i++)
		if (mem->pad2[i])
			return -EINVAL;
	/* (3) */
	if (mem->flags & ~LAZYMAP_VM_VALID_FLAGS)
		return -EINVAL;
	if ((mem->flags & LAZYMAP_VM_MEM_GUEST_MEMFD) &&
	    (mem->flags & (LAZYMAP_VM_MEM_LOG_DIRTY_PAGES |
			   LAZYMAP_VM_MEM_READONLY)))
		return -EINVAL;
	/* (4) */
	if (!PAGE_ALIGNED(mem->memory_size) || !PAGE_ALIGNED(mem->guest_phys_addr))
		return -EINVAL;
	if (!PAGE_ALIGNED(mem->userspace_addr) ||
	    mem->userspace_addr != untagged_addr(mem->userspace_addr) ||
	    !access_ok(u64_to_user_ptr(mem->userspace_addr), mem->memory_size))
		return -EINVAL;
	/* (5) */
	if ((mem->flags & LAZYMAP_VM_MEM_GUEST_MEMFD) &&
	    (!PAGE_ALIGNED(mem->guest_memfd_offset) ||
	     mem->guest_memfd_offset + mem->memory_size <
	     mem->guest_memfd_offset))
		return -EINVAL;
	/* (6) */
	if (mem->slot >> 16)
		return -EINVAL;
	if (mem->guest_phys_addr + mem->memory_size < mem->guest_phys_addr)
		return -EINVAL;
	if ((mem->memory_size >> PAGE_SHIFT) > LAZYMAP_VM_MEM_MAX_NR_PAGES)
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_check_region);

static struct lazymap_vm_slot *lazymap_vm_slot_by_id(struct lazymap_vm *vm,
						     u16 id)
{
	return xa_load(&vm->slots, id);
}

/*
 * Does [first, last] overlap a slot other than @self?  Half-open ranges of
 * pages, so adjacent slots do not overlap.
 */
static bool lazymap_vm_overlaps(struct lazymap_vm *vm, u64 first, u64 last,
				struct lazymap_vm_slot *self)
{
	struct interval_tree_node *node;

	for (node = interval_tree_iter_first(&vm->gpa_tree, first, last); node;
	     node = interval_tree_iter_next(node, first, last))
		if (container_of(node, struct lazymap_vm_slot, node) != self)
			return true;
	return false;
}

/**
 * lazymap_vm_slots_overlap() - does a slot hold a frame of a range?
 * @vm: the VM, slots_lock held
 * @first: first guest frame
 * @last: last guest frame (inclusive)
 *
 * Return: true if a slot overlaps [@first, @last].
 */
bool lazymap_vm_slots_overlap(struct lazymap_vm *vm, u64 first, u64 last)
{
	lockdep_assert_held(&vm->slots_lock);
	return lazymap_vm_overlaps(vm, first, last, NULL);
}

/**
 * lazymap_vm_classify_region() - the checks against the VM's slots
 * @vm: the VM, slots_lock held
 * @mem: a request lazymap_vm_check_region() accepted
 * @oldp: the slot with that id, or NULL
 *
 * Steps 7 to 10 of the contract.
 *
 * Return: enum lazymap_vm_change or a negative errno.
 */
VISIBLE_IF_KUNIT int
lazymap_vm_classify_region(struct lazymap_vm *vm,
			   const struct lazymap_vm_userspace_memory_region2 *mem,
			   struct lazymap_vm_slot **oldp)
{
	u64 base_gfn = mem->guest_phys_addr >> PAGE_SHIFT;
	u64 npages = mem->memory_size >> PAGE_SHIFT;
	struct lazymap_vm_slot *old;
	int change;

	lockdep_assert_held(&vm->slots_lock);
	old = lazymap_vm_slot_by_id(vm, (u16)mem->slot);
	*oldp = old;
	/* (7) */
	if (!npages)
		return old ? LAZYMAP_VM_DELETE : -EINVAL;
	if (!old) {
		/* (8) */
		if (vm->nr_slot_pages + npages < vm->nr_slot_pages)
			return -EINVAL;
		change = LAZYMAP_VM_CREATE;
	} else {
		/*
		 * (9) A GUEST_MEMFD slot is immutable, whatever the request
		 * (KVM would take one without the flag as a flags change).
		 */
		if ((mem->flags | old->flags) & LAZYMAP_VM_MEM_GUEST_MEMFD)
			return -EINVAL;
		if (mem->userspace_addr != old->hva || npages != old->npages ||
		    ((mem->flags ^ old->flags) & LAZYMAP_VM_MEM_READONLY))
			return -EINVAL;
		if (base_gfn != old->base_gfn)
			change = LAZYMAP_VM_MOVE;
		else if (mem->flags != old->flags)
			change = LAZYMAP_VM_FLAGS_ONLY;
		else
			return LAZYMAP_VM_UNCHANGED;
		if (old->pinned)
			return -EBUSY;
	}
	/* (10) */
	if ((change == LAZYMAP_VM_CREATE || change == LAZYMAP_VM_MOVE) &&
	    (lazymap_vm_overlaps(vm, base_gfn, base_gfn + npages - 1, old) ||
	     lazymap_vm_bindings_overlap(vm, base_gfn, base_gfn + npages - 1)))
		return -EEXIST;
	return change;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_classify_region);

/**
 * lazymap_vm_slot_new() - allocate a slot, not linked into the VM
 * @vm: the VM
 * @id: slot id
 * @flags: LAZYMAP_VM_MEM_*
 * @gpa: guest physical address, page aligned
 * @size: bytes, page aligned, not 0
 * @hva: userspace address, page aligned
 *
 * Return: the slot or NULL.
 */
VISIBLE_IF_KUNIT struct lazymap_vm_slot *
lazymap_vm_slot_new(struct lazymap_vm *vm, u16 id, u32 flags, u64 gpa,
		    u64 size, u64 hva)
{
	struct lazymap_vm_slot *slot;

	slot = kzalloc(sizeof(*slot), GFP_KERNEL_ACCOUNT);
	if (!slot)
		return NULL;
	slot->vm = vm;
	slot->id = id;
	slot->flags = flags;
	slot->base_gfn = gpa >> PAGE_SHIFT;
	slot->npages = size >> PAGE_SHIFT;
	slot->hva = hva;
	slot->node.start = slot->base_gfn;
	slot->node.last = slot->base_gfn + slot->npages - 1;
	return slot;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_slot_new);

/**
 * lazymap_vm_slot_link() - make a slot visible by id and by GPA
 * @vm: the VM, slots_lock held for write
 * @slot: from lazymap_vm_slot_new(), not overlapping another slot
 *
 * Return: 0, -EEXIST (id taken) or -ENOMEM.
 */
VISIBLE_IF_KUNIT int lazymap_vm_slot_link(struct lazymap_vm *vm,
					  struct lazymap_vm_slot *slot)
{
	int ret;

	lockdep_assert_held_write(&vm->slots_lock);
	ret = xa_insert(&vm->slots, slot->id, slot, GFP_KERNEL_ACCOUNT);
	if (ret)
		return ret == -EBUSY ? -EEXIST : ret;
	interval_tree_insert(&slot->node, &vm->gpa_tree);
	vm->nr_slot_pages += slot->npages;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_slot_link);

/**
 * lazymap_vm_slot_unlink() - undo lazymap_vm_slot_link()
 * @vm: the VM, slots_lock held for write
 * @slot: a linked slot
 */
VISIBLE_IF_KUNIT void lazymap_vm_slot_unlink(struct lazymap_vm *vm,
					     struct lazymap_vm_slot *slot)
{
	lockdep_assert_held_write(&vm->slots_lock);
	interval_tree_remove(&slot->node, &vm->gpa_tree);
	xa_erase(&vm->slots, slot->id);
	vm->nr_slot_pages -= slot->npages;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_slot_unlink);

/**
 * lazymap_vm_slot_find() - the slot holding a guest frame
 * @vm: the VM, slots_lock held
 * @gfn: guest frame number
 *
 * Return: the slot or NULL.
 */
struct lazymap_vm_slot *lazymap_vm_slot_find(struct lazymap_vm *vm, u64 gfn)
{
	struct interval_tree_node *node;

	lockdep_assert_held(&vm->slots_lock);
	node = interval_tree_iter_first(&vm->gpa_tree, gfn, gfn);
	return node ? container_of(node, struct lazymap_vm_slot, node) : NULL;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_slot_find);

/*
 * (11) A GUEST_MEMFD slot's binding: the file checks, then
 * lazymap_vm_bind() (file-range overlap, the LEND).
 */
static int lazymap_vm_slot_bind(struct lazymap_vm *vm,
				struct lazymap_vm_slot *slot,
				const struct lazymap_vm_userspace_memory_region2 *mem,
				struct lazymap_vm_gmem *gmem)
{
	u64 align = PAGE_SIZE;

	if (gmem->flags & LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE)
		align = SZ_2M;
	if (mem->guest_memfd_offset + mem->memory_size > gmem->size ||
	    !IS_ALIGNED(mem->guest_phys_addr | mem->guest_memfd_offset |
			mem->memory_size, align))
		return -EINVAL;
	return lazymap_vm_bind(vm, gmem, slot, slot->base_gfn,
			       mem->guest_memfd_offset >> PAGE_SHIFT,
			       slot->npages,
			       LAZYMAP_VM_MAP_LEND | LAZYMAP_VM_MAP_RWX,
			       &slot->binding);
}

static int lazymap_vm_slot_create(struct lazymap_vm *vm,
				  const struct lazymap_vm_userspace_memory_region2 *mem,
				  struct lazymap_vm_gmem *gmem)
{
	struct lazymap_vm_slot *slot;
	int ret;

	slot = lazymap_vm_slot_new(vm, (u16)mem->slot, 0, mem->guest_phys_addr,
				   mem->memory_size, mem->userspace_addr);
	if (!slot)
		return -ENOMEM;
	if (mem->flags & LAZYMAP_VM_MEM_LOG_DIRTY_PAGES) {
		ret = lazymap_vm_dirty_log_enable(vm, slot);
		if (ret)
			goto free_slot;
	}
	slot->flags = mem->flags;
	if (gmem) {
		/* The hva was checked, and is not used. */
		ret = lazymap_vm_slot_bind(vm, slot, mem, gmem);
		if (ret)
			goto free_bitmap;
	} else {
		/* Takes mmap_lock: fine under slots_lock, see lazymap_vm.h. */
		ret = mmu_interval_notifier_insert(&slot->notifier, vm->mm,
						   slot->hva,
						   slot->npages << PAGE_SHIFT,
						   &lazymap_vm_notifier_ops);
		if (ret)
			goto free_bitmap;
	}
	ret = lazymap_vm_slot_link(vm, slot);
	if (ret)
		goto remove_notifier;
	return 0;

remove_notifier:
	if (slot->binding)
		lazymap_vm_unbind(vm, slot->binding);
	else
		mmu_interval_notifier_remove(&slot->notifier);
free_bitmap:
	lazymap_vm_dirty_log_disable(slot);
free_slot:
	kfree(slot);
	return ret;
}

static void lazymap_vm_slot_delete(struct lazymap_vm *vm,
				   struct lazymap_vm_slot *slot)
{
	lockdep_assert_held_write(&vm->slots_lock);
	lazymap_vm_slot_unlock(vm, slot);
	/* No callback runs after this, none is running. */
	if (slot->notifier.mm)
		mmu_interval_notifier_remove(&slot->notifier);
	if (slot->binding)
		lazymap_vm_unbind(vm, slot->binding);
	lazymap_vm_drop_slot_s2(vm, slot);
	lazymap_vm_slot_unlink(vm, slot);
	lazymap_vm_dirty_log_disable(slot);
	kfree(slot);
}

/*
 * MOVE and FLAGS_ONLY: only LOG_DIRTY_PAGES may change along (READONLY
 * cannot); the fallible part, enabling the dirty log, comes first.
 */
static int lazymap_vm_slot_modify(struct lazymap_vm *vm,
				  struct lazymap_vm_slot *slot,
				  const struct lazymap_vm_userspace_memory_region2 *mem)
{
	bool dirty = mem->flags & LAZYMAP_VM_MEM_LOG_DIRTY_PAGES;
	u64 base_gfn = mem->guest_phys_addr >> PAGE_SHIFT;
	int ret;

	if (dirty && !slot->dirty_bitmap) {
		ret = lazymap_vm_dirty_log_enable(vm, slot);
		if (ret)
			return ret;
	}
	if (base_gfn != slot->base_gfn) {
		lazymap_vm_drop_slot_s2(vm, slot);
		write_lock(&vm->mmu_lock);
		interval_tree_remove(&slot->node, &vm->gpa_tree);
		slot->base_gfn = base_gfn;
		slot->node.start = base_gfn;
		slot->node.last = base_gfn + slot->npages - 1;
		interval_tree_insert(&slot->node, &vm->gpa_tree);
		write_unlock(&vm->mmu_lock);
	}
	write_lock(&vm->mmu_lock);
	slot->flags = mem->flags;
	write_unlock(&vm->mmu_lock);
	if (!dirty)
		lazymap_vm_dirty_log_disable(slot);
	return 0;
}

/**
 * lazymap_vm_set_user_memory_region() - SET_USER_MEMORY_REGION(2)
 * @vm: the VM
 * @argp: struct lazymap_vm_userspace_memory_region(2)
 * @v2: the REGION2 layout
 *
 * Return: 0 or a negative errno.
 */
int lazymap_vm_set_user_memory_region(struct lazymap_vm *vm, void __user *argp,
				      bool v2)
{
	struct lazymap_vm_userspace_memory_region2 mem = {};
	struct lazymap_vm_gmem *gmem = NULL;
	struct file *file = NULL;
	struct lazymap_vm_slot *old;
	size_t size;
	int change;
	int ret;

	size = v2 ? sizeof(struct lazymap_vm_userspace_memory_region2) :
		    sizeof(struct lazymap_vm_userspace_memory_region);
	if (copy_from_user(&mem, argp, size))
		return -EFAULT;
	ret = lazymap_vm_check_region(&mem, !v2);
	if (ret)
		return ret;

	guard(rwsem_write)(&vm->slots_lock);
	change = lazymap_vm_classify_region(vm, &mem, &old);
	switch (change) {
	case LAZYMAP_VM_CREATE:
		if (!(mem.flags & LAZYMAP_VM_MEM_GUEST_MEMFD))
			return lazymap_vm_slot_create(vm, &mem, NULL);
		/* (11), after (10).  fput() defers the file's release. */
		gmem = lazymap_vm_gmem_get_file(vm, mem.guest_memfd, &file);
		if (IS_ERR(gmem))
			return PTR_ERR(gmem);
		ret = lazymap_vm_slot_create(vm, &mem, gmem);
		fput(file);
		return ret;
	case LAZYMAP_VM_DELETE:
		lazymap_vm_slot_delete(vm, old);
		return 0;
	case LAZYMAP_VM_MOVE:
	case LAZYMAP_VM_FLAGS_ONLY:
		return lazymap_vm_slot_modify(vm, old, &mem);
	case LAZYMAP_VM_UNCHANGED:
		return 0;
	default:
		return change;
	}
}

/**
 * lazymap_vm_delete_all_slots() - delete every slot, at the VM's end
 * @vm: the VM
 */
void lazymap_vm_delete_all_slots(struct lazymap_vm *vm)
{
	struct lazymap_vm_slot *slot;
	unsigned long id;

	guard(rwsem_write)(&vm->slots_lock);
	xa_for_each(&vm->slots, id, slot)
		lazymap_vm_slot_delete(vm, slot);
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_delete_all_slots);
