/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The agent's YAML configuration (docs/agent.md has the reference and a
 * complete Rancher example). Parsing is all-or-nothing: a config either loads
 * whole and valid, or is refused with one "FILE:LINE:COL: what is wrong"
 * message, so a reload never applies half a file.
 */
#ifndef __DROVER_CONFIG_H
#define __DROVER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <linux/types.h>

#include "drover/maps.h"

#define DRV_CONF_NAME_MAX 64
#define DRV_CONF_STR_MAX 256
#define DRV_CONF_MAX_PORTS 8
#define DRV_CONF_MAX_EXPECT 8
#define DRV_CONF_MAX_NODES 512 /* per service */
#define DRV_CONF_ERR_MAX 512 /* size of an error message buffer */
#define DRV_METRICS_DEFAULT "127.0.0.1:9469"
/*
 * metrics.stuck-after: /healthz fails once the agent's main loop has not
 * finished a round for this long. Well above its longest legitimate round (a
 * reload that attaches runs the verifier; a sync of 64 services x 63 nodes:
 * docs/agent.md has what was measured). The loop polls every second: under
 * 2 s, a busy machine would fail /healthz between two polls.
 */
#define DRV_STUCK_AFTER_DEFAULT_MS 60000u
#define DRV_STUCK_AFTER_MIN_MS 2000u
#define DRV_STUCK_AFTER_MAX_MS 3600000u

enum drv_hc_kind {
	DRV_HC_TCP = 0, /* connect() succeeds */
	DRV_HC_HTTP = 1, /* GET path, status in expect (and body contains body) */
	DRV_HC_HTTPS = 2, /* the same over TLS */
	DRV_HC_TLS = 3, /* TLS handshake completes */
	__DRV_HC_MAX,
};

/* How one service's nodes are checked. Durations in milliseconds. */
struct drv_hc_conf {
	enum drv_hc_kind kind;
	__u16 port; /* 0 → the service's first port */
	char path[DRV_CONF_STR_MAX]; /* http(s): request path */
	char host[DRV_CONF_STR_MAX]; /* http(s): Host header; "" → node address */
	char sni[DRV_CONF_STR_MAX]; /* https/tls: server name; "" → host if it is a name */
	__u16 expect[DRV_CONF_MAX_EXPECT]; /* http(s): accepted status codes */
	unsigned int nexpect;
	char body[DRV_CONF_STR_MAX]; /* http(s): response must contain this; "" → any */
	bool verify; /* https/tls: verify the node's certificate */
	char ca[PATH_MAX]; /* CA bundle for verify; "" → system store */
	char cert[PATH_MAX]; /* client certificate (mTLS, e.g. RKE2 apiserver) */
	char key[PATH_MAX]; /* its private key */
	union drv_addr source; /* source address of checks; family 0 → kernel picks */
	__u8 source_family;
	__u32 interval_ms;
	__u32 timeout_ms; /* ≤ interval */
	__u32 rise; /* consecutive passes to come back UP */
	__u32 fall; /* consecutive failures to go DOWN */
	__u32 jitter_pct; /* each interval is shortened by up to this % */
	__u32 rehash_after_ms; /* a failed node keeps its recorded flows this long; 0: none */
	__u32 leave_after_ms; /* a node a reload removed keeps its recorded flows at most this long */
};

struct drv_node_conf {
	char name[DRV_CONF_NAME_MAX]; /* "" in the file → the address text */
	union drv_addr addr;
	__u8 family;
	bool drain; /* DRAIN: no new flows, recorded flows kept */
	__u32 weight; /* Maglev weight, 1..65535 */
	int line; /* where it was written (1-based), for messages */
};

/* One `services:` entry; each of its ports becomes one drover service. */
struct drv_service_conf {
	char name[DRV_CONF_NAME_MAX];
	union drv_addr vip;
	__u8 family;
	__u8 mode; /* enum drv_mode */
	__u16 ports[DRV_CONF_MAX_PORTS]; /* host order */
	unsigned int nports;
	union drv_addr snat; /* nat: balancer address toward the nodes */
	bool has_snat;
	__u16 snat_port_lo, snat_port_hi; /* host order; 0,0 → defaults */
	__u32 table_size; /* 0 → DRV_MAGLEV_MAX */
	struct drv_hc_conf hc;
	struct drv_node_conf *nodes;
	size_t nnodes;
	int line;
};

struct drv_config {
	char ifaces[DRV_MAX_IFACES][IF_NAMESIZE];
	unsigned int nifaces;
	int xdp_mode; /* enum drv_xdp_mode (ctl.h) */
	char metrics_listen[64]; /* "ADDR:PORT" or "[V6]:PORT"; "" → off */
	__u32 stuck_after_ms; /* metrics.stuck-after; 0 → /healthz never fails */
	__u32 tcp_idle_timeout_s; /* 0 → data path default */
	__u32 tcp_fin_timeout_s;
	struct drv_service_conf *services;
	size_t nservices;
};

/*
 * drv_config_parse - parse and validate a configuration held in memory
 * @name: file name used in messages
 * @text, @len: the YAML text
 * @out: on success, a new config (free with drv_config_free)
 * @err, @errlen: on failure, "NAME:LINE:COL: what is wrong" (no newline)
 *
 * Return: 0, -EINVAL (bad config, @err set) or -ENOMEM.
 */
int drv_config_parse(const char *name, const char *text, size_t len, struct drv_config **out,
		     char *err, size_t errlen);
/* The same for a file; -errno with @err set when it cannot be read. */
int drv_config_load(const char *path, struct drv_config **out, char *err, size_t errlen);
void drv_config_free(struct drv_config *cfg);

/* Apply preset @name (rancher, kube-apiserver, rke2-supervisor, tcp) to @hc's check fields. */
int drv_hc_preset(const char *name, struct drv_hc_conf *hc);
/* Built-in timing and a TCP check: what a service gets when nothing is said. */
void drv_hc_defaults(struct drv_hc_conf *hc);
const char *drv_hc_kind_name(enum drv_hc_kind kind);
/*
 * Parse "2s", "500ms", "1m", "1h" or a bare number of seconds into milliseconds.
 * Return: 0, -EINVAL (not a duration) or -ERANGE (over 2^32 - 1 ms, about 1193h).
 */
int drv_duration_parse(const char *s, __u32 *ms);

#endif /* __DROVER_CONFIG_H */
