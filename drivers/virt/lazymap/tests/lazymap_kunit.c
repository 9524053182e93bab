// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the lazymap core that need no user address space: fault
 * order math, space lifecycle, revoke/restore ranges, listeners and
 * launder.  The mmap/fault/zap paths are covered by the selftests in
 * tools/testing/selftests/lazymap/ against the test provider.
 */
#include <kunit/test.h>
#include <kunit/visibility.h>
#include <linux/gfp.h>
#include <linux/lazymap.h>
#include <linux/mm.h>

#include "../lazymap_internal.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define SZ_SPACE	(64 * PAGE_SIZE)

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
	lazymap_flush();
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
	lazymap_flush();
	KUNIT_EXPECT_EQ(test, ks->releases, 0);
	lazymap_space_put(space);
	lazymap_flush();
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

	owner = kspace_create(test, &ks, NULL);
	p.mapping = lazymap_space_mapping(owner);
	p.gate = gate;
	adopter = kspace_create(test, &ks, &p);

	KUNIT_EXPECT_PTR_EQ(test, lazymap_space_mapping(adopter),
			    lazymap_space_mapping(owner));
	KUNIT_EXPECT_PTR_EQ(test, lazymap_space_gate(adopter), gate);
	KUNIT_EXPECT_PTR_NE(test, lazymap_space_gate(owner), gate);

	/* The consumer's own path holds its gate and zaps with __lazymap_zap. */
	down_write(gate);
	KUNIT_EXPECT_EQ(test, __lazymap_zap(adopter, 0, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, __lazymap_zap(adopter, 0, SZ_SPACE + PAGE_SIZE),
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
	KUNIT_EXPECT_FALSE(test, lazymap_revoked(space, 0, 64));

	KUNIT_ASSERT_EQ(test, lazymap_revoke(space, 4 * PAGE_SIZE, 8 * PAGE_SIZE), 0);
	KUNIT_EXPECT_FALSE(test, lazymap_revoked(space, 3, 1));
	KUNIT_EXPECT_TRUE(test, lazymap_revoked(space, 4, 1));
	KUNIT_EXPECT_TRUE(test, lazymap_revoked(space, 11, 1));
	KUNIT_EXPECT_FALSE(test, lazymap_revoked(space, 12, 1));
	KUNIT_EXPECT_TRUE(test, lazymap_revoked(space, 0, 64));
	KUNIT_EXPECT_TRUE(test, lazymap_revoked(space, 0, 5));
	KUNIT_EXPECT_FALSE(test, lazymap_revoked(space, 0, 4));

	/* Restore a hole in the middle: two revoked pieces remain. */
	KUNIT_ASSERT_EQ(test, lazymap_restore(space, 6 * PAGE_SIZE, 2 * PAGE_SIZE), 0);
	KUNIT_EXPECT_TRUE(test, lazymap_revoked(space, 5, 1));
	KUNIT_EXPECT_FALSE(test, lazymap_revoked(space, 6, 2));
	KUNIT_EXPECT_TRUE(test, lazymap_revoked(space, 8, 1));

	/* Overlapping revoke merges; revoking twice is allowed. */
	KUNIT_ASSERT_EQ(test, lazymap_revoke(space, 10 * PAGE_SIZE, 10 * PAGE_SIZE), 0);
	KUNIT_ASSERT_EQ(test, lazymap_revoke(space, 10 * PAGE_SIZE, 10 * PAGE_SIZE), 0);
	KUNIT_EXPECT_TRUE(test, lazymap_revoked(space, 19, 1));
	KUNIT_EXPECT_FALSE(test, lazymap_revoked(space, 20, 44));

	/* Restoring what is not revoked changes nothing. */
	KUNIT_ASSERT_EQ(test, lazymap_restore(space, 30 * PAGE_SIZE, PAGE_SIZE), 0);
	KUNIT_ASSERT_EQ(test, lazymap_restore(space, 0, SZ_SPACE), 0);
	KUNIT_EXPECT_FALSE(test, lazymap_revoked(space, 0, 64));

	lazymap_space_stats(space, &st);
	KUNIT_EXPECT_EQ(test, st.revokes, 3);
	KUNIT_EXPECT_EQ(test, st.restores, 3);
	KUNIT_EXPECT_EQ(test, st.zaps, 3);
}

struct range_case {
	const char *name;
	u64 offset, len;
};

static const struct range_case range_invalid_cases[] = {
	{ "empty", 0, 0 },
	{ "offset unaligned", 1, PAGE_SIZE },
	{ "length unaligned", 0, PAGE_SIZE + 1 },
	{ "past end", SZ_SPACE - PAGE_SIZE, 2 * PAGE_SIZE },
	{ "starts at end", SZ_SPACE, PAGE_SIZE },
	{ "wraps", PAGE_SIZE, U64_MAX & PAGE_MASK },
	{ "huge offset", U64_MAX & PAGE_MASK, PAGE_SIZE },
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
	KUNIT_EXPECT_EQ(test, lazymap_zap(space, c->offset, c->len), -EINVAL);
	KUNIT_EXPECT_EQ(test, lazymap_revoke(space, c->offset, c->len), -EINVAL);
	KUNIT_EXPECT_EQ(test, lazymap_restore(space, c->offset, c->len), -EINVAL);
	lazymap_space_stats(space, &st);
	KUNIT_EXPECT_EQ(test, st.zaps + st.revokes + st.restores, 0);
	KUNIT_EXPECT_FALSE(test, lazymap_revoked(space, 0, 64));
}

/* --- listeners -------------------------------------------------------- */

struct klistener {
	struct lazymap_listener l;
	int calls;
	pgoff_t start, end;
	enum lazymap_inval_reason reason;
	int ret;
};

static int klistener_invalidate(struct lazymap_listener *l, pgoff_t start,
				pgoff_t end, enum lazymap_inval_reason reason)
{
	struct klistener *kl = container_of(l, struct klistener, l);

	kl->calls++;
	kl->start = start;
	kl->end = end;
	kl->reason = reason;
	return kl->ret;
}

static const struct lazymap_listener_ops klistener_ops = {
	.invalidate = klistener_invalidate,
};

struct klisteners {
	struct lazymap_space *space;
	struct klistener kl[3];
};

static void klisteners_unregister(void *data)
{
	struct klisteners *k = data;
	int i;

	for (i = 0; i < ARRAY_SIZE(k->kl); i++)
		lazymap_listener_unregister(k->space, &k->kl[i].l);
}

static struct klisteners *klisteners_setup(struct kunit *test)
{
	static const pgoff_t ranges[3][2] = { { 0, 9 }, { 8, 15 }, { 32, 63 } };
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

	/* Pages [10, 40): misses [0,9], clips [8,15] and [32,63]. */
	KUNIT_ASSERT_EQ(test, lazymap_zap(k->space, 10 * PAGE_SIZE,
					  30 * PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls, 0);
	KUNIT_EXPECT_EQ(test, k->kl[1].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[1].start, 10);
	KUNIT_EXPECT_EQ(test, k->kl[1].end, 16);
	KUNIT_EXPECT_EQ(test, k->kl[1].reason, LAZYMAP_INVAL_ZAP);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[2].start, 32);
	KUNIT_EXPECT_EQ(test, k->kl[2].end, 40);

	/* The overlap of the first two: both, reason revoke. */
	KUNIT_ASSERT_EQ(test, lazymap_revoke(k->space, 9 * PAGE_SIZE, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[0].start, 9);
	KUNIT_EXPECT_EQ(test, k->kl[0].end, 10);
	KUNIT_EXPECT_EQ(test, k->kl[0].reason, LAZYMAP_INVAL_REVOKE);
	KUNIT_EXPECT_EQ(test, k->kl[1].calls, 2);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 1);

	/* Restore invalidates nothing. */
	KUNIT_ASSERT_EQ(test, lazymap_restore(k->space, 0, SZ_SPACE), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls + k->kl[1].calls + k->kl[2].calls, 4);

	/* Unregistered listeners are not called. */
	lazymap_listener_unregister(k->space, &k->kl[2].l);
	KUNIT_ASSERT_EQ(test, lazymap_zap(k->space, 0, SZ_SPACE), 0);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls, 2);
	/* Re-register so the cleanup action's unregister stays balanced. */
	KUNIT_ASSERT_EQ(test, lazymap_listener_register(k->space, &k->kl[2].l,
							32, 63), 0);
}

static void lazymap_test_listener_invalid(struct kunit *test)
{
	static const struct lazymap_listener_ops noop_ops = {};
	struct lazymap_listener l = { .ops = &klistener_ops };
	struct lazymap_space *space;
	struct kspace *ks;

	space = kspace_create(test, &ks, NULL);
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 5, 4), -EINVAL);
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 0, 64), -EINVAL);
	l.ops = &noop_ops;
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 0, 1), -EINVAL);
	l.ops = NULL;
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 0, 1), -EINVAL);
}

static void folio_put_action(void *folio)
{
	folio_put(folio);
}

static void lazymap_test_launder(struct kunit *test)
{
	struct klisteners *k = klisteners_setup(test);
	struct lazymap_stats st;
	struct folio *folio;
	int ret;

	KUNIT_EXPECT_EQ(test, lazymap_launder(k->space, 0, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, lazymap_launder(k->space, ULONG_MAX, 2), -EINVAL);

	KUNIT_EXPECT_EQ(test, lazymap_launder(k->space, 9, 1), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].reason, LAZYMAP_INVAL_LAUNDER);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[1].calls, 1);

	/* One listener cannot let go: the folio must not be released. */
	folio = folio_alloc(GFP_KERNEL, 0);
	KUNIT_ASSERT_NOT_NULL(test, folio);
	ret = kunit_add_action_or_reset(test, folio_put_action, folio);
	KUNIT_ASSERT_EQ(test, ret, 0);
	folio->index = 40;
	k->kl[2].ret = -EBUSY;
	KUNIT_EXPECT_EQ(test, lazymap_launder_folio(k->space, folio), -EBUSY);
	KUNIT_EXPECT_FALSE(test, lazymap_release_folio(k->space, folio));
	KUNIT_EXPECT_EQ(test, lazymap_error_remove_folio(k->space, folio), -EBUSY);
	KUNIT_EXPECT_EQ(test, k->kl[2].start, 40);
	KUNIT_EXPECT_EQ(test, k->kl[2].end, 41);
	k->kl[2].ret = 0;
	KUNIT_EXPECT_TRUE(test, lazymap_release_folio(k->space, folio));
	folio->index = 0;

	lazymap_space_stats(k->space, &st);
	KUNIT_EXPECT_EQ(test, st.launders, 5);
	KUNIT_EXPECT_EQ(test, st.zaps, 0);
}

static struct kunit_case lazymap_test_cases[] = {
	KUNIT_CASE_PARAM(lazymap_test_fault_fits, fits_gen_params),
	KUNIT_CASE(lazymap_test_order_level),
	KUNIT_CASE_PARAM(lazymap_test_create_invalid, create_invalid_gen_params),
	KUNIT_CASE(lazymap_test_lifecycle),
	KUNIT_CASE(lazymap_test_adopt),
	KUNIT_CASE(lazymap_test_revoke_restore),
	KUNIT_CASE_PARAM(lazymap_test_range_invalid, range_invalid_gen_params),
	KUNIT_CASE(lazymap_test_listener_zap),
	KUNIT_CASE(lazymap_test_listener_invalid),
	KUNIT_CASE(lazymap_test_launder),
	{}
};

static struct kunit_suite lazymap_test_suite = {
	.name = "lazymap",
	.test_cases = lazymap_test_cases,
};

kunit_test_suite(lazymap_test_suite);

MODULE_DESCRIPTION("KUnit tests for lazymap");
MODULE_LICENSE("GPL");
