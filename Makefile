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
# Every kunitconfig kunit.py merges into the build, and the patches.
CFGHASH  := $(shell cat $(KUNITCONFIGS) $(wildcard patches/*.patch) | sha256sum | cut -c1-12)
UMLBUILD := $(CACHE)/uml-$(CFGHASH)
UMLDIR   := $(CACHE)/umldir

# The debug x86_64 kernel of selftests-qemu-debug: built from its own
# pristine copy of the source (the UML tree has lazymap grafted into it,
# headers included, which modules built against this kernel must not
# see), keyed by the hash of its config fragment.
QDCONFIG := configs/qemu-debug.config
QDHASH   := $(shell cat $(QDCONFIG) | sha256sum | cut -c1-12)
QDSRC    := $(CACHE)/src/pristine/linux-source-$(KSERIES)
QDBUILD  := $(CACHE)/qemu-debug-$(QDHASH)
QDMOD    := $(O)/qemu-debug/src

# The selftests build through their kselftest Makefile in the grafted tree
# (tests.mk lists the programs), the samples through their own Makefile;
# both static (they run from a busybox initramfs), with -Werror, against
# the pinned release's UAPI headers and the project's own.
include tools/testing/selftests/lazymap/tests.mk
ST_SRC   := tools/testing/selftests/lazymap
# The project's own userspace API headers, prepared the kernel's way
# (headers_install.sh strips __user and the like) for the selftests.
ST_UAPI  := $(O)/uapi
ST_UAPI_H := $(wildcard include/uapi/linux/*.h)
ST_OUT   := $(O)/selftests/bin
SAMPLES_OUT := $(O)/samples/bin
USER_INC := -isystem $(UAPI)/include -I$(ST_UAPI)
USER_MAKE_ARGS = KHDR_INCLUDES="$(USER_INC)" USERCFLAGS=-Werror USERLDFLAGS=-static

# The test provider (lazymap_test.ko) is built only when asked for
# (Kbuild), so that modules_install does not install it: by the targets
# whose tests load it or that check it, or by `make LAZYMAP_TEST=m`.
LAZYMAP_TEST ?= $(if $(filter check lint selftests-qemu bench,$(MAKECMDGOALS)),m,n)
KBUILD_ARGS := -C $(KHDR) M=$(CURDIR) W=1 CONFIG_LAZYMAP_TEST=$(LAZYMAP_TEST)

# `make deps` installs packages and the guest image; of the other targets
# only check, demo and bench run it first (the rest say what is missing).
NEED_DEPS := $(if $(filter check demo bench,$(MAKECMDGOALS)),deps)

export KREL KSRC KHDR IMG UMLBUILD UMLDIR O JOBS CACHE

.PHONY: all help deps source uml-kernel modules selftests-bin samples kunit \
	selftests-uml selftests-qemu check demo bench clean distclean \
	scripts-test lint dkms debug-kernel debug-modules selftests-qemu-debug fuzz

all: modules

help:
	@echo "make            build the modules against $(KREL) headers (W=1);"
	@echo "                LAZYMAP_TEST=m: the test provider too"
	@echo "make deps       install the packages, source, headers and guest image"
	@echo "make check      all test stages; ends with 'N passed, N failed, N skipped'"
	@echo "make demo       boot QEMU with the modules and show the demo"
	@echo "make kunit | selftests-uml | selftests-qemu | selftests-qemu-debug   one stage"
	@echo "make debug-kernel | debug-modules   the debug x86_64 kernel, modules against it"
	@echo "make bench      benchmarks (QEMU), results in build/bench/"
	@echo "make fuzz       the fuzzer in the debug kernel: SEED= N= THREADS="
	@echo "T=name          run only the selftests named (space separated)"
	@echo "caches in $(CACHE); logs in $(O)"

# --- prerequisites -----------------------------------------------------

deps:
	@scripts/deps.sh '$(KDEBVER)' '$(KREL)' '$(CACHE)'

$(KSRC)/.extracted: | $(NEED_DEPS)
	@test -f /usr/src/linux-source-$(KSERIES).tar.xz || \
		{ echo "no linux-source-$(KSERIES): run 'make deps' first"; exit 1; }
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

$(QDSRC)/.extracted: | $(NEED_DEPS)
	@test -f /usr/src/linux-source-$(KSERIES).tar.xz || \
		{ echo "no linux-source-$(KSERIES): run 'make deps' first"; exit 1; }
	rm -rf $(QDSRC) && mkdir -p $(dir $(QDSRC))
	tar -C $(dir $(QDSRC)) -xf /usr/src/linux-source-$(KSERIES).tar.xz
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

source: $(KSRC)/.extracted
	@scripts/graft.sh $(KSRC)

# --- modules out of tree -----------------------------------------------

modules: $(NEED_DEPS)
	@test -d $(KHDR) || { echo "no $(KHDR): run 'make deps' first"; exit 1; }
	$(MAKE) $(KBUILD_ARGS) modules

# DKMS as a user installs it (dkms.conf), built against the pinned headers
# in a private DKMS tree under $(O)/dkms.
# DKMS runs make itself: not as a child of this one's jobserver.
dkms: $(NEED_DEPS)
	@MAKEFLAGS= MFLAGS= scripts/dkms-build.sh '$(KREL)' '$(KHDR)'

# Static checks.  Kernel code: sparse and W=1 on every module, kernel-doc,
# checkpatch errors and warnings.  Userspace (selftests, samples): sparse,
# kernel-doc and checkpatch too, less what does not apply there.
KDOC_FILES := $(filter-out %.mod.c,$(wildcard include/linux/*.h \
		drivers/*/*/*.c drivers/*/*/*/*.c drivers/*/*/*.h drivers/*/*/*/*.h))
USER_FILES := $(wildcard $(ST_SRC)/*.[ch] samples/lazymap/*.[ch])
CHECKPATCH = perl $(KSRC)/scripts/checkpatch.pl --strict --no-tree -q
# In userspace, accesses that may raise SIGBUS are volatile, and the
# kernel's types (u8), BIT() and attribute macros (__maybe_unused) do not
# exist;
# the harness's EXPECT_*() and ASSERT_*() are two statements, so an if
# around one keeps its braces; its macros paste their arguments into names
# and (the .types file) name types checkpatch does not know.
CHECKPATCH_USER := --ignore VOLATILE,PREFER_KERNEL_TYPES,PREFER_DEFINED_ATTRIBUTE_MACRO,BIT_MACRO \
	--ignore BRACES,MACRO_ARG_REUSE --typedefsfile scripts/checkpatch-userspace.types
# Nothing from sparse is accepted; the harness's generated functions and
# globals are not static (-Wno-decl for the selftests).
SPARSE_USER = out=$$(sparse -Wno-unknown-attribute -D_GNU_SOURCE= $(USER_INC) \
	-I$(KSRC)/$(ST_SRC) $(1) $(2) 2>&1) && [ -z "$$out" ] || \
	{ echo "$$out"; exit 1; }
lint: source $(UAPI)/.done $(ST_UAPI)/.done
	$(MAKE) $(KBUILD_ARGS) C=2 modules
	$(KSRC)/scripts/kernel-doc -Werror -none $(KDOC_FILES) $(USER_FILES)
	@# trace.h keeps the TRACE_EVENT() layout checkpatch misreads; the test
	@# header is shared with userspace, which has no BIT().
	@printf '%s\n' $(filter-out %/trace.h,$(KDOC_FILES)) | \
		xargs -P $(JOBS) -n 4 $(CHECKPATCH) --ignore BIT_MACRO -f
	@printf '%s\n' $(USER_FILES) | \
		xargs -P $(JOBS) -n 4 $(CHECKPATCH) $(CHECKPATCH_USER) -f
	@for f in $(filter $(ST_SRC)/%.c,$(USER_FILES)); do \
		$(call SPARSE_USER,-Wno-decl,$$f); \
	done
	@for f in $(filter samples/%.c,$(USER_FILES)); do \
		$(call SPARSE_USER,,$$f); \
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

# --- debug x86_64 kernel (QEMU) -----------------------------------------

debug-kernel: $(QDSRC)/.extracted
	@scripts/build-debug-kernel.sh $(QDSRC) $(QDBUILD) $(QDCONFIG) $(O)/qemu-debug/kernel-build.log

# An external module build writes its objects next to the sources: build
# from a copy under $(O), so the stock-headers build (make modules) keeps
# its own objects in the checkout.
debug-modules: debug-kernel
	@mkdir -p $(QDMOD)
	rsync -a --delete --exclude-from=.gitignore Kbuild drivers include $(QDMOD)/
	$(MAKE) -j$(JOBS) -C $(QDBUILD) M=$(QDMOD) CONFIG_LAZYMAP_TEST=m modules

# --- selftests and samples ---------------------------------------------

selftests-bin: source $(UAPI)/.done $(ST_UAPI)/.done
	@mkdir -p $(ST_OUT)
	+$(MAKE) -C $(KSRC)/$(ST_SRC) OUTPUT=$(ST_OUT) $(USER_MAKE_ARGS)

samples: $(UAPI)/.done $(ST_UAPI)/.done
	@mkdir -p $(SAMPLES_OUT)
	+$(MAKE) -C samples/lazymap OUTPUT=$(SAMPLES_OUT) $(USER_MAKE_ARGS)

selftests-uml: uml-kernel selftests-bin
	@scripts/run-uml.sh $(filter $(or $(T),$(UML_TESTS)),$(UML_TESTS))

selftests-qemu: modules selftests-bin
	@scripts/run-qemu.sh tests $(filter $(or $(T),$(QEMU_TESTS)),$(QEMU_TESTS))

# A BUG or oops panics the guest, which ends the run at once; so does a
# task hung for 2 minutes.
QEMU_DEBUG_ENV = QEMU_KERNEL=$(QDBUILD)/arch/x86/boot/bzImage QEMU_MODROOT=$(QDBUILD)/modroot \
	 QEMU_KREL=$$(cat $(QDBUILD)/kernelrelease) QEMU_LAZYMAP_KO=$(QDMOD) \
	 QEMU_MEM=3G QEMU_TIMEOUT=$${QEMU_TIMEOUT:-2400}
selftests-qemu-debug: debug-modules selftests-bin
	@$(QEMU_DEBUG_ENV) QEMU_APPEND="oops=panic hung_task_panic=1" \
	 scripts/run-qemu.sh debug $(filter $(or $(T),$(QEMU_DEBUG_TESTS)),$(QEMU_DEBUG_TESTS))

# The fuzzer alone in the debug kernel, as long as asked: N operations
# from seed SEED (random unless given; printed first), THREADS threads;
# FUZZ_ARGS: more of the fuzzer's variables (LAZYMAP_FUZZ_SERIAL=1 ...).
# The kernel passes the name=value words to init, whose programs inherit
# them.
ifeq ($(origin SEED),undefined)
SEED    := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
N       ?= 500000
THREADS ?= 4
fuzz: debug-modules selftests-bin
	@echo "fuzz: seed $(SEED), $(N) operations, $(THREADS) threads"
	@$(QEMU_DEBUG_ENV) QEMU_APPEND="oops=panic hung_task_panic=1 \
	 LAZYMAP_FUZZ_SEED=$(SEED) LAZYMAP_FUZZ_N=$(N) LAZYMAP_FUZZ_THREADS=$(THREADS) \
	 $(FUZZ_ARGS)" \
	 scripts/run-qemu.sh fuzz lazymap_fuzz

# Self-tests of the harness itself (splat scanner, result parsers; the
# KUnit one through the pinned release's kunit.py).
scripts-test: $(KSRC)/.extracted
	@scripts/test-harness.sh

check: deps
	@scripts/check.sh

# UML=1: the mdev and VM parts in the debug UML kernel, no PCI device;
# V=1: the kernel log after the demo's output.
demo: deps $(if $(filter 1,$(UML)),uml-kernel,modules) samples
	@$(if $(filter 1,$(UML)),scripts/run-uml.sh --demo,scripts/run-qemu.sh demo)

bench: deps modules selftests-bin
	@scripts/run-qemu.sh bench $(BENCH_TESTS)

clean:
	-$(MAKE) $(KBUILD_ARGS) clean >/dev/null 2>&1
	rm -rf $(O)

distclean: clean
	rm -rf $(CACHE)
