#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# nat mode, IPv4 and IPv6, set up with the CLI only: 3,000 short HTTP
# connections from the client to VIP:80 land on each of the three nodes within
# ±10% of a third, and none fails. The client uses fixed source ports
# (20000-22999), so the 5-tuples, and the verdict, are the same every run: with
# random ports a fair hash still leaves ±10% about once in 1,700 runs.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

N=${SPREAD_N:-3000}
lab_start
mount_bpffs
attach_lb
svc_cli 4 80 $LAB_NODES4
svc_cli 6 80 $LAB_NODES6

lo=$((N * 9 / 30)) hi=$((N * 11 / 30))
for vip in "$LAB_VIP4" "$LAB_VIP6"; do
	out=$(spread "$vip" 80 "$N" --sport-base 20000) || fail "lbtool spread to $vip failed"
	log "spread $vip:80: $out"
	ok=$(jq -r .ok <<<"$out")
	failed=$(jq -r .failed <<<"$out")
	log "$vip: opened $(jq -r .opened <<<"$out"), broken/failed $failed ($(jq -c .errors <<<"$out")), per node $(jq -c .nodes <<<"$out")"
	[ "$failed" -eq 0 ] || fail "$vip: $failed of $N connections failed: $(jq -c .errors <<<"$out")"
	[ "$ok" -eq "$N" ] || fail "$vip: only $ok of $N connections answered"
	for n in n1 n2 n3; do
		c=$(jq -r --arg n "$n" '.nodes[$n] // 0' <<<"$out")
		[ "$c" -ge "$lo" ] && [ "$c" -le "$hi" ] ||
			fail "$vip: node $n got $c of $N connections, outside [$lo, $hi] (±10% of a third)"
	done
done
drv -j stats >"$E2E_TMP/stats.json" 2>/dev/null && log "drover stats: new_flow=$(stat_packets new_flow) nat_reply=$(stat_packets nat_reply) drop_no_backend=$(stat_packets drop_no_backend)"
log "PASS: $N connections per family, each node within [$lo, $hi]"
