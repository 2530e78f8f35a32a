# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Shared by tests/image/*.sh: tests/e2e/lib.sh (names, netns, private bpffs, cleanup) plus the
# image, podman with the repo's containers.conf, and the npm tools of install-image-deps.sh.
# shellcheck source=../e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

IMG_TOP=$E2E_TOP
# The repo's containers.conf plus a default seccomp profile that treats CAP_BPF/CAP_PERFMON as
# containerd's RuntimeDefault does (seccomp-containerd.py says why), per test in $E2E_TMP.
SECCOMP_DEFAULT=/usr/share/containers/seccomp.json
if [ -r "$SECCOMP_DEFAULT" ]; then
	python3 "$IMG_TOP/tests/image/seccomp-containerd.py" "$SECCOMP_DEFAULT" "$E2E_TMP/seccomp.json"
	sed "s|^\[containers\]$|[containers]\nseccomp_profile = \"$E2E_TMP/seccomp.json\"|" \
		"$IMG_TOP/tests/image/containers.conf" > "$E2E_TMP/containers.conf"
	export CONTAINERS_CONF=$E2E_TMP/containers.conf
else
	export CONTAINERS_CONF=$IMG_TOP/tests/image/containers.conf
fi
IMAGE_VERSION=$(sed -n 's/^#define DROVER_VERSION "\(.*\)"/\1/p' "$IMG_TOP/user/ctl.h")
IMAGE_ARCHIVE=$IMG_TOP/.output/drover-image.tar
NPM_DIR=$IMG_TOP/.output/image/npm
DROVER_STATIC=${DROVER_STATIC:-$IMG_TOP/.output/drover-static}

# archive_image_id: the ID of the image in this clone's $IMAGE_ARCHIVE (its config digest, which
# podman takes as the image's ID).
archive_image_id() {
	python3 - "$IMAGE_ARCHIVE" <<'PY'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
blob = lambda d: t.extractfile("blobs/" + d.replace(":", "/")).read()
idx = json.loads(t.extractfile("index.json").read())
print(json.loads(blob(idx["manifests"][0]["digest"]))["config"]["digest"].split(":", 1)[1])
PY
}

# require_image: podman, and $IMAGE the image this clone's make image built. By its ID, not by
# the tag localhost/drover:VERSION: every clone on the machine builds that same tag into root's
# one podman store, so the tag names whichever build was made last, maybe another clone's.
# IMAGE=NAME in the environment tests that image instead.
require_image() {
	command -v podman >/dev/null || fail "podman missing: run scripts/install-image-deps.sh"
	if [ -z "${IMAGE:-}" ]; then
		[ -f "$IMAGE_ARCHIVE" ] || fail "$IMAGE_ARCHIVE missing: run make image"
		IMAGE=$(archive_image_id) || fail "cannot read the image ID in $IMAGE_ARCHIVE: run make image"
	fi
	if ! podman image exists "$IMAGE"; then
		# make image wrote the archive but the image left podman's store since: load it.
		podman load -q -i "$IMAGE_ARCHIVE" >/dev/null ||
			fail "image $IMAGE is not in podman's store and $IMAGE_ARCHIVE does not load: run make image"
		podman image exists "$IMAGE" ||
			fail "image $IMAGE is not in podman's store, nor in $IMAGE_ARCHIVE: run make image"
	fi
}

# image_lab_start: what a test that runs the image in the lab needs first: root, the image, the
# lab (tests/tools/labtest.sh, sourced below) and this test's private bpffs.
image_lab_start() {
	require_root
	require_image
	lab_start
	mount_bpffs
}

# podman_rm NAME: remove container NAME at exit (registered by the caller).
podman_rm() { podman rm -f -t 5 "$1" >/dev/null 2>&1 || true; }

# The lab's HTTP servers and clients come from python3 (already a build dependency).
# serve_http NS ADDR PORT NAME: a server in NS answering "NAME\n" to every GET, /healthz too.
serve_http() {
	bg "$1" python3 -c '
import http.server, socketserver, sys
name = sys.argv[3].encode() + b"\n"
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
S((sys.argv[1], int(sys.argv[2])), H).serve_forever()
' "$2" "$3" "$4"
}

# manifest_caps: the capabilities deploy/base adds to the drover container ("BPF NET_ADMIN ...").
manifest_caps() {
	python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "DaemonSet":
        c = d["spec"]["template"]["spec"]["containers"][0]
        print(" ".join(c["securityContext"]["capabilities"]["add"]))
' "$IMG_TOP/deploy/base/daemonset.yaml"
}

# The scripts/lab.sh lab and its helpers (lab_start, drv, wait_be_state, hold_*, spread).
# shellcheck source=../tools/labtest.sh
source "$IMG_TOP/tests/tools/labtest.sh"

# In the image, drover pins under its default root /sys/fs/bpf/drover; the container gets this
# test's bpffs as /sys/fs/bpf (as the DaemonSet gets the host's), so the host side reads
# $BPFFS/drover.
PIN_ROOT=$BPFFS/drover
drv() { ip netns exec "$LAB_NS_LB" "$DROVER" --bpffs "$PIN_ROOT" "$@"; }

# container_start NAME CONFIG_DIR: the image as the DaemonSet runs it (the manifest's
# capabilities only, read-only root, no new privileges, CMD `run config /etc/drover/drover.yaml`),
# in the lab's balancer namespace, removed at exit. Joining that namespace is what hostNetwork is
# on a node; podman is not run under `ip netns exec`, whose private /sys hides the cgroup mounts
# runc needs.
container_start() {
	local caps="" c
	for c in $(manifest_caps); do caps="$caps --cap-add $c"; done
	on_exit "podman_rm $1"
	# shellcheck disable=SC2086
	podman run -d --name "$1" --network "ns:/run/netns/$LAB_NS_LB" --cap-drop all $caps \
		--security-opt no-new-privileges --read-only \
		-v "$BPFFS:/sys/fs/bpf" -v "$2:/etc/drover:ro" "$IMAGE" >/dev/null ||
		fail "podman run $IMAGE in $LAB_NS_LB failed"
}

# container_ready NAME: /readyz answers 200 on 127.0.0.1:9469 in the balancer namespace (what the
# readiness probe asks) within 30 s, else fail with the container's log.
container_ready() {
	if ! wait_for 30 ip netns exec "$LAB_NS_LB" curl -sf -o /dev/null --max-time 3 http://127.0.0.1:9469/readyz; then
		podman logs "$1" 2>&1 | tail -20 >&2
		fail "container $1 not ready (127.0.0.1:9469/readyz) within 30 s"
	fi
}

# lab_config FILE PORT...: a Rancher-style agent config for the lab: the IPv4 VIP on each PORT
# over the three nodes, HTTP /healthz checks on :80 (preset rancher), fast timing.
lab_config() {
	local f=$1 p
	shift
	{
		echo "interfaces: [$(echo $LAB_LB_IFACES | sed 's/ /, /g')]"
		echo "metrics:"
		echo "  listen: 127.0.0.1:9469"
		echo "services:"
		for p in "$@"; do
			cat <<EOC
  - name: rancher-$p
    vip: $LAB_VIP4
    ports: [$p]
    mode: nat
    snat: $LAB_SNAT4
    health: { preset: rancher, interval: 1s, timeout: 500ms, rise: 2, fall: 2 }
    nodes: [$(echo $LAB_NODES4 | sed 's/ /, /g')]
EOC
		done
	} >"$f"
}

