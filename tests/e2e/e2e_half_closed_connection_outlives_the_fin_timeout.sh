#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A nat connection half-closed by its client lives as long as an open one
# (agent-driven, IPv4 and IPv6): the client sends its request, shuts its
# side (shutdown(SHUT_WR), as `nc -N` or an HTTP/1.0 client may), and the
# node answers after a wait longer than the FIN timeout (tcp-fin 2 s, the
# answer after 5 s). The answer must reach the client; the node's FIN then
# closes the flow, which leaves the table after the FIN timeout.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

HTTP_PORT=18082
CFG=$E2E_TMP/drover.yaml
lab_start
mount_bpffs
http_nodes_start_on $HTTP_PORT node4
http_nodes_start_on $HTTP_PORT node6
{
	cat <<EOF
interfaces: [eth0, eth1]
xdp-mode: native
metrics: {listen: 127.0.0.1:9469}
timeouts: {tcp-fin: 2}
services:
EOF
	for f in 4 6; do
		if [ $f = 4 ]; then vip=$LAB_VIP4 snat=$LAB_SNAT4; else vip=\"$LAB_VIP6\" snat=\"$LAB_SNAT6\"; fi
		cat <<EOF
  - name: web$f
    vip: $vip
    ports: [$HTTP_PORT]
    snat: $snat
    health: {kind: http, path: /healthz, interval: 500ms, timeout: 400ms, rise: 1, fall: 2}
    nodes:
EOF
		for n in 1 2 3; do echo "      - {address: \"$(node$f $n)\", name: n$n}"; done
	done
} >"$CFG"
agent_start "$CFG"
up3() { [ "$(be_state "$1" $HTTP_PORT "$(node$2 1)") $(be_state "$1" $HTTP_PORT "$(node$2 2)") $(be_state "$1" $HTTP_PORT "$(node$2 3)")" = "up up up" ]; }
wait_for 30 up3 "$LAB_VIP4" 4 || fail "web4's nodes not up in 30 s; log: $(tail -5 "$AGENT_LOG")"
wait_for 30 up3 "$LAB_VIP6" 6 || fail "web6's nodes not up in 30 s; log: $(tail -5 "$AGENT_LOG")"

cat >"$E2E_TMP/client.py" <<'EOF'
import socket, sys, time
vip, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in vip else socket.AF_INET)
s.settimeout(20)
s.connect((vip, port))
s.sendall(b"GET /slow/5 HTTP/1.0\r\n\r\n")
s.shutdown(socket.SHUT_WR)
t0 = time.time()
body = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        body += b
    print("ANSWER after_ms=%d %s" % ((time.time() - t0) * 1000,
                                     body.split(b"\r\n\r\n", 1)[-1].decode().strip()))
except OSError as e:
    print("ERROR after_ms=%d %s got=%r" % ((time.time() - t0) * 1000, type(e).__name__, body[:60]))
EOF
for f in 4 6; do
	if [ $f = 4 ]; then vip=$LAB_VIP4; else vip=$LAB_VIP6; fi
	res=$(ip netns exec "$LAB_NS_CL" timeout 40 python3 "$E2E_TMP/client.py" "$vip" $HTTP_PORT 2>&1) ||
		fail "IPv$f: the client failed: $res"
	log "IPv$f: request sent and the client's side shut, then: $res"
	case $res in
	"ANSWER after_ms="*" node n"[123]) ;;
	*) fail "IPv$f: the answer sent 5 s after the client's FIN did not arrive: $res" ;;
	esac
	ms=${res#ANSWER after_ms=}
	ms=${ms%% *}
	[ "$ms" -ge 4500 ] || fail "IPv$f: answered after $ms ms: the node did not wait past the FIN timeout"
done
# Both sides' FINs seen: the flows close and leave the table after tcp-fin.
flows0() {
	local n4 n6
	n4=$(drv -j backend show "$LAB_VIP4" port $HTTP_PORT | jq '[.[].flows] | add')
	n6=$(drv -j backend show "$LAB_VIP6" port $HTTP_PORT | jq '[.[].flows] | add')
	[ "$n4 $n6" = "0 0" ]
}
wait_for 20 flows0 || fail "flows still recorded 20 s after both closed: $(drv backend show "$LAB_VIP4" port $HTTP_PORT; drv backend show "$LAB_VIP6" port $HTTP_PORT)"
log "PASS: each answer reached its half-closed client 5 s after its FIN (tcp-fin 2 s); both flows then left the table"
