// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap folio spaces: the page cache of a space's own inode, the folios
 * providers find or allocate in it, and the launder helpers that take a
 * folio back from every secondary MMU before the page cache lets it go.
 *
 * A folio space keeps its memory in its address_space's page cache (its own
 * inode's, or an adopted one such as guest_memfd's).  The page cache owns
 * the folios; host VMAs map them as a file's (see vma.c), listeners map
 * their pfns, and whatever takes a folio out of the page cache launders it
 * from the listeners first.
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
 * the page cache (truncation by the provider, a split, invalidation)
 * launders it from every listener first.  The final truncation when the
 * space's inode is freed finds no listener: they are all gone by then.
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
	pgoff_t first = folio->index + DIV_ROUND_UP(offset, PAGE_SIZE);
	pgoff_t end = folio->index + ((offset + len) >> PAGE_SHIFT);

	/* Whole pages only: a partial page stays in the page cache. */
	if (space && end > first)
		lazymap_launder(space, first, end - first);
}

static int lazymap_aops_launder_folio(struct folio *folio)
{
	struct lazymap_space *space = lazymap_aops_space(folio->mapping);

	return space ? lazymap_launder_folio(space, folio) : 0;
}

/*
 * Memory failure: take the folio back from the listeners and keep it in the
 * page cache; the core mm unmaps the poisoned page from host VMAs and
 * refuses to map it again (VM_FAULT_HWPOISON).
 */
static int lazymap_aops_error_remove_folio(struct address_space *mapping,
					   struct folio *folio)
{
	struct lazymap_space *space = lazymap_aops_space(mapping);

	if (space)
		lazymap_error_remove_folio(space, folio);
	return MF_DELAYED;
}

static const struct address_space_operations lazymap_folio_aops = {
	.dirty_folio = noop_dirty_folio,
	.release_folio = lazymap_aops_release_folio,
	.invalidate_folio = lazymap_aops_invalidate_folio,
	.launder_folio = lazymap_aops_launder_folio,
	.error_remove_folio = lazymap_aops_error_remove_folio,
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
	mapping->a_ops = &lazymap_folio_aops;
	mapping_set_gfp_mask(mapping, GFP_HIGHUSER);
	mapping_set_large_folios(mapping);
	mapping_set_inaccessible(mapping);
	mapping_set_release_always(mapping);
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
 * ERR_PTR(-EINVAL) for an offset beyond the space, or the page cache's
 * error (-ENOMEM).
 */
struct folio *lazymap_get_folio(struct lazymap_space *space, pgoff_t pgoff,
				unsigned int order)
{
	struct address_space *mapping = space->mapping;
	fgf_t fgp = FGP_LOCK | FGP_ACCESSED | FGP_CREAT;
	struct folio *folio;

	if (pgoff >= space->size >> PAGE_SHIFT)
		return ERR_PTR(-EINVAL);
	folio = filemap_lock_folio(mapping, pgoff);
	if (IS_ERR(folio)) {
		/*
		 * Not past the end of the space; the page cache itself caps
		 * the order at what the mapping allows.
		 */
		while (order && (pgoff | ((1UL << order) - 1)) >=
		       space->size >> PAGE_SHIFT)
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
		folio_zero_range(folio, 0, folio_size(folio));
		folio_mark_uptodate(folio);
	}
	folio_unlock(folio);
	return folio;
}
EXPORT_SYMBOL_GPL(lazymap_get_folio);

/**
 * lazymap_launder() - reclaim page offsets from every listener
 * @space: the space
 * @index: first page offset
 * @nr: number of pages
 *
 * For page-cache backed spaces, before the page cache lets folios go.
 * Host page tables are the page cache's business (truncation unmaps them);
 * this only reaches secondary MMUs.
 *
 * Context: may sleep; may be called with folio locks held.
 * Return: 0 if every listener dropped the range, else the first error
 * (-EBUSY: a listener could not reclaim it now).
 */
int lazymap_launder(struct lazymap_space *space, pgoff_t index,
		    unsigned long nr)
{
	int err = 0;

	if (!nr || index + nr - 1 < index)
		return -EINVAL;
	trace_lazymap_launder(space->name, index, nr);
	mutex_lock(&space->listeners_lock);
	lazymap_invalidate_listeners(space, index, index + nr - 1,
				     LAZYMAP_INVAL_LAUNDER, &err);
	mutex_unlock(&space->listeners_lock);
	atomic64_inc(&space->launders);
	return err;
}
EXPORT_SYMBOL_GPL(lazymap_launder);

/* For address_space_operations.launder_folio; the folio is locked. */
int lazymap_launder_folio(struct lazymap_space *space, struct folio *folio)
{
	return lazymap_launder(space, folio->index, folio_nr_pages(folio));
}
EXPORT_SYMBOL_GPL(lazymap_launder_folio);

/* For address_space_operations.release_folio: true if it may be freed. */
bool lazymap_release_folio(struct lazymap_space *space, struct folio *folio)
{
	return lazymap_launder_folio(space, folio) == 0;
}
EXPORT_SYMBOL_GPL(lazymap_release_folio);

/* For address_space_operations.error_remove_folio. */
int lazymap_error_remove_folio(struct lazymap_space *space,
			       struct folio *folio)
{
	return lazymap_launder_folio(space, folio);
}
EXPORT_SYMBOL_GPL(lazymap_error_remove_folio);
