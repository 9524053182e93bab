// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vm vCPUs: CREATE_VCPU and VCPU_ACCESS.
 *
 * A vCPU belongs to its VM (freed with it); its fd holds a VM reference.
 * VCPU_ACCESS is one guest load or store of up to 1 MiB: the bytes are
 * served in order through stage 2, faulting entries in lazily, until the
 * first byte that cannot be, which becomes an exit (MMIO for a GPA without
 * memory or a write to a read-only slot, MEMORY_FAULT for a backing that
 * cannot be faulted in or a stage-2 permission the access lacks).
 *
 * Guest memory is only touched under mmu_lock held for read, with the
 * stage-2 entry just looked up: an invalidation (which takes it for write)
 * cannot free the page meanwhile.  The caller's buffer is only touched
 * outside it, through a per-vCPU bounce buffer, because copy_to_user() and
 * copy_from_user() may fault and take mmap_lock.
 */
#include <linux/anon_inodes.h>
#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "lazymap_vm.h"

#define LAZYMAP_VM_ACCESS_KINDS	(LAZYMAP_VM_ACCESS_READ | \
				 LAZYMAP_VM_ACCESS_WRITE | \
				 LAZYMAP_VM_ACCESS_EXEC)

/* Where a page-sized piece of an access stopped. */
enum lazymap_vm_stop {
	LAZYMAP_VM_SERVED,
	LAZYMAP_VM_STOP_MMIO,
	LAZYMAP_VM_STOP_FAULT,
};

#ifdef CONFIG_HAS_IOMEM
/*
 * A stage-2 entry of I/O memory (a BAR): map it outside mmu_lock
 * (ioremap() allocates), then copy under it if the entry is still there.
 * Return: 0, -EAGAIN if the entry changed meanwhile, or -ENOMEM.
 */
static int lazymap_vm_copy_io(struct lazymap_vm *vm, u64 gfn, u64 pfn,
			      unsigned int off, void *buf, unsigned int n,
			      bool write, unsigned int need)
{
	struct lazymap_vm_s2_entry e;
	void __iomem *va;
	int ret = -EAGAIN;

	va = ioremap(PFN_PHYS(pfn), PAGE_SIZE);
	if (!va)
		return -ENOMEM;
	read_lock(&vm->mmu_lock);
	if (vm->s2.ops->lookup(&vm->s2, gfn, &e) && (e.perm & need) == need &&
	    e.pfn + (gfn - e.gfn) == pfn) {
		if (write)
			memcpy_toio(va + off, buf, n);
		else
			memcpy_fromio(buf, va + off, n);
		ret = 0;
	}
	read_unlock(&vm->mmu_lock);
	iounmap(va);
	return ret;
}
#else
static int lazymap_vm_copy_io(struct lazymap_vm *vm, u64 gfn, u64 pfn,
			      unsigned int off, void *buf, unsigned int n,
			      bool write, unsigned int need)
{
	return -EFAULT;
}
#endif

/*
 * Under mmu_lock: copy from @gpa on, as long as the stage-2 entries are
 * there, grant @need and map RAM, a whole entry per lookup.
 * Return: the bytes copied.
 */
static u64 lazymap_vm_copy_mapped(struct lazymap_vm *vm, u64 gpa, void *buf,
				  u64 len, bool write, unsigned int need)
{
	struct lazymap_vm_s2_entry e;
	u64 done = 0, end;

	lockdep_assert_held(&vm->mmu_lock);
	while (done < len) {
		if (!vm->s2.ops->lookup(&vm->s2, (gpa + done) >> PAGE_SHIFT, &e) ||
		    (e.perm & need) != need || (e.perm & LAZYMAP_VM_S2_IO))
			break;
		end = (e.gfn + lazymap_vm_level_pages(e.level)) << PAGE_SHIFT;
		end = min(len, end - gpa);
		do {
			u64 gfn = (gpa + done) >> PAGE_SHIFT;
			unsigned int off = offset_in_page(gpa + done);
			unsigned int n = min_t(u64, end - done, PAGE_SIZE - off);
			void *va = kmap_local_pfn(e.pfn + (gfn - e.gfn));

			if (write)
				memcpy(va + off, buf + done, n);
			else
				memcpy(buf + done, va + off, n);
			kunmap_local(va);
			done += n;
		} while (done < end);
	}
	return done;
}

/*
 * Copy [@gpa, @gpa + @len) of @slot (or of binding @b) to or from @buf,
 * faulting stage-2 entries in where they are missing or lack @need: one
 * hold of mmu_lock copies every page already mapped, up to the first that
 * is not.  *@copied: the bytes copied before an error.
 */
static int lazymap_vm_copy_guest(struct lazymap_vm *vm,
				 struct lazymap_vm_slot *slot,
				 struct lazymap_vm_binding *b, u64 gpa,
				 void *buf, u64 len, bool write,
				 unsigned int need, u64 *copied)
{
	struct lazymap_vm_s2_entry e;
	unsigned int off, n;
	u64 done = 0, gfn;
	int ret = 0;

	for (;;) {
		read_lock(&vm->mmu_lock);
		done += lazymap_vm_copy_mapped(vm, gpa + done, buf + done,
					       len - done, write, need);
		if (done == len) {
			read_unlock(&vm->mmu_lock);
			break;
		}
		gfn = (gpa + done) >> PAGE_SHIFT;
		off = offset_in_page(gpa + done);
		n = min_t(u64, len - done, PAGE_SIZE - off);
		if (vm->s2.ops->lookup(&vm->s2, gfn, &e) &&
		    (e.perm & need) == need) {
			/* I/O memory: a page at a time, mapped outside the lock. */
			read_unlock(&vm->mmu_lock);
			ret = lazymap_vm_copy_io(vm, gfn, e.pfn + (gfn - e.gfn),
						 off, buf + done, n, write, need);
			if (!ret) {
				done += n;
				continue;
			}
			if (ret != -EAGAIN)
				break;
		} else {
			read_unlock(&vm->mmu_lock);
			ret = b ? lazymap_vm_binding_fault(vm, b, gfn) :
				  lazymap_vm_fault(vm, slot, gfn, write);
			if (ret)
				break;
		}
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	*copied = done;
	return ret;
}

/*
 * Serve [@gpa, @gpa + @len) (within one bounce buffer) to or from @buf, a
 * slot or binding at a time.  *@served: the bytes served before the stop.
 */
static int lazymap_vm_serve(struct lazymap_vm *vm, u64 gpa, u64 len,
			    void *buf, u32 kind, u64 *served, bool *private)
{
	bool write = kind == LAZYMAP_VM_ACCESS_WRITE;
	unsigned int need = kind == LAZYMAP_VM_ACCESS_WRITE ? LAZYMAP_VM_PERM_W :
			    kind == LAZYMAP_VM_ACCESS_EXEC ? LAZYMAP_VM_PERM_X :
			    LAZYMAP_VM_PERM_R;
	struct lazymap_vm_binding *b;
	struct lazymap_vm_slot *slot;
	u64 done = 0, n, last, copied;
	int ret;

	while (done < len) {
		u64 gfn = (gpa + done) >> PAGE_SHIFT;

		b = lazymap_vm_binding_find(vm, gfn);
		*private = !!b;
		if (b) {
			/* Never MMIO: the host must not see what it lent. */
			if ((b->perm & need) != need) {
				ret = LAZYMAP_VM_STOP_FAULT;
				goto out;
			}
			slot = NULL;
			last = b->gfn + b->npages;
		} else {
			slot = lazymap_vm_slot_find(vm, gfn);
			if (!slot ||
			    (write && (slot->flags & LAZYMAP_VM_MEM_READONLY))) {
				ret = LAZYMAP_VM_STOP_MMIO;
				goto out;
			}
			if (write && slot->pinned &&
			    !(slot->lock_perm & LAZYMAP_VM_LOCK_MEM_WRITE)) {
				ret = LAZYMAP_VM_STOP_FAULT;
				goto out;
			}
			last = slot->base_gfn + slot->npages;
		}
		/* Bindings and slots never overlap: the run ends with its own. */
		n = min(len - done, (last << PAGE_SHIFT) - (gpa + done));
		ret = lazymap_vm_copy_guest(vm, slot, b, gpa + done, buf + done,
					    n, write, need, &copied);
		done += copied;
		if (ret == -EFAULT || ret == -EHWPOISON) {
			ret = LAZYMAP_VM_STOP_FAULT;
			goto out;
		}
		if (ret)
			goto out;
	}
	ret = LAZYMAP_VM_SERVED;
out:
	*served = done;
	return ret;
}

static int lazymap_vm_access_run(struct lazymap_vm_vcpu *vcpu,
				 const struct lazymap_vm_access *a,
				 struct lazymap_vm_exit *exit)
{
	bool write = a->flags == LAZYMAP_VM_ACCESS_WRITE;
	struct lazymap_vm *vm = vcpu->vm;
	u64 end = a->gpa + a->size;
	u64 pos = a->gpa;
	u64 seg, served;
	bool private = false;
	void __user *data;
	unsigned long left;
	int ret = 0;
	int stop;

	guard(rwsem_read)(&vm->slots_lock);
	while (pos < end) {
		data = u64_to_user_ptr(a->data + (pos - a->gpa));
		seg = min_t(u64, end - pos, LAZYMAP_VM_BOUNCE_SIZE);
		left = 0;
		if (write) {
			left = copy_from_user(vcpu->bounce, data, seg);
			seg -= left;
		}
		stop = lazymap_vm_serve(vm, pos, seg, vcpu->bounce, a->flags,
					&served, &private);
		if (!write && served) {
			left = copy_to_user(data, vcpu->bounce, served);
			if (left) {
				pos += served - left;
				ret = -EFAULT;
				break;
			}
		}
		pos += served;
		if (stop < 0) {
			ret = stop;
			break;
		}
		if (stop == LAZYMAP_VM_STOP_MMIO) {
			exit->reason = LAZYMAP_VM_EXIT_MMIO;
			atomic64_inc(&vm->mmio_exits);
			break;
		}
		if (stop == LAZYMAP_VM_STOP_FAULT) {
			exit->reason = LAZYMAP_VM_EXIT_MEMORY_FAULT;
			if (private)
				exit->flags |= LAZYMAP_VM_MEMORY_EXIT_FLAG_PRIVATE;
			atomic64_inc(&vm->memory_faults);
			ret = -EFAULT;
			break;
		}
		if (left) {
			/* The caller's buffer faulted: no exit. */
			ret = -EFAULT;
			break;
		}
	}
	exit->gpa = pos;
	exit->size = end - pos;
	return ret;
}

static long lazymap_vm_vcpu_access(struct lazymap_vm_vcpu *vcpu,
				   struct lazymap_vm_access __user *uarg)
{
	struct lazymap_vm_exit exit = {};
	struct lazymap_vm_access a;
	long ret;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (!a.flags || (a.flags & ~LAZYMAP_VM_ACCESS_KINDS) ||
	    (a.flags & (a.flags - 1)))
		return -EINVAL;
	if (!a.size || a.size > LAZYMAP_VM_ACCESS_MAX_SIZE ||
	    a.gpa + a.size < a.gpa)
		return -EINVAL;
	if (a.pad1 || a.pad2[0] || a.pad2[1])
		return -EINVAL;
	WRITE_ONCE(vcpu->vm->has_run, true);

	exit.flags = a.flags;
	scoped_guard(mutex, &vcpu->mutex)
		ret = lazymap_vm_access_run(vcpu, &a, &exit);
	if (copy_to_user(&uarg->exit, &exit, sizeof(exit)))
		return -EFAULT;
	return ret;
}

static long lazymap_vm_vcpu_ioctl(struct file *file, unsigned int cmd,
				  unsigned long arg)
{
	struct lazymap_vm_vcpu *vcpu = file->private_data;

	if (!lazymap_vm_is_owner(vcpu->vm))
		return -EIO;
	switch (cmd) {
	case LAZYMAP_VM_VCPU_ACCESS:
		return lazymap_vm_vcpu_access(vcpu, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static int lazymap_vm_vcpu_release(struct inode *inode, struct file *file)
{
	struct lazymap_vm_vcpu *vcpu = file->private_data;

	lazymap_vm_put(vcpu->vm);
	return 0;
}

static const struct file_operations lazymap_vm_vcpu_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = lazymap_vm_vcpu_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = lazymap_vm_vcpu_release,
	.llseek = noop_llseek,
};

/**
 * lazymap_vm_create_vcpu() - CREATE_VCPU
 * @vm: the VM
 * @id: the vCPU id
 *
 * Return: the vCPU fd, or -EINVAL (id out of range), -EEXIST (taken) or
 * -ENOMEM.
 */
int lazymap_vm_create_vcpu(struct lazymap_vm *vm, unsigned long id)
{
	struct lazymap_vm_vcpu *vcpu;
	int ret;

	if (id >= LAZYMAP_VM_MAX_VCPUS)
		return -EINVAL;
	vcpu = kzalloc(sizeof(*vcpu), GFP_KERNEL_ACCOUNT);
	if (!vcpu)
		return -ENOMEM;
	vcpu->bounce = kvmalloc(LAZYMAP_VM_BOUNCE_SIZE, GFP_KERNEL_ACCOUNT);
	if (!vcpu->bounce) {
		ret = -ENOMEM;
		goto free_vcpu;
	}
	vcpu->vm = vm;
	vcpu->id = id;
	mutex_init(&vcpu->mutex);
	ret = xa_insert(&vm->vcpus, id, vcpu, GFP_KERNEL_ACCOUNT);
	if (ret) {
		if (ret == -EBUSY)
			ret = -EEXIST;
		goto destroy_mutex;
	}
	/* The fd's reference; the VM fd's keeps the VM alive until here. */
	kref_get(&vm->refs);
	ret = anon_inode_getfd("lazymap-vm-vcpu", &lazymap_vm_vcpu_fops, vcpu,
			       O_RDWR | O_CLOEXEC);
	if (ret < 0)
		goto erase;
	return ret;

erase:
	xa_erase(&vm->vcpus, id);
	lazymap_vm_put(vm);
destroy_mutex:
	mutex_destroy(&vcpu->mutex);
	kvfree(vcpu->bounce);
free_vcpu:
	kfree(vcpu);
	return ret;
}
