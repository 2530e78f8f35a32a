#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A reload that removes an interface while a drover command holds the pin
# root's lock does not wait for the lock: the reload is applied, /metrics
# answers meanwhile, the log says the interface is detached once the lock is
# free, and it is, within a poll of the release; the other interface stays
# attached and ready. Before the fix the reload waited for the lock (up to
# 30 s) holding the agent's own lock: /metrics answered 503 `busy`, and
# checks, signals and the loop stood still the whole time.
#
#   client ns  c0 10.75.0.2/24 (xdp_pass) -- lc 10.75.0.1/24 --+ balancer ns: the agent on lc, l1, then lc
#   node ns    n0 10.76.0.2/24 (xdp_pass) -- l1 10.76.0.1/24 --+ SNAT 10.76.9.1 (lo)
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat curl flock
mount_bpffs

VIP=10.98.0.25 SNAT=10.76.9.1 CL=10.75.0.2 GW=10.75.0.1 NODE=10.76.0.2 NODE_GW=10.76.0.1
. "$E2E_TOP/tests/tools/iface_lab.sh"
client_link
node_link
node_echo80 "$N1"
iface_lab_config 9489

attached() { dr -j status | jq -e --arg i "$1" '.interfaces[] | select(.ifname == $i and .mode == "native")' >/dev/null; }
xdp_on() { ip -n "$LNS" -d link show dev "$1" | grep -q "prog/xdp"; }
metrics_ok() { ip netns exec "$LNS" curl -fsS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null; }

log "the agent on lc and l1, ready"
iface_agent_start
wait_for 30 is_ready || { agent_up; fail "not ready in 30 s: $(readyz); $(tail -20 "$LOG")"; }

log "a drover command holds the pin root's lock; a reload removes l1"
pin_root_lock "$ROOT"
sed -i 's/^interfaces: \[lc, l1\]$/interfaces: [lc]/' "$CFG"
grep -q '^interfaces: \[lc\]$' "$CFG" || fail "could not make the config name lc only: $(cat "$CFG")"
wait_for 15 grep -q "reload (file changed) ok" "$LOG" ||
	fail "the reload removing l1 was not applied within 15 s while the lock is held: $(tail -5 "$LOG")"
wait_for 10 metrics_ok || fail "/metrics does not answer 200 within 10 s while the lock is held: $(ip netns exec "$LNS" curl -sS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" 2>&1 | head -3)"
grep -q "reload: l1 is no longer in the config: a drover command holds the lock on $ROOT: detached once it lets go" "$LOG" ||
	fail "the log does not say l1 is detached once the lock is free: $(tail -5 "$LOG")"
flock -xn "$ROOT" true && fail "the lock was let go before the checks above"
attached l1 || fail "l1 detached while the lock is held"
agent_up

log "the lock let go: l1 detached within 10 s; lc attached and ready"
pin_root_unlock
wait_for 10 sh -c "! ip -n $LNS -d link show dev l1 | grep -q prog/xdp" ||
	fail "l1 still runs XDP 10 s after the lock was let go: $(dr status); $(tail -5 "$LOG")"
! attached l1 || fail "l1's link pin is left: $(dr status)"
grep -q "detached drover from l1" "$LOG" || fail "no line says l1 was detached: $(tail -5 "$LOG")"
xdp_on lc && attached lc || fail "lc is no longer attached: $(dr status)"
wait_for 10 is_ready || fail "/readyz with lc attached: $(readyz)"
agent_up
kill "$AGENT"
wait "$AGENT" || fail "the agent exited $? after SIGTERM: $(tail -5 "$LOG")"
log "PASS"
