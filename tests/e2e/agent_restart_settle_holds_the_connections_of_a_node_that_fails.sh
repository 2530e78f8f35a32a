#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A restarted agent's service settles: its table keeps the states of the maps
# until every node has a verdict. A node UP there that fails its checks stays
# in the table meanwhile, taking connections; when the settle ends it leaves
# the table holding them for a new rehash-after, as the nodes that still fail
# do when a fail-open ends (nat, IPv4, agent-driven, idle long-lived echo
# connections through the VIP):
#   rise 10, fall 2, rehash-after 2 s: n3 fails while no agent runs; the new
#   agent sees it fail 2 checks (down, a hold of 2 s) some 4 s before n1 and
#   n2 pass their 10th (the end of the settle): n3 is failing then, none of
#   its connections breaks; still failing 2 s later, it is down.
# Before the fix n3 was down at the end of the settle (its hold had run out
# while the settle kept it UP): drover reset every connection it had.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18089
RISE=10 FALL=2 REHASH_AFTER=2s HOLD_PERIOD=600
leave_lab_start

SETTLED="service echo: start-up settle over: every node has a verdict (2 up, 1 down)"
N3_DOWN="service echo: node n3 (.*) is DOWN after 2 failed http checks: .*(start-up settle"

log "--- n3 fails while no agent runs; a new agent settles"
agent_stop KILL
echo 500 >"$E2E_TMP/http3.mode"
hold_cmd c event restart
from=$(($(wc -l <"$AGENT_LOG") + 1))
new_log() { tail -n +"$from" "$AGENT_LOG"; }
agent_start "$CFG"
wait_for 30 sh -c "tail -n +$from '$AGENT_LOG' | grep -q '$SETTLED'" ||
	fail "the new agent's settle did not end with n3 down in 30 s: $(new_log | grep -E 'settle|n3' | tail -5)"
n3_not_up() { [ "$(state 3)" != up ]; }
wait_for 20 n3_not_up || fail "n3 still up 20 s after the settle ended: $(states)"
st=$(state 3)
t_down=$(log_ms '$' "$N3_DOWN") || fail "no line says n3 is down within the settle: $(new_log | grep -E 'settle|n3' | tail -5)"
t_settled=$(log_ms '$' "$SETTLED")
log "n3 down at 0 (a hold of 2 s), the settle over at $((t_settled - t_down)) ms; n3 is then $st"
[ $((t_settled - t_down)) -ge 2500 ] ||
	fail "the settle ended $((t_settled - t_down)) ms after n3 failed, before its hold ran out: this test needs it later"
[ "$st" = failing ] ||
	fail "n3, failing its checks while the settle kept it in the table, is $st when the settle ends, want failing (its connections held for rehash-after)"
log "n3 failing: $(hold_sync c)"
no_break "when the settle ended with n3 failing"

log "--- still failing 2 s later: down"
wait_for 20 states_are "up up down" || fail "n3 not down 20 s after it left the table: $(states); log: $(new_log | grep 'node n3' | tail -3)"
new_log | grep -q "service echo: node n3 (.*) still fails its checks after rehash-after 2.0 s: it is down" ||
	fail "no line says n3 is down after rehash-after 2.0 s: $(new_log | grep 'node n3' | tail -3)"
agent_alive || fail "the agent exited: $(tail -5 "$AGENT_LOG")"
log "PASS"
