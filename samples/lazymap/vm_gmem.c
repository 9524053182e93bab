// SPDX-License-Identifier: GPL-2.0
/*
 * vm_gmem: a VM on /dev/lazymap-vm with guest RAM in a memory slot and a
 * boot image in a guest_memfd that the host loads and then lends.
 *
 * usage: vm_gmem            (root, or access to /dev/lazymap-vm)
 *
 * 1. A VM with one vCPU and slot 0: 2 MiB of the VMM's anonymous memory at
 *    guest-physical 0.  Host and guest see each other's writes.
 * 2. A 2 MiB guest_memfd (FLAG_MMAP); the host writes a 1 MiB image
 *    through its mapping, then lends that MiB to the guest at IMAGE_GPA
 *    (MAP_MEM LEND): the guest reads the image, the host gets SIGBUS.
 * 3. MAP_MEM UNMAP takes the range back: the host reads zeros (never what
 *    the guest wrote) and the guest's access there becomes an MMIO exit.
 * Exits 0 only if all of that happened.  The interface is documented in
 * Documentation/userspace-api/lazymap-vm.rst (sections 4.10-4.12).
 *
 * One file, libc and the kernel's UAPI headers only (lazymap_vm.h):
 * "cc -O2 -I<lazymap>/include/uapi -o vm_gmem vm_gmem.c".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/lazymap_vm.h>

#define PG		4096UL
#define SZ_1M		0x100000UL
#define SZ_2M		0x200000UL
#define RAM_GPA		0x0ULL		/* slot 0 */
#define IMAGE_GPA	0x40000000ULL	/* the lent guest_memfd range */

static int failed;

/* Print one aligned result line; a false @ok makes the program fail. */
static void report(const char *what, bool ok, const char *detail)
{
	printf("  %-36s %-4s %s\n", what, ok ? "ok" : "FAIL", detail);
	failed |= !ok;
}

/*
 * Host reads of a lent range raise SIGBUS: can_read() arms a jump buffer
 * around one access and the handler jumps back through it.  A SIGBUS with
 * nothing armed is a bug: the default action comes back and kills us.
 */
static sigjmp_buf sigbus_env;
static volatile sig_atomic_t sigbus_armed;

static void sigbus_handler(int sig)
{
	if (!sigbus_armed) {
		signal(sig, SIG_DFL);
		return;
	}
	sigbus_armed = 0;
	siglongjmp(sigbus_env, 1);
}

static bool can_read(const volatile uint8_t *p, uint8_t *val)
{
	if (sigsetjmp(sigbus_env, 1))
		return false;
	sigbus_armed = 1;
	*val = *p;
	sigbus_armed = 0;
	return true;
}

/* One guest access through the vCPU: the ioctl's result, *@exit filled. */
static int guest_access(int vcpu, uint32_t kind, uint64_t gpa, void *buf,
			size_t len, struct lazymap_vm_exit *exit)
{
	struct lazymap_vm_access a = {
		.gpa = gpa, .size = len, .data = (uintptr_t)buf, .flags = kind,
	};
	int ret = ioctl(vcpu, LAZYMAP_VM_VCPU_ACCESS, &a);

	*exit = a.exit;
	return ret;
}

/* Byte @i of the image the host loads: never 0. */
static uint8_t image_byte(size_t i)
{
	return i % 251 + 1;
}

static bool is_image(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && p[i] == image_byte(i); i++)
		;
	return i == len;
}

/* Bytes of [@p, @p + @len) that are not zero. */
static size_t nonzero_bytes(const uint8_t *p, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += !!p[i];
	return n;
}

static int map_mem(int vm, uint32_t flags, int gmem, uint64_t gpa, size_t len)
{
	struct lazymap_vm_map_mem m = {
		.guest_addr = gpa, .flags = flags, .guest_memfd = gmem,
		.offset = 0, .size = len,
	};

	return ioctl(vm, LAZYMAP_VM_MAP_MEM, &m);
}

int main(void)
{
	struct lazymap_vm_create_guest_memfd gcreate = {
		.size = SZ_2M, .flags = LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP,
	};
	struct sigaction sa = { .sa_handler = sigbus_handler };
	struct lazymap_vm_userspace_memory_region slot;
	static uint8_t buf[SZ_1M];
	struct lazymap_vm_stats st;
	unsigned long long s2_ram;
	struct lazymap_vm_exit exit;
	size_t i, sigbus, zeros;
	int dev, vm, vcpu, gmem;
	char line[96];
	uint8_t *ram, *img, v;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	dev = open("/dev/lazymap-vm", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		perror("/dev/lazymap-vm");
		return 1;
	}
	if (ioctl(dev, LAZYMAP_VM_GET_API_VERSION) != LAZYMAP_VM_API_VERSION ||
	    ioctl(dev, LAZYMAP_VM_CHECK_EXTENSION, LAZYMAP_VM_CAP_MAP_MEM) <= 0) {
		fprintf(stderr, "lazymap-vm: API %d without MAP_MEM\n",
			ioctl(dev, LAZYMAP_VM_GET_API_VERSION));
		return 1;
	}
	vm = ioctl(dev, LAZYMAP_VM_CREATE_VM, LAZYMAP_VM_TYPE_DEFAULT);
	vcpu = vm < 0 ? -1 : ioctl(vm, LAZYMAP_VM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		perror("CREATE_VM/CREATE_VCPU");
		return 1;
	}

	/* 1. Guest RAM: the VMM's memory, faulted into stage 2 on access. */
	ram = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	slot = (struct lazymap_vm_userspace_memory_region) {
		.slot = 0, .guest_phys_addr = RAM_GPA, .memory_size = SZ_2M,
		.userspace_addr = (uintptr_t)ram,
	};
	if (ram == MAP_FAILED ||
	    ioctl(vm, LAZYMAP_VM_SET_USER_MEMORY_REGION, &slot)) {
		perror("slot 0");
		return 1;
	}
	printf("VM with vCPU 0; slot 0: 2 MiB anonymous memory at GPA 0x%llx\n",
	       RAM_GPA);
	snprintf((char *)ram + PG, 32, "written by the host");
	report("guest reads what the host wrote",
	       !guest_access(vcpu, LAZYMAP_VM_ACCESS_READ, RAM_GPA + PG, buf,
			     32, &exit) && !strcmp((char *)buf, (char *)ram + PG),
	       (char *)buf);
	snprintf((char *)buf, 32, "written by the guest");
	report("host reads what the guest wrote",
	       !guest_access(vcpu, LAZYMAP_VM_ACCESS_WRITE, RAM_GPA + 2 * PG,
			     buf, 32, &exit) && !strcmp((char *)ram + 2 * PG, (char *)buf),
	       (char *)ram + 2 * PG);

	/* 2. The image: loaded through the host mapping, then lent. */
	gmem = ioctl(vm, LAZYMAP_VM_CREATE_GUEST_MEMFD, &gcreate);
	img = gmem < 0 ? MAP_FAILED : mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE,
					   MAP_SHARED, gmem, 0);
	if (img == MAP_FAILED) {
		perror("guest_memfd");
		return 1;
	}
	for (i = 0; i < SZ_1M; i++)
		img[i] = image_byte(i);
	printf("guest_memfd: 2 MiB, FLAG_MMAP; the host loaded a 1 MiB image\n");
	if (map_mem(vm, LAZYMAP_VM_MAP_LEND | LAZYMAP_VM_MAP_RWX, gmem,
		    IMAGE_GPA, SZ_1M)) {
		perror("MAP_MEM LEND");
		return 1;
	}
	printf("MAP_MEM LEND | RWX: file [0, 1 MiB) at GPA 0x%llx\n", IMAGE_GPA);
	ioctl(vm, LAZYMAP_VM_GET_STATS, &st);
	s2_ram = st.s2_pages;
	memset(buf, 0, sizeof(buf));
	report("guest reads the image (1 MiB)",
	       !guest_access(vcpu, LAZYMAP_VM_ACCESS_READ, IMAGE_GPA, buf,
			     SZ_1M, &exit) && is_image(buf, SZ_1M), "intact");
	memset(buf, 0x5e, SZ_1M);
	report("guest overwrites it with its secret",
	       !guest_access(vcpu, LAZYMAP_VM_ACCESS_WRITE, IMAGE_GPA, buf,
			     SZ_1M, &exit), "0x5e bytes");
	for (i = sigbus = 0; i < SZ_1M; i += PG)
		sigbus += !can_read(img + i, &v);
	snprintf(line, sizeof(line), "SIGBUS on %zu of %lu pages", sigbus,
		 SZ_1M / PG);
	report("host reads the lent range", sigbus == SZ_1M / PG, line);
	report("host reads past it", can_read(img + SZ_1M, &v) && !v,
	       "readable, zero");
	ioctl(vm, LAZYMAP_VM_GET_STATS, &st);
	snprintf(line, sizeof(line), "%llu pages (%llu 4K, %llu 2M entries)",
		 st.s2_pages, st.s2_faults[0], st.s2_faults[1]);
	report("stage 2 maps slot 0 and the image",
	       st.s2_pages == s2_ram + SZ_1M / PG, line);

	/* 3. Taken back: zeroed before the host can see it again. */
	if (map_mem(vm, LAZYMAP_VM_MAP_UNMAP, gmem, IMAGE_GPA, SZ_1M)) {
		perror("MAP_MEM UNMAP");
		return 1;
	}
	printf("MAP_MEM UNMAP: the range is the host's again\n");
	for (i = sigbus = zeros = 0; i < SZ_1M; i += PG) {
		if (!can_read(img + i, &v))
			sigbus++;
		else
			zeros += PG - nonzero_bytes(img + i, PG);
	}
	snprintf(line, sizeof(line), "%zu zero bytes, SIGBUS on %zu pages",
		 zeros, sigbus);
	report("host reads the range", zeros == SZ_1M && !sigbus, line);
	guest_access(vcpu, LAZYMAP_VM_ACCESS_READ, IMAGE_GPA, buf, 8, &exit);
	report("guest reads at the GPA", exit.reason == LAZYMAP_VM_EXIT_MMIO,
	       "MMIO exit: nothing there");
	ioctl(vm, LAZYMAP_VM_GET_STATS, &st);
	snprintf(line, sizeof(line), "%llu pages (slot 0's)", st.s2_pages);
	report("stage 2 maps slot 0 only", st.s2_pages == s2_ram, line);

	munmap(img, SZ_2M);
	close(gmem);
	close(vcpu);
	close(vm);
	close(dev);
	printf("%s\n", failed ? "FAILED" : "all as expected");
	return failed;
}
