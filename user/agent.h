/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* The agent: `drover run config FILE`. */
#ifndef __DROVER_AGENT_H
#define __DROVER_AGENT_H

/*
 * drv_agent_main - run the agent until SIGTERM/SIGINT
 * @root: pin root (--bpffs)
 * @argc, @argv: the words after `run` (e.g. "config", FILE, "--detach-on-exit")
 *
 * Return: process exit code (0 ok, 1 failure, 2 bad usage or bad config at start-up).
 */
int drv_agent_main(const char *root, int argc, char **argv);

#endif /* __DROVER_AGENT_H */
