/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Test-only interface of lazymap's test provider (CONFIG_LAZYMAP_TEST),
 * /dev/lazymap-test.  Not a stable UAPI: it exists so that the selftests in
 * tools/testing/selftests/lazymap/ can drive the core's real mmap, fault,
 * zap and revoke paths.
 *
 * LAZYMAP_TEST_CREATE on /dev/lazymap-test returns a new file descriptor
 * for a new space of RAM allocated lazily in naturally aligned blocks of
 * 2^max_order pages.  The space fd supports mmap(MAP_SHARED) and the other
 * ioctls below.  Every ioctl takes a struct whose first field is its size
 * (argsz): smaller than the struct -> EINVAL; larger -> the tail must be
 * zero (E2BIG otherwise).  Unknown flags -> EINVAL; unknown ioctl -> ENOTTY.
 */
#ifndef _LAZYMAP_TEST_H
#define _LAZYMAP_TEST_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define LAZYMAP_TEST_TYPE	0xC7

/* Map as pfns (VM_PFNMAP, huge where possible) rather than pages. */
#define LAZYMAP_TEST_PFN	(1U << 0)
/*
 * Back the space with folios of its own page cache, mapped the way a file's
 * are: PMD entries for PMD-sized folios where the kernel has THP.
 */
#define LAZYMAP_TEST_FOLIO	(1U << 1)

#define LAZYMAP_TEST_MAX_LENGTH	(1ULL << 30)
/* The page allocator's largest order on x86 and UML (MAX_PAGE_ORDER). */
#define LAZYMAP_TEST_MAX_ORDER	10
/* The largest folio order of a LAZYMAP_TEST_FOLIO space: PMD on x86. */
#define LAZYMAP_TEST_MAX_FOLIO_ORDER	9

/**
 * struct lazymap_test_create - LAZYMAP_TEST_CREATE
 * @size: sizeof(struct lazymap_test_create)
 * @flags: LAZYMAP_TEST_PFN, LAZYMAP_TEST_FOLIO or 0 (both: EINVAL)
 * @length: bytes; a non-zero multiple of 2^max_order pages, at most
 *	LAZYMAP_TEST_MAX_LENGTH (EINVAL otherwise)
 * @max_order: order of the backing blocks, at most LAZYMAP_TEST_MAX_ORDER
 *	(EINVAL otherwise); blocks of PMD order or more map with PMD entries
 *	in a LAZYMAP_TEST_PFN space where the architecture allows it.  For
 *	LAZYMAP_TEST_FOLIO: the largest folio order, at most
 *	LAZYMAP_TEST_MAX_FOLIO_ORDER (EINVAL otherwise); folios are allocated
 *	on first use at up to that order, smaller where the kernel has no
 *	large page-cache folios (no THP, e.g. UML), where a fault's PMD block
 *	is partly revoked or outside its VMA, or where memory is fragmented
 * @id: must be 0; out: the space is lazymap/test-<id> in debugfs
 *
 * Returns a new fd (O_RDWR | O_CLOEXEC) or -1 with errno.  Where the
 * kernel has THP, mmap() without an address of a LAZYMAP_TEST_FOLIO space
 * picks one at which the PMD blocks of the space line up with PMDs
 * (thp_get_unmapped_area()), if the mapping holds a whole block.
 */
struct lazymap_test_create {
	__u32 size;
	__u32 flags;
	__u64 length;
	__u32 max_order;
	__u32 id;
};

/**
 * struct lazymap_test_range - ZAP, REVOKE, RESTORE, FILL, DISCARD, LISTEN
 * @size: sizeof(struct lazymap_test_range)
 * @flags: must be 0
 * @offset: byte offset into the space, page aligned
 * @length: bytes, page aligned, non-zero, offset + length within the space
 * @value: FILL: the byte to fill with (0..255); others: must be 0
 *
 * EINVAL for misaligned, empty, overflowing or out-of-bounds ranges.
 * DISCARD frees the backing of a range that is revoked throughout (EBUSY
 * otherwise); offset and length must be multiples of the block size
 * (EINVAL otherwise); after restore the range reads zero.  In a
 * LAZYMAP_TEST_FOLIO space it truncates the page cache, which launders the
 * range: listeners are invalidated again for every discarded page that
 * was backed.
 * FILL allocates what it fills; EINTR when a fatal signal stops it.
 * LISTEN registers a counting listener over the range and returns its
 * index (ENOSPC beyond LAZYMAP_TEST_MAX_LISTENERS).
 */
struct lazymap_test_range {
	__u32 size;
	__u32 flags;
	__u64 offset;
	__u64 length;
	__u64 value;
};

#define LAZYMAP_TEST_MAX_LISTENERS	8

/**
 * struct lazymap_test_stats - LAZYMAP_TEST_STATS (out)
 * @size: sizeof(struct lazymap_test_stats) (in)
 * @pad: zero
 * @faults: faults served at 4 KiB, PMD, PUD
 * @fallbacks: huge faults that fell back to a smaller size
 * @sigbus: faults refused with SIGBUS
 * @zaps: zaps (including those of revoke)
 * @revokes: revoke calls
 * @restores: restore calls
 * @mappings: live tracked VMAs
 * @pages: pages of RAM currently backing the space (LAZYMAP_TEST_FOLIO:
 *	pages in its page cache)
 * @listener_pages: per listener, page offsets invalidated so far
 */
struct lazymap_test_stats {
	__u32 size;
	__u32 pad;
	__u64 faults[3];
	__u64 fallbacks;
	__u64 sigbus;
	__u64 zaps;
	__u64 revokes;
	__u64 restores;
	__u64 mappings;
	__u64 pages;
	__u64 listener_pages[LAZYMAP_TEST_MAX_LISTENERS];
};

/* LISTENER_CYCLE: the largest range and number of rounds of one call. */
#define LAZYMAP_TEST_MAX_CYCLE_LENGTH	(64ULL << 20)
#define LAZYMAP_TEST_MAX_CYCLE_ROUNDS	100000

/**
 * struct lazymap_test_cycle - LAZYMAP_TEST_LISTENER_CYCLE
 * @size: sizeof(struct lazymap_test_cycle)
 * @flags: must be 0
 * @offset: byte offset of the listener's range, page aligned
 * @length: bytes of the range, page aligned, non-zero, at most
 *	LAZYMAP_TEST_MAX_CYCLE_LENGTH, offset + length within the space
 * @rounds: lookups to make, 1..LAZYMAP_TEST_MAX_CYCLE_ROUNDS
 * @seed: seeds the page offsets and orders looked up; non-zero
 * @installed: out: blocks the listener installed (the retry check passed)
 * @retries: out: lookups the retry check refused
 * @refused: out: lookups that failed as they may under revoke
 *	(EACCES), inaccessible memory (ENXIO) or memory failure (EHWPOISON)
 * @invalidated: out: pages invalidated in the listener while registered
 * @checked: out: installed entries checked against the space's backing
 *
 * Registers a listener of its own, a software stage 2 with one entry per
 * page, over the range; makes @rounds lookups of random page offsets at
 * order 0 or the space's block order, installing each block unless
 * lazymap_listener_retry() refuses it; and every 16 rounds, and at the
 * end, checks with the gate held for read that every installed entry maps
 * the pfn the space backs the page with now and that no such page is
 * revoked: an entry an invalidation missed.  Then drops the entries and
 * unregisters.  Returns 0 with the counts, EIO for a stale entry (the
 * counts filled in), EINVAL for bad arguments, ENOMEM, or the error of a
 * lookup other than those counted in @refused.
 */
struct lazymap_test_cycle {
	__u32 size;
	__u32 flags;
	__u64 offset;
	__u64 length;
	__u32 rounds;
	__u32 seed;
	__u64 installed;
	__u64 retries;
	__u64 refused;
	__u64 invalidated;
	__u64 checked;
};

#define LAZYMAP_TEST_CREATE	_IOWR(LAZYMAP_TEST_TYPE, 0x00, struct lazymap_test_create)
#define LAZYMAP_TEST_ZAP	_IOW(LAZYMAP_TEST_TYPE, 0x01, struct lazymap_test_range)
#define LAZYMAP_TEST_REVOKE	_IOW(LAZYMAP_TEST_TYPE, 0x02, struct lazymap_test_range)
#define LAZYMAP_TEST_RESTORE	_IOW(LAZYMAP_TEST_TYPE, 0x03, struct lazymap_test_range)
#define LAZYMAP_TEST_FILL	_IOW(LAZYMAP_TEST_TYPE, 0x04, struct lazymap_test_range)
#define LAZYMAP_TEST_DISCARD	_IOW(LAZYMAP_TEST_TYPE, 0x05, struct lazymap_test_range)
#define LAZYMAP_TEST_LISTEN	_IOW(LAZYMAP_TEST_TYPE, 0x06, struct lazymap_test_range)
#define LAZYMAP_TEST_STATS	_IOWR(LAZYMAP_TEST_TYPE, 0x07, struct lazymap_test_stats)
#define LAZYMAP_TEST_LISTENER_CYCLE \
	_IOWR(LAZYMAP_TEST_TYPE, 0x08, struct lazymap_test_cycle)

#endif /* _LAZYMAP_TEST_H */
