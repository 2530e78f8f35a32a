#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A node adopted as failing (its connections held for rehash-after) that
# passes its checks while its service settles is out of the table until the
# settle ends, then up: its hold can no longer end in a reset. A reload that
# changes rehash-after meanwhile does not say that its connections stay only
# so much longer, nor that its hold is over (nat, IPv4, agent-driven,
# long-lived echo connections through the VIP):
#   n3 fails, the agent restarts (it adopts n3 as failing), n3 passes its
#   checks while the new agent settles (n1's check hangs), and a reload
#   changes rehash-after from 6 s to 8 s before the settle ends. The log has
#   no "n3 ...: rehash-after is now" line; n3 is up once the settle ends;
#   none of its connections breaks.
# Before the fix the reload said "node n3 (ADDR): rehash-after is now 8.0 s
# (was 6.0 s): its open connections stay N s more (it failed M s ago)".
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18091
# fall 8: n1's hanging checks take 8 timeouts (about 4 s) to give it a
# verdict, the window in which n3 rises and the reload comes.
FALL=8 REHASH_AFTER=6s
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
wait_for 30 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'service echo: node n3 (.*) is UP after 2 passed http checks, .*(start-up settle'" ||
	fail "n3 did not rise while the new agent settled (this test needs it): $(new_log | grep -E 'n3|settle' | head -5)"

log "--- a reload changes rehash-after (6 s to 8 s) while the service still settles"
REHASH_AFTER=8s
write_cfg "1 2 3"
reload
wait_for 20 sh -c "tail -n +$from '$AGENT_LOG' | grep -q 'reload (SIGHUP) ok'" || fail "the reload was not applied in 20 s: $(new_log | tail -5)"
new_log | grep -E "reload \(SIGHUP\) ok|start-up settle over" | head -1 | grep -q "reload" ||
	fail "the settle ended before the reload: the machine was too slow for this test: $(new_log | grep -E 'n3|settle|reload' | head -5)"
moved=$(new_log | grep "service echo: node n3 (.*): rehash-after is now" || true)
[ -z "$moved" ] || fail "the reload says n3's hold moved, though n3 passes its checks: ${moved#* info: }"
check 1 200
wait_for 30 states_are "up up up" || fail "n3 not up 30 s after the settle could end: $(states); log: $(new_log | grep -E 'n3|settle' | tail -3)"
log "n3 up: $(hold_sync c)"
no_break "when the settle ended with n3 up"
log "PASS"
