#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Run one tier of drover's tests (unit | bpf | e2e | all | image) and print a
# tally. unit and bpf tests are cmocka programs: their own summary lines are
# summed (a test that skips itself, saying why, counts as skipped). e2e and
# image tests are scripts: exit 0 passes, exit 4 is a loud skip (no root or
# kernel support), anything else fails. Each program has a time bound.
# all = unit, bpf and e2e; image (make test-image) runs alone.
set -u
cd "$(dirname "$0")/.."
OUT=.output
tier=${1:-all}
passed=0 failed=0 skipped=0
failed_names="" start_all=$(date +%s)

run_cmocka() { # $1 = binary, $2 = timeout seconds
	local log rc p f s
	log=$(mktemp)
	timeout --foreground -k 10 "$2" "$1" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	# a test that skipped itself printed why; count it (cmocka's PASSED excludes it)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	rm -f "$log"
	if [ "$rc" -eq 4 ]; then
		echo "!!! SKIPPED: $1 (no root or kernel support)"
		skipped=$((skipped + 1))
		return
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "!!! FAILED: $1 exited $rc"
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	[ "$f" -eq 0 ] || failed_names="$failed_names $1"
}

run_script() { # $1 = script, $2 = timeout seconds, $3 = tier name
	local rc start tpid
	start=$(date +%s)
	echo "=== $3: $1"
	# timeout in its own process group: at the bound, SIGTERM reaches the
	# test's hung command too, so the test's EXIT trap runs and removes its
	# namespaces, mounts and processes (60 s for that before SIGKILL).
	# Ctrl-C (or a TERM to this runner) ends the test the same way.
	timeout -k 60 "$2" bash "$1" &
	tpid=$!
	trap 'kill -TERM $tpid 2>/dev/null; stop=1' INT TERM
	wait "$tpid"
	rc=$?
	while kill -0 "$tpid" 2>/dev/null; do
		wait "$tpid"
		rc=$?
	done
	trap - INT TERM
	if [ -n "${stop:-}" ]; then
		echo "!!! stopped (interrupted) in $1: the remaining tests were not run"
		exit 130
	fi
	case $rc in
	0) passed=$((passed + 1)); echo "=== PASS: $1 ($(( $(date +%s) - start )) s)" ;;
	4) skipped=$((skipped + 1)); echo "!!! SKIPPED: $1 (no root or kernel support)" ;;
	*) failed=$((failed + 1)); failed_names="$failed_names $1"; echo "!!! FAIL: $1 (exit $rc)" ;;
	esac
}

tier_unit() {
	local t
	for t in "$OUT"/tests/unit/test_*; do [ -x "$t" ] && run_cmocka "$t" 300; done
}
tier_bpf() {
	local t
	for t in "$OUT"/tests/bpf/test_*; do [ -x "$t" ] && run_cmocka "$t" 300; done
}
tier_e2e() {
	local t
	for t in tests/e2e/*.sh; do
		[ "$(basename "$t")" = lib.sh ] && continue
		[ -f "$t" ] && run_script "$t" 600 e2e
	done
}
tier_image() {
	local t
	for t in tests/image/*.sh; do
		case $(basename "$t") in lib.sh) continue ;; esac
		run_script "$t" 300 image
	done
}

case $tier in
unit) tier_unit ;;
bpf) tier_bpf ;;
e2e) tier_e2e ;;
all) tier_unit; tier_bpf; tier_e2e ;;
image) tier_image ;;
*) echo "usage: $0 unit|bpf|e2e|all|image" >&2; exit 2 ;;
esac

echo
[ -z "$failed_names" ] || echo "failed:$failed_names"
[ "$skipped" -eq 0 ] || echo "!!! $skipped SKIPPED (each says why above): run as root on a kernel with BPF, netns, IPIP and XDP live frames"
echo "$tier: $passed passed, $failed failed, $skipped skipped ($(($(date +%s) - start_all)) s)"
[ "$failed" -eq 0 ]
