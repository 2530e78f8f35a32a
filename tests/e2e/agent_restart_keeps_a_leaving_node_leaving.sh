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
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18083
leave_lab_start

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
