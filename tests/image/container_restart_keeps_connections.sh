#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Restarting drover's container breaks no established connection: the program, the maps and the
# links are pinned in the (host's) bpffs, so forwarding continues while the agent is away, and the
# new agent adopts the pinned state. Long-lived echo connections through the VIP are checked
# across: a restart (SIGTERM), a kill (SIGKILL) and start, and a replacement by a new container
# (what a DaemonSet rolling update does).
set -eu
source "$(dirname "$0")/lib.sh"
image_lab_start

NCONN=${IMAGE_RESTART_N:-40}
mkdir -p "$E2E_TMP/etc"
lab_config "$E2E_TMP/etc/drover.yaml" 7
CTR=$T-drover
container_start "$CTR" "$E2E_TMP/etc"
container_ready "$CTR"
for n in $LAB_NODES4; do
	wait_be_state 30 "$LAB_VIP4" 7 "$n" up || fail "node $n not up in 30 s"
done

hold_start c "$LAB_VIP4" 7 "$NCONN"
log "client: $(hold_wait_opened c 1)"
log "start: $(hold_sync c)"

hold_cmd c event container-restart
podman restart -t 10 "$CTR" >/dev/null || fail "podman restart $CTR failed"
container_ready "$CTR"
log "after podman restart (SIGTERM): $(hold_sync c)"

hold_cmd c event container-kill
podman kill -s KILL "$CTR" >/dev/null || fail "podman kill $CTR failed"
wait_for 20 sh -c "[ \"\$(podman inspect -f '{{.State.Status}}' '$CTR')\" = exited ]" ||
	fail "container $CTR still running 20 s after SIGKILL"
log "killed: $(hold_sync c)"
podman start "$CTR" >/dev/null || fail "podman start $CTR failed"
container_ready "$CTR"
log "after SIGKILL and start: $(hold_sync c)"

hold_cmd c event container-replaced
podman rm -f -t 10 "$CTR" >/dev/null || fail "podman rm $CTR failed"
log "removed: $(hold_sync c)"
container_start "$CTR-2" "$E2E_TMP/etc"
container_ready "$CTR-2"
log "after replacement by a new container: $(hold_sync c)"

# Still forwarding new connections after all that, to every node.
hold_cmd c open 15
log "new connections: $(hold_wait_opened c 2)"
log "end: $(hold_sync c)"

r=$(hold_report c)
log "client: opened $(jq .opened <<<"$r"), alive $(jq .alive <<<"$r"), broken $(jq .broken <<<"$r") by event $(jq -c .broken_by_event <<<"$r"), open failures $(jq -c .open_failed <<<"$r")"
[ "$(jq .broken <<<"$r")" -eq 0 ] || fail "container restarts broke $(jq .broken <<<"$r") connections: $(jq -c .broken_list <<<"$r")"
[ "$(jq .opened <<<"$r")" -ge $((NCONN + 15)) ] || fail "not all connections opened: $(jq -c .open_failed <<<"$r")"
log "$(jq .opened <<<"$r") connections, 0 broken across restart, kill and replacement"
