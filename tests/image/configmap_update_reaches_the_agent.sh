#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# An edited ConfigMap reaches the running agent of the image, as docs/deploy.md ("Change the
# config") says. The kubelet does not rewrite a mounted ConfigMap's file: it writes the new
# version into a new directory ..TIMESTAMP, turns the symlink ..data to it with a rename, and
# removes the old directory; drover.yaml itself is a symlink to ..data/drover.yaml
# (pkg/volume/util/atomic_writer.go). This test lays /etc/drover out that way on the host, runs
# the image as the DaemonSet does (container_start), and swaps versions as the kubelet does:
# a good edit is applied (a new service, `reload (file changed) ok`,
# drover_config_last_reload_successful 1); a bad one is refused with the running state and the
# traffic kept (drover_config_last_reload_successful 0). It also runs the documented check of a
# file before it is applied: `drover run config /dev/stdin --check` in the container, fed
# through `exec -i`.
set -eu
source "$(dirname "$0")/lib.sh"
image_lab_start

CM=$E2E_TMP/etc
CTR=$T-drover
mkdir -p "$CM"
# cm_version N FILE: the kubelet's update: FILE becomes the mounted drover.yaml through ..data.
cm_version() {
	local old
	old=$(readlink "$CM/..data" 2>/dev/null || true)
	mkdir "$CM/..v$1"
	cp "$2" "$CM/..v$1/drover.yaml"
	ln -s "..v$1" "$CM/..data_tmp"
	mv -T "$CM/..data_tmp" "$CM/..data"
	[ -L "$CM/drover.yaml" ] || ln -s ..data/drover.yaml "$CM/drover.yaml"
	[ -z "$old" ] || rm -rf "${CM:?}/$old"
}
# gauge NAME: the value of the unlabelled metric NAME on the agent's /metrics.
gauge() {
	ip netns exec "$LAB_NS_LB" curl -fsS --max-time 5 http://127.0.0.1:9469/metrics |
		awk -v n="$1" '$1 == n && !v { v = $2 } END { print v }'
}
gauge_is() { [ "$(gauge "$1")" = "$2" ]; }
has_service() { drv service show 2>/dev/null | grep -q "^service $LAB_VIP4 port $1 "; }
ctr_log_has() { podman logs "$CTR" 2>&1 | grep -qF "$1"; }

lab_config "$E2E_TMP/v1.yaml" 80
lab_config "$E2E_TMP/v2.yaml" 80 443
sed 's/^\(    vip: \).*/\1 10.0.0.300/' "$E2E_TMP/v2.yaml" >"$E2E_TMP/bad.yaml"

cm_version 1 "$E2E_TMP/v1.yaml"
container_start "$CTR" "$CM"
container_ready "$CTR"
for n in $LAB_NODES4; do
	wait_be_state 30 "$LAB_VIP4" 80 "$n" up || fail "node $n not up in 30 s"
done
has_service 443 && fail "port 443 is served before the ConfigMap names it"
log "agent ready on the ConfigMap's first version (..data -> $(readlink "$CM/..data")): port 80"

# The check before applying: the container's drover reads the file from stdin.
out=$(podman exec -i "$CTR" drover run config /dev/stdin --check <"$E2E_TMP/bad.yaml" 2>&1) &&
	fail "the check passed a file with vip 10.0.0.300: $out"
grep -q "^/dev/stdin:[0-9]*:[0-9]*: 'vip' is not an IPv4 or IPv6 address" <<<"$out" ||
	fail "the check of a bad file does not name its line: $out"
bad=$out
out=$(podman exec -i "$CTR" drover run config /dev/stdin --check <"$E2E_TMP/v2.yaml" 2>&1) ||
	fail "the check refused a good file: $out"
log "check in the container: bad file refused ($bad), good file passed ($out)"

cm_version 2 "$E2E_TMP/v2.yaml"
wait_for 30 has_service 443 ||
	fail "the agent did not apply the ConfigMap's new version within 30 s: $(podman logs "$CTR" 2>&1 | tail -5)"
for n in $LAB_NODES4; do
	wait_be_state 30 "$LAB_VIP4" 443 "$n" up || fail "node $n not up on port 443 in 30 s"
done
wait_for 10 ctr_log_has "reload (file changed) ok" || fail "no 'reload (file changed) ok' in the log"
gauge_is drover_config_last_reload_successful 1 ||
	fail "drover_config_last_reload_successful is $(gauge drover_config_last_reload_successful) after a good reload"
log "second version (..data -> $(readlink "$CM/..data")) applied: port 443 served, reload logged"

cm_version 3 "$E2E_TMP/bad.yaml"
wait_for 30 gauge_is drover_config_last_reload_successful 0 ||
	fail "the agent did not see (or did not refuse) the bad third version within 30 s"
ctr_log_has "running configuration kept" || fail "the refused reload is not logged"
has_service 443 || fail "the refused version took port 443 away"
out=$(spread "$LAB_VIP4" 80 30) || fail "lbtool spread failed: $out"
jq -e '.ok == 30 and .failed == 0' <<<"$out" >/dev/null ||
	fail "traffic through the VIP failed after a refused ConfigMap: $out"
log "bad third version refused: running state kept, 30/30 connections through the VIP"
