#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The DaemonSet's pod template from deploy/base, run as a Pod by `podman kube play` in the lab's
# balancer namespace, starts and becomes ready: its readinessProbe (and liveness, startup), executed
# the way the kubelet does for a hostNetwork pod, succeed, and the agent forwards through the VIP.
# Only what a lab must change is changed (printed below): the bpffs hostPath points at this test's
# private bpffs, drover.yaml describes the lab, the optional Secret of the projected config volume
# is absent (podman 4.3 has no projected volumes: the ConfigMap is mounted directly), the image is
# this clone's build by its ID (lib.sh, require_image), and the containerPort goes (podman 4.3
# refuses port mappings with host networking).
set -eu
source "$(dirname "$0")/lib.sh"
image_lab_start

python3 "$IMG_TOP/tests/image/manifests.py" render "$IMG_TOP/deploy/base" > "$E2E_TMP/base.json"
lab_config "$E2E_TMP/drover.yaml" 80
POD=$T-drover
python3 - "$E2E_TMP/base.json" "$E2E_TMP/drover.yaml" "$BPFFS" "$POD" "$E2E_TMP" "$IMAGE" <<'PY'
import json, sys, yaml
objs = json.load(open(sys.argv[1]))
lab_cfg, bpffs, name, out, image = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
ds = next(o for o in objs if o["kind"] == "DaemonSet")
cm = next(o for o in objs if o["kind"] == "ConfigMap")
spec = ds["spec"]["template"]["spec"]
changes = []
for v in spec["volumes"]:
    if v.get("hostPath", {}).get("path") == "/sys/fs/bpf":
        v["hostPath"]["path"] = bpffs
        changes.append(f"volume {v['name']}: hostPath /sys/fs/bpf -> {bpffs}")
    if "projected" in v:
        srcs = v.pop("projected")["sources"]
        v["configMap"] = next(s["configMap"] for s in srcs if "configMap" in s)
        changes.append(f"volume {v['name']}: projected -> configMap {v['configMap']['name']}")
for c in spec["containers"]:
    if c["image"].startswith("localhost/drover:"):
        changes.append(f"container {c['name']}: image {c['image']} -> {image} (this clone's "
                       "build: every clone on the machine tags its own build the same)")
        c["image"] = image
    if c.pop("ports", None):
        changes.append(f"container {c['name']}: ports dropped (podman 4.3 turns them into port "
                       "mappings, which host networking refuses; with hostNetwork they only "
                       "name the port in Kubernetes, for a PodMonitor)")
cm["data"]["drover.yaml"] = open(lab_cfg).read()
changes.append("configmap drover.yaml: the lab's config")
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": name, "labels": ds["spec"]["template"]["metadata"]["labels"],
                    "annotations": ds["spec"]["template"]["metadata"].get("annotations", {})},
       "spec": spec}
yaml.safe_dump(pod, open(f"{out}/pod.yaml", "w"), sort_keys=False)
yaml.safe_dump(cm, open(f"{out}/configmap.yaml", "w"), sort_keys=False)
c = spec["containers"][0]
json.dump({"startup": c["startupProbe"]["httpGet"], "readiness": c["readinessProbe"]["httpGet"],
           "liveness": c["livenessProbe"]["httpGet"]},
          open(f"{out}/probes.json", "w"))
for ch in changes:
    print(f"  lab change: {ch}")
PY

# hostNetwork: true puts the pod in podman's own network namespace: run podman there (nsenter
# changes only the network namespace; `ip netns exec` would also hide the cgroup mounts).
on_exit "podman kube down '$E2E_TMP/pod.yaml' >/dev/null 2>&1; podman pod rm -f '$POD' >/dev/null 2>&1"
t0=$(date +%s)
nsenter --net="/run/netns/$LAB_NS_LB" podman kube play --configmap "$E2E_TMP/configmap.yaml" \
	"$E2E_TMP/pod.yaml" >"$E2E_TMP/play.log" 2>&1 || { cat "$E2E_TMP/play.log" >&2; fail "podman kube play failed"; }
CTR=$POD-drover
state=$(podman inspect -f '{{.State.Status}}' "$CTR") || fail "no container $CTR after kube play"
log "podman kube play: pod $POD, container $CTR $state ($(($(date +%s) - t0)) s)"

# The probes as the kubelet runs them for a hostNetwork pod: from the node's (here the lab
# balancer's) network namespace to httpGet.host:port/path; 200-399 passes.
probe() { # startup|readiness|liveness
	local url
	url=$(jq -r --arg p "$1" '.[$p] | "http://\(.host):\(.port)\(.path)"' "$E2E_TMP/probes.json")
	ip netns exec "$LAB_NS_LB" curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$url" |
		grep -q '^[23]'
}
if ! wait_for 60 probe readiness; then
	podman logs "$CTR" 2>&1 | tail -20 >&2
	fail "pod $POD not ready within 60 s: readinessProbe $(jq -c .readiness "$E2E_TMP/probes.json") fails"
fi
probe liveness || fail "livenessProbe $(jq -c .liveness "$E2E_TMP/probes.json") fails on a ready pod"
probe startup || fail "startupProbe $(jq -c .startup "$E2E_TMP/probes.json") fails on a ready pod"
log "readiness and liveness probes pass: $(jq -c . "$E2E_TMP/probes.json")"

# What the manifest asks for is what the container got.
caps=$(podman inspect -f '{{.EffectiveCaps}}' "$CTR")
for c in $(manifest_caps); do
	case " $caps " in *"CAP_$c"*) ;; *) fail "container lacks CAP_$c: $caps" ;; esac
done
[ "$(echo "$caps" | wc -w)" -eq "$(manifest_caps | wc -w)" ] || fail "container has more capabilities than the manifest: $caps"
[ "$(podman inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$CTR")" = true ] || fail "root filesystem not read-only"
log "container capabilities: $caps; read-only root"

# Kubernetes has no field for rlimits: the pod gets the runtime's (here tests/image/containers.conf),
# and its hard limit must hold the ~4,200 files 4,095 checks in flight need; the agent runs with
# its soft limit at the hard one (raised at start-up where it is lower: the systemd unit's test).
pid=$(podman inspect -f '{{.State.Pid}}' "$CTR")
lim=$(awk '/^Max open files/ { print $4 ":" $5 }' "/proc/$pid/limits")
[ "${lim%:*}" = "${lim#*:}" ] || fail "the pod's agent runs with its soft open-file limit below the hard one: $lim"
[ "${lim#*:}" -ge 4200 ] || fail "the runtime gives the pod $lim open files: 4,095 checks need about 4,200 (containers.conf)"
log "the pod's agent: open-file limit $lim (soft:hard)"

for n in $LAB_NODES4; do
	wait_be_state 30 "$LAB_VIP4" 80 "$n" up || fail "node $n not up in 30 s"
done
out=$(spread "$LAB_VIP4" 80 60) || fail "lbtool spread failed: $out"
jq -e '.ok == 60 and .failed == 0' <<<"$out" >/dev/null || fail "traffic through the pod's balancer failed: $out"
log "60 connections through $LAB_VIP4:80 via the kube-played pod: ok ($out)"
