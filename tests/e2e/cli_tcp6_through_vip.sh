#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# cli_tcp_through_vip.sh over IPv6: real TCP through an IPv6 VIP to two
# backends, the balancer set up only with drover CLI commands; lookup,
# recorded flows, drain, down and delete checked as for IPv4.
FAMILY=6 exec bash "$(dirname "$0")/cli_tcp_through_vip.sh"
