#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A reload is not refused because a configured interface is away: renamed
# under drover (drover stays on it under its new name) or deleted (its link
# pin defunct until the agent attaches the re-created one). Both are the
# agent's to follow (ifaces_follow), not the new config's to attach: a service
# change made meanwhile is applied at once, and the interface, renamed back or
# re-created, is attached and ready again. An interface renamed and then
# deleted is said to be gone, as one deleted under its own name.
#
#   balancer ns: the agent on la, lb (veths into the node ns)
#   node ns    n0 10.76.0.2/24 -- la 10.76.0.1/24; nb (no address) -- lb
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat curl
mount_bpffs

VIP=10.99.0.10 NODE=10.76.0.2
for r in lb n1; do ns_add "$r" >/dev/null; done
LNS=$T-lb N1=$T-n1
ROOT=$BPFFS/drover
dr() { ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" "$@"; }

veth_up "$LNS" la "$N1" n0
ip -n "$LNS" addr add 10.76.0.1/24 dev la
ip -n "$N1" addr add "$NODE/24" dev n0
# lb_link: (re-)create lb, the interface that goes away
lb_link() { veth_up "$LNS" lb "$N1" nb; }
lb_link
node_echo80 "$N1"

CFG=$E2E_TMP/drover.yaml
LOG=$E2E_TMP/agent.log
# config PORTS: the agent's config with the service on PORTS
config() {
	cat >"$CFG.new" <<EOF
interfaces: [la, lb]
metrics: {listen: 127.0.0.1:9482}
services:
  - name: web
    vip: $VIP
    ports: [$1]
    mode: dsr
    health: {kind: tcp, port: 80, interval: 1s, timeout: 800ms, rise: 1, fall: 2}
    nodes: [$NODE]
EOF
	mv "$CFG.new" "$CFG"
}
config 80
ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" >"$LOG" 2>&1 &
AGENT=$!
E2E_PIDS+=("$AGENT")
readyz() { ip netns exec "$LNS" curl -sS --max-time 5 http://127.0.0.1:9482/readyz 2>&1; }
is_ready() { ip netns exec "$LNS" curl -fsS --max-time 5 http://127.0.0.1:9482/readyz >/dev/null; }
agent_up() { kill -0 "$AGENT" 2>/dev/null || fail "the agent exited: $(tail -20 "$LOG")"; }
has_port() { dr -j service show | jq -e --argjson p "$1" '[.[] | .port] | index($p) != null' >/dev/null; }
nlines() { grep -c "$1" "$LOG" || true; }
# reload_with PORTS: rewrite the config, SIGHUP, wait for the reload's verdict (ok or failed)
reload_with() {
	local ok=$(nlines "reload (SIGHUP) ok") bad=$(nlines "reload (SIGHUP) failed")
	config "$1"
	kill -HUP "$AGENT"
	wait_for 60 sh -c "[ \$(grep -c 'reload (SIGHUP) ok' '$LOG') -gt $ok ] || [ \$(grep -c 'reload (SIGHUP) failed' '$LOG') -gt $bad ]" ||
		fail "no verdict on the reload within 60 s: $(tail -5 "$LOG")"
	[ "$(nlines "reload (SIGHUP) failed")" = "$bad" ] ||
		fail "the reload was refused: $(grep 'reload (SIGHUP) failed' "$LOG" | tail -1)"
}

wait_for 30 is_ready || fail "agent not ready in 30 s: $(readyz); $(tail -20 "$LOG")"
has_port 80 || fail "service on port 80 not written: $(dr service show)"

log "lb deleted: a reload that moves the service to port 82 is applied; lb re-created: attached"
ip -n "$LNS" link del lb
wait_for 15 grep -q "interface lb is gone" "$LOG" || fail "the deletion of lb was not logged: $(tail -5 "$LOG")"
reload_with 82
agent_up
wait_for 10 has_port 82 || fail "port 82 not in the maps after the reload: $(dr service show)"
[ "$(readyz)" = "not ready: not attached to lb" ] || fail "/readyz with lb gone after the reload: $(readyz)"
lb_link
wait_for 15 grep -q "interface lb is back (ifindex" "$LOG" || fail "lb not attached again: $(tail -5 "$LOG")"
wait_for 15 is_ready || fail "/readyz after lb came back: $(readyz)"

log "lb renamed lbx: a reload that moves the service to port 81 is applied"
ip -n "$LNS" link set lb down
ip -n "$LNS" link set lb name lbx
ip -n "$LNS" link set lbx up
wait_for 15 grep -q "interface lb was renamed lbx" "$LOG" || fail "the rename of lb was not logged: $(tail -5 "$LOG")"
reload_with 81
agent_up
wait_for 10 has_port 81 || fail "port 81 not in the maps after the reload: $(dr service show)"
ip -n "$LNS" link show lbx | grep -q "prog/xdp" || fail "drover was taken off lbx"
# The polls after the reload do not say the rename again (a failure can only be missed here).
! wait_for 3 sh -c "[ \$(grep -c 'interface lb was renamed lbx' '$LOG') -ge 2 ]" ||
	fail "the rename of lb was logged again after the reload: $(grep 'was renamed' "$LOG")"
[ "$(readyz)" = "not ready: not attached to lb (renamed lbx, which drover runs on)" ] ||
	fail "/readyz with lb renamed lbx after the reload: $(readyz)"
ip -n "$LNS" link set lbx down
ip -n "$LNS" link set lbx name lb
ip -n "$LNS" link set lb up
wait_for 15 is_ready || fail "/readyz after lb was renamed back: $(readyz)"

log "lb renamed lby, then lby deleted: the deletion is said too; lb re-created: attached"
ip -n "$LNS" link set lb down
ip -n "$LNS" link set lb name lby
wait_for 15 sh -c "[ \"\$(ip netns exec $LNS curl -sS --max-time 5 http://127.0.0.1:9482/readyz)\" = 'not ready: not attached to lb (renamed lby, which drover runs on)' ]" ||
	fail "/readyz with lb renamed lby: $(readyz)"
wait_for 15 grep -q "interface lb was renamed lby" "$LOG" || fail "the rename to lby was not logged: $(tail -5 "$LOG")"
ip -n "$LNS" link del lby
wait_for 15 sh -c "[ \$(grep -c 'interface lb is gone' '$LOG') -ge 2 ]" ||
	fail "lb renamed lby and deleted was not logged as gone: $(tail -5 "$LOG")"
[ "$(readyz)" = "not ready: not attached to lb" ] || fail "/readyz with lby deleted: $(readyz)"
lb_link
wait_for 15 sh -c "[ \$(grep -c 'interface lb is back (ifindex' '$LOG') -ge 2 ]" ||
	fail "lb not attached again after lby was deleted: $(tail -5 "$LOG")"
wait_for 15 is_ready || fail "/readyz after lb came back again: $(readyz)"
agent_up
log "PASS"
