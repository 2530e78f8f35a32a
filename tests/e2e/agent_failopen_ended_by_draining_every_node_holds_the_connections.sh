#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A fail-open ends when a node passes its checks again, or when a reload
# drains every node (the table is then empty on purpose). Either way the
# nodes that still fail leave the table holding the connections they took
# meanwhile, for a new rehash-after (nat, IPv4, agent-driven, idle long-lived
# echo connections through the VIP):
#   every node fails; the service fails open; once the holds their failures
#   began have run out (rehash-after 3 s), a reload drains every node: the
#   log says the fail-open is over because every node is drained, each node
#   is failing (its connections held), none breaks; still failing 3 s later,
#   each is down.
# Before the fix each node was down at once (its hold had run out while the
# fail-open kept it UP): drover reset every connection; and the log said
# "a node passes its health check again", which none did.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18088
REHASH_AFTER=3s
HOLD_PERIOD=600
leave_lab_start

leave_lab_fail_open

log "--- a reload drains every node: the fail-open is over, each node holds its connections"
hold_cmd c event drain-all
from=$(($(wc -l <"$AGENT_LOG") + 1))
DRAIN="1 2 3" write_cfg "1 2 3"
reload
none_up() { ! states | grep -q up; }
wait_for 20 none_up || fail "some node still up 20 s after a reload drained every node: $(states)"
st=$(states)
ended=$(tail -n +"$from" "$AGENT_LOG" | grep "service echo: .*fail-open is over" | cut -d' ' -f3-)
log "agent: $ended"
[ "$st" = "failing failing failing" ] ||
	fail "every node drained while the fail-open kept it up is $st at once, want failing (its connections held for rehash-after); agent: $ended"
grep -q "service echo: every node is drained; fail-open is over (the table is empty on purpose): the nodes that still fail hold their open connections for rehash-after 3.0 s" <<<"$ended" ||
	fail "the log does not say the fail-open ended because every node is drained: $ended"
log "drained: $(hold_sync c)"
no_break "when a reload drained every node of a service failing open"

log "--- still failing 3 s later: down"
wait_for 20 states_are "down down down" || fail "the nodes not down 20 s after they left failing their checks: $(states); log: $(tail -3 "$AGENT_LOG")"
[ "$(tail -n +"$from" "$AGENT_LOG" | grep -c 'still fails its checks after rehash-after 3.0 s: it is down')" = 3 ] ||
	fail "want 3 lines saying a node is down after rehash-after 3.0 s: $(tail -n +"$from" "$AGENT_LOG" | grep 'after rehash-after')"
agent_alive || fail "the agent exited: $(tail -5 "$AGENT_LOG")"
log "PASS"
