// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vm fault path and MMU notifier: how a guest frame of a user
 * memory slot gets a stage-2 entry, and how the entry goes away again.
 *
 * Like KVM's hva_to_pfn() under its mmu_invalidate_seq, a fault samples the
 * slot's notifier sequence, resolves the userspace address (GUP for
 * ordinary memory, follow_pfnmap_start() for VM_PFNMAP VMAs such as VFIO
 * BAR mmaps), then installs under mmu_lock only if no invalidation ran
 * meanwhile, and retries otherwise.  No page reference survives the
 * install: the notifier, not a reference, keeps the entry honest.  Any
 * change of the host mapping under a slot (munmap, MADV_DONTNEED,
 * mprotect, COW break, migration, a device zap) calls the invalidate
 * callback, which drops the overlapping entries under mmu_lock and bumps
 * the sequence.
 *
 * Entries are as large as the host mapping and the slot's alignment
 * allow, like KVM's host_pfn_mapping_level(): a THP maps with one 2M
 * entry, a PUD-mapped 1 GiB-aligned BAR with one 1G entry.
 */
#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>

#include "lazymap_vm.h"

static bool lazymap_vm_invalidate(struct mmu_interval_notifier *mni,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq)
{
	struct lazymap_vm_slot *slot =
		container_of(mni, struct lazymap_vm_slot, notifier);
	struct lazymap_vm *vm = slot->vm;
	unsigned long start, end;
	u64 first, last, dropped;

	/*
	 * mmu_lock spins, so a non-blockable invalidation (the OOM reaper)
	 * is served like any other.
	 */
	write_lock(&vm->mmu_lock);
	mmu_interval_set_seq(mni, cur_seq);
	start = max(range->start, slot->hva);
	end = min(range->end, slot->hva + (slot->npages << PAGE_SHIFT));
	if (start < end) {
		first = slot->base_gfn + ((start - slot->hva) >> PAGE_SHIFT);
		last = slot->base_gfn + ((end - 1 - slot->hva) >> PAGE_SHIFT);
		dropped = vm->s2.ops->unmap(&vm->s2, first, last + 1);
		if (dropped) {
			atomic64_add(dropped, &vm->s2_invalidated);
			atomic64_inc(&vm->invalidations);
		}
	}
	write_unlock(&vm->mmu_lock);
	return true;
}

const struct mmu_interval_notifier_ops lazymap_vm_notifier_ops = {
	.invalidate = lazymap_vm_invalidate,
};

/**
 * lazymap_vm_drop_slot_s2() - drop every stage-2 entry of a slot
 * @vm: the VM
 * @slot: the slot, slots_lock held for write
 */
void lazymap_vm_drop_slot_s2(struct lazymap_vm *vm, struct lazymap_vm_slot *slot)
{
	write_lock(&vm->mmu_lock);
	vm->s2.ops->unmap(&vm->s2, slot->base_gfn, slot->base_gfn + slot->npages);
	write_unlock(&vm->mmu_lock);
}

/* What a userspace address resolved to. */
struct lazymap_vm_host_pfn {
	unsigned long pfn;
	struct page *page;	/* the GUP reference, NULL for a pfnmap */
	unsigned int level;	/* the host mapping's */
	bool io;		/* no struct page to kmap */
};

/*
 * The level the host maps @hva at, read once per table level like KVM's
 * host_pfn_mapping_level(); IRQs off keeps the tables from being freed.
 */
static unsigned int lazymap_vm_host_level(struct mm_struct *mm,
					  unsigned long hva)
{
	unsigned int level = LAZYMAP_VM_LEVEL_4K;
	unsigned long flags;
	pgd_t pgd;
	p4d_t p4d;
	pud_t pud;
	pmd_t pmd;

	local_irq_save(flags);
	pgd = READ_ONCE(*pgd_offset(mm, hva));
	if (pgd_none(pgd))
		goto out;
	p4d = READ_ONCE(*p4d_offset(&pgd, hva));
	if (p4d_none(p4d) || !p4d_present(p4d))
		goto out;
	pud = READ_ONCE(*pud_offset(&p4d, hva));
	if (pud_none(pud) || !pud_present(pud))
		goto out;
	if (pud_leaf(pud)) {
		if (PUD_SIZE >= (PAGE_SIZE << lazymap_vm_level_order(LAZYMAP_VM_LEVEL_1G)))
			level = LAZYMAP_VM_LEVEL_1G;
		goto out;
	}
	pmd = READ_ONCE(*pmd_offset(&pud, hva));
	if (pmd_none(pmd) || !pmd_present(pmd))
		goto out;
	if (pmd_leaf(pmd) &&
	    PMD_SIZE >= (PAGE_SIZE << lazymap_vm_level_order(LAZYMAP_VM_LEVEL_2M)))
		level = LAZYMAP_VM_LEVEL_2M;
out:
	local_irq_restore(flags);
	return level;
}

/*
 * A VM_IO / VM_PFNMAP VMA: follow the page table, faulting it in first
 * if needed, like KVM's hva_to_pfn_remapped().  mmap_lock held for read,
 * and held again on return; -EAGAIN to start over from the VMA lookup
 * (fixup_user_fault() may have dropped the lock meanwhile).
 */
static int lazymap_vm_hva_to_pfnmap(struct mm_struct *mm,
				    struct vm_area_struct *vma,
				    unsigned long hva, bool write,
				    struct lazymap_vm_host_pfn *host)
{
	struct follow_pfnmap_args args = { .vma = vma, .address = hva };
	bool unlocked = false;
	int ret;

	ret = follow_pfnmap_start(&args);
	if (!ret && write && !args.writable) {
		follow_pfnmap_end(&args);
		ret = -EFAULT;
	}
	if (ret) {
		ret = fixup_user_fault(mm, hva, write ? FAULT_FLAG_WRITE : 0,
				       &unlocked);
		if (unlocked)
			return -EAGAIN;
		if (ret)
			return ret;
		ret = follow_pfnmap_start(&args);
		if (ret)
			return -EAGAIN;
		if (write && !args.writable) {
			follow_pfnmap_end(&args);
			return -EFAULT;
		}
	}
	host->pfn = args.pfn;
	host->page = NULL;
	follow_pfnmap_end(&args);
	host->io = !pfn_valid(host->pfn) || !page_is_ram(host->pfn);
	return 0;
}

/* Resolve @hva of @mm like KVM's hva_to_pfn(); takes mmap_lock. */
static int lazymap_vm_hva_to_pfn(struct mm_struct *mm, unsigned long hva,
				 bool write, struct lazymap_vm_host_pfn *host)
{
	struct vm_area_struct *vma;
	long got;
	int ret;

retry:
	mmap_read_lock(mm);
	vma = vma_lookup(mm, hva);
	if (!vma) {
		ret = -EFAULT;
	} else if (vma->vm_flags & (VM_IO | VM_PFNMAP)) {
		ret = lazymap_vm_hva_to_pfnmap(mm, vma, hva, write, host);
		if (ret == -EAGAIN) {
			/* fixup_user_fault() returns with mmap_lock held. */
			mmap_read_unlock(mm);
			if (fatal_signal_pending(current))
				return -EINTR;
			goto retry;
		}
	} else {
		got = get_user_pages_remote(mm, hva, 1,
					    (write ? FOLL_WRITE : 0) | FOLL_HWPOISON,
					    &host->page, NULL);
		if (got == 1) {
			host->pfn = page_to_pfn(host->page);
			host->io = false;
			ret = 0;
		} else {
			ret = got < 0 ? got : -EFAULT;
		}
	}
	if (!ret)
		host->level = lazymap_vm_host_level(mm, hva);
	mmap_read_unlock(mm);
	return ret;
}

/**
 * lazymap_vm_fault() - give a guest frame a stage-2 entry
 * @vm: the VM
 * @slot: the slot holding @gfn, slots_lock held for read
 * @gfn: the guest frame
 * @write: the entry must allow writes
 *
 * A read maps the frame readable and executable; a write also writable.
 * Dirty-logged slots map 4K entries only, and writable only on a write,
 * which marks the page dirty.
 *
 * Return: 0, or -EFAULT / -EHWPOISON when the backing cannot be faulted in
 * (the caller exits with MEMORY_FAULT), or another negative errno.
 */
int lazymap_vm_fault(struct lazymap_vm *vm, struct lazymap_vm_slot *slot,
		     u64 gfn, bool write)
{
	unsigned long hva = slot->hva + ((gfn - slot->base_gfn) << PAGE_SHIFT);
	struct lazymap_vm_host_pfn host;
	struct lazymap_vm_s2_entry e;
	unsigned long seq;
	u64 pages;
	int ret;

	lockdep_assert_held(&vm->slots_lock);
retry:
	seq = mmu_interval_read_begin(&slot->notifier);
	ret = lazymap_vm_hva_to_pfn(vm->mm, hva, write, &host);
	if (ret)
		return ret;

	e.level = LAZYMAP_VM_LEVEL_4K;
	if (!slot->dirty_bitmap)
		e.level = lazymap_vm_max_level(gfn, hva, slot->base_gfn,
					       slot->npages, host.level);
	for (;;) {
		pages = lazymap_vm_level_pages(e.level);
		e.gfn = round_down(gfn, pages);
		e.pfn = host.pfn - (gfn - e.gfn);
		if (IS_ALIGNED(e.pfn, pages) || e.level == LAZYMAP_VM_LEVEL_4K)
			break;
		e.level--;
	}
	e.perm = LAZYMAP_VM_PERM_R | LAZYMAP_VM_PERM_X;
	if (write)
		e.perm |= LAZYMAP_VM_PERM_W;
	if (host.io)
		e.perm |= LAZYMAP_VM_S2_IO;

	ret = vm->s2.ops->prepare(&vm->s2, e.gfn);
	if (ret)
		goto put;
	write_lock(&vm->mmu_lock);
	if (mmu_interval_read_retry(&slot->notifier, seq)) {
		write_unlock(&vm->mmu_lock);
		vm->s2.ops->cancel(&vm->s2, e.gfn);
		if (host.page)
			put_page(host.page);
		if (fatal_signal_pending(current))
			return -EINTR;
		goto retry;
	}
	ret = vm->s2.ops->map(&vm->s2, &e);
	if (!ret && write && slot->dirty_bitmap)
		set_bit(gfn - slot->base_gfn, slot->dirty_bitmap);
	write_unlock(&vm->mmu_lock);
	vm->s2.ops->cancel(&vm->s2, e.gfn);
put:
	if (host.page)
		put_page(host.page);
	return ret;
}
