// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the lazymap core: fault order math, space lifecycle,
 * revoke/restore ranges, listeners and launder; the per-VMA tracking
 * records through real VMAs of the test's own mm (kunit_vm_mmap(), faults
 * taken by uaccess from the test thread); and the error paths, swept with
 * failslab and the task's fail_nth.  Fork and huge faults are covered by
 * the selftests in tools/testing/selftests/lazymap/.
 *
 * A space mapped by a test owns its provider data (struct kmap): the
 * space's release op frees it.  A test that ends early leaves its VMAs to
 * the exit of its thread, which may come after the cleanup actions; the
 * last reference then frees the memory, whoever drops it.
 */
#include <kunit/test.h>
#include <kunit/visibility.h>
#include <linux/anon_inodes.h>
#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/gfp.h>
#include <linux/lazymap.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>

#include "../lazymap_internal.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define SZ_SPACE	(64 * PAGE_SIZE)
#define SPACE_PAGES	(SZ_SPACE >> PAGE_SHIFT)

/* --- fault order math ------------------------------------------------- */

struct fits_case {
	const char *name;
	unsigned long vm_start, vm_end, vm_pgoff, address;
	unsigned int order;
	int ret;
	unsigned long aligned;
	pgoff_t pgoff;
};

static const struct fits_case fits_cases[] = {
	{ "pte inside", 0x10000000, 0x10400000, 0, 0x10123456, 0,
	  0, 0x10123000, 0x123 },
	{ "pte with pgoff", 0x10000000, 0x10400000, 7, 0x10001000, 0,
	  0, 0x10001000, 8 },
	{ "pmd aligned", 0x10000000, 0x10400000, 0, 0x10234567, 9,
	  0, 0x10200000, 0x200 },
	{ "pmd past end", 0x10000000, 0x10300000, 0, 0x10234567, 9,
	  -ERANGE },
	{ "pmd before start", 0x10100000, 0x10400000, 0, 0x10100000, 9,
	  -ERANGE },
	{ "pmd misaligned pgoff", 0x10000000, 0x10400000, 1, 0x10200000, 9,
	  -ERANGE },
	{ "pmd start unaligned, pgoff compensates", 0x10001000, 0x10801000, 1,
	  0x10400000, 9, 0, 0x10400000, 0x400 },
	{ "pmd start unaligned", 0x10001000, 0x10801000, 0, 0x10400000, 9,
	  -ERANGE },
	{ "pud aligned", 0x40000000, 0x80000000, 0, 0x7fffffff, 18,
	  0, 0x40000000, 0 },
	{ "pud one page short", 0x40000000, 0x7ffff000, 0, 0x40000000, 18,
	  -ERANGE },
	{ "pud pgoff 2M only", 0x40000000, 0x80000000, 0x200, 0x40000000, 18,
	  -ERANGE },
	{ "top of address space", 0xffffffffffc00000UL, 0xfffffffffffff000UL,
	  0, 0xffffffffffffefffUL, 9, -ERANGE },
	/* VMAs ending below the block size: vm_end - size must not wrap. */
	{ "pmd vma ends below 2M", 0, 0x100000, 0, 0x1000, 9, -ERANGE },
	{ "pud vma ends below 1G", 0, 0x20000000, 0, 0x1000, 18, -ERANGE },
	{ "pmd vma of one page", 0, 0x1000, 0, 0, 9, -ERANGE },
};

static void fits_desc(const struct fits_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(fits, fits_cases, fits_desc);

static void lazymap_test_fault_fits(struct kunit *test)
{
	const struct fits_case *c = test->param_value;
	unsigned long aligned = 0;
	pgoff_t pgoff = 0;
	int ret;

	ret = lazymap_fault_fits(c->vm_start, c->vm_end, c->vm_pgoff,
				 c->address, c->order, &aligned, &pgoff);
	KUNIT_EXPECT_EQ(test, ret, c->ret);
	if (!c->ret) {
		KUNIT_EXPECT_EQ(test, aligned, c->aligned);
		KUNIT_EXPECT_EQ(test, pgoff, c->pgoff);
	}
}

static void lazymap_test_order_level(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, lazymap_order_level(0), LAZYMAP_LEVEL_PTE);
	KUNIT_EXPECT_EQ(test, lazymap_order_level(PMD_SHIFT - PAGE_SHIFT),
			LAZYMAP_LEVEL_PMD);
	KUNIT_EXPECT_EQ(test, lazymap_order_level(PUD_SHIFT - PAGE_SHIFT),
			LAZYMAP_LEVEL_PUD);
}

/* --- a provider for spaces under test --------------------------------- */

struct kspace {
	struct kunit *test;
	int releases;
	int resolves;
};

static int kspace_resolve(struct lazymap_space *space, pgoff_t pgoff,
			  unsigned int order, struct lazymap_resolved *res)
{
	struct kspace *ks = lazymap_space_private(space);

	ks->resolves++;
	return -EIO;
}

static void kspace_release(struct lazymap_space *space)
{
	struct kspace *ks = lazymap_space_private(space);

	ks->releases++;
}

static const struct lazymap_ops kspace_ops = {
	.resolve = kspace_resolve,
	.release = kspace_release,
};

/* Released before the test's memory (ks) is freed. */
static void kspace_put_action(void *space)
{
	lazymap_space_put(space);
	lazymap_wait_for_releases();
}

KUNIT_DEFINE_ACTION_WRAPPER(fput_action, fput, struct file *);

/*
 * An address_space for a space to adopt: not lazymap's (another space's
 * own mapping is refused), with what a folio space needs (dirty_folio):
 * an unlinked tmpfs file's, released with the test.
 */
static struct address_space *kforeign_mapping(struct kunit *test)
{
	struct file *file;

	file = shmem_kernel_file_setup("kunit-lazymap", SZ_SPACE, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(file));
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, fput_action,
							file), 0);
	return file->f_mapping;
}

static struct lazymap_space *kspace_create(struct kunit *test,
					   struct kspace **ksp,
					   struct lazymap_space_params *extra)
{
	struct lazymap_space_params p = {
		.name = "kunit", .ops = &kspace_ops, .kind = LAZYMAP_KIND_PFN,
		.size = SZ_SPACE,
	};
	struct lazymap_space *space;
	struct kspace *ks;
	int ret;

	ks = kunit_kzalloc(test, sizeof(*ks), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ks);
	ks->test = test;
	if (extra) {
		p.kind = extra->kind;
		p.size = extra->size ?: p.size;
		p.mapping = extra->mapping;
		p.gate = extra->gate;
		p.name = extra->name ?: p.name;
	}
	p.private = ks;
	space = lazymap_space_create(&p);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, space);
	ret = kunit_add_action_or_reset(test, kspace_put_action, space);
	KUNIT_ASSERT_EQ(test, ret, 0);
	*ksp = ks;
	return space;
}

/* --- space lifecycle -------------------------------------------------- */

static const struct lazymap_ops noresolve_ops = {};

struct create_case {
	const char *name;
	struct lazymap_space_params p;
};

static const struct create_case create_invalid_cases[] = {
	{ "no name", { .ops = &kspace_ops, .size = PAGE_SIZE } },
	{ "empty name", { .name = "", .ops = &kspace_ops, .size = PAGE_SIZE } },
	{ "no ops", { .name = "x", .size = PAGE_SIZE } },
	{ "no resolve", { .name = "x", .ops = &noresolve_ops, .size = PAGE_SIZE } },
	{ "size 0", { .name = "x", .ops = &kspace_ops } },
	{ "size unaligned", { .name = "x", .ops = &kspace_ops, .size = 100 } },
	{ "bad kind", { .name = "x", .ops = &kspace_ops, .size = PAGE_SIZE,
			.kind = 7 } },
	{ "bad caching", { .name = "x", .ops = &kspace_ops, .size = PAGE_SIZE,
			   .kind = LAZYMAP_KIND_PFN, .caching = 3 } },
	/* RAM is mapped write-back by the direct map: no UC or WC alias. */
	{ "page uncached", { .name = "x", .ops = &kspace_ops,
			     .size = PAGE_SIZE, .kind = LAZYMAP_KIND_PAGE,
			     .caching = LAZYMAP_UNCACHED } },
	{ "page write-combine", { .name = "x", .ops = &kspace_ops,
				  .size = PAGE_SIZE, .kind = LAZYMAP_KIND_PAGE,
				  .caching = LAZYMAP_WRITE_COMBINE } },
	{ "folio uncached", { .name = "x", .ops = &kspace_ops,
			      .size = PAGE_SIZE, .kind = LAZYMAP_KIND_FOLIO,
			      .caching = LAZYMAP_UNCACHED } },
	{ "folio write-combine", { .name = "x", .ops = &kspace_ops,
				   .size = PAGE_SIZE, .kind = LAZYMAP_KIND_FOLIO,
				   .caching = LAZYMAP_WRITE_COMBINE } },
};

static void create_desc(const struct create_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(create_invalid, create_invalid_cases, create_desc);

static void lazymap_test_create_invalid(struct kunit *test)
{
	const struct create_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, PTR_ERR(lazymap_space_create(&c->p)), -EINVAL);
}

/* Device memory (pfn spaces) may be mapped cached, UC or WC. */
static void lazymap_test_create_caching(struct kunit *test)
{
	static const enum lazymap_caching modes[] = {
		LAZYMAP_CACHED, LAZYMAP_UNCACHED, LAZYMAP_WRITE_COMBINE,
	};
	struct lazymap_space_params p = {
		.name = "kunit-caching", .ops = &kspace_ops,
		.kind = LAZYMAP_KIND_PFN, .size = SZ_SPACE,
	};
	struct lazymap_space *space;
	unsigned int i;

	p.private = kunit_kzalloc(test, sizeof(struct kspace), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, p.private);
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		p.caching = modes[i];
		space = lazymap_space_create(&p);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, space);
		lazymap_space_put(space);
		lazymap_wait_for_releases();
	}
}

static void lazymap_test_lifecycle(struct kunit *test)
{
	struct lazymap_space_params p = {
		.name = "kunit-life", .ops = &kspace_ops,
		.kind = LAZYMAP_KIND_PAGE, .size = SZ_SPACE,
	};
	struct lazymap_space *space;
	struct lazymap_stats st;
	struct kspace *ks;

	ks = kunit_kzalloc(test, sizeof(*ks), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ks);
	p.private = ks;
	space = lazymap_space_create(&p);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, space);

	KUNIT_EXPECT_STREQ(test, lazymap_space_name(space), "kunit-life");
	KUNIT_EXPECT_EQ(test, lazymap_space_size(space), (u64)SZ_SPACE);
	KUNIT_EXPECT_PTR_EQ(test, lazymap_space_private(space), (void *)ks);
	KUNIT_EXPECT_NOT_NULL(test, lazymap_space_mapping(space));
	KUNIT_EXPECT_NOT_NULL(test, lazymap_space_gate(space));
	lazymap_space_stats(space, &st);
	KUNIT_EXPECT_EQ(test, st.mappings, 0);
	KUNIT_EXPECT_EQ(test, st.zaps, 0);

	/* An extra reference (as a VMA holds) delays release. */
	lazymap_space_get(space);
	lazymap_space_put(space);
	lazymap_wait_for_releases();
	KUNIT_EXPECT_EQ(test, ks->releases, 0);
	lazymap_space_put(space);
	lazymap_wait_for_releases();
	KUNIT_EXPECT_EQ(test, ks->releases, 1);
	KUNIT_EXPECT_EQ(test, ks->resolves, 0);
}

static void lazymap_test_adopt(struct kunit *test)
{
	struct lazymap_space_params p = { .name = "kunit-adopt" };
	struct lazymap_space *owner, *adopter;
	struct rw_semaphore *gate;
	struct kspace *ks;

	gate = kunit_kzalloc(test, sizeof(*gate), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, gate);
	init_rwsem(gate);

	/* Another space's own mapping: refused, their zaps would mix. */
	owner = kspace_create(test, &ks, NULL);
	p.ops = &kspace_ops;
	p.size = SZ_SPACE;
	p.mapping = lazymap_space_mapping(owner);
	p.private = ks;
	adopter = lazymap_space_create(&p);
	KUNIT_EXPECT_EQ(test, PTR_ERR(adopter), -EINVAL);
	if (!IS_ERR(adopter))
		lazymap_space_put(adopter);

	p.mapping = kforeign_mapping(test);
	p.gate = gate;
	adopter = kspace_create(test, &ks, &p);

	KUNIT_EXPECT_PTR_EQ(test, lazymap_space_mapping(adopter), p.mapping);
	KUNIT_EXPECT_PTR_EQ(test, lazymap_space_gate(adopter), gate);
	KUNIT_EXPECT_PTR_NE(test, lazymap_space_gate(owner), gate);

	/* The consumer's own path holds its gate and zaps with __lazymap_zap. */
	down_write(gate);
	KUNIT_EXPECT_EQ(test, __lazymap_zap(adopter, 0, 1), 0);
	KUNIT_EXPECT_EQ(test, __lazymap_zap(adopter, 0, SPACE_PAGES + 1),
			-EINVAL);
	up_write(gate);
}

/* --- revoke / restore ------------------------------------------------- */

static void lazymap_test_revoke_restore(struct kunit *test)
{
	struct lazymap_space *space;
	struct lazymap_stats st;
	struct kspace *ks;

	space = kspace_create(test, &ks, NULL);
	KUNIT_EXPECT_FALSE(test, lazymap_range_revoked(space, 0, 64));

	KUNIT_ASSERT_EQ(test, lazymap_revoke(space, 4, 12), 0);
	KUNIT_EXPECT_FALSE(test, lazymap_range_revoked(space, 3, 4));
	KUNIT_EXPECT_TRUE(test, lazymap_range_revoked(space, 4, 5));
	KUNIT_EXPECT_TRUE(test, lazymap_range_revoked(space, 11, 12));
	KUNIT_EXPECT_FALSE(test, lazymap_range_revoked(space, 12, 13));
	KUNIT_EXPECT_TRUE(test, lazymap_range_revoked(space, 0, 64));
	KUNIT_EXPECT_TRUE(test, lazymap_range_revoked(space, 0, 5));
	KUNIT_EXPECT_FALSE(test, lazymap_range_revoked(space, 0, 4));

	/* Restore a hole in the middle: two revoked pieces remain. */
	KUNIT_ASSERT_EQ(test, lazymap_restore(space, 6, 8), 0);
	KUNIT_EXPECT_TRUE(test, lazymap_range_revoked(space, 5, 6));
	KUNIT_EXPECT_FALSE(test, lazymap_range_revoked(space, 6, 8));
	KUNIT_EXPECT_TRUE(test, lazymap_range_revoked(space, 8, 9));

	/* Overlapping revoke merges; revoking twice is allowed. */
	KUNIT_ASSERT_EQ(test, lazymap_revoke(space, 10, 20), 0);
	KUNIT_ASSERT_EQ(test, lazymap_revoke(space, 10, 20), 0);
	KUNIT_EXPECT_TRUE(test, lazymap_range_revoked(space, 19, 20));
	KUNIT_EXPECT_FALSE(test, lazymap_range_revoked(space, 20, 64));

	/* Restoring what is not revoked changes nothing. */
	KUNIT_ASSERT_EQ(test, lazymap_restore(space, 30, 31), 0);
	KUNIT_ASSERT_EQ(test, lazymap_restore(space, 0, SPACE_PAGES), 0);
	KUNIT_EXPECT_FALSE(test, lazymap_range_revoked(space, 0, 64));

	lazymap_space_stats(space, &st);
	KUNIT_EXPECT_EQ(test, st.revokes, 3);
	KUNIT_EXPECT_EQ(test, st.restores, 3);
	KUNIT_EXPECT_EQ(test, st.zaps, 3);
}

struct range_case {
	const char *name;
	pgoff_t start, end;
};

/* [start, end) page offsets of a space of SPACE_PAGES pages. */
static const struct range_case range_invalid_cases[] = {
	{ "empty", 0, 0 },
	{ "empty inside", 5, 5 },
	{ "reversed", 6, 5 },
	{ "past end", SPACE_PAGES - 1, SPACE_PAGES + 1 },
	{ "starts at end", SPACE_PAGES, SPACE_PAGES + 1 },
	{ "everything", 0, ULONG_MAX },
	{ "huge offset", ULONG_MAX - 1, ULONG_MAX },
};

static void range_desc(const struct range_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(range_invalid, range_invalid_cases, range_desc);

static void lazymap_test_range_invalid(struct kunit *test)
{
	const struct range_case *c = test->param_value;
	struct lazymap_space *space;
	struct lazymap_stats st;
	struct kspace *ks;

	space = kspace_create(test, &ks, NULL);
	KUNIT_EXPECT_EQ(test, lazymap_zap(space, c->start, c->end), -EINVAL);
	KUNIT_EXPECT_EQ(test, lazymap_revoke(space, c->start, c->end), -EINVAL);
	KUNIT_EXPECT_EQ(test, lazymap_restore(space, c->start, c->end), -EINVAL);
	lazymap_space_stats(space, &st);
	KUNIT_EXPECT_EQ(test, st.zaps + st.revokes + st.restores, 0);
	KUNIT_EXPECT_FALSE(test, lazymap_range_revoked(space, 0, 64));
}

/* --- listeners -------------------------------------------------------- */

/*
 * A counting listener.  @ret is what its release callback answers (0 or
 * -EBUSY); @releases counts those calls, @calls every call of either.
 */
struct klistener {
	struct lazymap_listener l;
	int calls;
	int releases;
	pgoff_t start, end;
	enum lazymap_inval_reason reason;
	int ret;
};

static void klistener_invalidate(struct lazymap_listener *l, pgoff_t start,
				 pgoff_t end, enum lazymap_inval_reason reason)
{
	struct klistener *kl = container_of(l, struct klistener, l);

	kl->calls++;
	kl->start = start;
	kl->end = end;
	kl->reason = reason;
}

static int klistener_release(struct lazymap_listener *l, pgoff_t start,
			     pgoff_t end)
{
	struct klistener *kl = container_of(l, struct klistener, l);

	kl->releases++;
	klistener_invalidate(l, start, end, LAZYMAP_INVAL_RELEASE);
	return kl->ret;
}

static const struct lazymap_listener_ops klistener_ops = {
	.invalidate = klistener_invalidate,
	.release = klistener_release,
};

static void klistener_unregister_action(void *data)
{
	struct klistener *kl = data;

	lazymap_listener_unregister(&kl->l);
}

/* A counting listener over all of @space, unregistered with the test. */
static struct klistener *klistener_add(struct kunit *test,
				       struct lazymap_space *space)
{
	struct klistener *kl;
	int ret;

	kl = kunit_kzalloc(test, sizeof(*kl), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, kl);
	kl->l.ops = &klistener_ops;
	KUNIT_ASSERT_EQ(test, lazymap_listener_register(space, &kl->l, 0,
							SZ_SPACE >> PAGE_SHIFT),
			0);
	ret = kunit_add_action_or_reset(test, klistener_unregister_action, kl);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return kl;
}

struct klisteners {
	struct lazymap_space *space;
	struct klistener kl[3];
};

static void klisteners_unregister(void *data)
{
	struct klisteners *k = data;
	int i;

	for (i = 0; i < ARRAY_SIZE(k->kl); i++)
		lazymap_listener_unregister(&k->kl[i].l);
}

static struct klisteners *klisteners_setup(struct kunit *test)
{
	static const pgoff_t ranges[3][2] = { { 0, 10 }, { 8, 16 }, { 32, 64 } };
	struct klisteners *k;
	struct kspace *ks;
	int i, ret;

	k = kunit_kzalloc(test, sizeof(*k), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, k);
	k->space = kspace_create(test, &ks, NULL);
	for (i = 0; i < 3; i++) {
		k->kl[i].l.ops = &klistener_ops;
		ret = lazymap_listener_register(k->space, &k->kl[i].l,
						ranges[i][0], ranges[i][1]);
		KUNIT_ASSERT_EQ(test, ret, 0);
	}
	ret = kunit_add_action_or_reset(test, klisteners_unregister, k);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return k;
}

static void lazymap_test_listener_zap(struct kunit *test)
{
	struct klisteners *k = klisteners_setup(test);

	/* Pages [10, 40): misses [0, 10), clips [8, 16) and [32, 64). */
	KUNIT_ASSERT_EQ(test, lazymap_zap(k->space, 10, 40), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls, 0);
	KUNIT_EXPECT_EQ(test, k->kl[1].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[1].start, 10);
	KUNIT_EXPECT_EQ(test, k->kl[1].end, 16);
	KUNIT_EXPECT_EQ(test, k->kl[1].reason, LAZYMAP_INVAL_ZAP);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[2].start, 32);
	KUNIT_EXPECT_EQ(test, k->kl[2].end, 40);

	/* The overlap of the first two: both, reason revoke. */
	KUNIT_ASSERT_EQ(test, lazymap_revoke(k->space, 9, 10), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[0].start, 9);
	KUNIT_EXPECT_EQ(test, k->kl[0].end, 10);
	KUNIT_EXPECT_EQ(test, k->kl[0].reason, LAZYMAP_INVAL_REVOKE);
	KUNIT_EXPECT_EQ(test, k->kl[1].calls, 2);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 1);

	/* Restore invalidates nothing. */
	KUNIT_ASSERT_EQ(test, lazymap_restore(k->space, 0, SPACE_PAGES), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls + k->kl[1].calls + k->kl[2].calls, 4);

	/* Unregistered listeners are not called. */
	lazymap_listener_unregister(&k->kl[2].l);
	KUNIT_ASSERT_EQ(test, lazymap_zap(k->space, 0, SPACE_PAGES), 0);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls, 2);
	/* Re-register so the cleanup action's unregister stays balanced. */
	KUNIT_ASSERT_EQ(test, lazymap_listener_register(k->space, &k->kl[2].l,
							32, 64), 0);
}

static void lazymap_test_listener_invalid(struct kunit *test)
{
	static const struct lazymap_listener_ops noop_ops = {};
	struct lazymap_listener l = { .ops = &klistener_ops };
	struct lazymap_space *space;
	struct kspace *ks;

	space = kspace_create(test, &ks, NULL);
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 5, 4), -EINVAL);
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 5, 5), -EINVAL);
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 0, 65), -EINVAL);
	l.ops = &noop_ops;
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 0, 1), -EINVAL);
	l.ops = NULL;
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 0, 1), -EINVAL);
}

static void folio_put_action(void *folio)
{
	folio_put(folio);
}

/*
 * The launder helpers on a bare folio: release and launder may be refused
 * and ask the listeners' release callback; truncation, memory failure and
 * truncate_begin cannot and call invalidate.  Listeners without a release
 * callback are invalidated with LAZYMAP_INVAL_RELEASE.
 */
static void lazymap_test_launder(struct kunit *test)
{
	static const struct lazymap_listener_ops norelease_ops = {
		.invalidate = klistener_invalidate,
	};
	struct klisteners *k = klisteners_setup(test);
	struct lazymap_stats st;
	struct folio *folio;
	int ret;

	folio = folio_alloc(GFP_KERNEL, 0);
	KUNIT_ASSERT_NOT_NULL(test, folio);
	ret = kunit_add_action_or_reset(test, folio_put_action, folio);
	KUNIT_ASSERT_EQ(test, ret, 0);

	/* Page 9: listeners 0 and 1; 1 has no release callback. */
	k->kl[1].l.ops = &norelease_ops;
	folio->index = 9;
	KUNIT_EXPECT_EQ(test, lazymap_launder_folio(k->space, folio), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].releases, 1);
	KUNIT_EXPECT_EQ(test, k->kl[0].reason, LAZYMAP_INVAL_RELEASE);
	KUNIT_EXPECT_EQ(test, k->kl[1].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[1].reason, LAZYMAP_INVAL_RELEASE);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 0);

	/* Listener 2 cannot let page 40 go: release and launder refuse... */
	folio->index = 40;
	k->kl[2].ret = -EBUSY;
	KUNIT_EXPECT_EQ(test, lazymap_launder_folio(k->space, folio), -EBUSY);
	KUNIT_EXPECT_FALSE(test, lazymap_release_folio(k->space, folio));
	KUNIT_EXPECT_EQ(test, k->kl[2].releases, 2);
	KUNIT_EXPECT_EQ(test, k->kl[2].start, 40);
	KUNIT_EXPECT_EQ(test, k->kl[2].end, 41);
	/* ...truncation cannot be refused: invalidate, not release. */
	lazymap_invalidate_folio(k->space, folio, 0, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, k->kl[2].releases, 2);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 3);
	KUNIT_EXPECT_EQ(test, k->kl[2].reason, LAZYMAP_INVAL_TRUNCATE);
	/* A partial page is not invalidated. */
	lazymap_invalidate_folio(k->space, folio, 100, PAGE_SIZE - 100);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 3);
	lazymap_truncate_begin(k->space, 30, 42);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 4);
	KUNIT_EXPECT_EQ(test, k->kl[2].start, 32);
	KUNIT_EXPECT_EQ(test, k->kl[2].end, 42);
	KUNIT_EXPECT_EQ(test, k->kl[2].reason, LAZYMAP_INVAL_TRUNCATE);
	lazymap_truncate_end(k->space, 30, 42);
	KUNIT_EXPECT_EQ(test, lazymap_error_remove_folio(k->space, folio), 0);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 5);
	KUNIT_EXPECT_EQ(test, k->kl[2].reason, LAZYMAP_INVAL_TRUNCATE);
	KUNIT_EXPECT_EQ(test, k->kl[2].releases, 2);
	k->kl[2].ret = 0;
	KUNIT_EXPECT_TRUE(test, lazymap_release_folio(k->space, folio));
	folio->index = 0;

	lazymap_space_stats(k->space, &st);
	KUNIT_EXPECT_EQ(test, st.launders, 7);
	KUNIT_EXPECT_EQ(test, st.zaps, 0);
}

/* --- tracking records through real VMAs -------------------------------- */

/* Spaces of SZ_SPACE, backed by memory in the first KMAP_PAGES pages. */
#define KMAP_PAGES	16
#define KMAP_SIZE	(KMAP_PAGES * PAGE_SIZE)

/* What page offset @pgoff of a kmap space reads as (its first byte). */
#define KMAP_BYTE(pgoff)	((u8)(0x40 + (pgoff)))

/*
 * The memory of a mapped space: owned by the space, see the top comment.
 * Folio spaces keep theirs in the space's page cache.
 */
struct kmap {
	enum lazymap_kind kind;
	struct page *pages[KMAP_PAGES];
	int mmaps;		/* calls of the file's mmap */
};

static void kmap_free(struct kmap *km)
{
	int i;

	for (i = 0; i < KMAP_PAGES; i++)
		if (km->pages[i])
			__free_page(km->pages[i]);
	kfree(km);
}

static int kmap_resolve(struct lazymap_space *space, pgoff_t pgoff,
			unsigned int order, struct lazymap_resolved *res)
{
	struct kmap *km = lazymap_space_private(space);
	struct folio *folio;

	if (pgoff >= KMAP_PAGES)
		return -EIO;
	if (km->kind == LAZYMAP_KIND_FOLIO) {
		folio = lazymap_get_folio(space, pgoff, order);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		res->folio = folio;
		return 0;
	}
	res->page = km->pages[pgoff];
	res->pfn = page_to_pfn(km->pages[pgoff]);
	res->order = 0;
	return 0;
}

static void kmap_release(struct lazymap_space *space)
{
	kmap_free(lazymap_space_private(space));
}

static const struct lazymap_ops kmap_ops = {
	.resolve = kmap_resolve,
	.release = kmap_release,
};

/* The file a test maps: f_mapping is the space's, private_data the space. */
static int kmap_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct lazymap_space *space = file->private_data;
	struct kmap *km = lazymap_space_private(space);

	km->mmaps++;
	return lazymap_mmap(space, vma);
}

static const struct file_operations kmap_fops = {
	.owner = THIS_MODULE,
	.mmap = kmap_file_mmap,
};

struct kind_case {
	const char *name;
	enum lazymap_kind kind;
};

static const struct kind_case kind_cases[] = {
	{ "page", LAZYMAP_KIND_PAGE },
	{ "pfn", LAZYMAP_KIND_PFN },
	{ "folio", LAZYMAP_KIND_FOLIO },
};

static void kind_desc(const struct kind_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(kind, kind_cases, kind_desc);

/* A space of @kind and a file to map it through. */
struct kmapping {
	enum lazymap_kind kind;
	struct lazymap_space *space;
	struct kmap *km;	/* valid while the test holds its reference */
	struct file *file;
};

static struct kmapping *kmapping_create(struct kunit *test,
					enum lazymap_kind kind)
{
	struct lazymap_space_params p = {
		.name = "kunit-vma", .ops = &kmap_ops, .kind = kind,
		.size = SZ_SPACE,
	};
	struct kmapping *m;
	struct kmap *km;
	int i, ret;

	m = kunit_kzalloc(test, sizeof(*m), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m);
	m->kind = kind;

	km = kzalloc(sizeof(*km), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, km);
	km->kind = kind;
	for (i = 0; kind != LAZYMAP_KIND_FOLIO && i < KMAP_PAGES; i++) {
		km->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!km->pages[i]) {
			kmap_free(km);
			KUNIT_FAIL_AND_ABORT(test, "no memory for the space");
		}
		memset_page(km->pages[i], 0, KMAP_BYTE(i), 1);
	}
	p.private = km;
	m->space = lazymap_space_create(&p);
	if (IS_ERR(m->space)) {
		kmap_free(km);
		KUNIT_FAIL_AND_ABORT(test, "lazymap_space_create: %ld",
				     PTR_ERR(m->space));
	}
	m->km = km;
	ret = kunit_add_action_or_reset(test, kspace_put_action, m->space);
	KUNIT_ASSERT_EQ(test, ret, 0);
	/* A folio space's memory is its page cache: fill it the same way. */
	for (i = 0; kind == LAZYMAP_KIND_FOLIO && i < KMAP_PAGES; i++) {
		struct folio *folio = lazymap_get_folio(m->space, i, 0);

		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
		memset_page(folio_file_page(folio, i), 0, KMAP_BYTE(i), 1);
		folio_put(folio);
	}

	m->file = anon_inode_getfile("[lazymap-kunit]", &kmap_fops, m->space,
				     O_RDWR);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, m->file);
	/* mmap() links the VMA into f_mapping: make it the space's. */
	m->file->f_mapping = lazymap_space_mapping(m->space);
	ret = kunit_add_action_or_reset(test, fput_action, m->file);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return m;
}

/* mmap @npages of the space from page offset @pgoff, shared, read-write. */
static unsigned long kmapping_mmap(struct kunit *test, struct kmapping *m,
				   pgoff_t pgoff, unsigned long npages)
{
	unsigned long addr;

	addr = kunit_vm_mmap(test, m->file, 0, npages << PAGE_SHIFT,
			     PROT_READ | PROT_WRITE, MAP_SHARED,
			     pgoff << PAGE_SHIFT);
	KUNIT_ASSERT_TRUE_MSG(test, addr && !IS_ERR_VALUE(addr),
			      "mmap: %ld", (long)addr);
	return addr;
}

/* Read the first byte of the page at @addr: 0, or -EFAULT (SIGBUS). */
static int kmap_read(unsigned long addr, u8 *val)
{
	return get_user(*val, (u8 __user *)addr);
}

static int kmap_write(unsigned long addr, u8 val)
{
	return put_user(val, (u8 __user *)addr);
}

/* The page of the space's page cache at @pgoff, referenced, or NULL. */
static struct page *kmap_cache_page(struct kmapping *m, pgoff_t pgoff)
{
	struct folio *folio;

	folio = filemap_get_folio(lazymap_space_mapping(m->space), pgoff);
	return IS_ERR(folio) ? NULL : folio_file_page(folio, pgoff);
}

/* Is page offset @pgoff in the space's page cache? */
static bool kmap_cached(struct kmapping *m, pgoff_t pgoff)
{
	struct page *page = kmap_cache_page(m, pgoff);
	bool cached = page;

	if (page)
		put_page(page);
	return cached;
}

/* The first byte of the memory at page offset @pgoff (0 if there is none). */
static u8 kmap_byte(struct kmapping *m, pgoff_t pgoff)
{
	struct page *page;
	u8 val = 0;

	if (m->kind != LAZYMAP_KIND_FOLIO) {
		memcpy_from_page(&val, m->km->pages[pgoff], 0, 1);
		return val;
	}
	page = kmap_cache_page(m, pgoff);
	if (page) {
		memcpy_from_page(&val, page, 0, 1);
		put_page(page);
	}
	return val;
}

/*
 * Is page offset @pgoff mapped (at @addr)?  Pages and folios by their map
 * count (the test is their only user), pfns in the page tables.
 */
static bool kmap_mapped(struct kmapping *m, unsigned long addr, pgoff_t pgoff)
{
	struct mm_struct *mm = current->mm;
	struct follow_pfnmap_args args = {};
	bool mapped = false;
	struct page *page;

	if (m->kind == LAZYMAP_KIND_PAGE)
		return page_mapped(m->km->pages[pgoff]);
	if (m->kind == LAZYMAP_KIND_FOLIO) {
		page = kmap_cache_page(m, pgoff);
		if (page) {
			mapped = folio_mapped(page_folio(page));
			put_page(page);
		}
		return mapped;
	}

	mmap_read_lock(mm);
	args.vma = vma_lookup(mm, addr);
	args.address = addr;
	if (args.vma && !follow_pfnmap_start(&args)) {
		mapped = args.pfn == page_to_pfn(m->km->pages[pgoff]);
		follow_pfnmap_end(&args);
	}
	mmap_read_unlock(mm);
	return mapped;
}

/* A copy of a tracking record and of its VMA's range. */
struct krec {
	pid_t pid;
	char comm[TASK_COMM_LEN];
	unsigned long start, end, pgoff;
	u64 faults[LAZYMAP_NR_LEVELS];
	u64 zaps;
};

static void krec_copy(struct krec *r, struct lazymap_vma *rec)
{
	int i;

	r->pid = rec->pid;
	memcpy(r->comm, rec->comm, sizeof(r->comm));
	r->start = rec->vma->vm_start;
	r->end = rec->vma->vm_end;
	r->pgoff = rec->vma->vm_pgoff;
	for (i = 0; i < LAZYMAP_NR_LEVELS; i++)
		r->faults[i] = atomic64_read(&rec->faults[i]);
	r->zaps = atomic64_read(&rec->zaps);
}

static int krec_cmp(const void *a, const void *b)
{
	const struct krec *ra = a, *rb = b;

	return ra->start < rb->start ? -1 : ra->start > rb->start;
}

/*
 * Copy the space's records, at most @max, sorted by address; return how
 * many the space has.  Only the test thread changes its VMAs.
 */
static unsigned int krecs(struct kunit *test, struct lazymap_space *space,
			  struct krec *out, unsigned int max)
{
	struct lazymap_vma *rec;
	unsigned long nr_vmas;
	unsigned int n = 0;

	mutex_lock(&space->vmas_lock);
	nr_vmas = space->nr_vmas;
	list_for_each_entry(rec, &space->vmas, link) {
		if (n < max)
			krec_copy(&out[n], rec);
		n++;
	}
	mutex_unlock(&space->vmas_lock);
	KUNIT_EXPECT_EQ(test, n, nr_vmas);
	sort(out, min(n, max), sizeof(*out), krec_cmp, NULL);
	return n;
}

/* The record of @vma, or NULL. */
static struct lazymap_vma *krec_find(struct lazymap_space *space,
				     struct vm_area_struct *vma)
{
	struct lazymap_vma *rec, *found = NULL;

	mutex_lock(&space->vmas_lock);
	list_for_each_entry(rec, &space->vmas, link)
		if (rec->vma == vma)
			found = rec;
	mutex_unlock(&space->vmas_lock);
	return found;
}

/* The one record of a space; aborts the test if there is not exactly one. */
static struct krec krec_one(struct kunit *test, struct lazymap_space *space)
{
	struct krec r[2] = {};

	KUNIT_ASSERT_EQ(test, krecs(test, space, r, ARRAY_SIZE(r)), 1);
	return r[0];
}

/*
 * mmap() creates one record, owned by the mapping task, with nothing
 * mapped; each page faults once on first touch; munmap() frees the record
 * and its reference.
 */
static void lazymap_test_vma_record(struct kunit *test)
{
	const struct kind_case *c = test->param_value;
	char comm[TASK_COMM_LEN];
	struct lazymap_stats st;
	struct kmapping *m;
	unsigned long addr;
	struct krec r;
	u8 val;
	int i;

	m = kmapping_create(test, c->kind);
	KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 1);

	/* Pages [2, 10) of the space. */
	addr = kmapping_mmap(test, m, 2, 8);
	r = krec_one(test, m->space);
	get_task_comm(comm, current);
	KUNIT_EXPECT_EQ(test, r.pid, task_tgid_nr(current));
	KUNIT_EXPECT_STREQ(test, r.comm, comm);
	KUNIT_EXPECT_EQ(test, r.start, addr);
	KUNIT_EXPECT_EQ(test, r.end, addr + 8 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, r.pgoff, 2);
	for (i = 0; i < LAZYMAP_NR_LEVELS; i++)
		KUNIT_EXPECT_EQ(test, r.faults[i], 0);
	KUNIT_EXPECT_EQ(test, r.zaps, 0);
	/* mmap() installs nothing. */
	for (i = 0; i < 8; i++)
		KUNIT_EXPECT_FALSE(test, kmap_mapped(m, addr + i * PAGE_SIZE,
						     2 + i));
	KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 2);
	lazymap_space_stats(m->space, &st);
	KUNIT_EXPECT_EQ(test, st.mappings, 1);

	/* The first touch of each page faults once, the second finds it. */
	for (i = 0; i < 8; i++) {
		KUNIT_ASSERT_EQ(test, kmap_read(addr + i * PAGE_SIZE, &val), 0);
		KUNIT_EXPECT_EQ(test, val, KMAP_BYTE(2 + i));
		KUNIT_EXPECT_TRUE(test, kmap_mapped(m, addr + i * PAGE_SIZE,
						    2 + i));
		KUNIT_ASSERT_EQ(test, kmap_read(addr + i * PAGE_SIZE + 1, &val),
				0);
		r = krec_one(test, m->space);
		KUNIT_EXPECT_EQ(test, r.faults[LAZYMAP_LEVEL_PTE], i + 1);
	}

	/* Writes reach the provider's page and take no fault. */
	KUNIT_ASSERT_EQ(test, kmap_write(addr + 3 * PAGE_SIZE, 0xa5), 0);
	KUNIT_EXPECT_EQ(test, kmap_byte(m, 5), 0xa5);
	r = krec_one(test, m->space);
	KUNIT_EXPECT_EQ(test, r.faults[LAZYMAP_LEVEL_PTE], 8);
	KUNIT_EXPECT_EQ(test, r.faults[LAZYMAP_LEVEL_PMD], 0);
	KUNIT_EXPECT_EQ(test, r.faults[LAZYMAP_LEVEL_PUD], 0);
	KUNIT_EXPECT_EQ(test, r.zaps, 0);
	lazymap_space_stats(m->space, &st);
	KUNIT_EXPECT_EQ(test, st.faults[LAZYMAP_LEVEL_PTE], 8);
	KUNIT_EXPECT_EQ(test, st.sigbus, 0);

	/* munmap() of all of it: no record, the consumer's reference only. */
	KUNIT_ASSERT_EQ(test, vm_munmap(addr, 8 * PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, krecs(test, m->space, &r, 1), 0);
	KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 1);
	lazymap_space_stats(m->space, &st);
	KUNIT_EXPECT_EQ(test, st.mappings, 0);
}

struct zap_case {
	const char *name;
	pgoff_t first, nr;	/* the zapped page offsets */
};

/* Against a VMA of page offsets [2, 10). */
static const struct zap_case zap_cases[] = {
	{ "below", 0, 2 },
	{ "above", 10, 6 },
	{ "first page", 2, 1 },
	{ "last page", 9, 1 },
	{ "middle", 4, 3 },
	{ "overlaps start", 0, 4 },
	{ "whole space", 0, SPACE_PAGES },
};

static void lazymap_test_vma_zap(struct kunit *test)
{
	const struct kind_case *c = test->param_value;
	const pgoff_t vm_first = 2, vm_nr = 8;
	u64 faults = 0, zaps = 0;
	struct lazymap_stats st;
	struct kmapping *m;
	unsigned long addr;
	unsigned int z;
	struct krec r;
	int i;
	u8 val;

	m = kmapping_create(test, c->kind);
	addr = kmapping_mmap(test, m, vm_first, vm_nr);

	for (z = 0; z < ARRAY_SIZE(zap_cases); z++) {
		const struct zap_case *zc = &zap_cases[z];
		pgoff_t first = max(zc->first, vm_first);
		pgoff_t end = min(zc->first + zc->nr, vm_first + vm_nr);
		u64 hit = end > first ? end - first : 0;

		/* Map every page, then zap. */
		for (i = 0; i < vm_nr; i++)
			KUNIT_ASSERT_EQ(test, kmap_read(addr + i * PAGE_SIZE,
							&val), 0);
		r = krec_one(test, m->space);
		faults = r.faults[LAZYMAP_LEVEL_PTE];
		KUNIT_ASSERT_EQ(test, lazymap_zap(m->space, zc->first,
						  zc->first + zc->nr), 0);

		/* Counted against the VMA only if they overlap. */
		zaps += !!hit;
		r = krec_one(test, m->space);
		KUNIT_EXPECT_EQ_MSG(test, r.zaps, zaps, "zap %s", zc->name);
		for (i = 0; i < vm_nr; i++) {
			pgoff_t pgoff = vm_first + i;
			bool zapped = pgoff >= first && pgoff < end;

			KUNIT_EXPECT_EQ_MSG(test, kmap_mapped(m, addr +
							      i * PAGE_SIZE,
							      pgoff),
					    !zapped, "zap %s, page %lu",
					    zc->name, pgoff);
		}

		/* The next access refaults exactly the zapped pages. */
		for (i = 0; i < vm_nr; i++) {
			KUNIT_ASSERT_EQ(test, kmap_read(addr + i * PAGE_SIZE,
							&val), 0);
			KUNIT_EXPECT_EQ(test, val, KMAP_BYTE(vm_first + i));
		}
		r = krec_one(test, m->space);
		KUNIT_EXPECT_EQ_MSG(test, r.faults[LAZYMAP_LEVEL_PTE],
				    faults + hit, "zap %s", zc->name);
	}

	lazymap_space_stats(m->space, &st);
	KUNIT_EXPECT_EQ(test, st.zaps, ARRAY_SIZE(zap_cases));
	KUNIT_EXPECT_EQ(test, st.sigbus, 0);
	KUNIT_ASSERT_EQ(test, vm_munmap(addr, vm_nr * PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 1);
}

/*
 * Revoked pages are unmapped and refuse access; under UML a uaccess fault
 * that the VMA answers with VM_FAULT_SIGBUS makes get_user()/put_user()
 * return -EFAULT (arch/um/kernel/skas/uaccess.c), no signal is sent.
 */
static void lazymap_test_vma_revoke(struct kunit *test)
{
	const struct kind_case *c = test->param_value;
	struct lazymap_stats st;
	struct kmapping *m;
	unsigned long addr;
	struct krec r;
	int i;
	u8 val;

	m = kmapping_create(test, c->kind);
	addr = kmapping_mmap(test, m, 0, 8);
	for (i = 0; i < 8; i++)
		KUNIT_ASSERT_EQ(test, kmap_read(addr + i * PAGE_SIZE, &val), 0);

	KUNIT_ASSERT_EQ(test, lazymap_revoke(m->space, 2, 4), 0);
	r = krec_one(test, m->space);
	KUNIT_EXPECT_EQ(test, r.zaps, 1);
	for (i = 0; i < 8; i++)
		KUNIT_EXPECT_EQ_MSG(test, kmap_mapped(m, addr + i * PAGE_SIZE, i),
				    i < 2 || i >= 4, "page %d", i);

	KUNIT_EXPECT_EQ(test, kmap_read(addr + 2 * PAGE_SIZE, &val), -EFAULT);
	KUNIT_EXPECT_EQ(test, kmap_write(addr + 3 * PAGE_SIZE, 1), -EFAULT);
	KUNIT_EXPECT_FALSE(test, kmap_mapped(m, addr + 2 * PAGE_SIZE, 2));
	KUNIT_EXPECT_FALSE(test, kmap_mapped(m, addr + 3 * PAGE_SIZE, 3));
	KUNIT_EXPECT_EQ(test, kmap_byte(m, 3), KMAP_BYTE(3));
	/* Its neighbours stay mapped: no fault. */
	KUNIT_EXPECT_EQ(test, kmap_read(addr + PAGE_SIZE, &val), 0);
	KUNIT_EXPECT_EQ(test, kmap_read(addr + 4 * PAGE_SIZE, &val), 0);
	r = krec_one(test, m->space);
	KUNIT_EXPECT_EQ(test, r.faults[LAZYMAP_LEVEL_PTE], 8);
	lazymap_space_stats(m->space, &st);
	KUNIT_EXPECT_EQ(test, st.sigbus, 2);
	KUNIT_EXPECT_EQ(test, st.revokes, 1);

	/* Restore zaps nothing; the pages fault in again. */
	KUNIT_ASSERT_EQ(test, lazymap_restore(m->space, 0, SPACE_PAGES), 0);
	KUNIT_EXPECT_EQ(test, kmap_write(addr + 3 * PAGE_SIZE, 0x5a), 0);
	KUNIT_EXPECT_EQ(test, kmap_read(addr + 2 * PAGE_SIZE, &val), 0);
	KUNIT_EXPECT_EQ(test, val, KMAP_BYTE(2));
	KUNIT_EXPECT_EQ(test, kmap_byte(m, 3), 0x5a);
	r = krec_one(test, m->space);
	KUNIT_EXPECT_EQ(test, r.zaps, 1);
	KUNIT_EXPECT_EQ(test, r.faults[LAZYMAP_LEVEL_PTE], 10);

	KUNIT_ASSERT_EQ(test, vm_munmap(addr, 8 * PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 1);
}

/*
 * munmap() of the middle of a VMA splits it: each part gets a record of
 * its own (vm_ops->open), the unmapped middle's goes with it.
 */
static void lazymap_test_vma_split(struct kunit *test)
{
	const struct kind_case *c = test->param_value;
	char comm[TASK_COMM_LEN];
	struct lazymap_stats st;
	struct kmapping *m;
	unsigned long addr;
	struct krec r[3];
	int i;
	u8 val;

	m = kmapping_create(test, c->kind);
	/* Pages [4, 12) of the space at addr. */
	addr = kmapping_mmap(test, m, 4, 8);
	for (i = 0; i < 8; i++)
		KUNIT_ASSERT_EQ(test, kmap_read(addr + i * PAGE_SIZE, &val), 0);

	/* Unmap pages [6, 9): [4, 6) and [9, 12) remain. */
	KUNIT_ASSERT_EQ(test, vm_munmap(addr + 2 * PAGE_SIZE, 3 * PAGE_SIZE), 0);
	KUNIT_ASSERT_EQ(test, krecs(test, m->space, r, ARRAY_SIZE(r)), 2);
	get_task_comm(comm, current);
	for (i = 0; i < 2; i++) {
		KUNIT_EXPECT_EQ(test, r[i].pid, task_tgid_nr(current));
		KUNIT_EXPECT_STREQ(test, r[i].comm, comm);
		KUNIT_EXPECT_EQ(test, r[i].zaps, 0);
	}
	KUNIT_EXPECT_EQ(test, r[0].start, addr);
	KUNIT_EXPECT_EQ(test, r[0].end, addr + 2 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, r[0].pgoff, 4);
	KUNIT_EXPECT_EQ(test, r[1].start, addr + 5 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, r[1].end, addr + 8 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, r[1].pgoff, 9);
	KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 3);
	lazymap_space_stats(m->space, &st);
	KUNIT_EXPECT_EQ(test, st.mappings, 2);
	for (i = 0; i < 8; i++)
		KUNIT_EXPECT_EQ_MSG(test, kmap_mapped(m, addr + i * PAGE_SIZE,
						      4 + i),
				    i < 2 || i >= 5, "page %d", i);

	/* Each part counts zaps and faults of its own page offsets. */
	KUNIT_ASSERT_EQ(test, lazymap_zap(m->space, 5, 6), 0);
	KUNIT_ASSERT_EQ(test, lazymap_zap(m->space, 6, 9), 0);
	KUNIT_ASSERT_EQ(test, krecs(test, m->space, r, ARRAY_SIZE(r)), 2);
	KUNIT_EXPECT_EQ(test, r[0].zaps, 1);
	KUNIT_EXPECT_EQ(test, r[1].zaps, 0);
	KUNIT_ASSERT_EQ(test, lazymap_zap(m->space, 11, 12), 0);
	KUNIT_ASSERT_EQ(test, kmap_read(addr + PAGE_SIZE, &val), 0);
	KUNIT_EXPECT_EQ(test, val, KMAP_BYTE(5));
	KUNIT_ASSERT_EQ(test, kmap_read(addr + 7 * PAGE_SIZE, &val), 0);
	KUNIT_EXPECT_EQ(test, val, KMAP_BYTE(11));
	KUNIT_ASSERT_EQ(test, kmap_read(addr + 6 * PAGE_SIZE, &val), 0);
	KUNIT_ASSERT_EQ(test, krecs(test, m->space, r, ARRAY_SIZE(r)), 2);
	KUNIT_EXPECT_EQ(test, r[0].zaps, 1);
	KUNIT_EXPECT_EQ(test, r[0].faults[LAZYMAP_LEVEL_PTE], 1);
	KUNIT_EXPECT_EQ(test, r[1].zaps, 1);
	KUNIT_EXPECT_EQ(test, r[1].faults[LAZYMAP_LEVEL_PTE], 1);
	/* The hole is no longer mapped. */
	KUNIT_EXPECT_EQ(test, kmap_read(addr + 3 * PAGE_SIZE, &val), -EFAULT);

	/* One part, then the whole range with its hole. */
	KUNIT_ASSERT_EQ(test, vm_munmap(addr, 2 * PAGE_SIZE), 0);
	r[0] = krec_one(test, m->space);
	KUNIT_EXPECT_EQ(test, r[0].pgoff, 9);
	KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 2);
	KUNIT_ASSERT_EQ(test, vm_munmap(addr, 8 * PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, krecs(test, m->space, r, ARRAY_SIZE(r)), 0);
	KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 1);
	lazymap_space_stats(m->space, &st);
	KUNIT_EXPECT_EQ(test, st.mappings, 0);
}

/*
 * Folio spaces: lazymap_get_folio() and the page cache of the space's own
 * inode, whose address_space operations launder the listeners of every
 * folio that leaves it.
 */
static void lazymap_test_folio_cache(struct kunit *test)
{
	struct lazymap_space_params p = {
		.name = "kunit-adopt-folio", .kind = LAZYMAP_KIND_FOLIO,
	};
	static const struct address_space_operations nodirty_aops = {};
	struct address_space *mapping, *bare;
	struct lazymap_space *space;
	struct folio *folio, *again;
	struct lazymap_stats st;
	struct klistener *kl;
	struct kmapping *m;
	unsigned long addr;
	struct krec r;
	int i;
	void *buf;
	u8 val;

	m = kmapping_create(test, LAZYMAP_KIND_FOLIO);
	mapping = lazymap_space_mapping(m->space);

	/* A new folio is zeroed, uptodate, unlocked, in the space's cache. */
	folio = lazymap_get_folio(m->space, 40, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
	KUNIT_EXPECT_PTR_EQ(test, folio->mapping, mapping);
	KUNIT_EXPECT_TRUE(test, folio_contains(folio, 40));
	KUNIT_EXPECT_TRUE(test, folio_test_uptodate(folio));
	KUNIT_EXPECT_FALSE(test, folio_test_locked(folio));
	KUNIT_EXPECT_NULL(test, memchr_inv(folio_address(folio), 0,
					   folio_size(folio)));
	/* Asked again, the same folio. */
	again = lazymap_get_folio(m->space, 40, 0);
	KUNIT_EXPECT_PTR_EQ(test, again, folio);
	if (!IS_ERR(again))
		folio_put(again);
	folio_put(folio);
	KUNIT_EXPECT_EQ(test, kmap_byte(m, 3), KMAP_BYTE(3));
	folio = lazymap_get_folio(m->space, SPACE_PAGES, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR(folio), -EINVAL);

	/* Adopting a mapping that cannot dirty folios is refused. */
	bare = kunit_kzalloc(test, sizeof(*bare), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, bare);
	bare->a_ops = &nodirty_aops;
	p.ops = &kspace_ops;
	p.size = SZ_SPACE;
	p.mapping = bare;
	space = lazymap_space_create(&p);
	KUNIT_EXPECT_EQ(test, PTR_ERR(space), -EINVAL);
	if (!IS_ERR(space))
		lazymap_space_put(space);

	kl = klistener_add(test, m->space);

	addr = kmapping_mmap(test, m, 0, 8);
	for (i = 0; i < 8; i++) {
		KUNIT_ASSERT_EQ(test, kmap_read(addr + i * PAGE_SIZE, &val), 0);
		KUNIT_EXPECT_EQ(test, val, KMAP_BYTE(i));
		KUNIT_EXPECT_TRUE(test, kmap_mapped(m, addr + i * PAGE_SIZE, i));
	}

	/*
	 * Truncating pages 2 and 3 unmaps them and launders each folio from
	 * the listeners; the next access maps a new, zeroed folio.
	 */
	truncate_inode_pages_range(mapping, 2 * PAGE_SIZE, 4 * PAGE_SIZE - 1);
	KUNIT_EXPECT_EQ(test, kl->calls, 2);
	KUNIT_EXPECT_EQ(test, kl->reason, LAZYMAP_INVAL_TRUNCATE);
	KUNIT_EXPECT_EQ(test, kl->start, 3);
	KUNIT_EXPECT_EQ(test, kl->end, 4);
	KUNIT_EXPECT_FALSE(test, kmap_cached(m, 2));
	KUNIT_EXPECT_FALSE(test, kmap_cached(m, 3));
	/* A partial page stays, unlaundered (AS_INACCESSIBLE: not zeroed). */
	truncate_inode_pages_range(mapping, 5 * PAGE_SIZE + 100,
				   6 * PAGE_SIZE - 1);
	KUNIT_EXPECT_EQ(test, kl->calls, 2);
	KUNIT_EXPECT_TRUE(test, kmap_mapped(m, addr + 5 * PAGE_SIZE, 5));
	KUNIT_EXPECT_EQ(test, kmap_byte(m, 5), KMAP_BYTE(5));
	lazymap_space_stats(m->space, &st);
	KUNIT_EXPECT_EQ(test, st.launders, 2);
	KUNIT_EXPECT_EQ(test, st.zaps, 0);
	buf = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	memset(buf, 0xff, PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, copy_from_user(buf, (void __user *)(addr +
					     2 * PAGE_SIZE), PAGE_SIZE), 0);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0, PAGE_SIZE));
	KUNIT_EXPECT_TRUE(test, kmap_mapped(m, addr + 2 * PAGE_SIZE, 2));
	r = krec_one(test, m->space);
	KUNIT_EXPECT_EQ(test, r.faults[LAZYMAP_LEVEL_PTE], 9);

	/* Revoke unmaps the folio but leaves it in the page cache. */
	KUNIT_ASSERT_EQ(test, lazymap_revoke(m->space, 4, 5), 0);
	KUNIT_EXPECT_FALSE(test, kmap_mapped(m, addr + 4 * PAGE_SIZE, 4));
	KUNIT_EXPECT_EQ(test, kmap_byte(m, 4), KMAP_BYTE(4));
	KUNIT_EXPECT_EQ(test, kl->calls, 3);
	KUNIT_EXPECT_EQ(test, kl->reason, LAZYMAP_INVAL_REVOKE);
	KUNIT_EXPECT_EQ(test, kmap_read(addr + 4 * PAGE_SIZE, &val), -EFAULT);
	KUNIT_ASSERT_EQ(test, lazymap_restore(m->space, 4, 5), 0);
	KUNIT_ASSERT_EQ(test, kmap_read(addr + 4 * PAGE_SIZE, &val), 0);
	KUNIT_EXPECT_EQ(test, val, KMAP_BYTE(4));

	KUNIT_ASSERT_EQ(test, vm_munmap(addr, 8 * PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, kref_read(&m->space->ref), 1);
}

/* --- allocation failures --------------------------------------------- */

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

static struct kunit_case lazymap_test_cases[] = {
	KUNIT_CASE_PARAM(lazymap_test_fault_fits, fits_gen_params),
	KUNIT_CASE(lazymap_test_order_level),
	KUNIT_CASE_PARAM(lazymap_test_create_invalid, create_invalid_gen_params),
	KUNIT_CASE(lazymap_test_create_caching),
	KUNIT_CASE(lazymap_test_lifecycle),
	KUNIT_CASE(lazymap_test_adopt),
	KUNIT_CASE(lazymap_test_revoke_restore),
	KUNIT_CASE_PARAM(lazymap_test_range_invalid, range_invalid_gen_params),
	KUNIT_CASE(lazymap_test_listener_zap),
	KUNIT_CASE(lazymap_test_listener_invalid),
	KUNIT_CASE(lazymap_test_launder),
	KUNIT_CASE_PARAM(lazymap_test_vma_record, kind_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_vma_zap, kind_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_vma_revoke, kind_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_vma_split, kind_gen_params),
	KUNIT_CASE(lazymap_test_folio_cache),
	KUNIT_CASE_PARAM(lazymap_test_fail_create, create_fail_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_fail_mmap, kind_fail_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_fail_split, kind_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_fail_get_folio, get_folio_fail_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_fail_revoke, revoke_fail_gen_params),
	KUNIT_CASE(lazymap_test_fail_listener),
	{}
};

static struct kunit_suite lazymap_test_suite = {
	.name = "lazymap",
	.test_cases = lazymap_test_cases,
};

kunit_test_suite(lazymap_test_suite);

MODULE_DESCRIPTION("KUnit tests for lazymap");
MODULE_LICENSE("GPL");
