// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vm: /dev/lazymap-vm and the VM fd.
 *
 * CREATE_VM makes a struct lazymap_vm bound to the caller's mm and returns
 * its fd.  The VM is reference counted: the VM fd holds one reference,
 * each vCPU fd another, so a vCPU fd keeps working after the VM fd is
 * closed.  The last reference deletes every slot (unlocking locked ones,
 * removing their MMU notifiers), destroys the stage 2 and drops the mm.
 * Like KVM, every VM and vCPU ioctl from another mm than the creator's
 * fails with EIO: the slots' addresses mean nothing there.
 */
#define pr_fmt(fmt) "lazymap-vm: " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "lazymap_vm.h"

/**
 * lazymap_vm_alloc() - a VM with no slot, no vCPU and no mm
 *
 * Return: the VM with one reference, or NULL.
 */
struct lazymap_vm *lazymap_vm_alloc(void)
{
	struct lazymap_vm *vm;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return NULL;
	kref_init(&vm->refs);
	init_rwsem(&vm->slots_lock);
	xa_init(&vm->slots);
	vm->gpa_tree = RB_ROOT_CACHED;
	mt_init(&vm->bindings);
	rwlock_init(&vm->mmu_lock);
	lazymap_vm_s2_init(&vm->s2, &lazymap_vm_sw_backend);
	xa_init(&vm->vcpus);
	return vm;
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_alloc);

static void lazymap_vm_release(struct kref *kref)
{
	struct lazymap_vm *vm = container_of(kref, struct lazymap_vm, refs);
	struct lazymap_vm_vcpu *vcpu;
	unsigned long id;

	lazymap_vm_debugfs_remove(vm);
	lazymap_vm_delete_all_slots(vm);
	/* Every guest_memfd, holding a VM reference, took its own back. */
	WARN_ON_ONCE(!mtree_empty(&vm->bindings));
	mtree_destroy(&vm->bindings);
	vm->s2.ops->destroy(&vm->s2);
	xa_for_each(&vm->vcpus, id, vcpu) {
		mutex_destroy(&vcpu->mutex);
		kvfree(vcpu->bounce);
		kfree(vcpu);
	}
	xa_destroy(&vm->vcpus);
	xa_destroy(&vm->slots);
	if (vm->mm)
		mmdrop(vm->mm);
	kfree(vm);
}

/**
 * lazymap_vm_put() - drop a VM reference
 * @vm: the VM
 *
 * The last one frees the VM; it may sleep (MMU notifier removal).
 */
void lazymap_vm_put(struct lazymap_vm *vm)
{
	kref_put(&vm->refs, lazymap_vm_release);
}
EXPORT_SYMBOL_IF_KUNIT(lazymap_vm_put);

/**
 * lazymap_vm_is_owner() - is the caller's mm the VM's
 * @vm: the VM
 *
 * Return: true when VM and vCPU ioctls may proceed.
 */
bool lazymap_vm_is_owner(struct lazymap_vm *vm)
{
	return current->mm == vm->mm;
}

static long lazymap_vm_check_extension(unsigned long cap)
{
	switch (cap) {
	case LAZYMAP_VM_CAP_USER_MEMORY2:
	case LAZYMAP_VM_CAP_READONLY_MEM:
	case LAZYMAP_VM_CAP_LOCK_USER_MEMORY_REGION:
	case LAZYMAP_VM_CAP_DIRTY_LOG:
	case LAZYMAP_VM_CAP_GUEST_MEMFD:
	case LAZYMAP_VM_CAP_MAP_MEM:
		return 1;
	case LAZYMAP_VM_CAP_GUEST_MEMFD_FLAGS:
		return LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP |
		       LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE;
	case LAZYMAP_VM_CAP_NR_MEMSLOTS:
		return LAZYMAP_VM_USER_MEM_SLOTS;
	case LAZYMAP_VM_CAP_MAX_VCPUS:
		return LAZYMAP_VM_MAX_VCPUS;
	default:
		return 0;
	}
}

static int lazymap_vm_get_stats(struct lazymap_vm *vm, void __user *argp)
{
	struct lazymap_vm_stats st = {};
	unsigned int level;

	st.s2_pages = atomic64_read(&vm->s2.pages);
	for (level = 0; level < LAZYMAP_VM_NR_LEVELS; level++)
		st.s2_faults[level] = atomic64_read(&vm->s2.installed[level]);
	st.s2_invalidated = atomic64_read(&vm->s2_invalidated);
	st.locked_pages = atomic64_read(&vm->locked_pages);
	st.mmio_exits = atomic64_read(&vm->mmio_exits);
	st.memory_faults = atomic64_read(&vm->memory_faults);
	return copy_to_user(argp, &st, sizeof(st)) ? -EFAULT : 0;
}

static long lazymap_vm_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	struct lazymap_vm *vm = file->private_data;
	void __user *argp = (void __user *)arg;

	if (!lazymap_vm_is_owner(vm))
		return -EIO;

	switch (cmd) {
	case LAZYMAP_VM_CHECK_EXTENSION:
		return lazymap_vm_check_extension(arg);
	case LAZYMAP_VM_CREATE_VCPU:
		return lazymap_vm_create_vcpu(vm, arg);
	case LAZYMAP_VM_SET_USER_MEMORY_REGION:
		return lazymap_vm_set_user_memory_region(vm, argp, false);
	case LAZYMAP_VM_SET_USER_MEMORY_REGION2:
		return lazymap_vm_set_user_memory_region(vm, argp, true);
	case LAZYMAP_VM_ENABLE_CAP:
		return lazymap_vm_enable_cap(vm, argp);
	case LAZYMAP_VM_GET_DIRTY_LOG:
		return lazymap_vm_get_dirty_log(vm, argp);
	case LAZYMAP_VM_GET_STATS:
		return lazymap_vm_get_stats(vm, argp);
	case LAZYMAP_VM_CREATE_GUEST_MEMFD:
		return lazymap_vm_create_guest_memfd(vm, argp);
	case LAZYMAP_VM_MAP_MEM:
		return lazymap_vm_map_mem(vm, argp);
	default:
		return -ENOTTY;
	}
}

static int lazymap_vm_fd_release(struct inode *inode, struct file *file)
{
	lazymap_vm_put(file->private_data);
	return 0;
}

static const struct file_operations lazymap_vm_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = lazymap_vm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = lazymap_vm_fd_release,
	.llseek = noop_llseek,
};

static int lazymap_vm_create(unsigned long type)
{
	struct lazymap_vm *vm;
	struct file *file;
	int fd;

	if (type != LAZYMAP_VM_TYPE_DEFAULT)
		return -EINVAL;
	vm = lazymap_vm_alloc();
	if (!vm)
		return -ENOMEM;
	mmgrab(current->mm);
	vm->mm = current->mm;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		goto put_vm;
	file = anon_inode_getfile("lazymap-vm", &lazymap_vm_fops, vm, O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		fd = PTR_ERR(file);
		goto put_vm;
	}
	lazymap_vm_debugfs_add(vm);
	fd_install(fd, file);
	return fd;

put_vm:
	lazymap_vm_put(vm);
	return fd;
}

static long lazymap_vm_dev_ioctl(struct file *file, unsigned int cmd,
				 unsigned long arg)
{
	switch (cmd) {
	case LAZYMAP_VM_GET_API_VERSION:
		return LAZYMAP_VM_API_VERSION;
	case LAZYMAP_VM_CREATE_VM:
		return lazymap_vm_create(arg);
	case LAZYMAP_VM_CHECK_EXTENSION:
		return lazymap_vm_check_extension(arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations lazymap_vm_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = lazymap_vm_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice lazymap_vm_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "lazymap-vm",
	.fops = &lazymap_vm_dev_fops,
	.mode = 0600,
};

static int __init lazymap_vm_init(void)
{
	int ret;

	lazymap_vm_debugfs_init();
	ret = misc_register(&lazymap_vm_misc);
	if (ret)
		lazymap_vm_debugfs_exit();
	return ret;
}
module_init(lazymap_vm_init);

static void __exit lazymap_vm_exit(void)
{
	misc_deregister(&lazymap_vm_misc);
	/* guest_memfd spaces' release work reads lazymap_vm_gmem_ops. */
	lazymap_wait_for_releases();
	lazymap_vm_debugfs_exit();
}
module_exit(lazymap_vm_exit);

MODULE_DESCRIPTION("lazymap-vm: VMs with lazily populated stage 2 over user memory slots");
MODULE_LICENSE("GPL");
