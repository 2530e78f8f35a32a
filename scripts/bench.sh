#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# make bench: drover next to the kernel's own NAT balancer (nftables DNAT +
# conntrack; IPVS where the kernel has it), a stateless nftables DSR balancer,
# HAProxy (TCP mode) and no balancer at all, on one netns lab, in one run:
# SYN-flood packet rate and lab CPU per packet, connection rate, keep-alive
# request rate and latency, and per-packet cost from bpf_prog_test_run_opts.
#
# Lab (every name private to this run, all removed on exit):
#
#   C (client) eth0 ── ethc  L (balancer)  ethn ── sw0 ┐
#   10.77.1.2-5         10.77.1.1   10.77.2.1         S: bridge br0 ─ N1..N3 eth0
#                                                         10.77.2.11-13, VIP on lo
#
# VIP 10.77.0.100: port 80 is served by drover-bench-srv on each node; port 9
# is the flood target, counted and dropped at each node's ingress (nftables),
# so a flood makes no replies. Generators are pinned to one CPU; each figure
# is taken with the generator on CPU 0 and on CPU 1 (BENCH_ROUNDS rounds) and
# the best is kept. Environment: BENCH_SECONDS (per figure, default 2),
# BENCH_ROUNDS (default 3), BENCH_PEERS (default: all but the diagnostic
# nftnat_xdp, see below), BENCH_OUT (results file), BENCH_RAW (a file to keep
# the raw samples in).
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
OUT=$TOP/.output
BIN=$OUT/bench
DROVER=$OUT/drover
XDP_PASS_OBJ=$OUT/xdp_pass.bpf.o
SECS=${BENCH_SECONDS:-2}
ROUNDS=${BENCH_ROUNDS:-3}
PEERS=${BENCH_PEERS:-"nftnat drover_nat none haproxy nftdsr drover_dsr"}
RESULTS=${BENCH_OUT:-$TOP/bench/results.md}
BUDGET=270 # seconds: the whole run (with make) stays under 5 minutes
VIP=10.77.0.100
NODES="10.77.2.11 10.77.2.12 10.77.2.13"
START=$(date +%s)
CMDLINE="make bench (scripts/bench.sh; BENCH_SECONDS=$SECS BENCH_ROUNDS=$ROUNDS)"

say() { printf '[bench %3ds] %s\n' $(($(date +%s) - START)) "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (network namespaces, XDP); run: sudo make bench" >&2; exit 4; }
for t in tcpsrv tcpclient synflood pktcost; do
	[ -x "$BIN/$t" ] || die "$BIN/$t is not built: run make bench-tools"
done
for c in nft haproxy conntrack ethtool taskset python3; do
	command -v "$c" >/dev/null || die "$c not found: run scripts/install-deps.sh"
done
[ -f "$XDP_PASS_OBJ" ] || die "$XDP_PASS_OBJ is not built: run make"

P="drb$(($$ % 100000))"
NS_C=${P}c NS_L=${P}l NS_S=${P}s
NS_ALL=("$NS_C" "$NS_L" "$NS_S" "${P}n1" "${P}n2" "${P}n3" "${P}pp")
TMP=$(mktemp -d "/tmp/drover-bench-$P.XXXXXX")
BPFFS=$TMP/bpffs
RAW=$TMP/raw.txt
PIDS=()
SRV_PIDS=()
HAPROXY_PID=""
: >"$RAW"

cleanup() {
	local rc=$? p ns
	for p in "${PIDS[@]}" ${HAPROXY_PID:+"$HAPROXY_PID"}; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}" ${HAPROXY_PID:+"$HAPROXY_PID"}; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	if [ -d "$BPFFS" ]; then
		ip netns exec "$NS_L" "$DROVER" --bpffs "$BPFFS" detach ethn >/dev/null 2>&1 || true
		ip netns exec "$NS_L" "$DROVER" --bpffs "$BPFFS" detach ethc >/dev/null 2>&1 || true
	fi
	for ns in "${NS_ALL[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	if mountpoint -q "$BPFFS" 2>/dev/null; then umount "$BPFFS" || true; fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
left() { echo $((BUDGET - ($(date +%s) - START))); }
rec() { echo "$*" >>"$RAW"; } # rec ROUND PEER METRIC VALUE [NOTE]
calc() { awk "BEGIN { printf \"%.1f\", $1 }"; }
mac_of() { in_ns "$1" cat "/sys/class/net/$2/address"; }

# "busy total" CPU jiffies of the whole machine (all CPUs), from /proc/stat.
cpu_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }

# shellcheck source=scripts/wait.sh
. "$TOP/scripts/wait.sh"

lab_up() {
	local ns i
	for ns in "${NS_ALL[@]}"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	ip link add eth0 netns "$NS_C" type veth peer name ethc netns "$NS_L"
	ip link add ethn netns "$NS_L" type veth peer name sw0 netns "$NS_S"
	ip -n "$NS_S" link add br0 type bridge
	ip -n "$NS_S" link set dev sw0 master br0
	for i in 1 2 3; do
		ip link add eth0 netns "${P}n$i" type veth peer name "p$i" netns "$NS_S"
		ip -n "$NS_S" link set "p$i" master br0
	done
	for ns in "$NS_C" "$NS_L" "$NS_S" "${P}n1" "${P}n2" "${P}n3"; do
		for i in $(in_ns "$ns" ls /sys/class/net); do
			[ "$i" = lo ] && continue
			ip -n "$ns" link set "$i" up
			case $i in br0) ;; *) in_ns "$ns" ethtool -K "$i" tx off >/dev/null 2>&1 || true ;; esac
		done
	done

	ip -n "$NS_C" addr add 10.77.1.2/24 dev eth0
	for i in 3 4 5; do ip -n "$NS_C" addr add "10.77.1.$i/24" dev eth0; done
	ip -n "$NS_C" route add default via 10.77.1.1
	in_ns "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1

	ip -n "$NS_L" addr add 10.77.1.1/24 dev ethc
	ip -n "$NS_L" addr add 10.77.2.1/24 dev ethn
	in_ns "$NS_L" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.ethc.rp_filter=0 \
		net.ipv4.conf.ethn.rp_filter=0 net.ipv4.ip_local_port_range="1024 65535"

	for i in 1 2 3; do
		ns=${P}n$i
		ip -n "$ns" addr add "10.77.2.1$i/24" dev eth0
		ip -n "$ns" addr add "$VIP/32" dev lo
		ip -n "$ns" route add default via 10.77.2.1
		in_ns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 \
			net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
			net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
		in_ns "$ns" nft -f - <<-EOF
		table netdev drvbench {
			counter flood { }
			chain in {
				type filter hook ingress device "eth0" priority -500; policy accept;
				meta protocol ip ip protocol tcp tcp dport 9 counter name "flood" drop
			}
		}
		EOF
		# ip netns exec execs the server: $! is the server itself, so cleanup can kill it.
		ip netns exec "$ns" "$BIN/tcpsrv" -l 0.0.0.0:80 -d "$((BUDGET + 30))" &
		PIDS+=($!)
	done
	# Frames redirected by XDP into a veth reach its peer only if the peer has
	# an XDP program: a pass-through one on both redirect targets, for every
	# balancer alike.
	ip -n "$NS_C" link set dev eth0 xdpdrv obj "$XDP_PASS_OBJ" sec xdp
	ip -n "$NS_S" link set dev sw0 xdpdrv obj "$XDP_PASS_OBJ" sec xdp

	# Resolve every neighbour once (bpf_fib_lookup needs them).
	in_ns "$NS_C" ping -c1 -W2 10.77.1.1 >/dev/null || die "lab: client cannot reach the balancer"
	for i in $NODES; do
		in_ns "$NS_L" ping -c1 -W2 "$i" >/dev/null || die "lab: balancer cannot reach node $i"
	done
	for i in 1 2 3; do in_ns "${P}n$i" ping -c1 -W2 10.77.2.1 >/dev/null || true; done
	for i in $NODES; do
		wait_until 10 in_ns "$NS_L" bash -c "exec 3<>/dev/tcp/$i/80" ||
			die "lab: the server on node $i:80 does not answer"
	done
	in_ns "$NS_L" ping -c1 -W2 10.77.1.2 >/dev/null || true
	LB_MAC=$(mac_of "$NS_L" ethc)
}

flood_count() {
	local i s=0 c
	for i in 1 2 3; do
		c=$(in_ns "${P}n$i" nft list counter netdev drvbench flood | awk '/packets/{print $2}')
		s=$((s + ${c:-0}))
	done
	echo "$s"
}
flood_reset() { local i; for i in 1 2 3; do in_ns "${P}n$i" nft reset counter netdev drvbench flood >/dev/null; done; }

# --- balancers: PEER_up sets up, PEER_down removes; TARGET_IP is what clients use.

none_up() { TARGET_IP=10.77.2.11; }
none_down() { :; }

nftnat_up() {
	TARGET_IP=$VIP
	in_ns "$NS_L" nft -f - <<-EOF
	table ip drvbench {
		chain pre {
			type nat hook prerouting priority dstnat; policy accept;
			ip daddr $VIP tcp dport { 80, 9 } dnat to jhash ip saddr . tcp sport mod 3 map { 0 : 10.77.2.11, 1 : 10.77.2.12, 2 : 10.77.2.13 }
		}
	}
	EOF
}
nftnat_down() {
	in_ns "$NS_L" nft delete table ip drvbench
	in_ns "$NS_L" conntrack -F >/dev/null 2>&1 || true
}

# Diagnostic, not in the default PEERS: the kernel NAT row with a pass-through
# XDP program on both balancer veths, so that every frame reaches the balancer
# the way it reaches drover (veth's copy before XDP, its NAPI stage). The
# difference to nftnat is what veth's XDP path costs, not what drover does.
nftnat_xdp_up() {
	nftnat_up || { DRV_ERR="nftables DNAT setup failed"; return 1; }
	ip -n "$NS_L" link set dev ethc xdpdrv obj "$XDP_PASS_OBJ" sec xdp &&
		ip -n "$NS_L" link set dev ethn xdpdrv obj "$XDP_PASS_OBJ" sec xdp ||
		{ DRV_ERR="cannot attach xdp_pass to ethc and ethn"; return 1; }
}
nftnat_xdp_down() {
	ip -n "$NS_L" link set dev ethc xdpdrv off 2>/dev/null || true
	ip -n "$NS_L" link set dev ethn xdpdrv off 2>/dev/null || true
	nftnat_down
}

nftdsr_up() {
	local m1 m2 m3 mn
	TARGET_IP=$VIP
	m1=$(mac_of "${P}n1" eth0) m2=$(mac_of "${P}n2" eth0) m3=$(mac_of "${P}n3" eth0)
	mn=$(mac_of "$NS_L" ethn)
	in_ns "$NS_L" nft -f - <<-EOF
	table netdev drvdsr {
		chain in {
			type filter hook ingress device "ethc" priority 0; policy accept;
			meta protocol ip ip daddr $VIP tcp dport { 80, 9 } ether saddr set $mn ether daddr set jhash ip saddr . tcp sport mod 3 map { 0 : $m1, 1 : $m2, 2 : $m3 } fwd to "ethn"
		}
	}
	EOF
}
nftdsr_down() { in_ns "$NS_L" nft delete table netdev drvdsr; }

haproxy_up() {
	TARGET_IP=$VIP
	ip -n "$NS_L" addr add "$VIP/32" dev lo
	cat >"$TMP/haproxy.cfg" <<-EOF
	global
		maxconn 8000
	defaults
		mode tcp
		timeout connect 2s
		timeout client 30s
		timeout server 30s
	frontend web
		bind $VIP:80
		default_backend nodes
	backend nodes
		balance roundrobin
		server n1 10.77.2.11:80
		server n2 10.77.2.12:80
		server n3 10.77.2.13:80
	EOF
	ip netns exec "$NS_L" haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
	HAPROXY_PID=$!
	wait_until 10 in_ns "$NS_C" bash -c "exec 3<>/dev/tcp/$VIP/80" ||
		{ DRV_ERR="haproxy does not listen on $VIP:80: $(tail -1 "$TMP/haproxy.log")"; return 1; }
}
haproxy_down() {
	if [ -n "$HAPROXY_PID" ]; then
		kill "$HAPROXY_PID" 2>/dev/null || true
		wait "$HAPROXY_PID" 2>/dev/null || true
	fi
	HAPROXY_PID=""
	ip -n "$NS_L" addr del "$VIP/32" dev lo 2>/dev/null || true
	in_ns "$NS_L" conntrack -F >/dev/null 2>&1 || true
}

drv() { in_ns "$NS_L" "$DROVER" --bpffs "$BPFFS" "$@"; }
drover_up_mode() { # MODE
	local mode=$1 port n
	TARGET_IP=$VIP
	if ! mountpoint -q "$BPFFS"; then
		mkdir -p "$BPFFS"
		mount -t bpf bpf "$BPFFS"
	fi
	drv attach ethc >"$TMP/drv.log" 2>&1 || { DRV_ERR="attach ethc: $(tail -1 "$TMP/drv.log")"; return 1; }
	drv attach ethn >"$TMP/drv.log" 2>&1 || { DRV_ERR="attach ethn: $(tail -1 "$TMP/drv.log")"; return 1; }
	for port in 80 9; do
		if [ "$mode" = nat ]; then
			drv service add "$VIP" port "$port" mode nat snat 10.77.2.1 snat-ports 1024-65535 \
				>"$TMP/drv.log" 2>&1 || { DRV_ERR="service add: $(tail -1 "$TMP/drv.log")"; return 1; }
		else
			drv service add "$VIP" port "$port" mode "$mode" >"$TMP/drv.log" 2>&1 ||
				{ DRV_ERR="service add mode $mode: $(tail -1 "$TMP/drv.log")"; return 1; }
		fi
		for n in $NODES; do
			drv backend add "$VIP" port "$port" "$n" >"$TMP/drv.log" 2>&1 ||
				{ DRV_ERR="backend add $n: $(tail -1 "$TMP/drv.log")"; return 1; }
		done
	done
	# A real connection must go through before anything is measured.
	if ! wait_until 5 in_ns "$NS_C" bash -c "exec 3<>/dev/tcp/$VIP/80; printf 'GET / HTTP/1.1\r\n\r\n' >&3; timeout 2 head -c 10 <&3 | grep -q HTTP"; then
		DRV_ERR="no TCP connection through $VIP:80 (drover $mode does not forward in this build)"
		return 1
	fi
}
drover_down() {
	drv detach ethn >/dev/null 2>&1 || true
	drv detach ethc >/dev/null 2>&1 || true
	if mountpoint -q "$BPFFS"; then umount "$BPFFS" || true; fi
	rm -rf "$BPFFS"
}
drover_nat_up() { drover_up_mode nat; }
drover_nat_down() { drover_down; }
drover_dsr_up() { drover_up_mode dsr; }
drover_dsr_down() { drover_down; }

# --- figures

# flood ROUND PEER CPU SUFFIX NOTE [SYNFLOOD OPTION]: SYNs delivered to the
# nodes per second, and the CPU spent per delivered SYN on the generator's CPU:
# the generator's own time (softirq work run in its context is charged to it)
# plus that CPU's ksoftirqd (work deferred there). Recorded as syn_pps$SUFFIX,
# syn_sent_pps$SUFFIX and cpu_ns_per_pkt$SUFFIX. Kernel balancers see -x
# frames through a pass-through XDP program on ethc (what a NIC driver does
# with a frame no XDP program claims: make it an skb for the stack).
flood() {
	local r=$1 peer=$2 cpu=$3 sfx=$4 note=$5 out sent secs del k0 k1 gcpu hz
	hz=$(getconf CLK_TCK)
	shift 5
	flood_reset
	k0=$(ksoftirqd_ticks "$cpu")
	out=$(in_ns "$NS_C" taskset -c "$cpu" "$BIN/synflood" -i eth0 -M "$LB_MAC" -S 10.77.1.50 \
		-D "$TARGET_IP" -p 9 -d "$SECS" "$@") || { say "$peer: synflood $* failed"; return 0; }
	k1=$(ksoftirqd_ticks "$cpu")
	secs=$(kv seconds <<<"$out")
	sent=$(kv sent <<<"$out")
	gcpu=$(kv cpu_s <<<"$out")
	wait_until 5 flood_settled
	del=$(flood_count)
	rec "$r" "$peer" "syn_pps$sfx" "$(calc "$del / $secs")" "$note"
	rec "$r" "$peer" "syn_sent_pps$sfx" "$(calc "$sent / $secs")" "$note"
	[ "$del" -gt 0 ] && rec "$r" "$peer" "cpu_ns_per_pkt$sfx" \
		"$(calc "($gcpu + ($k1 - $k0) / $hz) * 1e9 / $del")" "$note"
	drover_diag "$r" "$peer" "flood$sfx"
}

# measure_peer ROUND PEER CPU
measure_peer() {
	local r=$1 peer=$2 cpu=$3 out b0 b1 idle note=""
	# Is something else keeping the machine busy? (one idle half-second)
	b0=$(cpu_jiffies); sleep 0.5; b1=$(cpu_jiffies)
	idle=$(awk -v a="$b0" -v b="$b1" -v n="$(nproc)" 'BEGIN { split(a, x); split(b, y);
		t = y[2] - x[2]; printf "%d", (t > 0 ? (y[1] - x[1]) * 100 * n / t : 0) }')
	[ "$idle" -gt 20 ] && note="busy:${idle}%" # percent of one CPU used by others

	if [ "$peer" != haproxy ]; then
		# 1. SYN flood at full speed, sent through a socket,
		flood "$r" "$peer" "$cpu" "" "$note"
		# then as XDP frames, where the kernel runs live frames (LIVE_NOTE)
		case ${LIVE_NOTE:+refused}:$peer in
		refused:*) ;;
		*:drover_* | *:nftnat_xdp) flood "$r" "$peer" "$cpu" _xdp "$note" -x ;;
		*)
			if ip -n "$NS_L" link set dev ethc xdpdrv obj "$XDP_PASS_OBJ" sec xdp; then
				flood "$r" "$peer" "$cpu" _xdp "$note" -x
				# Left attached, it would tax this row's TCP figures and block drover's attach.
				ip -n "$NS_L" link set dev ethc xdpdrv off || die "cannot detach xdp_pass from ethc"
			else
				say "$peer: cannot attach xdp_pass to ethc: no XDP-frames flood for this row"
			fi
			;;
		esac
	fi
	# 2. Connection rate: connect, one request, close.
	out=$(in_ns "$NS_C" taskset -c "$cpu" "$BIN/tcpclient" conn -t "$TARGET_IP:80" -c 64 \
		-d "$SECS" -w 0.5 -s 10.77.1.2 -s 10.77.1.3 -s 10.77.1.4 -s 10.77.1.5) || true
	rec "$r" "$peer" conn_rate "$(kv rate <<<"$out")" "$note"
	rec "$r" "$peer" conn_errors "$(kv errors <<<"$out")" "$note"
	rec "$r" "$peer" conn_timeouts "$(kv timeouts <<<"$out")" "$note"
	# 3. Keep-alive requests: rate and round-trip latency.
	out=$(in_ns "$NS_C" taskset -c "$cpu" "$BIN/tcpclient" ka -t "$TARGET_IP:80" -c 16 \
		-d "$SECS" -w 0.3) || true
	rec "$r" "$peer" ka_rate "$(kv rate <<<"$out")" "$note"
	rec "$r" "$peer" ka_p50_us "$(kv p50_us <<<"$out")" "$note"
	rec "$r" "$peer" ka_p99_us "$(kv p99_us <<<"$out")" "$note"
	rec "$r" "$peer" ka_errors "$(kv errors <<<"$out")" "$note"
	rec "$r" "$peer" ka_timeouts "$(kv timeouts <<<"$out")" "$note"
	drover_diag "$r" "$peer" tcp
}

# CPU ticks (user + system) of ksoftirqd/CPU (its PID is looked up once).
declare -A KSOFTIRQD
ksoftirqd_ticks() {
	local f c st
	if [ -z "${KSOFTIRQD[$1]:-}" ]; then
		for f in /proc/[0-9]*/comm; do
			read -r c <"$f" 2>/dev/null || continue
			if [ "$c" = "ksoftirqd/$1" ]; then
				f=${f%/comm}
				KSOFTIRQD[$1]=${f#/proc/}
				break
			fi
		done
	fi
	if [ -n "${KSOFTIRQD[$1]:-}" ] && read -r st <"/proc/${KSOFTIRQD[$1]}/stat"; then
		st=${st##*) } # fields after "(comm) ": state is field 3, utime 14, stime 15
		set -- $st
		echo $((${12} + ${13}))
	else
		echo 0
	fi
}

# kv KEY <<<"$out": the value of KEY= in a generator's key=value output.
kv() {
	local k v
	while IFS== read -r k v; do
		if [ "$k" = "$1" ]; then
			echo "$v"
			return
		fi
	done
}

# The node counters stop moving once the flood has drained.
flood_settled() {
	local a b
	a=$(flood_count)
	sleep 0.2
	b=$(flood_count)
	[ "$a" = "$b" ]
}

# For drover peers: non-zero drop and event counters after a phase, as a note.
drover_diag() { # ROUND PEER PHASE
	case $2 in drover_*) ;; *) return 0 ;; esac
	local d
	d=$(drv stats 2>/dev/null | awk '$1 ~ /^(drop_|xdp_aborted|xdp_drop|fib_pass|rehash)/ && $3 > 0 {printf "%s%s=%s", sep, $1, $3; sep=","}')
	drv stats >"$TMP/stats-$2-$1-$3.txt" 2>&1 || true
	[ -n "$d" ] && rec "$1" "$2" "diag_$3" "$d"
	return 0
}

# Per-packet cost in its own namespace: routes and permanent neighbours for
# the 10.88/16 addresses drover-bench-pkt uses, so FIB lookups resolve.
pkt_cost() {
	local ns=${P}pp cpu out
	"$TOP/bench/pkt-ns.sh" "$ns"
	for cpu in 0 1; do
		say "per-packet cost on CPU $cpu"
		if out=$(in_ns "$ns" "$BIN/pktcost" -i pp0 -c "$cpu" -r 1000000 -R 2 2>"$TMP/pkt.err"); then :; else
			say "drover-bench-pkt reported failures: $(tr '\n' ' ' <"$TMP/pkt.err")"
		fi
		while IFS== read -r k v; do
			case $k in *_ns | *_insns | *_bytes) rec "cpu$cpu" pkt "$k" "$v" ;; esac
		done <<<"$out"
		if [ -s "$TMP/pkt.err" ]; then rec "cpu$cpu" pkt errors "$(tr '\n' ' ' <"$TMP/pkt.err" | tr ' ' '_')"; fi
	done
}

ipvs_note() {
	if command -v ipvsadm >/dev/null && ipvsadm -Ln >/dev/null 2>&1; then
		echo "ipvsadm works here but IPVS rows are not implemented yet"
	elif [ -d /proc/sys/net/ipv4/vs ] || grep -q '^ip_vs ' /proc/modules 2>/dev/null; then
		echo "IPVS is in the kernel but ipvsadm is missing: no IPVS rows"
	else
		echo "no IPVS rows: this kernel has no IPVS (CONFIG_IP_VS unset, no ip_vs module)"
	fi
}

say "lab $P: client, balancer, switch, three nodes"
lab_up
pkt_cost

# The XDP-frames floods need BPF_PROG_RUN's live frames: one frame, once.
LIVE_NOTE=""
if ! in_ns "$NS_C" "$BIN/synflood" -i eth0 -M "$LB_MAC" -S 10.77.1.50 -D "$VIP" -p 9 \
	-n 1 -d 5 -x >/dev/null 2>"$TMP/live.err"; then
	LIVE_NOTE="no XDP-frames rows: this kernel refuses XDP live frames ($(tail -1 "$TMP/live.err" | sed 's/.*: //'))"
	say "$LIVE_NOTE"
fi

declare -A AVAILABLE
for ((round = 1; round <= ROUNDS; round++)); do
	cpu=$(((round - 1) % 2))
	for peer in $PEERS; do
		if [ "$(left)" -lt 30 ]; then
			say "time budget used up: skipping $peer in round $round"
			rec "$round" "$peer" skipped time_budget
			continue
		fi
		[ "${AVAILABLE[$peer]:-1}" = 0 ] && continue
		ok=0
		for try in 1 2; do
			DRV_ERR=""
			if "${peer}_up"; then
				ok=1
				break
			fi
			"${peer}_down" >/dev/null 2>&1 || true
			# once more: another engineer's build may be replacing .output/drover
			[ "$try" = 1 ] && say "$peer: setup failed ($DRV_ERR); trying once more" && sleep 2
		done
		if [ "$ok" = 0 ]; then
			say "$peer: not measured: $DRV_ERR"
			rec "$round" "$peer" unavailable "$(tr ' ' '_' <<<"${DRV_ERR:-setup failed}")"
			AVAILABLE[$peer]=0
			continue
		fi
		say "round $round (generators on CPU $cpu): $peer"
		measure_peer "$round" "$peer" "$cpu" || say "$peer: a measurement failed"
		"${peer}_down"
	done
done

say "writing $RESULTS"
if [ -n "${BENCH_RAW:-}" ]; then cp "$RAW" "$BENCH_RAW" || say "cannot write the raw samples to $BENCH_RAW"; fi
python3 "$TOP/bench/report.py" "$RAW" "$RESULTS" \
	--machine "$(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(free -g | awk '/Mem:/{print $2}') GiB" \
	--kernel "$(uname -r)" --command "$CMDLINE" --ipvs "$(ipvs_note)" --live "$LIVE_NOTE" \
	--date "$(date -u '+%Y-%m-%d %H:%M UTC')" --seconds "$(( $(date +%s) - START ))" \
	--paced 0
cat "$RESULTS"
