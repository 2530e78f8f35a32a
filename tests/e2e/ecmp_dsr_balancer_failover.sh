#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Two balancers behind an ECMP router, same dsr service on both: long-lived
# connections spread over both balancers, one balancer stops (the router
# withdraws it and drover detaches), and not one connection breaks, because
# both build the same Maglev table and the survivor picks the same node for
# flows it has never seen.
#
#   client --- router ==ECMP==> lb1 / lb2 --- switch (bridge) --- n1 n2 n3
#                 `---------------------------- switch (the nodes' gateway)
# Nodes hold the VIP on lo and answer the client directly through the router.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
mount_bpffs
LBTOOL="$E2E_TOP/tests/tools/lbtool.py"
XDP_PASS="$E2E_TOP/.output/xdp_pass.bpf.o"
VIP=10.0.0.100
N=40

cl=$(ns_add cl) rt=$(ns_add rt) l1=$(ns_add l1) l2=$(ns_add l2) sw=$(ns_add sw)
ip -n "$sw" link add br0 type bridge
ip -n "$sw" link set br0 up

# link NS_A DEV_A NS_B DEV_B: a veth pair between two namespaces, both ends up, no TX offload.
link() {
	ip link add "$T-x" type veth peer name "$T-y"
	ip link set "$T-x" netns "$1" name "$2"
	ip link set "$T-y" netns "$3" name "$4"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
	ip netns exec "$1" ethtool -K "$2" tx off >/dev/null
	ip netns exec "$3" ethtool -K "$4" tx off >/dev/null
}
# to_switch NS DEV PORT: link NS:DEV to a bridge port PORT of the switch.
to_switch() {
	link "$1" "$2" "$sw" "$3"
	ip -n "$sw" link set "$3" master br0
}
fwd() { ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1; }

link "$cl" eth0 "$rt" to-cl
ip -n "$cl" addr add 10.0.1.2/24 dev eth0
ip -n "$cl" route add default via 10.0.1.1
ip -n "$rt" addr add 10.0.1.1/24 dev to-cl
link "$rt" to-l1 "$l1" eth0
link "$rt" to-l2 "$l2" eth0
ip -n "$rt" addr add 10.0.3.1/24 dev to-l1
ip -n "$rt" addr add 10.0.4.1/24 dev to-l2
ip -n "$l1" addr add 10.0.3.2/24 dev eth0
ip -n "$l2" addr add 10.0.4.2/24 dev eth0
to_switch "$rt" to-sw rt
ip -n "$rt" addr add 10.0.2.254/24 dev to-sw
fwd "$rt"
ip netns exec "$rt" sysctl -qw net.ipv4.fib_multipath_hash_policy=1	# L4: flows spread
ip -n "$rt" route add $VIP/32 nexthop via 10.0.3.2 nexthop via 10.0.4.2
for i in 1 2; do
	lb=$(eval echo "\$l$i")
	to_switch "$lb" eth1 "l$i"
	ip -n "$lb" addr add 10.0.2.$i/24 dev eth1
	ip -n "$lb" route add default via 10.0.3.1 2>/dev/null || ip -n "$lb" route add default via 10.0.4.1
	fwd "$lb"
	# drover redirects into the switch: that veth end must run XDP to take the frames.
	ip -n "$sw" link set "l$i" xdpdrv obj "$XDP_PASS" sec xdp
done
for n in 1 2 3; do
	ns=$(ns_add "n$n")
	to_switch "$ns" eth0 "n$n"
	ip -n "$ns" addr add 10.0.2.1$n/24 dev eth0
	ip -n "$ns" route add default via 10.0.2.254
	ip netns exec "$ns" "$DROVER" node-setup dsr $VIP
	bg "$ns" python3 "$LBTOOL" echo-server --name "n$n" --port 7
done

# The same configuration on both balancers, built only with the CLI.
for i in 1 2; do
	lb=$(eval echo "\$l$i")
	d() { ip netns exec "$lb" "$DROVER" --bpffs "$BPFFS/l$i" "$@"; }
	mkdir -p "$BPFFS/l$i"
	d attach eth0
	d attach eth1
	d service add $VIP port 7 mode dsr
	for n in 1 2 3; do d backend add $VIP port 7 10.0.2.1$n; done
done
on_exit "ip netns exec $l1 $DROVER --bpffs $BPFFS/l1 detach eth0 >/dev/null 2>&1"
on_exit "ip netns exec $l2 $DROVER --bpffs $BPFFS/l2 detach eth0 >/dev/null 2>&1"
for i in 1 2; do
	lb=$(eval echo "\$l$i")
	ip netns exec "$lb" "$DROVER" --bpffs "$BPFFS/l$i" lookup $VIP port 7 from 10.0.1.2 port 40000 \
		>"$E2E_TMP/lookup$i"
done
cmp -s "$E2E_TMP/lookup1" "$E2E_TMP/lookup2" || fail "the balancers disagree: $(cat "$E2E_TMP"/lookup*)"
# dsr packets keep the VIP as destination, so drover cannot leave a miss to the
# stack: the nodes' neighbour entries must exist (the agent's health checks do this).
for i in 1 2; do
	for n in 1 2 3; do ip netns exec "$T-l$i" ping -c1 -W2 10.0.2.1$n >/dev/null; done
done

for n in 1 2 3; do
	wait_for 20 ip netns exec "$T-n$n" bash -c "exec 3<>/dev/tcp/127.0.0.1/7" ||
		fail "echo server on n$n did not start"
done

mkfifo "$E2E_TMP/cmd"
exec 3<>"$E2E_TMP/cmd"	# read-write: opening does not wait for the reader
# Not through bg(): a background job's stdin would be /dev/null.
ip netns exec "$cl" python3 "$LBTOOL" hold --addr $VIP --port 7 -n $N --max-time 240 \
	<"$E2E_TMP/cmd" >"$E2E_TMP/hold.out" &
HOLD=$!
E2E_PIDS+=("$HOLD")
wait_for 60 grep -q '^OPENED' "$E2E_TMP/hold.out" || fail "no connections opened: $(cat "$E2E_TMP/hold.out")"
grep '^OPENED' "$E2E_TMP/hold.out"
echo "sync before" >&3
wait_for 60 grep -q '^SYNC before' "$E2E_TMP/hold.out" || fail "connections never completed a round trip"

new_flows() {
	ip netns exec "$1" "$DROVER" --bpffs "$BPFFS/$2" -j stats | jq '.global.new_flow.packets'
}
f1=$(new_flows "$l1" l1) f2=$(new_flows "$l2" l2)
log "flows before the stop: lb1 $f1, lb2 $f2"
[ "$f1" -gt 0 ] && [ "$f2" -gt 0 ] || fail "ECMP did not use both balancers (lb1 $f1, lb2 $f2)"

echo "event lb1-stop" >&3
ip -n "$rt" route replace $VIP/32 via 10.0.4.2
ip netns exec "$l1" "$DROVER" --bpffs "$BPFFS/l1" detach eth0
ip netns exec "$l1" "$DROVER" --bpffs "$BPFFS/l1" detach eth1
echo "sync after" >&3
wait_for 90 grep -q '^SYNC after' "$E2E_TMP/hold.out" || fail "no round trip after the stop"
echo quit >&3
wait_for 30 grep -q '^REPORT' "$E2E_TMP/hold.out" || fail "no report"
exec 3>&-
report=$(sed -n 's/^REPORT //p' "$E2E_TMP/hold.out")
opened=$(jq .opened <<<"$report") broken=$(jq .broken <<<"$report")
moved=$(($(new_flows "$l2" l2) - f2))
log "connections opened $opened, broken $broken (by event: $(jq -c .broken_by_event <<<"$report")); lb2 took over $moved flows"
[ "$opened" -eq $N ] || fail "opened $opened of $N"
[ "$broken" -eq 0 ] || fail "$broken connections broke when one balancer stopped"
[ "$moved" -gt 0 ] || fail "lb2 took over no flow: the stop was not exercised"
wait "$HOLD" 2>/dev/null || true
log "PASS"
