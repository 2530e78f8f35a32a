#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A change waits for the pin root's lock (flock(), up to 30 s) while another
# drover command or the agent holds it. Before, it waited in silence, like a
# hang, and did not say who held it. Now, after about a second, it says once
# that it waits, which pid (and command) holds the lock, and for how long at
# most; a free lock is taken without a word. The lock is held here by
# flock(1), which takes it the way drover does, and let go once the message
# is there: the test never waits the 30 s.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds flock
mount_bpffs
ROOT=$BPFFS/drover
mkdir "$ROOT" # a pin root with nothing pinned: the change fails after the lock, saying so
ERR=$E2E_TMP/cmd.err
change() { "$DROVER" --bpffs "$ROOT" service add 10.0.0.1 port 80 mode dsr; }

log "a free pin root: the lock is taken without a word of waiting"
change 2>"$ERR" && fail "service add with no maps pinned succeeded"
grep -q "maps are pinned under $ROOT: attach an interface first" "$ERR" || fail "service add did not get past the lock: $(cat "$ERR")"
! grep -q "waiting for the lock" "$ERR" || fail "a free lock was waited for: $(cat "$ERR")"

log "a held pin root: said once, naming the holder and the bound; the change goes on once it is free"
mkfifo "$E2E_TMP/hold.fifo"
flock -x "$ROOT" timeout 60 cat "$E2E_TMP/hold.fifo" >/dev/null &
HOLD=$!
E2E_PIDS+=("$HOLD")
exec 8>"$E2E_TMP/hold.fifo"
wait_for 5 sh -c "! flock -xn '$ROOT' true" || fail "flock did not take $ROOT"
change 2>"$ERR" 8>&- & # not the fifo: its holder sees EOF once this test lets go
CMD=$!
E2E_PIDS+=("$CMD")
wait_for 20 grep -q "waiting for the lock on pin root $ROOT" "$ERR" ||
	fail "service add said nothing in 20 s while $ROOT was locked: $(cat "$ERR")"
kill -0 "$CMD" 2>/dev/null || fail "service add ended while the lock was held: $(cat "$ERR")"
log "said: $(cat "$ERR")"
grep -qF "which pid $HOLD (flock) holds" "$ERR" || fail "the message does not name the holder, pid $HOLD (flock): $(cat "$ERR")"
grep -qF "giving up after 30 s" "$ERR" || fail "the message does not say how long it waits: $(cat "$ERR")"
exec 8>&- # the holder's cat ends, flock lets go
wait_for 20 sh -c "! kill -0 $CMD 2>/dev/null" ||
	fail "service add still waits 20 s after the lock was let go: $(cat "$ERR")"
rc=0
wait "$CMD" || rc=$?
[ "$rc" = 1 ] || fail "service add exited $rc after the lock, want 1 (no maps pinned): $(cat "$ERR")"
grep -q "maps are pinned under $ROOT: attach an interface first" "$ERR" || fail "service add did not get past the lock: $(cat "$ERR")"
[ "$(grep -c "waiting for the lock" "$ERR")" = 1 ] || fail "the wait was said more than once: $(cat "$ERR")"
! grep -q "still locked" "$ERR" || fail "service add gave up: $(cat "$ERR")"
log "PASS"
