/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wrappers of the ioctls of /dev/lazymap-vm (interface in
 * include/uapi/linux/lazymap_vm.h), shared by the vm_*.c selftests and
 * bench_vm.c: a VM, its vCPUs and memory slots, one guest access, the slot
 * lock, the dirty log, the VM's counters, guest_memfds and their bindings.
 *
 * Like lazymap_util.h, everything is static and depends only on libc.
 * Functions returning int return 0 (or a value: an fd, a count) on success
 * and a negative errno value on failure, errno left as the ioctl set it.
 * Include after lazymap_harness.h, if at all: the fixture helper
 * lmvm_setup_vm() exists only then.
 */
#ifndef __LAZYMAP_VM_UTIL_H
#define __LAZYMAP_VM_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/lazymap_vm.h>

#define LAZYMAP_VM_DEV		"/dev/lazymap-vm"

#define LMVM_PAGE		4096ULL

/* The exit reasons in the type of lazymap_vm_exit.reason, to compare. */
#define LMVM_EXIT_NONE		((__u32)LAZYMAP_VM_EXIT_NONE)
#define LMVM_EXIT_MMIO		((__u32)LAZYMAP_VM_EXIT_MMIO)
#define LMVM_EXIT_MEMORY_FAULT	((__u32)LAZYMAP_VM_EXIT_MEMORY_FAULT)

/*
 * A data pattern for guest memory: byte @i of generation @gen, never 0
 * (so memory that reads zero was never written or was scrubbed).
 */
static inline uint8_t lmvm_pat(uint64_t i, unsigned int gen)
{
	return (i / 7 + i % 251 + gen * 37) % 255 + 1;
}

/* Fill @p with the pattern of generation @gen from byte @base on. */
static inline void lmvm_pat_fill(uint8_t *p, size_t len, uint64_t base,
				 unsigned int gen)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = lmvm_pat(base + i, gen);
}

/* Offset of the first byte of @p not holding the pattern, or -1. */
static inline long lmvm_pat_check(const uint8_t *p, size_t len,
				  uint64_t base, unsigned int gen)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != lmvm_pat(base + i, gen))
			return i;
	return -1;
}

static inline int lmvm_ret(int ret)
{
	return ret < 0 ? -errno : ret;
}

/* Open /dev/lazymap-vm: its fd or -errno. */
static inline int lmvm_open_dev(void)
{
	return lmvm_ret(open(LAZYMAP_VM_DEV, O_RDWR | O_CLOEXEC));
}

static inline int lmvm_create_vm(int dev_fd, unsigned long type)
{
	return lmvm_ret(ioctl(dev_fd, LAZYMAP_VM_CREATE_VM, type));
}

static inline int lmvm_create_vcpu(int vm_fd, unsigned long id)
{
	return lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_CREATE_VCPU, id));
}

static inline int lmvm_check_extension(int fd, unsigned long cap)
{
	return lmvm_ret(ioctl(fd, LAZYMAP_VM_CHECK_EXTENSION, cap));
}

/* SET_USER_MEMORY_REGION (the V1 layout). */
static inline int lmvm_set_region(int vm_fd, __u32 slot, __u32 flags,
				  __u64 gpa, __u64 size, const void *hva)
{
	struct lazymap_vm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_SET_USER_MEMORY_REGION, &r));
}

static inline int lmvm_set_region2(int vm_fd,
				   const struct lazymap_vm_userspace_memory_region2 *r)
{
	return lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_SET_USER_MEMORY_REGION2, r));
}

static inline int lmvm_delete_region(int vm_fd, __u32 slot)
{
	return lmvm_set_region(vm_fd, slot, 0, 0, 0, NULL);
}

static inline int lmvm_stats(int vm_fd, struct lazymap_vm_stats *st)
{
	memset(st, 0, sizeof(*st));
	return lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_GET_STATS, st));
}

/*
 * VCPU_ACCESS of @size bytes at @gpa of kind @flags with buffer @data; the
 * exit written back into *@exit (unless NULL): the ioctl's return, or
 * -errno.  A MEMORY_FAULT exit is -EFAULT with exit->reason set.
 */
static inline int lmvm_access(int vcpu_fd, __u32 flags, __u64 gpa,
			      __u64 size, void *data,
			      struct lazymap_vm_exit *exit)
{
	struct lazymap_vm_access a = {
		.gpa = gpa,
		.size = size,
		.data = (uintptr_t)data,
		.flags = flags,
	};
	int ret;

	ret = lmvm_ret(ioctl(vcpu_fd, LAZYMAP_VM_VCPU_ACCESS, &a));
	if (exit)
		*exit = a.exit;
	return ret;
}

static inline int lmvm_read(int vcpu_fd, __u64 gpa, __u64 size, void *buf,
			    struct lazymap_vm_exit *exit)
{
	return lmvm_access(vcpu_fd, LAZYMAP_VM_ACCESS_READ, gpa, size, buf,
			   exit);
}

static inline int lmvm_write(int vcpu_fd, __u64 gpa, __u64 size,
			     const void *buf, struct lazymap_vm_exit *exit)
{
	return lmvm_access(vcpu_fd, LAZYMAP_VM_ACCESS_WRITE, gpa, size,
			   (void *)buf, exit);
}

/* ENABLE_CAP(LOCK_USER_MEMORY_REGION): LOCK of @slot with @perm. */
static inline int lmvm_lock(int vm_fd, __u64 slot, __u64 perm)
{
	struct lazymap_vm_enable_cap cap = {
		.cap = LAZYMAP_VM_CAP_LOCK_USER_MEMORY_REGION,
		.flags = LAZYMAP_VM_LOCK_USER_MEMORY_REGION_FLAGS_LOCK,
		.args = { slot, perm },
	};

	return lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_ENABLE_CAP, &cap));
}

/* UNLOCK of @slot, or of every slot if @all. */
static inline int lmvm_unlock(int vm_fd, __u64 slot, bool all)
{
	struct lazymap_vm_enable_cap cap = {
		.cap = LAZYMAP_VM_CAP_LOCK_USER_MEMORY_REGION,
		.flags = LAZYMAP_VM_LOCK_USER_MEMORY_REGION_FLAGS_UNLOCK,
		.args = { slot, all ? LAZYMAP_VM_UNLOCK_MEM_ALL : 0 },
	};

	return lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_ENABLE_CAP, &cap));
}

static inline int lmvm_dirty_log(int vm_fd, __u32 slot, void *bitmap)
{
	struct lazymap_vm_dirty_log log = {
		.slot = slot,
		.dirty_bitmap = bitmap,
	};

	return lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_GET_DIRTY_LOG, &log));
}

/*
 * The lowest fd not open: the fd the next open() or CREATE would get, to
 * check that a failed CREATE installed none.
 */
static inline int lmvm_lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd >= 0)
		close(fd);
	return fd;
}

/*
 * Drop @cap from this thread's effective, permitted and inheritable sets
 * (capset(2), no libcap): 0 or -errno.
 */
static inline int lmvm_drop_cap(unsigned int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	unsigned int i;

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	i = CAP_TO_INDEX(cap);
	data[i].effective &= ~CAP_TO_MASK(cap);
	data[i].permitted &= ~CAP_TO_MASK(cap);
	data[i].inheritable &= ~CAP_TO_MASK(cap);
	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

/* The value of "@name:" (in kB) in /proc/self/status, or -errno. */
static inline long long lmvm_status_kb(const char *name)
{
	size_t len = strlen(name);
	long long kb = -ENOENT;
	char line[256];
	FILE *f;

	f = fopen("/proc/self/status", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, len) && line[len] == ':') {
			if (sscanf(line + len + 1, " %lld", &kb) != 1)
				kb = -EPROTO;
			break;
		}
	}
	fclose(f);
	return kb;
}

/* CREATE_GUEST_MEMFD of @size bytes with @flags: the fd or -errno. */
static inline int lmvm_create_gmem(int vm_fd, __u64 size, __u64 flags)
{
	struct lazymap_vm_create_guest_memfd args = {
		.size = size,
		.flags = flags,
	};

	return lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_CREATE_GUEST_MEMFD, &args));
}

/* MAP_MEM: bind (or with LAZYMAP_VM_MAP_UNMAP unmap) a guest_memfd range. */
static inline int lmvm_map_mem(int vm_fd, __u64 gpa, __u32 flags, int gmem_fd,
			       __u64 offset, __u64 size)
{
	struct lazymap_vm_map_mem args = {
		.guest_addr = gpa,
		.flags = flags,
		.guest_memfd = gmem_fd,
		.offset = offset,
		.size = size,
	};

	return lmvm_ret(ioctl(vm_fd, LAZYMAP_VM_MAP_MEM, &args));
}

static inline int lmvm_unmap_mem(int vm_fd, __u64 gpa, int gmem_fd,
				 __u64 offset, __u64 size)
{
	return lmvm_map_mem(vm_fd, gpa, LAZYMAP_VM_MAP_UNMAP, gmem_fd, offset,
			    size);
}

/* A GUEST_MEMFD slot (REGION2) of @size bytes at @gpa: 0 or -errno. */
static inline int lmvm_set_gmem_region(int vm_fd, __u32 slot, __u64 gpa,
				       __u64 size, int gmem_fd, __u64 offset)
{
	struct lazymap_vm_userspace_memory_region2 r = {
		.slot = slot,
		.flags = LAZYMAP_VM_MEM_GUEST_MEMFD,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.guest_memfd = gmem_fd,
		.guest_memfd_offset = offset,
	};

	return lmvm_set_region2(vm_fd, &r);
}

#ifdef __KSELFTEST_HARNESS_H
/*
 * The start of a fixture setup: open /dev/lazymap-vm into *@dev_fd,
 * require 4 KiB pages, create a VM into *@vm_fd and its vCPU 0 into
 * *@vcpu_fd, all ASSERTed.
 */
static inline void lmvm_setup_vm(struct __test_metadata *_metadata,
				 int *dev_fd, int *vm_fd, int *vcpu_fd)
{
	*dev_fd = lmvm_open_dev();
	ASSERT_LE(0, *dev_fd)
		TH_LOG("%s: %s (is lazymap-vm built in or loaded?)",
		       LAZYMAP_VM_DEV, strerror(-*dev_fd));
	ASSERT_EQ(4096, sysconf(_SC_PAGESIZE));
	*vm_fd = lmvm_create_vm(*dev_fd, 0);
	ASSERT_LE(0, *vm_fd) TH_LOG("CREATE_VM: %s", strerror(-*vm_fd));
	*vcpu_fd = lmvm_create_vcpu(*vm_fd, 0);
	ASSERT_LE(0, *vcpu_fd) TH_LOG("CREATE_VCPU: %s", strerror(-*vcpu_fd));
}
#endif

#endif /* __LAZYMAP_VM_UTIL_H */
