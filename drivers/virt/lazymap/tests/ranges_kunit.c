// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of lazymap's range and order math: which fault fits at which
 * order (lazymap_fault_fits(), lazymap_order_level()), revoked ranges
 * (lazymap_revoke(), lazymap_restore(), lazymap_range_revoked()) and the
 * ranges every range call refuses.
 */
#include <kunit/test.h>
#include <linux/lazymap.h>
#include <linux/mm.h>

#include "lazymap_kunit.h"

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

static struct kunit_case lazymap_ranges_cases[] = {
	KUNIT_CASE_PARAM(lazymap_test_fault_fits, fits_gen_params),
	KUNIT_CASE(lazymap_test_order_level),
	KUNIT_CASE(lazymap_test_revoke_restore),
	KUNIT_CASE_PARAM(lazymap_test_range_invalid, range_invalid_gen_params),
	{}
};

static struct kunit_suite lazymap_ranges_suite = {
	.name = "lazymap_ranges",
	.test_cases = lazymap_ranges_cases,
};

kunit_test_suite(lazymap_ranges_suite);
