// SPDX-License-Identifier: GPL-2.0
/*
 * Race stress of lazymap-vm (/dev/lazymap-vm): vCPU ACCESS against munmap
 * of the slot's memory, slot delete and VM fd close, each worker for a
 * fixed number of rounds.
 *
 * Slot 0 maps 4 MiB of a memfd at GPA 0 and slot 1 another 4 MiB of it at
 * GPA 16 MiB; every page holds pat(page of the memfd) from the start and
 * every writer (vCPU WRITEs, the host) stores only that value.  At once:
 *
 *  - accessors, one vCPU each: READ of 8 random bytes of a page, checked,
 *    and WRITE back of pat(); an access may also find the host memory
 *    unmapped (MEMORY_FAULT, -EFAULT) or slot 1 deleted (an MMIO exit),
 *    never another value;
 *  - unmapper: munmap of a random page run of slot 0's host mapping, then
 *    the same memfd pages mapped back at the same address (MAP_FIXED), so
 *    the data stays and the slot sees it again;
 *  - deleter: delete and re-create slot 1;
 *  - closer: a VM of its own per round, a slot and a vCPU, a thread
 *    ACCESSing it while the VM fd, then the vCPU fd, is closed.
 *
 * At the end every byte of the memfd holds pat() and a READ of every page
 * of both slots sees it, stage 2 entries were invalidated, and deleting the
 * slots leaves no stage 2 entry.  Splats and leaks: the log scan and
 * kmemleak.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "lazymap_vm_util.h"

#define SLOT_LEN		(4 * SZ_1M)
#define SLOT_PAGES		(SLOT_LEN / PG)
#define GPA1			(16 * SZ_1M)
#define ACCESSORS		2
#define ACCESSOR_ROUNDS		2000
#define UNMAPPER_ROUNDS		400
#define DELETER_ROUNDS		200
#define CLOSER_ROUNDS		30
#define SEED			0x766d7374UL	/* "vmst" */

/* Byte of page @pg of the memfd (slot 1 starts at its page SLOT_PAGES). */
static uint8_t pat(size_t pg)
{
	return pg % 251 + 1;
}

struct vms_ctx {
	int dev_fd;
	int vm_fd;
	int memfd;
	int vcpu_fd[ACCESSORS];
	uint8_t *host0, *host1;
	unsigned long accesses, served, faults, mmio, bad;
	unsigned long unmaps, deletes, closes;
	unsigned int next;
	struct lm_first_fail fail;
};

static void vms_fail(struct vms_ctx *c, const char *op, int err)
{
	lm_fail(&c->fail, op, err);
}

/* The memfd page at @gpa, for the pattern. */
static size_t gpa_page(uint64_t gpa)
{
	return gpa >= GPA1 ? SLOT_PAGES + (gpa - GPA1) / PG : gpa / PG;
}

/*
 * One READ of 8 bytes at @gpa, checked, then a WRITE of them back.
 * Returns 0 or the first unexpected error.
 */
static int vms_access(struct vms_ctx *c, int vcpu_fd, uint64_t gpa)
{
	uint8_t buf[8], want = pat(gpa_page(gpa));
	struct lazymap_vm_exit exit;
	unsigned int i;
	int ret, step;

	for (step = 0; step < 2; step++) {
		if (step)
			memset(buf, want, sizeof(buf));
		ret = lmvm_access(vcpu_fd, step ? LAZYMAP_VM_ACCESS_WRITE :
					   LAZYMAP_VM_ACCESS_READ,
				  gpa, sizeof(buf), buf, &exit);
		__atomic_fetch_add(&c->accesses, 1, __ATOMIC_RELAXED);
		if (ret == -EFAULT && exit.reason == LMVM_EXIT_MEMORY_FAULT) {
			__atomic_fetch_add(&c->faults, 1, __ATOMIC_RELAXED);
			return 0;
		}
		if (!ret && exit.reason == LMVM_EXIT_MMIO) {
			/* Only slot 1 is ever deleted. */
			if (gpa < GPA1)
				return -EPROTO;
			__atomic_fetch_add(&c->mmio, 1, __ATOMIC_RELAXED);
			return 0;
		}
		if (ret)
			return ret;
		if (exit.reason != LMVM_EXIT_NONE)
			return -EPROTO;
		__atomic_fetch_add(&c->served, 1, __ATOMIC_RELAXED);
		for (i = 0; !step && i < sizeof(buf); i++) {
			if (buf[i] != want) {
				__atomic_fetch_add(&c->bad, 1, __ATOMIC_RELAXED);
				break;
			}
		}
	}
	return 0;
}

static void *accessor(void *arg)
{
	struct vms_ctx *c = arg;
	unsigned int id = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
	uint64_t s = SEED + id, gpa;
	unsigned int i;
	int ret;

	for (i = 0; i < ACCESSOR_ROUNDS; i++) {
		uint64_t r = lm_rnd(&s);

		gpa = (r % (2 * SLOT_PAGES)) * PG + (r >> 40) % (PG - 8);
		if (gpa >= SLOT_LEN)
			gpa += GPA1 - SLOT_LEN;
		ret = vms_access(c, c->vcpu_fd[id], gpa);
		if (ret) {
			vms_fail(c, "VCPU_ACCESS", ret);
			break;
		}
	}
	return NULL;
}

static void *unmapper(void *arg)
{
	struct vms_ctx *c = arg;
	uint64_t s = SEED ^ 0x33;
	size_t first, count;
	unsigned int i;
	void *p;

	for (i = 0; i < UNMAPPER_ROUNDS; i++) {
		uint64_t r = lm_rnd(&s);

		first = r % SLOT_PAGES;
		count = 1 + (r >> 32) % 16;
		if (first + count > SLOT_PAGES)
			count = SLOT_PAGES - first;
		if (munmap(c->host0 + first * PG, count * PG)) {
			vms_fail(c, "munmap", -errno);
			break;
		}
		sched_yield();
		p = mmap(c->host0 + first * PG, count * PG,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 c->memfd, first * PG);
		if (p == MAP_FAILED) {
			vms_fail(c, "mmap back", -errno);
			break;
		}
		c->unmaps++;
	}
	return NULL;
}

static void *deleter(void *arg)
{
	struct vms_ctx *c = arg;
	unsigned int i;
	int ret;

	for (i = 0; i < DELETER_ROUNDS; i++) {
		ret = lmvm_delete_region(c->vm_fd, 1);
		if (ret) {
			vms_fail(c, "delete slot 1", ret);
			break;
		}
		sched_yield();
		ret = lmvm_set_region(c->vm_fd, 1, 0, GPA1, SLOT_LEN, c->host1);
		if (ret) {
			vms_fail(c, "create slot 1", ret);
			break;
		}
		c->deletes++;
	}
	return NULL;
}

struct closer_round {
	struct vms_ctx *c;
	int vcpu_fd;
	int ret;
};

/* ACCESS the closer's VM while its fds are closed. */
static void *closer_access(void *arg)
{
	struct closer_round *r = arg;
	uint64_t s = SEED ^ 0x77;
	unsigned int i;

	for (i = 0; i < 32 && !r->ret; i++)
		r->ret = vms_access(r->c, r->vcpu_fd, lm_rnd(&s) % SLOT_PAGES * PG);
	return NULL;
}

static void *closer(void *arg)
{
	struct vms_ctx *c = arg;
	struct closer_round r = { .c = c };
	unsigned int i;
	pthread_t t;
	int vm, ret;

	for (i = 0; i < CLOSER_ROUNDS; i++) {
		vm = lmvm_create_vm(c->dev_fd, 0);
		if (vm < 0) {
			vms_fail(c, "CREATE_VM", vm);
			break;
		}
		ret = lmvm_set_region(vm, 0, 0, 0, SLOT_LEN, c->host0);
		r.vcpu_fd = ret ?: lmvm_create_vcpu(vm, 0);
		if (r.vcpu_fd < 0) {
			vms_fail(c, "a slot or vCPU of a VM to close", r.vcpu_fd);
			close(vm);
			break;
		}
		r.ret = 0;
		ret = pthread_create(&t, NULL, closer_access, &r);
		if (ret) {
			vms_fail(c, "pthread_create", -ret);
			close(r.vcpu_fd);
			close(vm);
			break;
		}
		/* The vCPU keeps the VM: its accesses go on. */
		close(vm);
		pthread_join(t, NULL);
		close(r.vcpu_fd);
		if (r.ret) {
			vms_fail(c, "VCPU_ACCESS of a VM closing", r.ret);
			break;
		}
		c->closes++;
	}
	return NULL;
}

FIXTURE(vm_stress) {
	int dev_fd, vm_fd, memfd;
	int vcpu_fd[ACCESSORS];
	uint8_t *host;		/* both slots' host memory, one mapping */
};

FIXTURE_SETUP(vm_stress)
{
	unsigned int i;
	size_t pg;

	self->vm_fd = -1;
	self->memfd = -1;
	self->host = MAP_FAILED;
	for (i = 0; i < ACCESSORS; i++)
		self->vcpu_fd[i] = -1;
	self->dev_fd = lmvm_open_dev();
	if (self->dev_fd == -ENOENT || self->dev_fd == -ENODEV)
		SKIP(return, "%s: %s", LAZYMAP_VM_DEV, strerror(-self->dev_fd));
	ASSERT_LE(0, self->dev_fd);
	self->vm_fd = lmvm_create_vm(self->dev_fd, 0);
	ASSERT_LE(0, self->vm_fd);
	for (i = 0; i < ACCESSORS; i++) {
		self->vcpu_fd[i] = lmvm_create_vcpu(self->vm_fd, i);
		ASSERT_LE(0, self->vcpu_fd[i]);
	}
	self->memfd = memfd_create("vm_stress", MFD_CLOEXEC);
	ASSERT_LE(0, self->memfd);
	ASSERT_EQ(0, ftruncate(self->memfd, 2 * SLOT_LEN));
	self->host = mmap(NULL, 2 * SLOT_LEN, PROT_READ | PROT_WRITE,
			  MAP_SHARED, self->memfd, 0);
	ASSERT_NE(MAP_FAILED, self->host);
	for (pg = 0; pg < 2 * SLOT_PAGES; pg++)
		memset(self->host + pg * PG, pat(pg), PG);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 0, 0, 0, SLOT_LEN,
				     self->host));
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 1, 0, GPA1, SLOT_LEN,
				     self->host + SLOT_LEN));
}

FIXTURE_TEARDOWN(vm_stress)
{
	unsigned int i;

	for (i = 0; i < ACCESSORS; i++)
		if (self->vcpu_fd[i] >= 0)
			close(self->vcpu_fd[i]);
	if (self->vm_fd >= 0)
		close(self->vm_fd);
	if (self->host != MAP_FAILED)
		munmap(self->host, 2 * SLOT_LEN);
	if (self->memfd >= 0)
		close(self->memfd);
	if (self->dev_fd >= 0)
		close(self->dev_fd);
}

TEST_F_TIMEOUT(vm_stress, access_vs_munmap_delete_close, 1200)
{
	void *(*const workers[])(void *) = {
		accessor, accessor, unmapper, deleter, closer,
	};
	struct vms_ctx c = {
		.dev_fd = self->dev_fd,
		.vm_fd = self->vm_fd,
		.memfd = self->memfd,
		.host0 = self->host,
		.host1 = self->host + SLOT_LEN,
	};
	pthread_t threads[ARRAY_SIZE(workers)];
	struct lazymap_vm_stats st;
	unsigned int n, i;
	int ret = 0;
	long bad;
	size_t pg;

	for (i = 0; i < ACCESSORS; i++)
		c.vcpu_fd[i] = self->vcpu_fd[i];
	for (n = 0; n < ARRAY_SIZE(workers); n++) {
		ret = pthread_create(&threads[n], NULL, workers[n], &c);
		if (ret)
			break;
	}
	while (n--)
		pthread_join(threads[n], NULL);
	ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));

	TH_LOG("%lu accesses: %lu served, %lu memory faults, %lu MMIO exits",
	       c.accesses, c.served, c.faults, c.mmio);
	TH_LOG("%lu unmaps, %lu slot deletes, %lu VMs closed", c.unmaps,
	       c.deletes, c.closes);
	EXPECT_EQ(NULL, c.fail.op)
		TH_LOG("%s: %s", c.fail.op, strerror(-c.fail.err));
	EXPECT_EQ(0UL, c.bad);
	EXPECT_EQ((unsigned long)UNMAPPER_ROUNDS, c.unmaps);
	EXPECT_EQ((unsigned long)DELETER_ROUNDS, c.deletes);
	EXPECT_EQ((unsigned long)CLOSER_ROUNDS, c.closes);
	EXPECT_LT(0UL, c.served);

	/* The data, from the host and through both slots. */
	bad = -1;
	for (pg = 0; pg < 2 * SLOT_PAGES && bad < 0; pg++) {
		bad = first_mismatch(self->host + pg * PG, PG, pat(pg));
		if (bad >= 0)
			bad += pg * PG;
	}
	EXPECT_EQ(-1, bad) TH_LOG("byte %#lx of the memfd lost its pattern",
				  bad);
	c.bad = 0;
	c.served = 0;
	for (pg = 0; pg < 2 * SLOT_PAGES; pg++) {
		ret = vms_access(&c, self->vcpu_fd[0],
				 pg < SLOT_PAGES ? pg * PG :
				 GPA1 + (pg - SLOT_PAGES) * PG);
		ASSERT_EQ(0, ret);
	}
	EXPECT_EQ(0UL, c.bad);
	EXPECT_EQ(2UL * 2 * SLOT_PAGES, c.served);
	ASSERT_EQ(0, lmvm_stats(self->vm_fd, &st));
	EXPECT_LT(0ULL, st.s2_invalidated);
	EXPECT_LT(0ULL, st.s2_pages);
	ASSERT_EQ(0, lmvm_delete_region(self->vm_fd, 0));
	ASSERT_EQ(0, lmvm_delete_region(self->vm_fd, 1));
	ASSERT_EQ(0, lmvm_stats(self->vm_fd, &st));
	EXPECT_EQ(0ULL, st.s2_pages);
}

TEST_HARNESS_MAIN
