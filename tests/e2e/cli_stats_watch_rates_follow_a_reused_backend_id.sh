#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# `drover stats --watch` gives each backend the rate of its own counters after
# its id was freed and given to another node: directly (deleted and reused
# within one interval) and through an interval where the id was free. The
# counters are written into drv_best_v1 with bpftool (what the data path
# counts); the watcher is stopped (SIGSTOP) while the backends change, so
# every change falls between two of its snapshots: the stop counts only if it
# finds the watcher asleep before its next snapshot (a shell descheduled for a
# whole interval stops it too late: then the next line is tried).
set -eu
. "$(dirname "$0")/lib.sh"
require_root
command -v bpftool >/dev/null || fail "bpftool missing: scripts/install-deps.sh"
command -v jq >/dev/null || fail "jq missing: scripts/install-deps.sh"
mount_bpffs

ns_add lb >/dev/null # not in $(...): ns_add records the name for cleanup
NS=$T-lb
ip -n "$NS" link add e0 type veth peer name e1
for d in e0 e1; do ip -n "$NS" link set "$d" up; done
ROOT=$BPFFS/drover
dr() { ip netns exec "$NS" "$DROVER" --bpffs "$ROOT" "$@"; }
SVC="10.0.0.100 port 80"

dr attach e0 || fail "attach e0 failed"
dr service add $SVC mode dsr || fail "service add failed"

# be_id ADDR: the id of backend ADDR of the service
be_id() {
	dr -j backend show $SVC | jq -r --arg a "$1" '.[] | select(.address == $a) | .id'
}

# le64 N: N as 8 little-endian bytes for bpftool ("0x01 0x00 ...")
le64() {
	local n=$1 i out=""
	for i in 0 1 2 3 4 5 6 7; do
		out+=$(printf '0x%02x ' $(((n >> (8 * i)) & 255)))
	done
	echo "$out"
}

# be_count ID PACKETS BYTES: the backend's counters (bpftool writes the value to
# every possible CPU's slot, so the sum the CLI reads is NCPU times it)
NCPU=$(($(cut -d- -f2 /sys/devices/system/cpu/possible) + 1))
be_count() {
	local v zero
	zero=$(le64 0)
	v="$(le64 "$2")$(le64 "$3")$zero$zero$zero$zero"
	# shellcheck disable=SC2086 # one word per byte
	bpftool map update pinned "$ROOT/drv_best_v1" key $(le64 "$1" | cut -d' ' -f1-4) value $v
}

OUT=$E2E_TMP/watch.json
# count 40: a bound (the test stops it with SIGTERM), room for stops that came late
"$DROVER" --bpffs "$ROOT" -j stats $SVC --watch 1 count 40 >"$OUT" 2>"$E2E_TMP/watch.err" &
WATCH=$!
E2E_PIDS+=("$WATCH")
on_exit 'kill -CONT "$WATCH" 2>/dev/null' # a stopped watcher would not see cleanup's SIGTERM

docs() { wc -l <"$OUT"; }
have_docs() { [ "$(docs)" -ge "$1" ]; }
# The watcher's loop: sleep, snapshot, print a rate line. Stopped in the sleep
# (clock_nanosleep, or restart_syscall once a stop interrupted it), it has taken
# no snapshot since its last line.
case $(uname -m) in
x86_64) SLEEP_NRS=" 35 230 219 " ;;
aarch64) SLEEP_NRS=" 101 115 128 " ;;
*) skip "no syscall numbers of nanosleep for $(uname -m)" ;;
esac
asleep() {
	local nr
	read -r nr _ <"/proc/$WATCH/syscall" || return 1
	[[ $SLEEP_NRS == *" $nr "* ]]
}
stopped() { [ "$(cut -d' ' -f3 "/proc/$WATCH/stat")" = T ]; }
# stop: the watcher printed a new rate line, $LINE, and is stopped before the
# snapshot of the next one, so what the test changes until resume falls into
# line $LINE + 1. A stop that finds it out of its sleep (taking a snapshot or
# printing) is let go, and the line after tried (10 times at most).
LINE=0
stop() {
	local want=$((LINE + 1)) i
	for ((i = 0; i < 10; i++)); do
		wait_for 30 have_docs "$want" ||
			fail "stats --watch printed $(docs) rate lines in 30 s, want $want: $(cat "$E2E_TMP/watch.err")"
		kill -STOP "$WATCH"
		wait_for 10 stopped || fail "the watcher did not stop in 10 s after SIGSTOP"
		# asleep: after its last line, whichever that is (the stop may have come
		# an interval late or more)
		if asleep; then
			LINE=$(docs)
			return 0
		fi
		log "stopped out of its sleep (in syscall $(cut -d' ' -f1 "/proc/$WATCH/syscall")) after line $(docs): trying the next line"
		kill -CONT "$WATCH"
		want=$(($(docs) + 1))
	done
	fail "the watcher was never stopped in its sleep in 10 lines"
}
resume() { kill -CONT "$WATCH"; }

# rate_is N ADDR FIELD COUNT: line N shows backend ADDR with FIELD at COUNT per its interval
rate_is() {
	local doc got ms want
	doc=$(sed -n "$1p" "$OUT")
	ms=$(jq -r '.interval_ms' <<<"$doc")
	got=$(jq -r --arg a "$2" --arg f "$3" \
		'.services[0].backends[] | select(.address == $a) | .counters[$f]' <<<"$doc")
	[ -n "$got" ] || fail "rate line $1 has no backend $2: $doc"
	want=$(awk -v c="$4" -v n="$NCPU" -v ms="$ms" 'BEGIN { printf "%d", c * n * 1000 / ms + 0.5 }')
	# interval_ms is rounded to the millisecond: allow that much
	awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; exit !(d <= 1 + w / 500 && -d <= 1 + w / 500) }' ||
		fail "rate line $1: backend $2 $3 is $got/s, want $want/s ($4 x $NCPU CPUs counted over $ms ms): $doc"
	log "line $1: backend $2 $3 $got/s ($4 x $NCPU CPUs over $ms ms)"
}

dr backend add $SVC 10.1.0.1 || fail "backend add 10.1.0.1 failed"
ID=$(be_id 10.1.0.1)
be_count "$ID" 30 900000
stop

log "id $ID freed and given to another node between two snapshots"
dr backend del $SVC 10.1.0.1 || fail "backend del 10.1.0.1 failed"
dr backend add $SVC 10.1.0.2 || fail "backend add 10.1.0.2 failed"
[ "$(be_id 10.1.0.2)" = "$ID" ] || fail "10.1.0.2 got id $(be_id 10.1.0.2), not the freed $ID"
be_count "$ID" 1000 5000
changed=$((LINE + 1))
resume
stop
# more packets and fewer bytes than the node before it: neither mixed in
rate_is $changed 10.1.0.2 packets 1000
rate_is $changed 10.1.0.2 bytes 5000

log "id $ID free for one interval at least, then given to a third node"
dr backend del $SVC 10.1.0.2 || fail "backend del 10.1.0.2 failed"
resume
stop
dr backend add $SVC 10.1.0.3 || fail "backend add 10.1.0.3 failed"
[ "$(be_id 10.1.0.3)" = "$ID" ] || fail "10.1.0.3 got id $(be_id 10.1.0.3), not the freed $ID"
be_count "$ID" 2000 700000
changed=$((LINE + 1))
resume
wait_for 30 have_docs $changed || fail "stats --watch printed $(docs) rate lines in 30 s, want $changed"
kill -TERM "$WATCH"
wait "$WATCH" || fail "stats --watch exited $? at SIGTERM: $(cat "$E2E_TMP/watch.err")"
rate_is $changed 10.1.0.3 packets 2000
rate_is $changed 10.1.0.3 bytes 700000
log "ok"
