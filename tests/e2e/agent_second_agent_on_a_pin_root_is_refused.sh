#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# One agent per pin root: a second `drover run` on the same --bpffs (another
# metrics port, so nothing else stops it) exits 1 at start-up, naming the pin
# root, the running agent's pid and what to do, without touching anything;
# the first one goes on forwarding, and drover commands still work beside
# it. SIGKILL of the first frees its lock: the next agent starts, is ready
# and forwards; its SIGTERM exit leaves no lock behind. Before the fix the
# second agent started, went ready and wrote the same maps as the first;
# later it went on with a second, false error: the lock "keeps being removed
# and made again; retry".
#
#   client ns  c0 10.75.0.2/24 (xdp_pass) -- lc 10.75.0.1/24 --+ balancer ns: the agents on lc, l1
#   node ns    n0 10.76.0.2/24 (xdp_pass) -- l1 10.76.0.1/24 --+ SNAT 10.76.9.1 (lo)
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat curl flock
mount_bpffs

VIP=10.98.0.27 SNAT=10.76.9.1 CL=10.75.0.2 GW=10.75.0.1 NODE=10.76.0.2 NODE_GW=10.76.0.1
. "$E2E_TOP/tests/tools/iface_lab.sh"
client_link
node_link
node_echo80 "$N1"
iface_lab_config 9491
PORT2=9492
sed "s/127.0.0.1:9491/127.0.0.1:$PORT2/" "$CFG" >"$E2E_TMP/second.yaml"
LOG2=$E2E_TMP/second.log
listens_on() { ip netns exec "$LNS" ss -Hltn "sport = :$1" | grep -q LISTEN; }
ready_on() { ip netns exec "$LNS" curl -fsS --max-time 5 "http://127.0.0.1:$1/readyz" >/dev/null; }

log "the first agent, ready on lc and l1"
iface_agent_start
FIRST=$AGENT
wait_for 30 is_ready || { agent_up; fail "not ready in 30 s: $(readyz); $(tail -20 "$LOG")"; }
wait_for 20 via_vip || fail "no answer through $VIP:80: $(dr stats)"

log "drover commands still work beside it: the pin root's own lock is free"
flock -xn "$ROOT" true || fail "the agent holds the pin root's lock $ROOT: drover commands would wait for it"
dr backend set "$VIP" port 80 "$NODE" weight 1 >/dev/null || fail "drover backend set failed beside the agent"
dr status >/dev/null || fail "drover status failed beside the agent"

log "a second agent on the same pin root (metrics on $PORT2): refused, exit 1"
ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$E2E_TMP/second.yaml" >"$LOG2" 2>&1 &
SECOND=$!
E2E_PIDS+=("$SECOND")
if ! wait_for 30 sh -c "! kill -0 $SECOND"; then
	r=no
	ready_on "$PORT2" && r=yes
	fail "a second agent on $ROOT still runs 30 s after it started (ready: $r), beside the first (pid $FIRST): $(tail -5 "$LOG2")"
fi
rc=0
wait "$SECOND" || rc=$?
[ "$rc" = 1 ] || fail "the second agent exited $rc, want 1: $(cat "$LOG2")"
grep -q "Z error: another drover agent (pid $FIRST) runs on pin root $ROOT .*stop that one first.*--bpffs" "$LOG2" ||
	fail "the second agent's message does not name the pin root, pid $FIRST and what to do: $(cat "$LOG2")"
log "refused: $(grep "Z error: " "$LOG2")"
# One refusal, one true line: the lock is held, not "removed and made again".
# ... and that line has one prefix, its level: never "warn: Error:" (nor any other word)
[ "$(grep -c "Z error: \|Error:" "$LOG2")" = 1 ] ||
	fail "the second agent says more than why it was refused: $(grep "Z error: \|Error:" "$LOG2")"
! grep -qE "Z [a-z]+: (Error|Warning|Note):" "$LOG2" ||
	fail "a line of the agent's log has two prefixes: $(grep -E "Z [a-z]+: (Error|Warning|Note):" "$LOG2")"
grep -q "no interface was touched" "$LOG2" || fail "the second agent does not say it touched nothing: $(cat "$LOG2")"
! grep -q "attached drover to\|agent ready" "$LOG2" || fail "the refused agent attached or went ready: $(cat "$LOG2")"
! listens_on "$PORT2" || fail "something listens on $PORT2 after the second agent was refused"
agent_up
is_ready || fail "the first agent is not ready after the second one was refused: $(readyz)"
wait_for 20 via_vip || fail "no answer through $VIP:80 after the second agent was refused: $(dr stats)"

log "SIGKILL of the first frees the lock: the next agent starts, is ready, forwards"
kill -KILL "$FIRST"
wait "$FIRST" 2>/dev/null || true
ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$E2E_TMP/second.yaml" >"$LOG2" 2>&1 &
THIRD=$!
E2E_PIDS+=("$THIRD")
wait_for 30 ready_on "$PORT2" || {
	kill -0 "$THIRD" 2>/dev/null || fail "the agent after a SIGKILL exited: $(tail -5 "$LOG2")"
	fail "the agent after a SIGKILL not ready in 30 s: $(tail -5 "$LOG2")"
}
wait_for 20 via_vip || fail "no answer through $VIP:80 after the restart: $(dr stats)"
kill -TERM "$THIRD"
rc=0
wait "$THIRD" || rc=$?
[ "$rc" = 0 ] || fail "the agent exited $rc after SIGTERM, want 0: $(tail -5 "$LOG2")"
[ ! -e "$ROOT/agent_lock" ] || fail "the agent left its lock $ROOT/agent_lock behind after SIGTERM"
wait_for 20 via_vip || fail "forwarding stopped when the agent exited (XDP and the maps stay): $(dr stats)"
log "PASS"
