#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# nat mode (MODE=dsr: dsr, see e2e_longlived_dsr_survive_changes.sh), IPv4 and
# IPv6, run by the agent (`drover run config FILE`).
# Long-lived connections (each sends a line every 0.2 s and checks the echo)
# stay unbroken while: a backend is added (reload); another is drained
# (reload); a node fails (only its connections may break, and the agent
# detects it within fall × interval + timeout); the agent is stopped with
# SIGTERM, killed with SIGKILL and started again; the config is reloaded good,
# then bad (refused, naming the line; the running state stays).
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

NCONN=${LONGLIVED_N:-60}
INTERVAL_MS=1000 TIMEOUT_MS=500 FALL=2 RISE=2
BOUND_MS=$((FALL * INTERVAL_MS + TIMEOUT_MS))
SCHED_SLACK_MS=1000	# timers of the agent on a busy 2-core machine (this test loads both cores) fire this late at most
POLL_SLACK_MS=2000	# polling `drover backend show` (processes, a flow-table walk) adds up to this
CFG=$E2E_TMP/drover.yaml

MODE=${MODE:-nat}
lab_start
mount_bpffs
[ "$MODE" = nat ] || lab_dsr_nodes

# write_cfg NODES_SPEC: one line per node, "N [drain] [weight W]".
write_cfg() {
	local spec=$1 fam vip snat addrs n rest a
	{
		echo "interfaces: [eth0, eth1]"
		echo "xdp-mode: native"
		echo "metrics:"
		echo "  listen: 127.0.0.1:9469"
		echo "services:"
		for fam in 4 6; do
			if [ $fam = 4 ]; then vip=$LAB_VIP4 snat=$LAB_SNAT4 addrs=$LAB_NODES4
			else vip=$LAB_VIP6 snat=$LAB_SNAT6 addrs=$LAB_NODES6; fi
			cat <<EOF
  - name: echo$fam
    vip: $vip
    ports: [7]
    mode: $MODE
$([ "$MODE" = nat ] && echo "    snat: $snat")
    health:
      preset: rancher
      interval: ${INTERVAL_MS}ms
      timeout: ${TIMEOUT_MS}ms
      rise: $RISE
      fall: $FALL
      jitter: 0
    nodes:
EOF
			while read -r n rest; do
				[ -n "$n" ] || continue
				a=$(echo $addrs | cut -d' ' -f"$n")
				echo "      - address: $a"
				echo "        name: n$n"
				case " $rest " in *" drain "*) echo "        drain: true" ;; esac
				case " $rest " in *" weight "*) echo "        weight: $(echo "$rest" | sed 's/.*weight \([0-9]*\).*/\1/')" ;; esac
			done <<<"$spec"
		done
	} >"$CFG.new"
	mv "$CFG.new" "$CFG"
}

node6() { echo $LAB_NODES6 | cut -d' ' -f"$1"; }
wait_state() { # N STATE SECONDS
	wait_be_state "$3" "$LAB_VIP4" 7 "$(node4 "$1")" "$2" &&
		wait_be_state "$3" "$LAB_VIP6" 7 "$(node6 "$1")" "$2"
}
event() { # NAME: label for both clients
	log "--- event: $1"
	hold_cmd c4 event "$1"
	hold_cmd c6 event "$1"
}
sync_both() {
	log "after $1: $(hold_sync c4)"
	log "after $1: $(hold_sync c6)"
}
reload() {
	kill -HUP "$AGENT_PID" || fail "agent not running for SIGHUP"
}

# 1. Two nodes, the agent attaches and fills the maps.
write_cfg "1
2"
agent_start "$CFG"
wait_state 1 up 30 && wait_state 2 up 30 ||
	fail "agent did not bring n1, n2 up in 30 s; log: $(tail -20 "$AGENT_LOG")"
wait_state 3 absent 1 || fail "n3 is in the service before it was configured"

modes=$(drv -j service show | jq -r '[.[].mode] | unique | join(",")')
[ "$modes" = "$MODE" ] || fail "services run in mode '$modes', want $MODE"
log "services in mode $MODE"
hold_start c4 "$LAB_VIP4" 7 "$NCONN"
hold_start c6 "$LAB_VIP6" 7 "$NCONN"
log "c4: $(hold_wait_opened c4 1)"
log "c6: $(hold_wait_opened c6 1)"
sync_both start

# 2. A backend is added.
event backend-add
write_cfg "1
2
3"
reload
wait_state 3 up 30 || fail "n3 not up 30 s after reload; log: $(tail -20 "$AGENT_LOG")"
# 45 new connections: each misses n3 with probability 2/3, all 45 of them 1 in 10^8.
hold_cmd c4 open 45
hold_cmd c6 open 45
o4=$(hold_wait_opened c4 2) o6=$(hold_wait_opened c6 2)
log "c4: $o4"
log "c6: $o6"
for o in "$o4" "$o6"; do
	jq -e '.n3 > 0' <<<"${o#*nodes=}" >/dev/null || fail "no new connection went to the added node n3: $o"
done
sync_both backend-add

# 3. Another is drained: its flows stay, new ones avoid it.
event drain
write_cfg "1 drain
2
3"
reload
wait_state 1 drain 30 || fail "n1 not drain 30 s after reload; log: $(tail -20 "$AGENT_LOG")"
hold_cmd c4 open 30
hold_cmd c6 open 30
o4=$(hold_wait_opened c4 3) o6=$(hold_wait_opened c6 3)
log "c4: $o4"
log "c6: $o6"
for o in "$o4" "$o6"; do
	jq -e '(.n1 // 0) == 0' <<<"${o#*nodes=}" >/dev/null || fail "a new connection went to drained n1: $o"
done
sync_both drain

# 4. A node fails (link down): detection time, only its connections break.
# It leaves the table as `failing` (its flows held for rehash-after, then down).
# Measured twice: by the agent's own log line (its ms timestamp; what is
# asserted) and by polling `drover backend show` (adds the poll period).
event node-fail
"$LAB" node-down 2
t0=$(date +%s%3N)	# the link is down when the command returns (starting it is the slow part)
wait_be_state 30 "$LAB_VIP4" 7 "$(node4 2)" failing || fail "n2 not failing 30 s after its link went down"
t1=$(date +%s%3N)
wait_be_state 10 "$LAB_VIP6" 7 "$(node6 2)" failing || fail "n2 (IPv6) not failing 10 s after IPv4"
line=$(grep "service echo4: node n2 .* DOWN" "$AGENT_LOG" | tail -1)
[ -n "$line" ] || fail "no agent log line says echo4's n2 is DOWN; log: $(tail -5 "$AGENT_LOG")"
log "agent: $line"
t_log=$(date -d "${line%% *}" +%s%3N) || fail "cannot read the time of the agent's log line: $line"
det_ms=$((t_log - t0))
log "failure detection: $det_ms ms by the agent's log, $((t1 - t0)) ms until \`drover backend show\` said failing (bound fall×interval+timeout = $BOUND_MS ms, +$SCHED_SLACK_MS ms timer slack)"
[ "$det_ms" -le $((BOUND_MS + SCHED_SLACK_MS)) ] ||
	fail "failure detected in $det_ms ms, more than $BOUND_MS ms (+$SCHED_SLACK_MS ms)"
[ $((t1 - t0)) -le $((BOUND_MS + POLL_SLACK_MS)) ] ||
	fail "n2 left the table $((t1 - t0)) ms after failing, more than $BOUND_MS ms (+$POLL_SLACK_MS ms polling)"
sync_both node-fail

# 5. The agent is restarted: SIGTERM, start, SIGKILL, start.
event agent-restart
agent_stop TERM
log "agent stopped by SIGTERM"
sync_both agent-sigterm
agent_start "$CFG"
wait_for 30 ip netns exec "$LAB_NS_LB" curl -sf http://127.0.0.1:9469/healthz ||
	fail "restarted agent's /healthz not answering in 30 s; log: $(tail -20 "$AGENT_LOG")"
wait_state 3 up 30 || fail "n3 not up after agent restart"
agent_stop KILL
log "agent killed by SIGKILL"
sync_both agent-sigkill
agent_start "$CFG"
wait_for 30 ip netns exec "$LAB_NS_LB" curl -sf http://127.0.0.1:9469/healthz ||
	fail "restarted agent's /healthz not answering in 30 s; log: $(tail -20 "$AGENT_LOG")"
wait_state 1 drain 30 && wait_state 3 up 30 || fail "state not restored after agent restart"
sync_both agent-restart

# 6. Reload good (weight change), then bad.
event reload-good
write_cfg "1 drain
2
3 weight 2"
reload
# The agent acts on SIGHUP asynchronously: wait until the maps hold n3's new weight.
weight_is() { # VIP ADDR WEIGHT
	[ "$(drv -j backend show "$1" port 7 2>/dev/null |
		jq -r --arg a "$2" '[.. | objects | select(.address? == $a) | .weight] | first // "absent"')" = "$3" ]
}
wait_for 30 weight_is "$LAB_VIP4" "$(node4 3)" 2 && wait_for 30 weight_is "$LAB_VIP6" "$(node6 3)" 2 ||
	fail "n3's weight 2 not in the maps 30 s after a good reload; log: $(tail -5 "$AGENT_LOG")"
wait_state 3 up 10 || fail "n3 not up after a good reload"
sync_both reload-good
event reload-bad
cp "$CFG" "$E2E_TMP/good.yaml"
printf 'bogus-key: 1\n' >>"$CFG"
bad_line=$(wc -l <"$CFG")
reload
wait_for 20 grep -q "drover.yaml:$bad_line" "$AGENT_LOG" ||
	fail "agent did not refuse the bad config naming drover.yaml:$bad_line; log: $(tail -5 "$AGENT_LOG")"
log "agent refused: $(grep "drover.yaml:$bad_line" "$AGENT_LOG" | tail -1)"
agent_alive || fail "agent exited on a bad config reload"
wait_state 1 drain 5 && wait_state 3 up 5 || fail "state changed after a refused reload"
sync_both reload-bad

# Verdict: every broken connection was on the failed node n2.
rc=0
for c in c4 c6; do
	r=$(hold_report $c)
	log "$c: opened $(jq .opened <<<"$r"), alive $(jq .alive <<<"$r"), broken $(jq .broken <<<"$r"), broken by event $(jq -c .broken_by_event <<<"$r"), open failures $(jq -c .open_failed <<<"$r"), client stalls $(grep -c '^STALL' "$E2E_TMP/$c.out" || true)"
	bad=$(jq '[.broken_list[] | select(.node != "n2")] | length' <<<"$r")
	if [ "$bad" -ne 0 ]; then
		log "$c: broken outside n2: $(jq -c '[.broken_list[] | select(.node != "n2")]' <<<"$r")"
		rc=1
	fi
	late=$(jq '[.broken_list[] | select(.event != "node-fail")] | length' <<<"$r")
	[ "$late" -eq 0 ] || { log "$c: broken outside the node-fail event: $late"; rc=1; }
	[ "$(jq '.open_failed | length' <<<"$r")" -eq 0 ] || { log "$c: connections failed to open"; rc=1; }
done
[ $rc -eq 0 ] || fail "connections broke outside the failed node"
log "PASS: 0 broken outside the failed node n2"
