#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# agent_failing_node_lets_half_open_connections_go.sh over IPv6: the SYNs
# that met a dead node before its checks failed reach a node that is up at
# their next retry once it is failing (agent, nat, IPv6 VIP, nodes, snat and
# checks).
FAMILY=6 exec bash "$(dirname "$0")/agent_failing_node_lets_half_open_connections_go.sh"
