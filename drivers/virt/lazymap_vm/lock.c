// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vm slot lock: ENABLE_CAP(LOCK_USER_MEMORY_REGION), the KVM arm64
 * "lock/unlock memslot" RFC made to work.
 *
 * LOCK pins every page of a slot (pin_user_pages(FOLL_LONGTERM)), charges
 * them to RLIMIT_MEMLOCK (account_locked_vm(), waived with CAP_IPC_LOCK)
 * and premaps them at stage 2 with the requested permission.  The pins
 * belong to the slot (slot->pinned) until UNLOCK, the slot's deletion or
 * the VM's end.  Unlocking unpins and unaccounts but leaves the stage 2 to
 * the MMU notifier, as the RFC does.  A locked slot cannot move or change
 * flags (EBUSY).
 */
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "lazymap_vm.h"

#define LAZYMAP_VM_LOCK_PERMS	(LAZYMAP_VM_LOCK_MEM_READ | \
				 LAZYMAP_VM_LOCK_MEM_WRITE)
/* Pages per pin_user_pages_fast() call, between signal checks. */
#define LAZYMAP_VM_PIN_BATCH	65536UL

/*
 * Every page of [@start, @end) in a VMA that can be pinned long term for
 * @write: no hole, no VM_IO / VM_PFNMAP, the access allowed.
 */
static int lazymap_vm_lock_check_vmas(struct mm_struct *mm, unsigned long start,
				      unsigned long end, bool write)
{
	struct vm_area_struct *vma;
	unsigned long addr = start;
	int ret = 0;

	mmap_read_lock(mm);
	while (addr < end) {
		vma = vma_lookup(mm, addr);
		if (!vma || (vma->vm_flags & (VM_IO | VM_PFNMAP)) ||
		    !(vma->vm_flags & VM_READ) ||
		    (write && !(vma->vm_flags & VM_WRITE))) {
			ret = -EFAULT;
			break;
		}
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ret;
}

static int lazymap_vm_pin(struct lazymap_vm_slot *slot, bool write)
{
	unsigned int gup_flags = FOLL_LONGTERM | (write ? FOLL_WRITE : 0);
	u64 done = 0;
	int got;

	while (done < slot->npages) {
		got = pin_user_pages_fast(slot->hva + (done << PAGE_SHIFT),
					  min_t(u64, slot->npages - done, LAZYMAP_VM_PIN_BATCH),
					  gup_flags, slot->pinned + done);
		if (got <= 0 || fatal_signal_pending(current)) {
			unpin_user_pages(slot->pinned, done + max(got, 0));
			if (got == -ENOMEM || fatal_signal_pending(current))
				return got == -ENOMEM ? -ENOMEM : -EINTR;
			return -EFAULT;
		}
		done += got;
		cond_resched();
	}
	return 0;
}

/* The largest level at which the pinned pages from @i map as one entry. */
static unsigned int lazymap_vm_premap_level(struct lazymap_vm_slot *slot, u64 i)
{
	unsigned int level;
	u64 pages, pfn, j;

	for (level = LAZYMAP_VM_NR_LEVELS - 1; level > 0; level--) {
		pages = lazymap_vm_level_pages(level);
		pfn = page_to_pfn(slot->pinned[i]);
		if (!IS_ALIGNED(slot->base_gfn + i, pages) ||
		    i + pages > slot->npages || !IS_ALIGNED(pfn, pages))
			continue;
		for (j = 1; j < pages; j++)
			if (page_to_pfn(slot->pinned[i + j]) != pfn + j)
				break;
		if (j == pages)
			break;
	}
	return level;
}

/*
 * Map every pinned page.  An invalidation of the slot since @seq stops
 * the premap: what it dropped, and the rest, fault in lazily.
 */
static int lazymap_vm_premap(struct lazymap_vm *vm, struct lazymap_vm_slot *slot,
			     unsigned long seq)
{
	struct lazymap_vm_s2_entry e;
	bool stop;
	u64 i;
	int ret;

	e.perm = LAZYMAP_VM_PERM_R | LAZYMAP_VM_PERM_X;
	if (slot->lock_perm & LAZYMAP_VM_LOCK_MEM_WRITE)
		e.perm |= LAZYMAP_VM_PERM_W;
	for (i = 0; i < slot->npages; i += lazymap_vm_level_pages(e.level)) {
		e.level = lazymap_vm_premap_level(slot, i);
		e.gfn = slot->base_gfn + i;
		e.pfn = page_to_pfn(slot->pinned[i]);
		ret = vm->s2.ops->prepare(&vm->s2, e.gfn);
		if (ret)
			return ret;
		write_lock(&vm->mmu_lock);
		stop = mmu_interval_read_retry(&slot->notifier, seq);
		if (!stop)
			ret = vm->s2.ops->map(&vm->s2, &e);
		write_unlock(&vm->mmu_lock);
		vm->s2.ops->cancel(&vm->s2, e.gfn);
		if (stop || ret)
			return ret;
		cond_resched();
	}
	return 0;
}

static int lazymap_vm_slot_lock(struct lazymap_vm *vm, u64 id, u64 perm)
{
	struct lazymap_vm_slot *slot;
	unsigned long seq;
	bool write;
	int ret;

	if (id >= LAZYMAP_VM_USER_MEM_SLOTS || !(perm & LAZYMAP_VM_LOCK_MEM_READ) ||
	    (perm & ~LAZYMAP_VM_LOCK_PERMS))
		return -EINVAL;
	guard(rwsem_write)(&vm->slots_lock);
	if (READ_ONCE(vm->has_run))
		return -EBUSY;
	slot = xa_load(&vm->slots, id);
	if (!slot || (slot->flags & LAZYMAP_VM_MEM_GUEST_MEMFD))
		return -EINVAL;
	if (slot->pinned)
		return -EBUSY;
	write = perm & LAZYMAP_VM_LOCK_MEM_WRITE;
	if (write && (slot->flags & (LAZYMAP_VM_MEM_READONLY |
				     LAZYMAP_VM_MEM_LOG_DIRTY_PAGES)))
		return -EPERM;
	ret = lazymap_vm_lock_check_vmas(vm->mm, slot->hva,
					 slot->hva + (slot->npages << PAGE_SHIFT),
					 write);
	if (ret)
		return ret;
	/* ENOMEM over RLIMIT_MEMLOCK, unless CAP_IPC_LOCK. */
	ret = account_locked_vm(vm->mm, slot->npages, true);
	if (ret)
		return ret;
	slot->pinned = kvcalloc(slot->npages, sizeof(*slot->pinned),
				GFP_KERNEL_ACCOUNT);
	if (!slot->pinned) {
		ret = -ENOMEM;
		goto unaccount;
	}
	seq = mmu_interval_read_begin(&slot->notifier);
	ret = lazymap_vm_pin(slot, write);
	if (ret)
		goto free_pinned;
	slot->lock_perm = perm;
	atomic64_add(slot->npages, &vm->locked_pages);
	ret = lazymap_vm_premap(vm, slot, seq);
	if (ret) {
		lazymap_vm_drop_slot_s2(vm, slot);
		lazymap_vm_slot_unlock(vm, slot);
	}
	return ret;

free_pinned:
	kvfree(slot->pinned);
	slot->pinned = NULL;
unaccount:
	account_locked_vm(vm->mm, slot->npages, false);
	return ret;
}

/**
 * lazymap_vm_slot_unlock() - unpin and unaccount a locked slot
 * @vm: the VM
 * @slot: the slot, slots_lock held for write; nothing if not locked
 *
 * The stage-2 entries stay until invalidated.
 */
void lazymap_vm_slot_unlock(struct lazymap_vm *vm, struct lazymap_vm_slot *slot)
{
	lockdep_assert_held_write(&vm->slots_lock);
	if (!slot->pinned)
		return;
	unpin_user_pages_dirty_lock(slot->pinned, slot->npages,
				    slot->lock_perm & LAZYMAP_VM_LOCK_MEM_WRITE);
	account_locked_vm(vm->mm, slot->npages, false);
	atomic64_sub(slot->npages, &vm->locked_pages);
	kvfree(slot->pinned);
	slot->pinned = NULL;
	slot->lock_perm = 0;
}

static int lazymap_vm_unlock(struct lazymap_vm *vm, u64 id, u64 how)
{
	struct lazymap_vm_slot *slot;
	unsigned long i;

	if (how & ~LAZYMAP_VM_UNLOCK_MEM_ALL)
		return -EINVAL;
	guard(rwsem_write)(&vm->slots_lock);
	if (how & LAZYMAP_VM_UNLOCK_MEM_ALL) {
		xa_for_each(&vm->slots, i, slot)
			lazymap_vm_slot_unlock(vm, slot);
		return 0;
	}
	if (id >= LAZYMAP_VM_USER_MEM_SLOTS)
		return -EINVAL;
	slot = xa_load(&vm->slots, id);
	if (!slot)
		return -EINVAL;
	lazymap_vm_slot_unlock(vm, slot);
	return 0;
}

/**
 * lazymap_vm_enable_cap() - ENABLE_CAP
 * @vm: the VM
 * @argp: struct lazymap_vm_enable_cap
 *
 * Return: 0 or a negative errno, in the contract's order.
 */
int lazymap_vm_enable_cap(struct lazymap_vm *vm, void __user *argp)
{
	struct lazymap_vm_enable_cap cap;

	if (copy_from_user(&cap, argp, sizeof(cap)))
		return -EFAULT;
	if (memchr_inv(cap.pad, 0, sizeof(cap.pad)))
		return -EINVAL;
	if (cap.cap != LAZYMAP_VM_CAP_LOCK_USER_MEMORY_REGION)
		return -EINVAL;
	if (cap.args[2] || cap.args[3])
		return -EINVAL;
	switch (cap.flags) {
	case LAZYMAP_VM_LOCK_USER_MEMORY_REGION_FLAGS_LOCK:
		return lazymap_vm_slot_lock(vm, cap.args[0], cap.args[1]);
	case LAZYMAP_VM_LOCK_USER_MEMORY_REGION_FLAGS_UNLOCK:
		return lazymap_vm_unlock(vm, cap.args[0], cap.args[1]);
	default:
		return -EINVAL;
	}
}
