#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""A "Rancher node" for the agent's e2e tests: HTTP or HTTPS on ADDR:PORT whose
health can be broken on demand. The mode is read from MODE_FILE on every
request, so a test changes behaviour with `echo 500 > FILE`:

  200   GET /healthz, /readyz → 200 "ok"; GET /ping → 200 "pong"
  500   every health path → 500
  hang  accept and read the request, never answer (a hung apiserver)

GET / answers "node NAME" (which node a VIP connection reached); GET /slow/N
answers the same after N seconds (N ≤ 30): the node speaks first after an idle
connection. GET /big/N answers N bytes of body (N ≤ 4 MiB, else 400): replies
of many full-size segments (Path MTU tests). POST /upload reads a body of
Content-Length bytes (≤ 4 MiB, else 400; 411 without one) and answers
"got N" with the number of bytes it received: requests of many full-size
segments (Path MTU tests, uploads).
Every request is handled in its own thread; hung ones end when the test
closes the connection or after 120 s.
"""
import argparse
import http.server
import os
import socket
import socketserver
import ssl
import sys
import time

BIG_MAX = 4 << 20  # GET /big/N: the largest N served; POST /upload: the largest body
BIG_CHUNK = b"x" * 65536


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()

    def mode():
        try:
            with open(a.mode_file) as f:
                return f.read().strip() or "200"
        except OSError:
            return "200"

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, code, body):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def send_big(self, arg):
            try:
                n = int(arg)
            except ValueError:
                n = -1
            if not 0 <= n <= BIG_MAX:
                self.reply(400, "bad size (0..%d)\n" % BIG_MAX)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.send_header("Connection", "close")
            self.end_headers()
            # A reply stuck behind a Path MTU black hole ends here, not at the
            # kernel's retransmission limit.
            self.connection.settimeout(60)
            while n > 0:
                k = min(n, len(BIG_CHUNK))
                self.wfile.write(BIG_CHUNK[:k])
                n -= k
            self.close_connection = True

        def read_upload(self):
            length = self.headers.get("Content-Length")
            if length is None:
                self.reply(411, "Content-Length required\n")
                return
            try:
                n = int(length)
            except ValueError:
                n = -1
            if not 0 <= n <= BIG_MAX:
                self.reply(400, "bad size (0..%d)\n" % BIG_MAX)
                return
            # As for GET /big/N: a body stuck behind a Path MTU black hole
            # ends here. A short count means the client closed early.
            self.connection.settimeout(60)
            got = 0
            while got < n:
                data = self.rfile.read(min(n - got, len(BIG_CHUNK)))
                if not data:
                    break
                got += len(data)
            self.reply(200, "got %d\n" % got)

        def do_POST(self):
            if self.path == "/upload":
                self.read_upload()
                return
            self.reply(404, "no such path\n")

        def do_GET(self):
            m = mode()
            if self.path in ("/healthz", "/readyz", "/ping"):
                if m == "hang":
                    self.connection.settimeout(120)
                    try:
                        self.connection.recv(1)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                if m == "500":
                    self.reply(500, "broken\n")
                    return
                self.reply(200, "pong\n" if self.path == "/ping" else "ok\n")
                return
            if self.path.startswith("/big/"):
                self.send_big(self.path[5:])
                return
            if self.path.startswith("/slow/"):
                try:
                    time.sleep(min(max(float(self.path[6:]), 0), 30))
                except ValueError:
                    self.reply(400, "bad delay\n")
                    return
            self.reply(200, "node %s\n" % a.name)

    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = socket.AF_INET6 if ":" in a.addr else socket.AF_INET

        def handle_error(self, request, client_address):
            pass  # checkers close early (RST); that is not news

    srv = S((a.addr, a.port), H)
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)

        # Handshake in the request thread, so a slow client cannot block accept().
        orig = S.finish_request

        def finish_request(self, request, client_address):
            try:
                request.settimeout(10)
                request.do_handshake()
                request.settimeout(None)
            except (OSError, ssl.SSLError):
                return
            orig(self, request, client_address)
        S.finish_request = finish_request
    print("listening %s:%d %s" % (a.addr, a.port, a.name), flush=True)
    deadline = time.time() + 3600  # never outlive a forgotten test by more than an hour
    srv.timeout = 1
    while time.time() < deadline:
        srv.handle_request()
    return 0


if __name__ == "__main__":
    sys.exit(main())
