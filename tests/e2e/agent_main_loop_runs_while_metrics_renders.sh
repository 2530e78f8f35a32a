#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The agent's main loop (health checks, holds, reloads) and its probes go on
# while a /metrics render reads the maps and writes its text: with thousands
# of backends that takes a good part of a second per scrape (and every 15 s
# a walk of the whole flow table), and a render that held the agent's lock
# all along held up failover and reloads as long, while one that ran on the
# HTTP thread held up /healthz (the DaemonSet's liveness probe, timeout 3 s:
# the pod restarted). The render is stopped for as long as the test likes
# where it reads the maps (gdb, non-stop: a breakpoint on render_datapath
# stops the render thread alone), and meanwhile:
#   1. /healthz and /readyz, each asked 3 times on a new connection as
#      kubelet asks, answer 200 within 10 s;
#   2. a reload (SIGHUP) that adds a node is applied, and logged;
#   3. that node, whose server answers, is judged UP by its health checks;
# then the render goes on and its scrape is whole (200, ends with the map
# sizes), the next scrape shows the new node up, and /healthz still answers.
#
#   balancer ns: the agent on l0 (veth, peer l0p in the same namespace);
#   node ns: 10.77.0.2 and 10.77.0.3, a TCP server on port 80
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds curl gdb
mount_bpffs

lb_ns_one_veth
NNS=$(ns_add nd)
ip -n "$LNS" link set l0p netns "$NNS"
ip -n "$NNS" addr add 10.77.0.2/24 dev l0p
ip -n "$NNS" addr add 10.77.0.3/24 dev l0p
ip -n "$NNS" link set l0p up
node_echo80 "$NNS"

ROOT=$BPFFS/drover
CFG=$E2E_TMP/drover.yaml
LOG=$E2E_TMP/agent.log
PORT=9487
# config NODES...: one service on the test's VIP with these nodes.
config() {
	cat <<EOF
interfaces: [l0]
metrics: {listen: 127.0.0.1:$PORT}
services:
  - name: web
    vip: 10.98.0.41
    ports: [80]
    snat: 10.77.9.1
    health: {kind: tcp, interval: 500ms, timeout: 400ms, rise: 1, fall: 2}
    nodes: [$(echo "$*" | sed 's/ /, /g')]
EOF
}
config 10.77.0.2 >"$CFG"

ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" >"$LOG" 2>&1 &
AGENT=$!
E2E_PIDS+=("$AGENT")
URL=http://127.0.0.1:$PORT
agent_up() { kill -0 "$AGENT" 2>/dev/null || fail "the agent exited: $(tail -20 "$LOG")"; }
is_ready() { ip netns exec "$LNS" curl -fsS --max-time 5 "$URL/readyz" >/dev/null; }
node_up_in_metrics() { # ADDR
	ip netns exec "$LNS" curl -fsS --max-time 5 "$URL/metrics" |
		grep -q "^drover_node_healthy{service=\"web\",node=\"$1\",address=\"$1\"} 1\$"
}
wait_for 30 is_ready || { agent_up; fail "agent not ready in 30 s: $(tail -20 "$LOG")"; }
wait_for 30 node_up_in_metrics 10.77.0.2 || fail "node 10.77.0.2 not up in /metrics: $(tail -5 "$LOG")"

# gdb reads its commands from a FIFO the test writes; it stays attached until told to go.
GDB_IN=$E2E_TMP/gdb.in GDB_OUT=$E2E_TMP/gdb.out
mkfifo "$GDB_IN"
gdb -q -nx <"$GDB_IN" >"$GDB_OUT" 2>&1 &
GDB=$!
E2E_PIDS+=("$GDB")
exec 7>"$GDB_IN"
# whatever happens, gdb lets the agent go before cleanup kills it
gdb_go() {
	kill -0 "$GDB" 2>/dev/null || return 0
	printf 'interrupt -a\ndelete\ndetach\nquit\n' >&7 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$GDB" 2>/dev/null || break; sleep 0.1; done
}
on_exit gdb_go
# gdb's commands are taken in non-stop mode only before it attaches, so attach here
printf 'set pagination off\nset confirm off\nset non-stop on\nattach %s\nbreak render_datapath\necho ATTACHED\\n\n' "$AGENT" >&7
wait_for 60 grep -q ATTACHED "$GDB_OUT" || fail "gdb did not attach within 60 s: $(tail -5 "$GDB_OUT")"
# Each thread but the first says it stopped, on its own time: a thread that says so
# after "continue -a" stays stopped (the render thread, the HTTP thread). Continue once all have.
NTHREADS=$(find /proc/"$AGENT"/task -mindepth 1 -maxdepth 1 | wc -l)
all_stopped() { [ "$(grep -c '^Thread [0-9]* .* stopped\.' "$GDB_OUT")" -ge $((NTHREADS - 1)) ]; }
wait_for 30 all_stopped || fail "gdb did not stop the agent's $NTHREADS threads within 30 s: $(tail -5 "$GDB_OUT")"
printf 'continue -a &\necho ARMED\\n\n' >&7
wait_for 60 grep -q ARMED "$GDB_OUT" || fail "gdb did not attach within 60 s: $(tail -5 "$GDB_OUT")"
grep -q "Breakpoint 1 at" "$GDB_OUT" || fail "gdb set no breakpoint on render_datapath: $(tail -5 "$GDB_OUT")"
agent_up

log "a scrape stopped in render_datapath (its render thread alone)"
ip netns exec "$LNS" curl -sS --max-time 120 -o "$E2E_TMP/held.out" -w '%{http_code}\n' "$URL/metrics" >"$E2E_TMP/held.code" 2>&1 &
CURL=$!
E2E_PIDS+=("$CURL")
wait_for 30 grep -q 'hit Breakpoint 1' "$GDB_OUT" || fail "the render did not reach render_datapath within 30 s: $(tail -5 "$GDB_OUT")"
kill -0 "$CURL" 2>/dev/null || fail "the scrape ended while its render was stopped: $(cat "$E2E_TMP/held.code")"

log "meanwhile /healthz and /readyz answer, each on a new connection"
# probe PATH WANT: 200 and WANT within 10 s (kubelet's timeout is 3 s: 10 s is for a busy machine)
probe() {
	local out code
	out=$(ip netns exec "$LNS" curl -sS --max-time 10 -w '\n%{http_code} %{time_total}' "$URL$1" 2>&1) || true
	code=$(printf '%s\n' "$out" | tail -1)
	[ "${code%% *}" = 200 ] && printf '%s\n' "$out" | grep -qx "$2" ||
		fail "$1 did not answer 200 '$2' within 10 s while a /metrics render was stopped: it waits for the render (got: $(printf '%s' "$out" | tr '\n' ' '))"
	log "$1: 200 in ${code#* } s"
}
for _ in 1 2 3; do
	probe /healthz ok
	probe /readyz ready
done

log "meanwhile, a reload adding node 10.77.0.3 is applied, and the node judged up"
oks=$(grep -c 'reload (.*) ok' "$LOG" || true)
config 10.77.0.2 10.77.0.3 >"$CFG.new"
mv -f "$CFG.new" "$CFG"
kill -HUP "$AGENT"
wait_for 30 sh -c "[ \$(grep -c 'reload (.*) ok' '$LOG') -gt $oks ]" ||
	fail "no reload applied within 30 s while a /metrics render was stopped: the main loop waits for the render: $(tail -3 "$LOG")"
wait_for 30 grep -q 'node 10.77.0.3 (10.77.0.3) is UP' "$LOG" ||
	fail "node 10.77.0.3 not judged up within 30 s while a /metrics render was stopped: $(tail -3 "$LOG")"
kill -0 "$CURL" 2>/dev/null || fail "the scrape ended before its render went on: the test proves nothing"
grep -q 'hit Breakpoint 1' "$GDB_OUT" || fail "gdb lost the breakpoint"

log "the render goes on: its scrape is whole, the next one shows the new node"
printf 'delete\ncontinue -a &\ndetach\necho DETACHED\\n\n' >&7
wait_for 30 grep -q DETACHED "$GDB_OUT" || fail "gdb did not detach within 30 s: $(tail -5 "$GDB_OUT")"
wait_for 30 sh -c "! kill -0 $CURL 2>/dev/null" || fail "the stopped scrape did not end within 30 s of the render going on"
[ "$(cat "$E2E_TMP/held.code")" = 200 ] || fail "the stopped scrape answered $(cat "$E2E_TMP/held.code")"
tail -1 "$E2E_TMP/held.out" | grep -q '^drover_map_max_entries{map="backends"} [0-9]' ||
	fail "the stopped scrape is cut short: $(tail -2 "$E2E_TMP/held.out")"
wait_for 30 node_up_in_metrics 10.77.0.3 || fail "node 10.77.0.3 not up in /metrics after the render"
probe /healthz ok
agent_up
log "PASS"
