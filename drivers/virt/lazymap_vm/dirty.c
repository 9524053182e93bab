// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vm dirty log: LOG_DIRTY_PAGES slots and GET_DIRTY_LOG, the way
 * KVM does it without dirty rings: write protection at stage 2.
 *
 * A dirty-logged slot owns a bitmap, a bit per page.  Its stage-2 entries
 * are 4K and writable only after a write fault, which sets the page's bit
 * (lazymap_vm_fault()).  Enabling the log write-protects the slot's
 * entries; GET_DIRTY_LOG takes the bits and write-protects the pages it
 * reports, so the next write to them faults and is logged again.  Bits are
 * set and taken under mmu_lock held for write, so none is lost between.
 */
#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "lazymap_vm.h"

static size_t lazymap_vm_dirty_bytes(struct lazymap_vm_slot *slot)
{
	return BITS_TO_LONGS(slot->npages) * sizeof(unsigned long);
}

/**
 * lazymap_vm_dirty_log_enable() - start logging writes to a slot
 * @vm: the VM
 * @slot: the slot, slots_lock held for write
 *
 * Return: 0 or -ENOMEM.
 */
int lazymap_vm_dirty_log_enable(struct lazymap_vm *vm,
				struct lazymap_vm_slot *slot)
{
	unsigned long *bitmap;

	bitmap = kvzalloc(lazymap_vm_dirty_bytes(slot), GFP_KERNEL_ACCOUNT);
	if (!bitmap)
		return -ENOMEM;
	write_lock(&vm->mmu_lock);
	vm->s2.ops->protect(&vm->s2, slot->base_gfn,
			    slot->base_gfn + slot->npages, LAZYMAP_VM_PERM_W);
	slot->dirty_bitmap = bitmap;
	write_unlock(&vm->mmu_lock);
	return 0;
}

/**
 * lazymap_vm_dirty_log_disable() - stop logging, forget the bits
 * @slot: the slot, slots_lock held for write (no fault runs)
 */
void lazymap_vm_dirty_log_disable(struct lazymap_vm_slot *slot)
{
	kvfree(slot->dirty_bitmap);
	slot->dirty_bitmap = NULL;
}

/* Take the bits (under mmu_lock) and write-protect what they report. */
static void lazymap_vm_dirty_harvest(struct lazymap_vm *vm,
				     struct lazymap_vm_slot *slot,
				     unsigned long *snap)
{
	unsigned long i, n = BITS_TO_LONGS(slot->npages);
	unsigned long bit;

	write_lock(&vm->mmu_lock);
	for (i = 0; i < n; i++)
		snap[i] = xchg(&slot->dirty_bitmap[i], 0);
	for_each_set_bit(bit, snap, slot->npages)
		vm->s2.ops->protect(&vm->s2, slot->base_gfn + bit,
				    slot->base_gfn + bit + 1, LAZYMAP_VM_PERM_W);
	write_unlock(&vm->mmu_lock);
}

/**
 * lazymap_vm_get_dirty_log() - GET_DIRTY_LOG
 * @vm: the VM
 * @argp: struct lazymap_vm_dirty_log
 *
 * Return: 0 or a negative errno, in KVM's order.
 */
int lazymap_vm_get_dirty_log(struct lazymap_vm *vm, void __user *argp)
{
	struct lazymap_vm_dirty_log log;
	struct lazymap_vm_slot *slot;
	unsigned long *snap;
	unsigned long i;
	int ret = 0;

	if (copy_from_user(&log, argp, sizeof(log)))
		return -EFAULT;
	if (log.padding1 || (log.slot >> 16) ||
	    (u16)log.slot >= LAZYMAP_VM_USER_MEM_SLOTS)
		return -EINVAL;

	guard(rwsem_read)(&vm->slots_lock);
	slot = xa_load(&vm->slots, (u16)log.slot);
	if (!slot || !slot->dirty_bitmap)
		return -ENOENT;
	snap = kvmalloc(lazymap_vm_dirty_bytes(slot), GFP_KERNEL_ACCOUNT);
	if (!snap)
		return -ENOMEM;
	lazymap_vm_dirty_harvest(vm, slot, snap);
	if (copy_to_user(log.dirty_bitmap, snap, lazymap_vm_dirty_bytes(slot))) {
		/* Report them next time: the pages stay write-protected. */
		write_lock(&vm->mmu_lock);
		for (i = 0; i < BITS_TO_LONGS(slot->npages); i++)
			slot->dirty_bitmap[i] |= snap[i];
		write_unlock(&vm->mmu_lock);
		ret = -EFAULT;
	}
	kvfree(snap);
	return ret;
}
