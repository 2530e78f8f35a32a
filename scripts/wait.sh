# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Sourced by scripts/lab.sh and scripts/bench.sh.
# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 if it
# never did within SECONDS × 10 tries.
wait_until() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 10; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	return 1
}
