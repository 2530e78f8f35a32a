// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* (placeholder until the agent lands; replaced by its owner) */
#include "agent.h"
#include "log.h"

int drv_agent_main(const char *root, int argc, char **argv)
{
	(void)root;
	(void)argc;
	(void)argv;
	pr_warn("drover run: the agent is not built yet\n");
	return 1;
}
