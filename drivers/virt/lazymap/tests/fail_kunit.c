// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit allocation-failure sweeps of the lazymap core: the n-th slab
 * allocation of the test thread fails (current->fail_nth with failslab,
 * whose knobs the suite sets for the test), for n = 1, 2, ... of space
 * creation, mmap, munmap splits, lazymap_get_folio(), revoke and restore,
 * and listener registration; each failure must leave nothing behind.
 */
#include <kunit/test.h>
#include <linux/debugfs.h>
#include <linux/lazymap.h>
#include <linux/mman.h>
#include <linux/pagemap.h>

#include "lazymap_kunit.h"

/*
 * failslab's knobs.  Its debugfs files keep the address of the variable
 * they show in inode->i_private (debugfs_create_bool() and the others of
 * fault_create_debugfs_attr(), mm/failslab.c and lib/fault-inject.c), so
 * a test can set them with no userspace and restore them when it ends.
 */
struct kfailslab {
	bool *ignore_gfp_wait, *task_filter;
	unsigned long *verbose, *probability, *interval;
	atomic_t *times, *space;
	bool old_ignore_gfp_wait, old_task_filter;
	unsigned long old_verbose, old_probability, old_interval;
	int old_times, old_space;
};

static void *kfailslab_knob(struct dentry *dir, const char *name)
{
	struct dentry *dentry = debugfs_lookup(name, dir);
	void *data;

	if (IS_ERR_OR_NULL(dentry))
		return NULL;
	data = d_inode(dentry)->i_private;
	dput(dentry);
	return data;
}

/* The probability first: with it 0 again nothing fails in between. */
static void kfailslab_restore(void *data)
{
	struct kfailslab *fs = data;

	WRITE_ONCE(*fs->probability, fs->old_probability);
	WRITE_ONCE(*fs->interval, fs->old_interval);
	atomic_set(fs->times, fs->old_times);
	atomic_set(fs->space, fs->old_space);
	WRITE_ONCE(*fs->task_filter, fs->old_task_filter);
	WRITE_ONCE(*fs->verbose, fs->old_verbose);
	WRITE_ONCE(*fs->ignore_gfp_wait, fs->old_ignore_gfp_wait);
}

/*
 * Let failslab fail the allocations of this test that may sleep, quietly
 * (a stack dump per injected failure would read as a splat).  Persistent:
 * also fail every allocation of a task with make_it_fail set, which is
 * how a sweep fails everything from the n-th allocation on (the maple
 * tree, for one, retries a failed allocation).  Skips without failslab.
 */
static void kfailslab_setup(struct kunit *test, bool persistent)
{
	struct kfailslab *fs;
	struct dentry *dir;
	int ret;

	if (!IS_ENABLED(CONFIG_FAILSLAB) ||
	    !IS_ENABLED(CONFIG_FAULT_INJECTION_DEBUG_FS))
		kunit_skip(test, "needs CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS");
	fs = kunit_kzalloc(test, sizeof(*fs), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fs);
	dir = debugfs_lookup("failslab", NULL);
	if (IS_ERR_OR_NULL(dir))
		kunit_skip(test, "no failslab directory in debugfs");
	fs->ignore_gfp_wait = kfailslab_knob(dir, "ignore-gfp-wait");
	fs->task_filter = kfailslab_knob(dir, "task-filter");
	fs->verbose = kfailslab_knob(dir, "verbose");
	fs->probability = kfailslab_knob(dir, "probability");
	fs->interval = kfailslab_knob(dir, "interval");
	fs->times = kfailslab_knob(dir, "times");
	fs->space = kfailslab_knob(dir, "space");
	dput(dir);
	if (!fs->ignore_gfp_wait || !fs->task_filter || !fs->verbose ||
	    !fs->probability || !fs->interval || !fs->times || !fs->space)
		kunit_skip(test, "failslab's debugfs files are missing");

	fs->old_ignore_gfp_wait = READ_ONCE(*fs->ignore_gfp_wait);
	fs->old_task_filter = READ_ONCE(*fs->task_filter);
	fs->old_verbose = READ_ONCE(*fs->verbose);
	fs->old_probability = READ_ONCE(*fs->probability);
	fs->old_interval = READ_ONCE(*fs->interval);
	fs->old_times = atomic_read(fs->times);
	fs->old_space = atomic_read(fs->space);
	ret = kunit_add_action_or_reset(test, kfailslab_restore, fs);
	KUNIT_ASSERT_EQ(test, ret, 0);

	WRITE_ONCE(*fs->ignore_gfp_wait, false);
	WRITE_ONCE(*fs->verbose, 0);
	if (!persistent)
		return;
	WRITE_ONCE(*fs->task_filter, true);
	atomic_set(fs->space, 0);
	atomic_set(fs->times, -1);
	WRITE_ONCE(*fs->interval, 1);
	WRITE_ONCE(*fs->probability, 100);
}

/*
 * One sweep: run an operation with the n-th slab allocation of the test
 * thread failed (current->fail_nth, as /proc/thread-self/fail-nth sets
 * it), and in persistent mode every one after it too, for n = 1, 2, ...
 * until the operation succeeds without reaching the n-th allocation.
 */
struct kfail {
	unsigned int nth;	/* the allocation to fail, from 1 */
	bool persistent;
	bool reached;		/* the last run reached the n-th allocation */
	unsigned int nr_failed;	/* runs that failed */
};

#define KFAIL_MAX	1000

static void kfail_arm(struct kfail *f)
{
#ifdef CONFIG_FAULT_INJECTION
	f->reached = false;
	WRITE_ONCE(current->fail_nth, f->nth);
	/* After fail_nth: while it counts down, make_it_fail waits. */
	if (f->persistent)
		WRITE_ONCE(current->make_it_fail, 1);
#endif
}

/* Right after the operation, before anything else allocates. */
static void kfail_disarm(struct kfail *f)
{
#ifdef CONFIG_FAULT_INJECTION
	WRITE_ONCE(current->make_it_fail, 0);
	f->reached = !READ_ONCE(current->fail_nth);
	WRITE_ONCE(current->fail_nth, 0);
#endif
}

/*
 * Check a run's result: 0, or @err only when the n-th allocation was
 * failed.  True once the sweep is over.
 */
static bool kfail_done(struct kunit *test, struct kfail *f, int ret, int err)
{
	if (!ret)
		return !f->reached;
	f->nr_failed++;
	KUNIT_EXPECT_EQ_MSG(test, ret, err, "fail-nth %u", f->nth);
	KUNIT_EXPECT_TRUE_MSG(test, f->reached,
			      "fail-nth %u: failed without an injected failure",
			      f->nth);
	return false;
}

static void kfail_report(struct kunit *test, struct kfail *f)
{
	KUNIT_EXPECT_LE_MSG(test, f->nth, KFAIL_MAX, "the sweep did not end");
	kunit_info(test, "%u runs, %u failed\n", f->nth, f->nr_failed);
}

struct create_fail_case {
	const char *name;
	enum lazymap_kind kind;
	bool adopt;		/* an adopted mapping and gate, else its own */
	bool persistent;
};

static const struct create_fail_case create_fail_cases[] = {
	{ "page own inode", LAZYMAP_KIND_PAGE, false, false },
	{ "pfn own inode", LAZYMAP_KIND_PFN, false, false },
	{ "folio own inode", LAZYMAP_KIND_FOLIO, false, false },
	{ "page adopted", LAZYMAP_KIND_PAGE, true, false },
	{ "pfn adopted", LAZYMAP_KIND_PFN, true, false },
	{ "folio adopted", LAZYMAP_KIND_FOLIO, true, false },
	{ "page own inode persistent", LAZYMAP_KIND_PAGE, false, true },
	{ "pfn own inode persistent", LAZYMAP_KIND_PFN, false, true },
	{ "folio own inode persistent", LAZYMAP_KIND_FOLIO, false, true },
	{ "page adopted persistent", LAZYMAP_KIND_PAGE, true, true },
	{ "pfn adopted persistent", LAZYMAP_KIND_PFN, true, true },
	{ "folio adopted persistent", LAZYMAP_KIND_FOLIO, true, true },
};

static void create_fail_desc(const struct create_fail_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(create_fail, create_fail_cases, create_fail_desc);

/* Is there a debugfs directory lazymap/<name>? */
static bool kspace_in_debugfs(const char *name)
{
	struct dentry *root, *dir;

	root = debugfs_lookup("lazymap", NULL);
	if (IS_ERR_OR_NULL(root))
		return false;
	dir = debugfs_lookup(name, root);
	dput(root);
	if (IS_ERR_OR_NULL(dir))
		return false;
	dput(dir);
	return true;
}

/*
 * A failed lazymap_space_create() leaves nothing behind: no debugfs
 * directory, no release of the consumer's data (it still owns it); a
 * successful one is released once, on its only put.  Without an adopted
 * mapping no other space is alive, so every run also mounts and unmounts
 * lazymap's pseudo filesystem.
 */
static void lazymap_test_fail_create(struct kunit *test)
{
	const struct create_fail_case *c = test->param_value;
	struct lazymap_space_params p = {
		.name = "kunit-fail-create", .ops = &kspace_ops, .kind = c->kind,
		.size = SZ_SPACE,
	};
	struct kfail f = { .persistent = c->persistent };
	struct lazymap_space *space;
	int created = 0;
	struct kspace *ks;
	int ret;

	if (c->adopt) {
		p.mapping = kforeign_mapping(test);
		p.gate = kunit_kzalloc(test, sizeof(*p.gate), GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, p.gate);
		init_rwsem(p.gate);
	}
	ks = kunit_kzalloc(test, sizeof(*ks), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ks);
	p.private = ks;
	kfailslab_setup(test, c->persistent);

	for (f.nth = 1; f.nth <= KFAIL_MAX; f.nth++) {
		kfail_arm(&f);
		space = lazymap_space_create(&p);
		kfail_disarm(&f);
		ret = PTR_ERR_OR_ZERO(space);
		if (ret) {
			KUNIT_EXPECT_FALSE(test, kspace_in_debugfs(p.name));
		} else {
			created++;
			KUNIT_EXPECT_EQ(test, kref_read(&space->ref), 1);
			KUNIT_EXPECT_PTR_EQ(test, lazymap_space_private(space),
					    (void *)ks);
			if (c->adopt) {
				KUNIT_EXPECT_PTR_EQ(test,
						    lazymap_space_mapping(space),
						    p.mapping);
				KUNIT_EXPECT_PTR_EQ(test,
						    lazymap_space_gate(space),
						    p.gate);
			}
			lazymap_space_put(space);
			lazymap_wait_for_releases();
			KUNIT_EXPECT_FALSE(test, kspace_in_debugfs(p.name));
		}
		KUNIT_EXPECT_EQ(test, ks->releases, created);
		if (kfail_done(test, &f, ret, -ENOMEM))
			break;
	}
	kfail_report(test, &f);
	KUNIT_EXPECT_GT(test, f.nr_failed, 0);
	KUNIT_EXPECT_EQ(test, ks->resolves, 0);
}

struct kind_fail_case {
	const char *name;
	enum lazymap_kind kind;
	bool persistent;
};

static const struct kind_fail_case kind_fail_cases[] = {
	{ "page", LAZYMAP_KIND_PAGE, false },
	{ "pfn", LAZYMAP_KIND_PFN, false },
	{ "folio", LAZYMAP_KIND_FOLIO, false },
	{ "page persistent", LAZYMAP_KIND_PAGE, true },
	{ "pfn persistent", LAZYMAP_KIND_PFN, true },
	{ "folio persistent", LAZYMAP_KIND_FOLIO, true },
};

static void kind_fail_desc(const struct kind_fail_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(kind_fail, kind_fail_cases, kind_fail_desc);

/*
 * mmap() through lazymap_mmap() with allocations failing in it and around
 * it (the VMA, the maple tree): a failed mmap() leaves no record and no
 * reference; a successful one maps and unmaps as usual.  vm_mmap() itself
 * in the sweep: kunit_vm_mmap() allocates too, and unmaps with its own
 * allocations failing when it cannot record a mapping.
 */
static void lazymap_test_fail_mmap(struct kunit *test)
{
	const struct kind_fail_case *c = test->param_value;
	struct kfail f = { .persistent = c->persistent };
	int ret, mmaps, failed_in_lazymap = 0;
	struct kmapping *m;
	unsigned long addr;
	struct krec r;
	u8 val;

	m = kmapping_create(test, c->kind);
	/* Attach the mm to the test thread before the sweep. */
	addr = kmapping_mmap(test, m, 0, 4);
	KUNIT_ASSERT_EQ(test, vm_munmap(addr, 4 * PAGE_SIZE), 0);
	kfailslab_setup(test, c->persistent);

	for (f.nth = 1; f.nth <= KFAIL_MAX; f.nth++) {
		mmaps = m->km->mmaps;
		kfail_arm(&f);
		addr = vm_mmap(m->file, 0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_SHARED, PAGE_SIZE);
		kfail_disarm(&f);
		ret = IS_ERR_VALUE(addr) ? (int)addr : 0;
		/* Nothing fails after ->mmap(): such a failure is lazymap's. */
		if (ret && m->km->mmaps != mmaps)
			failed_in_lazymap++;
		if (ret) {
			KUNIT_EXPECT_EQ(test, krecs(test, m->space, &r, 1), 0);
			KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 1);
		} else {
			r = krec_one(test, m->space);
			KUNIT_EXPECT_EQ(test, r.start, addr);
			KUNIT_EXPECT_EQ(test, r.pgoff, 1);
			KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 2);
			KUNIT_EXPECT_EQ(test, kmap_read(addr, &val), 0);
			KUNIT_EXPECT_EQ(test, val, KMAP_BYTE(1));
			KUNIT_ASSERT_EQ(test, vm_munmap(addr, 4 * PAGE_SIZE), 0);
			KUNIT_EXPECT_EQ(test, krecs(test, m->space, &r, 1), 0);
			KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 1);
		}
		if (kfail_done(test, &f, ret, -ENOMEM))
			break;
	}
	kfail_report(test, &f);
	KUNIT_EXPECT_GT(test, failed_in_lazymap, 0);
}

/*
 * Check the space's records against the VMAs of @m's file in the test's
 * mm: one record per VMA, with its range.
 */
static void krecs_match_vmas(struct kunit *test, struct kmapping *m)
{
	VMA_ITERATOR(vmi, current->mm, 0);
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct krec r[4] = {};
	unsigned int n, i = 0;

	n = krecs(test, m->space, r, ARRAY_SIZE(r));
	KUNIT_ASSERT_LE(test, n, ARRAY_SIZE(r));
	mmap_read_lock(mm);
	for_each_vma(vmi, vma) {
		if (vma->vm_file != m->file)
			continue;
		if (i < n) {
			KUNIT_EXPECT_EQ(test, r[i].start, vma->vm_start);
			KUNIT_EXPECT_EQ(test, r[i].end, vma->vm_end);
			KUNIT_EXPECT_EQ(test, r[i].pgoff, vma->vm_pgoff);
			KUNIT_EXPECT_PTR_EQ(test, vma->vm_private_data,
					    (void *)krec_find(m->space, vma));
		}
		i++;
	}
	mmap_read_unlock(mm);
	KUNIT_EXPECT_EQ(test, i, n);
	KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 1 + n);
}

/*
 * munmap() of the middle of a VMA with allocations failing: a split that
 * fails leaves every VMA with its own record (vm_ops->open() cannot fail,
 * its allocation is __GFP_NOFAIL, which failslab leaves alone).  Single
 * failures only: with every allocation failing, munmap()'s own maple tree
 * store (mas_store_gfp() into the detached tree, mm/vma.c) retries for as
 * long as it got some of its nodes, forever in 6.12, as lazymap's revoke
 * once did (see the revoke sweep).
 */
static void lazymap_test_fail_split(struct kunit *test)
{
	const struct kind_case *c = test->param_value;
	struct kfail f = { .persistent = false };
	struct kmapping *m;
	unsigned long addr;
	unsigned int n;
	int i, ret;
	u8 val;

	m = kmapping_create(test, c->kind);
	addr = kmapping_mmap(test, m, 0, 8);
	KUNIT_ASSERT_EQ(test, vm_munmap(addr, 8 * PAGE_SIZE), 0);
	kfailslab_setup(test, false);

	for (f.nth = 1; f.nth <= KFAIL_MAX; f.nth++) {
		addr = vm_mmap(m->file, 0, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_SHARED, 0);
		KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
		for (i = 0; i < 8; i++)
			KUNIT_ASSERT_EQ(test, kmap_read(addr + i * PAGE_SIZE,
							&val), 0);

		kfail_arm(&f);
		ret = vm_munmap(addr + 2 * PAGE_SIZE, 3 * PAGE_SIZE);
		kfail_disarm(&f);

		/* A failed munmap() may have split off the first part. */
		krecs_match_vmas(test, m);
		n = krecs(test, m->space, NULL, 0);
		KUNIT_EXPECT_TRUE_MSG(test, n == 2 || (ret && n == 1),
				      "fail-nth %u: %d, %u records", f.nth, ret,
				      n);
		/* Whatever is still mapped still reads its page. */
		for (i = 0; i < 8; i++)
			if (ret || i < 2 || i >= 5)
				KUNIT_EXPECT_EQ(test, kmap_read(addr + i * PAGE_SIZE,
								&val), 0);
		KUNIT_ASSERT_EQ(test, vm_munmap(addr, 8 * PAGE_SIZE), 0);
		KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 1);
		if (kfail_done(test, &f, ret, -ENOMEM))
			break;
	}
	kfail_report(test, &f);
	KUNIT_EXPECT_GT(test, f.nr_failed, 0);
}

static const struct kind_fail_case get_folio_fail_cases[] = {
	{ "folio", LAZYMAP_KIND_FOLIO, false },
	{ "folio persistent", LAZYMAP_KIND_FOLIO, true },
};

KUNIT_ARRAY_PARAM(get_folio_fail, get_folio_fail_cases, kind_fail_desc);

/*
 * lazymap_get_folio() with the page cache's allocations failing (its
 * xarray nodes: the offset is far enough to need two): an error is
 * -ENOMEM and leaves no folio in the page cache.
 */
static void lazymap_test_fail_get_folio(struct kunit *test)
{
	const struct kind_fail_case *c = test->param_value;
	struct lazymap_space_params p = {
		.name = "kunit-fail-folio", .kind = c->kind, .size = SZ_1M,
	};
	struct kfail f = { .persistent = c->persistent };
	const pgoff_t pgoff = (SZ_1M >> PAGE_SHIFT) - 3;
	struct address_space *mapping;
	struct lazymap_space *space;
	struct folio *folio;
	struct kspace *ks;
	int ret;

	space = kspace_create(test, &ks, &p);
	mapping = lazymap_space_mapping(space);
	kfailslab_setup(test, c->persistent);

	for (f.nth = 1; f.nth <= KFAIL_MAX; f.nth++) {
		kfail_arm(&f);
		folio = lazymap_get_folio(space, pgoff, 0);
		kfail_disarm(&f);
		ret = PTR_ERR_OR_ZERO(folio);
		if (ret) {
			KUNIT_EXPECT_EQ(test, mapping->nrpages, 0);
		} else {
			KUNIT_EXPECT_TRUE(test, folio_contains(folio, pgoff));
			KUNIT_EXPECT_TRUE(test, folio_test_uptodate(folio));
			KUNIT_EXPECT_NULL(test, memchr_inv(folio_address(folio),
							   0, folio_size(folio)));
			KUNIT_EXPECT_EQ(test, mapping->nrpages, 1);
			folio_put(folio);
			truncate_inode_pages(mapping, 0);
		}
		if (kfail_done(test, &f, ret, -ENOMEM))
			break;
	}
	kfail_report(test, &f);
	/* A single failure is retried: xas_nomem() after GFP_NOWAIT. */
	if (c->persistent)
		KUNIT_EXPECT_GT(test, f.nr_failed, 0);
}

struct revoke_fail_case {
	const char *name;
	bool restore;		/* sweep lazymap_restore(), else revoke */
	u64 pre;		/* pages revoked before, one bit each */
	pgoff_t first, nr;	/* the operation's range */
	bool persistent;
};

#define STRIPES		0x5555555555555555ULL

/*
 * Only stores that need new maple nodes can fail: into an empty tree, one
 * emptying it, one spanning leaves (the stripes make a tree of several);
 * a store inside one leaf is done in place.  The persistent cases of
 * stores that need several nodes once hung: mtree_store_range() retried
 * forever once it had some of its nodes and the rest kept failing; the
 * core now allocates them all up front (lazymap_revoked_store()).
 */
static const struct revoke_fail_case revoke_fail_cases[] = {
	{ "revoke", false, 0, 4, 8, false },
	{ "revoke persistent", false, 0, 4, 8, true },
	{ "revoke next to revoked persistent", false, 0x000c, 4, 8, true },
	{ "revoke across stripes", false, STRIPES, 12, 28, false },
	{ "revoke across stripes persistent", false, STRIPES, 12, 28, true },
	{ "revoke stripes' end", false, STRIPES, 40, 24, false },
	{ "revoke stripes' end persistent", false, STRIPES, 40, 24, true },
	{ "restore persistent", true, 0x0ff0, 4, 8, true },
	{ "restore a hole", true, 0x0ff0, 6, 2, false },
	{ "restore across stripes", true, STRIPES, 12, 28, false },
	{ "restore across stripes persistent", true, STRIPES, 12, 28, true },
	{ "restore all stripes", true, STRIPES, 0, SPACE_PAGES, false },
	{ "restore all stripes persistent", true, STRIPES, 0, SPACE_PAGES,
	  true },
};

static void revoke_fail_desc(const struct revoke_fail_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(revoke_fail, revoke_fail_cases, revoke_fail_desc);

/* Which pages of the space are revoked, one bit each. */
static u64 krevoked(struct lazymap_space *space)
{
	u64 bits = 0;
	pgoff_t i;

	down_read(lazymap_space_gate(space));
	for (i = 0; i < SPACE_PAGES; i++)
		if (lazymap_range_revoked(space, i, i + 1))
			bits |= BIT_ULL(i);
	up_read(lazymap_space_gate(space));
	return bits;
}

/* Revoke exactly the pages of @pre, and map the others of the VMA. */
static void krevoke_reset(struct kunit *test, struct kmapping *m,
			  unsigned long addr, u64 pre)
{
	int i;
	u8 val;

	KUNIT_ASSERT_EQ(test, lazymap_restore(m->space, 0, SPACE_PAGES), 0);
	for (i = 0; i < SPACE_PAGES; i++)
		if (pre & BIT_ULL(i))
			KUNIT_ASSERT_EQ(test, lazymap_revoke(m->space,
							     i, i + 1), 0);
	KUNIT_ASSERT_EQ(test, krevoked(m->space), pre);
	for (i = 0; i < KMAP_PAGES; i++)
		if (!(pre & BIT_ULL(i)))
			KUNIT_ASSERT_EQ(test, kmap_read(addr + i * PAGE_SIZE,
							&val), 0);
}

/*
 * lazymap_revoke() and lazymap_restore() store into the maple tree of
 * revoked ranges before they touch anything else: on -ENOMEM nothing is
 * revoked, restored, unmapped, counted or invalidated.  A VMA over the
 * backed pages, with every one not revoked mapped, and a listener over
 * the whole space see what happens.
 */
static void lazymap_test_fail_revoke(struct kunit *test)
{
	const struct revoke_fail_case *c = test->param_value;
	u64 op = GENMASK_ULL(c->first + c->nr - 1, c->first);
	struct kfail f = { .persistent = c->persistent };
	struct lazymap_stats st0, st;
	bool changed, mapped;
	struct klistener *kl;
	struct kmapping *m;
	unsigned long addr;
	u64 after, expect;
	struct krec r0, r;
	int ret, calls, i;

	m = kmapping_create(test, LAZYMAP_KIND_PAGE);
	addr = kmapping_mmap(test, m, 0, KMAP_PAGES);
	kl = klistener_add(test, m->space);
	kfailslab_setup(test, c->persistent);

	for (f.nth = 1; f.nth <= KFAIL_MAX; f.nth++) {
		krevoke_reset(test, m, addr, c->pre);
		lazymap_space_stats(m->space, &st0);
		r0 = krec_one(test, m->space);
		calls = kl->calls;

		kfail_arm(&f);
		if (c->restore)
			ret = lazymap_restore(m->space, c->first,
					      c->first + c->nr);
		else
			ret = lazymap_revoke(m->space, c->first,
					     c->first + c->nr);
		kfail_disarm(&f);

		after = krevoked(m->space);
		lazymap_space_stats(m->space, &st);
		r = krec_one(test, m->space);
		if (ret)
			expect = c->pre;
		else if (c->restore)
			expect = c->pre & ~op;
		else
			expect = c->pre | op;
		KUNIT_EXPECT_EQ_MSG(test, after, expect, "fail-nth %u: %d",
				    f.nth, ret);
		KUNIT_EXPECT_EQ(test, st.revokes,
				st0.revokes + (!ret && !c->restore));
		KUNIT_EXPECT_EQ(test, st.restores,
				st0.restores + (!ret && c->restore));
		/* Only a revoke unmaps and invalidates. */
		changed = !ret && !c->restore;
		KUNIT_EXPECT_EQ(test, st.zaps, st0.zaps + changed);
		KUNIT_EXPECT_EQ(test, r.zaps, r0.zaps + (changed && c->first <
							  KMAP_PAGES));
		KUNIT_EXPECT_EQ(test, kl->calls, calls + changed);
		for (i = 0; i < KMAP_PAGES; i++) {
			mapped = !(c->pre & BIT_ULL(i)) &&
				 !(changed && (op & BIT_ULL(i)));
			KUNIT_EXPECT_EQ_MSG(test, kmap_mapped(m, addr +
							      i * PAGE_SIZE, i),
					    mapped, "fail-nth %u: page %d",
					    f.nth, i);
		}
		if (kfail_done(test, &f, ret, -ENOMEM))
			break;
	}
	kfail_report(test, &f);
	KUNIT_ASSERT_EQ(test, vm_munmap(addr, KMAP_SIZE), 0);
}

/* Registering a listener allocates nothing: it cannot fail for memory. */
static void lazymap_test_fail_listener(struct kunit *test)
{
	struct kfail f = { .persistent = true };
	struct lazymap_space *space;
	struct klistener *kl;
	struct kspace *ks;
	int ret, zaps = 0;

	space = kspace_create(test, &ks, NULL);
	kl = kunit_kzalloc(test, sizeof(*kl), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, kl);
	kl->l.ops = &klistener_ops;
	kfailslab_setup(test, true);

	for (f.nth = 1; f.nth <= KFAIL_MAX; f.nth++) {
		kfail_arm(&f);
		ret = lazymap_listener_register(space, &kl->l, 4, 8);
		kfail_disarm(&f);
		if (!ret) {
			KUNIT_EXPECT_EQ(test, lazymap_zap(space, 0, SPACE_PAGES), 0);
			KUNIT_EXPECT_EQ(test, kl->start, 4);
			KUNIT_EXPECT_EQ(test, kl->end, 8);
			lazymap_listener_unregister(&kl->l);
			zaps++;
		}
		KUNIT_EXPECT_EQ(test, kl->calls, zaps);
		if (kfail_done(test, &f, ret, -ENOMEM))
			break;
	}
	kfail_report(test, &f);
}

static struct kunit_case lazymap_fail_cases[] = {
	KUNIT_CASE_PARAM(lazymap_test_fail_create, create_fail_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_fail_mmap, kind_fail_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_fail_split, kmap_kind_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_fail_get_folio, get_folio_fail_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_fail_revoke, revoke_fail_gen_params),
	KUNIT_CASE(lazymap_test_fail_listener),
	{}
};

static struct kunit_suite lazymap_fail_suite = {
	.name = "lazymap_fail",
	.test_cases = lazymap_fail_cases,
};

kunit_test_suite(lazymap_fail_suite);
