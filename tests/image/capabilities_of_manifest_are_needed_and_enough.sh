#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The capabilities deploy/base grants the drover container are enough and each one is needed on
# this kernel: the static binary (the one in the image) run as root with only those capabilities
# attaches XDP to two interfaces and runs the agent to ready; without any single one of them,
# attach is refused.
set -eu
source "$(dirname "$0")/lib.sh"
require_root
[ -x "$DROVER_STATIC" ] || fail "$DROVER_STATIC not built: make .output/drover-static"
command -v setpriv >/dev/null || fail "setpriv missing (util-linux)"
mount_bpffs

# The caps of the drover container in deploy/base, lower case for setpriv: "bpf net_admin ...".
CAPS=$(python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "DaemonSet":
        c = d["spec"]["template"]["spec"]["containers"][0]
        print(" ".join(x.lower() for x in c["securityContext"]["capabilities"]["add"]))
' "$IMG_TOP/deploy/base/daemonset.yaml")
[ -n "$CAPS" ] || fail "no capabilities found in deploy/base/daemonset.yaml"
log "deploy/base grants: $CAPS"

ns_add lb >/dev/null # not in $( ): ns_add records the netns for cleanup
NS=$T-lb
ip -n "$NS" link add "${T}a" type veth peer name "${T}b"
ip -n "$NS" link set "${T}a" up
ip -n "$NS" link set "${T}b" up
ip -n "$NS" addr add 192.0.2.2/24 dev "${T}a"
ip -n "$NS" link add "${T}c" type veth peer name "${T}d"
ip -n "$NS" link set "${T}c" up
ip -n "$NS" link set "${T}d" up
ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1

# with_caps "bpf net_admin" CMD...: run CMD in the netns as root holding only those capabilities
# (effective, permitted, inheritable, ambient and bounding sets all reduced to them).
with_caps() {
	local set=-all c
	for c in $1; do set="$set,+$c"; done
	shift
	ip netns exec "$NS" setpriv --reuid=0 --inh-caps="$set" --ambient-caps="$set" \
		--bounding-set="$set" -- "$@"
}

with_caps "$CAPS" "$DROVER_STATIC" --bpffs "$BPFFS" attach "${T}a" mode native ||
	fail "attach with only '$CAPS' failed: the manifest grants too little"
[ -e "$BPFFS/links/${T}a" ] || fail "attach left no link pin at $BPFFS/links/${T}a"
# A second interface shares the program and maps (two-arm NAT: clients on one, nodes on the other).
with_caps "$CAPS" "$DROVER_STATIC" --bpffs "$BPFFS" attach "${T}c" mode native ||
	fail "attach of a second interface with only '$CAPS' failed (two-arm NAT needs it)"
with_caps "$CAPS" "$DROVER_STATIC" --bpffs "$BPFFS" -j status >/dev/null ||
	fail "status with only '$CAPS' failed"
for i in a c; do
	ip netns exec "$NS" "$DROVER_STATIC" --bpffs "$BPFFS" detach "${T}$i" || fail "detach ${T}$i as full root failed"
done
log "attach of two interfaces, status: ok with '$CAPS'"

for c in $CAPS; do
	less=$(echo " $CAPS " | sed "s/ $c / /" | xargs)
	if with_caps "$less" "$DROVER_STATIC" --bpffs "$BPFFS" attach "${T}a" 2>"$E2E_TMP/err"; then
		ip netns exec "$NS" "$DROVER_STATIC" --bpffs "$BPFFS" detach "${T}a" || true
		fail "attach works without $c: remove it from deploy/base/daemonset.yaml (and tests/image/manifests.py)"
	fi
	log "without $c: refused ($(head -1 "$E2E_TMP/err"))"
done

# The agent with the same capabilities: attaches, serves /readyz (what the readiness probe asks).
cat > "$E2E_TMP/drover.yaml" <<EOC
interfaces: [${T}a]
metrics:
  listen: 127.0.0.1:9469
services:
  - name: web
    vip: 192.0.2.100
    ports: [80]
    snat: 192.0.2.2
    nodes: [192.0.2.11]
EOC
with_caps "$CAPS" "$DROVER_STATIC" --bpffs "$BPFFS" run config "$E2E_TMP/drover.yaml" \
	>"$E2E_TMP/agent.log" 2>&1 &
AGENT=$!
E2E_PIDS+=("$AGENT")
on_exit "ip netns exec $NS \"$DROVER_STATIC\" --bpffs \"$BPFFS\" detach ${T}a >/dev/null 2>&1"
ready() { ip netns exec "$NS" curl -sf -o /dev/null --max-time 3 http://127.0.0.1:9469/readyz; }
if ! wait_for 30 ready; then
	cat "$E2E_TMP/agent.log" >&2
	fail "agent with only '$CAPS' not ready on 127.0.0.1:9469/readyz within 30 s"
fi
kill -0 "$AGENT" || fail "agent exited"
log "agent with '$CAPS': ready"
