# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# drover: make | make test | make demo | make bench | make check | make install | make clean
# (V=1: verbose)

# SAN=1: the userspace built with AddressSanitizer and UBSan into .output-san (dynamic; the
# normal .output and the static image binary are untouched). The BPF objects and skeletons are
# not userspace: both builds share .output's (BPF_OUT). mk/san.mk runs tests on this build.
SAN_FLAGS	:= -fsanitize=address,undefined -fno-omit-frame-pointer
# FUZZ=1: the same sanitizers plus libFuzzer's coverage, into .output-fuzz, for the harnesses
# of tests/fuzz (mk/fuzz.mk). -fsanitize=fuzzer (libFuzzer's main) is for them alone.
FUZZ_FLAGS	:= $(SAN_FLAGS) -fsanitize=fuzzer-no-link
OUTPUT		:= $(if $(filter 1,$(FUZZ)),.output-fuzz,$(if $(filter 1,$(SAN)),.output-san,.output))
BPF_OUT		:= .output
CLANG		?= clang
BPFTOOL		?= bpftool
CC		?= cc
ARCH		:= $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/;s/ppc64le/powerpc/;s/s390x/s390/')
MULTIARCH	:= $(shell gcc -print-multiarch 2>/dev/null)

ifeq ($(V),1)
	Q =
	msg =
else
	Q = @
	msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# System include dirs clang would use for the host, handed to -target bpf
# (libbpf-bootstrap): asm/types.h lives in the multiarch dir.
CLANG_BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

BPF_CFLAGS	:= -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wextra -Werror \
		   -Wno-unused-parameter -Iinclude -Ibpf $(CLANG_BPF_SYS_INCLUDES) \
		   -I/usr/include/$(MULTIARCH)
CFLAGS		?= -O2 -g
CFLAGS		+= -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
		   -Iinclude -Iuser -I$(BPF_OUT) $(shell pkg-config --cflags libbpf)
LDLIBS		+= $(shell pkg-config --libs libbpf) -lelf -lz -lyaml -lssl -lcrypto \
		   -lmicrohttpd -lm -lpthread
# The sanitizer build uses clang: with gcc 12, UBSan (libubsan.so beside libasan.so) ignores
# log_path and always writes to stderr, which tests/e2e/lib.sh cannot read for every call.
ifeq ($(FUZZ),1)
CC		:= $(CLANG)
CFLAGS		+= $(FUZZ_FLAGS)
LDFLAGS		+= $(FUZZ_FLAGS)
else ifeq ($(SAN),1)
CC		:= $(CLANG)
CFLAGS		+= $(SAN_FLAGS)
LDFLAGS		+= $(SAN_FLAGS)
endif

# Every *.bpf.c of these folders becomes .output/NAME.bpf.o and .output/NAME.skel.h
# (skeleton name NAME_bpf). Names are unique across folders.
BPF_DIRS	:= bpf tests/bpf bench
vpath %.bpf.c $(BPF_DIRS)
BPF_SRCS	:= $(foreach d,$(BPF_DIRS),$(wildcard $(d)/*.bpf.c))
BPF_OBJS	:= $(patsubst %.bpf.c,$(BPF_OUT)/%.bpf.o,$(notdir $(BPF_SRCS)))
SKELS		:= $(patsubst %.bpf.c,$(BPF_OUT)/%.skel.h,$(notdir $(BPF_SRCS))) \
		   $(BPF_OUT)/drover_noinline.skel.h
BPF_HDRS	:= $(wildcard bpf/lib/*.h include/drover/*.h)

# user/drover.c is main(); everything else in user/ is the library the
# binary, the unit tests and the BPF tests link against.
LIB_SRCS	:= $(filter-out user/drover.c,$(wildcard user/*.c))
LIB_OBJS	:= $(patsubst %.c,$(OUTPUT)/%.o,$(LIB_SRCS))
LIBDROVER	:= $(OUTPUT)/libdrover.a
DROVER		:= $(OUTPUT)/drover
USER_HDRS	:= $(wildcard user/*.h include/drover/*.h)

UNIT_SRCS	:= $(wildcard tests/unit/test_*.c)
UNIT_BINS	:= $(patsubst %.c,$(OUTPUT)/%,$(UNIT_SRCS))
BPFT_SRCS	:= $(wildcard tests/bpf/test_*.c)
BPFT_BINS	:= $(patsubst %.c,$(OUTPUT)/%,$(BPFT_SRCS))
TEST_HDRS	:= $(wildcard tests/*/*.h)

.PHONY: all deps test test-unit test-bpf test-e2e demo bench check clean help
.DELETE_ON_ERROR:
.SECONDARY:

all: $(DROVER) $(BPF_OBJS) $(SKELS)

help:
	@echo 'make            build .output/drover and the BPF objects'
	@echo 'make test       install build deps (Debian), build, run unit (also sanitized), bpf and e2e tests (root)'
	@echo 'make test-unit  only the unit tests (cmocka; test_ctl_maps needs CAP_BPF)'
	@echo 'make test-bpf   only the data-path and node-setup tests in the real kernel (root)'
	@echo 'make test-e2e   only the namespace-lab tests (root)'
	@echo 'make test-unit-san, test-bpf-san, test-e2e-san  a tier with ASan+UBSan (.output-san,'
	@echo '                built by make SAN=1; e2e runs its drover; make test runs test-unit-san)'
	@echo 'make test-fuzz  the libFuzzer harnesses of the parsers (tests/fuzz; .output-fuzz, built by'
	@echo '                make FUZZ=1), a fixed seed and run count over their corpus; make test runs it'
	@echo 'make demo       run the Rancher-style demo on a namespace lab (root)'
	@echo 'make lab-up     start the namespace lab and leave it running; make lab-down removes it'
	@echo 'make bench      benchmarks against nftables NAT and HAProxy (root)'
	@echo 'make bench-tools  build the benchmark tools only (.output/bench)'
	@echo 'make image      static binary and OCI image (buildah; root)'
	@echo 'make test-image check the manifests and run the image in a lab (root; installs podman)'
	@echo 'make deps       install the Debian build dependencies (scripts/install-deps.sh)'
	@echo 'make install    the static drover, its systemd unit, man pages, README and examples under'
	@echo '                PREFIX (/usr/local), the example config as /etc/drover/drover.yaml only if'
	@echo '                none is there (DESTDIR= stages; mk/install.mk); make uninstall keeps the config'
	@echo 'make check      clang-format (the house style) over bpf/ and user/'
	@echo 'make clean      remove .output, .output-san and .output-fuzz'

deps:
	$(Q)scripts/install-deps.sh

$(sort $(OUTPUT) $(BPF_OUT)) $(OUTPUT)/user $(OUTPUT)/tests/unit $(OUTPUT)/tests/bpf:
	$(Q)mkdir -p $@

$(BPF_OUT)/%.bpf.o: %.bpf.c $(BPF_HDRS) | $(BPF_OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_OUT)/%_noinline.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(BPF_OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DDROVER_NOINLINE -c $< -o $@

$(BPF_OUT)/%.skel.h: $(BPF_OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(OUTPUT)/user/%.o: user/%.c $(USER_HDRS) $(SKELS) | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIBDROVER): $(LIB_OBJS) | $(OUTPUT)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(DROVER): user/drover.c $(LIBDROVER) $(USER_HDRS) $(SKELS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIBDROVER) $(LDFLAGS) $(LDLIBS) -o $@

$(OUTPUT)/tests/unit/%: tests/unit/%.c $(LIBDROVER) $(USER_HDRS) $(TEST_HDRS) | $(OUTPUT)/tests/unit
	$(call msg,TEST-CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIBDROVER) $(LDFLAGS) -lcmocka $(LDLIBS) -o $@

# SAN=1: the data-path tests read frames through struct iphdr/tcphdr at wire offsets (14, 18:
# 2 mod 4), as the BPF program does; UBSan's alignment check would flag each of those reads in
# the tests themselves (not in user/), so it is off for these programs only.
$(OUTPUT)/tests/bpf/%: tests/bpf/%.c $(LIBDROVER) $(USER_HDRS) $(TEST_HDRS) $(SKELS) | $(OUTPUT)/tests/bpf
	$(call msg,TEST-CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIBDROVER) $(LDFLAGS) \
		$(if $(filter 1,$(SAN)),-fno-sanitize=alignment) -lcmocka $(LDLIBS) -o $@

# make test: every tier, in order (the unit tests twice: as built, and with ASan+UBSan:
# mk/san.mk; then the parsers' fuzz harnesses: mk/fuzz.mk); the runner prints "N passed,
# N failed" per tier and in all.
test: deps
	$(Q)$(MAKE) --no-print-directory all bench-tools $(UNIT_BINS) $(BPFT_BINS) \
		$(BPF_OUT)/drover_noinline.bpf.o $(BPF_OUT)/drover-static
	$(Q)$(MAKE) --no-print-directory SAN=1 $(SAN_UNIT_BINS)
	$(Q)$(MAKE) --no-print-directory FUZZ=1 $(FUZZ_BINS)
	$(Q)scripts/run-tests.sh all

test-unit: $(UNIT_BINS)
	$(Q)scripts/run-tests.sh unit

test-bpf: all $(BPFT_BINS)
	$(Q)scripts/run-tests.sh bpf

# drover-static: the e2e test of make install installs it.
test-e2e: all bench-tools $(BPF_OUT)/drover-static
	$(Q)scripts/run-tests.sh e2e

check:
	$(Q)clang-format --dry-run -Werror $(wildcard bpf/*.c bpf/lib/*.h user/*.c user/*.h)

clean:
	$(call msg,CLEAN,.output .output-san .output-fuzz)
	$(Q)rm -rf .output .output-san .output-fuzz

# Further targets (demo, bench, image) live in their own fragments.
-include mk/*.mk
