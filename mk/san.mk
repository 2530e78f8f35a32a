# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The test tiers on the userspace built with AddressSanitizer (leaks included) and UBSan:
# make SAN=1 builds it into .output-san (see the Makefile); scripts/run-tests.sh's *-san
# tiers run it with options that make any report fail the test.
#   make test-unit-san   unit tests (make test runs them too)
#   make test-bpf-san    data-path tests: the control library they link is sanitized (root)
#   make test-e2e-san    e2e tests with .output-san/drover as DROVER; tests/e2e/lib.sh reads
#                        every report, the agents' and the CLI's, and fails the test on one

SAN_OUT		:= .output-san
SAN_UNIT_BINS	:= $(addprefix $(SAN_OUT)/,$(UNIT_SRCS:.c=))
SAN_BPFT_BINS	:= $(addprefix $(SAN_OUT)/,$(BPFT_SRCS:.c=))

.PHONY: test-unit-san test-bpf-san test-e2e-san

test-unit-san:
	$(Q)$(MAKE) --no-print-directory SAN=1 $(SAN_UNIT_BINS)
	$(Q)scripts/run-tests.sh unit-san

test-bpf-san:
	$(Q)$(MAKE) --no-print-directory SAN=1 $(SAN_BPFT_BINS)
	$(Q)scripts/run-tests.sh bpf-san

# The e2e tests take xdp_pass.bpf.o and the bench tools from .output: only drover is sanitized.
test-e2e-san: test-tools
	$(Q)$(MAKE) --no-print-directory all bench-tools
	$(Q)$(MAKE) --no-print-directory SAN=1 $(SAN_OUT)/drover
	$(Q)scripts/run-tests.sh e2e-san
