#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# scripts/lab.sh: `up` builds a lab whose nodes answer with their own name on
# 80, 443 (TLS) and 6443 (TLS /readyz) and echo on 7, refuses a second `up` of
# the same prefix, and `down` leaves no namespace, process or file behind.
set -eu
. "$(dirname "$0")/lib.sh"
. "$E2E_TOP/tests/tools/labtest.sh"

# --help, -h and help: the usage on stdout, exit 0.
for h in --help -h help; do
	"$LAB" $h >"$E2E_TMP/help.out" 2>"$E2E_TMP/help.err" || fail "'lab.sh $h' failed: $(head -3 "$E2E_TMP/help.err")"
	head -1 "$E2E_TMP/help.out" | grep -q "^Usage: " || fail "'lab.sh $h' printed: $(head -3 "$E2E_TMP/help.out")"
done

# path_without CMD: $PATH with CMD hidden (each directory holding it replaced by a
# directory of links to everything else in it), as on a host that lacks it.
path_without() {
	local d out="" n=0
	IFS=: read -ra dirs <<<"$PATH"
	for d in "${dirs[@]}"; do
		if [ -x "$d/$1" ]; then
			n=$((n + 1))
			mkdir "$E2E_TMP/no-$1-$n"
			ln -s "$d"/* "$E2E_TMP/no-$1-$n/"
			rm "$E2E_TMP/no-$1-$n/$1"
			d=$E2E_TMP/no-$1-$n
		fi
		out=$out${out:+:}$d
	done
	echo "$out"
}

# A command `up` needs is missing (ping for its reachability check, sysctl for
# forwarding): refused at once, naming the command and its package, nothing
# made. Without the check `up` ran until "balancer cannot ping node", 10 s later.
require_root
for c in ping:iputils-ping sysctl:procps; do
	p=$(path_without "${c%%:*}")
	t0=$(now_us)
	if PATH=$p LAB_PREFIX=$T LAB_DIR=$E2E_TMP/nolab "$LAB" up 2>"$E2E_TMP/up.err"; then
		fail "lab.sh up succeeded without ${c%%:*}"
	fi
	ms=$((($(now_us) - t0) / 1000))
	grep -q "'${c%%:*}' not found.*${c#*:}.*install-deps" "$E2E_TMP/up.err" ||
		fail "lab.sh up without ${c%%:*} said ($ms ms): $(tr '\n' ' ' <"$E2E_TMP/up.err")"
	[ -z "$(ip netns list | awk -v p="$T-" 'index($1, p) == 1')" ] || fail "lab.sh up without ${c%%:*} left namespaces"
	[ ! -e "$E2E_TMP/nolab" ] || fail "lab.sh up without ${c%%:*} left $E2E_TMP/nolab"
	log "without ${c%%:*} ($ms ms): $(cat "$E2E_TMP/up.err")"
done

lab_start

pids=""
for n in 1 2 3; do
	pids="$pids $(cat "$LAB_DIR/n$n/nginx.pid") $(cat "$LAB_DIR/n$n/echo.pid")"
done

checked=0
for n in 1 2 3; do
	a4=$(echo $LAB_NODES4 | cut -d' ' -f$n)
	a6=$(echo $LAB_NODES6 | cut -d' ' -f$n)
	x() { ip netns exec "$LAB_NS_LB" "$@"; }
	[ "$(x curl -s -m 5 "http://$a4/")" = "n$n" ] || fail "node n$n: GET http://$a4/ does not answer n$n"
	[ "$(x curl -s -m 5 "http://[$a6]/")" = "n$n" ] || fail "node n$n: GET http://[$a6]/ does not answer n$n"
	[ "$(x curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$a4/healthz")" = 200 ] ||
		fail "node n$n: /healthz on port 80 is not 200"
	[ "$(x curl -s -m 5 --cacert "$LAB_TLS_CRT" --resolve "drover.lab:443:$a4" https://drover.lab/)" = "n$n" ] ||
		fail "node n$n: https://$a4:443/ does not answer n$n with the lab certificate"
	[ "$(x curl -sk -m 5 "https://[$a6]:6443/readyz")" = ok ] ||
		fail "node n$n: https://[$a6]:6443/readyz is not ok"
	got=$(printf 'ping\n' | x timeout 5 socat -t 4 -T2 - "TCP:$a4:7" | tr '\n' ' ')
	[ "$got" = "n$n ping " ] || fail "node n$n: echo server on $a4:7 answered '$got'"
	checked=$((checked + 6))
done
log "$checked server checks passed on 3 nodes"

# The client reaches the balancer; the VIP routes there.
ip netns exec "$LAB_NS_CL" ip route get "$LAB_VIP4" | grep -q "via 10.0.1.1" ||
	fail "client does not route $LAB_VIP4 via the balancer"
ip netns exec "$LAB_NS_CL" ip -6 route get "$LAB_VIP6" | grep -q "via fd00:1::1" ||
	fail "client does not route $LAB_VIP6 via the balancer"

# node-stop / node-start
"$LAB" node-stop 2
ip netns exec "$LAB_NS_LB" curl -s -m 2 "http://10.0.2.12/" >/dev/null &&
	fail "node n2 still answers after node-stop"
"$LAB" node-start 2
[ "$(ip netns exec "$LAB_NS_LB" curl -s -m 5 http://10.0.2.12/)" = n2 ] ||
	fail "node n2 does not answer after node-start"
pids="$pids $(cat "$LAB_DIR/n2/nginx.pid") $(cat "$LAB_DIR/n2/echo.pid")"

if "$LAB" up 2>"$E2E_TMP/up2.err"; then fail "a second 'up' of lab $T succeeded"; fi
grep -q "is up already" "$E2E_TMP/up2.err" || fail "second 'up' message does not say the lab is up: $(cat "$E2E_TMP/up2.err")"

# exec with a role the lab does not have: a usage error naming it and the roles.
rc=0
"$LAB" exec xx true 2>"$E2E_TMP/exec.err" || rc=$?
[ "$rc" = 2 ] || fail "'exec xx true' exited $rc, want 2: $(cat "$E2E_TMP/exec.err")"
grep -q "'xx'.*cl, lb, sw, n1, n2, n3" "$E2E_TMP/exec.err" ||
	fail "'exec xx true' does not name the role and the roles: $(cat "$E2E_TMP/exec.err")"

"$LAB" down
for ns in "$LAB_NS_CL" "$LAB_NS_LB" "$LAB_NS_SW" "$LAB_NS_N1" "$LAB_NS_N2" "$LAB_NS_N3"; do
	[ ! -e "/run/netns/$ns" ] || fail "namespace $ns left after down"
done
for p in $pids; do
	wait_for 10 sh -c "! kill -0 $p 2>/dev/null || ps -o stat= -p $p | grep -q ^Z" || fail "process $p left running after down"
done
[ ! -e "$LAB_DIR" ] || fail "$LAB_DIR left after down"
"$LAB" down || fail "a second 'down' failed (must be idempotent)"
# An up interrupted (Ctrl-C) just after it made DIR leaves it empty, without
# the mark, which the next up refuses as not a lab directory: down removes it.
mkdir "$LAB_DIR"
"$LAB" down
[ ! -e "$LAB_DIR" ] || fail "down left the empty $LAB_DIR of an interrupted up"
# Node commands on a lab that is not up: refused, saying so, and nothing made
# (a DIR left by node-start would keep the next 'up' from running).
for c in node-start node-stop node-down node-up; do
	if "$LAB" $c 2 2>"$E2E_TMP/node.err"; then fail "'$c 2' succeeded on a lab that is down"; fi
	grep -q "lab '$T' is not up" "$E2E_TMP/node.err" || fail "'$c 2' on a lab that is down said: $(cat "$E2E_TMP/node.err")"
	[ ! -e "$LAB_DIR" ] || fail "'$c 2' on a lab that is down made $LAB_DIR: $(find "$LAB_DIR" | tr '\n' ' ')"
done
# exec on a lab that is not up: says so and how to bring it up, not ip's "Cannot open".
rc=0
"$LAB" exec lb true 2>"$E2E_TMP/exec.err" || rc=$?
[ "$rc" = 1 ] || fail "'exec lb true' on a lab that is down exited $rc, want 1: $(cat "$E2E_TMP/exec.err")"
grep -q "lab '$T' is not up.* up" "$E2E_TMP/exec.err" ||
	fail "'exec lb true' on a lab that is down said: $(cat "$E2E_TMP/exec.err")"
log "down removed 6 namespaces, $(echo $pids | wc -w) server processes and $LAB_DIR"
