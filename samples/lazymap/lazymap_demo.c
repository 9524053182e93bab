// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap_demo: the whole story of lazymap in one run, as a small VMM.
 *
 * usage: lazymap_demo <sysfs device dir>
 *   /sys/bus/pci/devices/<BDF>     bound to lazymap-vfio-pci (make demo)
 *   /sys/bus/mdev/devices/<UUID>   a lazymap-mdev device (make demo UML=1)
 *
 * 1. maps the device's BAR2 at a 1 GiB- (or 2 MiB-) aligned address,
 *    touches it and reports the faults by size and the time;
 * 2. creates a VM whose guest RAM is an anonymous slot (THP-backed), a
 *    guest_memfd range the host loads and then lends to the guest, and
 *    the BAR mapping as a passthrough slot;
 * 3. reads all of it from the guest and reports the stage-2 population
 *    (entries by size, against the fewest the backing allows);
 * 4. disables memory decoding, then resets the device: one zap drops the
 *    host's mapping and the guest's stage-2 entries of the BAR alike;
 *    both refault after;
 * 5. shows the host's SIGBUS on the lent range, punches a hole (its
 *    stage-2 entries go), unmaps the binding and shows the host reading
 *    zeros, never the guest's data;
 * 6. prints the debugfs view of the spaces and the VM, and a summary.
 * Exits 0 only if every step behaved as expected.
 *
 * One file, libc and the UAPI headers (linux/vfio.h, linux/lazymap_vm.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/falloc.h>
#include <linux/iommufd.h>
#include <linux/lazymap_vm.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#define SZ_4K		0x1000UL
#define SZ_1M		0x100000UL
#define SZ_2M		0x200000UL
#define SZ_1G		0x40000000UL
#define RAM_SIZE	(64 * SZ_1M)
#define GPA_RAM		0x0ULL
#define GPA_GMEM	0x10000000ULL
#define GPA_BAR		0x40000000ULL
#define DEBUGFS		"/sys/kernel/debug"

/* --- checks: every step records what it expected and what it got ---- */

struct check {
	char what[48];
	char got[40];
	bool ok;
};

static struct check checks[40];
static unsigned int nr_checks;

static bool check(bool ok, const char *what, const char *fmt, ...)
{
	struct check *c = &checks[nr_checks < 40 ? nr_checks++ : 39];
	va_list ap;

	snprintf(c->what, sizeof(c->what), "%s", what);
	va_start(ap, fmt);
	vsnprintf(c->got, sizeof(c->got), fmt, ap);
	va_end(ap);
	c->ok = ok;
	return ok;
}

static void die(const char *what)
{
	fprintf(stderr, "lazymap_demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* --- SIGBUS: can a byte be read? ------------------------------------- */

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

static bool readable(const volatile uint8_t *p, uint8_t *val)
{
	if (sigsetjmp(sigbus_env, 1))
		return false;
	sigbus_armed = 1;
	*val = *p;
	sigbus_armed = 0;
	return true;
}

/* --- debugfs ----------------------------------------------------------- */

/* "key: value" of debugfs lazymap/<space>/stats, or -1. */
static long long space_stat(const char *space, const char *key)
{
	char path[PATH_MAX], line[128];
	size_t len = strlen(key);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), DEBUGFS "/lazymap/%s/stats", space);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ':')
			v = atoll(line + len + 1);
	fclose(f);
	return v;
}

/* --- VFIO -------------------------------------------------------------- */

struct vfio_dev {
	int container, group, device;	/* container and group: type1 only */
	uint64_t cfg;		/* config space offset */
};

/*
 * Open the device of sysfs directory @dir: through its IOMMU group and a
 * type1 container where the kernel has one (the Debian kernel), else
 * through its VFIO cdev bound to iommufd (UML).
 */
static void vfio_open(struct vfio_dev *dev, const char *dir, const char *name)
{
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg) };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	char path[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	const char *grp;
	ssize_t n;
	DIR *d;

	dev->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (dev->container >= 0 &&
	    ioctl(dev->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0) {
		snprintf(path, sizeof(path), "%s/iommu_group", dir);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			die(path);
		link[n] = '\0';
		grp = strrchr(link, '/');
		snprintf(path, sizeof(path), "/dev/vfio/%d",
			 atoi(grp ? grp + 1 : link));
		dev->group = open(path, O_RDWR | O_CLOEXEC);
		if (dev->group < 0 ||
		    ioctl(dev->group, VFIO_GROUP_GET_STATUS, &status) ||
		    !(status.flags & VFIO_GROUP_FLAGS_VIABLE) ||
		    ioctl(dev->group, VFIO_GROUP_SET_CONTAINER, &dev->container) ||
		    ioctl(dev->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
			die("VFIO group and container");
		dev->device = ioctl(dev->group, VFIO_GROUP_GET_DEVICE_FD, name);
	} else {
		/* The cdev: <dir>/vfio-dev/vfioN is /dev/vfio/devices/vfioN. */
		snprintf(path, sizeof(path), "%s/vfio-dev", dir);
		d = opendir(path);
		while (d && (de = readdir(d)) && strncmp(de->d_name, "vfio", 4))
			;
		if (!d || !de)
			die(path);
		snprintf(path, sizeof(path), "/dev/vfio/devices/%s", de->d_name);
		closedir(d);
		dev->device = open(path, O_RDWR | O_CLOEXEC);
		bind.iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (dev->device < 0 || bind.iommufd < 0 ||
		    ioctl(dev->device, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
		    ioctl(bind.iommufd, IOMMU_IOAS_ALLOC, &ioas))
			die("VFIO cdev and iommufd");
		attach.pt_id = ioas.out_ioas_id;
		if (ioctl(dev->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
			die("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	}
	if (dev->device < 0)
		die("VFIO device");
	cfg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(dev->device, VFIO_DEVICE_GET_REGION_INFO, &cfg))
		die("config region");
	dev->cfg = cfg.offset;
}

static void memory_enable(struct vfio_dev *dev, bool on)
{
	uint16_t cmd;

	if (pread(dev->device, &cmd, 2, dev->cfg + PCI_COMMAND) != 2)
		die("config read");
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	if (pwrite(dev->device, &cmd, 2, dev->cfg + PCI_COMMAND) != 2)
		die("config write");
}

/* mmap(MAP_SHARED) @len bytes of @fd at @off at an @align-aligned address. */
static uint8_t *mmap_aligned(int fd, off_t off, size_t len, size_t align)
{
	uintptr_t res, addr;
	void *map;

	map = mmap(NULL, len + align, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	res = (uintptr_t)map;
	addr = (res + align - 1) & ~(uintptr_t)(align - 1);
	if (fd < 0)
		map = mmap((void *)addr, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	else
		map = mmap((void *)addr, len, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_FIXED, fd, off);
	if (map == MAP_FAILED)
		return NULL;
	if (addr > res)
		munmap((void *)res, addr - res);
	munmap((void *)(addr + len), res + align - addr);
	return map;
}

/* --- the VM ------------------------------------------------------------ */

struct vm {
	int vm_fd, vcpu_fd, gmem_fd;
	uint8_t *buf;		/* 1 MiB ACCESS buffer */
};

static struct lazymap_vm_stats stats(struct vm *vm)
{
	struct lazymap_vm_stats st;

	if (ioctl(vm->vm_fd, LAZYMAP_VM_GET_STATS, &st))
		die("GET_STATS");
	return st;
}

/* One guest access; the exit reason, or -1 for an error without exit. */
static int guest(struct vm *vm, uint32_t kind, uint64_t gpa, uint64_t len,
		 void *data)
{
	struct lazymap_vm_access a = {
		.gpa = gpa, .size = len, .data = (uintptr_t)data, .flags = kind,
	};

	if (ioctl(vm->vcpu_fd, LAZYMAP_VM_VCPU_ACCESS, &a) &&
	    a.exit.reason != LAZYMAP_VM_EXIT_MEMORY_FAULT)
		return -1;
	return a.exit.reason;
}

/*
 * Read [gpa, gpa + len) from the guest by 1 MiB accesses, checking the
 * first byte of every page against @expect(offset) (NULL: no check).  True
 * if all was served.
 */
static bool guest_read_all(struct vm *vm, uint64_t gpa, size_t len,
			   uint8_t (*expect)(size_t), size_t *bad)
{
	size_t off, i;

	*bad = 0;
	for (off = 0; off < len; off += SZ_1M) {
		if (guest(vm, LAZYMAP_VM_ACCESS_READ, gpa + off, SZ_1M,
			  vm->buf) != LAZYMAP_VM_EXIT_NONE)
			return false;
		for (i = 0; expect && i < SZ_1M; i += SZ_4K)
			*bad += vm->buf[i] != expect(off + i);
	}
	return true;
}

static uint8_t ram_byte(size_t off)
{
	return off / SZ_4K % 200 + 1;
}

static uint8_t image_byte(size_t off)
{
	return (off / SZ_4K * 7) % 250 + 3;
}

static uint8_t bar_byte(size_t off)
{
	return (off / SZ_2M) % 240 + 11;
}

static uint8_t zero_byte(size_t off)
{
	(void)off;
	return 0;
}

static void set_region(struct vm *vm, uint32_t slot, uint64_t gpa,
		       size_t len, void *hva)
{
	struct lazymap_vm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = len,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->vm_fd, LAZYMAP_VM_SET_USER_MEMORY_REGION, &r))
		die("SET_USER_MEMORY_REGION");
}

static int map_mem(struct vm *vm, uint32_t flags, uint64_t gpa,
		   uint64_t off, uint64_t len)
{
	struct lazymap_vm_map_mem m = {
		.guest_addr = gpa, .flags = flags, .guest_memfd = vm->gmem_fd,
		.offset = off, .size = len,
	};

	return ioctl(vm->vm_fd, LAZYMAP_VM_MAP_MEM, &m);
}

/* Stage-2 entries installed while reading a region, as a table row. */
static void population_row(const char *name, const char *backing,
			   const struct lazymap_vm_stats *a,
			   const struct lazymap_vm_stats *b, size_t len,
			   size_t best)
{
	unsigned long long e[3], total;
	int l;

	for (l = 0; l < 3; l++)
		e[l] = b->s2_faults[l] - a->s2_faults[l];
	total = e[0] + e[1] + e[2];
	printf("   %-8s %-18s %6zu MiB %7llu %5llu %4llu %8llu %8zu\n", name,
	       backing, len >> 20, e[0], e[1], e[2], total, len / best);
	check(total == len / best, name, "%llu entries (fewest %zu)", total,
	      len / best);
}

/* Whether the kernel has transparent huge pages (UML has none). */
static bool have_thp(void)
{
	return !access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK);
}

/* The largest page the device's BAR mapping can use, from its faults. */
static size_t bar_best(const char *space, size_t len)
{
	if (space_stat(space, "faults_1g") > 0 && len >= SZ_1G)
		return SZ_1G;
	if (space_stat(space, "faults_2m") > 0)
		return SZ_2M;
	return SZ_4K;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = sigbus_handler };
	struct lazymap_vm_create_guest_memfd cg = {
		.size = RAM_SIZE,
		.flags = LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP |
			 LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE,
	};
	struct vfio_region_info bar = { .argsz = sizeof(bar) };
	struct lazymap_vm_stats s0, s1, s2, s3;
	long long f4k, f2m, f1g;
	char space[96], name[64];
	uint8_t *p, *ram, *gm, v;
	struct vfio_dev dev;
	bool mdev, all_ok;
	struct vm vm;
	size_t off, bad, best, len, sigbus;
	double t0, t1;
	unsigned int i;
	int dev_fd;

	if (argc < 2) {
		fprintf(stderr, "usage: %s <sysfs device dir>\n", argv[0]);
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	snprintf(name, sizeof(name), "%s", strrchr(argv[1], '/') + 1);
	mdev = strstr(argv[1], "/mdev/");
	snprintf(space, sizeof(space), "%s-%s", mdev ? "mdev" : "vfio", name);

	/* 1. The host maps the BAR; faults map it, at the largest size. */
	vfio_open(&dev, argv[1], name);
	bar.index = VFIO_PCI_BAR2_REGION_INDEX;
	if (ioctl(dev.device, VFIO_DEVICE_GET_REGION_INFO, &bar))
		die("BAR2 region");
	len = bar.size;
	memory_enable(&dev, true);
	p = mmap_aligned(dev.device, bar.offset, len,
			 len >= SZ_1G ? SZ_1G : SZ_2M);
	if (!p)
		die("mmap BAR2");
	f4k = space_stat(space, "faults_4k");
	f2m = space_stat(space, "faults_2m");
	f1g = space_stat(space, "faults_1g");
	t0 = now_ms();
	for (off = 0; off < len; off += SZ_4K)
		p[off] = bar_byte(off);
	t1 = now_ms();
	f4k = space_stat(space, "faults_4k") - f4k;
	f2m = space_stat(space, "faults_2m") - f2m;
	f1g = space_stat(space, "faults_1g") - f1g;
	printf("1. host: %s BAR2, %zu MiB, mapped at a %s-aligned address\n",
	       name, len >> 20, len >= SZ_1G ? "1 GiB" : "2 MiB");
	printf("   wrote every 4 KiB page in %.1f ms: faults 4K %lld, 2M %lld, 1G %lld\n",
	       t1 - t0, f4k, f2m, f1g);
	best = bar_best(space, len);
	check((size_t)(f4k * SZ_4K + f2m * SZ_2M + f1g * SZ_1G) == len &&
	      (size_t)(f4k + f2m + f1g) == len / best, "host BAR faults",
	      "%lld/%lld/%lld 4K/2M/1G", f4k, f2m, f1g);

	/* 2. A VM: anonymous RAM, lent guest_memfd, the BAR passed through. */
	dev_fd = open("/dev/lazymap-vm", O_RDWR | O_CLOEXEC);
	if (dev_fd < 0)
		die("/dev/lazymap-vm");
	vm.vm_fd = ioctl(dev_fd, LAZYMAP_VM_CREATE_VM, 0);
	vm.vcpu_fd = vm.vm_fd < 0 ? -1 : ioctl(vm.vm_fd, LAZYMAP_VM_CREATE_VCPU, 0);
	if (vm.vcpu_fd < 0)
		die("CREATE_VM/VCPU");
	vm.buf = malloc(SZ_1M);
	ram = mmap_aligned(-1, 0, RAM_SIZE, SZ_2M);
	if (!vm.buf || !ram)
		die("memory");
	madvise(ram, RAM_SIZE, MADV_HUGEPAGE);
	for (off = 0; off < RAM_SIZE; off++)
		ram[off] = ram_byte(off);
	set_region(&vm, 0, GPA_RAM, RAM_SIZE, ram);
	vm.gmem_fd = ioctl(vm.vm_fd, LAZYMAP_VM_CREATE_GUEST_MEMFD, &cg);
	if (vm.gmem_fd < 0)
		die("CREATE_GUEST_MEMFD");
	gm = mmap_aligned(vm.gmem_fd, 0, RAM_SIZE, SZ_2M);
	if (!gm)
		die("mmap guest_memfd");
	for (off = 0; off < RAM_SIZE; off++)
		gm[off] = image_byte(off);
	if (map_mem(&vm, LAZYMAP_VM_MAP_LEND | LAZYMAP_VM_MAP_RWX, GPA_GMEM, 0,
		    RAM_SIZE))
		die("MAP_MEM LEND");
	set_region(&vm, 1, GPA_BAR, len, p);
	for (sigbus = 0, off = 0; off < RAM_SIZE; off += SZ_4K)
		sigbus += !readable(gm + off, &v);
	printf("2. VM: slot 0 anon %zu MiB%s at %#llx, guest_memfd %zu MiB%s\n"
	       "   loaded by the host and lent at %#llx, slot 1 = the BAR at %#llx\n",
	       RAM_SIZE >> 20, have_thp() ? " (THP)" : "", GPA_RAM,
	       RAM_SIZE >> 20, have_thp() ? " (2 MiB folios)" : "", GPA_GMEM,
	       GPA_BAR);
	printf("   host reads of the lent range: %zu of %zu pages SIGBUS\n",
	       sigbus, RAM_SIZE / SZ_4K);
	check(sigbus == RAM_SIZE / SZ_4K, "host loses lent memory",
	      "%zu/%zu pages SIGBUS", sigbus, RAM_SIZE / SZ_4K);

	/* 3. The guest reads all of it; stage 2 fills lazily. */
	printf("3. guest reads everything (1 MiB accesses); stage-2 entries installed:\n");
	printf("   %-8s %-18s %10s %7s %5s %4s %8s %8s\n", "region", "backing",
	       "size", "4K", "2M", "1G", "entries", "fewest");
	s0 = stats(&vm);
	all_ok = guest_read_all(&vm, GPA_RAM, RAM_SIZE, ram_byte, &bad);
	check(all_ok && !bad, "guest reads anon RAM", "%zu bad bytes", bad);
	s1 = stats(&vm);
	population_row("anon", have_thp() ? "THP" : "4K pages (no THP)",
		       &s0, &s1, RAM_SIZE, have_thp() ? SZ_2M : SZ_4K);
	all_ok = guest_read_all(&vm, GPA_GMEM, RAM_SIZE, image_byte, &bad);
	check(all_ok && !bad, "guest reads lent image", "%zu bad bytes", bad);
	s2 = stats(&vm);
	population_row("gmem", have_thp() ? "2 MiB folios" : "4K folios (no THP)",
		       &s1, &s2, RAM_SIZE, have_thp() ? SZ_2M : SZ_4K);
	all_ok = guest_read_all(&vm, GPA_BAR, len, bar_byte, &bad);
	check(all_ok && !bad, "guest reads the BAR", "%zu bad bytes", bad);
	s3 = stats(&vm);
	population_row("BAR2", best == SZ_1G ? "PUD-mapped BAR" :
			best == SZ_2M ? "PMD-mapped BAR" : "4K pages",
		       &s2, &s3, len, best);

	/*
	 * 4. One zap: memory disable, then reset.  The driver unmaps the BAR
	 * from the device's address space (unmap_mapping_range()); the MMU
	 * notifier of the slot over that mapping takes the guest's entries.
	 */
	memory_enable(&dev, false);
	s1 = stats(&vm);
	printf("4. memory disable, one zap: host read %s; guest entries %llu -> %llu pages;",
	       readable(p, &v) ? "served" : "SIGBUS",
	       (unsigned long long)s3.s2_pages,
	       (unsigned long long)s1.s2_pages);
	i = guest(&vm, LAZYMAP_VM_ACCESS_READ, GPA_BAR, 8, vm.buf);
	printf(" guest access %s\n", i == LAZYMAP_VM_EXIT_MEMORY_FAULT ?
	       "MEMORY_FAULT" : "served");
	check(!readable(p, &v) && s3.s2_pages - s1.s2_pages == len / SZ_4K &&
	      i == LAZYMAP_VM_EXIT_MEMORY_FAULT, "disable drops host+stage 2",
	      "-%llu pages, exit %u",
	      (unsigned long long)(s3.s2_pages - s1.s2_pages), i);
	memory_enable(&dev, true);
	all_ok = guest_read_all(&vm, GPA_BAR, len, bar_byte, &bad);
	s2 = stats(&vm);
	printf("   enabled again: guest refaults %llu entry(ies), data %s; host read %s\n",
	       (unsigned long long)(s2.s2_faults[0] + s2.s2_faults[1] +
				    s2.s2_faults[2] - s1.s2_faults[0] -
				    s1.s2_faults[1] - s1.s2_faults[2]),
	       all_ok && !bad ? "intact" : "LOST", readable(p, &v) ? "served" : "SIGBUS");
	check(all_ok && !bad && readable(p, &v), "refault after enable",
	      "%zu bad bytes", bad);
	if (ioctl(dev.device, VFIO_DEVICE_RESET))
		die("VFIO_DEVICE_RESET");
	s3 = stats(&vm);
	printf("   reset: guest entries %llu -> %llu pages (invalidated: %llu pages)\n",
	       (unsigned long long)s2.s2_pages, (unsigned long long)s3.s2_pages,
	       (unsigned long long)(s3.s2_invalidated - s2.s2_invalidated));
	check(s2.s2_pages - s3.s2_pages == len / SZ_4K, "reset drops stage 2",
	      "-%llu pages", (unsigned long long)(s2.s2_pages - s3.s2_pages));
	memory_enable(&dev, true);	/* a reset device decodes nothing */
	all_ok = guest_read_all(&vm, GPA_BAR, len, NULL, &bad);
	check(all_ok && readable(p, &v), "refault after reset", "%s",
	      all_ok ? "served" : "not served");

	/* 5. Lent memory: never seen by the host. */
	memset(vm.buf, 0xee, SZ_1M);
	for (off = 0; off < 8 * SZ_1M; off += SZ_1M)
		guest(&vm, LAZYMAP_VM_ACCESS_WRITE, GPA_GMEM + off, SZ_1M,
		      vm.buf);
	for (sigbus = 0, off = 0; off < RAM_SIZE; off += SZ_4K)
		sigbus += !readable(gm + off, &v);
	s0 = stats(&vm);
	if (fallocate(vm.gmem_fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
		      16 * SZ_1M, 2 * SZ_2M))
		die("punch");
	s1 = stats(&vm);
	printf("5. guest wrote a secret into 8 MiB of lent memory; host reads: %zu pages SIGBUS\n",
	       sigbus);
	printf("   punch 4 MiB: guest entries %llu -> %llu pages\n",
	       (unsigned long long)s0.s2_pages, (unsigned long long)s1.s2_pages);
	check(s0.s2_pages - s1.s2_pages == 2 * SZ_2M / SZ_4K, "punch drops stage 2",
	      "-%llu pages", (unsigned long long)(s0.s2_pages - s1.s2_pages));
	all_ok = guest_read_all(&vm, GPA_GMEM + 16 * SZ_1M, 2 * SZ_2M, zero_byte,
				&bad);
	check(all_ok && !bad, "punched range reads 0", "%zu bad bytes", bad);
	if (map_mem(&vm, LAZYMAP_VM_MAP_UNMAP, GPA_GMEM, 0, RAM_SIZE))
		die("MAP_MEM UNMAP");
	for (bad = 0, sigbus = 0, off = 0; off < RAM_SIZE; off += 256) {
		if (!readable(gm + off, &v))
			sigbus++;
		else if (v)
			bad++;
	}
	printf("   unmapped: the host reads %s (%zu nonzero samples, %zu SIGBUS)\n",
	       bad || sigbus ? "GUEST DATA" : "zeros only", bad, sigbus);
	check(!bad && !sigbus, "reclaimed memory is zeroed", "%zu nonzero", bad);

	/* 6. debugfs and the summary. */
	printf("6. debugfs lazymap/: %-26s %7s %7s %7s %6s %6s %6s\n", "space",
	       "flt_4k", "flt_2m", "flt_1g", "zaps", "laund", "inval");
	{
		struct dirent *de;
		DIR *d = opendir(DEBUGFS "/lazymap");

		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			printf("   %-44s %7lld %7lld %7lld %6lld %6lld %6lld\n",
			       de->d_name, space_stat(de->d_name, "faults_4k"),
			       space_stat(de->d_name, "faults_2m"),
			       space_stat(de->d_name, "faults_1g"),
			       space_stat(de->d_name, "zaps"),
			       space_stat(de->d_name, "launders"),
			       space_stat(de->d_name, "invalidations"));
		}
		if (d)
			closedir(d);
	}
	s0 = stats(&vm);
	printf("   lazymap-vm: stage 2 %llu pages; installed 4K/2M/1G %llu/%llu/%llu;"
	       " invalidated %llu pages\n",
	       (unsigned long long)s0.s2_pages,
	       (unsigned long long)s0.s2_faults[0],
	       (unsigned long long)s0.s2_faults[1],
	       (unsigned long long)s0.s2_faults[2],
	       (unsigned long long)s0.s2_invalidated);

	printf("   %-30s %-34s %s\n", "summary", "got", "");
	for (all_ok = true, i = 0; i < nr_checks; i++) {
		printf("   %-30s %-34s %s\n", checks[i].what, checks[i].got,
		       checks[i].ok ? "ok" : "FAILED");
		all_ok &= checks[i].ok;
	}
	printf("   %u checks, %s\n", nr_checks, all_ok ? "all ok" : "SOME FAILED");
	return all_ok ? 0 : 1;
}
