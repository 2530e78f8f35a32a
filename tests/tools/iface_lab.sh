# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Sourced, after tests/e2e/lib.sh and mount_bpffs, by the agent tests whose
# interfaces come and go: a client, a balancer and a node namespace, and
# functions that (re-)create the balancer's two interfaces.
#
#   client ns  c0 $CL/24 (xdp_pass) -- lc $GW/24 --+ balancer ns (drover on lc, l1)
#   node ns    n0 $NODE/24 (xdp_pass) -- l1 $NODE_GW/24 --+ SNAT $SNAT (lo)
#
# Set VIP, CL, GW, NODE, NODE_GW and SNAT before sourcing it.
XDP_PASS=$E2E_TOP/.output/xdp_pass.bpf.o
[ -f "$XDP_PASS" ] || fail "$XDP_PASS not built: run make"
for r in cl lb n1 tmp; do ns_add "$r" >/dev/null; done # not in $(...): recorded for cleanup
CNS=$T-cl LNS=$T-lb N1=$T-n1 TNS=$T-tmp
kill_ns_procs() {
	local ns p
	for ns in "$CNS" "$LNS" "$N1"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
	done
}
on_exit kill_ns_procs
ROOT=$BPFFS/drover
dr() { ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" "$@"; }
ip netns exec "$LNS" sysctl -qw net.ipv4.ip_forward=1
ip -n "$LNS" addr add "$SNAT/32" dev lo
CFG=$E2E_TMP/drover.yaml
LOG=$E2E_TMP/agent.log

# iface_lab_config PORT: write $CFG, the agent's config for this lab: drover on lc
# and l1, one nat service (the node, port 80, TCP checks), /metrics on 127.0.0.1:PORT.
iface_lab_config() {
	cat >"$CFG" <<EOF
interfaces: [lc, l1]
metrics: {listen: 127.0.0.1:$1}
services:
  - name: web
    vip: $VIP
    ports: [80]
    snat: $SNAT
    health: {kind: tcp, interval: 1s, timeout: 800ms, rise: 1, fall: 2}
    nodes: [$NODE]
EOF
}

# client_link [XDP]: (re-)create lc (balancer) and c0 (client), addressed and routed;
# with XDP, lc arrives in the balancer namespace already running xdp_pass.
client_link() {
	ip -n "$TNS" link add lc type veth peer name c0 netns "$CNS"
	[ -z "${1:-}" ] || ip -n "$TNS" link set dev lc xdpdrv obj "$XDP_PASS" sec xdp
	ip -n "$TNS" link set lc netns "$LNS"
	ip -n "$LNS" addr add "$GW/24" dev lc
	ip -n "$LNS" link set lc up
	ip netns exec "$LNS" sysctl -qw net.ipv4.conf.lc.forwarding=1
	ip -n "$CNS" addr add "$CL/24" dev c0
	ip -n "$CNS" link set c0 up
	ip -n "$CNS" route add default via "$GW"
	ip netns exec "$CNS" ethtool -K c0 tx off >/dev/null
	ip -n "$CNS" link set dev c0 xdpdrv obj "$XDP_PASS" sec xdp
}

# node_link: create l1 (balancer) and n0 (node), addressed and routed.
node_link() {
	ip -n "$LNS" link add l1 type veth peer name n0 netns "$N1"
	ip -n "$LNS" addr add "$NODE_GW/24" dev l1
	ip -n "$LNS" link set l1 up
	ip netns exec "$LNS" sysctl -qw net.ipv4.conf.l1.forwarding=1
	ip -n "$N1" addr add "$NODE/24" dev n0
	ip -n "$N1" link set n0 up
	ip -n "$N1" route add default via "$NODE_GW"
	ip netns exec "$N1" ethtool -K n0 tx off >/dev/null
	ip -n "$N1" link set dev n0 xdpdrv obj "$XDP_PASS" sec xdp
}
