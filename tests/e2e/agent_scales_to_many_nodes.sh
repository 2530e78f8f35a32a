#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The agent at production scale: hundreds of nodes per service, thousands of
# backends. One node namespace holds every node address (on its lo) and ONE
# TCP server on 0.0.0.0:80 answers for all of them ("node ADDR", the address
# the connection reached), so the agent health-checks that many distinct
# addresses cheaply. The test asserts what must hold (READY reached, every
# node passing its first check and up, each reload in the maps, configs over
# the limits refused with FILE:LINE:COL and the running state kept, real TCP
# through two VIPs reaching their own service's nodes) and prints what it
# costs: start-up to READY, to every node's first pass and to all up for 16,
# 256 and 1,024 nodes (4 services of 256) and a config at the limits (64
# services of 64 nodes less 8: 64 VIP:port pairs, 4,088 backends); the
# agent's steady CPU (user and system) with checks every 1 s and its RSS; a
# reload changing one weight, adding a node, removing one at 1,024 (wall time
# until the maps show it, and the agent's CPU); how long /metrics, `drover
# stats`, `drover backend show`, `drover lookup` and `drover service show`
# take; at 4,088 backends, a reload alone and during two clients' back-to-back
# scrapes, how long each render took and held the agent's lock, and how long
# the main loop waited for it (the agent's -v lines). No timing is asserted.
# About 60 s on the busy 2-core machine.
#
#   client ns: c0 10.82.0.2/24 ---- c1 10.82.0.1/24  balancer ns (the agent on c1, la)
#   node ns:   n0 10.80.0.2/24 ---- la 10.80.0.1/24  snat 10.80.9.1 on lo
#              node addresses 10.80.64.1 ... on lo, routed by the balancer via 10.80.0.2
set -eu
. "$(dirname "$0")/lib.sh"
T_START=$(now_us)
require_root
require_cmds jq curl ss
[ -f "$E2E_TOP/.output/xdp_pass.bpf.o" ] || fail ".output/xdp_pass.bpf.o not built: run make"
mount_bpffs
PYTHON=${PYTHON:-$(if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else echo python3; fi)}
HZ=$(getconf CLK_TCK)

CNS=$(ns_add cl) LNS=$(ns_add lb) NNS=$(ns_add nd)
veth_up "$CNS" c0 "$LNS" c1
veth_up "$LNS" la "$NNS" n0
SNAT=10.80.9.1 VIP=10.99.0.10
ip -n "$CNS" addr add 10.82.0.2/24 dev c0
ip -n "$CNS" route add 10.99.0.0/24 via 10.82.0.1
ip -n "$LNS" addr add 10.82.0.1/24 dev c1
ip -n "$LNS" addr add 10.80.0.1/24 dev la
ip -n "$LNS" addr add "$SNAT/32" dev lo
ip -n "$LNS" route add 10.80.64.0/18 via 10.80.0.2
ip -n "$NNS" addr add 10.80.0.2/24 dev n0
ip -n "$NNS" route add default via 10.80.0.1
ip netns exec "$LNS" sysctl -qw net.ipv4.ip_forward=1
# drover forwards with XDP_REDIRECT: a veth delivers such frames only when its
# peer runs XDP too; receivers of rewritten packets must not rely on offload.
for x in "$CNS:c0" "$NNS:n0"; do
	ns=${x%:*} dev=${x#*:}
	ip -n "$ns" link set dev "$dev" xdpdrv obj "$E2E_TOP/.output/xdp_pass.bpf.o" sec xdp ||
		fail "cannot attach xdp_pass to $ns/$dev"
	ip netns exec "$ns" ethtool -K "$dev" tx off >/dev/null 2>&1 || true
done

# node I (0-based) → its address: 250 a /24, from 10.80.64.1 (written out in loops: no fork)
naddr() { echo "10.80.$((64 + $1 / 250)).$((1 + $1 % 250))"; }
MAXN=4096
for ((i = 0; i < MAXN; i++)); do echo "addr add 10.80.$((64 + i / 250)).$((1 + i % 250))/32 dev lo"; done | ip -n "$NNS" -batch - ||
	fail "could not add $MAXN addresses in $NNS"
mac() { ip -n "$1" -j link show "$2" | jq -r '.[0].address'; }
ip -n "$LNS" neigh replace 10.82.0.2 lladdr "$(mac "$CNS" c0)" dev c1 nud permanent
ip -n "$LNS" neigh replace 10.80.0.2 lladdr "$(mac "$NNS" n0)" dev la nud permanent

# The one server of every node: accept, say which address it was reached at, close.
bg "$NNS" "$PYTHON" -c '
import selectors, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(4096)
while True:
    c, _ = s.accept()
    try:
        c.send(b"node %s\n" % c.getsockname()[0].encode())
    except OSError:
        pass
    c.close()'
wait_for 20 sh -c "ip netns exec $NNS ss -Htln 'sport = :80' | grep -q ." || fail "the node server does not listen"

CFG=$E2E_TMP/drover.yaml LOG=$E2E_TMP/agent.log
# write_cfg FILE SERVICES PORTS NODES [EXTRA]: SERVICES services (VIPs 10.99.0.10 + k),
# each on PORTS ports (80 and up) with NODES nodes, node addresses distinct across
# services. EXTRA: weight:I:W (node I's weight), add (one more node in service 0),
# del (node 0 of service 0 gone).
write_cfg() {
	local f=$1 ns=$2 np=$3 nn=$4 extra=${5:-} k i ports p idx w
	ports=80
	for ((p = 1; p < np; p++)); do ports="$ports, $((80 + p))"; done
	{
		cat <<EOF
interfaces: [c1, la]
metrics: {listen: 127.0.0.1:9469}
defaults:
  snat: $SNAT
  health: {kind: tcp, port: 80, interval: 1s, timeout: 800ms, rise: 1, fall: 2, jitter: 10, leave-after: 0}
services:
EOF
		for ((k = 0; k < ns; k++)); do
			printf '  - name: s%d\n    vip: 10.99.0.%d\n    ports: [%s]\n    nodes:\n' \
				"$k" $((10 + k)) "$ports"
			for ((i = 0; i < nn; i++)); do
				idx=$((k * nn + i))
				if [ "$extra" = del ] && [ $idx = 0 ]; then continue; fi
				w=1
				if [ "$extra" = "weight:$idx:${extra##*:}" ]; then w=${extra##*:}; fi
				echo "      - {address: 10.80.$((64 + idx / 250)).$((1 + idx % 250)), name: n$idx, weight: $w}"
			done
			if [ "$extra" = add ] && [ $k = 0 ]; then
				i=$((ns * nn))
				echo "      - {address: 10.80.$((64 + i / 250)).$((1 + i % 250)), name: n$i}"
			fi
		done
	} >"$f"
}

AGENT=
metrics() { ip netns exec "$LNS" curl -fsS --max-time 10 "http://127.0.0.1:9469$1"; }
drv() { ip netns exec "$LNS" "$DROVER" --bpffs "$BPFFS" "$@"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$AGENT/stat"; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$AGENT/status"; }
ms_since() { echo $((($(now_us) - $1) / 1000)); }
# n_up, n_be: backends in state up, and in any state, as /metrics reports them.
n_up() { metrics /metrics 2>/dev/null | grep -c '^drover_backend_state{.*state="up"} 1$'; }
n_be() { metrics /metrics 2>/dev/null | grep -c '^drover_backend_state{.*} 1$'; }
up_is() { [ "$(n_up)" = "$1" ]; }
nlines() { grep -c -- "$1" "$LOG" || true; }

# n_passed: nodes that passed a check, as /metrics counts them.
n_passed() { metrics /metrics 2>/dev/null | grep -c '^drover_node_checks_total{.*result="pass"} [1-9]'; }
passed_is() { [ "$(n_passed)" = "$1" ]; }

# start_agent LABEL BACKENDS NODES: start it on $CFG, print the time to READY, to every
# node passing its first check, and to every backend up. (Settles that ended before
# every node had a verdict, on a machine too busy, are counted in the log.)
start_agent() {
	local t0 ready all settled
	: >"$LOG"
	t0=$(now_us)
	# -v: the agent says how long each /metrics render held its lock, and how
	# long its main loop waited for it (render_cost)
	ip netns exec "$LNS" "$DROVER" -v --bpffs "$BPFFS" run config "$CFG" >>"$LOG" 2>&1 &
	AGENT=$!
	E2E_PIDS+=("$AGENT")
	wait_for 60 sh -c "ip netns exec $LNS curl -fsS --max-time 5 http://127.0.0.1:9469/readyz | grep -qx ready" ||
		fail "$1: agent not ready in 60 s: $(tail -5 "$LOG")"
	ready=$(ms_since "$t0")
	wait_for 60 passed_is "$3" || fail "$1: $(n_passed) of $3 nodes passed a check in 60 s: $(tail -5 "$LOG")"
	settled=$(ms_since "$t0")
	wait_for 60 up_is "$2" || fail "$1: $(n_up) of $2 backends up after 60 s: $(tail -5 "$LOG")"
	all=$(ms_since "$t0")
	log "$1: READY after $ready ms, every node passed a check after $settled ms, all $2 backends up after $all ms (CPU $(($(cpu_ticks) * 1000 / HZ)) ms, RSS $(rss_kb) kB; settles cut short: $(nlines 'start-up settle over after'))"
}
# stop_agent: SIGTERM, then drover off both interfaces and its maps gone, for a cold next start.
stop_agent() {
	kill -TERM "$AGENT"
	wait_for 30 sh -c "! kill -0 $AGENT 2>/dev/null" || fail "the agent did not exit within 30 s of SIGTERM"
	wait "$AGENT" || fail "the agent exited $? on SIGTERM: $(tail -5 "$LOG")"
	drv detach c1 >/dev/null || fail "drover detach c1 failed"
	drv detach la >/dev/null || fail "drover detach la failed"
}

# reload_timed LABEL [CMD...]: put $CFG.new in place and SIGHUP (the file poll may see it
# first: either reload applies it), wait for the verdict and, for a good config, until
# CMD succeeds (the change is in the maps); print the wall time and the agent's CPU
# meanwhile (its checks' share included). Sets RELOAD_OK.
reload_timed() {
	local l=$1 ok bad t0 c0
	shift
	ok=$(nlines "reload (.*) ok") bad=$(nlines "reload (.*) failed")
	c0=$(cpu_ticks) t0=$(now_us)
	mv -f "$CFG.new" "$CFG"
	kill -HUP "$AGENT"
	wait_for 60 sh -c "[ \$(grep -c 'reload (.*) ok' '$LOG') -gt $ok ] || [ \$(grep -c 'reload (.*) failed' '$LOG') -gt $bad ]" ||
		fail "$l: no verdict on the reload within 60 s: $(tail -5 "$LOG")"
	RELOAD_OK=$(($(nlines "reload (.*) ok") > ok))
	if [ $RELOAD_OK = 1 ] && [ $# -gt 0 ]; then
		wait_for 60 "$@" || fail "$l: reload applied, but its change is not in the maps after 60 s: $(tail -5 "$LOG")"
	fi
	log "$l: reload $([ $RELOAD_OK = 1 ] && echo applied || echo refused) in $(ms_since "$t0") ms (agent CPU $((($(cpu_ticks) - c0) * 1000 / HZ)) ms)"
}

# steady LABEL: the agent's CPU over 5 s of checks (user and system: a round's own work
# is user time, the checks' sockets system time), and its RSS.
steady() {
	local u0 s0 t0 end ms
	read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$AGENT/stat")
	t0=$(now_us)
	end=$(($(now_us) + 5000000))
	while [ "$(now_us)" -lt $end ]; do sleep 0.5; done
	read -r u s < <(awk '{ print $14, $15 }' "/proc/$AGENT/stat")
	ms=$(ms_since "$t0")
	log "$1: agent CPU $(((u + s - u0 - s0) * 100000 / HZ / ms))% of one core (user $(((u - u0) * 100000 / HZ / ms))%, system $(((s - s0) * 100000 / HZ / ms))%) over $ms ms, RSS $(rss_kb) kB"
}

# timed LABEL CMD...: run CMD (output to $E2E_TMP/out), print its wall time and output size.
timed() {
	local l=$1 t0
	shift
	t0=$(now_us)
	"$@" >"$E2E_TMP/out" || fail "$l failed: $(head -3 "$E2E_TMP/out")"
	log "$l: $(ms_since "$t0") ms, $(wc -l <"$E2E_TMP/out") lines"
}

# render_cost LABEL FROM: from line FROM of the log on, the /metrics renders (wall time,
# and the part holding the agent's lock) and how late they made the main loop.
render_cost() {
	tail -n "+$2" "$LOG" | awk -v l="$1" '
		/metrics: \/metrics rendered/ {
			match($0, /in [0-9.]+ ms, [0-9.]+ ms of them/); split(substr($0, RSTART, RLENGTH), a, " ");
			n++; ts += a[2]; ls += a[4]; if (n == 1 || a[2] + 0 < tmin) tmin = a[2] + 0; if (a[2] + 0 > tm) tm = a[2] + 0; if (a[4] + 0 > lm) lm = a[4] + 0 }
		/the main loop waited/ { match($0, /waited [0-9.]+ ms/); split(substr($0, RSTART, RLENGTH), a, " ");
			w++; ws += a[2]; if (a[2] + 0 > wm) wm = a[2] + 0 }
		END { printf "%s: %d renders, %.1f ms each on average (min %.1f, max %.1f), holding the lock %.1f ms on average (max %.1f); the main loop waited for it %d times, %.1f ms in all, %.1f ms at most\n",
			l, n, n ? ts / n : 0, tmin, tm, n ? ls / n : 0, lm, w, ws, wm }'
}
# storm_start N: two clients (two Prometheus replicas, back to back) scrape /metrics N
# times each; storm_wait waits for them and prints their answers' status codes.
STORM=()
storm_start() {
	local k
	for k in 1 2; do
		(for ((j = 0; j < $1; j++)); do
			ip netns exec "$LNS" curl -sS --max-time 10 -o /dev/null -w '%{http_code}\n' http://127.0.0.1:9469/metrics || true
		done >"$E2E_TMP/storm.$k") &
		STORM+=($!)
		E2E_PIDS+=($!)
	done
}
storm_wait() {
	wait "${STORM[@]}"
	STORM=()
	log "scrape storm: $(cat "$E2E_TMP"/storm.* | sort | uniq -c | awk '{ printf "%s%s x %s", s, $1, $2; s = ", " }')"
}

log "set up in $(( ($(now_us) - T_START) / 1000 )) ms"
# ---- start-up at 16, 256, and the limits (64 services of 64 nodes, less 8: 4,088 backends)
write_cfg "$CFG" 1 1 16
start_agent "16 nodes" 16 16
stop_agent
write_cfg "$CFG" 1 1 256
start_agent "256 nodes" 256 256
steady "steady state at 256 nodes, checks every 1 s"
stop_agent
write_cfg "$CFG" 64 1 64
sed -i '/name: n40\(8[89]\|9[0-5]\),/d' "$CFG" # 63 x 64 + 56 = 4,088 backends
start_agent "limits: 64 services, 4,088 nodes" 4088 4088
steady "steady state at 4,088 nodes, checks every 1 s"
timed "/metrics with 4,088 backends" metrics /metrics
# The cost of scrapes to the rest of the agent: a reload (one weight) alone, then
# during two clients' back-to-back scrapes; the renders and the main loop's waits.
weight_is() { # ADDR W
	[ "$(drv -j backend show $VIP port 80 | jq -r --arg a "$1" '[.. | objects | select(.address? == $a) | .weight] | first')" = "$2" ]
}
limits_cfg() { write_cfg "$1" 64 1 64 "${2:-}"; sed -i '/name: n40\(8[89]\|9[0-5]\),/d' "$1"; }
from=$(($(wc -l <"$LOG") + 1))
limits_cfg "$CFG.new" weight:7:5
reload_timed "4,088 backends, no scrape: weight of one node 1 → 5" weight_is "$(naddr 7)" 5
[ $RELOAD_OK = 1 ] || fail "the weight change was refused: $(tail -3 "$LOG")"
render_cost "4,088 backends, no scrape" "$from" | while read -r l; do log "$l"; done
from=$(($(wc -l <"$LOG") + 1))
storm_start 12
# a reload once the storm runs (its first render logged)
wait_for 30 sh -c "tail -n +$from '$LOG' | grep -q 'metrics: /metrics rendered'" || fail "no /metrics render within 30 s of the storm's start"
limits_cfg "$CFG.new"
reload_timed "4,088 backends, two clients scraping: weight of one node 5 → 1" weight_is "$(naddr 7)" 1
[ $RELOAD_OK = 1 ] || fail "the weight change was refused: $(tail -3 "$LOG")"
storm_wait
render_cost "4,088 backends, two clients scraping" "$from" | while read -r l; do log "$l"; done
stop_agent

# ---- 1024 nodes: four services of 256
N=1024 PER=256
write_cfg "$CFG" 4 1 $PER
start_agent "$N nodes" $N $N

log "$(( ($(now_us) - T_START) / 1000 )) ms since the start of the test"
log "--- real TCP through both VIPs reaches configured nodes"
ip netns exec "$CNS" "$PYTHON" - "$E2E_TMP/reached" <<'EOF' || fail "connections through the VIPs failed: $(cat "$E2E_TMP/reached")"
import socket, sys, time
out = open(sys.argv[1], "w")
for vip in ("10.99.0.10", "10.99.0.11"):
    for i in range(40):
        c = socket.create_connection((vip, 80), timeout=5)
        c.settimeout(5)
        data = b""
        while not data.endswith(b"\n"):
            d = c.recv(64)
            if not d:
                break
            data += d
        c.close()
        out.write("%s %s\n" % (vip, data.decode().split()[1]))
EOF
# node I is service I / PER's, whose VIP is 10.99.0.(10 + I / PER)
awk -v per=$PER '{ split($1, v, "."); split($2, a, "."); i = (a[3] - 64) * 250 + a[4] - 1; s = v[4] - 10;
	if (a[1] != 10 || a[2] != 80 || i < s * per || i >= (s + 1) * per) { print "bad: " $0; exit 1 } }' \
	"$E2E_TMP/reached" || fail "a connection reached no node of its VIP's service: $(grep -v '^$' "$E2E_TMP/reached" | head -3)"
log "80 connections through 2 VIPs reached $(awk '{print $2}' "$E2E_TMP/reached" | sort -u | wc -l) distinct nodes"

steady "steady state at $N nodes, checks every 1 s"

log "--- read paths with $N backends"
timed "/metrics" metrics /metrics
[ "$(grep -c '^drover_backend_state{.*} 1$' "$E2E_TMP/out")" = $N ] ||
	fail "/metrics does not show $N backends in a state"
timed "drover stats" drv stats
timed "drover -j stats" drv -j stats
timed "drover backend show ($PER backends)" drv backend show $VIP port 80
timed "drover -j backend show ($PER backends)" drv -j backend show $VIP port 80
timed "drover lookup" drv lookup $VIP port 80 from 10.82.0.2 port 40000
timed "drover service show" drv service show

log "--- reloads at $N nodes"
be_is() { [ "$(n_be)" = "$1" ]; }
write_cfg "$CFG.new" 4 1 $PER weight:7:5
reload_timed "weight of one node 1 → 5" weight_is "$(naddr 7)" 5
[ $RELOAD_OK = 1 ] || fail "the weight change was refused: $(tail -3 "$LOG")"
write_cfg "$CFG.new" 4 1 $PER add
reload_timed "one node added" up_is $((N + 1))
[ $RELOAD_OK = 1 ] || fail "adding a node was refused: $(tail -3 "$LOG")"
write_cfg "$CFG.new" 4 1 $PER del
reload_timed "one node removed" be_is $((N - 1))
[ $RELOAD_OK = 1 ] || fail "removing a node was refused: $(tail -3 "$LOG")"
write_cfg "$CFG.new" 4 1 $PER
reload_timed "back to $N" up_is $N
[ $RELOAD_OK = 1 ] || fail "going back to $N nodes was refused"

log "--- configs over the limits are refused with FILE:LINE, the running state kept"
GOOD=$E2E_TMP/good.yaml
cp "$CFG" "$GOOD"
# backends: every backend of the two services, with its weight.
backends() {
	for v in 10.99.0.10 10.99.0.11 10.99.0.12 10.99.0.13; do
		drv -j backend show $v port 80 | jq -c '[.. | objects | select(.address?) | {address, port, weight}] | sort'
	done
}
before=$(backends)
# refused WHAT REGEX: reload $CFG, which must be refused with a line matching REGEX
refused() {
	reload_timed "$1"
	[ $RELOAD_OK = 0 ] || fail "$1: the config was applied"
	grep "reload (.*) failed" "$LOG" | tail -1 | grep -Eq "running configuration kept: $CFG:[0-9]+:[0-9]+: $2" ||
		fail "$1: not refused as expected: $(grep 'reload (.*) failed' "$LOG" | tail -1)"
	log "$1: $(grep 'reload (.*) failed' "$LOG" | tail -1 | sed 's/.*running configuration kept: //')"
}
write_cfg "$CFG.new" 8 8 64 # 8 x 8 x 64 = 4,096 backends: one over
refused "4,096 backends" "too many backends"
write_cfg "$CFG.new" 9 8 8 # 72 VIP:port pairs
refused "72 VIP:port pairs" "too many VIP:port pairs"
write_cfg "$CFG.new" 1 1 513
refused "513 nodes in one service" "service 's0' has 513 nodes"
write_cfg "$CFG.new" 1 1 512
sed -i 's/^    ports: \[80\]/    ports: [80]\n    table-size: 509/' "$CFG.new"
refused "table-size 509 for 512 nodes" "'table-size' 509 is smaller than the 512 nodes"
write_cfg "$CFG.new" 1 1 512
sed -i 's/weight: 1}/weight: 65535}/' "$CFG.new"
reload_timed "512 nodes of weight 65535 (a weight sum of 33,553,920)" up_is 512
[ $RELOAD_OK = 1 ] || fail "512 nodes of weight 65535 refused: $(grep 'reload (.*) failed' "$LOG" | tail -1)"
cp "$GOOD" "$CFG.new"
reload_timed "back to $N" up_is $N
[ $RELOAD_OK = 1 ] || fail "going back to $N nodes was refused"
after=$(backends)
[ "$before" = "$after" ] || fail "the backends changed across the refused reloads"
metrics /readyz | grep -qx ready || fail "not ready after the refused reloads"

stop_agent
log "PASS"
