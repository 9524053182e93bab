// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of what reaches a space's listeners: the ranges and reasons
 * of zaps, revokes and restores, the listeners lazymap_listener_register()
 * refuses, and the launder helpers of folio spaces (release, launder,
 * truncation, memory failure) on a bare folio.  The listener protocol's
 * interleavings are listener_kunit.c's.
 */
#include <kunit/test.h>
#include <linux/gfp.h>
#include <linux/lazymap.h>

#include "lazymap_kunit.h"

/* Three counting listeners, over [0, 10), [8, 16) and [32, 64). */
struct klisteners {
	struct lazymap_space *space;
	struct klistener kl[3];
};

static void klisteners_unregister(void *data)
{
	struct klisteners *k = data;
	int i;

	for (i = 0; i < ARRAY_SIZE(k->kl); i++)
		lazymap_listener_unregister(&k->kl[i].l);
}

static struct klisteners *klisteners_setup(struct kunit *test)
{
	static const pgoff_t ranges[3][2] = { { 0, 10 }, { 8, 16 }, { 32, 64 } };
	struct klisteners *k;
	struct kspace *ks;
	int i, ret;

	k = kunit_kzalloc(test, sizeof(*k), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, k);
	k->space = kspace_create(test, &ks, NULL);
	for (i = 0; i < 3; i++) {
		k->kl[i].l.ops = &klistener_ops;
		ret = lazymap_listener_register(k->space, &k->kl[i].l,
						ranges[i][0], ranges[i][1]);
		KUNIT_ASSERT_EQ(test, ret, 0);
	}
	ret = kunit_add_action_or_reset(test, klisteners_unregister, k);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return k;
}

static void lazymap_test_listener_zap(struct kunit *test)
{
	struct klisteners *k = klisteners_setup(test);

	/* Pages [10, 40): misses [0, 10), clips [8, 16) and [32, 64). */
	KUNIT_ASSERT_EQ(test, lazymap_zap(k->space, 10, 40), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls, 0);
	KUNIT_EXPECT_EQ(test, k->kl[1].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[1].start, 10);
	KUNIT_EXPECT_EQ(test, k->kl[1].end, 16);
	KUNIT_EXPECT_EQ(test, k->kl[1].reason, LAZYMAP_INVAL_ZAP);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[2].start, 32);
	KUNIT_EXPECT_EQ(test, k->kl[2].end, 40);

	/* The overlap of the first two: both, reason revoke. */
	KUNIT_ASSERT_EQ(test, lazymap_revoke(k->space, 9, 10), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[0].start, 9);
	KUNIT_EXPECT_EQ(test, k->kl[0].end, 10);
	KUNIT_EXPECT_EQ(test, k->kl[0].reason, LAZYMAP_INVAL_REVOKE);
	KUNIT_EXPECT_EQ(test, k->kl[1].calls, 2);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 1);

	/* Restore invalidates nothing. */
	KUNIT_ASSERT_EQ(test, lazymap_restore(k->space, 0, SPACE_PAGES), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls + k->kl[1].calls + k->kl[2].calls, 4);

	/* Unregistered listeners are not called. */
	lazymap_listener_unregister(&k->kl[2].l);
	KUNIT_ASSERT_EQ(test, lazymap_zap(k->space, 0, SPACE_PAGES), 0);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[0].calls, 2);
	/* Re-register so the cleanup action's unregister stays balanced. */
	KUNIT_ASSERT_EQ(test, lazymap_listener_register(k->space, &k->kl[2].l,
							32, 64), 0);
}

static void lazymap_test_listener_invalid(struct kunit *test)
{
	static const struct lazymap_listener_ops noop_ops = {};
	struct lazymap_listener l = { .ops = &klistener_ops };
	struct lazymap_space *space;
	struct kspace *ks;

	space = kspace_create(test, &ks, NULL);
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 5, 4), -EINVAL);
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 5, 5), -EINVAL);
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 0, 65), -EINVAL);
	l.ops = &noop_ops;
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 0, 1), -EINVAL);
	l.ops = NULL;
	KUNIT_EXPECT_EQ(test, lazymap_listener_register(space, &l, 0, 1), -EINVAL);
}

static void folio_put_action(void *folio)
{
	folio_put(folio);
}

/*
 * The launder helpers on a bare folio: release and launder may be refused
 * and ask the listeners' release callback; truncation, memory failure and
 * truncate_begin cannot and call invalidate.  Listeners without a release
 * callback are invalidated with LAZYMAP_INVAL_RELEASE.
 */
static void lazymap_test_launder(struct kunit *test)
{
	static const struct lazymap_listener_ops norelease_ops = {
		.invalidate = klistener_invalidate,
	};
	struct klisteners *k = klisteners_setup(test);
	struct lazymap_stats st;
	struct folio *folio;
	int ret;

	folio = folio_alloc(GFP_KERNEL, 0);
	KUNIT_ASSERT_NOT_NULL(test, folio);
	ret = kunit_add_action_or_reset(test, folio_put_action, folio);
	KUNIT_ASSERT_EQ(test, ret, 0);

	/* Page 9: listeners 0 and 1; 1 has no release callback. */
	k->kl[1].l.ops = &norelease_ops;
	folio->index = 9;
	KUNIT_EXPECT_EQ(test, lazymap_launder_folio(k->space, folio), 0);
	KUNIT_EXPECT_EQ(test, k->kl[0].releases, 1);
	KUNIT_EXPECT_EQ(test, k->kl[0].reason, LAZYMAP_INVAL_RELEASE);
	KUNIT_EXPECT_EQ(test, k->kl[1].calls, 1);
	KUNIT_EXPECT_EQ(test, k->kl[1].reason, LAZYMAP_INVAL_RELEASE);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 0);

	/* Listener 2 cannot let page 40 go: release and launder refuse... */
	folio->index = 40;
	k->kl[2].ret = -EBUSY;
	KUNIT_EXPECT_EQ(test, lazymap_launder_folio(k->space, folio), -EBUSY);
	KUNIT_EXPECT_FALSE(test, lazymap_release_folio(k->space, folio));
	KUNIT_EXPECT_EQ(test, k->kl[2].releases, 2);
	KUNIT_EXPECT_EQ(test, k->kl[2].start, 40);
	KUNIT_EXPECT_EQ(test, k->kl[2].end, 41);
	/* ...truncation cannot be refused: invalidate, not release. */
	lazymap_invalidate_folio(k->space, folio, 0, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, k->kl[2].releases, 2);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 3);
	KUNIT_EXPECT_EQ(test, k->kl[2].reason, LAZYMAP_INVAL_TRUNCATE);
	/* A partial page is not invalidated. */
	lazymap_invalidate_folio(k->space, folio, 100, PAGE_SIZE - 100);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 3);
	lazymap_truncate_begin(k->space, 30, 42);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 4);
	KUNIT_EXPECT_EQ(test, k->kl[2].start, 32);
	KUNIT_EXPECT_EQ(test, k->kl[2].end, 42);
	KUNIT_EXPECT_EQ(test, k->kl[2].reason, LAZYMAP_INVAL_TRUNCATE);
	lazymap_truncate_end(k->space, 30, 42);
	KUNIT_EXPECT_EQ(test, lazymap_error_remove_folio(k->space, folio), 0);
	KUNIT_EXPECT_EQ(test, k->kl[2].calls, 5);
	KUNIT_EXPECT_EQ(test, k->kl[2].reason, LAZYMAP_INVAL_TRUNCATE);
	KUNIT_EXPECT_EQ(test, k->kl[2].releases, 2);
	k->kl[2].ret = 0;
	KUNIT_EXPECT_TRUE(test, lazymap_release_folio(k->space, folio));
	folio->index = 0;

	lazymap_space_stats(k->space, &st);
	KUNIT_EXPECT_EQ(test, st.launders, 7);
	KUNIT_EXPECT_EQ(test, st.zaps, 0);
}

static struct kunit_case lazymap_inval_cases[] = {
	KUNIT_CASE(lazymap_test_listener_zap),
	KUNIT_CASE(lazymap_test_listener_invalid),
	KUNIT_CASE(lazymap_test_launder),
	{}
};

static struct kunit_suite lazymap_inval_suite = {
	.name = "lazymap_inval",
	.test_cases = lazymap_inval_cases,
};

kunit_test_suite(lazymap_inval_suite);
