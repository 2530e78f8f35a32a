#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A node that passes its checks while its service settles keeps the hold it
# had (failing, adopted from the maps) until the settle ends. A reload that
# removes it meanwhile makes it a leaver that passes its checks: it leaves as
# any passing node does, and no hold ends for it (nat, IPv4, agent-driven,
# long-lived echo connections through the VIP):
#   n3 fails its checks, the agent restarts (it adopts n3 as failing, with a
#   hold of rehash-after), n3 passes its checks while the new agent settles
#   (n1's check hangs, so n1 has no verdict yet), and a reload removes n3
#   before the settle ends. n3 is leaving, and stays leaving past the end of
#   the hold it had: none of its connections breaks. Before the fix the
#   leaver took the hold along, the log said it "fails its checks", and when
#   the hold ran out it was down and drover reset every connection on it.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18084
# fall 8: n1's hanging checks take 8 timeouts (about 4 s) to give it a
# verdict, the window in which n3 rises and the reload removes it.
FALL=8 REHASH_AFTER=6s HOLD_S=6
check() { echo "$2" >"$E2E_TMP/http$1.mode"; } # N 200|500|hang: node N's health answer
leave_lab_start

log "--- n3 fails its checks; the agent restarts and adopts it as failing"
check 3 500
wait_for 30 states_are "up up failing" || fail "n3 not failing 30 s after its check failed: $(states)"
agent_stop KILL
check 3 200
check 1 hang
from=$(($(wc -l <"$AGENT_LOG") + 1))
new_log() { tail -n +"$from" "$AGENT_LOG"; }
agent_start "$CFG"
t_start=$(date +%s%3N)
wait_for 30 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'service echo: node n3 (.*) is UP after 2 passed http checks, .*(start-up settle'" ||
	fail "n3 did not rise while the new agent settled (this test needs it): $(new_log | grep -E 'n3|settle' | head -5)"
new_log | grep -q "service echo: node n3 is failing in the pinned maps; it stays out until 2 checks pass, its open connections held for rehash-after" ||
	fail "the new agent did not adopt n3 as failing with a hold: $(new_log | grep n3 | head -3)"

log "--- a reload removes n3 while the service still settles"
hold_cmd c event remove-n3
write_cfg "1 2"
reload
wait_for 20 grep -q "service echo: node n3 (.*) is no longer in the config" "$AGENT_LOG" ||
	fail "the reload did not remove n3 in 20 s; log: $(tail -5 "$AGENT_LOG")"
new_log | grep -E "node n3 \(.*\) is no longer in the config|start-up settle over" | head -1 |
	grep -q "no longer in the config" ||
	fail "the settle ended before the reload removed n3: the machine was too slow for this test: $(new_log | grep -E 'n3|settle' | head -5)"
check 1 200
wait_for 20 states_are "up up leaving" || fail "n3 not leaving 20 s after the reload removed it: $(states)"

log "--- past the end of the hold n3 had (rehash-after ${HOLD_S}s from the restart), n3 stays leaving"
# A negative: nothing may happen when the hold would have ended. Watched
# (state and the log) until 4 s past it, by the clock.
past_hold() {
	[ $(($(date +%s%3N) - t_start)) -ge $(((HOLD_S + 4) * 1000)) ] ||
		! states_are "up up leaving" || new_log | grep -q "node n3 (.*), leaving, is down"
}
wait_for $((HOLD_S + 30)) past_hold || fail "the clock did not pass the hold's end in $((HOLD_S + 30)) s"
states_are "up up leaving" || fail "n3 is no longer leaving after the hold it had ended: $(states); log: $(new_log | grep 'node n3' | tail -2)"
new_log | grep -q "node n3 (.*), leaving, is down" &&
	fail "n3, passing its checks, went down: $(new_log | grep 'node n3' | tail -2)"
log "n3 leaving: $(hold_sync c)"
no_break "when n3, removed in the settle, passed the end of its old hold"
new_log | grep "node n3 (.*) is no longer in the config" | grep -q "fails its checks" &&
	fail "n3 passes its checks, but the log says it fails them: $(new_log | grep 'node n3' | tail -2)"
log "PASS"
