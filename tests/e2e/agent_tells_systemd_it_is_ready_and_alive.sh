#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Under systemd (Type=notify, WatchdogSec=) the agent speaks the notify protocol
# on $NOTIFY_SOCKET; here a listener of the test stands in for systemd
# (tests/tools/sd_notify_listen.py, which also records each sender's pid):
#   1. READY=1 only once the XDP program is attached and the maps written: the
#      pin root's lock, held at start-up, keeps the agent from writing them, and
#      meanwhile it sends STATUS= (not ready) and no READY=1; once the lock is
#      free, READY=1 comes, and the service is in the maps then;
#   2. WATCHDOG=1 every half of $WATCHDOG_USEC (2 s here), from the agent's pid
#      ($WATCHDOG_PID), as every message;
#   3. SIGHUP: RELOADING=1 (with MONOTONIC_USEC=), then READY=1;
#   4. the main loop held (a reload whose config file is a FIFO, as in
#      agent_healthz_fails_while_the_main_loop_is_stuck.sh) past
#      metrics.stuck-after (2 s): the pings stop, STATUS= says why, /healthz
#      answers 503; let go, the pings come again;
#   5. SIGTERM: STOPPING=1.
#
#   balancer ns: the agent on l0 (veth, peer l0p in the same namespace; the
#   node 10.77.0.2 does not answer: the service fails open, its maps written)
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds curl python3
mount_bpffs

lb_ns_one_veth
ROOT=$BPFFS/drover
CFG=$E2E_TMP/drover.yaml
GOOD=$E2E_TMP/good.yaml
LOG=$E2E_TMP/agent.log
SOCK=$E2E_TMP/notify.sock
MSGS=$E2E_TMP/notify.log
VIP=10.98.0.51
cat >"$GOOD" <<YAML
interfaces: [l0]
metrics: {listen: 127.0.0.1:9487, stuck-after: 2s}
services:
  - name: web
    vip: $VIP
    ports: [80]
    snat: 10.77.9.1
    health: {kind: tcp, interval: 1s, timeout: 800ms, rise: 1, fall: 2}
    nodes: [10.77.0.2]
YAML
cp "$GOOD" "$CFG"
drv() { ip netns exec "$LNS" "$DROVER" --bpffs "$ROOT" "$@"; }
fifo_hold_init "$GOOD"

# msgs_after N PATTERN: the messages after line N of $MSGS that match PATTERN (grep -E).
msgs_after() { tail -n +$(($1 + 1)) "$MSGS" | grep -E "$2" || true; }
count_after() { msgs_after "$1" "$2" | wc -l; }
nmsgs() { wc -l <"$MSGS"; }
healthz() { ip netns exec "$LNS" curl -sS --max-time 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:9487/healthz 2>&1 || true; }
agent_up() { kill -0 "$AGENT" 2>/dev/null || fail "the agent exited: $(tail -20 "$LOG")"; }
held() { grep -q wait_for_partner "/proc/$AGENT/wchan"; }

python3 "$E2E_TOP/tests/tools/sd_notify_listen.py" "$SOCK" "$MSGS" 400 &
E2E_PIDS+=($!)
wait_for 10 test -S "$SOCK" || fail "the notify listener does not listen on $SOCK"
: >>"$MSGS"

log "l0 attached and the maps pinned by drover attach; the pin root's lock held; the agent starts"
drv attach l0 >/dev/null 2>&1 || fail "drover attach l0: $(drv attach l0 2>&1)"
pin_root_lock "$ROOT"
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=2000000 ip netns exec "$LNS" \
	sh -c 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"' sh \
	"$DROVER" --bpffs "$ROOT" run config "$CFG" 7>&- >"$LOG" 2>&1 &
AGENT=$!
E2E_PIDS+=("$AGENT")
wait_for 30 sh -c "grep -q 'a drover command holds the lock on' '$LOG' && grep -q ' STATUS=' '$MSGS'" ||
	{ agent_up; fail "no start-up STATUS= while the lock is held: $(cat "$MSGS"); $(tail -5 "$LOG")"; }
[ "$(count_after 0 'READY=1')" = 0 ] ||
	fail "READY=1 while the maps could not be written (the pin root's lock held): $(cat "$MSGS")"
grep -q "STATUS=not ready" "$MSGS" || fail "STATUS= does not say not ready: $(cat "$MSGS")"
! drv service show 2>/dev/null | grep -q "$VIP" || fail "the service is in the maps while the lock is held: the test proves nothing"

log "the lock let go: READY=1, with the program attached and the service in the maps"
pin_root_unlock
wait_for 30 sh -c "grep -q ' READY=1' '$MSGS'" || { agent_up; fail "no READY=1 within 30 s of the lock's release: $(cat "$MSGS"); $(tail -5 "$LOG")"; }
drv service show | grep -q "$VIP" || fail "READY=1, but service $VIP is not in the maps: $(drv service show)"
ip -n "$LNS" -d link show dev l0 | grep -q "prog/xdp" || fail "READY=1, but l0 runs no XDP program"
[ -e "$ROOT/links/l0" ] || fail "READY=1, but l0's link pin is gone"
[ "$(count_after 0 'READY=1')" = 1 ] || fail "READY=1 more than once: $(cat "$MSGS")"
grep -E ' READY=1\|STATUS=ready: 1 services, [01] of 1 nodes up, 1 interfaces$' "$MSGS" >/dev/null ||
	fail "READY=1 without its STATUS= summary: $(grep READY "$MSGS")"
ready_at=$(grep -n ' READY=1' "$MSGS" | cut -d: -f1)

log "WATCHDOG=1 every second (half of WATCHDOG_USEC), from the agent's pid"
wait_for 15 sh -c "[ \$(tail -n +$ready_at '$MSGS' | grep -c ' WATCHDOG=1\$') -ge 3 ]" ||
	fail "fewer than 3 WATCHDOG=1 in 15 s after READY=1: $(cat "$MSGS")"
awk -v p="$AGENT" '$2 != p { bad = 1; print } END { exit bad }' "$MSGS" >/dev/null ||
	fail "messages from another pid than the agent's $AGENT: $(awk -v p="$AGENT" '$2 != p' "$MSGS")"

log "SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1"
n=$(nmsgs)
kill -HUP "$AGENT"
wait_for 15 sh -c "tail -n +$((n + 1)) '$MSGS' | grep -E ' (RELOADING|READY)=1' | tr '\n' ' ' | grep -qE 'RELOADING=1\|MONOTONIC_USEC=[0-9]+ .* READY=1'" ||
	fail "no RELOADING=1 (with MONOTONIC_USEC=) then READY=1 after SIGHUP: $(tail -n +$((n + 1)) "$MSGS")"
grep -q 'reload (SIGHUP) ok' "$LOG" || fail "the SIGHUP reload did not end ok: $(tail -5 "$LOG")"

log "the main loop held past stuck-after (2 s): the pings stop, STATUS= says why, /healthz 503"
mkfifo "$FIFO"
ln "$FIFO" "$CFG.new"
mv -f "$CFG.new" "$CFG"
wait_for 15 held || fail "the agent's main thread is not blocked on the FIFO within 15 s"
wait_for 20 sh -c "grep -q ' STATUS=main loop stuck for [0-9]* s (since reloading the config, whose file changed)' '$MSGS'" ||
	fail "no STATUS= saying the loop is stuck within 20 s: $(tail -5 "$MSGS")"
stuck_at=$(grep -n ' STATUS=main loop stuck' "$MSGS" | head -1 | cut -d: -f1)
grep -q 'warn: agent: systemd watchdog pings stop (metrics.stuck-after is 2 s): main loop stuck for' "$LOG" ||
	fail "the log does not say the pings stop: $(tail -5 "$LOG")"
# Observe 4 s (4 ping intervals) of the hold: no ping, and /healthz (the same judgement) 503.
start=$(now_us)
while [ $(($(now_us) - start)) -lt 4000000 ]; do
	[ "$(count_after "$stuck_at" 'WATCHDOG=1')" = 0 ] ||
		fail "WATCHDOG=1 while the main loop is stuck: $(tail -n +"$stuck_at" "$MSGS")"
	sleep 0.2
done
[ "$(healthz)" = 503 ] || fail "/healthz answers $(healthz) while the watchdog pings have stopped"
held || fail "the hold ended on its own: the test proves nothing"
agent_up

log "the FIFO written: the pings come again, and READY=1 ends the reload"
cp "$GOOD" "$CFG.new"
mv -f "$CFG.new" "$CFG"
timeout 10 sh -c "cat '$GOOD' >'$FIFO'" || fail "the agent did not read the FIFO"
rm -f "$FIFO"
wait_for 15 sh -c "[ \$(tail -n +$((stuck_at + 1)) '$MSGS' | grep -c ' WATCHDOG=1\$') -ge 2 ]" ||
	fail "the pings do not come again once the loop runs: $(tail -n +"$stuck_at" "$MSGS")"
[ "$(count_after "$stuck_at" 'READY=1')" -ge 1 ] || fail "no READY=1 after the held reload ended: $(tail -n +"$stuck_at" "$MSGS")"
wait_for 10 sh -c "tail -n +$((stuck_at + 1)) '$MSGS' | grep -q ' STATUS=ready'" ||
	fail "STATUS= does not say ready again: $(tail -n +"$stuck_at" "$MSGS")"

log "SIGTERM: STOPPING=1"
kill -TERM "$AGENT"
wait_for 30 sh -c "! kill -0 $AGENT 2>/dev/null" || fail "the agent did not exit within 30 s of SIGTERM"
grep -q " STOPPING=1\$" "$MSGS" || fail "no STOPPING=1: $(tail -5 "$MSGS")"
log "PASS"
