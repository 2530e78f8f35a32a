#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A new connection on the 5-tuple of one that just closed (what tcp_tw_reuse,
# or a NAT in front of the clients, does) is a flow of its own: it outlives
# the short FIN timeout. The client closes a connection through the VIP with
# RST, connects again from the same address and port, and asks for an answer
# that the node sends only after twice the FIN timeout of silence. A flow
# left on the closed record would have lost its NAT entry by then, and the
# answer would never reach the client. Real TCP, agent with tcp-fin 2s, nat.
# IPv4 by default; FAMILY=6 runs the same over IPv6 (VIP, nodes, snat, client):
# e2e_port_reuse_v6_outlives_fin_timeout.sh.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

PORT=18080
CFG=$E2E_TMP/drover.yaml
FIN_S=2

FAMILY=${FAMILY:-4}
lab_start
mount_bpffs
if [ "$FAMILY" = 6 ]; then
	VIP=$LAB_VIP6 SNAT=$LAB_SNAT6 CL=$LAB_CL6 NODE=node6 URL_VIP="[$LAB_VIP6]"
else
	VIP=$LAB_VIP4 SNAT=$LAB_SNAT4 CL=$LAB_CL4 NODE=node4 URL_VIP=$LAB_VIP4
fi
http_nodes_start_on $PORT $NODE

cat >"$CFG" <<EOF
interfaces: [eth0, eth1]
metrics: {listen: 127.0.0.1:9469}
timeouts: {tcp-fin: ${FIN_S}s}
services:
  - name: web
    vip: $VIP
    ports: [$PORT]
    snat: $SNAT
    health: {preset: rancher, port: $PORT, interval: 1s, timeout: 800ms, rise: 2, fall: 2}
    nodes: [$($NODE 1), $($NODE 2), $($NODE 3)]
EOF
agent_start "$CFG"
ready() { ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/readyz; }
wait_for 30 ready || fail "agent not ready: $(tail -20 "$AGENT_LOG")"
via_vip() { ip netns exec "$LAB_NS_CL" curl -fsS --max-time 3 "http://$URL_VIP:$PORT/" 2>/dev/null; }
wait_for 20 via_vip || fail "no answer through the VIP"

log "--- close with RST, reconnect from the same port, then $((2 * FIN_S)) s of silence"
new0=$(drv -j stats | jq '.global.new_flow.packets')
out=$(ip netns exec "$LAB_NS_CL" python3 - "$CL" 41234 "$VIP" $PORT $((2 * FIN_S)) <<'EOF'
import socket, struct, sys, time

src, sport, vip, port, idle = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]


def conn():
    s = socket.socket(socket.AF_INET6 if ":" in vip else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(10)
    s.bind((src, sport))
    s.connect((vip, port))
    return s


def get(s, path):
    """One request; the node answers with Connection: close, so read to EOF."""
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data.decode(errors="replace")
        data += chunk


s = conn()
first = get(s, "/")
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()  # RST: no TIME_WAIT, the port is free at once
s = conn()
t0 = time.time()
try:
    second = get(s, "/slow/" + idle)
except OSError as e:
    second = "error: %s" % e
print("first=%r" % first.splitlines()[-1:])
print("second=%r after %.1f s" % (second.splitlines()[-1:], time.time() - t0))
sys.exit(0 if "200 OK" in second and "node n" in second else 1)
EOF
) || fail "the reconnected connection lost its answer: $out"
log "$out"
new1=$(drv -j stats | jq '.global.new_flow.packets')
[ $((new1 - new0)) -ge 2 ] || fail "new_flow went from $new0 to $new1: the second connection was no new flow"
log "ok"
