#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The agent's endpoint keeps a connection open after each answer, as Prometheus
# (one scrape connection per target) and curl given several URLs expect: GET and HEAD of /healthz, /readyz and /metrics over HTTP/1.1 are
# answered on one connection, none says Connection: close; HTTP/1.0 keeps it
# only when asked (Connection: keep-alive); HEAD /metrics, answered as its
# GET is (Content-Length too), keeps it as well. A kept connection waits for its next request
# longer than the 5 s after which a silent one is closed.
#
#   balancer ns: the agent on l0 (veth, peer l0p in the same namespace)
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds curl
mount_bpffs

lb_ns_one_veth
ROOT=$BPFFS/drover
CFG=$E2E_TMP/drover.yaml
LOG=$E2E_TMP/agent.log
cat >"$CFG" <<EOF
interfaces: [l0]
metrics: {listen: 127.0.0.1:9486}
services:
  - name: web
    vip: 10.98.0.31
    ports: [80]
    snat: 10.77.9.1
    health: {kind: tcp, interval: 1s, timeout: 800ms, rise: 1, fall: 2}
    nodes: [10.77.0.2]
EOF

ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" >"$LOG" 2>&1 &
AGENT=$!
E2E_PIDS+=("$AGENT")
URL=http://127.0.0.1:9486
is_ready() { ip netns exec "$LNS" curl -fsS --max-time 5 "$URL/readyz" >/dev/null; }
wait_for 30 is_ready || {
	kill -0 "$AGENT" 2>/dev/null || fail "the agent exited: $(tail -20 "$LOG")"
	fail "agent not ready in 30 s: $(tail -20 "$LOG")"
}

# curl_conns [OPTION...] URL...: one line per URL, "NEW-CONNECTIONS STATUS"; curl
# reuses a connection unless the server closed it. Its -v goes to $E2E_TMP/v.
curl_conns() {
	local a args=()
	for a in "$@"; do
		case $a in http://*) args+=(-o /dev/null) ;; esac # -o holds for one URL
		args+=("$a")
	done
	ip netns exec "$LNS" curl -sS --http1.1 --max-time 20 -v \
		-w '%{num_connects} %{http_code}\n' "${args[@]}" 2>"$E2E_TMP/v"
}
# expect WHAT GOT WANT
expect() {
	[ "$2" = "$3" ] || fail "$1: curl said (new connections, status; one line per URL):
$2
want:
$3
curl -v: $(grep -E '^[<>*]' "$E2E_TMP/v" | head -60)"
}

got=$(curl_conns "$URL/healthz" "$URL/readyz" "$URL/metrics" "$URL/healthz" "$URL/metrics")
expect "GET of the three paths on one connection" "$got" "1 200
0 200
0 200
0 200
0 200"
if grep -qi '^< Connection: close' "$E2E_TMP/v"; then
	fail "an answer to a GET says Connection: close: $(grep -E '^[<>*]' "$E2E_TMP/v" | head -60)"
fi
log "GET /healthz, /readyz, /metrics, /healthz, /metrics: one connection"

got=$(curl_conns -I "$URL/healthz" -I "$URL/readyz" -I "$URL/healthz")
expect "HEAD /healthz and /readyz on one connection" "$got" "1 200
0 200
0 200"
log "HEAD /healthz, /readyz, /healthz: one connection"

got=$(curl_conns -I "$URL/metrics" -I "$URL/metrics" -I "$URL/healthz")
expect "HEAD /metrics keeps its connection, as GET does" "$got" "1 200
0 200
0 200"
if ! grep -qi '^< Content-Length: [1-9]' "$E2E_TMP/v"; then
	fail "HEAD /metrics has no Content-Length, which its GET has: $(grep -E '^[<>*]' "$E2E_TMP/v" | head -60)"
fi
log "HEAD /metrics, /metrics, /healthz: one connection, with the GET's Content-Length"

got=$(curl_conns --http1.0 "$URL/healthz" "$URL/readyz")
expect "HTTP/1.0 without keep-alive: a connection each" "$got" "1 200
1 200"
got=$(curl_conns --http1.0 -H 'Connection: keep-alive' "$URL/healthz" "$URL/readyz")
expect "HTTP/1.0 asking for keep-alive: one connection" "$got" "1 200
0 200"
log "HTTP/1.0: a connection each, one when asked for keep-alive"

# A kept connection outlasts the agent's 5 s timeout for a silent one: the
# Prometheus case (a scrape every 15 s to 1 min). A second connection, opened
# after the answer and never used, is closed by the agent; the kept one, idle
# longer by then, still answers. Every wait is bounded by a 20 s socket timeout.
ip netns exec "$LNS" python3 - >"$E2E_TMP/kept" 2>&1 <<'EOF' ||
import socket, sys
req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
def answer(s):
    got = b""
    while not got.endswith(b"\r\n\r\nok\n"):
        b = s.recv(4096)
        if not b:
            sys.exit("closed before the answer; read: %r" % got)
        got += b
kept = socket.create_connection(("127.0.0.1", 9486), timeout=20)
kept.sendall(req)
answer(kept)
silent = socket.create_connection(("127.0.0.1", 9486), timeout=20)
if silent.recv(1) != b"":
    sys.exit("the silent connection got data")
try:
    kept.sendall(req)
    answer(kept)
except OSError as e:
    sys.exit("the kept connection was closed with the silent one: %s" % e)
EOF
	fail "a kept connection idle past the 5 s timeout: $(cat "$E2E_TMP/kept")"
log "a kept connection outlasts the 5 s timeout of a silent one"

kill -0 "$AGENT" 2>/dev/null || fail "the agent exited: $(tail -20 "$LOG")"
log "PASS"
