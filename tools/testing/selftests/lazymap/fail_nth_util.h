/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fail-nth for the lazymap selftests, in the manner of
 * tools/testing/selftests/iommu/iommufd_fail_nth.c: the fault injection
 * knobs (set at start, restored at exit), arming and disarming
 * /proc/thread-self/fail-nth around one operation, and the check of its
 * result, and the sweep of one operation (__TEST_FAIL_NTH()), for the
 * sweeps of lazymap_fail_nth.c and vm_fail_nth.c.  Include after
 * lazymap_harness.h.
 *
 * An iteration arms fail-nth to fail the n-th slab allocation of the
 * calling thread (failslab); "persistent" iterations also set make-it-fail,
 * so that every allocation from the n-th on fails, as an OOM would.
 */
#ifndef __LAZYMAP_FAIL_NTH_UTIL_H
#define __LAZYMAP_FAIL_NTH_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FAIL_NTH_DEBUGFS	"/sys/kernel/debug"

/*
 * An arbitrary bound on the allocations one operation makes (kmemleak and
 * debugobjects add their own): hitting it means the bound needs raising
 * more likely than that the kernel is broken.
 */
#define FAIL_NTH_MAX		1000U
/* Seconds per sweep: UML with KASAN and lockdep is slow. */
#define FAIL_NTH_TIMEOUT	300

static bool have_fault_injection;
static bool have_persistent;

/*
 * The fault injection settings this program changed, restored at exit in
 * reverse order.
 */
static struct {
	char path[300];
	char old[32];
} knobs[32];
static unsigned int nr_knobs;

/* Write @val to file @path: 0 or -1. */
static int write_file(const char *path, const char *val)
{
	ssize_t len = strlen(val);
	ssize_t res;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	res = write(fd, val, len);
	close(fd);
	return res == len ? 0 : -1;
}

/*
 * Set debugfs knob @fn (relative to FAIL_NTH_DEBUGFS) to @val, saving its value.
 * Many knobs are simple attributes, which are not seekable: open the file
 * once to read and once to write.
 */
static int set_knob(const char *fn, const char *val)
{
	char *path, *old;
	ssize_t res;
	int fd;

	if (nr_knobs == ARRAY_SIZE(knobs))
		return -1;
	path = knobs[nr_knobs].path;
	old = knobs[nr_knobs].old;
	snprintf(path, sizeof(knobs[0].path), FAIL_NTH_DEBUGFS "/%s", fn);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	res = read(fd, old, sizeof(knobs[0].old) - 1);
	close(fd);
	if (res <= 0)
		return -1;
	old[res] = '\0';
	old[strcspn(old, "\n")] = '\0';
	if (write_file(path, val))
		return -1;
	nr_knobs++;
	return 0;
}

static __attribute__((destructor)) void restore_fault_injection(void)
{
	while (nr_knobs--)
		if (write_file(knobs[nr_knobs].path, knobs[nr_knobs].old))
			perror(knobs[nr_knobs].path);
}

/*
 * Let fail-nth fail allocations that may sleep (failslab ignores them by
 * default) and keep the injected failures out of the kernel log.
 *
 * A single failed allocation does not fail every operation that makes it:
 * the maple tree, for one, retries a failed GFP_NOWAIT allocation with the
 * caller's gfp.  The persistent variants also fail every allocation after
 * the n-th one, as an OOM would: failslab fails every allocation of a task
 * with make-it-fail set once fail-nth has counted down, and the sweep sets
 * make-it-fail only around the operation.  No other task has make-it-fail
 * set, so nothing else fails.
 */
static __attribute__((constructor)) void setup_fault_injection(void)
{
	DIR *debugfs = opendir(FAIL_NTH_DEBUGFS);
	struct dirent *dent;

	if (!debugfs)
		return;
	if (access("/proc/self/fail-nth", F_OK) ||
	    set_knob("failslab/ignore-gfp-wait", "N")) {
		closedir(debugfs);
		return;
	}
	set_knob("fail_page_alloc/ignore-gfp-wait", "N");
	set_knob("fail_page_alloc/ignore-gfp-highmem", "N");

	while ((dent = readdir(debugfs))) {
		char fn[300];

		if (strncmp(dent->d_name, "fail", 4))
			continue;
		snprintf(fn, sizeof(fn), "%s/verbose", dent->d_name);
		set_knob(fn, "0");
	}
	closedir(debugfs);
	have_fault_injection = true;

	/* The probability last: by then only make-it-fail tasks qualify. */
	have_persistent = !access("/proc/thread-self/make-it-fail", F_OK) &&
			  !set_knob("failslab/task-filter", "Y") &&
			  !set_knob("failslab/space", "0") &&
			  !set_knob("failslab/times", "-1") &&
			  !set_knob("failslab/interval", "1") &&
			  !set_knob("failslab/probability", "100");
}

struct fail_nth_state {
	int proc_fd;		/* /proc/thread-self/fail-nth */
	int make_it_fail_fd;	/* /proc/thread-self/make-it-fail, or -1 */
	bool persistent;	/* fail every allocation from the n-th on */
	unsigned int iteration;	/* the allocation to fail; 0: none */
	bool injected;		/* this iteration's failure was injected */
	unsigned int nr_injected;
	unsigned int nr_enomem;	/* iterations that failed with ENOMEM */
	/*
	 * The ids of the objects the sweep created, for a check that each
	 * was freed (lazymap_fail_nth's spaces): see fail_nth_saw_id().
	 */
	bool saw_ids;
	__u32 first_id;		/* the first id noted */
	__u32 max_id;		/* the highest id noted */
};

/* Note the id of an object the sweep created. */
static inline void fail_nth_saw_id(struct fail_nth_state *nth_state, __u32 id)
{
	if (!nth_state->saw_ids) {
		nth_state->saw_ids = true;
		nth_state->first_id = id;
		nth_state->max_id = id;
	} else if (id > nth_state->max_id) {
		nth_state->max_id = id;
	}
}

static void fail_nth_first(struct __test_metadata *_metadata,
			   struct fail_nth_state *nth_state, bool persistent)
{
	nth_state->persistent = persistent;
	nth_state->make_it_fail_fd = -1;
	nth_state->proc_fd = open("/proc/thread-self/fail-nth",
				  O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, nth_state->proc_fd)
		TH_LOG("/proc/thread-self/fail-nth: %s", strerror(errno));
	if (!persistent)
		return;
	nth_state->make_it_fail_fd = open("/proc/thread-self/make-it-fail",
					  O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, nth_state->make_it_fail_fd)
		TH_LOG("/proc/thread-self/make-it-fail: %s", strerror(errno));
}

static void fail_nth_last(struct fail_nth_state *nth_state)
{
	close(nth_state->proc_fd);
	if (nth_state->make_it_fail_fd >= 0)
		close(nth_state->make_it_fail_fd);
}

/*
 * Arm fail-nth right before the operation (no-op on the dry run).  In
 * persistent mode set make-it-fail only after fail-nth: until fail-nth has
 * counted down, it holds off the failures make-it-fail asks for.
 */
static void __fail_nth_enable(struct __test_metadata *_metadata,
			      struct fail_nth_state *nth_state)
{
	char buf[32];
	int len;

	nth_state->injected = false;
	if (!nth_state->iteration)
		return;
	len = snprintf(buf, sizeof(buf), "%u", nth_state->iteration);
	ASSERT_EQ(len, pwrite(nth_state->proc_fd, buf, len, 0))
		TH_LOG("arming fail-nth: %s", strerror(errno));
	if (nth_state->persistent)
		ASSERT_EQ(1, pwrite(nth_state->make_it_fail_fd, "1", 1, 0))
			TH_LOG("setting make-it-fail: %s", strerror(errno));
}

#define fail_nth_enable() __fail_nth_enable(_metadata, _nth_state)

/*
 * Disarm fail-nth right after the operation and note whether it injected
 * the failure: fail-nth reads 0 once it has, the number of allocations
 * still to go otherwise.  Disarming keeps the checks that follow, and the
 * page faults they take, out of the sweep.
 */
static void __fail_nth_disable(struct __test_metadata *_metadata,
			       struct fail_nth_state *nth_state)
{
	char buf[32] = "";
	ssize_t res;

	if (!nth_state->iteration)
		return;
	if (nth_state->persistent)
		ASSERT_EQ(1, pwrite(nth_state->make_it_fail_fd, "0", 1, 0))
			TH_LOG("clearing make-it-fail: %s", strerror(errno));
	res = pread(nth_state->proc_fd, buf, sizeof(buf) - 1, 0);
	/*
	 * With usercopy fault injection the read itself can be the failing
	 * call: then the operation did not reach it.
	 */
	if (res == -1 && errno == EFAULT)
		snprintf(buf, sizeof(buf), "1\n");
	else
		ASSERT_LT(1, res)
			TH_LOG("reading fail-nth: %s", strerror(errno));
	res = pwrite(nth_state->proc_fd, "0", 1, 0);
	if (res == -1 && errno == EFAULT)
		res = pwrite(nth_state->proc_fd, "0", 1, 0);
	ASSERT_EQ(1, res)
		TH_LOG("disarming fail-nth: %s", strerror(errno));
	nth_state->injected = !strcmp(buf, "0\n");
	if (nth_state->injected)
		nth_state->nr_injected++;
}

#define fail_nth_disable() __fail_nth_disable(_metadata, _nth_state)

/*
 * The result of one iteration: success or ENOMEM, and ENOMEM only when the
 * failure was injected.
 */
static void fail_nth_check(struct __test_metadata *_metadata,
			   struct fail_nth_state *nth_state, int ret)
{
	if (!ret)
		return;
	nth_state->nr_enomem++;
	ASSERT_EQ(-ENOMEM, ret)
		TH_LOG("fail-nth %u: the operation failed with %s",
		       nth_state->iteration, strerror(-ret));
	ASSERT_TRUE(nth_state->injected)
		TH_LOG("fail-nth %u: ENOMEM without an injected failure",
		       nth_state->iteration);
}

/*
 * __TEST_FAIL_NTH(fixture, name, allocates, each_setup, after) { body }:
 * the sweep of one operation.  The body arms fail-nth with
 * fail_nth_enable() right before the operation under test and disarms it
 * with fail_nth_disable() right after, checks the state the operation left
 * and returns 0 or its -errno.  The fixture is torn down and set up again
 * around each iteration; the statement @each_setup runs after every setup
 * (the harness's included) and @after once the sweep is over, both with
 * self and nth_state at hand.  An operation that @allocates must reach an
 * injected failure at least once (and, persistent, fail with ENOMEM); one
 * that does not must never fail.  The fixture variant has a bool
 * persistent.
 */
#define __TEST_FAIL_NTH(fixture_name, name, allocates, each_setup, after)	\
	static int test_nth_##name(struct __test_metadata *_metadata,		\
				   FIXTURE_DATA(fixture_name) *self,		\
				   const FIXTURE_VARIANT(fixture_name) *variant, \
				   struct fail_nth_state *_nth_state);		\
	TEST_F_TIMEOUT(fixture_name, name, FAIL_NTH_TIMEOUT)			\
	{									\
		struct fail_nth_state nth_state = {};				\
		int ret;							\
										\
		if (!have_fault_injection)					\
			SKIP(return, "no fail-nth or failslab in debugfs");	\
		if (variant->persistent && !have_persistent)			\
			SKIP(return, "no make-it-fail or failslab knobs");	\
		fail_nth_first(_metadata, &nth_state, variant->persistent);	\
		each_setup;							\
		/* Without injection the operation must just work. */		\
		ret = test_nth_##name(_metadata, self, variant, &nth_state);	\
		ASSERT_EQ(0, ret)						\
			TH_LOG("without fault injection: %s", strerror(-ret));	\
		do {								\
			fixture_name##_teardown(_metadata, self, variant);	\
			ASSERT_GT(FAIL_NTH_MAX, nth_state.iteration);		\
			nth_state.iteration++;					\
			fixture_name##_setup(_metadata, self, variant);		\
			each_setup;						\
			ret = test_nth_##name(_metadata, self, variant,		\
					      &nth_state);			\
			fail_nth_check(_metadata, &nth_state, ret);		\
		} while (nth_state.injected);					\
		fixture_name##_teardown(_metadata, self, variant);		\
		fail_nth_last(&nth_state);					\
		TH_LOG("%u injected failures, %u of them returned ENOMEM",	\
		       nth_state.nr_injected, nth_state.nr_enomem);		\
		if (allocates) {						\
			/* Otherwise the sweep tested nothing. */		\
			ASSERT_LT(0U, nth_state.nr_injected);			\
			/* It fails when memory runs out. */			\
			if (variant->persistent)				\
				ASSERT_LT(0U, nth_state.nr_enomem);		\
		} else {							\
			ASSERT_EQ(0U, nth_state.nr_enomem);			\
		}								\
		after;								\
	}									\
	static int test_nth_##name(						\
		struct __test_metadata *_metadata,				\
		FIXTURE_DATA(fixture_name) *self,				\
		const FIXTURE_VARIANT(fixture_name) *variant,			\
		struct fail_nth_state *_nth_state)

#endif /* __LAZYMAP_FAIL_NTH_UTIL_H */
