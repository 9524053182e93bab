// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap listeners: secondary MMUs (e.g. a guest's stage 2) that map page
 * offset ranges of a space.
 *
 * A listener is embedded in its consumer's binding and owned by it; the
 * space only links it into an interval tree (space->listeners, under
 * space->listeners_lock) between lazymap_listener_register() and
 * lazymap_listener_unregister().
 *
 * Both sides of the protocol live here.  The invalidation side: every zap,
 * revoke, truncation or release runs between lazymap_inval_begin() and
 * lazymap_inval_end() and calls the listeners that overlap its range in
 * between.  The fault side: lazymap_listener_lookup() backs a page offset
 * under the gate and returns the invalidation sequence it began at; the
 * listener installs its entry under its own lock only if
 * lazymap_listener_retry() says no invalidation of the block began or ended
 * since, as KVM does with mmu_invalidate_seq and mmu_invalidate_retry_gfn().
 * Documentation/driver-api/lazymap.rst has the protocol and an example.
 */
#define pr_fmt(fmt) "lazymap: " fmt

#include <linux/interval_tree.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/wait.h>

#include "lazymap_internal.h"

#if IS_ENABLED(CONFIG_LAZYMAP_KUNIT_TEST)
struct lazymap_kunit_hook lazymap_kunit_hook;
EXPORT_SYMBOL_IF_KUNIT(lazymap_kunit_hook);
#endif

void lazymap_listeners_init(struct lazymap_space *space)
{
	mutex_init(&space->listeners_lock);
	space->listeners = RB_ROOT_CACHED;
	spin_lock_init(&space->inval_lock);
	init_waitqueue_head(&space->inval_wq);
	xa_init(&space->poisoned);
}

void lazymap_listeners_destroy(struct lazymap_space *space)
{
	WARN_ON_ONCE(space->inval_in_progress);
	xa_destroy(&space->poisoned);
	mutex_destroy(&space->listeners_lock);
}

/* Does an invalidation in progress overlap [start, end)?  inval_lock held. */
static bool lazymap_inval_overlaps(struct lazymap_space *space, pgoff_t start,
				   pgoff_t end)
{
	lockdep_assert_held(&space->inval_lock);
	return space->inval_in_progress && start < space->inval_end &&
	       space->inval_start < end;
}

/*
 * Begin an invalidation of [start, end): from now until the matching
 * lazymap_inval_end(), lazymap_listener_retry() refuses overlapping blocks
 * and lookups of the range wait.
 */
void lazymap_inval_begin(struct lazymap_space *space, pgoff_t start,
			 pgoff_t end)
{
	spin_lock(&space->inval_lock);
	if (!space->inval_in_progress++) {
		space->inval_start = start;
		space->inval_end = end;
	} else {
		space->inval_start = min(space->inval_start, start);
		space->inval_end = max(space->inval_end, end);
	}
	spin_unlock(&space->inval_lock);
	lazymap_hook(space, LAZYMAP_HOOK_INVAL_BEGUN);
}

/*
 * End an invalidation: bump the sequence, so that every lookup that began
 * before it retries, and wake the lookups waiting once none is in progress
 * (the range kept is a union, it only shrinks back then).
 */
void lazymap_inval_end(struct lazymap_space *space)
{
	bool idle;

	lazymap_hook(space, LAZYMAP_HOOK_INVAL_CALLED);
	spin_lock(&space->inval_lock);
	space->inval_seq++;
	if (WARN_ON_ONCE(!space->inval_in_progress))
		space->inval_in_progress = 1;
	idle = !--space->inval_in_progress;
	spin_unlock(&space->inval_lock);
	if (idle)
		wake_up_all(&space->inval_wq);
}

static struct lazymap_listener *lazymap_node_listener(struct interval_tree_node *node)
{
	return container_of(node, struct lazymap_listener, node);
}

/*
 * Call every listener overlapping [start, end) with the range clipped to
 * its own; the listeners cannot refuse.  Between lazymap_inval_begin() and
 * lazymap_inval_end() of a range covering [start, end).
 */
void lazymap_invalidate_listeners(struct lazymap_space *space, pgoff_t start,
				  pgoff_t end, enum lazymap_inval_reason reason)
{
	struct interval_tree_node *node;

	mutex_lock(&space->listeners_lock);
	for (node = interval_tree_iter_first(&space->listeners, start, end - 1);
	     node; node = interval_tree_iter_next(node, start, end - 1)) {
		struct lazymap_listener *l = lazymap_node_listener(node);

		l->ops->invalidate(l, max(start, node->start),
				   min(end, node->last + 1), reason);
		atomic64_inc(&space->invalidations);
	}
	mutex_unlock(&space->listeners_lock);
}

/*
 * Ask every listener overlapping [start, end) to release it; those without
 * a release callback are invalidated.  Return 0 if all did, else -EBUSY
 * (the others have still dropped their entries; they fault them back).
 */
int lazymap_release_listeners(struct lazymap_space *space, pgoff_t start,
			      pgoff_t end)
{
	struct interval_tree_node *node;
	int err = 0;

	mutex_lock(&space->listeners_lock);
	for (node = interval_tree_iter_first(&space->listeners, start, end - 1);
	     node; node = interval_tree_iter_next(node, start, end - 1)) {
		struct lazymap_listener *l = lazymap_node_listener(node);
		pgoff_t s = max(start, node->start);
		pgoff_t e = min(end, node->last + 1);

		if (l->ops->release) {
			if (l->ops->release(l, s, e))
				err = -EBUSY;
		} else {
			l->ops->invalidate(l, s, e, LAZYMAP_INVAL_RELEASE);
		}
		atomic64_inc(&space->invalidations);
	}
	mutex_unlock(&space->listeners_lock);
	return err;
}

/**
 * lazymap_listener_register() - invalidate @listener with the space
 * @space: the space
 * @listener: embedded in the caller's binding; @listener->ops set
 * @start: first page offset the listener maps
 * @end: page offset after the last one the listener maps
 *
 * From now on every invalidation of [@start, @end) calls @listener, and
 * lazymap_listener_lookup() serves offsets of that range.  The caller
 * keeps the listener alive until lazymap_listener_unregister().
 *
 * Return: 0, or -EINVAL for missing ops, an empty range or one beyond the
 * space.
 */
int lazymap_listener_register(struct lazymap_space *space,
			      struct lazymap_listener *listener,
			      pgoff_t start, pgoff_t end)
{
	if (!listener->ops || !listener->ops->invalidate || end <= start ||
	    end > space->size >> PAGE_SHIFT)
		return -EINVAL;

	listener->space = space;
	listener->node.start = start;
	listener->node.last = end - 1;
	mutex_lock(&space->listeners_lock);
	interval_tree_insert(&listener->node, &space->listeners);
	mutex_unlock(&space->listeners_lock);
	return 0;
}
EXPORT_SYMBOL_GPL(lazymap_listener_register);

/**
 * lazymap_listener_unregister() - stop invalidating @listener
 * @listener: registered with lazymap_listener_register()
 *
 * When it returns, no callback of @listener runs or will run.  The
 * listener's entries are its own business: drop them first (after the last
 * lookup), since no invalidation reaches them any more.
 */
void lazymap_listener_unregister(struct lazymap_listener *listener)
{
	struct lazymap_space *space = listener->space;

	mutex_lock(&space->listeners_lock);
	interval_tree_remove(&listener->node, &space->listeners);
	mutex_unlock(&space->listeners_lock);
}
EXPORT_SYMBOL_GPL(lazymap_listener_unregister);

/**
 * lazymap_listener_resize() - change the range of a registered listener
 * @listener: registered with lazymap_listener_register()
 * @start: first page offset the listener maps from now on
 * @end: page offset after the last one
 *
 * For a binding that is trimmed or split (the other piece registers a
 * listener of its own first): from now on invalidations reach @listener
 * over [@start, @end) only.  Atomic against invalidations, which call
 * either the old range or the new one.  Entries outside the new range are
 * the listener's own business, as for lazymap_listener_unregister(): drop
 * them before, and make sure no lookup of them is in progress.
 *
 * Return: 0, or -EINVAL for an empty range or one beyond the space.
 */
int lazymap_listener_resize(struct lazymap_listener *listener, pgoff_t start,
			    pgoff_t end)
{
	struct lazymap_space *space = listener->space;

	if (end <= start || end > space->size >> PAGE_SHIFT)
		return -EINVAL;
	mutex_lock(&space->listeners_lock);
	interval_tree_remove(&listener->node, &space->listeners);
	listener->node.start = start;
	listener->node.last = end - 1;
	interval_tree_insert(&listener->node, &space->listeners);
	mutex_unlock(&space->listeners_lock);
	return 0;
}
EXPORT_SYMBOL_GPL(lazymap_listener_resize);

static bool lazymap_inval_busy(struct lazymap_space *space, pgoff_t start,
			       pgoff_t end)
{
	bool busy;

	spin_lock(&space->inval_lock);
	busy = lazymap_inval_overlaps(space, start, end);
	spin_unlock(&space->inval_lock);
	return busy;
}

/*
 * Wait until no invalidation overlapping [start, end) is in progress and
 * return the sequence to retry against.
 */
static unsigned long lazymap_lookup_begin(struct lazymap_space *space,
					  pgoff_t start, pgoff_t end)
{
	unsigned long seq;

	spin_lock(&space->inval_lock);
	while (lazymap_inval_overlaps(space, start, end)) {
		spin_unlock(&space->inval_lock);
		lazymap_hook(space, LAZYMAP_HOOK_LOOKUP_WAIT);
		wait_event(space->inval_wq,
			   !lazymap_inval_busy(space, start, end));
		spin_lock(&space->inval_lock);
	}
	seq = space->inval_seq;
	spin_unlock(&space->inval_lock);
	return seq;
}

/*
 * The largest order <= @order at which the naturally aligned block around
 * @pgoff lies in the listener's range, is not partly revoked, and maps
 * pfns aligned like the page offsets (@pfn backs @pgoff).
 */
static unsigned int lazymap_lookup_order(struct lazymap_listener *listener,
					 pgoff_t pgoff, unsigned long pfn,
					 unsigned int order)
{
	struct lazymap_space *space = listener->space;

	for (; order; order--) {
		unsigned long nr = 1UL << order;
		pgoff_t start = ALIGN_DOWN(pgoff, nr);

		if (start >= listener->node.start &&
		    start + nr - 1 <= listener->node.last &&
		    !((pfn ^ pgoff) & (nr - 1)) &&
		    !lazymap_range_revoked(space, start, start + nr))
			break;
	}
	return order;
}

/*
 * Resolve @pgoff with the gate held for read: the pfn backing it, the
 * order the provider can back, and for a folio space the folio with a
 * reference, locked while checked against truncation and memory failure.
 */
static int lazymap_lookup_resolve(struct lazymap_listener *listener,
				  pgoff_t pgoff, unsigned int order,
				  struct lazymap_lookup *lookup)
{
	struct lazymap_space *space = listener->space;
	struct lazymap_resolved res;
	struct folio *folio;
	int ret;

again:
	memset(&res, 0, sizeof(res));
	ret = space->ops->resolve(space, pgoff, order, &res);
	lazymap_hook(space, LAZYMAP_HOOK_LOOKUP_RESOLVED);
	if (ret)
		return ret;

	switch (space->kind) {
	case LAZYMAP_KIND_PFN:
		lookup->pfn = res.pfn + (pgoff & ((1UL << res.order) - 1));
		lookup->order = min(order, res.order);
		return 0;
	case LAZYMAP_KIND_PAGE:
		if (WARN_ON_ONCE(!res.page))
			return -EFAULT;
		lookup->pfn = page_to_pfn(res.page);
		lookup->order = min(order, res.order);
		return 0;
	case LAZYMAP_KIND_FOLIO:
		break;
	}

	folio = res.folio;
	if (WARN_ON_ONCE(!folio))
		return -EFAULT;
	/*
	 * Truncation holds the folio lock from before it invalidates the
	 * listeners until the folio is out of the page cache: a folio still
	 * in the mapping under its lock is one whose truncation, if any, will
	 * bump the sequence after this lookup read it.
	 */
	folio_lock(folio);
	if (folio->mapping != space->mapping) {
		folio_unlock(folio);
		folio_put(folio);
		/* Not a folio of the space at all: a provider bug. */
		if (WARN_ON_ONCE(folio->mapping))
			return -EFAULT;
		goto again;
	}
	if (WARN_ON_ONCE(!folio_contains(folio, pgoff) ||
			 !folio_test_uptodate(folio))) {
		ret = -EFAULT;
		goto out_put;
	}
	if (PageHWPoison(folio_file_page(folio, pgoff))) {
		ret = -EHWPOISON;
		goto out_put;
	}
	/* The folio's own order caps it; a poisoned subpage caps it to 0. */
	lookup->pfn = folio_pfn(folio) + (pgoff - folio->index);
	if (folio_test_large(folio) && folio_test_has_hwpoisoned(folio))
		lookup->order = 0;
	else
		lookup->order = min(order, folio_order(folio));
	lookup->folio = folio;
	folio_unlock(folio);
	return 0;

out_put:
	folio_unlock(folio);
	folio_put(folio);
	return ret;
}

/**
 * lazymap_listener_lookup() - what backs a page offset, for a listener
 * @listener: registered, its range containing @pgoff
 * @pgoff: the page offset the secondary MMU faulted on
 * @order: the largest order the listener could map at @pgoff
 * @lookup: out: the backing, the block to map and the sequence
 *
 * The first half of a listener's fault, like mmu_interval_read_begin() and
 * kvm_gmem_get_pfn(): waits until no invalidation overlapping the block of
 * @order around @pgoff is in progress, reads the invalidation sequence,
 * then, with the gate held for read, checks the offset and asks the
 * provider.  The listener then takes its own lock, calls
 * lazymap_listener_retry() and installs [@lookup->start, +2^@lookup->order)
 * only if that returns false; whether it installed or not, it then calls
 * lazymap_lookup_put().
 *
 * For a folio space @lookup->folio holds a reference: the listener must
 * not let the folio go before lazymap_lookup_put(), which drops it.  An
 * installed entry holds no reference: it stays valid because the folio
 * cannot leave the page cache before every listener's invalidate has
 * dropped it.  Pfn and page spaces give no reference: their provider
 * keeps the memory until a zap or revoke has invalidated every listener.
 *
 * Context: may sleep; takes the gate for read.  Must not be called with the
 * listener's own lock, or anything its invalidate takes, held.
 * Return: 0; -ERANGE if @pgoff is outside the listener's range;
 * -ENXIO if ops->accessible says the memory cannot be accessed now;
 * -EACCES if @pgoff is revoked; -EHWPOISON if memory failure took it;
 * else the provider's error (e.g. -ENOMEM).
 */
int lazymap_listener_lookup(struct lazymap_listener *listener, pgoff_t pgoff,
			    unsigned int order, struct lazymap_lookup *lookup)
{
	struct lazymap_space *space = listener->space;
	unsigned long nr;
	int ret;

	memset(lookup, 0, sizeof(*lookup));
	if (pgoff < listener->node.start || pgoff > listener->node.last)
		return -ERANGE;
	order = min_t(unsigned int, order, BITS_PER_LONG - 1);
	nr = 1UL << order;
	lookup->seq = lazymap_lookup_begin(space, ALIGN_DOWN(pgoff, nr),
					   ALIGN_DOWN(pgoff, nr) + nr);

	down_read(space->gate);
	lazymap_hook(space, LAZYMAP_HOOK_LOOKUP_SEQ);
	if (space->ops->accessible && !space->ops->accessible(space)) {
		ret = -ENXIO;
		goto out_unlock;
	}
	if (lazymap_range_revoked(space, pgoff, pgoff + 1)) {
		ret = -EACCES;
		goto out_unlock;
	}
	if (xa_load(&space->poisoned, pgoff)) {
		ret = -EHWPOISON;
		goto out_unlock;
	}
	lookup->order = order;
	ret = lazymap_lookup_resolve(listener, pgoff, order, lookup);
	if (ret)
		goto out_unlock;
	lookup->order = lazymap_lookup_order(listener, pgoff, lookup->pfn,
					     lookup->order);
	lookup->start = ALIGN_DOWN(pgoff, 1UL << lookup->order);
out_unlock:
	up_read(space->gate);
	return ret;
}
EXPORT_SYMBOL_GPL(lazymap_listener_lookup);

/**
 * lazymap_listener_retry() - must the listener look up again?
 * @listener: the listener of the lookup
 * @lookup: a successful lazymap_listener_lookup()'s result
 *
 * Like mmu_interval_read_retry() and mmu_invalidate_retry_gfn(): true if
 * an invalidation overlapping the block is in progress, or if any
 * invalidation of the space ended since the lookup read the sequence (the
 * sequence is per space: an unrelated invalidation causes a spurious
 * retry, never a missed one).  Called with the listener's own lock held,
 * the lock its invalidate callback takes: if this returns false, an
 * invalidation that begins later calls the listener only after the entry
 * is installed and the lock dropped, and drops the entry.
 *
 * Context: the listener's lock held; does not sleep.
 */
bool lazymap_listener_retry(struct lazymap_listener *listener,
			    const struct lazymap_lookup *lookup)
{
	struct lazymap_space *space = listener->space;
	bool retry;

	spin_lock(&space->inval_lock);
	retry = space->inval_seq != lookup->seq ||
		lazymap_inval_overlaps(space, lookup->start,
				       lookup->start + (1UL << lookup->order));
	spin_unlock(&space->inval_lock);
	return retry;
}
EXPORT_SYMBOL_GPL(lazymap_listener_retry);

/**
 * lazymap_lookup_put() - drop what a lookup holds
 * @lookup: a successful lazymap_listener_lookup()'s result
 *
 * Drops the folio reference of a folio space's lookup, after the listener
 * installed its entry (or gave up) and dropped its lock.  Idempotent.
 */
void lazymap_lookup_put(struct lazymap_lookup *lookup)
{
	if (lookup->folio) {
		folio_put(lookup->folio);
		lookup->folio = NULL;
	}
}
EXPORT_SYMBOL_GPL(lazymap_lookup_put);
