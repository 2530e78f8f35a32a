#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# What a reload does with each kind of file and key, as docs/agent.md says:
# - refused (running state kept: services, backends and drv_cfg exactly as
#   before, counted once in drover_config_reloads_total{result="failure"},
#   logged with FILE:LINE:COL): an unknown key, a duplicate key, a wrong type,
#   a value out of range, an empty file, a directory in its place, a CA file
#   missing (and a retry that fails another way, the file now no certificate,
#   is counted too);
# - applied at once: flow timeouts removed (drv_cfg back to 0, the data path
#   defaults), a node added (it joins once its checks pass, the others stay
#   UP), the health check changed (the checks fail on a port nothing serves),
#   a service's port changed and a service removed (their maps entries go).
#
#   balancer ns: the agent on la 10.77.0.1/24 -- node ns: n0 10.77.0.2 and .3
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq socat curl bpftool
mount_bpffs

VIP=10.99.0.20 NODE1=10.77.0.2 NODE2=10.77.0.3
for r in lb n1; do ns_add "$r" >/dev/null; done
LNS=$T-lb N1=$T-n1
ROOT=$BPFFS/drover
dr() { ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" "$@"; }

ip -n "$LNS" link add la type veth peer name n0 netns "$N1"
ip -n "$LNS" addr add 10.77.0.1/24 dev la
ip -n "$LNS" link set la up
ip -n "$N1" addr add "$NODE1/24" dev n0
ip -n "$N1" addr add "$NODE2/24" dev n0
ip -n "$N1" link set n0 up
node_echo80 "$N1" # listens on both node addresses

CFG=$E2E_TMP/drover.yaml
LOG=$E2E_TMP/agent.log
# put: the file from stdin, swapped in whole (the agent sees one change)
put() { cat >"$CFG.new" && mv "$CFG.new" "$CFG"; }
# text TIMEOUTS NODES HEALTH_PORT WEB_PORT [EXTRA_SERVICE]: a config; good ...: put it in place
good() { text "$@" | put; }
text() {
	cat <<EOF
interfaces: [la]
metrics: {listen: 127.0.0.1:9483}
$1
services:
  - name: web
    vip: $VIP
    ports: [$4]
    mode: dsr
    health: {kind: tcp, port: $3, interval: 500ms, timeout: 400ms, rise: 1, fall: 1}
    nodes: [$2]
${5:-}
EOF
}
API="  - {name: api, vip: $VIP, ports: [6443], mode: dsr, nodes: [$NODE1]}"
good "timeouts: {tcp-idle: 120s, tcp-fin: 5s}" "$NODE1" 80 80 "$API"
ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" >"$LOG" 2>&1 &
AGENT=$!
E2E_PIDS+=("$AGENT")
agent_up() { kill -0 "$AGENT" 2>/dev/null || fail "the agent exited: $(tail -20 "$LOG")"; }
is_ready() { ip netns exec "$LNS" curl -fsS --max-time 5 http://127.0.0.1:9483/readyz >/dev/null; }
# metric NAME LABEL-SUBSTRING: that sample's value ("" if absent)
metric() {
	local m
	m=$(ip netns exec "$LNS" curl -fsS --max-time 5 http://127.0.0.1:9483/metrics) || return 0
	awk -v n="$1" -v l="$2" '(index($0, n "{") == 1 || index($0, n " ") == 1) && index($0, l) { print $NF; exit }' <<<"$m"
}
failures() { metric drover_config_reloads_total 'result="failure"'; }
# the running state a refused reload must keep: services, each one's backends, drv_cfg
state() {
	dr -j service show | jq -S 'map(del(.counters))'
	for p in $(dr -j service show | jq -r '.[].port'); do
		dr -j backend show "$VIP" port "$p" | jq -S 'map({address, port, state, weight})'
	done
	bpftool -j map dump pinned "$ROOT/drv_cfg_v1" | jq -S '.[0].formatted.value'
}
be_state() { # PORT ADDR: the backend's state in the maps
	dr -j backend show "$VIP" port "$1" | jq -r --arg a "$2" '.[] | select(.address == $a) | .state'
}
has_port() { dr -j service show | jq -e --argjson p "$1" 'map(.port) | index($p) != null' >/dev/null; }

wait_for 30 is_ready || fail "agent not ready in 30 s: $(tail -20 "$LOG")"
wait_for 10 has_port 6443 || fail "service api not written: $(dr service show)"
wait_for 10 sh -c "[ \"\$(ip netns exec $LNS $DROVER --bpffs $ROOT -j backend show $VIP port 80 | jq -r '.[0].state')\" = up ]" ||
	fail "node $NODE1 not UP: $(dr backend show $VIP port 80)"
BEFORE=$(state)
grep -q '"tcp_idle_timeout_s": 120' <<<"$BEFORE" || fail "tcp-idle 120s not in drv_cfg: $BEFORE"

# refused WHAT NEEDLE: the file now in place is refused, said with NEEDLE, counted
# once, and the running state is exactly as it was
refused() {
	local n0 nl
	n0=$(failures) nl=$(grep -c "failed, running configuration kept" "$LOG" || true)
	kill -HUP "$AGENT"
	wait_for 30 sh -c "[ \$(grep -c 'failed, running configuration kept' '$LOG') -gt $nl ]" ||
		fail "$1: no refusal logged in 30 s: $(tail -5 "$LOG")"
	grep "failed, running configuration kept" "$LOG" | tail -1 | grep -qF -- "$2" ||
		fail "$1: the refusal does not say '$2': $(grep 'failed, running' "$LOG" | tail -1)"
	agent_up
	[ "$(state)" = "$BEFORE" ] || fail "$1: the running state changed: $(state), was $BEFORE"
	# once by the file's change and once by SIGHUP when it came first: each is a reload
	wait_for 10 sh -c "[ \$(ip netns exec $LNS curl -fsS --max-time 5 http://127.0.0.1:9483/metrics | awk '/^drover_config_reloads_total\{result=\"failure\"\}/ { print \$NF }') -gt $n0 ]" ||
		fail "$1: drover_config_reloads_total{result=\"failure\"} is still $n0"
	[ "$(metric drover_config_last_reload_successful '')" = 0 ] ||
		fail "$1: drover_config_last_reload_successful is not 0"
	log "$1: refused ($(grep 'failed, running' "$LOG" | tail -1 | sed 's/.*kept: //' | cut -c1-110)), state kept"
}

log "refused reloads keep the running state"
T120="timeouts: {tcp-idle: 120s, tcp-fin: 5s}"
{ text "$T120" "$NODE1" 80 80 "$API"; echo "servics: []"; } | put
refused "unknown key" "$CFG:$(wc -l <"$CFG"):1: unknown key 'servics'"
text "$T120" "$NODE1" 80 80 "$API" | sed 's/^    ports: \[80\]$/&\n    ports: [81]/' | put
refused "duplicate key" "$CFG:8:5: duplicate key 'ports'"
good "$T120" "$NODE1" 80 "{a: 1}" "$API"
refused "wrong type" "$CFG:7:13: 'ports' needs a value, got a mapping"
good "timeouts: {tcp-idle: 0s, tcp-fin: 5s}" "$NODE1" 80 80 "$API"
refused "out of range" "$CFG:3:22: 'tcp-idle' is 0s, must be whole seconds, 1s to 1193h"
put </dev/null
refused "empty file" "$CFG:1:1: the configuration is empty"
rm -f "$CFG"
mkdir "$CFG"
refused "a directory" "$CFG: cannot read: Is a directory (give the config file, not its directory)"
rmdir "$CFG"

log "a retry that fails another way is counted: a CA file missing, then not a certificate"
CA=$E2E_TMP/ca.pem
text "$T120" "$NODE1" 80 80 "$API" |
	sed "s|health: {kind: tcp, port: 80,|health: {kind: https, port: 443, verify: true, ca: $CA,|" | put
refused "CA file missing" "service 'web': cannot load CA bundle '$CA' (health 'ca')"
n1=$(failures) r1=$(grep -c "reload (retry) failed" "$LOG" || true)
echo "not a certificate" >"$CA"
wait_for 70 sh -c "[ \$(grep -c 'reload (retry) failed' '$LOG') -gt $r1 ]" ||
	fail "no retry failed with the new cause within 70 s: $(tail -5 "$LOG")"
[ "$(state)" = "$BEFORE" ] || fail "CA file not a certificate: the running state changed: $(state)"
[ "$(failures)" = $((n1 + 1)) ] ||
	fail "a retry that failed another way ($(grep 'reload (retry) failed' "$LOG" | tail -1 | sed 's/.*kept: //')) is not counted: drover_config_reloads_total{result=\"failure\"} $(failures), was $n1"
log "retry with a new cause counted ($n1 -> $(failures))"
rm -f "$CA"

log "a good file: timeouts back to the defaults, a node added, service api removed"
good "" "$NODE1, $NODE2" 80 80
kill -HUP "$AGENT"
wait_for 30 sh -c "bpftool -j map dump pinned $ROOT/drv_cfg_v1 | jq -e '.[0].formatted.value.tcp_idle_timeout_s == 0 and .[0].formatted.value.tcp_fin_timeout_s == 0'" ||
	fail "drv_cfg keeps the removed timeouts: $(bpftool map dump pinned "$ROOT/drv_cfg_v1")"
wait_for 10 sh -c "! ip netns exec $LNS $DROVER --bpffs $ROOT -j service show | jq -e 'map(.port) | index(6443) != null'" ||
	fail "service api still in the maps: $(dr service show)"
wait_for 10 sh -c "[ \"\$(ip netns exec $LNS $DROVER --bpffs $ROOT -j backend show $VIP port 80 | jq -r --arg a $NODE2 '.[] | select(.address == \$a) | .state')\" = up ]" ||
	fail "the new node $NODE2 did not join: $(dr backend show $VIP port 80)"
[ "$(be_state 80 "$NODE1")" = up ] || fail "node $NODE1 left when $NODE2 was added: $(dr backend show $VIP port 80)"
[ "$(metric drover_config_last_reload_successful '')" = 1 ] || fail "last reload not counted successful"
grep -q "node $NODE2 is new; it joins once 1 checks pass" "$LOG" || fail "the new node's wait not logged"

log "the health check moved to port 81 (nothing listens): the checks fail at once"
fails0=$(metric drover_node_checks_total "address=\"$NODE1\",result=\"fail\"")
good "" "$NODE1, $NODE2" 81 80
kill -HUP "$AGENT"
wait_for 15 sh -c "[ \"\$(ip netns exec $LNS curl -fsS --max-time 5 http://127.0.0.1:9483/metrics | awk 'index(\$0, \"drover_node_checks_total{\") == 1 && index(\$0, \"address=\\\"$NODE1\\\",result=\\\"fail\\\"\") { print \$NF }')\" -gt ${fails0:-0} ]" ||
	fail "no failed check of $NODE1 after the check moved to port 81: $(metric drover_node_checks_total "$NODE1")"
wait_for 15 sh -c "[ \"\$(ip netns exec $LNS curl -fsS --max-time 5 http://127.0.0.1:9483/metrics | awk 'index(\$0, \"drover_service_all_down{\") == 1 { print \$NF }')\" = 1 ]" ||
	fail "the service does not fail open with every check failing"

log "the service moved to port 8080: the old key goes, the new one is written"
good "" "$NODE1, $NODE2" 80 8080
kill -HUP "$AGENT"
wait_for 10 has_port 8080 || fail "port 8080 not in the maps: $(dr service show)"
! has_port 80 || fail "port 80 still in the maps after the move: $(dr service show)"
agent_up
log "PASS"
