// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the listener protocol: a lookup and an invalidation (zap,
 * revoke, restore, truncation, release) meet at every interleaving point.
 *
 * The listener is a small software stage 2 (struct s2: an array of pfns
 * under its own mutex) whose fault path is the one the documentation
 * shows: lazymap_listener_lookup(), then under its lock
 * lazymap_listener_retry() and the install, then lazymap_lookup_put().
 * The fault is driven step by step; the core's KUnit hook
 * (lazymap_kunit_hook.fn) runs the other side at a chosen point, on the same
 * thread, so every interleaving is deterministic.  After each case the
 * stage 2 must map nothing stale and the fault must have finished.
 */
#include <kunit/test.h>
#include <linux/lazymap.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/workqueue.h>

#include "../lazymap_internal.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define LS_PAGES	16
#define LS_ORDER	4	/* the pfn and page spaces: one block */
#define LS_PGOFF	5	/* the offset every case faults on */

/* A space of LS_PAGES backed by one folio, or by its own page cache. */
struct lspace {
	struct lazymap_space *space;
	struct folio *block;	/* pfn and page spaces */
};

static int lspace_resolve(struct lazymap_space *space, pgoff_t pgoff,
			  unsigned int order, struct lazymap_resolved *res)
{
	struct lspace *ls = lazymap_space_private(space);
	struct folio *folio;

	if (!ls->block) {
		folio = lazymap_get_folio(space, pgoff, order);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		res->folio = folio;
		return 0;
	}
	res->pfn = folio_pfn(ls->block);
	res->page = folio_page(ls->block, pgoff);
	res->order = LS_ORDER;
	return 0;
}

static const struct lazymap_ops lspace_ops = {
	.resolve = lspace_resolve,
};

static void lspace_put_action(void *data)
{
	struct lspace *ls = data;

	lazymap_space_put(ls->space);
	lazymap_wait_for_releases();
	if (ls->block)
		folio_put(ls->block);
}

static struct lspace *lspace_create(struct kunit *test, enum lazymap_kind kind)
{
	struct lazymap_space_params p = {
		.name = "kunit-listener", .ops = &lspace_ops, .kind = kind,
		.size = LS_PAGES * PAGE_SIZE,
	};
	struct lspace *ls;
	int ret;

	ls = kunit_kzalloc(test, sizeof(*ls), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ls);
	if (kind != LAZYMAP_KIND_FOLIO) {
		ls->block = folio_alloc(GFP_KERNEL | __GFP_ZERO, LS_ORDER);
		KUNIT_ASSERT_NOT_NULL(test, ls->block);
	}
	p.private = ls;
	ls->space = lazymap_space_create(&p);
	if (IS_ERR(ls->space) && ls->block)
		folio_put(ls->block);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ls->space));
	ret = kunit_add_action_or_reset(test, lspace_put_action, ls);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return ls;
}

/* The software stage 2: pfn[i] maps page offset i, 0 if nothing. */
struct s2 {
	struct lazymap_listener l;
	struct mutex lock;	/* the listener's own lock: pfn[], refuse */
	unsigned long pfn[LS_PAGES];
	bool refuse;		/* release answers -EBUSY */
	int invalidations;
};

static void s2_invalidate(struct lazymap_listener *l, pgoff_t start,
			  pgoff_t end, enum lazymap_inval_reason reason)
{
	struct s2 *s = container_of(l, struct s2, l);
	pgoff_t i;

	mutex_lock(&s->lock);
	for (i = start; i < end; i++)
		s->pfn[i] = 0;
	s->invalidations++;
	mutex_unlock(&s->lock);
}

static int s2_release(struct lazymap_listener *l, pgoff_t start, pgoff_t end)
{
	struct s2 *s = container_of(l, struct s2, l);

	if (READ_ONCE(s->refuse))
		return -EBUSY;
	s2_invalidate(l, start, end, LAZYMAP_INVAL_RELEASE);
	return 0;
}

static const struct lazymap_listener_ops s2_ops = {
	.invalidate = s2_invalidate,
	.release = s2_release,
};

static void s2_unregister_action(void *data)
{
	struct s2 *s = data;

	lazymap_listener_unregister(&s->l);
	mutex_destroy(&s->lock);
}

static struct s2 *s2_create(struct kunit *test, struct lspace *ls)
{
	struct s2 *s;
	int ret;

	s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s);
	mutex_init(&s->lock);
	s->l.ops = &s2_ops;
	KUNIT_ASSERT_EQ(test, lazymap_listener_register(ls->space, &s->l, 0,
							LS_PAGES), 0);
	ret = kunit_add_action_or_reset(test, s2_unregister_action, s);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return s;
}

/* One fault of the stage 2, as a state machine the hooks can step. */
enum s2_state { S2_LOOKUP, S2_INSTALL, S2_DONE };

struct s2_fault {
	struct s2 *s;
	pgoff_t pgoff;
	unsigned int order;
	enum s2_state state;
	struct lazymap_lookup lk;
	int err;
	int lookups;
	int retries;
};

static void s2_lookup_step(struct s2_fault *f)
{
	f->lookups++;
	f->err = lazymap_listener_lookup(&f->s->l, f->pgoff, f->order, &f->lk);
	f->state = f->err ? S2_DONE : S2_INSTALL;
}

/* The listener's half under its own lock: retry or install. */
static void s2_install_step(struct s2_fault *f)
{
	struct s2 *s = f->s;
	pgoff_t i;

	mutex_lock(&s->lock);
	if (lazymap_listener_retry(&s->l, &f->lk)) {
		f->retries++;
		f->state = S2_LOOKUP;
	} else {
		for (i = 0; i < (1UL << f->lk.order); i++)
			s->pfn[f->lk.start + i] = f->lk.pfn -
						  (f->pgoff - f->lk.start) + i;
		f->state = S2_DONE;
	}
	mutex_unlock(&s->lock);
	lazymap_lookup_put(&f->lk);
}

/* The pfn now backing @pgoff, 0 if none (revoked, not in the cache). */
static unsigned long lspace_pfn(struct lspace *ls, pgoff_t pgoff)
{
	struct folio *folio;
	unsigned long pfn;

	if (lazymap_range_revoked(ls->space, pgoff, pgoff + 1))
		return 0;
	if (ls->block)
		return folio_pfn(ls->block) + pgoff;
	folio = filemap_get_folio(lazymap_space_mapping(ls->space), pgoff);
	if (IS_ERR(folio))
		return 0;
	pfn = folio_pfn(folio) + pgoff - folio->index;
	folio_put(folio);
	return pfn;
}

/* Nothing stale: every entry maps what backs its offset now. */
static void s2_check(struct kunit *test, struct lspace *ls, struct s2 *s)
{
	pgoff_t i;

	mutex_lock(&s->lock);
	for (i = 0; i < LS_PAGES; i++)
		if (s->pfn[i])
			KUNIT_EXPECT_EQ_MSG(test, s->pfn[i], lspace_pfn(ls, i),
					    "stale entry at %lu", i);
	mutex_unlock(&s->lock);
}

/* --- the interleavings ------------------------------------------------ */

enum lop { LOP_ZAP, LOP_REVOKE, LOP_RESTORE, LOP_TRUNCATE, LOP_RELEASE };

/* Where the invalidation meets the fault. */
enum lwhere {
	LW_BEFORE,		/* before the lookup */
	LW_LOOKUP_SEQ,		/* in the lookup, sequence read */
	LW_LOOKUP_RESOLVED,	/* in the lookup, provider answered */
	LW_BETWEEN,		/* after the lookup, before the lock */
	LW_INVAL_BEGUN,		/* install step runs inside: begun */
	LW_INVAL_CALLED,	/* install step runs inside: called */
	LW_AFTER,		/* after the install */
};

#define LW_NR	(LW_AFTER + 1)

struct lcase {
	enum lazymap_kind kind;
	enum lop op;
	enum lwhere where;
};

struct lctx {
	struct kunit *test;
	struct lspace *ls;
	struct s2_fault f;
	const struct lcase *c;
	bool op_done;
	bool stepped;		/* the install step ran inside the op */
	bool excluded;		/* a gate op found the gate held by the lookup */
};

static struct lctx *lctx_current;

/* The invalidation under test, over the faulting page. */
static void lctx_op(struct lctx *x)
{
	struct lazymap_space *space = x->ls->space;
	struct address_space *mapping = lazymap_space_mapping(space);
	struct kunit *test = x->test;
	struct folio *folio;

	x->op_done = true;
	switch (x->c->op) {
	case LOP_ZAP:
		KUNIT_EXPECT_EQ(test, lazymap_zap(space, 0, LS_PAGES), 0);
		break;
	case LOP_REVOKE:
		KUNIT_EXPECT_EQ(test, lazymap_revoke(space, LS_PGOFF,
						     LS_PGOFF + 1), 0);
		break;
	case LOP_RESTORE:
		KUNIT_EXPECT_EQ(test, lazymap_restore(space, 0, LS_PAGES), 0);
		break;
	case LOP_TRUNCATE:
		truncate_inode_pages_range(mapping, 0, LS_PAGES * PAGE_SIZE - 1);
		break;
	case LOP_RELEASE:
		folio = filemap_lock_folio(mapping, LS_PGOFF);
		if (IS_ERR(folio))
			break;
		KUNIT_EXPECT_TRUE(test, lazymap_release_folio(space, folio));
		folio_unlock(folio);
		folio_put(folio);
		break;
	}
}

static bool lop_takes_gate(enum lop op)
{
	return op == LOP_ZAP || op == LOP_REVOKE || op == LOP_RESTORE;
}

static void lctx_hook(struct lazymap_space *space, enum lazymap_hook_point point)
{
	struct lctx *x = READ_ONCE(lctx_current);

	if (!x || space != x->ls->space)
		return;
	switch (point) {
	case LAZYMAP_HOOK_LOOKUP_SEQ:
	case LAZYMAP_HOOK_LOOKUP_RESOLVED:
		if (x->op_done ||
		    x->c->where != (point == LAZYMAP_HOOK_LOOKUP_SEQ ?
				    LW_LOOKUP_SEQ : LW_LOOKUP_RESOLVED))
			return;
		if (lop_takes_gate(x->c->op)) {
			/* The gate excludes it: the lookup holds it for read. */
			KUNIT_EXPECT_FALSE(x->test,
					   down_write_trylock(lazymap_space_gate(space)));
			x->excluded = true;
			return;
		}
		lctx_op(x);
		return;
	case LAZYMAP_HOOK_INVAL_BEGUN:
	case LAZYMAP_HOOK_INVAL_CALLED:
		if (x->stepped || x->f.state != S2_INSTALL ||
		    x->c->where != (point == LAZYMAP_HOOK_INVAL_BEGUN ?
				    LW_INVAL_BEGUN : LW_INVAL_CALLED))
			return;
		x->stepped = true;
		s2_install_step(&x->f);
		/* Inside an invalidation of the block: must not install. */
		KUNIT_EXPECT_EQ(x->test, x->f.state, S2_LOOKUP);
		return;
	default:
		return;
	}
}

static void lctx_unhook(void *data)
{
	WRITE_ONCE(lazymap_kunit_hook.fn, NULL);
	WRITE_ONCE(lctx_current, NULL);
}

/* Each kind with each invalidation it has, at every point. */
static const struct {
	enum lazymap_kind kind;
	enum lop op;
} lpairs[] = {
	{ LAZYMAP_KIND_PFN, LOP_ZAP }, { LAZYMAP_KIND_PFN, LOP_REVOKE },
	{ LAZYMAP_KIND_PFN, LOP_RESTORE },
	{ LAZYMAP_KIND_PAGE, LOP_ZAP }, { LAZYMAP_KIND_PAGE, LOP_REVOKE },
	{ LAZYMAP_KIND_FOLIO, LOP_ZAP }, { LAZYMAP_KIND_FOLIO, LOP_REVOKE },
	{ LAZYMAP_KIND_FOLIO, LOP_RESTORE }, { LAZYMAP_KIND_FOLIO, LOP_TRUNCATE },
	{ LAZYMAP_KIND_FOLIO, LOP_RELEASE },
};

static const char * const lkind_names[] = { "pfn", "page", "folio" };
static const char * const lop_names[] = {
	"zap", "revoke", "restore", "truncate", "release",
};

static const char * const lwhere_names[] = {
	"before", "lookup_seq", "lookup_resolved", "between", "inval_begun",
	"inval_called", "after",
};

static struct lcase lcases[ARRAY_SIZE(lpairs) * LW_NR];

static const void *lcase_gen_params(const void *prev, char *desc)
{
	const struct lcase *c;
	unsigned int i;

	i = prev ? (const struct lcase *)prev - lcases + 1 : 0;
	for (; i < ARRAY_SIZE(lcases); i++) {
		c = &lcases[i];
		lcases[i].kind = lpairs[i / LW_NR].kind;
		lcases[i].op = lpairs[i / LW_NR].op;
		lcases[i].where = i % LW_NR;
		/* Restore begins no invalidation: nothing runs inside it. */
		if (c->op == LOP_RESTORE && (c->where == LW_INVAL_BEGUN ||
					     c->where == LW_INVAL_CALLED))
			continue;
		snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s_%s_%s",
			 lkind_names[c->kind], lop_names[c->op],
			 lwhere_names[c->where]);
		return c;
	}
	return NULL;
}

/*
 * Fault at LS_PGOFF (order LS_ORDER: the whole space) while the case's
 * invalidation runs at its point.  Restore cases start revoked.  Then: the
 * fault finished within two lookups, installed nothing stale, and its
 * outcome is what the invalidation left (revoked: -EACCES; else mapped).
 */
static void lazymap_listener_interleave(struct kunit *test)
{
	const struct lcase *c = test->param_value;
	struct lctx *x;
	struct s2 *s;
	int ret;

	x = kunit_kzalloc(test, sizeof(*x), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, x);
	x->test = test;
	x->c = c;
	x->ls = lspace_create(test, c->kind);
	s = s2_create(test, x->ls);
	x->f.s = s;
	x->f.pgoff = LS_PGOFF;
	x->f.order = LS_ORDER;
	if (c->op == LOP_RESTORE)
		KUNIT_ASSERT_EQ(test, lazymap_revoke(x->ls->space, 0, LS_PAGES), 0);
	/* Something for a truncation or release to take away. */
	if (c->op == LOP_TRUNCATE || c->op == LOP_RELEASE) {
		struct folio *folio = lazymap_get_folio(x->ls->space,
							LS_PGOFF, 0);

		KUNIT_ASSERT_FALSE(test, IS_ERR(folio));
		folio_put(folio);
	}
	WRITE_ONCE(lctx_current, x);
	WRITE_ONCE(lazymap_kunit_hook.fn, lctx_hook);
	ret = kunit_add_action_or_reset(test, lctx_unhook, NULL);
	KUNIT_ASSERT_EQ(test, ret, 0);

	if (c->where == LW_BEFORE)
		lctx_op(x);
	while (x->f.state != S2_DONE) {
		KUNIT_ASSERT_LE_MSG(test, x->f.lookups, 2, "fault never ends");
		if (x->f.state == S2_LOOKUP) {
			s2_lookup_step(&x->f);
			continue;
		}
		/* Looked up, not installed. */
		if (!x->op_done && (c->where == LW_BETWEEN || x->excluded))
			lctx_op(x);
		else if (!x->op_done && (c->where == LW_INVAL_BEGUN ||
					 c->where == LW_INVAL_CALLED))
			lctx_op(x);	/* steps the install inside */
		if (x->f.state == S2_INSTALL)
			s2_install_step(&x->f);
	}
	if (!x->op_done)
		lctx_op(x);
	KUNIT_EXPECT_TRUE(test, x->op_done);
	if (c->where == LW_INVAL_BEGUN || c->where == LW_INVAL_CALLED)
		KUNIT_EXPECT_EQ(test, x->stepped, c->op != LOP_RESTORE);
	s2_check(test, x->ls, s);

	/* What the fault saw, and what stays mapped. */
	mutex_lock(&s->lock);
	switch (c->op) {
	case LOP_REVOKE:
		KUNIT_EXPECT_EQ(test, s->pfn[LS_PGOFF], 0);
		if (c->where != LW_AFTER)
			KUNIT_EXPECT_EQ(test, x->f.err, -EACCES);
		break;
	case LOP_RESTORE:
		if (c->where == LW_AFTER)
			KUNIT_EXPECT_EQ(test, x->f.err, -EACCES);
		else if (c->where == LW_BEFORE)
			KUNIT_EXPECT_EQ(test, x->f.err, 0);
		break;
	default:
		KUNIT_EXPECT_EQ(test, x->f.err, 0);
		if (c->where == LW_AFTER)
			KUNIT_EXPECT_EQ(test, s->pfn[LS_PGOFF], 0);
		else
			KUNIT_EXPECT_NE(test, s->pfn[LS_PGOFF], 0);
		break;
	}
	mutex_unlock(&s->lock);
	/* One retry at most, and only where the op ran after the lookup. */
	if (c->where == LW_BEFORE || c->where == LW_AFTER)
		KUNIT_EXPECT_EQ(test, x->f.retries, 0);
	else if (c->op != LOP_RESTORE && !x->f.err)
		KUNIT_EXPECT_EQ(test, x->f.retries, 1);
}

/* --- a lookup waits for an invalidation in progress, and ends ------------ */

struct lwait {
	struct kunit *test;
	struct work_struct work;
	struct s2_fault f;
	struct completion waiting;
	struct completion done;
	struct lspace *ls;
	bool started;
};

static struct lwait *lwait_current;

static void lwait_work(struct work_struct *work)
{
	struct lwait *w = container_of(work, struct lwait, work);

	while (w->f.state != S2_DONE && w->f.lookups < 3) {
		if (w->f.state == S2_LOOKUP)
			s2_lookup_step(&w->f);
		else
			s2_install_step(&w->f);
	}
	complete(&w->done);
}

static void lwait_hook(struct lazymap_space *space, enum lazymap_hook_point point)
{
	struct lwait *w = READ_ONCE(lwait_current);

	if (!w || space != w->ls->space)
		return;
	if (point == LAZYMAP_HOOK_LOOKUP_WAIT) {
		complete(&w->waiting);
		return;
	}
	if (point != LAZYMAP_HOOK_INVAL_CALLED || w->started)
		return;
	/* Start a fault of the range being invalidated; it must wait. */
	w->started = true;
	queue_work(system_unbound_wq, &w->work);
	wait_for_completion(&w->waiting);
	KUNIT_EXPECT_FALSE(w->test, completion_done(&w->done));
}

static void lwait_unhook(void *data)
{
	WRITE_ONCE(lazymap_kunit_hook.fn, NULL);
	WRITE_ONCE(lwait_current, NULL);
}

static void lazymap_listener_wait(struct kunit *test)
{
	struct lwait *w;
	struct s2 *s;
	int ret;

	w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w);
	w->test = test;
	w->ls = lspace_create(test, LAZYMAP_KIND_FOLIO);
	s = s2_create(test, w->ls);
	w->f.s = s;
	w->f.pgoff = LS_PGOFF;
	INIT_WORK(&w->work, lwait_work);
	init_completion(&w->waiting);
	init_completion(&w->done);
	WRITE_ONCE(lwait_current, w);
	WRITE_ONCE(lazymap_kunit_hook.fn, lwait_hook);
	ret = kunit_add_action_or_reset(test, lwait_unhook, NULL);
	KUNIT_ASSERT_EQ(test, ret, 0);

	/* A zap holds the gate; a truncation does not: both make it wait. */
	KUNIT_ASSERT_EQ(test, lazymap_zap(w->ls->space, 0, LS_PAGES), 0);
	wait_for_completion(&w->done);
	flush_work(&w->work);
	KUNIT_EXPECT_EQ(test, w->f.err, 0);
	KUNIT_EXPECT_EQ(test, w->f.retries, 0);
	KUNIT_EXPECT_NE(test, s->pfn[LS_PGOFF], 0);

	reinit_completion(&w->waiting);
	reinit_completion(&w->done);
	w->started = false;
	w->f.state = S2_LOOKUP;
	w->f.lookups = 0;
	lazymap_truncate_begin(w->ls->space, 0, LS_PAGES);
	KUNIT_EXPECT_EQ(test, s->pfn[LS_PGOFF], 0);
	truncate_inode_pages_range(lazymap_space_mapping(w->ls->space), 0,
				   LS_PAGES * PAGE_SIZE - 1);
	lazymap_truncate_end(w->ls->space, 0, LS_PAGES);
	wait_for_completion(&w->done);
	flush_work(&w->work);
	KUNIT_EXPECT_EQ(test, w->f.err, 0);
	KUNIT_EXPECT_EQ(test, w->f.retries, 0);
	s2_check(test, w->ls, s);
	KUNIT_EXPECT_NE(test, s->pfn[LS_PGOFF], 0);
}

/* --- lookup results --------------------------------------------------- */

static void nop_invalidate(struct lazymap_listener *l, pgoff_t start,
			   pgoff_t end, enum lazymap_inval_reason reason)
{
}

static const struct lazymap_listener_ops nop_ops = {
	.invalidate = nop_invalidate,
};

static void lazymap_listener_lookup_errors(struct kunit *test)
{
	struct lspace *ls = lspace_create(test, LAZYMAP_KIND_PFN);
	struct lazymap_listener part = { .ops = &nop_ops };
	struct lazymap_lookup lk;
	struct s2 *s = s2_create(test, ls);

	KUNIT_ASSERT_EQ(test, lazymap_listener_register(ls->space, &part, 4, 12), 0);
	/* Outside the listener's range, or the space. */
	KUNIT_EXPECT_EQ(test, lazymap_listener_lookup(&part, 3, 0, &lk), -ERANGE);
	KUNIT_EXPECT_EQ(test, lazymap_listener_lookup(&part, 12, 0, &lk), -ERANGE);
	KUNIT_EXPECT_EQ(test, lazymap_listener_lookup(&s->l, LS_PAGES, 0, &lk),
			-ERANGE);
	/* The block stays inside the listener's range: 4 pages at 8. */
	KUNIT_ASSERT_EQ(test, lazymap_listener_lookup(&part, 9, LS_ORDER, &lk), 0);
	KUNIT_EXPECT_EQ(test, lk.order, 2);
	KUNIT_EXPECT_EQ(test, lk.start, 8);
	KUNIT_EXPECT_EQ(test, lk.pfn, folio_pfn(ls->block) + 9);
	KUNIT_EXPECT_NULL(test, lk.folio);
	lazymap_lookup_put(&lk);
	/* The whole space for the whole-space listener. */
	KUNIT_ASSERT_EQ(test, lazymap_listener_lookup(&s->l, 9, 30, &lk), 0);
	KUNIT_EXPECT_EQ(test, lk.order, LS_ORDER);
	KUNIT_EXPECT_EQ(test, lk.start, 0);
	/* A revoked page: -EACCES there, smaller blocks around it. */
	KUNIT_ASSERT_EQ(test, lazymap_revoke(ls->space, 2, 3), 0);
	KUNIT_EXPECT_EQ(test, lazymap_listener_lookup(&s->l, 2, 0, &lk), -EACCES);
	KUNIT_ASSERT_EQ(test, lazymap_listener_lookup(&s->l, 9, LS_ORDER, &lk), 0);
	KUNIT_EXPECT_EQ(test, lk.order, 3);
	KUNIT_EXPECT_EQ(test, lk.start, 8);
	KUNIT_ASSERT_EQ(test, lazymap_listener_lookup(&s->l, 3, LS_ORDER, &lk), 0);
	KUNIT_EXPECT_EQ(test, lk.order, 0);
	/* No invalidation since that lookup began. */
	KUNIT_EXPECT_FALSE(test, lazymap_listener_retry(&s->l, &lk));
	KUNIT_ASSERT_EQ(test, lazymap_restore(ls->space, 0, LS_PAGES), 0);
	/* Restore takes nothing back: no retry. */
	KUNIT_EXPECT_FALSE(test, lazymap_listener_retry(&s->l, &lk));
	KUNIT_ASSERT_EQ(test, lazymap_zap(ls->space, 15, 16), 0);
	/* The sequence is per space: a zap elsewhere retries too. */
	KUNIT_EXPECT_TRUE(test, lazymap_listener_retry(&s->l, &lk));
	lazymap_listener_unregister(&part);
}

static void lazymap_listener_folio_ref(struct kunit *test)
{
	struct lspace *ls = lspace_create(test, LAZYMAP_KIND_FOLIO);
	struct s2 *s = s2_create(test, ls);
	struct lazymap_lookup lk;
	struct folio *folio;
	int refs;

	KUNIT_ASSERT_EQ(test, lazymap_listener_lookup(&s->l, 3, 0, &lk), 0);
	KUNIT_ASSERT_NOT_NULL(test, lk.folio);
	folio = lk.folio;
	KUNIT_EXPECT_EQ(test, lk.pfn, folio_pfn(folio) + 3 - folio->index);
	KUNIT_EXPECT_FALSE(test, folio_test_locked(folio));
	refs = folio_ref_count(folio);
	/* The lookup's reference keeps a truncated folio alive. */
	folio_get(folio);
	truncate_inode_pages_range(lazymap_space_mapping(ls->space), 0,
				   LS_PAGES * PAGE_SIZE - 1);
	KUNIT_EXPECT_NULL(test, folio->mapping);
	KUNIT_EXPECT_TRUE(test, lazymap_listener_retry(&s->l, &lk));
	KUNIT_EXPECT_EQ(test, folio_ref_count(folio), 2);
	lazymap_lookup_put(&lk);
	KUNIT_EXPECT_NULL(test, lk.folio);
	lazymap_lookup_put(&lk);
	KUNIT_EXPECT_EQ(test, folio_ref_count(folio), 1);
	KUNIT_EXPECT_GT(test, refs, 1);
	folio_put(folio);
}

/*
 * Truncation under a listener that refuses every release: the folio still
 * leaves the page cache, and the listener has dropped it first; the
 * release paths (invalidate_inode_pages2_range()) honour the refusal.
 */
static void lazymap_listener_truncate_refused(struct kunit *test)
{
	struct lspace *ls = lspace_create(test, LAZYMAP_KIND_FOLIO);
	struct address_space *mapping = lazymap_space_mapping(ls->space);
	struct s2_fault f = {};
	struct s2 *s = s2_create(test, ls);
	struct folio *folio;

	s->refuse = true;
	f.s = s;
	f.pgoff = 7;
	while (f.state != S2_DONE) {
		KUNIT_ASSERT_LE(test, f.lookups, 2);
		if (f.state == S2_LOOKUP)
			s2_lookup_step(&f);
		else
			s2_install_step(&f);
	}
	KUNIT_ASSERT_EQ(test, f.err, 0);
	KUNIT_ASSERT_NE(test, s->pfn[7], 0);

	/* A release the listener refuses keeps the folio and the entry. */
	KUNIT_EXPECT_EQ(test, invalidate_inode_pages2_range(mapping, 7, 7),
			-EBUSY);
	folio = filemap_get_folio(mapping, 7);
	KUNIT_ASSERT_FALSE(test, IS_ERR(folio));
	KUNIT_EXPECT_EQ(test, s->pfn[7], folio_pfn(folio) + 7 - folio->index);
	folio_put(folio);
	s2_check(test, ls, s);

	/* Truncation does not ask. */
	truncate_inode_pages_range(mapping, 0, LS_PAGES * PAGE_SIZE - 1);
	KUNIT_EXPECT_EQ(test, s->pfn[7], 0);
	KUNIT_EXPECT_EQ(test, mapping->nrpages, 0);
	s2_check(test, ls, s);
}

static struct kunit_case lazymap_listener_cases[] = {
	KUNIT_CASE_PARAM(lazymap_listener_interleave, lcase_gen_params),
	KUNIT_CASE(lazymap_listener_wait),
	KUNIT_CASE(lazymap_listener_lookup_errors),
	KUNIT_CASE(lazymap_listener_folio_ref),
	KUNIT_CASE(lazymap_listener_truncate_refused),
	{}
};

static struct kunit_suite lazymap_listener_suite = {
	.name = "lazymap_listener",
	.test_cases = lazymap_listener_cases,
};

kunit_test_suite(lazymap_listener_suite);

MODULE_DESCRIPTION("KUnit tests of lazymap's listener protocol");
MODULE_LICENSE("GPL");
