// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of folio spaces: lazymap_get_folio() and the page cache of
 * the space's own inode, mapped through a real VMA, whose address_space
 * operations launder the listeners of every folio that leaves it.
 */
#include <kunit/test.h>
#include <linux/lazymap.h>
#include <linux/pagemap.h>

#include "lazymap_kunit.h"

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

static struct kunit_case lazymap_folio_cases[] = {
	KUNIT_CASE(lazymap_test_folio_cache),
	{}
};

static struct kunit_suite lazymap_folio_suite = {
	.name = "lazymap_folio",
	.test_cases = lazymap_folio_cases,
};

kunit_test_suite(lazymap_folio_suite);
