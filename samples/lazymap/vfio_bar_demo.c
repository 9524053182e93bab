// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_bar_demo: what lazymap does for a VFIO BAR, step by step.
 *
 * usage: vfio_bar_demo <BDF> [bar]
 * The device must be bound to lazymap-vfio-pci.  Maps the BAR through VFIO
 * type1 at a 1 GiB-aligned address (2 MiB if the BAR is smaller), touches
 * it, prints the space's debugfs view, disables memory decoding (accesses
 * SIGBUS), re-enables it (the data is still there), forks, and unmaps.
 *
 * One file, libc and the kernel's UAPI headers only: copy it and build it
 * with "cc -O2 -o vfio_bar_demo vfio_bar_demo.c".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#define SZ_4K		0x1000UL
#define SZ_2M		0x200000UL
#define SZ_1G		0x40000000UL

/* The VFIO type1 (container and group) handles of one device. */
struct vfio_dev {
	int container;
	int group;
	int device;
};

/*
 * Open @bdf, bound to a VFIO driver, through its IOMMU group and a type1
 * container: 0, or -1 with errno set and a message printed.
 */
static int vfio_open(struct vfio_dev *dev, const char *bdf)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX], link[PATH_MAX];
	const char *grp;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		perror(path);
		return -1;
	}
	link[n] = '\0';
	grp = strrchr(link, '/');
	snprintf(path, sizeof(path), "/dev/vfio/%d", atoi(grp ? grp + 1 : link));

	dev->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	dev->group = open(path, O_RDWR | O_CLOEXEC);
	if (dev->container < 0 || dev->group < 0) {
		perror("open /dev/vfio");
		return -1;
	}
	if (ioctl(dev->group, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		fprintf(stderr, "%s: IOMMU group not viable\n", bdf);
		return -1;
	}
	if (ioctl(dev->group, VFIO_GROUP_SET_CONTAINER, &dev->container) ||
	    ioctl(dev->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		perror("VFIO type1");
		return -1;
	}
	dev->device = ioctl(dev->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev->device < 0) {
		perror("VFIO_GROUP_GET_DEVICE_FD");
		return -1;
	}
	return 0;
}

static int region_info(int device, uint32_t index, struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	return ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info);
}

/*
 * mmap(MAP_SHARED) @len bytes of @fd at @offset, at an @align-aligned
 * address (@align a power of two): reserve @len + @align bytes, map over
 * the aligned part with MAP_FIXED and give the rest back.
 */
static void *mmap_aligned(int fd, off_t offset, size_t len, size_t align)
{
	uintptr_t res, addr;
	void *map;

	map = mmap(NULL, len + align, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return MAP_FAILED;
	res = (uintptr_t)map;
	addr = (res + align - 1) & ~(uintptr_t)(align - 1);
	map = mmap((void *)addr, len, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED, fd, offset);
	if (map == MAP_FAILED) {
		munmap((void *)res, len + align);
		return MAP_FAILED;
	}
	if (addr > res)
		munmap((void *)res, addr - res);
	if (addr + len < res + len + align)
		munmap((void *)(addr + len), res + align - addr);
	return map;
}

/*
 * A read of a revoked BAR raises SIGBUS: readable() arms a jump buffer
 * around one access and the handler jumps back through it.  A SIGBUS with
 * nothing armed is a bug: the handler restores the default action, so the
 * access faults again and kills the program.
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

/* Can *@p be read, or does it raise SIGBUS? */
static bool readable(const volatile uint8_t *p)
{
	if (sigsetjmp(sigbus_env, 1))
		return false;
	sigbus_armed = 1;
	(void)*p;
	sigbus_armed = 0;
	return true;
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static void show(const char *bdf, const char *file)
{
	char path[256], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/lazymap/vfio-%s/%s",
		 bdf, file);
	f = fopen(path, "r");
	if (!f) {
		printf("    (%s: %s)\n", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f))
		printf("    %s", line);
	fclose(f);
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int command(int fd, uint64_t cfg, bool on)
{
	uint16_t cmd;

	if (pread(fd, &cmd, 2, cfg + PCI_COMMAND) != 2)
		return -1;
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	return pwrite(fd, &cmd, 2, cfg + PCI_COMMAND) == 2 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct vfio_region_info bar, cfg;
	struct sigaction sa = { .sa_handler = sigbus_handler };
	struct vfio_dev dev;
	volatile uint8_t *p;
	size_t len, off, align;
	int index = argc > 2 ? atoi(argv[2]) : 2;
	long f0 = 0, f1;
	double t0, t1;
	pid_t child;

	if (argc < 2) {
		fprintf(stderr, "usage: %s <BDF> [bar]\n", argv[0]);
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	if (vfio_open(&dev, argv[1]))
		return 1;
	if (region_info(dev.device, VFIO_PCI_BAR0_REGION_INDEX + index, &bar) ||
	    region_info(dev.device, VFIO_PCI_CONFIG_REGION_INDEX, &cfg)) {
		perror("region info");
		return 1;
	}
	len = bar.size;
	align = len >= SZ_1G ? SZ_1G : SZ_2M;
	printf("1. BAR%d: %zu MiB, flags 0x%x; mmap at a %s-aligned address\n",
	       index, len >> 20, bar.flags, align == SZ_1G ? "1 GiB" : "2 MiB");
	p = mmap_aligned(dev.device, bar.offset, len, align);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("   mmap installs nothing:\n");
	show(argv[1], "mappings");

	/* Warm the stack, data and vDSO pages the measurement touches. */
	readable((const volatile uint8_t *)&f0);
	now_ms();
	minor_faults();
	f0 = minor_faults();
	t0 = now_ms();
	for (off = 0; off < len; off += SZ_4K)
		(void)p[off];
	t1 = now_ms();
	f1 = minor_faults();
	printf("2. touched %zu pages in %.1f ms with %ld page fault(s)\n",
	       len / SZ_4K, t1 - t0, f1 - f0);
	show(argv[1], "mappings");
	p[0] = 0xd5;

	printf("3. clear memory enable in the command register: vfio-pci-core zaps\n");
	command(dev.device, cfg.offset, false);
	printf("   reading the BAR now: %s\n",
	       readable(p) ? "readable (unexpected)" : "SIGBUS");
	command(dev.device, cfg.offset, true);
	printf("4. memory enabled again: BAR[0] = 0x%02x (data intact), refaulted\n",
	       p[0]);

	child = fork();
	if (child == 0) {
		(void)p[len - 1];
		sleep(1);
		_exit(0);
	}
	usleep(300000);
	printf("5. after fork the child's VMA is tracked too:\n");
	show(argv[1], "mappings");
	waitpid(child, NULL, 0);

	munmap((void *)p, len);
	printf("6. unmapped; the space's counters (zaps counts zaps issued through\n"
	       "   lazymap; vfio-pci-core's own zaps show as SIGBUS and refaults):\n");
	show(argv[1], "stats");
	close(dev.device);
	close(dev.group);
	close(dev.container);
	return 0;
}
