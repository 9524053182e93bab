/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymap internals shared by core.c (spaces, zap/revoke, listeners,
 * launder), vma.c (mmap, faults, per-VMA tracking) and debugfs.c.
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
#include <linux/workqueue.h>
#include <kunit/visibility.h>

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

	/* Protects @vmas: the tracked VMA records (struct lazymap_vma). */
	struct mutex vmas_lock;
	struct list_head vmas;
	unsigned long nr_vmas;

	/* Protects @listeners, an interval tree of lazymap_listener.node. */
	struct mutex listeners_lock;
	struct rb_root_cached listeners;

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
};

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

/* vma.c, internals exposed to the KUnit tests */
#if IS_ENABLED(CONFIG_KUNIT)
int lazymap_fault_fits(unsigned long vm_start, unsigned long vm_end,
		       unsigned long vm_pgoff, unsigned long address,
		       unsigned int order, unsigned long *aligned,
		       pgoff_t *pgoff);
unsigned int lazymap_order_level(unsigned int order);
#endif

/* debugfs.c */
void lazymap_debugfs_init(void);
void lazymap_debugfs_exit(void);
void lazymap_debugfs_add(struct lazymap_space *space);
void lazymap_debugfs_remove(struct lazymap_space *space);

#endif /* _LAZYMAP_INTERNAL_H */
