#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# `make demo`: drover in front of three "Rancher nodes" on a namespace lab
# (scripts/lab.sh). Starts the agent with a Rancher-style config, spreads
# connections, fails a node and brings it back, shows counters, tears down.
# DEMO_N connections per round (default 300). DEMO_CLI=1 drives the CLI
# instead of the agent (health changes are then made by hand).
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
DROVER=${DROVER:-$TOP/.output/drover}
LAB=$TOP/scripts/lab.sh
LBTOOL=$TOP/tests/tools/lbtool.py
# The distribution python starts faster than version-manager shims (pyenv).
PYTHON=${PYTHON:-$(if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else echo python3; fi)}
N=${DEMO_N:-300}
export LAB_PREFIX=drdemo$$ LAB_QUIET=1
export LAB_DIR=/tmp/drover-demo-$$
BPFFS=$LAB_DIR-bpffs
AGENT_PID=

die() { echo "demo: $*" >&2; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
DEMO_T0=$(now_ms)
# One reading of the clock: seconds and tenths from two said [+16.0s] at 16.99 s.
step() { local t=$(($(now_ms) - DEMO_T0)); printf '\n\033[1m== %s\033[0m  [+%d.%ds]\n' "$*" $((t / 1000)) $((t % 1000 / 100)); }

usage() {
	cat <<EOF
Usage: scripts/demo.sh        (or: sudo make demo, which builds first)
Runs drover in front of three "Rancher nodes" on a network-namespace lab of its own
(scripts/lab.sh): starts the agent with a Rancher-style config, spreads connections
through the VIP, stops a node's servers and starts them again, shows counters, then
removes everything (also on Ctrl-C or a failure). Needs root; touches nothing outside
the namespaces it creates.
Environment: DEMO_N connections per round (default 300); DEMO_CLI=1 drives the CLI
(attach, service add, backend add) instead of the agent; DROVER the binary (default
.output/drover).
Exit status: 0 done, 1 failed (the message says why), 2 usage error, 130 interrupted.
EOF
}
case ${1-} in
"") ;;
-h | --help | help) usage; exit 0 ;;
*) { echo "demo: what is '$1'? it takes no arguments"; usage; } >&2; exit 2 ;;
esac

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, XDP, bpffs); run: sudo make demo"
[ -x "$DROVER" ] || die "$DROVER is not built; run: make"
[ -r /sys/kernel/btf/vmlinux ] || die "this kernel has no BPF/BTF support (/sys/kernel/btf/vmlinux missing)"
for c in nginx python3 jq curl bpftool; do
	command -v $c >/dev/null || die "'$c' not found; run: scripts/install-deps.sh"
done

cleanup() {
	local rc=$?
	# A Ctrl-C here (a second one, or the first during the teardown) would end
	# this trap halfway and leave the lab running: the teardown is bounded.
	trap '' INT TERM
	if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
		kill "$AGENT_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$AGENT_PID" 2>/dev/null || true
	fi
	"$LAB" down >/dev/null 2>&1 || true
	if mountpoint -q "$BPFFS" 2>/dev/null; then umount "$BPFFS" || true; fi
	rmdir "$BPFFS" 2>/dev/null || true
	# Status 0 before the end: a SIGINT or SIGTERM ended the run (bash runs
	# this EXIT trap, then dies of the signal).
	if [ "$rc" -eq 0 ] && [ -z "$DEMO_DONE" ]; then
		echo "demo: interrupted; the lab was removed" >&2
		exit 130
	fi
	[ "$rc" -eq 0 ] || echo "demo: failed (exit $rc); the lab was removed" >&2
	exit $rc
}
# No INT or TERM trap: bash 5.2 parses a trap's text where the signal finds
# it, and a signal that lands while it expands a $(...) makes that parse fail
# ("interrupt trap: line 2: unexpected EOF while looking for matching `)'",
# exit 2, seen in 26 of 40 Ctrl-Cs of a loop like the failure step's). The
# EXIT trap alone runs on those signals, without that failure.
DEMO_DONE=
trap cleanup EXIT

# A demo killed outright (SIGKILL, a lost session) could not run its cleanup:
# its lab stays up, with nginx, and a bpffs whose pins keep drover's program
# and maps (hundreds of MB) loaded. Remove what demos that no longer run left.
remove_stale() {
	local pid dir apid _
	for pid in $( { ip netns list | sed -n 's/^drdemo\([0-9][0-9]*\)-.*/\1/p'
		ls -d /tmp/drover-demo-* 2>/dev/null | sed -n 's|^/tmp/drover-demo-\([0-9][0-9]*\)\(-bpffs\)\{0,1\}$|\1|p'; } | sort -u); do
		[ "$pid" != $$ ] || continue
		{ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q 'demo\.sh' && continue # still running
		dir=/tmp/drover-demo-$pid
		# Its agent, if it still runs (only the demo's shell was killed): by the PID
		# it wrote, if that process still names the demo's directory.
		apid=$(cat "$dir/agent.pid" 2>/dev/null || true)
		if [ -n "$apid" ] && { tr '\0' ' ' <"/proc/$apid/cmdline"; } 2>/dev/null | grep -qF "$dir/"; then
			kill "$apid" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$apid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$apid" 2>/dev/null || true
		fi
		LAB_PREFIX=drdemo$pid LAB_DIR=$dir "$LAB" down >/dev/null 2>&1 || true
		if mountpoint -q "$dir-bpffs" 2>/dev/null; then umount "$dir-bpffs" || true; fi
		rmdir "$dir-bpffs" 2>/dev/null || true
		if ip netns list | grep -q "^drdemo$pid-" || [ -e "$dir" ] || [ -e "$dir-bpffs" ]; then
			echo "demo: an earlier demo (pid $pid) did not finish and its lab could not be removed: run scripts/lab.sh -p drdemo$pid -d $dir down; umount $dir-bpffs" >&2
		else
			echo "demo: an earlier demo (pid $pid) did not finish; removed its lab drdemo$pid (namespaces, servers, $dir-bpffs)"
		fi
	done
}
remove_stale

start=$(now_ms)
step "lab: client, balancer, 3 Rancher nodes (nginx on 80, 443 and 6443)"
"$LAB" up || die "scripts/lab.sh up failed"
# shellcheck disable=SC1091
. "$LAB_DIR/lab.env"
mkdir -p "$BPFFS"
mount -t bpf bpf "$BPFFS" || die "cannot mount a bpffs on $BPFFS: does the kernel have CONFIG_BPF_SYSCALL?"
echo "client $LAB_NS_CL ($LAB_CL4) → VIP $LAB_VIP4 / $LAB_VIP6 → balancer $LAB_NS_LB → nodes $LAB_NODES4"

drv() { ip netns exec "$LAB_NS_LB" "$DROVER" --bpffs "$BPFFS" "$@"; }
node() { echo $LAB_NODES4 | cut -d' ' -f"$1"; }
be_state() { # VIP PORT ADDR
	drv -j backend show "$1" port "$2" 2>/dev/null |
		jq -r --arg a "$3" '[.. | objects | select(.address? == $a) | .state] | first // "absent"'
}
# Bounded by the clock, not by a count of polls: each poll runs drover and jq,
# and on a busy machine 400 of them took over 60 s for a "20 s" wait. An agent
# that exited ends the wait at once: with status 0 it was stopped by a signal,
# a Ctrl-C that reached it (bash goes on when a child it waited for handled the
# SIGINT itself), and the demo ends as interrupted (cleanup).
wait_state() { # SECONDS ADDR STATE  (rancher :80 IPv4)
	local end=$(($(now_ms) + $1 * 1000)) arc=0
	while [ "$(now_ms)" -lt "$end" ]; do
		[ "$(be_state "$LAB_VIP4" 80 "$2")" = "$3" ] && return 0
		if [ -n "$AGENT_PID" ] && ! kill -0 "$AGENT_PID" 2>/dev/null; then
			wait "$AGENT_PID" || arc=$?
			AGENT_PID=
			[ "$arc" -ne 0 ] || exit 0
			die "the agent exited (status $arc) while waiting for $2 to be $3; its log: $(tail -5 "$LAB_DIR/agent.log")"
		fi
		sleep 0.05
	done
	return 1
}

mode=agent
[ -z "${DEMO_CLI:-}" ] || mode=cli
# cli mode: show each drover command as typed ("+ drover ..."), then run it
say_drv() { echo "+ drover $*"; drv "$@"; }

CFG=$LAB_DIR/drover.yaml
cat >"$CFG" <<EOF
# Rancher-style drover config (generated by scripts/demo.sh)
interfaces: [eth0, eth1]
metrics:
  listen: 127.0.0.1:9469
defaults:
  mode: nat
services:
  - name: rancher
    vip: $LAB_VIP4
    ports: [80, 443]
    snat: $LAB_SNAT4
    health:
      preset: rancher          # GET /healthz on :80, expect 200
      interval: 1s
      timeout: 500ms
      fall: 2
      rise: 2
    nodes: [$(echo $LAB_NODES4 | sed 's/ /, /g')]
  - name: rancher-v6
    vip: $LAB_VIP6
    ports: [80, 443]
    snat: $LAB_SNAT6
    health: { preset: rancher, interval: 1s, timeout: 500ms, fall: 2, rise: 2 }
    nodes: [$(echo $LAB_NODES6 | sed 's/ /, /g')]
  - name: kube-api
    vip: $LAB_VIP4
    ports: [6443]
    snat: $LAB_SNAT4
    health: { preset: kube-apiserver, interval: 1s, timeout: 500ms, fall: 2, rise: 2 }
    nodes: [$(echo $LAB_NODES4 | sed 's/ /, /g')]
EOF

if [ $mode = agent ]; then
	step "agent: drover run config $CFG"
	sed 's/^/  | /' "$CFG"
	ip netns exec "$LAB_NS_LB" "$DROVER" --bpffs "$BPFFS" run config "$CFG" >"$LAB_DIR/agent.log" 2>&1 &
	AGENT_PID=$!
	echo "$AGENT_PID" >"$LAB_DIR/agent.pid" # for a later demo, should this one be killed
	for n in 1 2 3; do
		wait_state 30 "$(node $n)" up ||
			die "agent did not bring node $(node $n) up in 30 s; its log: $(tail -5 "$LAB_DIR/agent.log")"
	done
	sed 's/^/  agent: /' "$LAB_DIR/agent.log" | head -12
else
	step "CLI mode (DEMO_CLI=1, no agent, no health checks): drover attach / service add / backend add"
	for i in $LAB_LB_IFACES; do say_drv attach "$i"; done
	for s in "$LAB_VIP4 port 80 snat $LAB_SNAT4" "$LAB_VIP4 port 443 snat $LAB_SNAT4" \
		"$LAB_VIP4 port 6443 snat $LAB_SNAT4" "$LAB_VIP6 port 80 snat $LAB_SNAT6"; do
		set -- $s
		say_drv service add "$1" port "$3" mode nat snat "$5"
		case $1 in *:*) nodes=$LAB_NODES6 ;; *) nodes=$LAB_NODES4 ;; esac
		echo "+ for a in $nodes; do drover backend add $1 port $3 \$a; done"
		for a in $nodes; do drv backend add "$1" port "$3" "$a"; done
	done
fi
drv backend show "$LAB_VIP4" port 80 || true

# show_spread ADDR PORT TITLE: N connections, a bar per node.
show_spread() {
	local out n c bar
	out=$(ip netns exec "$LAB_NS_CL" "$PYTHON" "$LBTOOL" spread --addr "$1" --port "$2" -n "$N") ||
		die "client could not run lbtool spread to $1:$2"
	echo "$3: $N connections to $1:$2, $(jq .ok <<<"$out") answered, $(jq .failed <<<"$out") failed"
	[ "$(jq .failed <<<"$out")" -eq 0 ] || echo "  errors: $(jq -c .errors <<<"$out")"
	for n in n1 n2 n3; do
		c=$(jq -r --arg n "$n" '.nodes[$n] // 0' <<<"$out")
		bar=$(printf '%*s' $((c * 50 / N)) '' | tr ' ' '#')
		printf '  %s %4d %s\n' "$n" "$c" "$bar"
	done
}

step "spread: $N short connections from the client through the VIP"
show_spread "$LAB_VIP4" 80 "IPv4"
show_spread "$LAB_VIP6" 80 "IPv6"
echo "TLS passes through untouched (the node terminates it):"
for url in https://drover.lab/ https://drover.lab/ https://drover.lab:6443/readyz https://drover.lab:6443/; do
	printf '  %-32s → %s\n' "$url" "$(ip netns exec "$LAB_NS_CL" curl -s -m 3 --cacert "$LAB_TLS_CRT" \
		--resolve "drover.lab:443:$LAB_VIP4" --resolve "drover.lab:6443:$LAB_VIP4" "$url" || echo FAILED)"
done

step "failure: stop node n2's servers"
# Times count from the moment the servers are told to stop (start): they stop
# (start) listening after it, never before, so no measurement is too short.
# node-stop returns only once the processes have exited, which can take longer
# than the agent's two failed checks.
log_ms() { date -d "${1%% *}" +%s%3N; } # the agent's time stamp of log LINE
log_len() { if [ -f "$LAB_DIR/agent.log" ]; then wc -l <"$LAB_DIR/agent.log"; else echo 0; fi; }
agent_line() { # DOWN|UP N: the agent's first log line after line N saying n2 went so (waits up to 5 s)
	local _
	for _ in $(seq 50); do
		tail -n +$(($2 + 1)) "$LAB_DIR/agent.log" | grep -m1 "service rancher: node $(node 2) .*$1" && return
		sleep 0.1
	done
	die "the agent logged no '$1' line for n2 ($(node 2)) in $LAB_DIR/agent.log"
}
n0=$(log_len) t0=$(now_ms)
"$LAB" node-stop 2
if [ $mode = agent ]; then
	# failing: out of the table, its open connections held for rehash-after (10 s), then down
	wait_state 20 "$(node 2)" failing || die "agent did not take n2 out of the table in 20 s"
	t1=$(now_ms)
	line=$(agent_line DOWN "$n0")
	echo "  agent: $line"
	echo "n2 detected down $(($(log_ms "$line") - t0)) ms after its servers were told to stop (agent's log time; fall 2 checks 0.9-1 s apart + timeout 500ms: 900-2500 ms); \`drover backend show\` said failing (out of the table; its open connections stay 10 s, rehash-after) after $((t1 - t0)) ms"
else
	echo "# by hand: no agent checks the nodes"
	say_drv backend set "$LAB_VIP4" port 80 "$(node 2)" down
	say_drv backend set "$LAB_VIP6" port 80 "$(echo $LAB_NODES6 | cut -d' ' -f2)" down
fi
show_spread "$LAB_VIP4" 80 "IPv4 with n2 down"

step "recovery: start node n2's servers again"
n0=$(log_len) t0=$(now_ms)
"$LAB" node-start 2 # returns once nginx and the echo server listen again
if [ $mode = agent ]; then
	wait_state 20 "$(node 2)" up || die "agent did not bring n2 back in 20 s"
	t1=$(now_ms)
	line=$(agent_line UP "$n0")
	echo "  agent: $line"
	echo "n2 back up $(($(log_ms "$line") - t0)) ms after its servers were told to start (agent's log time; rise 2 checks 0.9-1 s apart once they listen: 900-2000 ms after that); \`drover backend show\` said up after $((t1 - t0)) ms"
else
	say_drv backend set "$LAB_VIP4" port 80 "$(node 2)" up
	say_drv backend set "$LAB_VIP6" port 80 "$(echo $LAB_NODES6 | cut -d' ' -f2)" up
fi
show_spread "$LAB_VIP4" 80 "IPv4 with n2 back"

step "drover status"
drv status || true
step "drover stats"
drv stats | grep -v "packets 0 bytes 0$" || true   # zero global counters left out
step "bpftool map dump pinned $BPFFS/drv_svcs_v1 (the services, with BTF field names)"
ip netns exec "$LAB_NS_LB" bpftool map dump pinned "$BPFFS/drv_svcs_v1" 2>&1 | head -29 || true
echo "   ... (first of $(ip netns exec "$LAB_NS_LB" bpftool -j map dump pinned "$BPFFS/drv_svcs_v1" | jq length) services shown)"
step "bpftool map lookup pinned $BPFFS/drv_best_v1 key 1 (backend 1, per CPU)"
ip netns exec "$LAB_NS_LB" bpftool map lookup pinned "$BPFFS/drv_best_v1" key 1 0 0 0 2>&1 | head -30 ||
	true

step "teardown"
echo "demo done in $(($(now_ms) - start)) ms"
DEMO_DONE=1
