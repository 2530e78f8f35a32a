#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Every message the drover commands print through pr_warn (user/prog.c, ctl.c,
# service.c, drover.c, util.c) opens with Error:, Warning: or Note:, and each
# Error: and Warning: says what to do after what failed (tests/tools/msgcheck.py).
# Before, rare paths said only "couldn't remove pin X: Y" or "couldn't update
# the SNAT reply port range in ROOT/MAP": no prefix, no cause or no advice.
# The check must catch a copy of a file with one message's advice cut off, and
# one with a prefix taken away. Reads the source only; needs no root.
set -eu
. "$(dirname "$0")/lib.sh"
require_cmds python3
cd "$E2E_TOP"
FILES=(user/prog.c user/ctl.c user/service.c user/drover.c user/util.c)
CHECK=tests/tools/msgcheck.py

out=$(python3 "$CHECK" "${FILES[@]}") || fail "messages without their prefix or advice:
$out"
n=$(grep -c 'pr_warn("\(Error\|Warning\|Note\): ' "${FILES[@]}" | awk -F: '{s += $2} END {print s}')
[ "$n" -ge 100 ] || fail "found only $n messages in ${FILES[*]}: the check reads nothing"
log "the $n messages of ${FILES[*]} open with their word and say what to do"

# Self-checks: the advice of the wait for the lock cut off; the prefix of a Note taken away.
sed 's/; let it finish (or stop it) and retry\\n"/\\n"/' user/prog.c >"$E2E_TMP/advice.c"
! cmp -s user/prog.c "$E2E_TMP/advice.c" || fail "the self-check found no advice to cut in user/prog.c"
if out=$(python3 "$CHECK" "$E2E_TMP/advice.c"); then fail "the check passed a message without advice"; fi
grep -q "not what to do: Error: can.t lock pin root %s: still locked after 30 s" <<<"$out" || fail "the check did not name the message without advice: $out"
sed 's/pr_warn("Note: removing /pr_warn("removing /' user/prog.c >"$E2E_TMP/prefix.c"
! cmp -s user/prog.c "$E2E_TMP/prefix.c" || fail "the self-check found no Note to strip in user/prog.c"
if out=$(python3 "$CHECK" "$E2E_TMP/prefix.c"); then fail "the check passed a message without a prefix"; fi
grep -q "opens with no Error:, Warning: or Note:: removing %s" <<<"$out" || fail "the check did not name the message without a prefix: $out"
log "PASS"
