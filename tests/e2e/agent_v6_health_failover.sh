#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# agent_health_failover.sh on a dual-stack cluster's IPv6 side: the agent
# drives IPv6 services only (IPv6 VIP, IPv6 nodes, IPv6 snat) and checks the
# nodes over IPv6 with each kind of check: http (the rancher preset), https
# verified by the node certificate's IPv6 address (no sni: the name checked is
# the node's address) and tcp. A node answering 500, a hung node, a stopped
# HTTPS server and a stopped TCP server each leave their service's table
# (state down) and come back once their checks pass again; new connections
# through the IPv6 VIP avoid the down node meanwhile and reach it again after.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

INTERVAL_MS=1000 TIMEOUT_MS=800 FALL=2 RISE=2
HTTP_PORT=18080 HTTPS_PORT=18443 TCP_PORT=18090
CFG=$E2E_TMP/drover.yaml

require_cmds curl jq openssl
lab_start
mount_bpffs

# A certificate that names the three nodes by their IPv6 addresses only.
CRT=$E2E_TMP/node6.crt KEY=$E2E_TMP/node6.key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-keyout "$KEY" -out "$CRT" -subj /CN=drover-v6-nodes \
	-addext "subjectAltName=IP:$(node6 1),IP:$(node6 2),IP:$(node6 3)" 2>/dev/null ||
	fail "openssl could not make a certificate for the nodes' IPv6 addresses"

http_nodes_start_on $HTTP_PORT node6
for n in 1 2 3; do
	echo 200 >"$E2E_TMP/https$n.mode"
	bg "$(nsn $n)" python3 "$NODE_PY" --addr "$(node6 $n)" --port $HTTPS_PORT --name "n$n" \
		--mode-file "$E2E_TMP/https$n.mode" --cert "$CRT" --key "$KEY"
	eval "HTTPS_PID_$n=$BG_PID"
done
# tcp_start N: the TCP-checked server of node N (an HTTP server: the check only connects).
tcp_start() {
	echo 200 >"$E2E_TMP/tcp$1.mode"
	bg "$(nsn "$1")" python3 "$NODE_PY" --addr "$(node6 "$1")" --port $TCP_PORT --name "n$1" \
		--mode-file "$E2E_TMP/tcp$1.mode"
	eval "TCP_PID_$1=$BG_PID"
}
for n in 1 2 3; do tcp_start $n; done
for n in 1 2 3; do
	for p in $HTTPS_PORT $TCP_PORT; do
		wait_for 20 http_node_listens $n "$(node6 $n)" $p ||
			fail "agent_node.py did not listen on n$n [$(node6 $n)]:$p"
	done
done

cat >"$CFG" <<EOF
interfaces: [eth0, eth1]
xdp-mode: native
metrics: {listen: 127.0.0.1:9469}
defaults:
  snat: $LAB_SNAT6
  health: {interval: ${INTERVAL_MS}ms, timeout: ${TIMEOUT_MS}ms, rise: $RISE, fall: $FALL, jitter: 0, rehash-after: 0}
services:
  - name: web6
    vip: $LAB_VIP6
    ports: [$HTTP_PORT]
    health: {preset: rancher, port: $HTTP_PORT}
    nodes:
      - {address: $(node6 1), name: n1}
      - {address: $(node6 2), name: n2}
      - {address: $(node6 3), name: n3}
  - name: api6
    vip: $LAB_VIP6
    ports: [$HTTPS_PORT]
    health: {kind: https, port: $HTTPS_PORT, path: /readyz, verify: true, ca: $CRT}
    nodes:
      - {address: $(node6 1), name: n1}
      - {address: $(node6 2), name: n2}
      - {address: $(node6 3), name: n3}
  - name: raw6
    vip: $LAB_VIP6
    ports: [$TCP_PORT]
    health: {kind: tcp, port: $TCP_PORT}
    nodes:
      - {address: $(node6 1), name: n1}
      - {address: $(node6 2), name: n2}
      - {address: $(node6 3), name: n3}
EOF

state() { be_state "$LAB_VIP6" "$1" "$(node6 "$2")"; }
# expect_state PORT NODE STATE: `drover backend show` says so within 15 s
# (fall × interval + timeout is 2.8 s; the rest is slack for a busy machine).
expect_state() {
	wait_be_state 15 "$LAB_VIP6" "$1" "$(node6 "$2")" "$3" ||
		fail "n$2 port $1 not $3 in 15 s (is $(state "$1" "$2")); agent log: $(tail -5 "$AGENT_LOG")"
}
# reached PORT COUNT: the nodes COUNT new connections through the VIP reached,
# sorted, unique (one netns exec for all of them: they are many).
reached() {
	ip netns exec "$LAB_NS_CL" sh -c 'for i in $(seq "$2"); do
		curl -fsS --max-time 3 "http://[$0]:$1/" || { echo "connection $i failed"; exit 1; }
	done' "$LAB_VIP6" "$1" "$2" 2>&1 | sort -u | tr '\n' ' '
}

agent_start "$CFG"
wait_for 30 ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/readyz ||
	fail "agent not ready in 30 s: $(tail -20 "$AGENT_LOG")"
for p in $HTTP_PORT $HTTPS_PORT $TCP_PORT; do
	for n in 1 2 3; do expect_state $p $n up; done
done
log "all nodes up in web6 (http), api6 (https, verified by IPv6 address) and raw6 (tcp)"
# 3 nodes, 30 connections: each node is missed by all of them 1 in 190,000.
got=$(reached $HTTP_PORT 30)
[ "$got" = "node n1 node n2 node n3 " ] || fail "30 connections through the IPv6 VIP reached '$got', not all three nodes"

log "--- web6: n1 answers 500"
echo 500 >"$E2E_TMP/http1.mode"
expect_state $HTTP_PORT 1 down
grep -Eq "service web6: node n1 \($(node6 1)\) is DOWN after $FALL failed http checks: (HTTP status 500|timeout after)" "$AGENT_LOG" ||
	fail "no DOWN log line with the reason for n1; log: $(tail -5 "$AGENT_LOG")"
[ "$(state $HTTPS_PORT 1)" = up ] && [ "$(state $TCP_PORT 1)" = up ] ||
	fail "n1's other services changed though their checks pass"
got=$(reached $HTTP_PORT 30)
[ "$got" = "node n2 node n3 " ] || fail "with n1 down, 30 connections reached '$got'"
echo 200 >"$E2E_TMP/http1.mode"
expect_state $HTTP_PORT 1 up

log "--- web6: n2 hangs"
echo hang >"$E2E_TMP/http2.mode"
expect_state $HTTP_PORT 2 down
grep -q "service web6: node n2 .* is DOWN .*timeout after ${TIMEOUT_MS}ms" "$AGENT_LOG" ||
	fail "no timeout reason logged for n2; log: $(tail -5 "$AGENT_LOG")"
echo 200 >"$E2E_TMP/http2.mode"
expect_state $HTTP_PORT 2 up

log "--- api6: n3's HTTPS server stops, then n1's hangs after the handshake"
kill "$HTTPS_PID_3"
expect_state $HTTPS_PORT 3 down
[ "$(state $HTTP_PORT 3)" = up ] || fail "n3 web6 changed though its check passes"
echo hang >"$E2E_TMP/https1.mode"
expect_state $HTTPS_PORT 1 down
grep -q "service api6: node n1 .* is DOWN .*timeout after ${TIMEOUT_MS}ms (during receive)" "$AGENT_LOG" ||
	fail "hung HTTPS node not reported as a receive timeout; log: $(tail -5 "$AGENT_LOG")"
echo 200 >"$E2E_TMP/https1.mode"
expect_state $HTTPS_PORT 1 up
[ "$(state $HTTPS_PORT 2)" = up ] || fail "api6 n2 left though its verified check passes"

log "--- raw6: n2's TCP server stops and starts again"
kill "$TCP_PID_2"
expect_state $TCP_PORT 2 down
grep -q "service raw6: node n2 .* is DOWN after $FALL failed tcp checks" "$AGENT_LOG" ||
	fail "no DOWN log line for raw6 n2; log: $(tail -5 "$AGENT_LOG")"
got=$(reached $TCP_PORT 30)
[ "$got" = "node n1 node n3 " ] || fail "with raw6 n2 down, 30 connections reached '$got'"
tcp_start 2
expect_state $TCP_PORT 2 up
got=$(reached $TCP_PORT 30)
[ "$got" = "node n1 node n2 node n3 " ] || fail "with raw6 n2 up again, 30 connections reached '$got'"

agent_alive || fail "agent exited"
log "PASS"
