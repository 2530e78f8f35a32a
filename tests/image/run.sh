#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# make test-image: run every tests/image/*.sh but this one and lib.sh, with the e2e rules
# (exit 0 pass, 4 loud skip, else fail), each bounded in time, and print a tally.
set -u
cd "$(dirname "$0")/../.."
passed=0 failed=0 skipped=0 failed_names="" start_all=$(date +%s)
for t in tests/image/*.sh; do
	case $(basename "$t") in run.sh | lib.sh) continue ;; esac
	start=$(date +%s)
	echo "=== image: $t"
	timeout --foreground -k 10 300 bash "$t"
	rc=$?
	case $rc in
	0) passed=$((passed + 1)); echo "=== PASS: $t ($(($(date +%s) - start)) s)" ;;
	4) skipped=$((skipped + 1)); echo "!!! SKIPPED: $t" ;;
	*) failed=$((failed + 1)); failed_names="$failed_names $t"; echo "!!! FAIL: $t (exit $rc)" ;;
	esac
done
echo
[ -z "$failed_names" ] || echo "failed:$failed_names"
[ "$skipped" -eq 0 ] || echo "!!! $skipped image test(s) SKIPPED: run as root with the CLI, agent and data path built"
echo "image: $passed passed, $failed failed, $skipped skipped ($(($(date +%s) - start_all)) s)"
[ "$failed" -eq 0 ]
