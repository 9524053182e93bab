// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the per-VMA tracking records and the fault paths of all
 * three kinds of space, through real VMAs of the test's own mm
 * (kunit_vm_mmap(), faults taken by uaccess from the test thread): mmap,
 * first-touch faults, zaps, revokes and splits.  Fork and huge faults are
 * covered by the selftests in tools/testing/selftests/lazymap/.
 */
#include <kunit/test.h>
#include <linux/lazymap.h>
#include <linux/mm.h>
#include <linux/sched.h>

#include "lazymap_kunit.h"

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

static struct kunit_case lazymap_vma_cases[] = {
	KUNIT_CASE_PARAM(lazymap_test_vma_record, kmap_kind_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_vma_zap, kmap_kind_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_vma_revoke, kmap_kind_gen_params),
	KUNIT_CASE_PARAM(lazymap_test_vma_split, kmap_kind_gen_params),
	{}
};

static struct kunit_suite lazymap_vma_suite = {
	.name = "lazymap_vma",
	.test_cases = lazymap_vma_cases,
};

kunit_test_suite(lazymap_vma_suite);
