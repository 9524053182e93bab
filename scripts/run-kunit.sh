#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Stage 1: run the KUnit suites in the debug UML kernel built by
# `make uml-kernel`, count the results from the JSON kunit.py writes, then
# scan the raw kernel log for splats kunit.py does not fail on.  Keeps
# build/kunit/{kunit.json,kunit.out,test.log}.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

out=$O/kunit
mkdir -p "$out" "$UMLDIR"
rm -f "$out/result" "$out/kunit.json" "$UMLBUILD/test.log"
# shellcheck disable=SC2086
(cd "$KSRC" && python3 tools/testing/kunit/kunit.py exec --arch=um \
	--build_dir="$UMLBUILD" --timeout=600 --json="$out/kunit.json" \
	--kernel_args "uml_dir=$UMLDIR" ${KUNIT_ARGS:-}) > "$out/kunit.out" 2>&1
rc=$?
cp -f "$UMLBUILD/test.log" "$out/test.log" 2>/dev/null || : > "$out/test.log"

read -r pass fail skip < <(kunit_count "$out/kunit.json" $rc "$out/test.log" \
	2> "$out/failed")
head -n 40 "$out/failed"
if ! scripts/splat-scan.sh "$out/test.log"; then
	fail=$((fail + 1))
fi
result kunit "$pass" "$fail" "$skip"
if [ "$fail" -ne 0 ] || [ "$pass" -eq 0 ]; then
	echo "kunit: FAILED, logs: $out/kunit.out $out/test.log" >&2
	exit 1
fi
