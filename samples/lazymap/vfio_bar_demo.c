// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_bar_demo: what lazymap does for a VFIO BAR, step by step.
 *
 * usage: vfio_bar_demo <BDF> [bar]
 * The device must be bound to lazymap-vfio-pci.  Maps the BAR through VFIO
 * type1 at a 1 GiB-aligned address (2 MiB if the BAR is smaller), touches
 * it, prints the space's debugfs view, disables memory decoding (accesses
 * SIGBUS), re-enables it (the data is still there), forks, and unmaps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/pci_regs.h>

#include "lazymap_util.h"
#include "vfio_util.h"

/* Can *@p be read, or does it raise SIGBUS? */
static bool readable(const volatile uint8_t *p)
{
	uint8_t v;

	return read_byte(p, &v) == 0;
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
	struct vfio_type1_dev dev;
	volatile uint8_t *p;
	size_t len, off, align;
	int index = argc > 2 ? atoi(argv[2]) : 2;
	long f0 = 0, f1;
	double t0, t1;
	pid_t child;
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s <BDF> [bar]\n", argv[0]);
		return 2;
	}
	sigbus_install();
	vfio_type1_init(&dev);
	ret = vfio_type1_open(&dev, argv[1]);
	if (ret) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(-ret));
		return 1;
	}
	if (vfio_region_info(dev.device_fd, VFIO_PCI_BAR0_REGION_INDEX + index, &bar) ||
	    vfio_region_info(dev.device_fd, VFIO_PCI_CONFIG_REGION_INDEX, &cfg)) {
		perror("region info");
		return 1;
	}
	len = bar.size;
	align = len >= SZ_1G ? SZ_1G : SZ_2M;
	printf("1. BAR%d: %zu MiB, flags 0x%x; mmap at a %s-aligned address\n",
	       index, len >> 20, bar.flags, align == SZ_1G ? "1 GiB" : "2 MiB");
	p = vfio_mmap_aligned(dev.device_fd, bar.offset, len,
			      PROT_READ | PROT_WRITE, align, 0);
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
	command(dev.device_fd, cfg.offset, false);
	printf("   reading the BAR now: %s\n",
	       readable(p) ? "readable (unexpected)" : "SIGBUS");
	command(dev.device_fd, cfg.offset, true);
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
	vfio_type1_close(&dev);
	return 0;
}
