#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A node is failing but alive, its SYN-ACKs late (held here by nft on the
# lab's switch). A client's SYN met it before its checks failed; the client's
# resent SYN moves the half-open flow to another node (by design: a bare SYN
# leaves a failing node). That node's SYN-ACKs are held too, so the failing
# node's late SYN-ACK to the first SYN comes first: drover must not hand it to
# the client, which would ACK it to the new node, holding another ISN, and be
# reset there. The client connects to the new node once its SYN-ACK is let
# through, and talks to it (nat, IPv4, agent-driven).
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
require_cmds jq nft

HTTP_PORT=18080 LIMIT_S=40
CFG=$E2E_TMP/drover.yaml

lab_start
mount_bpffs
VIP=$LAB_VIP4
http_nodes_start_on $HTTP_PORT node4

# tcp-fin 60 s: n1's reply entry for the half-open flow would outlive the test.
cat >"$CFG" <<EOF
interfaces: [eth0, eth1]
xdp-mode: native
metrics: {listen: 127.0.0.1:9469}
timeouts: {tcp-fin: 60s}
services:
  - name: echo
    vip: $VIP
    ports: [7]
    snat: $LAB_SNAT4
    health: {kind: http, port: $HTTP_PORT, path: /healthz, interval: 500ms,
             timeout: 400ms, rise: 2, fall: 2, jitter: 0, rehash-after: 120s}
    nodes:
      - {address: $(node4 1), name: n1}
      - {address: $(node4 2), name: n2}
      - {address: $(node4 3), name: n3}
EOF

state() { be_state "$VIP" 7 "$(node4 "$1")"; }
states() { echo "$(state 1) $(state 2) $(state 3)"; }
states_are() { [ "$(states)" = "$1" ]; }

# The switch holds node N's SYN-ACKs from port 7 while its bridge port nN is
# in the set "held" (counter heldN); on the way, not in the node's output,
# where a dropped SYN-ACK makes the node's kernel drop its half-open socket.
# The table goes with the namespace.
switch_gate() {
	ip netns exec "$LAB_NS_SW" nft -f - <<-EOF || fail "switch: nft gate on port 7 not set up"
	table bridge drover_synack {
		set held { type ifname; elements = { "n1", "n2", "n3" } }
		counter held1 { }
		counter held2 { }
		counter held3 { }
		chain hold {
			type filter hook forward priority 0; policy accept;
			iifname "n1" iifname @held tcp sport 7 tcp flags & (syn | ack) == syn | ack counter name held1 drop
			iifname "n2" iifname @held tcp sport 7 tcp flags & (syn | ack) == syn | ack counter name held2 drop
			iifname "n3" iifname @held tcp sport 7 tcp flags & (syn | ack) == syn | ack counter name held3 drop
		}
	}
	EOF
}
release() { ip netns exec "$LAB_NS_SW" nft delete element bridge drover_synack held "{ \"n$1\" }"; }
held() { # N: SYN-ACKs of node N the switch held
	ip netns exec "$LAB_NS_SW" nft -j list counter bridge drover_synack "held$1" |
		jq '.nftables[] | select(.counter) | .counter.packets'
}
# Node N: SYN-ACKs sent from port 7 and RSTs to it, counted in its namespace.
node_counters() {
	ip netns exec "$(nsn "$1")" nft -f - <<-EOF || fail "node $1: nft counters on port 7 not set up"
	table inet drover_synack {
		counter sent { }
		counter rst_in { }
		chain out {
			type filter hook output priority 0; policy accept;
			tcp sport 7 tcp flags & (syn | ack) == syn | ack counter name sent
		}
		chain in {
			type filter hook input priority 0; policy accept;
			tcp dport 7 tcp flags & rst == rst counter name rst_in
		}
	}
	EOF
}
count() { # N COUNTER
	ip netns exec "$(nsn "$1")" nft -j list counter inet drover_synack "$2" |
		jq '.nftables[] | select(.counter) | .counter.packets'
}
at_least() { [ "$(count "$1" "$2")" -ge "$3" ]; }
held_at_least() { [ "$(held "$1")" -ge "$2" ]; }
held_23() { [ $(($(held 2) + $(held 3))) -ge 1 ]; }
client_done() { ! kill -0 "$CLIENT_PID"; }

agent_start "$CFG"
wait_for 30 states_are "up up up" || fail "agent did not bring n1..n3 up in 30 s: $(states); log: $(tail -20 "$AGENT_LOG")"
wait_for 30 grep -q "start-up settle over" "$AGENT_LOG" || fail "agent's start-up settle not over in 30 s: $(tail -20 "$AGENT_LOG")"

# A client port whose flow the table gives to n1 (each port: one of 3 nodes).
port=
for p in $(seq 41000 41200); do
	if [ "$(drv -j lookup "$VIP" port 7 from "$LAB_CL4" port "$p" | jq -r '.backend.address')" = "$(node4 1)" ]; then
		port=$p
		break
	fi
done
[ -n "$port" ] || fail "no client port in 41000..41200 maps to n1: $(drv lookup "$VIP" port 7 from "$LAB_CL4" port 41000)"
switch_gate
for n in 1 2 3; do node_counters $n; done
r0=$(stat_packets rehash)

log "client port $port -> n1; every node's SYN-ACKs held"
ip netns exec "$LAB_NS_CL" "$PYTHON" - "$VIP" "$port" "$LIMIT_S" >"$E2E_TMP/client.json" <<'EOF' &
import json, socket, sys, time
vip, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t = time.monotonic()
s = socket.socket(socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.settimeout(limit)
out = {}
try:
    s.connect((vip, 7))
    out["node"] = s.recv(64).decode().strip()
    s.sendall(b"ping\n")
    got = b""
    while not got.endswith(b"\n") and len(got) < 64:
        b = s.recv(64)
        if not b:
            break
        got += b
    out["echo"] = got.decode().strip()
    out["outcome"] = "ok"
except OSError as e:
    out["outcome"] = type(e).__name__
finally:
    s.close()
out["seconds"] = round(time.monotonic() - t, 2)
print(json.dumps(out))
EOF
CLIENT_PID=$!
E2E_PIDS+=("$CLIENT_PID")

wait_for 20 held_at_least 1 1 || fail "n1's SYN-ACK to the client's SYN not held in 20 s (n1 sent $(count 1 sent))"
log "n1 holds the half-open connection; its checks fail now"
echo 500 >"$E2E_TMP/http1.mode"
wait_for 20 states_are "failing up up" || fail "n1 not failing 20 s after its checks broke: $(states)"
# The client resends its SYN 1, 3, 7 s after the first: one leaves n1 for n2 or n3.
wait_for 20 held_23 || fail "the client's resent SYN reached neither n2 nor n3 in 20 s (rehash $(($(stat_packets rehash) - r0)))"
log "the flow moved off n1 (rehash +$(($(stat_packets rehash) - r0))); n1's late SYN-ACK goes out now"
s1=$(count 1 sent)
release 1
# n1 resends its SYN-ACK 1, 3, 7, 15, 31 s after its first.
wait_for 40 at_least 1 sent $((s1 + 1)) || fail "n1 sent no SYN-ACK in 40 s after its hold ended"
# It reaches drover: translated, the client ACKs it to the new node, which resets it
# (the client ends); not, the balancer's kernel resets n1's half-open socket.
wait_for 20 sh -c "! kill -0 $CLIENT_PID 2>/dev/null || [ \$(ip netns exec $(nsn 1) nft -j list counter inet drover_synack rst_in | jq '.nftables[] | select(.counter) | .counter.packets') -ge 1 ]" ||
	fail "n1's late SYN-ACK had no effect in 20 s: neither the client ended nor n1 got a RST"
log "n2's and n3's SYN-ACKs go out"
release 2
release 3
wait_for $((LIMIT_S + 10)) client_done || fail "the client did not finish in $((LIMIT_S + 10)) s"
res=$(cat "$E2E_TMP/client.json")
log "client: $res; drover: nat_reply_miss $(stat_packets nat_reply_miss), rehash +$(($(stat_packets rehash) - r0))"
jq -e '.outcome == "ok" and .echo == "ping" and (.node == "n2" or .node == "n3")' <<<"$res" >/dev/null ||
	fail "the client whose SYN left failing n1 did not connect to n2 or n3 and talk: $res (n1's late SYN-ACK reached it: SYN-ACKs n1 sent $(count 1 sent), RSTs n1 got $(count 1 rst_in))"
at_least 1 rst_in 1 || fail "n1's half-open socket got no RST: $(count 1 rst_in)"
log "PASS: n1's late SYN-ACK stopped at drover; the client talks to $(jq -r .node <<<"$res")"
