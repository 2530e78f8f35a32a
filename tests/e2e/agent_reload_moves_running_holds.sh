#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A reload that changes `rehash-after` applies it to the holds already running
# (a node in state failing), measured from when the node failed, as if the
# new value had been there all along:
#   1. shortened (60 s to 6 s) 4 s after n1 failed: n1 is down 6 s after it
#      failed (not 6 s after the reload, and not 60 s: before the fix it
#      stayed failing for the old 60 s);
#   2. lengthened (6 s to 40 s) right after n1 failed again: n1 is still
#      failing 10 s after it failed (before the fix it went down after 6 s).
# Times are the agent's own log timestamps: `is DOWN` (the hold begins),
# `reload (file changed) ok` and `still fails its checks after rehash-after`.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

HTTP_PORT=18081
CFG=$E2E_TMP/drover.yaml

lab_start
mount_bpffs
http_nodes_start $HTTP_PORT

# config REHASH_AFTER_S: write $CFG (edited in place: the agent reloads on the change)
config() {
	cat >"$CFG.new" <<EOF
interfaces: [eth0, eth1]
metrics: {listen: 127.0.0.1:9469}
services:
  - name: web
    vip: $LAB_VIP4
    ports: [80]
    snat: $LAB_SNAT4
    health: {kind: http, port: $HTTP_PORT, path: /healthz, interval: 500ms, timeout: 400ms,
             rise: 2, fall: 2, jitter: 0, rehash-after: ${1}s}
    nodes:
      - {address: $(node4 1), name: n1}
      - {address: $(node4 2), name: n2}
      - {address: $(node4 3), name: n3}
EOF
	mv "$CFG.new" "$CFG"
}
state() { be_state "$LAB_VIP4" 80 "$(node4 "$1")"; }
states() { echo "$(state 1) $(state 2) $(state 3)"; }
states_are() { [ "$(states)" = "$1" ]; }
check() { echo "$2" >"$E2E_TMP/http$1.mode"; } # N 200|500: node N's health answer
n_lines() { grep -c -- "$1" "$AGENT_LOG" || true; }
now_ms() { date +%s%3N; }
DOWN="service web: node n1 (.*) is DOWN after"
RELOADED="reload (file changed) ok"
REHASHED="service web: node n1 (.*) still fails its checks after rehash-after"

config 60
agent_start "$CFG"
wait_for 30 states_are "up up up" || fail "agent did not bring n1..n3 up in 30 s: $(states); log: $(tail -20 "$AGENT_LOG")"

log "--- 1. n1 fails; 4 s later rehash-after goes from 60 s to 6 s: n1 is down 6 s after it failed"
check 1 500
wait_for 20 states_are "failing up up" || fail "n1 not failing 20 s after its check failed: $(states)"
t_fail=$(log_ms 1 "$DOWN") || fail "no line saying n1 is DOWN: $(tail -5 "$AGENT_LOG")"
wait_for 10 sh -c "[ \$(date +%s%3N) -ge $((t_fail + 4000)) ]"
config 6
wait_for 15 grep -q "$RELOADED" "$AGENT_LOG" || fail "the reload to rehash-after 6s was not applied: $(tail -5 "$AGENT_LOG")"
t_reload=$(log_ms 1 "$RELOADED")
wait_for 20 states_are "down up up" ||
	fail "n1 still $(state 1) $(($(now_ms) - t_fail)) ms after it failed, with rehash-after shortened to 6 s $((t_reload - t_fail)) ms after: the old 60 s still runs; log: $(grep 'node n1' "$AGENT_LOG" | tail -3)"
t_down=$(log_ms 1 "$REHASHED 6.0 s") || fail "no line saying n1's connections re-hash after rehash-after 6.0 s: $(tail -5 "$AGENT_LOG")"
due=$((t_fail + 6000 > t_reload ? t_fail + 6000 : t_reload))
log "n1 failed at 0, reload at $((t_reload - t_fail)) ms, connections re-hash at $((t_down - t_fail)) ms (due $((due - t_fail)) ms)"
[ "$t_down" -ge $((t_fail + 6000 - 100)) ] || fail "n1's hold ended $((t_down - t_fail)) ms after it failed, before the 6 s"
[ "$t_down" -le $((due + 2500)) ] ||
	fail "n1's hold ended $((t_down - t_fail)) ms after it failed, $((t_down - t_reload)) ms after the reload: not 6 s from its failure"
grep -q "service web: node n1 (.*): rehash-after is now 6.0 s (was 60.0 s)" "$AGENT_LOG" ||
	fail "the reload did not say it moved n1's hold: $(grep 'node n1' "$AGENT_LOG" | tail -3)"

log "--- 2. n1 back, fails again; right after, rehash-after goes from 6 s to 40 s: still failing 10 s after it failed"
check 1 200
wait_for 20 states_are "up up up" || fail "n1 not up 20 s after its check passed: $(states)"
check 1 500
wait_for 20 states_are "failing up up" || fail "n1 not failing 20 s after its check failed again: $(states)"
t_fail=$(log_ms 2 "$DOWN") || fail "no second line saying n1 is DOWN: $(tail -5 "$AGENT_LOG")"
config 40
wait_for 15 sh -c "[ \$(grep -c '$RELOADED' '$AGENT_LOG') -ge 2 ]" ||
	fail "the reload to rehash-after 40s was not applied: $(tail -5 "$AGENT_LOG")"
t_reload=$(log_ms 2 "$RELOADED")
[ "$t_reload" -lt $((t_fail + 5000)) ] ||
	fail "the reload came $((t_reload - t_fail)) ms after n1 failed, too close to its 6 s hold: the machine was too slow for this step"
# Watch n1 until 10 s after it failed (a bounded observation, not a wait): it must stay failing.
while [ "$(now_ms)" -lt $((t_fail + 10000)) ]; do
	st=$(state 1)
	[ "$st" = failing ] ||
		fail "n1 is $st $(($(now_ms) - t_fail)) ms after it failed, with rehash-after lengthened to 40 s $((t_reload - t_fail)) ms after: the old 6 s ran out; log: $(grep 'node n1' "$AGENT_LOG" | tail -3)"
	sleep 0.5
done
[ "$(n_lines "$REHASHED")" = 1 ] || fail "n1's second hold ended: $(grep 'node n1' "$AGENT_LOG" | tail -3)"
grep -q "service web: node n1 (.*): rehash-after is now 40.0 s (was 6.0 s): its open connections stay" "$AGENT_LOG" ||
	fail "the reload did not say it moved n1's hold: $(grep 'node n1' "$AGENT_LOG" | tail -3)"
check 1 200
wait_for 20 states_are "up up up" || fail "n1 not up 20 s after its check passed: $(states)"
agent_alive || fail "the agent exited: $(tail -5 "$AGENT_LOG")"
log "PASS"
