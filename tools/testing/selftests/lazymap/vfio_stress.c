// SPDX-License-Identifier: GPL-2.0
/*
 * Race stress of BAR mmaps under VFIO on the QEMU stages' ivshmem device
 * (BAR2: 1 GiB of RAM), bound to lazymap-vfio-pci and, for comparison, to
 * stock vfio-pci: threads and a forked process fault the BAR while others
 * turn memory decoding off and on through config-space writes, reset the
 * device (VFIO_DEVICE_RESET) and open, map and close second device fds;
 * at the end a child keeps faulting its mapping while the device is
 * unbound.  Every worker runs a fixed number of rounds.
 *
 * Each page of the 16 MiB mapped holds pat(page) from the start and every
 * writer stores only that value, so a read sees pat() or takes SIGBUS.
 * Memory disable is a window the toggler opens (gen odd) before it clears
 * PCI_COMMAND_MEMORY and closes (gen even) after it set it again: a SIGBUS
 * is allowed only when an access overlapped such a window; a reset blocks
 * faults but never makes them SIGBUS.  At the end the BAR holds pat()
 * throughout, seen through a fresh bind, and the unbind completed once
 * the last mapping went.  Splats and leaks: the stages' log scan and
 * kmemleak.
 *
 * SKIPs without ivshmem or without the driver.
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
#include <sys/wait.h>
#include <linux/pci_regs.h>

#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "vfio_util.h"

#define MAP_LEN			(8 * SZ_2M)
#define MAP_PAGES		(MAP_LEN / PG)

#define FAULTERS		2
#define FAULTER_ROUNDS		5000
#define TOGGLER_ROUNDS		200
#define RESETTER_ROUNDS		30
#define FORKER_ROUNDS		25
#define CHILD_ACCESSES		64
#define CLOSER_ROUNDS		60
#define UNBIND_ACCESSES		2000
#define SEED			0x76666970UL	/* "vfip" */

static uint8_t pat(size_t pg)
{
	return pg % 251 + 1;
}

/* Shared with forked children (MAP_SHARED | MAP_ANONYMOUS). */
struct vs_shared {
	unsigned long gen;		/* odd: memory may be disabled */
	unsigned long accesses, sigbus, bad_sigbus, bad;
};

struct vs_ctx {
	int device_fd;
	int group_fd;
	const char *bdf;
	uint64_t bar2_off, cfg_off;
	bool can_reset;
	volatile uint8_t *map;
	struct vs_shared *sh;
	unsigned long toggles, resets, forks, children_failed, closes;
	unsigned int next;
	struct lm_first_fail fail;
};

static void vs_fail(struct vs_ctx *c, const char *op, int err)
{
	lm_fail(&c->fail, op, err);
}

/*
 * Read, check and write back one byte of page @pg through @map; a SIGBUS
 * outside a memory-disable window counts as bad_sigbus.
 */
static void vs_access(struct vs_shared *sh, volatile uint8_t *map, size_t pg,
		      size_t byte)
{
	unsigned long g0, g1;
	uint8_t v;
	bool bus;

	g0 = __atomic_load_n(&sh->gen, __ATOMIC_ACQUIRE);
	bus = read_byte(map + pg * PG + byte, &v) ||
	      write_byte(map + pg * PG + byte, pat(pg));
	g1 = __atomic_load_n(&sh->gen, __ATOMIC_ACQUIRE);
	__atomic_fetch_add(&sh->accesses, 1, __ATOMIC_RELAXED);
	if (bus) {
		__atomic_fetch_add(&sh->sigbus, 1, __ATOMIC_RELAXED);
		if (g0 == g1 && !(g0 & 1))
			__atomic_fetch_add(&sh->bad_sigbus, 1, __ATOMIC_RELAXED);
	} else if (v != pat(pg)) {
		__atomic_fetch_add(&sh->bad, 1, __ATOMIC_RELAXED);
	}
}

static int cmd_rw(int fd, uint64_t cfg_off, uint16_t *val, bool write)
{
	ssize_t n = write ? pwrite(fd, val, 2, cfg_off + PCI_COMMAND) :
			    pread(fd, val, 2, cfg_off + PCI_COMMAND);

	return n == 2 ? 0 : -errno ?: -EIO;
}

static void *faulter(void *arg)
{
	struct vs_ctx *c = arg;
	uint64_t s = SEED + __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
	unsigned int i;

	for (i = 0; i < FAULTER_ROUNDS; i++) {
		uint64_t r = lm_rnd(&s);

		vs_access(c->sh, c->map, r % MAP_PAGES, (r >> 32) % PG);
	}
	return NULL;
}

static void *toggler(void *arg)
{
	struct vs_ctx *c = arg;
	uint16_t cmd, off;
	unsigned int i, j;
	int ret;

	ret = cmd_rw(c->device_fd, c->cfg_off, &cmd, false);
	if (ret || !(cmd & PCI_COMMAND_MEMORY)) {
		vs_fail(c, "reading PCI_COMMAND", ret ?: -EINVAL);
		return NULL;
	}
	off = cmd & ~PCI_COMMAND_MEMORY;
	for (i = 0; i < TOGGLER_ROUNDS; i++) {
		__atomic_fetch_add(&c->sh->gen, 1, __ATOMIC_ACQ_REL);
		ret = cmd_rw(c->device_fd, c->cfg_off, &off, true);
		for (j = 0; !ret && j < 4; j++)
			sched_yield();
		ret = ret ?: cmd_rw(c->device_fd, c->cfg_off, &cmd, true);
		__atomic_fetch_add(&c->sh->gen, 1, __ATOMIC_ACQ_REL);
		if (ret) {
			vs_fail(c, "writing PCI_COMMAND", ret);
			break;
		}
		c->toggles++;
		for (j = 0; j < 4; j++)
			sched_yield();
	}
	return NULL;
}

static void *resetter(void *arg)
{
	struct vs_ctx *c = arg;
	unsigned int i;

	for (i = 0; c->can_reset && i < RESETTER_ROUNDS; i++) {
		if (ioctl(c->device_fd, VFIO_DEVICE_RESET)) {
			vs_fail(c, "VFIO_DEVICE_RESET", -errno);
			break;
		}
		c->resets++;
		sched_yield();
	}
	return NULL;
}

static void *forker(void *arg)
{
	struct vs_ctx *c = arg;
	uint64_t s = SEED ^ 0xf0;
	unsigned int i, j;
	int status;
	pid_t pid;

	for (i = 0; i < FORKER_ROUNDS; i++) {
		lm_rnd(&s);
		pid = fork();
		if (pid < 0) {
			vs_fail(c, "fork", -errno);
			break;
		}
		if (!pid) {
			for (j = 0; j < CHILD_ACCESSES; j++) {
				uint64_t r = lm_rnd(&s);

				vs_access(c->sh, c->map, r % MAP_PAGES,
					  (r >> 32) % PG);
			}
			_exit(0);
		}
		if (waitpid(pid, &status, 0) != pid) {
			vs_fail(c, "waitpid", -errno);
			break;
		}
		c->forks++;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			c->children_failed++;
	}
	return NULL;
}

/* A second device fd, a mapping of it, the fd closed while mapped. */
static void *closer(void *arg)
{
	struct vs_ctx *c = arg;
	uint64_t s = SEED ^ 0xc1;
	volatile uint8_t *m;
	unsigned int i, j;
	void *p;
	int fd;

	for (i = 0; i < CLOSER_ROUNDS; i++) {
		fd = ioctl(c->group_fd, VFIO_GROUP_GET_DEVICE_FD, c->bdf);
		if (fd < 0) {
			vs_fail(c, "VFIO_GROUP_GET_DEVICE_FD", -errno);
			break;
		}
		p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 c->bar2_off);
		close(fd);
		if (p == MAP_FAILED) {
			vs_fail(c, "mmap of a second fd", -errno);
			break;
		}
		m = p;
		for (j = 0; j < 8; j++)
			vs_access(c->sh, m, lm_rnd(&s) % (SZ_2M / PG), j);
		munmap(p, SZ_2M);
		c->closes++;
	}
	return NULL;
}

FIXTURE(vfio_stress) {
	char bdf[PCI_BDF_LEN];
	struct vfio_type1_dev dev;
	struct vfio_region_info bar2, cfg;
	struct vs_shared *sh;
	void *map;
};

FIXTURE_VARIANT(vfio_stress) {
	const char *driver;
};

FIXTURE_VARIANT_ADD(vfio_stress, lazymap) {
	.driver = "lazymap-vfio-pci",
};

FIXTURE_VARIANT_ADD(vfio_stress, stock) {
	.driver = "vfio-pci",
};

FIXTURE_SETUP(vfio_stress)
{
	char drv[PATH_MAX];
	int ret;

	vfio_type1_init(&self->dev);
	self->map = MAP_FAILED;
	self->sh = MAP_FAILED;
	ret = pci_find_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, self->bdf,
			      sizeof(self->bdf));
	if (ret)
		SKIP(return, "no ivshmem device: %s", strerror(-ret));
	snprintf(drv, sizeof(drv), "/sys/bus/pci/drivers/%s", variant->driver);
	if (access(drv, F_OK))
		SKIP(return, "%s is not loaded", variant->driver);
	ret = pci_bind_driver(self->bdf, variant->driver);
	ASSERT_EQ(0, ret) TH_LOG("binding: %s", strerror(-ret));
	ret = vfio_type1_open(&self->dev, self->bdf);
	ASSERT_EQ(0, ret) TH_LOG("VFIO type1 open: %s", strerror(-ret));
	ASSERT_EQ(0, vfio_region_info(self->dev.device_fd,
				      VFIO_PCI_BAR2_REGION_INDEX, &self->bar2));
	ASSERT_EQ(0, vfio_region_info(self->dev.device_fd,
				      VFIO_PCI_CONFIG_REGION_INDEX, &self->cfg));
	self->sh = mmap(NULL, sizeof(*self->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
	memset(self->sh, 0, sizeof(*self->sh));
	self->map = vfio_mmap_aligned(self->dev.device_fd, self->bar2.offset,
				      MAP_LEN, PROT_READ | PROT_WRITE, SZ_2M, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	ASSERT_EQ(0, sigbus_install());
}

FIXTURE_TEARDOWN(vfio_stress)
{
	if (self->map != MAP_FAILED)
		munmap(self->map, MAP_LEN);
	if (self->sh != MAP_FAILED)
		munmap(self->sh, sizeof(*self->sh));
	vfio_type1_close(&self->dev);
}

static long check_pattern(const volatile uint8_t *map)
{
	long bad;
	size_t pg;

	for (pg = 0; pg < MAP_PAGES; pg++) {
		bad = first_mismatch(map + pg * PG, PG, pat(pg));
		if (bad >= 0)
			return pg * PG + bad;
	}
	return -1;
}

/* Unbind @bdf from its driver: 0 or -errno. */
static int pci_unbind(const char *bdf)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/driver/unbind", PCI_SYSFS_DEVICES,
		 bdf);
	return sysfs_write_str(path, bdf);
}

TEST_F_TIMEOUT(vfio_stress, fault_disable_reset_close_unbind, 1200)
{
	void *(*const workers[])(void *) = {
		faulter, faulter, toggler, resetter, forker, closer,
	};
	struct vs_ctx c = {
		.device_fd = self->dev.device_fd,
		.group_fd = self->dev.group_fd,
		.bdf = self->bdf,
		.bar2_off = self->bar2.offset,
		.cfg_off = self->cfg.offset,
		.map = self->map,
		.sh = self->sh,
	};
	pthread_t threads[ARRAY_SIZE(workers)];
	struct vfio_device_info info;
	volatile uint8_t *m = self->map;
	unsigned int n, i;
	int ret = 0, status, pipefd[2];
	long bad;
	size_t pg;
	pid_t child;
	char x;
	void *p;

	ASSERT_EQ(0, vfio_device_info(self->dev.device_fd, &info));
	c.can_reset = info.flags & VFIO_DEVICE_FLAGS_RESET;
	for (pg = 0; pg < MAP_PAGES; pg++)
		memset((void *)(m + pg * PG), pat(pg), PG);

	for (n = 0; n < ARRAY_SIZE(workers); n++) {
		ret = pthread_create(&threads[n], NULL, workers[n], &c);
		if (ret)
			break;
	}
	while (n--)
		pthread_join(threads[n], NULL);
	ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));

	TH_LOG("%lu accesses, %lu SIGBUS; %lu toggles, %lu resets%s, %lu forks, %lu closes",
	       self->sh->accesses, self->sh->sigbus, c.toggles, c.resets,
	       c.can_reset ? "" : " (no reset)", c.forks, c.closes);
	EXPECT_EQ(NULL, c.fail.op)
		TH_LOG("%s: %s", c.fail.op, strerror(-c.fail.err));
	EXPECT_EQ(0UL, self->sh->bad_sigbus);
	EXPECT_EQ(0UL, self->sh->bad);
	EXPECT_EQ(0UL, c.children_failed);
	EXPECT_EQ((unsigned long)TOGGLER_ROUNDS, c.toggles);
	EXPECT_EQ(c.can_reset ? (unsigned long)RESETTER_ROUNDS : 0UL, c.resets);
	bad = check_pattern(m);
	EXPECT_EQ(-1, bad) TH_LOG("byte %#lx lost its pattern", bad);

	/*
	 * Unbind while a child faults its copy of the mapping: the unbind
	 * waits until the child unmapped it; the BAR keeps its data.
	 */
	ASSERT_EQ(0, pipe(pipefd));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		uint64_t s = SEED ^ 0xdd;

		close(pipefd[0]);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(2);
		for (i = 0; i < UNBIND_ACCESSES; i++) {
			uint64_t r = lm_rnd(&s);

			vs_access(self->sh, (volatile uint8_t *)m,
				  r % MAP_PAGES, (r >> 32) % PG);
		}
		_exit(self->sh->bad || self->sh->bad_sigbus ? 1 : 0);
	}
	close(pipefd[1]);
	ASSERT_EQ(1, read(pipefd[0], &x, 1));
	close(pipefd[0]);
	ASSERT_EQ(0, munmap(self->map, MAP_LEN));
	self->map = MAP_FAILED;
	vfio_type1_close(&self->dev);
	ret = pci_unbind(self->bdf);
	EXPECT_EQ(0, ret) TH_LOG("unbind: %s", strerror(-ret));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child: status %#x", status);

	ret = pci_bind_driver(self->bdf, variant->driver);
	ASSERT_EQ(0, ret) TH_LOG("binding again: %s", strerror(-ret));
	ret = vfio_type1_open(&self->dev, self->bdf);
	ASSERT_EQ(0, ret) TH_LOG("VFIO type1 open: %s", strerror(-ret));
	p = vfio_mmap_aligned(self->dev.device_fd, self->bar2.offset, MAP_LEN,
			      PROT_READ | PROT_WRITE, SZ_2M, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->map = p;
	bad = check_pattern(p);
	EXPECT_EQ(-1, bad) TH_LOG("after rebind: byte %#lx lost its pattern",
				  bad);
}

TEST_HARNESS_MAIN
