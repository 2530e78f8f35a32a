# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# libFuzzer harnesses of the userspace parsers (tests/fuzz/fuzz_*.c), built by make FUZZ=1
# into .output-fuzz against a libdrover.a with ASan, UBSan and coverage (FUZZ_FLAGS, Makefile).
#   make test-fuzz   build them and run each for a fixed -seed and -runs over its checked-in
#                    corpus (tests/fuzz/corpus/NAME): deterministic, ~30 s; a sanitizer
#                    report, a leak or a wrong value accepted fails (scripts/run-tests.sh fuzz)
#   make fuzz-NAME   build .output-fuzz/tests/fuzz/fuzz_NAME to search longer by hand:
#                    .output-fuzz/tests/fuzz/fuzz_NAME -max_total_time=300 NEWDIR tests/fuzz/corpus/NAME

FUZZ_OUT	:= .output-fuzz
FUZZ_SRCS	:= $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS	:= $(patsubst %.c,$(FUZZ_OUT)/%,$(FUZZ_SRCS))

.PHONY: test-fuzz

ifeq ($(FUZZ),1)
$(OUTPUT)/tests/fuzz:
	$(Q)mkdir -p $@

$(OUTPUT)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(LIBDROVER) $(USER_HDRS) | $(OUTPUT)/tests/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIBDROVER) $(LDFLAGS) -fsanitize=fuzzer $(LDLIBS) -o $@
endif

fuzz-%:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 $(FUZZ_OUT)/tests/fuzz/fuzz_$*

test-fuzz:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 $(FUZZ_BINS)
	$(Q)scripts/run-tests.sh fuzz
