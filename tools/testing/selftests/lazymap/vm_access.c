// SPDX-License-Identifier: GPL-2.0
/*
 * Guest accesses of /dev/lazymap-vm (VCPU_ACCESS) against the host's view
 * of the same memory, and everything that takes stage 2 back.
 *
 * - data both ways between host mappings and ACCESS: anonymous memory, a
 *   memfd (shmem, file-backed), two mmaps side by side in one slot, one
 *   access across two adjacent slots over present and missing entries;
 * - exits: MMIO for GPAs in no slot (no slots, gaps, below every base) and
 *   for writes to READONLY slots, with the WRITE data at data + exit.gpa -
 *   gpa; MEMORY_FAULT (-EFAULT) for munmap'd, PROT_NONE and read-only host
 *   memory; EFAULT with no exit for a bad data buffer;
 * - invalidation: munmap, MADV_DONTNEED, mprotect and fork + COW drop
 *   the stage-2 entries (GET_STATS s2_invalidated, s2_pages) and the next
 *   access sees the host's current data, never a stale page;
 * - the slot lock: pinned, premapped, accounted to RLIMIT_MEMLOCK unless
 *   CAP_IPC_LOCK (dropped with capset() in a child), its perm enforced;
 * - the dirty log of pages ACCESS wrote;
 * - teardown in every order (VM fd, vCPU fd, slot memory, process exit)
 *   leaving nothing locked (VmLck) or leaked (kmemleak, in the harness);
 * - 2 MiB stage-2 entries over THP (SKIPs without THP, as under UML).
 *
 * Each test owns a VM and a vCPU (the fixture) and the memory it maps;
 * children it forks report through their exit status.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "lazymap_vm_util.h"

#define GPA		0x40000000ULL	/* where the tests put their slot */
#define R		LAZYMAP_VM_ACCESS_READ
#define W		LAZYMAP_VM_ACCESS_WRITE

FIXTURE(vm_access) {
	int dev_fd;
	int vm_fd;
	int vcpu_fd;
	uint8_t *map;		/* the test's memory, unmapped at teardown */
	size_t map_len;
	uint8_t *buf;		/* 1 MiB + a page: ACCESS data buffers */
};

FIXTURE_SETUP(vm_access)
{
	self->vm_fd = -1;
	self->vcpu_fd = -1;
	self->map = NULL;
	lmvm_setup_vm(_metadata, &self->dev_fd, &self->vm_fd, &self->vcpu_fd);
	self->buf = mmap(NULL, SZ_1M + PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
}

FIXTURE_TEARDOWN(vm_access)
{
	if (self->vcpu_fd >= 0)
		close(self->vcpu_fd);
	if (self->vm_fd >= 0)
		close(self->vm_fd);
	if (self->map)
		munmap(self->map, self->map_len);
	munmap(self->buf, SZ_1M + PG);
	if (self->dev_fd >= 0)
		close(self->dev_fd);
}

/* Anonymous private memory, noted for the teardown. */
static uint8_t *anon(FIXTURE_DATA(vm_access) *self, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	self->map = p;
	self->map_len = len;
	return p;
}

static struct lazymap_vm_stats stats(struct __test_metadata *_metadata,
				     int vm_fd)
{
	struct lazymap_vm_stats st;

	EXPECT_EQ(0, lmvm_stats(vm_fd, &st));
	return st;
}

/*
 * Both ways through a slot of @len bytes at GPA over @hva: the host's
 * pattern read by ACCESS, all of it in 1 MiB accesses and, for each chunk
 * size up to 64 KiB + 3, at NR_SPOTS offsets spread over the slot (odd
 * ones, across page and VMA boundaries); fetched (EXEC) too; then
 * ACCESS's writes seen by the host, the same way.
 */
#define NR_SPOTS	48

static size_t spot(size_t len, size_t n, unsigned int i, unsigned int c)
{
	return ((size_t)i * 40961 + c * 5) % (len - n + 1);
}

static void both_ways(struct __test_metadata *_metadata,
		      FIXTURE_DATA(vm_access) *self, uint8_t *hva,
		      size_t len)
{
	static const size_t chunks[] = { 1, 3, 8, 4095, 4096, 4097, 65536 + 3 };
	struct lazymap_vm_exit exit;
	unsigned int c, i;
	size_t off, n;
	long bad;

	lmvm_pat_fill(hva, len, 0, 1);
	for (off = 0; off < len; off += SZ_1M) {
		n = len - off > SZ_1M ? SZ_1M : len - off;
		ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + off, n, self->buf,
				       &exit));
		ASSERT_EQ(LMVM_EXIT_NONE, exit.reason);
		ASSERT_EQ(GPA + off + n, exit.gpa);
		ASSERT_EQ(0ULL, exit.size);
		bad = lmvm_pat_check(self->buf, n, off, 1);
		ASSERT_EQ(-1, bad) TH_LOG("read 1 MiB at 0x%zx: byte %ld", off, bad);
	}
	for (c = 0; c < ARRAY_SIZE(chunks); c++) {
		n = chunks[c];
		for (i = 0; i < NR_SPOTS; i++) {
			off = spot(len, n, i, c);
			memset(self->buf, 0, n);
			ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + off, n,
					       self->buf, &exit))
				TH_LOG("read %zu at 0x%zx", n, off);
			ASSERT_EQ(LMVM_EXIT_NONE, exit.reason);
			ASSERT_EQ(GPA + off + n, exit.gpa);
			bad = lmvm_pat_check(self->buf, n, off, 1);
			ASSERT_EQ(-1, bad)
				TH_LOG("read %zu at 0x%zx: byte %ld", n, off, bad);
		}
	}
	ASSERT_EQ(0, lmvm_access(self->vcpu_fd, LAZYMAP_VM_ACCESS_EXEC,
				 GPA + 100, 5000, self->buf, &exit));
	ASSERT_EQ(LMVM_EXIT_NONE, exit.reason);
	ASSERT_EQ(-1, lmvm_pat_check(self->buf, 5000, 100, 1));

	for (c = 0; c < ARRAY_SIZE(chunks); c++) {
		n = chunks[c];
		for (i = 0; i < NR_SPOTS; i++) {
			off = spot(len, n, i, c + 1);
			lmvm_pat_fill(self->buf, n, off, 2 + c);
			ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + off, n,
						self->buf, &exit))
				TH_LOG("write %zu at 0x%zx", n, off);
			ASSERT_EQ(LMVM_EXIT_NONE, exit.reason);
			ASSERT_EQ(GPA + off + n, exit.gpa);
			bad = lmvm_pat_check(hva + off, n, off, 2 + c);
			ASSERT_EQ(-1, bad)
				TH_LOG("write %zu at 0x%zx: byte %ld", n, off, bad);
		}
	}
	for (off = 0; off < len; off += SZ_1M) {
		n = len - off > SZ_1M ? SZ_1M : len - off;
		lmvm_pat_fill(self->buf, n, off, 20);
		ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + off, n, self->buf,
					&exit));
		ASSERT_EQ(LMVM_EXIT_NONE, exit.reason);
	}
	bad = lmvm_pat_check(hva, len, 0, 20);
	ASSERT_EQ(-1, bad) TH_LOG("byte %ld after 1 MiB writes", bad);
}

TEST_F(vm_access, anon_both_ways)
{
	struct lazymap_vm_stats st;
	uint8_t *p = anon(self, 2 * SZ_1M);

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 2 * SZ_1M, p));
	both_ways(_metadata, self, p, 2 * SZ_1M);
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(2 * SZ_1M / PG, st.s2_pages);
	EXPECT_EQ(0ULL, st.mmio_exits);
	EXPECT_EQ(0ULL, st.memory_faults);
}

TEST_F(vm_access, memfd_both_ways)
{
	uint8_t *p, back[64];
	int fd;

	fd = memfd_create("vm_access", MFD_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 2 * SZ_1M));
	p = mmap(NULL, 2 * SZ_1M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->map = p;
	self->map_len = 2 * SZ_1M;
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 2 * SZ_1M, p));
	both_ways(_metadata, self, p, 2 * SZ_1M);
	/* ACCESS wrote the file's page cache: read(2) sees it too. */
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + SZ_1M + 10, 3, "abc", NULL));
	ASSERT_EQ(64, pread(fd, back, 64, SZ_1M));
	EXPECT_EQ(0, memcmp(back + 10, "abc", 3));
	/* And write(2) is what ACCESS reads. */
	ASSERT_EQ(3, pwrite(fd, "xyz", 3, 5 * PG));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 5 * PG, 3, back, NULL));
	EXPECT_EQ(0, memcmp(back, "xyz", 3));
	close(fd);
}

/* One slot over an anonymous and a memfd mapping side by side. */
TEST_F(vm_access, two_mmaps_one_slot)
{
	uint8_t *p;
	int fd;

	p = anon(self, 2 * SZ_1M);
	ASSERT_NE(NULL, p);
	fd = memfd_create("vm_access", MFD_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, SZ_1M));
	ASSERT_EQ(p + SZ_1M, mmap(p + SZ_1M, SZ_1M, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_FIXED, fd, 0));
	close(fd);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 2 * SZ_1M, p));
	both_ways(_metadata, self, p, 2 * SZ_1M);
}

/*
 * One access across two adjacent slots (anonymous memory, then a memfd)
 * over stage-2 entries present and missing in turn: every third page is
 * warmed first, so each hold of mmu_lock copies the mapped pages it finds
 * and stops at one it must fault in; the run ends at the slot's end and
 * goes on in the next.
 */
TEST_F(vm_access, adjacent_slots_warm_and_cold)
{
	const size_t start = SZ_1M / 2 + 100;
	struct lazymap_vm_exit exit;
	struct lazymap_vm_stats st;
	unsigned long long warm = 0, cold = 0;
	uint8_t *p, *q;
	size_t off;
	long bad;
	int fd;

	p = anon(self, SZ_1M);
	ASSERT_NE(NULL, p);
	fd = memfd_create("vm_access", MFD_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, SZ_1M));
	q = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, q);
	lmvm_pat_fill(p, SZ_1M, 0, 6);
	lmvm_pat_fill(q, SZ_1M, SZ_1M, 6);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, SZ_1M, p));
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 1, 0, GPA + SZ_1M, SZ_1M, q));

	for (off = 0; off < 2 * SZ_1M; off += 3 * PG, warm++)
		ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + off, 1, self->buf,
				       NULL));
	for (off = start & ~(PG - 1); off < start + SZ_1M; off += PG)
		cold += (off / PG) % 3 != 0;
	memset(self->buf, 0, SZ_1M);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + start, SZ_1M, self->buf,
			       &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(GPA + start + SZ_1M, exit.gpa);
	bad = lmvm_pat_check(self->buf, SZ_1M, start, 6);
	EXPECT_EQ(-1, bad) TH_LOG("byte %ld of the read", bad);
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(warm + cold, st.s2_faults[0]);

	/* Back the other way, every page now mapped, into both slots. */
	lmvm_pat_fill(self->buf, SZ_1M, start, 7);
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + start, SZ_1M, self->buf,
				&exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	bad = lmvm_pat_check(p + start, SZ_1M - start, start, 7);
	EXPECT_EQ(-1, bad) TH_LOG("byte %ld of slot 0", bad);
	bad = lmvm_pat_check(q, start, SZ_1M, 7);
	EXPECT_EQ(-1, bad) TH_LOG("byte %ld of slot 1", bad);
	EXPECT_EQ(lmvm_pat(start - 1, 6), p[start - 1]);
	EXPECT_EQ(lmvm_pat(SZ_1M + start, 6), q[start]);
	munmap(q, SZ_1M);
}

/* No slot, gaps, below every base: MMIO, after serving what is memory. */
TEST_F(vm_access, mmio_exits)
{
	struct lazymap_vm_exit exit;
	struct lazymap_vm_stats st;
	uint8_t *p = anon(self, 2 * SZ_1M);
	long bad;

	ASSERT_NE(NULL, p);
	/* No slot at all. */
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, 16, self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(GPA, exit.gpa);
	EXPECT_EQ(16ULL, exit.size);
	EXPECT_EQ(R, exit.flags);

	/* Slots [GPA, GPA + 1M) and [GPA + 2M, GPA + 3M). */
	lmvm_pat_fill(p, 2 * SZ_1M, 0, 3);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, SZ_1M, p));
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 1, 0, GPA + SZ_2M, SZ_1M,
				     p + SZ_1M));
	/* Below every base. */
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, 0, 8, self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(0ULL, exit.gpa);
	/* Ending at a slot's base: MMIO from the start. */
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA - 8, 16, self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(GPA - 8, exit.gpa);
	EXPECT_EQ(16ULL, exit.size);
	/* Across the end of slot 0: its last page served, then MMIO. */
	memset(self->buf, 0, 2 * PG);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + SZ_1M - PG, 2 * PG,
			       self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(GPA + SZ_1M, exit.gpa);
	EXPECT_EQ(PG, exit.size);
	EXPECT_EQ(R, exit.flags);
	bad = lmvm_pat_check(self->buf, PG, SZ_1M - PG, 3);
	EXPECT_EQ(-1, bad) TH_LOG("byte %ld of the served page", bad);
	/* In the gap. */
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + SZ_1M + 5, 1, self->buf,
				&exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(GPA + SZ_1M + 5, exit.gpa);
	EXPECT_EQ(1ULL, exit.size);
	EXPECT_EQ(W, exit.flags);
	/* Above the last. */
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 3 * SZ_1M, 1, self->buf,
			       &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(6ULL, st.mmio_exits);
	EXPECT_EQ(0ULL, st.memory_faults);
}

/*
 * A WRITE running from a slot into a gap: the slot's part is written, the
 * exit asks the VMM to emulate the rest, whose data is at data + exit.gpa
 * - gpa.  A WRITE to a READONLY slot is MMIO as a whole, memory untouched;
 * reads of it are memory.
 */
TEST_F(vm_access, mmio_write_data_offset_and_readonly)
{
	struct lazymap_vm_exit exit;
	uint8_t *p = anon(self, 2 * SZ_1M);
	size_t served;

	ASSERT_NE(NULL, p);
	memset(p, 0, 2 * SZ_1M);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, SZ_1M, p));
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 1, LAZYMAP_VM_MEM_READONLY,
				     GPA + SZ_2M, SZ_1M, p + SZ_1M));
	lmvm_pat_fill(self->buf, 3 * PG, 0, 4);
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + SZ_1M - PG - 100, 3 * PG,
				self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(GPA + SZ_1M, exit.gpa);
	served = exit.gpa - (GPA + SZ_1M - PG - 100);
	EXPECT_EQ(PG + 100, served);
	EXPECT_EQ(3 * PG - served, exit.size);
	EXPECT_EQ(W, exit.flags);
	EXPECT_EQ(-1, lmvm_pat_check(p + SZ_1M - PG - 100, served, 0, 4));
	/* The bytes to emulate: the rest of the buffer. */
	EXPECT_EQ(-1, lmvm_pat_check(self->buf + served, exit.size, served, 4));

	/* READONLY slot. */
	p[SZ_1M + 9] = 0x99;
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + SZ_2M + 8, 4, "abcd",
				&exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(GPA + SZ_2M + 8, exit.gpa);
	EXPECT_EQ(4ULL, exit.size);
	EXPECT_EQ(W, exit.flags);
	EXPECT_EQ(0x99, p[SZ_1M + 9]);
	EXPECT_EQ(0, p[SZ_1M + 8]);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + SZ_2M + 9, 1, self->buf,
			       &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(0x99, self->buf[0]);
}

/* Host memory that cannot fault in: MEMORY_FAULT, -EFAULT. */
TEST_F(vm_access, memory_fault_exits)
{
	struct lazymap_vm_exit exit;
	struct lazymap_vm_stats st;
	uint8_t *p = anon(self, 8 * PG);
	long bad;

	ASSERT_NE(NULL, p);
	lmvm_pat_fill(p, 8 * PG, 0, 5);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 8 * PG, p));
	ASSERT_EQ(0, munmap(p + 2 * PG, PG));
	ASSERT_EQ(0, mprotect(p + 4 * PG, PG, PROT_NONE));
	ASSERT_EQ(0, mprotect(p + 6 * PG, PG, PROT_READ));

	/* munmap'd: pages 0-1 served, then the exit. */
	memset(self->buf, 0, 4 * PG);
	ASSERT_EQ(-EFAULT, lmvm_read(self->vcpu_fd, GPA, 4 * PG, self->buf,
				     &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
	EXPECT_EQ(GPA + 2 * PG, exit.gpa);
	EXPECT_EQ(2 * PG, exit.size);
	EXPECT_EQ(R, exit.flags);
	bad = lmvm_pat_check(self->buf, 2 * PG, 0, 5);
	EXPECT_EQ(-1, bad) TH_LOG("served byte %ld", bad);
	/* PROT_NONE, read and write. */
	ASSERT_EQ(-EFAULT, lmvm_read(self->vcpu_fd, GPA + 4 * PG + 1, 2,
				     self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
	EXPECT_EQ(GPA + 4 * PG + 1, exit.gpa);
	EXPECT_EQ(2ULL, exit.size);
	ASSERT_EQ(-EFAULT, lmvm_write(self->vcpu_fd, GPA + 4 * PG, 1,
				      self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
	EXPECT_EQ(W, exit.flags);
	/* Read-only host memory: reads fine, writes fault. */
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 6 * PG, PG, self->buf,
			       &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(-1, lmvm_pat_check(self->buf, PG, 6 * PG, 5));
	ASSERT_EQ(-EFAULT, lmvm_write(self->vcpu_fd, GPA + 6 * PG + 7, 1,
				      self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
	EXPECT_EQ(GPA + 6 * PG + 7, exit.gpa);
	EXPECT_EQ(W, exit.flags);
	EXPECT_EQ(lmvm_pat(6 * PG + 7, 5), p[6 * PG + 7]);
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(4ULL, st.memory_faults);
	EXPECT_EQ(0ULL, st.mmio_exits);
}

/* The caller's data buffer faults: EFAULT with no exit. */
TEST_F(vm_access, bad_data_buffer)
{
	struct lazymap_vm_exit exit;
	uint8_t *p = anon(self, 4 * PG);
	uint8_t *ro;

	ASSERT_NE(NULL, p);
	memset(p, 0x11, 4 * PG);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 4 * PG, p));
	ASSERT_EQ(-EFAULT, lmvm_read(self->vcpu_fd, GPA, 16, NULL, &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	ASSERT_EQ(-EFAULT, lmvm_write(self->vcpu_fd, GPA, 16, NULL, &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(0x11, p[0]);
	/* A READ into read-only memory. */
	ro = self->buf + SZ_1M;
	ASSERT_EQ(0, mprotect(ro, PG, PROT_READ));
	ASSERT_EQ(-EFAULT, lmvm_read(self->vcpu_fd, GPA, 16, ro, &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	/* A buffer running into an unmapped page. */
	ASSERT_EQ(0, munmap(ro, PG));
	ASSERT_EQ(-EFAULT, lmvm_read(self->vcpu_fd, GPA, 2 * PG, ro - PG,
				     &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	ASSERT_EQ(-EFAULT, lmvm_write(self->vcpu_fd, GPA, 2 * PG, ro - PG,
				      &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
}

/*
 * Populate @pages pages at GPA by reading them: each must read
 * pattern @gen.
 */
static void populate(struct __test_metadata *_metadata,
		     FIXTURE_DATA(vm_access) *self, size_t pages,
		     unsigned int gen)
{
	struct lazymap_vm_exit exit;

	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, pages * PG, self->buf,
			       &exit));
	ASSERT_EQ(LMVM_EXIT_NONE, exit.reason);
	ASSERT_EQ(-1, lmvm_pat_check(self->buf, pages * PG, 0, gen));
}

/* munmap drops the entries; a new mapping there is what ACCESS sees. */
TEST_F(vm_access, invalidate_munmap)
{
	struct lazymap_vm_stats st0, st;
	struct lazymap_vm_exit exit;
	uint8_t *p = anon(self, 16 * PG), *q;

	ASSERT_NE(NULL, p);
	lmvm_pat_fill(p, 16 * PG, 0, 6);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 16 * PG, p));
	populate(_metadata, self, 16, 6);
	st0 = stats(_metadata, self->vm_fd);
	EXPECT_EQ(16ULL, st0.s2_pages);
	EXPECT_EQ(16ULL, st0.s2_faults[0]);

	ASSERT_EQ(0, munmap(p + 4 * PG, 4 * PG));
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(st0.s2_invalidated + 4, st.s2_invalidated);
	EXPECT_EQ(12ULL, st.s2_pages);
	ASSERT_EQ(-EFAULT, lmvm_read(self->vcpu_fd, GPA + 5 * PG, 1,
				     self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);

	q = mmap(p + 4 * PG, 4 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(p + 4 * PG, q);
	lmvm_pat_fill(q, 4 * PG, 4 * PG, 7);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 4 * PG, 4 * PG, self->buf,
			       &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(-1, lmvm_pat_check(self->buf, 4 * PG, 4 * PG, 7));
	/* The rest kept its entries: no new faults for it. */
	st = stats(_metadata, self->vm_fd);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, 4 * PG, self->buf, &exit));
	EXPECT_EQ(-1, lmvm_pat_check(self->buf, 4 * PG, 0, 6));
	EXPECT_EQ(st.s2_faults[0], stats(_metadata, self->vm_fd).s2_faults[0]);
	EXPECT_EQ(16ULL, stats(_metadata, self->vm_fd).s2_pages);
}

/*
 * MADV_DONTNEED frees anonymous pages: stage 2 must not keep them; the
 * next ACCESS sees the zero-filled memory the host sees.
 */
TEST_F(vm_access, invalidate_dontneed)
{
	struct lazymap_vm_stats st0, st;
	struct lazymap_vm_exit exit;
	uint8_t *p = anon(self, 16 * PG);

	ASSERT_NE(NULL, p);
	lmvm_pat_fill(p, 16 * PG, 0, 8);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 16 * PG, p));
	populate(_metadata, self, 16, 8);
	st0 = stats(_metadata, self->vm_fd);
	ASSERT_EQ(0, madvise(p, 8 * PG, MADV_DONTNEED));
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(st0.s2_invalidated + 8, st.s2_invalidated);
	EXPECT_EQ(8ULL, st.s2_pages);
	memset(self->buf, 0xff, 8 * PG);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, 8 * PG, self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(-1, first_mismatch(self->buf, 8 * PG, 0));
	/* Written by the guest now, seen by the host. */
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 3 * PG, 4, "guex", &exit));
	EXPECT_EQ(0, memcmp(p + 3 * PG, "guex", 4));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 8 * PG, 8 * PG, self->buf,
			       &exit));
	EXPECT_EQ(-1, lmvm_pat_check(self->buf, 8 * PG, 8 * PG, 8));
}

/* mprotect(PROT_READ) takes write access away from stage 2 too. */
TEST_F(vm_access, invalidate_mprotect)
{
	struct lazymap_vm_stats st0, st;
	struct lazymap_vm_exit exit;
	uint8_t *p = anon(self, 16 * PG);

	ASSERT_NE(NULL, p);
	memset(p, 0, 16 * PG);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 16 * PG, p));
	lmvm_pat_fill(self->buf, 16 * PG, 0, 9);
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA, 16 * PG, self->buf, &exit));
	ASSERT_EQ(LMVM_EXIT_NONE, exit.reason);
	st0 = stats(_metadata, self->vm_fd);
	EXPECT_EQ(16ULL, st0.s2_pages);

	ASSERT_EQ(0, mprotect(p, 16 * PG, PROT_READ));
	st = stats(_metadata, self->vm_fd);
	EXPECT_LT(st0.s2_invalidated, st.s2_invalidated);
	ASSERT_EQ(-EFAULT, lmvm_write(self->vcpu_fd, GPA + 3 * PG, 1,
				      self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
	EXPECT_EQ(lmvm_pat(3 * PG, 9), p[3 * PG]);
	populate(_metadata, self, 16, 9);

	ASSERT_EQ(0, mprotect(p, 16 * PG, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 3 * PG, 1, "z", &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ('z', p[3 * PG]);
}

/*
 * fork() makes the parent's anonymous pages copy-on-write, write-protecting
 * them: stage 2 drops its entries of them.  An entry faulted in again maps
 * the page now shared with the child; the parent's next host write copies
 * it, and stage 2 must follow.  A guest write after fork() breaks COW for
 * the parent, like a host write, and leaves the child's copy alone.
 */
TEST_F(vm_access, invalidate_fork_cow)
{
	struct lazymap_vm_stats st0, st;
	struct lazymap_vm_exit exit;
	uint8_t *p = anon(self, 16 * PG);
	int to_child[2], status;
	pid_t pid;
	char c;

	ASSERT_NE(NULL, p);
	lmvm_pat_fill(p, 16 * PG, 0, 10);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 16 * PG, p));
	populate(_metadata, self, 16, 10);
	st0 = stats(_metadata, self->vm_fd);
	ASSERT_EQ(0, pipe(to_child));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* The child's copy stays as it was at fork time. */
		close(to_child[1]);
		if (read(to_child[0], &c, 1) != 1)
			_exit(2);
		_exit(lmvm_pat_check(p, 16 * PG, 0, 10) == -1 ? 0 : 1);
	}
	close(to_child[0]);
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(st0.s2_invalidated + 16, st.s2_invalidated)
		TH_LOG("fork() write-protected the pages: their entries go");

	/* Mapped again: the page the child shares. */
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 2 * PG, PG, self->buf,
			       &exit));
	ASSERT_EQ(-1, lmvm_pat_check(self->buf, PG, 2 * PG, 10));
	st0 = stats(_metadata, self->vm_fd);
	/* Host write in the parent: page 2 is copied, the entry goes. */
	p[2 * PG + 5] = 0xee;
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(st0.s2_invalidated + 1, st.s2_invalidated);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 2 * PG + 5, 1, self->buf,
			       &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(0xee, self->buf[0]);
	/* Guest write: page 7 is copied for the parent. */
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 7 * PG + 1, 2, "gw",
				&exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(0, memcmp(p + 7 * PG + 1, "gw", 2));

	ASSERT_EQ(1, write(to_child[1], "x", 1));
	close(to_child[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("the child's copy changed (1) or it failed (2)");
	/* The parent's other pages are still the same. */
	populate(_metadata, self, 2, 10);
}

/* --- slot lock ------------------------------------------------------- */

/*
 * LOCK pins and premaps the whole slot with its perm, accounted as
 * VmLck; accesses then fault nothing in.  UNLOCK unpins and unaccounts;
 * stage 2 stays until invalidated.
 */
TEST_F(vm_access, lock_premaps_and_accounts)
{
	struct lazymap_vm_stats st;
	struct lazymap_vm_exit exit;
	uint8_t *p = anon(self, 64 * PG);
	long long lck0 = lmvm_status_kb("VmLck");

	ASSERT_NE(NULL, p);
	ASSERT_LE(0, lck0);
	lmvm_pat_fill(p, 64 * PG, 0, 11);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 64 * PG, p));
	ASSERT_EQ(0, lmvm_lock(self->vm_fd, 0, LAZYMAP_VM_LOCK_MEM_READ |
						LAZYMAP_VM_LOCK_MEM_WRITE));
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(64ULL, st.locked_pages);
	EXPECT_EQ(64ULL, st.s2_pages);
	EXPECT_EQ(lck0 + 64 * 4, lmvm_status_kb("VmLck"));

	populate(_metadata, self, 64, 11);
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 9, 2, "lk", &exit));
	EXPECT_EQ(0, memcmp(p + 9, "lk", 2));
	EXPECT_EQ(st.s2_faults[0], stats(_metadata, self->vm_fd).s2_faults[0]);
	EXPECT_EQ(st.s2_faults[1], stats(_metadata, self->vm_fd).s2_faults[1]);

	ASSERT_EQ(0, lmvm_unlock(self->vm_fd, 0, false));
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(0ULL, st.locked_pages);
	EXPECT_EQ(64ULL, st.s2_pages);
	EXPECT_EQ(lck0, lmvm_status_kb("VmLck"));
	/* Unlocked, the entries now go with the host's. */
	ASSERT_EQ(0, madvise(p, 64 * PG, MADV_DONTNEED));
	EXPECT_EQ(0ULL, stats(_metadata, self->vm_fd).s2_pages);
}

/* A slot locked READ only: a guest WRITE is a MEMORY_FAULT. */
TEST_F(vm_access, lock_read_only_perm)
{
	struct lazymap_vm_exit exit;
	uint8_t *p = anon(self, 8 * PG);

	ASSERT_NE(NULL, p);
	memset(p, 0x42, 8 * PG);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 8 * PG, p));
	ASSERT_EQ(0, lmvm_lock(self->vm_fd, 0, LAZYMAP_VM_LOCK_MEM_READ));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, 8 * PG, self->buf, &exit));
	EXPECT_EQ(-1, first_mismatch(self->buf, 8 * PG, 0x42));
	ASSERT_EQ(-EFAULT, lmvm_write(self->vcpu_fd, GPA + PG, 1, "w", &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
	EXPECT_EQ(GPA + PG, exit.gpa);
	EXPECT_EQ(W, exit.flags);
	EXPECT_EQ(0x42, p[PG]);
	/* Unlocked, the slot is writable again. */
	ASSERT_EQ(0, lmvm_unlock(self->vm_fd, 0, true));
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + PG, 1, "w", &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ('w', p[PG]);
}

/*
 * RLIMIT_MEMLOCK without CAP_IPC_LOCK, in a child that dropped the
 * capability (and so has its own VM): locks beyond the limit are ENOMEM,
 * counting every locked slot of the mm; unlock gives the room back.  With
 * the capability the limit does not apply.  Returns the failed step.
 */
static int memlock_child(bool drop_cap)
{
	struct rlimit rl = { 64 * PG, 64 * PG };
	struct lazymap_vm_stats st;
	int dev_fd, vm_fd, ret;
	uint8_t *p;

	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return 1;
	if (drop_cap && lmvm_drop_cap(CAP_IPC_LOCK))
		return 2;
	p = mmap(NULL, 256 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 3;
	memset(p, 1, 256 * PG);
	dev_fd = lmvm_open_dev();
	if (dev_fd < 0)
		return 4;
	vm_fd = lmvm_create_vm(dev_fd, 0);
	if (vm_fd < 0)
		return 5;
	if (lmvm_set_region(vm_fd, 0, 0, 0, 32 * PG, p) ||
	    lmvm_set_region(vm_fd, 1, 0, SZ_1M, 64 * PG, p + 32 * PG) ||
	    lmvm_set_region(vm_fd, 2, 0, SZ_2M, 128 * PG, p + 96 * PG))
		return 6;
	if (lmvm_lock(vm_fd, 0, LAZYMAP_VM_LOCK_MEM_READ))
		return 7;
	ret = lmvm_lock(vm_fd, 1, LAZYMAP_VM_LOCK_MEM_READ);
	if (!drop_cap) {
		/* CAP_IPC_LOCK: 32 + 64 + 128 pages over a 64-page limit. */
		if (ret || lmvm_lock(vm_fd, 2, LAZYMAP_VM_LOCK_MEM_READ))
			return 8;
		if (lmvm_stats(vm_fd, &st) || st.locked_pages != 224)
			return 9;
		return 0;
	}
	if (ret != -ENOMEM)
		return 10;
	if (lmvm_lock(vm_fd, 2, LAZYMAP_VM_LOCK_MEM_READ) != -ENOMEM)
		return 11;
	if (lmvm_stats(vm_fd, &st) || st.locked_pages != 32)
		return 12;
	if (lmvm_status_kb("VmLck") != 32 * 4)
		return 13;
	if (lmvm_unlock(vm_fd, 0, false))
		return 14;
	if (lmvm_lock(vm_fd, 1, LAZYMAP_VM_LOCK_MEM_READ))
		return 15;
	/* Exactly at the limit; one more page is too many. */
	if (lmvm_lock(vm_fd, 0, LAZYMAP_VM_LOCK_MEM_READ) != -ENOMEM)
		return 16;
	if (lmvm_stats(vm_fd, &st) || st.locked_pages != 64)
		return 17;
	close(vm_fd);
	if (lmvm_status_kb("VmLck") != 0)
		return 18;
	return 0;
}

static void run_memlock_child(struct __test_metadata *_metadata,
			      bool drop_cap)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(memlock_child(drop_cap));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("memlock_child(%d) failed at step %d", drop_cap,
		       WEXITSTATUS(status));
}

TEST_F(vm_access, lock_rlimit_without_cap_ipc_lock)
{
	run_memlock_child(_metadata, true);
}

TEST_F(vm_access, lock_rlimit_with_cap_ipc_lock)
{
	run_memlock_child(_metadata, false);
}

/* A failed LOCK (a hole in the middle) pins and accounts nothing. */
TEST_F(vm_access, lock_efault_undoes)
{
	uint8_t *p = anon(self, 64 * PG);
	long long lck0 = lmvm_status_kb("VmLck");

	ASSERT_NE(NULL, p);
	memset(p, 1, 64 * PG);
	ASSERT_EQ(0, munmap(p + 40 * PG, PG));
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 64 * PG, p));
	EXPECT_EQ(-EFAULT, lmvm_lock(self->vm_fd, 0, LAZYMAP_VM_LOCK_MEM_READ));
	EXPECT_EQ(0ULL, stats(_metadata, self->vm_fd).locked_pages);
	EXPECT_EQ(lck0, lmvm_status_kb("VmLck"));
	/* Read-only host memory cannot be locked for WRITE. */
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 1, 0, 0, 16 * PG, p));
	ASSERT_EQ(0, mprotect(p, 16 * PG, PROT_READ));
	EXPECT_EQ(-EFAULT, lmvm_lock(self->vm_fd, 1, LAZYMAP_VM_LOCK_MEM_READ |
						     LAZYMAP_VM_LOCK_MEM_WRITE));
	EXPECT_EQ(0, lmvm_lock(self->vm_fd, 1, LAZYMAP_VM_LOCK_MEM_READ));
	EXPECT_EQ(16ULL, stats(_metadata, self->vm_fd).locked_pages);
	EXPECT_EQ(lck0 + 16 * 4, lmvm_status_kb("VmLck"));
}

/* --- dirty log ------------------------------------------------------- */

static bool test_bit(const uint64_t *bitmap, unsigned int nr)
{
	return bitmap[nr / 64] >> (nr % 64) & 1;
}

TEST_F(vm_access, dirty_log)
{
	static const unsigned int written[] = { 0, 5, 10, 11, 63, 64, 99 };
	struct lazymap_vm_exit exit;
	uint8_t *p = anon(self, 100 * PG);
	uint64_t *bitmap;
	unsigned int i, j;

	ASSERT_NE(NULL, p);
	memset(p, 0, 100 * PG);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0,
				     LAZYMAP_VM_MEM_LOG_DIRTY_PAGES, GPA,
				     100 * PG, p));
	/* 100 pages: two u64s, right before a page with no access. */
	bitmap = (uint64_t *)(self->buf + SZ_1M - 16);
	ASSERT_EQ(0, mprotect(self->buf + SZ_1M, PG, PROT_NONE));
	ASSERT_EQ(0, lmvm_dirty_log(self->vm_fd, 0, bitmap));
	EXPECT_EQ(0ULL, bitmap[0] | bitmap[1]);

	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA, 1, "a", &exit));
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 5 * PG + 9, 1, "b", &exit));
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 11 * PG - 1, 2, "cd",
				&exit));
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 64 * PG - 2, 4, "efgh",
				&exit));
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 100 * PG - 1, 1, "i",
				&exit));
	/* Reads and host writes dirty nothing. */
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 20 * PG, 8 * PG, self->buf,
			       &exit));
	p[30 * PG] = 1;
	memset(bitmap, 0xff, 16);
	ASSERT_EQ(0, lmvm_dirty_log(self->vm_fd, 0, bitmap));
	for (i = 0, j = 0; i < 100; i++) {
		bool want = j < ARRAY_SIZE(written) && written[j] == i;

		EXPECT_EQ(want, test_bit(bitmap, i)) TH_LOG("page %u", i);
		j += want;
	}
	EXPECT_EQ(0ULL, bitmap[1] >> 36) TH_LOG("bits past the last page");
	EXPECT_EQ('i', p[100 * PG - 1]);

	/* Read and cleared: the next call has nothing, until a new write. */
	ASSERT_EQ(0, lmvm_dirty_log(self->vm_fd, 0, bitmap));
	EXPECT_EQ(0ULL, bitmap[0] | bitmap[1]);
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 5 * PG, 1, "b", &exit));
	ASSERT_EQ(0, lmvm_dirty_log(self->vm_fd, 0, bitmap));
	EXPECT_EQ(1ULL << 5, bitmap[0]);
	EXPECT_EQ(0ULL, bitmap[1]);
}

/* LOG_DIRTY_PAGES turned on and off by a FLAGS_ONLY change. */
TEST_F(vm_access, dirty_log_flags_only)
{
	struct lazymap_vm_exit exit;
	uint8_t *p = anon(self, 64 * PG);
	uint64_t bitmap[1];

	ASSERT_NE(NULL, p);
	memset(p, 0, 64 * PG);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 64 * PG, p));
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA, 1, "a", &exit));
	EXPECT_EQ(-ENOENT, lmvm_dirty_log(self->vm_fd, 0, bitmap));
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0,
				     LAZYMAP_VM_MEM_LOG_DIRTY_PAGES, GPA,
				     64 * PG, p));
	ASSERT_EQ(0, lmvm_dirty_log(self->vm_fd, 0, bitmap));
	EXPECT_EQ(0ULL, bitmap[0]);
	/* A page stage 2 mapped writable before: still logged. */
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 1, 1, "b", &exit));
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA + 63 * PG, 1, "c", &exit));
	ASSERT_EQ(0, lmvm_dirty_log(self->vm_fd, 0, bitmap));
	EXPECT_EQ(1ULL | 1ULL << 63, bitmap[0]);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 64 * PG, p));
	EXPECT_EQ(-ENOENT, lmvm_dirty_log(self->vm_fd, 0, bitmap));
}

/* --- teardown -------------------------------------------------------- */

/*
 * A VM with two slots (anonymous and memfd), the first locked (so
 * premapped), the second dirty-logged and written: the memory in *@mem
 * (2 MiB), the VM's vCPU in *@vcpu_fd.
 */
static int busy_vm(int dev_fd, uint8_t **mem, int *vcpu_fd)
{
	struct lazymap_vm_exit exit;
	uint8_t buf[64];
	int vm_fd, fd;
	uint8_t *p;

	p = mmap(NULL, 2 * SZ_1M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	fd = memfd_create("busy_vm", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, SZ_1M) ||
	    mmap(p + SZ_1M, SZ_1M, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
		return -errno;
	close(fd);
	memset(p, 0x77, 2 * SZ_1M);
	vm_fd = lmvm_create_vm(dev_fd, 0);
	if (vm_fd < 0)
		return vm_fd;
	if (lmvm_set_region(vm_fd, 0, 0, GPA, SZ_1M, p) ||
	    lmvm_set_region(vm_fd, 1, LAZYMAP_VM_MEM_LOG_DIRTY_PAGES,
			    GPA + SZ_1M, SZ_1M, p + SZ_1M) ||
	    lmvm_lock(vm_fd, 0, LAZYMAP_VM_LOCK_MEM_READ |
				LAZYMAP_VM_LOCK_MEM_WRITE))
		return -EPROTO;
	*vcpu_fd = lmvm_create_vcpu(vm_fd, 0);
	if (*vcpu_fd < 0)
		return *vcpu_fd;
	if (lmvm_read(*vcpu_fd, GPA + SZ_1M - 64, 64, buf, &exit) ||
	    lmvm_write(*vcpu_fd, GPA + SZ_1M + 8, 64, buf, &exit))
		return -EPROTO;
	*mem = p;
	return vm_fd;
}

enum { VM_FIRST, VCPU_FIRST, UNMAP_FIRST, DEV_FIRST };

static void teardown_order(struct __test_metadata *_metadata,
			   FIXTURE_DATA(vm_access) *self, int order)
{
	long long lck0 = lmvm_status_kb("VmLck");
	struct lazymap_vm_exit exit;
	int vm_fd, vcpu_fd;
	uint8_t *mem, v;

	vm_fd = busy_vm(self->dev_fd, &mem, &vcpu_fd);
	ASSERT_LE(0, vm_fd) TH_LOG("busy_vm: %s", strerror(-vm_fd));
	EXPECT_EQ(lck0 + 256 * 4, lmvm_status_kb("VmLck"));
	switch (order) {
	case VM_FIRST:
		/* The vCPU holds the VM: it still runs. */
		close(vm_fd);
		ASSERT_EQ(0, lmvm_read(vcpu_fd, GPA + 5, 1, &v, &exit));
		EXPECT_EQ(0x77, v);
		close(vcpu_fd);
		munmap(mem, 2 * SZ_1M);
		break;
	case VCPU_FIRST:
		close(vcpu_fd);
		close(vm_fd);
		munmap(mem, 2 * SZ_1M);
		break;
	case UNMAP_FIRST:
		munmap(mem, 2 * SZ_1M);
		ASSERT_EQ(-EFAULT, lmvm_read(vcpu_fd, GPA + SZ_1M, 1, &v, &exit));
		EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
		close(vcpu_fd);
		close(vm_fd);
		break;
	case DEV_FIRST:
		close(self->dev_fd);
		self->dev_fd = -1;
		close(vm_fd);
		close(vcpu_fd);
		munmap(mem, 2 * SZ_1M);
		break;
	}
	EXPECT_EQ(lck0, lmvm_status_kb("VmLck"));
}

TEST_F(vm_access, teardown_vm_fd_first)
{
	teardown_order(_metadata, self, VM_FIRST);
}

TEST_F(vm_access, teardown_vcpu_fd_first)
{
	teardown_order(_metadata, self, VCPU_FIRST);
}

TEST_F(vm_access, teardown_memory_first)
{
	teardown_order(_metadata, self, UNMAP_FIRST);
}

TEST_F(vm_access, teardown_device_fd_first)
{
	teardown_order(_metadata, self, DEV_FIRST);
}

/*
 * A process exits with everything open, locked and populated; then
 * another forks while its VM is busy and exits at once.  The exit paths
 * (mm teardown before the files' release) must leak nothing: kmemleak
 * and the kernel log are checked by the harness.
 */
TEST_F(vm_access, teardown_process_exit)
{
	int status, vm_fd, vcpu_fd, round;
	uint8_t *mem;
	pid_t pid;

	for (round = 0; round < 2; round++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			vm_fd = busy_vm(self->dev_fd, &mem, &vcpu_fd);
			if (vm_fd < 0)
				_exit(1);
			if (round && fork() == 0)
				_exit(0);
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status));
	}
	/* Whatever the children left behind, this VM still works. */
	vm_fd = busy_vm(self->dev_fd, &mem, &vcpu_fd);
	ASSERT_LE(0, vm_fd);
	close(vcpu_fd);
	close(vm_fd);
	munmap(mem, 2 * SZ_1M);
}

/* --- huge entries ---------------------------------------------------- */

/* THP-backed memory maps with 2 MiB entries (needs THP: QEMU stage). */
TEST_F(vm_access, thp_2m_entries)
{
	struct lazymap_vm_stats st;
	unsigned long long kb = 0;
	uint8_t *r, *p;

	r = anon(self, 8 * SZ_2M);
	ASSERT_NE(NULL, r);
	p = (uint8_t *)(((uintptr_t)r + SZ_2M - 1) & ~(SZ_2M - 1));
	if (madvise(p, 4 * SZ_2M, MADV_HUGEPAGE))
		SKIP(return, "no THP: madvise(MADV_HUGEPAGE): %s", strerror(errno));
	lmvm_pat_fill(p, 4 * SZ_2M, 0, 12);
	/* The VMA from p on (a split of the reservation) holds the THPs. */
	if (lm_smaps_kb(p, "AnonHugePages", &kb) || kb < 4 * SZ_2M / 1024)
		SKIP(return, "memory not THP-backed (AnonHugePages %llu kB)", kb);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, GPA, 4 * SZ_2M, p));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, SZ_1M, self->buf, NULL));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + SZ_2M + 5, 1, self->buf,
			       NULL));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 3 * SZ_2M, SZ_1M, self->buf,
			       NULL));
	EXPECT_EQ(-1, lmvm_pat_check(self->buf, SZ_1M, 3 * SZ_2M, 12));
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(3ULL, st.s2_faults[1]);
	EXPECT_EQ(0ULL, st.s2_faults[0]);
	EXPECT_EQ(3 * SZ_2M / PG, st.s2_pages);
	/* Splitting a huge page's host mapping takes its entry. */
	ASSERT_EQ(0, munmap(p + SZ_2M + PG, PG));
	st = stats(_metadata, self->vm_fd);
	EXPECT_EQ(2 * SZ_2M / PG, st.s2_pages);
}

TEST_HARNESS_MAIN
