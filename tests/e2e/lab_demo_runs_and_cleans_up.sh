#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# `make demo` (scripts/demo.sh): without root it stops with one clear line;
# as root it spreads connections over the three nodes, shows a failed node
# leave (with the agent's log line) and come back, shows counters and a
# bpftool dump, finishes in under a minute of its own time, and leaves no
# namespace, bpffs mount or directory behind; it removes what a demo killed
# outright left.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"

demo=$E2E_TOP/scripts/demo.sh
out=$E2E_TMP/demo.out

# Without root: one line, exit 1, says what to do. The script goes in on stdin
# and runs from /: the checkout may sit in a directory nobody can't enter
# (a clone under mktemp -d is 0700).
if (cd / && setpriv --reuid=65534 --regid=65534 --clear-groups bash -s) <"$demo" >"$out" 2>&1; then
	fail "demo succeeded without root"
fi
[ "$(wc -l <"$out")" -eq 1 ] || fail "demo without root printed more than one line: $(cat "$out")"
grep -q "needs root.*sudo make demo" "$out" || fail "demo without root does not say what to do: $(cat "$out")"
log "without root: $(cat "$out")"

# --help, -h and help: the usage on stdout, exit 0, and no lab; any other word:
# the usage on stderr, exit 2, and no lab (once, `demo.sh --help` ran the demo).
for h in --help -h help; do
	rc=0
	timeout 120 "$demo" $h >"$out" 2>"$E2E_TMP/demo.err" || rc=$?
	[ "$rc" = 0 ] && head -1 "$out" | grep -q "^Usage: " && ! grep -q "^client drdemo" "$out" ||
		fail "'demo.sh $h' exited $rc and printed: $(head -3 "$out") $(head -3 "$E2E_TMP/demo.err")"
done
grep -q "DEMO_N" "$out" && grep -q "DEMO_CLI" "$out" || fail "'demo.sh help' does not name DEMO_N and DEMO_CLI: $(cat "$out")"
rc=0
timeout 120 "$demo" frob >"$out" 2>"$E2E_TMP/demo.err" || rc=$?
[ "$rc" = 2 ] && grep -q "'frob'" "$E2E_TMP/demo.err" && grep -q "^Usage: " "$E2E_TMP/demo.err" ||
	fail "'demo.sh frob' exited $rc and printed: $(head -3 "$out") $(head -3 "$E2E_TMP/demo.err")"

# Each step's [+S.Ds] stamp is one reading of the clock: seconds and tenths
# from two readings said [+16.0s] at 16.99 s (after a [+16.7s] step). The
# demo's own step() runs here with a clock that reads 1999 ms, then 2000 ms.
eval "$(grep '^step() {' "$demo")"
printf '1999\n2000\n' >"$E2E_TMP/clock"
now_ms() { local v; v=$(head -1 "$E2E_TMP/clock"); sed -i 1d "$E2E_TMP/clock"; echo "${v:-2000}"; }
DEMO_T0=0
got=$(step "x")
case $got in *"[+1.9s]"*) ;; *) fail "step at 1999 ms printed '$(tr -d '\n\033' <<<"$got")', not [+1.9s]" ;; esac

# A demo killed outright (SIGKILL, a lost session) leaves its lab: namespaces,
# nginx, a bpffs whose pins keep drover's maps loaded. The next demo removes
# it and says so. Here such a lab, of a PID that no longer runs.
sh -c 'exit 0' &
gone_pid=$!
wait "$gone_pid"
old=drdemo$gone_pid old_dir=/tmp/drover-demo-$gone_pid
on_exit "LAB_PREFIX=$old LAB_DIR=$old_dir '$E2E_TOP/scripts/lab.sh' down >/dev/null 2>&1; umount $old_dir-bpffs 2>/dev/null; rmdir $old_dir-bpffs 2>/dev/null"
LAB_PREFIX=$old LAB_DIR=$old_dir LAB_QUIET=1 "$E2E_TOP/scripts/lab.sh" up || fail "could not make $old's lab"
mkdir "$old_dir-bpffs"
mount -t bpf bpf "$old_dir-bpffs"
old_pids="$(cat "$old_dir"/n*/nginx.pid "$old_dir"/n*/echo.pid | tr '\n' ' ')"

# As root, N connections per round (less than the default to save time).
# On failure, the whole demo output goes to stderr ($rc is cleanup()'s local).
on_exit '[ "${rc:-0}" -eq 0 ] || { echo "----- demo output:"; cat "$out"; } >&2'
DEMO_N=150 timeout 300 "$demo" >"$out" 2>&1 || fail "demo failed: $(tail -20 "$out")"
grep -q "earlier demo (pid $gone_pid) .*removed" "$out" ||
	fail "demo did not say it removed the lab $old left: $(head -3 "$out" | tr '\n' ' ')"
left=""
for r in cl lb sw n1 n2 n3; do [ ! -e "/run/netns/$old-$r" ] || left="$left netns $old-$r"; done
for f in "$old_dir" "$old_dir-bpffs"; do [ ! -e "$f" ] || left="$left $f"; done
for p in $old_pids; do
	wait_for 10 sh -c "! kill -0 $p 2>/dev/null || ps -o stat= -p $p | grep -q ^Z" || left="$left pid $p"
done
[ -z "$left" ] || fail "demo left what the earlier demo (pid $gone_pid) left:$left"
log "$(grep "earlier demo (pid $gone_pid)" "$out")"
prefix=$(sed -n 's/^client \([a-z0-9]*\)-cl .*/\1/p' "$out")
[ -n "$prefix" ] || fail "demo output does not name its lab"
on_exit "LAB_PREFIX=$prefix '$E2E_TOP/scripts/lab.sh' down >/dev/null 2>&1"

rounds=$(grep -c "150 connections to .* 150 answered, 0 failed" "$out" || true)
[ "$rounds" -eq 4 ] || fail "expected 4 spread rounds with 0 failed, got $rounds: $(grep connections "$out")"
down_round=$(grep -A3 "with n2 down" "$out")
grep -q "n2    0" <<<"$down_round" || fail "n2 still got connections while down: $down_round"
grep -q "agent: .*service rancher: node 10.0.2.12 .*DOWN" "$out" || fail "no agent log line for n2 going down"
# Detection and rejoin times count from the moment n2's servers are told to
# stop / start (the agent's log time): fall 2 and rise 2 checks run 0.9-1 s
# apart, so neither can be under 900 ms. Counted from when node-stop had
# seen the processes exit, the demo once printed "detected down 213 ms".
down_ms=$(sed -n 's/^n2 detected down \([0-9]*\) ms after its servers were told to stop .*/\1/p' "$out")
up_ms=$(sed -n 's/^n2 back up \([0-9]*\) ms after its servers were told to start .*/\1/p' "$out")
[ -n "$down_ms" ] && [ -n "$up_ms" ] ||
	fail "no detection or rejoin time counted from the stop / start: $(grep '^n2 ' "$out" | tr '\n' ' ')"
[ "$down_ms" -ge 900 ] || fail "n2 detected down $down_ms ms after the stop: 2 checks 0.9-1 s apart take 900 ms or more"
[ "$up_ms" -ge 900 ] || fail "n2 back up $up_ms ms after the start: 2 checks 0.9-1 s apart take 900 ms or more"
grep -q "agent: .*service rancher: node 10.0.2.12 .*UP" "$out" || fail "no agent log line for n2 coming back"
grep -q '"table_size": 65537' "$out" || fail "no bpftool dump with BTF field names"
grep -q "xdp_redirect" "$out" || fail "drover stats shows no xdp_redirect"
# The stamps never go back.
stamps=$(sed -n 's/.*\[+\([0-9]*\)\.\([0-9]\)s\]$/\1\2/p' "$out" | tr '\n' ' ')
awk -v s="$stamps" 'BEGIN { n = split(s, a, " "); for (i = 2; i <= n; i++) if (a[i] + 0 < a[i - 1] + 0) exit 1 }' ||
	fail "step stamps go back (tenths of a second): $stamps"
ms=$(sed -n 's/^demo done in \([0-9]*\) ms/\1/p' "$out")
log "demo: $(grep -e 'detected down' -e 'back up' "$out" | tr '\n' ' ')"
log "demo ran in $ms ms"
[ "$ms" -lt 60000 ] || log "WARNING: demo took more than a minute ($ms ms) on this (busy?) machine"

for r in cl lb sw n1 n2 n3; do
	[ ! -e "/run/netns/$prefix-$r" ] || fail "demo left namespace $prefix-$r"
done
pid=${prefix#drdemo}
[ ! -e "/tmp/drover-demo-$pid" ] || fail "demo left /tmp/drover-demo-$pid"
[ ! -e "/tmp/drover-demo-$pid-bpffs" ] || fail "demo left /tmp/drover-demo-$pid-bpffs"

# DEMO_CLI=1 shows the drover commands it runs in place of the agent: each one
# shown ("+ drover ...") must work when typed as shown (once, a backend add was
# shown as one command with the nodes in braces, which bash expands into words
# the CLI refuses), and nothing may say the agent is missing from the build.
DEMO_CLI=1 DEMO_N=20 timeout 300 "$demo" >"$out" 2>&1 || fail "DEMO_CLI=1 demo failed: $(tail -20 "$out")"
! grep -q "not in this build" "$out" || fail "DEMO_CLI=1 says the agent is not built: $(grep "not in this build" "$out")"
sed -n 's/^+ //p' "$out" >"$E2E_TMP/cmds"
grep -q "backend add" "$E2E_TMP/cmds" && grep -q "backend set" "$E2E_TMP/cmds" ||
	fail "DEMO_CLI=1 shows no backend add or set: $(cat "$E2E_TMP/cmds")"
mount_bpffs
ns_add rp >/dev/null
ip -n "$T-rp" link add eth0 type veth peer name eth1
ip -n "$T-rp" link set eth0 up
ip -n "$T-rp" link set eth1 up
while read -r c; do
	# shellcheck disable=SC2016 # $@ and the command are expanded by the inner bash
	ip netns exec "$T-rp" env D="$DROVER" R="$BPFFS/replay" \
		bash -ec 'drover() { "$D" --bpffs "$R" "$@"; }; '"$c" \
		>/dev/null 2>"$E2E_TMP/replay.err" ||
		fail "DEMO_CLI=1 showed '+ $c', which fails when typed: $(grep -v '^Note:\|^Warning:' "$E2E_TMP/replay.err")"
done <"$E2E_TMP/cmds"
log "DEMO_CLI=1: $(wc -l <"$E2E_TMP/cmds") commands shown, each runs as shown"

# Ctrl-C: SIGINT to the demo's whole process group, as a terminal sends it, in
# the middle of the run and once it says "demo done" (its teardown then runs;
# a Ctrl-C there once cut the teardown short and left the whole lab running).
# python3 restores SIGINT: a script started in the background (the test runner)
# inherits it ignored, and bash then cannot trap it.
live=""
for when in "== failure" "demo done in"; do
	: >"$out"
	DEMO_N=20 python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])' "$demo" >"$out" 2>&1 &
	dpid=$!
	live=$dpid
	on_exit "LAB_PREFIX=drdemo$dpid LAB_DIR=/tmp/drover-demo-$dpid '$E2E_TOP/scripts/lab.sh' down >/dev/null 2>&1; umount /tmp/drover-demo-$dpid-bpffs 2>/dev/null; rmdir /tmp/drover-demo-$dpid-bpffs 2>/dev/null"
	# Run first at exit: a demo still running (its PID in $live) is killed with its group.
	on_exit '[ -z "$live" ] || kill -9 -- -"$live" 2>/dev/null'
	wait_for 120 grep -q "$when" "$out" || fail "demo never printed '$when': $(tail -5 "$out")"
	kill -INT -- -"$dpid" 2>/dev/null || true
	wait_for 60 sh -c "! kill -0 $dpid 2>/dev/null || ps -o stat= -p $dpid | grep -q ^Z" ||
		fail "demo still running 60 s after Ctrl-C at '$when'"
	drc=0
	wait "$dpid" || drc=$?
	live=""
	left=""
	for r in cl lb sw n1 n2 n3; do [ ! -e "/run/netns/drdemo$dpid-$r" ] || left="$left netns drdemo$dpid-$r"; done
	for f in "/tmp/drover-demo-$dpid" "/tmp/drover-demo-$dpid-bpffs"; do [ ! -e "$f" ] || left="$left $f"; done
	left="$left$(pgrep -f "/tmp/drover-demo-$dpid[/-]" | sed 's/^/ pid /' | tr -d '\n')"
	[ -z "$left" ] || fail "Ctrl-C at '$when' (demo exit $drc) left:$left"
	# Mid-run, a Ctrl-C is no failure of the demo: it says it was interrupted.
	[ "$when" != "== failure" ] || grep -q "^demo: interrupted; the lab was removed" "$out" ||
		fail "Ctrl-C at '$when' said: $(tail -2 "$out" | tr '\n' ' ')"
	log "Ctrl-C at '$when': demo exit $drc, nothing left"
done
log "PASS: demo ran and removed its lab"
