# SPDX-License-Identifier: GPL-2.0
#
# lazymap: build the modules against Debian's Linux 6.12 and run the three
# test stages (KUnit under UML, selftests under UML, selftests under QEMU).
# `make help` lists the targets.

# The one kernel pin: the UML source, the module headers and the QEMU guest
# image are all this upstream release.
KDEBVER := 6.12.117-1~deb12u1
KREL    := 6.12.117+deb12-amd64
KSERIES := 6.12

# Everything big lives outside the checkout, keyed by kernel release; the
# UML build directory is further keyed by the hash of its configuration.
CACHE_ROOT ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/lazymap
CACHE   := $(CACHE_ROOT)/$(KREL)
KSRC    := $(CACHE)/src/linux-source-$(KSERIES)
KHDR    := /usr/src/linux-headers-$(KREL)
IMG     := $(CACHE)/image
UAPI    := $(CACHE)/uapi
O       := $(CURDIR)/build
JOBS    ?= $(shell nproc)

KUNITCONFIGS := kunit/base.kunitconfig kunit/debug.kunitconfig \
	$(sort $(wildcard drivers/*/tests/.kunitconfig drivers/*/*/tests/.kunitconfig \
			  drivers/*/*/*/tests/.kunitconfig))
CFGHASH  := $(shell cat kunit/*.kunitconfig patches/*.patch 2>/dev/null | sha256sum | cut -c1-12)
UMLBUILD := $(CACHE)/uml-$(CFGHASH)
UMLDIR   := $(CACHE)/umldir

include tools/testing/selftests/lazymap/tests.mk
ST_SRC   := tools/testing/selftests/lazymap
# The project's own userspace API headers, prepared the kernel's way
# (headers_install.sh strips __user and the like) for the selftests.
ST_UAPI  := $(O)/uapi
ST_UAPI_H := $(wildcard include/uapi/linux/*.h)
ST_OUT   := $(O)/selftests/bin
ST_CFLAGS := -static -O2 -g -Wall -Wextra -Werror -pthread \
	-isystem $(UAPI)/include -I$(ST_UAPI) \
	-I$(KSRC)/tools/testing/selftests -I$(CURDIR)/$(ST_SRC)

export KREL KSRC KHDR IMG UMLBUILD UMLDIR O JOBS CACHE

.PHONY: all help deps source uml-kernel modules selftests-bin kunit \
	selftests-uml selftests-qemu check demo bench clean distclean \
	scripts-test lint

all: modules

help:
	@echo "make            build the modules against $(KREL) headers (W=1)"
	@echo "make check      all test stages; ends with 'N passed, N failed, N skipped'"
	@echo "make demo       boot QEMU with the modules and show the demo"
	@echo "make kunit | selftests-uml | selftests-qemu   one stage"
	@echo "make bench      benchmarks (QEMU), results in build/bench/"
	@echo "T=name          run only the selftests named (space separated)"
	@echo "caches in $(CACHE); logs in $(O)"

# --- prerequisites -----------------------------------------------------

deps:
	@scripts/deps.sh '$(KDEBVER)' '$(KREL)' '$(CACHE)'

$(KSRC)/.extracted: | deps
	rm -rf $(KSRC) && mkdir -p $(dir $(KSRC))
	tar -C $(dir $(KSRC)) -xf /usr/src/linux-source-$(KSERIES).tar.xz
	touch $@

# Userspace API headers of the pinned release for the selftests (the host's
# linux-libc-dev is older).
$(UAPI)/.done: $(KSRC)/.extracted
	rm -rf $(UAPI)
	$(MAKE) -s -C $(KSRC) ARCH=x86 O=$(UAPI)/obj INSTALL_HDR_PATH=$(UAPI) headers_install
	rm -rf $(UAPI)/obj
	touch $@

# headers_install.sh runs scripts/unifdef from the current directory.
$(CACHE)/hdrtools/scripts/unifdef: $(KSRC)/.extracted
	@mkdir -p $(dir $@)
	$(CC) -O2 -o $@ $(KSRC)/scripts/unifdef.c

$(ST_UAPI)/.done: $(ST_UAPI_H) $(CACHE)/hdrtools/scripts/unifdef
	rm -rf $(ST_UAPI) && mkdir -p $(ST_UAPI)/linux
	@for h in $(ST_UAPI_H); do \
		(cd $(CACHE)/hdrtools && sh $(KSRC)/scripts/headers_install.sh \
			$(CURDIR)/$$h $(ST_UAPI)/linux/$${h##*/}) || exit 1; \
	done
	touch $@

source: deps $(KSRC)/.extracted
	@scripts/graft.sh $(KSRC)

# --- modules out of tree -----------------------------------------------

modules: deps
	$(MAKE) -C $(KHDR) M=$(CURDIR) W=1 modules

# Static checks of the kernel code: sparse and W=1 on every module,
# kernel-doc on the documented sources, checkpatch errors and warnings.
KDOC_FILES := $(filter-out %.mod.c,$(wildcard include/linux/*.h \
		drivers/*/*/*.c drivers/*/*/*/*.c drivers/*/*/*.h drivers/*/*/*/*.h))
lint: deps source
	$(MAKE) -C $(KHDR) M=$(CURDIR) C=2 W=1 modules
	$(KSRC)/scripts/kernel-doc -Werror -none $(KDOC_FILES)
	@# trace.h keeps the TRACE_EVENT() layout checkpatch misreads; the test
	@# header is shared with userspace, which has no BIT().
	@for f in $(filter-out %/trace.h,$(KDOC_FILES)); do \
		perl $(KSRC)/scripts/checkpatch.pl --strict --no-tree -q \
			--ignore BIT_MACRO -f $$f || exit 1; \
	done

# --- UML kernel (KUnit + userspace) ------------------------------------

KUNIT_PY = cd $(KSRC) && python3 tools/testing/kunit/kunit.py

uml-kernel: source
	@mkdir -p $(O)/kunit
	$(KUNIT_PY) build --arch=um --build_dir=$(UMLBUILD) --jobs=$(JOBS) \
		$(addprefix --kunitconfig=$(CURDIR)/,$(KUNITCONFIGS)) \
		> $(O)/kunit/build.log 2>&1 || \
		{ tail -40 $(O)/kunit/build.log; echo "UML build failed: $(O)/kunit/build.log"; exit 1; }

kunit: uml-kernel
	@scripts/run-kunit.sh

# --- selftests ---------------------------------------------------------

$(ST_OUT)/%: $(ST_SRC)/%.c $(wildcard $(ST_SRC)/*.h) $(ST_UAPI)/.done \
	    drivers/virt/lazymap/lazymap_test.h $(UAPI)/.done
	@mkdir -p $(ST_OUT)
	$(CC) $(ST_CFLAGS) -o $@ $< -lpthread

$(ST_OUT)/%: samples/lazymap/%.c $(wildcard $(ST_SRC)/*.h) $(ST_UAPI)/.done $(UAPI)/.done
	@mkdir -p $(ST_OUT)
	$(CC) $(ST_CFLAGS) -o $@ $< -lpthread

SAMPLES := vfio_bar_demo

selftests-bin: $(addprefix $(ST_OUT)/,$(sort $(UML_TESTS) $(QEMU_TESTS) $(BENCH_TESTS)))

selftests-uml: uml-kernel selftests-bin
	@scripts/run-uml.sh $(filter $(or $(T),$(UML_TESTS)),$(UML_TESTS))

selftests-qemu: modules selftests-bin
	@scripts/run-qemu.sh tests $(filter $(or $(T),$(QEMU_TESTS)),$(QEMU_TESTS))

# Self-tests of the harness itself (splat scanner, result parser).
scripts-test:
	@scripts/test-harness.sh

check:
	@scripts/check.sh

demo: modules selftests-bin $(addprefix $(ST_OUT)/,$(SAMPLES))
	@scripts/run-qemu.sh demo

bench: modules selftests-bin
	@scripts/run-qemu.sh bench $(BENCH_TESTS)

clean:
	-$(MAKE) -C $(KHDR) M=$(CURDIR) clean >/dev/null 2>&1
	rm -rf $(O)

distclean: clean
	rm -rf $(CACHE)
