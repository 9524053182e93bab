/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the lazymap selftests: accesses that survive SIGBUS,
 * mappings noted for the teardown, pattern checks, the core's debugfs
 * files (lazymap/<space>/mappings and stats), addressed by space name, and
 * the fields of a VMA in /proc/self/smaps, unloading and loading
 * lazymap's modules, and what the stress tests' threads share: a seeded
 * sequence each, and the first failure among them.
 *
 * Everything is static and depends only on libc, so the tests link
 * statically and run from a busybox initramfs.  Functions returning int
 * return 0 (or a count) on success and a negative errno value on failure.
 * Include after lazymap_harness.h, if at all: messages then go through
 * lm_msg().
 */
#ifndef __LAZYMAP_UTIL_H
#define __LAZYMAP_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define LAZYMAP_DEBUGFS		"/sys/kernel/debug/lazymap"

/* Sizes, as <linux/sizes.h> names them; PG is the page size the tests assume. */
#define SZ_4K			0x1000UL
#define SZ_1M			0x100000UL
#define SZ_2M			0x200000UL
#define SZ_1G			0x40000000UL
#define PG			SZ_4K

#ifdef KSFT_PASS
#define lm_msg ksft_print_msg
#else
#define lm_msg(...) fprintf(stderr, __VA_ARGS__)
#endif

/*
 * SIGBUS handling: read_byte() and write_byte() arm a per-thread jump
 * buffer around one access; the handler jumps back through it.  A SIGBUS
 * with nothing armed is a bug: restore the default action and return, so
 * the access faults again and kills the test with SIGBUS.  The pointer is
 * volatile: to the compiler, arming it right before an access and clearing
 * it right after is a dead store otherwise.  Install sigbus_handler() with
 * sigaction() (sigbus_install()) before the first access.
 */
static __thread sigjmp_buf *volatile sigbus_env;

static __attribute__((unused)) void sigbus_handler(int sig)
{
	sigjmp_buf *env = sigbus_env;

	if (!env) {
		signal(sig, SIG_DFL);
		return;
	}
	sigbus_env = NULL;
	siglongjmp(*env, 1);
}

static inline int sigbus_install(void)
{
	struct sigaction sa = { .sa_handler = sigbus_handler };

	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) ? -errno : 0;
}

/* Read *@p into *@val: 0, or -1 if the access raised SIGBUS. */
static __attribute__((noinline, unused)) int
read_byte(const volatile uint8_t *p, uint8_t *val)
{
	sigjmp_buf env;

	if (sigsetjmp(env, 1))
		return -1;
	sigbus_env = &env;
	*val = *p;
	sigbus_env = NULL;
	return 0;
}

/* Write @val to *@p: 0, or -1 if the access raised SIGBUS. */
static __attribute__((noinline, unused)) int
write_byte(volatile uint8_t *p, uint8_t val)
{
	sigjmp_buf env;

	if (sigsetjmp(env, 1))
		return -1;
	sigbus_env = &env;
	*p = val;
	sigbus_env = NULL;
	return 0;
}

/*
 * Read one byte every @step bytes of [p, p + len): the number of reads that
 * raised SIGBUS.  Not inlined, so that a first call warms the code every
 * later call runs (for tests that count page faults).
 */
static __attribute__((noinline, unused)) size_t
sigbus_pages(const volatile uint8_t *p, size_t len, size_t step)
{
	size_t off, sigbus = 0;
	uint8_t v;

	for (off = 0; off < len; off += step)
		if (read_byte(p + off, &v))
			sigbus++;
	return sigbus;
}

/*
 * mmap(MAP_SHARED) [@offset, @offset + @len) of @fd for reading and
 * writing, and note the mapping in *@map and *@map_len for the teardown to
 * unmap: its address, or NULL (errno set, *@map untouched).
 */
static inline volatile uint8_t *lm_mmap_noted(int fd, off_t offset,
					      size_t len, void **map,
					      size_t *map_len)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
	if (p == MAP_FAILED)
		return NULL;
	*map = p;
	*map_len = len;
	return p;
}

/* munmap() the mapping lm_mmap_noted() noted, and forget it. */
static inline int lm_munmap_noted(void **map, size_t map_len)
{
	void *p = *map;

	*map = NULL;
	return munmap(p, map_len);
}

/* xorshift64: a thread's own reproducible sequence from a seed != 0. */
static inline uint64_t lm_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * The first failure among a test's threads: its operation and -errno.
 * lm_fail() from any thread keeps only the first; the test reads it once
 * the threads are joined (op NULL: none failed).
 */
struct lm_first_fail {
	const char *op;
	int err;
};

static inline void lm_fail(struct lm_first_fail *f, const char *op, int err)
{
	const char *none = NULL;

	if (__atomic_compare_exchange_n(&f->op, &none, op, false,
					__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		f->err = err;
}

/* Offset of the first byte of [p, p + len) that is not @want, or -1. */
static inline long first_mismatch(const volatile uint8_t *p, size_t len,
				  uint8_t want)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != want)
			return i;
	return -1;
}

static inline int lm_have_debugfs(void)
{
	return !access(LAZYMAP_DEBUGFS, F_OK);
}

/* Read a whole (small) file into @buf, NUL terminated: its length or -errno. */
static inline ssize_t lm_read_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (!n)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return len;
}

/* Read debugfs lazymap/<space>/<file> into @buf: its length or -errno. */
static inline ssize_t lm_space_read(const char *space, const char *file,
				    char *buf, size_t size)
{
	char path[256];

	snprintf(path, sizeof(path), LAZYMAP_DEBUGFS "/%s/%s", space, file);
	return lm_read_file(path, buf, size);
}

/* Print a debugfs file of the space, to explain a failed check. */
static inline void lm_space_dump(const char *space, const char *file)
{
	char buf[16384];
	ssize_t len;

	len = lm_space_read(space, file, buf, sizeof(buf));
	if (len < 0)
		lm_msg("%s/%s: %s\n", space, file, strerror(-len));
	else
		lm_msg("%s/%s:\n%s", space, file, buf);
}

/* One data line of debugfs lazymap/<space>/mappings. */
struct lm_mapping {
	int pid;
	char comm[32];
	unsigned long start;
	unsigned long end;
	unsigned long pgoff;
	unsigned long long faults[3];
	unsigned long long zaps;
};

static inline int lm_mapping_cmp(const void *a, const void *b)
{
	const struct lm_mapping *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Parse lazymap/<space>/mappings into @maps (at most @max, sorted by
 * start): the number of data lines, or -errno (-EPROTO if malformed).
 */
static inline int lm_space_mappings(const char *space,
				    struct lm_mapping *maps, int max)
{
	char buf[16384], *line, *save;
	ssize_t len;
	int n = 0;

	len = lm_space_read(space, "mappings", buf, sizeof(buf));
	if (len < 0)
		return len;
	line = strtok_r(buf, "\n", &save);
	if (!line || line[0] != '#')
		return -EPROTO;
	while ((line = strtok_r(NULL, "\n", &save))) {
		struct lm_mapping m;

		if (sscanf(line, "%d %31s %lx %lx %lx %llu %llu %llu %llu",
			   &m.pid, m.comm, &m.start, &m.end, &m.pgoff,
			   &m.faults[0], &m.faults[1], &m.faults[2],
			   &m.zaps) != 9) {
			lm_msg("malformed mappings line: \"%s\"\n", line);
			return -EPROTO;
		}
		if (n < max)
			maps[n] = m;
		n++;
	}
	qsort(maps, n < max ? n : max, sizeof(*maps), lm_mapping_cmp);
	return n;
}

/* Look up "@name: <value>" in the text of a stats file. */
static inline int lm_stats_find(const char *text, const char *name,
				unsigned long long *val)
{
	size_t len = strlen(name);
	const char *line;

	for (line = text; line && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (!strncmp(line, name, len) && line[len] == ':')
			return sscanf(line + len + 1, " %llu", val) == 1 ?
			       0 : -EPROTO;
	}
	return -ENOENT;
}

/* The value of @name in lazymap/<space>/stats, or -errno. */
static inline int lm_space_stat(const char *space, const char *name,
				unsigned long long *val)
{
	char buf[4096];
	ssize_t len;

	len = lm_space_read(space, "stats", buf, sizeof(buf));
	if (len < 0)
		return len;
	return lm_stats_find(buf, name, val);
}

/*
 * The value of field @name ("FilePmdMapped", "Rss", ...) of the VMA that
 * starts at @start, from /proc/self/smaps, into *@kb (in kB): 0, or -errno
 * (-ENOENT: no VMA starts there, or it has no such field).  An independent
 * view of how the page tables map a VMA: FilePmdMapped counts the PMD
 * entries of page-cache folios, which pfn maps never show.
 */
static inline int lm_smaps_kb(const volatile void *start, const char *name,
			      unsigned long long *kb)
{
	size_t len = strlen(name);
	unsigned long lo, hi;
	int ret = -ENOENT;
	int in_vma = 0;
	char line[512];
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* A VMA's header: "start-end perms offset dev inode path". */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			if (in_vma)
				break;
			in_vma = lo == (unsigned long)start;
			continue;
		}
		if (in_vma && !strncmp(line, name, len) && line[len] == ':') {
			ret = sscanf(line + len + 1, " %llu kB", kb) == 1 ?
			      0 : -EPROTO;
			break;
		}
	}
	fclose(f);
	return ret;
}

/*
 * Loadable modules, for the unload tests.  The test initramfs keeps
 * lazymap's modules in LM_MODULE_DIR (override with $LAZYMAP_MODULE_DIR).
 */
#define LM_MODULE_DIR		"/lazymap/modules"

/* Whether module @name (as in /sys/module) is loaded as a module. */
static inline int lm_module_loaded(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
	return !access(path, F_OK);
}

/* Path of @file in the module directory, into @path; 0 or -ENOENT. */
static inline int lm_module_path(const char *file, char *path, size_t len)
{
	const char *dir = getenv("LAZYMAP_MODULE_DIR");

	snprintf(path, len, "%s/%s", dir ? dir : LM_MODULE_DIR, file);
	return access(path, R_OK) ? -ENOENT : 0;
}

/* delete_module(@name) without waiting: 0 or -errno (-EWOULDBLOCK: in use). */
static inline int lm_module_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

/* finit_module() of @path: 0 or -errno. */
static inline int lm_module_load(const char *path)
{
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

#endif /* __LAZYMAP_UTIL_H */
