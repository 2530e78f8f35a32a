#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A node a reload removes from a service that stays leaves: out of the table,
# its open connections stay on it (state leaving), and it is freed once they
# have ended (nat, IPv4, agent-driven, long-lived echo connections through the
# VIP):
#   1. a reload removes n3: it is leaving; no connection broke, none re-hashed;
#      new connections avoid it; the agent counts its connections;
#   1b. n3's checks fail `fall` times and pass again within rehash-after (a
#      blip: the node was busy, or its network hiccuped): it stays leaving,
#      none of its connections broke or re-hashed, as an in-config node's
#      stay over a blip (before the fix it was down at once, and drover
#      reset every connection on it);
#   2. n3 put back in the config while leaving: kept, the same backend id, up
#      again; no connection broke, none re-hashed;
#   3. removed again, the client closes n3's connections: n3 is freed (gone
#      from the maps) and the log says why; still no connection broke.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18080
leave_lab_start

log "--- 1. a reload removes n3 ($(on 3) connections on it): it leaves"
hold_cmd c event remove-n3
write_cfg "1 2"
reload
wait_for 20 states_are "up up leaving" || fail "n3 not leaving 20 s after the reload removed it: $(states); log: $(tail -5 "$AGENT_LOG")"
grep -q "service echo: node n3 (.*) is no longer in the config: it leaves: out of the table, its open connections stay until they end (at most leave-after 1h)" "$AGENT_LOG" ||
	fail "no log line says n3 leaves; log: $(tail -5 "$AGENT_LOG")"
# New connections avoid a leaving node: 15 of them miss n3 by chance with probability (2/3)^15 ≈ 0.2%.
hold_cmd c open 15
o=$(hold_wait_opened c 2)
log "c: $o"
jq -e '(.n3 // 0) == 0' <<<"${o#*nodes=}" >/dev/null || fail "a new connection went to leaving n3: $o"
log "n3 leaving: $(hold_sync c)"
no_break "when a reload removed n3"
wait_for 30 grep -q "service echo: node n3 (.*), leaving: $(on 3) open connections to wait for" "$AGENT_LOG" ||
	fail "the agent did not count n3's $(on 3) connections in 30 s; log: $(grep 'n3' "$AGENT_LOG" | tail -3)"
metric_is drover_backend_state 'node="n3",address="'"$(node4 3)"'",port="7",state="leaving"' 1 ||
	fail "/metrics: n3 not leaving: $(ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/metrics | grep 'drover_backend_state{.*n3')"
states_are "up up leaving" || fail "n3 no longer leaving while its connections are open: $(states)"
log "n3 left the table with its $(on 3) connections: none broke, none re-hashed, new ones avoid it"

log "--- 1b. n3's checks fail 2 times, then pass within rehash-after (10 s): it stays leaving"
hold_cmd c event blip-n3
from=$(($(wc -l <"$AGENT_LOG") + 1))
new_log() { tail -n +"$from" "$AGENT_LOG"; }
echo 500 >"$E2E_TMP/http3.mode"
# fall (2) failures: the agent's log says what it makes of them (before the fix: "is down").
wait_for 20 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'service echo: node n3 (.*), leaving, \(fails its checks\|is down\)'" ||
	fail "the agent did not see n3's checks fail in 20 s: $(new_log | tail -3)"
log "agent: $(new_log | grep 'node n3 (.*), leaving' | tail -1 | cut -d' ' -f3-)"
states_are "up up leaving" || fail "n3 is $(state 3) after 2 failed checks, want leaving (its connections held for rehash-after)"
echo 200 >"$E2E_TMP/http3.mode"
wait_for 20 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'service echo: node n3 (.*), leaving, passes its checks again'" ||
	fail "the agent did not see n3 pass again in 20 s: $(new_log | tail -3)"
log "agent: $(new_log | grep 'node n3 (.*), leaving, passes' | tail -1 | cut -d' ' -f3-)"
states_are "up up leaving" || fail "n3 is $(state 3) after it passed again, want leaving"
log "after the blip: $(hold_sync c)"
no_break "over n3's check blip while it left"
log "n3's checks failed and passed again while it left: it stayed leaving, none of its $(on 3) connections broke"

log "--- 2. n3 back in the config while leaving: kept"
id3=$(be_id 3)
hold_cmd c event back-n3
write_cfg "1 2 3"
reload
wait_for 20 states_are "up up up" || fail "n3 not up 20 s after a reload put it back: $(states); log: $(tail -5 "$AGENT_LOG")"
[ "$(be_id 3)" = "$id3" ] || fail "n3 back in the config has backend id $(be_id 3), want its id $id3"
grep -q "service echo: node n3 (.*), leaving, is back in the config: it stays" "$AGENT_LOG" ||
	fail "no log line says n3 stays; log: $(tail -5 "$AGENT_LOG")"
log "n3 back: $(hold_sync c)"
no_break "when n3 came back"
log "n3 back in the config: the same backend (id $id3), no connection broke or re-hashed"

log "--- 3. removed again; the client closes n3's connections: n3 is freed"
hold_cmd c event remove-n3-again
write_cfg "1 2"
reload
wait_for 20 states_are "up up leaving" || fail "n3 not leaving 20 s after the second removal: $(states)"
log "n3 leaving: $(hold_sync c)"
hold_cmd c close n3
wait_for 20 grep -q "^CLOSED $(on 3) node=n3" "$E2E_TMP/c.out" ||
	fail "the client did not close n3's $(on 3) connections: $(grep '^CLOSED' "$E2E_TMP/c.out")"
t0=$(date +%s)
# tcp-fin 2 s, then the agent's next count (every 5 s at most)
wait_for 60 states_are "up up absent" || fail "n3 not freed 60 s after its connections closed: $(states); log: $(grep 'n3' "$AGENT_LOG" | tail -3)"
log "n3 freed $(($(date +%s) - t0)) s after its connections closed"
grep -q "service echo: node n3 (.*), leaving, freed: its open connections have all ended" "$AGENT_LOG" ||
	fail "no log line says why n3 was freed; log: $(grep 'n3' "$AGENT_LOG" | tail -3)"
log "after: $(hold_sync c)"
r=$(hold_report c)
log "report: $(jq -c '{opened, alive, broken, closed, alive_per_node}' <<<"$r")"
jq -e --argjson k "$(on 3)" '.broken == 0 and .closed == $k and (.alive_per_node.n3 // 0) == 0' <<<"$r" >/dev/null ||
	fail "want no connection broken and n3's $(on 3) closed: $(jq -c '{broken, closed, broken_list}' <<<"$r" | head -c 600)"
log "PASS"
