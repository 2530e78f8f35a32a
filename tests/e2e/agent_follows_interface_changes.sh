#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The agent keeps its configured interfaces attached when they change under
# it, without a reload: an interface deleted is logged as gone (once) and
# /readyz says so; re-created with the same name (a new ifindex), it is
# attached again within a few seconds, the stale link pin replaced, and
# traffic through the VIP flows again; one that comes back running another
# XDP program (ip link set xdp) is not forced: the agent says so, and
# attaches once that program is removed. An interface renamed is not taken
# for attached under its old name.
#
#   client ns  c0 10.73.0.2/24 (xdp_pass) -- lc 10.73.0.1/24 --+ balancer ns: the agent on lc, l1
#   node ns    n0 10.74.0.2/24 (xdp_pass) -- l1 10.74.0.1/24 --+ SNAT 10.74.9.1 (lo)
#   VIP 10.98.0.10 port 80 lives nowhere: the client routes it to the balancer.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat curl
mount_bpffs

VIP=10.98.0.10 SNAT=10.74.9.1 CL=10.73.0.2 GW=10.73.0.1 NODE=10.74.0.2 NODE_GW=10.74.0.1
. "$E2E_TOP/tests/tools/iface_lab.sh"
client_link
node_link
node_echo80 "$N1"

iface_lab_config 9481
iface_agent_start
lc_mode() { dr -j status | jq -r '.interfaces[] | select(.ifname == "lc") | "\(.ifindex) \(.mode)"'; }
lc_native_on() { [ "$(lc_mode)" = "$1 native" ]; }
ifindex() { ip netns exec "$LNS" cat "/sys/class/net/$1/ifindex"; }
nlines() { grep -c "$1" "$LOG" || true; }

wait_for 30 is_ready || fail "agent not ready in 30 s: $(readyz); $(tail -20 "$LOG")"
wait_for 20 via_vip || fail "no answer through $VIP:80 in 20 s: $(dr stats)"

log "lc deleted: the agent says it is gone, once, and /readyz says so"
old=$(ifindex lc)
ip -n "$LNS" link del lc
wait_for 15 grep -q "interface lc is gone" "$LOG" ||
	fail "no log line saying lc is gone within 15 s: $(tail -5 "$LOG")"
agent_up
[ "$(readyz)" = "not ready: not attached to lc" ] || fail "/readyz with lc gone: $(readyz)"
dr -j status | jq -e '.interfaces[] | select(.ifname == "lc") | .mode == "defunct"' >/dev/null ||
	fail "status does not show lc's link as defunct: $(dr status)"
# Two more polls: the line is not repeated.
n=$(nlines "interface lc is gone")
sleep 2.5
[ "$(nlines "interface lc is gone")" = "$n" ] && [ "$n" = 1 ] ||
	fail "'lc is gone' logged $(nlines "interface lc is gone") times, want once: $(tail -5 "$LOG")"

log "lc re-created (new ifindex): attached again within 10 s, stale pin replaced, traffic flows"
client_link
new=$(ifindex lc)
[ "$new" != "$old" ] || fail "the re-created lc has the old ifindex $old: the test proves nothing"
wait_for 10 lc_native_on "$new" || fail "lc (ifindex $new) not attached again within 10 s: $(dr status); $(tail -5 "$LOG")"
grep -q "interface lc is back (ifindex $new): drover attached again" "$LOG" ||
	fail "no log line saying lc was attached again: $(tail -5 "$LOG")"
wait_for 10 is_ready || fail "/readyz after lc came back: $(readyz)"
wait_for 20 via_vip || fail "no answer through $VIP:80 after lc came back: $(dr stats)"
dr -j status | jq -e '.maps[] | select(.name == "drv_txports_v1") | .entries == 2' >/dev/null ||
	fail "drv_txports_v1 does not hold lc and l1: $(dr status)"

log "lc re-created running another XDP program: not forced; attached once that is removed"
ip -n "$LNS" link del lc
wait_for 15 sh -c "[ \$(grep -c 'interface lc is gone' '$LOG') -ge 2 ]" || fail "second deletion not logged"
client_link xdp
agent_up
wait_for 15 grep -q "interface lc is back (ifindex $(ifindex lc)) but" "$LOG" ||
	fail "the agent did not say why it can't attach lc again: $(tail -5 "$LOG")"
ip -n "$LNS" link show lc | grep -q "prog/xdp.*name xdp_pass" || fail "the agent replaced xdp_pass on lc"
[ "$(readyz)" = "not ready: not attached to lc" ] || fail "/readyz with xdp_pass on lc: $(readyz)"
ip -n "$LNS" link set dev lc xdpdrv off
wait_for 15 lc_native_on "$(ifindex lc)" || fail "lc not attached after xdp_pass went: $(dr status); $(tail -5 "$LOG")"
wait_for 10 is_ready || fail "/readyz after lc was attached: $(readyz)"
wait_for 20 via_vip || fail "no answer through $VIP:80 after lc was attached: $(dr stats)"
agent_up

log "lc renamed lcx: /readyz and the log say so (drover stays on lcx); renamed back: ready"
ip -n "$LNS" link set lc down
ip -n "$LNS" link set lc name lcx
ip -n "$LNS" link set lcx up
wait_for 15 grep -q "interface lc was renamed lcx" "$LOG" || fail "the rename of lc was not logged: $(tail -5 "$LOG")"
[ "$(readyz)" = "not ready: not attached to lc (renamed lcx, which drover runs on)" ] ||
	fail "/readyz with lc renamed lcx: $(readyz)"
ip -n "$LNS" link show lcx | grep -q "prog/xdp" || fail "drover was taken off lcx"
ip -n "$LNS" link set lcx down
ip -n "$LNS" link set lcx name lc
ip -n "$LNS" link set lc up
wait_for 10 is_ready || fail "/readyz after lc was renamed back: $(readyz)"
wait_for 20 via_vip || fail "no answer through $VIP:80 after lc was renamed back: $(dr stats)"
agent_up
log "PASS"
