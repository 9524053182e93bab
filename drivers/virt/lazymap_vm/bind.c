// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vm guest_memfd bindings: guest frame ranges backed by a range of
 * a guest_memfd, LEND (the host loses access) or SHARE (both access).
 *
 * Both entry points share this code: MAP_MEM creates and unmaps bindings
 * (Gunyah's map-mem arguments), and a GUEST_MEMFD slot owns one LEND|RWX
 * binding from its creation to its deletion.  A binding is indexed twice,
 * under slots_lock: in the VM's maple tree by guest frame range (the
 * lookup of VCPU_ACCESS, the overlap check against slots and other
 * bindings) and in its guest_memfd's interval tree by page offset range
 * (the overlap check on the file's axis, the guest_memfd's last close).
 * Ranges are half-open on both axes: adjacent bindings do not overlap.
 *
 * A binding is a listener of the guest_memfd's space (lazymap core): its
 * stage-2 faults go through lazymap_listener_lookup() and
 * lazymap_listener_retry(), and every punch hole, launder, release or
 * memory failure of the file reaches its invalidate callback, which drops
 * the stage-2 entries under mmu_lock.  LEND makes the range private in the
 * space (lazymap_make_private()): host faults there SIGBUS; when the range
 * comes back (unmap, slot deletion) the guest's entries go first, then the
 * memory is zeroed and handed back (lazymap_make_shared(), which cannot
 * fail).
 *
 * The Gunyah v16 bindings this follows had an inverted overlap test, an
 * off-by-one at a range's end, head and tail trims swapped, an end delta
 * that wrapped, no split of the middle and leaks on error paths; the range
 * math here is lazymap_vm_unmap_split(), tested by KUnit with those cases.
 */
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "lazymap_vm.h"

#define LAZYMAP_VM_MAP_FLAGS	(LAZYMAP_VM_MAP_ACCESS_MASK | \
				 LAZYMAP_VM_MAP_RWX | LAZYMAP_VM_MAP_UNMAP)

static struct lazymap_vm_binding *
lazymap_vm_listener_binding(struct lazymap_listener *listener)
{
	return container_of(listener, struct lazymap_vm_binding, listener);
}

/*
 * The space asks the binding to drop page offsets [start, end): truncation,
 * launder, release, memory failure.  Cannot refuse; takes mmu_lock only.
 */
static void lazymap_vm_binding_invalidate(struct lazymap_listener *listener,
					  pgoff_t start, pgoff_t end,
					  enum lazymap_inval_reason reason)
{
	struct lazymap_vm_binding *b = lazymap_vm_listener_binding(listener);
	struct lazymap_vm *vm = b->vm;
	u64 first = start + b->delta;
	u64 dropped;

	write_lock(&vm->mmu_lock);
	dropped = vm->s2.ops->unmap(&vm->s2, first, first + (end - start));
	write_unlock(&vm->mmu_lock);
	if (dropped) {
		atomic64_add(dropped, &vm->s2_invalidated);
		atomic64_inc(&vm->invalidations);
	}
}

static const struct lazymap_listener_ops lazymap_vm_binding_listener_ops = {
	.invalidate = lazymap_vm_binding_invalidate,
};

static unsigned int lazymap_vm_map_perm(u32 flags)
{
	return (flags & LAZYMAP_VM_MAP_READ ? LAZYMAP_VM_PERM_R : 0) |
	       (flags & LAZYMAP_VM_MAP_WRITE ? LAZYMAP_VM_PERM_W : 0) |
	       (flags & LAZYMAP_VM_MAP_EXEC ? LAZYMAP_VM_PERM_X : 0);
}

/* Drop the stage-2 entries of guest frames [gfn, gfn + npages). */
static void lazymap_vm_drop_s2(struct lazymap_vm *vm, u64 gfn, u64 npages)
{
	write_lock(&vm->mmu_lock);
	vm->s2.ops->unmap(&vm->s2, gfn, gfn + npages);
	write_unlock(&vm->mmu_lock);
}

/* Hand a lent range back to the host, zeroed (cannot fail). */
static void lazymap_vm_reclaim(struct lazymap_vm_gmem *gmem, u64 pgoff,
			       u64 npages)
{
	WARN_ON_ONCE(lazymap_make_shared(gmem->space, pgoff, pgoff + npages,
					 true));
}

/*
 * Remove guest frames [first, last] from the VM's tree.  Taking a binding
 * away cannot fail (a slot's deletion, a guest_memfd's last close), but a
 * maple tree store may need a node even to erase: __GFP_NOFAIL, as for the
 * few nodes the mm itself needs to unmap.
 */
static void lazymap_vm_bindings_clear(struct lazymap_vm *vm, u64 first,
				      u64 last)
{
	WARN_ON_ONCE(mtree_store_range(&vm->bindings, first, last, NULL,
				       GFP_KERNEL_ACCOUNT | __GFP_NOFAIL));
}

/**
 * lazymap_vm_binding_find() - the binding holding a guest frame
 * @vm: the VM, slots_lock held
 * @gfn: guest frame number
 *
 * Return: the binding or NULL.
 */
struct lazymap_vm_binding *lazymap_vm_binding_find(struct lazymap_vm *vm,
						   u64 gfn)
{
	lockdep_assert_held(&vm->slots_lock);
	return mtree_load(&vm->bindings, gfn);
}

/**
 * lazymap_vm_bindings_overlap() - does a binding hold a frame of a range?
 * @vm: the VM, slots_lock held
 * @first: first guest frame
 * @last: last guest frame (inclusive)
 *
 * Return: true if a binding overlaps [@first, @last].
 */
bool lazymap_vm_bindings_overlap(struct lazymap_vm *vm, u64 first, u64 last)
{
	unsigned long index = first;

	lockdep_assert_held(&vm->slots_lock);
	return mt_find(&vm->bindings, &index, last);
}

/**
 * lazymap_vm_bind() - back guest frames with a guest_memfd range
 * @vm: the VM, slots_lock held for write
 * @gmem: a guest_memfd of @vm
 * @slot: the GUEST_MEMFD slot that will own the binding, or NULL (MAP_MEM)
 * @gfn: first guest frame; the caller checked the frames free
 * @pgoff: first page offset; the range lies within the file
 * @npages: pages, not 0
 * @flags: LAZYMAP_VM_MAP_* (exactly one of LEND and SHARE, R/W/X)
 * @bp: out: the binding
 *
 * Return: 0; -EEXIST if a binding of @gmem overlaps the file range; -EBUSY
 * for LEND when a folio of the range is pinned by the host; -ENOMEM.
 * Nothing changed on error.
 */
int lazymap_vm_bind(struct lazymap_vm *vm, struct lazymap_vm_gmem *gmem,
		    struct lazymap_vm_slot *slot, u64 gfn, u64 pgoff,
		    u64 npages, u32 flags, struct lazymap_vm_binding **bp)
{
	struct lazymap_vm_binding *b;
	int ret;

	lockdep_assert_held_write(&vm->slots_lock);
	if (interval_tree_iter_first(&gmem->bindings, pgoff, pgoff + npages - 1))
		return -EEXIST;

	b = kzalloc(sizeof(*b), GFP_KERNEL_ACCOUNT);
	if (!b)
		return -ENOMEM;
	b->vm = vm;
	b->gmem = gmem;
	b->slot = slot;
	b->gfn = gfn;
	b->npages = npages;
	b->pgoff = pgoff;
	b->flags = flags;
	b->perm = lazymap_vm_map_perm(flags);
	b->delta = gfn - pgoff;
	b->file_node.start = pgoff;
	b->file_node.last = pgoff + npages - 1;
	b->listener.ops = &lazymap_vm_binding_listener_ops;

	ret = mtree_insert_range(&vm->bindings, gfn, gfn + npages - 1, b,
				 GFP_KERNEL_ACCOUNT);
	if (ret)
		goto free;
	if (flags & LAZYMAP_VM_MAP_LEND) {
		ret = lazymap_make_private(gmem->space, pgoff, pgoff + npages);
		if (ret)
			goto erase;
	}
	/* Cannot fail: the range is non-empty and within the file. */
	ret = lazymap_listener_register(gmem->space, &b->listener, pgoff,
					pgoff + npages);
	if (WARN_ON_ONCE(ret))
		goto shared;
	interval_tree_insert(&b->file_node, &gmem->bindings);
	*bp = b;
	return 0;

shared:
	if (flags & LAZYMAP_VM_MAP_LEND)
		lazymap_vm_reclaim(gmem, pgoff, npages);
erase:
	lazymap_vm_bindings_clear(vm, gfn, gfn + npages - 1);
free:
	kfree(b);
	return ret;
}

/*
 * Take a binding's whole range back from the guest: no stage-2 entry and
 * no listener left; a lent range is zeroed and handed back to the host if
 * @reclaim (not when the guest_memfd itself is going away).
 */
static void lazymap_vm_binding_detach(struct lazymap_vm *vm,
				      struct lazymap_vm_binding *b,
				      bool reclaim)
{
	struct lazymap_vm_gmem *gmem = b->gmem;

	lazymap_vm_drop_s2(vm, b->gfn, b->npages);
	if (!gmem)
		return;
	lazymap_listener_unregister(&b->listener);
	interval_tree_remove(&b->file_node, &gmem->bindings);
	b->gmem = NULL;
	if (reclaim && (b->flags & LAZYMAP_VM_MAP_LEND))
		lazymap_vm_reclaim(gmem, b->pgoff, b->npages);
}

/**
 * lazymap_vm_unbind() - remove a binding, reclaiming its whole range
 * @vm: the VM, slots_lock held for write
 * @b: the binding; freed
 */
void lazymap_vm_unbind(struct lazymap_vm *vm, struct lazymap_vm_binding *b)
{
	lockdep_assert_held_write(&vm->slots_lock);
	lazymap_vm_bindings_clear(vm, b->gfn, b->gfn + b->npages - 1);
	lazymap_vm_binding_detach(vm, b, true);
	kfree(b);
}

/**
 * lazymap_vm_unmap_split() - the pieces an unmap leaves of a binding
 * @b_gfn: the binding's first frame
 * @b_npages: its pages
 * @gfn: first frame to unmap
 * @npages: pages to unmap, not 0
 * @head: out: pages kept before the unmapped range, from @b_gfn
 * @tail: out: pages kept after it, up to the binding's end
 *
 * Return: 0, or -ENOENT if [@gfn, @gfn + @npages) is not within the
 * binding (nothing written).
 */
VISIBLE_IF_KUNIT int lazymap_vm_unmap_split(u64 b_gfn, u64 b_npages, u64 gfn,
					    u64 npages, u64 *head, u64 *tail)
{
	/* Subtractions only: nothing here can wrap. */
	if (gfn < b_gfn || gfn - b_gfn >= b_npages ||
	    npages > b_npages - (gfn - b_gfn))
		return -ENOENT;
	*head = gfn - b_gfn;
	*tail = b_npages - *head - npages;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_unmap_split);

/*
 * MAP_MEM with UNMAP: the range must lie in one MAP binding of @gmem at
 * the same offset delta.  Removes it, trims its head or tail, or splits it
 * in two, and reclaims exactly the removed range.
 */
static int lazymap_vm_unmap_mem(struct lazymap_vm *vm,
				struct lazymap_vm_gmem *gmem, u64 gfn,
				u64 pgoff, u64 npages)
{
	struct lazymap_vm_binding *b, *t = NULL;
	u64 head, tail;
	int ret;

	lockdep_assert_held_write(&vm->slots_lock);
	b = lazymap_vm_binding_find(vm, gfn);
	if (!b || b->slot || b->gmem != gmem || gfn - pgoff != b->delta ||
	    lazymap_vm_unmap_split(b->gfn, b->npages, gfn, npages, &head, &tail))
		return -ENOENT;
	if (!head && !tail) {
		lazymap_vm_unbind(vm, b);
		return 0;
	}

	if (head && tail) {
		t = kmemdup(b, sizeof(*b), GFP_KERNEL_ACCOUNT);
		if (!t)
			return -ENOMEM;
		t->gfn = gfn + npages;
		t->pgoff = pgoff + npages;
		t->npages = tail;
		t->file_node.start = t->pgoff;
		t->file_node.last = t->pgoff + tail - 1;
	}
	/*
	 * The only step that can fail: it splits the tree's entry, leaving
	 * the pieces mapped to @b.  Overwriting a piece's exact range later
	 * needs no node (and may not fail anyway).
	 */
	ret = mtree_store_range(&vm->bindings, gfn, gfn + npages - 1, NULL,
				GFP_KERNEL_ACCOUNT);
	if (ret) {
		kfree(t);
		return ret;
	}
	if (t) {
		WARN_ON_ONCE(mtree_store_range(&vm->bindings, t->gfn,
					       t->gfn + tail - 1, t,
					       GFP_KERNEL_ACCOUNT | __GFP_NOFAIL));
		WARN_ON_ONCE(lazymap_listener_register(gmem->space, &t->listener,
						       t->pgoff, t->pgoff + tail));
		interval_tree_insert(&t->file_node, &gmem->bindings);
	}
	/* While @b's listener still covers the removed range. */
	lazymap_vm_drop_s2(vm, gfn, npages);
	interval_tree_remove(&b->file_node, &gmem->bindings);
	if (head) {
		b->npages = head;
	} else {
		b->gfn = gfn + npages;
		b->pgoff = pgoff + npages;
		b->npages = tail;
	}
	b->file_node.start = b->pgoff;
	b->file_node.last = b->pgoff + b->npages - 1;
	interval_tree_insert(&b->file_node, &gmem->bindings);
	WARN_ON_ONCE(lazymap_listener_resize(&b->listener, b->pgoff,
					     b->pgoff + b->npages));
	if (b->flags & LAZYMAP_VM_MAP_LEND)
		lazymap_vm_reclaim(gmem, pgoff, npages);
	return 0;
}

/**
 * lazymap_vm_map_mem() - MAP_MEM: create or unmap a binding
 * @vm: the VM
 * @argp: struct lazymap_vm_map_mem
 *
 * Return: 0 or a negative errno, in the contract's order.
 */
int lazymap_vm_map_mem(struct lazymap_vm *vm, void __user *argp)
{
	struct lazymap_vm_map_mem args;
	struct lazymap_vm_binding *b;
	struct lazymap_vm_gmem *gmem;
	u64 align = PAGE_SIZE;
	u64 gfn, pgoff, npages;
	struct file *file;
	u32 kind;
	int ret;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.flags & ~LAZYMAP_VM_MAP_FLAGS)
		return -EINVAL;
	gmem = lazymap_vm_gmem_get_file(vm, args.guest_memfd, &file);
	if (IS_ERR(gmem))
		return PTR_ERR(gmem);

	ret = -EINVAL;
	if (gmem->flags & LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE)
		align = SZ_2M;
	if (!args.size || !IS_ALIGNED(args.guest_addr | args.offset | args.size,
				      align))
		goto out;
	if (args.guest_addr + args.size < args.guest_addr ||
	    args.offset + args.size < args.offset)
		goto out;
	gfn = args.guest_addr >> PAGE_SHIFT;
	pgoff = args.offset >> PAGE_SHIFT;
	npages = args.size >> PAGE_SHIFT;

	if (args.flags & LAZYMAP_VM_MAP_UNMAP) {
		if (args.flags != LAZYMAP_VM_MAP_UNMAP)
			goto out;
		scoped_guard(rwsem_write, &vm->slots_lock)
			ret = lazymap_vm_unmap_mem(vm, gmem, gfn, pgoff, npages);
		goto out;
	}

	kind = args.flags & LAZYMAP_VM_MAP_ACCESS_MASK;
	if ((kind != LAZYMAP_VM_MAP_LEND && kind != LAZYMAP_VM_MAP_SHARE) ||
	    !(args.flags & LAZYMAP_VM_MAP_RWX) ||
	    args.offset + args.size > gmem->size)
		goto out;
	scoped_guard(rwsem_write, &vm->slots_lock) {
		if (lazymap_vm_slots_overlap(vm, gfn, gfn + npages - 1) ||
		    lazymap_vm_bindings_overlap(vm, gfn, gfn + npages - 1))
			ret = -EEXIST;
		else
			ret = lazymap_vm_bind(vm, gmem, NULL, gfn, pgoff, npages,
					      args.flags, &b);
	}
out:
	fput(file);
	return ret;
}

/**
 * lazymap_vm_gmem_release_bindings() - a guest_memfd's last close
 * @gmem: the guest_memfd
 *
 * MAP_MEM bindings are removed (their frames back nothing any more); a
 * GUEST_MEMFD slot's binding stays with its slot, detached: its frames
 * fault (MEMORY_FAULT) until the slot is deleted.  No lent memory is
 * zeroed: nothing but the page cache, about to be freed, holds it.
 */
void lazymap_vm_gmem_release_bindings(struct lazymap_vm_gmem *gmem)
{
	struct lazymap_vm *vm = gmem->vm;
	struct interval_tree_node *node;
	struct lazymap_vm_binding *b;

	guard(rwsem_write)(&vm->slots_lock);
	while ((node = interval_tree_iter_first(&gmem->bindings, 0,
						ULONG_MAX))) {
		b = container_of(node, struct lazymap_vm_binding, file_node);
		if (b->slot) {
			lazymap_vm_binding_detach(vm, b, false);
		} else {
			lazymap_vm_bindings_clear(vm, b->gfn,
						  b->gfn + b->npages - 1);
			lazymap_vm_binding_detach(vm, b, false);
			kfree(b);
		}
	}
}

/**
 * lazymap_vm_binding_fault() - give a bound guest frame a stage-2 entry
 * @vm: the VM
 * @b: the binding holding @gfn, slots_lock held for read
 * @gfn: the guest frame
 *
 * Looks the folio up through the binding's listener, as KVM's
 * kvm_gmem_get_pfn(), and installs under mmu_lock unless an invalidation
 * ran meanwhile (then looks up again).  A 2M entry where the folio is
 * 2 MiB and the binding's alignment allows, else 4K; the binding's
 * permissions.
 *
 * Return: 0; -EFAULT if the frame cannot be backed (the guest_memfd is
 * closed, the offset was poisoned): the caller exits with MEMORY_FAULT;
 * -ENOMEM, -EINTR.
 */
int lazymap_vm_binding_fault(struct lazymap_vm *vm,
			     struct lazymap_vm_binding *b, u64 gfn)
{
	unsigned int order2m = lazymap_vm_level_order(LAZYMAP_VM_LEVEL_2M);
	u64 pgoff = gfn - b->delta;
	struct lazymap_vm_s2_entry e;
	struct lazymap_lookup lookup;
	unsigned int order = 0;
	u64 pages;
	int ret;

	lockdep_assert_held(&vm->slots_lock);
	if (!b->gmem)
		return -EFAULT;
	if (IS_ALIGNED(b->delta, 1ULL << order2m))
		order = order2m;
retry:
	ret = lazymap_listener_lookup(&b->listener, pgoff, order, &lookup);
	if (ret)
		return ret == -ENOMEM || ret == -EINTR ? ret : -EFAULT;

	e.level = lookup.order >= order2m ? LAZYMAP_VM_LEVEL_2M :
					    LAZYMAP_VM_LEVEL_4K;
	pages = lazymap_vm_level_pages(e.level);
	e.gfn = round_down(gfn, pages);
	e.pfn = lookup.pfn - (gfn - e.gfn);
	e.perm = b->perm;
	ret = vm->s2.ops->prepare(&vm->s2, e.gfn);
	if (ret)
		goto put;
	write_lock(&vm->mmu_lock);
	if (lazymap_listener_retry(&b->listener, &lookup)) {
		write_unlock(&vm->mmu_lock);
		vm->s2.ops->cancel(&vm->s2, e.gfn);
		lazymap_lookup_put(&lookup);
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
		goto retry;
	}
	ret = vm->s2.ops->map(&vm->s2, &e);
	write_unlock(&vm->mmu_lock);
	vm->s2.ops->cancel(&vm->s2, e.gfn);
put:
	lazymap_lookup_put(&lookup);
	return ret;
}
