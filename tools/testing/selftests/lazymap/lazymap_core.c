// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests of the lazymap core through its test provider, /dev/lazymap-test
 * (CONFIG_LAZYMAP_TEST, interface in lazymap_test.h).
 *
 * Each test of lazymap_core owns a fresh 4 MiB space with max_order 0,
 * created by the fixture in each of the provider's three flavours: backed
 * by pages (variant "page"), mapped as pfns ("pfn"), and folios of the
 * space's own page cache mapped the way a file's are ("folio").  The test
 * process owns at most one mapping of the space at a time (self->map),
 * unmapped by the teardown together with the space and device fds;
 * anything a test forks or spawns is reaped before the test returns.
 * Threads other than the test's own never use ASSERT_*() or EXPECT_*():
 * they record what they saw and the test checks it after joining them.
 *
 * What is checked: the argument checks of every ioctl and of mmap(); that
 * mmap() installs nothing and each page faults exactly once; that revoke
 * turns accesses into SIGBUS until restore and that data written behind a
 * revoke (FILL, DISCARD) is what the next fault sees; that DISCARD of a
 * folio space launders listeners; zap, listeners, VMA tracking across fork
 * (whose child faults a folio space itself: fork copies no ptes of a
 * shared file VMA), partial munmap and mremap, and the debugfs view of it
 * all; and that readers racing with revoke/fill/restore never see stale data.
 * Huge faults (THP) are lazymap_huge.c's.
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
#include <sys/wait.h>

#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "lazymap_test_util.h"
#include "lazymap_core_util.h"

#define SPACE_LEN		(4 * SZ_1M)
#define SPACE_PAGES		(SPACE_LEN / PG)

/* Fill value that pat() never produces. */
#define FILL_BYTE		0xa5

/* Read debugfs lazymap/test-<id>/<file> into @buf: its length or -errno. */
static ssize_t lm_debugfs_read(__u32 id, const char *file, char *buf,
			       size_t size)
{
	char name[32];

	return lm_space_read(lm_space_name(id, name, sizeof(name)), file, buf,
			     size);
}

/* Print a debugfs file of the space, to explain a failed check. */
static void lm_debugfs_dump(__u32 id, const char *file)
{
	char name[32];

	lm_space_dump(lm_space_name(id, name, sizeof(name)), file);
}

/* Parse lazymap/test-<id>/mappings, see lm_space_mappings(). */
static int lm_mappings(__u32 id, struct lm_mapping *vmas, int max)
{
	char name[32];

	return lm_space_mappings(lm_space_name(id, name, sizeof(name)), vmas,
				 max);
}

/* This process's comm, as debugfs prints it. */
static void self_comm(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/comm", "r");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, size, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

FIXTURE(lazymap_core) {
	int dev_fd;
	int fd;			/* the 4 MiB space */
	__u32 id;		/* its debugfs id */
	void *map;		/* the test's mapping of it, or NULL */
	size_t map_len;
};

FIXTURE_VARIANT(lazymap_core) {
	__u32 flags;
};

FIXTURE_VARIANT_ADD(lazymap_core, page) {
	.flags = 0,
};

FIXTURE_VARIANT_ADD(lazymap_core, pfn) {
	.flags = LAZYMAP_TEST_PFN,
};

FIXTURE_VARIANT_ADD(lazymap_core, folio) {
	.flags = LAZYMAP_TEST_FOLIO,
};

FIXTURE_SETUP(lazymap_core)
{
	self->dev_fd = -1;
	self->fd = -1;
	self->map = NULL;
	self->map_len = 0;

	if (!lm_setup_space(_metadata, variant->flags, SPACE_LEN,
			    &self->dev_fd, &self->fd, &self->id))
		return;

	/* The header promises O_RDWR | O_CLOEXEC. */
	ASSERT_EQ(FD_CLOEXEC, fcntl(self->fd, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(O_RDWR, fcntl(self->fd, F_GETFL) & O_ACCMODE);

	ASSERT_EQ(0, sigbus_install());
}

FIXTURE_TEARDOWN(lazymap_core)
{
	if (self->map)
		munmap(self->map, self->map_len);
	lm_close_space(self->dev_fd, self->fd);
}

/* mmap(MAP_SHARED) [offset, offset + len) of the space as self->map. */
static volatile uint8_t *lm_map(FIXTURE_DATA(lazymap_core) *self,
				size_t offset, size_t len)
{
	return lm_mmap_noted(self->fd, offset, len, &self->map,
			     &self->map_len);
}

static int lm_unmap(FIXTURE_DATA(lazymap_core) *self)
{
	return lm_munmap_noted(&self->map, self->map_len);
}

/* No byte of the tail is set. */
#define NO_TAIL		-1

/* An argument larger than its struct, to check the tail. */
struct create_big {
	struct lazymap_test_create arg;
	__u8 tail[16];
};

struct create_case {
	const char *name;
	struct lazymap_test_create arg;
	int tail_at;		/* index into tail[] to set, or NO_TAIL */
	int err;		/* expected errno, 0: CREATE must succeed */
};

#define CREATE(sz, fl, len, order)					\
	{ .size = (sz), .flags = (fl), .length = (len), .max_order = (order) }

TEST_F(lazymap_core, create_invalid)
{
	const __u32 fl = variant->flags;
	const __u32 csz = sizeof(struct lazymap_test_create);
	const __u32 bsz = sizeof(struct create_big);
	const __u64 max = LAZYMAP_TEST_MAX_LENGTH;
	/* The variant's largest order: folio spaces stop at PMD order. */
	const __u32 max_order = fl & LAZYMAP_TEST_FOLIO ?
				LAZYMAP_TEST_MAX_FOLIO_ORDER :
				LAZYMAP_TEST_MAX_ORDER;
	const __u32 pfn = LAZYMAP_TEST_PFN, folio = LAZYMAP_TEST_FOLIO;
	const __u32 folio_max = LAZYMAP_TEST_MAX_FOLIO_ORDER;
	const struct create_case cases[] = {
		/* controls */
		{ "valid",		CREATE(csz, fl, SPACE_LEN, 0), NO_TAIL, 0 },
		{ "valid_one_page",	CREATE(csz, fl, PG, 0), NO_TAIL, 0 },
		{ "valid_max_length",	CREATE(csz, fl, max, 0), NO_TAIL, 0 },
		{ "valid_order_9",	CREATE(csz, fl, SZ_2M, 9), NO_TAIL, 0 },
		{ "valid_max_order",	CREATE(csz, fl, PG << max_order, max_order),
		  NO_TAIL, 0 },
		{ "valid_max_both",	CREATE(csz, fl, max, max_order), NO_TAIL, 0 },
		{ "big_zero_tail",	CREATE(bsz, fl, SPACE_LEN, 0), NO_TAIL, 0 },
		{ "tail_past_size",	CREATE(csz, fl, SPACE_LEN, 0), 0, 0 },
		/* argsz */
		{ "size_zero",		CREATE(0, fl, SPACE_LEN, 0), NO_TAIL, EINVAL },
		{ "size_header",	CREATE(8, fl, SPACE_LEN, 0), NO_TAIL, EINVAL },
		{ "size_short",		CREATE(csz - 1, fl, SPACE_LEN, 0), NO_TAIL, EINVAL },
		{ "size_one_more",	CREATE(csz + 1, fl, SPACE_LEN, 0), 0, E2BIG },
		{ "size_big_tail_first", CREATE(bsz, fl, SPACE_LEN, 0), 0, E2BIG },
		{ "size_big_tail_last",	CREATE(bsz, fl, SPACE_LEN, 0), 15, E2BIG },
		/* flags */
		{ "flags_bit2",		CREATE(csz, fl | 1U << 2, SPACE_LEN, 0), NO_TAIL, EINVAL },
		{ "flags_bit31",	CREATE(csz, fl | 1U << 31, SPACE_LEN, 0), NO_TAIL, EINVAL },
		{ "flags_all",		CREATE(csz, ~0U, SPACE_LEN, 0), NO_TAIL, EINVAL },
		/* the kinds, whatever the variant's: one at most */
		{ "kind_page",		CREATE(csz, 0, SPACE_LEN, 0), NO_TAIL, 0 },
		{ "kind_pfn",		CREATE(csz, pfn, SPACE_LEN, 0), NO_TAIL, 0 },
		{ "kind_folio",		CREATE(csz, folio, SPACE_LEN, 0), NO_TAIL, 0 },
		{ "kind_pfn_folio",	CREATE(csz, pfn | folio, SPACE_LEN, 0), NO_TAIL, EINVAL },
		{ "kind_pfn_folio_order_9", CREATE(csz, pfn | folio, SZ_2M, 9), NO_TAIL, EINVAL },
		{ "kind_pfn_folio_bit2", CREATE(csz, pfn | folio | 1U << 2, SPACE_LEN, 0),
		  NO_TAIL, EINVAL },
		/* folio spaces: folios of up to PMD order, of whole blocks */
		{ "folio_order_9_2m",	CREATE(csz, folio, SZ_2M, folio_max), NO_TAIL, 0 },
		{ "folio_order_9_8m",	CREATE(csz, folio, 4 * SZ_2M, folio_max), NO_TAIL, 0 },
		{ "folio_order_9_max",	CREATE(csz, folio, max, folio_max), NO_TAIL, 0 },
		{ "folio_order_10",	CREATE(csz, folio, PG << 10, 10), NO_TAIL, EINVAL },
		{ "folio_order_10_max",	CREATE(csz, folio, max, 10), NO_TAIL, EINVAL },
		{ "folio_order_11",	CREATE(csz, folio, PG << 11, 11), NO_TAIL, EINVAL },
		{ "folio_order_9_pg",	CREATE(csz, folio, PG, folio_max), NO_TAIL, EINVAL },
		{ "folio_order_9_1m",	CREATE(csz, folio, SZ_1M, folio_max), NO_TAIL, EINVAL },
		{ "folio_order_9_3m",	CREATE(csz, folio, 3 * SZ_1M, folio_max), NO_TAIL, EINVAL },
		{ "folio_order_9_2m_plus_pg", CREATE(csz, folio, SZ_2M + PG, folio_max),
		  NO_TAIL, EINVAL },
		{ "folio_order_9_4m_minus_pg", CREATE(csz, folio, 2 * SZ_2M - PG, folio_max),
		  NO_TAIL, EINVAL },
		/* length */
		{ "length_zero",	CREATE(csz, fl, 0, 0), NO_TAIL, EINVAL },
		{ "length_one",		CREATE(csz, fl, 1, 0), NO_TAIL, EINVAL },
		{ "length_half_page",	CREATE(csz, fl, PG / 2, 0), NO_TAIL, EINVAL },
		{ "length_page_plus_1",	CREATE(csz, fl, PG + 1, 0), NO_TAIL, EINVAL },
		{ "length_max_plus_pg",	CREATE(csz, fl, max + PG, 0), NO_TAIL, EINVAL },
		{ "length_twice_max",	CREATE(csz, fl, 2 * max, 0), NO_TAIL, EINVAL },
		{ "length_u64_top",	CREATE(csz, fl, ~(__u64)(PG - 1), 0), NO_TAIL, EINVAL },
		/* length not a multiple of 2^max_order pages */
		{ "order_1_one_page",	CREATE(csz, fl, PG, 1), NO_TAIL, EINVAL },
		{ "order_9_1m",		CREATE(csz, fl, SZ_1M, 9), NO_TAIL, EINVAL },
		{ "order_9_2m_plus_pg",	CREATE(csz, fl, SZ_2M + PG, 9), NO_TAIL, EINVAL },
		{ "order_max_half",	CREATE(csz, fl, PG << (max_order - 1), max_order),
		  NO_TAIL, EINVAL },
		/* max_order */
		{ "order_max_plus_1",	CREATE(csz, fl, PG << (max_order + 1), max_order + 1),
		  NO_TAIL, EINVAL },
		{ "order_19",		CREATE(csz, fl, SPACE_LEN, 19), NO_TAIL, EINVAL },
		{ "order_19_max",	CREATE(csz, fl, max, 19), NO_TAIL, EINVAL },
		{ "order_32",		CREATE(csz, fl, SPACE_LEN, 32), NO_TAIL, EINVAL },
		{ "order_64",		CREATE(csz, fl, SPACE_LEN, 64), NO_TAIL, EINVAL },
		{ "order_u32_max",	CREATE(csz, fl, SPACE_LEN, ~0U), NO_TAIL, EINVAL },
		/* id is out only */
		{ "id_nonzero",		{ .size = csz, .flags = fl, .length = SPACE_LEN,
					  .id = 1 }, NO_TAIL, EINVAL },
		{ "id_u32_max",		{ .size = csz, .flags = fl, .length = SPACE_LEN,
					  .id = ~0U }, NO_TAIL, EINVAL },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct create_case *c = &cases[i];
		struct create_big big;
		int fd, err;

		memset(&big, 0, sizeof(big));
		big.arg = c->arg;
		if (c->tail_at != NO_TAIL)
			big.tail[c->tail_at] = 0xff;

		fd = ioctl(self->dev_fd, LAZYMAP_TEST_CREATE, &big);
		err = fd < 0 ? errno : 0;
		if (fd >= 0) {
			EXPECT_NE(self->id, big.arg.id)
				TH_LOG("%s: id %u reused", c->name, self->id);
			close(fd);
		}
		EXPECT_EQ(c->err, err)
			TH_LOG("%s: expected %s, got %s", c->name,
			       c->err ? strerror(c->err) : "success",
			       err ? strerror(err) : "success");
	}
}

struct range_big {
	struct lazymap_test_range arg;
	__u8 tail[16];
};

struct range_case {
	const char *name;
	struct lazymap_test_range arg;
	int tail_at;		/* index into tail[] to set, or NO_TAIL */
	int err;		/* expected errno, 0: must succeed */
};

#define RANGE(sz, fl, off, len, val)					\
	{ .size = (sz), .flags = (fl), .offset = (off), .length = (len),	\
	  .value = (val) }

#define RSZ		((__u32)sizeof(struct lazymap_test_range))
#define RBSZ		((__u32)sizeof(struct range_big))
#define U64_TOP_PAGE	(~(__u64)(PG - 1))	/* 2^64 - PG */

/* Invalid for every range ioctl, on a space of SPACE_LEN. */
static const struct range_case range_invalid_any[] = {
	{ "size_zero",		RANGE(0, 0, 0, PG, 0), NO_TAIL, EINVAL },
	{ "size_short",		RANGE(RSZ - 8, 0, 0, PG, 0), NO_TAIL, EINVAL },
	{ "size_one_more",	RANGE(RSZ + 1, 0, 0, PG, 0), 0, E2BIG },
	{ "size_big_tail",	RANGE(RBSZ, 0, 0, PG, 0), 15, E2BIG },
	{ "flags_bit0",		RANGE(RSZ, 1, 0, PG, 0), NO_TAIL, EINVAL },
	{ "flags_bit31",	RANGE(RSZ, 1U << 31, 0, PG, 0), NO_TAIL, EINVAL },
	{ "offset_unaligned",	RANGE(RSZ, 0, 1, PG, 0), NO_TAIL, EINVAL },
	{ "offset_half_page",	RANGE(RSZ, 0, PG / 2, PG, 0), NO_TAIL, EINVAL },
	{ "length_unaligned",	RANGE(RSZ, 0, 0, PG + 1, 0), NO_TAIL, EINVAL },
	{ "length_one",		RANGE(RSZ, 0, 0, 1, 0), NO_TAIL, EINVAL },
	{ "length_zero",	RANGE(RSZ, 0, 0, 0, 0), NO_TAIL, EINVAL },
	{ "length_zero_at_end",	RANGE(RSZ, 0, SPACE_LEN, 0, 0), NO_TAIL, EINVAL },
	/* offset + length wraps: to 0, and into the space */
	{ "wrap_to_zero",	RANGE(RSZ, 0, PG, U64_TOP_PAGE, 0), NO_TAIL, EINVAL },
	{ "wrap_into_space",	RANGE(RSZ, 0, 2 * PG, U64_TOP_PAGE, 0), NO_TAIL, EINVAL },
	{ "wrap_offset",	RANGE(RSZ, 0, U64_TOP_PAGE, 2 * PG, 0), NO_TAIL, EINVAL },
	/* beyond the end */
	{ "offset_at_end",	RANGE(RSZ, 0, SPACE_LEN, PG, 0), NO_TAIL, EINVAL },
	{ "straddle_end",	RANGE(RSZ, 0, SPACE_LEN - PG, 2 * PG, 0), NO_TAIL, EINVAL },
	{ "length_past_end",	RANGE(RSZ, 0, 0, SPACE_LEN + PG, 0), NO_TAIL, EINVAL },
	{ "offset_far",		RANGE(RSZ, 0, 1ULL << 62, PG, 0), NO_TAIL, EINVAL },
};

/* Invalid values: for FILL, and for everything else (which wants 0). */
static const struct range_case range_invalid_fill[] = {
	{ "value_256",		RANGE(RSZ, 0, 0, PG, 256), NO_TAIL, EINVAL },
	{ "value_bit63",	RANGE(RSZ, 0, 0, PG, 1ULL << 63), NO_TAIL, EINVAL },
	{ "value_u64_max",	RANGE(RSZ, 0, 0, PG, ~0ULL), NO_TAIL, EINVAL },
};

static const struct range_case range_invalid_nonfill[] = {
	{ "value_one",		RANGE(RSZ, 0, 0, PG, 1), NO_TAIL, EINVAL },
	{ "value_255",		RANGE(RSZ, 0, 0, PG, 255), NO_TAIL, EINVAL },
	{ "value_bit63",	RANGE(RSZ, 0, 0, PG, 1ULL << 63), NO_TAIL, EINVAL },
};

static const struct {
	const char *name;
	unsigned long cmd;
} range_ops[] = {
	{ "ZAP",	LAZYMAP_TEST_ZAP },
	{ "REVOKE",	LAZYMAP_TEST_REVOKE },
	{ "RESTORE",	LAZYMAP_TEST_RESTORE },
	{ "FILL",	LAZYMAP_TEST_FILL },
	{ "DISCARD",	LAZYMAP_TEST_DISCARD },
	{ "LISTEN",	LAZYMAP_TEST_LISTEN },
};

/* Valid calls, and DISCARD's state check: a sequence, run in order. */
static const struct {
	unsigned long cmd;
	struct range_case c;
} range_sequence[] = {
	{ LAZYMAP_TEST_ZAP,	{ "ZAP_whole",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_ZAP,	{ "ZAP_big_zero_tail",
	  RANGE(RBSZ, 0, 0, SPACE_LEN, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_ZAP,	{ "ZAP_tail_past_size",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 0), 0, 0 } },
	{ LAZYMAP_TEST_FILL,	{ "FILL_value_255",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 255), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_FILL,	{ "FILL_value_0",
	  RANGE(RSZ, 0, SPACE_LEN - PG, PG, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_never_revoked",
	  RANGE(RSZ, 0, 0, PG, 0), NO_TAIL, EBUSY } },
	{ LAZYMAP_TEST_REVOKE,	{ "REVOKE_last_page",
	  RANGE(RSZ, 0, SPACE_LEN - PG, PG, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_partly_revoked",
	  RANGE(RSZ, 0, SPACE_LEN - 2 * PG, 2 * PG, 0), NO_TAIL, EBUSY } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_last_page",
	  RANGE(RSZ, 0, SPACE_LEN - PG, PG, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_RESTORE,	{ "RESTORE_last_page",
	  RANGE(RSZ, 0, SPACE_LEN - PG, PG, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_restored",
	  RANGE(RSZ, 0, SPACE_LEN - PG, PG, 0), NO_TAIL, EBUSY } },
	{ LAZYMAP_TEST_REVOKE,	{ "REVOKE_whole",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_FILL,	{ "FILL_revoked",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 1), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_inside_revoked",
	  RANGE(RSZ, 0, SZ_1M, SZ_1M, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_whole",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_RESTORE,	{ "RESTORE_whole",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_LISTEN,	{ "LISTEN_whole",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 0), NO_TAIL, 0 } },
};

/*
 * On a space of 2 MiB blocks (max_order 9): DISCARD wants whole blocks,
 * everything else still works on pages.  A sequence, run in order.
 */
static const struct {
	unsigned long cmd;
	struct range_case c;
} range_blocks[] = {
	{ LAZYMAP_TEST_ZAP,	{ "ZAP_one_page",
	  RANGE(RSZ, 0, PG, PG, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_FILL,	{ "FILL_one_page",
	  RANGE(RSZ, 0, PG, PG, 7), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_REVOKE,	{ "REVOKE_one_page",
	  RANGE(RSZ, 0, PG, PG, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_one_page",
	  RANGE(RSZ, 0, PG, PG, 0), NO_TAIL, EINVAL } },
	{ LAZYMAP_TEST_RESTORE,	{ "RESTORE_one_page",
	  RANGE(RSZ, 0, PG, PG, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_REVOKE,	{ "REVOKE_whole",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_half_block",
	  RANGE(RSZ, 0, 0, SZ_1M, 0), NO_TAIL, EINVAL } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_block_minus_page",
	  RANGE(RSZ, 0, 0, SZ_2M - PG, 0), NO_TAIL, EINVAL } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_offset_mid_block",
	  RANGE(RSZ, 0, SZ_1M, SZ_2M, 0), NO_TAIL, EINVAL } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_offset_page",
	  RANGE(RSZ, 0, PG, SZ_2M, 0), NO_TAIL, EINVAL } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_second_block",
	  RANGE(RSZ, 0, SZ_2M, SZ_2M, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_both_blocks",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_RESTORE,	{ "RESTORE_whole",
	  RANGE(RSZ, 0, 0, SPACE_LEN, 0), NO_TAIL, 0 } },
	{ LAZYMAP_TEST_DISCARD,	{ "DISCARD_restored_block",
	  RANGE(RSZ, 0, 0, SZ_2M, 0), NO_TAIL, EBUSY } },
};

/* Run range ioctl @cmd (@op) with case @c on @fd and check its errno. */
static void range_check(struct __test_metadata *_metadata, int fd,
			const char *op, unsigned long cmd,
			const struct range_case *c)
{
	struct range_big big;
	int err;

	memset(&big, 0, sizeof(big));
	big.arg = c->arg;
	if (c->tail_at != NO_TAIL)
		big.tail[c->tail_at] = 0xff;
	err = ioctl(fd, cmd, &big) < 0 ? errno : 0;
	EXPECT_EQ(c->err, err)
		TH_LOG("%s_%s: expected %s, got %s", op, c->name,
		       c->err ? strerror(c->err) : "success",
		       err ? strerror(err) : "success");
}

struct ioctl_case {
	const char *name;
	bool on_dev;		/* on /dev/lazymap-test, else on the space */
	unsigned long cmd;
};

TEST_F(lazymap_core, range_invalid)
{
	static const struct ioctl_case unknown[] = {
		{ "space_next_nr",	false, _IO(LAZYMAP_TEST_TYPE, 0x08) },
		{ "space_next_nr_w",	false,
		  _IOW(LAZYMAP_TEST_TYPE, 0x08, struct lazymap_test_range) },
		{ "space_nr_ff",	false,
		  _IOWR(LAZYMAP_TEST_TYPE, 0xff, struct lazymap_test_stats) },
		{ "space_other_type",	false,
		  _IOW('x', 0x01, struct lazymap_test_range) },
		{ "space_tcgets",	false, TCGETS },
		{ "dev_next_nr",	true,
		  _IOWR(LAZYMAP_TEST_TYPE, 0x08, struct lazymap_test_create) },
		{ "dev_other_type",	true,
		  _IOWR('x', 0x00, struct lazymap_test_create) },
		{ "dev_tcgets",		true, TCGETS },
	};
	size_t i, j;
	__u32 id;
	int fd, ret, err;

	for (i = 0; i < ARRAY_SIZE(range_ops); i++) {
		const char *op = range_ops[i].name;
		unsigned long cmd = range_ops[i].cmd;
		bool fill = cmd == LAZYMAP_TEST_FILL;

		for (j = 0; j < ARRAY_SIZE(range_invalid_any); j++)
			range_check(_metadata, self->fd, op, cmd,
				    &range_invalid_any[j]);
		for (j = 0; fill && j < ARRAY_SIZE(range_invalid_fill); j++)
			range_check(_metadata, self->fd, op, cmd,
				    &range_invalid_fill[j]);
		for (j = 0; !fill && j < ARRAY_SIZE(range_invalid_nonfill); j++)
			range_check(_metadata, self->fd, op, cmd,
				    &range_invalid_nonfill[j]);
	}

	for (i = 0; i < ARRAY_SIZE(range_sequence); i++)
		range_check(_metadata, self->fd, "seq", range_sequence[i].cmd,
			    &range_sequence[i].c);

	for (i = 0; i < ARRAY_SIZE(unknown); i++) {
		const struct ioctl_case *u = &unknown[i];
		__u8 arg[256] = { 0 };

		/* A size field that would be valid for any of the structs. */
		arg[0] = sizeof(struct lazymap_test_stats);
		ret = ioctl(u->on_dev ? self->dev_fd : self->fd, u->cmd, arg);
		err = ret < 0 ? errno : 0;
		EXPECT_EQ(ENOTTY, err)
			TH_LOG("%s (cmd 0x%lx): expected ENOTTY, got %s",
			       u->name, u->cmd,
			       err ? strerror(err) : "success");
	}

	fd = lm_create(self->dev_fd, variant->flags, SPACE_LEN, 9, &id);
	ASSERT_LE(0, fd)
		TH_LOG("CREATE with max_order 9: %s", strerror(-fd));
	for (i = 0; i < ARRAY_SIZE(range_blocks); i++)
		range_check(_metadata, fd, "order9", range_blocks[i].cmd,
			    &range_blocks[i].c);
	close(fd);

	/*
	 * LISTEN: the 9th listener of a space is ENOSPC.  Use a space of its
	 * own, so that whatever the tables registered does not count.
	 */
	fd = lm_create(self->dev_fd, variant->flags, SPACE_LEN, 0, &id);
	ASSERT_LE(0, fd)
		TH_LOG("CREATE: %s", strerror(-fd));
	for (i = 0; i < LAZYMAP_TEST_MAX_LISTENERS; i++) {
		ret = lm_range(fd, LAZYMAP_TEST_LISTEN, i * PG, PG, 0);
		EXPECT_EQ((int)i, ret)
			TH_LOG("LISTEN #%zu: %s", i,
			       ret < 0 ? strerror(-ret) : "wrong index");
	}
	EXPECT_EQ(-ENOSPC, lm_range(fd, LAZYMAP_TEST_LISTEN, 0, PG, 0));
	EXPECT_EQ(-ENOSPC, lm_range(fd, LAZYMAP_TEST_LISTEN, 0, SPACE_LEN, 0));
	close(fd);
}

TEST_F(lazymap_core, stats_invalid)
{
	const __u32 ssz = sizeof(struct lazymap_test_stats);
	struct {
		struct lazymap_test_stats st;
		__u8 tail[16];
	} big;
	static const struct {
		const char *name;
		__u32 size;
		int tail_at;
		int err;
	} cases[] = {
		{ "valid",		sizeof(struct lazymap_test_stats),
		  NO_TAIL, 0 },
		{ "size_zero",		0, NO_TAIL, EINVAL },
		{ "size_short",		sizeof(struct lazymap_test_stats) - 8,
		  NO_TAIL, EINVAL },
		{ "size_one_more",	sizeof(struct lazymap_test_stats) + 1,
		  0, E2BIG },
		{ "size_big_tail",	sizeof(struct lazymap_test_stats) + 16,
		  15, E2BIG },
		{ "size_big_zero_tail",	sizeof(struct lazymap_test_stats) + 16,
		  NO_TAIL, 0 },
	};
	size_t i;

	ASSERT_EQ(ssz + 16, sizeof(big));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const __typeof__(cases[0]) *c = &cases[i];
		int ret, err;

		memset(&big, 0, sizeof(big));
		big.st.size = c->size;
		if (c->tail_at != NO_TAIL)
			big.tail[c->tail_at] = 0xff;
		ret = ioctl(self->fd, LAZYMAP_TEST_STATS, &big);
		err = ret < 0 ? errno : 0;
		EXPECT_EQ(c->err, err)
			TH_LOG("%s: expected %s, got %s", c->name,
			       c->err ? strerror(c->err) : "success",
			       err ? strerror(err) : "success");
	}
}

struct mmap_case {
	const char *name;
	int flags;
	int prot;
	__u64 offset;
	__u64 len;
	int err;		/* expected errno, 0: the mmap must succeed */
	bool past_end;		/* reaches past the space: see below */
};

TEST_F(lazymap_core, mmap_invalid)
{
	static const struct mmap_case cases[] = {
		/* controls */
		{ "whole",		MAP_SHARED, PROT_READ | PROT_WRITE,
		  0, SPACE_LEN, 0, false },
		{ "last_page",		MAP_SHARED, PROT_READ | PROT_WRITE,
		  SPACE_LEN - PG, PG, 0, false },
		{ "middle_ro",		MAP_SHARED, PROT_READ,
		  SZ_1M, SZ_1M, 0, false },
		/* MAP_SHARED only */
		{ "private_rw",		MAP_PRIVATE, PROT_READ | PROT_WRITE,
		  0, PG, EINVAL, false },
		{ "private_ro",		MAP_PRIVATE, PROT_READ, 0, PG, EINVAL, false },
		{ "private_whole",	MAP_PRIVATE, PROT_READ | PROT_WRITE,
		  0, SPACE_LEN, EINVAL, false },
		/*
		 * Outside the space: pfn and page spaces refuse it; a folio
		 * space maps it, as a file (guest_memfd) is mapped past its
		 * end, and faults there get SIGBUS.
		 */
		{ "length_past_end",	MAP_SHARED, PROT_READ | PROT_WRITE,
		  0, SPACE_LEN + PG, EINVAL, true },
		{ "straddle_end",	MAP_SHARED, PROT_READ | PROT_WRITE,
		  SPACE_LEN - PG, 2 * PG, EINVAL, true },
		{ "offset_at_end",	MAP_SHARED, PROT_READ | PROT_WRITE,
		  SPACE_LEN, PG, EINVAL, true },
		{ "offset_past_end",	MAP_SHARED, PROT_READ | PROT_WRITE,
		  2 * SPACE_LEN, PG, EINVAL, true },
		{ "offset_far",		MAP_SHARED, PROT_READ | PROT_WRITE,
		  1ULL << 40, PG, EINVAL, true },
	};
	const bool folio = variant->flags & LAZYMAP_TEST_FOLIO;
	struct lazymap_test_stats st;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct mmap_case *c = &cases[i];
		int want = c->past_end && folio ? 0 : c->err;
		uint8_t *p, v;
		int err;

		errno = 0;
		p = mmap(NULL, c->len, c->prot, c->flags, self->fd, c->offset);
		err = p == MAP_FAILED ? errno : 0;
		if (p != MAP_FAILED) {
			/* The first page past the space's end: SIGBUS. */
			if (c->past_end)
				EXPECT_EQ(-1, read_byte(p + (c->offset < SPACE_LEN ?
							     SPACE_LEN - c->offset : 0),
							&v))
					TH_LOG("%s: past the end readable", c->name);
			munmap(p, c->len);
		}
		EXPECT_EQ(want, err)
			TH_LOG("%s (offset 0x%llx len 0x%llx): expected %s, got %s",
			       c->name, (unsigned long long)c->offset,
			       (unsigned long long)c->len,
			       want ? strerror(want) : "success",
			       err ? strerror(err) : "success");
	}

	/* Neither refused nor unmapped mappings stay tracked. */
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(0ULL, st.mappings);
	EXPECT_EQ(0ULL, st.faults[0]);
}

TEST_F(lazymap_core, lazy_fault)
{
	/* Ten distinct pages spread over the space, at odd offsets. */
	static const size_t pages[] = { 0, 1, 2, 100, 255, 256, 511, 512,
					777, SPACE_PAGES - 1 };
	struct lazymap_test_stats st;
	volatile uint8_t *p;
	size_t i;

	p = lm_map(self, 0, SPACE_LEN);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));

	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(0ULL, st.faults[0])
		TH_LOG("mmap installed something");
	EXPECT_EQ(1ULL, st.mappings);

	/*
	 * Braces: EXPECT_*() with a handler is two statements to the harness,
	 * here and wherever it is the body of a loop or an if.
	 */
	for (i = 0; i < ARRAY_SIZE(pages); i++) {
		EXPECT_EQ(0, p[pages[i] * PG + i * 17])
			TH_LOG("page %zu of a new space is not zero", pages[i]);
	}

	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ((__u64)ARRAY_SIZE(pages), st.faults[0]);
	/* max_order 0: nothing can be mapped huge. */
	EXPECT_EQ(0ULL, st.faults[1]);
	EXPECT_EQ(0ULL, st.faults[2]);
	EXPECT_EQ(0ULL, st.sigbus);

	/* Present now: reading them again, anywhere in the page, is free. */
	for (i = 0; i < ARRAY_SIZE(pages); i++) {
		(void)p[pages[i] * PG];
		(void)p[pages[i] * PG + PG - 1];
	}
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ((__u64)ARRAY_SIZE(pages), st.faults[0]);
	EXPECT_EQ(1ULL, st.mappings);

	ASSERT_EQ(0, lm_unmap(self));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(0ULL, st.mappings);
	EXPECT_EQ((__u64)ARRAY_SIZE(pages), st.faults[0]);
}

TEST_F(lazymap_core, revoke_sigbus_restore)
{
	/* Revoke pages [first, first + count): 1 MiB to 3 MiB. */
	const size_t first = SZ_1M / PG, count = SZ_2M / PG;
	const size_t probes[] = { first, first + count / 2, first + count - 1 };
	const size_t outside[] = { 0, first - 1, first + count,
				   SPACE_PAGES - 1 };
	struct lazymap_test_stats st0, st;
	volatile uint8_t *p;
	unsigned int sigbus = 0;
	uint8_t v = 0;
	long bad;
	size_t i;

	p = lm_map(self, 0, SPACE_LEN);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	pattern_write(p, 0, SPACE_PAGES);
	ASSERT_EQ(-1L, pattern_mismatch(p, 0, SPACE_PAGES));

	ASSERT_EQ(0, lm_stats(self->fd, &st0));
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE, first * PG,
			      count * PG, 0));

	for (i = 0; i < ARRAY_SIZE(probes); i++) {
		EXPECT_EQ(-1, read_byte(p + probes[i] * PG + 7, &v))
			TH_LOG("read of revoked page %zu got 0x%02x",
			       probes[i], v);
		sigbus++;
	}
	EXPECT_EQ(-1, write_byte(p + first * PG, 0xee))
		TH_LOG("write to revoked page %zu did not fault", first);
	sigbus++;

	for (i = 0; i < ARRAY_SIZE(outside); i++) {
		EXPECT_EQ(0, read_byte(p + outside[i] * PG, &v))
			TH_LOG("page %zu outside the revoked range faulted",
			       outside[i]);
		EXPECT_EQ(-1L, pattern_mismatch(p, outside[i], 1));
	}

	/* Behind the revoke: change the contents the next fault will see. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_FILL, first * PG,
			      count * PG, FILL_BYTE));
	EXPECT_EQ(-1, read_byte(p + first * PG, &v))
		TH_LOG("FILL made a revoked page accessible");
	sigbus++;

	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(st0.sigbus + sigbus, st.sigbus);
	EXPECT_EQ(st0.revokes + 1, st.revokes);
	EXPECT_LT(st0.zaps, st.zaps);

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, first * PG,
			      count * PG, 0));

	bad = first_mismatch(p + first * PG, count * PG, FILL_BYTE);
	EXPECT_EQ(-1L, bad)
		TH_LOG("restored range at 0x%lx: 0x%02x, not the FILL byte",
		       first * PG + bad, p[first * PG + bad]);
	bad = pattern_mismatch(p, 0, first);
	EXPECT_EQ(-1L, bad)
		TH_LOG("pattern lost below the revoked range at 0x%lx", bad);
	bad = pattern_mismatch(p, first + count, SPACE_PAGES - first - count);
	EXPECT_EQ(-1L, bad)
		TH_LOG("pattern lost above the revoked range at 0x%lx", bad);

	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(st0.restores + 1, st.restores);
	EXPECT_EQ(st0.sigbus + sigbus, st.sigbus);
}

TEST_F(lazymap_core, zap_refault)
{
	const size_t n = 32, stride = SPACE_PAGES / 32;
	struct lazymap_test_stats st0, st1, st2;
	volatile uint8_t *p;
	size_t i;
	long bad;

	p = lm_map(self, 0, SPACE_LEN);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	for (i = 0; i < n; i++)
		pattern_write(p, i * stride, 1);

	ASSERT_EQ(0, lm_stats(self->fd, &st0));
	EXPECT_EQ((__u64)n, st0.faults[0]);
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_ZAP, 0, SPACE_LEN, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st1));
	EXPECT_LT(st0.zaps, st1.zaps);
	EXPECT_EQ(st0.faults[0], st1.faults[0]);
	/* A zap unmaps; it does not free the backing. */
	EXPECT_EQ(st0.pages, st1.pages);

	for (i = 0; i < n; i++) {
		bad = pattern_mismatch(p, i * stride, 1);
		EXPECT_EQ(-1L, bad)
			TH_LOG("page %zu changed across the zap at 0x%lx",
			       i * stride, bad);
	}
	ASSERT_EQ(0, lm_stats(self->fd, &st2));
	EXPECT_EQ(st1.faults[0] + n, st2.faults[0]);
	EXPECT_EQ(st1.zaps, st2.zaps);
	EXPECT_EQ(0ULL, st2.sigbus);
}

TEST_F(lazymap_core, discard_zeroes)
{
	/* Write pages [0, 64), revoke them all, discard [16, 48). */
	const size_t n = 64, first = 16, count = 32;
	struct lazymap_test_stats st;
	volatile uint8_t *p;
	long bad;

	p = lm_map(self, 0, n * PG);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	pattern_write(p, 0, n);

	/* max_order 0: exactly the written pages are backed. */
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ((__u64)n, st.pages);

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE, 0, n * PG, 0));
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_DISCARD, first * PG,
			      count * PG, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ((__u64)(n - count), st.pages);
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, n * PG, 0));

	bad = first_mismatch(p + first * PG, count * PG, 0);
	EXPECT_EQ(-1L, bad)
		TH_LOG("discarded range at 0x%lx: 0x%02x, not zero",
		       first * PG + bad, p[first * PG + bad]);
	bad = pattern_mismatch(p, 0, first);
	EXPECT_EQ(-1L, bad)
		TH_LOG("pattern lost below the discarded range at 0x%lx", bad);
	bad = pattern_mismatch(p, first + count, n - first - count);
	EXPECT_EQ(-1L, bad)
		TH_LOG("pattern lost above the discarded range at 0x%lx", bad);

	/* The discarded range is usable memory again. */
	pattern_write(p, first, count);
	EXPECT_EQ(-1L, pattern_mismatch(p, 0, n));
}

/*
 * DISCARD of a folio space truncates its page cache, and every folio that
 * leaves it is laundered: the listeners covering it are invalidated again,
 * on top of the revoke that DISCARD needs first.  Pages that were never
 * backed are not laundered, and page and pfn spaces, which free their own
 * blocks, launder nothing.
 */
TEST_F(lazymap_core, discard_launders)
{
	/*
	 * Write pages [0, 64), revoke [0, 1M), discard [32, 256): 32 of
	 * the discarded pages are backed.
	 */
	const size_t written = 64, first = 32, n = SZ_1M / PG;
	const bool folio = variant->flags & LAZYMAP_TEST_FOLIO;
	const __u64 laundered = folio ? written - first : 0;
	struct lazymap_test_stats st;
	volatile uint8_t *p;
	long bad;

	p = lm_map(self, 0, SPACE_LEN);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	pattern_write(p, 0, written);

	/* 0: the revoked MiB; 1: the whole space; 2: the last 2 MiB. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_LISTEN, 0, SZ_1M, 0));
	ASSERT_EQ(1, lm_range(self->fd, LAZYMAP_TEST_LISTEN, 0, SPACE_LEN, 0));
	ASSERT_EQ(2, lm_range(self->fd, LAZYMAP_TEST_LISTEN, SZ_2M, SZ_2M, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ((__u64)written, st.pages);

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE, 0, SZ_1M, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ((__u64)n, st.listener_pages[0]);
	EXPECT_EQ((__u64)n, st.listener_pages[1]);
	EXPECT_EQ(0ULL, st.listener_pages[2]);
	/* A revoke unmaps; it does not free the backing. */
	EXPECT_EQ((__u64)written, st.pages);

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_DISCARD, first * PG,
			      (n - first) * PG, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(n + laundered, st.listener_pages[0])
		TH_LOG("DISCARD of %zu backed pages laundered %lld",
		       written - first,
		       (long long)(st.listener_pages[0] - n));
	EXPECT_EQ(n + laundered, st.listener_pages[1]);
	EXPECT_EQ(0ULL, st.listener_pages[2]);
	EXPECT_EQ((__u64)first, st.pages);

	/* Restore invalidates nothing; the discarded pages read zero. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, SZ_1M, 0));
	bad = pattern_mismatch(p, 0, first);
	EXPECT_EQ(-1L, bad)
		TH_LOG("pattern lost below the discarded range at 0x%lx", bad);
	bad = first_mismatch(p + first * PG, (written - first) * PG, 0);
	EXPECT_EQ(-1L, bad)
		TH_LOG("discarded page at 0x%lx: 0x%02x, not zero",
		       first * PG + bad, p[first * PG + bad]);
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(n + laundered, st.listener_pages[0]);
	EXPECT_EQ(n + laundered, st.listener_pages[1]);
	EXPECT_EQ(0ULL, st.listener_pages[2]);
	/* Backed again: the pages kept and the zero pages just read. */
	EXPECT_EQ((__u64)written, st.pages);
}

TEST_F(lazymap_core, listener)
{
	struct lazymap_test_stats st;
	volatile uint8_t *p;

	p = lm_map(self, 0, SPACE_LEN);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	/* Have something mapped in each MiB, so that the zaps have work. */
	p[0] = 1;
	p[SZ_1M + 3 * SZ_1M / 4] = 2;
	p[2 * SZ_1M + PG] = 3;
	p[3 * SZ_1M + SZ_1M / 2] = 4;

	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_LISTEN, SZ_1M, SZ_1M, 0));
	ASSERT_EQ(1, lm_range(self->fd, LAZYMAP_TEST_LISTEN, 3 * SZ_1M,
			      SZ_1M, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(0ULL, st.listener_pages[0]);
	EXPECT_EQ(0ULL, st.listener_pages[1]);

	/* [0, 4M) covers all of both listeners. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_ZAP, 0, SPACE_LEN, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ((__u64)(SZ_1M / PG), st.listener_pages[0]);
	EXPECT_EQ((__u64)(SZ_1M / PG), st.listener_pages[1]);

	/* Registered after that zap: sees only what comes next. */
	ASSERT_EQ(2, lm_range(self->fd, LAZYMAP_TEST_LISTEN, 0, SPACE_LEN, 0));

	/*
	 * [1.5M, 3M) overlaps [1M, 2M) by 128 pages, ends where [3M, 4M)
	 * begins, and is 384 pages of the whole space.
	 */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE,
			      SZ_1M + SZ_1M / 2, SZ_1M + SZ_1M / 2, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ((__u64)(SZ_1M / PG + SZ_1M / 2 / PG), st.listener_pages[0]);
	EXPECT_EQ((__u64)(SZ_1M / PG), st.listener_pages[1]);
	EXPECT_EQ((__u64)(3 * SZ_1M / 2 / PG), st.listener_pages[2]);

	/* Restore and fill invalidate nothing. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE,
			      SZ_1M + SZ_1M / 2, SZ_1M + SZ_1M / 2, 0));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ((__u64)(SZ_1M / PG + SZ_1M / 2 / PG), st.listener_pages[0]);
	EXPECT_EQ((__u64)(SZ_1M / PG), st.listener_pages[1]);
	EXPECT_EQ((__u64)(3 * SZ_1M / 2 / PG), st.listener_pages[2]);
	EXPECT_EQ(0ULL, st.listener_pages[3]);
}

#define FORK_CHILD_BYTE		0x5c
#define FORK_PARENT_BYTE	0x3d

/*
 * The forked child: check it sees the parent's data, fault in its copy of
 * the VMA (page 1, which nobody has touched), report, wait, and check it
 * sees the parent's write made after the fork.  Reading page 0 faults too
 * in a folio space: fork copies the ptes of PFNMAP and MIXEDMAP VMAs, but
 * not of a shared file VMA, which a folio space's is.  Exit codes say what
 * went wrong.
 */
static void __attribute__((noreturn))
fork_child(volatile uint8_t *p, int to_parent, int from_parent)
{
	uint8_t c = 0;

	if (pattern_mismatch(p, 0, 1) >= 0)
		_exit(10);
	p[PG] = FORK_CHILD_BYTE;
	if (write(to_parent, &c, 1) != 1)
		_exit(11);
	if (read(from_parent, &c, 1) != 1)
		_exit(12);
	if (p[2 * PG] != FORK_PARENT_BYTE)
		_exit(13);
	_exit(0);
}

TEST_F(lazymap_core, fork_tracking)
{
	/*
	 * Faults each VMA has taken when the parent reads the mappings:
	 * the parent wrote page 0 and read page 1, the child wrote page 1
	 * and, in a folio space, read page 0 (see fork_child()).
	 */
	const unsigned long long parent_faults = 2;
	const unsigned long long child_faults =
		variant->flags & LAZYMAP_TEST_FOLIO ? 2 : 1;
	int to_child[2], to_parent[2], status;
	struct lazymap_test_stats st;
	struct lm_mapping vmas[4];
	volatile uint8_t *p;
	char comm[32];
	pid_t child;
	uint8_t c = 0;
	int n, i;

	if (!lm_have_debugfs())
		SKIP(return, "no %s", LAZYMAP_DEBUGFS);
	self_comm(comm, sizeof(comm));

	p = lm_map(self, 0, SPACE_LEN);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	pattern_write(p, 0, 1);

	ASSERT_EQ(0, pipe2(to_child, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(to_parent, O_CLOEXEC));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		close(to_child[1]);
		close(to_parent[0]);
		fork_child(p, to_parent[1], to_child[0]);
	}
	close(to_child[0]);
	close(to_parent[1]);

	/* Wait for the child to have faulted. */
	ASSERT_EQ(1, read(to_parent[0], &c, 1))
		TH_LOG("child exited early");
	EXPECT_EQ(FORK_CHILD_BYTE, p[PG])
		TH_LOG("the child's write is not visible in the parent");

	n = lm_mappings(self->id, vmas, ARRAY_SIZE(vmas));
	ASSERT_EQ(2, n)
		lm_debugfs_dump(self->id, "mappings");
	/* Same address in both; tell them apart by pid. */
	if (vmas[0].pid != getpid()) {
		struct lm_mapping tmp = vmas[0];

		vmas[0] = vmas[1];
		vmas[1] = tmp;
	}
	EXPECT_EQ(getpid(), vmas[0].pid)
		lm_debugfs_dump(self->id, "mappings");
	EXPECT_EQ(child, vmas[1].pid)
		lm_debugfs_dump(self->id, "mappings");
	for (i = 0; i < 2; i++) {
		EXPECT_EQ((unsigned long)p, vmas[i].start);
		EXPECT_EQ((unsigned long)p + SPACE_LEN, vmas[i].end);
		EXPECT_EQ(0UL, vmas[i].pgoff);
		EXPECT_EQ(i ? child_faults : parent_faults, vmas[i].faults[0])
			lm_debugfs_dump(self->id, "mappings");
		EXPECT_EQ(0ULL, vmas[i].faults[1]);
		if (comm[0]) {
			EXPECT_STREQ(comm, vmas[i].comm);
		}
	}
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(2ULL, st.mappings);

	p[2 * PG] = FORK_PARENT_BYTE;
	ASSERT_EQ(1, write(to_child[1], &c, 1));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child: status 0x%x", status);
	close(to_child[1]);
	close(to_parent[0]);

	n = lm_mappings(self->id, vmas, ARRAY_SIZE(vmas));
	ASSERT_EQ(1, n)
		lm_debugfs_dump(self->id, "mappings");
	EXPECT_EQ(getpid(), vmas[0].pid);
	EXPECT_EQ((unsigned long)p, vmas[0].start);
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(1ULL, st.mappings);
}

TEST_F(lazymap_core, partial_munmap)
{
	/* 16 pages from page 64 of the space; unmap the 4 from the 4th. */
	const size_t base_pg = 64, n = 16, hole = 4, hole_len = 4;
	struct lazymap_test_stats st0, st;
	struct lm_mapping vmas[4];
	volatile uint8_t *p;
	unsigned long start;
	size_t i;
	int cnt;

	if (!lm_have_debugfs())
		SKIP(return, "no %s", LAZYMAP_DEBUGFS);

	p = lm_map(self, base_pg * PG, n * PG);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	start = (unsigned long)p;
	/* p[i * PG] is page base_pg + i of the space. */
	for (i = 0; i < n; i++)
		memset((uint8_t *)p + i * PG, pat(base_pg + i), PG);

	ASSERT_EQ(0, munmap((uint8_t *)p + hole * PG, hole_len * PG));

	ASSERT_EQ(0, lm_stats(self->fd, &st0));
	EXPECT_EQ(2ULL, st0.mappings);
	cnt = lm_mappings(self->id, vmas, ARRAY_SIZE(vmas));
	ASSERT_EQ(2, cnt)
		lm_debugfs_dump(self->id, "mappings");
	EXPECT_EQ(start, vmas[0].start);
	EXPECT_EQ(start + hole * PG, vmas[0].end);
	EXPECT_EQ(base_pg, vmas[0].pgoff);
	EXPECT_EQ(start + (hole + hole_len) * PG, vmas[1].start);
	EXPECT_EQ(start + n * PG, vmas[1].end);
	EXPECT_EQ(base_pg + hole + hole_len, vmas[1].pgoff);
	/* Splitting is no fork: both parts still belong to their creator. */
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(getpid(), vmas[i].pid)
			TH_LOG("part %zu of the split mapping lost its owner",
			       i);
	}

	/* Both pieces still work, also after a zap makes them refault. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_ZAP, 0, SPACE_LEN, 0));
	for (i = 0; i < n; i++) {
		long bad;

		if (i >= hole && i < hole + hole_len)
			continue;
		bad = first_mismatch(p + i * PG, PG, pat(base_pg + i));
		EXPECT_EQ(-1L, bad)
			TH_LOG("page %zu of the space, byte 0x%lx: 0x%02x",
			       base_pg + i, bad, p[i * PG + bad]);
	}
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(st0.faults[0] + n - hole_len, st.faults[0]);
	EXPECT_EQ(2ULL, st.mappings);

	ASSERT_EQ(0, lm_unmap(self));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(0ULL, st.mappings);
	cnt = lm_mappings(self->id, vmas, ARRAY_SIZE(vmas));
	EXPECT_EQ(0, cnt)
		lm_debugfs_dump(self->id, "mappings");
}

/*
 * mremap() of a tracked mapping: a move gives the new VMA its own record
 * (vm_ops->open()) and drops the old one, page tables move along, a
 * shrink shrinks the record, and growing is refused (VM_DONTEXPAND).
 */
TEST_F(lazymap_core, mremap_tracking)
{
	const size_t n = 64, keep = 16, pgoff = 32;
	struct lazymap_test_stats st0, st;
	struct lm_mapping vmas[4];
	volatile uint8_t *p;
	void *dst, *r;
	long bad;
	int cnt;

	if (!lm_have_debugfs())
		SKIP(return, "no %s", LAZYMAP_DEBUGFS);

	p = lm_map(self, pgoff * PG, n * PG);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	/* p[i * PG] is page pgoff + i of the space. */
	pattern_write(p - pgoff * PG, pgoff, n);
	ASSERT_EQ(0, lm_stats(self->fd, &st0));
	EXPECT_EQ((__u64)n, st0.faults[0]);

	/* Move it to an address of our choosing, away from the old one. */
	dst = mmap(NULL, n * PG, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, dst);
	r = mremap((void *)p, n * PG, n * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
		   dst);
	ASSERT_EQ(dst, r)
		TH_LOG("mremap: %s", strerror(errno));
	self->map = r;
	p = r;

	cnt = lm_mappings(self->id, vmas, ARRAY_SIZE(vmas));
	ASSERT_EQ(1, cnt)
		lm_debugfs_dump(self->id, "mappings");
	EXPECT_EQ((unsigned long)dst, vmas[0].start);
	EXPECT_EQ((unsigned long)dst + n * PG, vmas[0].end);
	EXPECT_EQ(pgoff, vmas[0].pgoff);
	EXPECT_EQ(getpid(), vmas[0].pid)
		TH_LOG("the moved mapping lost its owner");

	/* The page tables moved with it: the data is there, no fault. */
	bad = pattern_mismatch(p - pgoff * PG, pgoff, n);
	EXPECT_EQ(-1L, bad)
		TH_LOG("moved mapping at 0x%lx: 0x%02x", bad,
		       p[bad - pgoff * PG]);
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(st0.faults[0], st.faults[0]);
	EXPECT_EQ(1ULL, st.mappings);

	/* Zaps reach it at its new address: it refaults from there. */
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_ZAP, 0, SPACE_LEN, 0));
	bad = pattern_mismatch(p - pgoff * PG, pgoff, n);
	EXPECT_EQ(-1L, bad)
		TH_LOG("refaulted moved mapping at 0x%lx", bad);
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(st0.faults[0] + n, st.faults[0]);
	cnt = lm_mappings(self->id, vmas, ARRAY_SIZE(vmas));
	ASSERT_EQ(1, cnt);
	EXPECT_EQ((unsigned long long)n, vmas[0].faults[0]);
	EXPECT_EQ(1ULL, vmas[0].zaps);

	/* Shrink in place: the record follows. */
	r = mremap((void *)p, n * PG, keep * PG, 0);
	ASSERT_EQ((void *)p, r)
		TH_LOG("mremap shrink: %s", strerror(errno));
	self->map_len = keep * PG;
	cnt = lm_mappings(self->id, vmas, ARRAY_SIZE(vmas));
	ASSERT_EQ(1, cnt)
		lm_debugfs_dump(self->id, "mappings");
	EXPECT_EQ((unsigned long)p, vmas[0].start);
	EXPECT_EQ((unsigned long)p + keep * PG, vmas[0].end);
	EXPECT_EQ(pgoff, vmas[0].pgoff);

	/* Growing is refused: the space has a fixed size. */
	r = mremap((void *)p, keep * PG, n * PG, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, r);
	EXPECT_EQ(EFAULT, errno);
	if (r != MAP_FAILED) {
		self->map = r;
		self->map_len = n * PG;
	}

	ASSERT_EQ(0, lm_unmap(self));
	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(0ULL, st.mappings);
	EXPECT_EQ(0, lm_mappings(self->id, vmas, ARRAY_SIZE(vmas)));
}

/*
 * concurrent_revoke: readers of 64 pages racing with revokes, FILLs and
 * restores of all of them (see lazymap_core_util.h).
 */
#define CR_PAGES	64
#define CR_ITERATIONS	200	/* < 256: the fill byte never wraps */

TEST_F_TIMEOUT(lazymap_core, concurrent_revoke, 300)
{
	static const struct cr_range whole = { 0, CR_PAGES };
	struct cr_ctx ctx = {
		.fd = self->fd,
		.pages = CR_PAGES,
		.ranges = &whole,
		.nr_ranges = 1,
		.iterations = CR_ITERATIONS,
	};
	struct lazymap_test_stats st0, st;
	unsigned long sigbus;

	ctx.map = lm_map(self, 0, CR_PAGES * PG);
	ASSERT_NE(NULL, ctx.map)
		TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, lm_stats(self->fd, &st0));

	cr_run(_metadata, &ctx, &sigbus);

	ASSERT_EQ(0, lm_stats(self->fd, &st));
	EXPECT_EQ(st0.revokes + CR_ITERATIONS, st.revokes);
	EXPECT_EQ(st0.restores + CR_ITERATIONS, st.restores);
	EXPECT_EQ(st0.sigbus + sigbus, st.sigbus);
}

TEST_F(lazymap_core, debugfs_stats)
{
	static const char * const names[] = {
		"faults_4k", "faults_2m", "faults_1g", "fallbacks", "sigbus",
		"zaps", "revokes", "restores", "mappings",
	};
	struct lazymap_test_stats st;
	unsigned long long val;
	volatile uint8_t *p;
	char buf[4096];
	__u64 want[ARRAY_SIZE(names)];
	ssize_t len;
	uint8_t v;
	size_t i;
	int ret;

	if (!lm_have_debugfs())
		SKIP(return, "no %s", LAZYMAP_DEBUGFS);

	/* Make every counter the ioctl reports non-trivial. */
	p = lm_map(self, 0, SPACE_LEN);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	for (i = 0; i < 5; i++)
		p[i * 3 * PG] = i;
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_ZAP, 0, SPACE_LEN, 0));
	for (i = 0; i < 3; i++)
		(void)p[i * 3 * PG];
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE, 0, PG, 0));
	EXPECT_EQ(-1, read_byte(p, &v));
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, PG, 0));

	ASSERT_EQ(0, lm_stats(self->fd, &st));
	len = lm_debugfs_read(self->id, "stats", buf, sizeof(buf));
	ASSERT_LE(0, len)
		TH_LOG("reading test-%u/stats: %s", self->id, strerror(-len));

	want[0] = st.faults[0];
	want[1] = st.faults[1];
	want[2] = st.faults[2];
	want[3] = st.fallbacks;
	want[4] = st.sigbus;
	want[5] = st.zaps;
	want[6] = st.revokes;
	want[7] = st.restores;
	want[8] = st.mappings;
	EXPECT_EQ(8ULL, st.faults[0]);
	EXPECT_EQ(1ULL, st.mappings);

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		ret = lm_stats_find(buf, names[i], &val);
		EXPECT_EQ(0, ret)
			TH_LOG("%s: %s in:\n%s", names[i], strerror(-ret),
			       buf);
		if (ret)
			continue;
		EXPECT_EQ(want[i], val)
			TH_LOG("%s: debugfs %llu, STATS %llu", names[i], val,
			       (unsigned long long)want[i]);
	}
}

/*
 * Tracepoints: lazymap:lazymap_fault, _zap, _revoke fire with the space's
 * name.  SKIPs without tracefs (the UML kernel has no tracing support).
 */
#define TRACEFS		"/sys/kernel/tracing"

static int trace_write(const char *file, const char *val)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), TRACEFS "/%s", file);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

TEST_F(lazymap_core, tracepoints)
{
	static const char *const events[] = {
		"lazymap_fault", "lazymap_zap", "lazymap_revoke",
	};
	char buf[65536], want[64];
	volatile uint8_t *p;
	ssize_t len;
	size_t i;
	uint8_t v;

	if (access(TRACEFS "/events/lazymap", F_OK))
		SKIP(return, "no " TRACEFS "/events/lazymap");
	ASSERT_EQ(0, trace_write("trace", ""));
	ASSERT_EQ(0, trace_write("events/lazymap/enable", "1"));

	p = lm_map(self, 0, SPACE_LEN);
	ASSERT_NE(NULL, p);
	(void)p[7 * PG];
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_ZAP, 0, PG, 0));
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_REVOKE, 0, PG, 0));
	EXPECT_EQ(-1, read_byte(p, &v));
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_RESTORE, 0, PG, 0));

	ASSERT_EQ(0, trace_write("events/lazymap/enable", "0"));
	len = lm_read_file(TRACEFS "/trace", buf, sizeof(buf));
	ASSERT_LT(0, len);
	snprintf(want, sizeof(want), "space=test-%u", self->id);
	for (i = 0; i < ARRAY_SIZE(events); i++) {
		char *line = strstr(buf, events[i]);

		while (line && !strstr(line, want))
			line = strstr(line + 1, events[i]);
		EXPECT_NE(NULL, line) TH_LOG("no %s event for %s", events[i], want);
	}
	/* The fault of page 7 and the restore are described precisely. */
	EXPECT_NE(NULL, strstr(buf, "pgoff=0x7 order=0"));
	EXPECT_NE(NULL, strstr(buf, "restore pgoff=0x0 nr=1"));
	/* A SIGBUS fault reports VM_FAULT_SIGBUS (0x2). */
	EXPECT_NE(NULL, strstr(buf, "pgoff=0x0 order=0 ret=0x2"));
}

TEST_HARNESS_MAIN
