#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Real TCP connections from a client namespace through the VIP to backend
# namespaces, with the balancer set up only by drover CLI commands (two-arm
# full NAT). Each connection lands on the backend `drover lookup` predicts; an
# open connection is recorded and counted in `backend show`; drain sends new
# flows elsewhere; counters move. IPv4 by default; FAMILY=6 runs the same test
# over IPv6 (cli_tcp6_through_vip.sh), with the addresses in brackets below.
#
#   client ns  c0 10.71.0.2/24 (xdp_pass)  -- lc 10.71.0.1/24 --+
#                                                  balancer ns   | drover on lc, l1, l2
#   node 1 ns  n0 10.72.1.2/24 (xdp_pass)  -- l1 10.72.1.1/24 --+  SNAT 10.72.0.1 (lo)
#   node 2 ns  n0 10.72.2.2/24 (xdp_pass)  -- l2 10.72.2.1/24 --+
#   VIP 10.99.0.10 port 80 lives nowhere: the client routes it to the balancer.
#   [IPv6: 10.71.0.x → fd71::x/64, 10.72.N.x → fd72:N::x/64, SNAT fd72::1, VIP fd99::10]
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat
XDP_PASS=$E2E_TOP/.output/xdp_pass.bpf.o
[ -f "$XDP_PASS" ] || fail "$XDP_PASS not built: run make"
mount_bpffs

FAMILY=${FAMILY:-4}
if [ "$FAMILY" = 6 ]; then
	VIP=fd99::10 SNAT=fd72::1 CL=fd71::2 GW=fd71::1 PLEN=64 HOST=128 IP="ip -6" TCP=TCP6
	node() { echo "fd72:$1::$2"; } # node N, host part: 1 the balancer, 2 the node
	FWD=net.ipv6.conf.all.forwarding NODAD=nodad
else
	VIP=10.99.0.10 SNAT=10.72.0.1 CL=10.71.0.2 GW=10.71.0.1 PLEN=24 HOST=32 IP=ip TCP=TCP
	node() { echo "10.72.$1.$2"; }
	FWD=net.ipv4.ip_forward NODAD=
fi
VIP_SOCAT=$VIP
[ "$FAMILY" = 6 ] && VIP_SOCAT="[$VIP]"
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
ip -n "$LNS" addr add "$GW/$PLEN" dev lc $NODAD
ip -n "$LNS" addr add "$(node 1 1)/$PLEN" dev l1 $NODAD
ip -n "$LNS" addr add "$(node 2 1)/$PLEN" dev l2 $NODAD
ip -n "$LNS" addr add "$SNAT/$HOST" dev lo $NODAD
for d in lc l1 l2; do ip -n "$LNS" link set "$d" up; done
ip netns exec "$LNS" sysctl -qw "$FWD=1"
ip -n "$CNS" addr add "$CL/$PLEN" dev c0 $NODAD
ip -n "$CNS" link set c0 up
$IP -n "$CNS" route add default via "$GW"
i=1
for ns in "$N1" "$N2"; do
	ip -n "$ns" addr add "$(node $i 2)/$PLEN" dev n0 $NODAD
	ip -n "$ns" link set n0 up
	$IP -n "$ns" route add default via "$(node $i 1)"
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
bg "$N1" socat "$TCP-LISTEN:80,reuseaddr,fork" SYSTEM:'echo node-1; exec head -c1 >/dev/null'
bg "$N2" socat "$TCP-LISTEN:80,reuseaddr,fork" SYSTEM:'echo node-2; exec head -c1 >/dev/null'
for ns in "$N1" "$N2"; do
	wait_for 10 sh -c "ip netns exec $ns ss -Hltn 'sport = :80' | grep -q LISTEN" ||
		fail "backend server in $ns is not listening"
done
# Reachability checked up front (this resolves the neighbours; see below).
wait_for 10 ip netns exec "$LNS" ping -"$FAMILY" -c1 -W1 "$CL" || fail "balancer can't reach the client"
wait_for 10 ip netns exec "$LNS" ping -"$FAMILY" -c1 -W1 "$(node 1 2)" || fail "balancer can't reach node 1"
wait_for 10 ip netns exec "$LNS" ping -"$FAMILY" -c1 -W1 "$(node 2 2)" || fail "balancer can't reach node 2"

log "set up the balancer with the CLI only"
# Strict reverse-path filtering on the client side (the host's own setting does
# not matter): attach must make it loose there, or packets left to the kernel
# with the SNAT address as their source are dropped (see below).
[ "$FAMILY" = 6 ] || ip netns exec "$LNS" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.lc.rp_filter=1
for d in lc l1 l2; do dr attach "$d" || fail "attach $d failed"; done
dr service add "$VIP" port 80 snat "$SNAT" || fail "service add failed"
dr backend add "$VIP" port 80 "$(node 1 2)" || fail "backend add node 1 failed"
dr backend add "$VIP" port 80 "$(node 2 2)" || fail "backend add node 2 failed"

name_of() {
	case $1 in
	"$(node 1 2)") echo node-1 ;;
	"$(node 2 2)") echo node-2 ;;
	*) echo "?$1" ;;
	esac
}
# connect PORT: the first line a connection from client port PORT to the VIP gets
# (the client half-closes at once: stdin is empty; -t 9 waits for the answer,
# where socat's default would give up 0.5 s after that)
connect() {
	ip netns exec "$CNS" timeout 10 socat -t 9 -T 8 - \
		"$TCP:$VIP_SOCAT:80,sourceport=$1,connect-timeout=5" </dev/null 2>/dev/null | head -n1
}

# The balancer forgets the nodes' MAC addresses: the first packet to each node
# has no neighbour entry, so drover hands it, rewritten, to the kernel
# (fib_pass), which must forward it and resolve the address. With an IPv4
# source that is a local address (the SNAT address), the kernel does so only
# with accept_local on the ingress device, which attach sets.
# The nodes forget the balancer too: a node that answered the reachability
# ping above holds its entry for the balancer in DELAY and probes it a few
# seconds later with a unicast ARP (NS), from which the balancer's kernel
# learns the node's address (a STALE entry) behind the test's back. Then the
# node's first packet finds a neighbour and never goes the fib_pass way (seen
# with a slower drover, the sanitized build: 0 or 1 such packets instead of 2).
$IP -n "$LNS" neigh flush dev l1
$IP -n "$LNS" neigh flush dev l2
$IP -n "$N1" neigh flush dev n0
$IP -n "$N2" neigh flush dev n0
if [ "$FAMILY" = 4 ]; then
	al=$(ip netns exec "$LNS" sysctl -n net.ipv4.conf.lc.accept_local)
	[ "$al" = 1 ] || fail "attach left net.ipv4.conf.lc.accept_local at $al"
	rpf=$(ip netns exec "$LNS" sysctl -n net.ipv4.conf.lc.rp_filter)
	[ "$rpf" = 2 ] || fail "attach left net.ipv4.conf.lc.rp_filter at $rpf (want 2, loose)"
fi
fib0=$(dr -j stats | jq '.global.fib_pass.packets')

log "connections land on the backend drover lookup predicts (first ones with no neighbour entry)"
declare -A seen=()
for p in $(seq 41001 41012); do
	want=$(name_of "$(dr -j lookup "$VIP" port 80 from "$CL" port "$p" | jq -r .backend.address)")
	got=$(connect "$p" || true)
	[ -n "$got" ] || fail "no answer through $VIP:80 from client port $p; stats: $(dr stats)"
	[ "$got" = "$want" ] || fail "client port $p reached $got, drover lookup said $want"
	seen[$got]=1
done
[ "${#seen[@]}" -eq 2 ] || fail "12 flows all went to ${!seen[*]}: no spread"
fib1=$(dr -j stats | jq '.global.fib_pass.packets')
[ "$((fib1 - fib0))" -ge 2 ] ||
	fail "$((fib1 - fib0)) packets went the fib_pass way ($fib0 → $fib1), not one or more for each of the 2 nodes: the test proves too little"
log "ok: $((fib1 - fib0)) packets left to the kernel while it resolved the nodes, none lost"

log "an open connection is recorded and counted in backend show"
# held open by the client: its stdin (a sleep) stays open
sleep 30 | ip netns exec "$CNS" timeout 40 socat -T 35 - \
	"$TCP:$VIP_SOCAT:80,sourceport=41100,connect-timeout=5" >"$E2E_TMP/open.out" 2>/dev/null &
E2E_PIDS+=("$!")
wait_for 10 test -s "$E2E_TMP/open.out" || fail "long connection got no answer"
lk=$(dr -j lookup "$VIP" port 80 from "$CL" port 41100)
jq -e '.recorded.usable == true and .recorded.backend_id == .backend.id' <<<"$lk" >/dev/null ||
	fail "open flow not recorded on its backend: $lk"
got=$(head -n1 "$E2E_TMP/open.out")
[ "$got" = "$(name_of "$(jq -r .recorded.backend.address <<<"$lk")")" ] ||
	fail "open connection is on $got, lookup says recorded on $(jq -c .recorded <<<"$lk")"
id=$(jq -r .recorded.backend_id <<<"$lk")
dr -j backend show "$VIP" port 80 | jq -e --argjson id "$id" \
	'.[] | select(.id == $id) | .flows >= 1 and .counters.packets > 0 and .counters.new_flows > 0' \
	>/dev/null || fail "backend show does not count the open flow: $(dr backend show "$VIP" port 80)"
dr -j stats | jq -e '.global.new_flow.packets >= 13 and .global.nat_reply.packets > 0 and
	.services[0].counters.packets > 0' >/dev/null || fail "counters did not move: $(dr stats)"

log "drain node 1: every new flow goes to node 2"
dr backend set "$VIP" port 80 "$(node 1 2)" drain || fail "drain failed"
for p in $(seq 41201 41206); do
	got=$(connect "$p" || true)
	[ "$got" = node-2 ] || fail "client port $p reached '$got' with node 1 drained"
done
dr -j lookup "$VIP" port 80 from "$CL" port 41100 | jq -e '.recorded.usable == true' >/dev/null ||
	fail "drain dropped the recorded flow of the open connection"

log "down on the open flow's backend: its recorded flow is no longer usable (its next packet gets a RST)"
open_addr=$(jq -r .recorded.backend.address <<<"$lk")
dr backend set "$VIP" port 80 "$open_addr" down || fail "backend set down failed"
dr -j lookup "$VIP" port 80 from "$CL" port 41100 | jq -e '.recorded.usable == false and .recorded.down == true' >/dev/null ||
	fail "flow on a down backend still usable, or not said down: $(dr lookup "$VIP" port 80 from "$CL" port 41100)"
dr lookup "$VIP" port 80 from "$CL" port 41100 | grep -q "^recorded: yes, backend [0-9]* $open_addr port 80 is down: its next packet is answered with a RST" ||
	fail "lookup does not say the down backend's flow gets a RST: $(dr lookup "$VIP" port 80 from "$CL" port 41100)"
dr backend set "$VIP" port 80 "$open_addr" up || fail "backend set up failed"

log "delete node 2 and undrain node 1: flows go to node 1"
dr backend set "$VIP" port 80 "$(node 1 2)" up || fail "undrain failed"
dr backend del "$VIP" port 80 "$(node 2 2)" || fail "backend del failed"
got=$(connect 41301 || true)
[ "$got" = node-1 ] || fail "client port 41301 reached '$got' with only node 1 left"

log "a tunnel service set up with the CLI wraps the client's packets from its snat address"
dr service add "$VIP" port 6443 mode tunnel snat "$SNAT" || fail "tunnel service add failed"
dr backend add "$VIP" port 6443 "$(node 1 2)" || fail "tunnel backend add failed"
dr -j service show "$VIP" port 6443 | jq -e --arg s "$SNAT" '.[0].mode == "tunnel" and .[0].snat == $s' >/dev/null ||
	fail "service show does not give the tunnel's snat: $(dr service show "$VIP" port 6443)"
dr service show "$VIP" port 6443 | grep -q "mode tunnel  snat $SNAT" || fail "text service show: no tunnel snat"
# This kernel can't decapsulate (no IPIP): read the wrapped SYN off node 1's wire.
bg "$N1" python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("n0", 0))
s.settimeout(1)
end = time.time() + 30
while time.time() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    et = int.from_bytes(f[12:14], "big")
    if et == 0x0800 and f[23] == 4:
        src, inner = socket.inet_ntop(socket.AF_INET, f[26:30]), 14 + (f[14] & 15) * 4
        port = int.from_bytes(f[inner + (f[inner] & 15) * 4 + 2:][:2], "big")
    elif et == 0x86DD and f[20] == 41:
        src, port = socket.inet_ntop(socket.AF_INET6, f[22:38]), int.from_bytes(f[96:98], "big")
    else:
        continue
    if port == 6443:
        open(sys.argv[1], "w").write(src + "\n")
        break' "$E2E_TMP/outer"
for _ in $(seq 10); do
	ip netns exec "$CNS" timeout 3 socat -T 1 - "$TCP:$VIP_SOCAT:6443,connect-timeout=1" </dev/null >/dev/null 2>&1 || true
	[ -s "$E2E_TMP/outer" ] && break
done
[ -s "$E2E_TMP/outer" ] || fail "no IPIP/IP6IP6 packet for port 6443 reached node 1"
[ "$(cat "$E2E_TMP/outer")" = "$SNAT" ] ||
	fail "the tunnel's outer source is $(cat "$E2E_TMP/outer"), not the service's snat $SNAT"

log "PASS"
