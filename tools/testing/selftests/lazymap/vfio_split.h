/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VMA splits inside huge entries of a BAR mapping, shared by the tests of
 * stock vfio-pci and lazymap-vfio-pci: map the 1 GiB BAR2 of ivshmem
 * 1 GiB-aligned (one PUD entry) or 2 MiB past it (PMD entries), map it
 * with a write, then munmap(), mprotect() or mremap() one page in the
 * middle of it and check both sides: every page left mapped reads its data
 * and takes writes, the page itself what the operation left of it.
 * Include after kselftest_harness.h and vfio_util.h.
 */
#ifndef __LAZYMAP_VFIO_SPLIT_H
#define __LAZYMAP_VFIO_SPLIT_H

#include <stdint.h>
#include <sys/mman.h>

enum bar_split_op {
	BAR_SPLIT_MUNMAP,
	BAR_SPLIT_MPROTECT,
	BAR_SPLIT_MREMAP,
};

/* The page the operation applies to: inside a PMD block, not at its edge. */
#define BAR_SPLIT_PAGE		(SZ_1G / 2 + 3 * SZ_4K)

/* Value of the first 8 bytes of BAR page @pg in this run. */
static inline uint64_t bar_split_val(uint64_t seed, size_t pg)
{
	return (seed + pg) * 0x9e3779b97f4a7c15ULL;
}

/*
 * Map @len = 1 GiB of BAR @offset of device @fd @skew bytes past a 1 GiB
 * boundary, into *@map (the caller unmaps *@map, 1 GiB, at teardown, and
 * the page a BAR_SPLIT_MREMAP moved, *@moved, if not NULL), and run @op.
 */
static inline void bar_split(struct __test_metadata *_metadata, int fd,
			     uint64_t offset, size_t skew,
			     enum bar_split_op op, void **map, void **moved)
{
	const size_t target = BAR_SPLIT_PAGE / SZ_4K;
	const uint64_t seed = (uint64_t)getpid() << 24 | op << 8 | skew >> 21;
	volatile uint8_t *p;
	void *dest, *q;
	size_t pg;

	*map = vfio_mmap_aligned(fd, offset, SZ_1G, PROT_READ | PROT_WRITE,
				 SZ_1G, skew);
	ASSERT_NE(MAP_FAILED, *map)
		TH_LOG("mmap of the BAR at 1 GiB + 0x%zx: %s", skew,
		       strerror(errno));
	p = *map;

	/* The first write maps the BAR with the largest entries it can. */
	for (pg = 0; pg < SZ_1G / SZ_4K; pg++)
		*(volatile uint64_t *)(p + pg * SZ_4K) = bar_split_val(seed, pg);

	switch (op) {
	case BAR_SPLIT_MUNMAP:
		ASSERT_EQ(0, munmap((void *)(p + BAR_SPLIT_PAGE), SZ_4K))
			TH_LOG("munmap of one page: %s", strerror(errno));
		break;
	case BAR_SPLIT_MPROTECT:
		ASSERT_EQ(0, mprotect((void *)(p + BAR_SPLIT_PAGE), SZ_4K,
				      PROT_READ))
			TH_LOG("mprotect of one page: %s", strerror(errno));
		EXPECT_EQ(bar_split_val(seed, target),
			  *(volatile uint64_t *)(p + BAR_SPLIT_PAGE));
		break;
	case BAR_SPLIT_MREMAP:
		dest = mmap(NULL, SZ_4K, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, dest);
		q = mremap((void *)(p + BAR_SPLIT_PAGE), SZ_4K, SZ_4K,
			   MREMAP_MAYMOVE | MREMAP_FIXED, dest);
		if (q == MAP_FAILED)
			munmap(dest, SZ_4K);
		ASSERT_EQ(dest, q)
			TH_LOG("mremap of one page: %s", strerror(errno));
		*moved = q;
		EXPECT_EQ(bar_split_val(seed, target), *(volatile uint64_t *)q);
		*(volatile uint64_t *)q = ~bar_split_val(seed, target);
		break;
	}

	/* Both sides: the data, then a write and its read-back. */
	for (pg = 0; pg < SZ_1G / SZ_4K; pg++) {
		volatile uint64_t *v = (volatile uint64_t *)(p + pg * SZ_4K);

		if (pg == target)
			continue;
		ASSERT_EQ(bar_split_val(seed, pg), *v)
			TH_LOG("page %zu after the split", pg);
		*v = ~bar_split_val(seed, pg);
		ASSERT_EQ(~bar_split_val(seed, pg), *v)
			TH_LOG("page %zu after the split", pg);
	}
	/* The moved page is the BAR's: a new mapping sees what it wrote. */
	if (op == BAR_SPLIT_MREMAP) {
		q = mmap(NULL, SZ_4K, PROT_READ, MAP_SHARED, fd,
			 offset + BAR_SPLIT_PAGE);
		ASSERT_NE(MAP_FAILED, q);
		EXPECT_EQ(~bar_split_val(seed, target),
			  *(volatile uint64_t *)q);
		munmap(q, SZ_4K);
	}
}

#endif /* __LAZYMAP_VFIO_SPLIT_H */
