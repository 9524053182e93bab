// SPDX-License-Identifier: GPL-2.0
/*
 * Memory failure on a folio space of the test provider (needs
 * CONFIG_MEMORY_FAILURE and CAP_SYS_ADMIN for MADV_HWPOISON: the two QEMU
 * stages).  The poisoned page's folio must be taken back from the
 * listeners and out of the page cache, so that memory_failure() reports
 * it recovered (madvise() returns 0, not EBUSY as when the space's
 * ->error_remove_folio answered MF_DELAYED, which 6.12 takes for "Failed
 * to punch page"); the offset must then raise SIGBUS, in the old mapping
 * and in a new one, rather than come back as new zeroed memory, and its
 * neighbours must keep their data.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "lazymap_harness.h"
#include "lazymap_test_util.h"

#ifndef MADV_HWPOISON
#define MADV_HWPOISON	100
#endif

#define SPACE_LEN	(256 * PG)
#define POISONED	3

FIXTURE(lazymap_hwpoison) {
	int dev_fd;
	int fd;
	__u32 id;
	void *map;
	size_t map_len;
};

FIXTURE_SETUP(lazymap_hwpoison)
{
	self->dev_fd = -1;
	self->fd = -1;
	self->map = NULL;
	if (!lm_setup_space(_metadata, LAZYMAP_TEST_FOLIO, SPACE_LEN,
			    &self->dev_fd, &self->fd, &self->id))
		return;
	ASSERT_EQ(0, sigbus_install());
}

FIXTURE_TEARDOWN(lazymap_hwpoison)
{
	if (self->map)
		munmap(self->map, self->map_len);
	lm_close_space(self->dev_fd, self->fd);
}

TEST_F(lazymap_hwpoison, folio_recovered)
{
	struct lazymap_test_stats before, after;
	volatile uint8_t *p, *q;
	void *q_map = NULL;
	size_t q_len = 0;
	uint8_t v;
	int i;

	/* Pages [0, 8) hold their index + 1; listener 0 covers the space. */
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_FILL, i * PG, PG,
				      i + 1));
	ASSERT_EQ(0, lm_range(self->fd, LAZYMAP_TEST_LISTEN, 0, SPACE_LEN, 0));
	p = lm_mmap_noted(self->fd, 0, SPACE_LEN, &self->map, &self->map_len);
	ASSERT_NE(NULL, p)
		TH_LOG("mmap: %s", strerror(errno));
	/* Read only: a clean folio, so memory_failure() kills nobody. */
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, read_byte(p + i * PG, &v));
		ASSERT_EQ(i + 1, v);
	}
	ASSERT_EQ(0, lm_stats(self->fd, &before));

	if (madvise((void *)(p + POISONED * PG), PG, MADV_HWPOISON)) {
		if (errno == EINVAL || errno == EPERM)
			SKIP(return, "MADV_HWPOISON: %s (no MEMORY_FAILURE?)",
			     strerror(errno));
		ASSERT_EQ(0, -errno)
			TH_LOG("MADV_HWPOISON: %s: the folio was not recovered",
			       strerror(errno));
	}

	ASSERT_EQ(0, lm_stats(self->fd, &after));
	/* Out of the page cache, and taken back from the listener first. */
	EXPECT_EQ(before.pages - 1, after.pages);
	EXPECT_LE(before.listener_pages[0] + 1, after.listener_pages[0]);

	/* The poisoned offset raises SIGBUS, its neighbours keep their data. */
	EXPECT_EQ(-1, read_byte(p + POISONED * PG, &v));
	for (i = 0; i < 8; i++) {
		if (i == POISONED)
			continue;
		ASSERT_EQ(0, read_byte(p + i * PG, &v));
		EXPECT_EQ(i + 1, v);
	}
	/* A new mapping is not backed with new zeroed memory either. */
	q = lm_mmap_noted(self->fd, 0, 8 * PG, &q_map, &q_len);
	ASSERT_NE(NULL, q);
	EXPECT_EQ(-1, read_byte(q + POISONED * PG, &v));
	EXPECT_EQ(-1, write_byte(q + POISONED * PG, 0x55));
	ASSERT_EQ(0, read_byte(q + (POISONED + 1) * PG, &v));
	EXPECT_EQ(POISONED + 2, v);
	ASSERT_EQ(0, lm_stats(self->fd, &after));
	EXPECT_EQ(before.pages - 1, after.pages);
	munmap(q_map, q_len);
}

TEST_HARNESS_MAIN
