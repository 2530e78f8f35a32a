#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# bench/pkt-ns.sh NS: prepare the existing network namespace NS for
# drover-bench-pkt -i pp0: a veth pair (pp0, pp1), forwarding on, routes for
# 10.88.0.0/16 and fd88::/16 and permanent neighbours for the clients
# (10.88.1.2-20, fd88:1::2) and the backends (10.88.2.11-138,
# fd88:2::100-17f) it uses, so drover's FIB lookups resolve.
# Used by scripts/bench.sh and the bench tools' e2e test.
set -eu
ns=$1
ip -n "$ns" link add pp0 type veth peer name pp1
ip -n "$ns" link set pp0 up
ip -n "$ns" link set pp1 up
ip -n "$ns" addr add 10.88.2.1/24 dev pp0
ip -n "$ns" addr add 10.88.1.1/24 dev pp0
ip -n "$ns" addr add fd88:2::1/64 dev pp0 nodad
ip -n "$ns" addr add fd88:1::1/64 dev pp0 nodad
ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n "$ns" route add 10.88.0.0/16 dev pp0
ip -n "$ns" route add fd88::/16 dev pp0
for i in $(seq 2 20); do
	ip -n "$ns" neigh add "10.88.1.$i" lladdr "02:00:00:01:00:$(printf %02x "$i")" dev pp0 nud permanent
done
for i in $(seq 11 138); do
	ip -n "$ns" neigh add "10.88.2.$i" lladdr "02:00:00:02:00:$(printf %02x "$i")" dev pp0 nud permanent
done
ip -n "$ns" neigh add fd88:1::2 lladdr 02:00:00:01:00:02 dev pp0 nud permanent
for i in $(seq 0 127); do
	ip -n "$ns" neigh add "fd88:2::$(printf %x $((0x100 + i)))" lladdr "02:00:00:02:01:$(printf %02x "$i")" dev pp0 nud permanent
done
