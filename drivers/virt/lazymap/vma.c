// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap VMAs: mmap, per-VMA tracking, and the faults of pfn and page
 * spaces.
 *
 * lazymap_mmap() validates a VMA and attaches a record (struct lazymap_vma)
 * to it; it installs nothing.  Each fault of a pfn or page space checks,
 * under the space's gate held for read, that the memory is accessible and
 * not revoked, asks the provider for the pfn or page, and inserts it before
 * dropping the gate, so a revoker (gate held for write) can never race a
 * late insertion.  Folio spaces fault the way a file does, through the page
 * cache: their fault is lazymap_folio_fault() in folio.c.
 *
 * Records follow the VMA: vm_ops->open() gives each copy (fork, split,
 * mremap) its own record, vm_ops->close() frees it.  Splitting is allowed:
 * each part keeps faulting from its own vm_pgoff.
 */
#define pr_fmt(fmt) "lazymap: " fmt

#include <linux/mm.h>
#include <linux/pfn_t.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "lazymap_internal.h"
#include "trace.h"

/**
 * lazymap_fault_fits() - can a fault at @address be served at @order?
 * @vm_start: VMA start
 * @vm_end: VMA end
 * @vm_pgoff: VMA page offset
 * @address: faulting address
 * @order: 0, PMD_ORDER or PUD_ORDER
 * @aligned: out: @address aligned down to the order's size
 * @pgoff: out: the space page offset of @aligned
 *
 * Return: 0 if the aligned block lies inside the VMA and maps a naturally
 * aligned block of page offsets, -ERANGE otherwise (fall back).
 */
int lazymap_fault_fits(unsigned long vm_start, unsigned long vm_end,
		       unsigned long vm_pgoff, unsigned long address,
		       unsigned int order, unsigned long *aligned,
		       pgoff_t *pgoff)
{
	unsigned long size = PAGE_SIZE << order;
	unsigned long addr = ALIGN_DOWN(address, size);

	/* vm_end - addr, not vm_end - size: that wraps when vm_end < size. */
	if (addr < vm_start || addr >= vm_end || vm_end - addr < size)
		return -ERANGE;
	*aligned = addr;
	*pgoff = vm_pgoff + ((addr - vm_start) >> PAGE_SHIFT);
	if (*pgoff & ((1UL << order) - 1))
		return -ERANGE;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_fault_fits);

VISIBLE_IF_KUNIT unsigned int lazymap_order_level(unsigned int order)
{
#ifdef PUD_ORDER
	if (order >= PUD_ORDER)
		return LAZYMAP_LEVEL_PUD;
#endif
#ifdef PMD_ORDER
	if (order >= PMD_ORDER)
		return LAZYMAP_LEVEL_PMD;
#endif
	return LAZYMAP_LEVEL_PTE;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_order_level);

/* Record the faulting (or mapping) task as the owner of @rec's VMA. */
void lazymap_vma_set_owner(struct lazymap_vma *rec)
{
	rec->pid = task_tgid_nr(current);
	get_task_comm(rec->comm, current);
}

static struct lazymap_vma *lazymap_vma_alloc(struct lazymap_space *space,
					     struct vm_area_struct *vma,
					     gfp_t gfp)
{
	struct lazymap_vma *rec;
	int i;

	rec = kzalloc(sizeof(*rec), gfp);
	if (!rec)
		return NULL;
	lazymap_space_get(space);
	rec->space = space;
	rec->vma = vma;
	for (i = 0; i < LAZYMAP_NR_LEVELS; i++)
		atomic64_set(&rec->faults[i], 0);
	atomic64_set(&rec->zaps, 0);
	mutex_init(&rec->fault_lock);

	mutex_lock(&space->vmas_lock);
	list_add_tail(&rec->link, &space->vmas);
	space->nr_vmas++;
	mutex_unlock(&space->vmas_lock);
	vma->vm_private_data = rec;
	return rec;
}

#ifdef CONFIG_ARCH_SUPPORTS_PUD_PFNMAP
/* Unmap @vma's PUD entry at @start (PUD-aligned), if it has one there. */
static void lazymap_vma_zap_pud(struct vm_area_struct *vma, unsigned long start)
{
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud;

	pgd = pgd_offset(vma->vm_mm, start);
	if (pgd_none(*pgd) || pgd_bad(*pgd))
		return;
	p4d = p4d_offset(pgd, start);
	if (p4d_none(*p4d) || p4d_bad(*p4d))
		return;
	pud = pud_offset(p4d, start);
	if (pud_leaf(pudp_get(pud)))
		zap_page_range_single(vma, start, PUD_SIZE, NULL);
}

/*
 * No PUD entry may span a VMA boundary.  6.12's __split_vma() splits the
 * PMD entries at the new boundary (vma_adjust_trans_huge()) but not PUD
 * entries: mprotect() of part of one then walks the PUD entry as if it
 * were a PMD table (an oops), and unmapping part of one trips
 * __split_huge_pud_locked()'s VM_BUG_ON_VMA().  So unmap the PUD entry
 * around @addr before the split (munmap(), mprotect() and mremap() of part
 * of the VMA all come here first); each part refaults its share of the
 * block in smaller entries.  mmap_lock is held for write, but a fault
 * under the per-VMA lock (create_huge_pud() calls ->huge_fault without
 * checking for one) could map the block again before __split_vma() locks
 * the VMA: lock it before looking.
 */
static int lazymap_vma_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	unsigned long start = ALIGN_DOWN(addr, PUD_SIZE);

	if (start == addr || start < vma->vm_start ||
	    vma->vm_end - start < PUD_SIZE)
		return 0;
	vma_start_write(vma);
	lazymap_vma_zap_pud(vma, start);
	return 0;
}

/*
 * Unmap every PUD entry of @vma, before mremap() moves it (see
 * lazymap_vma_open()).  mmap_lock is held for write; the VMA is locked
 * against faults under the per-VMA lock, as in lazymap_vma_may_split().
 */
static void lazymap_vma_zap_puds(struct vm_area_struct *vma)
{
	unsigned long start;

	vma_start_write(vma);
	for (start = ALIGN(vma->vm_start, PUD_SIZE);
	     start < vma->vm_end && vma->vm_end - start >= PUD_SIZE;
	     start += PUD_SIZE)
		lazymap_vma_zap_pud(vma, start);
}
#else
static inline void lazymap_vma_zap_puds(struct vm_area_struct *vma)
{
}
#endif

/*
 * A copy of a tracked VMA (fork, split, mremap): vm_private_data still
 * points at the original's record.  open() cannot fail, and the copy must
 * be tracked to be zapped correctly, so the small record allocation is
 * __GFP_NOFAIL.  A split or mremap stays in the same mm and keeps the
 * owner; for fork, current is the parent, so the child's first fault
 * fills the owner in.
 */
static void lazymap_vma_open(struct vm_area_struct *vma)
{
	struct lazymap_vma *orig = vma->vm_private_data;
	struct vm_area_struct *src = orig->vma;
	struct lazymap_vma *rec;

	/*
	 * mremap() moving @src (or the part of it split off first): the copy
	 * is in the same mm, outside @src, and is opened before
	 * move_page_tables() moves @src's entries.  6.12 cannot move a PUD
	 * entry there: get_old_pud() takes it for a bad page table and
	 * clears it ("bad pud"), flushing no TLB.  So unmap @src's PUD
	 * entries first; the new place refaults them.  (A split's copy
	 * overlaps @src; a fork's is in another mm.)
	 */
	if (vma->vm_mm == src->vm_mm &&
	    (vma->vm_start >= src->vm_end || vma->vm_end <= src->vm_start))
		lazymap_vma_zap_puds(src);

	rec = lazymap_vma_alloc(orig->space, vma,
				GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	if (vma->vm_mm == current->mm && orig->pid) {
		rec->pid = orig->pid;
		memcpy(rec->comm, orig->comm, sizeof(rec->comm));
	}
}

static void lazymap_vma_close(struct vm_area_struct *vma)
{
	struct lazymap_vma *rec = vma->vm_private_data;
	struct lazymap_space *space = rec->space;

	mutex_lock(&space->vmas_lock);
	list_del(&rec->link);
	space->nr_vmas--;
	mutex_unlock(&space->vmas_lock);
	vma->vm_private_data = NULL;
	mutex_destroy(&rec->fault_lock);
	kfree(rec);
	lazymap_space_put(space);
}

/*
 * Page table slots and concurrent faults.  Faults of one block run in
 * parallel (the gate is held for read, and a fault may hold only the
 * per-VMA lock), and they need not agree on the size: a PMD fault that
 * found the block partly revoked falls back to 4 KiB, and after a restore
 * another thread's PMD fault maps the whole block.  So a 4 KiB insert can
 * meet a PMD entry installed after its fault began (vmf_insert_pfn() and
 * vm_insert_page() walk into it as if it were a page table: a BUG with
 * DEBUG_VM, VM_FAULT_OOM without), and a PMD insert can meet the page
 * table a 4 KiB insert just allocated (vmf_insert_pfn_pmd() with write set
 * WARNs on any entry but its own).  The core mm answers both in
 * finish_fault() by installing the page table under the PMD lock
 * (pmd_install()) and treating a PMD entry found then as mapped; modules
 * cannot call that.  Instead, the two transitions of an empty PMD slot
 * that lazymap's faults make, to a page table (a 4 KiB insert) and to a
 * PMD entry, are serialized by the VMA record's fault_lock, and each
 * checks the slot under it:
 *
 * - a 4 KiB insert that finds a PMD entry treats the address as mapped;
 *   one that finds a page table goes ahead without the lock: nothing but
 *   munmap() (mmap_lock held for write) takes a page table away;
 * - a PMD insert that finds a page table falls back to 4 KiB; an empty
 *   slot or its own PMD entry (the write fault of a read-only one, e.g.
 *   after soft-dirty tracking was reset) it fills or updates, with the
 *   write flag of the fault.
 *
 * Only pfn spaces map PMD entries through these paths (page spaces have
 * no huge faults, folio spaces map through finish_fault()), so in page
 * spaces the check only ever finds an empty slot or a page table.
 */
static vm_fault_t __lazymap_insert_pte(struct lazymap_space *space,
				       struct vm_fault *vmf,
				       unsigned long pfn, struct page *page)
{
	struct vm_area_struct *vma = vmf->vma;
	int err;

	if (space->kind == LAZYMAP_KIND_PFN)
		return vmf_insert_pfn(vma, vmf->address & PAGE_MASK, pfn);
	/* Another thread may have mapped it: -EBUSY is success. */
	err = vm_insert_page(vma, vmf->address & PAGE_MASK, page);
	if (err == -EBUSY || !err)
		return VM_FAULT_NOPAGE;
	return vmf_error(err);
}

static vm_fault_t lazymap_insert_pte(struct lazymap_vma *rec,
				     struct lazymap_space *space,
				     struct vm_fault *vmf, unsigned long pfn,
				     struct page *page)
{
	pmd_t pmd = pmdp_get_lockless(vmf->pmd);
	vm_fault_t ret;

	if (pmd_leaf(pmd))
		return VM_FAULT_NOPAGE;
	if (!pmd_none(pmd))
		return __lazymap_insert_pte(space, vmf, pfn, page);

	mutex_lock(&rec->fault_lock);
	if (pmd_leaf(pmdp_get_lockless(vmf->pmd)))
		ret = VM_FAULT_NOPAGE;
	else
		ret = __lazymap_insert_pte(space, vmf, pfn, page);
	mutex_unlock(&rec->fault_lock);
	return ret;
}

#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
static vm_fault_t lazymap_insert_pmd(struct lazymap_vma *rec,
				     struct vm_fault *vmf, unsigned long pfn)
{
	pmd_t pmd;
	vm_fault_t ret;

	mutex_lock(&rec->fault_lock);
	pmd = pmdp_get_lockless(vmf->pmd);
	if (pmd_none(pmd) || pmd_leaf(pmd))
		ret = vmf_insert_pfn_pmd(vmf, __pfn_to_pfn_t(pfn, PFN_DEV),
					 vmf->flags & FAULT_FLAG_WRITE);
	else
		ret = VM_FAULT_FALLBACK;
	mutex_unlock(&rec->fault_lock);
	return ret;
}
#endif

#ifdef CONFIG_ARCH_SUPPORTS_PUD_PFNMAP
/*
 * A PUD slot changes from empty to a PMD table in the core mm's
 * pmd_alloc(), outside fault_lock.  So ask vmf_insert_pfn_pud() to update
 * the entry it finds (write set) only when the slot holds a PUD entry:
 * that entry is this block's (the only PUD entry lazymap maps here), and
 * it cannot go before the insert, as zaps hold the gate for write or
 * mmap_lock for write.  Into an empty slot the entry goes with write
 * clear, so that a PMD table that took the slot meanwhile is left alone
 * without a warning; it gets vm_page_prot's write permission all the
 * same, and a write to a read-only one faults again, into the update.
 */
static vm_fault_t lazymap_insert_pud(struct vm_fault *vmf, unsigned long pfn)
{
	pud_t pud = pudp_get(vmf->pud);

	if (!pud_none(pud) && !pud_leaf(pud))
		return VM_FAULT_FALLBACK;
	return vmf_insert_pfn_pud(vmf, __pfn_to_pfn_t(pfn, PFN_DEV),
				  pud_leaf(pud) &&
				  (vmf->flags & FAULT_FLAG_WRITE));
}
#endif

static vm_fault_t lazymap_insert(struct lazymap_vma *rec,
				 struct lazymap_space *space,
				 struct vm_fault *vmf, unsigned int order,
				 unsigned long pfn, struct page *page)
{
	switch (order) {
	case 0:
		return lazymap_insert_pte(rec, space, vmf, pfn, page);
#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
	case PMD_ORDER:
		return lazymap_insert_pmd(rec, vmf, pfn);
#endif
#ifdef CONFIG_ARCH_SUPPORTS_PUD_PFNMAP
	case PUD_ORDER:
		return lazymap_insert_pud(vmf, pfn);
#endif
	default:
		return VM_FAULT_FALLBACK;
	}
}

static vm_fault_t lazymap_vma_huge_fault(struct vm_fault *vmf,
					 unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct lazymap_vma *rec = vma->vm_private_data;
	struct lazymap_space *space = rec->space;
	struct lazymap_resolved res = {};
	unsigned long addr, pfn;
	pgoff_t pgoff = 0;
	vm_fault_t ret;
	int err;

	if (order && space->kind == LAZYMAP_KIND_PAGE)
		return VM_FAULT_FALLBACK;
	if (lazymap_fault_fits(vma->vm_start, vma->vm_end, vma->vm_pgoff,
			       vmf->address, order, &addr, &pgoff)) {
		ret = VM_FAULT_FALLBACK;
		goto out_count;
	}
	/* lazymap_mmap() checked the VMA against the size, but be sure. */
	if (WARN_ON_ONCE(((u64)pgoff << PAGE_SHIFT) + (PAGE_SIZE << order) >
			 space->size))
		return VM_FAULT_SIGBUS;

	down_read(space->gate);
	if (space->ops->accessible && !space->ops->accessible(space)) {
		ret = VM_FAULT_SIGBUS;
		goto out_unlock;
	}
	if (lazymap_host_denied(space, pgoff, pgoff + (1UL << order))) {
		/* A huge block partly revoked: let the PTE fault decide. */
		ret = order ? VM_FAULT_FALLBACK : VM_FAULT_SIGBUS;
		goto out_unlock;
	}
	/*
	 * Ask about the faulting page, not the first page of the block: if
	 * the block cannot be mapped whole, the fault falls back to that page
	 * and the provider must not have backed another one for nothing.
	 */
	err = space->ops->resolve(space,
				  pgoff + ((vmf->address - addr) >> PAGE_SHIFT),
				  order, &res);
	if (err) {
		ret = err == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
		goto out_unlock;
	}
	if (order && res.order < order) {
		ret = VM_FAULT_FALLBACK;
		goto out_unlock;
	}
	/*
	 * The block of 2^res.order pages holding the faulting page starts at
	 * res.pfn, and it holds all of pgoff's block (res.order >= order).
	 */
	pfn = res.pfn + (pgoff & ((1UL << res.order) - 1));
	if (order && (pfn & ((1UL << order) - 1))) {
		ret = VM_FAULT_FALLBACK;
		goto out_unlock;
	}
	ret = lazymap_insert(rec, space, vmf, order, pfn, res.page);
	if (!(ret & (VM_FAULT_ERROR | VM_FAULT_FALLBACK))) {
		unsigned int level = lazymap_order_level(order);

		this_cpu_inc(space->fault_stats->faults[level]);
		atomic64_inc(&rec->faults[level]);
		if (!rec->pid && current->mm == vma->vm_mm)
			lazymap_vma_set_owner(rec);
	}
out_unlock:
	up_read(space->gate);
out_count:
	if (ret & VM_FAULT_FALLBACK)
		this_cpu_inc(space->fault_stats->fallbacks);
	else if (ret & VM_FAULT_SIGBUS)
		this_cpu_inc(space->fault_stats->sigbus);
	trace_lazymap_fault(space->name, vmf->address, pgoff, order,
			    (__force unsigned int)ret);
	return ret;
}

static vm_fault_t lazymap_vma_fault(struct vm_fault *vmf)
{
	return lazymap_vma_huge_fault(vmf, 0);
}

/* No mremap() growth: the space has a fixed size (VM_DONTEXPAND). */
static const struct vm_operations_struct lazymap_vma_ops = {
	.open = lazymap_vma_open,
	.close = lazymap_vma_close,
	.fault = lazymap_vma_fault,
#ifdef CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP
	.huge_fault = lazymap_vma_huge_fault,
#endif
#ifdef CONFIG_ARCH_SUPPORTS_PUD_PFNMAP
	.may_split = lazymap_vma_may_split,
#endif
};

/*
 * Folio spaces: no ->huge_fault, so that only finish_fault() maps PMDs
 * (and khugepaged leaves the VMA alone, see lazymap_folio_level() in
 * folio.c).
 */
static const struct vm_operations_struct lazymap_folio_vma_ops = {
	.open = lazymap_vma_open,
	.close = lazymap_vma_close,
	.fault = lazymap_folio_fault,
};

/**
 * lazymap_mmap() - set up a VMA of a space
 * @space: the space
 * @vma: from the consumer's file_operations.mmap; vma->vm_pgoff is the
 *	page offset into the space and vma->vm_file->f_mapping must be the
 *	space's mapping (lazymap_space_mapping()), set by the consumer when
 *	the file was opened, so that zaps reach the VMA
 *
 * Installs no page table entry: every page is mapped by a fault.
 *
 * Return: 0; -EINVAL for a private mapping, a file not on the space's
 * mapping, or a range beyond the space (pfn and page spaces: a folio
 * space's VMA may reach past the end, where faults get SIGBUS); -ENOMEM.
 */
int lazymap_mmap(struct lazymap_space *space, struct vm_area_struct *vma)
{
	unsigned long len = vma->vm_end - vma->vm_start;
	u64 start, end;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (!vma->vm_file || vma->vm_file->f_mapping != space->mapping)
		return -EINVAL;
	/*
	 * Pfn and page spaces map nothing past their end; a folio space's
	 * VMA may, as a file's: faults there get SIGBUS.
	 */
	if (check_shl_overflow((u64)vma->vm_pgoff, PAGE_SHIFT, &start) ||
	    check_add_overflow(start, (u64)len, &end) ||
	    (end > space->size && space->kind != LAZYMAP_KIND_FOLIO))
		return -EINVAL;

	vma->vm_page_prot = lazymap_space_pgprot(space, vma->vm_page_prot);
	switch (space->kind) {
	case LAZYMAP_KIND_PFN:
		vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
		vma->vm_ops = &lazymap_vma_ops;
		break;
	case LAZYMAP_KIND_PAGE:
		vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND);
		vma->vm_ops = &lazymap_vma_ops;
		break;
	case LAZYMAP_KIND_FOLIO:
		vm_flags_set(vma, VM_DONTEXPAND);
		vma->vm_ops = &lazymap_folio_vma_ops;
		break;
	}

	if (!lazymap_vma_alloc(space, vma, GFP_KERNEL_ACCOUNT))
		return -ENOMEM;
	lazymap_vma_set_owner(vma->vm_private_data);
	return 0;
}
EXPORT_SYMBOL_GPL(lazymap_mmap);

/*
 * Unmap page offsets [first, last] of @space from every VMA.  Unmapping
 * part of a PUD entry makes zap_pud_range() split it, which asserts
 * mmap_lock, not held here (the gate is).  Only pfn spaces of at least a
 * PUD block can have PUD entries, each mapping a PUD-aligned block of
 * page offsets: for those, round the range out to whole PUD blocks, so
 * every PUD entry goes whole; what goes beyond the range refaults.
 */
void lazymap_unmap_vmas(struct lazymap_space *space, pgoff_t first,
			pgoff_t last)
{
#ifdef CONFIG_ARCH_SUPPORTS_PUD_PFNMAP
	if (space->kind == LAZYMAP_KIND_PFN && space->size >= PUD_SIZE) {
		first = ALIGN_DOWN(first, 1UL << PUD_ORDER);
		last = ALIGN(last + 1, 1UL << PUD_ORDER) - 1;
	}
#endif
	unmap_mapping_range(space->mapping, (loff_t)first << PAGE_SHIFT,
			    (loff_t)(last - first + 1) << PAGE_SHIFT, true);
}

/* Count a zap of [first, last] against every record whose VMA overlaps. */
void lazymap_track_zap(struct lazymap_space *space, pgoff_t first,
		       pgoff_t last)
{
	struct lazymap_vma *rec;

	mutex_lock(&space->vmas_lock);
	list_for_each_entry(rec, &space->vmas, link) {
		/* Racy against a concurrent split: statistics only. */
		pgoff_t s = data_race(rec->vma->vm_pgoff);
		/* as above */
		unsigned long len = data_race(rec->vma->vm_end - rec->vma->vm_start);
		pgoff_t n = len >> PAGE_SHIFT;

		if (s <= last && s + n > first)
			atomic64_inc(&rec->zaps);
	}
	mutex_unlock(&space->vmas_lock);
}
