#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A dsr node set up with `drover node-setup dsr VIP4 VIP6` never claims the
# VIPs on its link, for either family, so the balancer keeps their traffic:
# - nobody gets an answer to ARP (IPv4) or a neighbour solicitation (IPv6)
#   for a VIP from the node: a neighbour that has the VIPs on-link ends with
#   its entry FAILED (node-setup's arp_ignore=1 for IPv4; for IPv6 the kernel
#   answers solicitations only for addresses on the receiving interface, so
#   the /128 on lo is enough);
# - packets the node sends from a VIP (its dsr replies) resolve their next
#   hop without teaching it the VIP: no ARP request or solicitation of the
#   node names a VIP as its sender (arp_announce=2; for IPv6 the kernel picks
#   the interface's own address), so the neighbour learns no entry for a VIP.
# Meanwhile the node's own addresses resolve as usual (the control). The node
# forwards, as a Kubernetes node does (IPv6 forwarding adds anycast addresses).
set -eu
. "$(dirname "$0")/lib.sh"

VIP4=10.98.1.100 VIP6=fd98:1::100
N4=10.98.0.2 N6=fd98::2 P4=10.98.0.1 P6=fd98::1

require_root
require_cmds ping
NODE=$(ns_add node)
PEER=$(ns_add peer)
ip -n "$PEER" link add eth0 type veth peer name eth0 netns "$NODE"
ip -n "$NODE" -batch - <<EOF
addr add $N4/24 dev eth0
addr add $N6/64 dev eth0 nodad
link set eth0 up
EOF
ip -n "$PEER" -batch - <<EOF
addr add $P4/24 dev eth0
addr add $P6/64 dev eth0 nodad
link set eth0 up
EOF
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip netns exec "$NODE" "$DROVER" node-setup dsr "$VIP4" "$VIP6" >/dev/null ||
	fail "drover node-setup dsr $VIP4 $VIP6 failed"
ip -n "$NODE" addr show dev lo | grep -q "inet6 $VIP6/128" || fail "node-setup did not put $VIP6/128 on lo"

# nstate NS ADDR: the state of NS's neighbour entry for ADDR on eth0 ("none" if it has none).
nstate() {
	local s
	s=$(ip -n "$1" neigh show "$2" dev eth0 | awk '{print $NF}')
	echo "${s:-none}"
}
nstate_is() { [ "$(nstate "$1" "$2")" = "$3" ]; }

log "the node's own addresses resolve (control)"
ip netns exec "$PEER" ping -q -c 1 -W 5 "$N4" >/dev/null || fail "peer cannot reach the node's $N4"
ip netns exec "$PEER" ping -q -c 1 -W 5 "$N6" >/dev/null || fail "peer cannot reach the node's $N6"

log "the node's packets from the VIPs teach the peer nothing about the VIPs"
ip -n "$PEER" route add "$VIP4/32" via "$N4"
ip -n "$PEER" -6 route add "$VIP6/128" via "$N6"
ip -n "$NODE" neigh flush dev eth0
ip -n "$PEER" neigh flush dev eth0
ip netns exec "$NODE" ping -q -c 1 -W 5 -I "$VIP4" "$P4" >/dev/null || fail "node cannot ping $P4 from $VIP4"
ip netns exec "$NODE" ping -q -c 1 -W 5 -I "$VIP6" "$P6" >/dev/null || fail "node cannot ping $P6 from $VIP6"
for v in "$VIP4" "$VIP6"; do
	nstate_is "$PEER" "$v" none ||
		fail "the node taught the peer a neighbour entry for VIP $v ($(nstate "$PEER" "$v")): it sourced ARP/NDP from the VIP"
done

log "nobody gets an answer for the VIPs from the node"
ip -n "$PEER" route replace "$VIP4/32" dev eth0
ip -n "$PEER" -6 route replace "$VIP6/128" dev eth0
for v in "$VIP4" "$VIP6"; do
	ip netns exec "$PEER" ping -q -c 1 -W 1 "$v" >/dev/null 2>&1 &&
		fail "the node answered a ping to VIP $v sent to it on-link: it claimed the VIP"
	# The kernel gives up after its probes (3 × 1 s): FAILED, never REACHABLE.
	wait_for 20 nstate_is "$PEER" "$v" FAILED ||
		fail "peer's neighbour entry for VIP $v is $(nstate "$PEER" "$v"), not FAILED: the node answered ARP/NDP for it"
done
log "PASS"
