/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the KUnit suites of the lazymap core (one file each, linked into
 * one test module) share: a provider for spaces that are never mapped
 * (struct kspace), one for spaces mapped through real VMAs of the test's
 * own mm (struct kmap, struct kmapping), a counting listener, and copies
 * of the per-VMA tracking records.  kunit_util.c has the code.
 *
 * A space mapped by a test owns its provider data (struct kmap): the
 * space's release op frees it.  A test that ends early leaves its VMAs to
 * the exit of its thread, which may come after the cleanup actions; the
 * last reference then frees the memory, whoever drops it.
 */
#ifndef _LAZYMAP_KUNIT_H
#define _LAZYMAP_KUNIT_H

#include <kunit/test.h>
#include <linux/lazymap.h>
#include <linux/mm.h>
#include <linux/uaccess.h>

#include "../lazymap_internal.h"

#define SZ_SPACE	(64 * PAGE_SIZE)
#define SPACE_PAGES	(SZ_SPACE >> PAGE_SHIFT)

/* --- a provider for spaces that are never mapped ----------------------- */

/* Counts its calls; resolve fails (-EIO). */
struct kspace {
	struct kunit *test;
	int releases;
	int resolves;
};

extern const struct lazymap_ops kspace_ops;

struct address_space *kforeign_mapping(struct kunit *test);
struct lazymap_space *kspace_create(struct kunit *test, struct kspace **ksp,
				    struct lazymap_space_params *extra);

/* --- a counting listener ------------------------------------------------ */

/*
 * A counting listener.  @ret is what its release callback answers (0 or
 * -EBUSY); @releases counts those calls, @calls every call of either.
 */
struct klistener {
	struct lazymap_listener l;
	int calls;
	int releases;
	pgoff_t start, end;
	enum lazymap_inval_reason reason;
	int ret;
};

extern const struct lazymap_listener_ops klistener_ops;

void klistener_invalidate(struct lazymap_listener *l, pgoff_t start,
			  pgoff_t end, enum lazymap_inval_reason reason);
struct klistener *klistener_add(struct kunit *test,
				struct lazymap_space *space);

/* --- spaces mapped through real VMAs ------------------------------------ */

/* Spaces of SZ_SPACE, backed by memory in the first KMAP_PAGES pages. */
#define KMAP_PAGES	16
#define KMAP_SIZE	(KMAP_PAGES * PAGE_SIZE)

/* What page offset @pgoff of a kmap space reads as (its first byte). */
#define KMAP_BYTE(pgoff)	((u8)(0x40 + (pgoff)))

/*
 * The memory of a mapped space: owned by the space, see the top comment.
 * Folio spaces keep theirs in the space's page cache.
 */
struct kmap {
	enum lazymap_kind kind;
	struct page *pages[KMAP_PAGES];
	int mmaps;		/* calls of the file's mmap */
};

/* The kinds of space, a parameter of the suites that run on each. */
struct kind_case {
	const char *name;
	enum lazymap_kind kind;
};

const void *kmap_kind_gen_params(const void *prev, char *desc);

/* A space of @kind and a file to map it through. */
struct kmapping {
	enum lazymap_kind kind;
	struct lazymap_space *space;
	struct kmap *km;	/* valid while the test holds its reference */
	struct file *file;
};

struct kmapping *kmapping_create(struct kunit *test, enum lazymap_kind kind);
unsigned long kmapping_mmap(struct kunit *test, struct kmapping *m,
			    pgoff_t pgoff, unsigned long npages);

/* Read the first byte of the page at @addr: 0, or -EFAULT (SIGBUS). */
static inline int kmap_read(unsigned long addr, u8 *val)
{
	return get_user(*val, (u8 __user *)addr);
}

static inline int kmap_write(unsigned long addr, u8 val)
{
	return put_user(val, (u8 __user *)addr);
}

bool kmap_cached(struct kmapping *m, pgoff_t pgoff);
u8 kmap_byte(struct kmapping *m, pgoff_t pgoff);
bool kmap_mapped(struct kmapping *m, unsigned long addr, pgoff_t pgoff);

/* --- tracking records ---------------------------------------------------- */

/* A copy of a tracking record and of its VMA's range. */
struct krec {
	pid_t pid;
	char comm[TASK_COMM_LEN];
	unsigned long start, end, pgoff;
	u64 faults[LAZYMAP_NR_LEVELS];
	u64 zaps;
};

unsigned int krecs(struct kunit *test, struct lazymap_space *space,
		   struct krec *out, unsigned int max);
struct lazymap_vma *krec_find(struct lazymap_space *space,
			      struct vm_area_struct *vma);
struct krec krec_one(struct kunit *test, struct lazymap_space *space);

#endif /* _LAZYMAP_KUNIT_H */
