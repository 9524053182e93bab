// SPDX-License-Identifier: GPL-2.0
/*
 * Sweep the allocation-failure paths of lazymap and its test provider
 * (/dev/lazymap-test, interface in lazymap_test.h) with fail-nth, in the
 * manner of tools/testing/selftests/iommu/iommufd_fail_nth.c.
 *
 * Each sweep first runs its operation without fault injection, then again
 * with the 1st, 2nd, 3rd ... slab allocation of the calling thread failed
 * (/proc/thread-self/fail-nth, through failslab), on a fresh fixture every
 * time, until an iteration no longer reaches the failing allocation.  The
 * "persistent" variants fail every allocation from the n-th on, which is
 * what reaches error paths behind allocations that are retried (see
 * setup_fault_injection()).  An operation must succeed or fail with
 * ENOMEM, and must leave the state it promises: a failed CREATE installs
 * no fd, a failed mmap() tracks no VMA, a failed REVOKE revokes, zaps and
 * invalidates nothing, a failed RESTORE leaves the range revoked.  Every
 * space must be released once its fd and mappings are gone (its debugfs
 * directory goes away and its id becomes free again); leaked memory and
 * splats are left to kmemleak and the harness's log scan.
 *
 * The fixture owns one 1 MiB space (max_order 0; page, pfn or folio kind)
 * for the whole iteration, so lazymap's pseudo filesystem stays mounted
 * and every iteration takes the same path: a sweep is only exhaustive if
 * the n-th allocation is the same call each time.  Every sweep runs on
 * every kind, the spaces it creates included; a folio space has an inode
 * with its own page cache, and its revoke locks the folios of the range.
 * Page faults are not swept: a failed allocation there (a folio space's
 * page cache included) is VM_FAULT_OOM, which goes to the OOM killer.
 * Pages are only touched with fail-nth disarmed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "lazymap_test_util.h"
#include "lazymap_core_util.h"
#include "fail_nth_util.h"

#define SPACE_LEN		SZ_1M
#define SPACE_PAGES		(SPACE_LEN / PG)

/*
 * REVOKE pages [REVOKE_FIRST, REVOKE_FIRST + REVOKE_PAGES): the middle
 * half, 128 pages, more than a folio batch (15) holds.
 */
#define REVOKE_FIRST		(SPACE_PAGES / 4)
#define REVOKE_PAGES		(SPACE_PAGES / 2)

/* Fill value that pat() never produces. */
#define FILL_BYTE		0xa5

/* Seconds to wait for a closed space to be released (a workqueue does it). */
#define RELEASE_TIMEOUT		10

/*
 * Check the pages of a mapping of the whole space outside [first, first +
 * count): each must hold pat() in its first and last byte.  Return the
 * first page that does not, or -1.
 */
static long check_outside(const volatile uint8_t *map, size_t first,
			  size_t count)
{
	size_t pg;
	uint8_t v;

	for (pg = 0; pg < SPACE_PAGES; pg++) {
		const volatile uint8_t *p = map + pg * PG;

		if (pg >= first && pg < first + count)
			continue;
		if (read_byte(p, &v) || v != pat(pg) ||
		    read_byte(p + PG - 1, &v) || v != pat(pg))
			return pg;
	}
	return -1;
}

/*
 * Check every page of a mapping of the whole space: pages [first, first +
 * count) must raise SIGBUS, the others must pass check_outside().  Return
 * the first page inside that does not, else check_outside()'s answer.
 */
static long check_pages(const volatile uint8_t *map, size_t first,
			size_t count)
{
	size_t pg;
	uint8_t v;

	for (pg = first; pg < first + count; pg++)
		if (!read_byte(map + pg * PG, &v))
			return pg;
	return check_outside(map, first, count);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Wait for space @id to be released: the last put queues the release, which
 * removes the space's debugfs directory.  True once it is gone, or if there
 * is no lazymap debugfs to tell.
 */
static bool lm_wait_released(__u32 id)
{
	const struct timespec ms = { .tv_nsec = 1000000 };
	double deadline = now() + RELEASE_TIMEOUT;
	char name[32], path[64];

	if (!lm_have_debugfs())
		return true;
	snprintf(path, sizeof(path), LAZYMAP_DEBUGFS "/%s",
		 lm_space_name(id, name, sizeof(name)));
	while (!access(path, F_OK)) {
		if (now() > deadline)
			return false;
		nanosleep(&ms, NULL);
	}
	return true;
}

/* The fd the next open() or CREATE would get. */
static int lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd >= 0)
		close(fd);
	return fd;
}

/*
 * Check that every space of the sweep was released, failed CREATEs
 * included: the provider's IDA hands out the lowest free id, so once they
 * are all gone CREATE hands out each id from the sweep's first one to one
 * past its highest again (a failed CREATE took at most that).  Releases
 * run from a workqueue: retry for a while.
 */
static void lm_check_ids(struct __test_metadata *_metadata,
			 const struct fail_nth_state *nth_state)
{
	const struct timespec pause = { .tv_nsec = 10000000 };
	__u32 lo = nth_state->first_id, hi = nth_state->max_id + 1;
	double deadline = now() + RELEASE_TIMEOUT;
	unsigned int n, i, covered;
	bool timed_out;
	__u32 *ids;
	int *fds;
	int dev_fd;

	dev_fd = open(LAZYMAP_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev_fd);
	/* Ids only grow while we hold the earlier ones: at most hi + 1. */
	fds = calloc(hi + 1, sizeof(*fds));
	ids = calloc(hi + 1, sizeof(*ids));
	ASSERT_TRUE(fds && ids);
	for (;;) {
		covered = 0;
		n = 0;
		do {
			fds[n] = lm_create(dev_fd, 0, PG, 0, &ids[n]);
			ASSERT_LE(0, fds[n])
				TH_LOG("CREATE: %s", strerror(-fds[n]));
			if (ids[n] >= lo && ids[n] <= hi)
				covered++;
		} while (ids[n++] < hi && n <= hi);
		for (i = 0; i < n; i++) {
			close(fds[i]);
			ASSERT_TRUE(lm_wait_released(ids[i]));
		}
		if (covered == hi - lo + 1)
			break;
		timed_out = now() > deadline;
		ASSERT_FALSE(timed_out)
			TH_LOG("ids %u..%u: %u free again, a space was never released",
			       lo, hi, covered);
		nanosleep(&pause, NULL);
	}
	free(ids);
	free(fds);
	close(dev_fd);
}

/*
 * TEST_FAIL_NTH(fixture, name) { body }: the sweep of one operation, see
 * __TEST_FAIL_NTH().  Every operation here allocates.  The fixture must
 * have a space (self->fd, self->id); every space of the sweep must be
 * released at its end (lm_check_ids()).
 */
#define TEST_FAIL_NTH(fixture_name, name)					\
	__TEST_FAIL_NTH(fixture_name, name, true,				\
			fail_nth_saw_id(&nth_state, self->id),			\
			lm_check_ids(_metadata, &nth_state))

FIXTURE(lazymap_fail_nth) {
	int dev_fd;
	int fd;			/* the fixture's 1 MiB space */
	__u32 id;
	int new_fd;		/* a space the test created, or -1 */
	__u32 new_id;
	void *map;		/* a mapping of the whole space, or NULL */
};

FIXTURE_VARIANT(lazymap_fail_nth) {
	__u32 flags;		/* of the spaces: page, pfn or folio */
	bool persistent;	/* fail from the n-th allocation on */
};

FIXTURE_VARIANT_ADD(lazymap_fail_nth, page) {
	.flags = 0,
};

FIXTURE_VARIANT_ADD(lazymap_fail_nth, pfn) {
	.flags = LAZYMAP_TEST_PFN,
};

FIXTURE_VARIANT_ADD(lazymap_fail_nth, folio) {
	.flags = LAZYMAP_TEST_FOLIO,
};

FIXTURE_VARIANT_ADD(lazymap_fail_nth, page_persistent) {
	.flags = 0,
	.persistent = true,
};

FIXTURE_VARIANT_ADD(lazymap_fail_nth, pfn_persistent) {
	.flags = LAZYMAP_TEST_PFN,
	.persistent = true,
};

FIXTURE_VARIANT_ADD(lazymap_fail_nth, folio_persistent) {
	.flags = LAZYMAP_TEST_FOLIO,
	.persistent = true,
};

FIXTURE_SETUP(lazymap_fail_nth)
{
	self->dev_fd = -1;
	self->fd = -1;
	self->new_fd = -1;
	self->map = NULL;

	if (!lm_setup_space(_metadata, variant->flags, SPACE_LEN,
			    &self->dev_fd, &self->fd, &self->id))
		return;

	ASSERT_EQ(0, sigbus_install());
}

/* Idempotent: TEST_FAIL_NTH() tears down before the harness does. */
FIXTURE_TEARDOWN(lazymap_fail_nth)
{
	if (self->map) {
		munmap(self->map, SPACE_LEN);
		self->map = NULL;
	}
	if (self->new_fd >= 0) {
		close(self->new_fd);
		self->new_fd = -1;
		ASSERT_TRUE(lm_wait_released(self->new_id))
			TH_LOG("space %u not released %d s after its fd was closed",
			       self->new_id, RELEASE_TIMEOUT);
	}
	if (self->fd >= 0) {
		close(self->fd);
		self->fd = -1;
		ASSERT_TRUE(lm_wait_released(self->id))
			TH_LOG("space %u not released %d s after its fd and mappings were gone",
			       self->id, RELEASE_TIMEOUT);
	}
	if (self->dev_fd >= 0) {
		close(self->dev_fd);
		self->dev_fd = -1;
	}
}

/* Map the whole space as self->map and fill it with the pattern. */
static void lm_map_filled(struct __test_metadata *_metadata,
			  FIXTURE_DATA(lazymap_fail_nth) *self)
{
	void *p;

	p = mmap(NULL, SPACE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p)
		TH_LOG("mmap: %s", strerror(errno));
	self->map = p;
	pattern_write(p, 0, SPACE_PAGES);
}

/* CREATE: the space object, its inode, debugfs, the fd and the file. */
TEST_FAIL_NTH(lazymap_fail_nth, create)
{
	struct lazymap_test_stats st;
	int next_fd = lowest_free_fd();
	volatile uint8_t *p;
	__u32 id = 0;
	int fd;

	fail_nth_enable();
	fd = lm_create(self->dev_fd, variant->flags, SPACE_LEN, 0, &id);
	fail_nth_disable();
	if (fd < 0) {
		ASSERT_EQ(next_fd, lowest_free_fd())
			TH_LOG("a failed CREATE left fd %d open", next_fd);
		return fd;
	}
	self->new_fd = fd;
	self->new_id = id;
	fail_nth_saw_id(_nth_state, id);

	/* The space works even if it lost its debugfs files. */
	p = mmap(NULL, SPACE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p)
		TH_LOG("mmap of the new space: %s", strerror(errno));
	p[0] = 1;
	p[SPACE_LEN - 1] = 2;
	EXPECT_EQ(1, p[0]);
	EXPECT_EQ(2, p[SPACE_LEN - 1]);
	ASSERT_EQ(0, munmap((void *)p, SPACE_LEN));
	ASSERT_EQ(0, lm_stats(fd, &st));
	EXPECT_EQ(2ULL, st.faults[0] + st.faults[1] + st.faults[2]);
	EXPECT_EQ(0ULL, st.mappings);
	return 0;
}

/* mmap(): the VMA and the space's record of it. */
TEST_FAIL_NTH(lazymap_fail_nth, mmap)
{
	struct lazymap_test_stats st;
	volatile uint8_t *p;
	void *map;
	int ret;

	fail_nth_enable();
	map = mmap(NULL, SPACE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->fd, 0);
	ret = map == MAP_FAILED ? -errno : 0;
	fail_nth_disable();
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	if (ret) {
		EXPECT_EQ(0ULL, st.mappings)
			TH_LOG("a failed mmap() left a tracked VMA");
		return ret;
	}
	self->map = map;
	EXPECT_EQ(1ULL, st.mappings);

	p = map;
	p[0] = 1;
	p[SPACE_LEN - 1] = 2;
	EXPECT_EQ(1, p[0]);
	EXPECT_EQ(2, p[SPACE_LEN - 1]);
	self->map = NULL;
	ASSERT_EQ(0, munmap(map, SPACE_LEN));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(0ULL, st.mappings);
	return 0;
}

/*
 * REVOKE of the middle of a mapped, populated space, then RESTORE of all
 * of it: the revoked tree's allocations.  Either failure changes nothing.
 */
TEST_FAIL_NTH(lazymap_fail_nth, revoke_restore)
{
	struct lazymap_test_stats st0, st;
	bool revoked = false;
	long bad;
	int ret;

	lm_map_filled(_metadata, self);
	ASSERT_EQ(0, lm_stats(self->fd, &st0));

	fail_nth_enable();
	ret = lm_range(self->fd, LAZYMAP_TEST_REVOKE, REVOKE_FIRST * PG,
		       REVOKE_PAGES * PG, 0);
	if (!ret) {
		revoked = true;
		ret = lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, SPACE_LEN, 0);
	}
	fail_nth_disable();

	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(st0.revokes + revoked, st.revokes);
	EXPECT_EQ(st0.restores + (revoked && !ret), st.restores);
	if (!revoked) {
		EXPECT_EQ(st0.zaps, st.zaps)
			TH_LOG("a failed REVOKE zapped");
		bad = check_pages(self->map, 0, 0);
		EXPECT_EQ(-1, bad)
			TH_LOG("page %ld after a failed REVOKE", bad);
		return ret;
	}
	if (ret) {
		bad = check_pages(self->map, REVOKE_FIRST, REVOKE_PAGES);
		EXPECT_EQ(-1, bad)
			TH_LOG("page %ld after a failed RESTORE", bad);
		ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0,
				      SPACE_LEN, 0));
	}
	bad = check_pages(self->map, 0, 0);
	EXPECT_EQ(-1, bad)
		TH_LOG("page %ld after RESTORE", bad);
	return ret;
}

/*
 * LISTEN over the whole space (which allocates nothing), then REVOKE of
 * its middle: a failed REVOKE must not invalidate the listener.
 */
TEST_FAIL_NTH(lazymap_fail_nth, listen_revoke)
{
	struct lazymap_test_stats st;
	int idx, ret;
	long bad;

	lm_map_filled(_metadata, self);

	fail_nth_enable();
	idx = lm_range(self->fd, LAZYMAP_TEST_LISTEN, 0, SPACE_LEN, 0);
	ret = idx < 0 ? idx :
	      lm_range(self->fd, LAZYMAP_TEST_REVOKE, REVOKE_FIRST * PG,
		       REVOKE_PAGES * PG, 0);
	fail_nth_disable();

	if (idx < 0) {
		/* The failed LISTEN took no slot. */
		EXPECT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_LISTEN, 0,
				      SPACE_LEN, 0));
		return idx;
	}
	ASSERT_EQ(0, idx);
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	if (ret) {
		EXPECT_EQ(0ULL, st.listener_pages[0])
			TH_LOG("a failed REVOKE invalidated the listener");
		EXPECT_EQ(0ULL, st.revokes);
		EXPECT_EQ(0ULL, st.zaps);
		bad = check_pages(self->map, 0, 0);
		EXPECT_EQ(-1, bad)
			TH_LOG("page %ld after a failed REVOKE", bad);
		return ret;
	}
	EXPECT_EQ(REVOKE_PAGES, st.listener_pages[0]);
	bad = check_pages(self->map, REVOKE_FIRST, REVOKE_PAGES);
	EXPECT_EQ(-1, bad)
		TH_LOG("page %ld after REVOKE", bad);
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, SPACE_LEN, 0));
	bad = check_pages(self->map, 0, 0);
	EXPECT_EQ(-1, bad)
		TH_LOG("page %ld after RESTORE", bad);
	return 0;
}

/*
 * FILL of a revoked range that has no backing yet: the allocation of its
 * backing (the provider's xarray of blocks; a folio space's page cache).
 * A failed FILL leaves the range revoked, and each of its pages either
 * filled or zero.
 */
TEST_FAIL_NTH(lazymap_fail_nth, revoke_fill)
{
	struct lazymap_test_stats st;
	unsigned int filled = 0;
	size_t pg;
	void *map;
	long bad;
	int ret;

	/* Back every page but those of the range. */
	map = mmap(NULL, SPACE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->fd, 0);
	ASSERT_NE(MAP_FAILED, map)
		TH_LOG("mmap: %s", strerror(errno));
	self->map = map;
	for (pg = 0; pg < SPACE_PAGES; pg++) {
		if (pg < REVOKE_FIRST || pg >= REVOKE_FIRST + REVOKE_PAGES)
			memset((uint8_t *)map + pg * PG, pat(pg), PG);
	}
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE, REVOKE_FIRST * PG,
			      REVOKE_PAGES * PG, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(SPACE_PAGES - REVOKE_PAGES, st.pages);

	fail_nth_enable();
	ret = lm_range(self->fd, LAZYMAP_TEST_FILL, REVOKE_FIRST * PG,
		       REVOKE_PAGES * PG, FILL_BYTE);
	fail_nth_disable();

	bad = check_pages(self->map, REVOKE_FIRST, REVOKE_PAGES);
	EXPECT_EQ(-1, bad)
		TH_LOG("page %ld after a FILL (%s)", bad, strerror(-ret));
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, SPACE_LEN, 0));
	for (pg = REVOKE_FIRST; pg < REVOKE_FIRST + REVOKE_PAGES; pg++) {
		const volatile uint8_t *p = self->map + pg * PG;
		uint8_t want = !ret || p[0] ? FILL_BYTE : 0;
		long off = first_mismatch(p, PG, want);

		EXPECT_EQ(-1L, off)
			TH_LOG("page %zu at 0x%lx after a FILL (%s): 0x%02x, not 0x%02x",
			       pg, off, strerror(-ret), p[off], want);
		filled += want == FILL_BYTE;
	}
	if (ret) {
		EXPECT_GT(REVOKE_PAGES, filled)
			TH_LOG("a failed FILL filled every page");
	}
	bad = check_outside(self->map, REVOKE_FIRST, REVOKE_PAGES);
	EXPECT_EQ(-1, bad)
		TH_LOG("page %ld outside the range after a FILL (%s)", bad,
		       strerror(-ret));
	return ret;
}

/* After the sweeps: a new space still creates, maps, faults and goes. */
TEST_F(lazymap_fail_nth, still_healthy)
{
	struct lazymap_test_stats st;
	long bad;
	__u32 id = 0;
	void *map;
	int fd;

	fd = lm_create(self->dev_fd, variant->flags, SPACE_LEN, 0, &id);
	ASSERT_LE(0, fd)
		TH_LOG("CREATE: %s", strerror(-fd));
	self->new_fd = fd;
	self->new_id = id;
	map = mmap(NULL, SPACE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map)
		TH_LOG("mmap: %s", strerror(errno));
	self->map = map;
	pattern_write(self->map, 0, SPACE_PAGES);
	bad = check_pages(self->map, 0, 0);
	EXPECT_EQ(-1, bad)
		TH_LOG("page %ld", bad);
	ASSERT_EQ(0, lm_stats(fd, &st));
	EXPECT_EQ(SPACE_PAGES, st.faults[0]);
	EXPECT_EQ(SPACE_PAGES, st.pages);
	EXPECT_EQ(1ULL, st.mappings);
	ASSERT_EQ(0, munmap(self->map, SPACE_LEN));
	self->map = NULL;
	close(fd);
	self->new_fd = -1;
	EXPECT_TRUE(lm_wait_released(id))
		TH_LOG("space %u not released", id);
}

TEST_HARNESS_MAIN
