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
 * The drivers take turns: ROUNDS rounds, each binding one driver, running
 * every measurement once (revoke: the median of REVOKE_REPS), then the
 * other, the order alternating between rounds, so that a drift of the
 * machine's speed during the run hits both alike.  Each time printed is
 * the median over the rounds; each ratio is the median of the rounds'
 * lazymap/stock ratios, so below 1.0 means lazymap is faster.  Prints a
 * table ("# BENCH " lines) and one JSON object on a "LAZYMAP-JSON " line.
 * Timings under TCG are noisy: compare the ratio, not the absolute
 * numbers.
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

#include "bench_util.h"
#include "vfio_util.h"

#define ROUNDS		7
#define REVOKE_REPS	11
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

#define NR_ALIGNS	ARRAY_SIZE(aligns)

static const int revoke_maps[] = { 1, 16, 256 };
#define NR_REVOKES	ARRAY_SIZE(revoke_maps)

static double touch_ms[NR_ALIGNS][ROUNDS][NR_DRIVERS];
static long touch_faults[NR_DRIVERS][NR_ALIGNS];
static double revoke_ms[NR_REVOKES][ROUNDS][NR_DRIVERS];

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

/* One round of driver @d: every measurement once. */
static void bench_driver(int d, const char *bdf, int round)
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
		touch_ms[a][round][d] = now_ms() - t0;
		touch_faults[d][a] = minor_faults() - f0;
		munmap((void *)p, bar2.size - aligns[a].skew);
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
		revoke_ms[r][round][d] = median(t, REVOKE_REPS);
		for (i = 0; i < n; i++)
			munmap((void *)maps[i], SZ_2M);
	}
	vfio_type1_close(&dev);
}

/* Summaries over the rounds: medians of each driver and of the ratios. */
static double touch_med[NR_ALIGNS][NR_DRIVERS], touch_ratio[NR_ALIGNS][3];
static double revoke_med[NR_REVOKES][NR_DRIVERS], revoke_ratio[NR_REVOKES][3];

/*
 * Medians over the rounds of each driver's time, and of the ratios with
 * their spread: ratio[] = { median, lowest, highest }.
 */
static void summarize(double v[ROUNDS][NR_DRIVERS], double med[NR_DRIVERS],
		      double ratio[3])
{
	double x[NR_DRIVERS + 1][ROUNDS];
	int round, d;

	for (round = 0; round < ROUNDS; round++) {
		for (d = 0; d < NR_DRIVERS; d++)
			x[d][round] = v[round][d];
		x[NR_DRIVERS][round] = v[round][LAZYMAP] / v[round][STOCK];
	}
	for (d = 0; d < NR_DRIVERS; d++)
		med[d] = median(x[d], ROUNDS);
	ratio[0] = median(x[NR_DRIVERS], ROUNDS);
	ratio[1] = x[NR_DRIVERS][0];	/* sorted by median() */
	ratio[2] = x[NR_DRIVERS][ROUNDS - 1];
}

int main(void)
{
	char bdf[PCI_BDF_LEN];
	unsigned int a, r;
	int ret, round;

	ret = pci_find_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, bdf, sizeof(bdf));
	if (ret) {
		errno = -ret;
		DIE("no ivshmem device");
	}
	if (thp_set_mode("always"))
		DIE("THP always");
	for (round = 0; round < ROUNDS; round++) {
		bench_driver(round % 2 ? LAZYMAP : STOCK, bdf, round);
		bench_driver(round % 2 ? STOCK : LAZYMAP, bdf, round);
	}
	for (a = 0; a < NR_ALIGNS; a++)
		summarize(touch_ms[a], touch_med[a], touch_ratio[a]);
	for (r = 0; r < NR_REVOKES; r++)
		summarize(revoke_ms[r], revoke_med[r], revoke_ratio[r]);

	printf("# BENCH %-24s %12s %12s %8s %13s %10s %10s\n", "metric",
	       "stock", "lazymap", "ratio", "(range)", "faults(s)",
	       "faults(l)");
	for (a = 0; a < NR_ALIGNS; a++)
		printf("# BENCH first_touch_%s_ms %15.2f %12.2f %8.3f (%.2f-%.2f) %10ld %10ld\n",
		       aligns[a].name, touch_med[a][STOCK],
		       touch_med[a][LAZYMAP], touch_ratio[a][0],
		       touch_ratio[a][1], touch_ratio[a][2],
		       touch_faults[STOCK][a], touch_faults[LAZYMAP][a]);
	for (r = 0; r < NR_REVOKES; r++)
		printf("# BENCH revoke_%d_maps_ms %*s%12.3f %12.3f %8.3f (%.2f-%.2f)\n",
		       revoke_maps[r], revoke_maps[r] < 10 ? 5 :
		       revoke_maps[r] < 100 ? 4 : 3, "", revoke_med[r][STOCK],
		       revoke_med[r][LAZYMAP], revoke_ratio[r][0],
		       revoke_ratio[r][1], revoke_ratio[r][2]);

	printf("LAZYMAP-JSON {\"device\": \"ivshmem %s BAR2 1GiB\"", bdf);
	printf(", \"rounds\": %d, \"first_touch\": {", ROUNDS);
	for (a = 0; a < NR_ALIGNS; a++) {
		printf("%s\"%s\": {", a ? ", " : "", aligns[a].name);
		printf("\"stock_ms\": %.3f", touch_med[a][STOCK]);
		printf(", \"lazymap_ms\": %.3f", touch_med[a][LAZYMAP]);
		printf(", \"ratio\": %.4f", touch_ratio[a][0]);
		printf(", \"ratio_min\": %.4f", touch_ratio[a][1]);
		printf(", \"ratio_max\": %.4f", touch_ratio[a][2]);
		printf(", \"stock_faults\": %ld", touch_faults[STOCK][a]);
		printf(", \"lazymap_faults\": %ld}", touch_faults[LAZYMAP][a]);
	}
	printf("}, \"revoke\": {");
	for (r = 0; r < NR_REVOKES; r++) {
		printf("%s\"%d\": {", r ? ", " : "", revoke_maps[r]);
		printf("\"stock_ms\": %.4f", revoke_med[r][STOCK]);
		printf(", \"lazymap_ms\": %.4f", revoke_med[r][LAZYMAP]);
		printf(", \"ratio\": %.4f", revoke_ratio[r][0]);
		printf(", \"ratio_min\": %.4f", revoke_ratio[r][1]);
		printf(", \"ratio_max\": %.4f}", revoke_ratio[r][2]);
	}
	printf("}}\n");
	return 0;
}
