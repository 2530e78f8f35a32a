#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A node that fails its health checks leaves the table at once but keeps its
# open connections for `rehash-after` (state failing), so a check failure that
# is not a dead node breaks nothing (nat, IPv4, agent-driven, long-lived echo
# connections through the VIP):
#   1. one node's check fails (its servers run on) and passes again within
#      rehash-after: it is failing, then up; no connection broke, none re-hashed,
#      new connections avoided it meanwhile;
#   2. every node's check fails, a moment apart: the service fails open
#      before any hold runs out; no connection broke, none re-hashed;
#   3. one node's check keeps failing; an agent restarted meanwhile adopts it
#      as failing and holds on; after rehash-after it is down: no node holds
#      its connections any more, so drover answers their next segment with a
#      RST itself (none reaches another node: theirs send no RST), and only
#      its connections break;
#   4. n3's check fails; an agent restarted meanwhile adopts it as failing,
#      and n3 passes its checks while the new agent still settles (n1's check
#      hangs, so n1 has no verdict yet): n3 holds its connections until the
#      settle ends, then is up; none of them breaks (before the fix it was
#      down in between, and drover reset those that sent then).
# FAMILY=6 runs the same over IPv6 (VIP, nodes, snat and checks):
# agent_failing_v6_node_keeps_its_connections.sh.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

NCONN=45
INTERVAL_MS=500 TIMEOUT_MS=400 FALL=2 RISE=2 HOLD_S=8
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
    health: {kind: http, port: $HTTP_PORT, path: /healthz, interval: ${INTERVAL_MS}ms,
             timeout: ${TIMEOUT_MS}ms, rise: $RISE, fall: $FALL, jitter: 0, rehash-after: ${HOLD_S}s}
    nodes:
      - {address: $($NODE 1), name: n1}
      - {address: $($NODE 2), name: n2}
      - {address: $($NODE 3), name: n3}
EOF

state() { be_state "$VIP" 7 "$($NODE "$1")"; }
states() { echo "$(state 1) $(state 2) $(state 3)"; }
states_are() { [ "$(states)" = "$1" ]; }
check() { echo "$2" >"$E2E_TMP/http$1.mode"; } # N 200|500: node N's health answer
rehashed() { stat_packets rehash; }
broken() { grep -c '^BROKEN' "$E2E_TMP/c.out" || true; }

agent_start "$CFG"
wait_for 30 states_are "up up up" || fail "agent did not bring n1..n3 up in 30 s: $(states); log: $(tail -20 "$AGENT_LOG")"
hold_on_every_node c "$VIP" 7 $NCONN
r0=$(rehashed)

log "--- 1. n1's check fails, then passes again within rehash-after (${HOLD_S}s)"
hold_cmd c event blip
check 1 500
wait_for 20 states_are "failing up up" || fail "n1 not failing 20 s after its check failed: $(states)"
t_out=$(date +%s)
# New connections avoid a failing node: 15 of them miss n1 by chance with probability (2/3)^15 ≈ 0.2%.
hold_cmd c open 15
o=$(hold_wait_opened c 2)
log "c: $o"
jq -e '(.n1 // 0) == 0' <<<"${o#*nodes=}" >/dev/null || fail "a new connection went to failing n1: $o"
log "while failing: $(hold_sync c)"
check 1 200
wait_for 20 states_are "up up up" || fail "n1 not up again 20 s after its check passed: $(states)"
[ $(($(date +%s) - t_out)) -lt $HOLD_S ] ||
	fail "n1 came back $(($(date +%s) - t_out)) s after it went out, not within rehash-after (${HOLD_S}s): the machine was too slow for this step"
log "after the blip: $(hold_sync c)"
[ "$(broken)" = 0 ] || fail "connections broke over n1's check blip: $(grep '^BROKEN' "$E2E_TMP/c.out" | head -3)"
[ "$(rehashed)" = "$r0" ] || fail "flows re-hashed over n1's check blip: rehash $r0 -> $(rehashed)"
grep -q "service echo: node n1 (.*) is UP after $RISE passed http checks, the last in .* ms; its open connections never left it" "$AGENT_LOG" ||
	fail "the UP line does not say n1 kept its connections; log: $(grep 'node n1' "$AGENT_LOG" | tail -3)"
log "n1 failed and recovered: no connection broke, none re-hashed"

log "--- 2. every node's check fails: the service fails open before any hold runs out"
hold_cmd c event all-fail
check 1 500
check 2 500
check 3 500
wait_for 20 metric_is drover_service_all_down 'service="echo"' 1 ||
	fail "the service did not fail open 20 s after every check failed; log: $(tail -5 "$AGENT_LOG")"
wait_for 10 states_are "up up up" || fail "failing open, the nodes are $(states), want up up up"
log "failing open: $(hold_sync c)"
check 1 200
check 2 200
check 3 200
wait_for 20 metric_is drover_service_all_down 'service="echo"' 0 ||
	fail "the fail-open did not end 20 s after the checks passed again"
wait_for 20 states_are "up up up" || fail "after the fail-open: $(states), want up up up"
log "after the fail-open: $(hold_sync c)"
[ "$(broken)" = 0 ] || fail "connections broke when every check failed: $(grep '^BROKEN' "$E2E_TMP/c.out" | head -3)"
[ "$(rehashed)" = "$r0" ] || fail "flows re-hashed when every check failed: rehash $r0 -> $(rehashed)"
log "every check failed: fail-open, no connection broke, none re-hashed"

log "--- 3. n2's check keeps failing: after rehash-after drover resets its connections"
on_n2=$(grep '^OPENED' "$E2E_TMP/c.out" | sed 's/.*nodes=//' | jq -s '[.[].n2 // 0] | add')
hold_cmd c event n2-fails
rst0=$(stat_packets rst_node_down) nrst0=$(node_rsts 7 1 3)
check 2 500
wait_for 20 states_are "up failing up" || fail "n2 not failing 20 s after its check failed: $(states)"
# A new agent adopts the failing node: still out, still holding, for a new rehash-after.
agent_stop KILL
agent_start "$CFG"
t_out=$(date +%s%3N)
wait_for 30 grep -q "service echo: node n2 is failing in the pinned maps; it stays out until $RISE checks pass, its open connections held for rehash-after" "$AGENT_LOG" ||
	fail "the restarted agent did not adopt n2 as failing; log: $(tail -5 "$AGENT_LOG")"
sync=$(hold_sync c)
log "after the restart: $sync"
if [ $(($(date +%s%3N) - t_out)) -lt $((HOLD_S * 1000 - 2000)) ]; then
	states_are "up failing up" || fail "after the restart: $(states), want up failing up"
	[ "$(broken)" = 0 ] || fail "connections broke over the restart: $(grep '^BROKEN' "$E2E_TMP/c.out" | head -3)"
else
	log "(the sync took past the hold: its connections are not checked here)"
fi
wait_for $((HOLD_S + 20)) states_are "up down up" || fail "n2 not down $((HOLD_S + 20)) s after it went out: $(states)"
t_down=$(date +%s%3N)
log "n2 failing for $((t_down - t_out)) ms after the restart, then down (rehash-after ${HOLD_S}s; polled)"
[ $((t_down - t_out)) -ge $((HOLD_S * 1000 - 1500)) ] ||
	fail "n2 went down $((t_down - t_out)) ms after the restart, before rehash-after (${HOLD_S}s)"
grep -q "service echo: node n2 (.*) still fails its checks after rehash-after $HOLD_S.0 s: it is down: drover resets its open connections at their next packet" "$AGENT_LOG" ||
	fail "no log line says n2's connections are reset; log: $(tail -5 "$AGENT_LOG")"
# Each of n2's connections sends within 0.2 s: drover resets it at its next segment.
wait_for 30 sh -c "[ \$(grep -c '^BROKEN' '$E2E_TMP/c.out') -ge $on_n2 ]" ||
	fail "$on_n2 connections were on n2, only $(broken) broke 30 s after it went down"
t_broken=$(date +%s%3N)
rst=$(($(stat_packets rst_node_down) - rst0))
[ "$rst" -ge "$on_n2" ] || fail "rst_node_down moved by $rst, fewer than n2's $on_n2 connections"
[ "$(rehashed)" = "$r0" ] || fail "n2's flows re-hashed (rehash $r0 -> $(rehashed)), not reset by drover"
[ "$(node_rsts 7 1 3)" = "$nrst0" ] || fail "n1 and n3 sent $(($(node_rsts 7 1 3) - nrst0)) RSTs: n2's segments reached them"
log "n2's $on_n2 connections reset by drover ($rst RSTs) within $((t_broken - t_down)) ms of n2 going down (polled); n1 and n3 saw none of them"

log "--- 4. failing n3 adopted by a restarted agent passes its checks while the agent settles"
hold_cmd c event settle
check 3 500
wait_for 20 states_are "up down failing" || fail "n3 not failing 20 s after its check failed: $(states)"
agent_stop KILL
check 3 200
check 1 hang
from=$(($(wc -l <"$AGENT_LOG") + 1))
new_log() { tail -n +"$from" "$AGENT_LOG"; }
settled() { new_log | grep -q "service echo: start-up settle over"; }
agent_start "$CFG"
# n3 passes $RISE checks (about ${INTERVAL_MS} ms) before n1's $FALL hang past their timeout
# (about $((INTERVAL_MS + TIMEOUT_MS)) ms): the new agent still settles when n3 rises.
wait_for 30 settled || fail "the new agent did not end its start-up settle in 30 s: $(new_log | tail -5)"
new_log | grep -q "service echo: node n3 (.*) is UP after $RISE passed http checks, .*(start-up settle" ||
	fail "n3 did not rise while the new agent settled (this step needs it): $(new_log | grep -E 'n3|settle' | head -5)"
log "new agent: $(new_log | grep -E 'node n3|settle over' | cut -d' ' -f3- | tr '\n' ';')"
check 1 200
wait_for 20 states_are "up down up" || fail "after the restart: $(states), want up down up (n2 still failing its checks)"
log "after the restart: $(hold_sync c)"
[ "$(broken)" = "$on_n2" ] ||
	fail "$(($(broken) - on_n2)) connections broke while n3 rose in the new agent's settle: $(grep '^BROKEN' "$E2E_TMP/c.out" | grep -v 'node=n2' | head -3)"
log "n3 rose while the new agent settled: none of its connections broke"
r=$(hold_report c)
log "report: $(jq -c '{opened, alive, broken, broken_by_event, alive_per_node}' <<<"$r")"
jq -e --argjson k "$on_n2" '.broken == $k and ([.broken_list[].node] | unique) == ["n2"] and
	([.broken_list[].event] | unique) == ["n2-fails"] and
	all(.broken_list[]; .error | test("(ECONNRESET|EPIPE)$"))' <<<"$r" >/dev/null ||
	fail "want exactly n2's $on_n2 connections broken by a reset, at n2-fails: $(jq -c .broken_list <<<"$r" | head -c 600)"
log "n2 down after rehash-after: its $on_n2 connections were reset, no other broke"
log "PASS"
