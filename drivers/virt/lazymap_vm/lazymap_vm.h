/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymap-vm internals, shared by vm.c (device, VM fd), slots.c (memory
 * slots), vcpu.c (vCPU fd, guest access), stage2.c (the software stage 2),
 * mmu.c (fault path, MMU notifier), lock.c (slot lock), dirty.c (dirty log),
 * gmem.c (guest_memfd files), bind.c (guest_memfd bindings, MAP_MEM) and
 * debugfs.c.
 *
 * Objects:
 * - struct lazymap_vm: one per CREATE_VM, reference counted.  The VM fd
 *   holds a reference, every vCPU fd another; the last put deletes the
 *   slots (unlocking them), destroys the stage 2 and drops the mm.
 * - struct lazymap_vm_slot: one user memory slot, owned by the VM, from
 *   SET_USER_MEMORY_REGION(2) to its deletion or the VM's end.  It keeps the
 *   userspace address, never a VMA: the range may span any number of VMAs
 *   and is watched by one mmu_interval_notifier.
 * - struct lazymap_vm_vcpu: owned by the VM (freed with it); the vCPU fd
 *   points at it and holds a VM reference.
 * - struct lazymap_vm_s2: the stage 2, behind struct lazymap_vm_backend_ops.
 * - struct lazymap_vm_gmem: one per guest_memfd file, from CREATE_GUEST_MEMFD
 *   to the file's last close; holds a VM reference and a folio space of the
 *   lazymap core whose own inode is the file's.
 * - struct lazymap_vm_binding: a range of a guest_memfd mapped at a guest
 *   range, LEND or SHARE, from MAP_MEM (or a GUEST_MEMFD slot, which owns
 *   one) to its unmap, the slot's deletion or the file's last close.
 *
 * Lock order (also in Documentation/driver-api/lazymap-vm.rst):
 *
 *   vcpu->mutex -> vm->slots_lock -> mmap_lock -> vm->mmu_lock -> xa_lock
 *   vm->slots_lock -> guest_memfd gate -> listeners_lock -> vm->mmu_lock
 *   filemap_invalidate_lock -> folio lock -> listeners_lock -> vm->mmu_lock
 *
 * mmap_lock is taken under slots_lock (GUP, pinning, notifier insertion),
 * never under mmu_lock.  The invalidate callback runs under mmap_lock or
 * i_mmap_rwsem, possibly in reclaim: it only takes mmu_lock, a spinning
 * rwlock, so nothing may allocate with a blocking gfp or touch user memory
 * (copy_to_user(), copy_from_user()) under mmu_lock.
 */
#ifndef _LAZYMAP_VM_H
#define _LAZYMAP_VM_H

#include <linux/atomic.h>
#include <linux/interval_tree.h>
#include <linux/kref.h>
#include <linux/lazymap.h>
#include <linux/maple_tree.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/xarray.h>
#include <kunit/visibility.h>
#include <linux/lazymap_vm.h>

/* Stage-2 levels: 4 KiB, 2 MiB and 1 GiB entries (order 0, 9, 18). */
enum lazymap_vm_level {
	LAZYMAP_VM_LEVEL_4K,
	LAZYMAP_VM_LEVEL_2M,
	LAZYMAP_VM_LEVEL_1G,
	LAZYMAP_VM_NR_LEVELS,
};

static inline unsigned int lazymap_vm_level_order(unsigned int level)
{
	return level * 9;
}

static inline u64 lazymap_vm_level_pages(unsigned int level)
{
	return 1ULL << lazymap_vm_level_order(level);
}

/* Stage-2 permissions, and whether the pfn is I/O memory (no struct page). */
#define LAZYMAP_VM_PERM_R	BIT(0)
#define LAZYMAP_VM_PERM_W	BIT(1)
#define LAZYMAP_VM_PERM_X	BIT(2)
#define LAZYMAP_VM_PERM_RWX	(LAZYMAP_VM_PERM_R | LAZYMAP_VM_PERM_W | \
				 LAZYMAP_VM_PERM_X)
#define LAZYMAP_VM_S2_IO	BIT(3)

/**
 * struct lazymap_vm_s2_entry - one stage-2 mapping
 * @gfn: first guest frame, aligned to the level
 * @pfn: first host frame, aligned to the level
 * @level: enum lazymap_vm_level
 * @perm: LAZYMAP_VM_PERM_* and LAZYMAP_VM_S2_IO
 */
struct lazymap_vm_s2_entry {
	u64 gfn;
	u64 pfn;
	unsigned int level;
	unsigned int perm;
};

struct lazymap_vm_s2;

/**
 * struct lazymap_vm_backend_ops - a stage-2 implementation
 * @prepare: allocate what mapping @gfn will need, outside mmu_lock
 * @cancel: give back what @prepare allocated if @map did not use it
 * @map: install @e, dropping the entries it overlaps; never allocates
 *	 after a successful @prepare of @e->gfn
 * @unmap: drop every entry overlapping [@start, @end); returns the pages
 * @protect: clear @clear from the permissions of the entries overlapping
 *	     [@start, @end); returns the pages changed
 * @lookup: the entry covering @gfn, if any
 * @walk: call @fn on every entry overlapping [@start, @end) until it
 *	  returns nonzero, which is returned
 * @destroy: free everything
 *
 * Every call but @prepare, @cancel and @destroy runs under the VM's
 * mmu_lock, for write except @lookup and @walk.  A hypervisor driver
 * that keeps the stage 2 in the hypervisor would issue its hypercalls here.
 */
struct lazymap_vm_backend_ops {
	int (*prepare)(struct lazymap_vm_s2 *s2, u64 gfn);
	void (*cancel)(struct lazymap_vm_s2 *s2, u64 gfn);
	int (*map)(struct lazymap_vm_s2 *s2, const struct lazymap_vm_s2_entry *e);
	u64 (*unmap)(struct lazymap_vm_s2 *s2, u64 start, u64 end);
	u64 (*protect)(struct lazymap_vm_s2 *s2, u64 start, u64 end,
		       unsigned int clear);
	bool (*lookup)(struct lazymap_vm_s2 *s2, u64 gfn,
		       struct lazymap_vm_s2_entry *e);
	int (*walk)(struct lazymap_vm_s2 *s2, u64 start, u64 end,
		    int (*fn)(const struct lazymap_vm_s2_entry *e, void *data),
		    void *data);
	void (*destroy)(struct lazymap_vm_s2 *s2);
};

/**
 * struct lazymap_vm_s2 - a VM's stage 2
 * @ops: the backend
 * @entries: software backend: gfn of each entry's first frame -> packed
 *	     pfn, level and permissions (an xarray value)
 * @pages: 4 KiB pages mapped now
 * @nr_entries: entries mapped now, by level
 * @installed: entries installed since creation, by level
 */
struct lazymap_vm_s2 {
	const struct lazymap_vm_backend_ops *ops;
	struct xarray entries;
	atomic64_t pages;
	atomic64_t nr_entries[LAZYMAP_VM_NR_LEVELS];
	atomic64_t installed[LAZYMAP_VM_NR_LEVELS];
};

/**
 * struct lazymap_vm_slot - a user memory slot
 * @vm: the owner
 * @id: the slot number (address space 0)
 * @flags: LAZYMAP_VM_MEM_*; written under slots_lock and mmu_lock
 * @base_gfn: first guest frame; written under slots_lock and mmu_lock,
 *	      so the invalidate callback reads it under mmu_lock
 * @npages: size in pages
 * @hva: userspace address of the first page
 * @node: in vm->gpa_tree, [base_gfn, base_gfn + npages - 1]
 * @notifier: watches [hva, hva + npages pages) of vm->mm
 * @dirty_bitmap: with LOG_DIRTY_PAGES, a bit per page written since the
 *		  last GET_DIRTY_LOG; bits set under mmu_lock, taken by xchg()
 * @pinned: the pinned pages of a locked slot, else NULL
 * @lock_perm: LAZYMAP_VM_LOCK_MEM_* of a locked slot
 * @binding: a GUEST_MEMFD slot's binding, else NULL
 */
struct lazymap_vm_slot {
	struct lazymap_vm *vm;
	u16 id;
	u32 flags;
	u64 base_gfn;
	u64 npages;
	unsigned long hva;
	struct interval_tree_node node;
	struct mmu_interval_notifier notifier;
	unsigned long *dirty_bitmap;
	struct page **pinned;
	u64 lock_perm;
	struct lazymap_vm_binding *binding;
};

/**
 * struct lazymap_vm_gmem - a guest_memfd
 * @vm: the VM it belongs to, with a reference (the file pins the VM)
 * @space: the folio space holding its memory; the file's inode is the
 *	   space's own
 * @size: bytes
 * @flags: LAZYMAP_VM_GUEST_MEMFD_FLAG_*
 * @bindings: its bindings by page offset range (vm->slots_lock)
 * @name: its space's name (debugfs lazymap/<name>/)
 */
struct lazymap_vm_gmem {
	struct lazymap_vm *vm;
	struct lazymap_space *space;
	u64 size;
	u64 flags;
	struct rb_root_cached bindings;
	char name[32];
};

/**
 * struct lazymap_vm_binding - guest frames backed by a guest_memfd range
 * @vm: the VM
 * @gmem: the guest_memfd; NULL once its file is closed (a slot's binding
 *	  stays, and its frames fault)
 * @slot: the GUEST_MEMFD slot owning it, or NULL for a MAP_MEM binding
 * @gfn: first guest frame
 * @npages: size in pages
 * @pgoff: first page offset in the guest_memfd
 * @flags: LAZYMAP_VM_MAP_* (LEND or SHARE, R/W/X)
 * @perm: the stage-2 permissions, LAZYMAP_VM_PERM_*
 * @delta: gfn - pgoff (mod 2^64), the same for every piece an unmap
 *	   leaves: the invalidate callback translates offsets with it alone
 * @file_node: in gmem->bindings, [@pgoff, @pgoff + @npages - 1]
 * @listener: registered with the guest_memfd's space over the same range
 *
 * @gfn, @npages and @pgoff change only under slots_lock held for write
 * (an unmap trims them).
 */
struct lazymap_vm_binding {
	struct lazymap_vm *vm;
	struct lazymap_vm_gmem *gmem;
	struct lazymap_vm_slot *slot;
	u64 gfn;
	u64 npages;
	u64 pgoff;
	u32 flags;
	unsigned int perm;
	u64 delta;
	struct interval_tree_node file_node;
	struct lazymap_listener listener;
};

/**
 * struct lazymap_vm_vcpu - a vCPU
 * @vm: the owner
 * @id: 0..LAZYMAP_VM_MAX_VCPUS - 1
 * @mutex: serializes the vCPU's ioctls and protects @bounce
 * @bounce: staging buffer between guest memory and the caller's buffer,
 *	    so user memory is never touched under mmu_lock
 */
struct lazymap_vm_vcpu {
	struct lazymap_vm *vm;
	u32 id;
	struct mutex mutex;	/* see above */
	void *bounce;
};

#define LAZYMAP_VM_BOUNCE_SIZE	(64 * 1024)

/**
 * struct lazymap_vm - a VM
 * @refs: the VM fd and each vCPU fd hold one
 * @mm: the creator's mm (mmgrab()); every VM and vCPU ioctl must come from it
 * @slots_lock: protects the slot set (@slots, @gpa_tree, @nr_slot_pages)
 *		and each slot's fields: write to change them, read to use
 *		them (guest access, dirty log, debugfs)
 * @slots: slot id -> struct lazymap_vm_slot
 * @gpa_tree: the slots by guest frame range, for O(log n) lookup
 * @bindings: guest frame ranges -> struct lazymap_vm_binding (both kinds);
 *	      changed under slots_lock held for write
 * @nr_slot_pages: pages of all slots together
 * @mmu_lock: protects the stage 2 against the invalidate callback; held
 *	      for read to use an entry (copy guest data), for write to
 *	      install, drop or protect entries
 * @s2: the stage 2
 * @vcpus: vCPU id -> struct lazymap_vm_vcpu; never shrinks
 * @has_run: an ACCESS passed its argument checks (slot lock refuses then)
 * @invalidations: invalidate callbacks that dropped entries
 * @s2_invalidated: 4 KiB pages dropped by invalidation
 * @locked_pages: pages pinned by slot locks now
 * @mmio_exits: MMIO exits
 * @memory_faults: MEMORY_FAULT exits
 * @debugfs: the VM's debugfs directory
 */
struct lazymap_vm {
	struct kref refs;
	struct mm_struct *mm;

	struct rw_semaphore slots_lock;
	struct xarray slots;
	struct rb_root_cached gpa_tree;
	struct maple_tree bindings;
	u64 nr_slot_pages;

	rwlock_t mmu_lock;
	struct lazymap_vm_s2 s2;

	struct xarray vcpus;
	bool has_run;

	atomic64_t invalidations;
	atomic64_t s2_invalidated;
	atomic64_t locked_pages;
	atomic64_t mmio_exits;
	atomic64_t memory_faults;

	struct dentry *debugfs;
};

/* vm.c */
struct lazymap_vm *lazymap_vm_alloc(void);
void lazymap_vm_put(struct lazymap_vm *vm);
bool lazymap_vm_is_owner(struct lazymap_vm *vm);

/* slots.c */
enum lazymap_vm_change {
	LAZYMAP_VM_CREATE,
	LAZYMAP_VM_DELETE,
	LAZYMAP_VM_MOVE,
	LAZYMAP_VM_FLAGS_ONLY,
	LAZYMAP_VM_UNCHANGED,
};

int lazymap_vm_set_user_memory_region(struct lazymap_vm *vm, void __user *argp,
				      bool v2);
struct lazymap_vm_slot *lazymap_vm_slot_find(struct lazymap_vm *vm, u64 gfn);
bool lazymap_vm_slots_overlap(struct lazymap_vm *vm, u64 first, u64 last);
void lazymap_vm_delete_all_slots(struct lazymap_vm *vm);
#if IS_ENABLED(CONFIG_KUNIT)
int lazymap_vm_check_region(const struct lazymap_vm_userspace_memory_region2 *mem,
			    bool v1);
int lazymap_vm_classify_region(struct lazymap_vm *vm,
			       const struct lazymap_vm_userspace_memory_region2 *mem,
			       struct lazymap_vm_slot **oldp);
struct lazymap_vm_slot *lazymap_vm_slot_new(struct lazymap_vm *vm, u16 id,
					    u32 flags, u64 gpa, u64 size,
					    u64 hva);
int lazymap_vm_slot_link(struct lazymap_vm *vm, struct lazymap_vm_slot *slot);
void lazymap_vm_slot_unlink(struct lazymap_vm *vm, struct lazymap_vm_slot *slot);
#endif

/* stage2.c */
extern const struct lazymap_vm_backend_ops lazymap_vm_sw_backend;
void lazymap_vm_s2_init(struct lazymap_vm_s2 *s2,
			const struct lazymap_vm_backend_ops *ops);
unsigned int lazymap_vm_max_level(u64 gfn, unsigned long hva, u64 base_gfn,
				  u64 npages, unsigned int host_level);

/* mmu.c */
extern const struct mmu_interval_notifier_ops lazymap_vm_notifier_ops;
int lazymap_vm_fault(struct lazymap_vm *vm, struct lazymap_vm_slot *slot,
		     u64 gfn, bool write);
void lazymap_vm_drop_slot_s2(struct lazymap_vm *vm, struct lazymap_vm_slot *slot);

/* gmem.c */
int lazymap_vm_create_guest_memfd(struct lazymap_vm *vm, void __user *argp);
struct lazymap_vm_gmem *lazymap_vm_gmem_get_file(struct lazymap_vm *vm,
						 unsigned int fd,
						 struct file **filep);
#if IS_ENABLED(CONFIG_KUNIT)
struct lazymap_vm_gmem *lazymap_vm_gmem_alloc(struct lazymap_vm *vm, u64 size,
					      u64 flags);
void lazymap_vm_gmem_free(struct lazymap_vm_gmem *gmem);
#endif

/* bind.c */
#define LAZYMAP_VM_MAP_KINDS	(LAZYMAP_VM_MAP_LEND | LAZYMAP_VM_MAP_SHARE)
int lazymap_vm_map_mem(struct lazymap_vm *vm, void __user *argp);
int lazymap_vm_bind(struct lazymap_vm *vm, struct lazymap_vm_gmem *gmem,
		    struct lazymap_vm_slot *slot, u64 gfn, u64 pgoff,
		    u64 npages, u32 flags, struct lazymap_vm_binding **bp);
void lazymap_vm_unbind(struct lazymap_vm *vm, struct lazymap_vm_binding *b);
struct lazymap_vm_binding *lazymap_vm_binding_find(struct lazymap_vm *vm,
						   u64 gfn);
bool lazymap_vm_bindings_overlap(struct lazymap_vm *vm, u64 first, u64 last);
void lazymap_vm_gmem_release_bindings(struct lazymap_vm_gmem *gmem);
int lazymap_vm_binding_fault(struct lazymap_vm *vm,
			     struct lazymap_vm_binding *b, u64 gfn);
#if IS_ENABLED(CONFIG_KUNIT)
int lazymap_vm_unmap_split(u64 b_gfn, u64 b_npages, u64 gfn, u64 npages,
			   u64 *head, u64 *tail);
#endif

/* vcpu.c */
int lazymap_vm_create_vcpu(struct lazymap_vm *vm, unsigned long id);

/* lock.c */
int lazymap_vm_enable_cap(struct lazymap_vm *vm, void __user *argp);
void lazymap_vm_slot_unlock(struct lazymap_vm *vm, struct lazymap_vm_slot *slot);

/* dirty.c */
int lazymap_vm_dirty_log_enable(struct lazymap_vm *vm,
				struct lazymap_vm_slot *slot);
void lazymap_vm_dirty_log_disable(struct lazymap_vm_slot *slot);
int lazymap_vm_get_dirty_log(struct lazymap_vm *vm, void __user *argp);

/* debugfs.c */
void lazymap_vm_debugfs_init(void);
void lazymap_vm_debugfs_exit(void);
void lazymap_vm_debugfs_add(struct lazymap_vm *vm);
void lazymap_vm_debugfs_remove(struct lazymap_vm *vm);

#endif /* _LAZYMAP_VM_H */
