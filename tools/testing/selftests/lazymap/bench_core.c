// SPDX-License-Identifier: GPL-2.0
/*
 * bench_core: the lazymap core's fault and revoke paths through its test
 * provider, /dev/lazymap-test (`make bench`, QEMU stage).
 *
 * For each kind of space, 128 MiB mapped at a 2 MiB-aligned address:
 *  - first touch: one byte per 4 KiB page, allocation included;
 *  - refault: the same after a ZAP of the whole space (no allocation: the
 *    cost of the fault path and of mapping alone);
 *  - revoke: REVOKE of the whole, fully mapped space (then RESTORE).
 * The baseline is a page space of 4 KiB blocks (vm_insert_page(), what
 * lazymap-mdev uses); the others are a folio space of 4 KiB folios, a
 * folio space of PMD-sized folios (THP: finish_fault() maps PMDs) and a
 * pfn space of 2 MiB blocks (PMD pfnmap).  The kinds take turns: REPS
 * rounds, each measuring every kind once, in an order rotating between
 * rounds, so that a drift of the machine's speed hits all alike.  Each time
 * is the median over the rounds, with its minor fault count; each ratio is
 * the median of the rounds' kind/baseline ratios.  Prints
 * "# BENCH " lines and one JSON object on a "LAZYMAP-JSON " line.  TCG
 * timings are noisy: compare ratios within one run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "bench_util.h"
#include "lazymap_test_util.h"

#define SPACE_LEN	(128UL << 20)
#define REPS		7

static const struct {
	const char *name;
	__u32 flags;
	__u32 order;
} kinds[] = {
	{ "page_4k", 0, 0 },			/* the baseline */
	{ "folio_4k", LAZYMAP_TEST_FOLIO, 0 },
	{ "folio_2m", LAZYMAP_TEST_FOLIO, 9 },
	{ "pfn_2m", LAZYMAP_TEST_PFN, 9 },
};

#define NR_KINDS	ARRAY_SIZE(kinds)

enum { FIRST_TOUCH, REFAULT, REVOKE, NR_METRICS };
static const char *const metrics[NR_METRICS] = {
	"first_touch", "refault", "revoke"
};

static double t[NR_KINDS][NR_METRICS][REPS];
static double ms[NR_KINDS][NR_METRICS], ratio[NR_KINDS][NR_METRICS][3];
static long faults[NR_KINDS][NR_METRICS];
static unsigned long long pmd_faults[NR_KINDS];

#define DIE(...) do {							\
	fprintf(stderr, "bench_core: " __VA_ARGS__);			\
	fprintf(stderr, ": %s\n", strerror(errno));			\
	exit(1);							\
} while (0)

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* mmap(MAP_SHARED) all of @fd at a 2 MiB-aligned address. */
static volatile uint8_t *map_aligned(int fd)
{
	uint8_t *r, *a;

	r = mmap(NULL, SPACE_LEN + SZ_2M, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)r + SZ_2M - 1) & ~(SZ_2M - 1));
	if (a > r)
		munmap(r, a - r);
	munmap(a + SPACE_LEN, r + SZ_2M - a);
	if (mmap(a, SPACE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, 0) == MAP_FAILED)
		return NULL;
	return a;
}

/* One round of kind @k: every measurement once. */
static void bench_kind(int dev_fd, unsigned int k, int rep)
{
	struct lazymap_test_stats st;
	volatile uint8_t *p;
	double t0;
	long f0;
	int fd;

	fd = lm_create(dev_fd, kinds[k].flags, SPACE_LEN, kinds[k].order, NULL);
	if (fd < 0) {
		errno = -fd;
		DIE("create %s", kinds[k].name);
	}
	p = map_aligned(fd);
	if (!p)
		DIE("mmap %s", kinds[k].name);

	f0 = minor_faults();
	t0 = now_ms();
	touch(p, SPACE_LEN);
	t[k][FIRST_TOUCH][rep] = now_ms() - t0;
	faults[k][FIRST_TOUCH] = minor_faults() - f0;
	if (lm_stats(fd, &st))
		DIE("stats");
	pmd_faults[k] = st.faults[1];

	if (lm_range(fd, LAZYMAP_TEST_ZAP, 0, SPACE_LEN, 0))
		DIE("zap");
	f0 = minor_faults();
	t0 = now_ms();
	touch(p, SPACE_LEN);
	t[k][REFAULT][rep] = now_ms() - t0;
	faults[k][REFAULT] = minor_faults() - f0;

	f0 = minor_faults();
	t0 = now_ms();
	if (lm_range(fd, LAZYMAP_TEST_REVOKE, 0, SPACE_LEN, 0))
		DIE("revoke");
	t[k][REVOKE][rep] = now_ms() - t0;
	faults[k][REVOKE] = minor_faults() - f0;
	if (lm_range(fd, LAZYMAP_TEST_RESTORE, 0, SPACE_LEN, 0))
		DIE("restore");

	munmap((void *)p, SPACE_LEN);
	close(fd);
}

int main(void)
{
	unsigned int k, m;
	int dev_fd, rep;

	dev_fd = open(LAZYMAP_DEV, O_RDWR | O_CLOEXEC);
	if (dev_fd < 0)
		DIE("%s", LAZYMAP_DEV);
	for (rep = 0; rep < REPS; rep++)
		for (k = 0; k < NR_KINDS; k++)
			bench_kind(dev_fd, (k + rep) % NR_KINDS, rep);
	for (k = 0; k < NR_KINDS; k++) {
		for (m = 0; m < NR_METRICS; m++) {
			double r[REPS];

			for (rep = 0; rep < REPS; rep++)
				r[rep] = t[k][m][rep] / t[0][m][rep];
			ratio[k][m][0] = median(r, REPS);
			ratio[k][m][1] = r[0];	/* sorted by median() */
			ratio[k][m][2] = r[REPS - 1];
			ms[k][m] = median(t[k][m], REPS);
		}
	}

	printf("# BENCH %-24s %12s %12s %8s %13s %10s\n", "metric (128 MiB)",
	       "ms", "baseline", "ratio", "(range)", "faults");
	for (m = 0; m < NR_METRICS; m++) {
		for (k = 0; k < NR_KINDS; k++) {
			char name[40];

			snprintf(name, sizeof(name), "%s_%s_ms", metrics[m],
				 kinds[k].name);
			printf("# BENCH %-24s %12.2f %12.2f %8.3f (%.2f-%.2f) %10ld\n",
			       name, ms[k][m], ms[0][m], ratio[k][m][0],
			       ratio[k][m][1], ratio[k][m][2], faults[k][m]);
		}
	}
	for (k = 0; k < NR_KINDS; k++)
		printf("# BENCH pmd_faults_%-13s %12llu\n", kinds[k].name,
		       pmd_faults[k]);
	printf("LAZYMAP-JSON {\"space_mib\": %lu, \"rounds\": %d, \"baseline\": \"%s\"",
	       SPACE_LEN >> 20, REPS, kinds[0].name);
	for (k = 0; k < NR_KINDS; k++) {
		printf(", \"%s\": {\"pmd_faults\": %llu", kinds[k].name,
		       pmd_faults[k]);
		for (m = 0; m < NR_METRICS; m++) {
			printf(", \"%s\": {\"ms\": %.3f", metrics[m], ms[k][m]);
			printf(", \"ratio\": %.4f", ratio[k][m][0]);
			printf(", \"ratio_min\": %.4f", ratio[k][m][1]);
			printf(", \"ratio_max\": %.4f", ratio[k][m][2]);
			printf(", \"faults\": %ld}", faults[k][m]);
		}
		printf("}");
	}
	printf("}\n");
	close(dev_fd);
	return 0;
}
