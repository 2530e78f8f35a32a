#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A configured interface that does not exist when the agent starts (a bond or
# VLAN the OS creates a little later after a reboot) does not stop the agent:
# it says so once, /readyz answers 503 naming it, the interfaces that exist are
# attached and the services written, and the interface is attached within a
# poll of its appearance. Here neither exists at first (no maps pinned at all),
# then l1 appears (maps pinned, services written, still 503 naming lc), a
# reload is applied meanwhile, then lc appears (ready, traffic through the
# VIP). `run --check` says the agent would wait for an interface missing from
# this network namespace, and how to check from another (ip netns exec).
# An interface that exists but refuses drover (another XDP program on it) is
# still refused at start-up: exit 1.
#
#   client ns  c0 10.75.0.2/24 (xdp_pass) -- lc 10.75.0.1/24 --+ balancer ns: the agent on lc, l1
#   node ns    n0 10.76.0.2/24 (xdp_pass) -- l1 10.76.0.1/24 --+ SNAT 10.76.9.1 (lo)
#   VIP 10.98.0.20 port 80 lives nowhere: the client routes it to the balancer.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat curl
mount_bpffs

VIP=10.98.0.20 SNAT=10.76.9.1 CL=10.75.0.2 GW=10.75.0.1 NODE=10.76.0.2 NODE_GW=10.76.0.1
. "$E2E_TOP/tests/tools/iface_lab.sh"
node_echo80 "$N1"

iface_lab_config 9483
readyz_names_lc() { readyz | grep -q "^not ready: .*\blc\b"; }
native_on() { dr -j status | jq -e --arg i "$1" '.interfaces[] | select(.ifname == $i and .mode == "native")' >/dev/null; }
svc_written() { dr -j service show | jq -e --arg v "$VIP" '.. | objects | select(.address? == $v)' >/dev/null; }

log "neither lc nor l1 exists: the agent starts, says so once each, /readyz names one, /healthz 200"
iface_agent_start
wait_for 30 healthz || { agent_up; fail "/healthz does not answer in 30 s: $(tail -20 "$LOG")"; }
agent_up
for i in lc l1; do
	[ "$(grep -c "interface $i does not exist" "$LOG")" = 1 ] ||
		fail "want one line saying $i does not exist: $(tail -20 "$LOG")"
done
grep -q "interface lc does not exist (yet) in this network namespace: the agent attaches drover to it once it appears" "$LOG" ||
	fail "the line about lc does not say the agent attaches it once it appears: $(grep lc "$LOG")"
out=$(readyz)
grep -q "^not ready: .*\b\(lc\|l1\)\b" <<<"$out" || fail "/readyz with no interface: $out"

log "l1 appears: attached within 10 s, the service written; /readyz still names lc"
node_link
wait_for 10 native_on l1 || fail "l1 not attached within 10 s of its appearance: $(dr status); $(tail -5 "$LOG")"
wait_for 10 grep -q "interface l1 is there now (ifindex [0-9]*): drover attached" "$LOG" ||
	fail "no line saying l1 was attached: $(tail -5 "$LOG")"
wait_for 10 svc_written || fail "service $VIP port 80 not written within 10 s of l1: $(dr service show); $(tail -5 "$LOG")"
agent_up
readyz_names_lc || fail "/readyz with lc still missing: $(readyz)"

log "a reload while lc is still missing is applied, and lc is not said again"
sed -i 's/interval: 1s/interval: 900ms/' "$CFG"
wait_for 15 grep -q "reload (file changed) ok" "$LOG" || fail "the reload with lc missing was not applied: $(tail -5 "$LOG")"
agent_up
readyz_names_lc || fail "/readyz with lc still missing after the reload: $(readyz)"
[ "$(grep -c "interface lc does not exist" "$LOG")" = 1 ] || fail "lc's absence said more than once"

log "lc appears: attached within 10 s, ready, traffic through the VIP"
client_link
wait_for 10 native_on lc || fail "lc not attached within 10 s of its appearance: $(dr status); $(tail -5 "$LOG")"
wait_for 10 is_ready || fail "/readyz after lc appeared: $(readyz)"
wait_for 20 via_vip || fail "no answer through $VIP:80 after lc appeared: $(dr stats)"
grep -q "Z error: \|Error:" "$LOG" && fail "the agent logged an error: $(grep "Z error: \|Error:" "$LOG")"
agent_up
kill "$AGENT"
wait "$AGENT" || fail "the agent exited $? after SIGTERM: $(tail -5 "$LOG")"

log "run --check: a missing interface is a warning that the agent would wait for it"
dr detach lc >/dev/null 2>&1
dr detach l1 >/dev/null 2>&1
ip -n "$LNS" link del lc
out=$(ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" --check 2>&1) ||
	fail "--check refused a config whose interfaces are missing: $out"
grep -q "interface 'lc' does not exist in this network namespace: the agent would wait for it" <<<"$out" ||
	fail "--check does not say the agent would wait for lc, missing from this network namespace: $out"
grep -qF "ip netns exec NS drover run config $CFG --check" <<<"$out" ||
	fail "--check does not say how to check an interface of another namespace: $out"

log "an interface that exists but runs another XDP program is still refused at start-up (exit 1)"
client_link xdp
rc=0
timeout 60 ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" >"$LOG" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "the agent exited $rc with xdp_pass on lc, want 1: $(tail -5 "$LOG")"
grep -q "cannot attach to lc" "$LOG" || fail "the refusal does not name lc: $(tail -5 "$LOG")"
log "PASS"
