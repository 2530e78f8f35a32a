#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# nat mode, IPv4 and IPv6, set up with the CLI: hostile traffic from the
# client namespace (malformed IPv4/IPv6/TCP headers, fragments, a SYN flood
# bounded in time) never breaks established connections, is counted by
# reason in `drover stats -j`, and new connections work again afterwards.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

K=20		# frames of each malformed kind
FLOOD_S=3	# SYN flood duration
command -v hping3 >/dev/null || skip "hping3 missing: run scripts/install-deps.sh"
lab_start
mount_bpffs
attach_lb
for p in 7 80; do
	svc_cli 4 $p $LAB_NODES4
	svc_cli 6 $p $LAB_NODES6
done

# A flood shares the veth queues with these connections: give a segment lost
# to it time for TCP's retransmissions (1 s, 2 s, 4 s ... apart) to get through.
hold_start c4 "$LAB_VIP4" 7 30 --timeout 15
hold_start c6 "$LAB_VIP6" 7 30 --timeout 15
log "c4: $(hold_wait_opened c4 1)"
log "c6: $(hold_wait_opened c6 1)"
log "before: $(hold_sync c4) / $(hold_sync c6)"

names="xdp_aborted xdp_drop xdp_pass xdp_tx xdp_redirect drop_ip_trunc drop_ip_bad drop_ip_frag drop_ip6_ext drop_tcp_trunc drop_tcp_bad drop_no_backend drop_snat_exhausted new_flow"
declare -A before after
snap() { # ARRAY
	local n
	for n in $names; do eval "$1[$n]=$(stat_packets "$n")"; done
}
delta() { echo $((after[$1] - before[$1])); }
# tx_dropped of the client's eth0 (veth): frames the XDP side had no room for.
cl_tx_dropped() {
	ip -n "$LAB_NS_CL" -s -j link show eth0 | jq '.[0].stats64.tx.dropped'
}

snap before

# Malformed headers, IPv4 and IPv6, to VIP:80.
lbmac=$(ip netns exec "$LAB_NS_LB" cat /sys/class/net/eth0/address)
hold_cmd c4 event malformed
hold_cmd c6 event malformed
for a in "$LAB_CL4 $LAB_VIP4" "$LAB_CL6 $LAB_VIP6"; do
	set -- $a
	out=$(ip netns exec "$LAB_NS_CL" "$PYTHON" "$LBTOOL" malformed --ifname eth0 --dst-mac "$lbmac" \
		--src "$1" --vip "$2" --port 80 --count $K) || fail "lbtool malformed to $2 failed"
	log "malformed to $2: sent $out"
done

# Fragments made by hping3: 20 SYNs with 120 data bytes through a 64-byte MTU, so
# each first fragment holds the whole TCP header (dropped as a fragment to a
# service) and the later ones carry no ports (passed, by bpf/lib/parse.h policy).
hfrag=$(ip netns exec "$LAB_NS_CL" timeout 20 hping3 -q -c 20 -i u2000 -m 64 -S -p 80 -d 120 "$LAB_VIP4" 2>&1 |
	sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p')
log "hping3 fragmented: ${hfrag:-?} packets sent (each as several fragments)"

# A SYN flood, bounded in time, while new connections are opened.
hold_cmd c4 event syn-flood
hold_cmd c6 event syn-flood
spread "$LAB_VIP4" 80 300 >"$E2E_TMP/during.json" &
sp=$!
txdrop0=$(cl_tx_dropped)
flood=$(ip netns exec "$LAB_NS_CL" timeout -s INT $((FLOOD_S)) hping3 -q --flood -S -p 80 "$LAB_VIP4" 2>&1 |
	sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p') || true
wait $sp || true
txdrop=$(($(cl_tx_dropped) - txdrop0))
log "SYN flood: ${flood:-?} SYNs in $FLOOD_S s; new connections during it: $(jq -c '{opened, ok, failed, errors}' "$E2E_TMP/during.json")"
log "after hostile traffic: $(hold_sync c4) / $(hold_sync c6)"

snap after
summary=""
for n in $names; do summary="$summary $n+$(delta $n)"; done
log "drover stats deltas:$summary"

rc=0
check() { # NAME MIN WHAT
	if [ "$(delta "$1")" -lt "$2" ]; then log "counter $1 rose by $(delta "$1"), expected ≥ $2 ($3)"; rc=1; fi
}
# Expected per kind (bpf/lib/parse.h policy): non-first fragments and IPv6
# extension chains longer than the parser walks are passed, not counted here.
check drop_ip_trunc $((2 * K)) "IPv4 header cut at 12 bytes, IPv6 header cut at 30"
check drop_ip_frag $((K + K + ${hfrag:-0})) "IPv4 first fragment, IPv6 first fragment, hping3 -m 64 first fragments"
check drop_ip_bad $((2 * K + K)) "IPv4 IHL 4 and total length 12, IPv6 version 4"
check drop_tcp_trunc $((2 * K)) "TCP header cut at 10 bytes, IPv4 and IPv6"
check drop_tcp_bad $((2 * K)) "TCP data offset < 5, IPv4 and IPv6"
check drop_ip6_ext $K "IPv6 hop-by-hop header longer than the packet"
verdicts=$(($(delta xdp_aborted) + $(delta xdp_drop) + $(delta xdp_pass) + $(delta xdp_tx) + $(delta xdp_redirect)))
# A veth drops what does not fit the queue of the XDP side and counts it as
# the sender's tx_dropped: every flood SYN that was not dropped there must
# show up as an XDP verdict (90%: hping3 counts a few the kernel refused).
log "XDP verdicts counted during the test: $verdicts (flood: ${flood:-?} SYNs, $txdrop dropped by the client's veth)"
[ -z "$flood" ] || [ "$verdicts" -ge $(((flood - txdrop) * 9 / 10)) ] ||
	{ log "only $verdicts XDP verdicts counted for $flood flood SYNs ($txdrop dropped before XDP)"; rc=1; }

# New connections work once the flood's flows have closed (client RSTs → FIN timeout).
ok_after=0
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
	out=$(spread "$LAB_VIP4" 80 300)
	ok_after=$(jq .ok <<<"$out")
	[ "$ok_after" -eq 300 ] && break
	sleep 2
done
log "new connections after the flood: $ok_after/300 ok (attempt $i)"
[ "$ok_after" -eq 300 ] || { log "new connections still fail after the flood: $out"; rc=1; }
out6=$(spread "$LAB_VIP6" 80 300)
[ "$(jq .ok <<<"$out6")" -eq 300 ] || { log "IPv6 new connections fail: $out6"; rc=1; }

for c in c4 c6; do
	r=$(hold_report $c)
	log "$c: opened $(jq .opened <<<"$r"), broken $(jq .broken <<<"$r") $(jq -c .broken_by_event <<<"$r")"
	[ "$(jq .broken <<<"$r")" -eq 0 ] || { log "$c: established connections broke"; rc=1; }
done
[ $rc -eq 0 ] || fail "hostile traffic test failed (see above)"
log "PASS: hostile traffic counted, 0 established connections broken"
