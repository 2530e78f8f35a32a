#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The agent runs for months: whatever it does over and over must give back
# what it takes. With the agent on a namespace lab, this drives, bounded in
# count and time, everything that allocates: reloads (SIGHUP) adding and
# removing services, nodes and an interface, switching health kinds (tcp,
# http, https, tls), timings, leave-after and the metrics address; reloads
# refused (port 0, a YAML syntax error, a missing CA file, an unknown key);
# nodes failing and recovering (a timeout: a hung server or an address no
# host has; a refused connection; HTTP 500; a TLS handshake with a plain
# HTTP server; a certificate for another name); an interface deleted and
# re-created, or renamed and renamed back; and the HTTP endpoint scraped all
# along (tests/tools/http_churn.py: whole requests, a second request on the
# same connection when the server keeps it, clients that send nothing, half a
# request, or leave mid-answer, and more idle ones than the server keeps). After a warm-up, at a quiet moment (the same
# config, no check or HTTP connection in flight), it records the agent's open
# fds by kind, threads, RssAnon, how many BPF programs, maps and links it
# holds and drover's pins under its pin root; after the cycles, at the same
# kind of moment, fds, threads, BPF objects and pins must be exactly as
# before and RssAnon within RSS_SLACK_KB. The agent must exit 0 on SIGTERM; with
# the sanitized build (make test-e2e-san, or DROVER=.output-san/drover
# DROVER_SAN=1) lib.sh fails the test on any report, LeakSanitizer's at exit
# included, and RssAnon is not judged (ASan's quarantine holds freed memory).
#
#   balancer ns: the agent on la (10.78.0.1/24) and lb (no address); snat 10.78.9.1 on lo
#   node ns:     n0 10.78.0.2 (A), .3 (B), .4 (R: nothing listens) -- la;  nb -- lb
#                A and B: tests/tools/agent_node.py HTTP on 8080, HTTPS on 8443
#   10.78.0.6 (H) is no host's: a check of it times out.
set -eu
. "$(dirname "$0")/lib.sh"
require_root
require_cmds jq curl openssl ss
mount_bpffs

# Bounds: cycles and wall time of the main phase (the whole test takes about 30 s more).
CYCLES=${SOAK_CYCLES:-150} SECONDS_MAX=${SOAK_SECONDS:-60} WARMUP=8
# RssAnon may grow by this much from the warm-up to the end: see the note at the check.
RSS_SLACK_KB=${SOAK_RSS_SLACK_KB:-2048}
PYTHON=${PYTHON:-$(if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else echo python3; fi)}
NODE_PY=$E2E_TOP/tests/tools/agent_node.py
CHURN_PY=$E2E_TOP/tests/tools/http_churn.py

for r in lb n1; do ns_add "$r" >/dev/null; done
LNS=$T-lb N1=$T-n1
A=10.78.0.2 B=10.78.0.3 R=10.78.0.4 H=10.78.0.6 SNAT=10.78.9.1
veth_up "$LNS" la "$N1" n0
ip -n "$LNS" addr add 10.78.0.1/24 dev la
ip -n "$LNS" addr add "$SNAT/32" dev lo
ip netns exec "$LNS" sysctl -qw net.ipv4.conf.all.forwarding=1
for a in $A $B $R; do ip -n "$N1" addr add "$a/24" dev n0; done
lb_link() { veth_up "$LNS" lb "$N1" nb; }
lb_link

CRT=$E2E_TMP/tls.crt KEY=$E2E_TMP/tls.key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=soak.test -addext subjectAltName=DNS:soak.test -keyout "$KEY" -out "$CRT" \
	2>/dev/null || fail "openssl could not make a certificate in $E2E_TMP"
# Node servers: hX/sX.mode say how A's and B's HTTP/HTTPS servers answer (200, 500, hang).
for x in A B; do
	addr=$A
	[ $x = A ] || addr=$B
	echo 200 >"$E2E_TMP/h$x.mode"
	echo 200 >"$E2E_TMP/s$x.mode"
	bg "$N1" "$PYTHON" "$NODE_PY" --addr "$addr" --port 8080 --name "$x" \
		--mode-file "$E2E_TMP/h$x.mode"
	bg "$N1" "$PYTHON" "$NODE_PY" --addr "$addr" --port 8443 --name "$x" \
		--mode-file "$E2E_TMP/s$x.mode" --cert "$CRT" --key "$KEY"
done
node_listens() { ip netns exec "$N1" ss -Htln "sport = :$2" | awk '{print $4}' | grep -qxF "$1:$2"; }
for a in $A $B; do
	for p in 8080 8443; do
		wait_for 20 node_listens "$a" "$p" || fail "agent_node.py did not listen on $a:$p"
	done
done
modes() { # hA hB sA sB
	echo "$1" >"$E2E_TMP/hA.mode"
	echo "$2" >"$E2E_TMP/hB.mode"
	echo "$3" >"$E2E_TMP/sA.mode"
	echo "$4" >"$E2E_TMP/sB.mode"
}

CFG=$E2E_TMP/drover.yaml LOG=$E2E_TMP/agent.log PORT_FILE=$E2E_TMP/metrics.port
# write_cfg N: the N-th good config (N = quiet: the one both measurements are made under).
# Each service's check kind, timing and nodes, the service set, the interfaces
# and the metrics port follow N, so that successive reloads change them all.
write_cfg() {
	local n=$1 iv to fall rise leave rehash ifs mport web api tlsc raw sni tport rport quiet=0
	if [ "$n" = quiet ]; then
		quiet=1 n=0
	fi
	iv=$((100 + n % 3 * 100))ms to=$((30 + n % 4 * 20))ms
	fall=$((1 + n % 2)) rise=$((1 + n / 2 % 2))
	leave=$([ $((n % 2)) = 1 ] && echo 1s || echo 0) rehash=$([ $((n % 3)) = 0 ] && echo 0 || echo 300ms)
	ifs=$([ $((n % 10)) = 7 ] && echo "[la]" || echo "[la, lb]")
	# none that exists: both detached, the maps unpinned; the next config pins new ones
	[ $((n % 40)) != 20 ] || ifs="[lz]"
	mport=$([ $((n / 7 % 2)) = 1 ] && echo 9492 || echo 9491)
	web="[$A, $B, $R, $H]"
	[ $((n % 4)) = 1 ] && web="[$B, $H]"
	[ $((n % 4)) = 3 ] && web="[$A, $R]"
	sni=soak.test tport=8443 rport=8080
	[ $((n % 5)) = 3 ] && sni=other.test # verification fails: the certificate is soak.test's
	[ $((n % 4)) = 2 ] && tport=8080 # TLS to a plain HTTP server: the handshake fails
	[ $((n % 3)) = 1 ] && rport=9 # nothing listens: refused
	api=$((n % 6 != 3)) tlsc=$((n % 2 == 1 || n % 6 == 0)) raw=$((n % 3 != 1 || n % 4 == 0))
	if [ $quiet = 1 ]; then
		# Every node answers, checks 20 s apart: for ~19 s after a round none is in flight.
		iv=20s to=2s fall=1 rise=1 leave=0 rehash=0 ifs="[la, lb]" mport=9491
		web="[$A, $B]" sni=soak.test tport=8443 rport=8080 api=1 tlsc=1 raw=1
	fi
	{
		cat <<EOF
interfaces: $ifs
metrics: {listen: 127.0.0.1:$mport}
timeouts: {tcp-idle: $((60 + n % 5))s}
defaults:
  health: {interval: $iv, timeout: $to, rise: $rise, fall: $fall, jitter: $((quiet ? 0 : 10)), rehash-after: $rehash, leave-after: $leave}
services:
  - name: web
    vip: 10.99.0.10
    ports: [80$([ $((n % 4)) = 1 ] && echo ", 8080")]
    mode: dsr
    health: {kind: http, port: 8080, path: /healthz, expect: [200, 204]}
    nodes: $web
EOF
		[ "$api" = 0 ] || cat <<EOF
  - name: api
    vip: 10.99.0.11
    ports: [6443]
    mode: nat
    snat: $SNAT
    health: {kind: https, port: 8443, path: /readyz, verify: true, ca: $CRT, sni: $sni}
    nodes:
      - {address: $A, name: a}
      - {address: $B, name: b}
EOF
		[ "$tlsc" = 0 ] || cat <<EOF
  - name: tlsc
    vip: 10.99.0.12
    ports: [9345]
    mode: dsr
    health: {kind: tls, port: $tport}
    nodes: [$A, $B]
EOF
		[ "$raw" = 0 ] || cat <<EOF
  - name: raw
    vip: 10.99.0.13
    ports: [7]
    mode: dsr
    health: {kind: tcp, port: $rport}
    nodes: [$A, $B$([ $((n % 2)) = 0 ] && echo ", $R")]
EOF
	} >"$CFG.new"
	mv "$CFG.new" "$CFG"
	METRICS_PORT=$mport
}
# write_bad N: a config the reload refuses, one of four ways.
write_bad() {
	write_cfg "$1"
	case $(($1 % 4)) in
	0) sed -i 's/^    ports: \[80\(.*\)\]/    ports: [80\1, 0]/' "$CFG" ;;
	1) sed -i 's/^services:/services:\n\t- oops/' "$CFG" ;;
	2) sed -i "s|ca: $CRT|ca: $E2E_TMP/absent.crt|; s|^services:|services:\n  - {name: ca, vip: 10.99.0.14, ports: [1], mode: dsr, health: {kind: https, verify: true, ca: $E2E_TMP/absent.crt}, nodes: [$A]}|" "$CFG" ;;
	3) sed -i 's/^services:/bogus: 1\nservices:/' "$CFG" ;;
	esac
}

nlines() { grep -c -- "$1" "$LOG" || true; }
AGENT=
agent_up() { kill -0 "$AGENT" 2>/dev/null || fail "the agent exited: $(tail -20 "$LOG")"; }
# reload_expect ok|failed: SIGHUP, and wait for that reload's verdict. (The
# file poll may reload the same file first; that changes nothing here.)
reload_expect() {
	local ok bad
	ok=$(nlines "reload (SIGHUP) ok") bad=$(nlines "reload (SIGHUP) failed")
	kill -HUP "$AGENT"
	wait_for 60 sh -c "[ \$(grep -c 'reload (SIGHUP) ok' '$LOG') -gt $ok ] || [ \$(grep -c 'reload (SIGHUP) failed' '$LOG') -gt $bad ]" ||
		fail "no verdict on a reload within 60 s: $(tail -5 "$LOG")"
	if [ "$1" = ok ]; then
		[ "$(nlines "reload (SIGHUP) failed")" = "$bad" ] ||
			fail "a good config was refused: $(grep 'reload (SIGHUP) failed' "$LOG" | tail -1)"
	else
		[ "$(nlines "reload (SIGHUP) ok")" = "$ok" ] ||
			fail "a bad config was applied: $(tail -3 "$CFG")"
	fi
	[ "$1" = failed ] || RUN_PORT=$METRICS_PORT
	echo "$RUN_PORT" >"$PORT_FILE.new" && mv -f "$PORT_FILE.new" "$PORT_FILE"
}
readyz() { ip netns exec "$LNS" curl -sS --max-time 5 "http://127.0.0.1:$RUN_PORT/readyz" 2>&1; }
is_ready() { [ "$(readyz)" = ready ]; }

CHURN=
churn_start() {
	rm -f "$E2E_TMP/churn.stop" "$E2E_TMP/churn.json"
	bg "$LNS" "$PYTHON" "$CHURN_PY" "$PORT_FILE" "$E2E_TMP/churn.stop" "$E2E_TMP/churn.json" 150
	CHURN=$BG_PID
}
churn_stop() { # prints the churn's summary
	touch "$E2E_TMP/churn.stop"
	wait_for 30 test -s "$E2E_TMP/churn.json" || fail "http_churn.py did not stop within 30 s"
	wait "$CHURN" 2>/dev/null || true
	cat "$E2E_TMP/churn.json"
}

# One cycle: node modes, then a good or a bad reload, and now and then an interface away and back.
MODES=(200 500 hang 200 200 500)
FLAPS=0 BAD=0 GOOD=0
cycle() {
	local i=$1 g b
	modes "${MODES[i % 6]}" "${MODES[(i + 2) % 6]}" "${MODES[(i + 4) % 6]}" "${MODES[(i + 1) % 6]}"
	if [ $((i % 6)) = 5 ]; then
		write_bad "$((i / 6))"
		reload_expect failed
		BAD=$((BAD + 1))
		return
	fi
	write_cfg "$i"
	reload_expect ok
	GOOD=$((GOOD + 1))
	# an interface away and back (when the config has lb)
	[ $((i % 12)) = 4 ] && grep -q "^interfaces: \[la, lb\]" "$CFG" || return 0
	if [ $((i % 24)) = 4 ]; then
		g=$(nlines "interface lb is gone") b=$(nlines "interface lb is back (ifindex")
		ip -n "$LNS" link del lb
		wait_for 15 sh -c "[ \$(grep -c 'interface lb is gone' '$LOG') -gt $g ]" ||
			fail "the deletion of lb was not logged: $(tail -5 "$LOG")"
		lb_link
		wait_for 15 sh -c "[ \$(grep -c 'interface lb is back (ifindex' '$LOG') -gt $b ]" ||
			fail "lb not attached again: $(tail -5 "$LOG")"
	else
		g=$(nlines "interface lb was renamed lbx")
		ip -n "$LNS" link set lb down
		ip -n "$LNS" link set lb name lbx
		wait_for 15 sh -c "[ \$(grep -c 'interface lb was renamed lbx' '$LOG') -gt $g ]" ||
			fail "the rename of lb was not logged: $(tail -5 "$LOG")"
		ip -n "$LNS" link set lbx name lb
		ip -n "$LNS" link set lb up
	fi
	wait_for 15 is_ready || fail "not ready after lb came back: $(readyz); $(tail -5 "$LOG")"
	FLAPS=$((FLAPS + 1))
}

# What is measured ----------------------------------------------------------------
# fd_kinds: the agent's open fds by kind ("bpf-map 11, socket 2, ..."), sorted.
fd_kinds() {
	local f
	for f in /proc/"$AGENT"/fd/*; do readlink "$f" || true; done 2>/dev/null |
		sed -E 's/^anon_inode://; s/^(socket|pipe):\[[0-9]+\]$/\1/; s/^\[(.*)\]$/\1/' |
		sort | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }'
}
fd_count() { find /proc/"$AGENT"/fd -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
threads() { find /proc/"$AGENT"/task -mindepth 1 -maxdepth 1 | wc -l; }
# rss_kb: the agent's anonymous resident memory (RssAnon: its heap, where a leak
# grows), not the pages of the maglev map it maps (RssShmem) or of its binary.
rss_kb() { awk '$1 == "RssAnon:" { print $2 }' /proc/"$AGENT"/status; }
# bpf_held: how many BPF programs, maps and links the agent holds an fd of (by
# their ids in /proc/PID/fdinfo: bpftool here is built without its pids column).
# Counts, not ids: the maps pinned anew in the soak have new ids.
bpf_held() {
	local k
	for k in prog map link; do
		printf '%ss %s ' "$k" "$(cat /proc/"$AGENT"/fdinfo/* 2>/dev/null |
			awk -v k="${k}_id:" '$1 == k { print $2 }' | sort -u | wc -l)"
	done
}
# pins: drover's pins under its pin root. Only those: iproute2 (ip link ... xdp obj,
# run by other tests on the machine) makes ip/, tc/ and xdp/ in the first bpffs in
# /proc/mounts, which may be this test's.
pins() {
	(cd "$BPFFS" && find . -mindepth 1 -regextype posix-extended \
		-regex '\./(agent_lock|drv_[a-z0-9_]+|links(/.*)?|progs(/.*)?)' | sort | tr '\n' ' ')
}
# quiet: no TCP connection of the agent's in any state but listening (no check,
# no HTTP client in flight), so its fds are its lasting ones.
quiet() { ! ip netns exec "$LNS" ss -Htanp | grep -v '^LISTEN' | grep -q "pid=$AGENT,"; }
# settled: quiet, and the fds the same in two looks around that.
settled() {
	local k1 k2
	k1=$(fd_kinds)
	quiet || return 1
	k2=$(fd_kinds)
	[ "$k1" = "$k2" ] && SETTLED_FDS=$k2
}
# like_before: settled with the fds and threads recorded at the start.
like_before() { settled && [ "$SETTLED_FDS" = "$BASE_FDS" ] && [ "$(threads)" = "$BASE_THREADS" ]; }
# to_quiet_config: every node well, the quiet config, the churn stopped.
to_quiet_config() {
	modes 200 200 200 200
	write_cfg quiet
	reload_expect ok
	wait_for 15 is_ready || fail "not ready under the quiet config: $(readyz); $(tail -5 "$LOG")"
	CHURN_SUMMARY=$(churn_stop)
	log "http churn: $CHURN_SUMMARY"
}

write_cfg quiet
RUN_PORT=$METRICS_PORT
echo "$RUN_PORT" >"$PORT_FILE"
ip netns exec "$LNS" "$DROVER" --bpffs "$BPFFS" run config "$CFG" >"$LOG" 2>&1 &
AGENT=$!
E2E_PIDS+=("$AGENT")
wait_for 60 is_ready || fail "agent not ready in 60 s: $(readyz); $(tail -20 "$LOG")"
[ "$(readlink -f /proc/"$AGENT"/exe)" = "$(readlink -f "$DROVER")" ] ||
	fail "pid $AGENT is not the agent but $(readlink /proc/"$AGENT"/exe)"
case $(bpf_held) in *"maps 0 "*) fail "no map id in /proc/$AGENT/fdinfo: $(bpf_held)" ;; esac

log "warm-up: $WARMUP cycles"
churn_start
for ((i = 0; i < WARMUP; i++)); do cycle "$i"; done
to_quiet_config
wait_for 60 settled || fail "the agent never settled (a connection always in flight?): $(fd_kinds)"
BASE_FDS=$SETTLED_FDS BASE_N=$(fd_count) BASE_THREADS=$(threads) BASE_RSS=$(rss_kb)
BASE_BPF=$(bpf_held) BASE_PINS=$(pins)
log "after the warm-up: $BASE_N fds ($BASE_FDS), $BASE_THREADS threads, RssAnon $BASE_RSS kB, BPF objects held: $BASE_BPF"
log "pins: $BASE_PINS"

log "soak: up to $CYCLES cycles or $SECONDS_MAX s"
down0=$(nlines ") is DOWN after") up0=$(nlines ") is UP after")
churn_start
end=$(($(now_us) + SECONDS_MAX * 1000000))
start=$(now_us)
for ((i = WARMUP; i < WARMUP + CYCLES; i++)); do
	[ "$(now_us)" -lt "$end" ] || break
	cycle "$i"
	agent_up
	[ $(((i - WARMUP) % 25)) != 24 ] || log "cycle $((i - WARMUP + 1)): $(fd_count) fds, $(threads) threads, RssAnon $(rss_kb) kB"
done
took=$((($(now_us) - start) / 1000000))
downs=$(($(nlines ") is DOWN after") - down0)) ups=$(($(nlines ") is UP after") - up0))
repins=$(nlines "were replaced (an attach after the last detach)")
to_quiet_config
log "soak: $((i - WARMUP)) cycles in $took s: $GOOD reloads applied, $BAD refused, $FLAPS times an interface away and back, $repins times the maps pinned anew, $downs nodes down and $ups up"
[ "$GOOD" -ge 10 ] && [ "$BAD" -ge 2 ] && [ "$downs" -ge 5 ] && [ "$ups" -ge 5 ] && [ "$repins" -ge 1 ] ||
	fail "the soak drove too little to judge (the machine too slow?): $GOOD good and $BAD bad reloads, $downs downs, $ups ups, $repins maps pinned anew"

if ! wait_for 60 like_before; then
	fail "the agent's fds or threads grew: after the warm-up $BASE_N fds ($BASE_FDS) and $BASE_THREADS threads; now $(fd_count) fds ($(fd_kinds)) and $(threads) threads"
fi
rss=$(rss_kb) bpf=$(bpf_held) now_pins=$(pins)
log "after the soak: $(fd_count) fds ($SETTLED_FDS), $(threads) threads, RssAnon $rss kB ($((rss - BASE_RSS)) kB since the warm-up), BPF objects held: $bpf"
[ "$bpf" = "$BASE_BPF" ] || fail "the BPF objects the agent holds changed: $BASE_BPF, now $bpf"
[ "$now_pins" = "$BASE_PINS" ] || fail "the pins under $BPFFS changed: before: $BASE_PINS; now: $now_pins"
# RssAnon: glibc keeps freed memory in its arenas, so it moves with no leak:
# -472 to +1228 kB in 4 runs of about 110 reloads on the busy 2-core machine
# (about 4 MB at the start), and no trend over a 475-cycle run; a leak of
# 32 KiB per reload showed +4692 kB. Smaller leaks of unreachable memory are
# LeakSanitizer's to find (make test-e2e-san runs this with the ASan build).
if [ -z "$E2E_SAN" ] && [ $((rss - BASE_RSS)) -gt "$RSS_SLACK_KB" ]; then
	fail "the agent's RssAnon grew by $((rss - BASE_RSS)) kB (from $BASE_RSS kB), more than $RSS_SLACK_KB kB"
fi

kill -TERM "$AGENT"
wait_for 30 sh -c "! kill -0 $AGENT 2>/dev/null" || fail "the agent did not exit within 30 s of SIGTERM"
rc=0
wait "$AGENT" || rc=$?
[ "$rc" = 0 ] || fail "the agent exited $rc on SIGTERM: $(tail -5 "$LOG")"
log "PASS"
