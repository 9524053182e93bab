/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymap internals shared by core.c (spaces, zap/revoke), folio.c (folio
 * spaces' page cache, their fault, launder), listener.c (secondary-MMU
 * listeners), vma.c (mmap, per-VMA tracking, the faults of pfn and page
 * spaces) and debugfs.c.
 */
#ifndef _LAZYMAP_INTERNAL_H
#define _LAZYMAP_INTERNAL_H

#include <linux/atomic.h>
#include <linux/lazymap.h>
#include <linux/list.h>
#include <linux/maple_tree.h>
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <kunit/visibility.h>

struct vm_fault;

struct lazymap_fault_stats {
	u64 faults[LAZYMAP_NR_LEVELS];
	u64 fallbacks;
	u64 sigbus;
};

/*
 * struct lazymap_space - see <linux/lazymap.h>.
 *
 * Created by lazymap_space_create() with one reference, which the consumer
 * drops with lazymap_space_put().  Every tracked VMA holds a reference too,
 * so a space outlives its last mapping.  The last put queues @release_work,
 * which removes the debugfs files, calls ops->release() and frees the space
 * outside whatever lock the putter holds: the last put may come from
 * vm_ops->close() under mmap_lock, where waiting for a debugfs reader that
 * faults on the same mm would deadlock.  The space does not pin its
 * consumer's module; the consumer waits for the release work
 * (lazymap_wait_for_releases()) before its module goes.
 */
struct lazymap_space {
	struct kref ref;
	struct work_struct release_work;
	char *name;
	const struct lazymap_ops *ops;
	enum lazymap_kind kind;
	u64 size;
	enum lazymap_caching caching;
	void *private;

	/* The address_space every VMA of the space is linked into. */
	struct address_space *mapping;
	/* Our own inode when the mapping was not adopted, else NULL. */
	struct inode *inode;

	/*
	 * The access gate: faults hold it for read while they check and
	 * insert, zap/revoke/restore hold it for write.  Either own_gate or
	 * an adopted consumer lock.
	 */
	struct rw_semaphore *gate;
	struct rw_semaphore own_gate;

	/*
	 * Revoked page offsets: ranges storing a non-NULL entry.  The gate
	 * is the tree's (external) lock: written with it held for write,
	 * read under it for a stable answer; RCU mode keeps reads safe.
	 */
	struct maple_tree revoked;
	/*
	 * Private page offsets (lazymap_make_private()): closed to host VMAs,
	 * open to listeners.  Same locking as @revoked.
	 */
	struct maple_tree private_ranges;

	/* Protects @vmas: the tracked VMA records (struct lazymap_vma). */
	struct mutex vmas_lock;
	struct list_head vmas;
	unsigned long nr_vmas;

	/* Protects @listeners, an interval tree of lazymap_listener.node. */
	struct mutex listeners_lock;
	struct rb_root_cached listeners;

	/*
	 * The listeners' retry protocol, as KVM's mmu_invalidate_seq /
	 * mmu_invalidate_in_progress: every invalidation (zap, revoke,
	 * truncation, release) runs between lazymap_inval_begin() and
	 * lazymap_inval_end().  @inval_lock (a leaf, taken under a listener's
	 * own lock by lazymap_listener_retry()) protects @inval_seq, bumped by
	 * every end, @inval_in_progress, the number of invalidations begun
	 * and not ended, and [@inval_start, @inval_end), the union of their
	 * ranges while any is in progress.  Lookups wait on @inval_wq for the
	 * last end of an overlapping range.
	 */
	spinlock_t inval_lock;
	unsigned long inval_seq;
	unsigned long inval_in_progress;
	pgoff_t inval_start;
	pgoff_t inval_end;
	wait_queue_head_t inval_wq;

	/*
	 * Page offsets whose folio memory failure took away (folio spaces):
	 * lazymap_get_folio() and lookups refuse them with -EHWPOISON instead
	 * of backing them with new memory, until lazymap_truncate_end()
	 * covers them.  The xarray's own lock.
	 */
	struct xarray poisoned;

	/* Fault path counters: per CPU, so a fault takes no lock or atomic. */
	struct lazymap_fault_stats __percpu *fault_stats;
	/* Other counters, off the fault path. */
	atomic64_t zaps;
	atomic64_t revokes;
	atomic64_t restores;
	atomic64_t launders;
	atomic64_t invalidations;

	struct dentry *debugfs;
};

/*
 * struct lazymap_vma - the record of one live VMA of a space.
 *
 * Owned by the VMA: created by lazymap_mmap() or vm_ops->open() (fork,
 * split, mremap) and freed by vm_ops->close().  @vma is only dereferenced
 * under space->vmas_lock, which close() also takes before the VMA can be
 * freed, so the pointer never outlives the VMA.
 */
struct lazymap_vma {
	struct list_head link;		/* in space->vmas */
	struct lazymap_space *space;	/* holds a reference */
	struct vm_area_struct *vma;
	pid_t pid;			/* 0 until a task of the mm faults */
	char comm[TASK_COMM_LEN];
	atomic64_t faults[LAZYMAP_NR_LEVELS];
	atomic64_t zaps;
	/*
	 * Serializes the faults of this VMA that fill an empty PMD slot, with
	 * a page table or a PMD entry (see lazymap_insert_pte() in vma.c).
	 */
	struct mutex fault_lock;
};

/* folio.c */
void lazymap_folio_inode_init(struct lazymap_space *space);
bool lazymap_host_denied(struct lazymap_space *space, pgoff_t start,
			 pgoff_t end);
vm_fault_t lazymap_folio_fault(struct vm_fault *vmf);

/* listener.c */
void lazymap_listeners_init(struct lazymap_space *space);
void lazymap_listeners_destroy(struct lazymap_space *space);
void lazymap_inval_begin(struct lazymap_space *space, pgoff_t start,
			 pgoff_t end);
void lazymap_inval_end(struct lazymap_space *space);
void lazymap_invalidate_listeners(struct lazymap_space *space, pgoff_t start,
				  pgoff_t end, enum lazymap_inval_reason reason);
int lazymap_release_listeners(struct lazymap_space *space, pgoff_t start,
			      pgoff_t end);

/*
 * Interleaving points of the listener protocol, where the KUnit tests run
 * the other side (an invalidation or a listener's steps) deterministically.
 */
enum lazymap_hook_point {
	/* an invalidation: begun, listeners not called yet */
	LAZYMAP_HOOK_INVAL_BEGUN,
	/* an invalidation: listeners called, not ended yet */
	LAZYMAP_HOOK_INVAL_CALLED,
	/* a lookup: about to wait for an overlapping invalidation */
	LAZYMAP_HOOK_LOOKUP_WAIT,
	/* a lookup: gate held, sequence read, provider not asked yet */
	LAZYMAP_HOOK_LOOKUP_SEQ,
	/* a lookup: provider answered, gate still held */
	LAZYMAP_HOOK_LOOKUP_RESOLVED,
};

#if IS_ENABLED(CONFIG_LAZYMAP_KUNIT_TEST)
/* @fn: called at every point, set and cleared by one test at a time */
struct lazymap_kunit_hook {
	void (*fn)(struct lazymap_space *space, enum lazymap_hook_point point);
};

extern struct lazymap_kunit_hook lazymap_kunit_hook;

static inline void lazymap_hook(struct lazymap_space *space,
				enum lazymap_hook_point point)
{
	void (*fn)(struct lazymap_space *space,
		   enum lazymap_hook_point point) = READ_ONCE(lazymap_kunit_hook.fn);

	if (fn)
		fn(space, point);
}
#else
static inline void lazymap_hook(struct lazymap_space *space,
				enum lazymap_hook_point point)
{
}
#endif

/* core.c */
void lazymap_space_get(struct lazymap_space *space);
pgprot_t lazymap_space_pgprot(const struct lazymap_space *space,
			      pgprot_t prot);
/* Accessors for the KUnit tests. */
u64 lazymap_space_size(const struct lazymap_space *space);
const char *lazymap_space_name(const struct lazymap_space *space);

/* vma.c */
void lazymap_track_zap(struct lazymap_space *space, pgoff_t first,
		       pgoff_t last);
void lazymap_unmap_vmas(struct lazymap_space *space, pgoff_t first,
			pgoff_t last);
void lazymap_vma_set_owner(struct lazymap_vma *rec);
/* Also exposed to the KUnit tests (EXPORT_SYMBOL_IF_KUNIT). */
int lazymap_fault_fits(unsigned long vm_start, unsigned long vm_end,
		       unsigned long vm_pgoff, unsigned long address,
		       unsigned int order, unsigned long *aligned,
		       pgoff_t *pgoff);

/* vma.c, internals exposed to the KUnit tests */
#if IS_ENABLED(CONFIG_KUNIT)
unsigned int lazymap_order_level(unsigned int order);
#endif

/* debugfs.c */
void lazymap_debugfs_init(void);
void lazymap_debugfs_exit(void);
void lazymap_debugfs_add(struct lazymap_space *space);
void lazymap_debugfs_remove(struct lazymap_space *space);

#endif /* _LAZYMAP_INTERNAL_H */
