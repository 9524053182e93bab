// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap debugfs: lazymap/<space>/mappings (one line per tracked VMA) and
 * lazymap/<space>/stats.  A space's directory lives from creation to its
 * release, after the last reference; debugfs_remove() waits for readers,
 * which hold no reference of their own.  The release runs from a
 * workqueue, so a name is free again only once lazymap_wait_for_releases()
 * returned: a consumer that reuses a name waits for it.
 */
#include <linux/debugfs.h>
#include <linux/rcupdate.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>

#include "lazymap_internal.h"

static struct dentry *lazymap_debugfs_root;

/*
 * The owner of a VMA copied by fork is not known when vm_ops->open() runs
 * (the child has no pid yet); with memcg the mm knows its owner task.
 */
static pid_t lazymap_vma_owner(struct lazymap_vma *rec, char *comm)
{
	pid_t pid = rec->pid;

	memcpy(comm, rec->comm, TASK_COMM_LEN);
#ifdef CONFIG_MEMCG
	if (!pid) {
		struct task_struct *owner;

		rcu_read_lock();
		owner = rcu_dereference(rec->vma->vm_mm->owner);
		if (owner) {
			pid = task_tgid_nr(owner);
			__get_task_comm(comm, TASK_COMM_LEN, owner);
		}
		rcu_read_unlock();
	}
#endif
	return pid;
}

static int lazymap_mappings_show(struct seq_file *m, void *unused)
{
	struct lazymap_space *space = m->private;
	unsigned long start, end, pgoff;
	char comm[TASK_COMM_LEN];
	struct lazymap_vma *rec;
	pid_t pid;

	seq_puts(m, "# pid comm start end pgoff faults_4k faults_2m faults_1g zaps\n");
	mutex_lock(&space->vmas_lock);
	list_for_each_entry(rec, &space->vmas, link) {
		/*
		 * The VMA cannot be freed: close() takes vmas_lock first.  Its
		 * range may change under a concurrent split (mmap_lock is not
		 * held here): a torn line is acceptable for debugfs.
		 */
		start = data_race(rec->vma->vm_start);
		/* as above */
		end = data_race(rec->vma->vm_end);
		/* as above */
		pgoff = data_race(rec->vma->vm_pgoff);
		pid = lazymap_vma_owner(rec, comm);
		seq_printf(m, "%d %s %lx %lx %lx %llu %llu %llu %llu\n",
			   pid, pid ? comm : "-", start, end, pgoff,
			   atomic64_read(&rec->faults[LAZYMAP_LEVEL_PTE]),
			   atomic64_read(&rec->faults[LAZYMAP_LEVEL_PMD]),
			   atomic64_read(&rec->faults[LAZYMAP_LEVEL_PUD]),
			   atomic64_read(&rec->zaps));
	}
	mutex_unlock(&space->vmas_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(lazymap_mappings);

static int lazymap_stats_show(struct seq_file *m, void *unused)
{
	struct lazymap_space *space = m->private;
	struct lazymap_stats st;

	lazymap_space_stats(space, &st);
	seq_printf(m, "faults_4k: %llu\nfaults_2m: %llu\nfaults_1g: %llu\n",
		   st.faults[LAZYMAP_LEVEL_PTE], st.faults[LAZYMAP_LEVEL_PMD],
		   st.faults[LAZYMAP_LEVEL_PUD]);
	seq_printf(m, "fallbacks: %llu\nsigbus: %llu\nzaps: %llu\n",
		   st.fallbacks, st.sigbus, st.zaps);
	seq_printf(m, "revokes: %llu\nrestores: %llu\nlaunders: %llu\n",
		   st.revokes, st.restores, st.launders);
	seq_printf(m, "invalidations: %llu\nmappings: %llu\n",
		   st.invalidations, st.mappings);
	if (space->ops->describe)
		space->ops->describe(space, m);
	else
		seq_printf(m, "size: %llu\n", space->size);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(lazymap_stats);

void lazymap_debugfs_add(struct lazymap_space *space)
{
	struct dentry *dir;

	if (!lazymap_debugfs_root)
		return;
	/* A duplicate name only costs the space its debugfs files. */
	dir = debugfs_create_dir(space->name, lazymap_debugfs_root);
	if (IS_ERR(dir))
		return;
	space->debugfs = dir;
	debugfs_create_file("mappings", 0400, dir, space, &lazymap_mappings_fops);
	debugfs_create_file("stats", 0400, dir, space, &lazymap_stats_fops);
}

void lazymap_debugfs_remove(struct lazymap_space *space)
{
	debugfs_remove(space->debugfs);
	space->debugfs = NULL;
}

void lazymap_debugfs_init(void)
{
	struct dentry *root = debugfs_create_dir("lazymap", NULL);

	lazymap_debugfs_root = IS_ERR(root) ? NULL : root;
}

void lazymap_debugfs_exit(void)
{
	debugfs_remove(lazymap_debugfs_root);
	lazymap_debugfs_root = NULL;
}
