// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-mdev BAR2: RAM-backed "device memory", a lazymap space of
 * LAZYMAP_KIND_PAGE on the VFIO device inode's address_space.
 *
 * Object model: the &struct lazymap_mdev owns one reference to the space
 * (taken by lazymap_mdev_mem_init() from the vfio_device's init op,
 * dropped by lazymap_mdev_mem_exit() from its release op); every mapping
 * holds another, but a mapping also holds the device file and so the
 * vfio_device's registration, so all of them are gone by the time the
 * release op runs.  The pages backing BAR2 live in ld->pages, allocated on
 * first touch (a fault or a region write) and freed by a reset and by the
 * space's release op.
 *
 * The space's gate says "BAR2 can be accessed": faults and region
 * reads/writes hold it for read while they look up or allocate a page and
 * copy it; revoke, restore and reset hold it for write.  BAR2 is revoked
 * over its whole size while memory decoding is off in the command register
 * or the debugfs knob says so: lazymap_mdev_mem_sync() keeps the space's
 * revocation equal to that condition.
 */
#include <linux/highmem.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "lazymap_mdev.h"

/*
 * The page backing BAR2 page @pgoff: NULL if there is none and @alloc is
 * false, else allocated (zeroed) on first use.  The caller holds the gate
 * for read, so no reset frees the page under it.
 */
static struct page *lazymap_mdev_page(struct lazymap_mdev *ld, pgoff_t pgoff,
				      bool alloc)
{
	struct page *page, *old;

	lockdep_assert_held(lazymap_space_gate(ld->space));

	page = xa_load(&ld->pages, pgoff);
	if (page || !alloc)
		return page;
	/* Charged to the memcg of the task whose fault or write asks. */
	page = alloc_page(GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN |
			  __GFP_ACCOUNT);
	if (!page)
		return ERR_PTR(-ENOMEM);
	old = xa_cmpxchg(&ld->pages, pgoff, NULL, page, GFP_KERNEL_ACCOUNT);
	if (old) {
		/* Lost a race with another fault or write, or no memory. */
		__free_page(page);
		return xa_is_err(old) ? ERR_PTR(xa_err(old)) : old;
	}
	atomic_long_inc(&ld->nr_pages);
	return page;
}

/* Free every page; the caller holds the gate for write or is the last user. */
static void lazymap_mdev_free_pages(struct lazymap_mdev *ld)
{
	struct page *page;
	unsigned long index;

	xa_for_each(&ld->pages, index, page) {
		xa_erase(&ld->pages, index);
		atomic_long_dec(&ld->nr_pages);
		put_page(page);
		cond_resched();
	}
}

static int lazymap_mdev_resolve(struct lazymap_space *space, pgoff_t pgoff,
				unsigned int order, struct lazymap_resolved *res)
{
	struct lazymap_mdev *ld = lazymap_space_private(space);
	struct page *page;

	page = lazymap_mdev_page(ld, pgoff, true);
	if (IS_ERR(page))
		return PTR_ERR(page);
	res->page = page;
	res->pfn = page_to_pfn(page);
	res->order = 0;
	return 0;
}

/* The last reference is gone: no fault, read or write can come any more. */
static void lazymap_mdev_space_release(struct lazymap_space *space)
{
	struct lazymap_mdev *ld = lazymap_space_private(space);

	lazymap_mdev_free_pages(ld);
	xa_destroy(&ld->pages);
}

static const struct lazymap_ops lazymap_mdev_space_ops = {
	.resolve = lazymap_mdev_resolve,
	.release = lazymap_mdev_space_release,
};

/*
 * Create BAR2's space, named mdev-<uuid> in lazymap's debugfs.  Called from
 * the vfio_device's init op, when vdev.inode exists: the space adopts its
 * mapping, which vfio makes the f_mapping of every file of the device.  The
 * config space is in its power-on state, memory decoding off, so BAR2
 * starts revoked.
 */
int lazymap_mdev_mem_init(struct lazymap_mdev *ld)
{
	struct lazymap_space_params params = {};
	char name[48];
	int ret;

	xa_init(&ld->pages);
	atomic_long_set(&ld->nr_pages, 0);

	snprintf(name, sizeof(name), "mdev-%pUl", &ld->mdev->uuid);
	params.name = name;
	params.ops = &lazymap_mdev_space_ops;
	params.kind = LAZYMAP_KIND_PAGE;
	params.size = ld->mem_size;
	params.mapping = ld->vdev.inode->i_mapping;
	params.private = ld;
	ld->space = lazymap_space_create(&params);
	if (IS_ERR(ld->space)) {
		ret = PTR_ERR(ld->space);
		ld->space = NULL;
		return ret;
	}

	mutex_lock(&ld->lock);
	ld->revoked = false;
	ret = lazymap_mdev_mem_sync(ld, lazymap_mdev_mem_enabled(ld),
				    ld->knob_revoked);
	mutex_unlock(&ld->lock);
	if (ret)
		lazymap_mdev_mem_exit(ld);
	return ret;
}

/*
 * Drop the device's reference to the space and wait for its release, which
 * frees the pages: the space points at ld and at the vfio_device inode's
 * mapping, and both go away when the caller, the release op, returns.
 */
void lazymap_mdev_mem_exit(struct lazymap_mdev *ld)
{
	lazymap_space_put(ld->space);
	lazymap_wait_for_releases();
	ld->space = NULL;
}

/**
 * lazymap_mdev_mem_sync() - make BAR2's revocation follow the device state
 * @ld: the device, its lock held
 * @mem_enabled: memory decoding is (about to be) on
 * @knob_revoked: the debugfs knob is (about to be) set
 *
 * BAR2 is revoked exactly when memory decoding is off or the knob is set.
 * Callers pass the state they are about to commit and commit it only if
 * this succeeds.
 *
 * Return: 0, or -ENOMEM from lazymap_revoke() / lazymap_restore(), in which
 * case nothing changed.
 */
int lazymap_mdev_mem_sync(struct lazymap_mdev *ld, bool mem_enabled,
			  bool knob_revoked)
{
	bool revoke = !mem_enabled || knob_revoked;
	int ret;

	lockdep_assert_held(&ld->lock);

	if (revoke == ld->revoked)
		return 0;
	if (revoke)
		ret = lazymap_revoke(ld->space, 0, ld->mem_size >> PAGE_SHIFT);
	else
		ret = lazymap_restore(ld->space, 0, ld->mem_size >> PAGE_SHIFT);
	if (!ret)
		ld->revoked = revoke;
	return ret;
}

/*
 * Reset the memory: with the gate held for write, so that no fault or
 * region access runs, drop every mapping and free every page; the next
 * access (once allowed) sees zeroes.
 */
void lazymap_mdev_mem_clear(struct lazymap_mdev *ld)
{
	struct rw_semaphore *gate = lazymap_space_gate(ld->space);

	lockdep_assert_held(&ld->lock);

	down_write(gate);
	WARN_ON_ONCE(__lazymap_zap(ld->space, 0, ld->mem_size >> PAGE_SHIFT));
	lazymap_mdev_free_pages(ld);
	up_write(gate);
}

/*
 * Copy one chunk (inside one page) between BAR2 and @buf with the gate held
 * for read.  Reads of a page never touched return zeroes without
 * allocating it.
 */
static int lazymap_mdev_mem_chunk(struct lazymap_mdev *ld, void *buf,
				  u64 off, size_t len, bool write)
{
	struct rw_semaphore *gate = lazymap_space_gate(ld->space);
	pgoff_t pgoff = off >> PAGE_SHIFT;
	struct page *page;
	int ret = 0;

	down_read(gate);
	if (lazymap_range_revoked(ld->space, pgoff, pgoff + 1)) {
		ret = -EIO;
		goto out;
	}
	page = lazymap_mdev_page(ld, pgoff, write);
	if (IS_ERR(page)) {
		ret = PTR_ERR(page);
		goto out;
	}
	if (write)
		memcpy_to_page(page, offset_in_page(off), buf, len);
	else if (page)
		memcpy_from_page(buf, page, offset_in_page(off), len);
	else
		memset(buf, 0, len);
out:
	up_read(gate);
	return ret;
}

/**
 * lazymap_mdev_mem_rw() - read(2) or write(2) of the BAR2 region
 * @ld: the device
 * @ubuf: the user buffer
 * @count: bytes, with [@off, @off + @count) inside BAR2 (checked by the
 *	caller)
 * @off: offset into BAR2
 * @write: direction
 *
 * Copies through a bounce page so that no user memory is touched with the
 * gate held: @ubuf may itself be a mapping of BAR2, whose fault takes the
 * gate.
 *
 * Return: bytes copied, or -EIO (BAR2 revoked), -EFAULT or -ENOMEM if
 * nothing was.
 */
ssize_t lazymap_mdev_mem_rw(struct lazymap_mdev *ld, char __user *ubuf,
			    size_t count, u64 off, bool write)
{
	size_t done = 0;
	void *bounce;
	int ret = 0;

	if (!count)
		return 0;
	bounce = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;

	while (done < count) {
		size_t len = min_t(size_t, count - done,
				   PAGE_SIZE - offset_in_page(off + done));

		if (write && copy_from_user(bounce, ubuf + done, len)) {
			ret = -EFAULT;
			break;
		}
		ret = lazymap_mdev_mem_chunk(ld, bounce, off + done, len, write);
		if (ret)
			break;
		if (!write && copy_to_user(ubuf + done, bounce, len)) {
			ret = -EFAULT;
			break;
		}
		done += len;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	kfree(bounce);
	return done ? done : ret;
}

/**
 * lazymap_mdev_mem_mmap() - mmap(2) of the BAR2 region
 * @ld: the device
 * @vma: the new VMA; vm_pgoff still holds the region index
 * @off: the offset into BAR2 the mapping starts at (page aligned)
 *
 * Rewrites vm_pgoff to the page offset into BAR2 (the space's page
 * offsets, which its zaps use) before handing the VMA to lazymap_mmap().
 * /proc/<pid>/maps shows that offset.
 *
 * Return: 0; -EINVAL if the mapping leaves BAR2 or is private.
 */
int lazymap_mdev_mem_mmap(struct lazymap_mdev *ld, struct vm_area_struct *vma,
			  u64 off)
{
	unsigned long len = vma->vm_end - vma->vm_start;

	if (off >= ld->mem_size || len > ld->mem_size - off)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	vma->vm_pgoff = off >> PAGE_SHIFT;
	return lazymap_mmap(ld->space, vma);
}
