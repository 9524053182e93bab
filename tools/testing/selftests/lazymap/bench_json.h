/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The LAZYMAP-JSON line of the benchmarks (bench_vm.c, bench_gmem.c): a
 * minimal JSON writer.  json_open() and json_close() an object (under
 * @key, unless NULL), json_num(), json_int() and json_ratio() a member;
 * commas go where they belong.  Start each line with json_begin().
 */
#ifndef __LAZYMAP_BENCH_JSON_H
#define __LAZYMAP_BENCH_JSON_H

#include <stdbool.h>
#include <stdio.h>

static bool json_first;

static inline void json_begin(void)
{
	printf("LAZYMAP-JSON ");
	json_first = true;
}

static inline void json_key(const char *key)
{
	printf("%s", json_first ? "" : ", ");
	json_first = false;
	if (key)
		printf("\"%s\": ", key);
}

static inline void json_open(const char *key)
{
	json_key(key);
	printf("{");
	json_first = true;
}

static inline void json_close(void)
{
	printf("}");
	json_first = false;
}

static inline void json_num(const char *key, double v)
{
	json_key(key);
	printf("%.4f", v);
}

static inline void json_int(const char *key, unsigned long long v)
{
	json_key(key);
	printf("%llu", v);
}

/* A ratio as three members: the median r[0] and the range r[1..2]. */
static inline void json_ratio(const char *key, const double *r)
{
	char name[64];

	json_num(key, r[0]);
	snprintf(name, sizeof(name), "%s_min", key);
	json_num(name, r[1]);
	snprintf(name, sizeof(name), "%s_max", key);
	json_num(name, r[2]);
}

#endif /* __LAZYMAP_BENCH_JSON_H */
