#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Turn scripts/bench.sh's raw samples into bench/results.md (one table per part).

Raw lines: ROUND PEER METRIC VALUE [NOTE]. For each peer and figure the best
sample over the rounds is kept (highest rate, lowest CPU and latency), and
every ratio is taken against the kernel NAT peer (nftnat) of the same run.
"""
import argparse
import collections

PEERS = [
    ("none", "no balancer (limit)"),
    ("nftnat", "kernel NAT: nft DNAT+conntrack"),
    ("nftdsr", "nft netdev DSR (stateless)"),
    ("haproxy", "HAProxy TCP"),
    ("drover_nat", "drover nat"),
    ("drover_dsr", "drover dsr"),
]
# Diagnostic peers, shown only when a run measured them (BENCH_PEERS).
PEERS_OPT = [
    ("nftnat_xdp", "kernel NAT behind pass-through XDP (diagnostic)"),
]
# metric, label, higher is better, unit format
FIGS = [
    ("syn_pps", "SYN flood delivered to nodes (pkt/s)", True, "{:,.0f}"),
    ("syn_sent_pps", "  SYNs the generator sent (pkt/s)", True, "{:,.0f}"),
    ("cpu_ns_per_pkt", "CPU per delivered SYN, generator's CPU (ns)", False, "{:,.0f}"),
    ("cpu_share_ns", "  of which above no balancer (ns)", False, "{:,.0f}"),
    ("syn_pps_xdp", "SYN flood as XDP frames, delivered (pkt/s)", True, "{:,.0f}"),
    ("syn_sent_pps_xdp", "  XDP frames the generator sent (pkt/s)", True, "{:,.0f}"),
    ("cpu_ns_per_pkt_xdp", "CPU per delivered SYN, XDP frames (ns)", False, "{:,.0f}"),
    ("cpu_share_ns_xdp", "  of which above no balancer (ns)", False, "{:,.0f}"),
    ("conn_rate", "connections/s (connect, 1 request, close)", True, "{:,.0f}"),
    ("ka_rate", "keep-alive requests/s (16 connections)", True, "{:,.0f}"),
    ("ka_p50_us", "keep-alive round trip p50 (µs)", False, "{:,.1f}"),
    ("ka_p99_us", "keep-alive round trip p99 (µs)", False, "{:,.1f}"),
]
# metric, label, the floor that does the same table access (same keys, same spread)
PKT = [
    ("floor_tx_ns", "floor: bare XDP_TX", None),
    ("floor_parse_ns", "floor: parse Eth/IPv4/TCP + 1 hash lookup (one hot key) + XDP_PASS",
     "floor_parse_ns"),
    ("floor_parse_few_ns", "floor: parse + 1 hash lookup, hits over 1,024 keys",
     "floor_parse_few_ns"),
    ("floor_parse_many_ns", "floor: parse + 1 hash lookup, hits over 65,536 keys",
     "floor_parse_many_ns"),
    ("floor_insert_ns", "floor: parse + 1 insert into a 1M-entry LRU hash (new 5-tuple)",
     "floor_insert_ns"),
    ("floor_insert2_ns", "floor: parse + 1 lookup (a miss) + 2 inserts into two 1M-entry LRU "
     "hashes (drover's nat new-flow map operations, nothing else)", "floor_insert2_ns"),
    ("drover_nonvip_ns", "drover: non-VIP TCP (XDP_PASS)", "floor_parse_ns"),
    ("drover_est_hot_ns", "drover: established, one hot flow (NAT + redirect)", "floor_parse_ns"),
    ("drover_est_few_ns", "drover: established, 1,024 flows", "floor_parse_few_ns"),
    ("drover_est_many_ns", "drover: established, 65,536 flows", "floor_parse_many_ns"),
    ("drover_reply_ns", "drover: NAT reply (node → client)", "floor_parse_ns"),
    ("drover_new_ns", "drover: new flow (flow + SNAT insert)", "floor_insert2_ns"),
    ("drover_new_dsr_ns", "drover: new flow, dsr service (flow insert only)", "floor_insert_ns"),
    ("floor_parse6_ns", "floor: parse Eth/IPv6/TCP + 1 hash lookup (one hot key) + XDP_PASS",
     "floor_parse6_ns"),
    ("drover_est6_hot_ns", "drover, IPv6 service: established, one hot flow", "floor_parse6_ns"),
    ("drover_reply6_ns", "drover, IPv6 service: NAT reply", "floor_parse6_ns"),
    ("drover_new6_ns", "drover, IPv6 service: new flow (flow + SNAT insert)",
     "floor_insert2_ns"),
    ("wrap_fixed_ns", "harness: frame-restoring wrapper alone (subtracted from the one-flow rows)",
     None),
    ("wrap_many_ns", "harness: the wrapper spreading the source over N flows (subtracted from "
     "the 1,024- and 65,536-key/flow rows)", None),
    ("wrap_new_ns", "harness: the wrapper making a new source each time (subtracted from the "
     "insert and new-flow rows)", None),
    ("wrap6_fixed_ns", "harness: the wrapper alone, IPv6 frames (subtracted from the IPv6 "
     "one-flow rows)", None),
    ("wrap6_new_ns", "harness: the wrapper making a new source each time, IPv6 frames "
     "(subtracted from the IPv6 new-flow row)", None),
]


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out")
    for k in ("machine", "kernel", "command", "ipvs", "date", "seconds", "paced"):
        ap.add_argument("--" + k, default="?")
    ap.add_argument("--live", default="", help="why there are no XDP-frames rows, if so")
    a = ap.parse_args()

    samples = collections.defaultdict(list)  # (peer, metric) -> [(value, round, note)]
    notes = collections.defaultdict(set)
    unavailable = {}
    for line in open(a.raw):
        f = line.split()
        if len(f) < 4:
            continue
        rnd, peer, metric, value = f[:4]
        note = f[4] if len(f) > 4 else ""
        if metric == "unavailable":
            unavailable[peer] = value.replace("_", " ")
            continue
        if metric.startswith("diag_"):
            notes[peer].add("round %s, counters after %s: %s" % (rnd, metric[5:], value))
            continue
        if metric == "skipped":
            notes[peer].add("round %s skipped (time budget)" % rnd)
            continue
        v = num(value)
        if v is None or v < 0:
            if metric == "errors":
                notes["pkt"].add("%s: %s" % (rnd.replace("cpu", "CPU "), value.replace("_", " ")))
            continue
        samples[(peer, metric)].append((v, rnd, note))

    # Per packet: every figure from one drover-bench-pkt run (one CPU), the
    # run with the most figures and then the cheapest floor, so that ratios
    # compare measurements taken seconds apart: this VM's speed drifts by
    # up to ~2x for minutes, and a best-of per figure would mix phases.
    pkt_runs = collections.defaultdict(dict)
    for (peer, metric), vals in samples.items():
        if peer == "pkt":
            for v, rnd, _ in vals:
                pkt_runs[rnd][metric] = v
    pkt_run = None
    if pkt_runs:
        def drift(r):  # the hot floor at the end of the run against its start
            f0, f1 = pkt_runs[r].get("floor_parse_ns"), pkt_runs[r].get("floor_parse_end_ns")
            return abs(f1 / f0 - 1) if f0 and f1 else 1.0

        pkt_run = min(pkt_runs, key=lambda r: (-len(pkt_runs[r]), drift(r) > 0.15,
                                               pkt_runs[r].get("floor_parse_ns", float("inf"))))
        for (peer, metric) in list(samples):
            if peer == "pkt":
                samples[(peer, metric)] = [x for x in samples[(peer, metric)] if x[1] == pkt_run]

    # The balancer's share of the per-SYN CPU: what it costs above plain routing.
    for sfx in ("", "_xdp"):
        nb = [x[0] for x in samples.get(("none", "cpu_ns_per_pkt" + sfx), [])]
        if not nb:
            continue
        for (peer, metric), vals in list(samples.items()):
            if metric == "cpu_ns_per_pkt" + sfx and peer != "none":
                samples[(peer, "cpu_share_ns" + sfx)] = [(v - min(nb), r, n) for v, r, n in vals]

    peers = PEERS + [p for p in PEERS_OPT if any(k[0] == p[0] for k in samples)]

    def best(peer, metric, higher):
        s = samples.get((peer, metric))
        if not s:
            return None, ""
        v, rnd, note = (max if higher else min)(s, key=lambda x: x[0])
        return v, note

    def of_best_round(peer, metric, higher, other):
        """@peer's @other in the round of its best @metric (None if that round has none)."""
        s = samples.get((peer, metric))
        if not s:
            return None
        rnd = (max if higher else min)(s, key=lambda x: x[0])[1]
        return next((v for v, r, _ in samples.get((peer, other), []) if r == rnd), None)

    def same_round_by(peer, metric, ref="nftnat"):
        """(round, peer ÷ ref) for each round that measured both, in round order."""
        a = {r: v for v, r, _ in samples.get((peer, metric), [])}
        b = {r: v for v, r, _ in samples.get((ref, metric), [])}
        return [(r, a[r] / b[r]) for r in sorted(a, key=lambda r: int(r) if r.isdigit() else 0)
                if b.get(r)]

    def same_round(peer, metric, ref="nftnat"):
        return [x for _, x in same_round_by(peer, metric, ref)]

    def median(xs):
        xs = sorted(xs)
        n = len(xs)
        if not n:
            return None
        return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

    L = []
    L.append("# drover benchmark results\n")
    L.append("- date: %s; whole run %s s" % (a.date, a.seconds))
    L.append("- machine: %s; kernel %s" % (a.machine, a.kernel))
    L.append("- command: `%s`" % a.command)
    L.append("- %s" % a.ipvs)
    if a.live:
        L.append("- %s" % a.live)
    L.append("")
    L.append("## Through the lab (client → balancer → 3 nodes, veth + bridge, netns)\n")
    L.append("Each cell: best of the rounds (generator pinned to CPU 0, CPU 1, CPU 0, ...), and its "
             "ratio to the kernel NAT peer of the same run.\n")
    hdr = "| figure | " + " | ".join(name for _, name in peers) + " |"
    L.append(hdr)
    L.append("|" + "---|" * (len(peers) + 1))
    base = {}
    for metric, label, higher, fmt in FIGS:
        base[metric], _ = best("nftnat", metric, higher)
    for metric, label, higher, fmt in FIGS:
        row = [label.format(paced=a.paced)]
        for peer, _ in peers:
            if peer in unavailable:
                row.append("n/a")
                continue
            if peer == "haproxy" and metric.startswith(("syn_", "cpu_")):
                row.append("n/a (terminates TCP)")
                continue
            v, note = best(peer, metric, higher)
            if v is None:
                row.append("–")
                continue
            cell = fmt.format(v)
            b = base.get(metric)
            if b and b > 0:
                cell += " (%.2f×)" % (v / b)
            if note:
                cell += " ⚠" + note
            row.append(cell)
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    for peer, why in unavailable.items():
        L.append("- %s: not measured: %s" % (peer, why))
    for peer, name in peers:
        v, _ = best(peer, "paced_delivered_pct", True)
        extra = []
        if v is not None and v < 99:
            extra.append("paced flood: only %.1f%% delivered (CPU figure covers what arrived)" % v)
        # What went wrong in the round each figure comes from: a timeout is a
        # connection or request left unanswered for 2 s (a lost SYN, no reply).
        for metric, other, what in (("conn_rate", "conn_errors", "connection errors"),
                                    ("conn_rate", "conn_timeouts", "connection timeouts"),
                                    ("ka_rate", "ka_errors", "keep-alive errors"),
                                    ("ka_rate", "ka_timeouts", "keep-alive timeouts")):
            e = of_best_round(peer, metric, True, other)
            if e:
                extra.append("%s in the best round: %d" % (what, e))
        for n in sorted(notes.get(peer, ())):
            extra.append(n)
        if extra:
            L.append("- %s: %s" % (name, "; ".join(extra)))
    L.append("")

    L.append("## Same-round ratios\n")
    L.append("Each round measures every peer once, within a minute or two. This VM's speed "
             "drifts by up to 2× over minutes, so a best-of-rounds ratio above can pair one "
             "peer's fast phase with another's slow one. Here each round's figure is divided "
             "by the same round's kernel NAT figure (HAProxy's, where marked); for latency, "
             "below 1 is better.\n")
    cols = [("none", "no balancer"), ("drover_dsr", "drover dsr")] + peers[len(PEERS):]
    L.append("| figure | drover nat, by round (round: ratio) | drover nat, median | "
             + " | ".join("%s, median" % name for _, name in cols) + " |")
    L.append("|" + "---|" * (3 + len(cols)))
    same = [(m, lbl, "nftnat") for m, lbl, _, _ in FIGS
            if not m.startswith(("cpu_share", "syn_sent"))]
    same.append(("conn_rate", "connections/s ÷ HAProxy", "haproxy"))
    for metric, label, ref in same:
        by = same_round_by("drover_nat", metric, ref)
        if not by:
            continue
        rs = [x for _, x in by]
        cells = [label.strip(), ", ".join("%s: %.2f" % rx for rx in by), "%.2f" % median(rs)]
        for peer, _ in cols:
            m = median(same_round(peer, metric, ref))
            cells.append("%.2f" % m if m is not None else "–")
        L.append("| " + " | ".join(cells) + " |")
    L.append("")

    L.append("## Per packet: `bpf_prog_test_run_opts`, repeat 1,000,000, best of 2 rounds\n")
    if pkt_run:
        L.append("All figures from one run of drover-bench-pkt (`.output/bench/pktcost`), the one pinned to %s (of %s), "
                 "so every ratio compares measurements taken seconds apart.\n"
                 % (pkt_run.replace("cpu", "CPU "), ", ".join(sorted(pkt_runs)).replace("cpu", "CPU ")))
        f0 = pkt_runs[pkt_run].get("floor_parse_ns")
        f1 = pkt_runs[pkt_run].get("floor_parse_end_ns")
        if f0 and f1:
            L.append("Hot floor at the start and at the end of that run: %.0f and %.0f ns%s.\n"
                     % (f0, f1, " (**the machine's speed drifted during the run**)"
                        if abs(f1 / f0 - 1) > 0.15 else ""))
    fl_parse, _ = best("pkt", "floor_parse_ns", False)
    fl_tx, _ = best("pkt", "floor_tx_ns", False)
    L.append("| path | ns/packet | × parse+lookup floor (hot key) "
             "| × the floor with the same table access | × XDP_TX floor |")
    L.append("|---|---|---|---|---|")
    for metric, label, like in PKT:
        v, _ = best("pkt", metric, False)
        if v is None:
            L.append("| %s | failed | | | |" % label)
            continue
        lf = best("pkt", like, False)[0] if like else None
        r1 = "%.2f×" % (v / fl_parse) if fl_parse else ""
        r3 = "%.2f×" % (v / lf) if lf else "–"
        r2 = "%.2f×" % (v / fl_tx) if fl_tx else ""
        L.append("| %s | %.0f | %s | %s | %s |" % (label, v, r1, r3, r2))
    L.append("\nThe spread floors look their keys up behind the same wrapper, over the same "
             "keys, in a table of the same size (1M) as drover's established cases: what any "
             "program pays to reach one entry among that many on this machine (caches, TLB).")
    fi, _ = best("pkt", "floor_insert_ns", False)
    nf, _ = best("pkt", "drover_new_ns", False)
    f2, _ = best("pkt", "floor_insert2_ns", False)
    if fi and nf:
        L.append("\nA new flow costs %.1f× one connection-table insert of the same size "
                 "(drover inserts into drv_flows and drv_nat, and probes drv_nat)%s." %
                 (nf / fi, ", %.2f× a floor that does only those map operations (a lookup miss, "
                  "two inserts into two 1M-entry LRU hashes)" % (nf / f2) if f2 else ""))
    xl, _ = best("pkt", "drover_xlated_insns", False)
    jb, _ = best("pkt", "drover_jited_bytes", False)
    vi, _ = best("pkt", "drover_verified_insns", False)
    if xl:
        L.append("\ndrover_xdp: %d instructions after the verifier, %d bytes JITed, %d "
                 "instructions verified (as `bpftool prog show` reports them)." % (xl, jb, vi))
    for n in sorted(notes.get("pkt", ())):
        L.append("\n- harness: %s" % n)
    L.append("")

    # Targets of issue 7 (a benchmark: reported, never a pass/fail test).
    L.append("## Targets (issue 7)\n")

    def ratio(peer, metric, higher, ref="nftnat"):
        v, _ = best(peer, metric, higher)
        b, _ = best(ref, metric, higher)
        return (v / b) if (v is not None and b) else None

    def pk(metric, floor="floor_parse_ns"):
        v, _ = best("pkt", metric, False)
        f, _ = best("pkt", floor, False)
        return (v / f) if (v is not None and f) else None

    checks = [
        ("SYN rate ≥ 1.5× kernel NAT", ratio("drover_nat", "syn_pps", True), 1.5, True),
        ("balancer CPU/packet ≤ 0.5× kernel NAT (share above no balancer)",
         ratio("drover_nat", "cpu_share_ns", False), 0.5, False),
        ("SYN rate ≥ 0.6× no balancer", ratio("drover_nat", "syn_pps", True, "none"), 0.6, True),
        ("SYN rate, XDP frames, ≥ 1.5× kernel NAT", ratio("drover_nat", "syn_pps_xdp", True),
         1.5, True),
        ("balancer CPU/packet, XDP frames, ≤ 0.5× kernel NAT (share above no balancer)",
         ratio("drover_nat", "cpu_share_ns_xdp", False), 0.5, False),
        ("SYN rate, XDP frames, ≥ 0.6× no balancer",
         ratio("drover_nat", "syn_pps_xdp", True, "none"), 0.6, True),
        ("connections/s ≥ 1.2× kernel NAT", ratio("drover_nat", "conn_rate", True), 1.2, True),
        ("connections/s ≥ 2× HAProxy", ratio("drover_nat", "conn_rate", True, "haproxy"), 2.0, True),
        ("keep-alive req/s ≥ 1.1× kernel NAT", ratio("drover_nat", "ka_rate", True), 1.1, True),
        ("p50 ≤ kernel NAT", ratio("drover_nat", "ka_p50_us", False), 1.0, False),
        ("p99 ≤ kernel NAT", ratio("drover_nat", "ka_p99_us", False), 1.0, False),
        ("established ≤ 3× floor: one hot flow", pk("drover_est_hot_ns"), 3.0, False),
        ("established ≤ 3× floor: hits over 1,024 flows", pk("drover_est_few_ns"), 3.0, False),
        ("established ≤ 3× floor: hits over 65,536 flows", pk("drover_est_many_ns"), 3.0, False),
        ("established ≤ 3× the floor with the same spread: 1,024 flows/keys",
         pk("drover_est_few_ns", "floor_parse_few_ns"), 3.0, False),
        ("established ≤ 3× the floor with the same spread: 65,536 flows/keys",
         pk("drover_est_many_ns", "floor_parse_many_ns"), 3.0, False),
        ("new flow ≤ 8× floor", pk("drover_new_ns"), 8.0, False),
        ("non-VIP ≤ 1.5× floor", pk("drover_nonvip_ns"), 1.5, False),
    ]
    # The lab targets read again as the median of same-round ratios.
    same_med = {
        "SYN rate ≥ 1.5× kernel NAT": ("syn_pps", "nftnat"),
        "SYN rate ≥ 0.6× no balancer": ("syn_pps", "none"),
        "SYN rate, XDP frames, ≥ 1.5× kernel NAT": ("syn_pps_xdp", "nftnat"),
        "SYN rate, XDP frames, ≥ 0.6× no balancer": ("syn_pps_xdp", "none"),
        "connections/s ≥ 1.2× kernel NAT": ("conn_rate", "nftnat"),
        "connections/s ≥ 2× HAProxy": ("conn_rate", "haproxy"),
        "keep-alive req/s ≥ 1.1× kernel NAT": ("ka_rate", "nftnat"),
        "p50 ≤ kernel NAT": ("ka_p50_us", "nftnat"),
        "p99 ≤ kernel NAT": ("ka_p99_us", "nftnat"),
    }
    L.append("| drover nat target | measured (best of rounds) | met | same-round median | met |")
    L.append("|---|---|---|---|---|")
    for label, r, goal, higher in checks:
        cells = [label]
        sr = median(same_round("drover_nat", *same_med[label])) if label in same_med else None
        for i, x in enumerate((r, sr)):
            if x is None:
                cells += ["–", "–" if i else "not measured"]
                continue
            ok = x >= goal if higher else x <= goal
            # Two decimals, or more where two would read as the other side of the goal.
            for d in range(2, 7):
                shown = "%.*f" % (d, x)
                if (float(shown) >= goal if higher else float(shown) <= goal) == ok:
                    break
            cells += [shown + "×", "yes" if ok else "**no**"]
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    with open(a.out, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
