#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# /healthz, the liveness probe, fails once the agent's main loop has finished
# no round for metrics.stuck-after, so that a stuck agent (a deadlock, a
# syscall that never returns), which applies no health check any more, is
# restarted; and it passes through a hold shorter than that. The main loop is
# held by a reload whose config file is replaced by a FIFO: it blocks in
# open(2) until the test writes the file into the FIFO (as in
# agent_healthz_answers_while_the_agent_is_busy.sh).
#   1. the default limit (60 s): /healthz answers 200 all through a 6 s hold;
#      the FIFO is written with a config that sets stuck-after: 2s;
#   2. held again: /healthz answers 503 with the reason within 2 + 20 s, logs
#      it once, and answers 200 again (logged) once the FIFO is written.
#
#   balancer ns: the agent on l0 (veth, peer l0p in the same namespace)
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds curl
mount_bpffs

lb_ns_one_veth
ROOT=$BPFFS/drover
CFG=$E2E_TMP/drover.yaml
DEF=$E2E_TMP/default.yaml
LOW=$E2E_TMP/low.yaml
LOG=$E2E_TMP/agent.log
# config METRICS: the test's config with METRICS as the metrics: mapping.
config() {
	cat <<EOF
interfaces: [l0]
metrics: $1
services:
  - name: web
    vip: 10.98.0.31
    ports: [80]
    snat: 10.77.9.1
    health: {kind: tcp, interval: 1s, timeout: 800ms, rise: 1, fall: 2}
    nodes: [10.77.0.2]
EOF
}
config "{listen: 127.0.0.1:9485}" >"$DEF"
config "{listen: 127.0.0.1:9485, stuck-after: 2s}" >"$LOW"
cp "$DEF" "$CFG"
fifo_hold_init "$DEF"

ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" >"$LOG" 2>&1 &
AGENT=$!
E2E_PIDS+=("$AGENT")
URL=http://127.0.0.1:9485
# healthz OUT: ask /healthz (5 s at most), the body to OUT; print the status code.
healthz() { ip netns exec "$LNS" curl -sS --max-time 5 -o "$1" -w '%{http_code}' "$URL/healthz" 2>&1 || true; }
is_ready() { ip netns exec "$LNS" curl -fsS --max-time 5 "$URL/readyz" >/dev/null; }
healthz_is() { [ "$(healthz "$E2E_TMP/healthz.out")" = "$1" ]; }
agent_up() { kill -0 "$AGENT" 2>/dev/null || fail "the agent exited: $(tail -20 "$LOG")"; }
# The main thread is blocked opening the FIFO.
held() { grep -q wait_for_partner "/proc/$AGENT/wchan"; }
# hold: replace the config by the FIFO; wait until the reload blocks on it.
hold() {
	mkfifo "$FIFO"
	ln "$FIFO" "$CFG.new"
	mv -f "$CFG.new" "$CFG"
	wait_for 15 held || fail "the agent's main thread is not blocked on the FIFO within 15 s: $(cat /proc/$AGENT/wchan)"
}
# release FILE: the config is FILE again, also in the FIFO the reload reads; wait for its ok.
release() {
	local oks
	oks=$(grep -c 'reload (file changed) ok' "$LOG" || true)
	cp "$1" "$CFG.new"
	mv -f "$CFG.new" "$CFG"
	timeout 10 sh -c "cat '$1' >'$FIFO'" || fail "the agent did not read the FIFO"
	rm -f "$FIFO"
	wait_for 15 sh -c "[ \$(grep -c 'reload (file changed) ok' '$LOG') -gt $oks ]" ||
		fail "the held reload did not end ok: $(tail -5 "$LOG")"
}

wait_for 30 is_ready || { agent_up; fail "agent not ready in 30 s: $(tail -20 "$LOG")"; }
healthz_is 200 || fail "/healthz does not answer 200 before any hold: $(cat "$E2E_TMP/healthz.out")"

log "the default stuck-after (60 s): a hold of 6 s keeps /healthz at 200"
hold
start=$(now_us)
asked=0
while [ $(($(now_us) - start)) -lt 6000000 ] && [ "$asked" -lt 200 ]; do
	code=$(healthz "$E2E_TMP/healthz.out")
	[ "$code" = 200 ] || fail "/healthz answered $code during a hold of $(( ($(now_us) - start) / 1000 )) ms under the default limit: $(cat "$E2E_TMP/healthz.out")"
	asked=$((asked + 1))
	sleep 0.2
done
held || fail "the hold ended on its own: the test proves nothing"
[ "$asked" -ge 3 ] || fail "only $asked /healthz answers in 6 s"
log "... $asked answers of 200 in 6 s; the FIFO written with stuck-after: 2s"
release "$LOW"
wait_for 10 healthz_is 200 || fail "/healthz does not answer 200 after the reload"

log "stuck-after 2s: held again, /healthz answers 503 with the reason, logged once"
hold
wait_for 22 healthz_is 503 || fail "/healthz did not answer 503 within 22 s of a hold with stuck-after 2s: $(healthz "$E2E_TMP/healthz.out") $(cat "$E2E_TMP/healthz.out")"
grep -qE '^main loop stuck for [0-9]+ s \(since reloading the config, whose file changed\): the agent is not applying health checks; restart it$' "$E2E_TMP/healthz.out" ||
	fail "/healthz 503 without the reason: $(cat "$E2E_TMP/healthz.out")"
# each answer counts the seconds up, and the log says it once
first=$(sed -n 's/^main loop stuck for \([0-9]*\) s.*/\1/p' "$E2E_TMP/healthz.out")
wait_for 20 sh -c "[ \"\$(ip netns exec $LNS curl -sS --max-time 5 $URL/healthz | sed -n 's/^main loop stuck for \([0-9]*\) s.*/\1/p')\" -gt $first ]" ||
	fail "/healthz does not count the stuck time up from $first s: $(healthz "$E2E_TMP/healthz.out") $(cat "$E2E_TMP/healthz.out")"
[ "$(grep -c 'warn.*/healthz answers 503 (metrics.stuck-after is 2 s): main loop stuck for' "$LOG")" = 1 ] ||
	fail "the first 503 is not logged exactly once: $(grep -i healthz "$LOG")"
held || fail "the hold ended on its own: the test proves nothing"
agent_up

log "the FIFO written: the round ends, /healthz answers 200 again (logged), the round's age in /metrics"
release "$LOW"
wait_for 15 healthz_is 200 || fail "/healthz does not answer 200 once the main loop runs again: $(cat "$E2E_TMP/healthz.out")"
grep -q 'the main loop finishes its rounds again (it was stuck for [0-9]* s or more): /healthz answers 200 again' "$LOG" ||
	fail "the recovery is not logged: $(grep -i healthz "$LOG")"
wait_for 15 sh -c "ip netns exec $LNS curl -fsS --max-time 5 $URL/metrics | grep -qE '^drover_agent_main_loop_round_age_seconds [0-9]+\.[0-9]{3}\$'" ||
	fail "/metrics has no drover_agent_main_loop_round_age_seconds"
wait_for 10 is_ready || fail "not ready after the reload"
agent_up
log "PASS"
