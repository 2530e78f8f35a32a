#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A restarted agent keeps a leaving node leaving: backends in the maps that no
# node of its config has and that are not down are adopted as leaving, with a
# fresh leave-after (nat, IPv4, agent-driven, long-lived echo connections
# through the VIP):
#   1. the agent is SIGKILLed, n3 removed from its config meanwhile, and the
#      agent started again: n3 (up in the maps) is adopted as leaving; no
#      connection broke, none re-hashed;
#   2. SIGKILLed and started again while n3 leaves: n3 is still leaving; no
#      connection broke, none re-hashed;
#   3. the client closes n3's connections: n3 is freed.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

NCONN=45
HTTP_PORT=18083
CFG=$E2E_TMP/drover.yaml
require_cmds jq curl

lab_start
mount_bpffs
http_nodes_start $HTTP_PORT

# write_cfg "N..." [LEAVE_AFTER]: the echo service with nodes nN (leave-after: its default, 1h).
write_cfg() {
	local n
	{
		cat <<EOF
interfaces: [eth0, eth1]
xdp-mode: native
metrics: {listen: 127.0.0.1:9469}
timeouts: {tcp-fin: 2}
services:
  - name: echo
    vip: $LAB_VIP4
    ports: [7]
    snat: $LAB_SNAT4
    health: {kind: http, port: $HTTP_PORT, path: /healthz, interval: 500ms, timeout: 400ms,
             rise: 2, fall: 2, jitter: 0${2:+, leave-after: $2}}
    nodes:
EOF
		for n in $1; do echo "      - {address: $(node4 "$n"), name: n$n}"; done
	} >"$CFG.new"
	mv "$CFG.new" "$CFG"
}
reload() { kill -HUP "$AGENT_PID" || fail "the agent is not running for SIGHUP"; }
state() { be_state "$LAB_VIP4" 7 "$(node4 "$1")"; }
states() { echo "$(state 1) $(state 2) $(state 3)"; }
states_are() { [ "$(states)" = "$1" ]; }
be_id() {
	drv -j backend show "$LAB_VIP4" port 7 2>/dev/null |
		jq -r --arg a "$(node4 "$1")" '[.. | objects | select(.address? == $a) | .id] | first // "absent"'
}
rehashed() { stat_packets rehash; }
broken() { grep -c '^BROKEN' "$E2E_TMP/c.out" || true; }
no_break() { # WHAT
	[ "$(broken)" = 0 ] || fail "connections broke $1: $(grep '^BROKEN' "$E2E_TMP/c.out" | head -3)"
	[ "$(rehashed)" = "$r0" ] || fail "flows re-hashed $1: rehash $r0 -> $(rehashed)"
}

write_cfg "1 2 3"
agent_start "$CFG"
wait_for 30 states_are "up up up" || fail "agent did not bring n1..n3 up in 30 s: $(states); log: $(tail -20 "$AGENT_LOG")"
hold_start c "$LAB_VIP4" 7 $NCONN
opened=$(hold_wait_opened c 1)
log "c: $opened"
for n in 1 2 3; do
	jq -e --arg n "n$n" '.[$n] > 0' <<<"${opened#*nodes=}" >/dev/null ||
		fail "no connection reached n$n ($NCONN connections over 3 nodes): $opened"
done
on() { jq --arg n "n$1" '.[$n]' <<<"${opened#*nodes=}"; }
log "start: $(hold_sync c)"
r0=$(rehashed)

log "--- 1. SIGKILL, n3 removed from the config, agent started again ($(on 3) connections on n3)"
hold_cmd c event restart-without-n3
agent_stop KILL
write_cfg "1 2"
agent_start "$CFG"
wait_for 30 grep -q "service echo: backend $(node4 3) (up in the pinned maps) is no node of the config: it leaves" "$AGENT_LOG" ||
	fail "the restarted agent did not adopt n3 as leaving; log: $(tail -5 "$AGENT_LOG")"
wait_for 20 states_are "up up leaving" || fail "n3 not leaving 20 s after the restart: $(states); log: $(tail -5 "$AGENT_LOG")"
log "after the restart: $(hold_sync c)"
no_break "when the agent restarted without n3"
log "n3 adopted as leaving: no connection broke or re-hashed"

log "--- 2. SIGKILL and start again while n3 leaves"
hold_cmd c event restart-while-leaving
agent_stop KILL
from=$(($(wc -l <"$AGENT_LOG") + 1))
agent_start "$CFG"
new_log() { tail -n +"$from" "$AGENT_LOG" | grep -q "$1"; }
wait_for 30 new_log "service echo: backend $(node4 3) (leaving in the pinned maps) is no node of the config: it leaves" ||
	fail "the restarted agent did not adopt leaving n3; log: $(tail -5 "$AGENT_LOG")"
wait_for 30 new_log "service echo: node $(node4 3) (.*), leaving: $(on 3) open connections to wait for" ||
	fail "the agent did not count n3's $(on 3) connections in 30 s; log: $(grep "$(node4 3)" "$AGENT_LOG" | tail -3)"
states_are "up up leaving" || fail "after the second restart: $(states), want up up leaving"
log "after the second restart: $(hold_sync c)"
no_break "when the agent restarted while n3 was leaving"

log "--- 3. the client closes n3's connections: n3 is freed"
hold_cmd c close n3
wait_for 60 states_are "up up absent" || fail "n3 not freed 60 s after its connections closed: $(states); log: $(tail -5 "$AGENT_LOG")"
grep -q "service echo: node $(node4 3) (.*), leaving, freed: its open connections have all ended" "$AGENT_LOG" ||
	fail "no log line says why n3 was freed; log: $(tail -5 "$AGENT_LOG")"
r=$(hold_report c)
log "report: $(jq -c '{opened, alive, broken, closed, alive_per_node}' <<<"$r")"
jq -e --argjson k "$(on 3)" '.broken == 0 and .closed == $k' <<<"$r" >/dev/null ||
	fail "want no connection broken and n3's $(on 3) closed: $(jq -c '{broken, closed, broken_list}' <<<"$r" | head -c 600)"
log "PASS"
