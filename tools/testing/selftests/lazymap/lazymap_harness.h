/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kselftest harness as lazymap's selftests include it: instead of
 * "kselftest_harness.h", include this, then lazymap_util.h and the other
 * helpers.
 *
 * The test programs build with -Wall -Wextra -Werror.  Two of its warnings
 * only ever fire on the harness itself, so they are off for the whole
 * program: -Wunused-parameter (6.12's __timeout_handler() and the wrappers
 * TEST() and TEST_F() expand to in the test's own file have parameters they
 * do not use) and -Wclobbered (gcc flags the "child" variable of the
 * TEST_F() wrappers as possibly clobbered by longjmp(), a false positive:
 * it lives in the stack frame across the setjmp()).
 */
#ifndef __LAZYMAP_HARNESS_H
#define __LAZYMAP_HARNESS_H

#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wclobbered"
#include "../kselftest_harness.h"

#endif /* __LAZYMAP_HARNESS_H */
