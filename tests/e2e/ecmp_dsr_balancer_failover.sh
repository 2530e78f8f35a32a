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
# IPv4 and IPv6 at once: one set of long-lived connections per family.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
mount_bpffs
LBTOOL="$E2E_TOP/tests/tools/lbtool.py"
XDP_PASS="$E2E_TOP/.output/xdp_pass.bpf.o"
VIP=10.0.0.100 VIP6=fd00::100
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
fwd() { ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1; }
# addr NS DEV V4/LEN V6/LEN
addr() {
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$1" -6 addr add "$4" dev "$2" nodad
}

link "$cl" eth0 "$rt" to-cl
addr "$cl" eth0 10.0.1.2/24 fd01::2/64
ip -n "$cl" route add default via 10.0.1.1
ip -n "$cl" -6 route add default via fd01::1
addr "$rt" to-cl 10.0.1.1/24 fd01::1/64
link "$rt" to-l1 "$l1" eth0
link "$rt" to-l2 "$l2" eth0
addr "$rt" to-l1 10.0.3.1/24 fd03::1/64
addr "$rt" to-l2 10.0.4.1/24 fd04::1/64
addr "$l1" eth0 10.0.3.2/24 fd03::2/64
addr "$l2" eth0 10.0.4.2/24 fd04::2/64
to_switch "$rt" to-sw rt
addr "$rt" to-sw 10.0.2.254/24 fd02::fe/64
fwd "$rt"
# L4 multipath hash: flows spread over both balancers.
ip netns exec "$rt" sysctl -qw net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
ip -n "$rt" route add $VIP/32 nexthop via 10.0.3.2 nexthop via 10.0.4.2
ip -n "$rt" -6 route add $VIP6/128 nexthop via fd03::2 nexthop via fd04::2
for i in 1 2; do
	lb=$(eval echo "\$l$i")
	to_switch "$lb" eth1 "l$i"
	addr "$lb" eth1 10.0.2.$i/24 fd02::$i/64
	ip -n "$lb" route add default via 10.0.$((i + 2)).1
	ip -n "$lb" -6 route add default via fd0$((i + 2))::1
	fwd "$lb"
	# drover redirects into the switch: that veth end must run XDP to take the frames.
	ip -n "$sw" link set "l$i" xdpdrv obj "$XDP_PASS" sec xdp
done
for n in 1 2 3; do
	ns=$(ns_add "n$n")
	to_switch "$ns" eth0 "n$n"
	addr "$ns" eth0 10.0.2.1$n/24 fd02::1$n/64
	ip -n "$ns" route add default via 10.0.2.254
	ip -n "$ns" -6 route add default via fd02::fe
	ip netns exec "$ns" "$DROVER" node-setup dsr $VIP $VIP6
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
	d service add $VIP6 port 7 mode dsr
	for n in 1 2 3; do
		d backend add $VIP port 7 10.0.2.1$n
		d backend add $VIP6 port 7 fd02::1$n
	done
done
on_exit "ip netns exec $l1 $DROVER --bpffs $BPFFS/l1 detach eth0 >/dev/null 2>&1"
on_exit "ip netns exec $l2 $DROVER --bpffs $BPFFS/l2 detach eth0 >/dev/null 2>&1"
for i in 1 2; do
	lb=$(eval echo "\$l$i")
	{
		ip netns exec "$lb" "$DROVER" --bpffs "$BPFFS/l$i" lookup $VIP port 7 from 10.0.1.2 port 40000
		ip netns exec "$lb" "$DROVER" --bpffs "$BPFFS/l$i" lookup $VIP6 port 7 from fd01::2 port 40000
	} >"$E2E_TMP/lookup$i"
done
cmp -s "$E2E_TMP/lookup1" "$E2E_TMP/lookup2" || fail "the balancers disagree: $(cat "$E2E_TMP"/lookup*)"
# dsr packets keep the VIP as destination, so drover cannot leave a miss to the
# stack: the nodes' neighbour entries must exist (the agent's health checks do this).
for i in 1 2; do
	for n in 1 2 3; do
		wait_for 10 ip netns exec "$T-l$i" ping -c1 -W2 10.0.2.1$n ||
			fail "balancer $i cannot reach node 10.0.2.1$n"
		wait_for 10 ip netns exec "$T-l$i" ping -6 -c1 -W2 fd02::1$n ||
			fail "balancer $i cannot reach node fd02::1$n"
	done
done

for n in 1 2 3; do
	wait_for 20 ip netns exec "$T-n$n" bash -c "exec 3<>/dev/tcp/127.0.0.1/7" ||
		fail "echo server on n$n did not start"
done

# One long-lived client per family, driven through a fifo each.
for f in 4 6; do
	mkfifo "$E2E_TMP/cmd$f"
	eval "exec $((f - 1))<>\"\$E2E_TMP/cmd$f\""	# fd 3 / 5, read-write: no wait for the reader
	addr=$VIP
	[ $f = 6 ] && addr=$VIP6
	# Not through bg(): a background job's stdin would be /dev/null.
	ip netns exec "$cl" python3 "$LBTOOL" hold --addr $addr --port 7 -n $N --max-time 240 \
		<"$E2E_TMP/cmd$f" >"$E2E_TMP/hold$f.out" &
	E2E_PIDS+=("$!")
done
say() { echo "$2" >"$E2E_TMP/cmd$1"; }
for f in 4 6; do
	wait_for 60 grep -q '^OPENED' "$E2E_TMP/hold$f.out" ||
		fail "IPv$f: no connections opened: $(cat "$E2E_TMP/hold$f.out")"
	log "IPv$f: $(grep '^OPENED' "$E2E_TMP/hold$f.out")"
	say $f "sync before"
	wait_for 60 grep -q '^SYNC before' "$E2E_TMP/hold$f.out" ||
		fail "IPv$f: connections never completed a round trip"
done

new_flows() {
	ip netns exec "$1" "$DROVER" --bpffs "$BPFFS/$2" -j stats | jq '.global.new_flow.packets'
}
f1=$(new_flows "$l1" l1) f2=$(new_flows "$l2" l2)
log "flows before the stop: lb1 $f1, lb2 $f2"
[ "$f1" -gt 0 ] && [ "$f2" -gt 0 ] || fail "ECMP did not use both balancers (lb1 $f1, lb2 $f2)"

for f in 4 6; do say $f "event lb1-stop"; done
ip -n "$rt" route replace $VIP/32 via 10.0.4.2
ip -n "$rt" -6 route replace $VIP6/128 via fd04::2
ip netns exec "$l1" "$DROVER" --bpffs "$BPFFS/l1" detach eth0
ip netns exec "$l1" "$DROVER" --bpffs "$BPFFS/l1" detach eth1
for f in 4 6; do
	say $f "sync after"
	wait_for 90 grep -q '^SYNC after' "$E2E_TMP/hold$f.out" || fail "IPv$f: no round trip after the stop"
	say $f quit
	wait_for 30 grep -q '^REPORT' "$E2E_TMP/hold$f.out" || fail "IPv$f: no report"
done
moved=$(($(new_flows "$l2" l2) - f2))
total_broken=0
for f in 4 6; do
	report=$(sed -n 's/^REPORT //p' "$E2E_TMP/hold$f.out")
	opened=$(jq .opened <<<"$report") broken=$(jq .broken <<<"$report")
	log "IPv$f: connections opened $opened, broken $broken (by event: $(jq -c .broken_by_event <<<"$report"))"
	[ "$opened" -eq $N ] || fail "IPv$f: opened $opened of $N"
	total_broken=$((total_broken + broken))
done
log "lb2 took over $moved flows"
[ "$total_broken" -eq 0 ] || fail "$total_broken connections broke when one balancer stopped"
[ "$moved" -gt 0 ] || fail "lb2 took over no flow: the stop was not exercised"
log "PASS"
