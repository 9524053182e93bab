#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what lazymap's build and tests need on a Debian 12 machine, and
# unpack the pinned guest kernel image into the cache.  Idempotent: a second
# run with everything present does nothing but a few dpkg queries.
#
# usage: scripts/deps.sh DEB_VERSION KREL CACHE
#   DEB_VERSION  Debian package version, e.g. 6.12.117-1~deb12u1
#   KREL         kernel release, e.g. 6.12.117+deb12-amd64
#   CACHE        per-version cache directory (outside the checkout)
set -euo pipefail

DEBVER=${1:?usage: $0 DEB_VERSION KREL CACHE}
KREL=${2:?usage: $0 DEB_VERSION KREL CACHE}
CACHE=${3:?usage: $0 DEB_VERSION KREL CACHE}
KSERIES=$(echo "$KREL" | cut -d. -f1-2)

pkgs=(
	build-essential bc bison flex libelf-dev libssl-dev python3 cpio
	xz-utils kmod rsync busybox-static qemu-system-x86 sparse dkms
	"linux-source-$KSERIES=$DEBVER"
	"linux-headers-$KREL=$DEBVER"
)

# dpkg-query prints the installed version; compare pinned ones exactly.
missing=()
for p in "${pkgs[@]}"; do
	name=${p%%=*}
	want=
	[[ $p == *=* ]] && want=${p#*=}
	have=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$name" 2>/dev/null || true)
	case "$have" in
	"installed $want"|"installed "*) [ -z "$want" ] || [ "$have" = "installed $want" ] || missing+=("$p") ;;
	*) missing+=("$p") ;;
	esac
done

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The guest kernel image: downloaded and extracted, never installed.
IMG=$CACHE/image
if [ ! -f "$IMG/.done" ]; then
	echo "deps: extracting linux-image-$KREL-unsigned into $IMG"
	rm -rf "$IMG" "$CACHE/debs"
	mkdir -p "$CACHE/debs" "$IMG"
	(cd "$CACHE/debs" && apt-get download -q "linux-image-$KREL-unsigned=$DEBVER")
	dpkg-deb -x "$CACHE"/debs/linux-image-*.deb "$IMG"
	test -f "$IMG/boot/vmlinuz-$KREL"
	depmod -b "$IMG" "$KREL"	# the package leaves modules.dep to postinst
	rm -rf "$CACHE/debs"
	touch "$IMG/.done"
fi
