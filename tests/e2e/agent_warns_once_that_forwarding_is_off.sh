#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# IPv4 forwarding off on an interface the agent attaches to (its services are
# IPv4) is said once at start-up, with the sysctl that turns it on; the
# attach path, which does not know the services' families, says nothing of
# its own (before the fix it warned a second time, and said at info level
# that IPv6 forwarding was off on both interfaces of an IPv4-only config). A
# reload says it once again. Turned on, the service forwards.
#
#   client ns  c0 10.75.0.2/24 (xdp_pass) -- lc 10.75.0.1/24 --+ balancer ns: the agent on lc, l1
#   node ns    n0 10.76.0.2/24 (xdp_pass) -- l1 10.76.0.1/24 --+ SNAT 10.76.9.1 (lo)
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat curl
mount_bpffs

VIP=10.98.0.22 SNAT=10.76.9.1 CL=10.75.0.2 GW=10.75.0.1 NODE=10.76.0.2 NODE_GW=10.76.0.1
. "$E2E_TOP/tests/tools/iface_lab.sh"
client_link
node_link
node_echo80 "$N1"
iface_lab_config 9486
ip netns exec "$LNS" sysctl -qw net.ipv4.conf.lc.forwarding=0

fwd_lines() { grep -c "forwarding is off on" "$LOG" || true; }

log "ipv4 forwarding off on lc: said once at start-up, with what to do"
iface_agent_start
wait_for 30 is_ready || { agent_up; fail "not ready in 30 s: $(readyz); $(tail -20 "$LOG")"; }
wait_for 10 grep -q "agent ready" "$LOG" || fail "no 'agent ready' line: $(tail -20 "$LOG")"
[ "$(fwd_lines)" = 1 ] || fail "want one line saying forwarding is off, got $(fwd_lines): $(grep forwarding "$LOG")"
grep -q "ipv4 forwarding is off on lc, .*net.ipv4.conf.lc.forwarding=1" "$LOG" ||
	fail "the line does not name lc and the sysctl that turns it on: $(grep forwarding "$LOG")"

log "a reload says it once more"
sed -i 's/interval: 1s/interval: 900ms/' "$CFG"
wait_for 15 grep -q "reload (file changed) ok" "$LOG" || fail "the reload was not applied: $(tail -5 "$LOG")"
wait_for 5 sh -c "[ \$(grep -c 'forwarding is off on' '$LOG') -ge 2 ]" ||
	fail "the reload did not say forwarding is off on lc: $(grep forwarding "$LOG")"
[ "$(fwd_lines)" = 2 ] || fail "want two lines saying forwarding is off after one reload, got $(fwd_lines): $(grep forwarding "$LOG")"

log "forwarding on: the service forwards"
ip netns exec "$LNS" sysctl -qw net.ipv4.conf.lc.forwarding=1
wait_for 20 via_vip || fail "no answer through $VIP:80 with forwarding on: $(dr stats)"
agent_up
kill "$AGENT"
wait "$AGENT" || fail "the agent exited $? after SIGTERM: $(tail -5 "$LOG")"
log "PASS"
