// SPDX-License-Identifier: GPL-2.0
/*
 * Sweep the allocation-failure paths of every VM and vCPU ioctl of
 * /dev/lazymap-vm with fail-nth (fail_nth_util.h), as lazymap_fail_nth.c
 * does for the core.
 *
 * Each sweep runs its operation once without fault injection, then again
 * with the 1st, 2nd, 3rd ... slab allocation of the thread failed (the
 * "persistent" variant: every allocation from the n-th on), on a fresh
 * fixture each time, until an iteration no longer reaches the failing
 * allocation.  The operation must succeed or fail with ENOMEM, and a
 * failed one must leave the state as it was: no fd installed, no slot
 * created, deleted or moved, nothing locked or unlocked, no dirty bit
 * lost; a failed ACCESS succeeds when retried.  Leaks and splats are left
 * to kmemleak and the harness's log scan.
 *
 * The fixture owns a VM, a vCPU and 256 KiB of anonymous memory holding a
 * pattern, all of it faulted in before any sweep: a page fault that fails
 * an allocation is VM_FAULT_OOM (the OOM killer), not an error an ioctl
 * returns, so pages are only touched with fail-nth disarmed.  Operations
 * that allocate nothing (GET_STATS, CHECK_EXTENSION, UNLOCK, deleting or
 * moving a slot) are swept too, and must then simply never fail.
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

/*
 * -Wunused-parameter stays off for the whole file: 6.12's harness needs it,
 * and so do the sweeps, whose bodies use what they need of TEST_FAIL_NTH()'s
 * parameters.
 */
#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "fail_nth_util.h"
#include "lazymap_vm_util.h"

#define MEM_LEN		(SZ_1M / 4)	/* 64 pages: one word of dirty bitmap */
#define MEM_PAGES	(MEM_LEN / PG)
#define GPA		0x100000000ULL
#define GPA2		0x200000000ULL

FIXTURE(vm_fail_nth) {
	int dev_fd;
	int vm_fd;
	int vcpu_fd;
	int new_fd;		/* a VM or vCPU the operation created, or -1 */
	uint8_t *mem;		/* MEM_LEN, faulted in, pattern */
	uint8_t *buf;		/* MEM_LEN: ACCESS data */
	int gmem_fd;		/* a guest_memfd of MEM_LEN, or -1 */
	uint8_t *gmem;		/* its host mapping (pattern), or MAP_FAILED */
	long long lck0;		/* VmLck before the fixture */
};

FIXTURE_VARIANT(vm_fail_nth) {
	bool persistent;	/* fail from the n-th allocation on */
};

FIXTURE_VARIANT_ADD(vm_fail_nth, nth) {
	.persistent = false,
};

FIXTURE_VARIANT_ADD(vm_fail_nth, persistent) {
	.persistent = true,
};

static uint8_t pat(size_t i)
{
	return i / PG % 251 + 1;
}

FIXTURE_SETUP(vm_fail_nth)
{
	size_t i;

	self->vm_fd = -1;
	self->vcpu_fd = -1;
	self->new_fd = -1;
	self->gmem_fd = -1;
	self->gmem = MAP_FAILED;
	self->mem = MAP_FAILED;
	self->buf = MAP_FAILED;
	self->lck0 = lmvm_status_kb("VmLck");
	lmvm_setup_vm(_metadata, &self->dev_fd, &self->vm_fd, &self->vcpu_fd);
	self->mem = mmap(NULL, MEM_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	self->buf = mmap(NULL, MEM_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	for (i = 0; i < MEM_LEN; i++)
		self->mem[i] = pat(i);
	memset(self->buf, 0, MEM_LEN);
}

/* Idempotent: TEST_FAIL_NTH() tears down before the harness does. */
FIXTURE_TEARDOWN(vm_fail_nth)
{
	if (self->new_fd >= 0)
		close(self->new_fd);
	if (self->gmem != MAP_FAILED)
		munmap(self->gmem, MEM_LEN);
	if (self->gmem_fd >= 0)
		close(self->gmem_fd);
	if (self->vcpu_fd >= 0)
		close(self->vcpu_fd);
	if (self->vm_fd >= 0)
		close(self->vm_fd);
	if (self->dev_fd >= 0)
		close(self->dev_fd);
	if (self->mem != MAP_FAILED)
		munmap(self->mem, MEM_LEN);
	if (self->buf != MAP_FAILED)
		munmap(self->buf, MEM_LEN);
	self->new_fd = -1;
	self->gmem_fd = -1;
	self->gmem = MAP_FAILED;
	self->vcpu_fd = -1;
	self->vm_fd = -1;
	self->dev_fd = -1;
	self->mem = MAP_FAILED;
	self->buf = MAP_FAILED;
	/* Every lock of the fixture's VM went with it. */
	EXPECT_EQ(self->lck0, lmvm_status_kb("VmLck"));
}

/*
 * TEST_FAIL_NTH(name, allocates) { body }: the sweep of one operation on
 * the vm_fail_nth fixture, see __TEST_FAIL_NTH().
 */
#define TEST_FAIL_NTH(name, allocates)						\
	__TEST_FAIL_NTH(vm_fail_nth, name, allocates, (void)0, (void)0)

/* A slot of the fixture's memory at @gpa, with @flags. */
static void add_slot(struct __test_metadata *_metadata,
		     FIXTURE_DATA(vm_fail_nth) *self, __u32 flags, __u64 gpa)
{
	int ret = lmvm_set_region(self->vm_fd, 0, flags, gpa, MEM_LEN,
				  self->mem);

	ASSERT_EQ(0, ret) TH_LOG("adding the slot: %s", strerror(-ret));
}

/* ACCESS reads the pattern at @gpa (0) or gets MMIO there (1). */
static int probe(FIXTURE_DATA(vm_fail_nth) *self, int vcpu_fd, __u64 gpa)
{
	struct lazymap_vm_exit exit;
	size_t i;
	int ret;

	memset(self->buf, 0, MEM_LEN);
	ret = lmvm_read(vcpu_fd, gpa, MEM_LEN, self->buf, &exit);
	if (ret)
		return ret;
	if (exit.reason == LMVM_EXIT_MMIO && exit.gpa == gpa)
		return 1;
	if (exit.reason != LMVM_EXIT_NONE)
		return -EPROTO;
	for (i = 0; i < MEM_LEN; i += PG / 4)
		if (self->buf[i] != pat(i))
			return -EIO;
	return 0;
}

/* CREATE_VM: a failed one installs no fd; a new VM works. */
TEST_FAIL_NTH(create_vm, true)
{
	int next = lmvm_lowest_free_fd();
	int fd, vcpu;

	fail_nth_enable();
	fd = lmvm_create_vm(self->dev_fd, 0);
	fail_nth_disable();
	if (fd < 0) {
		ASSERT_EQ(next, lmvm_lowest_free_fd())
			TH_LOG("a failed CREATE_VM left fd %d open", next);
		return fd;
	}
	self->new_fd = fd;
	ASSERT_EQ(0, lmvm_set_region(fd, 0, 0, GPA, MEM_LEN, self->mem));
	vcpu = lmvm_create_vcpu(fd, 0);
	ASSERT_LE(0, vcpu);
	EXPECT_EQ(0, probe(self, vcpu, GPA));
	close(vcpu);
	return 0;
}

/* CREATE_VCPU: a failed one installs no fd and leaves its id free. */
TEST_FAIL_NTH(create_vcpu, true)
{
	int next = lmvm_lowest_free_fd();
	int fd, ret;

	add_slot(_metadata, self, 0, GPA);
	fail_nth_enable();
	fd = lmvm_create_vcpu(self->vm_fd, 7);
	fail_nth_disable();
	if (fd < 0) {
		ret = fd;
		EXPECT_EQ(next, lmvm_lowest_free_fd());
		fd = lmvm_create_vcpu(self->vm_fd, 7);
		ASSERT_LE(0, fd) TH_LOG("id 7 after a failed CREATE_VCPU: %s",
					strerror(-fd));
		close(fd);
		return ret;
	}
	self->new_fd = fd;
	EXPECT_EQ(-EEXIST, lmvm_create_vcpu(self->vm_fd, 7));
	EXPECT_EQ(0, probe(self, fd, GPA));
	return 0;
}

/* Creating a slot: a failed create leaves no slot behind. */
TEST_FAIL_NTH(region_create, true)
{
	int ret;

	fail_nth_enable();
	ret = lmvm_set_region(self->vm_fd, 0, 0, GPA, MEM_LEN, self->mem);
	fail_nth_disable();
	EXPECT_EQ(ret ? 1 : 0, probe(self, self->vcpu_fd, GPA));
	if (ret)
		EXPECT_EQ(-EINVAL, lmvm_delete_region(self->vm_fd, 0));
	return ret;
}

/* The same through SET_USER_MEMORY_REGION2, dirty-logged. */
TEST_FAIL_NTH(region2_create, true)
{
	struct lazymap_vm_userspace_memory_region2 r = {
		.slot = 3,
		.flags = LAZYMAP_VM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = GPA,
		.memory_size = MEM_LEN,
		.userspace_addr = (uintptr_t)self->mem,
	};
	uint64_t bitmap[MEM_PAGES / 64];
	int ret;

	fail_nth_enable();
	ret = lmvm_set_region2(self->vm_fd, &r);
	fail_nth_disable();
	EXPECT_EQ(ret ? 1 : 0, probe(self, self->vcpu_fd, GPA));
	EXPECT_EQ(ret ? -ENOENT : 0, lmvm_dirty_log(self->vm_fd, 3, bitmap));
	return ret;
}

/* Deleting a populated slot allocates nothing; it must not fail. */
TEST_FAIL_NTH(region_delete, false)
{
	struct lazymap_vm_stats st;
	int ret;

	add_slot(_metadata, self, 0, GPA);
	ASSERT_EQ(0, probe(self, self->vcpu_fd, GPA));
	fail_nth_enable();
	ret = lmvm_delete_region(self->vm_fd, 0);
	fail_nth_disable();
	EXPECT_EQ(ret ? 0 : 1, probe(self, self->vcpu_fd, GPA));
	ASSERT_EQ(0, lmvm_stats(self->vm_fd, &st));
	EXPECT_EQ(ret ? MEM_PAGES : 0, st.s2_pages);
	return ret;
}

/* Moving a populated slot allocates nothing either. */
TEST_FAIL_NTH(region_move, false)
{
	int ret;

	add_slot(_metadata, self, 0, GPA);
	ASSERT_EQ(0, probe(self, self->vcpu_fd, GPA));
	fail_nth_enable();
	ret = lmvm_set_region(self->vm_fd, 0, 0, GPA2, MEM_LEN, self->mem);
	fail_nth_disable();
	EXPECT_EQ(ret ? 0 : 1, probe(self, self->vcpu_fd, GPA));
	EXPECT_EQ(ret ? 1 : 0, probe(self, self->vcpu_fd, GPA2));
	return ret;
}

/* Turning dirty logging on: a failed change leaves it off. */
TEST_FAIL_NTH(region_flags, true)
{
	uint64_t bitmap[MEM_PAGES / 64];
	int ret;

	add_slot(_metadata, self, 0, GPA);
	ASSERT_EQ(0, probe(self, self->vcpu_fd, GPA));
	fail_nth_enable();
	ret = lmvm_set_region(self->vm_fd, 0, LAZYMAP_VM_MEM_LOG_DIRTY_PAGES,
			      GPA, MEM_LEN, self->mem);
	fail_nth_disable();
	EXPECT_EQ(ret ? -ENOENT : 0, lmvm_dirty_log(self->vm_fd, 0, bitmap));
	EXPECT_EQ(0, probe(self, self->vcpu_fd, GPA));
	return ret;
}

/* LOCK: a failed lock pins and accounts nothing. */
TEST_FAIL_NTH(lock, true)
{
	struct lazymap_vm_stats st;
	int ret;

	add_slot(_metadata, self, 0, GPA);
	fail_nth_enable();
	ret = lmvm_lock(self->vm_fd, 0, LAZYMAP_VM_LOCK_MEM_READ |
					LAZYMAP_VM_LOCK_MEM_WRITE);
	fail_nth_disable();
	ASSERT_EQ(0, lmvm_stats(self->vm_fd, &st));
	EXPECT_EQ(ret ? 0 : MEM_PAGES, st.locked_pages);
	EXPECT_EQ(self->lck0 + (ret ? 0 : (long long)MEM_LEN / 1024),
		  lmvm_status_kb("VmLck"));
	EXPECT_EQ(0, probe(self, self->vcpu_fd, GPA));
	return ret;
}

/* UNLOCK of every slot. */
TEST_FAIL_NTH(unlock, false)
{
	struct lazymap_vm_stats st;
	int ret;

	add_slot(_metadata, self, 0, GPA);
	ASSERT_EQ(0, lmvm_lock(self->vm_fd, 0, LAZYMAP_VM_LOCK_MEM_READ));
	fail_nth_enable();
	ret = lmvm_unlock(self->vm_fd, 0, true);
	fail_nth_disable();
	ASSERT_EQ(0, lmvm_stats(self->vm_fd, &st));
	EXPECT_EQ(ret ? MEM_PAGES : 0, st.locked_pages);
	return ret;
}

/* The first ACCESS of a slot: stage-2 tables and entries. */
TEST_FAIL_NTH(access, true)
{
	struct lazymap_vm_exit exit;
	int ret;

	add_slot(_metadata, self, 0, GPA);
	fail_nth_enable();
	ret = lmvm_read(self->vcpu_fd, GPA, MEM_LEN, self->buf, &exit);
	fail_nth_disable();
	if (!ret)
		EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(0, probe(self, self->vcpu_fd, GPA));
	return ret;
}

/* A WRITE into a dirty-logged slot, then GET_DIRTY_LOG. */
TEST_FAIL_NTH(access_dirty_log, true)
{
	uint64_t bitmap[MEM_PAGES / 64];
	struct lazymap_vm_exit exit;
	int ret, wret;

	add_slot(_metadata, self, LAZYMAP_VM_MEM_LOG_DIRTY_PAGES, GPA);
	fail_nth_enable();
	wret = lmvm_write(self->vcpu_fd, GPA + 3 * PG, 1, self->mem + 3 * PG,
			  &exit);
	ret = wret ? wret : lmvm_dirty_log(self->vm_fd, 0, bitmap);
	fail_nth_disable();
	if (wret)
		return wret;
	if (ret) {
		/* A failed GET_DIRTY_LOG loses no dirty bit. */
		ASSERT_EQ(0, lmvm_dirty_log(self->vm_fd, 0, bitmap));
	}
	EXPECT_EQ(1ULL << 3, bitmap[0]);
	ASSERT_EQ(0, lmvm_dirty_log(self->vm_fd, 0, bitmap));
	EXPECT_EQ(0ULL, bitmap[0]);
	return ret;
}

/* Neither allocates: they must never fail. */
TEST_FAIL_NTH(get_stats_check_extension, false)
{
	struct lazymap_vm_stats st;
	int ret;

	fail_nth_enable();
	ret = lmvm_stats(self->vm_fd, &st);
	if (!ret) {
		ret = lmvm_check_extension(self->vm_fd,
					   LAZYMAP_VM_CAP_NR_MEMSLOTS);
		if (ret == LAZYMAP_VM_USER_MEM_SLOTS)
			ret = 0;
	}
	fail_nth_disable();
	return ret;
}

/* --- guest_memfd ------------------------------------------------------ */

#define LEND_RW		(LAZYMAP_VM_MAP_LEND | LAZYMAP_VM_MAP_READ | \
			 LAZYMAP_VM_MAP_WRITE)

/*
 * A MEM_LEN guest_memfd of the fixture's VM, mapped by the host and
 * holding the pattern (its pages faulted in with fail-nth disarmed).
 */
static void add_gmem(struct __test_metadata *_metadata,
		     FIXTURE_DATA(vm_fail_nth) *self)
{
	size_t i;

	self->gmem_fd = lmvm_create_gmem(self->vm_fd, MEM_LEN,
					 LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP);
	ASSERT_LE(0, self->gmem_fd);
	self->gmem = mmap(NULL, MEM_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			  self->gmem_fd, 0);
	ASSERT_NE(MAP_FAILED, self->gmem);
	for (i = 0; i < MEM_LEN; i++)
		self->gmem[i] = pat(i);
}

/* How many pages of [first, first + n) of the host mapping SIGBUS. */
static size_t gmem_sigbus(FIXTURE_DATA(vm_fail_nth) *self, size_t first,
			  size_t n)
{
	return sigbus_pages(self->gmem + first * PG, n * PG, PG);
}

/* CREATE_GUEST_MEMFD: a failed one installs no fd; a new one works. */
TEST_FAIL_NTH(gmem_create, true)
{
	int next = lmvm_lowest_free_fd();
	int fd;

	fail_nth_enable();
	fd = lmvm_create_gmem(self->vm_fd, MEM_LEN,
			      LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP);
	fail_nth_disable();
	if (fd < 0) {
		ASSERT_EQ(next, lmvm_lowest_free_fd())
			TH_LOG("a failed CREATE_GUEST_MEMFD left fd %d open", next);
		return fd;
	}
	self->gmem_fd = fd;
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, LEND_RW, fd, 0, MEM_LEN));
	EXPECT_EQ(-EIO, probe(self, self->vcpu_fd, GPA));	/* zeros */
	return 0;
}

/* MAP_MEM LEND: a failed one binds nothing and leaves the host its pages. */
TEST_FAIL_NTH(map_mem_lend, true)
{
	int ret;

	ASSERT_EQ(0, sigbus_install());
	add_gmem(_metadata, self);
	fail_nth_enable();
	ret = lmvm_map_mem(self->vm_fd, GPA, LEND_RW, self->gmem_fd, 0,
			   MEM_LEN);
	fail_nth_disable();
	EXPECT_EQ(ret ? 0 : MEM_PAGES, gmem_sigbus(self, 0, MEM_PAGES));
	EXPECT_EQ(ret ? 1 : 0, probe(self, self->vcpu_fd, GPA));
	if (ret)
		EXPECT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, LEND_RW,
					  self->gmem_fd, 0, MEM_LEN));
	return ret;
}

/*
 * MAP_MEM UNMAP of the middle (a split): a failed one leaves the binding
 * whole; a successful one hands exactly the middle back, zeroed.
 */
TEST_FAIL_NTH(map_mem_unmap_split, true)
{
	size_t mid = MEM_PAGES / 2;
	struct lazymap_vm_exit exit;
	int ret;

	ASSERT_EQ(0, sigbus_install());
	add_gmem(_metadata, self);
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, LEND_RW, self->gmem_fd, 0,
				  MEM_LEN));
	ASSERT_EQ(0, probe(self, self->vcpu_fd, GPA));
	fail_nth_enable();
	ret = lmvm_unmap_mem(self->vm_fd, GPA + mid * PG, self->gmem_fd,
			     mid * PG, 4 * PG);
	fail_nth_disable();
	if (ret) {
		EXPECT_EQ(0, probe(self, self->vcpu_fd, GPA));
		EXPECT_EQ(MEM_PAGES, gmem_sigbus(self, 0, MEM_PAGES));
		return ret;
	}
	EXPECT_EQ(MEM_PAGES - 4, gmem_sigbus(self, 0, MEM_PAGES));
	EXPECT_EQ(0U, gmem_sigbus(self, mid, 4));
	EXPECT_EQ(0, self->gmem[mid * PG] | self->gmem[(mid + 4) * PG - 1]);
	EXPECT_EQ(0, lmvm_read(self->vcpu_fd, GPA + mid * PG, PG, self->buf,
			       &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(0, lmvm_read(self->vcpu_fd, GPA + (mid + 4) * PG, PG,
			       self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(pat((mid + 4) * PG), self->buf[0]);
	return 0;
}

/* A GUEST_MEMFD slot: a failed create leaves no slot and no lent page. */
TEST_FAIL_NTH(gmem_slot_create, true)
{
	int ret;

	ASSERT_EQ(0, sigbus_install());
	add_gmem(_metadata, self);
	fail_nth_enable();
	ret = lmvm_set_gmem_region(self->vm_fd, 5, GPA, MEM_LEN,
				   self->gmem_fd, 0);
	fail_nth_disable();
	EXPECT_EQ(ret ? 1 : 0, probe(self, self->vcpu_fd, GPA));
	EXPECT_EQ(ret ? 0 : MEM_PAGES, gmem_sigbus(self, 0, MEM_PAGES));
	if (ret)
		EXPECT_EQ(-EINVAL, lmvm_delete_region(self->vm_fd, 5));
	return ret;
}

/* MAP_MEM SHARE: a failed one binds nothing; the host keeps its access. */
TEST_FAIL_NTH(map_mem_share, true)
{
	int ret;

	ASSERT_EQ(0, sigbus_install());
	add_gmem(_metadata, self);
	fail_nth_enable();
	ret = lmvm_map_mem(self->vm_fd, GPA, LAZYMAP_VM_MAP_SHARE |
			   LAZYMAP_VM_MAP_READ, self->gmem_fd, 0, MEM_LEN);
	fail_nth_disable();
	EXPECT_EQ(0U, gmem_sigbus(self, 0, MEM_PAGES));
	EXPECT_EQ(ret ? 1 : 0, probe(self, self->vcpu_fd, GPA));
	return ret;
}

/*
 * fallocate() allocating a bound range: a failure leaves what it did not
 * allocate to be allocated by the next access; the data is what it was.
 */
TEST_FAIL_NTH(gmem_fallocate, true)
{
	int fd, ret;

	fd = lmvm_create_gmem(self->vm_fd, 2 * MEM_LEN, 0);
	ASSERT_LE(0, fd);
	self->gmem_fd = fd;
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, LEND_RW, fd, 0,
				  2 * MEM_LEN));
	fail_nth_enable();
	ret = fallocate(fd, 1 /* FALLOC_FL_KEEP_SIZE */, 0, 2 * MEM_LEN) ?
	      -errno : 0;
	fail_nth_disable();
	/* Zeros, allocated or not: probe() sees no pattern, no MMIO. */
	EXPECT_EQ(-EIO, probe(self, self->vcpu_fd, GPA + MEM_LEN));
	return ret;
}

/* A punch hole allocates nothing it needs: it must not fail. */
TEST_FAIL_NTH(gmem_punch, false)
{
	struct lazymap_vm_stats st;
	int ret;

	add_gmem(_metadata, self);
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, LEND_RW, self->gmem_fd, 0,
				  MEM_LEN));
	ASSERT_EQ(0, probe(self, self->vcpu_fd, GPA));
	fail_nth_enable();
	ret = fallocate(self->gmem_fd, 3 /* KEEP_SIZE | PUNCH_HOLE */, 0,
			MEM_LEN) ? -errno : 0;
	fail_nth_disable();
	ASSERT_EQ(0, lmvm_stats(self->vm_fd, &st));
	EXPECT_EQ(ret ? MEM_PAGES : 0, st.s2_pages);
	return ret;
}

TEST_HARNESS_MAIN
