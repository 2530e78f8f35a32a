#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# e2e_churn_new_connections_never_fail.sh in dsr mode: the nodes hold the VIP
# and answer the clients themselves; the same restarts, reloads, health
# failure and attaches, no new connection failing.
MODE=dsr exec bash "$(dirname "$0")/e2e_churn_new_connections_never_fail.sh"
