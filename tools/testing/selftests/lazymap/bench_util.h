/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the benchmarks (bench_*.c, `make bench`): a clock,
 * medians and a first-touch loop.  Static, libc only.
 */
#ifndef __LAZYMAP_BENCH_UTIL_H
#define __LAZYMAP_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* CLOCK_MONOTONIC in milliseconds. */
static inline double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of @v[0..@n), which it leaves sorted (so v[0] is the least). */
static inline double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* Read one byte of every 4 KiB page of [p, p + len): faults each in. */
static inline unsigned long touch(const volatile uint8_t *p, size_t len)
{
	unsigned long sum = 0;
	size_t off;

	for (off = 0; off < len; off += 4096)
		sum += p[off];
	return sum;
}

#endif /* __LAZYMAP_BENCH_UTIL_H */
