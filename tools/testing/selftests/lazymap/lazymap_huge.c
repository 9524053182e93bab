// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests of the lazymap core's huge faults through its test provider,
 * /dev/lazymap-test (CONFIG_LAZYMAP_TEST, interface in lazymap_test.h).
 * They need THP, so they run in the QEMU stages only (UML has none; they
 * SKIP without it): 8 MiB spaces of 2 MiB blocks mapped at PMD-aligned
 * addresses.
 *
 * lazymap_huge checks where each flavour of the provider (page, pfn,
 * folio) maps PMD entries, the fallbacks to 4 KiB entries, splits of
 * PMD-mapped VMAs, and races readers and writers of PMD-mapped blocks
 * with revokes of all or part of them; lazymap_thp checks folio spaces
 * against /proc/self/smaps (PMD entries of page-cache folios show as
 * FilePmdMapped), their partial revoke and restore, mmap(NULL) alignment
 * and DISCARD of PMD-sized folios.  Threads other than the test's own
 * never use ASSERT_*() or EXPECT_*(): they record what they saw and the
 * test checks it after joining them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "lazymap_test_util.h"
#include "lazymap_core_util.h"

/*
 * Huge faults.  An 8 MiB space backed by 2 MiB blocks: a pfn space maps
 * every naturally aligned block with one PMD entry when the VMA allows it,
 * and falls back to 4 KiB entries when the address or offset is
 * misaligned or part of the block is revoked; a page space always maps
 * 4 KiB entries (6.12 has no vmf_insert_folio_pmd()); a folio space asks
 * its provider for a PMD-sized folio wherever a pfn space would map a PMD
 * entry, and the core mm maps that folio with one while the block has no
 * page table.
 */
#define HUGE_LEN		(4 * SZ_2M)
#define HUGE_PAGES		(HUGE_LEN / PG)
#define HUGE_ORDER		9

/*
 * The setup of the huge fixtures: SKIP without THP, open the provider into
 * *@dev_fd, CREATE an 8 MiB space of max_order 9 with @flags into *@fd and
 * *@id, and reserve PROT_NONE room for a mapping of it at a 2 MiB-aligned
 * address plus a skew into *@reserve and *@reserve_len.  False if it
 * SKIPped: the setup must return then.
 */
static bool lm_huge_setup(struct __test_metadata *_metadata, __u32 flags,
			  int *dev_fd, int *fd, __u32 *id, void **reserve,
			  size_t *reserve_len)
{
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK))
		SKIP(return false, "no transparent hugepages: no huge faults");
	if (!lm_setup_space_order(_metadata, flags, HUGE_LEN, HUGE_ORDER,
				  dev_fd, fd, id))
		return false;

	/* Room for the mapping at any 2 MiB-aligned address plus a skew. */
	*reserve_len = HUGE_LEN + 2 * SZ_2M;
	*reserve = lm_reserve(*reserve_len);
	ASSERT_NE(MAP_FAILED, *reserve);

	ASSERT_EQ(0, sigbus_install());
	return true;
}

static void lm_huge_teardown(int dev_fd, int fd, void *reserve,
			     size_t reserve_len)
{
	if (reserve && reserve != MAP_FAILED)
		munmap(reserve, reserve_len);
	lm_close_space(dev_fd, fd);
}

FIXTURE(lazymap_huge) {
	int dev_fd;
	int fd;
	__u32 id;
	void *reserve;		/* PROT_NONE reservation holding the mapping */
	size_t reserve_len;
};

FIXTURE_VARIANT(lazymap_huge) {
	__u32 flags;
	bool pmd;		/* PMD entries expected where aligned */
};

FIXTURE_VARIANT_ADD(lazymap_huge, pfn) {
	.flags = LAZYMAP_TEST_PFN,
	.pmd = true,
};

FIXTURE_VARIANT_ADD(lazymap_huge, page) {
	.flags = 0,
	.pmd = false,
};

FIXTURE_VARIANT_ADD(lazymap_huge, folio) {
	.flags = LAZYMAP_TEST_FOLIO,
	.pmd = true,
};

FIXTURE_SETUP(lazymap_huge)
{
	self->dev_fd = -1;
	self->fd = -1;
	self->reserve = NULL;
	lm_huge_setup(_metadata, variant->flags, &self->dev_fd, &self->fd,
		      &self->id, &self->reserve, &self->reserve_len);
}

FIXTURE_TEARDOWN(lazymap_huge)
{
	lm_huge_teardown(self->dev_fd, self->fd, self->reserve,
			 self->reserve_len);
}

/* Map @len from space @offset at a 2 MiB-aligned address + @skew. */
static volatile uint8_t *huge_map(FIXTURE_DATA(lazymap_huge) *self,
				  size_t offset, size_t len, size_t skew)
{
	return lm_huge_map_in(self->reserve, self->fd, offset, len, skew);
}

/*
 * Check that FilePmdMapped of the VMA at @p is @want_kb (PMD entries of
 * page-cache folios); @when says at which step.  Shows the other sizes of
 * the VMA if not.
 */
static void lm_expect_pmd_mapped(struct __test_metadata *_metadata,
				 const volatile uint8_t *p,
				 unsigned long long want_kb, const char *when)
{
	static const char * const other[] = {
		"Rss", "ShmemPmdMapped", "AnonHugePages",
	};
	unsigned long long kb = 0, val;
	size_t i;
	int ret;

	ret = lm_smaps_kb(p, "FilePmdMapped", &kb);
	ASSERT_EQ(0, ret)
		TH_LOG("%s: FilePmdMapped of the VMA at %p in /proc/self/smaps: %s",
		       when, p, strerror(-ret));
	EXPECT_EQ(want_kb, kb) {
		TH_LOG("%s: FilePmdMapped %llu kB, want %llu kB", when, kb,
		       want_kb);
		for (i = 0; i < ARRAY_SIZE(other); i++) {
			if (!lm_smaps_kb(p, other[i], &val))
				TH_LOG("%s: %llu kB", other[i], val);
		}
	}
}

TEST_F(lazymap_huge, aligned_first_touch)
{
	struct lazymap_test_stats st;
	volatile uint8_t *p;
	size_t pg;

	p = huge_map(self, 0, HUGE_LEN, 0);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0UL, sigbus_pages(p, HUGE_LEN, PG));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	if (variant->pmd) {
		EXPECT_EQ(HUGE_LEN / SZ_2M, st.faults[1]);
		EXPECT_EQ(0ULL, st.faults[0]);
	} else {
		EXPECT_EQ(HUGE_LEN / PG, st.faults[0]);
		EXPECT_EQ(0ULL, st.faults[1]);
	}
	/* Every fault of a folio space got the PMD-sized folio it asked for. */
	if (variant->flags & LAZYMAP_TEST_FOLIO) {
		EXPECT_EQ(0ULL, st.fallbacks);
	}
	/* Whole blocks: pages, or PMD-sized folios of the page cache. */
	EXPECT_EQ((__u64)HUGE_PAGES, st.pages);
	TH_LOG("faults 4K %llu 2M %llu fallbacks %llu",
	       (unsigned long long)st.faults[0],
	       (unsigned long long)st.faults[1],
	       (unsigned long long)st.fallbacks);

	/* Every page is its own memory: write and read back a pattern. */
	for (pg = 0; pg < HUGE_LEN / PG; pg++)
		p[pg * PG + 7] = pat(pg);
	for (pg = 0; pg < HUGE_LEN / PG; pg++)
		ASSERT_EQ(pat(pg), p[pg * PG + 7]);
}

/*
 * A space of 4 KiB blocks mapped at a PMD-aligned address: every PMD fault
 * falls back, and the provider must back only the pages that are touched.
 * The PMD attempt asks the provider about the faulting page, not about the
 * first page of its block, which nobody touched (fail-nth's revoke_fill
 * found that page counted on x86).
 */
TEST_F(lazymap_huge, fallback_backs_touched_pages)
{
	const size_t touched[] = { SZ_2M + 5 * PG, 3 * SZ_2M + 300 * PG };
	struct lazymap_test_stats st;
	volatile uint8_t *p;
	size_t i;
	__u32 id;
	int fd;

	fd = lm_create(self->dev_fd, variant->flags, HUGE_LEN, 0, &id);
	ASSERT_LE(0, fd)
		TH_LOG("CREATE 8 MiB, order 0: %s", strerror(-fd));
	p = lm_huge_map_in(self->reserve, fd, 0, HUGE_LEN, 0);
	ASSERT_NE(NULL, p);
	for (i = 0; i < ARRAY_SIZE(touched); i++)
		p[touched[i]] = i + 1;
	ASSERT_EQ(0, lm_stats(fd, &st));
	EXPECT_EQ((__u64)ARRAY_SIZE(touched), st.pages);
	EXPECT_EQ((__u64)ARRAY_SIZE(touched), st.faults[0]);
	EXPECT_EQ(0ULL, st.faults[1]);
	for (i = 0; i < ARRAY_SIZE(touched); i++)
		EXPECT_EQ(i + 1, p[touched[i]]);
	close(fd);
}

TEST_F(lazymap_huge, misaligned_address)
{
	struct lazymap_test_stats st;
	volatile uint8_t *p;

	/* 4 KiB past a 2 MiB boundary: no block fits the VMA's alignment. */
	p = huge_map(self, 0, HUGE_LEN - SZ_2M, PG);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0UL, sigbus_pages(p, HUGE_LEN - SZ_2M, PG));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ((HUGE_LEN - SZ_2M) / PG, st.faults[0]);
	EXPECT_EQ(0ULL, st.faults[1]);
}

TEST_F(lazymap_huge, misaligned_offset)
{
	struct lazymap_test_stats st;
	volatile uint8_t *p;

	/* Aligned address, offset one page in: pfns never line up. */
	p = huge_map(self, PG, SZ_2M * 2, 0);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0UL, sigbus_pages(p, SZ_2M * 2, PG));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(SZ_2M * 2 / PG, st.faults[0]);
	EXPECT_EQ(0ULL, st.faults[1]);
}

TEST_F(lazymap_huge, partly_revoked_block)
{
	struct lazymap_test_stats st;
	volatile uint8_t *p;

	/* One revoked page in block 0: the block falls back to 4 KiB. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE, 5 * PG, PG, 0));
	p = huge_map(self, 0, HUGE_LEN, 0);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(1UL, sigbus_pages(p, HUGE_LEN, PG));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(1ULL, st.sigbus);
	if (variant->pmd) {
		EXPECT_EQ(SZ_2M / PG - 1, st.faults[0]);
		EXPECT_EQ(HUGE_LEN / SZ_2M - 1, st.faults[1]);
	}

	/* Restored: the page faults in, the rest stays mapped. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, HUGE_LEN, 0));
	ASSERT_EQ(0UL, sigbus_pages(p, HUGE_LEN, PG));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	if (variant->pmd)
		EXPECT_EQ(SZ_2M / PG, st.faults[0]);
}

TEST_F(lazymap_huge, zap_inside_block)
{
	struct lazymap_test_stats st;
	volatile uint8_t *p;

	p = huge_map(self, 0, HUGE_LEN, 0);
	ASSERT_NE(NULL, p);
	p[SZ_2M + 3 * PG] = 0x3c;
	ASSERT_EQ(0UL, sigbus_pages(p, HUGE_LEN, PG));
	/* Zapping one page of a PMD-mapped block drops the whole entry. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_ZAP, SZ_2M + 3 * PG, PG, 0));
	ASSERT_EQ(0UL, sigbus_pages(p, HUGE_LEN, PG));
	ASSERT_EQ(0x3c, p[SZ_2M + 3 * PG]);
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	if (variant->pmd) {
		EXPECT_EQ(HUGE_LEN / SZ_2M + 1, st.faults[1]);
		EXPECT_EQ(0ULL, st.faults[0]);
	} else {
		EXPECT_EQ(HUGE_LEN / PG + 1, st.faults[0]);
	}
}

/*
 * munmap, mprotect and mremap of one page inside a PMD-mapped block of an
 * 8 MiB mapping: the VMA splits (6.12 splits the PMD entry at the new
 * boundary), every page left in place keeps its data on both sides, the
 * page itself has what the operation left of it, and a revoke of the page
 * next to it still reaches the right part: SIGBUS there and nowhere else.
 */
enum huge_split_op { HUGE_MUNMAP, HUGE_MPROTECT, HUGE_MREMAP };

static void huge_split(struct __test_metadata *_metadata,
		       FIXTURE_DATA(lazymap_huge) *self, enum huge_split_op op)
{
	const size_t t = SZ_2M / PG + 3;	/* the page split out */
	volatile uint8_t *p, *moved = NULL;
	void *dest;
	size_t pg;
	long bad;

	p = huge_map(self, 0, HUGE_LEN, 0);
	ASSERT_NE(NULL, p);
	pattern_write(p, 0, HUGE_PAGES);

	switch (op) {
	case HUGE_MUNMAP:
		ASSERT_EQ(0, munmap((void *)(p + t * PG), PG));
		break;
	case HUGE_MPROTECT:
		ASSERT_EQ(0, mprotect((void *)(p + t * PG), PG, PROT_READ));
		EXPECT_EQ(-1, pattern_mismatch(p, t, 1));
		break;
	case HUGE_MREMAP:
		dest = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
		ASSERT_NE(MAP_FAILED, dest);
		moved = mremap((void *)(p + t * PG), PG, PG,
			       MREMAP_MAYMOVE | MREMAP_FIXED, dest);
		if (moved == MAP_FAILED)
			munmap(dest, PG);
		ASSERT_EQ(dest, (void *)moved)
			TH_LOG("mremap: %s", strerror(errno));
		EXPECT_EQ(-1L, first_mismatch(moved, PG, pat(t)));
		break;
	}
	bad = pattern_mismatch(p, 0, t);
	EXPECT_EQ(-1, bad) TH_LOG("offset 0x%lx before the page", bad);
	bad = pattern_mismatch(p, t + 1, HUGE_PAGES - t - 1);
	EXPECT_EQ(-1, bad) TH_LOG("offset 0x%lx after the page", bad);

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE, (t + 1) * PG, PG,
			      0));
	EXPECT_EQ(0UL, sigbus_pages(p, t * PG, PG));
	EXPECT_EQ(1UL, sigbus_pages(p + (t + 1) * PG, PG, PG));
	EXPECT_EQ(0UL, sigbus_pages(p + (t + 2) * PG,
				    HUGE_LEN - (t + 2) * PG, PG));
	if (moved) {
		EXPECT_EQ(0UL, sigbus_pages(moved, PG, PG));
	} else if (op == HUGE_MPROTECT) {
		EXPECT_EQ(0UL, sigbus_pages(p + t * PG, PG, PG));
	}
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, HUGE_LEN, 0));
	/* Writable on both sides. */
	for (pg = 0; pg < HUGE_PAGES; pg++) {
		if (pg != t)
			p[pg * PG] = ~pat(pg);
	}
	for (pg = 0; pg < HUGE_PAGES; pg++) {
		if (pg != t)
			EXPECT_EQ((uint8_t)~pat(pg), p[pg * PG]);
	}
	if (moved)
		munmap((void *)moved, PG);
}

TEST_F(lazymap_huge, split_munmap)
{
	huge_split(_metadata, self, HUGE_MUNMAP);
}

TEST_F(lazymap_huge, split_mprotect)
{
	huge_split(_metadata, self, HUGE_MPROTECT);
}

TEST_F(lazymap_huge, split_mremap)
{
	huge_split(_metadata, self, HUGE_MREMAP);
}

/*
 * concurrent_revoke on PMD-mapped blocks: readers of all of an 8 MiB
 * mapping at a 2 MiB-aligned address, touched whole first (PMD entries
 * where the flavour maps them), while the revoker revokes, fills and
 * restores in turn the whole space (every PMD entry goes and comes back),
 * 16 pages inside block 1 (its PMD entry goes, the rest of the block
 * refaults 4 KiB) and 2 MiB straddling blocks 2 and 3.
 */
#define CRP_ITERATIONS	150	/* < 256: the fill byte never wraps */

TEST_F_TIMEOUT(lazymap_huge, concurrent_revoke_pmd, 600)
{
	static const struct cr_range ranges[] = {
		{ 0, HUGE_PAGES },
		{ SZ_2M / PG + 64, 16 },
		{ 2 * SZ_2M / PG + SZ_1M / PG, SZ_2M / PG },
	};
	struct cr_ctx ctx = {
		.fd = self->fd,
		.pages = HUGE_PAGES,
		.ranges = ranges,
		.nr_ranges = ARRAY_SIZE(ranges),
		.iterations = CRP_ITERATIONS,
	};
	const bool folio = variant->flags & LAZYMAP_TEST_FOLIO;
	struct lazymap_test_stats st0, st;
	unsigned long long kb;
	unsigned long sigbus;

	ctx.map = huge_map(self, 0, HUGE_LEN, 0);
	ASSERT_NE(NULL, ctx.map);
	ASSERT_EQ(0UL, sigbus_pages(ctx.map, HUGE_LEN, PG));
	ASSERT_EQ(0, lm_stats(self->fd, &st0));
	/* The race starts from PMD entries. */
	if (variant->pmd) {
		ASSERT_EQ(HUGE_LEN / SZ_2M, st0.faults[1]);
	}
	if (folio)
		lm_expect_pmd_mapped(_metadata, ctx.map, HUGE_LEN >> 10,
				     "before the race");

	cr_run(_metadata, &ctx, &sigbus);

	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(st0.revokes + CRP_ITERATIONS, st.revokes);
	EXPECT_EQ(st0.restores + CRP_ITERATIONS, st.restores);
	EXPECT_EQ(st0.sigbus + sigbus, st.sigbus);
	TH_LOG("faults 4K %llu 2M %llu fallbacks %llu",
	       (unsigned long long)st.faults[0],
	       (unsigned long long)st.faults[1],
	       (unsigned long long)st.fallbacks);
	/*
	 * Only whole-space revokes reach block 0, which never gets a page
	 * table: it came back as a PMD entry at least after the last one.
	 */
	if (variant->pmd) {
		EXPECT_LT(st0.faults[1], st.faults[1]);
	} else {
		EXPECT_EQ(0ULL, st.faults[1]);
	}
	if (folio) {
		ASSERT_EQ(0, lm_smaps_kb(ctx.map, "FilePmdMapped", &kb));
		EXPECT_LE((unsigned long long)SZ_2M >> 10, kb)
			TH_LOG("block 0 is not PMD-mapped after the race");
	}
}

/*
 * The fault-size race from both sides, with writes.  Each round maps the
 * space afresh (no page table below any PMD slot), revokes one page of
 * every block and lets two writers per block start at the block's first
 * page while the space is restored: a writer whose PMD fault fell back
 * (partly revoked) meets, on its way to a 4 KiB insert, a PMD entry
 * the other one mapped after the restore, or the other way round a PMD
 * write fault meets the page table of a 4 KiB insert.  The kernel must
 * take both as "mapped meanwhile" (without a fix: a BUG in walk_to_pmd()
 * under DEBUG_VM, VM_FAULT_OOM leaking to the page fault handler, or the
 * WARN of insert_pfn_pmd()); the test checks the data and that the kernel
 * did not become tainted by a warning.
 */
#define CW_ROUNDS	40
#define CW_WRITERS	((int)(2 * HUGE_LEN / SZ_2M))
#define TAINT_WARN	0x200L	/* bit 9 */

struct cw_ctx {
	volatile uint8_t *map;
	int go;			/* atomic: writers may start */
	int restored;		/* atomic: the space is restored */
};

struct cw_writer {
	struct cw_ctx *ctx;
	pthread_t thread;
	size_t first;		/* the page it starts at */
	unsigned long sigbus;
};

/*
 * Write every page, from ->first round the space, until a pass that began
 * after the restore is done.
 */
static void *cw_write(void *arg)
{
	struct cw_writer *w = arg;
	size_t i, pg;
	bool last;

	while (!__atomic_load_n(&w->ctx->go, __ATOMIC_ACQUIRE))
		sched_yield();
	do {
		last = __atomic_load_n(&w->ctx->restored, __ATOMIC_ACQUIRE);
		for (i = 0; i < HUGE_PAGES; i++) {
			pg = (w->first + i) % HUGE_PAGES;
			if (write_byte(w->ctx->map + pg * PG + 1, pat(pg)))
				w->sigbus++;
		}
	} while (!last);
	return NULL;
}

static long kernel_taint(void)
{
	char buf[32];
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");
	long t = -1;

	if (f) {
		if (fgets(buf, sizeof(buf), f))
			t = strtol(buf, NULL, 10);
		fclose(f);
	}
	return t;
}

TEST_F_TIMEOUT(lazymap_huge, concurrent_write_pmd, 600)
{
	struct cw_writer writers[CW_WRITERS];
	long taint0 = kernel_taint(), taint;
	struct cw_ctx ctx;
	unsigned int round;
	size_t b, pg;
	int i, ret;

	if (!variant->pmd)
		SKIP(return, "this flavour maps no PMD entries");
	ASSERT_LE(0, taint0);
	if (taint0 & TAINT_WARN)
		TH_LOG("the kernel warned before: a new warning goes unseen");
	for (round = 0; round < CW_ROUNDS; round++) {
		ctx.go = 0;
		ctx.restored = 0;
		/* MAP_FIXED over the last round's: empty PMD slots again. */
		ctx.map = huge_map(self, 0, HUGE_LEN, 0);
		ASSERT_NE(NULL, ctx.map);
		for (b = 0; b < HUGE_LEN / SZ_2M; b++)
			ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE,
					      b * SZ_2M + 7 * PG, PG, 0));
		memset(writers, 0, sizeof(writers));
		for (i = 0; i < CW_WRITERS; i++) {
			writers[i].ctx = &ctx;
			writers[i].first = i / 2 * (SZ_2M / PG);
			ret = pthread_create(&writers[i].thread, NULL,
					     cw_write, &writers[i]);
			if (ret) {
				__atomic_store_n(&ctx.go, 1, __ATOMIC_RELEASE);
				while (i--)
					pthread_join(writers[i].thread, NULL);
				ASSERT_EQ(0, ret);
			}
		}
		__atomic_store_n(&ctx.go, 1, __ATOMIC_RELEASE);
		ret = lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, HUGE_LEN, 0);
		__atomic_store_n(&ctx.restored, 1, __ATOMIC_RELEASE);
		for (i = 0; i < CW_WRITERS; i++)
			pthread_join(writers[i].thread, NULL);
		ASSERT_EQ(0, ret);
		/* Every page written by a pass after the restore. */
		for (pg = 0; pg < HUGE_PAGES; pg++)
			ASSERT_EQ(pat(pg), ctx.map[pg * PG + 1])
				TH_LOG("round %u page %zu", round, pg);
	}
	taint = kernel_taint();
	EXPECT_EQ(0L, (taint & ~taint0) & TAINT_WARN)
		TH_LOG("a kernel warning during the race (taint %ld -> %ld): see dmesg",
		       taint0, taint);
}

/*
 * Folio spaces under THP, checked against /proc/self/smaps, which counts
 * the PMD entries of page-cache folios as FilePmdMapped: an independent
 * view of the page tables next to the provider's fault counters.  The
 * space is 8 MiB of up to 2 MiB folios, as in lazymap_huge.
 */
FIXTURE(lazymap_thp) {
	int dev_fd;
	int fd;
	__u32 id;
	void *reserve;		/* PROT_NONE reservation, see lm_huge_setup() */
	size_t reserve_len;
	void *map;		/* a mapping mmap(NULL) placed, or NULL */
	size_t map_len;
};

FIXTURE_SETUP(lazymap_thp)
{
	self->dev_fd = -1;
	self->fd = -1;
	self->reserve = NULL;
	self->map = NULL;
	lm_huge_setup(_metadata, LAZYMAP_TEST_FOLIO, &self->dev_fd,
		      &self->fd, &self->id, &self->reserve,
		      &self->reserve_len);
}

FIXTURE_TEARDOWN(lazymap_thp)
{
	if (self->map)
		munmap(self->map, self->map_len);
	lm_huge_teardown(self->dev_fd, self->fd, self->reserve,
			 self->reserve_len);
}

/* Map the whole space at a 2 MiB-aligned address, in the reservation. */
static volatile uint8_t *thp_map(FIXTURE_DATA(lazymap_thp) *self)
{
	return lm_huge_map_in(self->reserve, self->fd, 0, HUGE_LEN, 0);
}

/*
 * Revoking one page of a PMD-mapped folio unmaps the whole PMD entry; the
 * other pages of the folio fault back 4 KiB each, the revoked one
 * SIGBUSes.  After restore the block stays mapped by its page table in
 * this VMA, until the VMA goes: a new mapping maps it with a PMD again.
 */
TEST_F(lazymap_thp, partial_revoke)
{
	/* Page 7 of block 1. */
	const size_t rv = SZ_2M / PG + 7;
	struct lazymap_test_stats st;
	volatile uint8_t *p;
	uint8_t v = 0;
	long bad;

	p = thp_map(self);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	/*
	 * Touch by writing: write faults map the PMD entries writable and
	 * dirty, so whatever the reads below do, no write fault follows.
	 */
	pattern_write(p, 0, HUGE_PAGES);
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(HUGE_LEN / SZ_2M, st.faults[1]);
	EXPECT_EQ(0ULL, st.faults[0]);
	EXPECT_EQ(0ULL, st.fallbacks);
	EXPECT_EQ((__u64)HUGE_PAGES, st.pages);
	lm_expect_pmd_mapped(_metadata, p, 8192, "first touch");

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE, rv * PG, PG, 0));
	lm_expect_pmd_mapped(_metadata, p, 6144, "revoke of a page of block 1");
	EXPECT_EQ(-1, read_byte(p + rv * PG, &v))
		TH_LOG("revoked page %zu read 0x%02x", rv, v);
	bad = pattern_mismatch(p, 0, rv);
	EXPECT_EQ(-1L, bad)
		TH_LOG("below the revoked page at 0x%lx: 0x%02x", bad, p[bad]);
	bad = pattern_mismatch(p, rv + 1, HUGE_PAGES - rv - 1);
	EXPECT_EQ(-1L, bad)
		TH_LOG("above the revoked page at 0x%lx: 0x%02x", bad, p[bad]);
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	/* The other 511 pages of block 1: one 4 KiB fault each. */
	EXPECT_EQ(SZ_2M / PG - 1, st.faults[0]);
	EXPECT_EQ(HUGE_LEN / SZ_2M, st.faults[1]);
	/* Partly revoked: they never asked for a PMD-sized folio. */
	EXPECT_EQ(0ULL, st.fallbacks);
	EXPECT_EQ(1ULL, st.sigbus);
	EXPECT_EQ((__u64)HUGE_PAGES, st.pages);
	lm_expect_pmd_mapped(_metadata, p, 6144, "reads around the revoked page");

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, rv * PG, PG, 0));
	bad = pattern_mismatch(p, rv, 1);
	EXPECT_EQ(-1L, bad)
		TH_LOG("restored page at 0x%lx: 0x%02x, not its data", bad,
		       p[bad]);
	ASSERT_EQ(0UL, sigbus_pages(p, HUGE_LEN, PG));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	/*
	 * The block has a page table now: 4 KiB entries only, and no PMD
	 * to fall back from (as for a pfn space, whose huge_fault only runs
	 * while the PMD is empty).
	 */
	EXPECT_EQ(SZ_2M / PG, st.faults[0]);
	EXPECT_EQ(HUGE_LEN / SZ_2M, st.faults[1]);
	EXPECT_EQ(0ULL, st.fallbacks);
	EXPECT_EQ(1ULL, st.sigbus);
	lm_expect_pmd_mapped(_metadata, p, 6144, "restore");

	ASSERT_EQ(0, munmap((void *)p, HUGE_LEN));
	p = thp_map(self);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap again: %s", strerror(errno));
	ASSERT_EQ(0UL, sigbus_pages(p, HUGE_LEN, PG));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(2 * HUGE_LEN / SZ_2M, st.faults[1]);
	EXPECT_EQ(SZ_2M / PG, st.faults[0]);
	EXPECT_EQ(0ULL, st.fallbacks);
	lm_expect_pmd_mapped(_metadata, p, 8192, "a new mapping");
	bad = pattern_mismatch(p, 0, HUGE_PAGES);
	EXPECT_EQ(-1L, bad)
		TH_LOG("new mapping at 0x%lx: 0x%02x", bad, p[bad]);
}

/*
 * mmap() without an address places a mapping of a folio space where the
 * space's PMD blocks line up with PMDs (thp_get_unmapped_area()).
 */
TEST_F(lazymap_thp, mmap_null_aligned)
{
	struct lazymap_test_stats st;
	volatile uint8_t *p;
	int fd;

	p = lm_mmap_noted(self->fd, 0, HUGE_LEN, &self->map, &self->map_len);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	EXPECT_EQ(0UL, (uintptr_t)p % SZ_2M)
		TH_LOG("mmap(NULL) of 8 MiB at offset 0 placed it at %p", p);
	ASSERT_EQ(0UL, sigbus_pages(p, HUGE_LEN, PG));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(HUGE_LEN / SZ_2M, st.faults[1]);
	EXPECT_EQ(0ULL, st.faults[0]);
	EXPECT_EQ(0ULL, st.fallbacks);
	lm_expect_pmd_mapped(_metadata, p, 8192, "mmap(NULL)");
	ASSERT_EQ(0, lm_munmap_noted(&self->map, self->map_len));

	/*
	 * 4 MiB from offset one page in, of a new space: one page past a
	 * PMD boundary, so that block 1 of the space still maps with a PMD
	 * entry.  Pages 1-511 and 1024 fault 4 KiB folios of their own.
	 */
	fd = lm_create(self->dev_fd, LAZYMAP_TEST_FOLIO, HUGE_LEN, HUGE_ORDER,
		       NULL);
	ASSERT_LE(0, fd)
		TH_LOG("CREATE: %s", strerror(-fd));
	p = lm_mmap_noted(fd, PG, 2 * SZ_2M, &self->map, &self->map_len);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	EXPECT_EQ(PG, (uintptr_t)p % SZ_2M)
		TH_LOG("mmap(NULL) of 4 MiB at offset 4 KiB placed it at %p", p);
	ASSERT_EQ(0UL, sigbus_pages(p, 2 * SZ_2M, PG));
	ASSERT_EQ(0, lm_stats(fd, &st));
	EXPECT_EQ(1ULL, st.faults[1]);
	EXPECT_EQ(SZ_2M / PG, st.faults[0]);
	EXPECT_EQ(0ULL, st.fallbacks);
	EXPECT_EQ(2 * SZ_2M / PG, st.pages);
	lm_expect_pmd_mapped(_metadata, p, 2048, "mmap(NULL) at offset 4 KiB");
	ASSERT_EQ(0, lm_munmap_noted(&self->map, self->map_len));
	close(fd);
}

/*
 * DISCARD of a PMD-sized folio launders all of it: every listener that
 * covers part of it is invalidated again for that part.  The block then
 * reads zero from a new PMD-sized folio.
 */
TEST_F(lazymap_thp, discard_launders)
{
	const __u64 blk = SZ_2M / PG;
	struct lazymap_test_stats st;
	volatile uint8_t *p;
	long bad;

	p = thp_map(self);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	pattern_write(p, 0, HUGE_PAGES);

	/* 0: block 1; 1: its second half and the first half of block 2. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_LISTEN, SZ_2M, SZ_2M, 0));
	ASSERT_EQ(1, lm_range(self->fd, LAZYMAP_TEST_LISTEN, SZ_2M + SZ_1M,
			      SZ_2M, 0));

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE, SZ_2M, SZ_2M, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(blk, st.listener_pages[0]);
	EXPECT_EQ(blk / 2, st.listener_pages[1]);
	EXPECT_EQ((__u64)HUGE_PAGES, st.pages);

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_DISCARD, SZ_2M, SZ_2M, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(2 * blk, st.listener_pages[0]);
	EXPECT_EQ(blk, st.listener_pages[1]);
	EXPECT_EQ((__u64)HUGE_PAGES - blk, st.pages);

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, SZ_2M, SZ_2M, 0));
	bad = first_mismatch(p + SZ_2M, SZ_2M, 0);
	EXPECT_EQ(-1L, bad)
		TH_LOG("discarded block at 0x%lx: 0x%02x, not zero",
		       SZ_2M + bad, p[SZ_2M + bad]);
	bad = pattern_mismatch(p, 0, blk);
	EXPECT_EQ(-1L, bad)
		TH_LOG("block 0 at 0x%lx: 0x%02x", bad, p[bad]);
	bad = pattern_mismatch(p, 2 * blk, 2 * blk);
	EXPECT_EQ(-1L, bad)
		TH_LOG("blocks 2-3 at 0x%lx: 0x%02x", bad, p[bad]);
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(HUGE_LEN / SZ_2M + 1, st.faults[1]);
	EXPECT_EQ(0ULL, st.faults[0]);
	EXPECT_EQ(2 * blk, st.listener_pages[0]);
	EXPECT_EQ(blk, st.listener_pages[1]);
	EXPECT_EQ((__u64)HUGE_PAGES, st.pages);
	lm_expect_pmd_mapped(_metadata, p, 8192, "restore of the discarded block");
}

TEST_HARNESS_MAIN
