#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Stand in for systemd's notify socket in a test.

sd_notify_listen.py SOCKET OUT MAX_SECONDS

Binds an AF_UNIX datagram socket at the path SOCKET (with SO_PASSCRED, as systemd's, so the
kernel says which process sent each datagram), and appends one line per datagram to OUT:
`SECONDS PID MESSAGE`, SECONDS on CLOCK_MONOTONIC, the message's lines joined with '|'.
Exits after MAX_SECONDS, or on SIGTERM; removes SOCKET.
"""
import os
import signal
import socket
import struct
import sys
import time

path, out, max_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind(path)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
end = time.monotonic() + max_s
try:
    with open(out, "a", buffering=1) as f:
        while time.monotonic() < end:
            sock.settimeout(max(0.01, min(1.0, end - time.monotonic())))
            try:
                data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            pid = 0
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            msg = data.decode("utf-8", "replace").replace("\n", "|")
            f.write(f"{time.monotonic():.3f} {pid} {msg}\n")
finally:
    os.unlink(path)
