/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _UAPI_LINUX_LAZYMAP_VM_H
#define _UAPI_LINUX_LAZYMAP_VM_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define LAZYMAP_VM_API_VERSION		1
#define LAZYMAP_VM_IO			0xBB
#define LAZYMAP_VM_USER_MEM_SLOTS	32764			/* KVM x86 */
#define LAZYMAP_VM_MAX_VCPUS		256			/* ids 0..255 */
#define LAZYMAP_VM_MEM_MAX_NR_PAGES	((1ULL << 31) - 1)	/* per slot */
#define LAZYMAP_VM_ACCESS_MAX_SIZE	(1ULL << 20)		/* per ACCESS */

/* ioctls for /dev/lazymap-vm; CHECK_EXTENSION works on VM fds too */
#define LAZYMAP_VM_GET_API_VERSION	_IO(LAZYMAP_VM_IO, 0x00)
#define LAZYMAP_VM_CREATE_VM		_IO(LAZYMAP_VM_IO, 0x01)	/* arg: type */
#define LAZYMAP_VM_CHECK_EXTENSION	_IO(LAZYMAP_VM_IO, 0x03)	/* arg: cap */
#define LAZYMAP_VM_TYPE_DEFAULT		0
#define LAZYMAP_VM_CAP_USER_MEMORY2		1
#define LAZYMAP_VM_CAP_NR_MEMSLOTS		2	/* USER_MEM_SLOTS */
#define LAZYMAP_VM_CAP_READONLY_MEM		3
#define LAZYMAP_VM_CAP_MAX_VCPUS		4	/* MAX_VCPUS */
#define LAZYMAP_VM_CAP_GUEST_MEMFD		5
#define LAZYMAP_VM_CAP_GUEST_MEMFD_FLAGS	6	/* valid create flags */
#define LAZYMAP_VM_CAP_MAP_MEM			7
#define LAZYMAP_VM_CAP_LOCK_USER_MEMORY_REGION	8
#define LAZYMAP_VM_CAP_DIRTY_LOG		9

/* VM fd: memory slots; layouts of KVM's region and region2 */
struct lazymap_vm_userspace_memory_region {
	__u32 slot;		/* bits 0-15 id, bits 16-31 address space (0) */
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;	/* bytes, 0 deletes the slot */
	__u64 userspace_addr;
};
struct lazymap_vm_userspace_memory_region2 {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};
#define LAZYMAP_VM_MEM_LOG_DIRTY_PAGES	(1U << 0)
#define LAZYMAP_VM_MEM_READONLY		(1U << 1)
#define LAZYMAP_VM_MEM_GUEST_MEMFD	(1U << 2)	/* REGION2 only */
struct lazymap_vm_dirty_log {
	__u32 slot;
	__u32 padding1;
	union {
		void __user *dirty_bitmap;	/* one bit per page */
		__u64 padding2;
	};
};

/* VM fd: layout of struct kvm_enable_cap */
struct lazymap_vm_enable_cap {
	__u32 cap;
	__u32 flags;
	__u64 args[4];
	__u8  pad[64];
};
/* CAP_LOCK_USER_MEMORY_REGION: flags = action, args[0] slot, args[1] perm */
#define LAZYMAP_VM_LOCK_USER_MEMORY_REGION_FLAGS_LOCK	(1U << 0)
#define LAZYMAP_VM_LOCK_USER_MEMORY_REGION_FLAGS_UNLOCK	(1U << 1)
#define LAZYMAP_VM_LOCK_MEM_READ	(1ULL << 0)	/* mandatory */
#define LAZYMAP_VM_LOCK_MEM_WRITE	(1ULL << 1)
#define LAZYMAP_VM_UNLOCK_MEM_ALL	(1ULL << 0)	/* args[1] of UNLOCK */

/* VM fd: layout of struct kvm_create_guest_memfd */
struct lazymap_vm_create_guest_memfd {
	__u64 size;
	__u64 flags;
	__u64 reserved[6];
};
#define LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP	(1ULL << 0)
#define LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE	(1ULL << 1)	/* 2M folios */

/* VM fd: layout of struct gunyah_map_mem_args */
struct lazymap_vm_map_mem {
	__u64 guest_addr;
	__u32 flags;
	__u32 guest_memfd;
	__u64 offset;
	__u64 size;
};
#define LAZYMAP_VM_MAP_LEND		0x1	/* host loses access */
#define LAZYMAP_VM_MAP_SHARE		0x2	/* host keeps access */
#define LAZYMAP_VM_MAP_ACCESS_MASK	0x7
#define LAZYMAP_VM_MAP_READ		(1U << 4)
#define LAZYMAP_VM_MAP_WRITE		(1U << 5)
#define LAZYMAP_VM_MAP_EXEC		(1U << 6)
#define LAZYMAP_VM_MAP_RWX		(LAZYMAP_VM_MAP_READ | \
					 LAZYMAP_VM_MAP_WRITE | LAZYMAP_VM_MAP_EXEC)
#define LAZYMAP_VM_MAP_UNMAP		(1U << 8)

/* VM fd: a snapshot of counters */
struct lazymap_vm_stats {
	__u64 s2_pages;		/* 4K pages mapped at stage 2 now */
	__u64 s2_faults[3];	/* entries installed at 4K, 2M, 1G */
	__u64 s2_invalidated;	/* 4K pages dropped by invalidation */
	__u64 locked_pages;	/* pinned by slot lock now */
	__u64 mmio_exits, memory_faults;
	__u64 reserved[8];
};

#define LAZYMAP_VM_CREATE_VCPU		_IO(LAZYMAP_VM_IO, 0x41)	/* arg: id */
#define LAZYMAP_VM_GET_DIRTY_LOG	_IOW(LAZYMAP_VM_IO, 0x42, struct lazymap_vm_dirty_log)
#define LAZYMAP_VM_SET_USER_MEMORY_REGION \
	_IOW(LAZYMAP_VM_IO, 0x46, struct lazymap_vm_userspace_memory_region)
#define LAZYMAP_VM_SET_USER_MEMORY_REGION2 \
	_IOW(LAZYMAP_VM_IO, 0x49, struct lazymap_vm_userspace_memory_region2)
#define LAZYMAP_VM_ENABLE_CAP		_IOW(LAZYMAP_VM_IO, 0xa3, struct lazymap_vm_enable_cap)
#define LAZYMAP_VM_GET_STATS		_IOR(LAZYMAP_VM_IO, 0xce, struct lazymap_vm_stats)
#define LAZYMAP_VM_CREATE_GUEST_MEMFD \
	_IOWR(LAZYMAP_VM_IO, 0xd4, struct lazymap_vm_create_guest_memfd)
#define LAZYMAP_VM_MAP_MEM		_IOW(LAZYMAP_VM_IO, 0xd8, struct lazymap_vm_map_mem)

/* vCPU fd: one guest access through stage 2 */
#define LAZYMAP_VM_ACCESS_READ		(1U << 0)
#define LAZYMAP_VM_ACCESS_WRITE		(1U << 1)
#define LAZYMAP_VM_ACCESS_EXEC		(1U << 2)	/* a fetch: reads, needs X */
#define LAZYMAP_VM_EXIT_NONE		0
#define LAZYMAP_VM_EXIT_MMIO		6	/* = KVM_EXIT_MMIO; ioctl returns 0 */
#define LAZYMAP_VM_EXIT_MEMORY_FAULT	39	/* = KVM_EXIT_MEMORY_FAULT; -EFAULT */
#define LAZYMAP_VM_MEMORY_EXIT_FLAG_PRIVATE (1ULL << 3)	/* guest_memfd GPA */
struct lazymap_vm_exit {
	__u32 reason;		/* LAZYMAP_VM_EXIT_* */
	__u32 pad;
	__u64 flags;		/* the access's LAZYMAP_VM_ACCESS_* [| FLAG_PRIVATE] */
	__u64 gpa;		/* first byte not served */
	__u64 size;		/* bytes not served, up to the access's end */
	__u64 reserved[2];
};
struct lazymap_vm_access {
	__u64 gpa;
	__u64 size;		/* 1..LAZYMAP_VM_ACCESS_MAX_SIZE */
	__u64 data;		/* user buffer: source of WRITE, target of READ/EXEC */
	__u32 flags;		/* exactly one LAZYMAP_VM_ACCESS_* */
	__u32 pad1;
	__u64 pad2[2];
	struct lazymap_vm_exit exit;	/* out */
};
#define LAZYMAP_VM_VCPU_ACCESS	_IOWR(LAZYMAP_VM_IO, 0x80, struct lazymap_vm_access)

#endif /* _UAPI_LINUX_LAZYMAP_VM_H */
