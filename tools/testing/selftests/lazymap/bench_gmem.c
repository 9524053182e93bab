// SPDX-License-Identifier: GPL-2.0
/*
 * bench_gmem: guest_memfd of lazymap-vm (`make bench`, QEMU stage, where
 * THP exists).
 *
 *  - lend: 1 GiB of a guest_memfd, allocated and touched by the host
 *    through its mapping, then lent (MAP_MEM LEND: the zap of the host's
 *    mappings), read whole by the guest (1 MiB ACCESSes: the stage-2
 *    population, in entries by size against the physical limit of 512 2M
 *    entries), and unmapped (the reclaim: stage 2 dropped, 1 GiB zeroed);
 *    4 KiB folios against 2 MiB ones (FLAG_HUGEPAGE): times and ratio;
 *  - bindings: MAP_MEM of one-page SHARE bindings, 100,000 against 10 (the
 *    mean insert), then the latency of an 8-byte ACCESS spread over all of
 *    them, every binding mapped at stage 2 first (O(log n): the aim is
 *    <= 2x).
 * What is compared takes turns within each of ROUNDS rounds; each time is
 * the median over the rounds and each ratio the median of the rounds'
 * ratios, with its range.  Counts are exact.  Prints "# BENCH " lines and
 * one JSON object on a "LAZYMAP-JSON " line (build/bench/gmem.json).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "bench_json.h"
#include "bench_util.h"
#include "lazymap_util.h"
#include "lazymap_vm_util.h"

#define GPA		0x100000000ULL
#define ROUNDS		3
#define MANY		100000U
#define FEW		10U
#define LOOKUPS		20000

enum { K4, M2, NR_KINDS };
static const char *const kinds[NR_KINDS] = { "4k", "2m" };

static double lend_ms[NR_KINDS][ROUNDS], populate_ms[NR_KINDS][ROUNDS];
static double reclaim_ms[NR_KINDS][ROUNDS];
static struct lazymap_vm_stats populated[NR_KINDS];
static double insert_us[2][ROUNDS], lookup_us[2][ROUNDS];
static uint8_t *buf;		/* 1 MiB: ACCESS target */

#define DIE(...) do {							\
	fprintf(stderr, "bench_gmem: " __VA_ARGS__);			\
	fprintf(stderr, ": %s\n", strerror(errno));			\
	exit(1);							\
} while (0)

static int new_vm(int dev_fd, int *vcpu_fd)
{
	int vm_fd = lmvm_create_vm(dev_fd, 0);

	if (vm_fd < 0) {
		errno = -vm_fd;
		DIE("CREATE_VM");
	}
	*vcpu_fd = lmvm_create_vcpu(vm_fd, 0);
	if (*vcpu_fd < 0)
		DIE("CREATE_VCPU");
	return vm_fd;
}

static int new_gmem(int vm_fd, size_t size, __u64 flags)
{
	int fd = lmvm_create_gmem(vm_fd, size, flags);

	if (fd < 0) {
		errno = -fd;
		DIE("CREATE_GUEST_MEMFD");
	}
	return fd;
}

/* Lend, populate and reclaim 1 GiB of kind @k. */
static void bench_lend(int dev_fd, int k, int round)
{
	__u64 flags = LAZYMAP_VM_GUEST_MEMFD_FLAG_MMAP |
		      (k == M2 ? LAZYMAP_VM_GUEST_MEMFD_FLAG_HUGEPAGE : 0);
	struct lazymap_vm_exit ex;
	int vm_fd, vcpu_fd, fd, ret;
	size_t off;
	uint8_t *p;
	double t0;

	vm_fd = new_vm(dev_fd, &vcpu_fd);
	fd = new_gmem(vm_fd, SZ_1G, flags);
	/* 2 MiB-aligned, so that the host maps 2 MiB folios with PMDs. */
	p = mmap(NULL, SZ_1G + SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (p == MAP_FAILED)
		DIE("mmap");
	munmap(p, SZ_1G + SZ_2M);
	p = mmap((void *)(((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1)), SZ_1G,
		 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED)
		DIE("mmap");
	if (fallocate(fd, 1 /* KEEP_SIZE */, 0, SZ_1G))
		DIE("fallocate");
	touch(p, SZ_1G);

	t0 = now_ms();
	ret = lmvm_map_mem(vm_fd, GPA, LAZYMAP_VM_MAP_LEND |
			   LAZYMAP_VM_MAP_READ | LAZYMAP_VM_MAP_WRITE, fd, 0,
			   SZ_1G);
	lend_ms[k][round] = now_ms() - t0;
	if (ret) {
		errno = -ret;
		DIE("MAP_MEM LEND");
	}
	t0 = now_ms();
	for (off = 0; off < SZ_1G; off += SZ_1M)
		if (lmvm_read(vcpu_fd, GPA + off, SZ_1M, buf, &ex) ||
		    ex.reason != LMVM_EXIT_NONE)
			DIE("ACCESS at 0x%zx", off);
	populate_ms[k][round] = now_ms() - t0;
	if (lmvm_stats(vm_fd, &populated[k]))
		DIE("GET_STATS");
	t0 = now_ms();
	ret = lmvm_unmap_mem(vm_fd, GPA, fd, 0, SZ_1G);
	reclaim_ms[k][round] = now_ms() - t0;
	if (ret) {
		errno = -ret;
		DIE("MAP_MEM UNMAP");
	}
	munmap(p, SZ_1G);
	close(fd);
	close(vcpu_fd);
	close(vm_fd);
}

/*
 * @nr one-page SHARE bindings (a page apart in GPA): the mean MAP_MEM in
 * us into *@insert, and the mean latency of an 8-byte ACCESS over all of
 * them, each mapped at stage 2 first, into *@lookup.
 */
static void bench_bindings(int dev_fd, unsigned int nr, double *insert,
			   double *lookup)
{
	struct lazymap_vm_exit ex;
	int vm_fd, vcpu_fd, fd;
	unsigned int i, b;
	uint64_t val;
	double t0;

	vm_fd = new_vm(dev_fd, &vcpu_fd);
	fd = new_gmem(vm_fd, (size_t)nr * PG, 0);
	t0 = now_ms();
	for (b = 0; b < nr; b++)
		if (lmvm_map_mem(vm_fd, GPA + 2ULL * b * PG,
				 LAZYMAP_VM_MAP_SHARE | LAZYMAP_VM_MAP_READ,
				 fd, (__u64)b * PG, PG))
			DIE("MAP_MEM %u", b);
	*insert = (now_ms() - t0) * 1000 / nr;
	for (b = 0; b < nr; b++)
		if (lmvm_read(vcpu_fd, GPA + 2ULL * b * PG, 8, &val, &ex))
			DIE("ACCESS");
	t0 = now_ms();
	for (i = 0, b = 0; i < LOOKUPS; i++) {
		/* A stride coprime to both counts: bindings in turn. */
		b = (b + 7919) % nr;
		if (lmvm_read(vcpu_fd, GPA + 2ULL * b * PG + 8, 8, &val, &ex) ||
		    ex.reason != LMVM_EXIT_NONE)
			DIE("ACCESS");
	}
	*lookup = (now_ms() - t0) * 1000 / LOOKUPS;
	close(fd);
	close(vcpu_fd);
	close(vm_fd);
}

static void print_row(const char *name, const double *a, const double *b,
		      const double *r)
{
	printf("# BENCH %-34s %10.2f %10.2f %8.3f (%.2f-%.2f)\n", name,
	       median_of(a, ROUNDS), median_of(b, ROUNDS), r[0], r[1], r[2]);
}

int main(void)
{
	double lend_r[3], pop_r[3], reclaim_r[3], insert_r[3], lookup_r[3];
	int dev_fd, round, i, k;

	dev_fd = lmvm_open_dev();
	if (dev_fd < 0) {
		errno = -dev_fd;
		DIE("%s", LAZYMAP_VM_DEV);
	}
	buf = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		DIE("mmap");
	for (round = 0; round < ROUNDS; round++) {
		for (i = 0; i < NR_KINDS; i++) {
			k = (i + round) % NR_KINDS;
			bench_lend(dev_fd, k, round);
		}
		for (i = 0; i < 2; i++) {
			k = (i + round) % 2;
			bench_bindings(dev_fd, k ? MANY : FEW,
				       &insert_us[k][round],
				       &lookup_us[k][round]);
		}
	}
	ratios(lend_ms[M2], lend_ms[K4], ROUNDS, lend_r);
	ratios(populate_ms[M2], populate_ms[K4], ROUNDS, pop_r);
	ratios(reclaim_ms[M2], reclaim_ms[K4], ROUNDS, reclaim_r);
	ratios(insert_us[1], insert_us[0], ROUNDS, insert_r);
	ratios(lookup_us[1], lookup_us[0], ROUNDS, lookup_r);

	printf("# BENCH %-34s %10s %10s %8s %13s\n", "metric", "value",
	       "baseline", "ratio", "(range)");
	for (k = 0; k < NR_KINDS; k++)
		printf("# BENCH populate_1g_%s 4k/2m %llu/%llu (limit %lu, s2 %llu)\n",
		       kinds[k], (unsigned long long)populated[k].s2_faults[0],
		       (unsigned long long)populated[k].s2_faults[1],
		       k == M2 ? SZ_1G / SZ_2M : SZ_1G / PG,
		       (unsigned long long)populated[k].s2_pages);
	print_row("lend_1g_ms 2m vs 4k folios", lend_ms[M2], lend_ms[K4],
		  lend_r);
	print_row("populate_1g_ms 2m vs 4k folios", populate_ms[M2],
		  populate_ms[K4], pop_r);
	print_row("reclaim_1g_ms 2m vs 4k folios", reclaim_ms[M2],
		  reclaim_ms[K4], reclaim_r);
	print_row("map_mem_us 100000 vs 10 bindings", insert_us[1],
		  insert_us[0], insert_r);
	print_row("access_us 100000 vs 10 bindings", lookup_us[1],
		  lookup_us[0], lookup_r);

	json_begin();
	json_open(NULL);
	json_int("rounds", ROUNDS);
	json_open("lend_reclaim_1g");
	for (k = 0; k < NR_KINDS; k++) {
		json_open(kinds[k]);
		json_num("lend_ms", median_of(lend_ms[k], ROUNDS));
		json_num("populate_ms", median_of(populate_ms[k], ROUNDS));
		json_num("reclaim_ms", median_of(reclaim_ms[k], ROUNDS));
		json_int("s2_faults_4k", populated[k].s2_faults[0]);
		json_int("s2_faults_2m", populated[k].s2_faults[1]);
		json_int("s2_pages", populated[k].s2_pages);
		json_int("limit_entries", k == M2 ? SZ_1G / SZ_2M : SZ_1G / PG);
		json_close();
	}
	json_ratio("lend_ratio_2m_4k", lend_r);
	json_ratio("populate_ratio_2m_4k", pop_r);
	json_ratio("reclaim_ratio_2m_4k", reclaim_r);
	json_close();
	json_open("bindings");
	json_int("few", FEW);
	json_int("many", MANY);
	json_num("map_mem_few_us", median_of(insert_us[0], ROUNDS));
	json_num("map_mem_many_us", median_of(insert_us[1], ROUNDS));
	json_ratio("map_mem_ratio", insert_r);
	json_num("access_few_us", median_of(lookup_us[0], ROUNDS));
	json_num("access_many_us", median_of(lookup_us[1], ROUNDS));
	json_ratio("access_ratio", lookup_r);
	json_close();
	json_close();
	printf("\n");
	close(dev_fd);
	return 0;
}
