// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-vm debugfs: lazymap-vm/<pid>-<n>/ per VM, with
 * - slots: a line per slot (id, guest range, userspace address, flags,
 *   locked pages, dirty-logged or not);
 * - stage2: entries mapped now and installed so far, by level;
 * - stats: invalidations, 4K pages they dropped, pinned pages, exits.
 * The directory lives from CREATE_VM to the VM's last reference;
 * debugfs_remove() waits for readers, which hold no VM reference.
 */
#include <linux/debugfs.h>
#include <linux/sched.h>
#include <linux/seq_file.h>

#include "lazymap_vm.h"

static struct dentry *lazymap_vm_debugfs_root;
static atomic_t lazymap_vm_debugfs_seq = ATOMIC_INIT(0);

static int lazymap_vm_slots_show(struct seq_file *m, void *unused)
{
	struct lazymap_vm *vm = m->private;
	struct lazymap_vm_slot *slot;
	unsigned long id;

	seq_puts(m, "# id gpa_start gpa_end hva flags locked_pages lock_perm dirty_log\n");
	guard(rwsem_read)(&vm->slots_lock);
	xa_for_each(&vm->slots, id, slot)
		seq_printf(m, "%u %#llx %#llx %#lx %#x %llu %#llx %d\n", slot->id,
			   slot->base_gfn << PAGE_SHIFT,
			   (slot->base_gfn + slot->npages) << PAGE_SHIFT,
			   slot->hva, slot->flags,
			   slot->pinned ? slot->npages : 0, slot->lock_perm,
			   !!slot->dirty_bitmap);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(lazymap_vm_slots);

static int lazymap_vm_bindings_show(struct seq_file *m, void *unused)
{
	struct lazymap_vm *vm = m->private;
	struct lazymap_vm_binding *b;
	unsigned long index = 0;

	seq_puts(m, "# gpa_start gpa_end guest_memfd offset kind perm slot\n");
	guard(rwsem_read)(&vm->slots_lock);
	mt_for_each(&vm->bindings, b, index, ULONG_MAX) {
		seq_printf(m, "%#llx %#llx %s %#llx %s %c%c%c ",
			   b->gfn << PAGE_SHIFT, (b->gfn + b->npages) << PAGE_SHIFT,
			   b->gmem ? b->gmem->name : "(closed)",
			   b->pgoff << PAGE_SHIFT,
			   b->flags & LAZYMAP_VM_MAP_LEND ? "lend" : "share",
			   b->perm & LAZYMAP_VM_PERM_R ? 'r' : '-',
			   b->perm & LAZYMAP_VM_PERM_W ? 'w' : '-',
			   b->perm & LAZYMAP_VM_PERM_X ? 'x' : '-');
		if (b->slot)
			seq_printf(m, "%u\n", b->slot->id);
		else
			seq_puts(m, "-\n");
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(lazymap_vm_bindings);

static int lazymap_vm_stage2_show(struct seq_file *m, void *unused)
{
	static const char * const names[LAZYMAP_VM_NR_LEVELS] = { "4K", "2M", "1G" };
	struct lazymap_vm *vm = m->private;
	unsigned int level;

	seq_puts(m, "# level entries installed\n");
	for (level = 0; level < LAZYMAP_VM_NR_LEVELS; level++)
		seq_printf(m, "%s %lld %lld\n", names[level],
			   atomic64_read(&vm->s2.nr_entries[level]),
			   atomic64_read(&vm->s2.installed[level]));
	seq_printf(m, "pages %lld\n", atomic64_read(&vm->s2.pages));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(lazymap_vm_stage2);

static int lazymap_vm_stats_show(struct seq_file *m, void *unused)
{
	struct lazymap_vm *vm = m->private;

	seq_printf(m, "invalidations %lld\n", atomic64_read(&vm->invalidations));
	seq_printf(m, "invalidated_pages %lld\n",
		   atomic64_read(&vm->s2_invalidated));
	seq_printf(m, "pinned_pages %lld\n", atomic64_read(&vm->locked_pages));
	seq_printf(m, "mmio_exits %lld\n", atomic64_read(&vm->mmio_exits));
	seq_printf(m, "memory_faults %lld\n", atomic64_read(&vm->memory_faults));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(lazymap_vm_stats);

/**
 * lazymap_vm_debugfs_add() - create the VM's directory
 * @vm: the VM
 */
void lazymap_vm_debugfs_add(struct lazymap_vm *vm)
{
	char name[32];

	snprintf(name, sizeof(name), "%d-%d", task_tgid_nr(current),
		 atomic_inc_return(&lazymap_vm_debugfs_seq));
	vm->debugfs = debugfs_create_dir(name, lazymap_vm_debugfs_root);
	debugfs_create_file("slots", 0400, vm->debugfs, vm,
			    &lazymap_vm_slots_fops);
	debugfs_create_file("bindings", 0400, vm->debugfs, vm,
			    &lazymap_vm_bindings_fops);
	debugfs_create_file("stage2", 0400, vm->debugfs, vm,
			    &lazymap_vm_stage2_fops);
	debugfs_create_file("stats", 0400, vm->debugfs, vm,
			    &lazymap_vm_stats_fops);
}

/**
 * lazymap_vm_debugfs_remove() - remove it, waiting for readers
 * @vm: the VM
 */
void lazymap_vm_debugfs_remove(struct lazymap_vm *vm)
{
	debugfs_remove(vm->debugfs);
	vm->debugfs = NULL;
}

void lazymap_vm_debugfs_init(void)
{
	lazymap_vm_debugfs_root = debugfs_create_dir("lazymap-vm", NULL);
}

void lazymap_vm_debugfs_exit(void)
{
	debugfs_remove(lazymap_vm_debugfs_root);
}
