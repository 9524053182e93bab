#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Stage 1: run the KUnit suites in the debug UML kernel built by
# `make uml-kernel`, then scan the raw kernel log for splats kunit.py does
# not fail on.  Keeps build/kunit/{kunit.out,test.log}.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

out=$O/kunit
mkdir -p "$out" "$UMLDIR"
rm -f "$out/result" "$UMLBUILD/test.log"
(cd "$KSRC" && python3 tools/testing/kunit/kunit.py exec --arch=um \
	--build_dir="$UMLBUILD" --timeout=600 \
	--kernel_args "uml_dir=$UMLDIR" ${KUNIT_ARGS:-}) > "$out/kunit.out" 2>&1
rc=$?
cp -f "$UMLBUILD/test.log" "$out/test.log" 2>/dev/null || : > "$out/test.log"
grep -E '^\[..:..:..\] (Testing complete|=+ |\[(PASSED|FAILED|SKIPPED)\])' "$out/kunit.out" | \
	grep -vE '\[PASSED\]' | tail -n 40

sum=$(grep -E 'Testing complete\. Ran [0-9]+ tests' "$out/kunit.out" | tail -n1)
pass=$(sed -n 's/.*passed: \([0-9]*\).*/\1/p' <<<"$sum")
fail=$(sed -n 's/.*failed: \([0-9]*\).*/\1/p' <<<"$sum")
skip=$(sed -n 's/.*skipped: \([0-9]*\).*/\1/p' <<<"$sum")
crash=$(sed -n 's/.*crashed: \([0-9]*\).*/\1/p' <<<"$sum")
# errors: kunit.py could not parse all the results it was promised, e.g.
# the kernel hung in a test and was killed at the timeout (rc stays 0).
errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$sum")
pass=${pass:-0}; skip=${skip:-0}
fail=$(( ${fail:-0} + ${crash:-0} + ${errs:-0} ))
if grep -qiE 'timed out|\[ERROR\]' "$out/kunit.out"; then
	echo "kunit: kunit.py reports a timeout or parse error" >&2
	[ $fail -ne 0 ] || fail=1
fi
if [ -z "$sum" ]; then
	echo "kunit: no summary from kunit.py" >&2
	fail=$((fail + 1))
elif [ $rc -ne 0 ] && [ $fail -eq 0 ]; then
	fail=1
fi
if ! scripts/splat-scan.sh "$out/test.log"; then
	fail=$((fail + 1))
fi
result kunit "$pass" "$fail" "$skip"
if [ "$fail" -ne 0 ] || [ "$pass" -eq 0 ]; then
	echo "kunit: FAILED, logs: $out/kunit.out $out/test.log" >&2
	exit 1
fi
