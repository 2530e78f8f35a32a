#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The image, run as the DaemonSet runs it (only the manifest's capabilities, read-only, host
# network of the lab's balancer namespace, bpffs mounted at /sys/fs/bpf), attaches, becomes
# ready, and forwards real TCP from the lab's client through the VIP to all three nodes.
set -eu
source "$(dirname "$0")/lib.sh"
image_lab_start

mkdir -p "$E2E_TMP/etc"
lab_config "$E2E_TMP/etc/drover.yaml" 80
container_start "$T-drover" "$E2E_TMP/etc"
container_ready "$T-drover"
for n in $LAB_NODES4; do
	wait_be_state 30 "$LAB_VIP4" 80 "$n" up || fail "node $n not up in 30 s: $(podman logs "$T-drover" 2>&1 | tail -5)"
done
[ -e "$PIN_ROOT/links/eth0" ] && [ -e "$PIN_ROOT/links/eth1" ] ||
	fail "no XDP link pins under $PIN_ROOT/links: the container did not pin into the mounted bpffs"
log "container ready, links pinned: $(ls "$PIN_ROOT/links" | xargs)"

N=300
out=$(spread "$LAB_VIP4" 80 $N) || fail "lbtool spread failed: $out"
log "spread: $out"
jq -e --argjson n $N '.opened == $n and .ok == $n and .failed == 0' <<<"$out" >/dev/null ||
	fail "not every connection through $LAB_VIP4:80 succeeded"
jq -e '.nodes | length == 3 and ([.[]] | min) > 0' <<<"$out" >/dev/null ||
	fail "connections did not reach all three nodes"
log "$N connections through the VIP from the container's agent: all ok, on 3 nodes"
