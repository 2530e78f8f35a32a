#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Render drover's kustomize directories and check the rules the Kubernetes API server enforces
in Go code (not in the OpenAPI schema), plus drover's own invariants.

  manifests.py render DIR          print the rendered objects as a JSON list
  manifests.py rules FILE.json     check a rendered list; one line per violation, exit 1 if any

The renderer covers what deploy/ uses of kustomize (resources: files and directories, namespace,
labels without selectors, configMapGenerator from files, images.newTag/newName), so the checks
run where kubectl is missing (Debian 12); validate-manifests.sh compares it with
`kubectl kustomize` where kubectl exists.
"""
import json
import os
import sys

import yaml


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def render(d):
    with open(os.path.join(d, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    known = {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator",
             "images"}
    unknown = set(k) - known
    if unknown:
        raise SystemExit(f"{d}/kustomization.yaml: render does not implement {sorted(unknown)}")
    objs = []
    for r in k.get("resources", []):
        p = os.path.join(d, r)
        objs += render(p) if os.path.isdir(p) else load_docs(p)
    for g in k.get("configMapGenerator", []):
        if g.get("options", {}).get("disableNameSuffixHash") is not True:
            raise SystemExit(f"{d}: configMapGenerator {g['name']}: only fixed names are rendered")
        data = {}
        for fname in g.get("files", []):
            with open(os.path.join(d, fname)) as f:
                data[os.path.basename(fname)] = f.read()
        objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": g["name"]}, "data": data})
    ns = k.get("namespace")
    for o in objs:
        md = o.setdefault("metadata", {})
        if ns and o["kind"] != "Namespace":
            md["namespace"] = ns
        for lab in k.get("labels", []):
            if lab.get("includeSelectors") or lab.get("includeTemplates"):
                raise SystemExit(f"{d}: labels with selectors/templates are not rendered")
            md.setdefault("labels", {}).update(lab["pairs"])
        for c in pod_containers(o):
            for img in k.get("images", []):
                name, _, _ = c["image"].partition(":")
                if name == img["name"]:
                    c["image"] = f"{img.get('newName', name)}:{img.get('newTag', 'latest')}"
    return objs


def pod_spec(o):
    if o.get("kind") in ("DaemonSet", "Deployment", "StatefulSet"):
        return o["spec"]["template"]["spec"]
    if o.get("kind") == "Pod":
        return o["spec"]
    return None


def pod_containers(o):
    s = pod_spec(o)
    return [] if s is None else s.get("initContainers", []) + s.get("containers", [])


# Capabilities each container may add (docs/deploy.md says why each one is needed).
ALLOWED_CAPS = {"drover": {"BPF", "NET_ADMIN", "PERFMON"}, "node-setup": {"NET_ADMIN"},
                "pause": set()}


def rules(objs):
    errs = []
    where = lambda o, c=None: f"{o['kind']}/{o['metadata']['name']}" + (f" container {c.get('name', '?')}" if c else "")
    cms = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}
    for o in objs:
        s = pod_spec(o)
        if s is None:
            continue
        if o["kind"] == "DaemonSet":
            sel = o["spec"]["selector"]["matchLabels"]
            labels = o["spec"]["template"]["metadata"].get("labels", {})
            if any(labels.get(k) != v for k, v in sel.items()):
                errs.append(f"{where(o)}: selector {sel} does not match the template labels {labels}")
            us = o["spec"].get("updateStrategy", {})
            if us.get("type") != "RollingUpdate" or us.get("rollingUpdate", {}).get("maxUnavailable") != 1:
                errs.append(f"{where(o)}: updateStrategy must be RollingUpdate with maxUnavailable 1")
        if not s.get("hostNetwork"):
            errs.append(f"{where(o)}: hostNetwork must be true (XDP attaches to the node's interfaces)")
        vols = {v["name"]: v for v in s.get("volumes", [])}
        for c in pod_containers(o):
            sc = c.get("securityContext", {})
            priv = sc.get("privileged", False)
            if priv:
                errs.append(f"{where(o, c)}: privileged is not needed; grant capabilities instead")
            caps = sc.get("capabilities", {})
            if caps.get("drop") != ["ALL"]:
                errs.append(f"{where(o, c)}: capabilities.drop must be [ALL]")
            add = set(caps.get("add", []))
            bad = [x for x in add if x.startswith("CAP_")]
            if bad:
                errs.append(f"{where(o, c)}: capability names take no CAP_ prefix in Kubernetes: {bad}")
            extra = add - ALLOWED_CAPS.get(c.get("name"), set())
            if extra:
                errs.append(f"{where(o, c)}: capabilities {sorted(extra)} are more than it needs")
            if sc.get("allowPrivilegeEscalation") is not False:
                errs.append(f"{where(o, c)}: allowPrivilegeEscalation must be false")
            if c.get("image", "").endswith(":latest") or ":" not in c.get("image", ""):
                errs.append(f"{where(o, c)}: image {c.get('image')} needs a fixed tag")
            for r in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    if res not in c.get("resources", {}).get(r, {}):
                        errs.append(f"{where(o, c)}: resources.{r}.{res} missing")
            for m in c.get("volumeMounts", []):
                # k8s.io/kubernetes/pkg/apis/core/validation: validateMountPropagation.
                if m.get("mountPropagation") == "Bidirectional" and not priv:
                    errs.append(f"{where(o, c)}: mount {m['name']}: Bidirectional mount propagation is available only to privileged containers")
                if m["name"] not in vols:
                    errs.append(f"{where(o, c)}: mount {m['name']}: no such volume")
            for p in c.get("ports", []):
                # With hostNetwork the API server requires hostPort == containerPort if set.
                if "hostPort" in p and p["hostPort"] != p["containerPort"]:
                    errs.append(f"{where(o, c)}: port {p['name']}: hostPort must equal containerPort with hostNetwork")
        if o["kind"] != "DaemonSet" or o["metadata"]["name"] != "drover":
            continue
        c = s["containers"][0]
        bpffs = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/sys/fs/bpf"]
        if not bpffs or vols[bpffs[0]["name"]].get("hostPath", {}).get("path") != "/sys/fs/bpf":
            errs.append(f"{where(o, c)}: /sys/fs/bpf must be the host's bpffs (hostPath), or pins die with the pod")
        cfgnames = [v["configMap"]["name"] for v in vols.values() if "configMap" in v]
        cfgnames += [src["configMap"]["name"] for v in vols.values()
                     for src in v.get("projected", {}).get("sources", []) if "configMap" in src]
        cm = cms.get(cfgnames[0]) if cfgnames else None
        if cm is None:
            errs.append(f"{where(o)}: the config ConfigMap is not among the manifests")
            continue
        conf = yaml.safe_load(cm["data"]["drover.yaml"])
        listen = conf.get("metrics", {}).get("listen", "127.0.0.1:9469")
        port = int(listen.rsplit(":", 1)[1])
        ann = o["spec"]["template"]["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(port):
            errs.append(f"{where(o)}: prometheus.io annotations must scrape port {port} (metrics.listen)")
        if listen.startswith("127.") and ann.get("prometheus.io/scrape") == "true":
            errs.append(f"{where(o)}: metrics.listen {listen} is loopback only: Prometheus cannot scrape it")
        for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                            ("readinessProbe", "/readyz")):
            g = c.get(probe, {}).get("httpGet", {})
            if g.get("path") != path or g.get("port") != port or g.get("host") != "127.0.0.1":
                errs.append(f"{where(o, c)}: {probe} must be httpGet 127.0.0.1:{port}{path}, is {g}")
    return errs


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "render":
        json.dump(render(sys.argv[2]), sys.stdout, indent=1)
        print()
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "rules":
        with open(sys.argv[2]) as f:
            errs = rules(json.load(f))
        for e in errs:
            print(f"{sys.argv[2]}: {e}")
        return 1 if errs else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
