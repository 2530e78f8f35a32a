// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* drover: the CLI and the agent. (stub: being written) */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "drover: not built yet\n");
	return EXIT_FAILURE;
}
