#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# e2e_longlived_survive_changes.sh in dsr mode: the nodes hold the VIPs and
# answer the clients themselves; the same add, drain, node failure, agent
# restart and reload steps, 0 connections broken outside the failed node.
MODE=dsr exec bash "$(dirname "$0")/e2e_longlived_survive_changes.sh"
