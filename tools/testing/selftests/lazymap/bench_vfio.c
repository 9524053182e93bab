// SPDX-License-Identifier: GPL-2.0
/*
 * bench_vfio: lazymap-vfio-pci against stock vfio-pci on the same device,
 * in the same boot (`make bench`, QEMU stage).
 *
 * For each driver, on ivshmem BAR2 (1 GiB):
 *  - first touch of the whole BAR mapped 4 KiB-, 2 MiB- and 1 GiB-aligned:
 *    wall time and minor faults;
 *  - revoke latency: with 1, 16 and 256 live 2 MiB mappings, each touched,
 *    the time of the config write that clears memory enable (vfio-pci-core
 *    zaps every mapping inside it).
 * Each number is the median of a few runs.  Prints a table ("# BENCH "
 * lines) and one JSON object on a "LAZYMAP-JSON " line; ratios are
 * lazymap/stock, so below 1.0 means lazymap is faster.  Timings under TCG
 * are noisy: compare the ratio, not the absolute numbers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/pci_regs.h>

#include "vfio_util.h"

#define REPS		3
#define REVOKE_REPS	21
#define MAX_MAPS	256

enum { STOCK, LAZYMAP, NR_DRIVERS };
static const char *const drivers[NR_DRIVERS] = { "vfio-pci", "lazymap-vfio-pci" };

static const struct {
	const char *name;
	size_t align, skew;
} aligns[] = {
	{ "4k", SZ_2M, SZ_4K },		/* no 2 MiB block fits: 4 KiB faults */
	{ "2m", SZ_1G, SZ_2M },		/* 2 MiB- but not 1 GiB-aligned */
	{ "1g", SZ_1G, 0 },
};
#define NR_ALIGNS	(sizeof(aligns) / sizeof(aligns[0]))

static const int revoke_maps[] = { 1, 16, 256 };
#define NR_REVOKES	(sizeof(revoke_maps) / sizeof(revoke_maps[0]))

static double touch_ms[NR_DRIVERS][NR_ALIGNS];
static long touch_faults[NR_DRIVERS][NR_ALIGNS];
static double revoke_ms[NR_DRIVERS][NR_REVOKES];

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static unsigned long touch(const volatile uint8_t *p, size_t len)
{
	unsigned long sum = 0;
	size_t off;

	for (off = 0; off < len; off += SZ_4K)
		sum += p[off];
	return sum;
}

#define DIE(...) do {							\
	fprintf(stderr, "bench_vfio: " __VA_ARGS__);			\
	fprintf(stderr, ": %s\n", strerror(errno));			\
	exit(1);							\
} while (0)

static void set_memory(int fd, uint64_t cfg, bool on)
{
	uint16_t cmd;

	if (pread(fd, &cmd, 2, cfg + PCI_COMMAND) != 2)
		DIE("read command");
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	if (pwrite(fd, &cmd, 2, cfg + PCI_COMMAND) != 2)
		DIE("write command");
}

static void bench_driver(int d, const char *bdf)
{
	struct vfio_region_info bar2, cfg;
	struct vfio_type1_dev dev;
	double t[REVOKE_REPS];
	unsigned int a, r;
	int i, rep, ret;

	ret = pci_bind_driver(bdf, drivers[d]);
	if (ret) {
		errno = -ret;
		DIE("bind %s to %s", bdf, drivers[d]);
	}
	vfio_type1_init(&dev);
	ret = vfio_type1_open(&dev, bdf);
	if (ret) {
		errno = -ret;
		DIE("open %s", bdf);
	}
	if (vfio_region_info(dev.device_fd, VFIO_PCI_BAR2_REGION_INDEX, &bar2) ||
	    vfio_region_info(dev.device_fd, VFIO_PCI_CONFIG_REGION_INDEX, &cfg))
		DIE("region info");

	touch((const volatile uint8_t *)t, sizeof(t));	/* warm up */
	for (a = 0; a < NR_ALIGNS; a++) {
		long faults = 0;

		for (rep = 0; rep < REPS; rep++) {
			volatile uint8_t *p;
			long f0;
			double t0;

			p = vfio_mmap_aligned(dev.device_fd, bar2.offset,
					      bar2.size - aligns[a].skew,
					      PROT_READ | PROT_WRITE,
					      aligns[a].align, aligns[a].skew);
			if (p == MAP_FAILED)
				DIE("mmap %s", aligns[a].name);
			f0 = minor_faults();
			t0 = now_ms();
			touch(p, bar2.size - aligns[a].skew);
			t[rep] = now_ms() - t0;
			faults = minor_faults() - f0;
			munmap((void *)p, bar2.size - aligns[a].skew);
		}
		touch_ms[d][a] = median(t, REPS);
		touch_faults[d][a] = faults;
	}

	for (r = 0; r < NR_REVOKES; r++) {
		volatile uint8_t *maps[MAX_MAPS];
		int n = revoke_maps[r];

		for (i = 0; i < n; i++) {
			maps[i] = vfio_mmap_aligned(dev.device_fd,
						    bar2.offset + i * SZ_2M,
						    SZ_2M, PROT_READ | PROT_WRITE,
						    SZ_2M, 0);
			if (maps[i] == MAP_FAILED)
				DIE("mmap %d of %d", i, n);
		}
		for (rep = 0; rep < REVOKE_REPS; rep++) {
			double t0;

			for (i = 0; i < n; i++)
				touch(maps[i], SZ_2M);
			t0 = now_ms();
			set_memory(dev.device_fd, cfg.offset, false);
			t[rep] = now_ms() - t0;
			set_memory(dev.device_fd, cfg.offset, true);
		}
		revoke_ms[d][r] = median(t, REVOKE_REPS);
		for (i = 0; i < n; i++)
			munmap((void *)maps[i], SZ_2M);
	}
	vfio_type1_close(&dev);
}

int main(void)
{
	char bdf[PCI_BDF_LEN];
	unsigned int a, r;
	int ret;

	ret = pci_find_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, bdf, sizeof(bdf));
	if (ret) {
		errno = -ret;
		DIE("no ivshmem device");
	}
	if (thp_set_mode("always"))
		DIE("THP always");
	for (int d = 0; d < NR_DRIVERS; d++)
		bench_driver(d, bdf);

	printf("# BENCH %-24s %12s %12s %8s %10s %10s\n", "metric", "stock",
	       "lazymap", "ratio", "faults(s)", "faults(l)");
	for (a = 0; a < NR_ALIGNS; a++)
		printf("# BENCH first_touch_%s_ms %15.2f %12.2f %8.3f %10ld %10ld\n",
		       aligns[a].name, touch_ms[STOCK][a], touch_ms[LAZYMAP][a],
		       touch_ms[LAZYMAP][a] / touch_ms[STOCK][a],
		       touch_faults[STOCK][a], touch_faults[LAZYMAP][a]);
	for (r = 0; r < NR_REVOKES; r++)
		printf("# BENCH revoke_%d_maps_ms %*s%12.3f %12.3f %8.3f\n",
		       revoke_maps[r], revoke_maps[r] < 10 ? 5 :
		       revoke_maps[r] < 100 ? 4 : 3, "", revoke_ms[STOCK][r],
		       revoke_ms[LAZYMAP][r],
		       revoke_ms[LAZYMAP][r] / revoke_ms[STOCK][r]);

	printf("LAZYMAP-JSON {\"device\": \"ivshmem %s BAR2 1GiB\", \"first_touch\": {", bdf);
	for (a = 0; a < NR_ALIGNS; a++)
		printf("%s\"%s\": {\"stock_ms\": %.3f, \"lazymap_ms\": %.3f, \"ratio\": %.4f, "
		       "\"stock_faults\": %ld, \"lazymap_faults\": %ld}",
		       a ? ", " : "", aligns[a].name, touch_ms[STOCK][a],
		       touch_ms[LAZYMAP][a], touch_ms[LAZYMAP][a] / touch_ms[STOCK][a],
		       touch_faults[STOCK][a], touch_faults[LAZYMAP][a]);
	printf("}, \"revoke\": {");
	for (r = 0; r < NR_REVOKES; r++)
		printf("%s\"%d\": {\"stock_ms\": %.4f, \"lazymap_ms\": %.4f, \"ratio\": %.4f}",
		       r ? ", " : "", revoke_maps[r], revoke_ms[STOCK][r],
		       revoke_ms[LAZYMAP][r], revoke_ms[LAZYMAP][r] / revoke_ms[STOCK][r]);
	printf("}}\n");
	return 0;
}
