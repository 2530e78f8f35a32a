#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A node dies (its link goes down) while clients connect: the SYNs that met it
# before its checks failed are lost. Once it is failing, the clients' resent
# SYNs go to a node that is up: they connect at their next retry (3 or 7 s
# after their first SYN), not once their record expires (the retry 31 s after
# the first SYN) or rehash-after (60 s here) runs out: a half-open flow holds
# no connection to keep (nat, IPv4, agent-driven). FAMILY=6 runs the same
# over IPv6 (VIP, nodes, snat and checks): agent_failing_v6_node_lets_half_open_connections_go.sh.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

NCONN=40 LIMIT_S=25 HOLD_S=60
HTTP_PORT=18080
CFG=$E2E_TMP/drover.yaml

FAMILY=${FAMILY:-4}
lab_start
mount_bpffs
if [ "$FAMILY" = 6 ]; then
	VIP=$LAB_VIP6 SNAT=$LAB_SNAT6 NODE=node6
else
	VIP=$LAB_VIP4 SNAT=$LAB_SNAT4 NODE=node4
fi
http_nodes_start_on $HTTP_PORT $NODE

cat >"$CFG" <<EOF
interfaces: [eth0, eth1]
xdp-mode: native
metrics: {listen: 127.0.0.1:9469}
services:
  - name: echo
    vip: $VIP
    ports: [7]
    snat: $SNAT
    health: {kind: http, port: $HTTP_PORT, path: /healthz, interval: 500ms,
             timeout: 400ms, rise: 2, fall: 2, jitter: 0, rehash-after: ${HOLD_S}s}
    nodes:
      - {address: $($NODE 1), name: n1}
      - {address: $($NODE 2), name: n2}
      - {address: $($NODE 3), name: n3}
EOF

state() { be_state "$VIP" 7 "$($NODE "$1")"; }
states() { echo "$(state 1) $(state 2) $(state 3)"; }
states_are() { [ "$(states)" = "$1" ]; }

# connect_all: NCONN connections at once to the VIP, each given LIMIT_S to
# connect and read its node's greeting; one JSON list of [outcome, seconds, node].
connect_all() {
	ip netns exec "$LAB_NS_CL" "$PYTHON" - "$VIP" 7 "$NCONN" "$LIMIT_S" <<'EOF'
import json, socket, sys, threading, time
vip, port, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
out = [None] * n
def one(i):
    t = time.monotonic()
    s = socket.socket(socket.AF_INET6 if ":" in vip else socket.AF_INET)
    s.settimeout(limit)
    try:
        s.connect((vip, port))
        took = time.monotonic() - t
        out[i] = ["ok", round(took, 2), s.recv(64).decode().strip()]
    except OSError as e:
        out[i] = [type(e).__name__, round(time.monotonic() - t, 2), ""]
    finally:
        s.close()
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for th in ts:
    th.start()
for th in ts:
    th.join()
print(json.dumps(out))
EOF
}

agent_start "$CFG"
wait_for 30 states_are "up up up" || fail "agent did not bring n1..n3 up in 30 s: $(states); log: $(tail -20 "$AGENT_LOG")"
# Until every node has its first verdict a failed node is down at once, not failing.
wait_for 30 grep -q "start-up settle over" "$AGENT_LOG" || fail "agent's start-up settle not over in 30 s: $(tail -20 "$AGENT_LOG")"
r0=$(stat_packets rehash)

log "n1 dies (its link goes down); $NCONN clients connect at once"
ip -n "$(nsn 1)" link set dev eth0 down
t0=$(date +%s)
connect_all >"$E2E_TMP/conns.json" &
CLIENT_PID=$!
E2E_PIDS+=("$CLIENT_PID")
wait_for 20 states_are "failing up up" || fail "n1 not failing 20 s after its link went down: $(states)"
log "n1 failing after $(($(date +%s) - t0)) s"
wait_for $((LIMIT_S + 20)) sh -c "! kill -0 $CLIENT_PID" || fail "the clients did not finish in $((LIMIT_S + 20)) s"
conns=$(cat "$E2E_TMP/conns.json")
log "states now: $(states) ($(($(date +%s) - t0)) s after n1 died)"
states_are "failing up up" || fail "n1 left failing before the end of the check ($(states)): the hold was too short for this machine"

# A SYN lost to dead n1 costs its client at least the 1 s retransmission timeout.
late=$(jq '[.[] | select(.[1] >= 0.9)] | length' <<<"$conns")
log "connections: $(jq -c 'group_by(.[0]) | map({(.[0][0]): length}) | add' <<<"$conns"); $late met dead n1 first; slowest $(jq 'map(.[1]) | max' <<<"$conns") s; by node $(jq -c 'map(.[2]) | group_by(.) | map({(.[0]): length}) | add' <<<"$conns")"
[ "$late" -ge 1 ] || fail "no connection met n1 before its checks failed ($NCONN all missing it: (2/3)^$NCONN): $conns"
jq -e 'all(.[0] == "ok")' <<<"$conns" >/dev/null ||
	fail "connections that met dead n1 did not connect within ${LIMIT_S} s while it was failing: $(jq -c '[.[] | select(.[0] != "ok")]' <<<"$conns")"
jq -e 'all(.[2] != "n1")' <<<"$conns" >/dev/null || fail "a connection reached n1, whose link is down: $conns"
r1=$(stat_packets rehash)
[ $((r1 - r0)) -ge "$late" ] || fail "rehash counter moved by $((r1 - r0)), fewer than the $late resent SYNs that left n1"
log "PASS: $late half-open connections left failing n1 at a resent SYN (rehash +$((r1 - r0)))"
