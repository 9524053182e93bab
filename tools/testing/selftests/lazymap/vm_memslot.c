// SPDX-License-Identifier: GPL-2.0
/*
 * Memory slots of /dev/lazymap-vm and the argument checks of every ioctl.
 *
 * The first half is a port of KVM 6.12's
 * tools/testing/selftests/kvm/set_memory_region_test.c to this UAPI: no
 * guest code runs here, so the guest's loads become VCPU_ACCESS reads on a
 * thread of their own, and an MMIO exit is what KVM's guest saw as
 * MMIO_VAL.  What the port keeps: the flags every layout accepts, adding
 * slots up to CAP_NR_MEMSLOTS and not one more, an access with no slot at
 * all, a slot moved or deleted under a running vCPU (which never sees the
 * misaligned translation, nor a deleted slot's memory once the delete has
 * returned), and guest_memfd fds that are not guest_memfds.  KVM's
 * guest_memfd slots (overlapping bindings, a real guest_memfd) are in
 * vm_gmem.c with the rest of guest_memfd.
 *
 * The second half is the errno table of every ioctl, one row per invalid
 * input, in the contract's check order: where two checks could fail, the
 * row says which wins.  Each row runs on a fresh VM in the same state
 * (std_vm()), and a failed call must leave that state as it was.
 *
 * Each test owns its VM, vCPU and memory (the fixture); tables make their
 * own VMs per row and close them before the next.  Threads other than the
 * test's own never use ASSERT_*() or EXPECT_*().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

/*
 * Keep -Wall -Wextra quiet about 6.12's harness itself: __timeout_handler()
 * has an unused parameter, and gcc flags the "child" variable of the
 * TEST_F() wrappers as possibly clobbered by longjmp() (a false positive).
 */
#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "lazymap_vm_util.h"

/* The tables below name the fields a row sets; the rest are zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define MAX_SLOTS	LAZYMAP_VM_USER_MEM_SLOTS
#define MMIO_VAL	0xbeefULL

/* set_memory_region_test.c's region: 2 MiB, one large page on x86. */
#define MEM_REGION_SIZE	SZ_2M
#define MEM_REGION_GPA	0xc0000000ULL
#define MEM_REGION_SLOT	10

/*
 * The state every table row starts from (std_vm()), over the fixture's
 * 8 MiB of anonymous memory, all faulted in:
 *   slot 0  [1 MiB, 2 MiB)    mem + 0 MiB   plain
 *   slot 1  [4 MiB, 5 MiB)    mem + 1 MiB   locked READ
 *   slot 2  [8 MiB, 9 MiB)    mem + 2 MiB   READONLY
 *   slot 3  [12 MiB, 13 MiB)  mem + 3 MiB   LOG_DIRTY_PAGES
 *   slot 4  [20 MiB, 21 MiB)  mem + 4 MiB   unmapped hva (a hole)
 *   slot 5  [24 MiB, 25 MiB)  mem + 5 MiB   PROT_NONE hva
 * [64 MiB, ...) is free: FREE_GPA.  mem + 6 MiB is free host memory.
 */
#define MEM_LEN		(8 * SZ_1M)
#define NR_STD_SLOTS	6
#define FREE_GPA	(64 * SZ_1M)
#define FREE_HVA	(6 * SZ_1M)
#define SLOT_PAGES	(SZ_1M / PG)

static const struct {
	__u64 gpa;
	__u32 flags;
} std_slots[NR_STD_SLOTS] = {
	{ 1 * SZ_1M, 0 },
	{ 4 * SZ_1M, 0 },
	{ 8 * SZ_1M, LAZYMAP_VM_MEM_READONLY },
	{ 12 * SZ_1M, LAZYMAP_VM_MEM_LOG_DIRTY_PAGES },
	{ 20 * SZ_1M, 0 },
	{ 24 * SZ_1M, 0 },
};

FIXTURE(vm) {
	int dev_fd;
	int vm_fd;
	int vcpu_fd;
	uint8_t *mem;		/* MEM_LEN of anonymous memory */
};

FIXTURE_SETUP(vm)
{
	self->vm_fd = -1;
	self->vcpu_fd = -1;
	self->mem = MAP_FAILED;

	lmvm_setup_vm(_metadata, &self->dev_fd, &self->vm_fd, &self->vcpu_fd);
	self->mem = mmap(NULL, MEM_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	memset(self->mem, 0x5a, MEM_LEN);
	ASSERT_EQ(0, munmap(self->mem + 4 * SZ_1M, SZ_1M));
	ASSERT_EQ(0, mprotect(self->mem + 5 * SZ_1M, SZ_1M, PROT_NONE));
}

FIXTURE_TEARDOWN(vm)
{
	if (self->vcpu_fd >= 0)
		close(self->vcpu_fd);
	if (self->vm_fd >= 0)
		close(self->vm_fd);
	if (self->mem != MAP_FAILED)
		munmap(self->mem, MEM_LEN);
	if (self->dev_fd >= 0)
		close(self->dev_fd);
}

/*
 * A fresh VM in the state of the table above, with a vCPU that has not run
 * (slot locks need that): the VM fd and the vCPU fd in *@vcpu_fd, or -errno
 * of the first call that failed.
 */
static int std_vm(FIXTURE_DATA(vm) *self, int *vcpu_fd)
{
	int vm_fd, ret, i;

	vm_fd = lmvm_create_vm(self->dev_fd, 0);
	if (vm_fd < 0)
		return vm_fd;
	for (i = 0; i < NR_STD_SLOTS; i++) {
		ret = lmvm_set_region(vm_fd, i, std_slots[i].flags,
				      std_slots[i].gpa, SZ_1M,
				      self->mem + i * SZ_1M);
		if (ret)
			goto err;
	}
	ret = lmvm_lock(vm_fd, 1, LAZYMAP_VM_LOCK_MEM_READ);
	if (ret)
		goto err;
	ret = lmvm_create_vcpu(vm_fd, 0);
	if (ret < 0)
		goto err;
	*vcpu_fd = ret;
	return vm_fd;
err:
	close(vm_fd);
	return ret;
}

/*
 * Check that the VM from std_vm() still is in that state, unless the row
 * changed slot @changed (-1: none): every other slot serves a read of its
 * first byte as it did (data, or MEMORY_FAULT for the slots over a hole and
 * over PROT_NONE), slot 1 holds its lock, and (if @check_free) FREE_GPA is
 * in no slot.  Makes the vCPU run.
 */
static void check_std_vm(struct __test_metadata *_metadata,
			 FIXTURE_DATA(vm) *self, int vm_fd, int vcpu_fd,
			 int changed, bool check_free, const char *row)
{
	struct lazymap_vm_stats st;
	struct lazymap_vm_exit exit;
	uint8_t v;
	int i, ret;

	for (i = 0; i < NR_STD_SLOTS; i++) {
		if (i == changed)
			continue;
		v = 0;
		ret = lmvm_read(vcpu_fd, std_slots[i].gpa, 1, &v, &exit);
		if (i < 4) {
			EXPECT_EQ(0, ret) TH_LOG("row \"%s\": slot %d: %s", row, i,
						 strerror(-ret));
			EXPECT_EQ(LMVM_EXIT_NONE, exit.reason)
				TH_LOG("row \"%s\": slot %d", row, i);
			EXPECT_EQ(0x5a, v) TH_LOG("row \"%s\": slot %d", row, i);
		} else {
			/* Holes and PROT_NONE: slots that cannot fault in. */
			EXPECT_EQ(-EFAULT, ret) TH_LOG("row \"%s\": slot %d", row, i);
			EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason)
				TH_LOG("row \"%s\": slot %d", row, i);
		}
	}
	if (check_free) {
		ret = lmvm_read(vcpu_fd, FREE_GPA, 1, &v, &exit);
		EXPECT_EQ(0, ret) TH_LOG("row \"%s\": FREE_GPA: %s", row,
					 strerror(-ret));
		EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason)
			TH_LOG("row \"%s\": FREE_GPA", row);
	}
	ASSERT_EQ(0, lmvm_stats(vm_fd, &st));
	if (changed != 1)
		EXPECT_EQ(SLOT_PAGES, st.locked_pages) TH_LOG("row \"%s\"", row);
	(void)self;
}

/* --- the port of set_memory_region_test.c -------------------------- */

/* test_invalid_memory_region_flags() */
TEST_F(vm, invalid_memory_region_flags)
{
	const __u32 supported = LAZYMAP_VM_MEM_LOG_DIRTY_PAGES |
				LAZYMAP_VM_MEM_READONLY;
	const __u32 v2_only = LAZYMAP_VM_MEM_GUEST_MEMFD;
	struct lazymap_vm_userspace_memory_region2 r2;
	int i, ret;

	/*
	 * GUEST_MEMFD is V2 only and needs a guest_memfd: with the VM fd in
	 * its place it is EINVAL too (vm_gmem covers real ones).
	 */
	ASSERT_EQ(1, lmvm_check_extension(self->vm_fd,
					  LAZYMAP_VM_CAP_GUEST_MEMFD));
	for (i = 0; i < 32; i++) {
		__u32 flag = 1U << i;

		if ((supported & flag) && !(v2_only & flag)) {
			ret = lmvm_set_region(self->vm_fd, 0, flag, 0,
					      MEM_REGION_SIZE, self->mem);
			EXPECT_EQ(0, ret) TH_LOG("V1 flag 0x%x: %s", flag,
						 strerror(-ret));
			EXPECT_EQ(0, lmvm_delete_region(self->vm_fd, 0));
			continue;
		}
		ret = lmvm_set_region(self->vm_fd, 0, flag, 0,
				      MEM_REGION_SIZE, self->mem);
		EXPECT_EQ(-EINVAL, ret) TH_LOG("V1 flag 0x%x", flag);

		memset(&r2, 0, sizeof(r2));
		r2.flags = flag;
		r2.memory_size = MEM_REGION_SIZE;
		r2.userspace_addr = (uintptr_t)self->mem;
		r2.guest_memfd = self->vm_fd;
		ret = lmvm_set_region2(self->vm_fd, &r2);
		EXPECT_EQ(-EINVAL, ret) TH_LOG("V2 flag 0x%x", flag);
	}
	/* Both supported flags at once, through V2. */
	memset(&r2, 0, sizeof(r2));
	r2.flags = supported;
	r2.memory_size = MEM_REGION_SIZE;
	r2.userspace_addr = (uintptr_t)self->mem;
	EXPECT_EQ(0, lmvm_set_region2(self->vm_fd, &r2));
}

/*
 * test_add_max_memory_regions(): CAP_NR_MEMSLOTS slots, then one more
 * fails.  A page per slot rather than 2 MiB (UML has no room for 64 GiB of
 * address space); every slot then answers at its own GPA, which also
 * checks the lookup with the maximum number of slots.
 */
TEST_F_TIMEOUT(vm, add_max_memory_regions, 300)
{
	struct lazymap_vm_exit exit;
	uint8_t *mem, *extra;
	__u32 slot, max;
	uint8_t v;
	int ret;

	max = lmvm_check_extension(self->dev_fd, LAZYMAP_VM_CAP_NR_MEMSLOTS);
	ASSERT_EQ((__u32)MAX_SLOTS, max);
	mem = mmap(NULL, (size_t)max * PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	for (slot = 0; slot < max; slot++) {
		ret = lmvm_set_region(self->vm_fd, slot, 0,
				      (__u64)slot * 2 * PG, PG, mem + slot * PG);
		ASSERT_EQ(0, ret) TH_LOG("slot %u: %s", slot, strerror(-ret));
	}
	extra = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, extra);
	ret = lmvm_set_region(self->vm_fd, max, 0, (__u64)max * 2 * PG, PG,
			      extra);
	EXPECT_EQ(-EINVAL, ret);

	/* Each slot at its GPA, the gaps between them MMIO. */
	for (slot = 0; slot < max; slot += 97) {
		mem[slot * PG + 7] = slot % 251 + 1;
		v = 0;
		ASSERT_EQ(0, lmvm_read(self->vcpu_fd, (__u64)slot * 2 * PG + 7,
				       1, &v, &exit));
		ASSERT_EQ(LMVM_EXIT_NONE, exit.reason) TH_LOG("slot %u", slot);
		ASSERT_EQ(slot % 251 + 1, v) TH_LOG("slot %u", slot);
		ASSERT_EQ(0, lmvm_read(self->vcpu_fd,
				       (__u64)slot * 2 * PG + PG, 1, &v, &exit));
		ASSERT_EQ(LMVM_EXIT_MMIO, exit.reason) TH_LOG("slot %u", slot);
	}
	munmap(extra, PG);
	close(self->vm_fd);
	self->vm_fd = -1;
	close(self->vcpu_fd);
	self->vcpu_fd = -1;
	munmap(mem, (size_t)max * PG);
}

/* test_zero_memory_regions(): no slot at all, every access is MMIO. */
TEST_F(vm, zero_memory_regions)
{
	struct lazymap_vm_stats st;
	struct lazymap_vm_exit exit;
	uint8_t buf[64];

	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, 0, sizeof(buf), buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(0ULL, exit.gpa);
	EXPECT_EQ(sizeof(buf), exit.size);
	EXPECT_EQ(LAZYMAP_VM_ACCESS_READ, exit.flags);
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, MEM_REGION_GPA, 8, buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(MEM_REGION_GPA, exit.gpa);
	EXPECT_EQ(8ULL, exit.size);
	EXPECT_EQ(LAZYMAP_VM_ACCESS_WRITE, exit.flags);
	ASSERT_EQ(0, lmvm_stats(self->vm_fd, &st));
	EXPECT_EQ(2ULL, st.mmio_exits);
	EXPECT_EQ(0ULL, st.s2_pages);
}

/*
 * The "guest" of the MOVE and DELETE tests: reads the u64 at
 * MEM_REGION_GPA in a loop, as guest_spin_on_val() does, an MMIO exit
 * reading as MMIO_VAL, and keeps the sequence of distinct values it saw.
 */
struct spinner {
	int vcpu_fd;
	bool stop;
	int nr_seen;
	uint64_t seen[64];
	int err;		/* an unexpected return or exit: -errno, or 1 */
};

static void *spinner_fn(void *arg)
{
	struct spinner *s = arg;
	struct lazymap_vm_exit exit;
	uint64_t val;
	int ret, n;

	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		val = 0;
		ret = lmvm_read(s->vcpu_fd, MEM_REGION_GPA, 8, &val, &exit);
		if (ret) {
			s->err = ret;
			break;
		}
		if (exit.reason == LAZYMAP_VM_EXIT_MMIO) {
			if (exit.gpa != MEM_REGION_GPA || exit.size != 8) {
				s->err = 1;
				break;
			}
			val = MMIO_VAL;
		} else if (exit.reason != LAZYMAP_VM_EXIT_NONE) {
			s->err = 1;
			break;
		}
		n = s->nr_seen;
		if (!n || s->seen[n - 1] != val) {
			if (n == ARRAY_SIZE(s->seen)) {
				s->err = 1;
				break;
			}
			s->seen[n] = val;
			__atomic_store_n(&s->nr_seen, n + 1, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

/* Wait (up to 2 s, as wait_for_vcpu()) until the spinner has seen @val. */
static bool spinner_wait(struct spinner *s, uint64_t val)
{
	int i, n;

	for (i = 0; i < 2000; i++) {
		n = __atomic_load_n(&s->nr_seen, __ATOMIC_ACQUIRE);
		if (n && s->seen[n - 1] == val)
			return true;
		if (__atomic_load_n(&s->err, __ATOMIC_RELAXED))
			return false;
		usleep(1000);
	}
	return false;
}

static void spinner_log(struct __test_metadata *_metadata, struct spinner *s)
{
	int i;

	for (i = 0; i < s->nr_seen; i++)
		TH_LOG("seen[%d] = 0x%llx", i, (unsigned long long)s->seen[i]);
	if (s->err)
		TH_LOG("spinner stopped: %d", s->err);
}

/* spawn_vm(): the slot at MEM_REGION_GPA, its first two pages zeroed. */
static uint8_t *spawn_region(FIXTURE_DATA(vm) *self)
{
	uint8_t *hva;

	hva = mmap(NULL, MEM_REGION_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hva == MAP_FAILED)
		return NULL;
	memset(hva, 0, 2 * PG);
	if (lmvm_set_region(self->vm_fd, MEM_REGION_SLOT, 0, MEM_REGION_GPA,
			    MEM_REGION_SIZE, hva)) {
		munmap(hva, MEM_REGION_SIZE);
		return NULL;
	}
	return hva;
}

/*
 * test_move_memory_region(): shift the slot's base under the spinning
 * vCPU.  The GPA then translates to the slot's second page, and the
 * spinner must never see the "2" written to the first one; after the move
 * back it sees the "1" written before it.  As in KVM, it may see MMIO
 * while a move is in flight.
 */
TEST_F_TIMEOUT(vm, move_memory_region, 120)
{
	struct lazymap_vm_exit exit;
	struct spinner s = {};
	pthread_t thread;
	uint64_t val;
	uint8_t *hva;
	int loop, i, vcpu2;

	/* The main thread's own accesses: a vCPU the spinner does not use. */
	vcpu2 = lmvm_create_vcpu(self->vm_fd, 1);
	ASSERT_LE(0, vcpu2);
	for (loop = 0; loop < 10; loop++) {
		memset(&s, 0, sizeof(s));
		hva = spawn_region(self);
		ASSERT_NE(NULL, hva);
		s.vcpu_fd = self->vcpu_fd;
		ASSERT_EQ(0, pthread_create(&thread, NULL, spinner_fn, &s));
		ASSERT_TRUE(spinner_wait(&s, 0));

		ASSERT_EQ(0, lmvm_set_region(self->vm_fd, MEM_REGION_SLOT, 0,
					     MEM_REGION_GPA - PG,
					     MEM_REGION_SIZE, hva));
		*(uint64_t *)hva = 2;
		/* Once the move returned, the old translation is gone. */
		ASSERT_EQ(0, lmvm_read(vcpu2, MEM_REGION_GPA - PG, 8, &val,
				       &exit));
		EXPECT_EQ(2ULL, val);
		ASSERT_EQ(0, lmvm_read(vcpu2, MEM_REGION_GPA, 8, &val, &exit));
		EXPECT_EQ(0ULL, val);
		usleep(20000);
		*(uint64_t *)hva = 1;
		ASSERT_EQ(0, lmvm_set_region(self->vm_fd, MEM_REGION_SLOT, 0,
					     MEM_REGION_GPA, MEM_REGION_SIZE,
					     hva));
		EXPECT_TRUE(spinner_wait(&s, 1));
		__atomic_store_n(&s.stop, true, __ATOMIC_RELAXED);
		pthread_join(thread, NULL);

		EXPECT_EQ(0, s.err);
		for (i = 0; i < s.nr_seen; i++)
			EXPECT_TRUE(s.seen[i] == 0 || s.seen[i] == 1 ||
				    s.seen[i] == MMIO_VAL)
				TH_LOG("loop %d: saw 0x%llx", loop,
				       (unsigned long long)s.seen[i]);
		if (!__test_passed(_metadata) || s.err) {
			spinner_log(_metadata, &s);
			break;
		}
		ASSERT_EQ(0, lmvm_delete_region(self->vm_fd, MEM_REGION_SLOT));
		munmap(hva, MEM_REGION_SIZE);
	}
	close(vcpu2);
}

/*
 * test_delete_memory_region(): delete the slot under the spinning vCPU
 * (it sees MMIO, not the old memory), recreate it over fresh zeroed
 * memory (it sees 0, not the old 0x..5a), delete it again.
 */
TEST_F_TIMEOUT(vm, delete_memory_region, 120)
{
	struct lazymap_vm_exit exit;
	struct spinner s = {};
	pthread_t thread;
	uint8_t *hva, *hva2;
	uint64_t val;
	int loop, vcpu2;

	vcpu2 = lmvm_create_vcpu(self->vm_fd, 1);
	ASSERT_LE(0, vcpu2);
	for (loop = 0; loop < 10; loop++) {
		memset(&s, 0, sizeof(s));
		hva = spawn_region(self);
		ASSERT_NE(NULL, hva);
		*(uint64_t *)hva = 0x5a5a;
		s.vcpu_fd = self->vcpu_fd;
		ASSERT_EQ(0, pthread_create(&thread, NULL, spinner_fn, &s));
		ASSERT_TRUE(spinner_wait(&s, 0x5a5a));

		ASSERT_EQ(0, lmvm_delete_region(self->vm_fd, MEM_REGION_SLOT));
		ASSERT_EQ(0, lmvm_read(vcpu2, MEM_REGION_GPA, 8, &val, &exit));
		EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
		EXPECT_TRUE(spinner_wait(&s, MMIO_VAL));

		hva2 = spawn_region(self);
		ASSERT_NE(NULL, hva2);
		EXPECT_TRUE(spinner_wait(&s, 0));

		ASSERT_EQ(0, lmvm_delete_region(self->vm_fd, MEM_REGION_SLOT));
		EXPECT_TRUE(spinner_wait(&s, MMIO_VAL));
		__atomic_store_n(&s.stop, true, __ATOMIC_RELAXED);
		pthread_join(thread, NULL);
		EXPECT_EQ(0, s.err);
		EXPECT_EQ(4, s.nr_seen);
		if (!__test_passed(_metadata)) {
			spinner_log(_metadata, &s);
			break;
		}
		munmap(hva, MEM_REGION_SIZE);
		munmap(hva2, MEM_REGION_SIZE);
	}
	close(vcpu2);
}

/*
 * test_add_private_memory_region()'s invalid guest_memfds: the device fd,
 * the VM fd, a regular memfd (EINVAL: not guest_memfds), a closed fd
 * (EBADF); an unaligned offset is EINVAL first, for each.
 */
TEST_F(vm, invalid_guest_memfd)
{
	struct lazymap_vm_userspace_memory_region2 r2 = {
		.slot = MEM_REGION_SLOT,
		.flags = LAZYMAP_VM_MEM_GUEST_MEMFD,
		.guest_phys_addr = MEM_REGION_GPA,
		.memory_size = MEM_REGION_SIZE,
	};
	int memfd, fds[4], i, off;

	memfd = memfd_create("not-guest-memfd", MFD_CLOEXEC);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, MEM_REGION_SIZE));
	fds[0] = self->dev_fd;
	fds[1] = self->vm_fd;
	fds[2] = memfd;
	fds[3] = lmvm_lowest_free_fd();
	for (i = 0; i < 4; i++) {
		for (off = 0; off < 2 * (int)PG; off += 511) {
			r2.guest_memfd = fds[i];
			r2.guest_memfd_offset = off;
			EXPECT_EQ(i == 3 && !(off % PG) ? -EBADF : -EINVAL,
				  lmvm_set_region2(self->vm_fd, &r2))
				TH_LOG("fd %d offset %d", i, off);
		}
	}
	close(memfd);
}

/* --- /dev/lazymap-vm ------------------------------------------------- */

TEST_F(vm, device)
{
	struct stat st;
	int fd, flags;

	ASSERT_EQ(0, stat(LAZYMAP_VM_DEV, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600U, st.st_mode & 07777);
	EXPECT_EQ(0U, st.st_uid);
	EXPECT_EQ(LAZYMAP_VM_API_VERSION,
		  ioctl(self->dev_fd, LAZYMAP_VM_GET_API_VERSION, 0));
	flags = fcntl(self->vm_fd, F_GETFD);
	EXPECT_TRUE(flags & FD_CLOEXEC);
	/* Closing the device leaves its VMs working. */
	fd = lmvm_create_vm(self->dev_fd, LAZYMAP_VM_TYPE_DEFAULT);
	ASSERT_LE(0, fd);
	close(self->dev_fd);
	self->dev_fd = -1;
	EXPECT_EQ(0, lmvm_set_region(fd, 0, 0, 0, SZ_1M, self->mem));
	EXPECT_LE(0, lmvm_create_vcpu(fd, 3));
	close(fd);
}

TEST_F(vm, check_extension)
{
	static const struct {
		unsigned long cap;
		int val;
	} caps[] = {
		{ LAZYMAP_VM_CAP_USER_MEMORY2, 1 },
		{ LAZYMAP_VM_CAP_NR_MEMSLOTS, LAZYMAP_VM_USER_MEM_SLOTS },
		{ LAZYMAP_VM_CAP_READONLY_MEM, 1 },
		{ LAZYMAP_VM_CAP_MAX_VCPUS, LAZYMAP_VM_MAX_VCPUS },
		{ LAZYMAP_VM_CAP_GUEST_MEMFD, 1 },
		{ LAZYMAP_VM_CAP_GUEST_MEMFD_FLAGS,
		  LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP |
		  LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE },
		{ LAZYMAP_VM_CAP_MAP_MEM, 1 },
		{ LAZYMAP_VM_CAP_LOCK_USER_MEMORY_REGION, 1 },
		{ LAZYMAP_VM_CAP_DIRTY_LOG, 1 },
		/* unknown */
		{ 0, 0 }, { 10, 0 }, { 0x7fffffff, 0 }, { ~0UL, 0 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(caps); i++) {
		EXPECT_EQ(caps[i].val,
			  lmvm_check_extension(self->dev_fd, caps[i].cap))
			TH_LOG("device fd, cap %lu", caps[i].cap);
		EXPECT_EQ(caps[i].val,
			  lmvm_check_extension(self->vm_fd, caps[i].cap))
			TH_LOG("VM fd, cap %lu", caps[i].cap);
	}
}

/* --- the errno tables ------------------------------------------------ */

TEST_F(vm, create_vm_errno)
{
	static const unsigned long types[] = {
		1, 2, 0x80000000UL, 0x100000000UL, ~0UL,
	};
	unsigned int i;
	int next = lmvm_lowest_free_fd();

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		EXPECT_EQ(-EINVAL, lmvm_create_vm(self->dev_fd, types[i]))
			TH_LOG("type 0x%lx", types[i]);
		EXPECT_EQ(next, lmvm_lowest_free_fd());
	}
}

TEST_F(vm, create_vcpu_errno)
{
	static const struct {
		unsigned long id;
		int err;
	} rows[] = {
		{ LAZYMAP_VM_MAX_VCPUS, -EINVAL },
		{ LAZYMAP_VM_MAX_VCPUS + 1, -EINVAL },
		{ 0x7fffffffUL, -EINVAL },
		{ 0xffffffffUL, -EINVAL },
		{ ~0UL, -EINVAL },
		{ 0, -EEXIST },		/* the fixture's */
		{ LAZYMAP_VM_MAX_VCPUS - 1, 0 },
		{ LAZYMAP_VM_MAX_VCPUS - 1, -EEXIST },
	};
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		ret = lmvm_create_vcpu(self->vm_fd, rows[i].id);
		if (!rows[i].err) {
			EXPECT_LE(0, ret) TH_LOG("id %lu: %s", rows[i].id,
						 strerror(-ret));
			continue;
		}
		EXPECT_EQ(rows[i].err, ret) TH_LOG("id %lu", rows[i].id);
	}
}

/* Every fd answers ENOTTY to what is not its own. */
TEST_F(vm, unknown_ioctls)
{
	static const unsigned long dev_bad[] = {
		LAZYMAP_VM_CREATE_VCPU, LAZYMAP_VM_GET_DIRTY_LOG,
		LAZYMAP_VM_SET_USER_MEMORY_REGION,
		LAZYMAP_VM_SET_USER_MEMORY_REGION2, LAZYMAP_VM_ENABLE_CAP,
		LAZYMAP_VM_GET_STATS, LAZYMAP_VM_CREATE_GUEST_MEMFD,
		LAZYMAP_VM_MAP_MEM, LAZYMAP_VM_VCPU_ACCESS,
		_IO(LAZYMAP_VM_IO, 0x02), _IO(LAZYMAP_VM_IO, 0xff),
		_IO(0xAE, 0x00),
	};
	static const unsigned long vm_bad[] = {
		LAZYMAP_VM_GET_API_VERSION, LAZYMAP_VM_CREATE_VM,
		LAZYMAP_VM_VCPU_ACCESS, _IO(LAZYMAP_VM_IO, 0x02),
		_IOW(LAZYMAP_VM_IO, 0x46, __u64), _IO(LAZYMAP_VM_IO, 0xff),
	};
	static const unsigned long vcpu_bad[] = {
		LAZYMAP_VM_GET_API_VERSION, LAZYMAP_VM_CREATE_VM,
		LAZYMAP_VM_CHECK_EXTENSION, LAZYMAP_VM_CREATE_VCPU,
		LAZYMAP_VM_GET_DIRTY_LOG, LAZYMAP_VM_SET_USER_MEMORY_REGION,
		LAZYMAP_VM_ENABLE_CAP, LAZYMAP_VM_GET_STATS,
		_IOR(LAZYMAP_VM_IO, 0x80, struct lazymap_vm_access),
		_IO(LAZYMAP_VM_IO, 0xff),
	};
	uint8_t arg[512] = {};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(dev_bad); i++)
		EXPECT_EQ(-ENOTTY, lmvm_ret(ioctl(self->dev_fd, dev_bad[i], arg)))
			TH_LOG("device fd, ioctl 0x%lx", dev_bad[i]);
	for (i = 0; i < ARRAY_SIZE(vm_bad); i++)
		EXPECT_EQ(-ENOTTY, lmvm_ret(ioctl(self->vm_fd, vm_bad[i], arg)))
			TH_LOG("VM fd, ioctl 0x%lx", vm_bad[i]);
	for (i = 0; i < ARRAY_SIZE(vcpu_bad); i++)
		EXPECT_EQ(-ENOTTY, lmvm_ret(ioctl(self->vcpu_fd, vcpu_bad[i], arg)))
			TH_LOG("vCPU fd, ioctl 0x%lx", vcpu_bad[i]);
}

/* An argument that cannot be read (or written back) is EFAULT. */
TEST_F(vm, unreadable_argument)
{
	static const unsigned long vm_cmds[] = {
		LAZYMAP_VM_SET_USER_MEMORY_REGION,
		LAZYMAP_VM_SET_USER_MEMORY_REGION2,
		LAZYMAP_VM_GET_DIRTY_LOG, LAZYMAP_VM_ENABLE_CAP,
		LAZYMAP_VM_GET_STATS,
	};
	void *bad[2];
	unsigned int i, j;

	/*
	 * NULL, and an unmapped page.  (Not a PROT_NONE one: UML's uaccess
	 * reads present pages whatever their protection.)
	 */
	bad[0] = NULL;
	bad[1] = self->mem + 4 * SZ_1M;
	for (j = 0; j < 2; j++) {
		for (i = 0; i < ARRAY_SIZE(vm_cmds); i++)
			EXPECT_EQ(-EFAULT,
				  lmvm_ret(ioctl(self->vm_fd, vm_cmds[i], bad[j])))
				TH_LOG("VM ioctl 0x%lx, arg %p", vm_cmds[i], bad[j]);
		EXPECT_EQ(-EFAULT, lmvm_ret(ioctl(self->vcpu_fd,
						  LAZYMAP_VM_VCPU_ACCESS, bad[j])))
			TH_LOG("VCPU_ACCESS, arg %p", bad[j]);
	}
	/* GET_STATS into read-only memory: written back, so EFAULT too. */
	ASSERT_EQ(0, mprotect(self->mem, PG, PROT_READ));
	EXPECT_EQ(-EFAULT, lmvm_ret(ioctl(self->vm_fd, LAZYMAP_VM_GET_STATS,
					  self->mem)));
}

/*
 * VM and vCPU ioctls from another mm than the VM creator's are EIO, as in
 * KVM: a forked child has a copy of the fds but not the mm.  The device
 * fd has no mm: the child creates its own VM with it.
 */
TEST_F(vm, other_mm_eio)
{
	static const unsigned long vm_cmds[] = {
		LAZYMAP_VM_CHECK_EXTENSION, LAZYMAP_VM_CREATE_VCPU,
		LAZYMAP_VM_GET_DIRTY_LOG, LAZYMAP_VM_SET_USER_MEMORY_REGION,
		LAZYMAP_VM_SET_USER_MEMORY_REGION2, LAZYMAP_VM_ENABLE_CAP,
		LAZYMAP_VM_GET_STATS,
	};
	uint8_t arg[512] = {};
	struct lazymap_vm_access *a = (void *)arg;
	unsigned int i;
	int status, fd;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		for (i = 0; i < ARRAY_SIZE(vm_cmds); i++)
			if (lmvm_ret(ioctl(self->vm_fd, vm_cmds[i], arg)) != -EIO)
				_exit(1 + i);
		a->size = 1;
		a->flags = LAZYMAP_VM_ACCESS_READ;
		a->data = (uintptr_t)(arg + 256);
		if (lmvm_ret(ioctl(self->vcpu_fd, LAZYMAP_VM_VCPU_ACCESS, a)) != -EIO)
			_exit(50);
		fd = lmvm_create_vm(self->dev_fd, 0);
		if (fd < 0)
			_exit(51);
		if (lmvm_set_region(fd, 0, 0, 0, PG, self->mem))
			_exit(52);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child: step %d failed (1-%zu: VM ioctls, 50: ACCESS, 51-52: own VM)",
		       WEXITSTATUS(status), ARRAY_SIZE(vm_cmds));
	/* The parent's VM is untouched. */
	EXPECT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, 0, PG, self->mem));
}

/*
 * SET_USER_MEMORY_REGION(2), one row per input, in the contract's check
 * order.  hva is an offset into the fixture's memory unless HVA_ABS.
 */
#define HVA_ABS		(1U << 0)	/* userspace_addr is absolute */
#define V1		(1U << 1)	/* the V1 layout (no tail) */

struct region_row {
	const char *name;
	unsigned int how;
	struct lazymap_vm_userspace_memory_region2 r;
	int err;
	int changed;		/* the std slot the row changes, or -1 */
};

#define LOGD		LAZYMAP_VM_MEM_LOG_DIRTY_PAGES
#define RO		LAZYMAP_VM_MEM_READONLY
#define GMEM		LAZYMAP_VM_MEM_GUEST_MEMFD

static const struct region_row region_rows[] = {
	/* (1) V1 with a flag beyond LOG_DIRTY_PAGES | READONLY */
	{ "v1 GUEST_MEMFD", V1, { 7, GMEM, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "v1 GUEST_MEMFD on an identical slot 0", V1,
	  { 0, GMEM, 1 * SZ_1M, SZ_1M, 0 }, -EINVAL, -1 },
	{ "v1 flag bit 3", V1, { 7, 1U << 3, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "v1 flag bit 31", V1, { 7, 1U << 31, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	/* (2) slot id, V2 pads */
	{ "slot USER_MEM_SLOTS", V1, { MAX_SLOTS, 0, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "slot 0xffff", 0, { 0xffff, 0, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "slot USER_MEM_SLOTS - 1", 0,
	  { MAX_SLOTS - 1, 0, FREE_GPA, SZ_1M, FREE_HVA }, 0, -1 },
	{ "v2 pad1", 0, { 7, 0, FREE_GPA, SZ_1M, FREE_HVA, .pad1 = 1 }, -EINVAL, -1 },
	{ "v2 pad2[0]", 0, { 7, 0, FREE_GPA, SZ_1M, FREE_HVA, .pad2[0] = 1 }, -EINVAL, -1 },
	{ "v2 pad2[13]", 0, { 7, 0, FREE_GPA, SZ_1M, FREE_HVA, .pad2[13] = 1ULL << 63 },
	  -EINVAL, -1 },
	{ "v2 pad1 on an identical slot 0", 0,
	  { 0, 0, 1 * SZ_1M, SZ_1M, 0, .pad1 = 1 }, -EINVAL, -1 },
	{ "v2 pad2 deleting slot 0", 0, { 0, 0, 0, 0, 0, .pad2[5] = 1 }, -EINVAL, -1 },
	/* (3) unknown flags, GUEST_MEMFD combinations */
	{ "v2 flag bit 3", 0, { 7, 1U << 3, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "v2 flag bit 31", 0, { 7, 1U << 31, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "v2 GUEST_MEMFD, fd not open (11)", 0,
	  { 7, GMEM, FREE_GPA, SZ_1M, FREE_HVA, .guest_memfd = 0x7fffffff },
	  -EBADF, -1 },
	{ "v2 GUEST_MEMFD | LOG_DIRTY_PAGES", 0,
	  { 7, GMEM | LOGD, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "v2 GUEST_MEMFD | READONLY", 0,
	  { 7, GMEM | RO, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "v2 LOG_DIRTY_PAGES | READONLY", 0,
	  { 7, LOGD | RO, FREE_GPA, SZ_1M, FREE_HVA }, 0, -1 },
	/* (4) alignment, hva */
	{ "size 0x800", 0, { 7, 0, FREE_GPA, 0x800, FREE_HVA }, -EINVAL, -1 },
	{ "size 4097", 0, { 7, 0, FREE_GPA, PG + 1, FREE_HVA }, -EINVAL, -1 },
	{ "gpa + 0x800", 0, { 7, 0, FREE_GPA + 0x800, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "gpa + 1", 0, { 7, 0, FREE_GPA + 1, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "hva + 1", 0, { 7, 0, FREE_GPA, SZ_1M, FREE_HVA + 1 }, -EINVAL, -1 },
	{ "hva + 0x800", 0, { 7, 0, FREE_GPA, SZ_1M, FREE_HVA + 0x800 }, -EINVAL, -1 },
	{ "hva tagged (bit 57)", 0,
	  { 7, 0, FREE_GPA, SZ_1M, FREE_HVA | 1ULL << 57 }, -EINVAL, -1 },
	{ "hva in the kernel half", HVA_ABS,
	  { 7, 0, FREE_GPA, SZ_1M, 0xffff888000000000ULL }, -EINVAL, -1 },
	{ "hva + size past the user half", HVA_ABS,
	  { 7, 0, FREE_GPA, 2 * PG, (1ULL << 47) - PG }, -EINVAL, -1 },
	{ "hva + size wrapping", HVA_ABS,
	  { 7, 0, FREE_GPA, 2 * PG, 0ULL - PG }, -EINVAL, -1 },
	{ "hva not mapped (allowed)", 0,
	  { 7, 0, FREE_GPA, SZ_1M, 4 * SZ_1M }, 0, -1 },
	{ "hva over two VMAs and a hole (allowed)", 0,
	  { 7, 0, FREE_GPA, 3 * SZ_1M, 3 * SZ_1M }, 0, -1 },
	{ "unaligned gpa overlapping slot 0: EINVAL first", 0,
	  { 7, 0, 1 * SZ_1M + 0x800, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "unaligned size moving locked slot 1: EINVAL first", 0,
	  { 1, 0, FREE_GPA, SZ_1M + 1, 1 * SZ_1M }, -EINVAL, -1 },
	/* (6) address space, wrapping, too many pages */
	{ "address space 1", 0,
	  { 1U << 16 | 7, 0, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "address space 0x8000", V1,
	  { 0x8000U << 16 | 7, 0, FREE_GPA, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "address space 1 of slot 0", 0,
	  { 1U << 16, 0, 1 * SZ_1M, SZ_1M, 0 }, -EINVAL, -1 },
	{ "gpa + size wrapping", 0,
	  { 7, 0, 0ULL - SZ_1M, SZ_2M, FREE_HVA }, -EINVAL, -1 },
	{ "gpa + size = 2^64", 0,
	  { 7, 0, 0ULL - SZ_1M, SZ_1M, FREE_HVA }, -EINVAL, -1 },
	{ "highest GPAs", 0,
	  { 7, 0, 0ULL - SZ_2M, SZ_1M, FREE_HVA }, 0, -1 },
	{ "MEM_MAX_NR_PAGES + 1 pages", HVA_ABS,
	  { 7, 0, 0, (LAZYMAP_VM_MEM_MAX_NR_PAGES + 1) * PG, 0x10000 },
	  -EINVAL, -1 },
	/* (7) delete */
	{ "delete slot 7, absent", V1, { 7, 0, 0, 0, 0 }, -EINVAL, -1 },
	{ "delete slot USER_MEM_SLOTS", V1, { MAX_SLOTS, 0, 0, 0, 0 }, -EINVAL, -1 },
	{ "delete slot 0 of address space 1", V1, { 1U << 16, 0, 0, 0, 0 }, -EINVAL, -1 },
	{ "delete slot 0", V1, { 0, 0, 0, 0, 0 }, 0, 0 },
	{ "delete slot 0 with stale fields", 0, { 0, RO, 0x1234000, 0, 0x5000 }, 0, 0 },
	{ "delete locked slot 1", V1, { 1, 0, 0, 0, 0 }, 0, 1 },
	/* (9) modify */
	{ "slot 0 identical", V1, { 0, 0, 1 * SZ_1M, SZ_1M, 0 }, 0, -1 },
	{ "slot 0 other hva", V1, { 0, 0, 1 * SZ_1M, SZ_1M, PG }, -EINVAL, -1 },
	{ "slot 0 other size", V1, { 0, 0, 1 * SZ_1M, SZ_1M - PG, 0 }, -EINVAL, -1 },
	{ "slot 0 READONLY set", V1, { 0, RO, 1 * SZ_1M, SZ_1M, 0 }, -EINVAL, -1 },
	{ "slot 2 READONLY cleared", V1, { 2, 0, 8 * SZ_1M, SZ_1M, 2 * SZ_1M },
	  -EINVAL, -1 },
	{ "slot 0 GUEST_MEMFD requested", 0, { 0, GMEM, 1 * SZ_1M, SZ_1M, 0 },
	  -EINVAL, -1 },
	{ "slot 0 LOG_DIRTY_PAGES set (flags only)", V1,
	  { 0, LOGD, 1 * SZ_1M, SZ_1M, 0 }, 0, 0 },
	{ "slot 3 LOG_DIRTY_PAGES cleared (flags only)", V1,
	  { 3, 0, 12 * SZ_1M, SZ_1M, 3 * SZ_1M }, 0, 3 },
	{ "slot 0 moved", V1, { 0, 0, FREE_GPA, SZ_1M, 0 }, 0, 0 },
	{ "slot 0 moved over itself", V1, { 0, 0, 1 * SZ_1M + SZ_1M / 2, SZ_1M, 0 },
	  0, 0 },
	{ "slot 0 moved with LOG_DIRTY_PAGES set", V1,
	  { 0, LOGD, FREE_GPA, SZ_1M, 0 }, 0, 0 },
	{ "locked slot 1 identical", V1, { 1, 0, 4 * SZ_1M, SZ_1M, SZ_1M }, 0, -1 },
	{ "locked slot 1 moved", V1, { 1, 0, FREE_GPA, SZ_1M, SZ_1M }, -EBUSY, -1 },
	{ "locked slot 1 LOG_DIRTY_PAGES set", V1,
	  { 1, LOGD, 4 * SZ_1M, SZ_1M, SZ_1M }, -EBUSY, -1 },
	{ "locked slot 1 READONLY set: EINVAL first", V1,
	  { 1, RO, 4 * SZ_1M, SZ_1M, SZ_1M }, -EINVAL, -1 },
	{ "locked slot 1 other size: EINVAL first", V1,
	  { 1, 0, 4 * SZ_1M, 2 * SZ_1M, SZ_1M }, -EINVAL, -1 },
	/* (10) overlap, half-open */
	{ "over slot 0's head", V1, { 7, 0, SZ_1M - PG, 2 * PG, FREE_HVA }, -EEXIST, -1 },
	{ "over slot 0's tail", V1, { 7, 0, SZ_2M - PG, 2 * PG, FREE_HVA }, -EEXIST, -1 },
	{ "inside slot 0", V1, { 7, 0, SZ_1M + 8 * PG, PG, FREE_HVA }, -EEXIST, -1 },
	{ "around slots 0-5", V1, { 7, 0, 0, 32 * SZ_1M, 0 }, -EEXIST, -1 },
	{ "adjacent below slot 0", V1, { 7, 0, SZ_1M - PG, PG, FREE_HVA }, 0, -1 },
	{ "adjacent above slot 0", V1, { 7, 0, SZ_2M, PG, FREE_HVA }, 0, -1 },
	{ "sharing slot 0's hva", V1, { 7, 0, FREE_GPA, SZ_1M, 0 }, 0, -1 },
	{ "slot 0 moved onto slot 1", V1, { 0, 0, 4 * SZ_1M, SZ_1M, 0 }, -EEXIST, -1 },
	{ "slot 0 moved half over slot 1", V1,
	  { 0, 0, 4 * SZ_1M - SZ_1M / 2, SZ_1M, 0 }, -EEXIST, -1 },
	{ "slot 0 moved next to slot 1", V1, { 0, 0, 3 * SZ_1M, SZ_1M, 0 }, 0, 0 },
};

TEST_F_TIMEOUT(vm, set_memory_region_errno, 300)
{
	struct lazymap_vm_userspace_memory_region2 r;
	struct lazymap_vm_userspace_memory_region r1;
	unsigned int i;
	int vm_fd, vcpu_fd, ret;

	for (i = 0; i < ARRAY_SIZE(region_rows); i++) {
		const struct region_row *row = &region_rows[i];

		vm_fd = std_vm(self, &vcpu_fd);
		ASSERT_LE(0, vm_fd) TH_LOG("std_vm: %s", strerror(-vm_fd));
		r = row->r;
		if (!(row->how & HVA_ABS) && (row->r.memory_size || row->r.userspace_addr))
			r.userspace_addr += (uintptr_t)self->mem;
		if (row->how & V1) {
			r1.slot = r.slot;
			r1.flags = r.flags;
			r1.guest_phys_addr = r.guest_phys_addr;
			r1.memory_size = r.memory_size;
			r1.userspace_addr = r.userspace_addr;
			ret = lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_SET_USER_MEMORY_REGION,
					     &r1));
		} else {
			ret = lmvm_set_region2(vm_fd, &r);
		}
		EXPECT_EQ(row->err, ret)
			TH_LOG("row \"%s\": got %s", row->name, strerror(-ret));
		check_std_vm(_metadata, self, vm_fd, vcpu_fd, row->changed,
			     row->err != 0, row->name);
		close(vcpu_fd);
		close(vm_fd);
	}
}

/* Delete and move take the slot's memory away from its old GPAs at once. */
TEST_F(vm, delete_move_effect)
{
	struct lazymap_vm_stats st;
	struct lazymap_vm_exit exit;
	int vm_fd, vcpu_fd;
	uint8_t v;

	vm_fd = std_vm(self, &vcpu_fd);
	ASSERT_LE(0, vm_fd);
	ASSERT_EQ(0, lmvm_read(vcpu_fd, 1 * SZ_1M, 1, &v, &exit));
	ASSERT_EQ(LMVM_EXIT_NONE, exit.reason);
	ASSERT_EQ(0, lmvm_set_region(vm_fd, 0, 0, FREE_GPA, SZ_1M, self->mem));
	ASSERT_EQ(0, lmvm_read(vcpu_fd, 1 * SZ_1M, 1, &v, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	self->mem[3] = 0x33;
	ASSERT_EQ(0, lmvm_read(vcpu_fd, FREE_GPA + 3, 1, &v, &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	EXPECT_EQ(0x33, v);

	/* Deleting the locked slot unlocks it. */
	ASSERT_EQ(0, lmvm_delete_region(vm_fd, 1));
	ASSERT_EQ(0, lmvm_stats(vm_fd, &st));
	EXPECT_EQ(0ULL, st.locked_pages);
	ASSERT_EQ(0, lmvm_read(vcpu_fd, 4 * SZ_1M, 1, &v, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	ASSERT_EQ(0, lmvm_delete_region(vm_fd, 0));
	ASSERT_EQ(0, lmvm_read(vcpu_fd, FREE_GPA, 1, &v, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(-EINVAL, lmvm_delete_region(vm_fd, 0));
	close(vcpu_fd);
	close(vm_fd);
}

#define CAP_LOCK	LAZYMAP_VM_CAP_LOCK_USER_MEMORY_REGION
#define FL_LOCK		LAZYMAP_VM_LOCK_USER_MEMORY_REGION_FLAGS_LOCK
#define FL_UNLOCK	LAZYMAP_VM_LOCK_USER_MEMORY_REGION_FLAGS_UNLOCK
#define P_R		LAZYMAP_VM_LOCK_MEM_READ
#define P_RW		(LAZYMAP_VM_LOCK_MEM_READ | LAZYMAP_VM_LOCK_MEM_WRITE)

/* ENABLE_CAP, one row per input; *locked: slot 1's lock after the row. */
static const struct {
	const char *name;
	struct lazymap_vm_enable_cap cap;
	int err;
	__u64 locked;		/* locked_pages after the row */
} cap_rows[] = {
	{ "cap 0", { 0 }, -EINVAL, SLOT_PAGES },
	{ "cap NR_MEMSLOTS", { LAZYMAP_VM_CAP_NR_MEMSLOTS }, -EINVAL, SLOT_PAGES },
	{ "cap DIRTY_LOG", { LAZYMAP_VM_CAP_DIRTY_LOG }, -EINVAL, SLOT_PAGES },
	{ "cap 10", { 10, FL_LOCK, { 0, P_R } }, -EINVAL, SLOT_PAGES },
	{ "cap ~0", { ~0U, FL_LOCK, { 0, P_R } }, -EINVAL, SLOT_PAGES },
	{ "pad[0]", { CAP_LOCK, FL_LOCK, { 0, P_R }, .pad[0] = 1 }, -EINVAL, SLOT_PAGES },
	{ "pad[63]", { CAP_LOCK, FL_LOCK, { 0, P_R }, .pad[63] = 0x80 }, -EINVAL,
	  SLOT_PAGES },
	{ "flags 0", { CAP_LOCK, 0, { 0, P_R } }, -EINVAL, SLOT_PAGES },
	{ "flags LOCK | UNLOCK", { CAP_LOCK, FL_LOCK | FL_UNLOCK, { 0, P_R } }, -EINVAL,
	  SLOT_PAGES },
	{ "flags bit 2", { CAP_LOCK, 1U << 2, { 0, P_R } }, -EINVAL, SLOT_PAGES },
	{ "flags LOCK | bit 31", { CAP_LOCK, FL_LOCK | 1U << 31, { 0, P_R } }, -EINVAL,
	  SLOT_PAGES },
	{ "lock args[2]", { CAP_LOCK, FL_LOCK, { 0, P_R, 1 } }, -EINVAL, SLOT_PAGES },
	{ "lock args[3]", { CAP_LOCK, FL_LOCK, { 0, P_R, 0, 1 } }, -EINVAL, SLOT_PAGES },
	{ "unlock args[2]", { CAP_LOCK, FL_UNLOCK, { 1, 0, 1 } }, -EINVAL, SLOT_PAGES },
	{ "unlock args[3]", { CAP_LOCK, FL_UNLOCK, { 1, 0, 0, 1 } }, -EINVAL, SLOT_PAGES },
	/* LOCK, in the RFC's order */
	{ "lock slot USER_MEM_SLOTS", { CAP_LOCK, FL_LOCK, { MAX_SLOTS, P_R } }, -EINVAL,
	  SLOT_PAGES },
	{ "lock slot 0 of address space 1", { CAP_LOCK, FL_LOCK, { 1ULL << 16, P_R } },
	  -EINVAL, SLOT_PAGES },
	{ "lock slot 2^32", { CAP_LOCK, FL_LOCK, { 1ULL << 32, P_R } }, -EINVAL,
	  SLOT_PAGES },
	{ "lock slot USER_MEM_SLOTS, perm 0: slot first",
	  { CAP_LOCK, FL_LOCK, { MAX_SLOTS, 0 } }, -EINVAL, SLOT_PAGES },
	{ "lock perm 0", { CAP_LOCK, FL_LOCK, { 0, 0 } }, -EINVAL, SLOT_PAGES },
	{ "lock perm WRITE", { CAP_LOCK, FL_LOCK, { 0, LAZYMAP_VM_LOCK_MEM_WRITE } },
	  -EINVAL, SLOT_PAGES },
	{ "lock perm READ | bit 2", { CAP_LOCK, FL_LOCK, { 0, P_R | 1ULL << 2 } },
	  -EINVAL, SLOT_PAGES },
	{ "lock perm READ | bit 63", { CAP_LOCK, FL_LOCK, { 0, P_R | 1ULL << 63 } },
	  -EINVAL, SLOT_PAGES },
	{ "lock absent slot 7", { CAP_LOCK, FL_LOCK, { 7, P_R } }, -EINVAL, SLOT_PAGES },
	{ "lock absent slot 7, perm 0: perm first", { CAP_LOCK, FL_LOCK, { 7, 0 } },
	  -EINVAL, SLOT_PAGES },
	{ "lock locked slot 1", { CAP_LOCK, FL_LOCK, { 1, P_R } }, -EBUSY, SLOT_PAGES },
	{ "lock locked slot 1 READ | WRITE", { CAP_LOCK, FL_LOCK, { 1, P_RW } }, -EBUSY,
	  SLOT_PAGES },
	{ "lock READONLY slot 2 READ | WRITE", { CAP_LOCK, FL_LOCK, { 2, P_RW } }, -EPERM,
	  SLOT_PAGES },
	{ "lock LOG_DIRTY slot 3 READ | WRITE", { CAP_LOCK, FL_LOCK, { 3, P_RW } }, -EPERM,
	  SLOT_PAGES },
	{ "lock slot 4 over a hole", { CAP_LOCK, FL_LOCK, { 4, P_R } }, -EFAULT, SLOT_PAGES },
	{ "lock slot 5 over PROT_NONE", { CAP_LOCK, FL_LOCK, { 5, P_R } }, -EFAULT,
	  SLOT_PAGES },
	{ "lock READONLY slot 2 READ", { CAP_LOCK, FL_LOCK, { 2, P_R } }, 0, 2 * SLOT_PAGES },
	{ "lock LOG_DIRTY slot 3 READ", { CAP_LOCK, FL_LOCK, { 3, P_R } }, 0, 2 * SLOT_PAGES },
	{ "lock slot 0 READ | WRITE", { CAP_LOCK, FL_LOCK, { 0, P_RW } }, 0, 2 * SLOT_PAGES },
	/* UNLOCK */
	{ "unlock args[1] 2", { CAP_LOCK, FL_UNLOCK, { 1, 2 } }, -EINVAL, SLOT_PAGES },
	{ "unlock args[1] bit 63", { CAP_LOCK, FL_UNLOCK, { 1, 1ULL << 63 } }, -EINVAL,
	  SLOT_PAGES },
	{ "unlock slot USER_MEM_SLOTS", { CAP_LOCK, FL_UNLOCK, { MAX_SLOTS, 0 } }, -EINVAL,
	  SLOT_PAGES },
	{ "unlock slot 1 of address space 1", { CAP_LOCK, FL_UNLOCK, { 1ULL << 16 | 1, 0 } },
	  -EINVAL, SLOT_PAGES },
	{ "unlock absent slot 7", { CAP_LOCK, FL_UNLOCK, { 7, 0 } }, -EINVAL, SLOT_PAGES },
	{ "unlock unlocked slot 0", { CAP_LOCK, FL_UNLOCK, { 0, 0 } }, 0, SLOT_PAGES },
	{ "unlock slot 1", { CAP_LOCK, FL_UNLOCK, { 1, 0 } }, 0, 0 },
	{ "unlock ALL, args[0] ignored",
	  { CAP_LOCK, FL_UNLOCK, { 0xdeadbeefULL, LAZYMAP_VM_UNLOCK_MEM_ALL } }, 0, 0 },
};

TEST_F_TIMEOUT(vm, enable_cap_errno, 300)
{
	struct lazymap_vm_stats st;
	long long lck0, lck;
	unsigned int i;
	int vm_fd, vcpu_fd, ret;

	for (i = 0; i < ARRAY_SIZE(cap_rows); i++) {
		lck0 = lmvm_status_kb("VmLck");
		vm_fd = std_vm(self, &vcpu_fd);
		ASSERT_LE(0, vm_fd) TH_LOG("std_vm: %s", strerror(-vm_fd));
		ret = lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_ENABLE_CAP, &cap_rows[i].cap));
		EXPECT_EQ(cap_rows[i].err, ret)
			TH_LOG("row \"%s\": got %s", cap_rows[i].name,
			       strerror(-ret));
		ASSERT_EQ(0, lmvm_stats(vm_fd, &st));
		EXPECT_EQ(cap_rows[i].locked, st.locked_pages)
			TH_LOG("row \"%s\"", cap_rows[i].name);
		/* The lock is accounted to the mm as locked_vm (VmLck). */
		lck = lmvm_status_kb("VmLck");
		EXPECT_EQ(lck0 + (long long)cap_rows[i].locked * 4, lck)
			TH_LOG("row \"%s\": VmLck %lld kB, was %lld kB",
			       cap_rows[i].name, lck, lck0);
		close(vcpu_fd);
		close(vm_fd);
		EXPECT_EQ(lck0, lmvm_status_kb("VmLck"))
			TH_LOG("row \"%s\": the closed VM left memory locked",
			       cap_rows[i].name);
	}
}

/*
 * Once a vCPU has run (an ACCESS passed its argument checks), LOCK is
 * EBUSY, after the slot and perm checks and before the slot lookup.  An
 * ACCESS that fails its argument checks does not count.
 */
TEST_F(vm, lock_after_run_errno)
{
	struct lazymap_vm_access bad = {
		.gpa = 1 * SZ_1M, .size = 0, .flags = LAZYMAP_VM_ACCESS_READ,
	};
	struct lazymap_vm_exit exit;
	int vm_fd, vcpu_fd;
	uint8_t v;

	vm_fd = std_vm(self, &vcpu_fd);
	ASSERT_LE(0, vm_fd);
	EXPECT_EQ(-EINVAL, lmvm_ret(ioctl(vcpu_fd, LAZYMAP_VM_VCPU_ACCESS, &bad)));
	EXPECT_EQ(0, lmvm_lock(vm_fd, 0, P_R));
	EXPECT_EQ(0, lmvm_unlock(vm_fd, 0, false));
	/* An MMIO exit is a run too. */
	ASSERT_EQ(0, lmvm_read(vcpu_fd, FREE_GPA, 1, &v, &exit));
	ASSERT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(-EINVAL, lmvm_lock(vm_fd, MAX_SLOTS, P_R));
	EXPECT_EQ(-EINVAL, lmvm_lock(vm_fd, 0, 0));
	EXPECT_EQ(-EBUSY, lmvm_lock(vm_fd, 0, P_R));
	EXPECT_EQ(-EBUSY, lmvm_lock(vm_fd, 7, P_R));
	EXPECT_EQ(-EBUSY, lmvm_lock(vm_fd, 2, P_RW));
	/* UNLOCK is not affected. */
	EXPECT_EQ(0, lmvm_unlock(vm_fd, 1, false));
	EXPECT_EQ(-EBUSY, lmvm_lock(vm_fd, 1, P_R));
	close(vcpu_fd);
	close(vm_fd);
}

TEST_F_TIMEOUT(vm, get_dirty_log_errno, 120)
{
	uint64_t *ro = (uint64_t *)(self->mem + 6 * SZ_1M);
	uint64_t bitmap[SLOT_PAGES / 64];
	const struct {
		const char *name;
		__u32 slot, padding1;
		void *bitmap;
		int err;
	} rows[] = {
		{ "slot USER_MEM_SLOTS", MAX_SLOTS, 0, bitmap, -EINVAL },
		{ "slot 0xffff", 0xffff, 0, bitmap, -EINVAL },
		{ "slot 3 of address space 1", 1U << 16 | 3, 0, bitmap, -EINVAL },
		{ "padding1", 3, 1, bitmap, -EINVAL },
		{ "absent slot 7", 7, 0, bitmap, -ENOENT },
		{ "slot 0 without LOG_DIRTY_PAGES", 0, 0, bitmap, -ENOENT },
		{ "slot 0 without LOG_DIRTY_PAGES, NULL bitmap", 0, 0, NULL, -ENOENT },
		{ "slot 3, NULL bitmap", 3, 0, NULL, -EFAULT },
		{ "slot 3, read-only bitmap", 3, 0, ro, -EFAULT },
		{ "slot 3, bitmap in the kernel half", 3, 0,
		  (void *)0xffff888000000000ULL, -EFAULT },
		{ "slot 3", 3, 0, bitmap, 0 },
	};
	struct lazymap_vm_dirty_log log;
	unsigned int i;
	int vm_fd, vcpu_fd, ret;

	ASSERT_EQ(0, mprotect(ro, PG, PROT_READ));
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		vm_fd = std_vm(self, &vcpu_fd);
		ASSERT_LE(0, vm_fd);
		memset(&log, 0, sizeof(log));
		log.slot = rows[i].slot;
		log.padding1 = rows[i].padding1;
		log.dirty_bitmap = rows[i].bitmap;
		ret = lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_GET_DIRTY_LOG, &log));
		EXPECT_EQ(rows[i].err, ret)
			TH_LOG("row \"%s\": got %s", rows[i].name, strerror(-ret));
		close(vcpu_fd);
		close(vm_fd);
	}
}

TEST_F(vm, vcpu_access_errno)
{
	uint8_t buf[64];
	const struct {
		const char *name;
		struct lazymap_vm_access a;
		int err;
	} rows[] = {
		{ "flags 0", { SZ_1M, 1, 0, 0 }, -EINVAL },
		{ "READ | WRITE", { SZ_1M, 1, 0, LAZYMAP_VM_ACCESS_READ |
						LAZYMAP_VM_ACCESS_WRITE }, -EINVAL },
		{ "READ | EXEC", { SZ_1M, 1, 0, LAZYMAP_VM_ACCESS_READ |
					       LAZYMAP_VM_ACCESS_EXEC }, -EINVAL },
		{ "WRITE | EXEC", { SZ_1M, 1, 0, LAZYMAP_VM_ACCESS_WRITE |
						LAZYMAP_VM_ACCESS_EXEC }, -EINVAL },
		{ "flag bit 3", { SZ_1M, 1, 0, 1U << 3 }, -EINVAL },
		{ "READ | bit 31", { SZ_1M, 1, 0, LAZYMAP_VM_ACCESS_READ | 1U << 31 },
		  -EINVAL },
		{ "size 0", { SZ_1M, 0, 0, LAZYMAP_VM_ACCESS_READ }, -EINVAL },
		{ "size ACCESS_MAX_SIZE + 1",
		  { SZ_1M, LAZYMAP_VM_ACCESS_MAX_SIZE + 1, 0, LAZYMAP_VM_ACCESS_READ },
		  -EINVAL },
		{ "size 2^63", { SZ_1M, 1ULL << 63, 0, LAZYMAP_VM_ACCESS_READ }, -EINVAL },
		{ "gpa + size wrapping", { 0ULL - 0x100, 0x200, 0, LAZYMAP_VM_ACCESS_READ },
		  -EINVAL },
		{ "gpa + size = 2^64", { 0ULL - 0x100, 0x100, 0, LAZYMAP_VM_ACCESS_READ },
		  -EINVAL },
		{ "pad1", { SZ_1M, 1, 0, LAZYMAP_VM_ACCESS_READ, 1 }, -EINVAL },
		{ "pad2[0]", { SZ_1M, 1, 0, LAZYMAP_VM_ACCESS_READ, 0, { 1 } }, -EINVAL },
		{ "pad2[1]", { SZ_1M, 1, 0, LAZYMAP_VM_ACCESS_READ, 0, { 0, 1ULL << 63 } },
		  -EINVAL },
		{ "size 0, NULL data: EINVAL first", { SZ_1M, 0, 0, LAZYMAP_VM_ACCESS_WRITE },
		  -EINVAL },
		{ "NULL data", { SZ_1M, 1, 0, LAZYMAP_VM_ACCESS_READ }, -EFAULT },
		/* The exit is output only: what it held before is ignored. */
		{ "junk in exit", { SZ_1M, 1, 1, LAZYMAP_VM_ACCESS_READ, 0, { 0 },
				    { 77, 1, 2, 3, 4, { 5, 6 } } }, 0 },
		{ "READ of ACCESS_MAX_SIZE", { SZ_1M, SZ_1M, 1, LAZYMAP_VM_ACCESS_READ }, 0 },
		{ "EXEC", { SZ_1M, 64, 1, LAZYMAP_VM_ACCESS_EXEC }, 0 },
	};
	struct lazymap_vm_access a;
	uint8_t *big;
	unsigned int i;
	int ret;

	big = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, big);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, SZ_1M, SZ_1M, self->mem));
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		a = rows[i].a;
		if (a.data)
			a.data = (uintptr_t)(a.size > sizeof(buf) ? big : buf);
		ret = lmvm_ret(ioctl(self->vcpu_fd, LAZYMAP_VM_VCPU_ACCESS, &a));
		EXPECT_EQ(rows[i].err, ret)
			TH_LOG("row \"%s\": got %s", rows[i].name, strerror(-ret));
		if (!ret || ret == -EFAULT) {
			EXPECT_EQ(LMVM_EXIT_NONE, a.exit.reason)
				TH_LOG("row \"%s\"", rows[i].name);
		}
		if (!ret) {
			EXPECT_EQ(rows[i].a.gpa + rows[i].a.size, a.exit.gpa)
				TH_LOG("row \"%s\"", rows[i].name);
			EXPECT_EQ(0ULL, a.exit.size) TH_LOG("row \"%s\"", rows[i].name);
		}
	}
	EXPECT_EQ(0, memcmp(buf, self->mem, 64));
	EXPECT_EQ(0, memcmp(big, self->mem, SZ_1M));
	munmap(big, SZ_1M);
}

TEST_HARNESS_MAIN
