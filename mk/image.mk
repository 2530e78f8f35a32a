# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The container image: a static drover, an OCI image built with buildah (no Docker daemon),
# and the checks that run without a cluster (tests/image/).
#   make .output/drover-static   static binary (same sources as .output/drover)
#   make image                   localhost/drover:VERSION + .output/drover-image.tar (oci-archive)
#   make test-image              manifests, image, podman runs (root; installs buildah and podman)

DROVER_STATIC	:= $(OUTPUT)/drover-static
IMAGE_NAME	?= localhost/drover
IMAGE_VERSION	:= $(shell sed -n 's/^\#define DROVER_VERSION "\(.*\)"/\1/p' user/ctl.h)
IMAGE_TAG	?= $(IMAGE_NAME):$(IMAGE_VERSION)
IMAGE_ARCHIVE	:= $(OUTPUT)/drover-image.tar
IMAGE_DIR	:= $(OUTPUT)/image
# podman and buildah read these: lower ulimits, runc (tests/image/containers.conf says why).
IMAGE_ENV	:= CONTAINERS_CONF=$(CURDIR)/tests/image/containers.conf

# Debian's libmicrohttpd.a references GnuTLS, whose .a needs p11-kit and libunistring (no .a in
# Debian). drover never starts a TLS daemon, so deploy/image/no-gnutls.c defines the two calls
# libmicrohttpd makes without TLS and every other gnutls_* it needs points at drv_no_gnutls().
MHD_ARCHIVE	= $(shell $(CC) -print-file-name=libmicrohttpd.a)

.PHONY: image test-image image-deps

image-deps:
	$(Q)scripts/install-image-deps.sh

$(IMAGE_DIR):
	$(Q)mkdir -p $@

$(IMAGE_DIR)/no-gnutls.o: deploy/image/no-gnutls.c | $(IMAGE_DIR)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# One -Wl,--defsym a line, read by gcc as a response file (@FILE).
$(IMAGE_DIR)/no-gnutls.rsp: $(IMAGE_DIR)/no-gnutls.o
	$(call msg,GEN,$@)
	$(Q)nm --defined-only $< | awk '{ print $$3 }' | sort > $@.def
	$(Q)nm -u $(MHD_ARCHIVE) 2>/dev/null | awk '$$1 == "U" && $$2 ~ /^gnutls_/ { print $$2 }' \
		| sort -u | comm -23 - $@.def | sed 's/.*/-Wl,--defsym=&=drv_no_gnutls/' > $@
	$(Q)rm -f $@.def

# glibc warns that getaddrinfo/dlopen in a static binary need NSS/.so files at run time. Only
# OpenSSL's (libcrypto's BIO and DSO code, unused by drover) are dropped: the same warning for
# drover's own code would still show, as it means a name lookup that fails in the image.
$(DROVER_STATIC): user/drover.c $(LIBDROVER) $(USER_HDRS) $(SKELS) $(IMAGE_DIR)/no-gnutls.o \
		  $(IMAGE_DIR)/no-gnutls.rsp
	$(call msg,STATIC,$@)
	$(Q)$(CC) $(CFLAGS) -static $< $(LIBDROVER) $(IMAGE_DIR)/no-gnutls.o $(LDFLAGS) \
		@$(IMAGE_DIR)/no-gnutls.rsp $(LDLIBS) -o $@ 2>$@.log || { cat $@.log >&2; exit 1; }
	$(Q)awk '/libcrypto\.a\(/ { getline; next } { print }' $@.log >&2
	$(Q)rm -f $@.log

# image-deps order-only: installed once, before the build (not again in parallel with it).
$(IMAGE_ARCHIVE): $(DROVER_STATIC) deploy/image/Containerfile tests/image/containers.conf | image-deps
	$(call msg,IMAGE,$(IMAGE_TAG))
	$(Q)rm -rf $(IMAGE_DIR)/ctx && mkdir -p $(IMAGE_DIR)/ctx
	$(Q)strip -o $(IMAGE_DIR)/ctx/drover $(DROVER_STATIC)
	$(Q)old=$$($(IMAGE_ENV) buildah inspect -t image -f '{{.FromImageID}}' $(IMAGE_TAG) 2>/dev/null); \
	$(IMAGE_ENV) buildah bud -q --format oci --build-arg VERSION=$(IMAGE_VERSION) \
		-f deploy/image/Containerfile -t $(IMAGE_TAG) -t $(IMAGE_NAME):latest \
		$(IMAGE_DIR)/ctx >/dev/null && \
	new=$$($(IMAGE_ENV) buildah inspect -t image -f '{{.FromImageID}}' $(IMAGE_TAG)) && \
	if [ -n "$$old" ] && [ "$$old" != "$$new" ]; then \
		$(IMAGE_ENV) buildah rmi "$$old" >/dev/null 2>&1 || true; \
	fi
	$(Q)rm -f $@ && $(IMAGE_ENV) buildah push -q $(IMAGE_TAG) oci-archive:$@:$(IMAGE_TAG)
	$(Q)printf '  %-8s %s (%s)\n' IMAGE "$@" "$$(du -h $@ | cut -f1)"

image: $(IMAGE_ARCHIVE)

# Every tests/image/*.sh but lib.sh, in name order, with the e2e tally rules (0 pass, 4 skip).
test-image: image-deps all $(IMAGE_ARCHIVE)
	$(Q)scripts/run-tests.sh image
