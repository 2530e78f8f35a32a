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
# and l1, one nat service (the node, port 80, TCP checks), /metrics on 127.0.0.1:PORT
# (where readyz, is_ready and healthz ask).
iface_lab_config() {
	METRICS_PORT=$1
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

# iface_agent_start: `drover run config $CFG` in the balancer, as $AGENT, logging to $LOG.
iface_agent_start() {
	ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" >"$LOG" 2>&1 &
	AGENT=$!
	E2E_PIDS+=("$AGENT")
}
agent_up() { kill -0 "$AGENT" 2>/dev/null || fail "the agent exited: $(tail -20 "$LOG")"; }
readyz() { ip netns exec "$LNS" curl -sS --max-time 5 "http://127.0.0.1:$METRICS_PORT/readyz" 2>&1; }
is_ready() { ip netns exec "$LNS" curl -fsS --max-time 5 "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null; }
healthz() { ip netns exec "$LNS" curl -fsS --max-time 5 "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null; }
# via_vip: a connection from the client through the VIP reaches the node.
via_vip() {
	[ "$(ip netns exec "$CNS" timeout 5 socat -T 4 - "TCP:$VIP:80,connect-timeout=3" </dev/null 2>/dev/null)" = node-1 ]
}

# link_ends LBDEV GWADDR NS DEV ADDR: bring up a veth pair's two ends: LBDEV in the
# balancer (GWADDR/24, forwarding), DEV in NS (ADDR/24, default route via GWADDR,
# TX checksums done in software, xdp_pass so that redirected frames reach it).
link_ends() {
	ip -n "$LNS" addr add "$2/24" dev "$1"
	ip -n "$LNS" link set "$1" up
	ip netns exec "$LNS" sysctl -qw "net.ipv4.conf.$1.forwarding=1"
	ip -n "$3" addr add "$5/24" dev "$4"
	ip -n "$3" link set "$4" up
	ip -n "$3" route add default via "$2"
	ip netns exec "$3" ethtool -K "$4" tx off >/dev/null
	ip -n "$3" link set dev "$4" xdpdrv obj "$XDP_PASS" sec xdp
}

# client_link [XDP]: (re-)create lc (balancer) and c0 (client), addressed and routed;
# with XDP, lc arrives in the balancer namespace already running xdp_pass.
client_link() {
	ip -n "$TNS" link add lc type veth peer name c0 netns "$CNS"
	[ -z "${1:-}" ] || ip -n "$TNS" link set dev lc xdpdrv obj "$XDP_PASS" sec xdp
	ip -n "$TNS" link set lc netns "$LNS"
	link_ends lc "$GW" "$CNS" c0 "$CL"
}

# node_link: create l1 (balancer) and n0 (node), addressed and routed.
node_link() {
	ip -n "$LNS" link add l1 type veth peer name n0 netns "$N1"
	link_ends l1 "$NODE_GW" "$N1" n0 "$NODE"
}
