/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the benchmarks (bench_*.c, `make bench`): a clock,
 * medians, per-round ratios and a first-touch loop.  Static, libc only.
 */
#ifndef __LAZYMAP_BENCH_UTIL_H
#define __LAZYMAP_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* Most rounds a benchmark measures: the bound of the copies below. */
#define BENCH_MAX_ROUNDS	16

/* The median of @a[0..@n), @n <= BENCH_MAX_ROUNDS; @a is left as it is. */
static inline double median_of(const double *a, int n)
{
	double v[BENCH_MAX_ROUNDS];

	memcpy(v, a, n * sizeof(*v));
	return median(v, n);
}

/*
 * The per-round ratios @a[i] / @b[i] of @n <= BENCH_MAX_ROUNDS rounds: their
 * median into r[0], their least and greatest into r[1] and r[2].
 */
static inline void ratios(const double *a, const double *b, int n, double *r)
{
	double v[BENCH_MAX_ROUNDS];
	int i;

	for (i = 0; i < n; i++)
		v[i] = a[i] / b[i];
	r[0] = median(v, n);
	r[1] = v[0];
	r[2] = v[n - 1];
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
