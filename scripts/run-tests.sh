#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Run one tier of drover's tests (unit | unit-san | fuzz | bpf | bpf-san | e2e |
# e2e-san | all | image) and print a tally. unit and bpf tests are cmocka programs: their own summary lines are
# summed (a test that skips itself, saying why, counts as skipped). e2e and
# image tests are scripts: exit 0 passes, exit 4 is a loud skip (no root or
# kernel support), anything else fails. Each program has a time bound.
# all = unit, unit-san, fuzz, bpf and e2e; image (make test-image) runs alone.
# fuzz: each libFuzzer harness of tests/fuzz (make FUZZ=1, in .output-fuzz) for a
# fixed -seed and -runs over its checked-in corpus: the same inputs every time;
# a sanitizer report, a leak or a value the harness finds wrongly accepted fails it.
# *-san: the same tier on the ASan+UBSan build (make SAN=1, in .output-san; for
# e2e only drover is from it) with options that make any report fail the test:
# a report aborts a cmocka program (its output is in the log), and
# tests/e2e/lib.sh sends drover's reports to files it checks (DROVER_SAN=1).
set -u
cd "$(dirname "$0")/.."
OUT=.output
SAN_OUT=.output-san
FUZZ_OUT=.output-fuzz
FUZZ_SEED=1
SAN_ENV=(ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
	 UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}")
RUN_ENV=()	# set for the *-san tiers
tier=${1:-all}
passed=0 failed=0 skipped=0
failed_names="" start_all=$(date +%s)

run_cmocka() { # $1 = binary, $2 = timeout seconds
	local log rc p f s
	log=$(mktemp)
	timeout --foreground -k 10 "$2" env "${RUN_ENV[@]}" "$1" 2>&1 | tee "$log"
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
	timeout -k 60 "$2" env "${RUN_ENV[@]}" bash "$1" &
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

tier_unit() { # $1 = output directory
	local t
	for t in "$1"/tests/unit/test_*; do [ -x "$t" ] && run_cmocka "$t" 300; done
}
tier_bpf() { # $1 = output directory
	local t
	# test_datapath loads and verifies drover_xdp (~714k instructions) for each of its
	# 125 tests: 94 s on an idle 2-core machine, 256 s seen beside another copy of it.
	for t in "$1"/tests/bpf/test_*; do [ -x "$t" ] && run_cmocka "$t" 600; done
}
tier_e2e() { # $1 = tier name
	local t
	for t in tests/e2e/*.sh; do
		[ "$(basename "$t")" = lib.sh ] && continue
		[ -f "$t" ] && run_script "$t" 600 "$1"
	done
}
# Runs per harness: about 30 s for all of them on a busy 2-core machine (the config
# loader, through libyaml, is the slow one).
fuzz_runs() { # $1 = harness name
	case $1 in
	fuzz_config) echo 60000 ;;
	fuzz_cli) echo 100000 ;;
	*) echo 300000 ;;
	esac
}

run_fuzz() { # $1 = harness binary
	local name corpus tmp rc runs start dict=()
	name=$(basename "$1")
	corpus=tests/fuzz/corpus/${name#fuzz_}
	runs=$(fuzz_runs "$name")
	start=$(date +%s)
	echo "=== fuzz: $name ($runs runs, -seed=$FUZZ_SEED, $corpus)"
	if [ ! -d "$corpus" ]; then
		echo "!!! FAIL: $name: no seed corpus $corpus"
		failed=$((failed + 1)) failed_names="$failed_names $1"
		return
	fi
	[ -f "tests/fuzz/${name#fuzz_}.dict" ] && dict=(-dict="tests/fuzz/${name#fuzz_}.dict")
	tmp=$(mktemp -d)
	mkdir "$tmp/new"
	# New inputs go to $tmp/new (the first directory), never into the checked-in corpus.
	timeout -k 10 300 env ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$1" -seed="$FUZZ_SEED" \
		-runs="$runs" -detect_leaks=1 -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
		-print_final_stats=1 -artifact_prefix="$tmp/" "${dict[@]}" "$tmp/new" "$corpus" \
		>"$tmp/log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "=== PASS: $name ($(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/log") inputs, $(( $(date +%s) - start )) s)"
	else
		failed=$((failed + 1)) failed_names="$failed_names $1"
		grep -v '^#[0-9]' "$tmp/log" | tail -n 60
		for f in "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-*; do
			[ -f "$f" ] || continue
			cp "$f" "$FUZZ_OUT/" && echo "!!! input kept as $FUZZ_OUT/$(basename "$f"); run it again: $1 $FUZZ_OUT/$(basename "$f")"
		done
		echo "!!! FAIL: $name (exit $rc)"
	fi
	rm -rf "$tmp"
}
tier_fuzz() {
	local t n=0
	for t in tests/fuzz/fuzz_*.c; do
		t=$FUZZ_OUT/tests/fuzz/$(basename "$t" .c)
		[ -x "$t" ] || { echo "!!! $t not built: make FUZZ=1 $t (make test-fuzz builds them)" >&2; exit 2; }
		run_fuzz "$t"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || { echo "!!! no harness in tests/fuzz" >&2; exit 2; }
}

# Every test of a *-san tier runs with RUN_ENV; none of its programs may be missing.
san() { # $1 = tier, $2 = a program it needs
	[ -x "$2" ] || { echo "!!! $2 not built: make SAN=1 $2" >&2; exit 2; }
	RUN_ENV=("${SAN_ENV[@]}")
	case $1 in
	unit) tier_unit "$SAN_OUT" ;;
	bpf) tier_bpf "$SAN_OUT" ;;
	e2e) RUN_ENV+=(DROVER="$PWD/$SAN_OUT/drover" DROVER_SAN=1) && tier_e2e e2e-san ;;
	esac
	RUN_ENV=()
}
tier_image() {
	local t
	for t in tests/image/*.sh; do
		case $(basename "$t") in lib.sh) continue ;; esac
		run_script "$t" 300 image
	done
}

case $tier in
unit) tier_unit "$OUT" ;;
unit-san) san unit "$SAN_OUT/tests/unit/test_cli" ;;
fuzz) tier_fuzz ;;
bpf) tier_bpf "$OUT" ;;
bpf-san) san bpf "$SAN_OUT/tests/bpf/test_datapath" ;;
e2e) tier_e2e e2e ;;
e2e-san) san e2e "$SAN_OUT/drover" ;;
all) tier_unit "$OUT"; san unit "$SAN_OUT/tests/unit/test_cli"; tier_fuzz; tier_bpf "$OUT"; tier_e2e e2e ;;
image) tier_image ;;
*) echo "usage: $0 unit|unit-san|fuzz|bpf|bpf-san|e2e|e2e-san|all|image" >&2; exit 2 ;;
esac

echo
[ -z "$failed_names" ] || echo "failed:$failed_names"
[ "$skipped" -eq 0 ] || echo "!!! $skipped SKIPPED (each says why above): run as root on a kernel with BPF, netns, IPIP and XDP live frames"
echo "$tier: $passed passed, $failed failed, $skipped skipped ($(($(date +%s) - start_all)) s)"
[ "$failed" -eq 0 ]
