#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A node a reload removed leaves (out of the table, its open connections stay)
# only while it lives and for health leave-after at most (nat, IPv4,
# agent-driven, long-lived echo connections through the VIP):
#   1. a reload removes n2, then n2's check fails `fall` times: it holds its
#      connections for rehash-after (2 s here), as a node of the config does;
#      still failing then, it is dead, DOWN in the maps (not freed: its flows would re-hash to n1 or n3, which
#      reset them, or hold their 4-tuple in TIME_WAIT and leave the client
#      hanging): drover resets its connections itself (rst_node_down), none
#      reaches another node (their RSTs from the echo port) and none re-hashes; only they
#      break; once they have ended n2 is freed;
#   2. a reload sets leave-after 5s and removes n3: it leaves, and is freed 5 s
#      later with its connections still open: they re-hash, and only they break.
# Before the fix a dead leaver was freed at once and its connections re-hashed.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18082
REHASH_AFTER=2s
leave_lab_start

log "--- 1. a reload removes n2 ($(on 2) connections), then its check fails: down, its connections reset by drover, then freed"
hold_cmd c event remove-n2
write_cfg "1 3"
reload
wait_for 20 states_are "up leaving up" || fail "n2 not leaving 20 s after the reload removed it: $(states); log: $(tail -5 "$AGENT_LOG")"
log "n2 leaving: $(hold_sync c)"
no_break "when a reload removed n2"
hold_cmd c event n2-fails
rst0=$(stat_packets rst_node_down) nrst0=$(node_rsts 7 1 3)
echo 500 >"$E2E_TMP/http2.mode"
wait_for 20 states_are "up down up" || fail "n2 not down 20 s after its check failed: $(states); log: $(grep 'n2' "$AGENT_LOG" | tail -3)"
t_down=$(date +%s%3N)
grep -q "service echo: node n2 (.*), leaving, fails its checks: it failed 2 http checks (.*): its open connections stay for rehash-after 2.0 s; if it still fails then, drover resets them" "$AGENT_LOG" ||
	fail "no log line says n2 fails its checks and holds its connections; log: $(grep 'n2' "$AGENT_LOG" | tail -3)"
grep -q "service echo: node n2 (.*), leaving, is down: it still fails its checks after rehash-after 2.0 s: drover resets its .*open connections at their next packet; it is freed once they have ended (at most leave-after 1h)" "$AGENT_LOG" ||
	fail "no log line says n2 is down for its checks; log: $(grep 'n2' "$AGENT_LOG" | tail -3)"
# Each of n2's connections sends within 0.2 s: drover resets it at its next segment.
wait_for 30 sh -c "[ \$(grep -c '^BROKEN' '$E2E_TMP/c.out') -ge $(on 2) ]" ||
	fail "$(on 2) connections were on n2, only $(broken) broke 30 s after it went down"
rst=$(($(stat_packets rst_node_down) - rst0))
[ "$rst" -ge "$(on 2)" ] || fail "rst_node_down moved by $rst, fewer than n2's $(on 2) connections"
[ "$(rehashed)" = "$r0" ] || fail "n2's flows re-hashed (rehash $r0 -> $(rehashed)), not reset by drover"
[ "$(node_rsts 7 1 3)" = "$nrst0" ] || fail "n1 and n3 sent $(($(node_rsts 7 1 3) - nrst0)) RSTs: n2's segments reached them"
log "n2's $(on 2) connections reset by drover ($rst RSTs); n1 and n3 saw none of them"
# They close at drover's RST and expire after tcp-fin (2 s); the agent counts every 5 s.
wait_for 60 states_are "up absent up" || fail "n2 not freed 60 s after it went down: $(states); log: $(grep 'n2' "$AGENT_LOG" | tail -3)"
log "n2 freed $(($(date +%s%3N) - t_down)) ms after it went down (polled)"
grep -q "service echo: node n2 (.*), leaving, freed: its open connections have all ended (after .* s; it is down)" "$AGENT_LOG" ||
	fail "no log line says n2 was freed once its connections ended; log: $(grep 'n2' "$AGENT_LOG" | tail -3)"
[ "$(rehashed)" = "$r0" ] || fail "flows re-hashed when n2 was freed: rehash $r0 -> $(rehashed)"
log "n2 dead while leaving: down, its $(on 2) connections reset by drover, freed once they ended"

log "--- 2. leave-after 5s: a reload removes n3 ($(on 3) connections); freed 5 s later"
hold_cmd c event remove-n3
write_cfg "1" 5s
reload
t_out=$(date +%s%3N)
wait_for 20 states_are "up absent leaving" || fail "n3 not leaving 20 s after the reload removed it: $(states); log: $(tail -5 "$AGENT_LOG")"
wait_for 30 states_are "up absent absent" || fail "n3 not freed 30 s after the reload removed it (leave-after 5s): $(states)"
t_free=$(date +%s%3N)
log "n3 freed $((t_free - t_out)) ms after the reload (leave-after 5s; polled)"
[ $((t_free - t_out)) -ge 3500 ] || fail "n3 freed $((t_free - t_out)) ms after the reload, before leave-after (5s)"
grep -q "service echo: node n3 (.*), leaving, freed: health leave-after 5s has passed: its [0-9]* open connections move to other nodes (they re-hash)" "$AGENT_LOG" ||
	fail "no log line says n3 was freed at leave-after; log: $(grep 'n3' "$AGENT_LOG" | tail -3)"
want=$(($(on 2) + $(on 3)))
wait_for 30 sh -c "[ \$(grep -c '^BROKEN' '$E2E_TMP/c.out') -ge $want ]" ||
	fail "$(on 3) connections were on n3, only $(($(broken) - $(on 2))) broke 30 s after it was freed"
[ "$(rehashed)" -gt "$r0" ] || fail "the freed nodes' flows did not re-hash (rehash counter $(rehashed))"
r=$(hold_report c)
log "report: $(jq -c '{opened, alive, broken, broken_by_event, alive_per_node}' <<<"$r")"
jq -e --argjson k2 "$(on 2)" --argjson k3 "$(on 3)" '.broken == $k2 + $k3 and
	.broken_by_event == {"n2-fails": {"n2": $k2}, "remove-n3": {"n3": $k3}}' <<<"$r" >/dev/null ||
	fail "want exactly n2's $(on 2) connections broken at n2-fails and n3's $(on 3) at remove-n3: $(jq -c .broken_by_event <<<"$r")"
jq -e '[.broken_list[] | select(.node == "n2")] | all(.error | test("(ECONNRESET|EPIPE)$"))' <<<"$r" >/dev/null ||
	fail "n2's connections did not all end by a reset: $(jq -c '[.broken_list[] | select(.node == "n2")]' <<<"$r" | head -c 600)"
log "PASS"
