#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# /healthz, the liveness probe, answers while the agent's main thread holds its
# lock for long (a reload that runs the verifier, a large sync): /readyz
# answers from the state the main thread last published, without waiting for
# it, and /metrics waits a bounded time and then says 503 "busy", so neither
# holds up the endpoint's single thread, which /healthz shares. The hold is
# made by a reload whose config file is replaced by a FIFO: the reload blocks
# in open(2), under the lock, until the test writes the file into the FIFO.
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
GOOD=$E2E_TMP/good.yaml
LOG=$E2E_TMP/agent.log
cat >"$GOOD" <<EOF
interfaces: [l0]
metrics: {listen: 127.0.0.1:9484}
services:
  - name: web
    vip: 10.98.0.30
    ports: [80]
    snat: 10.77.9.1
    health: {kind: tcp, interval: 1s, timeout: 800ms, rise: 1, fall: 2}
    nodes: [10.77.0.2]
EOF
cp "$GOOD" "$CFG"
fifo_hold_init "$GOOD"

ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" >"$LOG" 2>&1 &
AGENT=$!
E2E_PIDS+=("$AGENT")
URL=http://127.0.0.1:9484
get() { ip netns exec "$LNS" curl -sS --max-time "$1" -o "$3" -w '%{http_code}' "$URL$2" 2>&1; }
is_ready() { ip netns exec "$LNS" curl -fsS --max-time 5 "$URL/readyz" >/dev/null; }
agent_up() { kill -0 "$AGENT" 2>/dev/null || fail "the agent exited: $(tail -20 "$LOG")"; }
# The main thread is blocked opening the FIFO (under ag->lock).
held() { grep -q wait_for_partner "/proc/$AGENT/wchan"; }
# A thread of the agent other than the main one waits on a futex (a mutex).
http_waits() {
	local t
	for t in /proc/"$AGENT"/task/*; do
		[ "${t##*/}" = "$AGENT" ] && continue
		grep -q futex "$t/wchan" 2>/dev/null && return 0
	done
	return 1
}
done_or_waiting() { ! kill -0 "$1" 2>/dev/null || http_waits; }

wait_for 30 is_ready || { agent_up; fail "agent not ready in 30 s: $(tail -20 "$LOG")"; }

log "the config replaced by a FIFO: the reload holds the agent's lock in open(2)"
mkfifo "$FIFO"
ln "$FIFO" "$CFG.new"
mv -f "$CFG.new" "$CFG"
wait_for 15 held || fail "the agent's main thread is not blocked on the FIFO within 15 s: $(cat /proc/$AGENT/wchan)"

# asked_during_hold PATH CODE PATTERN: PATH asked while the lock is held; /healthz
# answers 200 within 10 s meanwhile, PATH ends within 20 s with CODE and a body a
# line of which matches the extended regex PATTERN, and the lock is still held.
asked_during_hold() {
	local path=$1 want=$2 pattern=$3 name=${1#/} pid code
	get 60 "$path" "$E2E_TMP/$name.out" >"$E2E_TMP/$name.code" &
	pid=$!
	E2E_PIDS+=("$pid")
	# answered, or the HTTP thread is stuck behind the lock with it
	wait_for 10 done_or_waiting "$pid" || fail "$path neither answered nor waited within 10 s"
	code=$(get 10 /healthz "$E2E_TMP/healthz.out") || true
	[ "$code" = 200 ] || fail "/healthz did not answer 200 within 10 s while $path was asked during a held lock: $code"
	wait_for 10 sh -c "! kill -0 $pid" || fail "$path did not answer within 20 s while the lock was held"
	[ "$(cat "$E2E_TMP/$name.code")" = "$want" ] && grep -qE "$pattern" "$E2E_TMP/$name.out" ||
		fail "$path during the held lock: $(cat "$E2E_TMP/$name.code") $(head -c 300 "$E2E_TMP/$name.out")"
	held || fail "the lock was let go meanwhile: the test proves nothing"
}

log "/readyz asked while the lock is held; then /healthz answers within 10 s"
asked_during_hold /readyz 200 '^ready$'

log "/metrics asked while the lock is held: /healthz answers within 10 s, /metrics says busy"
asked_during_hold /metrics 503 '^busy: '
agent_up

log "the FIFO written: the reload ends, the file is a file again, /metrics answers 200"
cp "$GOOD" "$CFG.new"
mv -f "$CFG.new" "$CFG"
timeout 10 sh -c "cat '$GOOD' >'$FIFO'" || fail "the agent did not read the FIFO"
rm -f "$FIFO"
wait_for 15 sh -c "[ \$(grep -c 'reload (file changed) ok' '$LOG') -ge 1 ]" ||
	fail "the reload did not end: $(tail -5 "$LOG")"
wait_for 15 sh -c "[ \"\$(ip netns exec $LNS curl -sS --max-time 5 -o /dev/null -w '%{http_code}' $URL/metrics)\" = 200 ]" ||
	fail "/metrics does not answer 200 after the reload"
wait_for 10 is_ready || fail "not ready after the reload"
agent_up
log "PASS"
