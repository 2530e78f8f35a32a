#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Traffic tools for drover's lab, demo and end-to-end tests.

  lbtool.py echo-server --name NAME [--port 7]
      Dual-stack TCP server: greets each connection with "NAME\\n", then echoes.
  lbtool.py spread --addr VIP [--port 80] [-n 3000] [--concurrency 16] [--sport-base P]
      N short HTTP/1.0 connections; tallies the node name each answer carries.
      Prints one JSON object: {"opened", "ok", "failed", "nodes": {name: count}, "errors"}.
  lbtool.py hold --addr VIP [--port 7] [-n 60]
      N long-lived connections to an echo-server, each sending a numbered line
      every --period and checking the echo within --timeout. Commands on stdin:
        event NAME   label what happens next (breaks are attributed to it)
        open N       open N more connections
        close NODE   close every alive connection on NODE (counted as closed, not broken)
        sync ID      print "SYNC ID alive=.. broken=.." once every alive
                     connection has completed a round trip started after it
                     (each sends its next line at once, whatever --period)
        quit         print "REPORT {json}" and exit
      Prints "OPENED", "BROKEN" lines as things happen; each break carries
      the wall-clock time it was seen (t) and its connection was opened
      (opened_t), for a test to match with what it did.
  lbtool.py churn --addr VIP [--port 80] --stop-file FILE [--answer RE] [--rate R] [--hold S]
      A stream of short connections (connect, stay idle --hold seconds, one
      HTTP/1.0 request, read the answer to EOF, close; the body must match
      --answer) until FILE exists, --max-conns are started or --max-time
      passes. Each failure is one line "FAIL t=EPOCH kind=KIND sport=PORT
      detail", KIND one of refused, connect_timeout, reset, timeout (no answer
      within --timeout), wrong_answer, deadline, error_ERRNO; "PROGRESS ok=N
      failed=M" every 0.2 s; at the end "REPORT {json}" with the counts by
      kind and by node.
  lbtool.py malformed --ifname DEV --dst-mac MAC --src V4|V6 --vip VIP [--port 80]
      Sends crafted broken frames (AF_PACKET) to VIP:port; prints JSON {kind: count}.

Every loop is bounded in time; nothing here listens or sends beyond the
addresses given on the command line.
"""
import argparse
import errno
import json
import os
import re
import selectors
import socket
import struct
import sys
import time

# --------------------------------------------------------------------------- echo-server


def echo_server(args):
    sel = selectors.DefaultSelector()
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind(("::", args.port))
    ls.listen(1024)
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ, None)
    greet = (args.name + "\n").encode()
    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.data is None:
                try:
                    c, _ = ls.accept()
                except OSError:
                    continue
                c.setblocking(False)
                try:
                    c.send(greet)
                except OSError:
                    c.close()
                    continue
                sel.register(c, selectors.EVENT_READ, b"")
                continue
            c = key.fileobj
            try:
                d = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if not d:
                sel.unregister(c)
                c.close()
                continue
            try:
                # Small lines, socket buffers are far from full: a short write
                # here means the peer stopped reading; drop it.
                if c.send(d) != len(d):
                    raise OSError(errno.ENOBUFS, "short write")
            except OSError:
                sel.unregister(c)
                c.close()


# --------------------------------------------------------------------------- spread


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def spread(args):
    fam = family_of(args.addr)
    req = ("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % args.host).encode()
    sel = selectors.DefaultSelector()
    nodes, errors = {}, {}
    started = ok = failed = 0
    deadline = time.monotonic() + args.deadline

    def err(kind):
        nonlocal failed
        failed += 1
        errors[kind] = errors.get(kind, 0) + 1

    def start_one():
        nonlocal started
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        if args.sport_base:
            # fixed source ports: the same 5-tuples, so the same spread, every run
            s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", args.sport_base + started))
        started += 1
        try:
            s.connect((args.addr, args.port))
        except BlockingIOError:
            pass
        except OSError as e:
            s.close()
            err(errno.errorcode.get(e.errno, str(e.errno)))
            return
        sel.register(s, selectors.EVENT_WRITE, {"buf": b"", "t": time.monotonic(), "sent": False})

    while (started < args.n or sel.get_map()) and time.monotonic() < deadline:
        if ok == 0 and failed >= args.give_up:
            break
        while started < args.n and len(sel.get_map()) < args.concurrency:
            start_one()
        now = time.monotonic()
        for key, ev in sel.select(timeout=0.2):
            s, st = key.fileobj, key.data
            if not st["sent"]:
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    sel.unregister(s)
                    s.close()
                    err(errno.errorcode.get(e, str(e)))
                    continue
                s.send(req)
                st["sent"] = True
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                d = s.recv(4096)
            except OSError as e:
                d = None
                sel.unregister(s)
                s.close()
                err(errno.errorcode.get(e.errno, str(e.errno)))
                continue
            if d:
                st["buf"] += d
                continue
            sel.unregister(s)
            s.close()
            body = st["buf"].split(b"\r\n\r\n", 1)
            if len(body) == 2 and st["buf"].startswith(b"HTTP/1.1 200"):
                name = body[1].decode(errors="replace").strip() or "?"
                nodes[name] = nodes.get(name, 0) + 1
                ok += 1
            else:
                err("bad_response")
        for key in list(sel.get_map().values()):
            if now - key.data["t"] > args.timeout:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                err("timeout")
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
        key.fileobj.close()
        err("deadline")
    print(json.dumps({"addr": args.addr, "port": args.port, "opened": started, "ok": ok,
                      "failed": failed + (args.n - started), "nodes": nodes, "errors": errors},
                     sort_keys=True))
    return 0


# --------------------------------------------------------------------------- churn


def churn(args):
    fam = family_of(args.addr)
    req = ("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % args.host).encode()
    answer = re.compile(args.answer)
    sel = selectors.DefaultSelector()
    nodes, errors = {}, {}
    started = ok = failed = 0
    t_start = time.monotonic()
    deadline = t_start + args.max_time
    next_progress = 0.0
    stopping = False

    def err(kind, detail, st=None):
        nonlocal failed
        failed += 1
        errors[kind] = errors.get(kind, 0) + 1
        sport = st["sport"] if st else 0
        print("FAIL t=%.3f kind=%s sport=%d %s" % (time.time(), kind, sport, detail), flush=True)

    def kind_of(e):
        if e == errno.ECONNREFUSED:
            return "refused"
        if e in (errno.ECONNRESET, errno.EPIPE):
            return "reset"
        if e == errno.ETIMEDOUT:
            return "timeout"
        return "error_" + errno.errorcode.get(e, str(e))

    def finish(s):
        sel.unregister(s)
        s.close()

    def start_one():
        nonlocal started
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        started += 1
        st = {"buf": b"", "t": time.monotonic(), "sent": False, "sport": 0, "connected": 0.0}
        try:
            s.connect((args.addr, args.port))
        except BlockingIOError:
            pass
        except OSError as e:
            s.close()
            err(kind_of(e.errno), "connect: " + os.strerror(e.errno))
            return
        st["sport"] = s.getsockname()[1]
        sel.register(s, selectors.EVENT_WRITE, st)

    while time.monotonic() < deadline:
        now = time.monotonic()
        if not stopping and (os.path.exists(args.stop_file) or started >= args.max_conns):
            stopping = True
        if stopping and not sel.get_map():
            break
        if now >= next_progress:
            print("PROGRESS ok=%d failed=%d" % (ok, failed), flush=True)
            next_progress = now + 0.2
        # --rate: connections started so far may not run ahead of the clock.
        while (not stopping and len(sel.get_map()) < args.concurrency and
               (args.rate <= 0 or started < (now - t_start) * args.rate + 1)):
            start_one()
        for key, ev in sel.select(timeout=0.05):
            s, st = key.fileobj, key.data
            if not st["sent"]:
                if not st["connected"]:
                    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if e:
                        finish(s)
                        err(kind_of(e), "connect: " + os.strerror(e), st)
                        continue
                    st["connected"] = time.monotonic()
                    # --hold: the connection stays open (idle) that long before its
                    # request, so that changes meet connections in the middle.
                    if args.hold > 0:
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                if time.monotonic() - st["connected"] < args.hold:
                    pass  # readable while held: an RST or FIN, read below
                else:
                    try:
                        s.send(req)
                    except OSError as e:
                        finish(s)
                        err(kind_of(e.errno), "send: " + os.strerror(e.errno), st)
                        continue
                    st["sent"] = True
                    sel.modify(s, selectors.EVENT_READ, st)
                    continue
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError as e:
                finish(s)
                err(kind_of(e.errno), "recv after %d bytes: %s" % (len(st["buf"]), os.strerror(e.errno)), st)
                continue
            if d:
                st["buf"] += d
                continue
            finish(s)
            head, _, body = st["buf"].partition(b"\r\n\r\n")
            name = body.decode(errors="replace").strip()
            if head.startswith(b"HTTP/1.1 200") and answer.fullmatch(name):
                nodes[name] = nodes.get(name, 0) + 1
                ok += 1
            else:
                err("wrong_answer", repr(st["buf"][:80]), st)
        now = time.monotonic()
        for key in list(sel.get_map().values()):
            st = key.data
            if st["connected"] and not st["sent"] and now - st["connected"] >= args.hold:
                try:
                    key.fileobj.send(req)
                    st["sent"] = True
                except OSError as e:
                    finish(key.fileobj)
                    err(kind_of(e.errno), "send: " + os.strerror(e.errno), st)
                continue
            if now - st["t"] > args.timeout:
                finish(key.fileobj)
                err("timeout" if st["sent"] else "connect_timeout",
                    "no answer in %.1f s" % args.timeout, st)
    for key in list(sel.get_map().values()):
        finish(key.fileobj)
        err("deadline", "still open at --max-time", key.data)
    print("PROGRESS ok=%d failed=%d" % (ok, failed), flush=True)
    print("REPORT " + json.dumps({"addr": args.addr, "port": args.port, "started": started,
                                  "ok": ok, "failed": failed, "errors": errors, "nodes": nodes,
                                  "seconds": round(time.monotonic() - t_start, 1)},
                                 sort_keys=True), flush=True)
    return 0


# --------------------------------------------------------------------------- hold


class Conn:
    def __init__(self, idx, sock, event):
        self.idx = idx
        self.sock = sock
        self.node = None
        self.buf = b""
        self.seq = 0
        self.sent_at = None       # monotonic time of the outstanding line, None if none
        self.last_ok = 0.0        # when the last echo came back
        self.next_send = 0.0
        self.alive = True
        self.opened_event = event
        self.rounds = 0
        self.expect = b""
        self.closed = False       # closed on purpose (command close): not broken
        self.opened_t = time.time()  # wall clock: a test matches breaks with its own events


def hold(args):
    fam = family_of(args.addr)
    sel = selectors.DefaultSelector()
    conns = []
    event = "start"
    broken = []               # dicts
    open_failed = {}          # event -> count
    syncs = []                # (id, t)
    stdin_buf = b""
    out = sys.stdout
    deadline = time.monotonic() + args.max_time

    def say(line):
        out.write(line + "\n")
        out.flush()

    def mark_broken(c, why):
        if not c.alive:
            return
        c.alive = False
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        t = time.time()
        broken.append({"conn": c.idx, "node": c.node, "event": event, "error": why,
                       "rounds": c.rounds, "t": round(t, 3), "opened_t": round(c.opened_t, 3)})
        say("BROKEN conn=%d node=%s event=%s error=%s t=%.3f" % (c.idx, c.node, event, why, t))

    def open_some(n):
        # Connect in blocking mode with a timeout: simple, and opening is not
        # what this tool measures. A failure is counted against the event.
        good = 0
        per_node = {}
        for _ in range(n):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(args.timeout)
            try:
                s.connect((args.addr, args.port))
                greet = b""
                while not greet.endswith(b"\n") and len(greet) < 256:
                    d = s.recv(256 - len(greet))
                    if not d:
                        raise OSError(errno.ECONNRESET, "closed before greeting")
                    greet += d
            except OSError as e:
                s.close()
                open_failed[event] = open_failed.get(event, 0) + 1
                say("OPENFAIL event=%s t=%.3f error=%s" % (event, time.time(), e))
                continue
            s.setblocking(False)
            c = Conn(len(conns), s, event)
            c.node = greet.decode(errors="replace").strip()
            c.last_ok = time.monotonic()
            c.next_send = c.last_ok + (len(conns) % 10) * args.period / 10
            conns.append(c)
            sel.register(s, selectors.EVENT_READ, c)
            good += 1
            per_node[c.node] = per_node.get(c.node, 0) + 1
        say("OPENED %d event=%s total=%d nodes=%s" % (good, event, len(conns),
                                                     json.dumps(per_node, sort_keys=True)))

    def close_node(node):
        # The client ends its connections on NODE itself, as a user would: a
        # close, not a breakage.
        n = 0
        for c in conns:
            if c.alive and c.node == node:
                c.alive = False
                c.closed = True
                sel.unregister(c.sock)
                c.sock.close()
                n += 1
        say("CLOSED %d node=%s event=%s" % (n, node, event))

    def report():
        alive = [c for c in conns if c.alive]
        per_node = {}
        for c in alive:
            per_node[c.node] = per_node.get(c.node, 0) + 1
        by_event = {}
        for b in broken:
            k = b["event"]
            by_event.setdefault(k, {})
            by_event[k][b["node"]] = by_event[k].get(b["node"], 0) + 1
        return {"opened": len(conns), "alive": len(alive), "broken": len(broken),
                "closed": sum(c.closed for c in conns),
                "alive_per_node": per_node, "broken_by_event": by_event,
                "open_failed": open_failed, "broken_list": broken,
                "min_rounds": min([c.rounds for c in alive], default=0)}

    os.set_blocking(sys.stdin.fileno(), False)
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    open_some(args.n)
    quitting = False
    last_run = [time.monotonic()]

    def compensate():
        # A client descheduled for a while (a busy 2-core machine) must not
        # blame the network for echoes it did not get to read: move the
        # outstanding deadlines by the time it was not running.
        t = time.monotonic()
        gap = t - last_run[0]
        last_run[0] = t
        if gap > 0.5:
            for c in conns:
                if c.alive and c.sent_at is not None:
                    c.sent_at += gap
            say("STALL %.2f s: this client was not running; deadlines moved" % gap)
        return t

    while not quitting and time.monotonic() < deadline:
        now = compensate()
        for c in conns:
            if not c.alive:
                continue
            if c.sent_at is None and now >= c.next_send:
                c.seq += 1
                line = ("%d %d %s\n" % (c.idx, c.seq, "x" * args.size)).encode()
                try:
                    if c.sock.send(line) != len(line):
                        raise OSError(errno.ENOBUFS, "short write")
                except OSError as e:
                    mark_broken(c, "send:" + errno.errorcode.get(e.errno or 0, str(e)))
                    continue
                c.expect = line
                c.sent_at = now
        for key, _ in sel.select(timeout=0.05):
            if key.data == "stdin":
                try:
                    d = os.read(sys.stdin.fileno(), 4096)
                except BlockingIOError:
                    continue
                if not d:
                    sel.unregister(sys.stdin)
                    continue
                stdin_buf += d
                while b"\n" in stdin_buf:
                    cmd, stdin_buf = stdin_buf.split(b"\n", 1)
                    w = cmd.decode().split()
                    if not w:
                        continue
                    if w[0] == "event":
                        event = w[1]
                        say("EVENT %s" % event)
                    elif w[0] == "open":
                        open_some(int(w[1]))
                    elif w[0] == "close":
                        close_node(w[1])
                    elif w[0] == "sync":
                        t = time.monotonic()
                        syncs.append((w[1], t))
                        # Each sends its next line now, not after a long --period.
                        for c in conns:
                            if c.alive and c.sent_at is None:
                                c.next_send = min(c.next_send, t)
                    elif w[0] == "quit":
                        quitting = True
                continue
            c = key.data
            try:
                d = c.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                mark_broken(c, "recv:" + errno.errorcode.get(e.errno or 0, str(e)))
                continue
            if not d:
                mark_broken(c, "eof")
                continue
            c.buf += d
            if c.sent_at is None:
                mark_broken(c, "unexpected_data")
                continue
            if len(c.buf) >= len(c.expect):
                if c.buf[:len(c.expect)] != c.expect:
                    mark_broken(c, "corrupt_echo")
                    continue
                c.buf = c.buf[len(c.expect):]
                c.last_ok = time.monotonic()
                c.sent_at = None
                c.rounds += 1
                c.next_send = c.last_ok + args.period
        # Timeouts are judged only after reading what has arrived.
        now = compensate()
        for c in conns:
            if c.alive and c.sent_at is not None and now - c.sent_at > args.timeout:
                mark_broken(c, "echo_timeout")
        # A sync completes when every alive connection has had an echo back
        # for a line sent after the sync was asked for.
        while syncs:
            sid, t = syncs[0]
            pending = [c for c in conns if c.alive and c.last_ok <= t]
            if pending and time.monotonic() - t < 3 * args.timeout:
                break
            syncs.pop(0)
            say("SYNC %s alive=%d broken=%d pending=%d" % (sid, sum(c.alive for c in conns),
                                                             len(broken), len(pending)))
    for c in conns:
        if c.alive:
            c.sock.close()
    say("REPORT " + json.dumps(report(), sort_keys=True))
    return 0


# --------------------------------------------------------------------------- malformed


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4_hdr(src, dst, payload_len, ihl=5, flags_frag=0, proto=6, total=None):
    tot = total if total is not None else ihl * 4 + payload_len
    h = struct.pack("!BBHHHBBH4s4s", (4 << 4) | ihl, 0, tot, 0x1234, flags_frag, 64, proto, 0,
                    socket.inet_pton(socket.AF_INET, src), socket.inet_pton(socket.AF_INET, dst))
    h += b"\0" * (ihl * 4 - 20) if ihl > 5 else b""
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def tcp_hdr(sport, dport, doff=5, flags=0x02):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, doff << 4, flags, 65535, 0, 0)


def malformed(args):
    src_mac = open("/sys/class/net/%s/address" % args.ifname).read().strip()
    eth4 = bytes.fromhex(args.dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
    v6 = ":" in args.vip
    eth = eth4 + (b"\x86\xdd" if v6 else b"\x08\x00")
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((args.ifname, 0))
    frames = {}
    sp = 40000
    if not v6:
        t = tcp_hdr(sp, args.port)
        frames["ip_trunc"] = eth + ip4_hdr(args.src, args.vip, 20)[:12]
        frames["ip_bad_ihl"] = eth + ip4_hdr(args.src, args.vip, 20, ihl=4)[:20] + t
        frames["ip_bad_totlen"] = eth + ip4_hdr(args.src, args.vip, 20, total=12) + t
        frames["ip_frag_first"] = eth + ip4_hdr(args.src, args.vip, 20, flags_frag=0x2000) + t
        frames["ip_frag_later"] = eth + ip4_hdr(args.src, args.vip, 8, flags_frag=0x0003) + t[:8]
        frames["tcp_trunc"] = eth + ip4_hdr(args.src, args.vip, 10) + t[:10]
        frames["tcp_bad_doff"] = eth + ip4_hdr(args.src, args.vip, 20) + tcp_hdr(sp, args.port, 2)
    else:
        src = socket.inet_pton(socket.AF_INET6, args.src)
        dst = socket.inet_pton(socket.AF_INET6, args.vip)

        def ip6(nh, plen):
            return struct.pack("!IHBB", 6 << 28, plen, nh, 64) + src + dst

        t = tcp_hdr(sp, args.port)
        frames["ip_trunc"] = eth + ip6(6, 20)[:30]
        frames["ip_bad_version"] = eth + b"\x40" + ip6(6, 20)[1:] + t
        frag = struct.pack("!BBHI", 6, 0, 1, 0x1234)     # first fragment, M=1
        frames["ip_frag"] = eth + ip6(44, 28) + frag + t
        frames["tcp_trunc"] = eth + ip6(6, 10) + t[:10]
        frames["tcp_bad_doff"] = eth + ip6(6, 20) + tcp_hdr(sp, args.port, 3)
        # 10 hop-by-hop headers in a row: longer than drover walks (it passes those).
        ext = b""
        for i in range(10):
            ext += struct.pack("!BB6s", 0 if i < 9 else 6, 0, b"\x01\x04\0\0\0\0")
        frames["ip6_ext_long"] = eth + ip6(0, len(ext) + 20) + ext + t
        # A hop-by-hop header claiming 88 bytes in a packet that has 28 after it.
        frames["ip6_ext_cut"] = eth + ip6(0, 8 + 20) + struct.pack("!BB6s", 6, 10, b"\x01\x04\0\0\0\0") + t
    sent = {}
    for kind, f in frames.items():
        for _ in range(args.count):
            s.send(f)
        sent[kind] = args.count
    print(json.dumps(sent, sort_keys=True))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo-server")
    e.add_argument("--name", required=True)
    e.add_argument("--port", type=int, default=7)
    e.add_argument("--tag", default="", help="ignored; lets scripts recognise their server")
    s = sub.add_parser("spread")
    s.add_argument("--addr", required=True)
    s.add_argument("--port", type=int, default=80)
    s.add_argument("--host", default="drover.lab")
    s.add_argument("-n", type=int, default=3000)
    s.add_argument("--concurrency", type=int, default=16)
    s.add_argument("--timeout", type=float, default=5.0, help="per connection, seconds")
    s.add_argument("--deadline", type=float, default=120.0, help="whole run, seconds")
    s.add_argument("--give-up", type=int, default=32,
                   help="stop after this many failures without one success")
    s.add_argument("--sport-base", type=int, default=0,
                   help="connection i uses source port SPORT_BASE+i (0: the kernel picks)")
    c = sub.add_parser("churn")
    c.add_argument("--addr", required=True)
    c.add_argument("--port", type=int, default=80)
    c.add_argument("--host", default="drover.lab")
    c.add_argument("--stop-file", required=True, help="stop starting connections once it exists")
    c.add_argument("--answer", default=".+", help="regular expression the body must match")
    c.add_argument("--concurrency", type=int, default=4)
    c.add_argument("--hold", type=float, default=0, help="seconds between connect and request")
    c.add_argument("--rate", type=float, default=0, help="connections per second at most (0: no cap)")
    c.add_argument("--timeout", type=float, default=5.0, help="per connection, seconds")
    c.add_argument("--max-conns", type=int, default=100000)
    c.add_argument("--max-time", type=float, default=120.0, help="whole run, seconds")
    h = sub.add_parser("hold")
    h.add_argument("--addr", required=True)
    h.add_argument("--port", type=int, default=7)
    h.add_argument("-n", type=int, default=60)
    h.add_argument("--period", type=float, default=0.2, help="seconds between lines")
    h.add_argument("--timeout", type=float, default=5.0, help="echo must return within")
    h.add_argument("--size", type=int, default=32, help="payload bytes per line")
    h.add_argument("--max-time", type=float, default=600.0, help="exit after, seconds")
    m = sub.add_parser("malformed")
    m.add_argument("--ifname", required=True)
    m.add_argument("--dst-mac", required=True)
    m.add_argument("--src", required=True)
    m.add_argument("--vip", required=True)
    m.add_argument("--port", type=int, default=80)
    m.add_argument("--count", type=int, default=5)
    args = p.parse_args()
    return {"echo-server": echo_server, "spread": spread, "churn": churn, "hold": hold,
            "malformed": malformed}[args.cmd](args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
