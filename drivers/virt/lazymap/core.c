// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap core: spaces and zap / revoke / restore.  Ranges are [start, end)
 * page offsets, as in struct mmu_notifier_range.
 *
 * A space is created by its consumer (lazymap_space_create()) and is
 * reference counted: the consumer holds one reference, every tracked VMA
 * another.  A space maps one address_space, its own (an inode of the
 * lazymap pseudo filesystem) or one the consumer adopts, so taking memory
 * back from every host process is one unmap_mapping_range().  Secondary
 * MMUs (guest stage 2) register listeners on page offset ranges
 * (listener.c) and are invalidated right after the host page tables, under
 * the same gate.  Folio spaces' page cache, their fault and launder:
 * folio.c.
 */
#define pr_fmt(fmt) "lazymap: " fmt

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/interval_tree.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pagemap.h>
#include <linux/pagevec.h>
#include <linux/pseudo_fs.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "lazymap_internal.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

#define LAZYMAP_MAGIC	0x6c7a6d70	/* "lzmp" */

static struct vfsmount *lazymap_mnt;
static struct workqueue_struct *lazymap_wq;
static int lazymap_mnt_count;

static int lazymap_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, LAZYMAP_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type lazymap_fs_type = {
	.name = "lazymap",
	.owner = THIS_MODULE,
	.init_fs_context = lazymap_init_fs_context,
	.kill_sb = kill_anon_super,
};

static struct inode *lazymap_alloc_inode(void)
{
	struct inode *inode;
	int ret;

	ret = simple_pin_fs(&lazymap_fs_type, &lazymap_mnt, &lazymap_mnt_count);
	if (ret)
		return ERR_PTR(ret);
	inode = alloc_anon_inode(lazymap_mnt->mnt_sb);
	if (IS_ERR(inode))
		simple_release_fs(&lazymap_mnt, &lazymap_mnt_count);
	return inode;
}

static void lazymap_free_inode(struct inode *inode)
{
	iput(inode);
	simple_release_fs(&lazymap_mnt, &lazymap_mnt_count);
}

static void lazymap_space_free(struct work_struct *work);

/**
 * lazymap_space_create() - create a space
 * @params: see &struct lazymap_space_params
 *
 * The debugfs directory lazymap/<name> is created here and removed when
 * the space is released; a name still in use by a space not yet released
 * costs the new space its debugfs files, so a consumer that reuses names
 * waits for the old space's release (lazymap_wait_for_releases()) before
 * creating the new one.
 *
 * Context: may sleep.
 * Return: the space with one reference, or ERR_PTR(-EINVAL) for a missing
 * name, ops or resolve, an unknown kind or caching, a size of 0 or not a
 * multiple of PAGE_SIZE, a page or folio space that is not
 * %LAZYMAP_CACHED, an adopted mapping that is another space's own, or one
 * without a_ops->dirty_folio for a folio space; ERR_PTR(-ENOMEM) or the
 * inode allocation's error.
 */
struct lazymap_space *lazymap_space_create(const struct lazymap_space_params *params)
{
	struct lazymap_space *space;
	int ret;

	if (!params->name || !params->name[0] || !params->ops ||
	    !params->ops->resolve || !params->size ||
	    !PAGE_ALIGNED(params->size) ||
	    (params->kind != LAZYMAP_KIND_PFN &&
	     params->kind != LAZYMAP_KIND_PAGE &&
	     params->kind != LAZYMAP_KIND_FOLIO))
		return ERR_PTR(-EINVAL);
	if (params->caching != LAZYMAP_CACHED &&
	    params->caching != LAZYMAP_UNCACHED &&
	    params->caching != LAZYMAP_WRITE_COMBINE)
		return ERR_PTR(-EINVAL);
	/*
	 * Pages and folios are RAM, mapped write-back in the direct map: a
	 * second, uncached or write-combining alias of the same memory has
	 * undefined results on x86 (and a machine check on some CPUs).
	 */
	if (params->kind != LAZYMAP_KIND_PFN &&
	    params->caching != LAZYMAP_CACHED)
		return ERR_PTR(-EINVAL);
	/* Another space's own mapping: its zaps and launders would mix. */
	if (params->mapping && params->mapping->host &&
	    params->mapping->host->i_sb->s_magic == LAZYMAP_MAGIC)
		return ERR_PTR(-EINVAL);
	/* Write faults of a folio space dirty the folio: folio_mark_dirty(). */
	if (params->kind == LAZYMAP_KIND_FOLIO && params->mapping &&
	    !params->mapping->a_ops->dirty_folio)
		return ERR_PTR(-EINVAL);

	space = kzalloc(sizeof(*space), GFP_KERNEL_ACCOUNT);
	if (!space)
		return ERR_PTR(-ENOMEM);
	space->name = kstrdup(params->name, GFP_KERNEL_ACCOUNT);
	if (!space->name) {
		ret = -ENOMEM;
		goto err_free_space;
	}
	space->fault_stats = alloc_percpu_gfp(struct lazymap_fault_stats,
					      GFP_KERNEL_ACCOUNT);
	if (!space->fault_stats) {
		ret = -ENOMEM;
		goto err_free_name;
	}
	if (params->mapping) {
		space->mapping = params->mapping;
	} else {
		space->inode = lazymap_alloc_inode();
		if (IS_ERR(space->inode)) {
			ret = PTR_ERR(space->inode);
			goto err_free_stats;
		}
		space->mapping = space->inode->i_mapping;
		i_size_write(space->inode, params->size);
		if (params->kind == LAZYMAP_KIND_FOLIO)
			lazymap_folio_inode_init(space);
	}

	kref_init(&space->ref);
	INIT_WORK(&space->release_work, lazymap_space_free);
	space->ops = params->ops;
	space->kind = params->kind;
	space->size = params->size;
	space->caching = params->caching;
	space->private = params->private;
	init_rwsem(&space->own_gate);
	space->gate = params->gate ?: &space->own_gate;
	/*
	 * The gate is the tree's lock: written with it held for write, read
	 * with it held.  RCU mode keeps a read without the gate safe, if
	 * stale.
	 */
	mt_init_flags(&space->revoked, MT_FLAGS_LOCK_EXTERN | MT_FLAGS_USE_RCU);
	mt_set_external_lock(&space->revoked, space->gate);
	mt_init_flags(&space->private_ranges,
		      MT_FLAGS_LOCK_EXTERN | MT_FLAGS_USE_RCU);
	mt_set_external_lock(&space->private_ranges, space->gate);
	mutex_init(&space->vmas_lock);
	INIT_LIST_HEAD(&space->vmas);
	lazymap_listeners_init(space);

	lazymap_debugfs_add(space);
	return space;

err_free_stats:
	free_percpu(space->fault_stats);
err_free_name:
	kfree(space->name);
err_free_space:
	kfree(space);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_GPL(lazymap_space_create);

/**
 * lazymap_space_get() - take a reference
 * @space: the space, with a reference held by the caller
 *
 * For the VMA records; drop it with lazymap_space_put().
 */
void lazymap_space_get(struct lazymap_space *space)
{
	kref_get(&space->ref);
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_space_get);

static void lazymap_space_free(struct work_struct *work)
{
	struct lazymap_space *space =
		container_of(work, struct lazymap_space, release_work);

	lazymap_debugfs_remove(space);
	if (space->ops->release)
		space->ops->release(space);
	/* Frees a folio space's page cache: before the locks go. */
	if (space->inode)
		lazymap_free_inode(space->inode);
	/*
	 * Nothing can reach the tree any more, and an adopted gate may be
	 * gone already (its owner need not wait for this work): tell lockdep
	 * the tree needs no lock now, as for a tree on the stack.
	 */
	mt_on_stack(space->revoked);
	__mt_destroy(&space->revoked);
	mt_on_stack(space->private_ranges);
	__mt_destroy(&space->private_ranges);
	mutex_destroy(&space->vmas_lock);
	lazymap_listeners_destroy(space);
	free_percpu(space->fault_stats);
	kfree(space->name);
	kfree(space);
}

static void lazymap_space_release(struct kref *ref)
{
	struct lazymap_space *space = container_of(ref, struct lazymap_space, ref);

	/* Tracked VMAs and listeners hold or imply references. */
	WARN_ON_ONCE(!list_empty(&space->vmas));
	WARN_ON_ONCE(!RB_EMPTY_ROOT(&space->listeners.rb_root));
	queue_work(lazymap_wq, &space->release_work);
}

/**
 * lazymap_space_put() - drop a reference
 * @space: the space
 *
 * The last put (the consumer's and every VMA's) queues the release: the
 * debugfs files are removed, ops->release() runs and the space is freed
 * from a workqueue, outside whatever lock the putter holds (the last put
 * may come from munmap() with mmap_lock held).  Listeners must be
 * unregistered before the consumer's put.
 *
 * The space does not pin the consumer's module: a consumer whose spaces
 * may still be released calls lazymap_wait_for_releases() after its last
 * put and before its ops, private data or module go away (at the latest
 * in its module exit).
 *
 * Context: any context; does not sleep.
 */
void lazymap_space_put(struct lazymap_space *space)
{
	kref_put(&space->ref, lazymap_space_release);
}
EXPORT_SYMBOL_GPL(lazymap_space_put);

/**
 * lazymap_wait_for_releases() - wait until every space already put is freed
 *
 * Waits for the release of every space whose last reference is gone: its
 * debugfs files removed, ops->release() run, the space freed.  Consumers
 * call it after dropping their references, before what the space refers
 * to goes away: their private data, a name they will reuse for a new
 * space (its debugfs directory), their module (in module exit).
 *
 * Context: may sleep; must not hold a lock that ops->release() or a
 * listener takes.
 */
void lazymap_wait_for_releases(void)
{
	flush_workqueue(lazymap_wq);
}
EXPORT_SYMBOL_GPL(lazymap_wait_for_releases);

/**
 * lazymap_space_private() - the consumer data of a space
 * @space: the space
 *
 * Return: &lazymap_space_params.private as passed to lazymap_space_create().
 */
void *lazymap_space_private(const struct lazymap_space *space)
{
	return space->private;
}
EXPORT_SYMBOL_GPL(lazymap_space_private);

/**
 * lazymap_space_mapping() - the address_space every VMA of a space is in
 * @space: the space
 *
 * The consumer's file sets its f_mapping to this before mmap().
 *
 * Return: the adopted mapping, or the space's own inode's.
 */
struct address_space *lazymap_space_mapping(const struct lazymap_space *space)
{
	return space->mapping;
}
EXPORT_SYMBOL_GPL(lazymap_space_mapping);

/**
 * lazymap_space_file() - open a file on a space's own inode
 * @space: a space created without an adopted mapping
 * @name: the file's name, as in /proc/pid/maps ("[name]" is usual)
 * @flags: O_* open flags (O_RDWR, O_CLOEXEC)
 * @fops: the consumer's file operations; private_data is the caller's
 *
 * A file whose inode is the space's: fstat() reports the space's size (and
 * S_IFREG for a folio space), its f_mapping is the space's mapping and
 * fallocate() and mmap() act on it, as guest_memfd's file does for its
 * inode.  The file holds the inode, not the space: the caller keeps the
 * space alive for as long as the file can reach it (e.g. drops its
 * reference in @fops->release).
 *
 * The file holds a reference to @fops->owner, as anon_inode_getfile()'s do.
 *
 * Context: may sleep.
 * Return: the file, ERR_PTR(-EINVAL) for a space with an adopted mapping,
 * ERR_PTR(-ENOENT) if @fops->owner is going away, or an allocation error.
 */
struct file *lazymap_space_file(struct lazymap_space *space, const char *name,
				int flags, const struct file_operations *fops)
{
	struct file *file;

	if (!space->inode)
		return ERR_PTR(-EINVAL);
	/* __fput() drops it, as for anon_inode_getfile()'s files. */
	if (!try_module_get(fops->owner))
		return ERR_PTR(-ENOENT);
	ihold(space->inode);
	file = alloc_file_pseudo(space->inode, lazymap_mnt, name, flags, fops);
	if (IS_ERR(file)) {
		iput(space->inode);
		module_put(fops->owner);
	}
	return file;
}
EXPORT_SYMBOL_GPL(lazymap_space_file);

/**
 * lazymap_space_gate() - the access gate of a space
 * @space: the space
 *
 * Consumers hold it for read around accesses of their own that must not
 * race a revoke (e.g. read(2) of the memory), and for write around
 * __lazymap_zap().
 *
 * Return: the adopted gate, or the space's own.
 */
struct rw_semaphore *lazymap_space_gate(const struct lazymap_space *space)
{
	return space->gate;
}
EXPORT_SYMBOL_GPL(lazymap_space_gate);

/**
 * lazymap_space_size() - the bytes a space can map
 * @space: the space
 *
 * Return: &lazymap_space_params.size.
 */
u64 lazymap_space_size(const struct lazymap_space *space)
{
	return space->size;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_space_size);

/**
 * lazymap_space_name() - the debugfs name of a space
 * @space: the space
 *
 * Return: a copy of &lazymap_space_params.name, valid as long as the space.
 */
const char *lazymap_space_name(const struct lazymap_space *space)
{
	return space->name;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_space_name);

/* pgprot of a VMA of the space, from the VMA's default. */
pgprot_t lazymap_space_pgprot(const struct lazymap_space *space,
			      pgprot_t prot)
{
	switch (space->caching) {
	case LAZYMAP_UNCACHED:
		return pgprot_noncached(prot);
	case LAZYMAP_WRITE_COMBINE:
		return pgprot_writecombine(prot);
	default:
		return prot;
	}
}

/*
 * Page offsets [start, end) -> [*first, *last]; -EINVAL unless
 * start < end <= the space's page count.
 */
static int lazymap_range(struct lazymap_space *space, pgoff_t start,
			 pgoff_t end, pgoff_t *first, pgoff_t *last)
{
	if (start >= end || end > space->size >> PAGE_SHIFT)
		return -EINVAL;
	*first = start;
	*last = end - 1;
	return 0;
}

/* lazymap_range() of a folio space; -EINVAL for another kind. */
static int lazymap_folio_range(struct lazymap_space *space, pgoff_t start,
			       pgoff_t end, pgoff_t *first, pgoff_t *last)
{
	if (space->kind != LAZYMAP_KIND_FOLIO)
		return -EINVAL;
	return lazymap_range(space, start, end, first, last);
}

/* What lazymap_walk_folios() does to each folio of a range. */
enum lazymap_folio_op {
	LAZYMAP_FOLIO_UNMAP,	/* unmap it from host VMAs */
	LAZYMAP_FOLIO_PINNED,	/* stop at the first pinned (FOLL_PIN) one */
	LAZYMAP_FOLIO_SCRUB,	/* zero its pages in the range */
};

/* @op on @folio, whose pages [s, e] are in the range; true stops the walk. */
static bool lazymap_folio_op(struct lazymap_space *space, struct folio *folio,
			     pgoff_t s, pgoff_t e, enum lazymap_folio_op op)
{
	if (op == LAZYMAP_FOLIO_PINNED)
		return folio_maybe_dma_pinned(folio);

	folio_lock(folio);
	if (folio->mapping == space->mapping) {	/* not truncated meanwhile */
		if (op == LAZYMAP_FOLIO_SCRUB)
			folio_zero_range(folio,
					 (s - folio->index) << PAGE_SHIFT,
					 (e - s + 1) << PAGE_SHIFT);
		else if (folio_mapped(folio))
			unmap_mapping_pages(space->mapping, s, e - s + 1,
					    true);
	}
	folio_unlock(folio);
	return false;
}

/*
 * Do @op on each folio of the page cache over page offsets [first, last];
 * true if it stopped the walk.  Gate held.
 */
static bool lazymap_walk_folios(struct lazymap_space *space, pgoff_t first,
				pgoff_t last, enum lazymap_folio_op op)
{
	struct folio_batch fbatch;
	pgoff_t index = first;
	bool stop = false;
	unsigned int i;

	folio_batch_init(&fbatch);
	while (!stop && filemap_get_folios(space->mapping, &index, last,
					   &fbatch)) {
		for (i = 0; !stop && i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];

			stop = lazymap_folio_op(space, folio,
						max(first, folio->index),
						min(last, folio_next_index(folio) - 1),
						op);
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
	return stop;
}

/*
 * A folio fault drops the gate before finish_fault() maps the folio, with
 * the folio locked until it is mapped.  So after unmapping, wait for every
 * folio of the range to be unlocked, and unmap again what such a fault
 * mapped in the meantime.  Faults that come later find the gate held.
 */
static void lazymap_unmap_folios(struct lazymap_space *space, pgoff_t first,
				 pgoff_t last)
{
	lazymap_walk_folios(space, first, last, LAZYMAP_FOLIO_UNMAP);
}

/*
 * Unmap page offsets [first, last] from every host VMA and every listener.
 * The caller holds the gate for write, so no fault can map the range again
 * before it drops the gate.
 */
static void lazymap_unmap(struct lazymap_space *space, pgoff_t first,
			  pgoff_t last, enum lazymap_inval_reason reason)
{
	lockdep_assert_held_write(space->gate);

	lazymap_inval_begin(space, first, last + 1);
	lazymap_unmap_vmas(space, first, last);
	if (space->kind == LAZYMAP_KIND_FOLIO)
		lazymap_unmap_folios(space, first, last);
	lazymap_invalidate_listeners(space, first, last + 1, reason);
	lazymap_inval_end(space);
	lazymap_track_zap(space, first, last);
	atomic64_inc(&space->zaps);
}

/**
 * __lazymap_zap() - lazymap_zap() with the gate already held for write
 * @space: the space
 * @start: first page offset
 * @end: page offset after the last one, greater than @start
 *
 * For consumers whose own code path holds the gate (e.g. a reset that
 * zaps and frees the memory before it lets faults in again).
 *
 * Context: may sleep; the gate held for write.
 * Return: 0, or -EINVAL for an empty range or one beyond the space.
 */
int __lazymap_zap(struct lazymap_space *space, pgoff_t start, pgoff_t end)
{
	pgoff_t first, last;
	int ret;

	lockdep_assert_held_write(space->gate);
	ret = lazymap_range(space, start, end, &first, &last);
	if (ret)
		return ret;
	trace_lazymap_zap(space->name, first, last - first + 1);
	lazymap_unmap(space, first, last, LAZYMAP_INVAL_ZAP);
	return 0;
}
EXPORT_SYMBOL_GPL(__lazymap_zap);

/**
 * lazymap_zap() - drop every mapping of a range; the next access refaults
 * @space: the space
 * @start: first page offset
 * @end: page offset after the last one, greater than @start
 *
 * Unmaps [@start, @end) from every host VMA and invalidates it in every
 * listener that overlaps it.
 *
 * Context: may sleep; takes the gate for write.
 * Return: 0, or -EINVAL for an empty range or one beyond the space.
 */
int lazymap_zap(struct lazymap_space *space, pgoff_t start, pgoff_t end)
{
	int ret;

	down_write(space->gate);
	ret = __lazymap_zap(space, start, end);
	up_write(space->gate);
	return ret;
}
EXPORT_SYMBOL_GPL(lazymap_zap);

/*
 * Store @entry over page offsets [first, last] of the revoked tree, with
 * the nodes allocated up front: an allocation failure is -ENOMEM and the
 * tree unchanged.  (mtree_store_range() retries for as long as it got
 * some of the nodes it asked for, forever if the rest keeps failing.)
 */
static int lazymap_revoked_store(struct lazymap_space *space, pgoff_t first,
				 pgoff_t last, void *entry)
{
	MA_STATE(mas, &space->revoked, first, last);
	int ret;

	lockdep_assert_held_write(space->gate);
	ret = mas_preallocate(&mas, entry, GFP_KERNEL_ACCOUNT);
	if (ret)
		return ret;
	mas_store_prealloc(&mas, entry);
	return 0;
}

/**
 * lazymap_revoke() - drop every mapping of a range and refuse new ones
 * @space: the space
 * @start: first page offset
 * @end: page offset after the last one, greater than @start
 *
 * Zaps [@start, @end) and records it as revoked: until lazymap_restore()
 * covers them, faults on these pages get SIGBUS and listeners must not map
 * them again (lazymap_range_revoked()).  Revoking a revoked range is
 * allowed.
 *
 * Context: may sleep; takes the gate for write.
 * Return: 0, -EINVAL for an empty range or one beyond the space, -ENOMEM
 * (nothing changed).
 */
int lazymap_revoke(struct lazymap_space *space, pgoff_t start, pgoff_t end)
{
	pgoff_t first, last;
	int ret;

	ret = lazymap_range(space, start, end, &first, &last);
	if (ret)
		return ret;

	down_write(space->gate);
	ret = lazymap_revoked_store(space, first, last, xa_mk_value(1));
	if (!ret) {
		trace_lazymap_revoke(space->name, first, last - first + 1, true);
		lazymap_unmap(space, first, last, LAZYMAP_INVAL_REVOKE);
		atomic64_inc(&space->revokes);
	}
	up_write(space->gate);
	return ret;
}
EXPORT_SYMBOL_GPL(lazymap_revoke);

/**
 * lazymap_restore() - allow faults on a revoked range again
 * @space: the space
 * @start: first page offset
 * @end: page offset after the last one, greater than @start
 *
 * Clears the revocation of [@start, @end); the next access faults the
 * memory in.  Restoring pages that are not revoked is allowed and changes
 * nothing.
 *
 * Context: may sleep; takes the gate for write.
 * Return: 0, -EINVAL for an empty range or one beyond the space, -ENOMEM
 * (nothing changed).
 */
int lazymap_restore(struct lazymap_space *space, pgoff_t start, pgoff_t end)
{
	pgoff_t first, last;
	int ret;

	ret = lazymap_range(space, start, end, &first, &last);
	if (ret)
		return ret;

	down_write(space->gate);
	ret = lazymap_revoked_store(space, first, last, NULL);
	if (!ret) {
		trace_lazymap_revoke(space->name, first, last - first + 1, false);
		atomic64_inc(&space->restores);
	}
	up_write(space->gate);
	return ret;
}
EXPORT_SYMBOL_GPL(lazymap_restore);

/* Does @mt hold an entry over a page offset of [start, end)? */
static bool lazymap_tree_any(struct maple_tree *mt, pgoff_t start,
			     pgoff_t end)
{
	unsigned long index = start;

	if (WARN_ON_ONCE(start >= end))
		return false;
	/* The common case, an empty tree, without a walk. */
	if (mtree_empty(mt))
		return false;
	return mt_find(mt, &index, end - 1);
}

/**
 * lazymap_range_revoked() - whether any page of a range is revoked
 * @space: the space
 * @start: first page offset
 * @end: page offset after the last one, greater than @start
 *
 * Context: the gate held (read or write) for a stable answer; without it
 * the answer may be stale but the call is safe (RCU).
 * Return: true if lazymap_revoke() covered a page of [@start, @end) that
 * no lazymap_restore() covered since.
 */
bool lazymap_range_revoked(struct lazymap_space *space, pgoff_t start,
			   pgoff_t end)
{
	return lazymap_tree_any(&space->revoked, start, end);
}
EXPORT_SYMBOL_GPL(lazymap_range_revoked);

/*
 * Is any page of [start, end) closed to host VMAs: revoked, or private
 * (lazymap_make_private())?  For the host fault paths, gate held.
 */
bool lazymap_host_denied(struct lazymap_space *space, pgoff_t start,
			 pgoff_t end)
{
	return lazymap_tree_any(&space->revoked, start, end) ||
	       lazymap_tree_any(&space->private_ranges, start, end);
}

/* Is a folio of page offsets [first, last] pinned (FOLL_PIN)?  Gate held. */
static bool lazymap_folios_pinned(struct lazymap_space *space, pgoff_t first,
				  pgoff_t last)
{
	return lazymap_walk_folios(space, first, last, LAZYMAP_FOLIO_PINNED);
}

/**
 * lazymap_make_private() - take a range away from host VMAs only
 * @space: a folio space
 * @start: first page offset
 * @end: page offset after the last one, greater than @start
 *
 * For memory a VM owns alone (a guest_memfd range lent to a guest): zaps
 * [@start, @end) from every host VMA and, until lazymap_make_shared()
 * covers them, makes host faults on these pages SIGBUS (so GUP through a
 * host VMA fails, and so do read()/write() with such a buffer).  Unlike
 * lazymap_revoke(), listeners are not invalidated and their lookups go on
 * serving the range: the secondary MMU keeps the memory.  Fails if a
 * folio of the range is still pinned (FOLL_PIN, e.g. O_DIRECT or a VFIO
 * DMA mapping) once the host mappings are gone: the pin would let the
 * host reach the memory behind the guest's back.  Making a private range
 * private again is allowed.
 *
 * Context: may sleep; takes the gate for write.
 * Return: 0; -EINVAL for an empty range, one beyond the space or a space
 * that is not a folio space; -EBUSY for a pinned folio; -ENOMEM.  Nothing
 * changed on error (the host mappings may have been zapped: they refault).
 */
int lazymap_make_private(struct lazymap_space *space, pgoff_t start,
			 pgoff_t end)
{
	MA_STATE(mas, &space->private_ranges, start, end - 1);
	pgoff_t first, last;
	int ret;

	ret = lazymap_folio_range(space, start, end, &first, &last);
	if (ret)
		return ret;

	guard(rwsem_write)(space->gate);
	ret = mas_preallocate(&mas, xa_mk_value(1), GFP_KERNEL_ACCOUNT);
	if (ret)
		return ret;
	trace_lazymap_zap(space->name, first, last - first + 1);
	lazymap_unmap_vmas(space, first, last);
	lazymap_unmap_folios(space, first, last);
	lazymap_track_zap(space, first, last);
	atomic64_inc(&space->zaps);
	if (lazymap_folios_pinned(space, first, last)) {
		mas_destroy(&mas);
		return -EBUSY;
	}
	mas_store_prealloc(&mas, xa_mk_value(1));
	return 0;
}
EXPORT_SYMBOL_GPL(lazymap_make_private);

/* Zero the pages [first, last] of every folio of the range.  Gate held. */
static void lazymap_scrub_folios(struct lazymap_space *space, pgoff_t first,
				 pgoff_t last)
{
	lazymap_walk_folios(space, first, last, LAZYMAP_FOLIO_SCRUB);
}

/**
 * lazymap_make_shared() - give a private range back to host VMAs
 * @space: a folio space
 * @start: first page offset
 * @end: page offset after the last one, greater than @start
 * @scrub: zero the memory of the range first
 *
 * Undoes lazymap_make_private(): host faults on [@start, @end) map the
 * memory again.  With @scrub, every page of the range is zeroed before a
 * host fault can see it (a guest's lent memory coming back): the caller
 * makes sure no listener maps or looks up the range any more.  Pages that
 * are not private are left as they are, also by @scrub.
 *
 * Context: may sleep; takes the gate for write.
 * Return: 0, or -EINVAL for an empty range, one beyond the space or a
 * space that is not a folio space (nothing changed); cannot fail otherwise.
 */
int lazymap_make_shared(struct lazymap_space *space, pgoff_t start,
			pgoff_t end, bool scrub)
{
	MA_STATE(mas, &space->private_ranges, start, end - 1);
	pgoff_t first, last;
	void *entry;
	int ret;

	ret = lazymap_folio_range(space, start, end, &first, &last);
	if (ret)
		return ret;

	guard(rwsem_write)(space->gate);
	/*
	 * Giving memory back cannot fail (its consumer has already taken it
	 * from the listeners): the few maple nodes a split of a private
	 * range needs are __GFP_NOFAIL, as the mm's own unmap's are.
	 */
	ret = mas_preallocate(&mas, NULL, GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	if (WARN_ON_ONCE(ret))
		return ret;
	if (scrub) {
		MA_STATE(walk, &space->private_ranges, first, first);

		mas_for_each(&walk, entry, last)
			lazymap_scrub_folios(space, max(first, walk.index),
					     min(last, walk.last));
	}
	mas_store_prealloc(&mas, NULL);
	return 0;
}
EXPORT_SYMBOL_GPL(lazymap_make_shared);

/**
 * lazymap_range_private() - whether any page of a range is private
 * @space: the space
 * @start: first page offset
 * @end: page offset after the last one, greater than @start
 *
 * Context: as lazymap_range_revoked().
 * Return: true if lazymap_make_private() covered a page of [@start, @end)
 * that no lazymap_make_shared() covered since.
 */
bool lazymap_range_private(struct lazymap_space *space, pgoff_t start,
			   pgoff_t end)
{
	return lazymap_tree_any(&space->private_ranges, start, end);
}
EXPORT_SYMBOL_GPL(lazymap_range_private);

/**
 * lazymap_space_stats() - read the counters of a space
 * @space: the space
 * @stats: filled in; see &struct lazymap_stats
 *
 * The counters are read one by one, not as one snapshot.
 *
 * Context: may sleep (takes the VMA list lock).
 */
void lazymap_space_stats(struct lazymap_space *space,
			 struct lazymap_stats *stats)
{
	int cpu, i;

	memset(stats, 0, sizeof(*stats));
	for_each_possible_cpu(cpu) {
		struct lazymap_fault_stats *fs = per_cpu_ptr(space->fault_stats, cpu);

		for (i = 0; i < LAZYMAP_NR_LEVELS; i++)
			stats->faults[i] += READ_ONCE(fs->faults[i]);
		stats->fallbacks += READ_ONCE(fs->fallbacks);
		stats->sigbus += READ_ONCE(fs->sigbus);
	}
	stats->zaps = atomic64_read(&space->zaps);
	stats->revokes = atomic64_read(&space->revokes);
	stats->restores = atomic64_read(&space->restores);
	stats->launders = atomic64_read(&space->launders);
	stats->invalidations = atomic64_read(&space->invalidations);
	mutex_lock(&space->vmas_lock);
	stats->mappings = space->nr_vmas;
	mutex_unlock(&space->vmas_lock);
}
EXPORT_SYMBOL_GPL(lazymap_space_stats);

static int __init lazymap_init(void)
{
	lazymap_wq = alloc_workqueue("lazymap", WQ_UNBOUND, 0);
	if (!lazymap_wq)
		return -ENOMEM;
	lazymap_debugfs_init();
	return 0;
}

static void __exit lazymap_exit(void)
{
	/*
	 * Consumers depend on this module's symbols, so they are gone, and
	 * waited for their spaces' releases in their own exit.
	 */
	destroy_workqueue(lazymap_wq);
	lazymap_debugfs_exit();
}

module_init(lazymap_init);
module_exit(lazymap_exit);
MODULE_DESCRIPTION("lazymap: lazily mapped, revocable memory spaces");
MODULE_LICENSE("GPL");
