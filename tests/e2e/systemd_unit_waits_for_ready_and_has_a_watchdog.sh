#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# deploy/systemd/drover.service is Type=notify with NotifyAccess=main (the agent says READY=1
# once attached with the maps written, and the watchdog pings come from its own process) and a
# WatchdogSec= that restarts a stuck agent about when the DaemonSet's liveness probe would: at
# least 10 s (pings every half of it, from a thread a busy host may run late) and at most the
# default metrics.stuck-after of docs/agent.md, so that a stuck loop is restarted within twice
# that. `systemd-analyze verify` finds nothing to say about it (ExecStart= pointed at the
# built drover); where it is not installed, that lint is said to be left out and the rest runs.
# agent_tells_systemd_it_is_ready_and_alive.sh checks the agent's side of the protocol.
set -eu
. "$(dirname "$0")/lib.sh"
[ -x "$DROVER" ] || fail "$DROVER not built: run make"
UNIT=$E2E_TOP/deploy/systemd/drover.service

# key NAME: the value of NAME= in the [Service] section (the last one wins, as in systemd).
key() { sed -n '/^\[Service\]/,/^\[/p' "$UNIT" | sed -n "s/^$1=//p" | tail -1; }
# secs DURATION: a systemd time span of s/min units (30s, 1min, 90) in seconds.
secs() {
	case $1 in
	*min) echo $((${1%min} * 60)) ;;
	*s) echo "${1%s}" ;;
	*[!0-9]* | "") fail "$UNIT: cannot read the time span '$1'" ;;
	*) echo "$1" ;;
	esac
}

[ "$(key Type)" = notify ] || fail "$UNIT: Type=$(key Type), want notify: systemd must wait for the agent's READY=1"
[ "$(key NotifyAccess)" = main ] || fail "$UNIT: NotifyAccess=$(key NotifyAccess), want main: only the agent's own process may notify"
wd=$(key WatchdogSec)
[ -n "$wd" ] || fail "$UNIT sets no WatchdogSec=: nothing restarts an agent whose main loop is stuck"
wd=$(secs "$wd")
stuck=$(sed -n 's/^| `metrics.stuck-after` | .* | `\([0-9]*\)s` |$/\1/p' "$E2E_TOP/docs/agent.md")
[ -n "$stuck" ] || fail "docs/agent.md: no default for metrics.stuck-after in the configuration reference"
[ "$wd" -ge 10 ] && [ "$wd" -le "$stuck" ] ||
	fail "$UNIT: WatchdogSec=${wd}s, want 10 s to metrics.stuck-after's default (${stuck} s)"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$UNIT" || fail "$UNIT: ExecReload= does not send SIGHUP"
log "Type=notify, NotifyAccess=main, WatchdogSec=${wd}s (stuck-after ${stuck}s by default)"

if ! command -v systemd-analyze >/dev/null; then
	log "systemd-analyze is not installed: the unit's lint is left out"
	exit 0
fi
dir=$E2E_TMP/units
mkdir -p "$dir"
sed "s#/usr/local/bin/drover#$DROVER#g" "$UNIT" >"$dir/drover-$T.service"
out=$(cd "$dir" && timeout 60 systemd-analyze verify --man=no "$dir/drover-$T.service" 2>&1) ||
	fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify has something to say: $out"
log "systemd-analyze verify: nothing to say"
