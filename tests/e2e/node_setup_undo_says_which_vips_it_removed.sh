#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# `drover node-setup dsr VIP... undo` says what it did to each VIP: "removed
# from lo" only for a VIP that was there, "was not on lo" for one that was not
# (a second undo, a typo), both exit 0 (undo is idempotent). Before, it said
# "VIP ... removed from lo" for a VIP that was never on lo. Without
# CAP_NET_ADMIN it says so once (it said it of every interface, one by one).
set -eu
. "$(dirname "$0")/lib.sh"

VIP4=10.97.1.100 VIP6=fd97:1::100 OTHER=10.97.1.101

require_root
NODE=$(ns_add node)
ns() { ip netns exec "$NODE" "$DROVER" "$@"; }
on_lo() { ip -n "$NODE" addr show dev lo | grep -qF " $1/"; }

out=$(ns node-setup dsr "$VIP4" "$VIP6" 2>&1) || fail "node-setup dsr $VIP4 $VIP6 failed: $out"
{ on_lo "$VIP4" && on_lo "$VIP6"; } || fail "node-setup did not put $VIP4 and $VIP6 on lo"

log "undo of VIPs on lo says each was removed"
out=$(ns node-setup dsr "$VIP4" "$VIP6" undo 2>&1) || fail "undo failed: $out"
for v in "$VIP4" "$VIP6"; do
	grep -qF "VIP $v removed from lo" <<<"$out" || fail "undo does not say $v was removed: $out"
	! on_lo "$v" || fail "undo left $v on lo"
done

log "undo of VIPs not on lo says so, exit 0, and claims no removal"
out=$(ns node-setup dsr "$VIP4" "$OTHER" "$VIP6" undo 2>&1) || fail "a second undo failed: $out"
for v in "$VIP4" "$OTHER" "$VIP6"; do
	grep -qF "VIP $v was not on lo" <<<"$out" || fail "undo does not say $v was not on lo: $out"
	! grep -qF "VIP $v removed" <<<"$out" || fail "undo says it removed $v, which was not on lo: $out"
done
log "without CAP_NET_ADMIN: one error saying what it lacks, not one per interface, and nothing done"
require_cmds setpriv
for i in 1 2 3; do ip -n "$NODE" link add "v$i" type veth peer name "w$i"; done
nocap() {
	ip netns exec "$NODE" setpriv --inh-caps=-net_admin --bounding-set=-net_admin "$DROVER" "$@"
}
for undo in "" undo; do
	rc=0
	out=$(nocap node-setup dsr "$VIP4" $undo 2>&1) || rc=$?
	[ "$rc" = 1 ] || fail "node-setup $undo without CAP_NET_ADMIN exited $rc, want 1: $out"
	[ "$(grep -c "Error:" <<<"$out")" = 1 ] && grep -q "Error: drover node-setup needs CAP_NET_ADMIN" <<<"$out" ||
		fail "node-setup $undo without CAP_NET_ADMIN said: $out"
	! on_lo "$VIP4" || fail "node-setup $undo without CAP_NET_ADMIN put $VIP4 on lo"
done
log "PASS"
