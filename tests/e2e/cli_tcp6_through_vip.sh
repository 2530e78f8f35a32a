#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# IPv6: real TCP connections from a client namespace through an IPv6 VIP to
# two backend namespaces, the balancer set up only by drover CLI commands
# (two-arm full NAT); each connection lands on the backend `drover lookup`
# predicts and both backends get flows. (The IPv4 twin: cli_tcp_through_vip.sh.)
#
#   client ns  c0 fd71::2/64 (xdp_pass)    -- lc fd71::1/64 ----+
#                                                  balancer ns   | drover on lc, l1, l2
#   node 1 ns  n0 fd72:1::2/64 (xdp_pass)  -- l1 fd72:1::1/64 --+  SNAT fd72::1 (lo)
#   node 2 ns  n0 fd72:2::2/64 (xdp_pass)  -- l2 fd72:2::1/64 --+
#   VIP fd99::10 port 80 lives nowhere: the client routes it to the balancer.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
command -v jq >/dev/null || fail "jq missing: scripts/install-deps.sh"
command -v socat >/dev/null || fail "socat missing: scripts/install-deps.sh"
XDP_PASS=$E2E_TOP/.output/xdp_pass.bpf.o
[ -f "$XDP_PASS" ] || fail "$XDP_PASS not built: run make"
mount_bpffs

VIP=fd99::10 SNAT=fd72::1 CL=fd71::2
# not in $(...): ns_add records each name for the cleanup
for r in cl lb n1 n2; do ns_add "$r" >/dev/null; done
CNS=$T-cl LNS=$T-lb N1=$T-n1 N2=$T-n2
# socat forks a handler per connection: kill whatever still runs in our namespaces
kill_ns_procs() {
	local ns p
	for ns in "$CNS" "$LNS" "$N1" "$N2"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
	done
}
on_exit kill_ns_procs
ROOT=$BPFFS/drover
dr() { ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" "$@"; }

ip -n "$LNS" link add lc type veth peer name c0 netns "$CNS"
ip -n "$LNS" link add l1 type veth peer name n0 netns "$N1"
ip -n "$LNS" link add l2 type veth peer name n0 netns "$N2"
ip -n "$LNS" addr add fd71::1/64 dev lc nodad
ip -n "$LNS" addr add fd72:1::1/64 dev l1 nodad
ip -n "$LNS" addr add fd72:2::1/64 dev l2 nodad
ip -n "$LNS" addr add "$SNAT/128" dev lo nodad
for d in lc l1 l2; do ip -n "$LNS" link set "$d" up; done
ip netns exec "$LNS" sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n "$CNS" addr add "$CL/64" dev c0 nodad
ip -n "$CNS" link set c0 up
ip -n "$CNS" -6 route add default via fd71::1
i=1
for ns in "$N1" "$N2"; do
	ip -n "$ns" addr add "fd72:$i::2/64" dev n0 nodad
	ip -n "$ns" link set n0 up
	ip -n "$ns" -6 route add default via "fd72:$i::1"
	i=$((i + 1))
done
# Senders compute checksums themselves (no partial checksums through XDP);
# the far ends run XDP so veth delivers frames drover XDP_TX/REDIRECTs to them.
for ns in "$CNS" "$N1" "$N2"; do
	dev=n0
	[ "$ns" = "$CNS" ] && dev=c0
	ip netns exec "$ns" ethtool -K "$dev" tx off >/dev/null
	ip -n "$ns" link set dev "$dev" xdpdrv obj "$XDP_PASS" sec xdp
done

# Backends answer with their name and hold the connection until the client closes.
bg "$N1" socat TCP6-LISTEN:80,reuseaddr,fork SYSTEM:'echo node-1; exec head -c1 >/dev/null'
bg "$N2" socat TCP6-LISTEN:80,reuseaddr,fork SYSTEM:'echo node-2; exec head -c1 >/dev/null'
for ns in "$N1" "$N2"; do
	wait_for 10 sh -c "ip netns exec $ns ss -Hltn 'sport = :80' | grep -q LISTEN" ||
		fail "backend server in $ns is not listening"
done
# Neighbours resolved up front, so the first packets take the XDP path.
wait_for 10 ip netns exec "$LNS" ping -6 -c1 -W1 "$CL" || fail "balancer can't reach the client"
wait_for 10 ip netns exec "$LNS" ping -6 -c1 -W1 fd72:1::2 || fail "balancer can't reach node 1"
wait_for 10 ip netns exec "$LNS" ping -6 -c1 -W1 fd72:2::2 || fail "balancer can't reach node 2"

log "set up the balancer with the CLI only"
for d in lc l1 l2; do dr attach "$d" || fail "attach $d failed"; done
dr service add "$VIP" port 80 snat "$SNAT" || fail "service add failed"
dr backend add "$VIP" port 80 fd72:1::2 || fail "backend add node 1 failed"
dr backend add "$VIP" port 80 fd72:2::2 || fail "backend add node 2 failed"

name_of() { case $1 in fd72:1::2) echo node-1 ;; fd72:2::2) echo node-2 ;; *) echo "?$1" ;; esac; }
# connect PORT: the first line a connection from client port PORT to the VIP gets
# (the client closes at once: stdin is empty)
connect() {
	ip netns exec "$CNS" timeout 10 socat -T 8 - \
		"TCP6:[$VIP]:80,sourceport=$1,connect-timeout=5" </dev/null 2>/dev/null | head -n1
}

log "connections land on the backend drover lookup predicts"
declare -A seen=()
for p in $(seq 43001 43012); do
	want=$(name_of "$(dr -j lookup "$VIP" port 80 from "$CL" port "$p" | jq -r .backend.address)")
	got=$(connect "$p" || true)
	[ -n "$got" ] || fail "no answer through $VIP:80 from client port $p; stats: $(dr stats)"
	[ "$got" = "$want" ] || fail "client port $p reached $got, drover lookup said $want"
	seen[$got]=1
done
[ "${#seen[@]}" -eq 2 ] || fail "12 flows all went to ${!seen[*]}: no spread"
dr -j stats | jq -e '.global.new_flow.packets >= 12 and .global.nat_reply.packets > 0' \
	>/dev/null || fail "counters did not move: $(dr stats)"

log "PASS"
