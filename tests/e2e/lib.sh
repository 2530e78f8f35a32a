# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Shared by every tests/e2e/*.sh: names derived from the test, a private bpffs,
# network namespaces, background processes, and a cleanup that removes all of
# them on any exit. Source it after `set -eu`.

E2E_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DROVER=${DROVER:-$E2E_TOP/.output/drover}
# Short, unique per test: 4 letters of the test's name and the PID (unique
# among running processes, up to 7 digits), so "$T-xy" link names stay within
# the 15 characters the kernel allows.
T=$(basename "$0" .sh | tr -c 'a-z0-9\n' '_' | cut -c1-4)
T="${T}$$"
E2E_TMP=$(mktemp -d "/tmp/drover-e2e-$T.XXXXXX")
BPFFS="$E2E_TMP/bpffs"
E2E_NS=()
E2E_PIDS=()
E2E_CLEANUP_HOOKS=()
# DROVER_SAN=1 (make test-e2e-san: DROVER is the ASan+UBSan build): every report, from any
# drover process (a CLI call whose stderr the test drops or checks, an agent logging to a
# file), goes to a file of its own here, and cleanup fails the test on any. The directory is
# writable by all: some calls run as nobody.
E2E_SAN=""
if [ -n "${DROVER_SAN:-}" ]; then
	E2E_SAN=$(mktemp -d "/tmp/drover-san-$T.XXXXXX")
	chmod 1777 "$E2E_SAN"
	export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}:log_path=$E2E_SAN/asan"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$E2E_SAN/ubsan"
fi

log() { printf '[%s] %s\n' "$T" "$*"; }
fail() { printf '[%s] FAIL: %s\n' "$T" "$*" >&2; exit 1; }
skip() { printf '[%s] SKIP: %s\n' "$T" "$*" >&2; exit 4; }

cleanup() {
	local rc=$? i
	for ((i = ${#E2E_CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do eval "${E2E_CLEANUP_HOOKS[$i]}" || true; done
	for p in "${E2E_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${E2E_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	# Every namespace named after this test, also those made in a $(...) subshell,
	# with whatever this test started inside it.
	local nspids=()
	for ns in "${E2E_NS[@]}" $(ip netns list 2>/dev/null | awk -v p="$T-" 'index($1, p) == 1 {print $1}'); do
		nspids+=($(ip netns pids "$ns" 2>/dev/null || true))
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	# A process killed above may not be gone yet (an agent freeing its maps on
	# a busy machine), and while it holds a file in the private bpffs, umount
	# says busy: wait for them (bounded), then detach the mount lazily if it
	# still is.
	for p in "${nspids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	if mountpoint -q "$BPFFS" 2>/dev/null; then
		umount "$BPFFS" 2>/dev/null || umount -l "$BPFFS" ||
			printf '[%s] cleanup: cannot unmount %s\n' "$T" "$BPFFS" >&2
	fi
	rm -rf "$E2E_TMP"
	if [ -n "$E2E_SAN" ]; then
		for f in "$E2E_SAN"/*; do
			[ -f "$f" ] || continue
			printf '[%s] FAIL: sanitizer report %s:\n' "$T" "$(basename "$f")" >&2
			cat "$f" >&2
			rc=1
		done
		rm -rf "$E2E_SAN"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run "$@" at exit (in reverse order of registration).
on_exit() { E2E_CLEANUP_HOOKS+=("$*"); }

require_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (netns, XDP)"
	[ -x "$DROVER" ] || fail "$DROVER not built: run make"
	ip netns list >/dev/null 2>&1 || skip "no network namespace support"
}

# require_cmds CMD...: each is installed (scripts/install-deps.sh puts them there).
require_cmds() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || fail "$c missing: scripts/install-deps.sh"
	done
}

# A private bpffs for this test; drover is called with --bpffs "$BPFFS".
mount_bpffs() {
	mkdir -p "$BPFFS"
	mount -t bpf bpf "$BPFFS" || skip "cannot mount bpffs"
}

# pin_root_lock [DIR]: hold DIR's lock (default $BPFFS, the private bpffs) as a
# drover command holds its pin root's, until pin_root_unlock (a FIFO on fd 7
# keeps it: no fixed duration; 60 s at most). Start agents with fd 7 closed.
pin_root_lock() {
	local dir=${1:-$BPFFS}
	mkfifo "$E2E_TMP/lock.fifo"
	flock -x "$dir" timeout 60 cat "$E2E_TMP/lock.fifo" >/dev/null &
	LOCK_PID=$!
	E2E_PIDS+=("$LOCK_PID")
	exec 7>"$E2E_TMP/lock.fifo"
	wait_for 5 sh -c "! flock -xn '$dir' true" || fail "flock did not take $dir"
}
pin_root_unlock() {
	exec 7>&-
	wait "$LOCK_PID" || true
	rm -f "$E2E_TMP/lock.fifo"
}

# ns_add NAME: create netns "$T-NAME" (echoes its name), loopback up. Cleanup
# removes every "$T-*" namespace, so calling it in $(...) is safe.
ns_add() {
	local ns="$T-$1"
	ip netns add "$ns"
	E2E_NS+=("$ns")
	ip -n "$ns" link set lo up
	echo "$ns"
}

# veth_up NS1 IF1 NS2 IF2: a veth pair, IF1 in netns NS1 and IF2 in NS2, both up.
veth_up() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# lb_ns_one_veth: a namespace "$T-lb" (its name in LNS) holding a veth pair
# l0/l0p, both up, l0 10.77.0.1/24 forwarding IPv4, and 10.77.9.1 on lo (a
# SNAT address): an agent with one interface to attach and no traffic.
lb_ns_one_veth() {
	LNS=$(ns_add lb)
	ip -n "$LNS" link add l0 type veth peer name l0p
	ip -n "$LNS" addr add 10.77.0.1/24 dev l0
	ip -n "$LNS" link set l0 up
	ip -n "$LNS" link set l0p up
	ip netns exec "$LNS" sysctl -qw net.ipv4.conf.l0.forwarding=1
	ip -n "$LNS" addr add 10.77.9.1/32 dev lo
}

# bg NS CMD...: run CMD in netns NS in the background, remember its PID in $BG_PID.
bg() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@" &
	BG_PID=$!
	E2E_PIDS+=("$BG_PID")
}

# A reload whose config file ($CFG) is a FIFO holds the agent's main loop: it
# blocks in open(2) until the test writes a config into it.
# fifo_hold_init GOOD: FIFO=$E2E_TMP/fifo; whatever happens, a reload blocked
# on it is let go with GOOD before cleanup kills the agent, the config a file
# again first, so that no later reload opens the FIFO.
fifo_hold_init() {
	FIFO=$E2E_TMP/fifo
	FIFO_GOOD=$1
	on_exit fifo_unblock
}
fifo_unblock() {
	[ -p "$FIFO" ] || return 0
	cp "$FIFO_GOOD" "$CFG.new" && mv -f "$CFG.new" "$CFG"
	timeout 5 sh -c "cat '$FIFO_GOOD' >'$FIFO'" 2>/dev/null
	rm -f "$FIFO"
}

# node_echo80 NS: a TCP server on port 80 of NS that answers "node-1" and closes; returns once it listens.
node_echo80() {
	bg "$1" socat -lf /dev/null TCP-LISTEN:80,reuseaddr,fork SYSTEM:'echo node-1'
	wait_for 10 sh -c "ip netns exec $1 ss -Hltn 'sport = :80' | grep -q LISTEN" ||
		fail "the node's server is not listening"
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds or SECONDS of
# wall time have passed (by the clock, to the microsecond: a slow CMD does not
# stretch the bound, and the bound is never shorter than asked).
now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
wait_for() {
	local end=$(($(now_us) + $1 * 1000000))
	shift
	while :; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		[ "$(now_us)" -lt "$end" ] || return 1
		sleep 0.1
	done
}
