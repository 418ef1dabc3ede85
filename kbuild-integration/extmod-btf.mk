# BTF for out-of-tree modules built against a distro headers package (which ships no vmlinux).
#
# kbuild's Makefile.modfinal adds BTF to a module only when the kernel tree it builds against has
# a vmlinux; a distro's linux-headers-* package has none, so kbuild prints "Skipping BTF
# generation ... due to unavailability of vmlinux". Include this file in your module's Makefile
# (the one you run make on, not the Kbuild file) and build the target `btf` after `modules`:
#
#     KDIR ?= /lib/modules/$(shell uname -r)/build
#     include /path/to/btfbuild/kbuild-integration/extmod-btf.mk
#     all:
#     	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
#     	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) btf
#
# BTF_BASE names the kernel the module is for: /sys/kernel/btf/vmlinux of the running kernel
# (the default), a raw BTF file, a vmlinux ELF, or the kernel image itself (/boot/vmlinuz-*).
# Every *.ko in the module directory then gets, as kbuild itself does for M= builds with pahole
# 1.28+: split .BTF over that kernel's BTF with a distilled .BTF.base (for kernels 6.11+, which
# relocate it at load, even onto a later stable update), and its .BTF_ids resolved.
# Both steps rewrite the .ko atomically and stop the build with a one-line error on failure.
# Sign the module afterwards (scripts/sign-file): a signature made before would not cover .BTF.

_btfbuild_default_goal := $(.DEFAULT_GOAL)

BTF_BASE ?= /sys/kernel/btf/vmlinux
BTFBUILD ?= btfbuild
BTFBUILD_PAHOLE ?= btfbuild-pahole
BTFBUILD_RESOLVE_BTFIDS ?= btfbuild-resolve-btfids
# what scripts/Makefile.btf passes for 6.x kernels, plus distilled_base as for M= builds when the
# kernel relocates module BTF at load (6.11 and later; older kernels read .BTF as split over
# their own vmlinux and need it that way: BTF_DISTILLED_BASE=n, the default for them)
BTF_KERNEL_RELEASE ?= $(shell cat '$(KDIR)/include/config/kernel.release' 2>/dev/null)
BTF_DISTILLED_BASE ?= $(shell echo '$(BTF_KERNEL_RELEASE)' | awk -F'[.-]' \
	'{ print ($$1 > 6 || ($$1 == 6 && $$2 >= 11) || $$1 == "") ? "y" : "n" }')
BTF_FEATURES ?= encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,consistent_func,decl_tag_kfuncs$(if $(filter y,$(BTF_DISTILLED_BASE)),$(comma)distilled_base)
comma := ,
BTF_MODULE_DIR ?= $(CURDIR)
BTF_BASE_RAW ?= $(BTF_MODULE_DIR)/.btfbuild-base.btf

.PHONY: btf
btf:
	@set -e; trap "rm -f '$(BTF_BASE_RAW)'" EXIT; \
	$(BTFBUILD) base-btf '$(BTF_BASE)' -o '$(BTF_BASE_RAW)' >/dev/null; \
	found=; \
	for ko in '$(BTF_MODULE_DIR)'/*.ko; do \
		[ -f "$$ko" ] || continue; found=1; \
		echo "  BTF [M] $$ko"; \
		$(BTFBUILD_PAHOLE) -J --btf_features=$(BTF_FEATURES) --btf_base '$(BTF_BASE_RAW)' "$$ko"; \
		$(BTFBUILD_RESOLVE_BTFIDS) -b '$(BTF_BASE_RAW)' "$$ko"; \
	done; \
	[ -n "$$found" ] || { echo "extmod-btf.mk: no .ko in $(BTF_MODULE_DIR): build the modules first" >&2; exit 1; }

.DEFAULT_GOAL := $(_btfbuild_default_goal)
