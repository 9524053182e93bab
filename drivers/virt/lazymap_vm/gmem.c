// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vm guest_memfd: CREATE_GUEST_MEMFD and the file it returns.
 *
 * A guest_memfd is a folio space of the lazymap core whose own inode is the
 * file's (lazymap_space_file()): the page cache of that inode holds the
 * guest's memory, zeroed when first touched, in 2 MiB folios for a
 * HUGEPAGE file (where the kernel has THP) and 4 KiB ones otherwise,
 * unevictable and never migrated (the core's folio inode).  Like KVM's
 * guest_memfd, the file has no read() or write(); fallocate() allocates
 * and punches holes, and with FLAG_MMAP the host maps it shared, lazily,
 * through the core's folio fault, PMD-mapped where a folio is 2 MiB.
 *
 * The guest reaches the memory through bindings (bind.c), each a listener
 * of the space: punching a hole truncates the page cache between
 * lazymap_truncate_begin() and lazymap_truncate_end(), which drop the
 * bindings' stage-2 entries before the folios are freed, and the core's
 * launder, release and memory-failure paths reach the same listeners.
 * A LEND binding makes its range private in the space
 * (lazymap_make_private()): host faults there get SIGBUS while the guest
 * keeps the memory.
 *
 * Lifetime: the file holds a VM reference and the space; bindings hold
 * neither the file nor the space.  The file's last close takes every
 * binding back (lazymap_vm_gmem_release_bindings()) before dropping them.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/mm.h>
#include <linux/huge_mm.h>
#include <linux/pagemap.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "lazymap_vm.h"

#define LAZYMAP_VM_GMEM_FLAGS	(LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP | \
				 LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE)

static const struct file_operations lazymap_vm_gmem_fops;

/* The folio order a guest_memfd backs every offset with. */
static unsigned int lazymap_vm_gmem_order(struct lazymap_vm_gmem *gmem)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	if (gmem->flags & LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE)
		return HPAGE_PMD_ORDER;
#endif
	return 0;
}

/*
 * The provider: every offset of the space is a folio of its page cache,
 * found or allocated zeroed at the file's folio size (whatever the fault
 * asked for: a host PTE fault on a HUGEPAGE file still gets a 2 MiB folio,
 * so the guest can map it with one 2M entry later).
 */
static atomic_t lazymap_vm_gmem_seq = ATOMIC_INIT(0);

static int lazymap_vm_gmem_resolve(struct lazymap_space *space, pgoff_t pgoff,
				   unsigned int order,
				   struct lazymap_resolved *res)
{
	struct lazymap_vm_gmem *gmem = lazymap_space_private(space);
	struct folio *folio;

	folio = lazymap_get_folio(space, pgoff, lazymap_vm_gmem_order(gmem));
	if (IS_ERR(folio))
		return PTR_ERR(folio);
	res->folio = folio;
	return 0;
}

static void lazymap_vm_gmem_describe(struct lazymap_space *space,
				     struct seq_file *m)
{
	struct lazymap_vm_gmem *gmem = lazymap_space_private(space);

	seq_printf(m, "size: %llu\n", gmem->size);
	seq_printf(m, "flags: %#llx\n", gmem->flags);
}

static const struct lazymap_ops lazymap_vm_gmem_ops = {
	.resolve = lazymap_vm_gmem_resolve,
	.describe = lazymap_vm_gmem_describe,
};

/* Allocate the folios of [start, end), page offsets within the file. */
static long lazymap_vm_gmem_allocate(struct lazymap_vm_gmem *gmem,
				     pgoff_t start, pgoff_t end)
{
	struct address_space *mapping = lazymap_space_mapping(gmem->space);
	struct folio *folio;
	pgoff_t index;
	long ret = 0;

	filemap_invalidate_lock_shared(mapping);
	for (index = start; index < end; index = folio_next_index(folio)) {
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		folio = lazymap_get_folio(gmem->space, index,
					  lazymap_vm_gmem_order(gmem));
		if (IS_ERR(folio)) {
			ret = PTR_ERR(folio);
			break;
		}
		folio_put(folio);
		cond_resched();
	}
	filemap_invalidate_unlock_shared(mapping);
	return ret;
}

/*
 * Punch [start, end): every binding drops its stage-2 entries of the range
 * (lazymap_truncate_begin()), host PTEs go and the folios are freed; the
 * next access, host or guest, finds a new zeroed folio.  A part of a 2 MiB
 * folio that cannot be split off is zeroed instead, by the page cache.
 */
static void lazymap_vm_gmem_punch(struct lazymap_vm_gmem *gmem, pgoff_t start,
				  pgoff_t end)
{
	struct address_space *mapping = lazymap_space_mapping(gmem->space);

	filemap_invalidate_lock(mapping);
	lazymap_truncate_begin(gmem->space, start, end);
	truncate_pagecache_range(mapping->host, (loff_t)start << PAGE_SHIFT,
				 ((loff_t)end << PAGE_SHIFT) - 1);
	lazymap_truncate_end(gmem->space, start, end);
	filemap_invalidate_unlock(mapping);
}

/*
 * KVM's rules (kvm_gmem_fallocate()): KEEP_SIZE is mandatory, PUNCH_HOLE
 * the only other mode; page-aligned ranges; allocating past the end is
 * EINVAL, punching past it punches what lies before (nothing: 0).
 */
static long lazymap_vm_gmem_fallocate(struct file *file, int mode,
				      loff_t offset, loff_t len)
{
	struct lazymap_vm_gmem *gmem = file->private_data;
	loff_t end;

	if (!(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if (!PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len))
		return -EINVAL;
	/* vfs_fallocate() refused offset < 0, len <= 0 and a wrapping sum. */
	end = offset + len;
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		end = min_t(loff_t, end, gmem->size);
		if (offset < end)
			lazymap_vm_gmem_punch(gmem, offset >> PAGE_SHIFT,
					      end >> PAGE_SHIFT);
		return 0;
	}
	if (end > gmem->size)
		return -EINVAL;
	return lazymap_vm_gmem_allocate(gmem, offset >> PAGE_SHIFT,
					end >> PAGE_SHIFT);
}

/* KVM 6.18's rules: FLAG_MMAP files only, shared mappings only. */
static int lazymap_vm_gmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct lazymap_vm_gmem *gmem = file->private_data;

	if (!(gmem->flags & LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP))
		return -ENODEV;
	if ((vma->vm_flags & (VM_SHARED | VM_MAYSHARE)) !=
	    (VM_SHARED | VM_MAYSHARE))
		return -EINVAL;
	return lazymap_mmap(gmem->space, vma);
}

/**
 * lazymap_vm_gmem_alloc() - a guest_memfd's memory, without its file
 * @vm: the VM; the guest_memfd takes a reference
 * @size: bytes, checked by the caller
 * @flags: LAZYMAP_VM_GUEST_MEMFD_FLAG_*, checked by the caller
 *
 * Return: the guest_memfd or an ERR_PTR() (-ENOMEM).
 */
VISIBLE_IF_KUNIT struct lazymap_vm_gmem *
lazymap_vm_gmem_alloc(struct lazymap_vm *vm, u64 size, u64 flags)
{
	struct lazymap_space_params params = {
		.ops = &lazymap_vm_gmem_ops,
		.kind = LAZYMAP_KIND_FOLIO,
		.size = size,
	};
	struct lazymap_vm_gmem *gmem;

	gmem = kzalloc(sizeof(*gmem), GFP_KERNEL_ACCOUNT);
	if (!gmem)
		return ERR_PTR(-ENOMEM);
	gmem->size = size;
	gmem->flags = flags;
	gmem->bindings = RB_ROOT_CACHED;
	/* Unique in debugfs lazymap/, as the VMs' directories are. */
	snprintf(gmem->name, sizeof(gmem->name), "gmem-%d-%d",
		 task_tgid_nr(current), atomic_inc_return(&lazymap_vm_gmem_seq));
	params.name = gmem->name;
	params.private = gmem;
	gmem->space = lazymap_space_create(&params);
	if (IS_ERR(gmem->space)) {
		struct lazymap_space *err = gmem->space;

		kfree(gmem);
		return ERR_CAST(err);
	}
	kref_get(&vm->refs);
	gmem->vm = vm;
	return gmem;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_gmem_alloc);

/**
 * lazymap_vm_gmem_free() - a guest_memfd's last close
 * @gmem: from lazymap_vm_gmem_alloc()
 *
 * Takes every binding back, then drops the space and the VM reference.
 */
VISIBLE_IF_KUNIT void lazymap_vm_gmem_free(struct lazymap_vm_gmem *gmem)
{
	struct lazymap_vm *vm = gmem->vm;

	lazymap_vm_gmem_release_bindings(gmem);
	lazymap_space_put(gmem->space);
	kfree(gmem);
	lazymap_vm_put(vm);
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_gmem_free);

static int lazymap_vm_gmem_release(struct inode *inode, struct file *file)
{
	lazymap_vm_gmem_free(file->private_data);
	return 0;
}

static const struct file_operations lazymap_vm_gmem_fops = {
	.owner = THIS_MODULE,
	.mmap = lazymap_vm_gmem_mmap,
	.fallocate = lazymap_vm_gmem_fallocate,
	.release = lazymap_vm_gmem_release,
};

/**
 * lazymap_vm_gmem_get_file() - the guest_memfd of a file descriptor
 * @vm: the VM the guest_memfd must belong to
 * @fd: the descriptor
 * @filep: out: the file, with a reference for the caller (fput())
 *
 * Return: the guest_memfd, ERR_PTR(-EBADF) if @fd is not open, or
 * ERR_PTR(-EINVAL) if it is not a guest_memfd of @vm.
 */
struct lazymap_vm_gmem *lazymap_vm_gmem_get_file(struct lazymap_vm *vm,
						 unsigned int fd,
						 struct file **filep)
{
	struct lazymap_vm_gmem *gmem;
	struct file *file;

	file = fget(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	gmem = file->private_data;
	if (file->f_op != &lazymap_vm_gmem_fops || gmem->vm != vm) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	*filep = file;
	return gmem;
}

/**
 * lazymap_vm_create_guest_memfd() - CREATE_GUEST_MEMFD
 * @vm: the VM
 * @argp: struct lazymap_vm_create_guest_memfd
 *
 * Return: the new file descriptor (O_RDWR, not O_CLOEXEC, as KVM's) or a
 * negative errno: -EFAULT, -EINVAL for unknown flags, reserved fields set,
 * a size that is 0, >= 2^63, unaligned, or not 2 MiB-aligned for HUGEPAGE;
 * -ENOMEM, -EMFILE.
 */
int lazymap_vm_create_guest_memfd(struct lazymap_vm *vm, void __user *argp)
{
	struct lazymap_vm_create_guest_memfd args;
	struct lazymap_vm_gmem *gmem;
	struct file *file;
	int fd, ret;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if ((args.flags & ~LAZYMAP_VM_GMEM_FLAGS) ||
	    memchr_inv(args.reserved, 0, sizeof(args.reserved)))
		return -EINVAL;
	if (!args.size || args.size >= BIT_ULL(63) ||
	    !PAGE_ALIGNED(args.size))
		return -EINVAL;
	if ((args.flags & LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE) &&
	    !IS_ALIGNED(args.size, SZ_2M))
		return -EINVAL;

	gmem = lazymap_vm_gmem_alloc(vm, args.size, args.flags);
	if (IS_ERR(gmem))
		return PTR_ERR(gmem);

	fd = get_unused_fd_flags(0);
	if (fd < 0) {
		ret = fd;
		goto free;
	}
	file = lazymap_space_file(gmem->space, "[lazymap-gmem]",
				  O_RDWR | O_LARGEFILE, &lazymap_vm_gmem_fops);
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		goto put_fd;
	}
	file->private_data = gmem;
	fd_install(fd, file);
	return fd;

put_fd:
	put_unused_fd(fd);
free:
	lazymap_vm_gmem_free(gmem);
	return ret;
}
