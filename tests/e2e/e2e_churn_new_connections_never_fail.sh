#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# nat mode (MODE=dsr: e2e_churn_dsr_new_connections_never_fail.sh), IPv4 and
# IPv6, run by the agent. Two streams of short connections, one to each VIP
# (lbtool.py churn: connect, stay idle 0.15 s, one HTTP request to the nodes'
# nginx, the answer must name a node, close; 60 a second each, so some 9 of
# each are open at any moment), see no failure of any kind (refused, timeout,
# reset, wrong answer) while, each change with streams of its own:
#   a) the agent is stopped with SIGTERM and started again, then with SIGKILL;
#   b) a reload adds a node, changes a weight, and removes a node (no drain
#      first: it leaves, and is freed once its connections have ended);
#   c) a node fails its health check (its server still serves) and passes
#      again within rehash-after (its default, 10 s);
#   d) `drover attach IF mode native force` runs again on both attached
#      interfaces (the link updated in place), and as an upgrade (another
#      build's program on the links: swapped for this one's).
# Each stream runs until the change has taken effect (waited for on the maps,
# the agent's log and /readyz, or the program ids) and 20 more of its
# connections have succeeded after it.
# Failures that cannot be avoided, asserted as such:
#   - a node whose server stops fails connections until it leaves the table
#     (fall × interval + timeout): refused, or ended by the server going; none
#     after it is out, and none once it is back;
#   - a node removed with health leave-after 0 (freed at once): its open
#     connections re-hash and end (docs/agent.md, Reload): reset by the node
#     they reach, or stalled (timeout) when that node still holds an earlier
#     connection of the same addresses and ports in TIME_WAIT, which answers
#     with an ACK, no reset.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

MODE=${MODE:-nat}
HPORT=18081	# health checks: agent_node.py, whose answer a test can break
CFG=$E2E_TMP/drover.yaml
RATE=${CHURN_RATE:-60}	# connections started per second, per stream
HOLD=${CHURN_HOLD:-0.15}	# seconds each stays idle before its request: some 9 open per stream
TIMEOUT=5		# a connection without its answer this long failed (kind timeout)
require_cmds jq curl

lab_start
mount_bpffs
[ "$MODE" = nat ] || lab_dsr_nodes
# One mode file per node ($E2E_TMP/httpN.mode) rules both of its servers.
http_nodes_start_on $HPORT node4
http_nodes_start_on $HPORT node6

# write_cfg SPEC: one line per node, "N", "N weight W" or "N drain"; $LEAVE_AFTER: health leave-after.
write_cfg() {
	local fam vip snat n rest d
	{
		cat <<EOF
interfaces: [eth0, eth1]
metrics: {listen: 127.0.0.1:9469}
timeouts: {tcp-fin: 2}
services:
EOF
		for fam in 4 6; do
			if [ $fam = 4 ]; then vip=$LAB_VIP4 snat=$LAB_SNAT4; else vip=$LAB_VIP6 snat=$LAB_SNAT6; fi
			cat <<EOF
  - name: web$fam
    vip: $vip
    ports: [80]
    mode: $MODE
$([ "$MODE" = nat ] && echo "    snat: $snat")
    health: {kind: http, path: /healthz, port: $HPORT, interval: 1s, timeout: 800ms, rise: 2, fall: 2${LEAVE_AFTER:+, leave-after: $LEAVE_AFTER}}
    nodes:
EOF
			while read -r n rest; do
				[ -n "$n" ] || continue
				d=""
				case " $rest " in *" weight "*) d=", weight: ${rest##* }" ;; esac
				case " $rest " in *" drain "*) d=", drain: true" ;; esac
				echo "      - {address: $(node$fam "$n"), name: n$n$d}"
			done <<<"$1"
		done
	} >"$CFG.new"
	mv "$CFG.new" "$CFG"
}
vip() { if [ "$1" = 4 ]; then echo "$LAB_VIP4"; else echo "$LAB_VIP6"; fi; }
# be_field FAM N FIELD: node N's backend FIELD (state, weight, flows) in the FAM service.
be_field() {
	drv -j backend show "$(vip "$1")" port 80 2>/dev/null |
		jq -r --arg a "$(node"$1" "$2")" --arg f "$3" '[.. | objects | select(.address? == $a) | .[$f]] | first // "absent"'
}
be_field_is() { [ "$(be_field "$1" "$2" "$3")" = "$4" ]; }
# wait_be N FIELD VALUE: in both services, within 30 s.
wait_be() {
	local fam
	for fam in 4 6; do
		wait_for 30 be_field_is $fam "$1" "$2" "$3" ||
			fail "n$1 (IPv$fam) has $2 $(be_field $fam "$1" "$2") 30 s on, want $3; agent log: $(tail -5 "$AGENT_LOG")"
	done
}
in_table() {
	drv -j service show 2>/dev/null | jq -r '[.. | objects | select(.backends_in_table?) | .backends_in_table] | join(" ")'
}
in_table_is() { [ "$(in_table)" = "$1 $1" ]; }
wait_table() { wait_for 10 in_table_is "$1" || fail "the tables hold $(in_table) backends, want $1 each"; }
ready() { ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/readyz; }
settled() { [ "$(tail -n +"$1" "$AGENT_LOG" | grep -c "start-up settle over")" = 2 ]; }
reload() { kill -HUP "$AGENT_PID" || fail "the agent is not running for SIGHUP"; }

# Streams ------------------------------------------------------------------------------
# churn_start NAME: a stream of short connections to each VIP, port 80;
# output in $E2E_TMP/NAME4.churn and NAME6.churn.
churn_start() {
	local fam
	rm -f "$E2E_TMP/$1.stop"
	for fam in 4 6; do
		: >"$E2E_TMP/$1$fam.churn"
		ip netns exec "$LAB_NS_CL" "$PYTHON" "$LBTOOL" churn --addr "$(vip $fam)" --port 80 \
			--stop-file "$E2E_TMP/$1.stop" --answer 'n[123]' --rate "$RATE" \
			--concurrency 32 --hold "$HOLD" --timeout $TIMEOUT --max-time 150 \
			>"$E2E_TMP/$1$fam.churn" 2>"$E2E_TMP/$1$fam.err" &
		E2E_PIDS+=("$!")
		eval "CHURN_PID_$1$fam=$!"
	done
	churn_more "$1" 10
}
churn_ok() { sed -n 's/^PROGRESS ok=\([0-9]*\) .*/\1/p' "$E2E_TMP/$1.churn" | tail -1; }
churn_ok_at_least() { [ "$(churn_ok "$1")" -ge "$2" ] 2>/dev/null; }
# churn_more NAME K: wait until K more connections of each stream have succeeded.
churn_more() {
	local fam s want
	for fam in 4 6; do
		s=$1$fam
		want=$(($(churn_ok "$s" || true) + $2))
		wait_for 60 churn_ok_at_least "$s" "$want" ||
			fail "stream $s: not $2 more successful connections in 60 s ($(churn_ok "$s") ok); $(grep -c ^FAIL "$E2E_TMP/$s.churn") failed: $(grep ^FAIL "$E2E_TMP/$s.churn" | head -3); $(tail -3 "$E2E_TMP/$s.err")"
	done
}
# churn_end NAME WHAT: stop the streams, log their counts, fail on any failed
# connection but those of the kinds in $CHURN_ALLOW (a jq array), said where set.
churn_end() {
	local fam s r pid bad
	touch "$E2E_TMP/$1.stop"
	for fam in 4 6; do
		s=$1$fam
		wait_for 30 grep -q '^REPORT ' "$E2E_TMP/$s.churn" ||
			fail "stream $s: no report 30 s after its stop; $(tail -3 "$E2E_TMP/$s.err")"
		eval "pid=\$CHURN_PID_$s"
		wait "$pid" || true
		r=$(sed -n 's/^REPORT //p' "$E2E_TMP/$s.churn")
		log "$2, IPv$fam: $(jq -r '"\(.ok) ok, \(.failed) failed \(.errors) in \(.seconds) s, nodes \(.nodes)"' <<<"$r")"
		bad=$(jq --argjson k "${CHURN_ALLOW:-[]}" '[.errors | to_entries[] | select(.key as $e | $k | index($e) | not) | .value] | add // 0' <<<"$r")
		[ "$bad" = 0 ] ||
			fail "$2, IPv$fam: $(jq -c .errors <<<"$r") of $(jq .started <<<"$r") connections failed: $(grep ^FAIL "$E2E_TMP/$s.churn" | head -5 | tr '\n' ';')"
		eval "CHURN_REPORT$fam=\$r"
	done
}
# churn_reached NAME N: did connections of both streams reach node N?
churn_reached() {
	jq -e --arg n "n$1" '.nodes[$n] > 0' <<<"$CHURN_REPORT4" >/dev/null &&
		jq -e --arg n "n$1" '.nodes[$n] > 0' <<<"$CHURN_REPORT6" >/dev/null
}
# churn_fails_after NAME EPOCH: failures of the streams later than EPOCH (seconds).
churn_fails_after() {
	cat "$E2E_TMP/${1}4.churn" "$E2E_TMP/${1}6.churn" |
		awk -v t="$2" '/^FAIL / { split($2, a, "="); if (a[2] > t) n++ } END { print n + 0 }'
}

log "--- mode $MODE; n1 and n2 up"
write_cfg "1
2"
agent_start "$CFG"
wait_for 30 ready || fail "agent not ready in 30 s: $(tail -20 "$AGENT_LOG")"
wait_be 1 state up
wait_be 2 state up
wait_table 2

log "--- a) agent restarts"
for sig in TERM KILL; do
	churn_start "restart$sig"
	agent_stop $sig
	churn_more "restart$sig" 20	# no agent at all
	from=$(($(wc -l <"$AGENT_LOG") + 1))
	agent_start "$CFG"
	wait_for 30 ready || fail "agent not ready 30 s after a restart: $(tail -20 "$AGENT_LOG")"
	# Past the start-up settle: every node has its verdict, the tables are the new agent's.
	wait_for 30 settled "$from" || fail "the new agent's start-up settle did not end in 30 s: $(tail -5 "$AGENT_LOG")"
	churn_more "restart$sig" 20
	churn_end "restart$sig" "SIG$sig, no agent, new agent settled"
done

log "--- b) reloads: a node added, a weight changed, a node removed"
churn_start add
write_cfg "1
2
3"
reload
wait_be 3 state up
wait_table 3
churn_more add 60
churn_end add "reload adding n3"
churn_reached 3 || fail "no connection reached the added n3: $CHURN_REPORT4 $CHURN_REPORT6"

churn_start weight
write_cfg "1
2
3 weight 3"
reload
wait_be 3 weight 3
churn_more weight 20
churn_end weight "reload giving n3 weight 3"

# No drain first: n1 leaves the tables at once, keeps the connections open on
# it, and is freed once they have ended (tcp-fin 2: the record of a closed
# connection goes 2 s after its close; the agent counts every 5 s).
churn_start remove
from=$(($(wc -l <"$AGENT_LOG") + 1))
write_cfg "2
3 weight 3"
reload
wait_table 2
wait_be 1 state absent
churn_more remove 20
churn_end remove "reload removing n1 (it leaves, then is freed)"
for fam in 4 6; do
	tail -n +"$from" "$AGENT_LOG" | grep -q "service web$fam: node n1 (.*) is no longer in the config: it leaves" ||
		fail "no log line says n1 (IPv$fam) leaves: $(tail -n +"$from" "$AGENT_LOG" | head -5)"
done

log "--- c) n2 fails its health check (its server still serves), passes again within rehash-after"
churn_start health
echo 500 >"$E2E_TMP/http2.mode"
wait_be 2 state failing
churn_more health 20
echo 200 >"$E2E_TMP/http2.mode"
wait_be 2 state up
wait_table 2
churn_more health 20
churn_end health "n2 failing, then up"
churn_reached 2 || fail "no connection reached n2 once it was up again: $CHURN_REPORT4 $CHURN_REPORT6"

log "--- c') n2's server stops: failures only until n2 is out of the tables"
churn_start death
echo 500 >"$E2E_TMP/http2.mode"
"$LAB" node-stop 2 || fail "lab node-stop 2 failed"
wait_be 2 state failing
t_out=$(date +%s.%N)
churn_more death 60	# a second of connections after n2 is out: none may fail
# Refused: new connections hashed to n2 until it left the table. Reset or
# wrong_answer (closed before its answer): open ones that its stopping server ended.
CHURN_ALLOW='["refused", "reset", "wrong_answer"]' churn_end death "n2's server stopped"
late=$(churn_fails_after death "$(awk -v t="$t_out" -v h="$HOLD" 'BEGIN { printf "%.3f", t + h + 0.5 }')")
[ "$late" = 0 ] || fail "$late connections failed more than $HOLD + 0.5 s after n2 left the tables"
churn_start revive
"$LAB" node-start 2 || fail "lab node-start 2 failed"
echo 200 >"$E2E_TMP/http2.mode"
wait_be 2 state up
wait_table 2
churn_more revive 20
churn_end revive "n2's server started again, n2 up"

log "--- d) drover attach again on both interfaces (in place), then as an upgrade"
prog_ids() { drv -j status | jq -r '[.interfaces[] | .prog_id] | sort | join(" ")'; }
churn_start reattach
for i in $LAB_LB_IFACES; do
	drv attach "$i" mode native force 2>"$E2E_TMP/attach.err" ||
		fail "drover attach $i mode native force: $(cat "$E2E_TMP/attach.err")"
	churn_more reattach 20
done
churn_end reattach "attach force on eth0 and eth1"

old_ids=$(prog_ids)
pins=("$BPFFS"/progs/drover_xdp-*)
[ ${#pins[@]} = 1 ] && [ -e "${pins[0]}" ] || fail "want one program pin under $BPFFS/progs: ${pins[*]}"
# As if another build had attached: its program pinned under another name.
mv "${pins[0]}" "$BPFFS/progs/drover_xdp-0000000000000000"
churn_start upgrade
drv attach eth0 mode native force 2>"$E2E_TMP/attach.err" ||
	fail "drover attach eth0 mode native force (upgrade): $(cat "$E2E_TMP/attach.err")"
new_ids=$(prog_ids)
set -- $new_ids
[ $# = 2 ] && [ "$1" = "$2" ] && ! grep -qw "$1" <<<"$old_ids" ||
	fail "the interfaces run programs '$new_ids' after the upgrade, want one new program (before: '$old_ids')"
churn_more upgrade 20
churn_end upgrade "attach of another build (program ids $old_ids -> $new_ids)"

log "--- e) leave-after 0: a node removed is freed at once, its open connections re-hash"
churn_start removeraw
LEAVE_AFTER=0 write_cfg "3 weight 3"
reload
wait_be 2 state absent
wait_table 1
churn_more removeraw 20
# Those that were open on n2 end: reset by the node they reach, or stalled by
# one holding an earlier connection of the same addresses and ports in TIME_WAIT.
CHURN_ALLOW='["reset", "timeout"]' churn_end removeraw "reload removing n2 with leave-after 0"
log "ok: no new connection failed through any change ($MODE; $SECONDS s)"
