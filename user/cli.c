// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * `drover` argument parsing: global options, then OBJECT COMMAND ARGS in the
 * style of bpftool (prefix-matched objects and commands, keyword arguments,
 * `help` at every level). Pure: no map or kernel access.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "cli.h"
#include "util.h"

struct pctx {
	int argc;
	char **argv;
	int i;
	char *err;
	size_t len;
};

__attribute__((format(printf, 2, 3))) static int fail(struct pctx *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, p->len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *peek(const struct pctx *p)
{
	return p->i < p->argc ? p->argv[p->i] : NULL;
}

static const char *next(struct pctx *p)
{
	return p->i < p->argc ? p->argv[p->i++] : NULL;
}

struct kw {
	const char *name;
	int val;
};

/*
 * Exact match, else a unique prefix (bpftool's is_prefix, without silent
 * ambiguity); a prefix of a word and of its alias (de: del, delete) is unique.
 */
static int kw_select(const char *w, const struct kw *tbl, int *val)
{
	size_t n = strlen(w);
	int found = -1, i;

	if (!n)
		return -ENOENT;
	for (i = 0; tbl[i].name; i++) {
		if (!strcmp(tbl[i].name, w)) {
			*val = tbl[i].val;
			return 0;
		}
		if (!strncmp(tbl[i].name, w, n)) {
			if (found >= 0 && tbl[found].val != tbl[i].val)
				return -EAGAIN; /* ambiguous */
			found = i;
		}
	}
	if (found < 0)
		return -ENOENT;
	*val = tbl[found].val;
	return 0;
}

/* The names of @tbl that @w is a prefix of, as "a, b or c" in @buf. */
static const char *kw_prefixed(const char *w, const struct kw *tbl, char *buf, size_t len)
{
	size_t n = strlen(w), at = 0;
	int i, k = 0, total = 0;

	for (i = 0; tbl[i].name; i++)
		total += !strncmp(tbl[i].name, w, n);
	buf[0] = 0;
	for (i = 0; tbl[i].name && at < len; i++) {
		if (strncmp(tbl[i].name, w, n))
			continue;
		k++;
		at += snprintf(buf + at, len - at, "%s%s",
			       k == 1	  ? "" :
			       k == total ? " or " :
					    ", ",
			       tbl[i].name);
	}
	return buf;
}

static const char *const help_top =
	"Usage: drover [OPTIONS] OBJECT { COMMAND | help }\n"
	"       drover attach IFNAME [mode { native | skb }] [force]\n"
	"       drover detach IFNAME [keep-maps]\n"
	"       drover status\n"
	"       drover service { add | set | del | show | help } ...\n"
	"       drover backend { add | set | del | show | help } ...\n"
	"       drover stats [show] [SVC] [--watch SECS [count N]]\n"
	"       drover lookup SVC from ADDR port PORT\n"
	"       drover run config FILE ...\n"
	"       drover node-setup { dsr | tunnel } VIP... [undo]\n"
	"       drover version\n"
	"       SVC := ADDR port PORT [proto tcp]\n"
	"       OPTIONS := { -j|--json [-p|--pretty] | -v|--verbose (-vv: libbpf too) |\n"
	"                    --bpffs PATH | -V|--version | -h|--help }\n"
	"Exit status: 0 ok, 1 failure, 2 usage error.\n";

static const char *const help_attach =
	"Usage: drover attach IFNAME [mode { native | skb }] [force]\n"
	"       drover detach IFNAME [keep-maps]\n"
	"attach loads the XDP program (once per pin root), pins its maps under the pin\n"
	"root (--bpffs, default " DRV_PIN_ROOT ") and its link at\n"
	"<root>/" DRV_PIN_LINKS_DIR "/IFNAME; forwarding stays after the command exits.\n"
	"mode native (default) needs driver support; skb (generic XDP) works on every\n"
	"device, slower. force replaces an XDP program already on IFNAME.\n"
	"detach removes IFNAME's link; detaching the last interface also removes the\n"
	"maps (every service and backend), unless keep-maps.\n"
	"Both need CAP_BPF and CAP_NET_ADMIN. Exit status: 0 ok, 1 refused (the message\n"
	"says why and what to do), 2 usage error.\n";

static const char *const help_status =
	"Usage: drover [-j [-p]] status\n"
	"Prints this drover's version, the pin root (--bpffs), the pinned program, every\n"
	"attached interface (ifindex, program id, XDP mode, link id, pin) and the entries\n"
	"of each pinned map. With nothing pinned it prints \"not attached\" (exit 0).\n"
	"Exit status: 0 ok, 1 the pin root or its maps can't be read (not root, or the\n"
	"maps of an incompatible drover: it lists the interfaces to detach).\n";

static const char *const help_service =
	"Usage: drover service add SVC [mode { nat | dsr | tunnel }] [snat ADDR]\n"
	"                          [snat-ports LO-HI] [table-size PRIME]\n"
	"       drover service set SVC [mode ...] [snat ADDR] [snat-ports LO-HI]\n"
	"                          [table-size PRIME]\n"
	"       drover service del SVC\n"
	"       drover [-j [-p]] service show [SVC]\n"
	"       SVC := ADDR port PORT [proto tcp]          (IPv4 or IPv6, PORT 1-65535)\n"
	"mode nat (default) needs snat ADDR: the balancer's address the nodes reply to;\n"
	"mode tunnel needs it as the outer source of the wrapped packets; dsr takes none.\n"
	"snat-ports (nat only) default 10000-32767; table-size is the Maglev table size,\n"
	"a prime up to 65537 (the default). set changes only the options given. del\n"
	"removes the service and its backends. Up to 64 services.\n"
	"Exit status: 0 ok, 1 refused (unknown or duplicate service), 2 usage error.\n";

static const char *const help_backend =
	"Usage: drover backend add SVC ADDR [port PORT] [weight N] [up | drain | down]\n"
	"       drover backend set SVC ADDR [port PORT] [weight N] [up | drain | down]\n"
	"       drover backend del SVC ADDR [port PORT]\n"
	"       drover [-j [-p]] backend show SVC\n"
	"       SVC := ADDR port PORT [proto tcp]\n"
	"port defaults to the service port (another port: nat only). weight N (0-65535)\n"
	"defaults to 1; 0 drains. up takes new flows; drain keeps its recorded flows but\n"
	"takes no new ones; down takes none, and drover answers its recorded flows' next\n"
	"packet with a RST, so their clients reconnect to a backend that is up. set\n"
	"changes only what is given. show lists id, address, port, weight, state, live\n"
	"flows and client-to-node packets and bytes.\n"
	"Exit status: 0 ok, 1 refused (unknown service or backend, duplicate), 2 usage\n"
	"error.\n";

static const char *const help_stats =
	"Usage: drover [-j [-p]] stats [show] [SVC] [--watch SECS [count N]]\n"
	"       SVC := ADDR port PORT [proto tcp]\n"
	"Counters since the maps were pinned: the global ones by name (packets, bytes),\n"
	"then per service and per backend (packets, bytes, new_flows, reply_packets,\n"
	"reply_bytes, drops); SVC shows only that service. --watch SECS (1-3600) prints\n"
	"per-second rates every SECS seconds until SIGINT or SIGTERM, or N times with\n"
	"count N (1-1000000); with -j one JSON document per interval and line.\n"
	"Exit status: 0 ok, 1 no such service or the maps can't be read, 2 usage error.\n";

static const char *const help_lookup =
	"Usage: drover [-j [-p]] lookup SVC from ADDR port PORT\n"
	"       SVC := ADDR port PORT [proto tcp]\n"
	"Which backend a new flow from client ADDR port PORT goes to (the flow hash and\n"
	"the service's active Maglev table, as the XDP program computes it), and, if the\n"
	"flow is recorded in the flow table, the backend it stays on. Changes nothing.\n"
	"Exit status: 0 ok, 1 no such service, 2 usage error.\n";

static const char *const help_node =
	"Usage: drover node-setup { dsr | tunnel } VIP... [undo]\n"
	"Run on each node behind a dsr or tunnel service (nat needs nothing on the\n"
	"nodes). Puts every VIP on lo and keeps ARP off it (arp_ignore=1,\n"
	"arp_announce=2); tunnel also creates the metadata-mode devices " DRV_NODE_TUN4 "\n"
	"(IPIP) and " DRV_NODE_TUN6 " (IP6IP6), which decapsulate what any balancer sends,\n"
	"with rp_filter off. Idempotent; undo removes the VIPs and devices (the sysctls\n"
	"stay). Needs CAP_NET_ADMIN. Exit status: 0 ok, 1 refused, 2 usage error.\n";

static const char *const help_run = "Usage: drover run config FILE [...]\n"
				    "Runs the agent (see drover run help).\n";

const char *drv_cli_help(enum drv_cli_obj obj)
{
	switch (obj) {
	case DRV_CLI_ATTACH:
	case DRV_CLI_DETACH:
		return help_attach;
	case DRV_CLI_STATUS:
		return help_status;
	case DRV_CLI_SERVICE:
		return help_service;
	case DRV_CLI_BACKEND:
		return help_backend;
	case DRV_CLI_STATS:
		return help_stats;
	case DRV_CLI_LOOKUP:
		return help_lookup;
	case DRV_CLI_RUN:
		return help_run;
	case DRV_CLI_NODE_SETUP:
		return help_node;
	default:
		return help_top;
	}
}

/*
 * How to write @w when it is an address spelled as elsewhere (ADDR:PORT,
 * [IPv6], [IPv6]:PORT, ADDR/LEN): the grammar takes a port as its own words,
 * after the address where @port_follows. "" when @w is no such spelling.
 */
static const char *addr_hint(const char *w, bool port_follows, char *buf, size_t len)
{
	char host[DRV_ADDR_STRLEN];
	const char *rest = drv_addr_extra(w, host, sizeof(host));
	__u16 port;

	if (!rest)
		return "";
	if (!*rest)
		snprintf(buf, len, ": write it without brackets: %s", host);
	else if (*rest == '/')
		snprintf(buf, len, ": it takes no prefix length, write '%s'", host);
	else if (drv_port_parse(rest + 1, &port))
		return "";
	else if (port_follows)
		snprintf(buf, len, ": write it as '%s port %u'", host, port);
	else
		snprintf(buf, len, ": it takes no port, write '%s'", host);
	return buf;
}

/* @port_follows: the grammar has `port PORT` after this address (for the hint). */
static int parse_addr(struct pctx *p, const char *what, bool port_follows, union drv_addr *a,
		      __u8 *fam)
{
	const char *w = next(p), *why;
	char hint[96];

	if (!w)
		return fail(p, "expected %s (an IPv4 or IPv6 address)", what);
	if (drv_addr_parse(w, a, fam))
		return fail(p, "%s '%s' is not an IPv4 or IPv6 address%s", what, w,
			    addr_hint(w, port_follows, hint, sizeof(hint)));
	why = drv_addr_not_host(a, *fam);
	if (why)
		return fail(p, "%s '%s' is %s: give a host's address", what, w, why);
	return 0;
}

static int parse_port(struct pctx *p, const char *what, __be16 *port)
{
	const char *w = next(p);
	__u16 v;

	if (!w)
		return fail(p, "expected a number after 'port' (%s, 1-65535)", what);
	if (drv_port_parse(w, &v))
		return fail(p, "%s '%s' is not a port number in 1-65535", what, w);
	*port = htons(v);
	return 0;
}

/* SVC := ADDR port PORT [proto tcp] */
static int parse_svc(struct pctx *p, struct drv_svc_key *k)
{
	const char *w;
	int err;

	memset(k, 0, sizeof(*k));
	err = parse_addr(p, "service address", true, &k->vip, &k->family);
	if (err)
		return err;
	w = next(p);
	if (!w || strcmp(w, "port"))
		return fail(
			p,
			"expected 'port PORT' after the service address%s%s%s (SVC := ADDR port PORT [proto tcp])",
			w ? ", not '" : "", w ? w : "", w ? "'" : "");
	err = parse_port(p, "service port", &k->port);
	if (err)
		return err;
	k->proto = 6;
	if (peek(p) && !strcmp(peek(p), "proto")) {
		next(p);
		w = next(p);
		if (!w)
			return fail(p, "expected a protocol after 'proto' (tcp)");
		if (strcmp(w, "tcp") && strcmp(w, "6"))
			return fail(p, "proto '%s' is not supported: only tcp", w);
	}
	return 0;
}

static const char *fam_str(__u8 f)
{
	return f == DRV_FAMILY_V6 ? "IPv6" : "IPv4";
}

static int parse_u32_kw(struct pctx *p, const char *kw, __u32 min, __u32 max, __u32 *out)
{
	const char *w = next(p);

	if (!w)
		return fail(p, "expected a number after '%s'", kw);
	if (drv_u32_parse(w, min, max, out))
		return fail(p, "%s '%s' is not a number in %u-%u", kw, w, min, max);
	return 0;
}

static int parse_svc_opts(struct pctx *p, struct drv_cli_req *r)
{
	static const struct kw modes[] = {
		{ "nat", DRV_MODE_NAT }, { "dsr", DRV_MODE_DSR }, { "tunnel", DRV_MODE_TUNNEL }, {}
	};
	struct drv_svc_conf *c = &r->svc;
	const char *w;
	int err, v;

	while ((w = next(p))) {
		unsigned int bit;

		if (!strcmp(w, "mode"))
			bit = DRV_CLI_SVC_MODE;
		else if (!strcmp(w, "snat"))
			bit = DRV_CLI_SVC_SNAT;
		else if (!strcmp(w, "snat-ports"))
			bit = DRV_CLI_SVC_PORTS;
		else if (!strcmp(w, "table-size"))
			bit = DRV_CLI_SVC_TSIZE;
		else
			return fail(
				p,
				"what is '%s'? (service options: mode, snat, snat-ports, table-size)",
				w);
		if (r->svc_set & bit)
			return fail(p, "'%s' is given twice", w);
		r->svc_set |= bit;
		if (bit == DRV_CLI_SVC_MODE) {
			w = next(p);
			if (!w)
				return fail(p, "expected nat, dsr or tunnel after 'mode'");
			if (kw_select(w, modes, &v))
				return fail(p, "mode '%s' is not nat, dsr or tunnel", w);
			c->mode = (__u8)v;
		} else if (bit == DRV_CLI_SVC_SNAT) {
			__u8 fam;

			err = parse_addr(p, "snat address", false, &c->snat, &fam);
			if (err)
				return err;
			if (fam != c->key.family)
				return fail(p,
					    "snat address %s is %s but the service address is %s",
					    p->argv[p->i - 1], fam_str(fam),
					    fam_str(c->key.family));
		} else if (bit == DRV_CLI_SVC_PORTS) {
			char lo[8], hi[8];
			const char *dash;
			__u16 l, h;

			w = next(p);
			if (!w)
				return fail(p, "expected LO-HI after 'snat-ports'");
			dash = strchr(w, '-');
			if (!dash || dash - w >= (long)sizeof(lo) || strlen(dash + 1) >= sizeof(hi))
				return fail(
					p,
					"snat-ports '%s' is not a range LO-HI (e.g. 10000-32767)",
					w);
			memcpy(lo, w, (size_t)(dash - w));
			lo[dash - w] = 0;
			strcpy(hi, dash + 1);
			if (drv_port_parse(lo, &l) || drv_port_parse(hi, &h) || l > h)
				return fail(
					p,
					"snat-ports '%s' is not a range LO-HI of ports with 1 ≤ LO ≤ HI ≤ 65535",
					w);
			c->snat_port_lo = l;
			c->snat_port_hi = h;
		} else {
			err = parse_u32_kw(p, "table-size", 2, DRV_MAGLEV_MAX, &c->table_size);
			if (err)
				return err;
			if (!drv_is_prime(c->table_size))
				return fail(
					p,
					"table-size %u is not a prime (Maglev needs one: e.g. 251, 1021, 4093, 16381, 65537)",
					c->table_size);
		}
	}
	return 0;
}

/* The commands of `service` and `backend`. */
static const struct kw change_cmds[] = { { "add", DRV_CLI_ADD },
					 { "set", DRV_CLI_SET },
					 { "del", DRV_CLI_DEL },
					 { "delete", DRV_CLI_DEL },
					 { "show", DRV_CLI_SHOW },
					 { "list", DRV_CLI_SHOW },
					 {} };

static int parse_service(struct pctx *p, struct drv_cli_req *r)
{
	const char *w = next(p);
	int v, err;

	if (!w) {
		r->cmd = DRV_CLI_SHOW;
		return 0;
	}
	if (kw_select(w, change_cmds, &v))
		return fail(p, "what is 'service %s'? (commands: add, set, del, show)", w);
	r->cmd = (enum drv_cli_cmd)v;
	if (r->cmd == DRV_CLI_SHOW && !peek(p))
		return 0;
	err = parse_svc(p, &r->svc.key);
	if (err)
		return err;
	r->has_svc = true;
	if (r->cmd == DRV_CLI_SHOW || r->cmd == DRV_CLI_DEL) {
		if (peek(p))
			return fail(p, "what is '%s'? (service %s takes only SVC)", peek(p),
				    r->cmd == DRV_CLI_DEL ? "del" : "show");
		return 0;
	}
	r->svc.mode = DRV_MODE_NAT;
	err = parse_svc_opts(p, r);
	if (err)
		return err;
	if (r->cmd == DRV_CLI_SET && !r->svc_set)
		return fail(
			p,
			"service set changes nothing without an option (mode, snat, snat-ports, table-size)");
	if (r->cmd == DRV_CLI_ADD && r->svc.mode != DRV_MODE_DSR &&
	    !(r->svc_set & DRV_CLI_SVC_SNAT)) {
		char ks[128];

		return fail(p, "service %s in mode %s needs 'snat ADDR': %s",
			    drv_svc_key_str(&r->svc.key, ks, sizeof(ks)),
			    drv_mode_name(r->svc.mode), drv_snat_role(r->svc.mode));
	}
	if ((r->svc_set & DRV_CLI_SVC_MODE) && r->svc.mode == DRV_MODE_DSR &&
	    (r->svc_set & DRV_CLI_SVC_SNAT))
		return fail(
			p,
			"mode dsr takes no 'snat': the packet reaches the node unchanged and the node answers the client from the VIP");
	/* an option that would do nothing is refused, as the config refuses it */
	if ((r->cmd == DRV_CLI_ADD || (r->svc_set & DRV_CLI_SVC_MODE)) &&
	    r->svc.mode != DRV_MODE_NAT && (r->svc_set & DRV_CLI_SVC_PORTS))
		return fail(
			p,
			"'snat-ports' is for mode nat: mode %s keeps the client's source port, so there is none to translate; leave it out",
			drv_mode_name(r->svc.mode));
	return 0;
}

static int parse_backend(struct pctx *p, struct drv_cli_req *r)
{
	static const struct kw states[] = {
		{ "up", DRV_BE_UP }, { "drain", DRV_BE_DRAIN }, { "down", DRV_BE_DOWN }, {}
	};
	struct drv_be_conf *b = &r->be;
	const char *w = next(p);
	int v, err;

	if (!w)
		return fail(p, "expected a command after 'backend' (add, set, del, show)");
	if (kw_select(w, change_cmds, &v))
		return fail(p, "what is 'backend %s'? (commands: add, set, del, show)", w);
	r->cmd = (enum drv_cli_cmd)v;
	if (!peek(p))
		return fail(p,
			    "expected SVC after 'backend %s' (SVC := ADDR port PORT [proto tcp])",
			    w);
	err = parse_svc(p, &r->svc.key);
	if (err)
		return err;
	r->has_svc = true;
	if (r->cmd == DRV_CLI_SHOW) {
		if (peek(p))
			return fail(p, "what is '%s'? (backend show takes only SVC)", peek(p));
		return 0;
	}
	err = parse_addr(p, "backend address", true, &b->addr, &b->family);
	if (err)
		return err;
	if (b->family != r->svc.key.family)
		return fail(p, "backend %s is %s but the service address is %s", p->argv[p->i - 1],
			    fam_str(b->family), fam_str(r->svc.key.family));
	if (!memcmp(&b->addr, &r->svc.key.vip, sizeof(b->addr)))
		return fail(p, "backend address '%s' is the service's VIP: give a node's address",
			    p->argv[p->i - 1]);
	r->has_be = true;
	b->weight = 1;
	b->state = DRV_BE_UP;
	while ((w = next(p))) {
		unsigned int bit;

		if (!strcmp(w, "port"))
			bit = DRV_CLI_BE_PORT;
		else if (!strcmp(w, "weight"))
			bit = DRV_CLI_BE_WEIGHT;
		else if (!kw_select(w, states, &v) && strlen(w) >= 2)
			bit = DRV_CLI_BE_STATE;
		else
			return fail(
				p, "what is '%s'? (backend options: port, weight, up, drain, down)",
				w);
		if (r->cmd == DRV_CLI_DEL && bit != DRV_CLI_BE_PORT)
			return fail(p,
				    "'%s' makes no sense with backend del (only ADDR [port PORT])",
				    w);
		if (r->be_set & bit)
			return fail(p, "%s given twice", bit == DRV_CLI_BE_STATE ? "state" : w);
		r->be_set |= bit;
		if (bit == DRV_CLI_BE_PORT) {
			err = parse_port(p, "backend port", &b->port);
			if (err)
				return err;
		} else if (bit == DRV_CLI_BE_WEIGHT) {
			err = parse_u32_kw(p, "weight", 0, 65535, &b->weight);
			if (err)
				return err;
		} else {
			b->state = (__u8)v;
		}
	}
	/* port only says which backend: like service set, a set needs something to change */
	if (r->cmd == DRV_CLI_SET && !(r->be_set & (DRV_CLI_BE_WEIGHT | DRV_CLI_BE_STATE)))
		return fail(
			p,
			"backend set changes nothing without 'weight N' or a state (up, drain, down)");
	if ((r->be_set & DRV_CLI_BE_WEIGHT) && !b->weight) {
		if (!(r->be_set & DRV_CLI_BE_STATE))
			b->state = DRV_BE_DRAIN; /* weight 0 drains */
		else if (b->state == DRV_BE_UP)
			return fail(
				p,
				"a backend with weight 0 can't be 'up': give it a weight ≥ 1 or 'drain' it");
	}
	return 0;
}

static bool looks_like_addr(const char *w)
{
	union drv_addr a;
	__u8 f;

	return w && !drv_addr_parse(w, &a, &f);
}

static int parse_stats(struct pctx *p, struct drv_cli_req *r)
{
	static const struct kw show[] = { { "show", 0 }, { "list", 0 }, {} };
	const char *w = peek(p);
	int err, v;

	r->cmd = DRV_CLI_SHOW;
	/* its one command, by prefix and alias like every other one */
	if (w && !kw_select(w, show, &v))
		next(p);
	if (looks_like_addr(peek(p))) {
		err = parse_svc(p, &r->svc.key);
		if (err)
			return err;
		r->has_svc = true;
	}
	while ((w = next(p))) {
		if (!strcmp(w, "--watch") || !strcmp(w, "watch")) {
			if (r->watch_s)
				return fail(p, "'%s' given twice", w);
			err = parse_u32_kw(p, "--watch", 1, 3600, &r->watch_s);
		} else if (!strcmp(w, "count")) {
			if (r->count)
				return fail(p, "'count' given twice");
			err = parse_u32_kw(p, "count", 1, 1000000, &r->count);
		} else {
			return fail(p,
				    "what is '%s'? (stats [show] [SVC] [--watch SECS [count N]])",
				    w);
		}
		if (err)
			return err;
	}
	if (r->count && !r->watch_s)
		return fail(p, "'count' needs '--watch SECS'");
	return 0;
}

static int parse_lookup(struct pctx *p, struct drv_cli_req *r)
{
	const char *w;
	int err;

	if (!peek(p))
		return fail(p, "expected SVC from ADDR port PORT after 'lookup'");
	err = parse_svc(p, &r->svc.key);
	if (err)
		return err;
	r->has_svc = true;
	w = next(p);
	if (!w || strcmp(w, "from"))
		return fail(p, "expected 'from ADDR port PORT' after the service%s%s%s",
			    w ? ", not '" : "", w ? w : "", w ? "'" : "");
	err = parse_addr(p, "client address", true, &r->client, &r->client_family);
	if (err)
		return err;
	if (r->client_family != r->svc.key.family)
		return fail(p, "client %s is %s but the service address is %s", p->argv[p->i - 1],
			    fam_str(r->client_family), fam_str(r->svc.key.family));
	w = next(p);
	if (!w || strcmp(w, "port"))
		return fail(p, "expected 'port PORT' after the client address");
	err = parse_port(p, "client port", &r->client_port);
	if (err)
		return err;
	if (peek(p))
		return fail(p, "what is '%s'? (lookup SVC from ADDR port PORT)", peek(p));
	return 0;
}

static int parse_ifname(struct pctx *p, struct drv_cli_req *r, const char *cmd)
{
	const char *w = next(p);

	if (!w)
		return fail(p, "expected IFNAME after '%s'", cmd);
	/* The kernel's rule: '' would name the links directory itself, not a pin in it. */
	if (!drv_ifname_valid(w))
		return fail(
			p,
			"'%s' is not an interface name (1-15 characters, not '.' or '..'; no '/', ':' or blanks): check it with `ip link show`",
			w);
	strcpy(r->ifname, w);
	return 0;
}

static int parse_attach(struct pctx *p, struct drv_cli_req *r)
{
	static const struct kw modes[] = { { "native", DRV_XDP_NATIVE },
					   { "skb", DRV_XDP_SKB },
					   { "drv", DRV_XDP_NATIVE },
					   { "generic", DRV_XDP_SKB },
					   {} };
	const char *w;
	bool mode_set = false;
	int err, v;

	err = parse_ifname(p, r, "attach");
	if (err)
		return err;
	while ((w = next(p))) {
		if (!strcmp(w, "mode")) {
			if (mode_set)
				return fail(p, "'mode' given twice");
			mode_set = true;
			w = next(p);
			if (!w)
				return fail(p, "expected native or skb after 'mode'");
			if (kw_select(w, modes, &v))
				return fail(p, "mode '%s' is not native or skb", w);
			r->xdp_mode = (enum drv_xdp_mode)v;
		} else if (!strcmp(w, "force")) {
			if (r->force)
				return fail(p, "'force' given twice");
			r->force = true;
		} else {
			return fail(p,
				    "what is '%s'? (attach IFNAME [mode { native | skb }] [force])",
				    w);
		}
	}
	return 0;
}

static int parse_detach(struct pctx *p, struct drv_cli_req *r)
{
	const char *w;
	int err;

	err = parse_ifname(p, r, "detach");
	if (err)
		return err;
	while ((w = next(p))) {
		if (strcmp(w, "keep-maps"))
			return fail(p, "what is '%s'? (detach IFNAME [keep-maps])", w);
		if (r->keep_maps)
			return fail(p, "'keep-maps' given twice");
		r->keep_maps = true;
	}
	return 0;
}

/* node-setup { dsr | tunnel } VIP... [undo] */
static int parse_node_setup(struct pctx *p, struct drv_cli_req *r)
{
	static const struct kw modes[] = { { "dsr", DRV_MODE_DSR },
					   { "tunnel", DRV_MODE_TUNNEL },
					   {} };
	struct drv_node_setup_conf *c = &r->node;
	const char *w = next(p);
	int v, err;

	if (!w)
		return fail(p, "expected dsr or tunnel after 'node-setup'");
	if (kw_select(w, modes, &v))
		return fail(p, "mode '%s' is not dsr or tunnel (nat needs no node setup)", w);
	c->mode = (__u8)v;
	while ((w = peek(p))) {
		if (!strcmp(w, "undo")) {
			next(p);
			if (c->undo)
				return fail(p, "'undo' given twice");
			c->undo = true;
			continue;
		}
		if (c->n == DRV_NODE_MAX_VIPS)
			return fail(p, "at most %d VIPs per node-setup", DRV_NODE_MAX_VIPS);
		err = parse_addr(p, "VIP", false, &c->vips[c->n], &c->family[c->n]);
		if (err)
			return err;
		for (size_t i = 0; i < c->n; i++)
			if (c->family[i] == c->family[c->n] &&
			    !memcmp(&c->vips[i], &c->vips[c->n], sizeof(c->vips[i])))
				return fail(p, "VIP %s is given twice", w);
		c->n++;
	}
	if (!c->n)
		return fail(p, "expected at least one VIP after '%s'",
			    v == DRV_MODE_DSR ? "dsr" : "tunnel");
	return 0;
}

static const struct kw objs[] = { { "attach", DRV_CLI_ATTACH },
				  { "detach", DRV_CLI_DETACH },
				  { "status", DRV_CLI_STATUS },
				  { "service", DRV_CLI_SERVICE },
				  { "backend", DRV_CLI_BACKEND },
				  { "stats", DRV_CLI_STATS },
				  { "lookup", DRV_CLI_LOOKUP },
				  { "run", DRV_CLI_RUN },
				  { "version", DRV_CLI_VERSION },
				  { "node-setup", DRV_CLI_NODE_SETUP },
				  {} };

/* The error for option @a that no command takes: it lists the ones there are. */
static int unknown_option(const char *a, char *err, size_t len)
{
	snprintf(err, len, "unknown option '%s' (options: -j, -p, -v, -V, -h, --bpffs PATH)", a);
	return -EINVAL;
}

/* Is @a one of drover's own options (-j, -p, -v, -V, clustered; --json, --bpffs, ...)? */
static bool is_global_option(const char *a)
{
	static const char *const longs[] = { "--json",	  "--pretty", "--verbose",
					     "--version", "--bpffs",  NULL };
	int i;

	if (a[0] != '-' || !a[1])
		return false;
	if (a[1] == '-') {
		for (i = 0; longs[i]; i++)
			if (!strcmp(a, longs[i]))
				return true;
		return !strncmp(a, "--bpffs=", 8);
	}
	return strspn(a + 1, "jpvV") == strlen(a + 1);
}

/* Split the global options from the words; everything after `run` is left alone. */
static int parse_global(int argc, char **argv, struct drv_cli_req *r, int *nwords, char *err,
			size_t len)
{
	int i, n = 0;
	bool positional_seen = false, in_run = false;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		/* "-3" is a (bad) value, not an option: the keyword before it names the error. */
		if (in_run || a[0] != '-' || !a[1] || isdigit((unsigned char)a[1])) {
			int obj;

			/* `run` by any of its prefixes, as drv_cli_parse() takes it */
			if (!positional_seen && !kw_select(a, objs, &obj) && obj == DRV_CLI_RUN)
				in_run = true;
			positional_seen = true;
			r->words[n++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--watch")) { /* a stats option: keep it and its value */
			r->words[n++] = argv[i];
			if (i + 1 < argc)
				r->words[n++] = argv[++i];
			continue;
		}
		if (!strncmp(a, "--watch=", 8)) { /* --watch=SECS, as --bpffs=PATH */
			r->words[n++] = "--watch";
			r->words[n++] = argv[i] + 8;
			continue;
		}
		if (a[1] == '-') {
			if (!strcmp(a, "--json")) {
				r->json = true;
			} else if (!strcmp(a, "--pretty")) {
				r->json = r->pretty = true;
			} else if (!strcmp(a, "--verbose")) {
				r->verbose++;
			} else if (!strcmp(a, "--version")) {
				r->version = true;
			} else if (!strcmp(a, "--help")) {
				r->help = true;
			} else if (!strcmp(a, "--bpffs")) {
				if (i + 1 >= argc || !argv[i + 1][0]) {
					snprintf(err, len, "--bpffs needs a PATH");
					return -EINVAL;
				}
				r->bpffs = argv[++i];
			} else if (!strncmp(a, "--bpffs=", 8) && a[8]) {
				r->bpffs = a + 8;
			} else {
				return unknown_option(a, err, len);
			}
			continue;
		}
		for (const char *c = a + 1; *c; c++) {
			switch (*c) {
			case 'j':
				r->json = true;
				break;
			case 'p':
				r->json = r->pretty = true;
				break;
			case 'v':
				r->verbose++;
				break;
			case 'V':
				r->version = true;
				break;
			case 'h':
				r->help = true;
				break;
			default:
				return unknown_option(a, err, len);
			}
		}
	}
	r->words[n] = NULL;
	*nwords = n;
	/* room for "/links/IFNAME" and map names under it */
	if (strlen(r->bpffs) > PATH_MAX - 64) {
		snprintf(err, len, "--bpffs path is longer than %d characters", PATH_MAX - 64);
		return -EINVAL;
	}
	return 0;
}

int drv_cli_parse(int argc, char **argv, struct drv_cli_req *r, char *err, size_t len)
{
	struct pctx p = { .err = err, .len = len };
	const char *w;
	int n, v, i, rc;

	memset(r, 0, sizeof(*r));
	r->bpffs = DRV_PIN_ROOT;
	err[0] = 0;
	/* --watch=SECS becomes two words: room for every argument doing so */
	r->words = calloc(2 * (size_t)argc + 1, sizeof(*r->words));
	if (!r->words) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	rc = parse_global(argc, argv, r, &n, err, len);
	if (rc) {
		/* an option after the object: main() points at that object's help */
		if (r->words[0] && !kw_select(r->words[0], objs, &v))
			r->obj = (enum drv_cli_obj)v;
		return rc;
	}
	p.argc = n;
	p.argv = r->words;
	w = next(&p);
	/* No object at all: obj stays DRV_CLI_NONE, a usage error (the grammar on stderr, 2). */
	if (!w || r->version) {
		if (r->version)
			r->obj = DRV_CLI_VERSION;
		return 0;
	}
	if (!strcmp(w, "help")) {
		r->help = true;
		/* `drover help OBJECT ...` is `drover OBJECT help`: that object's grammar */
		w = next(&p);
		if (!w)
			return 0;
	}
	rc = kw_select(w, objs, &v);
	if (rc == -EAGAIN) {
		char names[128];

		return fail(&p, "'%s' is ambiguous: %s? type more of it", w,
			    kw_prefixed(w, objs, names, sizeof(names)));
	}
	if (rc) {
		char names[160];

		/* every object of the table: a list written out by hand lost `version` */
		return fail(&p, "what is '%s'? (objects: %s)", w,
			    kw_prefixed("", objs, names, sizeof(names)));
	}
	r->obj = (enum drv_cli_obj)v;
	if (r->obj == DRV_CLI_RUN) {
		static char *run_help[] = { "help", NULL };

		/* drover's own options after run: the agent would say only "what is '-v'?" */
		for (i = p.i; i < n && !r->help; i++) {
			const char *a = r->words[i];

			if (!strcmp(a, "config") || !strcmp(a, "--config") || !strcmp(a, "-c"))
				i++; /* its FILE, whatever it looks like */
			else if (!strcmp(a, "-h"))
				r->help = true; /* as everywhere else: the grammar, status 0 */
			else if (is_global_option(a))
				return fail(
					&p,
					"'%s' is an option of drover, not of run: give it before 'run' (drover %s%s%s run config FILE ...)",
					a, a, !strcmp(a, "--bpffs") && i + 1 < n ? " " : "",
					!strcmp(a, "--bpffs") && i + 1 < n ? r->words[i + 1] : "");
		}
		if (r->help) { /* the agent prints its own help, as for `drover run help` */
			r->run_argc = 1;
			r->run_argv = run_help;
			return 0;
		}
		r->run_argc = n - p.i;
		r->run_argv = r->words + p.i;
		return 0;
	}
	/* `help` anywhere after the object: that object's grammar. */
	for (i = p.i; i < n; i++) {
		if (!strcmp(r->words[i], "help")) {
			r->help = true;
			return 0;
		}
	}
	if (r->help)
		return 0;
	switch (r->obj) {
	case DRV_CLI_ATTACH:
		return parse_attach(&p, r);
	case DRV_CLI_DETACH:
		return parse_detach(&p, r);
	case DRV_CLI_SERVICE:
		return parse_service(&p, r);
	case DRV_CLI_BACKEND:
		return parse_backend(&p, r);
	case DRV_CLI_STATS:
		return parse_stats(&p, r);
	case DRV_CLI_LOOKUP:
		return parse_lookup(&p, r);
	case DRV_CLI_NODE_SETUP:
		return parse_node_setup(&p, r);
	case DRV_CLI_STATUS:
	case DRV_CLI_VERSION:
		if (peek(&p))
			return fail(&p, "what is '%s'? (%s takes no arguments)", peek(&p), w);
		return 0;
	default:
		return fail(&p, "what is '%s'?", w);
	}
}

void drv_cli_req_free(struct drv_cli_req *req)
{
	free(req->words);
	req->words = NULL;
}

/* ---- stats --watch ---- */

const struct drv_lb_counters *drv_stats_be_prev(const struct drv_be_info *prev_by_id,
						const struct drv_be_info *cur)
{
	const struct drv_be_info *p;

	if (!cur->id || cur->id >= DRV_MAX_BACKENDS)
		return NULL;
	p = &prev_by_id[cur->id];
	/* gen is bumped on every reuse; the rest also tells maps pinned anew apart */
	if (p->id != cur->id || p->be.gen != cur->be.gen || p->be.svc_id != cur->be.svc_id ||
	    p->be.family != cur->be.family || p->be.port != cur->be.port ||
	    memcmp(&p->be.addr, &cur->be.addr, sizeof(p->be.addr)))
		return NULL;
	return &p->cnt;
}

/* ---- JSON writer ---- */

void drv_jw_init(struct drv_jw *w, FILE *f, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->pretty = pretty;
}

static void jw_indent(struct drv_jw *w)
{
	int i;

	if (!w->pretty)
		return;
	fputc('\n', w->f);
	for (i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

/* Before a value or a key: comma and indentation, unless right after a key. */
static void jw_sep(struct drv_jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth > 0) {
		if (w->need_comma[w->depth])
			fputc(',', w->f);
		w->need_comma[w->depth] = true;
		jw_indent(w);
	}
}

static void jw_open(struct drv_jw *w, char c)
{
	jw_sep(w);
	fputc(c, w->f);
	if (w->depth < (int)ARRAY_SIZE(w->need_comma) - 1)
		w->depth++;
	w->need_comma[w->depth] = false;
}

static void jw_close(struct drv_jw *w, char c)
{
	bool had = w->need_comma[w->depth];

	if (w->depth > 0)
		w->depth--;
	if (had)
		jw_indent(w);
	fputc(c, w->f);
}

void drv_jw_obj_open(struct drv_jw *w)
{
	jw_open(w, '{');
}

void drv_jw_obj_close(struct drv_jw *w)
{
	jw_close(w, '}');
}

void drv_jw_arr_open(struct drv_jw *w)
{
	jw_open(w, '[');
}

void drv_jw_arr_close(struct drv_jw *w)
{
	jw_close(w, ']');
}

/* Bytes in the well-formed UTF-8 sequence at @c (RFC 3629), 0 if it is none. */
static int utf8_len(const unsigned char *c)
{
	int n = c[0] >= 0xf0 ? 4 : c[0] >= 0xe0 ? 3 : 2, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c[0] < 0xc2 || c[0] > 0xf4)
		return 0;
	if (c[0] == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c[0] == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c[0] == 0xf0)
		lo = 0x90; /* overlong */
	else if (c[0] == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (c[1] < lo || c[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (c[i] < 0x80 || c[i] > 0xbf)
			return 0;
	return n;
}

/*
 * @s as a JSON string. An interface name may hold any bytes but '/', blanks
 * and ':': one that is not UTF-8 is written U+FFFD, so the document stays JSON.
 */
static void jw_quote(struct drv_jw *w, const char *s)
{
	const unsigned char *c;
	int n;

	fputc('"', w->f);
	for (c = (const unsigned char *)s; *c; c++) {
		if (*c >= 0x80) {
			n = utf8_len(c);
			if (!n) {
				fputs("\\ufffd", w->f);
				continue;
			}
			fwrite(c, 1, (size_t)n, w->f);
			c += n - 1;
			continue;
		}
		switch (*c) {
		case '"':
			fputs("\\\"", w->f);
			break;
		case '\\':
			fputs("\\\\", w->f);
			break;
		case '\n':
			fputs("\\n", w->f);
			break;
		case '\t':
			fputs("\\t", w->f);
			break;
		default:
			if (*c < 0x20)
				fprintf(w->f, "\\u%04x", *c);
			else
				fputc(*c, w->f);
		}
	}
	fputc('"', w->f);
}

void drv_jw_key(struct drv_jw *w, const char *key)
{
	jw_sep(w);
	jw_quote(w, key);
	fputs(w->pretty ? ": " : ":", w->f);
	w->after_key = true;
}

void drv_jw_str(struct drv_jw *w, const char *s)
{
	jw_sep(w);
	jw_quote(w, s);
}

void drv_jw_u64(struct drv_jw *w, unsigned long long v)
{
	jw_sep(w);
	fprintf(w->f, "%llu", v);
}

void drv_jw_bool(struct drv_jw *w, bool v)
{
	jw_sep(w);
	fputs(v ? "true" : "false", w->f);
}

void drv_jw_null(struct drv_jw *w)
{
	jw_sep(w);
	fputs("null", w->f);
}

void drv_jw_kstr(struct drv_jw *w, const char *key, const char *s)
{
	drv_jw_key(w, key);
	drv_jw_str(w, s);
}

void drv_jw_ku64(struct drv_jw *w, const char *key, unsigned long long v)
{
	drv_jw_key(w, key);
	drv_jw_u64(w, v);
}

void drv_jw_kbool(struct drv_jw *w, const char *key, bool v)
{
	drv_jw_key(w, key);
	drv_jw_bool(w, v);
}

void drv_jw_end(struct drv_jw *w)
{
	fputc('\n', w->f);
	fflush(w->f);
}
