/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wrappers of the ioctls of lazymap's test provider, /dev/lazymap-test
 * (CONFIG_LAZYMAP_TEST, interface in lazymap_test.h), and the fixture
 * setup and teardown of a space, shared by the selftests that drive it.
 *
 * Like lazymap_util.h, everything is static and depends only on libc.
 * Functions returning int return 0 (or a value) on success and a negative
 * errno value on failure.  Include after lazymap_harness.h, if at all:
 * the fixture helpers lm_setup_space() and lm_setup_space_order() exist
 * only then.
 */
#ifndef __LAZYMAP_TEST_UTIL_H
#define __LAZYMAP_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "../../../../drivers/virt/lazymap/lazymap_test.h"
#include "lazymap_util.h"

#define LAZYMAP_DEV		"/dev/lazymap-test"

/* CREATE a space: its fd, or -errno.  Its id into *@id unless NULL. */
static inline int lm_create(int dev_fd, __u32 flags, __u64 length,
			    __u32 max_order, __u32 *id)
{
	struct lazymap_test_create arg = {
		.size = sizeof(arg),
		.flags = flags,
		.length = length,
		.max_order = max_order,
	};
	int fd;

	fd = ioctl(dev_fd, LAZYMAP_TEST_CREATE, &arg);
	if (fd < 0)
		return -errno;
	if (id)
		*id = arg.id;
	return fd;
}

/* A range ioctl (ZAP ... LISTEN): its return value, or -errno. */
static inline int lm_range(int fd, unsigned long cmd, __u64 offset,
			   __u64 length, __u64 value)
{
	struct lazymap_test_range arg = {
		.size = sizeof(arg),
		.offset = offset,
		.length = length,
		.value = value,
	};
	int ret;

	ret = ioctl(fd, cmd, &arg);
	return ret < 0 ? -errno : ret;
}

/* STATS of a space into *@st: 0 or -errno. */
static inline int lm_stats(int fd, struct lazymap_test_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ioctl(fd, LAZYMAP_TEST_STATS, st) < 0 ? -errno : 0;
}

/* Name of the debugfs directory (lazymap/<name>) of space @id. */
static inline const char *lm_space_name(__u32 id, char *buf, size_t size)
{
	snprintf(buf, size, "test-%u", id);
	return buf;
}

/* The end of a fixture teardown: close a space and the provider, if open. */
static inline void lm_close_space(int dev_fd, int fd)
{
	if (fd >= 0)
		close(fd);
	if (dev_fd >= 0)
		close(dev_fd);
}

/*
 * PROT_NONE address space of @len bytes, for mappings placed in it with
 * lm_huge_map_in(): the reservation, or MAP_FAILED.
 */
static inline void *lm_reserve(size_t len)
{
	return mmap(NULL, len, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
}

/*
 * Map @len of space @fd from @offset, shared and read-write, at the first
 * 2 MiB-aligned address of @reserve plus @skew: the address, or NULL.
 */
static inline void *lm_huge_map_in(void *reserve, int fd, size_t offset,
				   size_t len, size_t skew)
{
	uintptr_t a = ((uintptr_t)reserve + SZ_2M - 1) & ~(SZ_2M - 1);
	void *p;

	p = mmap((void *)(a + skew), len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, offset);
	return p == MAP_FAILED ? NULL : p;
}

#ifdef __KSELFTEST_HARNESS_H
/*
 * The start of a fixture setup on the provider: open it into *@dev_fd
 * (SKIP if the kernel has none), require 4 KiB pages (SKIP otherwise) and
 * CREATE a space of @length bytes, max_order @max_order, with @flags into
 * *@fd and *@id (ASSERTed).  False if it SKIPped: the setup must return
 * then.
 */
static inline bool lm_setup_space_order(struct __test_metadata *_metadata,
					__u32 flags, __u64 length,
					__u32 max_order, int *dev_fd, int *fd,
					__u32 *id)
{
	int ret;

	*dev_fd = open(LAZYMAP_DEV, O_RDWR | O_CLOEXEC);
	if (*dev_fd < 0 &&
	    (errno == ENOENT || errno == ENODEV || errno == ENXIO))
		SKIP(return false, "%s: %s (CONFIG_LAZYMAP_TEST not enabled?)",
		     LAZYMAP_DEV, strerror(errno));
	ASSERT_LE(0, *dev_fd)
		TH_LOG("opening %s: %s", LAZYMAP_DEV, strerror(errno));

	if (sysconf(_SC_PAGESIZE) != 4096)
		SKIP(return false, "page size %ld: these tests assume 4 KiB",
		     sysconf(_SC_PAGESIZE));

	ret = lm_create(*dev_fd, flags, length, max_order, id);
	ASSERT_LE(0, ret)
		TH_LOG("CREATE of a %llu MiB space, order %u: %s",
		       (unsigned long long)length >> 20, max_order,
		       strerror(-ret));
	*fd = ret;
	return true;
}

/* lm_setup_space_order() of a space of max_order 0. */
static inline bool lm_setup_space(struct __test_metadata *_metadata,
				  __u32 flags, __u64 length, int *dev_fd,
				  int *fd, __u32 *id)
{
	return lm_setup_space_order(_metadata, flags, length, 0, dev_fd, fd,
				    id);
}
#endif

#endif /* __LAZYMAP_TEST_UTIL_H */
