// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap listeners: secondary MMUs (e.g. a guest's stage 2) that map page
 * offset ranges of a space.
 *
 * A listener is embedded in its consumer's binding and owned by it; the
 * space only links it into an interval tree (space->listeners, under
 * space->listeners_lock) between lazymap_listener_register() and
 * lazymap_listener_unregister().  Zap, revoke and launder invalidate every
 * listener that overlaps their range.
 */
#define pr_fmt(fmt) "lazymap: " fmt

#include <linux/interval_tree.h>
#include <linux/lockdep.h>
#include <linux/mutex.h>

#include "lazymap_internal.h"

void lazymap_invalidate_listeners(struct lazymap_space *space,
				  pgoff_t first, pgoff_t last,
				  enum lazymap_inval_reason reason, int *err)
{
	struct interval_tree_node *node;

	lockdep_assert_held(&space->listeners_lock);

	for (node = interval_tree_iter_first(&space->listeners, first, last);
	     node; node = interval_tree_iter_next(node, first, last)) {
		struct lazymap_listener *l =
			container_of(node, struct lazymap_listener, node);
		pgoff_t s = max(first, node->start);
		pgoff_t e = min(last, node->last);
		int ret;

		ret = l->ops->invalidate(l, s, e + 1, reason);
		atomic64_inc(&space->invalidations);
		if (ret && err && !*err)
			*err = ret;
	}
}

/**
 * lazymap_listener_register() - invalidate @listener with the space
 * @space: the space
 * @listener: embedded in the caller's binding; @listener->ops set
 * @first: first page offset the listener maps
 * @last: last page offset (inclusive)
 *
 * The caller keeps the listener alive until lazymap_listener_unregister().
 *
 * Return: 0, or -EINVAL if the range is empty or beyond the space.
 */
int lazymap_listener_register(struct lazymap_space *space,
			      struct lazymap_listener *listener,
			      pgoff_t first, pgoff_t last)
{
	if (!listener->ops || !listener->ops->invalidate || last < first ||
	    last >= space->size >> PAGE_SHIFT)
		return -EINVAL;

	listener->node.start = first;
	listener->node.last = last;
	mutex_lock(&space->listeners_lock);
	interval_tree_insert(&listener->node, &space->listeners);
	mutex_unlock(&space->listeners_lock);
	return 0;
}
EXPORT_SYMBOL_GPL(lazymap_listener_register);

void lazymap_listener_unregister(struct lazymap_space *space,
				 struct lazymap_listener *listener)
{
	mutex_lock(&space->listeners_lock);
	interval_tree_remove(&listener->node, &space->listeners);
	mutex_unlock(&space->listeners_lock);
}
EXPORT_SYMBOL_GPL(lazymap_listener_unregister);
