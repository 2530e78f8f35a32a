#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Every failure mode at once, run by the agent: a nat service on the IPv4 VIP
# and a dsr one on the IPv6 VIP (ports 7 and 80 each, nodes n1..n3, http
# checks on agent_node.py). A steady load: long-lived echo connections
# through each VIP (lbtool.py hold: a line every 0.3 s, echo checked), a few
# more opened after events, and a stream of short connections to each VIP
# (lbtool.py churn: connect, request, the answer must name a node, close).
# Meanwhile a seeded random sequence of events (CHAOS_SEED replays one; the
# seed is printed first), for CHAOS_SECONDS (30):
#   agent-kill    SIGKILL the agent, start it again (it adopts the maps)
#   add           a reload adds a node that is not in the config
#   remove        a reload removes a node (it leaves; its connections stay)
#   weight        a reload changes a node's weight
#   health-fail   a node fails its checks (its servers still serve) for less
#                 than rehash-after, then passes again
#   node-kill     a node's echo server (port 7) is SIGKILLed while
#                 connections to it are open, and its checks fail as a real
#                 check of that service would; it is started again later
# No link flap: in this lab a node's link down for even 0.1 s makes its IPv6
# checks fail for 1 to 2 s under this load (not when idle), so the node is
# failing; a connection whose SYN reached it then can be reset, by design (its
# retried SYN goes to a node that is up: docs/agent.md, "How health drives
# the tables"; when the first node's late SYN-ACK reaches the client first,
# the node the retry went to resets the connection), which the pass rule
# here cannot tell from a defect.
# One fault (health-fail, node-kill) at a time, on a node of the config (a
# reload may then remove it, and add it back, while it fails); the config
# keeps 2 nodes at least.
# Pass: no short connection fails (refused, reset, timeout, wrong answer), no
# long-lived connection fails to open, and none breaks (reset, EOF, echo
# timeout, a wrong echo) but those that were open on a node while its echo
# server was dead ("met a dead node"): those must end with an EOF or a reset
# within DEAD_BOUND s of the kill, never hang on. Every event's failures are
# tallied by its kind.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

SEED=${CHAOS_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
CHAOS_SECONDS=${CHAOS_SECONDS:-30}
MAX_EVENTS=40
HPORT=18082		# health checks: agent_node.py (a mode file per node)
CFG=$E2E_TMP/drover.yaml
NHOLD=24		# long-lived connections per VIP at the start
PERIOD=0.3		# seconds between two lines of a long-lived connection
HOLD_TIMEOUT=5		# an echo not back in this long breaks the connection
RATE=20			# short connections per second, per VIP
CHURN_TIMEOUT=5
REHASH_AFTER=8		# s: a health-fail lasts less than this (with room for a busy machine)
DEAD_BOUND=3		# s: a connection to a killed echo server ends within this
require_cmds jq curl nft

log "seed $SEED (replay: CHAOS_SEED=$SEED bash $0)"
RANDOM=$SEED
# rnd N: R = a number in 0..N-1 from the seeded sequence (no subshell: it must advance).
rnd() { R=$((RANDOM % $1)); }

lab_start
# CHAOS_KEEP=DIR: the agent's log, the clients' output and the event log are copied there at exit.
[ -z "${CHAOS_KEEP:-}" ] || on_exit "mkdir -p '$CHAOS_KEEP' && cp $E2E_TMP/*.out $E2E_TMP/*.log $E2E_TMP/events $E2E_TMP/kills '$CHAOS_KEEP/'"
mount_bpffs
lab_dsr_nodes
http_nodes_start_on $HPORT node4
http_nodes_start_on $HPORT node6

# Config state: IN[n] 1 when node n is in the config, W[n] its weight.
IN=(0 1 1 1) W=(0 1 1 1)
write_cfg() {
	local fam vip n
	{
		cat <<EOF
interfaces: [eth0, eth1]
metrics: {listen: 127.0.0.1:9469}
services:
EOF
		for fam in 4 6; do
			if [ $fam = 4 ]; then vip=$LAB_VIP4; else vip=$LAB_VIP6; fi
			echo "  - name: s$fam"
			echo "    vip: $vip"
			echo "    ports: [7, 80]"
			if [ $fam = 4 ]; then
				echo "    mode: nat"
				echo "    snat: $LAB_SNAT4"
			else
				echo "    mode: dsr"
			fi
			echo "    health: {kind: http, path: /healthz, port: $HPORT, interval: 500ms, timeout: 400ms, rise: 2, fall: 3, rehash-after: ${REHASH_AFTER}s}"
			echo "    nodes:"
			for n in 1 2 3; do
				[ "${IN[$n]}" = 1 ] || continue
				echo "      - {address: $(node$fam $n), name: n$n, weight: ${W[$n]}}"
			done
		done
	} >"$CFG.new"
	mv "$CFG.new" "$CFG"
}
vip() { if [ "$1" = 4 ]; then echo "$LAB_VIP4"; else echo "$LAB_VIP6"; fi; }
# states FAM: the states of n1..n3 (absent when not in the maps) in one read.
states() {
	drv -j backend show "$(vip "$1")" port 7 2>/dev/null |
		jq -r --arg a "$(node"$1" 1)" --arg b "$(node"$1" 2)" --arg c "$(node"$1" 3)" '
			[.. | objects | select(.address?)] as $l
			| [$a, $b, $c] | map(. as $x | [$l[] | select(.address == $x) | .state] | first // "absent")
			| join(" ")'
}
# state_is FAM N STATE...: node N has one of the STATEs.
state_is() {
	local s
	s=$(states "$1" | cut -d' ' -f"$2")
	shift 2
	case " $* " in *" $s "*) return 0 ;; esac
	return 1
}
wait_state() { # N STATE...: in both services, 30 s
	local n=$1 fam
	shift
	for fam in 4 6; do
		wait_for 30 state_is $fam "$n" "$@" ||
			fail "n$n (IPv$fam) is $(states $fam | cut -d' ' -f"$n") 30 s on, want $*; seed $SEED; agent log: $(tail -5 "$AGENT_LOG")"
	done
}
ready() { ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/readyz; }
reloads_ok() { grep -c "reload (.*) ok:" "$AGENT_LOG" || true; }
reloads_more() { [ "$(reloads_ok)" -gt "$1" ]; }
# reload: SIGHUP, then wait until the agent says it applied it.
reload() {
	local before
	before=$(reloads_ok)
	kill -HUP "$AGENT_PID" || fail "the agent is not running for SIGHUP"
	wait_for 30 reloads_more "$before" ||
		fail "the agent did not apply a reload in 30 s; seed $SEED; log: $(tail -5 "$AGENT_LOG")"
}

# Event log: "EPOCH KIND DETAIL" per event, in $E2E_TMP/events; failures are
# laid at the door of the last event started before them.
EVENTS=$E2E_TMP/events
: >"$EVENTS"
KILLS=$E2E_TMP/kills	# "N T_KILL T_REVIVED" per node-kill
: >"$KILLS"
event() { # KIND DETAIL
	echo "$(date +%s.%N) $1 $2" >>"$EVENTS"
	hold_cmd c4 event "$1"
	hold_cmd c6 event "$1"
	log "event $(wc -l <"$EVENTS") at $(date +%T.%3N): $1 $2"
}

write_cfg
agent_start "$CFG"
wait_for 30 ready || fail "agent not ready in 30 s: $(tail -20 "$AGENT_LOG")"
for n in 1 2 3; do wait_state $n up; done

hold_start c4 "$LAB_VIP4" 7 $NHOLD --period $PERIOD --timeout $HOLD_TIMEOUT --max-time 300
hold_start c6 "$LAB_VIP6" 7 $NHOLD --period $PERIOD --timeout $HOLD_TIMEOUT --max-time 300
log "c4: $(hold_wait_opened c4 1)"
log "c6: $(hold_wait_opened c6 1)"
STOP=$E2E_TMP/churn.stop
for fam in 4 6; do
	ip netns exec "$LAB_NS_CL" "$PYTHON" "$LBTOOL" churn --addr "$(vip $fam)" --port 80 \
		--stop-file "$STOP" --answer 'n[123]' --rate $RATE --concurrency 16 --hold 0.1 \
		--timeout $CHURN_TIMEOUT --max-time 240 >"$E2E_TMP/churn$fam.out" 2>"$E2E_TMP/churn$fam.err" &
	E2E_PIDS+=("$!")
done
on_exit "touch '$STOP'"
churn_ok() { sed -n 's/^PROGRESS ok=\([0-9]*\) .*/\1/p' "$E2E_TMP/churn$1.out" | tail -1; }
churn_ok_at_least() { [ "$(churn_ok "$1")" -ge "$2" ] 2>/dev/null; }
for fam in 4 6; do
	wait_for 30 churn_ok_at_least $fam 10 || fail "stream to VIP$fam: not 10 connections in 30 s: $(tail -3 "$E2E_TMP/churn$fam.err")"
done
log "start: $(hold_sync c4) / $(hold_sync c6)"
echo "$(date +%s.%N) start -" >>"$EVENTS"

# Faults: one node at a time (FAULT_NODE, 0: none), of kind FAULT, until FAULT_END (epoch s).
FAULT_NODE=0 FAULT= FAULT_END=0 KILL_T=
fault_end() {
	local n=$FAULT_NODE
	case $FAULT in
	health-fail)
		echo 200 >"$E2E_TMP/http$n.mode"
		event health-pass "n$n"
		;;
	node-kill)
		"$LAB" node-start "$n" || fail "lab node-start $n failed"
		echo "$n $KILL_T $(date +%s.%N)" >>"$KILLS"
		echo 200 >"$E2E_TMP/http$n.mode"
		event node-revive "n$n"
		;;
	esac
	# Removed meanwhile, it leaves (or is freed, its connections all gone).
	if [ "${IN[$n]}" = 1 ]; then wait_state "$n" up; else wait_state "$n" leaving absent; fi
	FAULT_NODE=0 FAULT=
}
# pick_in [any]: R = a random node in the config that is not faulty (any: or is; 0: none).
pick_in() {
	local c=() n
	for n in 1 2 3; do [ "${IN[$n]}" = 1 ] && { [ "${1:-}" = any ] || [ "$n" != "$FAULT_NODE" ]; } && c+=("$n"); done
	R=0
	[ ${#c[@]} -gt 0 ] || return 0
	rnd ${#c[@]}
	R=${c[$R]}
}
n_in() { echo $((IN[1] + IN[2] + IN[3])); }
now_s() { date +%s.%N; }
later_than() { awk -v a="$(now_s)" -v b="$1" 'BEGIN { exit !(a >= b) }'; }

KINDS=(agent-kill add remove weight health-fail node-kill)
t_end=$(($(date +%s) + CHAOS_SECONDS))
nev=0
while [ "$(date +%s)" -lt "$t_end" ] && [ $nev -lt $MAX_EVENTS ]; do
	nev=$((nev + 1))
	if [ "$FAULT_NODE" != 0 ] && later_than "$FAULT_END"; then fault_end; fi
	rnd ${#KINDS[@]}
	kind=${KINDS[$R]}
	case $kind in
	agent-kill)
		event agent-kill -
		agent_stop KILL
		rnd 15
		sleep "0.$R"	# the data path alone, for a while (chaos, not a wait)
		agent_start "$CFG"
		wait_for 30 ready || fail "agent not ready 30 s after a restart; seed $SEED: $(tail -20 "$AGENT_LOG")"
		;;
	add)
		c=()
		for n in 1 2 3; do [ "${IN[$n]}" = 0 ] && c+=("$n"); done
		[ ${#c[@]} -gt 0 ] || continue
		rnd ${#c[@]}
		n=${c[$R]}
		IN[$n]=1
		event add "n$n"
		write_cfg
		reload
		# a faulty node: back while it fails its checks (held, or down if dead long enough)
		if [ "$n" = "$FAULT_NODE" ]; then wait_state "$n" failing down up; else wait_state "$n" up; fi
		;;
	remove)
		[ "$(n_in)" -gt 2 ] || continue
		pick_in any
		n=$R
		[ "$n" != 0 ] || continue
		IN[$n]=0
		event remove "n$n"
		write_cfg
		reload
		wait_state "$n" leaving absent
		;;
	weight)
		pick_in
		n=$R
		[ "$n" != 0 ] || continue
		rnd 3
		W[$n]=$((R + 1))
		event weight "n$n=${W[$n]}"
		write_cfg
		reload
		;;
	health-fail | node-kill)
		[ "$FAULT_NODE" = 0 ] || continue
		pick_in
		n=$R
		[ "$n" != 0 ] || continue
		FAULT_NODE=$n FAULT=$kind
		if [ "$kind" = health-fail ]; then
			rnd 20
			# failing after fall × interval + timeout (1.9 s); up again rise × interval
			# (1 s) after this ends: out for less than rehash-after.
			FAULT_END=$(awk -v t="$(now_s)" -v r=$R 'BEGIN { printf "%.3f", t + 2.5 + r / 10 }')
			event health-fail "n$n"
			echo 500 >"$E2E_TMP/http$n.mode"
		else
			rnd 60
			FAULT_END=$(awk -v t="$(now_s)" -v r=$R 'BEGIN { printf "%.3f", t + 1 + r / 10 }')
			event node-kill "n$n"
			echo 500 >"$E2E_TMP/http$n.mode"
			KILL_T=$(now_s)
			pid=$(cat "$LAB_DIR/n$n/echo.pid")
			tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$LAB_DIR/n$n" ||
				fail "pid $pid of n$n's echo.pid is not its echo server"
			kill -KILL "$pid"
		fi
		;;
	esac
	# New long-lived connections now and then, while no echo server is dead.
	if [ "$FAULT" != node-kill ]; then
		rnd 3
		if [ $R = 0 ]; then
			hold_cmd c4 open 4
			hold_cmd c6 open 4
		fi
	fi
	rnd 10
	sleep "0.$R"	# the load alone, for a while (chaos pacing, not a wait)
done
if [ "$FAULT_NODE" != 0 ]; then
	while ! later_than "$FAULT_END"; do sleep 0.1; done
	fault_end
fi
event end -
log "$(grep -vc ' start \| end ' "$EVENTS") events in $SECONDS s"

# Everything is back: every alive connection completes a round trip.
for n in 1 2 3; do [ "${IN[$n]}" = 0 ] || wait_state "$n" up; done
sync4=$(hold_sync c4)
sync6=$(hold_sync c6)
touch "$STOP"
for fam in 4 6; do
	wait_for 30 grep -q '^REPORT ' "$E2E_TMP/churn$fam.out" ||
		fail "stream to VIP$fam: no report 30 s after its stop: $(tail -3 "$E2E_TMP/churn$fam.err")"
done
r4=$(hold_report c4)
r6=$(hold_report c6)

# Verdict ---------------------------------------------------------------------------
# kind_at EPOCH: the kind of the last event started at or before EPOCH.
kind_at() { awk -v t="$1" '$1 <= t { k = $2 } END { print k }' "$EVENTS"; }
# Was node N's echo server dead while a connection open since OPENED and broken at T was?
met_dead() { # N OPENED T
	awk -v n="$1" -v o="$2" -v t="$3" '$1 == n && o < $3 && t >= $2 - 0.5 { f = 1 } END { exit !f }' "$KILLS"
}
bad=0
: >"$E2E_TMP/tally"
for fam in 4 6; do
	r=$(eval echo "\$r$fam")
	while read -r node t opened err; do
		n=${node#n}
		if met_dead "$n" "$opened" "$t"; then
			kt=$(awk -v n="$n" -v o="$opened" -v t="$t" '$1 == n && o < $3 && t >= $2 - 0.5 { print $2; exit }' "$KILLS")
			late=$(awk -v t="$t" -v k="$kt" -v b=$DEAD_BOUND 'BEGIN { print (t - k > b) ? 1 : 0 }')
			case $err in eof | recv:ECONNRESET | send:ECONNRESET | send:EPIPE) ;; *) late=1 ;; esac
			if [ "$late" = 1 ]; then
				echo "node-kill hold$fam dead-node-hang" >>"$E2E_TMP/tally"
				log "FAILED: IPv$fam connection on killed $node ended by $err $(awk -v t="$t" -v k="$kt" 'BEGIN { printf "%.1f", t - k }') s after the kill (bound $DEAD_BOUND s, EOF or reset)"
				bad=$((bad + 1))
			else
				echo "node-kill hold$fam met-a-dead-node" >>"$E2E_TMP/tally"
			fi
		else
			echo "$(kind_at "$t") hold$fam broken:$err" >>"$E2E_TMP/tally"
			log "FAILED: IPv$fam long-lived connection on $node broke ($err) at $t, during $(kind_at "$t")"
			bad=$((bad + 1))
		fi
	done < <(jq -r '.broken_list[] | "\(.node) \(.t) \(.opened_t) \(.error)"' <<<"$r")
	nof=$(jq '[.open_failed[]] | add // 0' <<<"$r")
	if [ "$nof" != 0 ]; then
		grep '^OPENFAIL' "$E2E_TMP/c$fam.out" | while read -r _ ev t err; do
			echo "$(kind_at "${t#t=}") hold$fam open-failed" >>"$E2E_TMP/tally"
		done
		log "FAILED: IPv$fam: $nof long-lived connections failed to open: $(grep '^OPENFAIL' "$E2E_TMP/c$fam.out" | head -3 | tr '\n' ';')"
		bad=$((bad + nof))
	fi
	grep '^FAIL ' "$E2E_TMP/churn$fam.out" | while read -r _ t kind _; do
		echo "$(kind_at "${t#t=}") churn$fam ${kind#kind=}" >>"$E2E_TMP/tally"
	done
	nf=$(grep -c '^FAIL ' "$E2E_TMP/churn$fam.out" || true)
	if [ "$nf" != 0 ]; then
		log "FAILED: IPv$fam: $nf short connections failed: $(grep '^FAIL ' "$E2E_TMP/churn$fam.out" | head -5 | tr '\n' ';')"
		bad=$((bad + nf))
	fi
	cr=$(sed -n 's/^REPORT //p' "$E2E_TMP/churn$fam.out")
	log "IPv$fam short connections: $(jq -r '"\(.ok) ok, \(.failed) failed, nodes \(.nodes | tostring)"' <<<"$cr")"
	log "IPv$fam long-lived: $(jq -r '"opened \(.opened), alive \(.alive) \(.alive_per_node | tostring), broken \(.broken)"' <<<"$r"), stalls of the client: $(grep -c '^STALL' "$E2E_TMP/c$fam.out" || true)"
done
log "events by kind: $(awk '{ print $2 }' "$EVENTS" | grep -v '^start$\|^end$' | sort | uniq -c | awk '{ printf "%s %s; ", $2, $1 }')"
log "tally (event kind, client, outcome): $( [ -s "$E2E_TMP/tally" ] && sort "$E2E_TMP/tally" | uniq -c | awk '{ printf "%s %s %s: %s; ", $2, $3, $4, $1 }' || echo none)"
log "after all events: c4 $sync4; c6 $sync6"
log "data path: $(stat_packets rehash) packets re-hashed, $(stat_packets rst_node_down) reset for a down node"
if [ "$bad" != 0 ]; then
	# What the agent said around each failure (its log's times are UTC).
	for t in $(cat "$E2E_TMP"/c4.out "$E2E_TMP"/c6.out "$E2E_TMP"/churn4.out "$E2E_TMP"/churn6.out |
		sed -n -E 's/^(BROKEN|OPENFAIL|FAIL)( | .* )t=([0-9.]+).*/\3/p' | cut -d. -f1 | sort -u | head -5); do
		log "agent's log from $(date -u -d @$((t - 2)) +%T) to $(date -u -d @$((t + 2)) +%T):"
		awk -v a="$(date -u -d @$((t - 2)) +%FT%T)" -v b="$(date -u -d @$((t + 2)) +%FT%T)" \
			'$1 >= a && $1 < b' "$AGENT_LOG" | head -20
	done
fi
[ "$bad" = 0 ] || fail "$bad client-visible failures outside a dead node (seed $SEED; replay: CHAOS_SEED=$SEED bash $0)"
log "PASS: no connection broke but on a dead node (seed $SEED, $SECONDS s)"
