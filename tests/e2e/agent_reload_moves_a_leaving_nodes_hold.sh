#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A reload that changes `rehash-after` moves the hold of a leaving node that
# fails its checks as it does a node's of the config (agent_reload_moves_
# running_holds.sh), measured from when it failed, and says so (nat, IPv4,
# agent-driven, idle long-lived echo connections through the VIP):
#   1. shortened (60 s to 6 s) 3 s after leaving n3 failed: the log says
#      "n3 (ADDR), leaving: rehash-after is now 6.0 s (was 60.0 s)", and n3
#      is down 6 s after it failed;
#   2. lengthened (6 s to 40 s) right after n3 failed again: the log says so,
#      and n3 still holds its connections (leaving) 10 s after it failed.
# Before the fix the hold moved without a word: the log said nothing of it.
# Times are the agent's own log timestamps.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"
. "$E2E_TOP/tests/tools/leave_lab.sh"

HTTP_PORT=18086
REHASH_AFTER=60s
HOLD_PERIOD=600
leave_lab_start

n_lines() { grep -c -- "$1" "$AGENT_LOG" || true; }
now_ms() { date +%s%3N; }
FAILS="service echo: node n3 (.*), leaving, fails its checks"
RELOADED="reload (SIGHUP) ok"
DIES="service echo: node n3 (.*), leaving, is down: it still fails its checks after rehash-after"
MOVED="service echo: node n3 (.*), leaving: rehash-after is now"

log "--- 1. n3 leaves and fails; 3 s later rehash-after goes from 60 s to 6 s: down 6 s after it failed"
write_cfg "1 2"
reload
wait_for 20 states_are "up up leaving" || fail "n3 not leaving 20 s after the reload removed it: $(states); log: $(tail -5 "$AGENT_LOG")"
echo 500 >"$E2E_TMP/http3.mode"
wait_for 20 grep -q "$FAILS" "$AGENT_LOG" || fail "the agent did not see leaving n3's checks fail in 20 s: $(tail -3 "$AGENT_LOG")"
t_fail=$(log_ms 1 "$FAILS")
wait_for 10 sh -c "[ \$(date +%s%3N) -ge $((t_fail + 3000)) ]"
REHASH_AFTER=6s
write_cfg "1 2"
reload
wait_for 15 sh -c "[ \$(grep -c '$RELOADED' '$AGENT_LOG') -ge 2 ]" || fail "the reload to rehash-after 6s was not applied: $(tail -5 "$AGENT_LOG")"
t_reload=$(log_ms 2 "$RELOADED")
grep -q "$MOVED 6.0 s (was 60.0 s): its open connections stay" "$AGENT_LOG" ||
	fail "the reload did not say it moved leaving n3's hold: $(grep 'node n3' "$AGENT_LOG" | tail -3)"
log "agent: $(grep "$MOVED" "$AGENT_LOG" | tail -1 | cut -d' ' -f3-)"
wait_for 20 states_are "up up down" ||
	fail "n3 still $(state 3) $(($(now_ms) - t_fail)) ms after it failed, with rehash-after shortened to 6 s $((t_reload - t_fail)) ms after; log: $(grep 'node n3' "$AGENT_LOG" | tail -3)"
t_down=$(log_ms 1 "$DIES 6.0 s") || fail "no line saying n3 is down after rehash-after 6.0 s: $(grep 'node n3' "$AGENT_LOG" | tail -3)"
due=$((t_fail + 6000 > t_reload ? t_fail + 6000 : t_reload))
log "n3 failed at 0, reload at $((t_reload - t_fail)) ms, down at $((t_down - t_fail)) ms (due $((due - t_fail)) ms)"
[ "$t_down" -ge $((t_fail + 6000 - 100)) ] || fail "n3's hold ended $((t_down - t_fail)) ms after it failed, before the 6 s"
[ "$t_down" -le $((due + 2500)) ] || fail "n3's hold ended $((t_down - t_fail)) ms after it failed: not 6 s from its failure"

log "--- 2. n3 passes, then fails again; right after, rehash-after goes from 6 s to 40 s: still leaving 10 s after it failed"
echo 200 >"$E2E_TMP/http3.mode"
wait_for 20 states_are "up up leaving" || fail "n3 not leaving again 20 s after its checks passed: $(states)"
echo 500 >"$E2E_TMP/http3.mode"
wait_for 20 sh -c "[ \$(grep -c '$FAILS' '$AGENT_LOG') -ge 2 ]" || fail "the agent did not see n3's checks fail again in 20 s: $(tail -3 "$AGENT_LOG")"
t_fail=$(log_ms 2 "$FAILS")
REHASH_AFTER=40s
write_cfg "1 2"
reload
wait_for 15 sh -c "[ \$(grep -c '$RELOADED' '$AGENT_LOG') -ge 3 ]" || fail "the reload to rehash-after 40s was not applied: $(tail -5 "$AGENT_LOG")"
t_reload=$(log_ms 3 "$RELOADED")
[ "$t_reload" -lt $((t_fail + 5000)) ] ||
	fail "the reload came $((t_reload - t_fail)) ms after n3 failed, too close to its 6 s hold: the machine was too slow for this step"
grep -q "$MOVED 40.0 s (was 6.0 s): its open connections stay" "$AGENT_LOG" ||
	fail "the reload did not say it moved leaving n3's hold: $(grep 'node n3' "$AGENT_LOG" | tail -3)"
log "agent: $(grep "$MOVED" "$AGENT_LOG" | tail -1 | cut -d' ' -f3-)"
# Watch n3 until 10 s after it failed (a bounded observation, not a wait): it must stay leaving.
while [ "$(now_ms)" -lt $((t_fail + 10000)) ]; do
	st=$(state 3)
	[ "$st" = leaving ] ||
		fail "n3 is $st $(($(now_ms) - t_fail)) ms after it failed, with rehash-after lengthened to 40 s $((t_reload - t_fail)) ms after: the old 6 s ran out; log: $(grep 'node n3' "$AGENT_LOG" | tail -3)"
	sleep 0.5
done
[ "$(n_lines "$DIES")" = 1 ] || fail "n3's second hold ended: $(grep 'node n3' "$AGENT_LOG" | tail -3)"
log "n3 still leaving 10 s after it failed: $(hold_sync c)"
no_break "while n3's lengthened hold ran"
agent_alive || fail "the agent exited: $(tail -5 "$AGENT_LOG")"
log "PASS"
