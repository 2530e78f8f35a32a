#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A node put back in the config while it leaves keeps the state it has, and
# the agent's log says which (nat, IPv4, agent-driven, idle long-lived echo
# connections through the VIP, so that a down node's are reset only when the
# test makes them send):
#   1. n3 passes its checks: it stays, up, its connections never moved;
#   2. n3 fails its checks, its connections held for rehash-after (60 s): it
#      stays failing and goes on holding them (none breaks), joins once its
#      checks pass;
#   3. n3 is down (its checks failed past rehash-after, 1 s): it stays down
#      and drover resets its connections at their next packet, joins once its
#      checks pass.
# Before the fix the log said "it stays (same backend; its open connections
# never moved)" in all three cases, which is false in the last two.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18085
REHASH_AFTER=60s
HOLD_PERIOD=600
leave_lab_start

from=1
mark() { from=$(($(wc -l <"$AGENT_LOG") + 1)); }
new_log() { tail -n +"$from" "$AGENT_LOG"; }
# back_line: the line this step's reload logged of n3 back in the config
back_line() { new_log | grep "service echo: node n3 (.*), leaving, is back in the config" | tail -1; }
NEVER_MOVED="its open connections never moved"

# remove_n3: a reload removes n3; it leaves
remove_n3() {
	write_cfg "1 2"
	reload
	wait_for 20 states_are "up up leaving" || fail "n3 not leaving 20 s after the reload removed it: $(states); log: $(new_log | tail -5)"
}

log "--- 1. n3 leaves, passing its checks, and is put back: it stays up"
mark
remove_n3
write_cfg "1 2 3"
reload
wait_for 20 states_are "up up up" || fail "n3 not up 20 s after a reload put it back: $(states); log: $(new_log | tail -5)"
wait_for 10 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'node n3 (.*), leaving, is back in the config'" ||
	fail "no log line says n3 is back: $(new_log | tail -5)"
log "agent: $(back_line | cut -d' ' -f3-)"
back_line | grep -q ": it stays (same backend; $NEVER_MOVED)$" || fail "n3 up and back: want it stays, its connections never moved: $(back_line)"
log "n3 back, up: $(hold_sync c)"
no_break "when n3, up, was put back"

log "--- 2. n3 leaves, fails its checks (held for rehash-after 60 s), and is put back: it stays failing"
mark
remove_n3
echo 500 >"$E2E_TMP/http3.mode"
wait_for 20 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'service echo: node n3 (.*), leaving, fails its checks'" ||
	fail "the agent did not see n3's checks fail in 20 s: $(new_log | tail -3)"
write_cfg "1 2 3"
reload
wait_for 20 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'node n3 (.*), leaving, is back in the config'" ||
	fail "no log line says n3 is back: $(new_log | tail -5)"
log "agent: $(back_line | cut -d' ' -f3-)"
back_line | grep -q "is back in the config and fails its checks: it stays out of the table (same backend), its open connections held for what is left of rehash-after ([0-9.]* s); if it still fails then, drover resets them; it joins once 2 checks pass$" ||
	fail "n3 failing and back: want it stays out of the table, its connections held: $(back_line)"
! back_line | grep -q "$NEVER_MOVED" || fail "n3 failing and back: the log says its connections never moved: $(back_line)"
wait_for 20 states_are "up up failing" || fail "n3 not failing after a reload put it back failing: $(states)"
log "n3 back, failing: $(hold_sync c)"
no_break "while n3, failing, was put back"
echo 200 >"$E2E_TMP/http3.mode"
wait_for 20 states_are "up up up" || fail "n3 not up 20 s after its checks passed again: $(states); log: $(new_log | tail -3)"
no_break "when n3 passed its checks again"

log "--- 3. n3 leaves, is down (rehash-after 1 s), and is put back: it stays down, drover resets its connections"
REHASH_AFTER=1s
mark
remove_n3
echo 500 >"$E2E_TMP/http3.mode"
wait_for 20 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'service echo: node n3 (.*), leaving, is down'" ||
	fail "n3 not down 20 s after its checks failed: $(states); log: $(new_log | tail -3)"
write_cfg "1 2 3"
reload
wait_for 20 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'node n3 (.*), leaving, is back in the config'" ||
	fail "no log line says n3 is back: $(new_log | tail -5)"
log "agent: $(back_line | cut -d' ' -f3-)"
back_line | grep -q "is back in the config and down: it stays down (same backend): drover resets its [0-9]* open connections at their next packet; it joins once 2 checks pass$" ||
	fail "n3 down and back: want it stays down, its connections reset: $(back_line)"
! back_line | grep -q "$NEVER_MOVED" || fail "n3 down and back: the log says its connections never moved: $(back_line)"
states_are "up up down" || fail "n3 is $(state 3) after a reload put it back down, want down"
# What the line says: each of n3's connections, made to send, is reset by drover.
rst0=$(stat_packets rst_node_down)
log "n3 back, down: $(hold_sync c)"
wait_for 20 sh -c "[ \$(grep -c '^BROKEN' '$E2E_TMP/c.out') -ge $(on 3) ]" ||
	fail "want n3's $(on 3) connections reset when they sent, $(broken) broke in 20 s"
[ "$(broken)" = "$(on 3)" ] || fail "want n3's $(on 3) connections reset when they sent, $(broken) broke: $(grep '^BROKEN' "$E2E_TMP/c.out" | head -3)"
[ $(($(stat_packets rst_node_down) - rst0)) -ge "$(on 3)" ] || fail "rst_node_down moved by $(($(stat_packets rst_node_down) - rst0)), fewer than n3's $(on 3) connections"
echo 200 >"$E2E_TMP/http3.mode"
wait_for 20 states_are "up up up" || fail "n3 not up 20 s after its checks passed again: $(states); log: $(new_log | tail -3)"
agent_alive || fail "the agent exited: $(tail -5 "$AGENT_LOG")"
log "PASS"
