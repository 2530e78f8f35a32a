#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The agent's whole /metrics, as a Prometheus server scrapes it, passes the
# exposition-format and naming lint (tests/tools/promlint.py; promtool check
# metrics too, where installed) and serves exactly the families docs/agent.md
# lists: nat, dsr and tunnel services, IPv4 and IPv6, nodes up, failing, down
# and draining, a service failing open, after traffic through nat and dsr; also
# at start-up and after a reload that failed.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

HTTP_PORT=18080
CFG=$E2E_TMP/drover.yaml
# Addresses on the nodes' subnet that no namespace holds: their checks never pass.
GONE6=fd00:2::99 GONE6B=fd00:2::98

lab_start
mount_bpffs
lab_dsr_nodes
http_nodes_start $HTTP_PORT

cat >"$CFG" <<EOF
interfaces: [eth0, eth1]
metrics: {listen: 127.0.0.1:9469}
defaults:
  health: {interval: 500ms, timeout: 400ms, rise: 1, fall: 1, jitter: 0, rehash-after: 0}
services:
  - name: web4
    vip: $LAB_VIP4
    ports: [80, 443]
    snat: $LAB_SNAT4
    # n2 fails its check and holds its connections (failing) for the whole test
    health: {preset: rancher, port: $HTTP_PORT, rehash-after: 1h}
    nodes:
      - {address: $(node4 1), name: n1}
      - {address: $(node4 2), name: n2}
      - {address: $(node4 3), name: n3, drain: true}
  - name: web6
    vip: $LAB_VIP6
    ports: [80]
    snat: $LAB_SNAT6
    health: {preset: tcp}
    nodes: [$(node6 1), $(node6 2), {address: $GONE6, name: gone6}]
  - name: echo-dsr
    vip: $LAB_VIP4
    ports: [7]
    mode: dsr
    nodes: [$(node4 1), $(node4 2), $(node4 3)]
  - name: api6-dsr
    vip: $LAB_VIP6
    ports: [6443]
    mode: dsr
    nodes: [$GONE6, {address: $GONE6B, name: gone6b}]
  - name: tun
    vip: $LAB_VIP4
    ports: [6443]
    mode: tunnel
    snat: $LAB_SNAT4
    nodes: [$(node4 1), $(node4 2)]
EOF

metrics() { ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/metrics; }
# value SERIES: the value of exactly that series (name{labels} as served) now
value() { metrics | awk -v s="$1" '$1 == s {print $2}'; }
value_is() { [ "$(value "$1")" = "$2" ]; }
# lint NAME: scrape /metrics into $E2E_TMP/NAME.txt and lint it (a scrape may get
# 503 busy while the agent holds its state: attaching an interface, a reload)
scrape_to() { metrics >"$1"; }
lint() {
	local f=$E2E_TMP/$1.txt
	wait_for 20 scrape_to "$f" || fail "GET /metrics ($1) failed for 20 s"
	"$PYTHON" "$E2E_TOP/tests/tools/promlint.py" "$f" >"$E2E_TMP/$1.lint" 2>&1 ||
		fail "/metrics ($1) fails the lint:
$(cat "$E2E_TMP/$1.lint")"
	log "$1: $(cat "$E2E_TMP/$1.lint")"
	if command -v promtool >/dev/null; then
		promtool check metrics <"$f" >"$E2E_TMP/$1.promtool" 2>&1 ||
			fail "/metrics ($1) fails promtool check metrics: $(cat "$E2E_TMP/$1.promtool")"
	fi
}

echo 500 >"$E2E_TMP/http2.mode"
agent_start "$CFG"
wait_for 30 metrics || fail "no /metrics in 30 s; log: $(tail -20 "$AGENT_LOG")"
lint start

wait_for 30 be_state_is "$LAB_VIP4" 80 "$(node4 2)" failing ||
	fail "n2 of web4 not failing in 30 s: $(be_state "$LAB_VIP4" 80 "$(node4 2)"); log: $(tail -20 "$AGENT_LOG")"
wait_for 30 be_state_is "$LAB_VIP6" 80 "$GONE6" down ||
	fail "gone6 of web6 not down in 30 s: $(be_state "$LAB_VIP6" 80 "$GONE6")"
wait_for 30 value_is 'drover_service_all_down{service="api6-dsr"}' 1 ||
	fail "api6-dsr is not failing open in 30 s"
for t in "$LAB_VIP4 80" "$LAB_VIP6 80" "$LAB_VIP4 443"; do
	# shellcheck disable=SC2086
	out=$(spread $t 30) || fail "lbtool spread to $t failed: $out"
done
echo hi | ip netns exec "$LAB_NS_CL" timeout 10 nc -q 1 "$LAB_VIP4" 7 >/dev/null ||
	fail "no answer from the dsr echo service"

lint traffic
m=$E2E_TMP/traffic.txt
# The scene is in what was linted: each state, and traffic counted for both modes.
for want in "drover_backend_state{service=\"web4\",node=\"n2\",address=\"$(node4 2)\",port=\"80\",state=\"failing\"} 1" \
	"drover_backend_state{service=\"web4\",node=\"n3\",address=\"$(node4 3)\",port=\"80\",state=\"drain\"} 1" \
	"drover_backend_state{service=\"web6\",node=\"gone6\",address=\"$GONE6\",port=\"80\",state=\"down\"} 1" \
	"drover_backend_state{service=\"web6\",node=\"$(node6 1)\",address=\"$(node6 1)\",port=\"80\",state=\"up\"} 1" \
	'drover_service_all_down{service="api6-dsr"} 1'; do
	grep -qxF "$want" "$m" || fail "/metrics lacks: $want"
done
for s in "service=\"web4\",vip=\"$LAB_VIP4\",port=\"80\"" "service=\"web6\",vip=\"$LAB_VIP6\",port=\"80\"" \
	"service=\"echo-dsr\",vip=\"$LAB_VIP4\",port=\"7\""; do
	n=$(awk -v s="drover_service_packets_total{$s}" '$1 == s {print $2}' "$m")
	[ "${n:-0}" -gt 0 ] || fail "drover_service_packets_total{$s} is '${n:-}' after traffic"
done
# The checker itself: broken copies of this answer, one per rule, are refused.
"$PYTHON" "$E2E_TOP/tests/tools/promlint.py" --self-test "$m" || fail "promlint.py passes a broken copy"

# Every family served is in docs/agent.md's table, and every family there is served.
"$PYTHON" - "$m" "$E2E_TOP/docs/agent.md" <<'PY' || fail "/metrics and docs/agent.md's table of metrics differ"
import re, sys
served = {l.split()[2] for l in open(sys.argv[1]) if l.startswith("# TYPE ")}
doc, table = set(), False
for l in open(sys.argv[2]):
    if l.startswith("## "):
        table = l.startswith("## Endpoints and metrics")
    if table and l.startswith("| `drover_"):
        for name in re.findall(r"`(drover_[a-z_{},]+)`", l.split("|")[1]):
            m = re.match(r"(.*)\{(.*)\}(.*)", name)
            doc |= {m.group(1) + w + m.group(3) for w in m.group(2).split(",")} if m else {name}
if served - doc:
    sys.exit("served, not in docs/agent.md: %s" % sorted(served - doc))
if doc - served:
    sys.exit("in docs/agent.md, not served: %s" % sorted(doc - served))
print("docs/agent.md lists the %d families served" % len(served))
PY

log "--- a reload that fails"
echo "services: [" >"$CFG"
kill -HUP "$AGENT_PID"
wait_for 10 value_is drover_config_last_reload_successful 0 ||
	fail "the failed reload is not in /metrics; log: $(tail -3 "$AGENT_LOG")"
lint failed-reload
log "ok"
