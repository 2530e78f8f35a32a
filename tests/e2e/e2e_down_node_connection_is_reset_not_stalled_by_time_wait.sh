#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A connection whose node is down gets a RST from drover at its next packet,
# also where the node its flow would re-hash to holds the same 4-tuple in
# TIME_WAIT (dsr, IPv4, set up with the CLI). That node would answer the
# client's segment with an ACK, not a reset, and the client would hang until
# its retransmissions give up (the TIME_WAIT's 60 s at best):
#   1. from client port P, GET / reaches node X, which closes first: X holds
#      (client:P, VIP:port) in TIME_WAIT;
#   2. X drained, a new connection from P reaches the other node, Y, and
#      stays open without a request;
#   3. X up again, Y down: the client sends its request on that connection.
# It must be reset within seconds by drover's RST (rst_node_down), and X must
# not have seen the segment.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

PORT=18081
lab_start
mount_bpffs
lab_dsr_nodes
vip4() { echo "$LAB_VIP4"; }
http_nodes_start_on $PORT vip4
attach_lb
drv service add "$LAB_VIP4" port $PORT mode dsr || fail "service add failed"
for n in 1 2; do
	drv backend add "$LAB_VIP4" port $PORT "$(node4 $n)" || fail "backend add n$n failed"
done

# tw_in NS PORT: does NS hold (VIP:$PORT, client:PORT) in TIME_WAIT?
tw_in() {
	ip netns exec "$1" ss -Htan state time-wait "( sport = :$PORT and dport = :$2 )" | grep -q .
}
go=$E2E_TMP/go
out=$E2E_TMP/client.out
# The client: one GET from a free port P, then a second connection from P that
# waits for $go before it sends its request; every step on a line of its own.
cat >"$E2E_TMP/client.py" <<'EOF'
import os, socket, sys, time
vip, port, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def conn(p):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", p))
    s.settimeout(10)
    s.connect((vip, port))
    return s

s = conn(0)
p = s.getsockname()[1]
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
body = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    body += b
s.close()
print("FIRST port=%d answer=%s" % (p, body.split(b"\r\n\r\n", 1)[-1].decode().strip()), flush=True)
deadline = time.time() + 60
while not os.path.exists(go + "1") and time.time() < deadline:
    time.sleep(0.05)
s = conn(p)
print("SECOND open", flush=True)
while not os.path.exists(go + "2") and time.time() < deadline:
    time.sleep(0.05)
t0 = time.time()
try:
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    s.settimeout(15)
    b = s.recv(4096)
    print("SECOND answered %r" % b[:40], flush=True)
except OSError as e:
    print("SECOND error=%s after_ms=%d" % (type(e).__name__, (time.time() - t0) * 1000), flush=True)
EOF
bg "$LAB_NS_CL" python3 "$E2E_TMP/client.py" "$LAB_VIP4" $PORT "$go" >"$out" 2>&1
wait_for 20 grep -q '^FIRST' "$out" || fail "the first GET got no answer: $(cat "$out")"
read -r P X <<<"$(sed -n 's/^FIRST port=\([0-9]*\) answer=node n\([12]\)$/\1 \2/p' "$out")"
[ -n "${X:-}" ] || fail "the first GET's answer names no node: $(cat "$out")"
Y=$((3 - X))
wait_for 10 tw_in "$(nsn "$X")" "$P" || fail "n$X does not hold port $P in TIME_WAIT"
log "1. client port $P reached n$X, which holds the 4-tuple in TIME_WAIT"

drv backend set "$LAB_VIP4" port $PORT "$(node4 "$X")" drain || fail "drain n$X failed"
touch "${go}1"
wait_for 20 grep -q '^SECOND open' "$out" || fail "the second connection did not open: $(cat "$out")"
drv -j lookup "$LAB_VIP4" port $PORT from "$LAB_CL4" port "$P" |
	jq -e --arg a "$(node4 "$Y")" '.recorded.backend.address == $a' >/dev/null ||
	fail "the second connection is not recorded on n$Y: $(drv lookup "$LAB_VIP4" port $PORT from "$LAB_CL4" port "$P")"
log "2. with n$X drained, a new connection from port $P is on n$Y"

drv backend set "$LAB_VIP4" port $PORT "$(node4 "$X")" up || fail "undrain n$X failed"
drv backend set "$LAB_VIP4" port $PORT "$(node4 "$Y")" down || fail "down n$Y failed"
rst0=$(stat_packets rst_node_down)
tw_in "$(nsn "$X")" "$P" || fail "n$X no longer holds port $P in TIME_WAIT before the request"
touch "${go}2"
wait_for 30 grep -q '^SECOND \(error\|answered\)' "$out" || fail "the client did not finish: $(cat "$out")"
res=$(grep '^SECOND \(error\|answered\)' "$out")
log "3. n$X up, n$Y down, the request sent: $res"
case $res in
"SECOND error=ConnectionResetError after_ms="*) ;;
*) fail "want the connection reset at once, got: $res" ;;
esac
ms=${res##*after_ms=}
[ "$ms" -lt 5000 ] || fail "the reset came after $ms ms"
[ $(($(stat_packets rst_node_down) - rst0)) -ge 1 ] || fail "rst_node_down did not move"
log "PASS: reset by drover after $ms ms, not left to n$X's TIME_WAIT"
