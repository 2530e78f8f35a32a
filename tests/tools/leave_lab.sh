# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The lab of the tests of leaving nodes (agent_reload_removed_node_*.sh,
# agent_restart_keeps_a_leaving_node_leaving.sh), sourced after lib.sh and
# labtest.sh: the echo service (VIP port 7) over n1..n3, checked by http on
# HTTP_PORT (set by the test: each test its own), and NCONN long-lived
# connections through it (the hold client "c").

NCONN=45
CFG=$E2E_TMP/drover.yaml

# write_cfg "N..." [LEAVE_AFTER]: the echo service with nodes nN (leave-after: its default, 1h;
# rehash-after: $REHASH_AFTER where the test sets it, else its default, 10s; rise: $RISE, else 2;
# fall: $FALL, else 2;
# the nodes in $DRAIN, where the test sets it, drained).
write_cfg() {
	local n
	{
		cat <<EOF
interfaces: [eth0, eth1]
xdp-mode: native
metrics: {listen: 127.0.0.1:9469}
timeouts: {tcp-fin: 2}
services:
  - name: echo
    vip: $LAB_VIP4
    ports: [7]
    snat: $LAB_SNAT4
    health: {kind: http, port: $HTTP_PORT, path: /healthz, interval: 500ms, timeout: 400ms,
             rise: ${RISE:-2}, fall: ${FALL:-2}, jitter: 0${2:+, leave-after: $2}${REHASH_AFTER:+, rehash-after: $REHASH_AFTER}}
    nodes:
EOF
		for n in $1; do
			case " ${DRAIN:-} " in
			*" $n "*) echo "      - {address: $(node4 "$n"), name: n$n, drain: true}" ;;
			*) echo "      - {address: $(node4 "$n"), name: n$n}" ;;
			esac
		done
	} >"$CFG.new"
	mv "$CFG.new" "$CFG"
}
reload() { kill -HUP "$AGENT_PID" || fail "the agent is not running for SIGHUP"; }
state() { be_state "$LAB_VIP4" 7 "$(node4 "$1")"; }
states() { echo "$(state 1) $(state 2) $(state 3)"; }
states_are() { [ "$(states)" = "$1" ]; }
be_id() {
	drv -j backend show "$LAB_VIP4" port 7 2>/dev/null |
		jq -r --arg a "$(node4 "$1")" '[.. | objects | select(.address? == $a) | .id] | first // "absent"'
}
rehashed() { stat_packets rehash; }
broken() { grep -c '^BROKEN' "$E2E_TMP/c.out" || true; }
no_break() { # WHAT
	[ "$(broken)" = 0 ] || fail "connections broke $1: $(grep '^BROKEN' "$E2E_TMP/c.out" | head -3)"
	[ "$(rehashed)" = "$r0" ] || fail "flows re-hashed $1: rehash $r0 -> $(rehashed)"
}
on() { jq --arg n "n$1" '.[$n]' <<<"${opened#*nodes=}"; } # N: connections on nN at the start

# leave_lab_start: the lab, the agent on n1..n3 (all up) and the NCONN
# connections, reaching every node; sets opened (the OPENED line) and r0 (the
# rehash counter then). HOLD_PERIOD (seconds between each connection's lines,
# where the test sets it; else lbtool's 0.2): a long one keeps them idle, so
# that a down node's connections are not reset before the test looks.
leave_lab_start() {
	require_cmds jq curl
	lab_start
	mount_bpffs
	http_nodes_start "$HTTP_PORT"
	write_cfg "1 2 3"
	agent_start "$CFG"
	wait_for 30 states_are "up up up" || fail "agent did not bring n1..n3 up in 30 s: $(states); log: $(tail -20 "$AGENT_LOG")"
	hold_on_every_node c "$LAB_VIP4" 7 $NCONN ${HOLD_PERIOD:+--period "$HOLD_PERIOD"}
	r0=$(rehashed)
}

# leave_lab_fail_open: every node's checks fail, the service fails open (its
# table unchanged), and every hold (begun at or before the fail-open, for a
# rehash-after under 4 s) has run out; no connection broke meanwhile. Sets t_open.
leave_lab_fail_open() {
	local n failopen="service echo: no node passes its health check; failing open"
	log "--- every node fails: the service fails open, its table unchanged"
	for n in 1 2 3; do echo 500 >"$E2E_TMP/http$n.mode"; done
	wait_for 30 grep -q "$failopen" "$AGENT_LOG" || fail "the service did not fail open 30 s after every node's checks failed: $(tail -5 "$AGENT_LOG")"
	t_open=$(log_ms 1 "$failopen")
	# Every hold began at or before the fail-open: all have run out 3 s after it (bounded by the clock).
	wait_for 15 sh -c "[ \$(date +%s%3N) -ge $((t_open + 4000)) ]"
	states_are "up up up" || fail "failing open, want every node up in the table: $(states)"
	log "failing open: $(hold_sync c)"
	no_break "while the service failed open"
}
