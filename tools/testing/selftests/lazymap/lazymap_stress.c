// SPDX-License-Identifier: GPL-2.0
/*
 * Race stress of the lazymap core through its test provider
 * (/dev/lazymap-test, interface in lazymap_test.h): threads and processes
 * hammer one space at once, each for a fixed number of rounds (not for a
 * fixed time, so that every run does the same work on any machine), and
 * the data and the counters are checked at the end.
 *
 * The 8 MiB space holds pat(page) in every byte of every page from the
 * start, and every writer stores only that value (the faulters
 * through the mappings, the revoker through FILL), so at any time a read
 * of the space sees pat() of its page or takes SIGBUS while the page is
 * revoked; anything else is lost or misplaced data.  At once:
 *
 *  - faulters: read, check and write back random bytes of a mapping of the
 *    whole space at a 2 MiB-aligned address (4 KiB and, where the kernel
 *    has THP, PMD faults);
 *  - zapper: ZAP of a random page, 2 MiB block or the whole space;
 *  - revoker: REVOKE of a random page, 2 MiB block, range straddling two
 *    blocks or the whole space, FILL of one page of it, RESTORE;
 *  - forker: fork() of the whole process; the child reads and writes
 *    random bytes of the inherited mapping, then exits;
 *  - mapper: a mapping of its own of the space, touched, then split:
 *    mprotect() of a page or a block to read-only and back, munmap() of
 *    a page inside it, or mremap() of its upper half elsewhere, then
 *    unmapped;
 *  - closer: a small space of its own, mapped, its fd closed while a
 *    helper thread faults it, unmapped (the space is released).
 *
 * The second test, listeners, races the core's listener protocol through
 * the provider's LISTENER_CYCLE: threads each register a listener of
 * their own over part of a space, look pages up and install them under
 * the retry check, then unregister, again and again, while others zap,
 * revoke, discard and restore, and a closer releases spaces whose last
 * file reference is the cycling ioctl's.  Every call checks that no
 * installed entry survived an invalidation (EIO otherwise); at the end
 * the provider's counters match the calls made.
 *
 * At the end every byte of the space holds pat(), and the provider's
 * counters match what the threads did: REVOKE and RESTORE calls, zaps
 * (ZAP and REVOKE each zap once), pages invalidated in a listener over the
 * whole space, SIGBUS taken (by threads and children alike), one tracked
 * mapping left and every page backed.  Splats, leaks and lockdep reports
 * are left to the harness's log scan and kmemleak.
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
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>

/* See lazymap_core.c: 6.12's harness trips -Wextra and -Wclobbered. */
#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "lazymap_test_util.h"

#define SPACE_LEN		(4 * SZ_2M)
#define SPACE_PAGES		(SPACE_LEN / PG)
#define BLOCK_PAGES		(SZ_2M / PG)
#define HUGE_ORDER		9
#define CLOSER_LEN		SZ_2M

/* Rounds of each worker: fixed, sized for TCG with KASAN and lockdep. */
#define FAULTER_ROUNDS		20000
#define ZAPPER_ROUNDS		2000
#define REVOKER_ROUNDS		2000
#define FORKER_ROUNDS		100
#define FORK_CHILD_ACCESSES	64
#define MAPPER_ROUNDS		400
#define MAPPER_ACCESSES		8
#define CLOSER_ROUNDS		100
#define CLOSER_ACCESSES		16
#define NR_FAULTERS		2
/* The faulters, zapper, revoker, forker, mapper and closer. */
#define NR_WORKERS		(NR_FAULTERS + 5)

#define STRESS_SEED		0x6c617a79UL	/* "lazy" */

/* Byte of the pattern of page @pg of the space: 1..127, never 0. */
static uint8_t pat(size_t pg)
{
	return pg % 127 + 1;
}

/*
 * Shared with the forked children (MAP_SHARED | MAP_ANONYMOUS): what they
 * saw goes into the same counters as the threads'.
 */
struct stress_counts {
	unsigned long sigbus;		/* SIGBUS taken on the space */
	unsigned long bad;		/* reads of neither pat() nor SIGBUS */
	unsigned long bad_pg, bad_v;	/* the first of them */
	unsigned long accesses;
};

struct stress_ctx {
	int dev_fd;
	int fd;
	__u32 flags;
	__u32 order;
	volatile uint8_t *map;		/* the whole space, 2 MiB-aligned */
	struct stress_counts *counts;
	/* Set by the workers; checked against the provider's counters. */
	unsigned long revokes, restores, zaps, inval_pages;
	unsigned long forks, children_failed;
	unsigned long mapper_rounds, closer_rounds;
	unsigned int next_faulter;	/* seeds the faulters apart */
	unsigned int started;		/* workers at the start line */
	struct lm_first_fail fail;	/* of a worker */
};

static void stress_fail(struct stress_ctx *c, const char *op, int err)
{
	lm_fail(&c->fail, op, err);
}

/*
 * Wait until every worker has started: from then on no thread but the
 * mapper and the closer maps or unmaps anything (thread stacks included),
 * and each of them only inside a reservation of its own, so the mapper's
 * holes are never filled by another thread's mmap(NULL).
 */
static void stress_start(struct stress_ctx *c)
{
	__atomic_fetch_add(&c->started, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&c->started, __ATOMIC_ACQUIRE) < NR_WORKERS)
		sched_yield();
}

static void count_bad(struct stress_counts *n, size_t pg, unsigned int v)
{
	if (__atomic_fetch_add(&n->bad, 1, __ATOMIC_RELAXED) == 0) {
		n->bad_pg = pg;
		n->bad_v = v;
	}
}

/*
 * Read byte @byte of page @pg through @map (a mapping of the space from
 * offset 0), check it, and write pat() back unless it took SIGBUS.
 */
static void access_page(struct stress_counts *n, volatile uint8_t *map,
			size_t pg, size_t byte)
{
	volatile uint8_t *p = map + pg * PG + byte;
	uint8_t v;

	__atomic_fetch_add(&n->accesses, 1, __ATOMIC_RELAXED);
	if (read_byte(p, &v)) {
		__atomic_fetch_add(&n->sigbus, 1, __ATOMIC_RELAXED);
		return;
	}
	if (v != pat(pg))
		count_bad(n, pg, v);
	if (write_byte(p, pat(pg)))
		__atomic_fetch_add(&n->sigbus, 1, __ATOMIC_RELAXED);
}

static void *faulter(void *arg)
{
	struct stress_ctx *c = arg;
	uint64_t s = STRESS_SEED + 1 +
		     __atomic_fetch_add(&c->next_faulter, 1, __ATOMIC_RELAXED);
	unsigned int i;

	stress_start(c);

	for (i = 0; i < FAULTER_ROUNDS; i++) {
		uint64_t r = lm_rnd(&s);

		access_page(c->counts, c->map, r % SPACE_PAGES,
			    (r >> 32) % PG);
	}
	return NULL;
}

/* A random range: a page, a 2 MiB block, two half blocks, the space. */
static void pick_range(uint64_t *s, size_t *first, size_t *count)
{
	uint64_t r = lm_rnd(s);

	switch (r % 8) {
	case 0:
		*first = 0;
		*count = SPACE_PAGES;
		break;
	case 1:
	case 2:
		*first = (r >> 8) % (SPACE_PAGES / BLOCK_PAGES) * BLOCK_PAGES;
		*count = BLOCK_PAGES;
		break;
	case 3:
		*first = (r >> 8) % (SPACE_PAGES / BLOCK_PAGES - 1) *
			 BLOCK_PAGES + BLOCK_PAGES / 2;
		*count = BLOCK_PAGES;
		break;
	default:
		*first = (r >> 8) % SPACE_PAGES;
		*count = 1;
		break;
	}
}

static void *zapper(void *arg)
{
	struct stress_ctx *c = arg;
	uint64_t s = STRESS_SEED ^ 0x5a;
	size_t first, count;
	unsigned int i;
	int ret;

	stress_start(c);

	for (i = 0; i < ZAPPER_ROUNDS; i++) {
		pick_range(&s, &first, &count);
		ret = lm_range(c->fd, LAZYMAP_TEST_ZAP, first * PG, count * PG,
			       0);
		if (ret) {
			stress_fail(c, "ZAP", ret);
			break;
		}
		__atomic_fetch_add(&c->zaps, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->inval_pages, count, __ATOMIC_RELAXED);
		if (!(i % 8))
			sched_yield();
	}
	return NULL;
}

static void *revoker(void *arg)
{
	struct stress_ctx *c = arg;
	uint64_t s = STRESS_SEED ^ 0x7e;
	size_t first, count, pg;
	unsigned int i;
	int ret;

	stress_start(c);

	for (i = 0; i < REVOKER_ROUNDS; i++) {
		pick_range(&s, &first, &count);
		ret = lm_range(c->fd, LAZYMAP_TEST_REVOKE, first * PG,
			       count * PG, 0);
		if (ret) {
			stress_fail(c, "REVOKE", ret);
			break;
		}
		__atomic_fetch_add(&c->revokes, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->zaps, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->inval_pages, count, __ATOMIC_RELAXED);
		/* The same bytes again: the data must not change. */
		pg = first + lm_rnd(&s) % count;
		ret = lm_range(c->fd, LAZYMAP_TEST_FILL, pg * PG, PG, pat(pg));
		if (ret) {
			stress_fail(c, "FILL", ret);
			break;
		}
		sched_yield();
		ret = lm_range(c->fd, LAZYMAP_TEST_RESTORE, first * PG,
			       count * PG, 0);
		if (ret) {
			stress_fail(c, "RESTORE", ret);
			break;
		}
		__atomic_fetch_add(&c->restores, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *forker(void *arg)
{
	struct stress_ctx *c = arg;
	uint64_t s = STRESS_SEED ^ 0xf0;
	unsigned int i, j;
	int status;
	pid_t pid;

	stress_start(c);

	for (i = 0; i < FORKER_ROUNDS; i++) {
		lm_rnd(&s);
		pid = fork();
		if (pid < 0) {
			stress_fail(c, "fork", -errno);
			break;
		}
		if (!pid) {
			/* Only this thread lives on in the child. */
			for (j = 0; j < FORK_CHILD_ACCESSES; j++) {
				uint64_t r = lm_rnd(&s);

				access_page(c->counts, c->map,
					    r % SPACE_PAGES, (r >> 32) % PG);
			}
			_exit(0);
		}
		if (waitpid(pid, &status, 0) != pid) {
			stress_fail(c, "waitpid", -errno);
			break;
		}
		c->forks++;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			c->children_failed++;
	}
	return NULL;
}

/* A fresh PROT_NONE reservation over [@addr, @addr + @len). */
static int reserve_at(void *addr, size_t len)
{
	void *p = mmap(addr, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		       (addr ? MAP_FIXED : 0), -1, 0);

	return p == MAP_FAILED ? -errno : 0;
}

/*
 * The mapper's room: two spaces' worth plus alignment, reserved once; each
 * round maps the space at its first 2 MiB boundary and gives the room
 * back to PROT_NONE at the end, which unmaps whatever the round left.
 */
#define MAPPER_ROOM		(2 * SPACE_LEN + SZ_2M)

static void *mapper_thread(void *arg)
{
	struct stress_ctx *c = arg;
	uint64_t s = STRESS_SEED ^ 0x3c;
	volatile uint8_t *q, *moved;
	unsigned int i, j;
	uintptr_t base;
	void *room, *p;
	size_t pg;

	stress_start(c);

	room = mmap(NULL, MAPPER_ROOM, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (room == MAP_FAILED) {
		stress_fail(c, "mmap of the mapper's room", -errno);
		return NULL;
	}
	base = ((uintptr_t)room + SZ_2M - 1) & ~(SZ_2M - 1);
	for (i = 0; i < MAPPER_ROUNDS; i++) {
		uint64_t r = lm_rnd(&s);

		p = mmap((void *)base, SPACE_LEN, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, c->fd, 0);
		if (p == MAP_FAILED) {
			stress_fail(c, "mmap", -errno);
			break;
		}
		q = p;
		for (j = 0; j < MAPPER_ACCESSES; j++) {
			uint64_t a = lm_rnd(&s);

			access_page(c->counts, q, a % SPACE_PAGES,
				    (a >> 32) % PG);
		}
		pg = (r >> 8) % SPACE_PAGES;
		switch (r % 4) {
		case 0:		/* one page read-only and back */
			if (mprotect((void *)(q + pg * PG), PG, PROT_READ)) {
				stress_fail(c, "mprotect", -errno);
				goto out;
			}
			if (mprotect((void *)(q + pg * PG), PG,
				     PROT_READ | PROT_WRITE)) {
				stress_fail(c, "mprotect back", -errno);
				goto out;
			}
			break;
		case 1:		/* one block read-only and back */
			pg -= pg % BLOCK_PAGES;
			if (mprotect((void *)(q + pg * PG), SZ_2M, PROT_READ)) {
				stress_fail(c, "mprotect of a block", -errno);
				goto out;
			}
			if (mprotect((void *)(q + pg * PG), SZ_2M,
				     PROT_READ | PROT_WRITE)) {
				stress_fail(c, "mprotect of a block back", -errno);
				goto out;
			}
			break;
		case 2:		/* a hole of one page */
			if (munmap((void *)(q + pg * PG), PG)) {
				stress_fail(c, "munmap of a page", -errno);
				goto out;
			}
			/* The pages next to it are still the space's. */
			if (pg > 0)
				access_page(c->counts, q, pg - 1, PG - 1);
			if (pg + 1 < SPACE_PAGES)
				access_page(c->counts, q, pg + 1, 0);
			break;
		case 3:		/* the upper half moves elsewhere */
			moved = mremap((void *)(q + SPACE_LEN / 2),
				       SPACE_LEN / 2, SPACE_LEN / 2,
				       MREMAP_MAYMOVE | MREMAP_FIXED,
				       (void *)(base + SPACE_LEN));
			if (moved == MAP_FAILED) {
				stress_fail(c, "mremap", -errno);
				goto out;
			}
			/* Page SPACE_PAGES / 2 + k is at moved + k pages. */
			for (j = 0; j < MAPPER_ACCESSES; j++) {
				uint64_t a = lm_rnd(&s) % (SPACE_PAGES / 2);

				access_page(c->counts, moved - SPACE_LEN / 2,
					    SPACE_PAGES / 2 + a, 0);
			}
			break;
		}
		for (j = 0; j < MAPPER_ACCESSES; j++) {
			uint64_t a = lm_rnd(&s) % SPACE_PAGES;

			/* Skip the hole and the half that moved. */
			if ((r % 4 == 2 && a == pg) ||
			    (r % 4 == 3 && a >= SPACE_PAGES / 2))
				continue;
			access_page(c->counts, q, a, 1);
		}
		if (reserve_at(room, MAPPER_ROOM)) {
			stress_fail(c, "munmap of the mapper's room", -errno);
			break;
		}
		c->mapper_rounds++;
	}
out:
	munmap(room, MAPPER_ROOM);
	return NULL;
}

struct closer_ctx {
	struct stress_ctx *c;
	volatile uint8_t *map;		/* the closer's space, or NULL */
	unsigned int round;		/* set with map; acked with done */
	unsigned int done;
	bool stop;
	unsigned long bad;
};

/* Fault the closer's space of each round while the closer closes its fd. */
static void *closer_toucher(void *arg)
{
	struct closer_ctx *cc = arg;
	unsigned int seen = 0, j;
	volatile uint8_t *m;
	uint8_t v;

	for (;;) {
		while (__atomic_load_n(&cc->round, __ATOMIC_ACQUIRE) == seen) {
			if (__atomic_load_n(&cc->stop, __ATOMIC_ACQUIRE))
				return NULL;
			sched_yield();
		}
		seen = __atomic_load_n(&cc->round, __ATOMIC_ACQUIRE);
		m = cc->map;
		for (j = 0; j < CLOSER_ACCESSES; j++) {
			volatile uint8_t *p = m + (j * 37 % (CLOSER_LEN / PG)) * PG;

			/* A fresh space reads zero until written. */
			if (read_byte(p, &v) || (v != 0 && v != 0x5c))
				cc->bad++;
			else
				*p = 0x5c;
		}
		__atomic_store_n(&cc->done, seen, __ATOMIC_RELEASE);
	}
}

static void *closer_thread(void *arg)
{
	struct closer_ctx cc = { .c = arg };
	struct stress_ctx *c = arg;
	pthread_t toucher;
	void *p, *room;
	unsigned int i;
	int fd, ret;

	room = mmap(NULL, CLOSER_LEN, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ret = pthread_create(&toucher, NULL, closer_toucher, &cc);
	stress_start(c);
	if (room == MAP_FAILED || ret) {
		stress_fail(c, room == MAP_FAILED ? "mmap of the closer's room" :
			    "pthread_create", room == MAP_FAILED ? -EINVAL : -ret);
		if (!ret) {
			__atomic_store_n(&cc.stop, true, __ATOMIC_RELEASE);
			pthread_join(toucher, NULL);
		}
		return NULL;
	}
	for (i = 1; i <= CLOSER_ROUNDS; i++) {
		fd = lm_create(c->dev_fd, c->flags, CLOSER_LEN, c->order, NULL);
		if (fd < 0) {
			stress_fail(c, "CREATE", fd);
			break;
		}
		p = mmap(room, CLOSER_LEN, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0);
		if (p == MAP_FAILED) {
			stress_fail(c, "mmap of the closer's space", -errno);
			close(fd);
			break;
		}
		cc.map = p;
		__atomic_store_n(&cc.round, i, __ATOMIC_RELEASE);
		/* Races the toucher's first faults. */
		close(fd);
		while (__atomic_load_n(&cc.done, __ATOMIC_ACQUIRE) != i)
			sched_yield();
		/* The last reference: the space goes. */
		if (reserve_at(room, CLOSER_LEN)) {
			stress_fail(c, "munmap of the closer's space", -errno);
			break;
		}
		c->closer_rounds++;
	}
	munmap(room, CLOSER_LEN);
	__atomic_store_n(&cc.stop, true, __ATOMIC_RELEASE);
	pthread_join(toucher, NULL);
	if (cc.bad)
		stress_fail(c, "closer's space: bad reads or SIGBUS", -EIO);
	return NULL;
}

FIXTURE(lazymap_stress) {
	int dev_fd;
	int fd;
	__u32 id;
	__u32 order;
	void *reserve;
	size_t reserve_len;
	struct stress_counts *counts;
};

FIXTURE_VARIANT(lazymap_stress) {
	__u32 flags;
};

FIXTURE_VARIANT_ADD(lazymap_stress, page) {
	.flags = 0,
};

FIXTURE_VARIANT_ADD(lazymap_stress, pfn) {
	.flags = LAZYMAP_TEST_PFN,
};

FIXTURE_VARIANT_ADD(lazymap_stress, folio) {
	.flags = LAZYMAP_TEST_FOLIO,
};

FIXTURE_SETUP(lazymap_stress)
{
	bool thp = !access("/sys/kernel/mm/transparent_hugepage/enabled",
			   F_OK);

	self->dev_fd = -1;
	self->fd = -1;
	self->reserve = NULL;
	self->counts = MAP_FAILED;
	/* 2 MiB blocks where they can map with PMDs; else 4 KiB. */
	self->order = thp ? HUGE_ORDER : 0;
	if (!lm_setup_space_order(_metadata, variant->flags, SPACE_LEN,
				  self->order, &self->dev_fd, &self->fd,
				  &self->id))
		return;

	self->reserve_len = SPACE_LEN + SZ_2M;
	self->reserve = lm_reserve(self->reserve_len);
	ASSERT_NE(MAP_FAILED, self->reserve);
	self->counts = mmap(NULL, sizeof(*self->counts),
			    PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->counts);
	memset(self->counts, 0, sizeof(*self->counts));
	ASSERT_EQ(0, sigbus_install());
}

FIXTURE_TEARDOWN(lazymap_stress)
{
	if (self->counts != MAP_FAILED)
		munmap(self->counts, sizeof(*self->counts));
	if (self->reserve && self->reserve != MAP_FAILED)
		munmap(self->reserve, self->reserve_len);
	lm_close_space(self->dev_fd, self->fd);
}

TEST_F_TIMEOUT(lazymap_stress, all_at_once, 1200)
{
	void *(*const workers[])(void *) = {
		zapper, revoker, forker, mapper_thread, closer_thread,
	};
	pthread_t threads[NR_FAULTERS + ARRAY_SIZE(workers)];
	struct stress_ctx c = {
		.dev_fd = self->dev_fd,
		.fd = self->fd,
		.flags = variant->flags,
		.order = self->order,
		.counts = self->counts,
	};
	struct lazymap_test_stats st0, st;
	unsigned int n = 0, i;
	long bad;
	void *p;
	int idx, ret;
	size_t pg;

	p = lm_huge_map_in(self->reserve, self->fd, 0, SPACE_LEN, 0);
	ASSERT_NE(NULL, p);
	c.map = p;
	/* The pattern, then a listener over the whole space. */
	for (pg = 0; pg < SPACE_PAGES; pg++)
		memset((uint8_t *)p + pg * PG, pat(pg), PG);
	idx = lm_range(self->fd, LAZYMAP_TEST_LISTEN, 0, SPACE_LEN, 0);
	ASSERT_LE(0, idx);
	ASSERT_EQ(0, lm_stats(self->fd, &st0));

	for (i = 0; i < NR_FAULTERS; i++) {
		ret = pthread_create(&threads[n], NULL, faulter, &c);
		if (ret)
			break;
		n++;
	}
	for (i = 0; !ret && i < ARRAY_SIZE(workers); i++) {
		ret = pthread_create(&threads[n], NULL, workers[i], &c);
		if (!ret)
			n++;
	}
	/* Those that started must not wait for the missing ones. */
	if (ret)
		__atomic_fetch_add(&c.started, NR_WORKERS, __ATOMIC_ACQ_REL);
	while (n--)
		pthread_join(threads[n], NULL);
	ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));

	EXPECT_EQ(NULL, c.fail.op)
		TH_LOG("%s: %s", c.fail.op, strerror(-c.fail.err));
	EXPECT_EQ(0UL, self->counts->bad)
		TH_LOG("%lu bad reads, first: page %lu read %lu, want %u",
		       self->counts->bad, self->counts->bad_pg,
		       self->counts->bad_v, pat(self->counts->bad_pg));
	EXPECT_EQ(0UL, c.children_failed);
	TH_LOG("%lu accesses, %lu SIGBUS, %lu revokes, %lu zaps, %lu forks, %lu+%lu rounds",
	       self->counts->accesses, self->counts->sigbus, c.revokes,
	       c.zaps, c.forks, c.mapper_rounds, c.closer_rounds);

	/* Every byte is still the pattern; every page gets backed. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, SPACE_LEN, 0));
	bad = -1;
	for (pg = 0; pg < SPACE_PAGES && bad < 0; pg++) {
		bad = first_mismatch(c.map + pg * PG, PG, pat(pg));
		if (bad >= 0)
			bad += pg * PG;
	}
	EXPECT_EQ(-1, bad) TH_LOG("byte %#lx of the space lost its pattern",
				  bad);

	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(st0.revokes + c.revokes, st.revokes);
	/* And the final RESTORE above. */
	EXPECT_EQ(st0.restores + c.restores + 1, st.restores);
	EXPECT_EQ(st0.zaps + c.zaps, st.zaps);
	EXPECT_EQ(st0.listener_pages[idx] + c.inval_pages,
		  st.listener_pages[idx]);
	EXPECT_EQ(st0.sigbus + self->counts->sigbus, st.sigbus);
	EXPECT_EQ(1ULL, st.mappings);
	EXPECT_EQ((__u64)SPACE_PAGES, st.pages);
	TH_LOG("faults 4K %llu 2M %llu fallbacks %llu",
	       (unsigned long long)st.faults[0],
	       (unsigned long long)st.faults[1],
	       (unsigned long long)st.fallbacks);
	munmap(p, SPACE_LEN);
}

/* Listener stress: rounds of each worker, fixed. */
#define CYCLERS			2
#define CYCLER_CALLS		25
#define CYCLE_ROUNDS		256
#define LZAPPER_ROUNDS		600
#define LREVOKER_ROUNDS		300
#define LCLOSER_ROUNDS		25

struct listen_ctx {
	int dev_fd;
	int fd;
	__u32 flags;
	__u32 order;
	unsigned long zaps, revokes, restores, discards, inval_pages;
	unsigned long calls, installed, retries, refused, checked;
	unsigned long closed_first;
	unsigned int next_cycler;
	struct lm_first_fail fail;
	pthread_mutex_t lock;		/* the counts */
};

static void listen_fail(struct listen_ctx *c, const char *op, int err)
{
	lm_fail(&c->fail, op, err);
}

/* One LISTENER_CYCLE over [@offset, +@length): 0 or -errno. */
static int lm_cycle(int fd, __u64 offset, __u64 length, __u32 rounds,
		    __u32 seed, struct lazymap_test_cycle *a)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->offset = offset;
	a->length = length;
	a->rounds = rounds;
	a->seed = seed;
	return ioctl(fd, LAZYMAP_TEST_LISTENER_CYCLE, a) < 0 ? -errno : 0;
}

static void listen_count(struct listen_ctx *c,
			 const struct lazymap_test_cycle *a)
{
	pthread_mutex_lock(&c->lock);
	c->calls++;
	c->installed += a->installed;
	c->retries += a->retries;
	c->refused += a->refused;
	c->checked += a->checked;
	pthread_mutex_unlock(&c->lock);
}

static void *cycler(void *arg)
{
	struct listen_ctx *c = arg;
	uint64_t s = STRESS_SEED + 0x100 +
		     __atomic_fetch_add(&c->next_cycler, 1, __ATOMIC_RELAXED);
	struct lazymap_test_cycle a;
	size_t first, count;
	unsigned int i;
	int ret;

	for (i = 0; i < CYCLER_CALLS; i++) {
		pick_range(&s, &first, &count);
		/* Whole blocks at least: lookups at the block order too. */
		if (count < BLOCK_PAGES) {
			first -= first % BLOCK_PAGES;
			count = BLOCK_PAGES;
		}
		ret = lm_cycle(c->fd, first * PG, count * PG, CYCLE_ROUNDS,
			       (lm_rnd(&s) | 1) & 0xffffffff, &a);
		if (ret) {
			listen_fail(c, "LISTENER_CYCLE", ret);
			break;
		}
		if (a.installed + a.retries + a.refused != CYCLE_ROUNDS) {
			listen_fail(c, "LISTENER_CYCLE counts", -EPROTO);
			break;
		}
		listen_count(c, &a);
	}
	return NULL;
}

static void *lzapper(void *arg)
{
	struct listen_ctx *c = arg;
	uint64_t s = STRESS_SEED ^ 0x15a;
	size_t first, count;
	unsigned int i;
	int ret;

	for (i = 0; i < LZAPPER_ROUNDS; i++) {
		pick_range(&s, &first, &count);
		ret = lm_range(c->fd, LAZYMAP_TEST_ZAP, first * PG, count * PG,
			       0);
		if (ret) {
			listen_fail(c, "ZAP", ret);
			break;
		}
		__atomic_fetch_add(&c->zaps, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->inval_pages, count, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* REVOKE, DISCARD of the whole blocks in it, RESTORE. */
static void *lrevoker(void *arg)
{
	struct listen_ctx *c = arg;
	size_t first, count, block = (size_t)1 << c->order;
	uint64_t s = STRESS_SEED ^ 0x17e;
	unsigned int i;
	int ret;

	for (i = 0; i < LREVOKER_ROUNDS; i++) {
		pick_range(&s, &first, &count);
		ret = lm_range(c->fd, LAZYMAP_TEST_REVOKE, first * PG,
			       count * PG, 0);
		if (ret) {
			listen_fail(c, "REVOKE", ret);
			break;
		}
		c->revokes++;
		__atomic_fetch_add(&c->zaps, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->inval_pages, count, __ATOMIC_RELAXED);
		if (!(first % block) && !(count % block) && i % 2) {
			ret = lm_range(c->fd, LAZYMAP_TEST_DISCARD, first * PG,
				       count * PG, 0);
			if (ret) {
				listen_fail(c, "DISCARD", ret);
				break;
			}
			c->discards++;
		}
		ret = lm_range(c->fd, LAZYMAP_TEST_RESTORE, first * PG,
			       count * PG, 0);
		if (ret) {
			listen_fail(c, "RESTORE", ret);
			break;
		}
		c->restores++;
	}
	return NULL;
}

struct lcloser_round {
	struct listen_ctx *c;
	int fd;
	int ret;
	struct lazymap_test_cycle a;
};

static void *lcloser_cycle(void *arg)
{
	struct lcloser_round *r = arg;

	r->ret = lm_cycle(r->fd, 0, CLOSER_LEN, CYCLE_ROUNDS, 0x10ad, &r->a);
	return NULL;
}

/*
 * A space of its own per round, mapped and touched; its fd closed and its
 * mapping unmapped while a thread cycles a listener on it, so that the
 * space is released when that ioctl lets its file go.
 */
static void *lcloser(void *arg)
{
	struct listen_ctx *c = arg;
	struct lcloser_round r = { .c = c };
	volatile uint8_t *m;
	pthread_t t;
	unsigned int i;
	void *p;
	int ret;

	for (i = 0; i < LCLOSER_ROUNDS; i++) {
		r.fd = lm_create(c->dev_fd, c->flags, CLOSER_LEN, c->order,
				 NULL);
		if (r.fd < 0) {
			listen_fail(c, "CREATE", r.fd);
			break;
		}
		p = mmap(NULL, CLOSER_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 r.fd, 0);
		if (p == MAP_FAILED) {
			listen_fail(c, "mmap of the closer's space", -errno);
			close(r.fd);
			break;
		}
		m = p;
		m[0] = 1;
		ret = pthread_create(&t, NULL, lcloser_cycle, &r);
		if (ret) {
			listen_fail(c, "pthread_create", -ret);
			close(r.fd);
			munmap(p, CLOSER_LEN);
			break;
		}
		m[CLOSER_LEN - 1] = 1;
		/* May come before the ioctl got its file: EBADF then. */
		close(r.fd);
		munmap(p, CLOSER_LEN);
		pthread_join(t, NULL);
		if (r.ret && r.ret != -EBADF) {
			listen_fail(c, "LISTENER_CYCLE of a closing space",
				    r.ret);
			break;
		}
		if (r.ret)
			c->closed_first++;
		else
			listen_count(c, &r.a);
	}
	return NULL;
}

FIXTURE(lazymap_listeners) {
	int dev_fd;
	int fd;
	__u32 order;
};

FIXTURE_VARIANT(lazymap_listeners) {
	__u32 flags;
};

FIXTURE_VARIANT_ADD(lazymap_listeners, page) {
	.flags = 0,
};

FIXTURE_VARIANT_ADD(lazymap_listeners, pfn) {
	.flags = LAZYMAP_TEST_PFN,
};

FIXTURE_VARIANT_ADD(lazymap_listeners, folio) {
	.flags = LAZYMAP_TEST_FOLIO,
};

FIXTURE_SETUP(lazymap_listeners)
{
	bool thp = !access("/sys/kernel/mm/transparent_hugepage/enabled",
			   F_OK);
	struct lazymap_test_cycle a;
	int ret;

	self->fd = -1;
	self->order = thp ? HUGE_ORDER : 0;
	self->dev_fd = open(LAZYMAP_DEV, O_RDWR | O_CLOEXEC);
	if (self->dev_fd < 0)
		SKIP(return, "%s: %s", LAZYMAP_DEV, strerror(errno));
	ret = lm_create(self->dev_fd, variant->flags, SPACE_LEN, self->order,
			NULL);
	ASSERT_LE(0, ret) TH_LOG("CREATE: %s", strerror(-ret));
	self->fd = ret;
	/* The arguments are checked; a provider without the ioctl SKIPs. */
	ret = lm_cycle(self->fd, 0, PG, 1, 0, &a);
	if (ret == -ENOTTY)
		SKIP(return, "no LISTENER_CYCLE in this provider");
	ASSERT_EQ(-EINVAL, ret);
	ASSERT_EQ(-EINVAL, lm_cycle(self->fd, SPACE_LEN - PG, 2 * PG, 1, 1,
				    &a));
	ASSERT_EQ(-EINVAL, lm_cycle(self->fd, 0, PG, 0, 1, &a));
}

FIXTURE_TEARDOWN(lazymap_listeners)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->dev_fd >= 0)
		close(self->dev_fd);
}

TEST_F_TIMEOUT(lazymap_listeners, register_vs_invalidate_vs_release, 1200)
{
	void *(*const workers[])(void *) = {
		cycler, cycler, lzapper, lrevoker, lcloser,
	};
	struct listen_ctx c = {
		.dev_fd = self->dev_fd,
		.fd = self->fd,
		.flags = variant->flags,
		.order = self->order,
	};
	pthread_t threads[ARRAY_SIZE(workers)];
	struct lazymap_test_stats st0, st;
	struct lazymap_test_cycle a;
	unsigned int n = 0;
	int idx, ret = 0;

	ASSERT_EQ(0, pthread_mutex_init(&c.lock, NULL));
	/* A lookup alone, uncontended: every round installs. */
	ASSERT_EQ(0, lm_cycle(self->fd, 0, SZ_2M, 64, 7, &a));
	EXPECT_EQ(64ULL, a.installed);
	EXPECT_EQ(0ULL, a.invalidated);
	EXPECT_LT(0ULL, a.checked);
	/* A listener over the whole space counts every invalidation. */
	idx = lm_range(self->fd, LAZYMAP_TEST_LISTEN, 0, SPACE_LEN, 0);
	ASSERT_LE(0, idx);
	ASSERT_EQ(0, lm_stats(self->fd, &st0));

	for (n = 0; n < ARRAY_SIZE(workers); n++) {
		ret = pthread_create(&threads[n], NULL, workers[n], &c);
		if (ret)
			break;
	}
	while (n--)
		pthread_join(threads[n], NULL);
	ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));

	EXPECT_EQ(NULL, c.fail.op)
		TH_LOG("%s: %s", c.fail.op, strerror(-c.fail.err));
	TH_LOG("%lu calls: %lu installed, %lu retries, %lu refused, %lu checked",
	       c.calls, c.installed, c.retries, c.refused, c.checked);
	TH_LOG("%lu zaps, %lu revokes, %lu discards; %lu closed first", c.zaps,
	       c.revokes, c.discards, c.closed_first);
	EXPECT_EQ((unsigned long)CYCLERS * CYCLER_CALLS + LCLOSER_ROUNDS -
		  c.closed_first, c.calls);
	EXPECT_LT(0UL, c.installed);
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(st0.zaps + c.zaps, st.zaps);
	EXPECT_EQ(st0.revokes + c.revokes, st.revokes);
	EXPECT_EQ(st0.restores + c.restores, st.restores);
	/* Each DISCARD of a folio space launders: counted again. */
	if (variant->flags & LAZYMAP_TEST_FOLIO) {
		EXPECT_LE(st0.listener_pages[idx] + c.inval_pages,
			  st.listener_pages[idx]);
	} else {
		EXPECT_EQ(st0.listener_pages[idx] + c.inval_pages,
			  st.listener_pages[idx]);
	}
	EXPECT_EQ(0ULL, st.mappings);
}

TEST_HARNESS_MAIN
