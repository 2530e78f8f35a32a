#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Every map drover pins is readable with plain bpftool, with BTF field names:
# after attach and one service with a backend, `bpftool map dump pinned` of
# each map prints named fields (not raw hex), and the counters carry the
# names the README shows.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
mount_bpffs
command -v bpftool >/dev/null || skip "bpftool not installed"

lb=$(ns_add lb)
ip -n "$lb" link add eth0 type veth peer name eth1
ip -n "$lb" link set eth0 up
ip -n "$lb" link set eth1 up
ip -n "$lb" addr add 10.0.2.1/24 dev eth0
d() { ip netns exec "$lb" "$DROVER" --bpffs "$BPFFS" "$@"; }
d attach eth0
on_exit "ip netns exec $lb $DROVER --bpffs $BPFFS detach eth0 >/dev/null 2>&1"
d service add 10.0.0.100 port 443 snat 10.0.2.1
d backend add 10.0.0.100 port 443 10.0.2.11

# map name → a field name its dump must show
declare -A want=(
	[drv_svcs_v1]=snat_port_lo [drv_bes_v1]=weight [drv_maglev_v1]=value
	[drv_flows_v1]=backend_gen [drv_nat_v1]=client_port [drv_stats_v1]=packets
	[drv_svcst_v1]=new_flows [drv_best_v1]=reply_bytes [drv_cfg_v1]=tcp_idle_timeout_s
)
# Empty maps (flows, nat) print no entry: check their BTF through `map show` + btf dump.
for m in "${!want[@]}"; do
	[ -e "$BPFFS/$m" ] || fail "map $m is not pinned under $BPFFS"
	out=$(bpftool map dump pinned "$BPFFS/$m" 2>&1 | head -c 200000)
	if ! grep -q "\"${want[$m]}\"" <<<"$out"; then
		btf=$(bpftool -j map show pinned "$BPFFS/$m" | jq -r '.btf_id // empty')
		[ -n "$btf" ] || fail "map $m has no BTF"
		bpftool btf dump id "$btf" | grep -q "'${want[$m]}'" ||
			fail "map $m: neither its dump nor its BTF names field ${want[$m]}"
	fi
	log "$m: named fields ok"
done
# The README shows this dump: the global counters, by name.
bpftool map dump pinned "$BPFFS/drv_stats_v1" | grep -q '"bytes"' || fail "drv_stats_v1 dump lacks 'bytes'"
log PASS
