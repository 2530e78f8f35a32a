#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# nat and dsr modes, IPv4 and IPv6, set up with the CLI only: 3,000 short HTTP
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
# check_spread MODE SPORT_BASE: N connections per family from fixed client
# ports; every one answers, each node gets a third ±10%.
check_spread() {
	local mode=$1 base=$2 vip out n c
	for vip in "$LAB_VIP4" "$LAB_VIP6"; do
		out=$(spread "$vip" 80 "$N" --sport-base "$base") || fail "lbtool spread to $vip ($mode) failed"
		log "$mode $vip:80: opened $(jq -r .opened <<<"$out"), failed $(jq -r .failed <<<"$out") ($(jq -c .errors <<<"$out")), per node $(jq -c .nodes <<<"$out")"
		[ "$(jq -r .failed <<<"$out")" -eq 0 ] && [ "$(jq -r .ok <<<"$out")" -eq "$N" ] ||
			fail "$mode $vip: only $(jq -r .ok <<<"$out") of $N connections answered: $(jq -c .errors <<<"$out")"
		for n in n1 n2 n3; do
			c=$(jq -r --arg n "$n" '.nodes[$n] // 0' <<<"$out")
			[ "$c" -ge "$lo" ] && [ "$c" -le "$hi" ] ||
				fail "$mode $vip: node $n got $c of $N connections, outside [$lo, $hi] (±10% of a third)"
		done
	done
}
check_spread nat 20000
drv -j stats >"$E2E_TMP/stats.json" 2>/dev/null && log "drover stats: new_flow=$(stat_packets new_flow) nat_reply=$(stat_packets nat_reply) drop_no_backend=$(stat_packets drop_no_backend)"

# dsr: the same services in dsr mode; each node holds the VIPs (drover
# node-setup) and answers the client itself, through the balancer's plain
# kernel forwarding (lab_dsr_nodes). Other fixed client ports: the nat run's
# are in TIME_WAIT.
for vip in "$LAB_VIP4" "$LAB_VIP6"; do
	drv service del "$vip" port 80 || fail "service del $vip port 80 failed"
done
lab_dsr_nodes
for fam in 4 6; do
	if [ $fam = 4 ]; then vip=$LAB_VIP4 nodes=$LAB_NODES4; else vip=$LAB_VIP6 nodes=$LAB_NODES6; fi
	drv service add "$vip" port 80 mode dsr || fail "dsr service add $vip failed"
	for n in $nodes; do
		drv backend add "$vip" port 80 "$n" || fail "dsr backend add $n failed"
	done
done
check_spread dsr 23000
log "PASS: $N connections per family and mode (nat, dsr), each node within [$lo, $hi]"
