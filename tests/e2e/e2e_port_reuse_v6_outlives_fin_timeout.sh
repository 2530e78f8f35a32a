#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# e2e_port_reuse_outlives_fin_timeout.sh over IPv6: a new connection on the
# 5-tuple of one that closed with RST through an IPv6 VIP is a flow of its
# own and outlives the FIN timeout (agent, nat, IPv6 VIP, nodes and snat).
FAMILY=6 exec bash "$(dirname "$0")/e2e_port_reuse_outlives_fin_timeout.sh"
