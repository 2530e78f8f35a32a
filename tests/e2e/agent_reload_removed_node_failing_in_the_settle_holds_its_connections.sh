#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A node a reload removes while its service settles, failing its checks but
# kept in the table by the settle (taking connections), leaves holding its
# connections for a new rehash-after, as it would when the settle ends (nat,
# IPv4, agent-driven, idle long-lived echo connections through the VIP):
#   rise 14, fall 2, rehash-after 2 s: n3 fails while no agent runs; the new
#   agent sees it fail 2 checks (down, a hold of 2 s); 3 s later, the settle
#   still on (n1 and n2 pass their 14th check some 6 s after), a reload
#   removes n3: it is leaving, none of its connections breaks; still failing
#   2 s later, it is down.
# Before the fix n3 left down at once (its hold had run out while the
# settle kept it UP): drover reset every connection it had.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18090
RISE=14 FALL=2 REHASH_AFTER=2s HOLD_PERIOD=600
leave_lab_start

N3_DOWN="service echo: node n3 (.*) is DOWN after 2 failed http checks: .*(start-up settle"

log "--- n3 fails while no agent runs; a new agent settles and sees it fail"
agent_stop KILL
echo 500 >"$E2E_TMP/http3.mode"
from=$(($(wc -l <"$AGENT_LOG") + 1))
new_log() { tail -n +"$from" "$AGENT_LOG"; }
agent_start "$CFG"
wait_for 30 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'service echo: node n3 (.*) is DOWN after 2 failed http checks: .*(start-up settle'" ||
	fail "the new agent did not see n3 fail within its settle in 30 s: $(new_log | grep -E 'settle|n3' | tail -5)"
t_down=$(log_ms '$' "$N3_DOWN")
# Its hold (2 s) has run out 3 s later (bounded by the clock).
wait_for 15 sh -c "[ \$(date +%s%3N) -ge $((t_down + 3000)) ]"

log "--- the settle still on, a reload removes n3 ($(on 3) connections): it leaves holding them"
hold_cmd c event remove-n3
write_cfg "1 2"
reload
wait_for 20 grep -q "service echo: node n3 (.*) is no longer in the config" "$AGENT_LOG" ||
	fail "the reload did not remove n3 in 20 s: $(new_log | tail -5)"
new_log | grep -E "node n3 \(.*\) is no longer in the config|start-up settle over" | head -1 | grep -q "no longer in the config" ||
	fail "the settle ended before the reload removed n3: the machine was too slow for this test: $(new_log | grep -E 'n3|settle' | head -5)"
n3_not_up() { [ "$(state 3)" != up ]; }
wait_for 20 n3_not_up || fail "n3 still up 20 s after a reload removed it: $(states)"
st=$(state 3)
line=$(new_log | grep "service echo: node n3 (.*) is no longer in the config" | tail -1 | cut -d' ' -f3-)
log "agent: $line"
[ "$st" = leaving ] || fail "n3, removed while the settle kept it up, is $st at once, want leaving (its connections held for rehash-after); agent: $line"
grep -q "no longer in the config and fails its checks (the start-up settle kept it in the table): it leaves: out of the table, its open connections stay for rehash-after (2.0 s); if it still fails then, drover resets them" <<<"$line" ||
	fail "the log does not say n3 leaves holding its connections for rehash-after 2.0 s: $line"
log "n3 leaving: $(hold_sync c)"
no_break "when a reload removed n3 while the settle kept it up"

log "--- still failing 2 s later: down"
wait_for 20 states_are "up up down" || fail "n3 not down 20 s after it left failing its checks: $(states); log: $(new_log | grep 'node n3' | tail -3)"
new_log | grep -q "service echo: node n3 (.*), leaving, is down: it still fails its checks after rehash-after 2.0 s" ||
	fail "no line says n3 is down after rehash-after 2.0 s: $(new_log | grep 'node n3' | tail -3)"
agent_alive || fail "the agent exited: $(tail -5 "$AGENT_LOG")"
log "PASS"
