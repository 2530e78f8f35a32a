#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A dual-stack balancer that forwards IPv4 but not IPv6 (Linux's default for
# IPv6; Kubernetes hosts turn on only net.ipv4.ip_forward): `drover attach`
# says nothing by default (it does not know which families the services will
# use), so `drover service add` of an IPv6 service says that IPv6 forwarding
# is off on each attached interface, and which sysctl turns it on. The
# warning is true (connections through the IPv6 VIP fail, counted as
# drop_fib) and its advice works (after that sysctl they succeed); an IPv4
# service, whose family forwards, gets no such warning, and neither does an
# IPv6 one once IPv6 forwards. Before the fix every packet of the IPv6
# service was dropped without a word from the CLI.
# IPv6 forwarding on each interface but net.ipv6.conf.all.forwarding=0 (what
# attach used to advise) is warned of too, by `service add` and by the agent
# (`drover run --check`): the FIB lookups pass, but the kernel forwards no
# IPv6 packet drover leaves to it (fib_pass), so connections to nodes whose
# MAC address the balancer does not know yet hang. Attach, when neither
# family forwards, advises net.ipv6.conf.all.forwarding=1.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

require_cmds curl jq
lab_start
mount_bpffs
lbsys() { ip netns exec "$LAB_NS_LB" sysctl "$@"; }
lbsys -qw net.ipv6.conf.all.forwarding=0
[ "$(lbsys -n net.ipv6.conf.eth0.forwarding)" = 0 ] || fail "could not turn IPv6 forwarding off on eth0"
[ "$(lbsys -n net.ipv4.conf.eth0.forwarding)" = 1 ] || fail "the lab's balancer does not forward IPv4"

attach_lb
# add FAMILY PORT: a nat service on the lab VIP of FAMILY with the three nodes; its stderr in $E2E_TMP/add.err.
add() {
	local vip snat nodes n
	if [ "$1" = 6 ]; then vip=$LAB_VIP6 snat=$LAB_SNAT6 nodes=$LAB_NODES6
	else vip=$LAB_VIP4 snat=$LAB_SNAT4 nodes=$LAB_NODES4; fi
	drv service add "$vip" port "$2" mode nat snat "$snat" 2>"$E2E_TMP/add.err" ||
		fail "drover service add $vip port $2 failed: $(cat "$E2E_TMP/add.err")"
	for n in $nodes; do
		drv backend add "$vip" port "$2" "$n" 2>/dev/null || fail "drover backend add $vip port $2 $n failed"
	done
}
fwd_lines() { grep -c "forwarding is off" "$E2E_TMP/add.err" || true; }
via_vip6() { ip netns exec "$LAB_NS_CL" curl -fsS --max-time 2 "http://[$LAB_VIP6]:$1/" >/dev/null 2>&1; }

log "an IPv4 service, IPv4 forwarding on: no warning"
add 4 80
[ "$(fwd_lines)" = 0 ] || fail "service add of an IPv4 service warned of forwarding: $(cat "$E2E_TMP/add.err")"

log "an IPv6 service, IPv6 forwarding off: a warning per attached interface, with the sysctl"
add 6 80
for i in eth0 eth1; do
	grep -q "Warning: ipv6 forwarding is off on $i, so service $LAB_VIP6 port 80 proto tcp can't forward packets that arrive on it (drop_fib); .*net.ipv6.conf.all.forwarding=1" \
		"$E2E_TMP/add.err" || fail "service add of $LAB_VIP6 port 80 did not say ipv6 forwarding is off on $i: $(cat "$E2E_TMP/add.err")"
done
[ "$(fwd_lines)" = 2 ] || fail "want 2 forwarding lines (eth0, eth1), got $(fwd_lines): $(cat "$E2E_TMP/add.err")"

log "the warning is true: connections fail, counted as drop_fib"
d0=$(stat_packets drop_fib)
! via_vip6 80 || fail "a connection through [$LAB_VIP6]:80 succeeded with IPv6 forwarding off: the warning would be false"
wait_for 5 sh -c "[ \$(ip netns exec $LAB_NS_LB $DROVER --bpffs $BPFFS -j stats | jq .global.drop_fib.packets) -gt $d0 ]" ||
	fail "drop_fib did not move ($d0): the connection failed for another reason"

log "IPv6 forwarding on each interface, off for the host: warned too, by the CLI and the agent's --check"
# What attach used to advise (net.ipv6.conf.IFNAME.forwarding=1): drover's FIB lookups
# pass, but the kernel forwards no IPv6 packet drover leaves to it (fib_pass: the first
# ones to a node whose MAC address it does not know yet), so it never learns the nodes'.
lbsys -qw net.ipv6.conf.eth0.forwarding=1 net.ipv6.conf.eth1.forwarding=1
[ "$(lbsys -n net.ipv6.conf.all.forwarding)" = 0 ] || fail "net.ipv6.conf.all.forwarding is not 0"
for n in $LAB_NODES6; do ip -n "$LAB_NS_LB" -6 neigh del "$n" dev eth1 2>/dev/null || true; done
p0=$(stat_packets fib_pass)
! via_vip6 80 || fail "a connection through [$LAB_VIP6]:80 succeeded with net.ipv6.conf.all.forwarding=0"
[ "$(stat_packets fib_pass)" -gt "$p0" ] || fail "no packet went the fib_pass way: the test proves too little"
add 6 6443
for i in eth0 eth1; do
	grep -q "Warning: .*net.ipv6.conf.all.forwarding=0.* $i.* service $LAB_VIP6 port 6443 proto tcp .*set net.ipv6.conf.all.forwarding=1" \
		"$E2E_TMP/add.err" || fail "service add with IPv6 forwarding off for the host did not say so for $i: $(cat "$E2E_TMP/add.err")"
done
printf 'interfaces: [eth0, eth1]\nservices:\n  - {name: web6, vip: %s, ports: [80], snat: %s, nodes: [%s]}\n' \
	"$LAB_VIP6" "$LAB_SNAT6" "$(echo $LAB_NODES6 | sed 's/ /, /g')" >"$E2E_TMP/v6.yaml"
drv run config "$E2E_TMP/v6.yaml" --check >/dev/null 2>"$E2E_TMP/check.err" ||
	fail "drover run --check of an IPv6 config failed: $(cat "$E2E_TMP/check.err")"
grep -q "Warning: .*net.ipv6.conf.all.forwarding=0.*set net.ipv6.conf.all.forwarding=1" "$E2E_TMP/check.err" ||
	fail "the agent's --check did not say IPv6 forwarding is off for the host: $(cat "$E2E_TMP/check.err")"

log "attach, with neither family forwarding, advises the IPv6 sysctl that works"
drv detach eth0 keep-maps || fail "drover detach eth0 failed"
lbsys -qw net.ipv4.conf.eth0.forwarding=0 net.ipv6.conf.eth0.forwarding=0
out=$(drv attach eth0 2>&1) || fail "drover attach eth0 failed: $out"
grep -q "ipv4 forwarding is off on eth0.*net.ipv6.conf.all.forwarding=1 for IPv6" <<<"$out" ||
	fail "attach did not advise net.ipv6.conf.all.forwarding=1: $out"
lbsys -qw net.ipv4.conf.eth0.forwarding=1

log "its advice works: with that sysctl the same service forwards, and a new IPv6 service gets no warning"
lbsys -qw net.ipv6.conf.all.forwarding=1
wait_for 10 via_vip6 80 || fail "no connection through [$LAB_VIP6]:80 after net.ipv6.conf.all.forwarding=1"
add 6 443
[ "$(fwd_lines)" = 0 ] && ! grep -q forwarding "$E2E_TMP/add.err" ||
	fail "service add warned with IPv6 forwarding on: $(cat "$E2E_TMP/add.err")"
log "PASS"
