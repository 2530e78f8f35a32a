#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Agent start-up and exit: a bad config at start-up exits 2 naming FILE:LINE:COL
# and touches nothing; SIGTERM leaves forwarding and the maps as they are; a new
# agent adopts the pinned state without a gap (the table never empties, a node
# that was down stays down until it rises, traffic through the VIP keeps
# flowing) and, when another build attached the interfaces (an upgrade),
# swaps its own program in on each; a restart while the service fails open
# (every node failing) keeps failing open with the table unchanged, and one
# with a node really down takes out exactly that node; a reload restores what
# the CLI changed behind its back; maps
# removed and pinned anew behind its back (detach of the last interface, then
# attach) are let go at once and filled again, and /metrics reads the new ones;
# --detach-on-exit detaches on SIGTERM.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

PORT=18080
CFG=$E2E_TMP/drover.yaml

lab_start
mount_bpffs
http_nodes_start $PORT

cat >"$CFG" <<EOF
interfaces: [eth0, eth1]
metrics: {listen: 127.0.0.1:9469}
services:
  - name: web
    vip: $LAB_VIP4
    ports: [$PORT]
    snat: $LAB_SNAT4
    # rehash-after 0: a failed node is down at once (a failing one, holding
    # its flows, is adopted in agent_failing_node_keeps_its_connections.sh)
    health: {preset: rancher, port: $PORT, interval: 1s, timeout: 800ms, rise: 2, fall: 2, rehash-after: 0}
    nodes: [$(node4 1), $(node4 2), $(node4 3)]
EOF
state() { be_state "$LAB_VIP4" $PORT "$(node4 "$1")"; }
states() { echo "$(state 1) $(state 2) $(state 3)"; }
in_table() { drv -j service show 2>/dev/null | jq -r '[.. | objects | select(.backends_in_table?) | .backends_in_table] | first // 0'; }
in_table_is() { [ "$(in_table)" = "$1" ]; }
ready() { ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/readyz; }

log "--- a bad config at start-up: exit 2, FILE:LINE:COL, nothing attached"
sed 's/^    ports: .*/    ports: [0]/' "$CFG" >"$E2E_TMP/bad.yaml"
set +e
ip netns exec "$LAB_NS_LB" "$DROVER" --bpffs "$BPFFS" run config "$E2E_TMP/bad.yaml" \
	>"$E2E_TMP/bad.out" 2>&1
rc=$?
set -e
[ $rc = 2 ] || fail "bad config: exit $rc, want 2; output: $(cat "$E2E_TMP/bad.out")"
grep -q "^$E2E_TMP/bad.yaml:6:13: 'ports' is 0, must be a port 1..65535" "$E2E_TMP/bad.out" ||
	fail "bad config message: $(cat "$E2E_TMP/bad.out")"
[ ! -e "$BPFFS/links" ] || [ -z "$(ls "$BPFFS/links")" ] || fail "a bad config attached something"
# TLS files are loaded before anything is attached, too.
sed 's/health: {preset: rancher,/health: {kind: https, cert: \/nonexistent\/c.pem, key: \/nonexistent\/k.pem,/' "$CFG" >"$E2E_TMP/badtls.yaml"
set +e
ip netns exec "$LAB_NS_LB" "$DROVER" --bpffs "$BPFFS" run config "$E2E_TMP/badtls.yaml" \
	>"$E2E_TMP/badtls.out" 2>&1
rc=$?
set -e
[ $rc = 2 ] || fail "unloadable client certificate: exit $rc, want 2"
grep -q "^$E2E_TMP/badtls.yaml:4: service 'web': cannot load client certificate '/nonexistent/c.pem'" "$E2E_TMP/badtls.out" ||
	fail "bad TLS message: $(cat "$E2E_TMP/badtls.out")"
ip netns exec "$LAB_NS_LB" "$DROVER" --bpffs "$BPFFS" run config "$CFG" --check >/dev/null ||
	fail "--check refused a good config"

log "--- first agent; n2 fails"
agent_start "$CFG"
wait_for 30 ready || fail "agent not ready: $(tail -20 "$AGENT_LOG")"
wait_for 10 sh -c "[ \"\$(ip netns exec $LAB_NS_LB $DROVER --bpffs $BPFFS -j backend show $LAB_VIP4 port $PORT | jq -r '[.. | objects | select(.state?) | .state] | join(\" \")')\" = 'up up up' ]" ||
	fail "not all up: $(states)"
echo 500 >"$E2E_TMP/http2.mode"
wait_be_state 10 "$LAB_VIP4" $PORT "$(node4 2)" down || fail "n2 not down: $(states)"
[ "$(states)" = "up down up" ] || fail "states $(states), want up down up"

via_vip() { ip netns exec "$LAB_NS_CL" curl -fsS --max-time 3 "http://$LAB_VIP4:$PORT/" 2>/dev/null; }
wait_for 10 via_vip || fail "no answer through the VIP in 10 s"

log "--- SIGTERM: forwarding and maps stay"
agent_stop TERM
grep -q "exiting; XDP stays attached" "$AGENT_LOG" || fail "no exit log line"
[ -e "$BPFFS/links/eth0" ] && [ -e "$BPFFS/links/eth1" ] || fail "link pins gone after SIGTERM"
[ "$(states)" = "up down up" ] || fail "maps changed by the exit: $(states)"
via_vip >/dev/null || fail "no forwarding while no agent runs"

log "--- a new agent adopts the pinned state without a gap, and swaps its program in"
# As if a drover of another build had attached the interfaces (an image
# upgrade): its program pinned under another name. The new agent must run
# its own program on both, with no gap in forwarding.
prog_ids() { drv -j status | jq -r '[.interfaces[] | .prog_id] | sort | join(" ")'; }
old_ids=$(prog_ids)
pins=("$BPFFS"/progs/drover_xdp-*)
[ ${#pins[@]} = 1 ] && [ -e "${pins[0]}" ] || fail "want one program pin under $BPFFS/progs, got: ${pins[*]}"
own_pin=${pins[0]}
mv "$own_pin" "$BPFFS/progs/drover_xdp-0000000000000000" || fail "cannot rename $own_pin"
# Sample the table and n2's state from before the start until the new agent is ready + 1 s.
: >"$E2E_TMP/samples"
(
	for _ in $(seq 1200); do
		echo "$(in_table) $(state 2)" >>"$E2E_TMP/samples"
		[ -e "$E2E_TMP/stop-sampling" ] && break
		sleep 0.05
	done
) &
SAMPLER=$!
E2E_PIDS+=("$SAMPLER")
(
	fails=0
	for _ in $(seq 600); do
		via_vip >/dev/null || fails=$((fails + 1))
		[ -e "$E2E_TMP/stop-sampling" ] && break
		sleep 0.1
	done
	echo $fails >"$E2E_TMP/traffic-fails"
) &
E2E_PIDS+=("$!")
TRAFFIC_PID=$!
nsamples() { wc -l <"$E2E_TMP/samples"; }
wait_for 30 sh -c "[ \$(wc -l <'$E2E_TMP/samples') -ge 3 ]" || fail "sampler too slow"
# It starts while a drover command holds the pin root's lock.
pin_root_lock
agent_start "$CFG"
wait_for 20 grep -q "a drover command holds the lock on $BPFFS" "$AGENT_LOG" ||
	fail "the agent did not say it waits for the lock: $(tail -5 "$AGENT_LOG")"
agent_alive || fail "the agent exited because a drover command held the lock: $(tail -5 "$AGENT_LOG")"
wait_for 10 sh -c "ip netns exec $LAB_NS_LB curl -sS --max-time 3 http://127.0.0.1:9469/readyz | grep -q 'waiting for the lock'" ||
	fail "/readyz does not say the agent waits for the lock to write the maps"
pin_root_unlock
wait_for 30 ready || fail "second agent not ready: $(tail -20 "$AGENT_LOG")"
n0=$(nsamples)
wait_for 30 sh -c "[ \$(wc -l <'$E2E_TMP/samples') -ge $((n0 + 3)) ]" || fail "sampler stopped"
touch "$E2E_TMP/stop-sampling"
wait "$SAMPLER" || true
wait "$TRAFFIC_PID" || true
log "samples (backends in table, n2 state): $(sort "$E2E_TMP/samples" | uniq -c | tr '\n' ';')"
if grep -qv '^2 down$' "$E2E_TMP/samples"; then
	fail "during the restart the table was not exactly the two healthy nodes: $(grep -v '^2 down$' "$E2E_TMP/samples" | head -3)"
fi
grep -q "service web: node $(node4 2) is DOWN in the pinned maps; it stays out until 2 checks pass" "$AGENT_LOG" ||
	fail "adoption of the down node not logged"
[ "$(cat "$E2E_TMP/traffic-fails")" = 0 ] ||
	fail "$(cat "$E2E_TMP/traffic-fails") connections through the VIP failed during the restart"
log "traffic through the VIP never failed during the restart"
# The swap put off by the lock runs at a poll after the lock goes, and loads
# the program first (the verifier takes seconds on a busy machine): wait for it.
swapped() {
	local ids
	ids=$(prog_ids)
	set -- $ids
	[ $# = 2 ] && [ "$1" = "$2" ] && ! grep -qw "$1" <<<"$old_ids"
}
wait_for 60 swapped || true
new_ids=$(prog_ids)
log "program ids of eth0 and eth1: $old_ids before, $new_ids after"
set -- $new_ids
[ $# = 2 ] && [ "$1" = "$2" ] && ! grep -qw "$1" <<<"$old_ids" ||
	fail "the interfaces run programs '$new_ids' after the restart, want one new program (before: '$old_ids')"
[ -e "$own_pin" ] && [ ! -e "$BPFFS/progs/drover_xdp-0000000000000000" ] ||
	fail "program pins after the upgrade: $(ls "$BPFFS/progs"), want only $(basename "$own_pin")"
for i in eth0 eth1; do
	grep -q "$i now runs this drover's XDP program (id $1, was " "$AGENT_LOG" ||
		fail "the swap on $i was not logged: $(grep -i prog "$AGENT_LOG" | tail -3)"
done
echo 200 >"$E2E_TMP/http2.mode"
wait_be_state 10 "$LAB_VIP4" $PORT "$(node4 2)" up || fail "n2 did not rise after the restart"
# The agent marks the backend up, then fills and flips the table: allow that step.
wait_for 10 in_table_is 3 || fail "table does not hold 3 backends 10 s after n2 rose: $(in_table)"

log "--- every node fails: fail open; a restarted agent keeps failing open, the table unchanged"
# The three states in node order, from one read of the maps.
all_states() {
	drv -j backend show "$LAB_VIP4" port $PORT 2>/dev/null |
		jq -r --arg a "$(node4 1)" --arg b "$(node4 2)" --arg c "$(node4 3)" '
			[.. | objects | select(.address?)] as $l
			| [$a, $b, $c] | map(. as $x | [$l[] | select(.address == $x) | .state] | first // "absent")
			| join(" ")'
}
states_are() { [ "$(all_states)" = "$1" ]; }
# checks_at_least RESULT COUNT N...: nodes N... have had at least COUNT checks
# with RESULT (pass/fail) by the running agent.
checks_at_least() {
	local r=$1 c=$2 n
	shift 2
	for n in "$@"; do
		[ "$(metric drover_node_checks_total "node=\"$(node4 $n)\",address=\"$(node4 $n)\",result=\"$r\"")" -ge "$c" ] 2>/dev/null || return 1
	done
}
# restart_sampled NAME: start an agent (the last one stopped) while sampling
# the states into $E2E_TMP/NAME.samples (every 50 ms) until restart_sampled_end.
restart_sampled() {
	rm -f "$E2E_TMP/stop-$1"
	: >"$E2E_TMP/$1.samples"
	(
		for _ in $(seq 2400); do
			all_states >>"$E2E_TMP/$1.samples"
			[ -e "$E2E_TMP/stop-$1" ] && break
			sleep 0.05
		done
	) &
	SAMPLER=$!
	E2E_PIDS+=("$SAMPLER")
	wait_for 30 sh -c "[ \$(wc -l <'$E2E_TMP/$1.samples') -ge 3 ]" || fail "sampler too slow"
	LOG_FROM=$(($(wc -l <"$AGENT_LOG") + 1))
	agent_start "$CFG"
	wait_for 30 ready || fail "restarted agent not ready: $(tail -20 "$AGENT_LOG")"
}
restart_sampled_end() {
	touch "$E2E_TMP/stop-$1"
	wait "$SAMPLER" || true
	log "samples (n1 n2 n3): $(sort "$E2E_TMP/$1.samples" | uniq -c | tr '\n' ';')"
}
new_log() { tail -n +"$LOG_FROM" "$AGENT_LOG"; }

for n in 1 2 3; do echo 500 >"$E2E_TMP/http$n.mode"; done
wait_for 15 metric_is drover_service_all_down 'service="web"' 1 ||
	fail "drover_service_all_down{service=web} did not become 1"
wait_for 5 states_are "up up up" || fail "fail-open: states $(all_states), want up up up"
agent_stop TERM
restart_sampled failopen
# Several check rounds of the new agent: fall (2) failures reach every node's
# verdict; 3 more are 3 more rounds in which a node could leave the table.
wait_for 20 checks_at_least fail 5 1 2 3 || fail "the new agent did not check every node 5 times in 20 s"
restart_sampled_end failopen
if grep -qvx 'up up up' "$E2E_TMP/failopen.samples"; then
	fail "a restart during a fail-open changed the table: $(grep -vx 'up up up' "$E2E_TMP/failopen.samples" | uniq | head -5 | tr '\n' ';')"
fi
metric_is drover_service_all_down 'service="web"' 1 || fail "the new agent does not report web failing open"
new_log | grep -q "service web: no node passes its health check; failing open" ||
	fail "the new agent did not log the fail-open: $(new_log | tail -10)"
new_log | grep -q "service web: start-up settle over: every node has a verdict (0 up, 3 down)" ||
	fail "the end of the start-up settle not logged: $(new_log | tail -10)"
metric_is drover_service_settling 'service="web"' 0 || fail "drover_service_settling of web is not 0 after the settle"
log "new agent: $(new_log | grep -E 'settle over|failing open' | cut -d' ' -f3- | tr '\n' ';')"
log "a restart during a fail-open left the table as it was (up up up) and the new agent fails open"

log "--- a restart with one node really down takes exactly that node out"
for n in 1 2 3; do echo 200 >"$E2E_TMP/http$n.mode"; done
wait_for 15 metric_is drover_service_all_down 'service="web"' 0 || fail "fail-open did not end"
wait_for 5 states_are "up up up" || fail "after the fail-open: states $(all_states), want up up up"
agent_stop TERM
echo 500 >"$E2E_TMP/http2.mode"
restart_sampled onedown
wait_for 15 states_are "up down up" || fail "n2 not taken out after the restart: $(all_states)"
# Some more rounds: n1 and n3, passing, must stay.
wait_for 20 checks_at_least pass 5 1 3 || fail "the new agent did not check n1 and n3 5 times in 20 s"
restart_sampled_end onedown
if grep -qvxE 'up (up|down) up' "$E2E_TMP/onedown.samples"; then
	fail "with n2 down, a restart took out another node: $(grep -vxE 'up (up|down) up' "$E2E_TMP/onedown.samples" | uniq | head -5 | tr '\n' ';')"
fi
states_are "up down up" || fail "after the restart with n2 down: states $(all_states), want up down up"
metric_is drover_service_all_down 'service="web"' 0 || fail "web reported failing open with two nodes passing"
new_log | grep -q "service web: start-up settle over: every node has a verdict (2 up, 1 down)" ||
	fail "the end of the start-up settle not logged: $(new_log | tail -10)"
log "new agent: $(new_log | grep -E "settle|$(node4 2)|failing open" | cut -d' ' -f3- | tr '\n' ';')"
echo 200 >"$E2E_TMP/http2.mode"
wait_for 15 states_are "up up up" || fail "n2 did not rise: $(all_states)"
wait_for 10 in_table_is 3 || fail "table does not hold 3 backends after n2 rose: $(in_table)"

log "--- a reload puts right what was changed behind the agent's back"
# The agent's own service deleted with the CLI, a stray one added: SIGHUP
# compares the config with the maps, not with what it believes it wrote.
drv service del "$LAB_VIP4" port $PORT || fail "service del failed"
drv service add 10.0.0.250 port 81 mode dsr || fail "stray service add failed"
kill -HUP "$AGENT_PID"
wait_for 20 in_table_is 3 || fail "the deleted service was not restored 20 s after SIGHUP: $(drv service show)"
stray_gone() { ! drv service show 10.0.0.250 port 81 >/dev/null 2>&1; }
wait_for 20 stray_gone || fail "the stray service is still there 20 s after SIGHUP"
grep -q "removed service 10.0.0.250 port 81" "$AGENT_LOG" || fail "removal of the stray service not logged"

log "--- maps removed and pinned anew behind the agent's back"
svc_packets() {
	ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/metrics |
		awk '/^drover_service_packets_total\{service="web"/ {print $NF; exit}'
}
# The reload above re-created the service, and its counters: add some.
for _ in $(seq 10); do via_vip >/dev/null || fail "no answer through the VIP before the detach"; done
old_packets=$(svc_packets)
[ "${old_packets:-0}" -gt 20 ] || fail "drover_service_packets_total of web is ${old_packets:-absent} before the detach, want > 20"
drv detach eth0 >/dev/null || fail "drover detach eth0 failed"
drv detach eth1 >/dev/null || fail "drover detach eth1 (the last) failed"
[ ! -e "$BPFFS/drv_svcs_v1" ] || fail "the maps are still pinned after the last detach"
wait_for 10 grep -q "the maps pinned under $BPFFS are gone" "$AGENT_LOG" ||
	fail "the agent did not notice that the maps are gone: $(tail -5 "$AGENT_LOG")"
no_datapath_metrics() { [ -z "$(svc_packets)" ]; }
wait_for 10 no_datapath_metrics || fail "/metrics still shows the removed maps' counters"
drv attach eth0 >/dev/null || fail "drover attach eth0 failed"
drv attach eth1 >/dev/null || fail "drover attach eth1 failed"
wait_for 20 in_table_is 3 || fail "the new maps were not filled 20 s after the attach: $(drv service show 2>&1)"
grep -q "the maps pinned under $BPFFS were replaced" "$AGENT_LOG" || fail "the refill was not logged"
wait_for 10 ready || fail "agent not ready after the attach: $(ready 2>&1)"
wait_for 10 via_vip >/dev/null || fail "no answer through the VIP after the new maps were filled"
new_packets=$(svc_packets)
[ "${new_packets:-0}" -gt 0 ] && [ "$new_packets" -lt "$old_packets" ] ||
	fail "drover_service_packets_total of web is ${new_packets:-absent} after the refill, want the new maps' count (> 0, < $old_packets)"
log "service packets in /metrics: $old_packets in the old maps, $new_packets in the new ones"

log "--- --detach-on-exit"
agent_stop TERM
ip netns exec "$LAB_NS_LB" "$DROVER" --bpffs "$BPFFS" run config "$CFG" --detach-on-exit \
	>>"$AGENT_LOG" 2>&1 &
AGENT_PID=$!
E2E_PIDS+=("$AGENT_PID")
wait_for 30 ready || fail "third agent not ready"
agent_stop TERM
[ ! -e "$BPFFS/links/eth0" ] || fail "link pin of eth0 still there after --detach-on-exit"
ip -n "$LAB_NS_LB" link show eth0 | grep -q xdp && fail "eth0 still has XDP after --detach-on-exit"
n=$(grep -c "detached .*from eth1" "$AGENT_LOG") || true
[ "$n" = 1 ] || fail "the detach of eth1 logged $n times, want once: $(grep "detached" "$AGENT_LOG" | tr '\n' '|')"
log "ok"
