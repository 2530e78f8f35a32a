#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# `drover run --detach-on-exit`: an interface an operator detached while the
# agent ran (`drover detach lc`, which the agent leaves alone until a reload)
# has nothing left to detach at SIGTERM: the agent says so, detaches the
# other interface (the last one: the maps go with it) and exits 0, as after
# any SIGTERM. Before the fix it logged "Error: lc is not attached by drover"
# and exited 1.
#
#   client ns  c0 10.75.0.2/24 (xdp_pass) -- lc 10.75.0.1/24 --+ balancer ns: the agent on lc, l1
#   node ns    n0 10.76.0.2/24 (xdp_pass) -- l1 10.76.0.1/24 --+ SNAT 10.76.9.1 (lo)
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat curl
mount_bpffs

VIP=10.98.0.23 SNAT=10.76.9.1 CL=10.75.0.2 GW=10.75.0.1 NODE=10.76.0.2 NODE_GW=10.76.0.1
. "$E2E_TOP/tests/tools/iface_lab.sh"
client_link
node_link
node_echo80 "$N1"
iface_lab_config 9487

xdp_on() { ip -n "$LNS" -d link show dev "$1" | grep -q "prog/xdp"; }
attached() { dr -j status | jq -e --arg i "$1" '.interfaces[] | select(.ifname == $i)' >/dev/null; }

log "the agent with --detach-on-exit, ready on lc and l1"
ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" --detach-on-exit >"$LOG" 2>&1 &
AGENT=$!
E2E_PIDS+=("$AGENT")
wait_for 30 is_ready || { agent_up; fail "not ready in 30 s: $(readyz); $(tail -20 "$LOG")"; }
wait_for 20 via_vip || fail "no answer through $VIP:80: $(dr stats)"

log "drover detach lc behind the agent, then SIGTERM: exit 0, l1 detached, the maps gone"
dr detach lc >/dev/null 2>&1 || fail "drover detach lc failed"
! attached lc || fail "lc still attached after drover detach: $(dr status)"
agent_up
kill -TERM "$AGENT"
rc=0
wait "$AGENT" || rc=$?
[ "$rc" = 0 ] || fail "the agent exited $rc after SIGTERM with lc detached meanwhile, want 0: $(tail -8 "$LOG")"
# the agent's log writes an error as "TIMESTAMP error: ..." (before: "warn: Error: ...")
! grep -q "Z error: \|Error:" "$LOG" || fail "the agent logged an error at exit: $(grep "Z error: \|Error:" "$LOG")"
grep -q "lc: no link pin (detached meanwhile): nothing to detach" "$LOG" ||
	fail "the agent does not say lc had nothing to detach: $(tail -8 "$LOG")"
grep -q "detached drover from l1" "$LOG" || fail "l1 was not detached: $(tail -8 "$LOG")"
for i in lc l1; do
	! xdp_on "$i" || fail "$i still has an XDP program after the exit: $(ip -n "$LNS" -d link show dev "$i")"
done
[ ! -e "$ROOT" ] || fail "the pin root is left after the last interface was detached: $(ls -R "$ROOT")"
log "PASS"
