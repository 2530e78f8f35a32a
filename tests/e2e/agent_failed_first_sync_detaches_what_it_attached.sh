#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A start-up that fails after its first attach (the first write of the maps,
# here) undoes its attaches: the interfaces it attached run no XDP program once
# it has exited 1, and the one attached before it started (by drover attach;
# an earlier agent's alike), which it adopted, keeps drover's link and
# forwarding. Before the fix the agent exited 1 with l1 still running an XDP
# program that no agent updates.
#
# The first write fails for real: the config fills every backend id of the
# maps (4095: 512 nodes x 7 ports, and 511 nodes x 1 port), and the pinned
# service of its second VIP holds a backend the CLI added that is no node of
# the config, which the agent keeps as a leaver (its flows stay): one id short.
# No node address is routed in the namespace: no health check starts anyway.
#
#   balancer ns: l0 (veth, peer l0p; drover attach before the agent), l1 (veth, peer l1p)
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds python3
mount_bpffs

lb_ns_one_veth
ip -n "$LNS" link add l1 type veth peer name l1p
ip -n "$LNS" link set l1 up
ip -n "$LNS" link set l1p up
ip netns exec "$LNS" sysctl -qw net.ipv4.conf.l1.forwarding=1
ROOT=$BPFFS/drover
CFG=$E2E_TMP/drover.yaml
LOG=$E2E_TMP/agent.log
VIP1=10.98.0.41 VIP2=10.98.0.42 EXTRA=10.99.254.254
drv() { ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" "$@"; }
xdp_on() { ip -n "$LNS" -d link show dev "$1" | grep -q "prog/xdp"; }

python3 - "$CFG" "$VIP1" "$VIP2" <<'PY'
import sys
path, vip1, vip2 = sys.argv[1:]
def nodes(net, n):
    return "\n".join(f"      - 10.{net}.{i // 250}.{i % 250 + 1}" for i in range(n))
hc = "{kind: tcp, interval: 1h, timeout: 1s, rise: 1, fall: 1}"
with open(path, "w") as f:
    f.write(f"""interfaces: [l0, l1]
metrics: {{listen: off}}
services:
  - name: big
    vip: {vip1}
    ports: [80, 81, 82, 83, 84, 85, 86]
    snat: 10.77.9.1
    health: {hc}
    nodes:
{nodes(99, 512)}
  - name: rest
    vip: {vip2}
    ports: [80]
    snat: 10.77.9.1
    health: {hc}
    nodes:
{nodes(100, 511)}
""")
PY
drv run config "$CFG" --check >/dev/null || fail "the test's config does not pass --check: $(drv run config "$CFG" --check 2>&1)"

log "l0 attached by drover attach, with a service whose backend is no node of the config"
drv attach l0 mode skb >/dev/null 2>&1 || fail "drover attach l0: $(drv attach l0 mode skb 2>&1)"
drv service add "$VIP2" port 80 snat 10.77.9.1 >/dev/null
drv backend add "$VIP2" port 80 "$EXTRA" >/dev/null
xdp_on l0 || fail "l0 has no XDP program after drover attach"
! xdp_on l1 || fail "l1 has an XDP program before the agent started"
l0_prog=$(drv -j status | python3 -c 'import json,sys; print([i["prog_id"] for i in json.load(sys.stdin)["interfaces"] if i["ifname"]=="l0"][0])')

log "the agent: attaches l1, its first write of the maps fails: exit 1, l1 detached, l0 kept"
sed -i 's/^interfaces: .*/&\nxdp-mode: skb/' "$CFG"
rc=0
timeout 120 ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" run config "$CFG" >"$LOG" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "the agent exited $rc, want 1 (its first write of the maps fails): $(tail -20 "$LOG")"
grep -q "attached drover to l1" "$LOG" || fail "the agent did not attach l1 first: the test proves nothing: $(tail -20 "$LOG")"
grep -q "the first update of the maps failed" "$LOG" ||
	fail "the agent did not fail on its first write of the maps: $(tail -20 "$LOG")"
! xdp_on l1 || fail "the failed start-up left l1 running XDP: $(ip -n "$LNS" -d link show dev l1 | grep xdp); log: $(tail -8 "$LOG")"
[ ! -e "$ROOT/links/l1" ] || fail "the failed start-up left l1's link pin"
xdp_on l0 || fail "the failed start-up took drover off l0, which was attached before it started: $(tail -8 "$LOG")"
drv -j status | python3 -c 'import json,sys; s=json.load(sys.stdin); assert [i["ifname"] for i in s["interfaces"]] == ["l0"], s["interfaces"]; assert [i["prog_id"] for i in s["interfaces"]] == ['"$l0_prog"']' ||
	fail "drover status after the failed start-up: $(drv status)"
drv backend show "$VIP2" port 80 | grep -q "$EXTRA" || fail "the pinned service lost the CLI's backend: $(drv backend show "$VIP2" port 80)"
grep -q "detached drover from l1" "$LOG" || fail "the log does not say l1 was detached: $(tail -8 "$LOG")"
grep -qE "start-up failed.*l0.*(attached before|kept)" "$LOG" || fail "the log does not say why l0 stays attached: $(tail -8 "$LOG")"
log "PASS"
