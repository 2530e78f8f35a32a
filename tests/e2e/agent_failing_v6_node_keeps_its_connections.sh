#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# agent_failing_node_keeps_its_connections.sh over IPv6: a node failing its
# checks keeps its open connections for rehash-after (state failing), also
# through fail-open and an agent restart that adopts the hold, and only its
# own break once the hold runs out (agent, nat, IPv6 VIP, nodes, snat and
# checks).
FAMILY=6 exec bash "$(dirname "$0")/agent_failing_node_keeps_its_connections.sh"
