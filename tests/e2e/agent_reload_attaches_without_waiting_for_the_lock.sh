#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A reload that adds an interface while a drover command holds the pin root's
# lock does not wait for the lock: the reload is applied, /metrics answers
# meanwhile (the agent's state is not held), the log says the interface is
# attached once the lock is free, and it is, within a poll of its release.
# Before the fix the reload waited for the lock (up to 30 s) holding the
# agent's own lock, so /metrics answered 503 `busy` and checks, signals and
# the loop stood still the whole time.
#
#   client ns  c0 10.75.0.2/24 (xdp_pass) -- lc 10.75.0.1/24 --+ balancer ns: the agent on lc, then l1
#   node ns    n0 10.76.0.2/24 (xdp_pass) -- l1 10.76.0.1/24 --+ SNAT 10.76.9.1 (lo)
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat curl flock
mount_bpffs

VIP=10.98.0.24 SNAT=10.76.9.1 CL=10.75.0.2 GW=10.75.0.1 NODE=10.76.0.2 NODE_GW=10.76.0.1
. "$E2E_TOP/tests/tools/iface_lab.sh"
client_link
node_link
node_echo80 "$N1"
iface_lab_config 9488
sed -i 's/^interfaces: \[lc, l1\]$/interfaces: [lc]/' "$CFG"
grep -q '^interfaces: \[lc\]$' "$CFG" || fail "could not make the config name lc only: $(cat "$CFG")"

attached() { dr -j status | jq -e --arg i "$1" '.interfaces[] | select(.ifname == $i and .mode == "native")' >/dev/null; }
metrics_ok() { ip netns exec "$LNS" curl -fsS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null; }

log "the agent on lc, ready"
iface_agent_start
wait_for 30 is_ready || { agent_up; fail "not ready in 30 s: $(readyz); $(tail -20 "$LOG")"; }

log "a drover command holds the pin root's lock; a reload adds l1"
pin_root_lock "$ROOT"
sed -i 's/^interfaces: \[lc\]$/interfaces: [lc, l1]/' "$CFG"
wait_for 15 grep -q "reload (file changed) ok" "$LOG" ||
	fail "the reload adding l1 was not applied within 15 s while the lock is held: $(tail -5 "$LOG")"
wait_for 10 metrics_ok || fail "/metrics does not answer 200 within 10 s while the lock is held: $(ip netns exec "$LNS" curl -sS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" 2>&1 | head -3)"
grep -q "interface l1: a drover command holds the lock on $ROOT: the agent attaches drover to it once it lets go" "$LOG" ||
	fail "the log does not say l1 waits for the lock: $(tail -5 "$LOG")"
flock -xn "$ROOT" true && fail "the lock was let go before the checks above"
! attached l1 || fail "l1 attached while the lock is held"
agent_up

log "the lock let go: l1 attached within 10 s, ready, traffic through the VIP"
pin_root_unlock
wait_for 10 attached l1 || fail "l1 not attached 10 s after the lock was let go: $(dr status); $(tail -5 "$LOG")"
grep -q "interface l1: drover attached (the lock on $ROOT is free again)" "$LOG" ||
	fail "no line says l1 was attached once the lock was free: $(tail -5 "$LOG")"
wait_for 10 is_ready || fail "/readyz with lc and l1 attached: $(readyz)"
wait_for 20 via_vip || fail "no answer through $VIP:80: $(dr stats)"
agent_up
kill "$AGENT"
wait "$AGENT" || fail "the agent exited $? after SIGTERM: $(tail -5 "$LOG")"
log "PASS"
