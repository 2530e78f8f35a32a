#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The alerting rules of deploy/monitoring (a Prometheus rule file and the same
# groups as a PrometheusRule) use only metrics, labels and label values that a
# running agent's /metrics serves (tests/tools/promrules.py, which must also
# reject broken copies), so a rename in the agent cannot leave an alert that
# never fires; where promtool is installed, promtool check rules passes on both
# and promtool test rules sees the alerts whose arithmetic can go wrong fire.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

RULES=$E2E_TOP/deploy/monitoring/drover-rules.yaml
PR=$E2E_TOP/deploy/monitoring/prometheusrule.yaml
CFG=$E2E_TMP/drover.yaml

lab_start
mount_bpffs
cat >"$CFG" <<EOF
interfaces: [eth0, eth1]
metrics: {listen: 127.0.0.1:9469}
services:
  - name: web
    vip: $LAB_VIP4
    ports: [80]
    snat: $LAB_SNAT4
    health: {preset: tcp, interval: 500ms, timeout: 400ms, rise: 1, fall: 1}
    nodes: [$(node4 1), $(node4 2), $(node4 3)]
EOF
agent_start "$CFG"
ready() { ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/readyz; }
wait_for 30 ready || fail "agent not ready in 30 s; log: $(tail -20 "$AGENT_LOG")"
M=$E2E_TMP/metrics.txt
# (a scrape may get 503 busy while the agent holds its state)
scrape_to() { ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/metrics >"$1"; }
wait_for 20 scrape_to "$M" || fail "GET /metrics failed for 20 s"

"$PYTHON" "$E2E_TOP/tests/tools/promrules.py" "$RULES" "$PR" "$M" ||
	fail "deploy/monitoring's rules use what the agent does not serve (above)"
"$PYTHON" "$E2E_TOP/tests/tools/promrules.py" --self-test "$RULES" "$PR" "$M" ||
	fail "promrules.py passes a broken copy"

if command -v promtool >/dev/null; then
	"$PYTHON" -c 'import sys, yaml
print(yaml.safe_dump({"groups": yaml.safe_load(open(sys.argv[1]))["spec"]["groups"]}))' "$PR" \
		>"$E2E_TMP/pr-groups.yaml" || fail "cannot read spec.groups of $PR"
	for f in "$RULES" "$E2E_TMP/pr-groups.yaml"; do
		promtool check rules "$f" >"$E2E_TMP/promtool.out" 2>&1 ||
			fail "promtool check rules $f: $(cat "$E2E_TMP/promtool.out")"
	done
	log "promtool check rules: $(grep -c SUCCESS "$E2E_TMP/promtool.out") file ok, twice"
	# The alerts whose arithmetic can go wrong fire on made-up series, with these
	# labels and summaries (descriptions are the rules' own, $labels filled in).
	"$PYTHON" - "$RULES" >"$E2E_TMP/rules.test.yaml" <<'PY' || fail "no promtool rule tests (said above)"
import re, sys, yaml
rules = {r["alert"]: r for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"]}
L = 'instance="lb1",job="drover"'
cases = [  # alert, input series, when, labels, summary
    ("DroverFlowTableNearFull",
     [('drover_map_entries{map="flows",%s}' % L, "950x30"),
      ('drover_map_max_entries{map="flows",%s}' % L, "1000x30"),
      ('drover_map_entries{map="backends",%s}' % L, "10x30"),
      ('drover_map_max_entries{map="backends",%s}' % L, "4095x30")],
     "20m", {"map": "flows", "instance": "lb1", "job": "drover"},
     "drover's flow table on lb1 is 95% full"),
    ("DroverDropsRising",
     [('drover_drops_total{reason="fib",%s}' % L, "0+120x30"),
      ('drover_drops_total{reason="ttl",%s}' % L, "0+1x30")],
     "20m", {"reason": "fib", "instance": "lb1"}, "drover on lb1 drops 2 packets/s (fib)"),
    ("DroverMainLoopStalled",
     [("drover_agent_main_loop_round_age_seconds{%s}" % L, "0.5 0.5 60 120 180")],
     "4m", {"instance": "lb1", "job": "drover"},
     "drover's main loop on lb1 finished no round for 3m 0s"),
]
tests = []
for alert, series, at, labels, summary in cases:
    if alert not in rules:
        sys.exit("%s has no alert %s" % (sys.argv[1], alert))
    desc = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)],
                  rules[alert]["annotations"]["description"])
    tests.append({"interval": "1m",
                  "input_series": [{"series": k, "values": v} for k, v in series],
                  "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": [{
                      "exp_labels": dict(labels, severity=rules[alert]["labels"]["severity"]),
                      "exp_annotations": {"summary": summary, "description": desc}}]}]})
print(yaml.safe_dump({"rule_files": [sys.argv[1]], "evaluation_interval": "1m", "tests": tests}))
PY
	promtool test rules "$E2E_TMP/rules.test.yaml" >"$E2E_TMP/promtool.out" 2>&1 ||
		fail "promtool test rules: $(cat "$E2E_TMP/promtool.out")"
	log "promtool test rules: 3 alerts fire as meant"
else
	log "NOTE: promtool not installed: the rules' PromQL syntax is not checked (the checks above ran)"
fi
log "ok"
