#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# drover attach/detach lifecycle: two interfaces share one program and one set
# of maps; pins and XDP links outlive the CLI; a second attach is refused
# without `force`; every show/stats command prints JSON that jq parses;
# bpftool shows BTF field names of pinned counters; an interface renamed
# under drover is shown as renamed and detached by its old name; detaching the last
# interface leaves no pin, no link and no program behind.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq bpftool
mount_bpffs

ns_add lb >/dev/null # not in $(...): ns_add records the name for cleanup
NS=$T-lb
ip -n "$NS" link add a0 type veth peer name a1
ip -n "$NS" link add b0 type veth peer name b1
for d in a0 a1 b0 b1; do ip -n "$NS" link set "$d" up; done
ROOT=$BPFFS/drover
dr() { ip netns exec "$NS" "$DROVER" --bpffs "$ROOT" "$@"; }
MAPS="drv_svcs_v1 drv_bes_v1 drv_maglev_v1 drv_flows_v1 drv_nat_v1 drv_stats_v1 drv_svcst_v1 drv_best_v1 drv_cfg_v1 drv_txports_v1"

log "attach a0 (native; forwarding off: warned) and b0 (skb; forwarding on: silent)"
out=$(dr attach a0 2>&1) || fail "attach a0 failed: $out"
grep -q "forwarding is off on a0" <<<"$out" || fail "no warning about forwarding off on a0: $out"
A0_PROG=$(dr -j status | jq '.interfaces[0].prog_id')
ip netns exec "$NS" sysctl -qw net.ipv4.conf.b0.forwarding=1
out=$(dr attach b0 mode skb 2>&1) || fail "attach b0 mode skb failed: $out"
# the one line it prints says which sysctls it set, and that they stay
[ "$out" = "Note: b0: set accept_local=1 so nat packets left to the kernel (fib_pass) are forwarded; they stay after detach" ] ||
	fail "attach b0 printed: $out"

log "pins and links are there after the CLI exited"
for m in $MAPS; do [ -e "$ROOT/$m" ] || fail "map pin $ROOT/$m missing after attach"; done
[ -e "$ROOT/links/a0" ] || fail "link pin $ROOT/links/a0 missing"
[ -e "$ROOT/links/b0" ] || fail "link pin $ROOT/links/b0 missing"
progs=$(ls "$ROOT/progs")
[[ "$progs" =~ ^drover_xdp-[0-9a-f]{16}$ ]] || fail "want one program pin under $ROOT/progs, got: $progs"
ip -n "$NS" link show a0 | grep -q 'xdp' || fail "no XDP program on a0 after the CLI exited"
ip -n "$NS" link show b0 | grep -q 'xdpgeneric' || fail "no generic XDP program on b0"

st=$(dr -j status) || fail "status -j failed"
# the keys and their order, as docs/cli.md lists them
[ "$(jq -c '[keys_unsorted, (.interfaces[0] | keys_unsorted), (.maps[0] | keys_unsorted)]' <<<"$st")" = \
	'[["version","abi","pin_root","attached","build","build_prog_id","interfaces","maps"],["ifname","ifindex","prog_id","this_build","link_id","mode","pin"],["name","max_entries","entries"]]' ] ||
	fail "status -j keys differ from docs/cli.md: $st"
jq -e '.attached == true and (.interfaces | length) == 2' <<<"$st" >/dev/null ||
	fail "status does not list 2 interfaces: $st"
jq -e '[.interfaces[].prog_id] | unique | length == 1' <<<"$st" >/dev/null ||
	fail "a0 and b0 run different programs (want one shared program): $st"
[ "$(jq -r '.interfaces[] | select(.ifname == "a0") | .mode' <<<"$st")" = native ] ||
	fail "a0 is not in native mode: $st"
[ "$(jq -r '.interfaces[] | select(.ifname == "b0") | .mode' <<<"$st")" = skb ] ||
	fail "b0 is not in skb mode: $st"
jq -e '.maps[] | select(.name == "drv_txports_v1") | .entries == 2' <<<"$st" >/dev/null ||
	fail "drv_txports_v1 does not hold both interfaces: $st"
PROG_ID=$(jq -r '.interfaces[0].prog_id' <<<"$st")
[ "$PROG_ID" = "$A0_PROG" ] || fail "attach b0 loaded program $PROG_ID, want a0's $A0_PROG reused"
dr status | grep -q "prog id $PROG_ID" || fail "text status does not show prog id $PROG_ID"
jq -e --argjson id "$PROG_ID" '.build_prog_id == $id and ([.interfaces[].this_build] | all)' <<<"$st" >/dev/null ||
	fail "status -j does not say that a0 and b0 run this build's program: $st"
dr status | grep -q "^program: this drover's build, prog id $PROG_ID, pinned at $ROOT/progs/$progs$" ||
	fail "text status does not name this build's program: $(dr status | head -3)"

log "a second attach of a0 is refused without force, names a0 and says what to do"
rc=0
out=$(dr attach a0 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "second attach exited $rc, want 1: $out"
grep -q "a0" <<<"$out" && grep -q "force" <<<"$out" && grep -q "drover detach a0" <<<"$out" ||
	fail "second attach message does not name a0 / force / detach: $out"
log "force re-attaches a0 (here: changing its mode)"
dr attach a0 mode skb force 2>/dev/null || fail "attach a0 mode skb force failed"
[ "$(dr -j status | jq -r '.interfaces[] | select(.ifname == "a0") | .mode')" = skb ] ||
	fail "a0 not in skb mode after forced re-attach"
a0_link() { dr -j status | jq -r '.interfaces[] | select(.ifname == "a0") | "\(.link_id) \(.mode)"'; }
before=$(a0_link)

log "force in the same mode swaps the program in place: the same link, never a gap"
dr attach a0 mode skb force 2>/dev/null || fail "attach a0 mode skb force (again) failed"
[ "$(a0_link)" = "$before" ] || fail "a0's link changed on a same-mode force: $before → $(a0_link)"

log "a forced mode change the driver refuses leaves a0 attached as it was"
# veth refuses native XDP when the peer's MTU is larger than a page can hold
ip -n "$NS" link set a1 mtu 9000
ip -n "$NS" link set a0 mtu 9000
rc=0
out=$(dr attach a0 force 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "forced native attach with MTU 9000 exited $rc, want 1: $out"
grep -q "MTU" <<<"$out" && grep -q "mode skb" <<<"$out" && grep -q "attached again in skb mode" <<<"$out" ||
	fail "refused mode change does not say why, what to do and that a0 is back: $out"
[ "$(a0_link | cut -d' ' -f2)" = skb ] || fail "a0 lost its XDP on a refused mode change: $(dr status)"
ip -n "$NS" link show a0 | grep -q 'xdpgeneric' || fail "no generic XDP program on a0 any more"
ip -n "$NS" link set a0 mtu 1500
ip -n "$NS" link set a1 mtu 1500

log "force works with only the DaemonSet's capabilities (BPF, NET_ADMIN, PERFMON)"
caps=-all,+bpf,+net_admin,+perfmon
ip netns exec "$NS" setpriv --inh-caps=$caps --ambient-caps=$caps --bounding-set=$caps \
	"$DROVER" --bpffs "$ROOT" attach a0 mode native force ||
	fail "attach a0 mode native force failed without CAP_SYS_ADMIN"
[ "$(a0_link | cut -d' ' -f2)" = native ] || fail "a0 not native after forced mode change: $(dr status)"
one_prog() { dr -j status | jq -e '[.interfaces[].prog_id] | unique | length == 1' >/dev/null; }
one_prog || fail "a0 and b0 run different programs after a force without CAP_SYS_ADMIN: $(dr status)"

log "a map pin removed by hand, or another build's program: the next attach loads this one and swaps it into every link"
rm "$ROOT/drv_cfg_v1"
dr attach a0 force 2>/dev/null || fail "attach a0 force after removing a map pin failed"
[ -e "$ROOT/drv_cfg_v1" ] || fail "drv_cfg_v1 not pinned again"
one_prog || fail "a0 and b0 run different programs after the reload: $(dr status)"
[ "$(dr -j status | jq -r '.interfaces[0].prog_id')" != "$PROG_ID" ] ||
	fail "the program that uses the removed map still runs: $(dr status)"
[ "$(ls "$ROOT/progs")" = "$progs" ] || fail "program pins: $(ls "$ROOT/progs"), want $progs"
mv "$ROOT/progs/$progs" "$ROOT/progs/drover_xdp-0000000000000000"
dr status | grep -q "^program: this drover's build ([0-9a-f]*) is not pinned: the interfaces run another build's" ||
	fail "status does not say the interfaces run another build's program: $(dr status | head -3)"
dr -j status | jq -e '.build_prog_id == 0 and ([.interfaces[].this_build] | any | not)' >/dev/null ||
	fail "status -j does not say the interfaces run another build's program: $(dr -j status)"
# with only the DaemonSet's capabilities, as the agent of a new image runs
ip netns exec "$NS" setpriv --inh-caps=$caps --ambient-caps=$caps --bounding-set=$caps \
	"$DROVER" --bpffs "$ROOT" attach a0 force 2>/dev/null ||
	fail "attach a0 force with another build's program pinned failed without CAP_SYS_ADMIN"
dr -j status | jq -e '[.interfaces[].this_build] | all' >/dev/null ||
	fail "a0 and b0 do not both run this build's program after attach a0 force: $(dr status)"
[ "$(ls "$ROOT/progs")" = "$progs" ] || fail "program pins: $(ls "$ROOT/progs"), want $progs alone"

log "maps pinned anew behind this build's program pin (an older drover, which leaves progs/ alone, detached both and attached again): the pin is not reused"
mv "$ROOT/progs/$progs" "$ROOT/stale-prog"
dr detach b0 && dr detach a0 || fail "detach of a0 and b0 failed"
dr attach a0 2>/dev/null && dr attach b0 mode skb 2>/dev/null || fail "attach of a0 and b0 on new maps failed"
# as the older drover would have left it: the new maps, the old program under this build's name
rm "$ROOT/progs/$progs"
mv "$ROOT/stale-prog" "$ROOT/progs/$progs"
# the pinned program is not the one the links run: text status marks each
[ "$(dr status | grep -c "(not this build's program: drover attach IFNAME force)$")" = 2 ] ||
	fail "status does not mark the links that run another program than the pinned one: $(dr status | head -6)"
dr attach b0 mode skb force 2>/dev/null || fail "attach b0 force over a program of replaced maps failed"
svcs_id=$(bpftool -j map show pinned "$ROOT/drv_svcs_v1" | jq .id)
for i in a0 b0; do
	id=$(dr -j status | jq --arg i $i '.interfaces[] | select(.ifname == $i) | .prog_id')
	bpftool -j prog show id "$id" | jq -e --argjson m "$svcs_id" '.map_ids | index($m)' >/dev/null ||
		fail "$i runs program $id on maps pinned nowhere (not drv_svcs_v1 $svcs_id): $(bpftool prog show id "$id" | grep map_ids)"
done
[ "$(ls "$ROOT/progs")" = "$progs" ] || fail "program pins: $(ls "$ROOT/progs"), want $progs alone"

log "service, backend, lookup, stats: JSON parses and says what was configured"
dr service add 10.0.0.1 port 80 snat 10.0.1.1 table-size 4093 || fail "service add failed"
dr service add fd00::1 port 443 mode dsr || fail "IPv6 dsr service add failed"
dr backend add 10.0.0.1 port 80 10.0.1.2 || fail "backend add failed"
dr backend add 10.0.0.1 port 80 10.0.1.3 port 8080 weight 2 || fail "backend add failed"
dr backend add fd00::1 port 443 fd00::10 || fail "IPv6 backend add failed"
dr -j service show | jq -e 'length == 2 and (.[] | select(.address == "10.0.0.1") |
	.port == 80 and .mode == "nat" and .snat == "10.0.1.1" and .table_size == 4093 and
	.backends_in_table == 2 and .snat_port_lo == 10000 and .snat_port_hi == 32767)' >/dev/null ||
	fail "service show JSON: $(dr -j service show)"
dr -j backend show 10.0.0.1 port 80 | jq -e 'length == 2 and .[0].id == 1 and
	.[0].address == "10.0.1.2" and .[0].port == 80 and .[0].state == "up" and
	.[1].port == 8080 and .[1].weight == 2 and .[1].flows == 0 and
	.[1].counters.packets == 0' >/dev/null ||
	fail "backend show JSON: $(dr -j backend show 10.0.0.1 port 80)"
dr backend set 10.0.0.1 port 80 10.0.1.3 port 8080 drain || fail "backend set drain failed"
dr -j backend show 10.0.0.1 port 80 | jq -e '.[1].state == "drain" and .[1].weight == 2' \
	>/dev/null || fail "drain not shown: $(dr -j backend show 10.0.0.1 port 80)"
dr -p service show fd00::1 port 443 | jq -e '.[0].mode == "dsr" and .[0].snat == null' \
	>/dev/null || fail "pretty service show JSON"
log "service show: SNAT ports only for nat, in JSON as in text (null where the text has none)"
dr service add 10.0.0.2 port 80 mode tunnel snat 10.0.1.1 || fail "tunnel service add failed"
for s in "fd00::1 port 443" "10.0.0.2 port 80"; do
	# shellcheck disable=SC2086
	txt=$(dr service show $s) js=$(dr -j service show $s)
	! grep -q "ports" <<<"$txt" || fail "service show $s (not nat) shows SNAT ports: $txt"
	jq -e '.[0].snat_port_lo == null and .[0].snat_port_hi == null' <<<"$js" >/dev/null ||
		fail "service show -j $s (not nat) has SNAT ports where the text has none: $js"
done
dr service del 10.0.0.2 port 80 || fail "tunnel service del failed"
lk=$(dr -j lookup 10.0.0.1 port 80 from 192.0.2.1 port 40000) || fail "lookup failed"
jq -e '.backend.address == "10.0.1.2" and .recorded == null and .table_index < 4093' \
	<<<"$lk" >/dev/null || fail "lookup JSON (only 10.0.1.2 is up): $lk"
log "lookup of a record past its timeout: open, it keeps its node; half-open, a new flow"
# A record of 192.0.2.1:40000 on backend 1, last seen at boot (the FIN timeout, 10 s,
# is long over): as the program reads it, an open or closing one still keeps its node
# for every segment but a bare SYN, a half-open one is a new flow.
svc_id=$(jq .service.id <<<"$lk") be_gen=$(jq .backend.gen <<<"$lk")
le32() { printf '%02x %02x %02x %02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24)); }
flow_put() { # STATE: 1 closing, 2 half-open
	bpftool map update pinned "$ROOT/drv_flows_v1" \
		key hex c0 00 02 01 $(printf '00 %.0s' {1..12}) 0a 00 00 01 $(printf '00 %.0s' {1..12}) \
		9c 40 00 50 06 04 00 00 \
		value hex 01 00 00 00 00 00 00 00 $(le32 1) $(le32 "$be_gen") $(le32 "$svc_id") 27 10 "0$1" 00 ||
		fail "could not write a flow record into drv_flows_v1"
}
flow_put 1
out=$(dr lookup 10.0.0.1 port 80 from 192.0.2.1 port 40000) || fail "lookup failed: $out"
grep -q "^recorded: expired (idle longer than its timeout), stays on backend 1 10.0.1.2 port 80 (up): a bare SYN starts a new flow" \
	<<<"$out" || fail "lookup of an expired closing record: $out"
dr -j lookup 10.0.0.1 port 80 from 192.0.2.1 port 40000 |
	jq -e '.recorded.expired and .recorded.usable and .recorded.backend.id == 1' >/dev/null ||
	fail "lookup JSON of an expired closing record: $(dr -j lookup 10.0.0.1 port 80 from 192.0.2.1 port 40000)"
flow_put 2
out=$(dr lookup 10.0.0.1 port 80 from 192.0.2.1 port 40000) || fail "lookup failed: $out"
grep -q "^recorded: expired (idle longer than its timeout): treated as a new flow" <<<"$out" ||
	fail "lookup of an expired half-open record: $out"
bpftool map delete pinned "$ROOT/drv_flows_v1" key hex c0 00 02 01 $(printf '00 %.0s' {1..12}) \
	0a 00 00 01 $(printf '00 %.0s' {1..12}) 9c 40 00 50 06 04 00 00 ||
	fail "could not delete the flow record"
dr -j stats | jq -e '(.global | has("xdp_pass") and has("drop_no_backend")) and
	(.services | length) == 2' >/dev/null || fail "stats JSON: $(dr -j stats)"
dr -j stats 10.0.0.1 port 80 --watch 1 count 2 | jq -s -e 'length == 2 and
	.[0].unit == "per_second" and (.[1].services[0].backends | length) == 2' >/dev/null ||
	fail "stats --watch JSON"
log "stats --watch prints rates until SIGINT, then exits 0"
ip netns exec "$NS" "$DROVER" --bpffs "$ROOT" stats --watch 1 >"$E2E_TMP/watch.out" 2>&1 &
wpid=$!
E2E_PIDS+=("$wpid")
wait_for 20 grep -q "rates per second" "$E2E_TMP/watch.out" ||
	fail "stats --watch printed no rates: $(cat "$E2E_TMP/watch.out")"
kill -INT "$wpid"
wait_for 10 sh -c "! kill -0 $wpid" || fail "stats --watch did not stop on SIGINT"
rc=0
wait "$wpid" || rc=$?
[ "$rc" -eq 0 ] || fail "stats --watch exited $rc after SIGINT"
dr -j version | jq -e '.version and .abi == 1' >/dev/null || fail "version JSON"

log "concurrent backend adds (flock on the pin root) all land, with distinct ids"
pids=()
for i in $(seq 20 29); do
	dr backend add 10.0.0.1 port 80 "10.0.2.$i" &
	pids+=("$!")
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent backend add failed"; done
dr -j backend show 10.0.0.1 port 80 | jq -e 'length == 12 and ([.[].id] | unique | length) == 12' \
	>/dev/null || fail "concurrent adds lost or shared ids: $(dr backend show 10.0.0.1 port 80)"
dr -j service show 10.0.0.1 port 80 | jq -e '.[0].backends_in_table == 11' >/dev/null ||
	fail "table does not hold the 11 up backends: $(dr service show 10.0.0.1 port 80)"

log "bpftool shows BTF field names of pinned maps"
bpftool map dump pinned "$ROOT/drv_best_v1" | grep -q '"new_flows"' ||
	fail "bpftool map dump of drv_best_v1 has no BTF field names"
bpftool -j map dump pinned "$ROOT/drv_stats_v1" | jq -e '.[0].formatted.values[0].value.packets >= 0' \
	>/dev/null || fail "bpftool -j dump of drv_stats_v1 lacks value.packets"
bpftool -j map dump pinned "$ROOT/drv_svcs_v1" |
	jq -e '[.[].formatted.value.snat_port_hi] | index(32767) != null' >/dev/null ||
	fail "bpftool dump of drv_svcs_v1 lacks formatted snat_port_hi"

log "from another namespace with its own a0, on the same pin root: status says so, detach changes nothing"
ns_add other >/dev/null
NS2=$T-other
ip -n "$NS2" link add a0 type veth peer name a1
ip -n "$NS2" link set a0 up
dr2() { ip netns exec "$NS2" "$DROVER" --bpffs "$ROOT" "$@"; }
[ "$(dr2 -j status | jq -r '.interfaces[] | select(.ifname == "a0") | .mode')" = other-netns ] ||
	fail "status from $NS2 does not show a0 as other-netns: $(dr2 status 2>&1)"
dr2 status | grep -q "a0 .*another network namespace" || fail "text status from $NS2: $(dr2 status 2>&1)"
rc=0
out=$(dr2 detach a0 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "another network namespace" <<<"$out" && grep -q "nothing was changed" <<<"$out" ||
	fail "detach a0 from $NS2 exited $rc: $out"
[ -e "$ROOT/links/a0" ] || fail "detach from $NS2 removed the link pin of $NS's a0"
ip -n "$NS" link show a0 | grep -q 'xdp' || fail "detach from $NS2 took XDP off $NS's a0"

log "a0 renamed a0r: status says so, not that a0 runs drover; detach a0 takes drover off a0r"
ip -n "$NS" link set a0 down
ip -n "$NS" link set a0 name a0r
ip -n "$NS" link set a0r up
out=$(dr status) || fail "status with a0 renamed exited $?: $out"
grep -q "^  a0 .*renamed a0r (ifindex [0-9]*): drover runs on a0r" <<<"$out" && ! grep -q "^  a0 .*mode native" <<<"$out" ||
	fail "status with a0 renamed to a0r: $out"
dr -j status | jq -e '.interfaces[] | select(.ifname == "a0") | .mode == "renamed" and .renamed_to == "a0r"' >/dev/null ||
	fail "status -j with a0 renamed to a0r: $(dr -j status)"
# docs/cli.md's list of status's JSON keys names every key and mode it prints (the keys of
# a renamed interface too: a script that follows the list must expect them).
doc=$(awk '/^\* `status`: /{on=1} on && /^\* `service show`/{exit} on' "$E2E_TOP/docs/cli.md")
[ -n "$doc" ] || fail "docs/cli.md has no '* \`status\`:' entry in its JSON section"
for k in $(dr -j status | jq -r '.interfaces[] | select(.ifname == "a0") | keys_unsorted[], .mode'); do
	grep -q -- "\"$k\"\|[(|]$k[|)]" <<<"$doc" ||
		fail "docs/cli.md's JSON keys of status do not name '$k' (a0 renamed): $doc"
done
ip -n "$NS" link add a0 type veth peer name a2
rc=0
out=$(dr attach a0 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "drover's XDP link on a0r .* renamed" <<<"$out" && grep -q "drover detach a0" <<<"$out" ||
	fail "attach of a new a0 while the pin a0 holds a0r's link exited $rc: $out"
ip -n "$NS" link del a0
rc=0
out=$(dr detach a0 2>&1) || rc=$?
[ "$rc" -eq 0 ] && grep -q "a0r" <<<"$out" || fail "detach a0 (renamed a0r) exited $rc: $out"
ip -n "$NS" link show a0r | grep -q 'xdp' && fail "XDP still attached to a0r after detach a0"
[ ! -e "$ROOT/links/a0" ] || fail "link pin of a0 left behind"
ip -n "$NS" link set a0r down
ip -n "$NS" link set a0r name a0
ip -n "$NS" link set a0 up

log "detach a0: its link goes, the maps stay for b0"
ip -n "$NS" link show a0 | grep -q 'xdp' && fail "XDP still attached to a0 after detach"
[ -e "$ROOT/drv_svcs_v1" ] || fail "maps removed while b0 is still attached"
dr -j service show | jq -e 'length == 2' >/dev/null || fail "services lost on detach of a0"

log "detach b0, the last one: nothing is left behind"
# the program b0 runs now: PROG_ID was replaced by the reloads above
LAST_PROG=$(dr -j status | jq -r '.interfaces[] | select(.ifname == "b0") | .prog_id')
bpftool prog show id "$LAST_PROG" >/dev/null || fail "b0's program $LAST_PROG is not loaded before the detach"
dr detach b0 || fail "detach b0 failed"
[ ! -e "$ROOT" ] || fail "pin root $ROOT left behind: $(ls -R "$ROOT")"
ip -n "$NS" link show b0 | grep -q 'xdp' && fail "XDP still attached to b0 after detach"
# the kernel frees programs asynchronously (RCU): allow it time
wait_for 20 sh -c "! bpftool prog show id $LAST_PROG" ||
	fail "program id $LAST_PROG still loaded after the last detach"
dr -j status | jq -e '.attached == false' >/dev/null || fail "status after detach"
rc=0
out=$(dr detach b0 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "b0" <<<"$out" || fail "detach of a detached b0: rc $rc: $out"

log "a program pin left with no map pinned (an older drover's last detach leaves progs/): status says so, and how to remove it"
dr attach b0 mode skb 2>/dev/null || fail "attach b0 again failed"
dr detach b0 keep-maps || fail "detach b0 keep-maps failed"
rm "$ROOT"/drv_* # what the older drover unpins; it leaves progs/ alone
out=$(dr status 2>&1) || fail "status with a program pin left exited $?: $out"
grep -q "still pins a program and the maps it ran on" <<<"$out" && grep -qF "rm -r $ROOT/progs" <<<"$out" &&
	! grep -q "nothing pinned" <<<"$out" || fail "status with a program pin left: $out"
rm -r "$ROOT"
[ "$(dr status 2>&1)" = "drover $(dr -j status | jq -r .version) (map ABI v1): not attached (no pin root $ROOT)" ] ||
	fail "status after removing the pin root: $(dr status 2>&1)"

log "a pin root that is a bpffs mount point outlives the last detach: status says not attached"
drm() { ip netns exec "$NS" "$DROVER" --bpffs "$BPFFS" "$@"; }
drm attach b0 2>/dev/null || fail "attach b0 with the mount point as pin root failed"
drm detach b0 || fail "detach b0 (mount point pin root) failed"
out=$(drm status) || fail "status of an emptied mount point exited $?: $out"
grep -q "not attached" <<<"$out" || fail "status of an emptied mount point: $out"
drm -j status | jq -e '.attached == false' >/dev/null || fail "status -j of an emptied mount point"
log "PASS"
