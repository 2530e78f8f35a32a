#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# deploy/systemd/drover.service gives the agent enough open files for the documented maximum:
# 4,095 nodes checked at once (docs/agent.md), each check in flight holding a socket. The static
# binary (what the unit installs) runs with the unit's capabilities, a soft limit of 1024 and
# the unit's hard LimitNOFILE (capped by this machine's own hard limit), checking 4,095 nodes
# whose SYNs vanish in a sink namespace, with timeout = interval and no jitter: every check is in
# flight all the time.
# It must raise its soft limit to the hard one, never run short of sockets (no "Too many open
# files" warning) and need fewer files than the unit allows. The same run under 4096, the hard
# limit of a kernel or a systemd before 240 left to its default, must run short: that shows the
# 4,095 checks do need more than that, and that this test would see a shortage.
set -eu
source "$(dirname "$0")/lib.sh"
require_root
[ -x "$DROVER_STATIC" ] || fail "$DROVER_STATIC not built: make .output/drover-static"
command -v setpriv >/dev/null || fail "setpriv missing (util-linux)"
command -v prlimit >/dev/null || fail "prlimit missing (util-linux)"
UNIT=$IMG_TOP/deploy/systemd/drover.service
mount_bpffs

# The unit's hard open-file limit. Without LimitNOFILE= it is the host's DefaultLimitNOFILE=:
# 524288 on systemd >= 240 unless an administrator lowered it, 4096 (the kernel's) before.
lim=$(sed -n 's/^LimitNOFILE=//p' "$UNIT" | tail -1)
case $lim in
"") fail "$UNIT sets no LimitNOFILE=: the agent gets the host's DefaultLimitNOFILE= (4096 hard before systemd 240, or what an administrator set), which 4,095 checks in flight outgrow" ;;
infinity | *:infinity) unit_hard=$(cat /proc/sys/fs/nr_open) ;;
*:*) unit_hard=${lim#*:} ;;
*) unit_hard=$lim ;;
esac
case $unit_hard in '' | *[!0-9]*) fail "$UNIT: cannot read LimitNOFILE=$lim" ;; esac
CAPS=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr 'A-Z' 'a-z' | sed 's/cap_//g')
[ -n "$CAPS" ] || fail "$UNIT sets no CapabilityBoundingSet="
# This machine may not allow the unit's limit (no CAP_SYS_RESOURCE in a CI container): the run
# uses the lower of the two, and the unit's own value is compared with what the run needed.
own_hard=$(ulimit -Hn)
hard=$unit_hard
[ "$own_hard" = unlimited ] || [ "$own_hard" -ge "$hard" ] || hard=$own_hard
log "$UNIT: LimitNOFILE=$lim, capabilities '$CAPS'; this run: 1024:$hard"

NS=$(ns_add lb)
SNS=$(ns_add sink)
ip -n "$NS" link add "${T}a" type veth peer name "${T}b"
ip -n "$NS" link set "${T}a" up
ip -n "$NS" link set "${T}b" up
ip -n "$NS" addr add 192.0.2.2/24 dev "${T}a"
# The nodes' SYNs go to a namespace that does not forward: dropped, never answered.
ip -n "$NS" link add "${T}s" type veth peer name "${T}t" netns "$SNS"
ip -n "$NS" addr add 198.18.255.1/24 dev "${T}s"
ip -n "$NS" link set "${T}s" up
ip -n "$SNS" addr add 198.18.255.2/24 dev "${T}t"
ip -n "$SNS" link set "${T}t" up
ip -n "$NS" route add 10.200.0.0/16 via 198.18.255.2

# 7 services of 512 nodes and one of 511: 4,095 nodes, the most the backend ids allow.
CFG=$E2E_TMP/drover.yaml
python3 - "$CFG" "${T}a" <<'PY'
import sys
out = [f"interfaces: [{sys.argv[2]}]", "xdp-mode: skb", "metrics: {listen: 127.0.0.1:9469}",
       "defaults:", "  snat: 192.0.2.2",
       "  health: {kind: tcp, interval: 2s, timeout: 2s, jitter: 0, rise: 2, fall: 3}", "services:"]
i = 0
for s in range(8):
    n = 512 if s < 7 else 511
    nodes = ", ".join(f"10.200.{(i + k) // 250}.{(i + k) % 250 + 1}" for k in range(n))
    i += n
    out += [f"  - name: s{s}", f"    vip: 192.0.2.{100 + s}", "    ports: [80]", f"    nodes: [{nodes}]"]
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY

# run_agent HARD LOG: the agent as the unit starts it (its capabilities only), with soft 1024 and
# hard HARD open files, in the background ($AGENT); detached at exit.
run_agent() {
	local set=-all c
	for c in $CAPS; do set="$set,+$c"; done
	ip netns exec "$NS" prlimit --nofile="1024:$1" setpriv --reuid=0 --inh-caps="$set" \
		--ambient-caps="$set" --bounding-set="$set" -- \
		"$DROVER_STATIC" --bpffs "$BPFFS" run config "$CFG" >"$2" 2>&1 &
	AGENT=$!
	E2E_PIDS+=("$AGENT")
}
stop_agent() {
	kill "$AGENT" 2>/dev/null || true
	wait "$AGENT" 2>/dev/null || true
}
on_exit "ip netns exec $NS \"$DROVER_STATIC\" --bpffs \"$BPFFS\" detach ${T}a >/dev/null 2>&1"
ready() { ip netns exec "$NS" curl -sf -o /dev/null --max-time 3 http://127.0.0.1:9469/readyz; }
short() { grep -q 'Too many open files' "$1"; }

# 1. The unit's limit: raised soft limit, no shortage over three check rounds, the peak recorded.
LOG=$E2E_TMP/agent.log
run_agent "$hard" "$LOG"
if ! wait_for 60 ready; then
	tail -20 "$LOG" >&2
	fail "agent not ready within 60 s"
fi
soft=$(awk '/^Max open files/ { print $4 }' "/proc/$AGENT/limits")
[ "$soft" = "$hard" ] || fail "the agent's soft open-file limit is $soft, not raised to the hard $hard"
peak=0
end=$(($(now_us) + 6000000))
while [ "$(now_us)" -lt "$end" ]; do
	n=$(find "/proc/$AGENT/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	[ "$n" -le "$peak" ] || peak=$n
	sleep 0.05
done
kill -0 "$AGENT" || { tail -20 "$LOG" >&2; fail "agent exited"; }
! short "$LOG" || fail "with 1024:$hard open files the checks ran short of sockets: $(grep -m1 'Too many' "$LOG")"
[ "$peak" -ge 4095 ] || fail "only $peak files open at the peak: the 4,095 checks were not in flight at once (the test's sink does not hold them)"
# /metrics may hold 64 connections more than the sampled peak had.
need=$((peak + 64))
[ "$unit_hard" -ge "$need" ] || fail "$UNIT allows $unit_hard open files; 4,095 checks in flight need $need ($peak measured + 64 /metrics connections)"
log "4,095 checks: soft limit raised to $hard, no shortage, peak $peak files (+64 /metrics connections = $need <= $unit_hard of the unit)"
stop_agent

# 2. The kernel's default hard limit: the same checks run short, and the agent says so.
LOG4=$E2E_TMP/agent4096.log
run_agent 4096 "$LOG4"
wait_for 60 short "$LOG4" || { tail -20 "$LOG4" >&2; fail "with 4096 open files the 4,095 checks never ran short: this test cannot tell"; }
log "with 1024:4096 (no LimitNOFILE, systemd < 240): $(grep -m1 -o 'Too many open files (open-file limit [0-9]*, [0-9]* checks)' "$LOG4")"
stop_agent
