# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# make bench: drover side by side with nftables NAT/DSR, HAProxy and no balancer
# (scripts/bench.sh, root). bench/*.bpf.c are built by the main Makefile's globs.

BENCH_OUT	:= $(OUTPUT)/bench
BENCH_TOOLS	:= $(BENCH_OUT)/tcpsrv $(BENCH_OUT)/tcpclient
BENCH_SYN	:= $(BENCH_OUT)/synflood
BENCH_PKT	:= $(BENCH_OUT)/pktcost
BENCH_CFLAGS	:= $(CFLAGS)

$(BENCH_OUT):
	$(Q)mkdir -p $@

$(BENCH_TOOLS): $(BENCH_OUT)/%: bench/%.c | $(BENCH_OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) $< -o $@

$(BENCH_PKT): bench/pktcost.c $(LIBDROVER) $(USER_HDRS) $(BPF_OUT)/drover.skel.h \
	      $(BPF_OUT)/bench_pkt.skel.h | $(BENCH_OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) $< $(LIBDROVER) $(LDFLAGS) $(LDLIBS) -o $@

$(BENCH_SYN): bench/synflood.c $(BPF_OUT)/synflood.skel.h | $(BENCH_OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) $< $(LDFLAGS) $(LDLIBS) -o $@

.PHONY: bench-tools
bench-tools: $(BENCH_TOOLS) $(BENCH_SYN) $(BENCH_PKT)

bench: deps
	$(Q)$(MAKE) --no-print-directory all bench-tools
	$(Q)scripts/bench.sh
