#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# What Prometheus' rate() and increase() make of the agent's counters (nat,
# IPv4, agent-driven, real traffic between every step):
#   - a reload that changes nothing, or removes a node, lowers no counter;
#   - a backend id freed and taken by another node: the new node's series
#     starts at 0 (it does not inherit the old node's counts);
#   - a node removed and added back, a service removed and added back, and a
#     service id taken by another service: their series start again at 0, a
#     restart from 0 that rate() takes for a reset (never a partial fall);
#   - an agent restart adopting the pinned maps lowers no data-path counter
#     (only the agent's own: checks and reloads, as for any restarted process).
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

CFG=$E2E_TMP/drover.yaml
GONE4=10.0.2.99 # on the nodes' subnet, held by no namespace: never passes its check
SERIES=$E2E_TOP/tests/tools/promseries.py

lab_start
mount_bpffs

# write_cfg "WEB NODES" "API ENTRY": web's node list, and the second service's entry
write_cfg() {
	cat >"$CFG.new" <<EOF
interfaces: [eth0, eth1]
metrics: {listen: 127.0.0.1:9469}
defaults:
  snat: $LAB_SNAT4
  # leave-after 0: a node a reload removes frees its backend id at once (no
  # leaving), so the next step can give that id to another node.
  health: {preset: tcp, interval: 500ms, timeout: 400ms, rise: 1, fall: 1, jitter: 0, rehash-after: 0,
           leave-after: 0}
services:
  - {name: web, vip: $LAB_VIP4, ports: [80], nodes: [$1]}
$2
EOF
	mv "$CFG.new" "$CFG"
}
N1="{address: $(node4 1), name: n1}" N2="{address: $(node4 2), name: n2}"
N3="{address: $(node4 3), name: n3}" X="{address: $GONE4, name: x}"
API="  - {name: api, vip: $LAB_VIP4, ports: [443], nodes: [$(node4 1), $(node4 2), $(node4 3)]}"

metrics() { ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/metrics; }
# scrape NAME: /metrics into $E2E_TMP/NAME.txt (a scrape may get 503 busy while the
# agent holds its state: a reload, a sync)
scrape_to() { metrics >"$1"; }
scrape() { wait_for 20 scrape_to "$E2E_TMP/$1.txt" || fail "GET /metrics ($1) failed for 20 s"; }
# get NAME SERIES: the value of SERIES in scrape NAME ("" if absent)
get() { "$PYTHON" "$SERIES" get "$E2E_TMP/$1.txt" "$2" || true; }
# no_fall BEFORE AFTER [--except REGEX]: no counter in both scrapes fell
no_fall() {
	local a=$1 b=$2
	shift 2
	"$PYTHON" "$SERIES" fell "$E2E_TMP/$a.txt" "$E2E_TMP/$b.txt" "$@" >"$E2E_TMP/fell" ||
		fail "counters fell from scrape $a to $b (rate() counts each as a restart from 0):
$(head -20 "$E2E_TMP/fell")"
}
reloads() { metrics | awk '$1 == "drover_config_reloads_total{result=\"success\"}" {print $2}'; }
reloads_past() { [ "$(reloads)" -gt "$1" ]; }
# reload [write_cfg ARGS]: (write the config and) reload; returns once a reload
# after this call succeeded (the agent also reloads by itself on a changed file)
reloads_now() { RELOADS=$(reloads) && [ -n "$RELOADS" ]; }
reload() {
	wait_for 20 reloads_now || fail "no drover_config_reloads_total in /metrics for 20 s"
	[ $# = 0 ] || write_cfg "$@"
	kill -HUP "$AGENT_PID"
	wait_for 15 reloads_past "$RELOADS" || fail "no reload applied in 15 s; log: $(tail -5 "$AGENT_LOG")"
}
traffic() { # some connections to each port given
	local p out
	for p in "$@"; do
		out=$(spread "$LAB_VIP4" "$p" 30) || fail "lbtool spread to port $p failed: $out"
	done
}
be_id() { # PORT ADDR: the backend's id in drv_bes ("" if none)
	drv -j backend show "$LAB_VIP4" port "$1" 2>/dev/null |
		jq -r --arg a "$2" '[.. | objects | select(.address? == $a) | .id] | first // ""'
}
has_be() { [ -n "$(be_id "$1" "$2")" ]; }
svc_id() { # PORT: the service's id ("" if none)
	drv -j service show 2>/dev/null | jq -r --argjson p "$1" '[.. | objects | select(.port? == $p) | .id] | first // ""'
}
has_svc() { [ -n "$(svc_id "$1")" ]; }
no_svc() { drv -j service show >/dev/null && ! has_svc "$1"; }
be() { echo "drover_backend_$1_total{service=\"web\",node=\"$2\",address=\"$3\",port=\"80\"}"; }
svc() { echo "drover_service_$1_total{service=\"$2\",vip=\"$LAB_VIP4\",port=\"$3\"}"; }
FIELDS="packets bytes new_flows reply_packets reply_bytes"

write_cfg "$N1, $N2, $N3" "$API"
agent_start "$CFG"
for n in 1 2 3; do
	wait_for 30 be_state_is "$LAB_VIP4" 80 "$(node4 $n)" up ||
		fail "n$n of web not up in 30 s; log: $(tail -20 "$AGENT_LOG")"
done
traffic 80 443
scrape s1
for f in $FIELDS; do
	v=$(get s1 "$(be "$f" n3 "$(node4 3)")")
	[ "${v:-0}" -gt 0 ] || fail "n3's $f is '$v' after traffic: the steps below would prove nothing"
done

log "--- a reload that changes nothing"
reload
traffic 80 443
scrape s2
no_fall s1 s2

log "--- a reload that removes n3"
n3_id=$(be_id 80 "$(node4 3)")
[ -n "$n3_id" ] || fail "n3 has no backend id"
reload "$N1, $N2" "$API"
wait_be_state 10 "$LAB_VIP4" 80 "$(node4 3)" absent || fail "n3 still in web after the reload"
traffic 80 443
scrape s3
no_fall s2 s3

log "--- n3's backend id $n3_id taken by another node"
reload "$N1, $N2, $X" "$API"
wait_for 10 has_be 80 $GONE4 || fail "x not in web 10 s after the reload"
[ "$(be_id 80 $GONE4)" = "$n3_id" ] ||
	fail "x got backend id '$(be_id 80 $GONE4)', not n3's freed $n3_id: this step tests nothing"
traffic 80 443
scrape s4
no_fall s3 s4
for f in $FIELDS drops; do
	v=$(get s4 "$(be "$f" x $GONE4)")
	[ "$v" = 0 ] || fail "x's $f is '$v' on n3's old id: it inherited n3's ($(get s2 "$(be "$f" n3 "$(node4 3)")"))"
done

log "--- n3 added back: its series starts again at 0"
reload "$N1, $N2, $N3" "$API"
# One wait for either state: waiting for down first would sit out its whole
# bound when n3 comes back up at once, its checks counting meanwhile.
n3_back() { case $(be_state "$LAB_VIP4" 80 "$(node4 3)") in up | down) ;; *) return 1 ;; esac; }
wait_for 10 n3_back ||
	fail "n3 not back in web: $(be_state "$LAB_VIP4" 80 "$(node4 3)")"
scrape s5
for f in $FIELDS; do
	v=$(get s5 "$(be "$f" n3 "$(node4 3)")")
	[ "$v" = 0 ] || fail "n3's $f is '$v' once added back, not 0 (it was $(get s2 "$(be "$f" n3 "$(node4 3)")"))"
done
checks='drover_node_checks_total{service="web",node="n3",address="'"$(node4 3)"'",result="pass"}'
v=$(get s5 "$checks")
[ "${v:-x}" -lt "$(get s2 "$checks")" ] ||
	fail "n3's passed checks are '$v' once added back, not below the $(get s2 "$checks") before (a reset)"

log "--- api removed, api2 takes its service id, api added back"
api_id=$(svc_id 443)
reload "$N1, $N2, $N3" ""
wait_for 10 no_svc 443 || fail "api still in the maps 10 s after the reload removing it"
reload "$N1, $N2, $N3" "  - {name: api2, vip: $LAB_VIP4, ports: [8443], nodes: [$(node4 1)]}"
wait_for 10 has_svc 8443 || fail "api2 not in the maps 10 s after the reload adding it"
api2_id=$(svc_id 8443)
[ "$api2_id" = "$api_id" ] || fail "api2 got service id $api2_id, not api's freed $api_id: this step tests nothing"
scrape s6
for f in $FIELDS drops; do
	v=$(get s6 "$(svc "$f" api2 8443)")
	[ "$v" = 0 ] || fail "api2's $f is '$v' on api's old service id: it inherited api's ($(get s2 "$(svc "$f" api 443)"))"
done
reload "$N1, $N2, $N3" "$API"
wait_for 10 has_svc 443 || fail "api not back in the maps 10 s after the reload adding it"
scrape s7
for f in $FIELDS; do
	v=$(get s7 "$(svc "$f" api 443)")
	[ "$v" = 0 ] || fail "api's $f is '$v' once added back, not 0 (it was $(get s2 "$(svc "$f" api 443)"))"
done
traffic 80 443
scrape s8
no_fall s7 s8

log "--- agent restart: it adopts the maps; no data-path counter falls"
agent_stop TERM
agent_start "$CFG"
wait_for 30 sh -c "ip netns exec $LAB_NS_LB curl -fsS --max-time 5 http://127.0.0.1:9469/readyz" ||
	fail "restarted agent not ready in 30 s; log: $(tail -20 "$AGENT_LOG")"
scrape s9
# the agent's own counters start again with the process, as any exporter's
AGENT_OWN='^drover_(node_checks|config_reloads|reconcile_errors)_total'
no_fall s8 s9 --except "$AGENT_OWN"
traffic 80 443
scrape s10
no_fall s9 s10
for f in $FIELDS; do
	a=$(get s8 "$(be "$f" n1 "$(node4 1)")") b=$(get s10 "$(be "$f" n1 "$(node4 1)")")
	[ "$b" -gt "$a" ] || fail "n1's $f did not grow across the restart and traffic: $a, then $b"
done
log "ok"
