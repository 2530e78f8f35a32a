#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Write podman's default seccomp profile changed the way containerd's RuntimeDefault behaves:
bpf(2) allowed with CAP_BPF and perf_event_open(2) with CAP_PERFMON, not only with CAP_SYS_ADMIN.

The DaemonSet asks for seccompProfile RuntimeDefault. On RKE2/K3s that is containerd's profile,
which allows bpf(2) to a container granted CAP_BPF. Debian 12's podman (containers-common 0.50)
allows it only with CAP_SYS_ADMIN, so the tests run podman with this profile to behave like the
clusters drover is deployed on, without granting CAP_SYS_ADMIN.

Usage: seccomp-containerd.py IN.json OUT.json
"""
import json
import sys

GATED = {"bpf": "CAP_BPF", "perf_event_open": "CAP_PERFMON"}

p = json.load(open(sys.argv[1]))
for r in p["syscalls"]:
    inc = r.get("includes", {}) or {}
    exc = r.get("excludes", {}) or {}
    # The rule that denies them to containers without CAP_SYS_ADMIN: let our rules decide.
    if r["action"] == "SCMP_ACT_ERRNO" and "CAP_SYS_ADMIN" in exc.get("caps", []):
        r["names"] = [n for n in r["names"] if n not in GATED]
for name, cap in GATED.items():
    p["syscalls"].append({"names": [name], "action": "SCMP_ACT_ALLOW", "includes": {"caps": [cap]}})
json.dump(p, open(sys.argv[2], "w"), indent=1)
