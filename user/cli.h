/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The `drover` command line, parsed without touching any map, so every
 * grammar rule and error unit-tests without privileges. drover.c runs the
 * parsed request against the control library (ctl.h).
 */
#ifndef __DROVER_CLI_H
#define __DROVER_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#include "drover/maps.h"
#include "ctl.h"
#include "nodesetup.h"

enum drv_cli_obj {
	DRV_CLI_NONE = 0, /* no object: print the top-level help */
	DRV_CLI_ATTACH,
	DRV_CLI_DETACH,
	DRV_CLI_STATUS,
	DRV_CLI_SERVICE,
	DRV_CLI_BACKEND,
	DRV_CLI_STATS,
	DRV_CLI_LOOKUP,
	DRV_CLI_RUN,
	DRV_CLI_VERSION,
	DRV_CLI_NODE_SETUP,
};

enum drv_cli_cmd {
	DRV_CLI_SHOW = 0,
	DRV_CLI_ADD,
	DRV_CLI_DEL,
	DRV_CLI_SET,
};

/* Which optional words were given (service and backend "set" change only these). */
#define DRV_CLI_SVC_MODE 0x1
#define DRV_CLI_SVC_SNAT 0x2
#define DRV_CLI_SVC_PORTS 0x4
#define DRV_CLI_SVC_TSIZE 0x8
#define DRV_CLI_BE_PORT 0x1
#define DRV_CLI_BE_WEIGHT 0x2
#define DRV_CLI_BE_STATE 0x4

struct drv_cli_req {
	/* global options */
	bool json, pretty, version;
	int verbose;
	const char *bpffs; /* pin root; default DRV_PIN_ROOT */

	enum drv_cli_obj obj;
	enum drv_cli_cmd cmd;
	bool help; /* `help` at this level: print its grammar, exit 0 */

	char ifname[16]; /* attach, detach */
	enum drv_xdp_mode xdp_mode;
	bool force, keep_maps;

	bool has_svc; /* service/backend/stats/lookup: SVC given */
	struct drv_svc_conf svc; /* key + service options */
	unsigned int svc_set; /* DRV_CLI_SVC_* */

	bool has_be;
	struct drv_be_conf be; /* backend ADDR + options */
	unsigned int be_set; /* DRV_CLI_BE_* */

	union drv_addr client; /* lookup: from ADDR port PORT */
	__u8 client_family;
	__be16 client_port;

	__u32 watch_s; /* stats --watch SECS (0: print once) */
	__u32 count; /* stats: stop after N intervals (0: until SIGINT) */

	struct drv_node_setup_conf node; /* node-setup */

	int run_argc; /* run: the words after `run` */
	char **run_argv;

	char **words; /* internal: argv without the global options */
};

/*
 * drv_cli_parse - parse a whole command line
 * @argc, @argv: as given to main (argv[0] is the program)
 * @req: out; release with drv_cli_req_free()
 * @err, @len: on error, "what is wrong" without the "Error: " prefix
 *
 * Return: 0, or -EINVAL for a usage error (the CLI exits 2).
 */
int drv_cli_parse(int argc, char **argv, struct drv_cli_req *req, char *err, size_t len);
void drv_cli_req_free(struct drv_cli_req *req);

/* Grammar of @obj's level (DRV_CLI_NONE: the top level), for `help` and usage errors. */
const char *drv_cli_help(enum drv_cli_obj obj);

/*
 * drv_stats_be_prev - a backend's counters in the previous `stats --watch` snapshot
 * @prev_by_id: that snapshot's backends, indexed by id; .id 0 where it had none
 * @cur: a backend of the current snapshot
 *
 * An id freed and given to another node (another generation) had its counters
 * zeroed on reuse: the previous node's numbers say nothing about it.
 * Return: the counters to take the rate against, or NULL when the id held no
 * backend or another one then (the rate is then the new backend's count).
 */
const struct drv_lb_counters *drv_stats_be_prev(const struct drv_be_info *prev_by_id,
						const struct drv_be_info *cur);

/* Small JSON writer for -j/-p: stable key order, strings escaped. */
struct drv_jw {
	FILE *f;
	bool pretty;
	int depth;
	bool need_comma[32];
	bool after_key;
};

void drv_jw_init(struct drv_jw *w, FILE *f, bool pretty);
void drv_jw_obj_open(struct drv_jw *w);
void drv_jw_obj_close(struct drv_jw *w);
void drv_jw_arr_open(struct drv_jw *w);
void drv_jw_arr_close(struct drv_jw *w);
void drv_jw_key(struct drv_jw *w, const char *key);
void drv_jw_str(struct drv_jw *w, const char *s);
void drv_jw_u64(struct drv_jw *w, unsigned long long v);
void drv_jw_bool(struct drv_jw *w, bool v);
void drv_jw_null(struct drv_jw *w);
void drv_jw_kstr(struct drv_jw *w, const char *key, const char *s);
void drv_jw_ku64(struct drv_jw *w, const char *key, unsigned long long v);
void drv_jw_kbool(struct drv_jw *w, const char *key, bool v);
/* Ends the document with a newline. */
void drv_jw_end(struct drv_jw *w);

#endif /* __DROVER_CLI_H */
