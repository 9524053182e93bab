#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Graft lazymap into an extracted kernel tree, as it would sit in-tree:
#  - every driver directory (one holding a Kconfig) is symlinked into place,
#    with one `source` line in its parent Kconfig and one `obj-y` line in its
#    parent Makefile;
#  - public headers are symlinked, and every file of the selftests
#    directory;
#  - patches/*.patch are applied (the UML build tree only).
# Idempotent: running it again changes nothing, not even for a moment (a
# link already right is left alone), and runs are serialized by a lock, so
# that make's parallel targets may each run it while another builds.
set -euo pipefail

KSRC=${1:?usage: $0 KSRC}
PROJ=$(cd "$(dirname "$0")/.." && pwd)

exec 9> "$KSRC/.graft.lock"
flock 9

link() {	# link <path relative to both trees>
	[ "$(readlink "$KSRC/$1" || true)" = "$PROJ/$1" ] && return
	mkdir -p "$(dirname "$KSRC/$1")"
	ln -sfn "$PROJ/$1" "$KSRC/$1"
}

for kc in $(cd "$PROJ" && find drivers -mindepth 2 -name Kconfig | sort); do
	dir=$(dirname "$kc")
	parent=$(dirname "$dir")
	name=$(basename "$dir")
	link "$dir"
	pk=$KSRC/$parent/Kconfig
	pm=$KSRC/$parent/Makefile
	if ! grep -qF "source \"$dir/Kconfig\"" "$pk"; then
		# Inside the parent's closing `if`/`menu` block when it has one.
		last=$(grep -nE '^(endif|endmenu)' "$pk" | tail -n1 | cut -d: -f1 || true)
		if [ -n "$last" ]; then
			sed -i "${last}i source \"$dir/Kconfig\"\n" "$pk"
		else
			printf '\nsource "%s/Kconfig"\n' "$dir" >> "$pk"
		fi
	fi
	grep -qxF "obj-y += $name/" "$pm" || echo "obj-y += $name/" >> "$pm"
done

for h in $(cd "$PROJ" && find include -name '*.h' | sort); do
	link "$h"
done

# The selftests directory is a real directory of links to the project's
# files, so that what its Makefile and sources reach through ".."
# (../lib.mk, ../kselftest_harness.h) is the kernel tree's.  Links to
# files the project no longer has are removed.
st=tools/testing/selftests/lazymap
[ -L "$KSRC/$st" ] && rm "$KSRC/$st"
mkdir -p "$KSRC/$st"
find "$KSRC/$st" -maxdepth 1 -xtype l -delete
for f in $(cd "$PROJ" && find "$st" -maxdepth 1 -type f | sort); do
	link "$f"
done

for p in "$PROJ"/patches/*.patch; do
	[ -e "$p" ] || continue
	if patch -d "$KSRC" -p1 -R -s -f --dry-run < "$p" >/dev/null 2>&1; then
		continue	# already applied
	fi
	patch -d "$KSRC" -p1 -N -s < "$p"
done
