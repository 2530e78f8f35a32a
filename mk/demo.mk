# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# make demo: the Rancher-style demo on a namespace lab (scripts/demo.sh, root).
# make lab-up / lab-down: the lab alone (scripts/lab.sh; LAB_PREFIX picks the names).
# make test-tools: the e2e traffic tools (tests/tools/); they are python3 and
# shell, so this only checks that they parse.

.PHONY: demo lab-up lab-down test-tools

# deps first, then a fresh make: the Makefile's pkg-config and clang probes must
# see the packages deps installs (make demo is the first command on a new machine).
demo: deps
	$(Q)$(MAKE) --no-print-directory all test-tools
	$(Q)scripts/demo.sh

lab-up: all
	$(Q)scripts/lab.sh up

lab-down:
	$(Q)scripts/lab.sh down

test-tools:
	$(call msg,CHECK,tests/tools)
	$(Q)python3 -c "import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]" \
		tests/tools/lbtool.py tests/tools/agent_node.py tests/tools/mancheck.py \
		tests/tools/http_churn.py
	$(Q)bash -n scripts/lab.sh scripts/demo.sh tests/tools/labtest.sh

# The e2e tiers use the tools: check them first (prerequisites only; the Makefile is untouched).
test test-e2e: test-tools
