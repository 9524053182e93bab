/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the selftests of the lazymap core through its test provider
 * (lazymap_core, lazymap_huge, lazymap_fail_nth): the pattern a space's
 * pages are written with, and readers racing with revokes, FILLs and
 * restores of the space (cr_run()).
 *
 * Like lazymap_util.h, everything is static and depends only on libc.
 * Include after lazymap_harness.h and lazymap_test_util.h.
 */
#ifndef __LAZYMAP_CORE_UTIL_H
#define __LAZYMAP_CORE_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "lazymap_test_util.h"

/* Byte of the test pattern in page @pgoff of the space: 1..127, never 0. */
static inline uint8_t pat(size_t pgoff)
{
	return pgoff % 127 + 1;
}

/*
 * Offset of the first byte of pages [first, first + n) of a mapping of the
 * space from offset 0 that does not hold pat() of its page, or -1.
 */
static inline long pattern_mismatch(const volatile uint8_t *map, size_t first,
				    size_t n)
{
	size_t pg;
	long off;

	for (pg = first; pg < first + n; pg++) {
		off = first_mismatch(map + pg * PG, PG, pat(pg));
		if (off >= 0)
			return pg * PG + off;
	}
	return -1;
}

static inline void pattern_write(volatile uint8_t *map, size_t first, size_t n)
{
	size_t pg;

	for (pg = first; pg < first + n; pg++)
		memset((uint8_t *)map + pg * PG, pat(pg), PG);
}

/*
 * Readers racing with revoke/fill/restore.  Iteration k - 1 of the revoker
 * revokes a range of the space, FILLs it with k, publishes gen = k and
 * only then restores the range.  The ranges follow a fixed schedule, so a
 * reader knows which gens wrote a page: gen 0 (a new space reads 0) and
 * every gen whose range covers it.  A reader that loads gen g0, then reads
 * v from a page, then loads gen g1 must see a gen that wrote the page, no
 * older than the last one up to g0 that did and no younger than g1: an
 * older v is data from before a revoke surviving it, a younger one is
 * impossible.
 */
#define CR_READERS	8

/* Pages [first, first + count) of the space. */
struct cr_range {
	size_t first;
	size_t count;
};

struct cr_ctx {
	volatile uint8_t *map;	/* a mapping of the space from offset 0 */
	int fd;
	size_t pages;		/* the readers read pages [0, pages) */
	/* Iteration i revokes, fills and restores ranges[i % nr_ranges]. */
	const struct cr_range *ranges;
	unsigned int nr_ranges;
	unsigned int iterations;	/* < 256: the fill byte never wraps */
	unsigned int gen;	/* atomic: the last completed FILL's byte */
	int go;			/* atomic: every thread is running */
	int stop;		/* atomic: the revoker is done */
	int err;		/* the revoker's first failure, -errno */
	const char *err_op;
};

struct cr_reader {
	struct cr_ctx *ctx;
	pthread_t thread;
	unsigned long reads;
	unsigned long sigbus;
	unsigned long stale;
	unsigned long final_bad;	/* wrong after the revoker finished */
	unsigned int stale_pg, stale_v, stale_g0, stale_g1;
	/* The first of final_bad: its page, and v or 256 for SIGBUS. */
	unsigned int final_pg, final_v;
};

/* Whether gen @gen wrote page @pg. */
static inline bool cr_wrote(const struct cr_ctx *c, unsigned int gen, size_t pg)
{
	const struct cr_range *r;

	if (!gen)
		return true;
	r = &c->ranges[(gen - 1) % c->nr_ranges];
	return pg >= r->first && pg < r->first + r->count;
}

/* The last gen up to @gen that wrote page @pg. */
static inline unsigned int cr_last(const struct cr_ctx *c, unsigned int gen,
				   size_t pg)
{
	while (!cr_wrote(c, gen, pg))
		gen--;
	return gen;
}

static inline void cr_wait_go(struct cr_ctx *c)
{
	while (!__atomic_load_n(&c->go, __ATOMIC_ACQUIRE))
		sched_yield();
}

static inline void *cr_revoker(void *arg)
{
	struct cr_ctx *c = arg;
	unsigned int i;
	int ret = 0;

	cr_wait_go(c);
	/*
	 * The yields only make the interleavings more varied (on one CPU
	 * the revoker would rarely be preempted while the range is revoked);
	 * nothing depends on them.
	 */
	for (i = 0; i < c->iterations; i++) {
		const struct cr_range *r = &c->ranges[i % c->nr_ranges];
		const __u64 off = r->first * PG, len = r->count * PG;

		ret = lm_range(c->fd, LAZYMAP_TEST_REVOKE, off, len, 0);
		if (ret) {
			c->err_op = "REVOKE";
			break;
		}
		ret = lm_range(c->fd, LAZYMAP_TEST_FILL, off, len, i + 1);
		if (ret) {
			c->err_op = "FILL";
			break;
		}
		__atomic_store_n(&c->gen, i + 1, __ATOMIC_RELEASE);
		sched_yield();
		ret = lm_range(c->fd, LAZYMAP_TEST_RESTORE, off, len, 0);
		if (ret) {
			c->err_op = "RESTORE";
			break;
		}
		sched_yield();
	}
	c->err = ret;
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

static inline void cr_final_bad(struct cr_reader *r, size_t pg, unsigned int v)
{
	if (!r->final_bad++) {
		r->final_pg = pg;
		r->final_v = v;
	}
}

static inline void *cr_reader(void *arg)
{
	struct cr_reader *r = arg;
	struct cr_ctx *c = r->ctx;
	unsigned int g0, g1;
	bool last;
	size_t pg;
	uint8_t v;

	cr_wait_go(c);
	/* Make one full pass after the revoker has finished. */
	do {
		last = __atomic_load_n(&c->stop, __ATOMIC_ACQUIRE);
		for (pg = 0; pg < c->pages; pg++) {
			/* Another byte in each page, the same in every pass. */
			const volatile uint8_t *p = c->map + pg * PG +
						    pg * 8 % PG;

			g0 = __atomic_load_n(&c->gen, __ATOMIC_ACQUIRE);
			if (read_byte(p, &v)) {
				r->sigbus++;
				if (last)
					cr_final_bad(r, pg, 256);
				continue;
			}
			/* Order the read of v before the load of g1. */
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			g1 = __atomic_load_n(&c->gen, __ATOMIC_ACQUIRE);
			r->reads++;
			if ((v < cr_last(c, g0, pg) || v > g1 ||
			     !cr_wrote(c, v, pg)) && !r->stale++) {
				r->stale_pg = pg;
				r->stale_v = v;
				r->stale_g0 = g0;
				r->stale_g1 = g1;
			}
			if (last && v != cr_last(c, c->iterations, pg))
				cr_final_bad(r, pg, v);
		}
	} while (!last);
	return NULL;
}

/*
 * Run CR_READERS readers and the revoker on @c until the revoker is done
 * and every reader has made one more pass, and check what they saw: no
 * stale read, and the last gen that wrote each page in the final pass.
 * The number of SIGBUS the readers took goes into *@sigbus.
 */
static inline void cr_run(struct __test_metadata *_metadata, struct cr_ctx *c,
			  unsigned long *sigbus)
{
	struct cr_reader readers[CR_READERS];
	unsigned long reads = 0, stale = 0, final_bad = 0;
	pthread_t revoker;
	int i, ret;

	*sigbus = 0;
	memset(readers, 0, sizeof(readers));
	for (i = 0; i < CR_READERS; i++) {
		readers[i].ctx = c;
		ret = pthread_create(&readers[i].thread, NULL, cr_reader,
				     &readers[i]);
		if (ret) {
			/* Let the ones running finish their pass and go. */
			__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
			__atomic_store_n(&c->go, 1, __ATOMIC_RELEASE);
			while (i--)
				pthread_join(readers[i].thread, NULL);
			ASSERT_EQ(0, ret)
				TH_LOG("pthread_create: %s", strerror(ret));
		}
	}
	ret = pthread_create(&revoker, NULL, cr_revoker, c);
	if (ret)
		__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&c->go, 1, __ATOMIC_RELEASE);
	if (!ret)
		pthread_join(revoker, NULL);
	for (i = 0; i < CR_READERS; i++)
		pthread_join(readers[i].thread, NULL);
	ASSERT_EQ(0, ret)
		TH_LOG("pthread_create: %s", strerror(ret));

	EXPECT_EQ(0, c->err)
		TH_LOG("%s: %s", c->err_op, strerror(-c->err));

	for (i = 0; i < CR_READERS; i++) {
		struct cr_reader *r = &readers[i];

		reads += r->reads;
		*sigbus += r->sigbus;
		stale += r->stale;
		final_bad += r->final_bad;
		if (r->stale)
			TH_LOG("reader %d: %lu stale, first page %u: read %u between gen %u and %u",
			       i, r->stale, r->stale_pg, r->stale_v,
			       r->stale_g0, r->stale_g1);
		if (r->final_bad)
			TH_LOG("reader %d: %lu bad in the last pass, first page %u: %s %u, want %u",
			       i, r->final_bad, r->final_pg,
			       r->final_v > 255 ? "SIGBUS" : "read",
			       r->final_v & 255,
			       cr_last(c, c->iterations, r->final_pg));
	}
	TH_LOG("%lu reads, %lu SIGBUS over %u revoke cycles", reads, *sigbus,
	       c->iterations);
	EXPECT_EQ(0UL, stale);
	EXPECT_EQ(0UL, final_bad)
		TH_LOG("after the last restore: not every page read its last gen");
}

#endif /* __LAZYMAP_CORE_UTIL_H */
