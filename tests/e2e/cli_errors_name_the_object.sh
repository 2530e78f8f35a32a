#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Every refusal of the drover CLI exits with the documented code (1 failure,
# 2 usage) and its message names the object (interface, path, address, map)
# and says what to do: missing interface (also one of another network
# namespace), detach with the wrong --bpffs, foreign XDP program, no native XDP,
# no bpffs, missing capabilities, incompatible pinned maps, bad addresses and
# ports, unknown mode, table size not prime, unknown service, duplicate backend;
# and what it warns of: SNAT ports in the local port range, a SNAT address
# that is not the host's, a change the running agent will undo.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
command -v bpftool >/dev/null || fail "bpftool missing: scripts/install-deps.sh"
command -v setpriv >/dev/null || fail "setpriv missing (util-linux)"
mount_bpffs

ns_add lb >/dev/null # not in $(...): ns_add records the name for cleanup
NS=$T-lb
ip -n "$NS" link add e0 type veth peer name e1
ip -n "$NS" link add f0 type veth peer name f1
for d in e0 e1 f0 f1; do ip -n "$NS" link set "$d" up; done
ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1
ROOT=$BPFFS/drover
dr() { ip netns exec "$NS" "$DROVER" --bpffs "$ROOT" "$@"; }

# expect RC NEEDLE... -- CMD...: CMD exits RC and its stderr contains every NEEDLE
expect() {
	local want=$1 out rc=0 n
	local needles=()
	shift
	while [ "$1" != "--" ]; do needles+=("$1"); shift; done
	shift
	out=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" -eq "$want" ] || fail "'$*' exited $rc, want $want: $out"
	for n in "${needles[@]}"; do
		grep -qF -- "$n" <<<"$out" || fail "'$*': message does not say '$n': $out"
	done
}

log "commands before any attach say there is no state at the pin root"
expect 1 "$ROOT" "drover attach" -- dr service show
expect 1 "$ROOT" -- dr backend show 10.0.0.1 port 80
expect 1 "e0" "$ROOT" -- dr detach e0

log "attach: interface does not exist"
expect 1 "'nosuch0'" "ip link show" -- dr attach nosuch0
log "attach: an interface of another network namespace says where drover looked and how to go there"
ns_add away >/dev/null
ip -n "$T-away" link add away0 type veth peer name away1
expect 1 "'away0'" "this network namespace" "ip netns exec NS drover" -- dr attach away0

log "attach: native XDP unsupported (lo) suggests mode skb"
expect 1 "lo" "native" "mode skb" -- dr attach lo
[ ! -e "$ROOT" ] || fail "failed attach left $ROOT behind"

log "attach: another XDP program is attached"
ip -n "$NS" link set dev e0 xdpdrv obj "$E2E_TOP/.output/xdp_pass.bpf.o" sec xdp
expect 1 "e0" "xdp_pass" "force" "xdp off" -- dr attach e0
[ ! -e "$ROOT" ] || fail "refused attach left $ROOT behind"
ip -n "$NS" link show e0 | grep -q 'xdp' || fail "refused attach removed the foreign program"
log "attach force replaces it"
dr attach e0 force || fail "attach e0 force failed"
dr -j status | grep -q '"ifname":"e0"' || fail "e0 not attached after force"
[ "$(ip -n "$NS" -j link show e0 | jq -r '.[0].xdp.prog.id')" = \
	"$(dr -j status | jq -r '.interfaces[0].prog_id')" ] || fail "e0 does not run drover's program"

log "detach with the wrong --bpffs of an interface drover runs on says so, and which option to fix"
mkdir "$BPFFS/other"
for r in "$BPFFS/other" "$BPFFS/none"; do
	expect 1 "e0" "runs drover's XDP program" "not under pin root $r" "--bpffs" -- \
		ip netns exec "$NS" "$DROVER" --bpffs "$r" detach e0
done
rmdir "$BPFFS/other"
ip -n "$NS" link show e0 | grep -q 'xdp' || fail "a detach with the wrong --bpffs took XDP off e0"

log "status without the right to read the pin root says so (exit 1), not 'not attached'"
nobody() { ip netns exec "$NS" setpriv --reuid=nobody --regid=nogroup --clear-groups "$DROVER" --bpffs "$ROOT" "$@"; }
expect 1 "$ROOT" "Permission denied" "as root" -- nobody status
out=$(nobody -j status 2>/dev/null) || true
[ -z "$out" ] || fail "status -j without the right to read $ROOT printed: $out"
log "a change without the right to lock the pin root says to run as root"
expect 1 "$ROOT" "Permission denied" "run drover as root" -- nobody service add 10.0.0.1 port 80 mode dsr

log "attach: the pin root is not on a bpffs"
mkdir -p "$E2E_TMP/plain"
expect 1 "$E2E_TMP/plain" "bpffs" "mount -t bpf" -- \
	ip netns exec "$NS" "$DROVER" --bpffs "$E2E_TMP/plain/drover" attach f0
expect 1 "$E2E_TMP/nowhere/at/all" "does not exist" -- \
	ip netns exec "$NS" "$DROVER" --bpffs "$E2E_TMP/nowhere/at/all/drover" attach f0
log "reads with a pin root that is a file say so and to check --bpffs, as changes do"
: >"$E2E_TMP/plainfile"
for cmd in "service show" "backend show 10.0.0.1 port 80" "stats" \
	"lookup 10.0.0.1 port 80 from 192.0.2.1 port 5" "service add 10.0.0.1 port 80 mode dsr"; do
	# shellcheck disable=SC2086
	expect 1 "$E2E_TMP/plainfile" "Not a directory" "check the --bpffs path" -- \
		ip netns exec "$NS" "$DROVER" --bpffs "$E2E_TMP/plainfile" $cmd
done

log "attach: missing CAP_NET_ADMIN, missing CAP_BPF"
expect 1 "CAP_NET_ADMIN" "drover attach" "root" -- ip netns exec "$NS" \
	setpriv --inh-caps=-net_admin --bounding-set=-net_admin "$DROVER" --bpffs "$ROOT" attach f0
expect 1 "CAP_BPF" "drover detach" -- ip netns exec "$NS" \
	setpriv --inh-caps=-bpf,-sys_admin --bounding-set=-bpf,-sys_admin \
	"$DROVER" --bpffs "$ROOT" detach e0
ip -n "$NS" link show f0 | grep -q 'xdp' && fail "f0 got attached without the capabilities"

log "attach: pinned maps of an incompatible drover"
OLD=$BPFFS/old
mkdir "$OLD"
bpftool map create "$OLD/drv_svcs_v1" type hash key 20 value 8 entries 64 name drv_svcs_v1
expect 1 "$OLD/drv_svcs_v1" "incompatible" "value 8" "value 36" -- \
	ip netns exec "$NS" "$DROVER" --bpffs "$OLD" attach f0
expect 1 "$OLD/drv_svcs_v1" "incompatible" -- \
	ip netns exec "$NS" "$DROVER" --bpffs "$OLD" service show
ip -n "$NS" link show f0 | grep -q 'xdp' && fail "f0 got attached over incompatible maps"
[ "$(ls "$OLD")" = drv_svcs_v1 ] || fail "refused attach changed $OLD: $(ls "$OLD")"

log "pins of a map's name that are no map (a directory, a program) are named for what they are"
ODD=$BPFFS/odd
mkdir -p "$ODD/drv_svcs_v1"
for cmd in "service show" "attach f0"; do
	# shellcheck disable=SC2086
	expect 1 "$ODD/drv_svcs_v1 is a directory, not a pinned map" "rmdir $ODD/drv_svcs_v1" -- \
		ip netns exec "$NS" "$DROVER" --bpffs "$ODD" $cmd
done
rmdir "$ODD/drv_svcs_v1"
bpftool prog load "$E2E_TOP/.output/xdp_pass.bpf.o" "$ODD/drv_svcs_v1"
for cmd in "service show" "attach f0"; do
	# shellcheck disable=SC2086
	expect 1 "$ODD/drv_svcs_v1 is not a BPF map but a bpf-prog" "rm $ODD/drv_svcs_v1" -- \
		ip netns exec "$NS" "$DROVER" --bpffs "$ODD" $cmd
done
rm "$ODD/drv_svcs_v1"
ip -n "$NS" link show f0 | grep -q 'xdp' && fail "f0 got attached over a pin that is no map"

log "usage errors exit 2 and name the bad word"
expect 2 "'10.0.0.300'" -- dr service add 10.0.0.300 port 80 snat 10.0.1.1
expect 2 "'0'" "1-65535" -- dr service add 10.0.0.1 port 0 snat 10.0.1.1
expect 2 "'65536'" -- dr service add 10.0.0.1 port 65536 snat 10.0.1.1
expect 2 "'magic'" "nat, dsr or tunnel" -- dr service add 10.0.0.1 port 80 mode magic
expect 2 "1000" "prime" -- dr service add 10.0.0.1 port 80 mode dsr table-size 1000
expect 2 "10.0.0.1" "snat ADDR" -- dr service add 10.0.0.1 port 80
expect 2 "fd00::9" "IPv6" -- dr backend add 10.0.0.1 port 80 fd00::9
expect 2 "'turbo'" -- dr attach e0 mode turbo
expect 2 "'frobnicate'" -- dr frobnicate
expect 2 "'--nope'" -- dr --nope status
expect 2 "'0'" -- dr backend add 10.0.0.1 port 80 10.0.1.2 port 0
expect 2 "'999.1.1.1'" -- dr lookup 10.0.0.1 port 80 from 999.1.1.1 port 5

log "unknown service, duplicate service and backend, unknown backend exit 1"
expect 1 "10.9.9.9 port 80" "does not exist" -- dr backend add 10.9.9.9 port 80 10.0.1.2
expect 1 "10.9.9.9 port 80" -- dr service del 10.9.9.9 port 80
expect 1 "10.9.9.9 port 80" -- dr lookup 10.9.9.9 port 80 from 192.0.2.1 port 5
expect 1 "10.9.9.9 port 80" -- dr stats 10.9.9.9 port 80
expect 1 "10.9.9.9 port 80" "does not exist" -- dr -j service show 10.9.9.9 port 80
out=$(dr -j service show 10.9.9.9 port 80 2>/dev/null) || true
[ -z "$out" ] || fail "a failed 'service show -j' printed to stdout: $out"
dr service add 10.0.0.1 port 80 snat 10.0.1.1 || fail "service add failed"

log "results that can't be written (a full disk) fail the command, saying so"
for cmd in "-j service show" "service show" "-j status" "stats --watch 1 count 2" "help"; do
	rc=0
	# shellcheck disable=SC2086
	out=$(dr $cmd 2>&1 >/dev/full) || rc=$?
	[ "$rc" -eq 1 ] || fail "'drover $cmd >/dev/full' exited $rc, want 1: $out"
	grep -qF "standard output" <<<"$out" || fail "'drover $cmd >/dev/full' does not say why: $out"
done
dr service add 10.0.0.9 port 80 mode dsr || fail "dsr service add failed"
expect 1 "service 10.0.0.9 port 80 proto tcp in mode dsr takes no snat" -- \
	dr service set 10.0.0.9 port 80 snat 10.0.1.1
expect 1 "service 10.0.0.9 port 80 proto tcp in mode nat needs" "snat ADDR" -- \
	dr service set 10.0.0.9 port 80 mode nat
expect 1 "10.0.0.9 port 80" "'snat-ports' is for mode nat" "mode dsr" -- \
	dr service set 10.0.0.9 port 80 snat-ports 20000-20010
expect 2 "'snat-ports' is for mode nat" "mode tunnel" -- \
	dr service add 10.0.0.8 port 80 mode tunnel snat 10.0.1.1 snat-ports 20000-20010
dr backend add 10.0.0.1 port 80 10.0.1.2 || fail "backend add failed"

log "a change beside a running agent warns that the agent puts its config back, naming its pid"
# An agent holds <root>/agent_lock with flock() while it runs: flock(1) holds it the same way.
mkdir "$ROOT/agent_lock"
mkfifo "$E2E_TMP/agent.fifo"
flock -x "$ROOT/agent_lock" timeout 60 cat "$E2E_TMP/agent.fifo" >/dev/null &
AG=$!
E2E_PIDS+=("$AG")
exec 8>"$E2E_TMP/agent.fifo"
wait_for 5 sh -c "! flock -xn '$ROOT/agent_lock' true" || fail "flock did not take $ROOT/agent_lock"
for cmd in "backend set 10.0.0.1 port 80 10.0.1.2 weight 3" "service add 10.0.0.4 port 80 mode dsr" \
	"service del 10.0.0.4 port 80"; do
	# shellcheck disable=SC2086
	expect 0 "an agent (pid $AG) runs on pin root $ROOT" "config" "systemctl stop drover" -- dr $cmd
done
dr attach f0 2>/dev/null || fail "attach f0 failed"
expect 0 "an agent (pid $AG) runs on pin root $ROOT" "attaches the interfaces of its config again" \
	"stop the agent first" -- dr detach f0
out=$(dr backend show 10.0.0.1 port 80 2>&1 >/dev/null) || fail "backend show failed: $out"
[ -z "$out" ] || fail "a read beside an agent warned: $out"
exec 8>&-
wait "$AG" || true
rmdir "$ROOT/agent_lock"
out=$(dr backend set 10.0.0.1 port 80 10.0.1.2 weight 1 2>&1) || fail "backend set failed: $out"
! grep -q "agent" <<<"$out" || fail "a change with no agent running warned of one: $out"

log "lookup of a service whose map value drover can't use (table-size 0) says which and what to do"
dr service add 10.0.0.3 port 80 mode dsr || fail "service add 10.0.0.3 failed"
key="10 0 0 3 0 0 0 0 0 0 0 0 0 0 0 0 0 80 6 4"
# shellcheck disable=SC2086
good=$(bpftool -j map lookup pinned "$ROOT/drv_svcs_v1" key $key | jq -c .value)
# svc_value BYTE-INDEX BYTE...: write the service's value with those bytes changed
svc_value() {
	local at=$1 val
	shift
	val=$(jq -r --argjson at "$at" --args '.[$at:$at + ($ARGS.positional | length)] = $ARGS.positional |
		join(" ")' "$@" <<<"$good")
	# shellcheck disable=SC2086
	bpftool map update pinned "$ROOT/drv_svcs_v1" key $key value $val
}
svc_value 4 0 0 0 0 # table_size 0
expect 1 "10.0.0.3 port 80" "drv_svcs_v1" "table-size 0" "drover service del" -- \
	dr lookup 10.0.0.3 port 80 from 192.0.2.1 port 5
out=$(dr -j lookup 10.0.0.3 port 80 from 192.0.2.1 port 5 2>/dev/null) || true
[ -z "$out" ] || fail "a failed 'lookup -j' printed to stdout: $out"
log "changes to a service whose id is out of range are refused the same way (no crash, no write)"
svc_value 0 70 0 0 0 # id 70: its Maglev window would lie past the map's end
expect 1 "10.0.0.3 port 80" "drv_svcs_v1" "id 70" "drover service del" -- \
	dr service set 10.0.0.3 port 80 table-size 4093
expect 1 "10.0.0.3 port 80" "drv_svcs_v1" "id 70" "drover service del" -- \
	dr backend add 10.0.0.3 port 80 10.0.1.9
dr service del 10.0.0.3 port 80 || fail "service del of the unusable value failed"
expect 1 "10.0.0.1 port 80" "already exists" -- dr service add 10.0.0.1 port 80 snat 10.0.1.1
log "a refused service add warns of nothing: its SNAT address and ports were never set"
out=$(dr service add 10.0.0.1 port 80 snat 10.0.1.1 snat-ports 40000-60000 2>&1) && fail "duplicate service add succeeded: $out"
! grep -q "Warning:" <<<"$out" || fail "a refused service add warned of what it did not set: $out"
expect 1 "10.0.1.2 port 80" "already in service" "backend set" -- \
	dr backend add 10.0.0.1 port 80 10.0.1.2
expect 1 "10.0.1.7 port 80" "not in service" -- dr backend del 10.0.0.1 port 80 10.0.1.7
expect 1 "10.0.1.7 port 80" "not in service" -- dr backend set 10.0.0.1 port 80 10.0.1.7 down
expect 1 "dsr mode" "10.0.1.8 can't use port 8080" "mode nat" -- \
	dr backend add 10.0.0.9 port 80 10.0.1.8 port 8080

log "SNAT ports inside the host's local port range: added, with a warning naming both ranges"
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="20000 30000"
expect 0 "SNAT ports 25000-26000 of service 10.0.0.2 port 80" "local port range 20000-30000" -- \
	dr service add 10.0.0.2 port 80 snat 10.0.1.1 snat-ports 25000-26000
dr service del 10.0.0.2 port 80 || fail "service del failed"

log "SNAT address not on this host: added, with a warning naming it and what to do; on the host: none"
expect 0 "snat address 10.0.1.77 of service 10.0.0.3 port 80" "not an address of this host" \
	"ip addr add 10.0.1.77/PREFIX" -- dr service add 10.0.0.3 port 80 snat 10.0.1.77
dr service del 10.0.0.3 port 80 || fail "service del failed"
ip -n "$NS" addr add 10.0.1.77/24 dev e1
out=$(dr service add 10.0.0.3 port 80 snat 10.0.1.77 2>&1 >/dev/null) || fail "service add failed: $out"
! grep -q "not an address of this host" <<<"$out" || fail "warned of a snat address the host holds: $out"
dr service del 10.0.0.3 port 80 || fail "service del failed"
ip -n "$NS" addr add fd00:77::1/64 dev e1 nodad
out=$(dr service add fd00::3 port 80 snat fd00:77::1 2>&1 >/dev/null) || fail "service add failed: $out"
! grep -q "not an address of this host" <<<"$out" || fail "warned of a snat address the host holds: $out"
expect 0 "snat address fd00:77::2 of service fd00::3 port 80" "not an address of this host" -- \
	dr service set fd00::3 port 80 snat fd00:77::2
dr service del fd00::3 port 80 || fail "service del failed"
expect 1 "f0" "not attached" -- dr detach f0

log "attach from another network namespace sharing the pin root is refused, e0 keeps XDP"
ns_add other >/dev/null
ip -n "$T-other" link add e0 type veth peer name e1
ip -n "$T-other" link set e0 up
expect 1 "$ROOT/links/e0" "another network namespace" "--bpffs" -- \
	ip netns exec "$T-other" "$DROVER" --bpffs "$ROOT" attach e0
ip -n "$NS" link show e0 | grep -q 'xdp' || fail "refused attach in $T-other detached e0 of $NS"

expect 2 "'config' is given twice" -- dr run config "$E2E_TMP/a.yaml" config "$E2E_TMP/b.yaml"

log "drover with no object is a usage error: the grammar on stderr, status 2"
expect 2 "Usage: drover" -- dr
[ -z "$(dr 2>/dev/null)" ] || fail "'drover' alone wrote to stdout"

log "help at every level exits 0, on stdout, and says what each exit status means"
for lvl in "" "service" "backend" "attach" "stats" "lookup" "run"; do
	# shellcheck disable=SC2086
	out=$(dr $lvl help) || fail "drover $lvl help failed"
	grep -q "Usage: drover" <<<"$out" || fail "drover $lvl help printed no grammar"
	grep -q "Exit status: 0 " <<<"$out" || fail "drover $lvl help has no 'Exit status:' line: $out"
done
log "drover help OBJECT prints that object's grammar (the agent's own for run)"
for lvl in service backend attach status stats lookup node-setup; do
	out=$(dr help $lvl) || fail "drover help $lvl failed"
	grep -qE "^Usage: drover (\[-j \[-p\]\] )?$lvl" <<<"$out" || fail "drover help $lvl printed: $out"
	grep -q "Exit status: 0 " <<<"$out" || fail "drover help $lvl has no 'Exit status:' line: $out"
done
out=$(dr help run) || fail "drover help run failed"
grep -q -- "--check" <<<"$out" || fail "drover help run does not print the agent's help: $out"
grep -q "^Exit status: 0 " <<<"$out" || fail "drover help run has no 'Exit status:' line: $out"

dr detach e0 || fail "detach e0 failed"
[ ! -e "$ROOT" ] || fail "pin root left behind"
log "PASS"
