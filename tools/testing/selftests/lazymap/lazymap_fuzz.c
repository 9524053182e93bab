// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded fuzzer of every device node lazymap creates: the test provider
 * (/dev/lazymap-test and its space fds), the vfio device fds of
 * lazymap-vfio-pci and of stock vfio-pci on the ivshmem device, an mdev
 * of lazymap-mdev, /dev/lazymap-vm with its VM and vCPU fds, and
 * guest_memfd where the VM has LAZYMAP_VM_CREATE_GUEST_MEMFD.  Several
 * threads make random operations on a shared pool of objects: ioctls with
 * valid, boundary and garbage arguments, opens and closes, mmap into an
 * arena, accesses, munmap, mremap, mprotect and madvise of arena ranges,
 * pread/pwrite of vfio regions, fallocate, and fork (a child that touches
 * the arena and makes a few ioctls).  The bar is zero kernel splats (the
 * stage's log scan) and, at the end, no mapping left tracked in lazymap's
 * debugfs once everything is unmapped and closed.
 *
 * Targets are a table (fuzz_targets[]): each names the kind of object, how
 * to open one, its ioctls as field layouts (fuzz_ioctl), and what of it can
 * be mapped.  A target whose device is missing, or whose creating ioctl
 * returns ENOTTY at run time, is skipped.
 *
 * Memory the kernel may write to is only ever the thread's scratch buffer
 * or the arena (a PROT_NONE reservation every mmap goes into with
 * MAP_FIXED and every munmap gives back to PROT_NONE, so no address of the
 * program's own is reused); other pointers are invalid on purpose.
 *
 * Environment: LAZYMAP_FUZZ_SEED (default a fixed seed), LAZYMAP_FUZZ_N
 * (operations in all, default 10000), LAZYMAP_FUZZ_THREADS (default 4),
 * LAZYMAP_FUZZ_SERIAL=1 (the threads' operation streams interleaved one
 * operation at a time in one thread: the same operations, reproducible
 * order), LAZYMAP_FUZZ_VERBOSE=1 (print every operation).  The seed is
 * printed first.  Each thread draws from a stream that depends only on
 * the seed, its index and the phase, one draw per choice whatever the
 * pool holds; threaded, which object a choice lands on depends on the
 * interleaving too, while a serial run with the same seed, count and
 * threads makes exactly the same operations in the same order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/falloc.h>
#include <linux/vfio.h>

#include "../kselftest.h"
#include "lazymap_util.h"
#include "lazymap_test_util.h"
#include "lazymap_vm_util.h"
#include "vfio_util.h"

#define DEFAULT_SEED		0x6c7a6675ULL	/* "lzfu" */
#define DEFAULT_OPS		10000UL
#define DEFAULT_THREADS		4
#define MAX_THREADS		16

#define MAX_OBJS		48
/*
 * What the kernel allocates for an object grows with its length (FILL,
 * fallocate, faults), so the pool holds none longer than this: 48 of them
 * stay well inside the debug guest's memory under KASAN and kmemleak.  A
 * longer one (a boundary length its creating ioctl accepted) is closed at
 * once: its checks were fuzzed, its memory is not.
 */
#define MAX_OBJ_LEN		(16 * SZ_1M)
#define ARENA_SLOTS		24
#define SLOT_LEN		(16 * SZ_1M)
#define SCRATCH_LEN		(20 * SZ_4K)	/* > _IOC_SIZEMASK + a page */

#define MDEV_TYPE_CREATE	"/sys/class/mdev_bus/lazymap-mdev/mdev_supported_types/lazymap-mdev-16M/create"
#define MDEV_DEVICES		"/sys/bus/mdev/devices"
#define MDEV_UUID		"6c617a79-6675-4a7a-8000-00000000f022"

/* What a field of an ioctl argument is, for the valid values. */
enum fuzz_field_kind {
	F_SIZE32,	/* the argument's size (argsz) */
	F_ZERO32,
	F_ZERO64,
	F_FLAGS32,	/* a subset of arg */
	F_ONEOF32,	/* one bit of arg */
	F_U32,		/* 0..arg */
	F_U64,
	F_OFF64,	/* page aligned, inside the object's length */
	F_LEN64,	/* pages, 1..the object's length */
	F_FD32,		/* an fd of a pool object of target arg, or -1 */
	F_PTR_SCRATCH,	/* the thread's scratch buffer */
	F_HVA64,	/* an arena address */
	F_GPA64,	/* a guest physical address of the low 64 MiB */
	F_BYTE64,
};

struct fuzz_field {
	unsigned short off;
	unsigned char kind;
	uint64_t arg;
};

struct fuzz_ioctl {
	const char *name;
	unsigned long cmd;
	unsigned int size;		/* of the argument; 0: an integer */
	uint64_t int_max;		/* integer arguments: 0..int_max */
	int creates;			/* target of the fd it returns, or -1 */
	const struct fuzz_field *fields;
	unsigned int nr_fields;
};

struct fuzz_obj {
	int fd;
	int target;
	uint64_t len;			/* what of it can be mapped, bytes */
};

struct fuzz_thread;

struct fuzz_target {
	const char *name;
	/* Open one: its fd, or -errno; *len what of it maps. */
	int (*open)(struct fuzz_thread *t, uint64_t *len);
	const struct fuzz_ioctl *ioctls;
	unsigned int nr_ioctls;
	uint64_t map_base;		/* file offset of its mappable range */
	bool rw;			/* pread/pwrite of vfio regions */
	bool fallocate;
};

struct fuzz_thread {
	unsigned int id;
	uint64_t s;
	unsigned long ops, done;
	uint8_t *scratch;
	unsigned long counts[16];
	/* Time spent, per operation and per ioctl, for the profile. */
	uint64_t op_ns[16], ioctl_ns[16][16];
	unsigned long op_nr[16];
};

/* Shared state; the pool under pool_lock. */
static struct {
	uint64_t seed;
	unsigned long ops;
	unsigned int threads;
	bool serial, verbose;
	uint8_t *arena;			/* ARENA_SLOTS slots, 2 MiB aligned */
	pthread_mutex_t pool_lock;
	struct fuzz_obj objs[MAX_OBJS];
	unsigned int nr_objs;
	/* Per target: skipped (no device, ENOTTY), with the reason. */
	bool off[16];
	const char *why[16];
	/* VFIO: the ivshmem device, its group and container (one phase). */
	char bdf[PCI_BDF_LEN];
	struct vfio_type1_dev pci;
	int mdev_group, mdev_container;
	bool mdev_created;
	unsigned long fork_failed;
	const char *err;
} fz = {
	.mdev_group = -1,
	.mdev_container = -1,
};

enum {
	T_TEST_DEV, T_TEST_SPACE, T_VFIO_LAZYMAP, T_VFIO_STOCK, T_MDEV,
	T_VM_DEV, T_VM, T_VCPU, T_GMEM, NR_TARGETS
};

static uint64_t rnd(struct fuzz_thread *t)
{
	/* splitmix64: any seed, including 0, gives a good stream. */
	uint64_t z = (t->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* One draw whatever @n is: a stream does not depend on the pool's state. */
static uint64_t below(struct fuzz_thread *t, uint64_t n)
{
	uint64_t r = rnd(t);

	return n ? r % n : 0;
}

/* Boundary values of the kind the kernel's checks compare against. */
static uint64_t boundary(struct fuzz_thread *t)
{
	static const uint64_t v[] = {
		0, 1, 2, 0x7f, 0x80, 0xff, 0xfff, 0x1000, 0x1001, 0x7fffffff,
		0x80000000, 0xffffffff, 0x100000000ULL, SZ_2M - 1, SZ_2M,
		SZ_1G, 1ULL << 40, (1ULL << 47) - 1, 1ULL << 63, ~0ULL,
		~0ULL - 0xfff, LAZYMAP_VM_MEM_MAX_NR_PAGES,
		LAZYMAP_TEST_MAX_LENGTH,
	};

	return v[below(t, ARRAY_SIZE(v))];
}

/* A pool object of target @target (any if -1): its fd, or -1. */
static int pick_fd(struct fuzz_thread *t, int target, struct fuzz_obj *out)
{
	uint64_t r = rnd(t);
	unsigned int i, n = 0, k;
	int fd = -1;

	pthread_mutex_lock(&fz.pool_lock);
	for (i = 0; i < fz.nr_objs; i++)
		n += target < 0 || fz.objs[i].target == target;
	if (n) {
		k = r % n;
		for (i = 0; i < fz.nr_objs; i++) {
			if (target >= 0 && fz.objs[i].target != target)
				continue;
			if (!k--) {
				if (out)
					*out = fz.objs[i];
				fd = fz.objs[i].fd;
				break;
			}
		}
	}
	pthread_mutex_unlock(&fz.pool_lock);
	return fd;
}

/* Put a new object in the pool; closed if the pool is full. */
static void pool_add(int fd, int target, uint64_t len)
{
	pthread_mutex_lock(&fz.pool_lock);
	if (fz.nr_objs < MAX_OBJS) {
		fz.objs[fz.nr_objs++] = (struct fuzz_obj){ fd, target, len };
		fd = -1;
	}
	pthread_mutex_unlock(&fz.pool_lock);
	if (fd >= 0)
		close(fd);
}

/* Take a random object out of the pool and close it. */
static void pool_close_one(struct fuzz_thread *t)
{
	uint64_t r = rnd(t);
	int fd = -1;
	unsigned int i;

	pthread_mutex_lock(&fz.pool_lock);
	if (fz.nr_objs) {
		i = r % fz.nr_objs;
		fd = fz.objs[i].fd;
		fz.objs[i] = fz.objs[--fz.nr_objs];
	}
	pthread_mutex_unlock(&fz.pool_lock);
	if (fd >= 0)
		close(fd);
}

/* --- the targets' opens --------------------------------------------- */

static int open_test_dev(struct fuzz_thread *t, uint64_t *len)
{
	(void)t;
	*len = 0;
	return lmvm_ret(open(LAZYMAP_DEV, O_RDWR | O_CLOEXEC));
}

static int open_test_space(struct fuzz_thread *t, uint64_t *len)
{
	static const __u32 flags[] = { 0, LAZYMAP_TEST_PFN, LAZYMAP_TEST_FOLIO };
	__u32 order = below(t, 4) ? 0 : 9;
	int dev, fd;

	/* Small: under KASAN and TCG each 2 MiB block costs a lot to clear. */
	*len = (1 + below(t, 4)) * SZ_2M;
	dev = open(LAZYMAP_DEV, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -errno;
	fd = lm_create(dev, flags[below(t, 3)], *len, order, NULL);
	close(dev);
	return fd;
}

static int open_vfio(uint64_t *len, int target)
{
	int fd;

	*len = SZ_1G;
	if (fz.pci.group_fd < 0 || !fz.bdf[0])
		return -ENODEV;
	/* Only the driver of the current phase has the device. */
	if (fz.off[target])
		return -ENODEV;
	fd = ioctl(fz.pci.group_fd, VFIO_GROUP_GET_DEVICE_FD, fz.bdf);
	return fd < 0 ? -errno : fd;
}

static int open_vfio_lazymap(struct fuzz_thread *t, uint64_t *len)
{
	(void)t;
	return open_vfio(len, T_VFIO_LAZYMAP);
}

static int open_vfio_stock(struct fuzz_thread *t, uint64_t *len)
{
	(void)t;
	return open_vfio(len, T_VFIO_STOCK);
}

static int open_mdev(struct fuzz_thread *t, uint64_t *len)
{
	int fd;

	(void)t;
	*len = 16 * SZ_1M;
	if (fz.mdev_group < 0)
		return -ENODEV;
	fd = ioctl(fz.mdev_group, VFIO_GROUP_GET_DEVICE_FD, MDEV_UUID);
	return fd < 0 ? -errno : fd;
}

static int open_vm_dev(struct fuzz_thread *t, uint64_t *len)
{
	(void)t;
	*len = 0;
	return lmvm_open_dev();
}

static int open_vm(struct fuzz_thread *t, uint64_t *len)
{
	int dev, fd;

	(void)t;
	*len = 0;
	dev = lmvm_open_dev();
	if (dev < 0)
		return dev;
	fd = lmvm_create_vm(dev, 0);
	close(dev);
	return fd;
}

static int open_vcpu(struct fuzz_thread *t, uint64_t *len)
{
	int vm = pick_fd(t, T_VM, NULL);

	*len = 0;
	return vm < 0 ? -ENOENT : lmvm_create_vcpu(vm, below(t, 4));
}

static int open_gmem(struct fuzz_thread *t, uint64_t *len)
{
	struct lazymap_vm_create_guest_memfd g = {
		.size = (1 + below(t, 4)) * SZ_2M,
		.flags = below(t, 4),
	};
	int vm = pick_fd(t, T_VM, NULL), fd;

	*len = g.size;
	if (vm < 0)
		return -ENOENT;
	fd = ioctl(vm, LAZYMAP_VM_CREATE_GUEST_MEMFD, &g);
	if (fd < 0 && errno == ENOTTY && !fz.off[T_GMEM]) {
		fz.why[T_GMEM] = "LAZYMAP_VM_CREATE_GUEST_MEMFD: ENOTTY";
		fz.off[T_GMEM] = true;
	}
	return fd < 0 ? -errno : fd;
}

/* --- the targets' ioctls, as field layouts ------------------------------ */

#define FLD(type, member, kind, arg) \
	{ offsetof(type, member), kind, arg }
#define IOC(nm, c, type, cr, f) \
	{ nm, c, sizeof(type), 0, cr, f, ARRAY_SIZE(f) }
#define IOC_INT(nm, c, max, cr) \
	{ nm, c, 0, max, cr, NULL, 0 }

static const struct fuzz_field f_create[] = {
	FLD(struct lazymap_test_create, size, F_SIZE32, 0),
	FLD(struct lazymap_test_create, flags, F_FLAGS32, 3),
	FLD(struct lazymap_test_create, length, F_LEN64, 0),
	FLD(struct lazymap_test_create, max_order, F_U32, 10),
	FLD(struct lazymap_test_create, id, F_ZERO32, 0),
};

static const struct fuzz_field f_range[] = {
	FLD(struct lazymap_test_range, size, F_SIZE32, 0),
	FLD(struct lazymap_test_range, flags, F_ZERO32, 0),
	FLD(struct lazymap_test_range, offset, F_OFF64, 0),
	FLD(struct lazymap_test_range, length, F_LEN64, 0),
	FLD(struct lazymap_test_range, value, F_BYTE64, 0),
};

static const struct fuzz_field f_stats[] = {
	FLD(struct lazymap_test_stats, size, F_SIZE32, 0),
	FLD(struct lazymap_test_stats, pad, F_ZERO32, 0),
};

static const struct fuzz_field f_cycle[] = {
	FLD(struct lazymap_test_cycle, size, F_SIZE32, 0),
	FLD(struct lazymap_test_cycle, flags, F_ZERO32, 0),
	FLD(struct lazymap_test_cycle, offset, F_OFF64, 0),
	FLD(struct lazymap_test_cycle, length, F_LEN64, 0),
	FLD(struct lazymap_test_cycle, rounds, F_U32, 64),
	FLD(struct lazymap_test_cycle, seed, F_U32, 0xffff),
};

static const struct fuzz_ioctl test_dev_ioctls[] = {
	IOC("CREATE", LAZYMAP_TEST_CREATE, struct lazymap_test_create,
	    T_TEST_SPACE, f_create),
};

static const struct fuzz_ioctl test_space_ioctls[] = {
	IOC("ZAP", LAZYMAP_TEST_ZAP, struct lazymap_test_range, -1, f_range),
	IOC("REVOKE", LAZYMAP_TEST_REVOKE, struct lazymap_test_range, -1,
	    f_range),
	IOC("RESTORE", LAZYMAP_TEST_RESTORE, struct lazymap_test_range, -1,
	    f_range),
	IOC("FILL", LAZYMAP_TEST_FILL, struct lazymap_test_range, -1, f_range),
	IOC("DISCARD", LAZYMAP_TEST_DISCARD, struct lazymap_test_range, -1,
	    f_range),
	IOC("LISTEN", LAZYMAP_TEST_LISTEN, struct lazymap_test_range, -1,
	    f_range),
	IOC("STATS", LAZYMAP_TEST_STATS, struct lazymap_test_stats, -1,
	    f_stats),
	IOC("LISTENER_CYCLE", LAZYMAP_TEST_LISTENER_CYCLE,
	    struct lazymap_test_cycle, -1, f_cycle),
};

static const struct fuzz_field f_dev_info[] = {
	FLD(struct vfio_device_info, argsz, F_SIZE32, 0),
};

static const struct fuzz_field f_region_info[] = {
	FLD(struct vfio_region_info, argsz, F_SIZE32, 0),
	FLD(struct vfio_region_info, flags, F_ZERO32, 0),
	FLD(struct vfio_region_info, index, F_U32, VFIO_PCI_NUM_REGIONS + 1),
};

static const struct fuzz_field f_irq_info[] = {
	FLD(struct vfio_irq_info, argsz, F_SIZE32, 0),
	FLD(struct vfio_irq_info, flags, F_ZERO32, 0),
	FLD(struct vfio_irq_info, index, F_U32, VFIO_PCI_NUM_IRQS + 1),
};

static const struct fuzz_field f_set_irqs[] = {
	FLD(struct vfio_irq_set, argsz, F_SIZE32, 0),
	FLD(struct vfio_irq_set, flags, F_FLAGS32, 0x3f),
	FLD(struct vfio_irq_set, index, F_U32, VFIO_PCI_NUM_IRQS),
	FLD(struct vfio_irq_set, start, F_U32, 2),
	FLD(struct vfio_irq_set, count, F_U32, 2),
};

static const struct fuzz_field f_hot_reset_info[] = {
	FLD(struct vfio_pci_hot_reset_info, argsz, F_SIZE32, 0),
	FLD(struct vfio_pci_hot_reset_info, flags, F_ZERO32, 0),
	FLD(struct vfio_pci_hot_reset_info, count, F_U32, 4),
};

static const struct fuzz_field f_feature[] = {
	FLD(struct vfio_device_feature, argsz, F_SIZE32, 0),
	FLD(struct vfio_device_feature, flags, F_FLAGS32, 0x7000f),
};

/* The argument structs with room for a trailing data[] of 8 bytes. */
struct fz_irq_set { struct vfio_irq_set s; __s32 data[2]; };
struct fz_feature { struct vfio_device_feature f; __u64 data[2]; };

static const struct fuzz_ioctl vfio_ioctls[] = {
	IOC("GET_INFO", VFIO_DEVICE_GET_INFO, struct vfio_device_info, -1,
	    f_dev_info),
	IOC("GET_REGION_INFO", VFIO_DEVICE_GET_REGION_INFO,
	    struct vfio_region_info, -1, f_region_info),
	IOC("GET_IRQ_INFO", VFIO_DEVICE_GET_IRQ_INFO, struct vfio_irq_info,
	    -1, f_irq_info),
	IOC("SET_IRQS", VFIO_DEVICE_SET_IRQS, struct fz_irq_set, -1,
	    f_set_irqs),
	IOC_INT("RESET", VFIO_DEVICE_RESET, 0, -1),
	IOC("GET_PCI_HOT_RESET_INFO", VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
	    struct vfio_pci_hot_reset_info, -1, f_hot_reset_info),
	IOC("FEATURE", VFIO_DEVICE_FEATURE, struct fz_feature, -1, f_feature),
};

static const struct fuzz_ioctl vm_dev_ioctls[] = {
	IOC_INT("GET_API_VERSION", LAZYMAP_VM_GET_API_VERSION, 0, -1),
	IOC_INT("CREATE_VM", LAZYMAP_VM_CREATE_VM, 1, T_VM),
	IOC_INT("CHECK_EXTENSION", LAZYMAP_VM_CHECK_EXTENSION, 12, -1),
};

static const struct fuzz_field f_region[] = {
	FLD(struct lazymap_vm_userspace_memory_region, slot, F_U32, 7),
	FLD(struct lazymap_vm_userspace_memory_region, flags, F_FLAGS32, 3),
	FLD(struct lazymap_vm_userspace_memory_region, guest_phys_addr,
	    F_GPA64, 0),
	FLD(struct lazymap_vm_userspace_memory_region, memory_size, F_LEN64, 0),
	FLD(struct lazymap_vm_userspace_memory_region, userspace_addr,
	    F_HVA64, 0),
};

static const struct fuzz_field f_region2[] = {
	FLD(struct lazymap_vm_userspace_memory_region2, slot, F_U32, 7),
	FLD(struct lazymap_vm_userspace_memory_region2, flags, F_FLAGS32, 7),
	FLD(struct lazymap_vm_userspace_memory_region2, guest_phys_addr,
	    F_GPA64, 0),
	FLD(struct lazymap_vm_userspace_memory_region2, memory_size, F_LEN64,
	    0),
	FLD(struct lazymap_vm_userspace_memory_region2, userspace_addr,
	    F_HVA64, 0),
	FLD(struct lazymap_vm_userspace_memory_region2, guest_memfd_offset,
	    F_OFF64, 0),
	FLD(struct lazymap_vm_userspace_memory_region2, guest_memfd, F_FD32,
	    T_GMEM),
};

static const struct fuzz_field f_dirty_log[] = {
	FLD(struct lazymap_vm_dirty_log, slot, F_U32, 7),
	FLD(struct lazymap_vm_dirty_log, dirty_bitmap, F_PTR_SCRATCH, 0),
};

static const struct fuzz_field f_enable_cap[] = {
	FLD(struct lazymap_vm_enable_cap, cap, F_U32, 10),
	FLD(struct lazymap_vm_enable_cap, flags, F_FLAGS32, 3),
	FLD(struct lazymap_vm_enable_cap, args[0], F_U64, 7),
	FLD(struct lazymap_vm_enable_cap, args[1], F_U64, 3),
};

static const struct fuzz_field f_vm_stats[] = {
	FLD(struct lazymap_vm_stats, s2_pages, F_ZERO64, 0),
};

static const struct fuzz_field f_create_gmem[] = {
	FLD(struct lazymap_vm_create_guest_memfd, size, F_LEN64, 0),
	FLD(struct lazymap_vm_create_guest_memfd, flags, F_FLAGS32, 3),
};

static const struct fuzz_field f_map_mem[] = {
	FLD(struct lazymap_vm_map_mem, guest_addr, F_GPA64, 0),
	FLD(struct lazymap_vm_map_mem, flags, F_FLAGS32, 0x173),
	FLD(struct lazymap_vm_map_mem, guest_memfd, F_FD32, T_GMEM),
	FLD(struct lazymap_vm_map_mem, offset, F_OFF64, 0),
	FLD(struct lazymap_vm_map_mem, size, F_LEN64, 0),
};

static const struct fuzz_ioctl vm_ioctls[] = {
	IOC_INT("CREATE_VCPU", LAZYMAP_VM_CREATE_VCPU, 300, T_VCPU),
	IOC_INT("CHECK_EXTENSION", LAZYMAP_VM_CHECK_EXTENSION, 12, -1),
	IOC("SET_USER_MEMORY_REGION", LAZYMAP_VM_SET_USER_MEMORY_REGION,
	    struct lazymap_vm_userspace_memory_region, -1, f_region),
	IOC("SET_USER_MEMORY_REGION2", LAZYMAP_VM_SET_USER_MEMORY_REGION2,
	    struct lazymap_vm_userspace_memory_region2, -1, f_region2),
	IOC("GET_DIRTY_LOG", LAZYMAP_VM_GET_DIRTY_LOG,
	    struct lazymap_vm_dirty_log, -1, f_dirty_log),
	IOC("ENABLE_CAP", LAZYMAP_VM_ENABLE_CAP, struct lazymap_vm_enable_cap,
	    -1, f_enable_cap),
	IOC("GET_STATS", LAZYMAP_VM_GET_STATS, struct lazymap_vm_stats, -1,
	    f_vm_stats),
	IOC("CREATE_GUEST_MEMFD", LAZYMAP_VM_CREATE_GUEST_MEMFD,
	    struct lazymap_vm_create_guest_memfd, T_GMEM, f_create_gmem),
	IOC("MAP_MEM", LAZYMAP_VM_MAP_MEM, struct lazymap_vm_map_mem, -1,
	    f_map_mem),
};

static const struct fuzz_field f_access[] = {
	FLD(struct lazymap_vm_access, gpa, F_GPA64, 0),
	FLD(struct lazymap_vm_access, size, F_U64, 3 * SZ_4K),
	FLD(struct lazymap_vm_access, data, F_PTR_SCRATCH, 0),
	FLD(struct lazymap_vm_access, flags, F_ONEOF32, 7),
};

static const struct fuzz_ioctl vcpu_ioctls[] = {
	IOC("VCPU_ACCESS", LAZYMAP_VM_VCPU_ACCESS, struct lazymap_vm_access,
	    -1, f_access),
};

/* guest_memfd has no ioctls of its own: its fd takes mmap and fallocate. */
static const struct fuzz_ioctl gmem_ioctls[] = {
	IOC("STATS (not gmem's)", LAZYMAP_TEST_STATS,
	    struct lazymap_test_stats, -1, f_stats),
};

#define REGION(index)		((uint64_t)(index) << 40)

static const struct fuzz_target fuzz_targets[NR_TARGETS] = {
	[T_TEST_DEV] = { "lazymap-test", open_test_dev, test_dev_ioctls,
			 ARRAY_SIZE(test_dev_ioctls) },
	[T_TEST_SPACE] = { "lazymap-test space", open_test_space,
			   test_space_ioctls, ARRAY_SIZE(test_space_ioctls) },
	[T_VFIO_LAZYMAP] = { "lazymap-vfio-pci", open_vfio_lazymap,
			     vfio_ioctls, ARRAY_SIZE(vfio_ioctls),
			     REGION(VFIO_PCI_BAR2_REGION_INDEX), true },
	[T_VFIO_STOCK] = { "vfio-pci", open_vfio_stock, vfio_ioctls,
			   ARRAY_SIZE(vfio_ioctls),
			   REGION(VFIO_PCI_BAR2_REGION_INDEX), true },
	[T_MDEV] = { "lazymap-mdev", open_mdev, vfio_ioctls,
		     ARRAY_SIZE(vfio_ioctls),
		     REGION(VFIO_PCI_BAR2_REGION_INDEX), true },
	[T_VM_DEV] = { "lazymap-vm", open_vm_dev, vm_dev_ioctls,
		       ARRAY_SIZE(vm_dev_ioctls) },
	[T_VM] = { "lazymap-vm VM", open_vm, vm_ioctls,
		   ARRAY_SIZE(vm_ioctls) },
	[T_VCPU] = { "lazymap-vm vCPU", open_vcpu, vcpu_ioctls,
		     ARRAY_SIZE(vcpu_ioctls) },
	[T_GMEM] = { "guest_memfd", open_gmem, gmem_ioctls,
		     ARRAY_SIZE(gmem_ioctls), 0, false, true },
};

/* --- operations ------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint8_t *slot_addr(unsigned int slot)
{
	return fz.arena + (size_t)slot * SLOT_LEN;
}

/* Give [@p, +@len) of the arena back to PROT_NONE. */
static void arena_release(void *p, size_t len)
{
	mmap(p, len, PROT_NONE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

/* A page-multiple length up to @max, biased to small and to 2 MiB. */
static uint64_t pick_len(struct fuzz_thread *t, uint64_t max)
{
	uint64_t len;

	switch (below(t, 4)) {
	case 0:
		len = SZ_4K;
		break;
	case 1:
		len = SZ_2M;
		break;
	case 2:
		len = (1 + below(t, 16)) * SZ_4K;
		break;
	default:
		len = (1 + below(t, max / SZ_4K ?: 1)) * SZ_4K;
		break;
	}
	return len > max ? max : len;
}

static uint64_t field_value(struct fuzz_thread *t, const struct fuzz_field *f,
			    const struct fuzz_ioctl *io,
			    const struct fuzz_obj *obj)
{
	uint64_t len = obj->len ?: 16 * SZ_1M;

	switch (f->kind) {
	case F_SIZE32:
		return io->size;
	case F_ZERO32:
	case F_ZERO64:
		return 0;
	case F_FLAGS32:
		return rnd(t) & f->arg;
	case F_ONEOF32:
		return f->arg & (1U << below(t, 3));
	case F_U32:
	case F_U64:
		return below(t, f->arg + 1);
	case F_OFF64:
		return below(t, len / SZ_4K) * SZ_4K;
	case F_LEN64:
		return pick_len(t, len);
	case F_FD32:
		return (uint32_t)pick_fd(t, f->arg, NULL);
	case F_PTR_SCRATCH:
		return (uintptr_t)t->scratch + below(t, 4) * SZ_4K;
	case F_HVA64:
		return (uintptr_t)slot_addr(below(t, ARENA_SLOTS)) +
		       below(t, 8) * SZ_2M;
	case F_GPA64:
		return below(t, 32) * SZ_2M + (below(t, 2) ? below(t, 512) * SZ_4K : 0);
	case F_BYTE64:
		return below(t, 256);
	}
	return 0;
}

static void field_store(void *buf, const struct fuzz_field *f, uint64_t v)
{
	bool wide = f->kind == F_ZERO64 || f->kind == F_U64 ||
		    f->kind == F_OFF64 || f->kind == F_LEN64 ||
		    f->kind == F_PTR_SCRATCH || f->kind == F_HVA64 ||
		    f->kind == F_GPA64 || f->kind == F_BYTE64;
	uint32_t v32 = v;

	if (wide)
		memcpy((uint8_t *)buf + f->off, &v, sizeof(v));
	else
		memcpy((uint8_t *)buf + f->off, &v32, sizeof(v32));
}

/* Invalid pointers: none of them is memory of this program. */
static unsigned long bad_pointer(struct fuzz_thread *t)
{
	static const unsigned long v[] = {
		0, 1, 0xfff, 0xffff800000000000UL, 0xffffffffffffff00UL,
		(1UL << 47) - 8,
	};
	unsigned int i = below(t, ARRAY_SIZE(v) + 2);

	if (i == ARRAY_SIZE(v))		/* the arena: PROT_NONE or mapped */
		return (uintptr_t)slot_addr(below(t, ARENA_SLOTS)) +
		       below(t, SLOT_LEN);
	if (i == ARRAY_SIZE(v) + 1)	/* the end of the scratch buffer */
		return (uintptr_t)t->scratch + SCRATCH_LEN - below(t, 16);
	return v[i];
}

static void op_ioctl(struct fuzz_thread *t)
{
	const struct fuzz_target *tg;
	const struct fuzz_ioctl *io;
	struct fuzz_obj obj;
	unsigned long cmd, arg;
	unsigned int i, mode;
	uint64_t t0;
	long ret;

	if (pick_fd(t, -1, &obj) < 0)
		return;
	tg = &fuzz_targets[obj.target];
	/* Now and then another target's ioctl, or a made-up one. */
	if (!below(t, 16))
		tg = &fuzz_targets[below(t, NR_TARGETS)];
	io = &tg->ioctls[below(t, tg->nr_ioctls)];
	cmd = io->cmd;
	if (!below(t, 32))
		cmd = below(t, 2) ? (uint32_t)rnd(t) :
		      (cmd & ~0xffUL) | below(t, 256);

	mode = below(t, 8);	/* 0-3 valid, 4-5 boundary, 6 garbage, 7 ptr */
	if (!io->size) {
		arg = mode < 4 ? below(t, io->int_max + 1) :
		      mode < 7 ? boundary(t) : bad_pointer(t);
	} else if (mode == 7) {
		arg = bad_pointer(t);
	} else {
		memset(t->scratch, 0, SZ_4K);
		if (mode == 6) {
			for (i = 0; i < io->size; i++)
				t->scratch[i] = rnd(t);
		} else {
			for (i = 0; i < io->nr_fields; i++)
				field_store(t->scratch, &io->fields[i],
					    field_value(t, &io->fields[i], io,
							&obj));
			if (mode >= 4 && io->nr_fields)
				field_store(t->scratch,
					    &io->fields[below(t, io->nr_fields)],
					    boundary(t));
		}
		arg = (uintptr_t)t->scratch;
	}
	if (fz.verbose)
		printf("# t%u op %lu: ioctl %s (%#lx) on %s fd %d, mode %u\n",
		       t->id, t->done, io->name, cmd, tg->name, obj.fd, mode);
	t0 = now_ns();
	ret = ioctl(obj.fd, cmd, arg);
	t->ioctl_ns[tg - fuzz_targets][io - tg->ioctls] += now_ns() - t0;
	t->counts[ret < 0 ? 1 : 0]++;
	/* A new fd: into the pool as what it is. */
	if (ret > 2 && cmd == io->cmd && io->creates >= 0) {
		uint64_t len = 0;

		if (io->creates == T_TEST_SPACE)
			len = ((struct lazymap_test_create *)t->scratch)->length;
		else if (io->creates == T_GMEM)
			len = ((struct lazymap_vm_create_guest_memfd *)
			       t->scratch)->size;
		if (len <= MAX_OBJ_LEN)
			pool_add(ret, io->creates, len);
		else
			close(ret);
	}
}

static void op_open(struct fuzz_thread *t)
{
	unsigned int target = below(t, NR_TARGETS);
	uint64_t len;
	int fd;

	if (fz.off[target])
		return;
	fd = fuzz_targets[target].open(t, &len);
	if (fz.verbose)
		printf("# t%u op %lu: open %s: %d\n", t->id, t->done,
		       fuzz_targets[target].name, fd);
	if (fd >= 0)
		pool_add(fd, target, len);
}

static void op_mmap(struct fuzz_thread *t)
{
	unsigned int slot = below(t, ARENA_SLOTS);
	const struct fuzz_target *tg;
	uint64_t len, off, max;
	struct fuzz_obj obj;
	int prot;
	void *p;

	if (pick_fd(t, -1, &obj) < 0)
		return;
	tg = &fuzz_targets[obj.target];
	max = obj.len ?: SZ_2M;
	len = pick_len(t, SLOT_LEN / 4 < max ? SLOT_LEN / 4 : max);
	off = below(t, max / SZ_4K) * SZ_4K;
	if (!below(t, 2))
		off &= ~(SZ_2M - 1);
	if (!below(t, 16))
		off = boundary(t) & ~(SZ_4K - 1);
	else
		off += tg->map_base;
	prot = below(t, 4) ? PROT_READ | PROT_WRITE : PROT_READ;
	/* 2 MiB aligned in the slot, or not. */
	p = slot_addr(slot) + (below(t, 2) ? 0 : below(t, 512) * SZ_4K);
	if (fz.verbose)
		printf("# t%u op %lu: mmap %s fd %d off %#llx len %#llx at slot %u\n",
		       t->id, t->done, tg->name, obj.fd,
		       (unsigned long long)off, (unsigned long long)len, slot);
	p = mmap(p, len, prot, MAP_SHARED | MAP_FIXED, obj.fd, off);
	t->counts[p == MAP_FAILED ? 3 : 2]++;
	if (p == MAP_FAILED)
		arena_release(slot_addr(slot), SLOT_LEN);
}

/* Read or write random bytes of a slot: SIGBUS and SIGSEGV survive. */
static void touch_slot(struct fuzz_thread *t, unsigned int slot,
		       unsigned int n)
{
	volatile uint8_t *p;
	uint8_t v;

	while (n--) {
		p = slot_addr(slot) + below(t, SLOT_LEN / SZ_4K) * SZ_4K +
		    below(t, SZ_4K);
		if (below(t, 2))
			read_byte(p, &v);
		else
			write_byte(p, rnd(t));
	}
}

static void op_touch(struct fuzz_thread *t)
{
	touch_slot(t, below(t, ARENA_SLOTS), 1 + below(t, 4));
}

static void op_vma(struct fuzz_thread *t)
{
	static const int advice[] = {
		MADV_DONTNEED, MADV_WILLNEED, MADV_NORMAL, MADV_RANDOM,
		MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_COLD, MADV_PAGEOUT,
		MADV_DONTFORK, MADV_DOFORK, MADV_POPULATE_READ,
		MADV_POPULATE_WRITE, MADV_REMOVE, MADV_FREE,
	};
	unsigned int slot = below(t, ARENA_SLOTS), to;
	uint8_t *p = slot_addr(slot) + below(t, SLOT_LEN / SZ_4K) * SZ_4K;
	uint64_t len = pick_len(t, SLOT_LEN / 4);
	const char *what;

	if (p + len > slot_addr(slot) + SLOT_LEN)
		len = slot_addr(slot) + SLOT_LEN - p;
	switch (below(t, 5)) {
	case 0:
		what = "munmap";
		arena_release(p, len);
		break;
	case 1:
		what = "mprotect";
		mprotect(p, len, below(t, 2) ? PROT_READ :
					       PROT_READ | PROT_WRITE);
		break;
	case 2:
		/* Into another slot, which loses what it had there. */
		what = "mremap";
		to = below(t, ARENA_SLOTS);
		if (to == slot)
			to = (to + 1) % ARENA_SLOTS;
		mremap(p, len, below(t, 2) ? len : pick_len(t, SLOT_LEN / 2),
		       MREMAP_MAYMOVE | MREMAP_FIXED, slot_addr(to));
		break;
	case 3:
		what = "madvise";
		madvise(p, len, advice[below(t, ARRAY_SIZE(advice))]);
		break;
	default:
		what = "munmap of a slot";
		arena_release(slot_addr(slot), SLOT_LEN);
		break;
	}
	if (fz.verbose)
		printf("# t%u op %lu: %s slot %u\n", t->id, t->done, what, slot);
}

static void op_rw(struct fuzz_thread *t)
{
	static const unsigned int usual[] = {
		VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_BAR0_REGION_INDEX,
		VFIO_PCI_BAR2_REGION_INDEX,
	};
	struct fuzz_obj obj;
	uint64_t off;
	size_t len;
	int target;

	target = below(t, 2) ? T_MDEV :
		 fz.off[T_VFIO_LAZYMAP] ? T_VFIO_STOCK : T_VFIO_LAZYMAP;
	if (pick_fd(t, target, &obj) < 0)
		return;
	/* Config space, BAR0 and BAR2 mostly; any region now and then. */
	off = REGION(below(t, 4) ? usual[below(t, 3)] : below(t, 10)) +
	      below(t, 2 * SZ_4K);
	len = below(t, 4) ? 1U << below(t, 3) : below(t, 3 * SZ_4K);
	if (fz.verbose)
		printf("# t%u op %lu: %s %s fd %d off %#llx len %zu\n", t->id,
		       t->done, below(t, 2) ? "pread" : "pwrite",
		       fuzz_targets[target].name, obj.fd,
		       (unsigned long long)off, len);
	if (below(t, 2)) {
		pread(obj.fd, t->scratch, len, off);
	} else {
		for (size_t i = 0; i < len && i < SZ_4K; i++)
			t->scratch[i] = rnd(t);
		pwrite(obj.fd, t->scratch, len, off);
	}
}

static void op_fallocate(struct fuzz_thread *t)
{
	static const int modes[] = {
		0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	};
	struct fuzz_obj obj;
	uint64_t off;

	if (pick_fd(t, T_GMEM, &obj) < 0)
		return;
	off = below(t, (obj.len ?: SZ_2M) / SZ_4K) * SZ_4K;
	fallocate(obj.fd, modes[below(t, 3)], off, pick_len(t, obj.len ?: SZ_2M));
}

/* A child touches the arena and makes ioctls; no lock of the parent's. */
static void op_fork(struct fuzz_thread *t)
{
	int status, fds[4], n = 0, i;
	pid_t pid;

	for (i = 0; i < 4; i++) {
		fds[n] = pick_fd(t, -1, NULL);
		n += fds[n] >= 0;
	}
	pid = fork();
	if (pid < 0)
		return;
	if (!pid) {
		touch_slot(t, below(t, ARENA_SLOTS), 32);
		for (i = 0; i < n; i++)
			ioctl(fds[i], LAZYMAP_TEST_STATS, t->scratch);
		if (n && below(t, 2))
			close(fds[0]);
		touch_slot(t, below(t, ARENA_SLOTS), 32);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		__atomic_fetch_add(&fz.fork_failed, 1, __ATOMIC_RELAXED);
}

/* The operations and their weights, per mille. */
static const struct {
	const char *name;
	void (*fn)(struct fuzz_thread *t);
	unsigned int weight;
} fuzz_ops[] = {
	{ "open", op_open, 80 },
	{ "close", pool_close_one, 40 },
	{ "ioctl", op_ioctl, 380 },
	{ "mmap", op_mmap, 120 },
	{ "touch", op_touch, 183 },
	{ "munmap/mprotect/mremap/madvise", op_vma, 100 },
	{ "pread/pwrite", op_rw, 60 },
	{ "fallocate", op_fallocate, 35 },
	{ "fork", op_fork, 2 },
};

/* One operation, weighted. */
static void fuzz_op(struct fuzz_thread *t)
{
	unsigned int w = below(t, 1000), i;
	uint64_t t0;

	for (i = 0; i < ARRAY_SIZE(fuzz_ops) - 1; i++) {
		if (w < fuzz_ops[i].weight)
			break;
		w -= fuzz_ops[i].weight;
	}
	t0 = now_ns();
	fuzz_ops[i].fn(t);
	t->op_ns[i] += now_ns() - t0;
	t->op_nr[i]++;
	t->done++;
}

static void *fuzz_thread_fn(void *arg)
{
	struct fuzz_thread *t = arg;

	while (t->done < t->ops)
		fuzz_op(t);
	return NULL;
}

/* --- setup and teardown --------------------------------------------- */

static void setup_mdev(void)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char path[PATH_MAX], link[PATH_MAX], *base;
	ssize_t n;

	if (sysfs_write_str(MDEV_TYPE_CREATE, MDEV_UUID)) {
		fz.off[T_MDEV] = true;
		fz.why[T_MDEV] = "no lazymap-mdev parent";
		return;
	}
	fz.mdev_created = true;
	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/iommu_group", MDEV_UUID);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		base = strrchr(link, '/');
		base = base ? base + 1 : link;
		if (strlen(base) > 16)
			base = "-";
		snprintf(path, sizeof(path), "/dev/vfio/%.16s", base);
		fz.mdev_container = open(VFIO_CONTAINER_PATH, O_RDWR | O_CLOEXEC);
		fz.mdev_group = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fz.mdev_group < 0 || fz.mdev_container < 0 ||
	    ioctl(fz.mdev_group, VFIO_GROUP_GET_STATUS, &st) ||
	    ioctl(fz.mdev_group, VFIO_GROUP_SET_CONTAINER, &fz.mdev_container) ||
	    ioctl(fz.mdev_container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		fz.off[T_MDEV] = true;
		fz.why[T_MDEV] = "no VFIO type1 group for the mdev";
	}
}

/* Bind the ivshmem device to @driver and open its group: 0 or -errno. */
static int setup_pci(const char *driver)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s", driver);
	if (!fz.bdf[0] || access(path, F_OK))
		return -ENODEV;
	ret = pci_bind_driver(fz.bdf, driver);
	if (ret)
		return ret;
	ret = vfio_type1_open(&fz.pci, fz.bdf);
	if (ret)
		return ret;
	/* The pool opens its own device fds. */
	close(fz.pci.device_fd);
	fz.pci.device_fd = -1;
	return 0;
}

static void close_all(void)
{
	unsigned int i;

	arena_release(fz.arena, (size_t)ARENA_SLOTS * SLOT_LEN);
	pthread_mutex_lock(&fz.pool_lock);
	for (i = 0; i < fz.nr_objs; i++)
		close(fz.objs[i].fd);
	fz.nr_objs = 0;
	pthread_mutex_unlock(&fz.pool_lock);
}

/* Mappings debugfs still tracks for space @name: -1 if unknown. */
static long long tracked(const char *name)
{
	unsigned long long v;

	return lm_space_stat(name, "mappings", &v) ? -1 : (long long)v;
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

/* Where the time went: per operation, and the slowest ioctls. */
static void print_profile(const struct fuzz_thread *t)
{
	uint64_t ns, worst_ns;
	unsigned int i, j, k, n, wi = 0, wj = 0;
	unsigned long nr;
	bool shown[NR_TARGETS][16] = {};

	for (k = 0; k < ARRAY_SIZE(fuzz_ops); k++) {
		for (ns = 0, nr = 0, i = 0; i < fz.threads; i++) {
			ns += t[i].op_ns[k];
			nr += t[i].op_nr[k];
		}
		ksft_print_msg("  %-32s %6lu ops %8llu ms\n", fuzz_ops[k].name,
			       nr, (unsigned long long)ns / 1000000);
	}
	for (n = 0; n < 5; n++) {
		worst_ns = 0;
		for (i = 0; i < NR_TARGETS; i++) {
			for (j = 0; j < fuzz_targets[i].nr_ioctls; j++) {
				for (ns = 0, k = 0; k < fz.threads; k++)
					ns += t[k].ioctl_ns[i][j];
				if (!shown[i][j] && ns > worst_ns) {
					worst_ns = ns;
					wi = i;
					wj = j;
				}
			}
		}
		if (!worst_ns)
			break;
		shown[wi][wj] = true;
		ksft_print_msg("  ioctl %s on %s: %llu ms\n",
			       fuzz_targets[wi].ioctls[wj].name,
			       fuzz_targets[wi].name,
			       (unsigned long long)worst_ns / 1000000);
	}
}

/* Run @ops operations split over the threads (or serially). */
static void run_phase(const char *what, unsigned long ops, unsigned int phase)
{
	struct fuzz_thread t[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	unsigned long n, sum[4] = {};
	unsigned int i, k, started = 0;

	for (i = 0; i < fz.threads; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].id = i;
		t[i].s = fz.seed * 0x100 + phase * 0x10 + i;
		t[i].ops = ops / fz.threads + (i < ops % fz.threads);
		t[i].scratch = mmap(NULL, SCRATCH_LEN + SZ_4K,
				    PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (t[i].scratch == MAP_FAILED)
			ksft_exit_fail_msg("scratch: %s\n", strerror(errno));
		/*
		 * A guard page after it, for the pointers past its end and
		 * the kernel's writes through them: PROT_NONE, so that no
		 * mapping of the program's own can ever be placed there.
		 */
		mprotect(t[i].scratch + SCRATCH_LEN, SZ_4K, PROT_NONE);
	}
	if (fz.serial) {
		for (n = 0; n < ops; n++) {
			k = n % fz.threads;
			if (t[k].done < t[k].ops)
				fuzz_op(&t[k]);
		}
	} else {
		for (i = 0; i < fz.threads; i++)
			started += !pthread_create(&th[i], NULL,
						   fuzz_thread_fn, &t[i]);
		for (i = 0; i < started; i++)
			pthread_join(th[i], NULL);
		if (started < fz.threads)
			fz.err = "pthread_create";
	}
	for (i = 0; i < fz.threads; i++) {
		for (k = 0; k < 4; k++)
			sum[k] += t[i].counts[k];
		munmap(t[i].scratch, SCRATCH_LEN + SZ_4K);
	}
	ksft_print_msg("%s: %lu ioctls (%lu failed), %lu mmaps (%lu failed)\n",
		       what, sum[0] + sum[1], sum[1], sum[2] + sum[3], sum[3]);
	print_profile(t);
}

int main(void)
{
	char vfio_space[64], mdev_space[64];
	unsigned long ops;
	long long left;
	unsigned int i;
	int ret;

	fz.seed = env_ul("LAZYMAP_FUZZ_SEED", DEFAULT_SEED);
	ops = env_ul("LAZYMAP_FUZZ_N", DEFAULT_OPS);
	fz.threads = env_ul("LAZYMAP_FUZZ_THREADS", DEFAULT_THREADS);
	fz.serial = env_ul("LAZYMAP_FUZZ_SERIAL", 0);
	fz.verbose = env_ul("LAZYMAP_FUZZ_VERBOSE", 0);
	if (!fz.threads || fz.threads > MAX_THREADS)
		fz.threads = DEFAULT_THREADS;

	/* Not PTHREAD_MUTEX_INITIALIZER: sparse takes its 0s for NULLs. */
	if (pthread_mutex_init(&fz.pool_lock, NULL))
		ksft_exit_fail_msg("pthread_mutex_init\n");
	ksft_print_header();
	ksft_set_plan(3);
	ksft_print_msg("seed %llu, %lu operations, %u threads%s\n",
		       (unsigned long long)fz.seed, ops, fz.threads,
		       fz.serial ? ", serial" : "");
	ksft_print_msg("replay: make fuzz SEED=%llu N=%lu THREADS=%u\n",
		       (unsigned long long)fz.seed, ops, fz.threads);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (sigbus_install())
		ksft_exit_fail_msg("sigaction: %s\n", strerror(errno));
	/* Writes to read-only arena pages jump back the same way. */
	signal(SIGSEGV, sigbus_handler);
	fz.arena = mmap(NULL, (size_t)ARENA_SLOTS * SLOT_LEN + SZ_2M, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (fz.arena == MAP_FAILED)
		ksft_exit_fail_msg("arena: %s\n", strerror(errno));
	fz.arena = (uint8_t *)(((uintptr_t)fz.arena + SZ_2M - 1) & ~(SZ_2M - 1));

	if (access(LAZYMAP_DEV, F_OK)) {
		for (i = T_TEST_DEV; i <= T_TEST_SPACE; i++) {
			fz.off[i] = true;
			fz.why[i] = "no " LAZYMAP_DEV;
		}
	}
	if (access(LAZYMAP_VM_DEV, F_OK)) {
		for (i = T_VM_DEV; i <= T_GMEM; i++) {
			fz.off[i] = true;
			fz.why[i] = "no " LAZYMAP_VM_DEV;
		}
	}
	vfio_type1_init(&fz.pci);
	if (pci_find_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, fz.bdf,
			    sizeof(fz.bdf)))
		fz.bdf[0] = '\0';
	setup_mdev();
	snprintf(vfio_space, sizeof(vfio_space), "vfio-%s", fz.bdf);
	snprintf(mdev_space, sizeof(mdev_space), "mdev-%s", MDEV_UUID);

	/* Phase 1: ivshmem under lazymap-vfio-pci. */
	fz.off[T_VFIO_STOCK] = true;
	fz.why[T_VFIO_STOCK] = "not in this phase";
	ret = setup_pci("lazymap-vfio-pci");
	if (ret) {
		fz.off[T_VFIO_LAZYMAP] = true;
		fz.why[T_VFIO_LAZYMAP] = "no ivshmem or no lazymap-vfio-pci";
	}
	for (i = 0; i < NR_TARGETS; i++)
		if (fz.off[i] && fz.why[i] && i != T_VFIO_STOCK)
			ksft_print_msg("target %s skipped: %s\n",
				       fuzz_targets[i].name, fz.why[i]);
	run_phase("lazymap-vfio-pci phase", ops - ops / 2, 1);
	close_all();
	left = fz.off[T_VFIO_LAZYMAP] ? 0 : tracked(vfio_space);
	ksft_test_result(!fz.err && !left,
			 "fuzz with lazymap-vfio-pci (mappings left: %lld)\n",
			 left);
	vfio_type1_close(&fz.pci);

	/* Phase 2: the same device under stock vfio-pci. */
	fz.off[T_VFIO_LAZYMAP] = true;
	fz.off[T_VFIO_STOCK] = setup_pci("vfio-pci") != 0;
	if (fz.off[T_VFIO_STOCK])
		ksft_print_msg("target vfio-pci skipped: no ivshmem or no vfio-pci\n");
	run_phase("vfio-pci phase", ops / 2, 2);
	close_all();
	ksft_test_result(!fz.err, "fuzz with vfio-pci\n");
	vfio_type1_close(&fz.pci);

	/* Nothing mapped or open: nothing may stay tracked. */
	left = fz.off[T_MDEV] ? 0 : tracked(mdev_space);
	if (fz.mdev_group >= 0)
		close(fz.mdev_group);
	if (fz.mdev_container >= 0)
		close(fz.mdev_container);
	if (fz.mdev_created) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), MDEV_DEVICES "/%s/remove",
			 MDEV_UUID);
		if (sysfs_write_str(path, "1"))
			left = -2;
	}
	ksft_test_result(!left && !fz.fork_failed,
			 "no mdev mapping left (%lld), mdev removed, forks clean (%lu failed)\n",
			 left, fz.fork_failed);
	ksft_finished();
}
