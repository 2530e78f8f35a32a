# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Helpers for tests/e2e/lab_*.sh and e2e_*.sh, sourced after tests/e2e/lib.sh:
# a scripts/lab.sh lab named after the test, drover in the balancer namespace
# with the test's private bpffs, the agent, and lbtool.py clients.

LAB=$E2E_TOP/scripts/lab.sh
LBTOOL=$E2E_TOP/tests/tools/lbtool.py
PYTHON=${PYTHON:-$(if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else echo python3; fi)}

# lab_start: build-free; the lab is removed on exit, also on failure.
lab_start() {
	require_root
	command -v nginx >/dev/null || skip "nginx missing: run scripts/install-deps.sh"
	[ -f "$E2E_TOP/.output/xdp_pass.bpf.o" ] || fail ".output/xdp_pass.bpf.o not built: run make"
	export LAB_PREFIX=$T LAB_DIR=$E2E_TMP/lab LAB_QUIET=1
	on_exit "$LAB down"
	"$LAB" up || fail "scripts/lab.sh up failed"
	# shellcheck disable=SC1091
	. "$LAB_DIR/lab.env"
	# On failure, show the state before the lab goes ($rc is cleanup()'s local).
	on_exit '[ "${rc:-0}" -eq 0 ] || lab_debug_dump'
}

lab_debug_dump() {
	echo "----- [$T] state at failure: drover stats (non-zero), services, agent log tail" >&2
	drv stats 2>&1 | grep -v "packets 0 bytes 0$" | head -60 >&2 || true
	drv service show 2>&1 | head -20 >&2 || true
	[ ! -s "${AGENT_LOG:-/nonexistent}" ] || tail -30 "$AGENT_LOG" >&2
	echo "----- [$T] end of state" >&2
}

# node4 N, node6 N, nsn N: node N's IPv4 address, IPv6 address and network
# namespace (N = 1..3).
node4() { echo $LAB_NODES4 | cut -d' ' -f"$1"; }
node6() { echo $LAB_NODES6 | cut -d' ' -f"$1"; }
nsn() { eval echo "\$LAB_NS_N$1"; }

NODE_PY=$E2E_TOP/tests/tools/agent_node.py

# http_nodes_start PORT: a tests/tools/agent_node.py HTTP server on each node's
# address, named nN and following $E2E_TMP/httpN.mode (200 at the start);
# returns once all three listen.
http_nodes_start() { http_nodes_start_on "$1" node4; }

# http_nodes_start_on PORT ADDRFN: http_nodes_start on another address: node N
# listens on the address `ADDRFN N` prints (node6: its IPv6 address, where
# agent_node.py listens on IPv6; a function printing a VIP the nodes hold: dsr).
# Several such servers may share PORT, one per address.
http_nodes_start_on() {
	local port=$1 fn=$2 n
	for n in 1 2 3; do
		[ -f "$E2E_TMP/http$n.mode" ] || echo 200 >"$E2E_TMP/http$n.mode"
		bg "$(nsn $n)" python3 "$NODE_PY" --addr "$("$fn" $n)" --port "$port" --name "n$n" \
			--mode-file "$E2E_TMP/http$n.mode"
	done
	for n in 1 2 3; do
		wait_for 20 http_node_listens "$n" "$("$fn" $n)" "$port" ||
			fail "agent_node.py did not listen on n$n at $("$fn" $n) port $port"
	done
}

# http_node_listens N ADDR PORT: node N has a listener on exactly ADDR:PORT.
http_node_listens() { listens "$(nsn "$1")" "$2" "$3"; }

# listens NS ADDR PORT: namespace NS has a TCP listener on exactly ADDR:PORT.
listens() {
	local a=$2
	case $a in *:*) a="[$a]" ;; esac
	ip netns exec "$1" ss -Htln "sport = :$3" | awk '{print $4}' | grep -qxF "$a:$3"
}

# drv ARGS...: drover in the balancer namespace on this test's bpffs.
drv() { ip netns exec "$LAB_NS_LB" "$DROVER" --bpffs "$BPFFS" "$@"; }

# attach_lb: drover on both balancer interfaces (two-arm NAT).
attach_lb() {
	local i
	for i in $LAB_LB_IFACES; do
		drv attach "$i" || fail "drover attach $i in $LAB_NS_LB failed"
	done
}

# lab_dsr_nodes: make the lab's nodes able to serve dsr services: each holds
# the VIPs (drover node-setup) and routes its replies to the client through
# the balancer, which forwards them as a plain router. The lab's nodes know
# only their own subnet (nat needs no more), and nothing has a route to the
# VIPs, so the balancer's reverse-path filter must not judge replies from them.
lab_dsr_nodes() {
	local ns
	for ns in "$LAB_NS_N1" "$LAB_NS_N2" "$LAB_NS_N3"; do
		ip netns exec "$ns" "$DROVER" node-setup dsr "$LAB_VIP4" "$LAB_VIP6" >/dev/null ||
			fail "node-setup dsr in $ns failed"
		ip -n "$ns" route add "$LAB_CL4" via "$LAB_SNAT4" || fail "route to the client in $ns"
		ip -n "$ns" route add "$LAB_CL6" via "$LAB_SNAT6" || fail "route6 to the client in $ns"
	done
	ip netns exec "$LAB_NS_LB" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.eth1.rp_filter=0 >/dev/null
}

# svc_cli FAMILY PORT NODE...: a nat service on the lab VIP with backends, by CLI.
svc_cli() {
	local fam=$1 port=$2 vip snat n
	shift 2
	if [ "$fam" = 4 ]; then vip=$LAB_VIP4 snat=$LAB_SNAT4; else vip=$LAB_VIP6 snat=$LAB_SNAT6; fi
	drv service add "$vip" port "$port" mode nat snat "$snat" ||
		fail "drover service add $vip port $port failed"
	for n in "$@"; do
		drv backend add "$vip" port "$port" "$n" || fail "drover backend add $vip port $port $n failed"
	done
}

# be_state VIP PORT ADDR: the backend's state as `drover backend show -j` reports it.
be_state() {
	drv -j backend show "$1" port "$2" 2>/dev/null |
		jq -r --arg a "$3" '[.. | objects | select(.address? == $a) | .state] | first // "absent"'
}

# be_state_is VIP PORT ADDR STATE: does the backend have that state now?
be_state_is() { [ "$(be_state "$1" "$2" "$3")" = "$4" ]; }

# wait_be_state SECONDS VIP PORT ADDR STATE: lib.sh's wait_for, bounded by the clock.
wait_be_state() {
	local limit=$1
	shift
	wait_for "$limit" be_state_is "$@"
}

# node_rsts PORT N...: the RSTs nodes N... sent from TCP port PORT, in all: an nft
# counter in each node's output hook, set up at the first call (it goes with the
# namespace). Only that port's: a health check's connection may end in a RST too.
node_rsts() {
	local port=$1 n ns sum=0 v
	shift
	for n in "$@"; do
		ns=$(nsn "$n")
		ip netns exec "$ns" nft list counter inet drover_test rst$port >/dev/null 2>&1 ||
			ip netns exec "$ns" nft -f - <<-EOF || fail "node $n: no nft counter of RSTs from port $port"
			table inet drover_test {
				counter rst$port { }
				chain out {
					type filter hook output priority 0; policy accept;
					tcp sport $port tcp flags & rst == rst counter name rst$port
				}
			}
			EOF
		v=$(ip netns exec "$ns" nft -j list counter inet drover_test rst$port |
			jq '.nftables[] | select(.counter) | .counter.packets')
		sum=$((sum + v))
	done
	echo "$sum"
}

# stat_packets NAME: packets of global counter NAME from `drover stats -j`.
stat_packets() {
	drv -j stats 2>/dev/null | jq -r --arg n "$1" '
		[ (.. | objects | select(.name? == $n) | .packets),
		  (.. | objects | .[$n]? | objects | .packets) ] | first // 0'
}

# Agent ----------------------------------------------------------------------------
# metric NAME LABEL-SUBSTRING: the value of the first sample of NAME whose labels
# contain LABEL-SUBSTRING, from the lab agent's /metrics (127.0.0.1:9469 in the balancer).
metric() {
	ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/metrics |
		awk -v n="$1" -v l="$2" 'index($0, n "{") == 1 && index($0, l) { print $NF; exit }'
}
# metric_is NAME LABEL-SUBSTRING VALUE: does that sample have VALUE now?
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }

AGENT_PID=
AGENT_LOG=$E2E_TMP/agent.log

# log_ms N PATTERN: the agent's timestamp (ms since the epoch) of the Nth log
# line matching PATTERN ('$': the last); fails if there is none.
log_ms() {
	local ts
	ts=$(grep -- "$2" "$AGENT_LOG" | sed -n "$1p" | cut -d' ' -f1)
	[ -n "$ts" ] || return 1
	date -d "$ts" +%s%3N
}

agent_start() { # CONFIG (fd 7 closed: the agent must not keep pin_root_lock's FIFO open)
	ip netns exec "$LAB_NS_LB" "$DROVER" --bpffs "$BPFFS" run config "$1" >>"$AGENT_LOG" 2>&1 7>&- &
	AGENT_PID=$!
	E2E_PIDS+=("$AGENT_PID")
}

# agent_stop SIGNAL: send it, wait for the exit (20 s bound).
agent_stop() {
	local i
	kill -"$1" "$AGENT_PID" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$AGENT_PID" 2>/dev/null || { { wait "$AGENT_PID"; } 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	fail "agent (pid $AGENT_PID) still running 20 s after SIG$1"
}

agent_alive() { kill -0 "$AGENT_PID" 2>/dev/null; }

# Long-lived clients (lbtool.py hold) ------------------------------------------------
# hold_start NAME ADDR PORT N [lbtool hold options]: a client fed through a FIFO;
# output in $E2E_TMP/NAME.out
hold_start() {
	local name=$1 addr=$2 port=$3 n=$4 fifo=$E2E_TMP/$1.ctl
	shift 4
	mkfifo "$fifo"
	ip netns exec "$LAB_NS_CL" "$PYTHON" "$LBTOOL" hold --addr "$addr" --port "$port" -n "$n" "$@" \
		<"$fifo" >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" &
	E2E_PIDS+=("$!")
	eval "HOLD_PID_$name=$!"
	# Keep the FIFO open for writing on a per-client fd for the client's life.
	eval "exec {HOLD_FD_$name}>\"\$fifo\""
}

hold_cmd() { # NAME CMD...
	local fd
	eval "fd=\$HOLD_FD_$1"
	shift
	echo "$*" >&"$fd"
}

# hold_sync NAME: every alive connection completes a round trip; echoes the SYNC line.
# (Often called in $(...), a subshell: the id must not depend on shell state.)
hold_sync() {
	local id
	id=$(date +%s%N)
	hold_cmd "$1" sync "$id"
	wait_for 60 grep -q "^SYNC $id " "$E2E_TMP/$1.out" ||
		fail "client $1: no answer to sync $id in 60 s; see $E2E_TMP/$1.out"
	grep "^SYNC $id " "$E2E_TMP/$1.out"
}

# hold_wait_opened NAME COUNT: wait for the COUNTth OPENED line.
hold_wait_opened() {
	wait_for 60 sh -c "[ \$(grep -c '^OPENED' '$E2E_TMP/$1.out') -ge $2 ]" ||
		fail "client $1: connections not opened in 60 s; see $E2E_TMP/$1.out $E2E_TMP/$1.err"
	grep '^OPENED' "$E2E_TMP/$1.out" | sed -n "$2p"
}

# hold_on_every_node NAME ADDR PORT N: hold_start N connections and wait until
# they are open, each of n1..n3 holding some; sets opened (the OPENED line),
# then every connection completes a round trip (logged).
hold_on_every_node() {
	local name=$1 n
	hold_start "$@"
	opened=$(hold_wait_opened "$name" 1)
	log "$name: $opened"
	for n in 1 2 3; do
		jq -e --arg n "n$n" '.[$n] > 0' <<<"${opened#*nodes=}" >/dev/null ||
			fail "no connection reached n$n ($4 connections over 3 nodes): $opened"
	done
	log "start: $(hold_sync "$name")"
}

# hold_report NAME: quit the client, print its REPORT json.
hold_report() {
	local pid
	hold_cmd "$1" quit
	eval "pid=\$HOLD_PID_$1"
	wait_for 30 grep -q '^REPORT ' "$E2E_TMP/$1.out" ||
		fail "client $1: no report; see $E2E_TMP/$1.out $E2E_TMP/$1.err"
	sed -n 's/^REPORT //p' "$E2E_TMP/$1.out"
}

# spread ADDR PORT N: lbtool spread from the client namespace (JSON on stdout).
spread() { # ADDR PORT N [lbtool spread options]
	local addr=$1 port=$2 n=$3
	shift 3
	ip netns exec "$LAB_NS_CL" "$PYTHON" "$LBTOOL" spread --addr "$addr" --port "$port" -n "$n" "$@"
}
