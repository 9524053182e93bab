// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap folio spaces: the page cache of a space's own inode, the folios
 * providers find or allocate in it, the fault that maps them into host
 * VMAs, and the launder helpers that take a folio back from every secondary
 * MMU before the page cache lets it go.
 *
 * A folio space keeps its memory in its address_space's page cache (its own
 * inode's, or an adopted one such as guest_memfd's).  The page cache owns
 * the folios; host VMAs map them as a file's, listeners map their pfns, and
 * whatever takes a folio out of the page cache launders it from the
 * listeners first.
 *
 * Host VMAs (their records and vm_ops live in vma.c) map the folios the way
 * a file's are mapped: lazymap_folio_fault() returns the locked folio and
 * the core mm's finish_fault() maps it (a PMD entry for a PMD-sized folio,
 * THP).  The gate is dropped before that, so the folio lock orders the late
 * mapping against revokers, which lock every folio of the range after
 * unmapping it (see lazymap_unmap_folios()).
 */
#define pr_fmt(fmt) "lazymap: " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>

#include "lazymap_internal.h"
#include "trace.h"

/*
 * The address_space operations of a folio space's own inode.  i_private is
 * the space.  Page-cache folios always go through ->release_folio or
 * ->invalidate_folio (AS_RELEASE_ALWAYS), so whatever takes a folio out of
 * the page cache launders it from every listener first: truncation (by the
 * provider, punch hole, memory failure) through ->invalidate_folio, which
 * cannot be refused; reclaim-like paths (a split, invalidation of clean
 * folios) through ->release_folio or ->launder_folio, which listeners may
 * refuse.  The final truncation when the space's inode is freed finds no
 * listener: they are all gone by then.
 */
static struct lazymap_space *lazymap_aops_space(struct address_space *mapping)
{
	return mapping_exiting(mapping) ? NULL : mapping->host->i_private;
}

static bool lazymap_aops_release_folio(struct folio *folio, gfp_t gfp)
{
	struct lazymap_space *space = lazymap_aops_space(folio->mapping);

	return !space || lazymap_release_folio(space, folio);
}

static void lazymap_aops_invalidate_folio(struct folio *folio, size_t offset,
					  size_t len)
{
	struct lazymap_space *space = lazymap_aops_space(folio->mapping);

	if (space)
		lazymap_invalidate_folio(space, folio, offset, len);
}

static int lazymap_aops_launder_folio(struct folio *folio)
{
	struct lazymap_space *space = lazymap_aops_space(folio->mapping);

	return space ? lazymap_launder_folio(space, folio) : 0;
}

/*
 * Memory failure (memory_failure() -> truncate_error_folio(), folio locked,
 * already unmapped from host VMAs): take the folio back from the listeners,
 * remember its offsets as poisoned, and truncate it, as 6.12 expects of
 * ->error_remove_folio (0: the folio is out of the page cache, so the page
 * is recovered; an errno: it is not).  The memory it held is lost: later
 * faults and lookups of those offsets fail (-EHWPOISON, SIGBUS) instead of
 * finding new zeroed memory.
 */
static int lazymap_aops_error_remove_folio(struct address_space *mapping,
					   struct folio *folio)
{
	struct lazymap_space *space = lazymap_aops_space(mapping);
	int ret;

	if (space) {
		ret = lazymap_error_remove_folio(space, folio);
		if (ret)
			return ret;
	}
	return generic_error_remove_folio(mapping, folio);
}

static const struct address_space_operations lazymap_folio_aops = {
	.dirty_folio = noop_dirty_folio,
	.release_folio = lazymap_aops_release_folio,
	.invalidate_folio = lazymap_aops_invalidate_folio,
	.launder_folio = lazymap_aops_launder_folio,
	.error_remove_folio = lazymap_aops_error_remove_folio,
};

/*
 * A space has a fixed size: truncate() and other attribute changes from
 * userspace, through a file of the space (lazymap_space_file()), fail.
 */
static int lazymap_folio_setattr(struct mnt_idmap *idmap,
				 struct dentry *dentry, struct iattr *attr)
{
	return -EINVAL;
}

static const struct inode_operations lazymap_folio_iops = {
	.setattr = lazymap_folio_setattr,
};

/*
 * An own inode of a folio space: its page cache holds the space's memory.
 * Large folios (THP) allowed; not migrated or reclaimed (listeners map the
 * pfns: AS_INACCESSIBLE, which also means unevictable), never written back.
 */
void lazymap_folio_inode_init(struct lazymap_space *space)
{
	struct address_space *mapping = space->inode->i_mapping;

	space->inode->i_private = space;
	/* A regular file's page cache, for generic_error_remove_folio(). */
	space->inode->i_mode |= S_IFREG;
	space->inode->i_op = &lazymap_folio_iops;
	mapping->a_ops = &lazymap_folio_aops;
	mapping_set_gfp_mask(mapping, GFP_HIGHUSER);
	mapping_set_large_folios(mapping);
	mapping_set_inaccessible(mapping);
	mapping_set_release_always(mapping);
}

/* Is any page offset of [start, end) poisoned? */
static bool lazymap_poisoned(struct lazymap_space *space, pgoff_t start,
			     pgoff_t end)
{
	unsigned long index = start;

	return xa_find(&space->poisoned, &index, end - 1, XA_PRESENT);
}

/**
 * lazymap_get_folio() - find or allocate the folio of a page offset
 * @space: a folio space whose memory lives in its mapping's page cache
 * @pgoff: the page offset
 * @order: the largest order to allocate: what ops->resolve() was asked for
 *
 * For ops->resolve() of folio spaces.  Returns the folio of the space's
 * mapping that contains @pgoff.  If there is none, allocates one, zeroed,
 * of up to 2^@order pages at the naturally aligned index below @pgoff (less
 * where the mapping does not allow large folios, memory is short or
 * smaller folios are in the way) and adds it to the page cache.
 *
 * Context: may sleep and allocate (the mapping's gfp mask).
 * Return: the folio, uptodate, unlocked, with a reference for the caller;
 * ERR_PTR(-EINVAL) for an offset beyond the space, ERR_PTR(-EHWPOISON) for
 * one whose memory a memory failure took (lazymap_error_remove_folio()),
 * or the page cache's error (-ENOMEM).
 */
struct folio *lazymap_get_folio(struct lazymap_space *space, pgoff_t pgoff,
				unsigned int order)
{
	struct address_space *mapping = space->mapping;
	fgf_t fgp = FGP_LOCK | FGP_ACCESSED | FGP_CREAT;
	struct folio *folio;

	if (pgoff >= space->size >> PAGE_SHIFT)
		return ERR_PTR(-EINVAL);
again:
	if (lazymap_poisoned(space, pgoff, pgoff + 1))
		return ERR_PTR(-EHWPOISON);
	folio = filemap_lock_folio(mapping, pgoff);
	if (IS_ERR(folio)) {
		/*
		 * Not past the end of the space nor over a poisoned offset;
		 * the page cache itself caps the order at what the mapping
		 * allows.
		 */
		while (order && ((pgoff | ((1UL << order) - 1)) >=
				 space->size >> PAGE_SHIFT ||
				 lazymap_poisoned(space,
						  ALIGN_DOWN(pgoff, 1UL << order),
						  ALIGN(pgoff + 1, 1UL << order))))
			order--;
		folio = __filemap_get_folio(mapping,
					    pgoff & ~((1UL << order) - 1),
					    fgp | fgf_set_order(PAGE_SIZE << order),
					    mapping_gfp_mask(mapping));
		if (IS_ERR(folio))
			return folio;
		/* A smaller folio at the aligned index: allocate our own. */
		if (!folio_contains(folio, pgoff)) {
			folio_unlock(folio);
			folio_put(folio);
			folio = __filemap_get_folio(mapping, pgoff, fgp,
						    mapping_gfp_mask(mapping));
			if (IS_ERR(folio))
				return folio;
		}
	}
	if (!folio_test_uptodate(folio)) {
		/*
		 * Memory failure records the poison before it truncates the
		 * folio it hit, so a folio added since sees it: never back a
		 * poisoned offset with new memory.
		 */
		if (lazymap_poisoned(space, folio->index,
				     folio_next_index(folio))) {
			generic_error_remove_folio(mapping, folio);
			folio_unlock(folio);
			folio_put(folio);
			order = 0;
			goto again;
		}
		folio_zero_range(folio, 0, folio_size(folio));
		folio_mark_uptodate(folio);
	}
	folio_unlock(folio);
	return folio;
}
EXPORT_SYMBOL_GPL(lazymap_get_folio);

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
/*
 * The order a folio fault asks the provider for: PMD_ORDER if a PMD entry
 * could map it: no page table below the PMD yet, the PMD block around the
 * address inside the VMA at a PMD-aligned page offset (what do_set_pmd()
 * needs) and within the space, and none of it revoked; else 0.  Like the
 * huge_fault of pfn spaces, so fallbacks count the same: once per block.
 */
static unsigned int lazymap_folio_want(struct lazymap_space *space,
				       struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned long addr;
	pgoff_t block;

	if (!pmd_none(pmdp_get_lockless(vmf->pmd)) ||
	    vma_thp_disabled(vma, vma->vm_flags) ||
	    lazymap_fault_fits(vma->vm_start, vma->vm_end, vma->vm_pgoff,
			       vmf->address, HPAGE_PMD_ORDER, &addr, &block) ||
	    ((u64)block + HPAGE_PMD_NR) << PAGE_SHIFT > space->size ||
	    lazymap_host_denied(space, block, block + HPAGE_PMD_NR))
		return 0;
	return HPAGE_PMD_ORDER;
}

static int lazymap_pte_noop(pte_t *pte, unsigned long addr, void *data)
{
	return 0;
}

/*
 * Return the level finish_fault() is going to map @folio at, and make sure
 * it is not a PMD if part of the folio is revoked.  A PMD-sized folio is
 * mapped with a PMD whenever the fault finds no page table below the PMD
 * (do_set_pmd()); for a partly revoked folio, install that page table
 * first, so that only the faulting page is mapped.  Nothing else installs
 * a PMD in a folio space's VMA (no ->huge_fault, and khugepaged only
 * collapses regular files), so the table stays until the VMA goes.
 */
static int lazymap_folio_level(struct lazymap_space *space,
			       struct vm_fault *vmf, struct folio *folio)
{
	struct vm_area_struct *vma = vmf->vma;
	struct inode *host = space->mapping->host;
	int err;

	if (folio_order(folio) != HPAGE_PMD_ORDER)
		return LAZYMAP_LEVEL_PTE;
	if (lazymap_host_denied(space, folio->index,
				folio_next_index(folio))) {
		if (!pmd_none(pmdp_get_lockless(vmf->pmd)))
			return LAZYMAP_LEVEL_PTE;
		err = apply_to_page_range(vma->vm_mm, vmf->address & PAGE_MASK,
					  PAGE_SIZE, lazymap_pte_noop, NULL);
		return err ? err : LAZYMAP_LEVEL_PTE;
	}
	/* The checks of finish_fault() and do_set_pmd(), but the global ones. */
	if (!pmd_none(pmdp_get_lockless(vmf->pmd)) ||
	    vma_thp_disabled(vma, vma->vm_flags) ||
	    !thp_vma_suitable_order(vma, vmf->address, HPAGE_PMD_ORDER) ||
	    folio_next_index(folio) >
	    DIV_ROUND_UP(i_size_read(host), PAGE_SIZE))
		return LAZYMAP_LEVEL_PTE;
	return LAZYMAP_LEVEL_PMD;
}

static unsigned int lazymap_folio_level_order(int level)
{
	return level == LAZYMAP_LEVEL_PMD ? HPAGE_PMD_ORDER : 0;
}
#else
static unsigned int lazymap_folio_want(struct lazymap_space *space,
				       struct vm_fault *vmf)
{
	return 0;
}

static int lazymap_folio_level(struct lazymap_space *space,
			       struct vm_fault *vmf, struct folio *folio)
{
	return LAZYMAP_LEVEL_PTE;
}

static unsigned int lazymap_folio_level_order(int level)
{
	return 0;
}
#endif

/*
 * Fault of a folio space: check and resolve under the gate, lock the folio
 * and return it locked; finish_fault() maps it and do_read_fault() or
 * do_shared_fault() unlock it.  The reference from the provider becomes
 * the page table's.
 */
vm_fault_t lazymap_folio_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct lazymap_vma *rec = vma->vm_private_data;
	struct lazymap_space *space = rec->space;
	struct lazymap_resolved res = {};
	pgoff_t pgoff = vmf->pgoff;
	unsigned int want = 0;
	struct folio *folio;
	int level = LAZYMAP_LEVEL_PTE;
	vm_fault_t ret;
	int err;

	/* A folio space's VMA may reach past its end, as a file's. */
	if (((u64)pgoff + 1) << PAGE_SHIFT > space->size) {
		this_cpu_inc(space->fault_stats->sigbus);
		return VM_FAULT_SIGBUS;
	}

	down_read(space->gate);
	if ((space->ops->accessible && !space->ops->accessible(space)) ||
	    lazymap_host_denied(space, pgoff, pgoff + 1)) {
		ret = VM_FAULT_SIGBUS;
		goto out_unlock;
	}
	want = lazymap_folio_want(space, vmf);
	err = space->ops->resolve(space, pgoff, want, &res);
	if (err) {
		ret = err == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
		goto out_unlock;
	}
	folio = res.folio;
	if (WARN_ON_ONCE(!folio)) {
		ret = VM_FAULT_SIGBUS;
		goto out_unlock;
	}
	/*
	 * Before the folio lock, like __do_fault()'s page table preallocation:
	 * allocating under a folio lock can deadlock against reclaim.
	 */
	level = lazymap_folio_level(space, vmf, folio);
	if (level < 0) {
		ret = level == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
		folio_put(folio);
		goto out_unlock;
	}
	folio_lock(folio);
	if (unlikely(folio->mapping != space->mapping)) {
		/* Truncated since the provider found it: fault again. */
		ret = VM_FAULT_NOPAGE;
		/* Not a folio of the space at all: a provider bug. */
		if (WARN_ON_ONCE(folio->mapping))
			ret = VM_FAULT_SIGBUS;
		goto out_put;
	}
	/* Never map what was not written: stale memory. */
	if (WARN_ON_ONCE(!folio_contains(folio, pgoff) ||
			 !folio_test_uptodate(folio))) {
		ret = VM_FAULT_SIGBUS;
		goto out_put;
	}
	this_cpu_inc(space->fault_stats->faults[level]);
	atomic64_inc(&rec->faults[level]);
	if (!rec->pid && current->mm == vma->vm_mm)
		lazymap_vma_set_owner(rec);
	vmf->page = folio_file_page(folio, pgoff);
	ret = VM_FAULT_LOCKED;
	goto out_unlock;

out_put:
	folio_unlock(folio);
	folio_put(folio);
out_unlock:
	up_read(space->gate);
	if (want && level == LAZYMAP_LEVEL_PTE && ret == VM_FAULT_LOCKED)
		this_cpu_inc(space->fault_stats->fallbacks);
	else if (ret & VM_FAULT_SIGBUS)
		this_cpu_inc(space->fault_stats->sigbus);
	trace_lazymap_fault(space->name, vmf->address, pgoff,
			    lazymap_folio_level_order(level),
			    (__force unsigned int)ret);
	return ret;
}

/**
 * lazymap_truncate_begin() - take page offsets back from every listener
 * @space: the space
 * @start: first page offset
 * @end: page offset after the last
 *
 * For consumers that truncate the page cache of a folio space (punch
 * hole), before truncate_inode_pages_range(): invalidates every listener
 * over [@start, @end), with no way to refuse, and makes their lookups of
 * the range wait and their retries fail until lazymap_truncate_end().
 * Offsets memory failure poisoned become usable again at the end.
 *
 * Context: may sleep; not with a folio of the range locked.
 */
void lazymap_truncate_begin(struct lazymap_space *space, pgoff_t start,
			    pgoff_t end)
{
	if (WARN_ON_ONCE(end <= start))
		return;
	trace_lazymap_launder(space->name, start, end - start);
	lazymap_inval_begin(space, start, end);
	lazymap_invalidate_listeners(space, start, end, LAZYMAP_INVAL_TRUNCATE);
	atomic64_inc(&space->launders);
}
EXPORT_SYMBOL_GPL(lazymap_truncate_begin);

/**
 * lazymap_truncate_end() - end lazymap_truncate_begin()
 * @space: the space
 * @start: as passed to lazymap_truncate_begin()
 * @end: as passed to lazymap_truncate_begin()
 *
 * After the page cache of the range is truncated.  Listeners retry every
 * lookup that began before.
 *
 * Context: may sleep.
 */
void lazymap_truncate_end(struct lazymap_space *space, pgoff_t start,
			  pgoff_t end)
{
	unsigned long index;
	void *entry;

	if (WARN_ON_ONCE(end <= start))
		return;
	xa_for_each_range(&space->poisoned, index, entry, start, end - 1)
		xa_erase(&space->poisoned, index);
	lazymap_inval_end(space);
}
EXPORT_SYMBOL_GPL(lazymap_truncate_end);

/**
 * lazymap_invalidate_folio() - for address_space_operations.invalidate_folio
 * @space: the space
 * @folio: the folio, locked, leaving the page cache in whole or in part
 * @offset: bytes into the folio where the invalidated part starts
 * @len: bytes invalidated
 *
 * Truncation cannot be refused: every listener drops the whole pages of
 * the part before this returns, and the page cache frees them after.
 */
void lazymap_invalidate_folio(struct lazymap_space *space,
			      struct folio *folio, size_t offset, size_t len)
{
	pgoff_t start = folio->index + DIV_ROUND_UP(offset, PAGE_SIZE);
	pgoff_t end = folio->index + ((offset + len) >> PAGE_SHIFT);

	/* Whole pages only: a partial page stays in the page cache. */
	if (end <= start)
		return;
	trace_lazymap_launder(space->name, start, end - start);
	lazymap_inval_begin(space, start, end);
	lazymap_invalidate_listeners(space, start, end, LAZYMAP_INVAL_TRUNCATE);
	lazymap_inval_end(space);
	atomic64_inc(&space->launders);
}
EXPORT_SYMBOL_GPL(lazymap_invalidate_folio);

/**
 * lazymap_launder_folio() - for address_space_operations.launder_folio
 * @space: the space
 * @folio: the folio, locked
 *
 * Asks every listener to release the folio (&lazymap_listener_ops.release);
 * the page cache keeps the folio if one refuses.
 *
 * Return: 0 if every listener let it go, -EBUSY if one refused.
 */
int lazymap_launder_folio(struct lazymap_space *space, struct folio *folio)
{
	pgoff_t start = folio->index, end = folio_next_index(folio);
	int ret;

	trace_lazymap_launder(space->name, start, end - start);
	lazymap_inval_begin(space, start, end);
	ret = lazymap_release_listeners(space, start, end);
	lazymap_inval_end(space);
	atomic64_inc(&space->launders);
	return ret;
}
EXPORT_SYMBOL_GPL(lazymap_launder_folio);

/**
 * lazymap_release_folio() - for address_space_operations.release_folio
 * @space: the space
 * @folio: the folio, locked
 *
 * As lazymap_launder_folio().
 *
 * Return: true if the folio may be freed, false if a listener refused.
 */
bool lazymap_release_folio(struct lazymap_space *space, struct folio *folio)
{
	return lazymap_launder_folio(space, folio) == 0;
}
EXPORT_SYMBOL_GPL(lazymap_release_folio);

/**
 * lazymap_error_remove_folio() - for address_space_operations.error_remove_folio
 * @space: the space
 * @folio: the poisoned folio, locked
 *
 * Invalidates every listener over the folio, with no way to refuse, and
 * records its page offsets as poisoned: lookups and lazymap_get_folio()
 * fail them with -EHWPOISON until a lazymap_truncate_end() covers them.
 * The caller then truncates the folio (generic_error_remove_folio()) and
 * returns what that returned, or returns this function's error.
 *
 * Return: 0, or -ENOMEM (nothing recorded: keep the folio).
 */
int lazymap_error_remove_folio(struct lazymap_space *space,
			       struct folio *folio)
{
	pgoff_t start = folio->index, end = folio_next_index(folio);
	pgoff_t index;
	int ret;

	for (index = start; index < end; index++) {
		ret = xa_err(xa_store(&space->poisoned, index, xa_mk_value(1),
				      GFP_NOIO));
		if (ret) {
			while (index-- > start)
				xa_erase(&space->poisoned, index);
			return ret;
		}
	}
	trace_lazymap_launder(space->name, start, end - start);
	lazymap_inval_begin(space, start, end);
	lazymap_invalidate_listeners(space, start, end, LAZYMAP_INVAL_TRUNCATE);
	lazymap_inval_end(space);
	atomic64_inc(&space->launders);
	return 0;
}
EXPORT_SYMBOL_GPL(lazymap_error_remove_folio);
