#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Path MTU discovery works across the balancer, both ways: a link on the path
# is narrower than full-size segments, the router in front of it answers them
# with ICMP "fragmentation needed" / ICMPv6 "packet too big" addressed to
# their source, and drover takes that ICMP to the host that sent them, whose
# kernel lowers its path MTU and resends smaller segments. Without that, a
# transfer of more than one MSS stalls for good (a Path MTU black hole) while
# small requests still work. Real TCP (curl, agent_node.py), CLI only.
#
# - Downloads (nat and dsr): the narrow link is on the client's side. The
#   router answers the node's replies with errors to the VIP; drover sends
#   them to the node (nat: outer destination → node, quoted header → node:port
#   ↔ SNAT:port; dsr: unchanged, to the node that owns the flow): icmp_to_node.
# - Uploads (nat): the narrow link is on the node's side. The router answers
#   the client's segments, which drover forwarded as SNAT:port → node:port,
#   with errors to the SNAT address; drover sends them to the client (outer
#   VIP → client, quote client:port → VIP:port): icmp_to_client.
#
#   far client  T-fc  eth0 10.0.5.2/24 fd00:5::2/64  mtu 1500, default via the client ns
#     |  veth
#   client ns (router)  fc 10.0.5.1/24 fd00:5::1/64  mtu 1280: answers 1500-byte packets
#                       toward the far client with frag-needed / packet-too-big
#     |  the lab: client -- balancer (routes 10.0.5.0/24, fd00:5::/64 via the client ns,
#        10.0.6.0/24, fd00:6::/64 via n3) -- switch -- nodes n1..n3
#   node n3 (router)    fn 10.0.6.1/24 fd00:6::1/64  mtu 1280: the same toward the far node
#     |  veth
#   far node    T-fn  eth0 10.0.6.2/24 fd00:6::2/64  mtu 1500, default via n3
#   services: VIP4/VIP6 port 18080 nat (nodes listen on their own addresses),
#             VIP4/VIP6 port 18081 dsr (nodes hold the VIPs and listen on them),
#             VIP4/VIP6 port 18082 nat, the far node the only backend (behind n3)
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

PORT=18080 DPORT=18081 UPORT=18082
BIG=200000		# bytes: ~140 full-size segments
MTU=1280		# the narrow links; IPv6's minimum
FC4=10.0.5.2 FC6=fd00:5::2 FC_RT4=10.0.5.1 FC_RT6=fd00:5::1 FC_NET4=10.0.5.0/24 FC_NET6=fd00:5::/64
FN4=10.0.6.2 FN6=fd00:6::2 FN_RT4=10.0.6.1 FN_RT6=fd00:6::1 FN_NET4=10.0.6.0/24 FN_NET6=fd00:6::/64

require_root
require_cmds curl jq ethtool nstat
lab_start
mount_bpffs

# far_host NAME ROUTER_NS ROUTER4 ROUTER6 ADDR4 ADDR6: namespace $T-NAME
# (eth0, mtu 1500, ADDR4/24 ADDR6/64) behind ROUTER_NS, whose end of the veth
# (NAME, ROUTER4/24 ROUTER6/64) has mtu $MTU. The router must send every
# frag-needed / packet-too-big (no rate limit: the test counts them), and no
# reverse-path filter may judge the packets it forwards (a host whose own
# rp_filter is on passes it on to new namespaces). Senders compute checksums
# themselves: a partial checksum would be forwarded as bad.
far_host() {
	local name=$1 rt=$2 ns=$T-$1
	ns_add "$name" >/dev/null # not in $(...): ns_add records the name for the cleanup
	ip -n "$rt" link add "$name" type veth peer name eth0 netns "$ns"
	ip -n "$rt" -batch - <<EOF
link set $name mtu $MTU
addr add $3/24 dev $name
addr add $4/64 dev $name nodad
link set $name up
EOF
	ip -n "$ns" -batch - <<EOF
addr add $5/24 dev eth0
addr add $6/64 dev eth0 nodad
link set eth0 up
route add default via $3
route add ::/0 via $4
EOF
	ip netns exec "$rt" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 "net.ipv4.conf.$name.rp_filter=0"
	ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
	ip netns exec "$rt" ethtool -K "$name" tx off >/dev/null
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
}

log "topology: far client behind the client ns, far node behind n3, both links mtu $MTU"
far_host fc "$LAB_NS_CL" $FC_RT4 $FC_RT6 $FC4 $FC6
far_host fn "$(nsn 3)" $FN_RT4 $FN_RT6 $FN4 $FN6
FC=$T-fc FN=$T-fn
ip -n "$LAB_NS_LB" route add $FC_NET4 via "$LAB_CL4"
ip -n "$LAB_NS_LB" route add $FC_NET6 via "$LAB_CL6"
# The far node answers the SNAT address through n3, which has it on-link: n3
# needs no route back.
ip -n "$LAB_NS_LB" route add $FN_NET4 via "$(node4 3)"
ip -n "$LAB_NS_LB" route add $FN_NET6 via "$(node6 3)"
for a in "$LAB_CL4" "$LAB_CL6"; do
	wait_for 10 ip netns exec "$FC" ping -c1 -W1 "$a" || fail "far client cannot ping $a"
done
for a in "$LAB_SNAT4" "$LAB_SNAT6"; do
	wait_for 10 ip netns exec "$FN" ping -c1 -W1 "$a" || fail "far node cannot ping $a"
done
for a in $FC4 $FC6 $FN4 $FN6; do
	wait_for 10 ip netns exec "$LAB_NS_LB" ping -c1 -W1 "$a" || fail "balancer cannot ping $a"
done

# dsr: the nodes hold the VIPs and send their replies to the far client through
# the balancer, which forwards them as a plain router.
lab_dsr_nodes
for n in 1 2 3; do
	ip -n "$(nsn $n)" route add $FC_NET4 via "$LAB_SNAT4" || fail "route to $FC_NET4 in n$n"
	ip -n "$(nsn $n)" route add $FC_NET6 via "$LAB_SNAT6" || fail "route to $FC_NET6 in n$n"
done

vip4() { echo "$LAB_VIP4"; }
vip6() { echo "$LAB_VIP6"; }
http_nodes_start_on $PORT node4
http_nodes_start_on $PORT node6
http_nodes_start_on $DPORT vip4
http_nodes_start_on $DPORT vip6
echo 200 >"$E2E_TMP/fn.mode"
for a in $FN4 $FN6; do
	bg "$FN" python3 "$NODE_PY" --addr "$a" --port $UPORT --name fn --mode-file "$E2E_TMP/fn.mode"
done
for a in $FN4 $FN6; do
	wait_for 20 listens "$FN" "$a" $UPORT ||
		fail "agent_node.py did not listen on the far node at $a port $UPORT"
done

log "balancer: nat and dsr services on both VIPs, nat to the far node on both, by CLI"
attach_lb
# shellcheck disable=SC2086 # the node lists are words
svc_cli 4 $PORT $LAB_NODES4
# shellcheck disable=SC2086
svc_cli 6 $PORT $LAB_NODES6
for vip in "$LAB_VIP4" "$LAB_VIP6"; do
	drv service add "$vip" port $DPORT mode dsr || fail "drover service add $vip port $DPORT dsr failed"
	for n in 1 2 3; do
		if [ "$vip" = "$LAB_VIP4" ]; then a=$(node4 $n); else a=$(node6 $n); fi
		drv backend add "$vip" port $DPORT "$a" || fail "drover backend add $vip port $DPORT $a failed"
	done
done
svc_cli 4 $UPORT $FN4
svc_cli 6 $UPORT $FN6

# The cases: the far client downloads through each service on the lab nodes;
# the lab client uploads to the far node's.
DOWN="nat4 nat6 dsr4 dsr6" UP="up4 up6"
declare -A URL=([nat4]="http://$LAB_VIP4:$PORT" [nat6]="http://[$LAB_VIP6]:$PORT"
	[dsr4]="http://$LAB_VIP4:$DPORT" [dsr6]="http://[$LAB_VIP6]:$DPORT"
	[up4]="http://$LAB_VIP4:$UPORT" [up6]="http://[$LAB_VIP6]:$UPORT")
declare -A FROM=([nat4]=$FC [nat6]=$FC [dsr4]=$FC [dsr6]=$FC [up4]=$LAB_NS_CL [up6]=$LAB_NS_CL)
get() { ip netns exec "${FROM[$1]}" curl -gsS --max-time "$2" "${@:3}"; } # CASE SECS CURLARGS...
small() { get "$1" 3 "${URL[$1]}/" | grep -q '^node \(n[123]\|fn\)$'; }

log "small requests work through every VIP (the topology is sound)"
for c in $DOWN $UP; do
	wait_for 20 small "$c" ||
		fail "$c: no answer to GET ${URL[$c]}/ from ${FROM[$c]}: $(get "$c" 3 "${URL[$c]}/" 2>&1)"
done
log "ok: GET / answered through $DOWN $UP"

# icmp NS: "<frag-needed sent> <packet-too-big sent> <frag-needed received> <packet-too-big
# received>" in NS since it was made. The kernel counts ICMP type 3 by type only, not by code;
# the routers, the nodes and the client have no other reason to send or receive one here.
icmp() {
	ip netns exec "$1" nstat -saz IcmpMsgOutType3 Icmp6OutPktTooBigs IcmpMsgInType3 Icmp6InPktTooBigs |
		awk '{v[$1] = $2} END {print v["IcmpMsgOutType3"] + 0, v["Icmp6OutPktTooBigs"] + 0,
			v["IcmpMsgInType3"] + 0, v["Icmp6InPktTooBigs"] + 0}'
}
nodes_icmp_in() { # "<frag-needed received> <packet-too-big received>", summed over the nodes
	local n
	for n in 1 2 3; do icmp "$(nsn $n)"; done | awk '{a += $3; b += $4} END {print a + 0, b + 0}'
}
# lb_counters: drover's global counters of interest, in packets: the ICMP
# translation's (icmp_to_node, icmp_to_client; a data path without them says
# "absent"), and every other one that is not zero.
lb_counters() {
	drv -j stats 2>/dev/null | jq -r '.global | with_entries(.value |= (.packets? // .)) as $g |
		([ "icmp_to_node", "icmp_to_client", "icmp_too_big" ] | map("\(.)=\($g[.] // "absent")")) +
		($g | to_entries | map(select((.key | test("^icmp_to_|^icmp_too_big$") | not) and .value != 0)) |
			map("\(.key)=\(.value)")) | join(" ")' 2>/dev/null || echo "(no stats)"
}
# pmtu NS: the path MTU exceptions in NS, "DEST mtu N" (IPv4 lists them on two lines).
pmtu() {
	{ ip -n "$1" route show cache; ip -n "$1" -6 route show cache; } 2>/dev/null |
		awk '/^[^ \t]/ {d = $1} match($0, /mtu [0-9]+/) {e = d " " substr($0, RSTART, RLENGTH)
			if (!(e in seen)) printf "%s%s", (k++ ? "; " : ""), e; seen[e] = 1}
			END {if (!k) printf "none"}'
}

# transfer {down|up} CASE...: through each case's URL, in parallel and at most
# 15 s each, GET /big/$BIG (down) or POST $BIG bytes to /upload (up); log each
# result and leave in $bad the cases that did not move all $BIG bytes. An
# upload's bytes are those the node says it got.
UPLOAD=$E2E_TMP/upload.bin
head -c $BIG /dev/zero >"$UPLOAD"
transfer() {
	local dir=$1 c rc code secs got what args
	local -A pid=()
	shift
	for c in "$@"; do
		if [ "$dir" = down ]; then args=("${URL[$c]}/big/$BIG")
		else args=(--data-binary "@$UPLOAD" "${URL[$c]}/upload"); fi
		get "$c" 15 -o "$E2E_TMP/$c.body" -w '%{http_code} %{time_total}' "${args[@]}" \
			>"$E2E_TMP/$c.res" 2>"$E2E_TMP/$c.err" &
		pid[$c]=$! # the cleanup kills whatever is left in the test's namespaces
	done
	bad=
	for c in "$@"; do
		rc=0
		wait "${pid[$c]}" || rc=$?
		code='' secs=''
		read -r code secs <"$E2E_TMP/$c.res" || true
		if [ "$dir" = down ]; then
			what="GET ${URL[$c]}/big/$BIG"
			got=$(stat -c %s "$E2E_TMP/$c.body" 2>/dev/null || echo 0)
		else
			what="POST ${URL[$c]}/upload ($BIG bytes)"
			got=$(sed -n 's/^got \([0-9]\+\)$/\1/p' "$E2E_TMP/$c.body" 2>/dev/null || true)
			got=${got:-0}
		fi
		if [ "$rc" -eq 0 ] && [ "$code" = 200 ] && [ "$got" -eq "$BIG" ]; then
			log "$c: $what: $got bytes in ${secs}s"
		else
			log "$c: $what: curl exit $rc, http ${code:-none}, $got of $BIG bytes after ${secs:-?}s: $(tr '\n' ' ' <"$E2E_TMP/$c.err")"
			bad="$bad $c"
		fi
	done
}

# 0. The balancer's own egress is the narrow link -----------------------------
# Before the routers' errors have lowered any path MTU. drover answers itself:
# node replies too long for its client-side device (nat) get an error to the
# node, from the SNAT address; client segments too long for its node-side
# device (nat, dsr) get one to the client, from the VIP (icmp_too_big). Without
# that, the kernel drops the redirected frames unseen and the stack's own
# error goes to the SNAT address, the balancer itself. Downloads first, at
# the wider MTU: a node that learnt a path MTU toward the SNAT address
# announces the smaller MSS, and the client's segments must still be too long
# for the uploads.
DOWN_MTU=1450 UP_MTU=1400
URL+=([own_nat4]=${URL[nat4]} [own_nat6]=${URL[nat6]} [own_dsr4]=${URL[dsr4]} [own_dsr6]=${URL[dsr6]})
FROM+=([own_nat4]=$LAB_NS_CL [own_nat6]=$LAB_NS_CL [own_dsr4]=$LAB_NS_CL [own_dsr6]=$LAB_NS_CL)
lb_mtu() { ip -n "$LAB_NS_LB" link set "$1" mtu "$2" || fail "cannot set mtu $2 on $1 in $LAB_NS_LB"; }
on_exit "ip -n $LAB_NS_LB link set eth0 mtu 1500; ip -n $LAB_NS_LB link set eth1 mtu 1500"

tb0=$(stat_packets icmp_too_big)
lb_mtu eth0 $DOWN_MTU
log "download $BIG bytes through each nat VIP to the client, the balancer's client side at mtu $DOWN_MTU"
transfer down own_nat4 own_nat6
lb_mtu eth0 1500
tb1=$(stat_packets icmp_too_big)
log "balancer counters after the downloads: $(lb_counters)"
for n in 1 2 3; do log "n$n path MTU exceptions: $(pmtu "$(nsn $n)")"; done
[ -z "$bad" ] || fail "download of $BIG bytes stalled through:$bad (the balancer's client side at mtu $DOWN_MTU: a Path MTU black hole at drover itself)"
[ "$tb1" -gt "$tb0" ] || fail "the downloads completed, yet drover's icmp_too_big stayed at $tb1"
for snat in "$LAB_SNAT4" "$LAB_SNAT6"; do
	for n in 1 2 3; do pmtu "$(nsn $n)"; echo; done | grep -q "^$snat mtu $DOWN_MTU\|; $snat mtu $DOWN_MTU" ||
		fail "no node has a path MTU $DOWN_MTU toward the SNAT address $snat"
done

lb_mtu eth1 $UP_MTU
log "upload $BIG bytes through each VIP from the client, the balancer's node side at mtu $UP_MTU"
transfer up own_nat4 own_nat6 own_dsr4 own_dsr6
lb_mtu eth1 1500
tb2=$(stat_packets icmp_too_big)
log "balancer counters after the uploads: $(lb_counters)"
log "client path MTU exceptions: $(pmtu "$LAB_NS_CL")"
[ -z "$bad" ] || fail "upload of $BIG bytes stalled through:$bad (the balancer's node side at mtu $UP_MTU: a Path MTU black hole at drover itself)"
[ "$tb2" -gt "$tb1" ] || fail "the uploads completed, yet drover's icmp_too_big stayed at $tb2"
for vip in "$LAB_VIP4" "$LAB_VIP6"; do
	pmtu "$LAB_NS_CL" | grep -q "$vip mtu $UP_MTU" ||
		fail "the client has no path MTU $UP_MTU toward $vip: $(pmtu "$LAB_NS_CL")"
done
log "ok: the balancer's own narrow egress, both ways (icmp_too_big $tb0 → $tb1 → $tb2)"

# 1. Downloads: the narrow link is on the client's side ----------------------
rt0=$(icmp "$LAB_NS_CL")
nd0=$(nodes_icmp_in)
to_node0=$(stat_packets icmp_to_node)
log "balancer counters before: $(lb_counters)"

log "download $BIG bytes through each VIP from the far client, in parallel (at most 15 s each)"
# shellcheck disable=SC2086 # the case lists are words
transfer down $DOWN

read -r fn4 ptb6 _ _ <<<"$(icmp "$LAB_NS_CL")"
read -r fn4_0 ptb6_0 _ _ <<<"$rt0"
read -r in4 in6 <<<"$(nodes_icmp_in)"
read -r in4_0 in6_0 <<<"$nd0"
to_node=$(stat_packets icmp_to_node)
log "router (client ns) sent $((fn4 - fn4_0)) frag-needed, $((ptb6 - ptb6_0)) packet-too-big; the nodes received $((in4 - in4_0)) frag-needed, $((in6 - in6_0)) packet-too-big"
log "balancer counters after the downloads: $(lb_counters)"
for n in 1 2 3; do log "n$n path MTU exceptions: $(pmtu "$(nsn $n)")"; done
# Without ICMP from the router the test would prove nothing: say so apart.
[ $((fn4 - fn4_0)) -gt 0 ] || fail "the router sent no frag-needed: the narrow link is not in the path"
[ $((ptb6 - ptb6_0)) -gt 0 ] || fail "the router sent no packet-too-big: the narrow link is not in the path"
[ -z "$bad" ] || fail "download of $BIG bytes stalled through:$bad (Path MTU black hole: the router's ICMP to the VIP never reached the node)"
[ "$to_node" -gt "$to_node0" ] ||
	fail "the downloads completed, yet drover's icmp_to_node stayed at $to_node"
if [ $((in4 - in4_0)) -eq 0 ] || [ $((in6 - in6_0)) -eq 0 ]; then
	fail "the downloads completed, yet the nodes received no frag-needed or no packet-too-big"
fi
log "ok: downloads (icmp_to_node $to_node0 → $to_node)"

# 2. Uploads: the narrow link is on the node's side --------------------------
rt0=$(icmp "$(nsn 3)")
cl0=$(icmp "$LAB_NS_CL")
to_client0=$(stat_packets icmp_to_client)

log "upload $BIG bytes through each VIP to the far node from the client, in parallel (at most 15 s each)"
# shellcheck disable=SC2086
transfer up $UP

read -r fn4 ptb6 _ _ <<<"$(icmp "$(nsn 3)")"
read -r fn4_0 ptb6_0 _ _ <<<"$rt0"
read -r _ _ in4 in6 <<<"$(icmp "$LAB_NS_CL")"
read -r _ _ in4_0 in6_0 <<<"$cl0"
to_client=$(stat_packets icmp_to_client)
log "router (n3) sent $((fn4 - fn4_0)) frag-needed, $((ptb6 - ptb6_0)) packet-too-big; the client received $((in4 - in4_0)) frag-needed, $((in6 - in6_0)) packet-too-big"
log "balancer counters after the uploads: $(lb_counters)"
log "client path MTU exceptions: $(pmtu "$LAB_NS_CL")"
[ $((fn4 - fn4_0)) -gt 0 ] || fail "n3 sent no frag-needed: the narrow link is not in the path"
[ $((ptb6 - ptb6_0)) -gt 0 ] || fail "n3 sent no packet-too-big: the narrow link is not in the path"
[ -z "$bad" ] || fail "upload of $BIG bytes stalled through:$bad (Path MTU black hole: n3's ICMP to the SNAT address never reached the client)"
[ "$to_client" -gt "$to_client0" ] ||
	fail "the uploads completed, yet drover's icmp_to_client stayed at $to_client"
if [ $((in4 - in4_0)) -eq 0 ] || [ $((in6 - in6_0)) -eq 0 ]; then
	fail "the uploads completed, yet the client received no frag-needed or no packet-too-big"
fi
log "ok: uploads (icmp_to_client $to_client0 → $to_client)"
log "PASS"
