// SPDX-License-Identifier: GPL-2.0
/*
 * bench_vm: the software stage 2 of lazymap-vm (`make bench`, QEMU stage,
 * where THP exists).
 *
 *  - populate: 1 GiB of anonymous memory, faulted in by the host first,
 *    then read through a fresh VM's slot by 1 MiB ACCESSes until stage 2
 *    maps all of it; 4 KiB pages (MADV_NOHUGEPAGE) against THP: the
 *    entries installed (GET_STATS s2_faults; the physical limit is 262,144
 *    4K entries against 512 2M entries) and the time ratio THP/4K;
 *  - warm: 1 MiB ACCESS reads of 64 MiB already mapped at stage 2 against
 *    memcpy() of the same bytes through the host mapping: the price of the
 *    software stage 2 (aimed at <= 2x), for 4K and THP backing;
 *    and against pread() of as many bytes from a memfd, one copy by the
 *    kernel's own copy_to_user() (ACCESS makes two: the guest page into
 *    the bounce buffer under mmu_lock, the bounce buffer to the caller);
 *  - invalidate: munmap() of the populated 1 GiB, 4K entries against 2M
 *    entries, each against the munmap() of the same memory with no VM;
 *  - lookup: the latency of an 8-byte ACCESS spread over 10 slots against
 *    32,764 slots (all mapped at stage 2; O(log n) aims at <= 1.5x).
 * What is compared takes turns within each of ROUNDS rounds, the order
 * alternating between rounds; each time printed is the median over the
 * rounds and each ratio the median of the rounds' ratios, with its range.
 * Counts are exact.  Prints "# BENCH " lines and one JSON object on a
 * "LAZYMAP-JSON " line.  TCG timings are noisy: compare ratios.
 */
#define _GNU_SOURCE
#include <errno.h>
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
#define WARM_LEN	(64 * SZ_1M)
#define WARM_REPS	4
#define LOOKUPS		20000
#define FEW_SLOTS	10

enum { K4, THP, NR_KINDS };
static const char *const kinds[NR_KINDS] = { "4k", "thp" };

static double populate_ms[NR_KINDS][ROUNDS];
static double munmap_ms[NR_KINDS][ROUNDS], munmap_plain_ms[NR_KINDS][ROUNDS];
static double access_ms[NR_KINDS][ROUNDS], memcpy_ms[NR_KINDS][ROUNDS];
static double pread_ms[NR_KINDS][ROUNDS];
static int warm_memfd;		/* WARM_LEN bytes: the pread() baseline */
static double lookup_us[2][ROUNDS];
static struct lazymap_vm_stats populated[NR_KINDS];
static unsigned long long thp_kb[NR_KINDS];
static uint8_t *buf;		/* 1 MiB: ACCESS and memcpy target */

#define DIE(...) do {							\
	fprintf(stderr, "bench_vm: " __VA_ARGS__);			\
	fprintf(stderr, ": %s\n", strerror(errno));			\
	exit(1);							\
} while (0)

/* @len bytes of anonymous memory of kind @k, 2 MiB-aligned, faulted in. */
static uint8_t *host_mem(int k, size_t len)
{
	uint8_t *r, *p;

	r = mmap(NULL, len + SZ_2M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		DIE("mmap");
	p = (uint8_t *)(((uintptr_t)r + SZ_2M - 1) & ~(SZ_2M - 1));
	if (p > r)
		munmap(r, p - r);
	munmap(p + len, r + SZ_2M - p);
	if (madvise(p, len, k == THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		DIE("madvise");
	memset(p, 0x5a, len);
	return p;
}

/* A VM with one vCPU and a slot over [@p, @p + @len) at GPA. */
static int vm_over(int dev_fd, uint8_t *p, size_t len, int *vcpu_fd)
{
	int vm_fd = lmvm_create_vm(dev_fd, 0);

	if (vm_fd < 0) {
		errno = -vm_fd;
		DIE("CREATE_VM");
	}
	if (lmvm_set_region(vm_fd, 0, 0, GPA, len, p))
		DIE("SET_USER_MEMORY_REGION");
	*vcpu_fd = lmvm_create_vcpu(vm_fd, 0);
	if (*vcpu_fd < 0)
		DIE("CREATE_VCPU");
	return vm_fd;
}

/* Read [GPA, GPA + len) by 1 MiB ACCESSes. */
static void read_all(int vcpu_fd, size_t len)
{
	struct lazymap_vm_exit ex;
	size_t off;

	for (off = 0; off < len; off += SZ_1M)
		if (lmvm_read(vcpu_fd, GPA + off, SZ_1M, buf, &ex) ||
		    ex.reason != LMVM_EXIT_NONE)
			DIE("ACCESS at 0x%zx", off);
}

/* Populate 1 GiB of kind @k, then munmap it; and munmap with no VM. */
static void bench_populate(int dev_fd, int k, int round)
{
	struct lazymap_vm_stats st;
	int vm_fd, vcpu_fd;
	uint8_t *p;
	double t0;

	p = host_mem(k, SZ_1G);
	if (lm_smaps_kb(p, "AnonHugePages", &thp_kb[k]))
		thp_kb[k] = 0;
	vm_fd = vm_over(dev_fd, p, SZ_1G, &vcpu_fd);
	t0 = now_ms();
	read_all(vcpu_fd, SZ_1G);
	populate_ms[k][round] = now_ms() - t0;
	if (lmvm_stats(vm_fd, &populated[k]))
		DIE("GET_STATS");
	t0 = now_ms();
	munmap(p, SZ_1G);
	munmap_ms[k][round] = now_ms() - t0;
	if (lmvm_stats(vm_fd, &st) || st.s2_pages)
		DIE("%llu pages still mapped after munmap",
		    (unsigned long long)st.s2_pages);
	close(vcpu_fd);
	close(vm_fd);

	p = host_mem(k, SZ_1G);
	t0 = now_ms();
	munmap(p, SZ_1G);
	munmap_plain_ms[k][round] = now_ms() - t0;
}

/* Warm 1 MiB ACCESS reads against memcpy() of WARM_LEN of kind @k. */
static void bench_warm(int dev_fd, int k, int round)
{
	int vm_fd, vcpu_fd, rep;
	size_t off;
	uint8_t *p;
	double t0;

	p = host_mem(k, WARM_LEN);
	vm_fd = vm_over(dev_fd, p, WARM_LEN, &vcpu_fd);
	read_all(vcpu_fd, WARM_LEN);
	t0 = now_ms();
	for (rep = 0; rep < WARM_REPS; rep++)
		read_all(vcpu_fd, WARM_LEN);
	access_ms[k][round] = now_ms() - t0;
	t0 = now_ms();
	for (rep = 0; rep < WARM_REPS; rep++)
		for (off = 0; off < WARM_LEN; off += SZ_1M) {
			memcpy(buf, p + off, SZ_1M);
			/* Keep the copy from being optimised away. */
			__asm__ __volatile__("" : : "r"(buf) : "memory");
		}
	memcpy_ms[k][round] = now_ms() - t0;
	t0 = now_ms();
	for (rep = 0; rep < WARM_REPS; rep++)
		for (off = 0; off < WARM_LEN; off += SZ_1M)
			if (pread(warm_memfd, buf, SZ_1M, off) != SZ_1M)
				DIE("pread");
	pread_ms[k][round] = now_ms() - t0;
	close(vcpu_fd);
	close(vm_fd);
	munmap(p, WARM_LEN);
}

/*
 * The mean latency of an 8-byte ACCESS over @nr slots of a page each (a
 * page apart in GPA), every slot mapped at stage 2 first, in us.
 */
static double bench_lookup(int dev_fd, unsigned int nr)
{
	struct lazymap_vm_exit ex;
	int vm_fd, vcpu_fd;
	unsigned int i, s;
	uint64_t val;
	uint8_t *p;
	double t0, t;

	p = mmap(NULL, nr * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		DIE("mmap");
	memset(p, 1, nr * PG);
	vm_fd = lmvm_create_vm(dev_fd, 0);
	if (vm_fd < 0)
		DIE("CREATE_VM");
	for (s = 0; s < nr; s++)
		if (lmvm_set_region(vm_fd, s, 0, GPA + 2ULL * s * PG, PG,
				    p + s * PG))
			DIE("slot %u", s);
	vcpu_fd = lmvm_create_vcpu(vm_fd, 0);
	if (vcpu_fd < 0)
		DIE("CREATE_VCPU");
	for (s = 0; s < nr; s++)
		if (lmvm_read(vcpu_fd, GPA + 2ULL * s * PG, 8, &val, &ex))
			DIE("ACCESS");
	t0 = now_ms();
	for (i = 0, s = 0; i < LOOKUPS; i++) {
		/* A stride coprime to any slot count: every slot in turn. */
		s = (s + 7919) % nr;
		if (lmvm_read(vcpu_fd, GPA + 2ULL * s * PG + 8, 8, &val, &ex))
			DIE("ACCESS");
	}
	t = (now_ms() - t0) * 1000 / LOOKUPS;
	close(vcpu_fd);
	close(vm_fd);
	munmap(p, nr * PG);
	return t;
}

int main(void)
{
	double pop[3], inv[3], inv_plain[NR_KINDS][3], warm[NR_KINDS][3];
	double warm_pread[NR_KINDS][3];
	double look[3];
	int dev_fd, round, i, k;
	size_t off;

	dev_fd = lmvm_open_dev();
	if (dev_fd < 0) {
		errno = -dev_fd;
		DIE("%s", LAZYMAP_VM_DEV);
	}
	buf = mmap(NULL, SZ_1M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		DIE("mmap");
	memset(buf, 0, SZ_1M);
	warm_memfd = memfd_create("bench_vm", MFD_CLOEXEC);
	if (warm_memfd < 0 || ftruncate(warm_memfd, WARM_LEN))
		DIE("memfd");
	for (off = 0; off < WARM_LEN; off += SZ_1M)
		if (pwrite(warm_memfd, buf, SZ_1M, off) != SZ_1M)
			DIE("pwrite");
	for (round = 0; round < ROUNDS; round++) {
		for (i = 0; i < NR_KINDS; i++) {
			k = (i + round) % NR_KINDS;
			bench_populate(dev_fd, k, round);
			bench_warm(dev_fd, k, round);
		}
		for (i = 0; i < 2; i++) {
			k = (i + round) % 2;
			lookup_us[k][round] =
				bench_lookup(dev_fd, k ? LAZYMAP_VM_USER_MEM_SLOTS :
							 FEW_SLOTS);
		}
	}

	ratios(populate_ms[THP], populate_ms[K4], ROUNDS, pop);
	ratios(munmap_ms[THP], munmap_ms[K4], ROUNDS, inv);
	for (k = 0; k < NR_KINDS; k++) {
		ratios(munmap_ms[k], munmap_plain_ms[k], ROUNDS, inv_plain[k]);
		ratios(access_ms[k], memcpy_ms[k], ROUNDS, warm[k]);
		ratios(access_ms[k], pread_ms[k], ROUNDS, warm_pread[k]);
	}
	ratios(lookup_us[1], lookup_us[0], ROUNDS, look);

	printf("# BENCH %-34s %10s %10s %8s %13s\n", "metric", "value",
	       "baseline", "ratio", "(range)");
	for (k = 0; k < NR_KINDS; k++) {
		printf("# BENCH populate_1g_%-3s entries 4k/2m/1g %llu/%llu/%llu",
		       kinds[k], (unsigned long long)populated[k].s2_faults[0],
		       (unsigned long long)populated[k].s2_faults[1],
		       (unsigned long long)populated[k].s2_faults[2]);
		printf(" (s2_pages %llu, AnonHugePages %llu kB)\n",
		       (unsigned long long)populated[k].s2_pages, thp_kb[k]);
	}
	printf("# BENCH %-34s %10.1f %10.1f %8.3f (%.2f-%.2f)\n",
	       "populate_1g_ms thp vs 4k", median_of(populate_ms[THP], ROUNDS),
	       median_of(populate_ms[K4], ROUNDS), pop[0], pop[1], pop[2]);
	for (k = 0; k < NR_KINDS; k++)
		printf("# BENCH warm_access_%s_ms vs memcpy %*s%10.2f %10.2f %8.3f (%.2f-%.2f)\n",
		       kinds[k], 11, "", median_of(access_ms[k], ROUNDS),
		       median_of(memcpy_ms[k], ROUNDS),
		       warm[k][0], warm[k][1], warm[k][2]);
	for (k = 0; k < NR_KINDS; k++)
		printf("# BENCH warm_access_%s_ms vs pread %*s%10.2f %10.2f %8.3f (%.2f-%.2f)\n",
		       kinds[k], 12, "", median_of(access_ms[k], ROUNDS),
		       median_of(pread_ms[k], ROUNDS),
		       warm_pread[k][0], warm_pread[k][1], warm_pread[k][2]);
	printf("# BENCH %-34s %10.1f %10.1f %8.3f (%.2f-%.2f)\n",
	       "munmap_1g_ms 2m vs 4k entries", median_of(munmap_ms[THP], ROUNDS),
	       median_of(munmap_ms[K4], ROUNDS), inv[0], inv[1], inv[2]);
	for (k = 0; k < NR_KINDS; k++)
		printf("# BENCH munmap_1g_%s_ms vs no VM %*s%10.1f %10.1f %8.3f (%.2f-%.2f)\n",
		       kinds[k], 12, "", median_of(munmap_ms[k], ROUNDS),
		       median_of(munmap_plain_ms[k], ROUNDS),
		       inv_plain[k][0], inv_plain[k][1], inv_plain[k][2]);
	printf("# BENCH %-34s %10.2f %10.2f %8.3f (%.2f-%.2f)\n",
	       "access_us 32764 vs 10 slots", median_of(lookup_us[1], ROUNDS),
	       median_of(lookup_us[0], ROUNDS), look[0], look[1], look[2]);

	json_begin();
	json_open(NULL);
	json_int("rounds", ROUNDS);
	json_open("populate_1g");
	for (k = 0; k < NR_KINDS; k++) {
		json_open(kinds[k]);
		json_num("ms", median_of(populate_ms[k], ROUNDS));
		json_int("s2_faults_4k", populated[k].s2_faults[0]);
		json_int("s2_faults_2m", populated[k].s2_faults[1]);
		json_int("s2_faults_1g", populated[k].s2_faults[2]);
		json_int("s2_pages", populated[k].s2_pages);
		json_int("limit_entries", k == THP ? SZ_1G / SZ_2M : SZ_1G / PG);
		json_int("anon_huge_kb", thp_kb[k]);
		json_close();
	}
	json_ratio("ratio_thp_4k", pop);
	json_close();
	json_open("warm_access_1m");
	json_int("bytes", WARM_LEN * WARM_REPS);
	for (k = 0; k < NR_KINDS; k++) {
		json_open(kinds[k]);
		json_num("access_ms", median_of(access_ms[k], ROUNDS));
		json_num("memcpy_ms", median_of(memcpy_ms[k], ROUNDS));
		json_ratio("ratio", warm[k]);
		json_num("pread_ms", median_of(pread_ms[k], ROUNDS));
		json_ratio("ratio_vs_pread", warm_pread[k]);
		json_close();
	}
	json_close();
	json_open("invalidate_munmap_1g");
	for (k = 0; k < NR_KINDS; k++) {
		json_open(kinds[k]);
		json_num("ms", median_of(munmap_ms[k], ROUNDS));
		json_num("no_vm_ms", median_of(munmap_plain_ms[k], ROUNDS));
		json_ratio("ratio_vs_no_vm", inv_plain[k]);
		json_close();
	}
	json_ratio("ratio_2m_4k", inv);
	json_close();
	json_open("access_latency");
	json_int("slots_few", FEW_SLOTS);
	json_int("slots_max", LAZYMAP_VM_USER_MEM_SLOTS);
	json_num("few_us", median_of(lookup_us[0], ROUNDS));
	json_num("max_us", median_of(lookup_us[1], ROUNDS));
	json_ratio("ratio", look);
	json_close();
	json_close();
	printf("\n");
	close(dev_fd);
	return 0;
}
