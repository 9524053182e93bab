// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of a space's lifetime: the parameters lazymap_space_create()
 * refuses, the caching modes, references and release, and spaces that
 * adopt a consumer's mapping and gate.
 */
#include <kunit/test.h>
#include <linux/lazymap.h>
#include <linux/rwsem.h>

#include "lazymap_kunit.h"

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

static struct kunit_case lazymap_space_cases[] = {
	KUNIT_CASE_PARAM(lazymap_test_create_invalid, create_invalid_gen_params),
	KUNIT_CASE(lazymap_test_create_caching),
	KUNIT_CASE(lazymap_test_lifecycle),
	KUNIT_CASE(lazymap_test_adopt),
	{}
};

static struct kunit_suite lazymap_space_suite = {
	.name = "lazymap_space",
	.test_cases = lazymap_space_cases,
};

kunit_test_suite(lazymap_space_suite);
