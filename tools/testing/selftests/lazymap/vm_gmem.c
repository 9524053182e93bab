// SPDX-License-Identifier: GPL-2.0
/*
 * guest_memfd of /dev/lazymap-vm: CREATE_GUEST_MEMFD, the file it returns,
 * MAP_MEM bindings and GUEST_MEMFD slots (contract: the lazymap-vm UAPI
 * document, Documentation/userspace-api/lazymap-vm.rst).
 *
 * - the port of KVM 6.12's guest_memfd_test.c to this UAPI: the file's
 *   fstat(), read/write/pread/pwrite/ftruncate refused, fallocate()'s
 *   rules (KEEP_SIZE mandatory, aligned, punch past EOF allowed), mmap()
 *   only with FLAG_MMAP and shared (KVM 6.18), one inode per fd, another
 *   VM's guest_memfd refused, the create errno table;
 * - the MAP_MEM errno table, in the contract's check order, with the
 *   overlap and adjacency rows on both axes (GPA, file offset);
 * - SHARE end to end: host and guest see each other's writes; a punched
 *   hole drops the guest's entries and both sides read zeros after;
 * - LEND end to end: the host's image is kept for the guest, the host gets
 *   SIGBUS, EFAULT from write() and EIO from /proc/self/mem on the lent
 *   range; unmapping hands it back zeroed, never with the guest's data;
 * - unmap trims the head, the tail and splits the middle, checked page by
 *   page from guest (MMIO where unbound) and host (zeros vs SIGBUS);
 * - GUEST_MEMFD slots: bound LEND|RWX, immutable, not lockable, faulting
 *   (MEMORY_FAULT | PRIVATE) once the guest_memfd is closed;
 * - permissions of a binding: MEMORY_FAULT | PRIVATE, never MMIO;
 * - memory failure of a bound folio (QEMU): taken from the guest first;
 * - teardown in every order (VM fd, guest_memfd fd, host mapping, a child
 *   holding the fd), with kmemleak checked by the harness;
 * - 2 MiB stage-2 entries for a HUGEPAGE guest_memfd where THP exists;
 * - a fixed-iteration race of ACCESS against punch hole, unmap/remap and
 *   munmap of the host mapping;
 * - where lazymap-vm is a module, a guest_memfd holds one reference on it
 *   while open, dropped by its last close.
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

#include "lazymap_harness.h"
#include "lazymap_util.h"
#include "lazymap_vm_util.h"

#define GPA		0x40000000ULL	/* where the tests bind */
#define GMEM_SIZE	(64 * PG)
#define MMAP		LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP
#define HUGE		LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE
#define LEND		LAZYMAP_VM_MAP_LEND
#define SHARE		LAZYMAP_VM_MAP_SHARE
#define RWX		LAZYMAP_VM_MAP_RWX
#define RW		(LAZYMAP_VM_MAP_READ | LAZYMAP_VM_MAP_WRITE)
#define UNMAP		LAZYMAP_VM_MAP_UNMAP
#define PRIVATE		LAZYMAP_VM_MEMORY_EXIT_FLAG_PRIVATE

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE	0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE	0x02
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE	0x10
#endif

FIXTURE(gmem) {
	int dev_fd;
	int vm_fd;
	int vcpu_fd;
	uint8_t *buf;		/* ACCESS data, 1 MiB */
};

FIXTURE_SETUP(gmem)
{
	self->vm_fd = -1;
	self->vcpu_fd = -1;
	lmvm_setup_vm(_metadata, &self->dev_fd, &self->vm_fd, &self->vcpu_fd);
	ASSERT_EQ(0, sigbus_install());
	self->buf = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
}

FIXTURE_TEARDOWN(gmem)
{
	if (self->vcpu_fd >= 0)
		close(self->vcpu_fd);
	if (self->vm_fd >= 0)
		close(self->vm_fd);
	munmap(self->buf, SZ_1M);
	close(self->dev_fd);
}

static struct lazymap_vm_stats stats(struct __test_metadata *_metadata,
				     int vm_fd)
{
	struct lazymap_vm_stats st;

	EXPECT_EQ(0, lmvm_stats(vm_fd, &st));
	return st;
}

static uint8_t *host_map(int fd, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The module's reference count (/sys/module/lazymap_vm/refcnt), or -1. */
static long module_refcnt(void)
{
	char buf[32];

	if (lm_read_file("/sys/module/lazymap_vm/refcnt", buf, sizeof(buf)) < 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/*
 * A guest_memfd holds one reference on lazymap-vm's module while it is
 * open, and its last close drops exactly that one: else each close takes
 * a reference of another file, and once the count reaches zero
 * /dev/lazymap-vm cannot be opened (ENODEV) and rmmod can unload the
 * module under open files.  Built in (UML) there is no count to check.
 */
TEST_F(gmem, module_ref)
{
	long before;
	void *p;
	int fd;

	before = module_refcnt();
	if (before < 0)
		SKIP(return, "lazymap-vm is built in");
	fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, MMAP);
	ASSERT_LE(0, fd);
	EXPECT_EQ(before + 1, module_refcnt());
	p = host_map(fd, GMEM_SIZE);
	ASSERT_NE(NULL, p);
	close(fd);
	EXPECT_EQ(before + 1, module_refcnt());
	munmap(p, GMEM_SIZE);
	EXPECT_EQ(before, module_refcnt());
}

/* --- the port of guest_memfd_test.c --------------------------------- */

/* test_file_read_write(), test_file_size(), test_create_guest_memfd_*() */
TEST_F(gmem, file_ops)
{
	char c[PG] = {};
	struct stat st1, st2;
	int fd1, fd2;

	fd1 = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, 0);
	ASSERT_LE(0, fd1);
	fd2 = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, 0);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-1, read(fd1, c, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, write(fd1, c, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(fd1, c, 1, 0));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_EQ(-1, pwrite(fd1, c, 1, 0));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_EQ(-1, ftruncate(fd1, 2 * GMEM_SIZE));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, fstat(fd1, &st1));
	EXPECT_EQ(GMEM_SIZE, (unsigned long)st1.st_size);
	EXPECT_EQ(PG, (unsigned long)st1.st_blksize);
	EXPECT_TRUE(S_ISREG(st1.st_mode));
	ASSERT_EQ(0, fstat(fd2, &st2));
	EXPECT_NE(st1.st_ino, st2.st_ino);
	EXPECT_EQ(O_RDWR, fcntl(fd1, F_GETFL) & O_ACCMODE);
	EXPECT_EQ(0, fcntl(fd1, F_GETFD) & FD_CLOEXEC);
	/* No FLAG_MMAP: ENODEV (KVM 6.18). */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PG, PROT_READ, MAP_SHARED, fd1, 0));
	EXPECT_EQ(ENODEV, errno);
	close(fd2);
	close(fd1);
}

/* test_create_guest_memfd_invalid() and the contract's errno table */
TEST_F(gmem, create_errno)
{
	static const struct {
		__u64 size, flags;
		int reserved;	/* index + 1 of a reserved word set, or 0 */
		int err;
	} rows[] = {
		{ PG, 1ULL << 2, 0, -EINVAL },
		{ PG, 1ULL << 63, 0, -EINVAL },
		{ PG, 0, 1, -EINVAL },
		{ PG, 0, 6, -EINVAL },
		{ 0, 0, 0, -EINVAL },
		{ 1, 0, 0, -EINVAL },
		{ PG - 1, 0, 0, -EINVAL },
		{ PG + 1, 0, 0, -EINVAL },
		{ 1ULL << 63, 0, 0, -EINVAL },
		{ ~0ULL - PG + 1, 0, 0, -EINVAL },
		{ PG, HUGE, 0, -EINVAL },
		{ SZ_2M + PG, HUGE, 0, -EINVAL },
		{ PG, 0, 0, 0 },
		{ PG, MMAP, 0, 0 },
		{ SZ_2M, HUGE | MMAP, 0, 0 },
	};
	struct lazymap_vm_create_guest_memfd args;
	unsigned int i;
	int ret, free_fd;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		memset(&args, 0, sizeof(args));
		args.size = rows[i].size;
		args.flags = rows[i].flags;
		if (rows[i].reserved)
			args.reserved[rows[i].reserved - 1] = 1;
		free_fd = lmvm_lowest_free_fd();
		ret = lmvm_ret(ioctl(self->vm_fd, LAZYMAP_VM_CREATE_GUEST_MEMFD,
				     &args));
		if (rows[i].err) {
			EXPECT_EQ(rows[i].err, ret) TH_LOG("row %u", i);
			EXPECT_EQ(free_fd, lmvm_lowest_free_fd());
		} else {
			EXPECT_LE(0, ret) TH_LOG("row %u: %s", i, strerror(-ret));
			if (ret >= 0)
				close(ret);
		}
	}
	EXPECT_EQ(-EFAULT, lmvm_ret(ioctl(self->vm_fd,
					  LAZYMAP_VM_CREATE_GUEST_MEMFD, 8)));
	/* On the device fd it is no ioctl. */
	EXPECT_EQ(-ENOTTY, lmvm_create_gmem(self->dev_fd, PG, 0));
}

/* test_fallocate() and test_invalid_punch_hole() */
TEST_F(gmem, fallocate)
{
	static const struct {
		off_t off, len;
	} bad[] = {
		{ 0, 1 }, { 0, PG - 1 }, { 0, PG + 1 }, { 1, 1 }, { 1, PG - 1 },
		{ 1, PG }, { 1, PG + 1 }, { PG, 1 }, { PG, PG - 1 },
		{ PG, PG + 1 },
	};
	unsigned int i;
	int fd;

	fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, GMEM_SIZE));
	EXPECT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE, PG, 2 * PG));
	EXPECT_EQ(-1, fallocate(fd, 0, 0, PG));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE,
				0, PG));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_KEEP_SIZE, GMEM_SIZE - PG,
				2 * PG));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_KEEP_SIZE, GMEM_SIZE, PG));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       GMEM_SIZE, PG));
	EXPECT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       GMEM_SIZE - PG, 4 * PG));
	EXPECT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       0, GMEM_SIZE));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_KEEP_SIZE |
					FALLOC_FL_PUNCH_HOLE, bad[i].off,
					bad[i].len));
		EXPECT_EQ(EINVAL, errno) TH_LOG("punch row %u", i);
		EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_KEEP_SIZE, bad[i].off,
					bad[i].len));
		EXPECT_EQ(EINVAL, errno) TH_LOG("allocate row %u", i);
	}
	close(fd);
}

/* test_mmap_supported() (6.18): shared only; past EOF maps, faults SIGBUS */
TEST_F(gmem, host_mmap)
{
	uint8_t *p, v;
	int fd;

	fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, MMAP);
	ASSERT_LE(0, fd);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PG, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE, fd, 0));
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, GMEM_SIZE + 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, first_mismatch(p, GMEM_SIZE, 0));
	lmvm_pat_fill(p, GMEM_SIZE, 0, 1);
	EXPECT_EQ(-1, lmvm_pat_check(p, GMEM_SIZE, 0, 1));
	EXPECT_EQ(-1, read_byte(p + GMEM_SIZE, &v));
	EXPECT_EQ(-1, write_byte(p + GMEM_SIZE + PG, 1));
	/* Punch: the next access gets a zero page. */
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       4 * PG, 2 * PG));
	EXPECT_EQ(-1, first_mismatch(p + 4 * PG, 2 * PG, 0));
	EXPECT_EQ(-1, lmvm_pat_check(p, 4 * PG, 0, 1));
	EXPECT_EQ(-1, lmvm_pat_check(p + 6 * PG, GMEM_SIZE - 6 * PG, 6 * PG, 1));
	munmap(p, GMEM_SIZE + 2 * PG);
	/* The folios are the file's: a new mapping sees them. */
	p = host_map(fd, GMEM_SIZE);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(-1, lmvm_pat_check(p + 6 * PG, GMEM_SIZE - 6 * PG, 6 * PG, 1));
	munmap(p, GMEM_SIZE);
	close(fd);
}

/* --- MAP_MEM errno table --------------------------------------------- */

enum { FD_GMEM, FD_HUGE, FD_OTHER_VM, FD_MEMFD, FD_VM, FD_CLOSED, NR_FDS };

struct map_row {
	const char *name;
	__u64 gpa;
	__u32 flags;
	int fd;		/* FD_* */
	__u64 off, size;
	int err;
};

/*
 * The state every row starts from: GMEM_SIZE guest_memfd (FD_GMEM) bound
 * SHARE at GPA [0, 8 pages) of the file; a user memory slot at 16 MiB
 * of 1 MiB; a 4 MiB HUGEPAGE guest_memfd (FD_HUGE), unbound.
 */
#define SLOT_GPA	0x1000000ULL
#define B_PAGES		8

static const struct map_row map_rows[] = {
	{ "unknown flag bit 7",
	  GPA + SZ_1M, SHARE | RW | (1U << 7), FD_GMEM, 16 * PG, PG, -EINVAL },
	{ "unknown flag bit 9",
	  GPA + SZ_1M, SHARE | RW | (1U << 9), FD_GMEM, 16 * PG, PG, -EINVAL },
	{ "unknown flag bit 31",
	  GPA + SZ_1M, SHARE | RW | (1U << 31), FD_GMEM, 16 * PG, PG, -EINVAL },
	{ "fd not open", GPA + SZ_1M, SHARE | RW, FD_CLOSED, 16 * PG, PG, -EBADF },
	{ "fd a memfd", GPA + SZ_1M, SHARE | RW, FD_MEMFD, 16 * PG, PG, -EINVAL },
	{ "fd the VM fd", GPA + SZ_1M, SHARE | RW, FD_VM, 16 * PG, PG, -EINVAL },
	{ "another VM's guest_memfd", GPA + SZ_1M, SHARE | RW, FD_OTHER_VM, 0, PG, -EINVAL },
	{ "size 0", GPA + SZ_1M, SHARE | RW, FD_GMEM, 16 * PG, 0, -EINVAL },
	{ "gpa unaligned", GPA + SZ_1M + 1, SHARE | RW, FD_GMEM, 16 * PG, PG, -EINVAL },
	{ "offset unaligned", GPA + SZ_1M, SHARE | RW, FD_GMEM, 16 * PG + 8, PG, -EINVAL },
	{ "size unaligned", GPA + SZ_1M, SHARE | RW, FD_GMEM, 16 * PG, PG + 1, -EINVAL },
	{ "HUGEPAGE file, 4K-aligned gpa", GPA + SZ_1M, SHARE | RW, FD_HUGE, 0, SZ_2M, -EINVAL },
	{ "HUGEPAGE file, 4K-aligned offset", 2 * GPA, SHARE | RW, FD_HUGE, PG, SZ_2M, -EINVAL },
	{ "HUGEPAGE file, 4K-aligned size", 2 * GPA, SHARE | RW, FD_HUGE, 0, PG, -EINVAL },
	{ "gpa + size wraps", -PG, SHARE | RW, FD_GMEM, 16 * PG, 2 * PG, -EINVAL },
	{ "offset + size wraps", GPA + SZ_1M, SHARE | RW, FD_GMEM, -PG, 2 * PG, -EINVAL },
	{ "access 0 (Gunyah's default)", GPA + SZ_1M, RW, FD_GMEM, 16 * PG, PG, -EINVAL },
	{ "access LEND | SHARE", GPA + SZ_1M, 3 | RW, FD_GMEM, 16 * PG, PG, -EINVAL },
	{ "access 4", GPA + SZ_1M, 4 | RW, FD_GMEM, 16 * PG, PG, -EINVAL },
	{ "access 7", GPA + SZ_1M, 7 | RW, FD_GMEM, 16 * PG, PG, -EINVAL },
	{ "no R/W/X", GPA + SZ_1M, SHARE, FD_GMEM, 16 * PG, PG, -EINVAL },
	{ "offset + size past EOF",
	  GPA + SZ_1M, SHARE | RW, FD_GMEM, GMEM_SIZE - PG, 2 * PG, -EINVAL },
	{ "offset at EOF", GPA + SZ_1M, SHARE | RW, FD_GMEM, GMEM_SIZE, PG, -EINVAL },
	/* overlaps, half-open: adjacent is fine */
	{ "GPA overlaps the binding's last page",
	  GPA + (B_PAGES - 1) * PG, SHARE | RW, FD_GMEM, 16 * PG, PG, -EEXIST },
	{ "GPA overlaps the binding's first page",
	  GPA - PG, SHARE | RW, FD_GMEM, 16 * PG, 2 * PG, -EEXIST },
	{ "GPA covers the binding",
	  GPA - PG, SHARE | RW, FD_GMEM, 16 * PG, (B_PAGES + 2) * PG, -EEXIST },
	{ "GPA overlaps the slot's last page",
	  SLOT_GPA + SZ_1M - PG, SHARE | RW, FD_GMEM, 16 * PG, PG, -EEXIST },
	{ "GPA overlaps the slot's first page",
	  SLOT_GPA - PG, SHARE | RW, FD_GMEM, 16 * PG, 2 * PG, -EEXIST },
	{ "file overlaps the binding's last page",
	  GPA + SZ_1M, SHARE | RW, FD_GMEM, (B_PAGES - 1) * PG, PG, -EEXIST },
	{ "file overlaps the binding's first page",
	  GPA + SZ_1M, LEND | RW, FD_GMEM, 0, PG, -EEXIST },
	{ "GPA adjacent after the binding",
	  GPA + B_PAGES * PG, SHARE | RW, FD_GMEM, 16 * PG, PG, 0 },
	{ "GPA adjacent before the binding", GPA - PG, SHARE | RW, FD_GMEM, 16 * PG, PG, 0 },
	{ "GPA adjacent to the slot's end", SLOT_GPA + SZ_1M, SHARE | RW, FD_GMEM, 16 * PG, PG, 0 },
	{ "GPA adjacent to the slot's start", SLOT_GPA - PG, SHARE | RW, FD_GMEM, 16 * PG, PG, 0 },
	{ "file adjacent after the binding",
	  GPA + SZ_1M, SHARE | RW, FD_GMEM, B_PAGES * PG, PG, 0 },
	{ "file: another file's same range", 2 * GPA, SHARE | RW, FD_HUGE, 0, SZ_2M, 0 },
	{ "HUGEPAGE file, 2 MiB-aligned", 2 * GPA, LEND | RWX, FD_HUGE, SZ_2M, SZ_2M, 0 },
	{ "LEND, read only", GPA + SZ_1M, LEND | LAZYMAP_VM_MAP_READ, FD_GMEM, 16 * PG, PG, 0 },
	/* unmap */
	{ "UNMAP | SHARE", GPA, UNMAP | SHARE, FD_GMEM, 0, PG, -EINVAL },
	{ "UNMAP | READ", GPA, UNMAP | LAZYMAP_VM_MAP_READ, FD_GMEM, 0, PG, -EINVAL },
	{ "UNMAP, fd not open", GPA, UNMAP, FD_CLOSED, 0, PG, -EBADF },
	{ "UNMAP, size 0", GPA, UNMAP, FD_GMEM, 0, 0, -EINVAL },
	{ "UNMAP, no binding there", GPA + SZ_1M, UNMAP, FD_GMEM, 16 * PG, PG, -ENOENT },
	{ "UNMAP, other offset delta", GPA, UNMAP, FD_GMEM, PG, PG, -ENOENT },
	{ "UNMAP, past the binding's end",
	  GPA + (B_PAGES - 1) * PG, UNMAP, FD_GMEM, (B_PAGES - 1) * PG, 2 * PG, -ENOENT },
	{ "UNMAP, starting before the binding", GPA - PG, UNMAP, FD_GMEM, 0, 2 * PG, -ENOENT },
	{ "UNMAP, another file", GPA, UNMAP, FD_HUGE, 0, SZ_2M, -ENOENT },
	{ "UNMAP, the slot (no binding)", SLOT_GPA, UNMAP, FD_GMEM, 0, PG, -ENOENT },
	{ "UNMAP, last page", GPA + (B_PAGES - 1) * PG, UNMAP, FD_GMEM, (B_PAGES - 1) * PG, PG, 0 },
	{ "UNMAP, first page", GPA, UNMAP, FD_GMEM, 0, PG, 0 },
	{ "UNMAP, a middle page", GPA + 3 * PG, UNMAP, FD_GMEM, 3 * PG, PG, 0 },
	{ "UNMAP, all of it", GPA, UNMAP, FD_GMEM, 0, B_PAGES * PG, 0 },
};

TEST_F_TIMEOUT(gmem, map_mem_errno, 120)
{
	int fds[NR_FDS], other_vm, vm, vcpu;
	uint8_t *slot_mem;
	unsigned int i;
	int ret;

	slot_mem = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, slot_mem);
	other_vm = lmvm_create_vm(self->dev_fd, 0);
	ASSERT_LE(0, other_vm);
	fds[FD_OTHER_VM] = lmvm_create_gmem(other_vm, GMEM_SIZE, 0);
	ASSERT_LE(0, fds[FD_OTHER_VM]);
	fds[FD_MEMFD] = memfd_create("not-gmem", MFD_CLOEXEC);
	ASSERT_LE(0, fds[FD_MEMFD]);
	for (i = 0; i < ARRAY_SIZE(map_rows); i++) {
		const struct map_row *r = &map_rows[i];

		vm = lmvm_create_vm(self->dev_fd, 0);
		ASSERT_LE(0, vm);
		vcpu = lmvm_create_vcpu(vm, 0);
		ASSERT_LE(0, vcpu);
		fds[FD_VM] = vm;
		fds[FD_GMEM] = lmvm_create_gmem(vm, GMEM_SIZE, 0);
		ASSERT_LE(0, fds[FD_GMEM]);
		fds[FD_HUGE] = lmvm_create_gmem(vm, 2 * SZ_2M, HUGE);
		ASSERT_LE(0, fds[FD_HUGE]);
		ASSERT_EQ(0, lmvm_map_mem(vm, GPA, SHARE | RW, fds[FD_GMEM], 0,
					  B_PAGES * PG));
		ASSERT_EQ(0, lmvm_set_region(vm, 1, 0, SLOT_GPA, SZ_1M,
					     slot_mem));
		fds[FD_CLOSED] = lmvm_lowest_free_fd();
		ret = lmvm_map_mem(vm, r->gpa, r->flags, fds[r->fd], r->off,
				   r->size);
		EXPECT_EQ(r->err, ret) TH_LOG("%s: %s", r->name, strerror(-ret));
		/* A failed call left the binding as it was: all of it bound. */
		if (r->err) {
			struct lazymap_vm_exit exit;

			EXPECT_EQ(0, lmvm_read(vcpu, GPA, B_PAGES * PG,
					       self->buf, &exit))
				TH_LOG("%s", r->name);
			EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
		}
		close(fds[FD_HUGE]);
		close(fds[FD_GMEM]);
		close(vcpu);
		close(vm);
	}
	EXPECT_EQ(-EFAULT, lmvm_ret(ioctl(self->vm_fd, LAZYMAP_VM_MAP_MEM, 8)));
	close(fds[FD_MEMFD]);
	close(fds[FD_OTHER_VM]);
	close(other_vm);
	munmap(slot_mem, SZ_1M);
}

/* --- share and lend end to end --------------------------------------- */

TEST_F(gmem, share)
{
	struct lazymap_vm_stats st0, st1;
	struct lazymap_vm_exit exit;
	size_t len = 16 * PG;
	uint8_t *p;
	int fd;

	fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, MMAP);
	ASSERT_LE(0, fd);
	p = host_map(fd, GMEM_SIZE);
	ASSERT_NE(NULL, p);
	lmvm_pat_fill(p, len, 0, 1);
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, SHARE | RW, fd, 0, len));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, len, self->buf, &exit));
	EXPECT_EQ(-1, lmvm_pat_check(self->buf, len, 0, 1));
	/* The guest writes, the host sees it; and the other way. */
	lmvm_pat_fill(self->buf, len, 0, 2);
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA, len, self->buf, &exit));
	EXPECT_EQ(-1, lmvm_pat_check(p, len, 0, 2));
	lmvm_pat_fill(p + PG, PG, PG, 3);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + PG, PG, self->buf, &exit));
	EXPECT_EQ(-1, lmvm_pat_check(self->buf, PG, PG, 3));
	/* No X: a fetch is a MEMORY_FAULT of a guest_memfd GPA, not MMIO. */
	EXPECT_EQ(-EFAULT, lmvm_access(self->vcpu_fd, LAZYMAP_VM_ACCESS_EXEC,
				       GPA, 8, self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
	EXPECT_EQ(LAZYMAP_VM_ACCESS_EXEC | PRIVATE, exit.flags);
	EXPECT_EQ(GPA, exit.gpa);

	/* Punch: the guest's entries go, both sides read zeros after. */
	st0 = stats(_metadata, self->vm_fd);
	EXPECT_LE(len / PG, st0.s2_pages);
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       0, 4 * PG));
	st1 = stats(_metadata, self->vm_fd);
	EXPECT_EQ(st0.s2_pages - 4, st1.s2_pages);
	EXPECT_EQ(st0.s2_invalidated + 4, st1.s2_invalidated);
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, len, self->buf, &exit));
	EXPECT_EQ(-1, first_mismatch(self->buf, 4 * PG, 0));
	EXPECT_EQ(-1, first_mismatch(p, 4 * PG, 0));
	EXPECT_EQ(-1, lmvm_pat_check(self->buf + 4 * PG, len - 4 * PG, 4 * PG, 2));
	/* A zap of the host side only (munmap) leaves the guest's entries. */
	munmap(p, GMEM_SIZE);
	EXPECT_EQ(st1.s2_pages + 4, stats(_metadata, self->vm_fd).s2_pages);
	/* Unmapping a SHARE binding keeps the content. */
	ASSERT_EQ(0, lmvm_unmap_mem(self->vm_fd, GPA, fd, 0, len));
	EXPECT_EQ(0ULL, stats(_metadata, self->vm_fd).s2_pages);
	p = host_map(fd, GMEM_SIZE);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(-1, lmvm_pat_check(p + 4 * PG, len - 4 * PG, 4 * PG, 2));
	munmap(p, GMEM_SIZE);
	close(fd);
}

/* What a host access of every page of a lent range gives: all SIGBUS. */
static size_t host_sigbus_pages(uint8_t *p, size_t len)
{
	return sigbus_pages(p, len, PG);
}

TEST_F(gmem, lend)
{
	struct lazymap_vm_exit exit;
	size_t len = 16 * PG;
	int fd, pipefd[2], memfd;
	uint8_t *p;

	fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, MMAP);
	ASSERT_LE(0, fd);
	p = host_map(fd, GMEM_SIZE);
	ASSERT_NE(NULL, p);
	/* The VMM loads the image, then lends it. */
	lmvm_pat_fill(p, len, 0, 1);
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, LEND | RWX, fd, 0, len));
	EXPECT_EQ(len / PG, host_sigbus_pages(p, len));
	EXPECT_EQ(0U, host_sigbus_pages(p + len, GMEM_SIZE - len));
	/* GUP and buffers: EFAULT; /proc/self/mem: EIO. */
	ASSERT_EQ(0, pipe(pipefd));
	EXPECT_EQ(-1, write(pipefd[1], p, 64));
	EXPECT_EQ(EFAULT, errno);
	close(pipefd[0]);
	close(pipefd[1]);
	memfd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, memfd);
	EXPECT_EQ(-1, pread(memfd, self->buf, 64, (off_t)(uintptr_t)p));
	EXPECT_EQ(EIO, errno);
	close(memfd);

	/* The guest finds the image, and writes its secret. */
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, len, self->buf, &exit));
	EXPECT_EQ(-1, lmvm_pat_check(self->buf, len, 0, 1));
	lmvm_pat_fill(self->buf, len, 0, 7);
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA, len, self->buf, &exit));
	EXPECT_EQ(len / PG, host_sigbus_pages(p, len));
	/* Unmapped: the host reads zeros, never the secret or the image. */
	ASSERT_EQ(0, lmvm_unmap_mem(self->vm_fd, GPA, fd, 0, len));
	EXPECT_EQ(0U, host_sigbus_pages(p, len));
	EXPECT_EQ(-1, first_mismatch(p, len, 0));
	EXPECT_EQ(0, lmvm_read(self->vcpu_fd, GPA, PG, self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	munmap(p, GMEM_SIZE);
	close(fd);
}

/* A host pin (a read-only slot lock over the mapping) makes LEND EBUSY. */
TEST_F(gmem, lend_pinned_ebusy)
{
	size_t len = 4 * PG;
	uint8_t *p;
	int fd, ret;

	fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, MMAP);
	ASSERT_LE(0, fd);
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, lmvm_set_region(self->vm_fd, 1, 0, SLOT_GPA, len, p));
	ret = lmvm_lock(self->vm_fd, 1, LAZYMAP_VM_LOCK_MEM_READ);
	if (ret) {
		munmap(p, len);
		close(fd);
		SKIP(return, "cannot pin the guest_memfd mapping: %s",
		     strerror(-ret));
	}
	EXPECT_EQ(-EBUSY, lmvm_map_mem(self->vm_fd, GPA, LEND | RW, fd, 0, len));
	/* Outside the pinned pages it works. */
	EXPECT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, LEND | RW, fd, len, len));
	EXPECT_EQ(0, lmvm_unlock(self->vm_fd, 1, false));
	EXPECT_EQ(0, lmvm_map_mem(self->vm_fd, GPA + SZ_1M, LEND | RW, fd, 0,
				  len));
	munmap(p, len);
	close(fd);
}

/*
 * Trim head, tail and middle of a 16-page LEND binding; after each step
 * every page is checked from the guest (its data, or MMIO where unbound)
 * and from the host (SIGBUS where lent, zeros where handed back).
 */
static void check_pages(struct __test_metadata *_metadata,
			FIXTURE_DATA(gmem) *self, uint8_t *p,
			const bool *bound, unsigned int n)
{
	struct lazymap_vm_exit exit;
	unsigned int i;
	uint8_t v;
	int ret;

	for (i = 0; i < n; i++) {
		ret = lmvm_read(self->vcpu_fd, GPA + i * PG, PG, self->buf,
				&exit);
		if (bound[i]) {
			EXPECT_EQ(0, ret) TH_LOG("page %u", i);
			EXPECT_EQ(-1, lmvm_pat_check(self->buf, PG, i * PG, 5))
				TH_LOG("page %u", i);
			EXPECT_EQ(-1, read_byte(p + i * PG, &v))
				TH_LOG("page %u readable by the host", i);
		} else {
			EXPECT_EQ(0, ret);
			EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason) TH_LOG("page %u", i);
			EXPECT_EQ(0, read_byte(p + i * PG, &v));
			EXPECT_EQ(-1, first_mismatch(p + i * PG, PG, 0))
				TH_LOG("page %u not zeroed", i);
		}
	}
}

TEST_F(gmem, unmap_trim_split)
{
	static const struct {
		unsigned int first, n;
	} steps[] = {
		{ 0, 1 },	/* head */
		{ 15, 1 },	/* tail */
		{ 7, 2 },	/* middle: split */
		{ 1, 1 },	/* head of the first piece */
		{ 14, 1 },	/* tail of the second */
		{ 2, 5 },	/* the rest of the first */
		{ 9, 5 },	/* the rest of the second */
	};
	struct lazymap_vm_exit exit;
	bool bound[16];
	unsigned int i, j;
	uint8_t *p;
	int fd;

	fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, MMAP);
	ASSERT_LE(0, fd);
	p = host_map(fd, GMEM_SIZE);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, LEND | RW, fd, 0, 16 * PG));
	lmvm_pat_fill(self->buf, 16 * PG, 0, 5);
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA, 16 * PG, self->buf, &exit));
	for (i = 0; i < 16; i++)
		bound[i] = true;
	check_pages(_metadata, self, p, bound, 16);
	for (i = 0; i < ARRAY_SIZE(steps); i++) {
		ASSERT_EQ(0, lmvm_unmap_mem(self->vm_fd, GPA + steps[i].first * PG,
					    fd, steps[i].first * PG,
					    steps[i].n * PG))
			TH_LOG("step %u", i);
		/* A second unmap of the same range finds nothing. */
		EXPECT_EQ(-ENOENT, lmvm_unmap_mem(self->vm_fd,
						  GPA + steps[i].first * PG, fd,
						  steps[i].first * PG, PG));
		for (j = 0; j < steps[i].n; j++)
			bound[steps[i].first + j] = false;
		check_pages(_metadata, self, p, bound, 16);
	}
	EXPECT_EQ(0ULL, stats(_metadata, self->vm_fd).s2_pages);
	/* The whole range can be bound again, at another GPA. */
	EXPECT_EQ(0, lmvm_map_mem(self->vm_fd, 2 * GPA, LEND | RW, fd, 0,
				  16 * PG));
	munmap(p, GMEM_SIZE);
	close(fd);
}

/* --- GUEST_MEMFD slots ----------------------------------------------- */

TEST_F(gmem, slot)
{
	struct lazymap_vm_exit exit;
	int fd, other_vm, other_fd;
	uint8_t *p;

	fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, MMAP);
	ASSERT_LE(0, fd);
	other_vm = lmvm_create_vm(self->dev_fd, 0);
	ASSERT_LE(0, other_vm);
	other_fd = lmvm_create_gmem(other_vm, GMEM_SIZE, 0);
	ASSERT_LE(0, other_fd);
	p = host_map(fd, GMEM_SIZE);
	ASSERT_NE(NULL, p);

	/* (11) */
	EXPECT_EQ(-EBADF, lmvm_set_gmem_region(self->vm_fd, 0, GPA, 8 * PG,
					       lmvm_lowest_free_fd(), 0));
	EXPECT_EQ(-EINVAL, lmvm_set_gmem_region(self->vm_fd, 0, GPA, 8 * PG,
						other_fd, 0));
	EXPECT_EQ(-EINVAL, lmvm_set_gmem_region(self->vm_fd, 0, GPA, 8 * PG,
						self->vm_fd, 0));
	EXPECT_EQ(-EINVAL, lmvm_set_gmem_region(self->vm_fd, 0, GPA,
						GMEM_SIZE, fd, PG));
	EXPECT_EQ(-EINVAL, lmvm_set_gmem_region(self->vm_fd, 0, GPA, 8 * PG,
						fd, PG + 1));
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, 2 * GPA, SHARE | RW, fd,
				  8 * PG, PG));
	EXPECT_EQ(-EEXIST, lmvm_set_gmem_region(self->vm_fd, 0, GPA, 16 * PG,
						fd, 0));
	/* (10): over the MAP binding's GPA */
	EXPECT_EQ(-EEXIST, lmvm_set_gmem_region(self->vm_fd, 0, 2 * GPA - PG,
						2 * PG, fd, 0));

	lmvm_pat_fill(p, 8 * PG, 0, 1);
	ASSERT_EQ(0, lmvm_set_gmem_region(self->vm_fd, 0, GPA, 8 * PG, fd, 0));
	/* Before any ACCESS (after one, LOCK is EBUSY first). */
	EXPECT_EQ(-EINVAL, lmvm_lock(self->vm_fd, 0, LAZYMAP_VM_LOCK_MEM_READ));
	/* Lent: the host lost it, the guest has the image. */
	EXPECT_EQ(8U, host_sigbus_pages(p, 8 * PG));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, 8 * PG, self->buf, &exit));
	EXPECT_EQ(-1, lmvm_pat_check(self->buf, 8 * PG, 0, 1));
	ASSERT_EQ(0, lmvm_access(self->vcpu_fd, LAZYMAP_VM_ACCESS_EXEC, GPA,
				 PG, self->buf, &exit));
	/* Immutable, unlockable, not MAP_MEM's to unmap. */
	EXPECT_EQ(-EINVAL, lmvm_set_region(self->vm_fd, 0, 0, GPA + SZ_1M,
					   8 * PG, NULL));
	EXPECT_EQ(-EINVAL, lmvm_set_gmem_region(self->vm_fd, 0, GPA, 8 * PG,
						fd, 0));
	EXPECT_EQ(-ENOENT, lmvm_unmap_mem(self->vm_fd, GPA, fd, 0, PG));
	/* Deleted: reclaimed, zeroed for the host. */
	lmvm_pat_fill(self->buf, 8 * PG, 0, 3);
	ASSERT_EQ(0, lmvm_write(self->vcpu_fd, GPA, 8 * PG, self->buf, &exit));
	ASSERT_EQ(0, lmvm_delete_region(self->vm_fd, 0));
	EXPECT_EQ(0U, host_sigbus_pages(p, 8 * PG));
	EXPECT_EQ(-1, first_mismatch(p, 8 * PG, 0));

	/* Closing the guest_memfd: the slot stays and faults, PRIVATE. */
	ASSERT_EQ(0, lmvm_set_gmem_region(self->vm_fd, 0, GPA, 8 * PG, fd, 0));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, PG, self->buf, &exit));
	munmap(p, GMEM_SIZE);
	close(fd);
	EXPECT_EQ(-EFAULT, lmvm_read(self->vcpu_fd, GPA + 8, 8, self->buf,
				     &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
	EXPECT_EQ(LAZYMAP_VM_ACCESS_READ | PRIVATE, exit.flags);
	EXPECT_EQ(GPA + 8, exit.gpa);
	/* The MAP binding went with the file: its GPA is MMIO now. */
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, 2 * GPA, 8, self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_MMIO, exit.reason);
	EXPECT_EQ(0, lmvm_delete_region(self->vm_fd, 0));
	close(other_fd);
	close(other_vm);
}

/* Permissions of a binding: never MMIO for a guest_memfd GPA. */
TEST_F(gmem, permissions)
{
	static const struct {
		__u32 perm, kind;
		bool ok;
	} rows[] = {
		{ LAZYMAP_VM_MAP_READ, LAZYMAP_VM_ACCESS_READ, true },
		{ LAZYMAP_VM_MAP_READ, LAZYMAP_VM_ACCESS_WRITE, false },
		{ LAZYMAP_VM_MAP_READ, LAZYMAP_VM_ACCESS_EXEC, false },
		{ LAZYMAP_VM_MAP_WRITE, LAZYMAP_VM_ACCESS_READ, false },
		{ LAZYMAP_VM_MAP_WRITE, LAZYMAP_VM_ACCESS_WRITE, true },
		{ LAZYMAP_VM_MAP_EXEC, LAZYMAP_VM_ACCESS_EXEC, true },
		{ LAZYMAP_VM_MAP_EXEC, LAZYMAP_VM_ACCESS_READ, false },
		{ RWX, LAZYMAP_VM_ACCESS_WRITE, true },
	};
	struct lazymap_vm_exit exit;
	unsigned int i, faults = 0;
	int fd, ret;

	fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, 0);
	ASSERT_LE(0, fd);
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA + i * PG,
					  (i % 2 ? LEND : SHARE) | rows[i].perm,
					  fd, i * PG, PG));
		ret = lmvm_access(self->vcpu_fd, rows[i].kind, GPA + i * PG,
				  16, self->buf, &exit);
		if (rows[i].ok) {
			EXPECT_EQ(0, ret) TH_LOG("row %u", i);
			EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
		} else {
			EXPECT_EQ(-EFAULT, ret) TH_LOG("row %u", i);
			EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
			EXPECT_EQ(rows[i].kind | PRIVATE, exit.flags);
			faults++;
		}
	}
	EXPECT_EQ(faults, stats(_metadata, self->vm_fd).memory_faults);
	close(fd);
}

#ifndef MADV_HWPOISON
#define MADV_HWPOISON	100
#endif

/*
 * Memory failure of a bound folio (QEMU's Debian kernel; UML and the debug
 * kernel have no MEMORY_FAILURE): the core takes it from the binding
 * before truncating it, the frame faults (MEMORY_FAULT | PRIVATE) and the
 * host gets SIGBUS; its neighbours keep their data; a punch of the offset
 * makes it usable again, zeroed.
 */
TEST_F(gmem, hwpoison)
{
	struct lazymap_vm_stats st0, st1;
	struct lazymap_vm_exit exit;
	size_t len = 16 * PG;
	unsigned int i;
	uint8_t *p, v;
	int fd;

	fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, MMAP);
	ASSERT_LE(0, fd);
	p = host_map(fd, GMEM_SIZE);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, len));
	/* Read only: clean folios, so memory_failure() kills nobody. */
	for (i = 0; i < len / PG; i++)
		ASSERT_EQ(0, read_byte(p + i * PG, &v));
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, SHARE | RW, fd, 0, len));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, len, self->buf, &exit));
	st0 = stats(_metadata, self->vm_fd);
	if (madvise(p + 3 * PG, PG, MADV_HWPOISON)) {
		munmap(p, GMEM_SIZE);
		close(fd);
		if (errno == EINVAL || errno == EPERM)
			SKIP(return, "MADV_HWPOISON: %s (no MEMORY_FAILURE?)",
			     strerror(errno));
		ASSERT_EQ(0, -errno) TH_LOG("the folio was not recovered");
	}
	st1 = stats(_metadata, self->vm_fd);
	EXPECT_EQ(st0.s2_pages - 1, st1.s2_pages);
	EXPECT_EQ(st0.s2_invalidated + 1, st1.s2_invalidated);
	EXPECT_EQ(-EFAULT, lmvm_read(self->vcpu_fd, GPA + 3 * PG, 8, self->buf,
				     &exit));
	EXPECT_EQ(LMVM_EXIT_MEMORY_FAULT, exit.reason);
	EXPECT_EQ(LAZYMAP_VM_ACCESS_READ | PRIVATE, exit.flags);
	EXPECT_EQ(-1, read_byte(p + 3 * PG, &v));
	EXPECT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 4 * PG, len - 4 * PG,
			       self->buf, &exit));
	EXPECT_EQ(LMVM_EXIT_NONE, exit.reason);
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       3 * PG, PG));
	EXPECT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 3 * PG, PG, self->buf,
			       &exit));
	EXPECT_EQ(-1, first_mismatch(self->buf, PG, 0));
	munmap(p, GMEM_SIZE);
	close(fd);
}

/* --- teardown orders, huge entries, the race --------------------------- */

enum { CLOSE_VM, CLOSE_GMEM, CLOSE_VCPU, UNMAP_HOST, NR_CLOSE };

static const unsigned int orders[][NR_CLOSE] = {
	{ CLOSE_VM, CLOSE_VCPU, CLOSE_GMEM, UNMAP_HOST },
	{ CLOSE_GMEM, UNMAP_HOST, CLOSE_VCPU, CLOSE_VM },
	{ UNMAP_HOST, CLOSE_GMEM, CLOSE_VM, CLOSE_VCPU },
	{ CLOSE_VCPU, CLOSE_VM, UNMAP_HOST, CLOSE_GMEM },
	{ UNMAP_HOST, CLOSE_VM, CLOSE_VCPU, CLOSE_GMEM },
};

TEST_F(gmem, teardown_orders)
{
	struct lazymap_vm_exit exit;
	unsigned int o, k;
	int vm, vcpu, fd, status;
	uint8_t *p;
	pid_t pid;

	for (o = 0; o < ARRAY_SIZE(orders) + 1; o++) {
		vm = lmvm_create_vm(self->dev_fd, 0);
		ASSERT_LE(0, vm);
		vcpu = lmvm_create_vcpu(vm, 0);
		ASSERT_LE(0, vcpu);
		fd = lmvm_create_gmem(vm, GMEM_SIZE, MMAP);
		ASSERT_LE(0, fd);
		p = host_map(fd, GMEM_SIZE);
		ASSERT_NE(NULL, p);
		ASSERT_EQ(0, lmvm_map_mem(vm, GPA, LEND | RW, fd, 0, 8 * PG));
		ASSERT_EQ(0, lmvm_map_mem(vm, GPA + SZ_1M, SHARE | RW, fd,
					  8 * PG, 8 * PG));
		ASSERT_EQ(0, lmvm_set_gmem_region(vm, 0, 2 * GPA, 8 * PG, fd,
						  16 * PG));
		ASSERT_EQ(0, lmvm_write(vcpu, GPA, 8 * PG, self->buf, &exit));
		ASSERT_EQ(0, lmvm_write(vcpu, GPA + SZ_1M, 8 * PG, self->buf,
					&exit));
		ASSERT_EQ(0, lmvm_write(vcpu, 2 * GPA, 8 * PG, self->buf,
					&exit));
		if (o == ARRAY_SIZE(orders)) {
			/* A child holds the fd and the mapping past our close. */
			pid = fork();
			ASSERT_LE(0, pid);
			if (!pid) {
				close(vcpu);
				close(vm);
				usleep(20000);
				_exit(p[40 * PG] == 0 ? 0 : 1);
			}
			close(fd);
			munmap(p, GMEM_SIZE);
			close(vcpu);
			close(vm);
			ASSERT_EQ(pid, waitpid(pid, &status, 0));
			EXPECT_EQ(0, status);
			continue;
		}
		for (k = 0; k < NR_CLOSE; k++) {
			switch (orders[o][k]) {
			case CLOSE_VM:
				close(vm);
				break;
			case CLOSE_GMEM:
				close(fd);
				break;
			case CLOSE_VCPU:
				close(vcpu);
				break;
			case UNMAP_HOST:
				munmap(p, GMEM_SIZE);
				break;
			}
		}
	}
}

/* A HUGEPAGE guest_memfd maps with 2M entries where the kernel has THP. */
TEST_F(gmem, hugepage_2m_entries)
{
	struct lazymap_vm_stats st;
	struct lazymap_vm_exit exit;
	bool thp = !access("/sys/kernel/mm/transparent_hugepage", F_OK);
	int fd;

	fd = lmvm_create_gmem(self->vm_fd, 4 * SZ_2M, HUGE | MMAP);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, LEND | RW, fd, 0,
				  4 * SZ_2M));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA, SZ_1M, self->buf, &exit));
	ASSERT_EQ(0, lmvm_read(self->vcpu_fd, GPA + 3 * SZ_2M + PG, PG,
			       self->buf, &exit));
	st = stats(_metadata, self->vm_fd);
	if (!thp) {
		close(fd);
		SKIP(return, "no THP: 4 KiB folios only (%llu 4K entries)",
		     (unsigned long long)st.s2_faults[0]);
	}
	EXPECT_EQ(2ULL, st.s2_faults[1]);
	EXPECT_EQ(0ULL, st.s2_faults[0]);
	EXPECT_EQ(2ULL * 512, st.s2_pages);
	/* Unmapping 4 KiB of a 2 MiB binding splits; the rest refaults 4K. */
	close(fd);
}

/*
 * A fixed-iteration race: one thread accesses the bound range, another
 * punches holes and rebinds, the main thread maps and unmaps the host
 * side.  Whatever interleaving, an ACCESS gets data or an exit, never
 * stale memory: the pages hold only 0 or the writer's byte.
 */
#define RACE_ROUNDS	2000

struct race {
	int vm_fd, vcpu_fd, gmem_fd;
	volatile bool stop;
	int bad;
};

static void *race_access(void *arg)
{
	struct race *r = arg;
	struct lazymap_vm_exit exit;
	uint8_t buf[2 * 4096];
	unsigned int i;
	int ret;

	while (!r->stop) {
		memset(buf, 0xa5, sizeof(buf));
		ret = lmvm_write(r->vcpu_fd, GPA, PG, buf, &exit);
		if (ret && !(ret == -EFAULT && exit.reason == LMVM_EXIT_MEMORY_FAULT))
			r->bad++;
		ret = lmvm_read(r->vcpu_fd, GPA, sizeof(buf), buf, &exit);
		if (ret)
			continue;
		for (i = 0; i < exit.gpa - GPA && i < sizeof(buf); i++)
			if (buf[i] && buf[i] != 0xa5)
				r->bad++;
	}
	return NULL;
}

static void *race_punch(void *arg)
{
	struct race *r = arg;
	unsigned int i;

	for (i = 0; i < RACE_ROUNDS && !r->stop; i++) {
		fallocate(r->gmem_fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			  (i % 2) * PG, PG);
		if (i % 16 == 0) {
			lmvm_unmap_mem(r->vm_fd, GPA, r->gmem_fd, 0, 2 * PG);
			lmvm_map_mem(r->vm_fd, GPA, SHARE | RW, r->gmem_fd, 0,
				     2 * PG);
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(gmem, race_access_punch_unmap, 300)
{
	struct race r = { .vm_fd = self->vm_fd, .vcpu_fd = self->vcpu_fd };
	pthread_t t_access, t_punch;
	uint8_t *p = NULL;
	unsigned int i;

	r.gmem_fd = lmvm_create_gmem(self->vm_fd, GMEM_SIZE, MMAP);
	ASSERT_LE(0, r.gmem_fd);
	ASSERT_EQ(0, lmvm_map_mem(self->vm_fd, GPA, SHARE | RW, r.gmem_fd, 0,
				  2 * PG));
	ASSERT_EQ(0, pthread_create(&t_access, NULL, race_access, &r));
	ASSERT_EQ(0, pthread_create(&t_punch, NULL, race_punch, &r));
	for (i = 0; i < RACE_ROUNDS / 4; i++) {
		if (!p)
			p = host_map(r.gmem_fd, 2 * PG);
		if (!p) {
			r.bad++;
			break;
		}
		if (p[i % 2 * PG] != 0 && p[i % 2 * PG] != 0xa5)
			r.bad++;
		munmap(p, 2 * PG);
		p = NULL;
	}
	if (p)
		munmap(p, 2 * PG);
	pthread_join(t_punch, NULL);
	r.stop = true;
	pthread_join(t_access, NULL);
	EXPECT_EQ(0, r.bad);
	close(r.gmem_fd);
}

TEST_HARNESS_MAIN
