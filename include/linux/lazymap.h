/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymap: memory that is mapped lazily and can be taken back.
 *
 * A &struct lazymap_space is one address_space worth of memory (a device
 * BAR, a RAM-backed "device memory" region, a file's folios) that userspace
 * maps with mmap().  Nothing is mapped at mmap() time: every page table
 * entry is created by a fault, under the space's access gate, from what the
 * consumer's provider (&struct lazymap_ops) resolves.  Every mapping can be
 * taken back by one call: lazymap_zap() (refault on next access),
 * lazymap_revoke() (SIGBUS until lazymap_restore()), which unmap the range
 * from every host VMA with one unmap_mapping_range() and then invalidate it
 * in every registered secondary MMU (&struct lazymap_listener, e.g. a
 * guest's stage 2).
 *
 * Ranges of a space are [start, end) page offsets, as in
 * &struct mmu_notifier_range.  The lock order, and what providers and
 * listeners must not do, is in Documentation/driver-api/lazymap.rst.
 */
#ifndef _LINUX_LAZYMAP_H
#define _LINUX_LAZYMAP_H

#include <linux/fs.h>
#include <linux/interval_tree.h>
#include <linux/kref.h>
#include <linux/maple_tree.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/types.h>

struct lazymap_space;
struct seq_file;

/* Fault sizes the statistics count: 4 KiB, PMD (2 MiB), PUD (1 GiB). */
enum lazymap_level {
	LAZYMAP_LEVEL_PTE,
	LAZYMAP_LEVEL_PMD,
	LAZYMAP_LEVEL_PUD,
	LAZYMAP_NR_LEVELS,
};

/**
 * struct lazymap_resolved - what a provider backs a page offset with
 * @pfn: the first pfn of the aligned block containing the offset
 *	(pfn spaces); the block holds 2^@order pages
 * @page: the page backing the offset (page spaces), a reference the core
 *	does not take over: the provider keeps the page alive while it is
 *	part of the space
 * @folio: the folio containing the offset (folio spaces): a folio of the
 *	space's mapping, uptodate, at index @folio->index; with a reference
 *	that the core takes over (lazymap_get_folio() returns one)
 * @order: the largest order the provider can back at this offset: the
 *	block [pgoff & ~(2^order - 1), +2^order) is physically contiguous and
 *	naturally aligned (pfn and page spaces; folio spaces use the folio's)
 */
struct lazymap_resolved {
	unsigned long pfn;
	struct page *page;
	struct folio *folio;
	unsigned int order;
};

/**
 * struct lazymap_ops - a consumer's provider
 * @resolve: back page offset @pgoff, for a fault of up to @order.  Called
 *	with the gate held for read, may sleep and allocate (GFP_KERNEL).
 *	Returns 0, -ENOMEM (the fault gets VM_FAULT_OOM) or any other error
 *	(VM_FAULT_SIGBUS).
 * @accessible: optional; whether the memory can be accessed at all now
 *	(e.g. PCI memory decoding enabled).  Called with the gate held for
 *	read; false makes faults SIGBUS.
 * @release: optional; called once, from a workqueue, after the last
 *	reference to the space is dropped; no other op is called after it.
 *	lazymap_wait_for_releases() waits for it.
 * @describe: optional; print what the space's memory is, as "name: value"
 *	lines, in debugfs lazymap/<name>/stats instead of its size (e.g. the
 *	BARs of a device whose space spans a sparse offset space).  Called
 *	with no lazymap lock held, while the space is alive.
 */
struct lazymap_ops {
	int (*resolve)(struct lazymap_space *space, pgoff_t pgoff,
		       unsigned int order, struct lazymap_resolved *res);
	bool (*accessible)(struct lazymap_space *space);
	void (*release)(struct lazymap_space *space);
	void (*describe)(struct lazymap_space *space, struct seq_file *m);
};

/**
 * enum lazymap_caching - how host VMAs of a space cache its memory
 * @LAZYMAP_CACHED: the VMA's default, write-back: RAM; the only choice
 *	for page and folio spaces, whose memory the direct map already
 *	maps write-back (a second, uncached alias is undefined on x86)
 * @LAZYMAP_UNCACHED: pgprot_noncached(), UC: device registers, BARs
 * @LAZYMAP_WRITE_COMBINE: pgprot_writecombine(), WC: device memory
 *	written in bursts, e.g. a framebuffer
 */
enum lazymap_caching {
	LAZYMAP_CACHED,
	LAZYMAP_UNCACHED,
	LAZYMAP_WRITE_COMBINE,
};

/* enum lazymap_kind - how a space's memory is mapped into host VMAs */
enum lazymap_kind {
	/* pfns without struct page semantics (VM_PFNMAP): device BARs, huge */
	LAZYMAP_KIND_PFN,
	/* refcounted pages (VM_MIXEDMAP, vm_insert_page()), 4 KiB entries */
	LAZYMAP_KIND_PAGE,
	/*
	 * folios of the space's page cache, mapped as a file's are: 4 KiB
	 * entries, PMD entries for PMD-sized folios (THP)
	 */
	LAZYMAP_KIND_FOLIO,
};

/**
 * struct lazymap_space_params - how to create a space
 * @name: debugfs directory name under lazymap/ (copied)
 * @ops: the provider
 * @kind: &enum lazymap_kind
 * @size: bytes the space can map, a multiple of PAGE_SIZE
 * @mapping: adopt this address_space (e.g. a VFIO device inode's) instead
 *	of creating an inode; the caller keeps it alive longer than the space.
 *	For a folio space it must have a_ops->dirty_folio, an i_size covering
 *	@size and, for PMD entries, large folios enabled; an own inode gets
 *	all that (see Documentation/driver-api/lazymap.rst)
 * @gate: adopt this rw_semaphore (e.g. vfio-pci-core's memory_lock) as the
 *	access gate instead of the space's own
 * @caching: &enum lazymap_caching; %LAZYMAP_CACHED (0) unless a pfn space
 *	of device memory says otherwise
 * @private: consumer data, lazymap_space_private()
 *
 * The space does not pin the module of @ops: see lazymap_space_put().
 */
struct lazymap_space_params {
	const char *name;
	const struct lazymap_ops *ops;
	enum lazymap_kind kind;
	u64 size;
	struct address_space *mapping;
	struct rw_semaphore *gate;
	enum lazymap_caching caching;
	void *private;
};

/**
 * enum lazymap_inval_reason - why a listener is asked to drop a range
 * @LAZYMAP_INVAL_ZAP: lazymap_zap(); the next lookup backs it again
 * @LAZYMAP_INVAL_REVOKE: lazymap_revoke(); lookups fail with -EACCES until
 *	lazymap_restore()
 * @LAZYMAP_INVAL_TRUNCATE: folios leave the page cache (invalidate_folio:
 *	truncation, punch hole, the space's release) or are poisoned (memory
 *	failure); the memory is freed or unusable after the callback returns
 * @LAZYMAP_INVAL_RELEASE: the page cache asks to let folios go
 *	(release_folio, launder_folio) and would keep them if refused; only
 *	passed to &lazymap_listener_ops.invalidate of listeners without a
 *	&lazymap_listener_ops.release callback
 */
enum lazymap_inval_reason {
	LAZYMAP_INVAL_ZAP,
	LAZYMAP_INVAL_REVOKE,
	LAZYMAP_INVAL_TRUNCATE,
	LAZYMAP_INVAL_RELEASE,
};

struct lazymap_listener;

/**
 * struct lazymap_listener_ops - a secondary MMU mapping part of a space
 * @invalidate: drop every entry mapping page offsets [@start, @end)
 *	(already clipped to the listener's range).  Cannot refuse: when it
 *	returns, the listener maps nothing of the range and holds no folio
 *	reference of it.  Called with the listeners lock held, between
 *	lazymap_listener_retry()'s begin and end of the invalidation; for zap
 *	and revoke with the gate held for write, for truncation with the
 *	folio locked.  May take the listener's own lock; must not take the
 *	gate, mmap_lock or a folio lock, nor sleep waiting for a fault.
 * @release: optional; the page cache asks to let [@start, @end) go
 *	(release_folio, launder_folio), where the kernel honours a refusal.
 *	Return 0 after dropping every entry of the range as @invalidate
 *	does, or -EBUSY to keep them (the folio stays in the page cache).
 *	Same context as @invalidate.  Without it, @invalidate is called with
 *	%LAZYMAP_INVAL_RELEASE and the release always succeeds.
 */
struct lazymap_listener_ops {
	void (*invalidate)(struct lazymap_listener *listener, pgoff_t start,
			   pgoff_t end, enum lazymap_inval_reason reason);
	int (*release)(struct lazymap_listener *listener, pgoff_t start,
		       pgoff_t end);
};

/**
 * struct lazymap_listener - embedded by a secondary MMU binding
 * @node: page offsets [start, last] in the space's listener tree (the
 *	interval tree's inclusive form of [start, end))
 * @ops: callbacks
 * @space: the space, set by lazymap_listener_register()
 */
struct lazymap_listener {
	struct interval_tree_node node;
	const struct lazymap_listener_ops *ops;
	struct lazymap_space *space;
};

/**
 * struct lazymap_lookup - what backs a page offset, for a listener
 * @pfn: the pfn backing the page offset looked up (not the block's first)
 * @folio: folio spaces: the folio containing the offset, with a reference
 *	the listener holds until lazymap_lookup_put(); NULL otherwise
 * @start: first page offset of the block the listener may map: the block
 *	[@start, @start + 2^@order) is naturally aligned, contains the offset,
 *	lies in the listener's range, is backed by the physically contiguous,
 *	naturally aligned pfns from @pfn - (offset - @start), and none of it
 *	is revoked
 * @order: the block's order, at most the order asked for
 * @seq: the invalidation sequence the lookup began at, for
 *	lazymap_listener_retry()
 */
struct lazymap_lookup {
	unsigned long pfn;
	struct folio *folio;
	pgoff_t start;
	unsigned int order;
	unsigned long seq;
};

/**
 * struct lazymap_stats - counters of one space (monotonic but @mappings)
 * @faults: faults served, by &enum lazymap_level
 * @fallbacks: huge faults that fell back to a smaller size
 * @sigbus: faults refused with SIGBUS (revoked, inaccessible, provider error)
 * @zaps: zaps through lazymap, including those of revokes
 * @revokes: successful lazymap_revoke() calls
 * @restores: successful lazymap_restore() calls
 * @launders: truncations, releases and memory failures of folios (the
 *	folio helpers and lazymap_truncate_begin())
 * @invalidations: listener invalidate callbacks made
 * @mappings: VMAs tracked now
 */
struct lazymap_stats {
	u64 faults[LAZYMAP_NR_LEVELS];
	u64 fallbacks;
	u64 sigbus;
	u64 zaps;
	u64 revokes;
	u64 restores;
	u64 launders;
	u64 invalidations;
	u64 mappings;
};

struct lazymap_space *__must_check
lazymap_space_create(const struct lazymap_space_params *params);
void lazymap_space_put(struct lazymap_space *space);
void lazymap_wait_for_releases(void);
void *lazymap_space_private(const struct lazymap_space *space);
struct address_space *lazymap_space_mapping(const struct lazymap_space *space);
struct rw_semaphore *lazymap_space_gate(const struct lazymap_space *space);
struct file *lazymap_space_file(struct lazymap_space *space, const char *name,
				int flags, const struct file_operations *fops);

int __must_check lazymap_mmap(struct lazymap_space *space,
			      struct vm_area_struct *vma);

int lazymap_zap(struct lazymap_space *space, pgoff_t start, pgoff_t end);
int __lazymap_zap(struct lazymap_space *space, pgoff_t start, pgoff_t end);
int __must_check lazymap_revoke(struct lazymap_space *space, pgoff_t start,
				pgoff_t end);
int __must_check lazymap_restore(struct lazymap_space *space, pgoff_t start,
				 pgoff_t end);
bool lazymap_range_revoked(struct lazymap_space *space, pgoff_t start,
			   pgoff_t end);
int __must_check lazymap_make_private(struct lazymap_space *space,
				      pgoff_t start, pgoff_t end);
int __must_check lazymap_make_shared(struct lazymap_space *space,
				     pgoff_t start, pgoff_t end, bool scrub);
bool lazymap_range_private(struct lazymap_space *space, pgoff_t start,
			   pgoff_t end);

int __must_check lazymap_listener_register(struct lazymap_space *space,
					   struct lazymap_listener *listener,
					   pgoff_t start, pgoff_t end);
void lazymap_listener_unregister(struct lazymap_listener *listener);
int __must_check lazymap_listener_resize(struct lazymap_listener *listener,
					 pgoff_t start, pgoff_t end);
int __must_check lazymap_listener_lookup(struct lazymap_listener *listener,
					 pgoff_t pgoff, unsigned int order,
					 struct lazymap_lookup *lookup);
bool __must_check lazymap_listener_retry(struct lazymap_listener *listener,
					 const struct lazymap_lookup *lookup);
void lazymap_lookup_put(struct lazymap_lookup *lookup);

struct folio *__must_check lazymap_get_folio(struct lazymap_space *space,
					     pgoff_t pgoff,
					     unsigned int order);

void lazymap_truncate_begin(struct lazymap_space *space, pgoff_t start,
			    pgoff_t end);
void lazymap_truncate_end(struct lazymap_space *space, pgoff_t start,
			  pgoff_t end);
void lazymap_invalidate_folio(struct lazymap_space *space,
			      struct folio *folio, size_t offset, size_t len);
int __must_check lazymap_launder_folio(struct lazymap_space *space,
				       struct folio *folio);
bool __must_check lazymap_release_folio(struct lazymap_space *space,
					struct folio *folio);
int __must_check lazymap_error_remove_folio(struct lazymap_space *space,
					    struct folio *folio);

void lazymap_space_stats(struct lazymap_space *space,
			 struct lazymap_stats *stats);

#endif /* _LINUX_LAZYMAP_H */
