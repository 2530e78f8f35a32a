#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# What can fail cheaply fails before the agent touches a NIC: a metrics port
# that another process holds, or a pin root that is not on a bpffs, makes
# `drover run` exit 1 with a message naming what failed and what to do, and
# leaves both interfaces without an XDP program and nothing pinned; `run
# --check` warns about the pin root (exit 0: the file is good). Before the
# fix the agent attached both interfaces, pinned the maps and wrote the
# service, then found the port busy and exited 1, leaving all of that behind.
# Once the port is free, the same config starts and is ready.
#
#   client ns  c0 10.75.0.2/24 (xdp_pass) -- lc 10.75.0.1/24 --+ balancer ns: the agent on lc, l1
#   node ns    n0 10.76.0.2/24 (xdp_pass) -- l1 10.76.0.1/24 --+ SNAT 10.76.9.1 (lo)
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat curl
mount_bpffs

VIP=10.98.0.21 SNAT=10.76.9.1 CL=10.75.0.2 GW=10.75.0.1 NODE=10.76.0.2 NODE_GW=10.76.0.1
. "$E2E_TOP/tests/tools/iface_lab.sh"
client_link
node_link
node_echo80 "$N1"
iface_lab_config 9485

# xdp_on DEV: the balancer's DEV has an XDP program (any mode).
xdp_on() { ip -n "$LNS" -d link show dev "$1" | grep -q "prog/xdp"; }
# run_agent: the agent in the foreground (bounded); its exit code in $rc, its output in $LOG.
run_agent() {
	rc=0
	timeout 60 ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" >"$LOG" 2>&1 || rc=$?
}
# untouched WHAT: neither interface has an XDP program and nothing is pinned.
untouched() {
	local i
	for i in lc l1; do
		! xdp_on "$i" || fail "$1: $i has an XDP program: $(ip -n "$LNS" -d link show dev "$i" | grep xdp); log: $(cat "$LOG")"
	done
	[ ! -e "$ROOT" ] || fail "$1: pins left under $ROOT: $(ls -R "$ROOT"); log: $(cat "$LOG")"
	! grep -q "attached drover to" "$LOG" || fail "$1: the agent attached an interface: $(cat "$LOG")"
}

log "the metrics port 127.0.0.1:$METRICS_PORT is held by another process: exit 1, lc and l1 untouched"
bg "$LNS" socat -lf /dev/null "TCP-LISTEN:$METRICS_PORT,bind=127.0.0.1,reuseaddr,fork" SYSTEM:'echo busy'
HOLDER=$BG_PID
wait_for 10 sh -c "ip netns exec $LNS ss -Hltn 'sport = :$METRICS_PORT' | grep -q LISTEN" ||
	fail "the port holder does not listen on $METRICS_PORT"
run_agent
[ "$rc" = 1 ] || fail "the agent exited $rc with its metrics port busy, want 1: $(cat "$LOG")"
untouched "metrics port busy"
grep -q "cannot listen on 127.0.0.1:$METRICS_PORT: Address already in use; another process (another agent?) listens there" "$LOG" ||
	fail "the message does not name 127.0.0.1:$METRICS_PORT, its cause and what to do: $(cat "$LOG")"
grep -q "no interface was touched.*metrics: listen:" "$LOG" ||
	fail "the message does not say that nothing was touched and what to do: $(cat "$LOG")"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || true
wait_for 10 sh -c "! ip netns exec $LNS ss -Hltn 'sport = :$METRICS_PORT' | grep -q LISTEN" ||
	fail "the port holder still listens"

log "a metrics address that is not the balancer's: exit 1 saying so, lc and l1 untouched"
sed -i "s/listen: 127.0.0.1:$METRICS_PORT/listen: 192.0.2.77:$METRICS_PORT/" "$CFG"
run_agent
[ "$rc" = 1 ] || fail "the agent exited $rc with a metrics address not of this host, want 1: $(cat "$LOG")"
untouched "metrics address not of this host"
grep -q "cannot listen on 192.0.2.77:$METRICS_PORT: Cannot assign requested address; that address is not one of this host" "$LOG" ||
	fail "the message does not say 192.0.2.77 is not an address of this host: $(cat "$LOG")"
sed -i "s/listen: 192.0.2.77:$METRICS_PORT/listen: 127.0.0.1:$METRICS_PORT/" "$CFG"

log "a pin root that is not on a bpffs: run --check warns that start-up would fail (exit 0: the file is good)"
mkdir -p "$E2E_TMP/plain"
rc=0
out=$(ip netns exec "$LNS" "$DROVER" --bpffs "$E2E_TMP/plain/drover" run config "$CFG" --check 2>&1) || rc=$?
[ "$rc" = 0 ] || fail "--check exited $rc on a good file with the pin root off bpffs, want 0 and a warning: $out"
grep -q ": ok (" <<<"$out" || fail "--check did not say the file is ok: $out"
grep -q "^Warning: $CFG: the agent would exit 1 at start-up on this host .*$E2E_TMP/plain is not on a BPF filesystem (bpffs), so $E2E_TMP/plain/drover can't hold pins; mount one (mount -t bpf bpf $E2E_TMP/plain)" <<<"$out" ||
	fail "--check does not warn that the pin root $E2E_TMP/plain/drover is off bpffs and what to do: $out"
out=$(ip netns exec "$LNS" "$DROVER" --bpffs "$E2E_TMP/none/drover" run config "$CFG" --check 2>&1) ||
	fail "--check failed on a good file with the pin root's parent missing: $out"
grep -q "^Warning: $CFG: the agent would exit 1 .*pin root $E2E_TMP/none/drover: $E2E_TMP/none does not exist; mount a bpffs there" <<<"$out" ||
	fail "--check does not warn that the pin root's parent $E2E_TMP/none does not exist: $out"
out=$(ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" --check 2>&1) ||
	fail "--check failed on a good file with the pin root on bpffs: $out"
! grep -q "Warning:.*bpffs\|Warning:.*BPF filesystem" <<<"$out" || fail "--check warns about a pin root that is on a bpffs: $out"

log "a pin root that is not on a bpffs: exit 1, lc and l1 untouched"
timeout 60 ip netns exec "$LNS" "$DROVER" --bpffs "$E2E_TMP/plain/drover" run config "$CFG" >"$LOG" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "the agent exited $rc with a pin root off bpffs, want 1: $(cat "$LOG")"
untouched "pin root off bpffs"
grep -q "is not on a BPF filesystem (bpffs).*mount -t bpf" "$LOG" ||
	fail "the message does not say the pin root is not on a bpffs and what to do: $(cat "$LOG")"

log "the port free: the same config starts, attaches both and is ready"
iface_agent_start
wait_for 30 is_ready || { agent_up; fail "not ready in 30 s: $(readyz); $(tail -20 "$LOG")"; }
xdp_on lc && xdp_on l1 || fail "lc and l1 not both attached: $(dr status)"
wait_for 20 via_vip || fail "no answer through $VIP:80: $(dr stats)"
kill "$AGENT"
wait "$AGENT" || fail "the agent exited $? after SIGTERM: $(tail -5 "$LOG")"
log "PASS"
