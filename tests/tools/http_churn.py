#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Churn the agent's HTTP endpoint the way a long life does, until STOP_FILE
exists or SECONDS pass: rounds of whole GETs (/metrics, /healthz, /readyz, a
404), HEAD /metrics, a POST (405), two requests on one connection (when the
server keeps it open),
and the clients that misbehave: connect and close without a byte, half a
request line then close, a /metrics answer abandoned after 100 bytes (closed
with RST every other time), and up to IDLE connections opened and left idle
(past the server's soft limit of 48, so it shuts the oldest), closed oldest
first. The port is read from PORT_FILE each round (a reload may move it).
Errors (the port moving, a 503) are counted, not fatal. At the end every
connection is closed and a JSON summary is written to OUT_FILE.

usage: http_churn.py PORT_FILE STOP_FILE OUT_FILE SECONDS [IDLE]
"""
import json
import os
import socket
import struct
import sys
import time


def main():
    port_file, stop_file, out_file = sys.argv[1:4]
    deadline = time.monotonic() + float(sys.argv[4])
    idle_max = int(sys.argv[5]) if len(sys.argv) > 5 else 56
    st = {"rounds": 0, "whole": 0, "head": 0, "keepalive": 0, "closed_after_one": 0, "silent": 0, "partial": 0,
          "abandoned": 0, "idle_opened": 0, "errors": 0}
    idle = []

    def conn(port):
        return socket.create_connection(("127.0.0.1", port), timeout=5)

    def whole(port, method, path):
        s = conn(port)
        try:
            s.sendall(b"%s %s HTTP/1.1\r\nHost: soak\r\nContent-Length: 0\r\n"
                      b"Connection: close\r\n\r\n" % (method, path))
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        finally:
            s.close()
        if not data.startswith(b"HTTP/1."):
            raise OSError("no HTTP answer")
        return data

    while time.monotonic() < deadline and not os.path.exists(stop_file):
        st["rounds"] += 1
        try:
            with open(port_file) as f:
                port = int(f.read())
            for path in (b"/metrics", b"/healthz", b"/readyz", b"/nope"):
                whole(port, b"GET", path)
                st["whole"] += 1
            whole(port, b"HEAD", b"/metrics")
            whole(port, b"POST", b"/metrics")
            st["head"] += 2
            # HTTP/1.1 without "Connection: close": a second request if the server keeps it open
            s = conn(port)
            try:
                for k in range(2):
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: soak\r\n\r\n")
                    got = b""
                    while b"\r\n\r\nok\n" not in got:
                        b = s.recv(4096)
                        if not b:
                            raise OSError("connection closed before the answer")
                        got += b
                    if b"Connection: close" in got:
                        break
                st["keepalive" if k else "closed_after_one"] += 1
            finally:
                s.close()
            conn(port).close()
            st["silent"] += 1
            s = conn(port)
            s.sendall(b"GET /metr")
            s.close()
            st["partial"] += 1
            s = conn(port)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: soak\r\n\r\n")
            s.recv(100)
            if st["rounds"] % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            st["abandoned"] += 1
            for _ in range(8):
                idle.append(conn(port))
                st["idle_opened"] += 1
                while len(idle) > idle_max:
                    idle.pop(0).close()
        except (OSError, ValueError):
            st["errors"] += 1
        time.sleep(0.02)
    for s in idle:
        s.close()
    with open(out_file + ".new", "w") as f:
        json.dump(st, f)
    os.rename(out_file + ".new", out_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
