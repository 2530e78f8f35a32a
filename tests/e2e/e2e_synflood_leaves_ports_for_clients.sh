#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# nat mode, IPv4, set up with the CLI: a SYN flood from many spoofed sources
# holds more half-open flows than the service has SNAT ports, yet clients
# that complete their handshake still get through while it lasts (a new flow
# takes over the port of the oldest half-open one), and connections that
# were open before the flood keep working.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

SYN=$E2E_TOP/.output/bench/synflood
PORTS=40000-40255	# 256 SNAT ports per node: 768 for the service
RATE=2000		# flood SYNs per second: 20,000 half-open flows per 10 s FIN timeout
FLOOD_S=16
N=400			# new connections tried while the flood holds every port (bounded by time)
[ -x "$SYN" ] || fail "$SYN not built: run make bench-tools"
lab_start
mount_bpffs
attach_lb
for p in 7 80; do
	drv service add "$LAB_VIP4" port $p mode nat snat "$LAB_SNAT4" snat-ports $PORTS ||
		fail "drover service add $LAB_VIP4 port $p failed"
	for n in $LAB_NODES4; do
		drv backend add "$LAB_VIP4" port $p "$n" || fail "drover backend add port $p $n failed"
	done
done
ip netns exec "$LAB_NS_CL" ethtool -K eth0 tx off >/dev/null

# Connections open before the flood, on the same SNAT port range (service port 7).
hold_start c4 "$LAB_VIP4" 7 20 --timeout 15
log "c4: $(hold_wait_opened c4 1)"

# The flood: SYNs from 10.0.1.64-127 (the client's subnet, where nobody
# answers ARP), every one a new 5-tuple, paced, bounded in time.
lbmac=$(ip netns exec "$LAB_NS_LB" cat /sys/class/net/eth0/address)
hold_cmd c4 event syn-flood
ex0=$(stat_packets drop_snat_exhausted)
rc0=$(stat_packets snat_reclaim_syn)
ip netns exec "$LAB_NS_CL" timeout $((FLOOD_S + 10)) "$SYN" -i eth0 -M "$lbmac" -S 10.0.1.64/64 \
	-D "$LAB_VIP4" -p 80 -r $RATE -d $FLOOD_S >"$E2E_TMP/flood.out" 2>&1 &
fpid=$!
on_exit "kill $fpid 2>/dev/null || true"
# The clients start once the flood holds every port (768 ports at 2,000/s:
# new flows take half-open ones' ports) and stop before its first half-open
# flows expire (FIN timeout, 10 s). A port taken from a half-open flow the node
# still holds costs the client one SYN retransmission (1 s): the node answers
# the new SYN with an ACK for the old one, the client resets that, and the
# node lets the old one go. 16 clients at a time: each may wait out SYN
# retransmissions, and on a loaded machine 4 at a time tried only 16 in the 8 s.
reclaiming() { [ "$(stat_packets snat_reclaim_syn)" -gt "$rc0" ]; }
wait_for 10 reclaiming || fail "the flood did not fill the SNAT ports in 10 s: $(cat "$E2E_TMP/flood.out")"
cl_nstat() { ip netns exec "$LAB_NS_CL" nstat -saz "$1" | awk -v k="$1" '$1 == k {print $2}'; }
synre0=$(cl_nstat TcpExtTCPSynRetrans)
rst0=$(cl_nstat TcpOutRsts)
out=$(spread "$LAB_VIP4" 80 $N --concurrency 16 --timeout 4 --deadline 8 --give-up $N)
log "clients: $(($(cl_nstat TcpExtTCPSynRetrans) - synre0)) SYN retransmissions, $(($(cl_nstat TcpOutRsts) - rst0)) RSTs sent"
wait $fpid || fail "synflood failed: $(cat "$E2E_TMP/flood.out")"
sent=$(sed -n 's/^sent=//p' "$E2E_TMP/flood.out")
ok=$(jq .ok <<<"$out")
tried=$(jq '.opened - (.errors.deadline // 0)' <<<"$out")
ex=$(($(stat_packets drop_snat_exhausted) - ex0))
rc=$(($(stat_packets snat_reclaim_syn) - rc0))
log "flood: ${sent:-?} SYNs in $FLOOD_S s; during it $ok/$tried new connections ok; drop_snat_exhausted +$ex, snat_reclaim_syn +$rc"
log "after the flood: $(hold_sync c4)"

r=$(hold_report c4)
log "c4: opened $(jq .opened <<<"$r"), broken $(jq .broken <<<"$r") $(jq -c .broken_by_event <<<"$r")"
[ "$(jq .broken <<<"$r")" -eq 0 ] || fail "connections open before the flood broke"
[ "${sent:-0}" -ge $((RATE * FLOOD_S / 2)) ] || fail "the flood sent only ${sent:-0} SYNs"
[ "$rc" -ge 768 ] || fail "snat_reclaim_syn rose by $rc: the flood did not fill the SNAT ports"
# Not all: a client's port can be taken by the flood between its SYN and its ACK.
[ "$ok" -ge 16 ] && [ "$ok" -ge $((tried * 8 / 10)) ] ||
	fail "only $ok of $tried new connections got through the flood: $out"
log "PASS: $ok/$tried new connections during a flood of $sent SYNs, 0 open connections broken"
