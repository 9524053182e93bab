// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap test provider: /dev/lazymap-test (CONFIG_LAZYMAP_TEST).
 *
 * LAZYMAP_TEST_CREATE makes a space of RAM, allocated on first fault in
 * naturally aligned blocks of 2^max_order pages (a folio space: folios of
 * the space's page cache of up to that order), and returns a file for it:
 * mmap() of the file goes through lazymap_mmap() and the file's ioctls zap,
 * revoke, restore, fill and discard ranges and register counting
 * listeners, so the selftests exercise the core's real mmap, fault and zap
 * paths; LISTENER_CYCLE races a listener's register, lookups and unregister
 * against them.  See lazymap_test.h for the interface.
 *
 * Lifetime: struct lazymap_test_space is the space's private data and is
 * freed by the space's release op, after the file and every VMA are gone.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/idr.h>
#include <linux/lazymap.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "lazymap_test.h"

struct lazymap_test_listener {
	struct lazymap_listener listener;
	atomic64_t pages;
};

struct lazymap_test_space {
	struct lazymap_space *space;
	u32 id;
	unsigned int order;	/* backing block order */
	u64 length;
	bool folio;		/* LAZYMAP_TEST_FOLIO: memory in the page cache */
	/*
	 * Not folio: block index -> folio of 2^order pages, xa_cmpxchg() on
	 * allocation, and the pages these hold.
	 */
	struct xarray blocks;
	atomic64_t pages;
	/* Protects nr_listeners and registration of listeners[]. */
	struct mutex lock;
	unsigned int nr_listeners;
	struct lazymap_test_listener listeners[LAZYMAP_TEST_MAX_LISTENERS];
};

static DEFINE_IDA(lazymap_test_ida);

/* Return the block's folio, allocating it on first use. */
static struct folio *lazymap_test_block(struct lazymap_test_space *ts,
					unsigned long block)
{
	struct folio *folio, *old;

	folio = xa_load(&ts->blocks, block);
	if (folio)
		return folio;
	folio = folio_alloc(GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN, ts->order);
	if (!folio)
		return ERR_PTR(-ENOMEM);
	old = xa_cmpxchg(&ts->blocks, block, NULL, folio, GFP_KERNEL);
	if (old) {
		folio_put(folio);
		return xa_is_err(old) ? ERR_PTR(xa_err(old)) : old;
	}
	atomic64_add(folio_nr_pages(folio), &ts->pages);
	return folio;
}

/* The page backing @pgoff, allocating it; a reference for folio spaces. */
static struct page *lazymap_test_page(struct lazymap_test_space *ts,
				      pgoff_t pgoff)
{
	struct folio *folio;

	if (ts->folio)
		folio = lazymap_get_folio(ts->space, pgoff, ts->order);
	else
		folio = lazymap_test_block(ts, pgoff >> ts->order);
	if (IS_ERR(folio))
		return ERR_CAST(folio);
	return folio_file_page(folio, pgoff);
}

static int lazymap_test_resolve(struct lazymap_space *space, pgoff_t pgoff,
				unsigned int order, struct lazymap_resolved *res)
{
	struct lazymap_test_space *ts = lazymap_space_private(space);
	struct folio *folio;

	if (ts->folio) {
		folio = lazymap_get_folio(space, pgoff, min(order, ts->order));
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		res->folio = folio;
		return 0;
	}
	folio = lazymap_test_block(ts, pgoff >> ts->order);
	if (IS_ERR(folio))
		return PTR_ERR(folio);
	res->pfn = folio_pfn(folio);
	res->page = folio_page(folio, pgoff & ((1UL << ts->order) - 1));
	res->order = ts->order;
	return 0;
}

static void lazymap_test_release(struct lazymap_space *space)
{
	struct lazymap_test_space *ts = lazymap_space_private(space);
	struct folio *folio;
	unsigned long index;

	xa_for_each(&ts->blocks, index, folio)
		folio_put(folio);
	xa_destroy(&ts->blocks);
	ida_free(&lazymap_test_ida, ts->id);
	mutex_destroy(&ts->lock);
	kfree(ts);
}

static const struct lazymap_ops lazymap_test_ops = {
	.resolve = lazymap_test_resolve,
	.release = lazymap_test_release,
};

static void lazymap_test_invalidate(struct lazymap_listener *listener,
				    pgoff_t start, pgoff_t end,
				    enum lazymap_inval_reason reason)
{
	struct lazymap_test_listener *tl =
		container_of(listener, struct lazymap_test_listener, listener);

	atomic64_add(end - start, &tl->pages);
}

static const struct lazymap_listener_ops lazymap_test_listener_ops = {
	.invalidate = lazymap_test_invalidate,
};

/*
 * Copy an ioctl argument whose first u32 is its size: smaller than @ksize
 * is -EINVAL, larger with a non-zero tail is -E2BIG.
 */
static int lazymap_test_copy_arg(void *dst, size_t ksize, void __user *uarg)
{
	u32 usize;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < ksize)
		return -EINVAL;
	return copy_struct_from_user(dst, ksize, uarg, usize);
}

static int lazymap_test_fill(struct lazymap_test_space *ts, u64 offset,
			     u64 len, u8 value)
{
	struct rw_semaphore *gate = lazymap_space_gate(ts->space);
	pgoff_t pgoff;
	int ret = 0;

	/* Exclude DISCARD, which frees blocks with the gate held for write. */
	down_read(gate);
	for (pgoff = offset >> PAGE_SHIFT; pgoff < (offset + len) >> PAGE_SHIFT;
	     pgoff++) {
		struct page *page = lazymap_test_page(ts, pgoff);

		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			break;
		}
		memset_page(page, 0, value, PAGE_SIZE);
		if (ts->folio)
			folio_put(page_folio(page));
		/* Up to 1 GiB: let the OOM killer's victim go. */
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	up_read(gate);
	return ret;
}

static int lazymap_test_discard(struct lazymap_test_space *ts, u64 offset,
				u64 len)
{
	struct rw_semaphore *gate = lazymap_space_gate(ts->space);
	u64 block_size = PAGE_SIZE << ts->order;
	unsigned long block;
	pgoff_t pgoff;
	int ret = 0;

	if (!IS_ALIGNED(offset, block_size) || !IS_ALIGNED(len, block_size))
		return -EINVAL;
	down_write(gate);
	/* Revoked throughout: every page, not just the range's ends. */
	for (pgoff = offset >> PAGE_SHIFT; pgoff < (offset + len) >> PAGE_SHIFT;
	     pgoff++) {
		if (!lazymap_range_revoked(ts->space, pgoff, pgoff + 1)) {
			ret = -EBUSY;
			goto out;
		}
	}
	if (ts->folio) {
		/* Launders the folios: see lazymap_folio_aops. */
		truncate_inode_pages_range(lazymap_space_mapping(ts->space),
					   offset, offset + len - 1);
		goto out;
	}
	for (block = offset / block_size; block < (offset + len) / block_size;
	     block++) {
		struct folio *folio = xa_erase(&ts->blocks, block);

		if (folio) {
			atomic64_sub(folio_nr_pages(folio), &ts->pages);
			folio_put(folio);
		}
	}
out:
	up_write(gate);
	return ret;
}

static int lazymap_test_listen(struct lazymap_test_space *ts, u64 offset,
			       u64 len)
{
	struct lazymap_test_listener *tl;
	int ret;

	guard(mutex)(&ts->lock);
	if (ts->nr_listeners == LAZYMAP_TEST_MAX_LISTENERS)
		return -ENOSPC;
	tl = &ts->listeners[ts->nr_listeners];
	tl->listener.ops = &lazymap_test_listener_ops;
	atomic64_set(&tl->pages, 0);
	ret = lazymap_listener_register(ts->space, &tl->listener,
					offset >> PAGE_SHIFT,
					(offset + len) >> PAGE_SHIFT);
	if (ret)
		return ret;
	return ts->nr_listeners++;
}

static int lazymap_test_stats(struct lazymap_test_space *ts, void __user *uarg)
{
	struct lazymap_test_stats out;
	struct lazymap_stats st;
	unsigned int i;
	int ret;

	ret = lazymap_test_copy_arg(&out, sizeof(out), uarg);
	if (ret)
		return ret;
	if (out.pad)
		return -EINVAL;
	lazymap_space_stats(ts->space, &st);
	memset(&out, 0, sizeof(out));
	out.size = sizeof(out);
	for (i = 0; i < 3; i++)
		out.faults[i] = st.faults[i];
	out.fallbacks = st.fallbacks;
	out.sigbus = st.sigbus;
	out.zaps = st.zaps;
	out.revokes = st.revokes;
	out.restores = st.restores;
	out.mappings = st.mappings;
	if (ts->folio)
		out.pages = READ_ONCE(lazymap_space_mapping(ts->space)->nrpages);
	else
		out.pages = atomic64_read(&ts->pages);
	mutex_lock(&ts->lock);
	for (i = 0; i < ts->nr_listeners; i++)
		out.listener_pages[i] = atomic64_read(&ts->listeners[i].pages);
	mutex_unlock(&ts->lock);
	return copy_to_user(uarg, &out, sizeof(out)) ? -EFAULT : 0;
}

/*
 * LISTENER_CYCLE: a listener of the call's own, with a software stage 2
 * of one pfn per page of its range (0: none), as a guest's would be.
 * @lock is the listener's own lock: it protects @s2 and @invalidated, is
 * taken by the invalidate callback and held around the retry check and
 * the install, and nothing is allocated under it (reclaim may invalidate).
 */
struct lazymap_test_cycler {
	struct lazymap_listener listener;
	struct lazymap_test_space *ts;
	/* Protects s2 and invalidated: the listener's own lock. */
	struct mutex lock;
	pgoff_t start;
	unsigned long nr;
	unsigned long *s2;
	u64 invalidated;
};

static void lazymap_test_cycler_invalidate(struct lazymap_listener *listener,
					   pgoff_t start, pgoff_t end,
					   enum lazymap_inval_reason reason)
{
	struct lazymap_test_cycler *c =
		container_of(listener, struct lazymap_test_cycler, listener);
	pgoff_t pgoff;

	guard(mutex)(&c->lock);
	for (pgoff = start; pgoff < end; pgoff++)
		c->s2[pgoff - c->start] = 0;
	c->invalidated += end - start;
}

static const struct lazymap_listener_ops lazymap_test_cycler_ops = {
	.invalidate = lazymap_test_cycler_invalidate,
};

/* The pfn backing @pgoff now, or 0 if nothing does; the gate held. */
static unsigned long lazymap_test_backing_pfn(struct lazymap_test_space *ts,
					      pgoff_t pgoff)
{
	struct folio *folio;
	unsigned long pfn;

	lockdep_assert_held(lazymap_space_gate(ts->space));
	if (!ts->folio) {
		folio = xa_load(&ts->blocks, pgoff >> ts->order);
		return folio ? folio_pfn(folio) +
			       (pgoff & ((1UL << ts->order) - 1)) : 0;
	}
	folio = filemap_get_folio(lazymap_space_mapping(ts->space), pgoff);
	if (IS_ERR(folio))
		return 0;
	pfn = folio_pfn(folio) + (pgoff - folio->index);
	folio_put(folio);
	return pfn;
}

/*
 * Every installed entry maps what backs its page and is not revoked:
 * with the gate held for read no zap, revoke or discard is between its
 * backing change and its invalidation of the listener.
 */
static int lazymap_test_cycler_check(struct lazymap_test_cycler *c,
				     struct lazymap_test_cycle *out)
{
	struct lazymap_space *space = c->ts->space;
	unsigned long i, pfn;
	int ret = 0;

	guard(rwsem_read)(lazymap_space_gate(space));
	guard(mutex)(&c->lock);
	for (i = 0; i < c->nr; i++) {
		pfn = c->s2[i];
		if (!pfn)
			continue;
		out->checked++;
		if (lazymap_range_revoked(space, c->start + i,
					  c->start + i + 1) ||
		    lazymap_test_backing_pfn(c->ts, c->start + i) != pfn) {
			pr_err("lazymap_test: stale listener entry at page %lu\n",
			       c->start + i);
			ret = -EIO;
			break;
		}
	}
	return ret;
}

/* xorshift32: the offsets of one call, reproducible from its seed. */
static u32 lazymap_test_rnd(u32 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* One lookup, and the install of its block unless the retry refuses it. */
static int lazymap_test_cycler_fault(struct lazymap_test_cycler *c,
				     pgoff_t pgoff, unsigned int order,
				     struct lazymap_test_cycle *out)
{
	struct lazymap_lookup lk;
	unsigned long i;
	int ret;

	ret = lazymap_listener_lookup(&c->listener, pgoff, order, &lk);
	if (ret == -EACCES || ret == -ENXIO || ret == -EHWPOISON) {
		out->refused++;
		return 0;
	}
	if (ret)
		return ret;
	scoped_guard(mutex, &c->lock) {
		if (lazymap_listener_retry(&c->listener, &lk)) {
			out->retries++;
			break;
		}
		for (i = 0; i < 1UL << lk.order; i++)
			c->s2[lk.start + i - c->start] =
				lk.pfn - (pgoff - lk.start) + i;
		out->installed++;
	}
	lazymap_lookup_put(&lk);
	return 0;
}

static int lazymap_test_cycle(struct lazymap_test_space *ts,
			      void __user *uarg)
{
	struct lazymap_test_cycler *c;
	struct lazymap_test_cycle a;
	unsigned int i, order;
	u32 s, r;
	u64 end;
	int ret, err;

	ret = lazymap_test_copy_arg(&a, sizeof(a), uarg);
	if (ret)
		return ret;
	if (a.flags || !a.rounds || a.rounds > LAZYMAP_TEST_MAX_CYCLE_ROUNDS ||
	    !a.seed || a.installed || a.retries || a.refused ||
	    a.invalidated || a.checked || !a.length ||
	    a.length > LAZYMAP_TEST_MAX_CYCLE_LENGTH ||
	    !PAGE_ALIGNED(a.offset) || !PAGE_ALIGNED(a.length) ||
	    check_add_overflow(a.offset, a.length, &end) || end > ts->length)
		return -EINVAL;

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	c->ts = ts;
	c->start = a.offset >> PAGE_SHIFT;
	c->nr = a.length >> PAGE_SHIFT;
	c->s2 = kvcalloc(c->nr, sizeof(*c->s2), GFP_KERNEL);
	if (!c->s2) {
		ret = -ENOMEM;
		goto out_free;
	}
	mutex_init(&c->lock);
	c->listener.ops = &lazymap_test_cycler_ops;
	ret = lazymap_listener_register(ts->space, &c->listener, c->start,
					c->start + c->nr);
	if (ret)
		goto out_destroy;

	s = a.seed;
	for (i = 0; i < a.rounds && !ret; i++) {
		r = lazymap_test_rnd(&s);
		order = r & 1 ? ts->order : 0;
		ret = lazymap_test_cycler_fault(c, c->start + (r >> 1) % c->nr,
						order, &a);
		if (!ret && (i % 16 == 15 || i == a.rounds - 1))
			ret = lazymap_test_cycler_check(c, &a);
		cond_resched();
	}

	/* The entries go first: no invalidation reaches them afterwards. */
	scoped_guard(mutex, &c->lock)
		memset(c->s2, 0, c->nr * sizeof(*c->s2));
	lazymap_listener_unregister(&c->listener);
	a.invalidated = c->invalidated;
	if (!ret || ret == -EIO) {
		err = copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : 0;
		ret = ret ?: err;
	}
out_destroy:
	mutex_destroy(&c->lock);
	kvfree(c->s2);
out_free:
	kfree(c);
	return ret;
}

static long lazymap_test_space_ioctl(struct file *file, unsigned int cmd,
				     unsigned long arg)
{
	struct lazymap_test_space *ts = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct lazymap_test_range r;
	pgoff_t start;
	u64 end;
	int ret;

	switch (cmd) {
	case LAZYMAP_TEST_STATS:
		return lazymap_test_stats(ts, uarg);
	case LAZYMAP_TEST_LISTENER_CYCLE:
		return lazymap_test_cycle(ts, uarg);
	case LAZYMAP_TEST_ZAP:
	case LAZYMAP_TEST_REVOKE:
	case LAZYMAP_TEST_RESTORE:
	case LAZYMAP_TEST_FILL:
	case LAZYMAP_TEST_DISCARD:
	case LAZYMAP_TEST_LISTEN:
		break;
	default:
		return -ENOTTY;
	}

	ret = lazymap_test_copy_arg(&r, sizeof(r), uarg);
	if (ret)
		return ret;
	if (r.flags || (cmd == LAZYMAP_TEST_FILL ? r.value > 0xff : r.value))
		return -EINVAL;
	if (!r.length || !PAGE_ALIGNED(r.offset) || !PAGE_ALIGNED(r.length) ||
	    check_add_overflow(r.offset, r.length, &end) || end > ts->length)
		return -EINVAL;

	start = r.offset >> PAGE_SHIFT;
	switch (cmd) {
	case LAZYMAP_TEST_ZAP:
		return lazymap_zap(ts->space, start, end >> PAGE_SHIFT);
	case LAZYMAP_TEST_REVOKE:
		return lazymap_revoke(ts->space, start, end >> PAGE_SHIFT);
	case LAZYMAP_TEST_RESTORE:
		return lazymap_restore(ts->space, start, end >> PAGE_SHIFT);
	case LAZYMAP_TEST_FILL:
		return lazymap_test_fill(ts, r.offset, r.length, r.value);
	case LAZYMAP_TEST_DISCARD:
		return lazymap_test_discard(ts, r.offset, r.length);
	default:
		return lazymap_test_listen(ts, r.offset, r.length);
	}
}

static int lazymap_test_space_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct lazymap_test_space *ts = file->private_data;

	return lazymap_mmap(ts->space, vma);
}

static int lazymap_test_space_release(struct inode *inode, struct file *file)
{
	struct lazymap_test_space *ts = file->private_data;
	unsigned int i;

	/* Listeners go with the file; VMAs may keep the space alive. */
	mutex_lock(&ts->lock);
	for (i = 0; i < ts->nr_listeners; i++)
		lazymap_listener_unregister(&ts->listeners[i].listener);
	ts->nr_listeners = 0;
	mutex_unlock(&ts->lock);
	lazymap_space_put(ts->space);
	return 0;
}

static const struct file_operations lazymap_test_space_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = lazymap_test_space_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = lazymap_test_space_mmap,
	.release = lazymap_test_space_release,
};

/* Folio spaces: line PMD blocks up with PMDs where THP can map them. */
static const struct file_operations lazymap_test_folio_space_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = lazymap_test_space_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = lazymap_test_space_mmap,
	.get_unmapped_area = thp_get_unmapped_area,
	.release = lazymap_test_space_release,
};

static int lazymap_test_create(void __user *uarg)
{
	struct lazymap_space_params params = {};
	struct lazymap_test_create c;
	struct lazymap_test_space *ts;
	char name[32];
	struct file *file;
	int fd, ret;

	ret = lazymap_test_copy_arg(&c, sizeof(c), uarg);
	if (ret)
		return ret;
	if ((c.flags & ~(LAZYMAP_TEST_PFN | LAZYMAP_TEST_FOLIO)) ||
	    (c.flags & LAZYMAP_TEST_PFN && c.flags & LAZYMAP_TEST_FOLIO) ||
	    c.id || c.max_order > min(LAZYMAP_TEST_MAX_ORDER, MAX_PAGE_ORDER) ||
	    (c.flags & LAZYMAP_TEST_FOLIO &&
	     c.max_order > LAZYMAP_TEST_MAX_FOLIO_ORDER) ||
	    !c.length || c.length > LAZYMAP_TEST_MAX_LENGTH ||
	    !IS_ALIGNED(c.length, PAGE_SIZE << c.max_order))
		return -EINVAL;

	ts = kzalloc(sizeof(*ts), GFP_KERNEL_ACCOUNT);
	if (!ts)
		return -ENOMEM;
	ts->order = c.max_order;
	ts->length = c.length;
	ts->folio = c.flags & LAZYMAP_TEST_FOLIO;
	xa_init(&ts->blocks);
	mutex_init(&ts->lock);
	ret = ida_alloc(&lazymap_test_ida, GFP_KERNEL);
	if (ret < 0)
		goto err_free_ts;
	ts->id = ret;

	snprintf(name, sizeof(name), "test-%u", ts->id);
	params.name = name;
	params.ops = &lazymap_test_ops;
	if (c.flags & LAZYMAP_TEST_PFN)
		params.kind = LAZYMAP_KIND_PFN;
	else if (c.flags & LAZYMAP_TEST_FOLIO)
		params.kind = LAZYMAP_KIND_FOLIO;
	else
		params.kind = LAZYMAP_KIND_PAGE;
	params.size = c.length;
	params.private = ts;
	ts->space = lazymap_space_create(&params);
	if (IS_ERR(ts->space)) {
		ret = PTR_ERR(ts->space);
		goto err_free_id;
	}
	/* From here the space owns ts: its release op frees it. */

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto err_put_space;
	}
	file = anon_inode_getfile("[lazymap-test]",
				  ts->folio ? &lazymap_test_folio_space_fops :
					      &lazymap_test_space_fops,
				  ts, O_RDWR);
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		goto err_put_fd;
	}
	/* mmap() links VMAs into f_mapping: make it the space's. */
	file->f_mapping = lazymap_space_mapping(ts->space);

	c.id = ts->id;
	if (copy_to_user(uarg, &c, sizeof(c))) {
		/* The file's release drops the space reference. */
		fput(file);
		put_unused_fd(fd);
		return -EFAULT;
	}
	fd_install(fd, file);
	return fd;

err_put_fd:
	put_unused_fd(fd);
err_put_space:
	lazymap_space_put(ts->space);
	return ret;
err_free_id:
	ida_free(&lazymap_test_ida, ts->id);
err_free_ts:
	mutex_destroy(&ts->lock);
	kfree(ts);
	return ret;
}

static long lazymap_test_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	if (cmd != LAZYMAP_TEST_CREATE)
		return -ENOTTY;
	return lazymap_test_create((void __user *)arg);
}

static const struct file_operations lazymap_test_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = lazymap_test_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice lazymap_test_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "lazymap-test",
	.fops = &lazymap_test_fops,
	.mode = 0600,
};

static int __init lazymap_test_init(void)
{
	return misc_register(&lazymap_test_misc);
}

/*
 * A space's last reference may be a VMA's, whose file pinned this module
 * until munmap() dropped it: wait for the release work, which calls this
 * module's ops->release().
 */
static void __exit lazymap_test_exit(void)
{
	misc_deregister(&lazymap_test_misc);
	lazymap_wait_for_releases();
}

module_init(lazymap_test_init);
module_exit(lazymap_test_exit);

MODULE_DESCRIPTION("lazymap test provider (selftests only)");
MODULE_LICENSE("GPL");
