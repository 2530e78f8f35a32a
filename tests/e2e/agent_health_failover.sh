#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The agent against real HTTP and HTTPS nodes (tests/tools/agent_node.py in the
# lab's node namespaces) made to fail: a node answering 500, a hung node and a
# stopped HTTPS node leave the table (backend state down) within
# fall × interval + timeout and come back after rise passes; every node failing
# fails open (all stay up, drover_service_all_down 1); drain by reload keeps the
# node out as "drain"; a bad config on SIGHUP is refused, logged, counted and
# changes nothing; /metrics parses as Prometheus text; traffic through the VIP
# reaches only healthy nodes.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

INTERVAL_MS=1000 TIMEOUT_MS=800 FALL=2 RISE=2
BOUND_MS=$((FALL * INTERVAL_MS + TIMEOUT_MS))
HTTP_PORT=18080 HTTPS_PORT=18443
CFG=$E2E_TMP/drover.yaml

lab_start
mount_bpffs

# Our servers on every node: HTTP (health + "node N") and HTTPS (lab certificate).
http_nodes_start $HTTP_PORT
for n in 1 2 3; do
	echo 200 >"$E2E_TMP/https$n.mode"
	bg "$(nsn $n)" python3 "$NODE_PY" --addr "$(node4 $n)" --port $HTTPS_PORT --name "n$n" \
		--mode-file "$E2E_TMP/https$n.mode" --cert "$LAB_TLS_CRT" --key "${LAB_TLS_CRT%.crt}.key"
	eval "HTTPS_PID_$n=$BG_PID"
done
for n in 1 2 3; do
	wait_for 20 ip netns exec "$(nsn $n)" ss -Htln "sport = :$HTTPS_PORT" ||
		fail "agent_node.py did not listen on n$n:$HTTPS_PORT"
done

# write_cfg [DRAIN_NODE [TCP_IDLE [CA_FILE [NODE_LEFT_OUT_OF_WEB]]]]
write_cfg() {
	local n
	cat >"$CFG.new" <<EOF
interfaces: [eth0, eth1]
xdp-mode: ${XDP_MODE:-native}
metrics: {listen: ${METRICS_LISTEN:-127.0.0.1:9469}}
timeouts: {tcp-idle: ${2:-1h}}
defaults:
  snat: $LAB_SNAT4
  # rehash-after 0: a failed node is down at once (its hold, state failing, is
  # agent_failing_node_keeps_its_connections.sh's subject); leave-after 0: a
  # node removed is freed at once (leaving is agent_reload_removed_node_*.sh's)
  health: {interval: ${INTERVAL_MS}ms, timeout: ${TIMEOUT_MS}ms, rise: $RISE, fall: $FALL, jitter: 0, rehash-after: 0, leave-after: 0}
services:
  - name: web
    vip: $LAB_VIP4
    ports: [$HTTP_PORT]
    health: {preset: rancher, port: $HTTP_PORT}
    nodes:
EOF
	for n in 1 2 3; do
		[ "${4:-}" = $n ] && continue
		echo "      - {address: $(node4 $n), name: n$n$([ "${1:-}" = $n ] && echo ", drain: true")}"
	done >>"$CFG.new"
	cat >>"$CFG.new" <<EOF
  - name: api
    vip: $LAB_VIP4
    ports: [$HTTPS_PORT]
    health:
      preset: kube-apiserver
      port: $HTTPS_PORT
      verify: true
      ca: ${3:-$LAB_TLS_CRT}
      sni: drover.lab
    nodes:
      - {address: $(node4 1), name: n1}
      - {address: $(node4 2), name: n2}
      - {address: $(node4 3), name: n3}
EOF
	mv "$CFG.new" "$CFG"
}

metrics() { ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 "http://127.0.0.1:9469$1"; }
state() { be_state "$LAB_VIP4" "$1" "$(node4 "$2")"; }
states() { echo "$(state $HTTP_PORT 1) $(state $HTTP_PORT 2) $(state $HTTP_PORT 3)"; }

# expect_state PORT NODE STATE [SERVICE]: `drover backend show` reports STATE
# wait_for 10 s. With SERVICE (a health transition), also check how fast the agent
# reacted: its "is DOWN"/"is UP" log line (timestamped to the ms) must follow
# the moment we broke or repaired the node (T_CHANGE) wait_for the bound
# fall × interval + timeout (rise × interval + timeout for up), plus slack for
# scheduling on a busy machine.
REACT_SLACK_MS=1000
mark() { T_CHANGE=$(date +%s%N); }
expect_state() {
	local port=$1 n=$2 want=$3 svc=${4:-} ts ms word bound
	wait_for 10 sh -c "[ \"\$(ip netns exec $LAB_NS_LB $DROVER --bpffs $BPFFS -j backend show $LAB_VIP4 port $port 2>/dev/null | jq -r --arg a $(node4 "$n") '[.. | objects | select(.address? == \$a) | .state] | first // \"absent\"')\" = $want ]" ||
		fail "node n$n port $port not $want in 10 s (is $(state "$port" "$n")); agent log: $(tail -5 "$AGENT_LOG")"
	[ -n "$svc" ] || return 0
	word=$(echo "$want" | tr a-z A-Z)
	[ "$want" = up ] && bound=$((RISE * INTERVAL_MS + TIMEOUT_MS)) || bound=$BOUND_MS
	ts=$(grep "service $svc: node n$n (.*) is $word after" "$AGENT_LOG" | tail -1 | cut -d' ' -f1)
	[ -n "$ts" ] || fail "no 'is $word' log line for n$n in service $svc"
	ms=$((($(date -d "$ts" +%s%N) - T_CHANGE) / 1000000))
	log "n$n:$port → $want: agent reacted after $ms ms (bound $bound ms)"
	[ $ms -le $((bound + REACT_SLACK_MS)) ] ||
		fail "n$n:$port: agent took $ms ms to mark it $want, more than $bound + $REACT_SLACK_MS ms"
}

write_cfg
agent_start "$CFG"
wait_for 30 metrics /readyz || fail "agent not ready in 30 s: $(tail -20 "$AGENT_LOG")"
for n in 1 2 3; do
	expect_state $HTTP_PORT $n up
	expect_state $HTTPS_PORT $n up
done
# Every HTTPS check verified the lab certificate and passed.
wait_for 10 sh -c "[ \"\$(ip netns exec $LAB_NS_LB curl -fsS --max-time 5 http://127.0.0.1:9469/metrics | grep -c '^drover_node_checks_total{service=\"api\".*result=\"pass\"} [1-9]')\" -eq 3 ]" ||
	fail "HTTPS checks with verify did not pass on all 3 nodes"

# Traffic through the VIP, when the data path forwards (it reaches only healthy nodes).
via_vip() { ip netns exec "$LAB_NS_CL" curl -fsS --max-time 3 "http://$LAB_VIP4:$HTTP_PORT/" 2>/dev/null; }
wait_for 10 via_vip || fail "no answer through the VIP in 10 s"

log "--- node n1 answers 500"
mark
echo 500 >"$E2E_TMP/http1.mode"
expect_state $HTTP_PORT 1 down web
[ "$(states)" = "down up up" ] || fail "after n1 failed: states $(states), want down up up"
# The reason is the 500, or a timeout when the machine is too loaded for the server to answer.
grep -Eq "service web: node n1 \($(node4 1)\) is DOWN after $FALL failed http checks: (HTTP status 500|timeout after)" "$AGENT_LOG" ||
	fail "no DOWN log line with the reason; log: $(tail -5 "$AGENT_LOG")"
[ "$(state $HTTPS_PORT 1)" = up ] || fail "n1 HTTPS service changed though its check passes"
for _ in $(seq 30); do
	out=$(via_vip) || fail "connection through the VIP failed with n1 down"
	[ "$out" != "node n1" ] || fail "new connection reached n1, which is down"
done
log "30 new connections through the VIP avoided the down node"
mark
echo 200 >"$E2E_TMP/http1.mode"
expect_state $HTTP_PORT 1 up web
grep -q "service web: node n1 ($(node4 1)) is UP after $RISE passed" "$AGENT_LOG" || fail "no UP log line"

log "--- node n2 hangs"
mark
echo hang >"$E2E_TMP/http2.mode"
expect_state $HTTP_PORT 2 down web
grep -q "node n2 .* is DOWN .*timeout after ${TIMEOUT_MS}ms" "$AGENT_LOG" || fail "no timeout reason logged for n2"
mark
echo 200 >"$E2E_TMP/http2.mode"
expect_state $HTTP_PORT 2 up web

log "--- HTTPS server of n3 stops"
mark
kill "$HTTPS_PID_3"
expect_state $HTTPS_PORT 3 down api
[ "$(state $HTTP_PORT 3)" = up ] || fail "n3 web changed though its HTTP check passes"
[ "$(metric drover_node_healthy 'service="api",node="n3"')" = 0 ] ||
	fail "drover_node_healthy of api n3 is not 0"

log "--- HTTPS of n1 hangs after the handshake (a hung apiserver)"
mark
echo hang >"$E2E_TMP/https1.mode"
expect_state $HTTPS_PORT 1 down api
grep -q "service api: node n1 .* is DOWN .*timeout after ${TIMEOUT_MS}ms (during receive)" "$AGENT_LOG" ||
	fail "hung HTTPS node not reported as a receive timeout"
mark
echo 200 >"$E2E_TMP/https1.mode"
expect_state $HTTPS_PORT 1 up api

log "--- every web node fails: fail open"
for n in 1 2 3; do echo 500 >"$E2E_TMP/http$n.mode"; done
wait_for 10 sh -c "ip netns exec $LAB_NS_LB curl -fsS --max-time 5 http://127.0.0.1:9469/metrics | grep -q '^drover_service_all_down{service=\"web\"} 1'" ||
	fail "drover_service_all_down{service=web} did not become 1"
states_are() { [ "$(states)" = "$1" ]; }
wait_for 5 states_are "up up up" || fail "fail-open: states $(states), want up up up"
[ "$(grep -c 'service web: no node passes its health check; failing open' "$AGENT_LOG")" = 1 ] ||
	fail "fail-open not logged exactly once"
[ "$(metric drover_service_all_down 'service="api"')" = 0 ] || fail "api reported all down"
via_vip >/dev/null || fail "no traffic through the VIP while failing open"
log "--- a node added during the fail-open joins after its checks pass: the fail-open goes on"
reloads_ok() { grep -c "reload (.*) ok" "$AGENT_LOG" || true; }
r0=$(reloads_ok)
write_cfg "" "" "" 3
wait_for 10 sh -c "[ \$(grep -c 'reload (.*) ok' $AGENT_LOG) -gt $r0 ]" || fail "reload without n3 not seen"
wait_for 10 sh -c "[ \"\$(ip netns exec $LAB_NS_LB $DROVER --bpffs $BPFFS -j backend show $LAB_VIP4 port $HTTP_PORT | jq '[.. | objects | select(.address?)] | length')\" = 2 ]" ||
	fail "n3 still in web's backends after the reload without it"
r0=$(reloads_ok)
write_cfg
wait_for 10 sh -c "[ \$(grep -c 'reload (.*) ok' $AGENT_LOG) -gt $r0 ]" || fail "reload with n3 again not seen"
grep -q "service web: node n3 is new; it joins once $RISE checks pass" "$AGENT_LOG" ||
	fail "n3, added back, not logged as new and waiting for its checks"
[ "$(metric drover_service_all_down 'service="web"')" = 1 ] || fail "adding n3 ended the fail-open"
wait_for 5 states_are "up up up" || fail "fail-open with n3 added: states $(states), want up up up"
[ "$(grep -c 'service web: a node passes its health check again; fail-open is over' "$AGENT_LOG")" = 0 ] ||
	fail "adding a node that passed no check ended the fail-open"
for n in 1 2 3; do echo 200 >"$E2E_TMP/http$n.mode"; done
wait_for 15 sh -c "ip netns exec $LAB_NS_LB curl -fsS --max-time 5 http://127.0.0.1:9469/metrics | grep -q '^drover_service_all_down{service=\"web\"} 0'" ||
	fail "fail-open did not end"
grep -q "service web: a node passes its health check again; fail-open is over" "$AGENT_LOG" ||
	fail "end of fail-open not logged"

log "--- reload with a bad config is refused and changes nothing"
# What a reload could change: the node set, weights and drain (health keeps
# moving on its own meanwhile: nodes are still rising after the fail-open).
config_state() {
	drv -j backend show "$LAB_VIP4" port $HTTP_PORT |
		jq -c '[.. | objects | select(.address?) | {address, port, weight, drain: (.state == "drain")}]'
}
before=$(config_state)
cp "$CFG" "$E2E_TMP/good.yaml"
sed -i 's/^    ports: \[\(18080\)\]/    ports: [\1, 0]/' "$CFG"
kill -HUP "$AGENT_PID"
wait_for 10 grep -q "reload (SIGHUP) failed, running configuration kept: $CFG:[0-9]*:[0-9]*: 'ports' is 0" "$AGENT_LOG" ||
	fail "bad reload not logged with FILE:LINE:COL; log: $(tail -3 "$AGENT_LOG")"
[ "$(metric drover_config_reloads_total 'result="failure"')" -ge 1 ] || fail "failed reload not counted"
[ "$(metrics /metrics | awk '$1 == "drover_config_last_reload_successful" {print $2}')" = 0 ] ||
	fail "last reload not reported failed"
after=$(config_state)
[ "$before" = "$after" ] || fail "state changed after a refused reload: $before → $after"
agent_alive || fail "agent died on a bad reload"
metrics /readyz >/dev/null || fail "agent not ready after a refused reload"

log "--- drain n3 by editing the file (no signal)"
write_cfg 3 2m
expect_state $HTTP_PORT 3 drain
grep -q "reload (file changed) ok" "$AGENT_LOG" || fail "file change not picked up"
idle=$(bpftool -j map dump pinned "$BPFFS/drv_cfg_v1" | jq -r '.[0].formatted.value.tcp_idle_timeout_s // .[0].value.tcp_idle_timeout_s // empty')
[ "$idle" = 120 ] || fail "tcp-idle 2m not written to drv_cfg by the reload (got '$idle')"
[ "$(state $HTTPS_PORT 3)" = down ] || fail "api n3 should still be down (its server is stopped)"

log "--- a reload refused for a CA file not there yet applies by itself once it appears"
CA_LATER=$E2E_TMP/ca-later.crt
write_cfg 2 2m "$CA_LATER"
wait_for 10 grep -q "reload (file changed) failed, running configuration kept: $CFG:[0-9]*: service 'api'.*$CA_LATER" "$AGENT_LOG" ||
	fail "reload naming a missing CA file not refused; log: $(tail -3 "$AGENT_LOG")"
[ "$(state $HTTP_PORT 2)" = up ] || fail "n2 drained by a refused reload"
fails=$(metric drover_config_reloads_total 'result="failure"')
# Give the first retry (2 s after) time to fail the same way: neither logged nor counted again.
# (Were it late on a busy machine, the checks below would still hold.)
retry_end=$(($(now_us) + 3000000))
while [ "$(now_us)" -lt $retry_end ]; do sleep 0.2; done
[ "$(grep -c "failed, running configuration kept: .*$CA_LATER" "$AGENT_LOG")" -eq 1 ] ||
	fail "a retry failing the same way was logged again: $(grep "$CA_LATER" "$AGENT_LOG")"
[ "$(metric drover_config_reloads_total 'result="failure"')" = "$fails" ] ||
	fail "a retry failing the same way was counted again"
cp "$LAB_TLS_CRT" "$CA_LATER"
expect_state $HTTP_PORT 2 drain
grep -q "reload (retry) ok" "$AGENT_LOG" || fail "no 'reload (retry) ok' in the log"
write_cfg 3 2m
expect_state $HTTP_PORT 2 up
expect_state $HTTP_PORT 3 drain

# log_count TEXT: how many lines of the agent's log hold TEXT.
log_count() { grep -cF -- "$1" "$AGENT_LOG" || true; }
# log_grows SECONDS TEXT BEFORE: wait until more than BEFORE lines of the agent's log hold TEXT.
log_grows() {
	wait_for "$1" sh -c '[ "$(grep -cF -- "$1" "$2")" -gt "$3" ]' sh "$2" "$AGENT_LOG" "$3"
}

log "--- a renewed CA file is read again, the config unchanged"
n_tls=$(log_count "reload (TLS file changed) ok")
touch "$LAB_TLS_CRT"
log_grows 10 "reload (TLS file changed) ok" "$n_tls" ||
	fail "changing $LAB_TLS_CRT did not reload; log: $(tail -3 "$AGENT_LOG")"
expect_state $HTTP_PORT 3 drain

log "--- a drover command holding the pin root's lock does not stall the agent"
pin_root_lock
n_ok=$(log_count "reload (file changed) ok")
write_cfg 2 2m
# The reload and /metrics go on while the lock is held; the maps follow once it is free.
log_grows 5 "reload (file changed) ok" "$n_ok" ||
	fail "the agent waited for the pin root's lock: no reload in 5 s; log: $(tail -3 "$AGENT_LOG")"
# The time curl itself took for the request: not the start of ip netns exec and
# curl, which alone take 0.4-0.7 s on a busy 2-core machine.
took=$(ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 -o /dev/null -w '%{time_total}' \
	http://127.0.0.1:9469/metrics) || fail "/metrics did not answer while the pin root was locked"
took_ms=$(awk -v t="$took" 'BEGIN { printf "%d", t * 1000 }')
[ "$took_ms" -lt 2000 ] || fail "/metrics took $took_ms ms while locked"
[ "$(state $HTTP_PORT 2)" = up ] || fail "the maps changed while the pin root was locked"
pin_root_unlock
expect_state $HTTP_PORT 2 drain
write_cfg 3 2m
expect_state $HTTP_PORT 2 up
expect_state $HTTP_PORT 3 drain

log "--- a reload to a busy metrics port keeps serving on the old one"
bg "$LAB_NS_LB" python3 -c 'import socket,time
s=socket.socket(); s.bind(("127.0.0.1", 9470)); s.listen(1); time.sleep(120)'
busy_pid=$BG_PID
wait_for 10 listens "$LAB_NS_LB" 127.0.0.1 9470 || fail "could not take port 9470"
METRICS_LISTEN=127.0.0.1:9470 write_cfg 3 2m
wait_for 10 grep -q "still serving /metrics, /healthz and /readyz on http://127.0.0.1:9469" "$AGENT_LOG" ||
	fail "no 'still serving' after a reload to a busy port; log: $(tail -3 "$AGENT_LOG")"
metrics /healthz | grep -q ok || fail "/healthz on the old port stopped after a reload to a busy port"
kill "$busy_pid"
wait_for 10 sh -c "! ip netns exec $LAB_NS_LB ss -Htln 'sport = :9470' | grep -q ." || fail "port 9470 still busy"
n_ok=$(log_count "reload (file changed) ok")
write_cfg 3 2m # back to 9469, which is still served
log_grows 10 "reload (file changed) ok" "$n_ok" ||
	fail "reload back to the served metrics address failed; log: $(tail -3 "$AGENT_LOG")"
metrics /healthz | grep -q ok || fail "/healthz not served after the reload back to 9469"

log "--- a reload changing xdp-mode says the attached interfaces keep theirs"
XDP_MODE=skb write_cfg 3 2m
wait_for 10 grep -q "reload: xdp-mode is now skb; interfaces attached already keep native" "$AGENT_LOG" ||
	fail "no warning for an xdp-mode change; log: $(tail -3 "$AGENT_LOG")"
ip -n "$LAB_NS_LB" link show eth0 | grep -q "xdp " || fail "eth0 lost its native XDP on the reload"
write_cfg 3 2m
wait_for 10 grep -q "reload: xdp-mode is now native" "$AGENT_LOG" || fail "no warning for xdp-mode back"

log "--- /metrics is valid Prometheus text"
metrics /metrics >"$E2E_TMP/metrics.txt"
python3 - "$E2E_TMP/metrics.txt" <<'EOF' || fail "metrics did not parse"
import re, sys
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')
names, typed = set(), set()
for i, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        typed.add(line.split()[2]); continue
    if line.startswith("#") or not line:
        continue
    m = sample.match(line)
    if not m:
        sys.exit("line %d is not a sample: %r" % (i, line))
    if not m.group(1).startswith("drover_"):
        sys.exit("line %d: no drover_ prefix" % i)
    if m.group(1) not in typed:
        sys.exit("line %d: %s has no TYPE" % (i, m.group(1)))
    names.add(m.group(1))
need = {"drover_packets_total", "drover_drops_total", "drover_service_packets_total",
        "drover_service_new_flows_total", "drover_backend_packets_total", "drover_backend_state",
        "drover_node_healthy", "drover_node_check_duration_seconds", "drover_config_reloads_total",
        "drover_service_all_down", "drover_map_entries", "drover_map_max_entries"}
missing = need - names
if missing:
    sys.exit("missing: %s" % sorted(missing))
print("metrics: %d families ok" % len(names))
EOF
# web and api: three nodes each, one backend id per node and port
grep -qx 'drover_map_entries{map="backends"} 6' "$E2E_TMP/metrics.txt" ||
	fail "drover_map_entries of backends: $(grep 'map="backends"' "$E2E_TMP/metrics.txt")"
grep -q '^drover_backend_state{service="web",node="n3",address="'"$(node4 3)"'",port="'$HTTP_PORT'",state="drain"} 1' "$E2E_TMP/metrics.txt" ||
	fail "drover_backend_state does not show n3 drained"
pk=$(awk -F' ' '/^drover_service_packets_total\{service="web"/ {print $2}' "$E2E_TMP/metrics.txt")
[ "${pk:-0}" -gt 0 ] || fail "drover_service_packets_total of web is 0 after traffic"
metrics /healthz | grep -q ok || fail "/healthz"

log "--- a backend the CLI added on a node's address (another port, a lower id) is no node's in /metrics"
write_cfg 3 2m "" 1 # n1 leaves web: its backend id is free again
expect_state $HTTP_PORT 1 absent
drv backend add "$LAB_VIP4" port $HTTP_PORT "$(node4 2)" port 9999 >/dev/null ||
	fail "drover backend add of n2 port 9999 failed"
metrics /metrics >"$E2E_TMP/metrics-cli.txt"
drv backend del "$LAB_VIP4" port $HTTP_PORT "$(node4 2)" port 9999 >/dev/null ||
	fail "drover backend del of n2 port 9999 failed"
dups=$(grep -v '^#' "$E2E_TMP/metrics-cli.txt" | awk '{ $NF = ""; print }' | sort | uniq -d)
[ -z "$dups" ] || fail "duplicate series in /metrics: $(echo "$dups" | head -3)"
for n in 2 3; do
	grep -q '^drover_backend_packets_total{service="web",node="n'$n'",address="'"$(node4 $n)"'",port="'$HTTP_PORT'"} ' \
		"$E2E_TMP/metrics-cli.txt" || fail "node n$n of web is missing from drover_backend_packets_total"
done
write_cfg 3 2m
expect_state $HTTP_PORT 1 up

# From 127.0.0.1, the probes' own address, shared with every process of the host.
log "--- 80 idle connections from 127.0.0.1 to the metrics port (more than its 64) do not starve /healthz"
bg "$LAB_NS_LB" python3 -c 'import socket, sys, time
held = []
for _ in range(80):
    c = socket.socket()
    c.settimeout(2)
    c.bind(("127.0.0.1", 0))
    try:
        c.connect(("127.0.0.1", 9469))
        held.append(c)
    except OSError:
        c.close()
open(sys.argv[1], "w").write("%d\n" % len(held))
time.sleep(30)' "$E2E_TMP/held"
HOLD_PID=$BG_PID
wait_for 20 test -s "$E2E_TMP/held" || fail "the idle connections were not made"
# a liveness probe's patience (3 s), less than the server's idle timeout
ip netns exec "$LAB_NS_LB" curl -fsS --max-time 3 http://127.0.0.1:9469/healthz | grep -q ok ||
	fail "/healthz starved by idle connections from 127.0.0.1"
kill "$HOLD_PID"

log "--- /readyz follows the attachment; a reload re-attaches"
drv detach eth1 keep-maps >/dev/null 2>&1 || fail "drover detach eth1 failed"
readyz_text() { ip netns exec "$LAB_NS_LB" curl -sS --max-time 5 http://127.0.0.1:9469/readyz; }
wait_for 10 sh -c "ip netns exec $LAB_NS_LB curl -sS --max-time 5 http://127.0.0.1:9469/readyz | grep -q 'not ready: not attached to eth1'" ||
	fail "/readyz did not report the detached interface: $(readyz_text)"
[ "$(metrics /metrics | awk '$1 == "drover_ready" {print $2}')" = 0 ] ||
	fail "drover_ready is not 0 while /readyz says not ready"
kill -HUP "$AGENT_PID"
wait_for 10 metrics /readyz || fail "reload did not re-attach eth1: $(readyz_text)"
[ -e "$BPFFS/links/eth1" ] || fail "no link pin for eth1 after the reload"

before=$(states)
agent_stop TERM
grep -q "exiting; XDP stays attached" "$AGENT_LOG" || fail "no exit message"
[ -e "$BPFFS/links/eth0" ] || fail "XDP link pin gone after SIGTERM without --detach-on-exit"
[ "$(states)" = "$before" ] || fail "maps changed after the agent exited: $before, now $(states)"
log "ok"
