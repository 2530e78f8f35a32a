#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A node a reload removes while its service fails open (every node fails its
# checks, so every one is kept UP in the table, taking connections) leaves
# holding its connections for a new rehash-after, as the nodes that still fail
# do when a fail-open ends (nat, IPv4, agent-driven, idle long-lived echo
# connections through the VIP):
#   every node fails; the service fails open; once the holds their failures
#   began have run out (rehash-after 3 s), a reload removes n3: it is
#   leaving, none of its connections breaks; still failing 3 s later, it is
#   down.
# Before the fix n3 left down at once (its hold had run out while the
# fail-open kept it UP): drover reset every connection it had.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18087
REHASH_AFTER=3s
HOLD_PERIOD=600
leave_lab_start

leave_lab_fail_open

log "--- a reload removes n3 ($(on 3) connections): it leaves holding them"
hold_cmd c event remove-n3
write_cfg "1 2"
reload
n3_not_up() { [ "$(state 3)" != up ]; }
wait_for 20 n3_not_up || fail "n3 still up 20 s after a reload removed it: $(states)"
st=$(state 3)
line=$(grep "service echo: node n3 (.*) is no longer in the config" "$AGENT_LOG" | tail -1 | cut -d' ' -f3-)
log "agent: $line"
[ "$st" = leaving ] || fail "n3, removed while the fail-open kept it up, is $st at once, want leaving (its connections held for rehash-after); agent: $line"
grep -q "service echo: node n3 (.*) is no longer in the config and fails its checks (the fail-open kept it in the table): it leaves: out of the table, its open connections stay for rehash-after (3.0 s); if it still fails then, drover resets them" "$AGENT_LOG" ||
	fail "no log line says n3 leaves holding its connections for rehash-after 3.0 s: $line"
log "n3 leaving: $(hold_sync c)"
no_break "when a reload removed n3 from a service failing open"

log "--- n3 still fails 3 s later: down"
wait_for 20 states_are "up up down" || fail "n3 not down 20 s after it left failing its checks: $(states); log: $(grep 'node n3' "$AGENT_LOG" | tail -3)"
grep -q "service echo: node n3 (.*), leaving, is down: it still fails its checks after rehash-after 3.0 s" "$AGENT_LOG" ||
	fail "no log line says n3 is down after rehash-after: $(grep 'node n3' "$AGENT_LOG" | tail -3)"
agent_alive || fail "the agent exited: $(tail -5 "$AGENT_LOG")"
log "PASS"
