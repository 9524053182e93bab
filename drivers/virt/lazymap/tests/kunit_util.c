// SPDX-License-Identifier: GPL-2.0
/*
 * The helpers the KUnit suites of the lazymap core share (see
 * lazymap_kunit.h), and the test module's description: the suites are
 * one module, lazymap_kunit, one file each.
 */
#include <kunit/test.h>
#include <kunit/visibility.h>
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/lazymap.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "lazymap_kunit.h"

/* --- a provider for spaces that are never mapped ----------------------- */

static int kspace_resolve(struct lazymap_space *space, pgoff_t pgoff,
			  unsigned int order, struct lazymap_resolved *res)
{
	struct kspace *ks = lazymap_space_private(space);

	ks->resolves++;
	return -EIO;
}

static void kspace_release(struct lazymap_space *space)
{
	struct kspace *ks = lazymap_space_private(space);

	ks->releases++;
}

const struct lazymap_ops kspace_ops = {
	.resolve = kspace_resolve,
	.release = kspace_release,
};

/* Released before the test's memory (ks) is freed. */
static void kspace_put_action(void *space)
{
	lazymap_space_put(space);
	lazymap_wait_for_releases();
}

KUNIT_DEFINE_ACTION_WRAPPER(fput_action, fput, struct file *);

/*
 * An address_space for a space to adopt: not lazymap's (another space's
 * own mapping is refused), with what a folio space needs (dirty_folio):
 * an unlinked tmpfs file's, released with the test.
 */
struct address_space *kforeign_mapping(struct kunit *test)
{
	struct file *file;

	file = shmem_kernel_file_setup("kunit-lazymap", SZ_SPACE, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(file));
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, fput_action,
							file), 0);
	return file->f_mapping;
}

struct lazymap_space *kspace_create(struct kunit *test, struct kspace **ksp,
				    struct lazymap_space_params *extra)
{
	struct lazymap_space_params p = {
		.name = "kunit", .ops = &kspace_ops, .kind = LAZYMAP_KIND_PFN,
		.size = SZ_SPACE,
	};
	struct lazymap_space *space;
	struct kspace *ks;
	int ret;

	ks = kunit_kzalloc(test, sizeof(*ks), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ks);
	ks->test = test;
	if (extra) {
		p.kind = extra->kind;
		p.size = extra->size ?: p.size;
		p.mapping = extra->mapping;
		p.gate = extra->gate;
		p.name = extra->name ?: p.name;
	}
	p.private = ks;
	space = lazymap_space_create(&p);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, space);
	ret = kunit_add_action_or_reset(test, kspace_put_action, space);
	KUNIT_ASSERT_EQ(test, ret, 0);
	*ksp = ks;
	return space;
}

/* --- a counting listener ---------------------------------------------- */

void klistener_invalidate(struct lazymap_listener *l, pgoff_t start,
			  pgoff_t end, enum lazymap_inval_reason reason)
{
	struct klistener *kl = container_of(l, struct klistener, l);

	kl->calls++;
	kl->start = start;
	kl->end = end;
	kl->reason = reason;
}

static int klistener_release(struct lazymap_listener *l, pgoff_t start,
			     pgoff_t end)
{
	struct klistener *kl = container_of(l, struct klistener, l);

	kl->releases++;
	klistener_invalidate(l, start, end, LAZYMAP_INVAL_RELEASE);
	return kl->ret;
}

const struct lazymap_listener_ops klistener_ops = {
	.invalidate = klistener_invalidate,
	.release = klistener_release,
};

static void klistener_unregister_action(void *data)
{
	struct klistener *kl = data;

	lazymap_listener_unregister(&kl->l);
}

/* A counting listener over all of @space, unregistered with the test. */
struct klistener *klistener_add(struct kunit *test,
				struct lazymap_space *space)
{
	struct klistener *kl;
	int ret;

	kl = kunit_kzalloc(test, sizeof(*kl), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, kl);
	kl->l.ops = &klistener_ops;
	KUNIT_ASSERT_EQ(test, lazymap_listener_register(space, &kl->l, 0,
							SZ_SPACE >> PAGE_SHIFT),
			0);
	ret = kunit_add_action_or_reset(test, klistener_unregister_action, kl);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return kl;
}

/* --- spaces mapped through real VMAs ------------------------------------ */

static void kmap_free(struct kmap *km)
{
	int i;

	for (i = 0; i < KMAP_PAGES; i++)
		if (km->pages[i])
			__free_page(km->pages[i]);
	kfree(km);
}

static int kmap_resolve(struct lazymap_space *space, pgoff_t pgoff,
			unsigned int order, struct lazymap_resolved *res)
{
	struct kmap *km = lazymap_space_private(space);
	struct folio *folio;

	if (pgoff >= KMAP_PAGES)
		return -EIO;
	if (km->kind == LAZYMAP_KIND_FOLIO) {
		folio = lazymap_get_folio(space, pgoff, order);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		res->folio = folio;
		return 0;
	}
	res->page = km->pages[pgoff];
	res->pfn = page_to_pfn(km->pages[pgoff]);
	res->order = 0;
	return 0;
}

static void kmap_release(struct lazymap_space *space)
{
	kmap_free(lazymap_space_private(space));
}

static const struct lazymap_ops kmap_ops = {
	.resolve = kmap_resolve,
	.release = kmap_release,
};

/* The file a test maps: f_mapping is the space's, private_data the space. */
static int kmap_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct lazymap_space *space = file->private_data;
	struct kmap *km = lazymap_space_private(space);

	km->mmaps++;
	return lazymap_mmap(space, vma);
}

static const struct file_operations kmap_fops = {
	.owner = THIS_MODULE,
	.mmap = kmap_file_mmap,
};

static const struct kind_case kind_cases[] = {
	{ "page", LAZYMAP_KIND_PAGE },
	{ "pfn", LAZYMAP_KIND_PFN },
	{ "folio", LAZYMAP_KIND_FOLIO },
};

static void kind_desc(const struct kind_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(kind, kind_cases, kind_desc);

/* KUNIT_ARRAY_PARAM()'s generator is static: this one is every suite's. */
const void *kmap_kind_gen_params(const void *prev, char *desc)
{
	return kind_gen_params(prev, desc);
}

struct kmapping *kmapping_create(struct kunit *test, enum lazymap_kind kind)
{
	struct lazymap_space_params p = {
		.name = "kunit-vma", .ops = &kmap_ops, .kind = kind,
		.size = SZ_SPACE,
	};
	struct kmapping *m;
	struct kmap *km;
	int i, ret;

	m = kunit_kzalloc(test, sizeof(*m), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m);
	m->kind = kind;

	km = kzalloc(sizeof(*km), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, km);
	km->kind = kind;
	for (i = 0; kind != LAZYMAP_KIND_FOLIO && i < KMAP_PAGES; i++) {
		km->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!km->pages[i]) {
			kmap_free(km);
			KUNIT_FAIL_AND_ABORT(test, "no memory for the space");
		}
		memset_page(km->pages[i], 0, KMAP_BYTE(i), 1);
	}
	p.private = km;
	m->space = lazymap_space_create(&p);
	if (IS_ERR(m->space)) {
		kmap_free(km);
		KUNIT_FAIL_AND_ABORT(test, "lazymap_space_create: %ld",
				     PTR_ERR(m->space));
	}
	m->km = km;
	ret = kunit_add_action_or_reset(test, kspace_put_action, m->space);
	KUNIT_ASSERT_EQ(test, ret, 0);
	/* A folio space's memory is its page cache: fill it the same way. */
	for (i = 0; kind == LAZYMAP_KIND_FOLIO && i < KMAP_PAGES; i++) {
		struct folio *folio = lazymap_get_folio(m->space, i, 0);

		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, folio);
		memset_page(folio_file_page(folio, i), 0, KMAP_BYTE(i), 1);
		folio_put(folio);
	}

	m->file = anon_inode_getfile("[lazymap-kunit]", &kmap_fops, m->space,
				     O_RDWR);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, m->file);
	/* mmap() links the VMA into f_mapping: make it the space's. */
	m->file->f_mapping = lazymap_space_mapping(m->space);
	ret = kunit_add_action_or_reset(test, fput_action, m->file);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return m;
}

/* mmap @npages of the space from page offset @pgoff, shared, read-write. */
unsigned long kmapping_mmap(struct kunit *test, struct kmapping *m,
			    pgoff_t pgoff, unsigned long npages)
{
	unsigned long addr;

	addr = kunit_vm_mmap(test, m->file, 0, npages << PAGE_SHIFT,
			     PROT_READ | PROT_WRITE, MAP_SHARED,
			     pgoff << PAGE_SHIFT);
	KUNIT_ASSERT_TRUE_MSG(test, addr && !IS_ERR_VALUE(addr),
			      "mmap: %ld", (long)addr);
	return addr;
}

/* The page of the space's page cache at @pgoff, referenced, or NULL. */
static struct page *kmap_cache_page(struct kmapping *m, pgoff_t pgoff)
{
	struct folio *folio;

	folio = filemap_get_folio(lazymap_space_mapping(m->space), pgoff);
	return IS_ERR(folio) ? NULL : folio_file_page(folio, pgoff);
}

/* Is page offset @pgoff in the space's page cache? */
bool kmap_cached(struct kmapping *m, pgoff_t pgoff)
{
	struct page *page = kmap_cache_page(m, pgoff);
	bool cached = page;

	if (page)
		put_page(page);
	return cached;
}

/* The first byte of the memory at page offset @pgoff (0 if there is none). */
u8 kmap_byte(struct kmapping *m, pgoff_t pgoff)
{
	struct page *page;
	u8 val = 0;

	if (m->kind != LAZYMAP_KIND_FOLIO) {
		memcpy_from_page(&val, m->km->pages[pgoff], 0, 1);
		return val;
	}
	page = kmap_cache_page(m, pgoff);
	if (page) {
		memcpy_from_page(&val, page, 0, 1);
		put_page(page);
	}
	return val;
}

/*
 * Is page offset @pgoff mapped (at @addr)?  Pages and folios by their map
 * count (the test is their only user), pfns in the page tables.
 */
bool kmap_mapped(struct kmapping *m, unsigned long addr, pgoff_t pgoff)
{
	struct mm_struct *mm = current->mm;
	struct follow_pfnmap_args args = {};
	bool mapped = false;
	struct page *page;

	if (m->kind == LAZYMAP_KIND_PAGE)
		return page_mapped(m->km->pages[pgoff]);
	if (m->kind == LAZYMAP_KIND_FOLIO) {
		page = kmap_cache_page(m, pgoff);
		if (page) {
			mapped = folio_mapped(page_folio(page));
			put_page(page);
		}
		return mapped;
	}

	mmap_read_lock(mm);
	args.vma = vma_lookup(mm, addr);
	args.address = addr;
	if (args.vma && !follow_pfnmap_start(&args)) {
		mapped = args.pfn == page_to_pfn(m->km->pages[pgoff]);
		follow_pfnmap_end(&args);
	}
	mmap_read_unlock(mm);
	return mapped;
}

static void krec_copy(struct krec *r, struct lazymap_vma *rec)
{
	int i;

	r->pid = rec->pid;
	memcpy(r->comm, rec->comm, sizeof(r->comm));
	r->start = rec->vma->vm_start;
	r->end = rec->vma->vm_end;
	r->pgoff = rec->vma->vm_pgoff;
	for (i = 0; i < LAZYMAP_NR_LEVELS; i++)
		r->faults[i] = atomic64_read(&rec->faults[i]);
	r->zaps = atomic64_read(&rec->zaps);
}

static int krec_cmp(const void *a, const void *b)
{
	const struct krec *ra = a, *rb = b;

	return ra->start < rb->start ? -1 : ra->start > rb->start;
}

/*
 * Copy the space's records, at most @max, sorted by address; return how
 * many the space has.  Only the test thread changes its VMAs.
 */
unsigned int krecs(struct kunit *test, struct lazymap_space *space,
		   struct krec *out, unsigned int max)
{
	struct lazymap_vma *rec;
	unsigned long nr_vmas;
	unsigned int n = 0;

	mutex_lock(&space->vmas_lock);
	nr_vmas = space->nr_vmas;
	list_for_each_entry(rec, &space->vmas, link) {
		if (n < max)
			krec_copy(&out[n], rec);
		n++;
	}
	mutex_unlock(&space->vmas_lock);
	KUNIT_EXPECT_EQ(test, n, nr_vmas);
	sort(out, min(n, max), sizeof(*out), krec_cmp, NULL);
	return n;
}

/* The record of @vma, or NULL. */
struct lazymap_vma *krec_find(struct lazymap_space *space,
			      struct vm_area_struct *vma)
{
	struct lazymap_vma *rec, *found = NULL;

	mutex_lock(&space->vmas_lock);
	list_for_each_entry(rec, &space->vmas, link)
		if (rec->vma == vma)
			found = rec;
	mutex_unlock(&space->vmas_lock);
	return found;
}

/* The one record of a space; aborts the test if there is not exactly one. */
struct krec krec_one(struct kunit *test, struct lazymap_space *space)
{
	struct krec r[2] = {};

	KUNIT_ASSERT_EQ(test, krecs(test, space, r, ARRAY_SIZE(r)), 1);
	return r[0];
}

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
MODULE_DESCRIPTION("KUnit tests for lazymap");
MODULE_LICENSE("GPL");
