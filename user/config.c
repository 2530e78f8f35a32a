// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * YAML configuration of the agent, through libyaml's document (node) API: the
 * whole file is loaded, then walked; every node keeps its start mark, so each
 * error names the line and column of the value that is wrong.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"
#include "ctl.h"
#include "util.h"

struct pctx {
	const char *name;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
	__u32 *refs; /* by node index: how many times the document uses it (aliases: more than once) */
};

__attribute__((format(printf, 3, 4))) static int perr(struct pctx *p, const yaml_node_t *n,
						      const char *fmt, ...)
{
	size_t line = n ? n->start_mark.line + 1 : 1, col = n ? n->start_mark.column + 1 : 1;
	int off;
	va_list ap;

	off = snprintf(p->err, p->errlen, "%s:%zu:%zu: ", p->name, line, col);
	if (off < 0 || (size_t)off >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + off, p->errlen - off, fmt, ap);
	va_end(ap);
	/* one node for the anchored value and each alias: the error may be about an alias's place */
	if (n && p->refs && p->refs[n - p->doc->nodes.start] > 1) {
		off = (int)strlen(p->err);
		snprintf(
			p->err + off, p->errlen - off,
			" (this value is written here, at its anchor '&', and used again through an alias '*': the error may be about a place that uses it)");
	}
	/* a plain value over lines: a line indented deeper than the one above joined it */
	if (n && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    n->end_mark.line > n->start_mark.line) {
		off = (int)strlen(p->err);
		snprintf(
			p->err + off, p->errlen - off,
			" (the value runs on over lines %zu to %zu: YAML joins a line indented deeper than its key or list item to the value before it; check the indentation)",
			n->start_mark.line + 1, n->end_mark.line + 1);
	}
	return -EINVAL;
}

static bool is_a_key(const char *s, size_t len);
static bool is_null(const yaml_node_t *n);

#define DASH_HINT "(a list item needs a blank after its '-')"
#define COLON_HINT "(a key needs a blank after its ':')"

/*
 * What YAML made of a plain scalar @n that was meant as a list item or a
 * 'key: value' but lacks the blank that makes it one ("-10.0.0.11",
 * "name:web"): an index into blank_hints (said after the scalar) and
 * scalar_names; 0 for any other.
 */
static int blank_kind(const yaml_node_t *n)
{
	const char *s, *colon;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	s = (const char *)n->data.scalar.value;
	if (s[0] == '-' && s[1] && s[1] != ' ')
		return 1;
	colon = strchr(s, ':');
	if (colon && colon[1] && colon[1] != ' ' && is_a_key(s, (size_t)(colon - s)))
		return 2;
	return 0;
}

static const char *const blank_hints[] = { "", " " DASH_HINT, " " COLON_HINT };

static const char *type_name(const yaml_node_t *n)
{
	static const char *const scalar_names[] = { "a scalar", "a scalar " DASH_HINT,
						    "a scalar " COLON_HINT };

	switch (n->type) {
	case YAML_SCALAR_NODE:
		/* "key:" and nothing after it (its items forgotten, or indented too little) */
		if (is_null(n))
			return "nothing";
		return scalar_names[blank_kind(n)];
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static yaml_node_t *node_at(struct pctx *p, int idx)
{
	return yaml_document_get_node(p->doc, idx);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = scalar(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null");
}

static int want_scalar(struct pctx *p, const yaml_node_t *n, const char *key, const char **out)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return perr(p, n, "'%s' needs a value, got %s", key,
			    n->type == YAML_SCALAR_NODE ? "nothing" : type_name(n));
	/* "\0" in a double-quoted string: C would read the value only up to it */
	if (strlen(scalar(n)) != n->data.scalar.length)
		return perr(p, n, "'%s' holds a NUL character (\\0): remove it", key);
	*out = scalar(n);
	return 0;
}

static const char *key_home(const char *what, const char *key);

/*
 * Check that every key of mapping @map is a scalar, known (in @known) and not
 * repeated. @what names the mapping in messages.
 */
/* Are @a and @b the same key but for case and '_' for '-' ("Snat_Ports", "snat-ports")? */
static bool same_key_loosely(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != *b && !(*a == '_' && *b == '-'))
			return false;
	return !*a && !*b;
}

static int check_keys(struct pctx *p, yaml_node_t *map, const char *const *known, const char *what)
{
	yaml_node_pair_t *a, *b;

	for (a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
		yaml_node_t *k = node_at(p, a->key);
		const char *const *kn, *home;
		char list[512] = "";
		size_t off = 0;

		if (k->type != YAML_SCALAR_NODE)
			return perr(p, k, "keys of %s must be names, got %s", what, type_name(k));
		if (strlen(scalar(k)) != k->data.scalar.length)
			return perr(p, k, "a key holds a NUL character (\\0) in %s: remove it",
				    what);
		/* libyaml keeps '<<: *anchor' as a plain key: nothing would be merged */
		if (!strcmp(scalar(k), "<<") && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return perr(
				p, k,
				"YAML merge keys ('<<') are not supported: put what services share under 'defaults:', or write the keys out in %s",
				what);
		for (kn = known; *kn; kn++)
			if (!strcmp(*kn, scalar(k)))
				break;
		if (!*kn) {
			const char *meant = NULL;

			for (kn = known; *kn && off < sizeof(list); kn++) {
				off += snprintf(list + off, sizeof(list) - off, "%s%s",
						kn == known ? "" : ", ", *kn);
				if (same_key_loosely(scalar(k), *kn))
					meant = *kn;
			}
			if (meant)
				return perr(
					p, k,
					"unknown key '%s' in %s (known keys: %s); did you mean '%s'?",
					scalar(k), what, list, meant);
			home = key_home(what, scalar(k));
			return perr(p, k, "unknown key '%s' in %s (known keys: %s)%s%s%s%s",
				    scalar(k), what, list, home ? "; '" : "", home ? scalar(k) : "",
				    home ? "' is a key of " : "", home ? home : "");
		}
		for (b = map->data.mapping.pairs.start; b < a; b++) {
			yaml_node_t *kb = node_at(p, b->key);

			if (!strcmp(scalar(kb), scalar(k)))
				return perr(p, k, "duplicate key '%s' in %s (first at line %zu)",
					    scalar(k), what, kb->start_mark.line + 1);
		}
	}
	return 0;
}

/* Value of @key in mapping @map, or NULL. Keys were checked by check_keys(). */
static yaml_node_t *find(struct pctx *p, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *a;

	for (a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++)
		if (!strcmp(scalar(node_at(p, a->key)), key))
			return node_at(p, a->value);
	return NULL;
}

static int want_mapping(struct pctx *p, yaml_node_t *n, const char *key)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(p, n, "'%s' must be a mapping (key: value lines), got %s", key,
			    type_name(n));
	return 0;
}

/* Numbers apart by commas ("80, 443"): a list written without its brackets. */
static const char *list_hint(const char *s)
{
	if (!strchr(s, ',') || strspn(s, "0123456789, ") != strlen(s))
		return "";
	return " (a list is written in brackets: [80, 443])";
}

/* Digits only: a number, maybe one too large for drv_u32_parse to hold. */
static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/*
 * "0120" is 80 to YAML 1.1 readers (octal: PyYAML, Go's yaml.v2) and 120 to
 * drover: a number that tools read two ways is refused, saying what to write.
 */
static int no_leading_zero(struct pctx *p, yaml_node_t *n, const char *key, const char *s)
{
	const char *rest = s + strspn(s, "0");

	if (s[0] != '0' || !s[1] || !all_digits(s))
		return 0;
	return perr(
		p, n,
		"'%s' is %s, a number with a leading 0, which YAML 1.1 readers take for octal: write %s",
		key, s, *rest ? rest : "0");
}

static int get_u32(struct pctx *p, yaml_node_t *n, const char *key, __u32 min, __u32 max,
		   __u32 *out)
{
	const char *s;
	int err = want_scalar(p, n, key, &s);

	if (err || (err = no_leading_zero(p, n, key, s)))
		return err;
	err = drv_u32_parse(s, min, max, out);
	if (err == -ERANGE || (err && all_digits(s)))
		return perr(p, n, "'%s' is %s, must be %u..%u", key, s, min, max);
	if (err)
		return perr(p, n, "'%s' must be a number, got '%s'%s", key, s, list_hint(s));
	return 0;
}

static int get_port(struct pctx *p, yaml_node_t *n, const char *key, __u16 *out)
{
	const char *s;
	__u32 v;
	int err = want_scalar(p, n, key, &s);

	if (err || (err = no_leading_zero(p, n, key, s)))
		return err;
	err = drv_u32_parse(s, 1, 65535, &v);
	if (err == -ERANGE || (err && all_digits(s)))
		return perr(p, n, "'%s' is %s, must be a port 1..65535", key, s);
	if (err)
		return perr(p, n, "'%s' must be a port number, got '%s'%s", key, s, list_hint(s));
	*out = (__u16)v;
	return 0;
}

static int get_bool(struct pctx *p, yaml_node_t *n, const char *key, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "True", "TRUE", NULL };
	static const char *const no[] = { "false", "no", "off", "False", "FALSE", NULL };
	const char *s;
	int err = want_scalar(p, n, key, &s), i;

	if (err)
		return err;
	for (i = 0; yes[i]; i++)
		if (!strcmp(s, yes[i])) {
			*out = true;
			return 0;
		}
	for (i = 0; no[i]; i++)
		if (!strcmp(s, no[i])) {
			*out = false;
			return 0;
		}
	return perr(p, n, "'%s' must be true or false, got '%s'", key, s);
}

static int get_str(struct pctx *p, yaml_node_t *n, const char *key, char *out, size_t len)
{
	const char *s;
	int err = want_scalar(p, n, key, &s);

	if (err)
		return err;
	if (strlen(s) >= len)
		return perr(p, n, "'%s' is too long (at most %zu characters)", key, len - 1);
	if (strpbrk(s, "\r\n"))
		return perr(p, n, "'%s' must be one line", key);
	strcpy(out, s);
	return 0;
}

/*
 * @s is not an address: if it is one with a port ("ADDR:PORT", "[ADDR6]:PORT",
 * as nginx and HAProxy take nodes), a prefix length ("ADDR/32", as keepalived
 * and MetalLB take VIPs) or brackets, say so with what to write.
 */
static int addr_refused(struct pctx *p, yaml_node_t *n, const char *key, const char *s)
{
	char host[DRV_ADDR_STRLEN];
	const char *rest = drv_addr_extra(s, host, sizeof(host)), *to_do = "", *zone;
	union drv_addr a;
	__u8 fam;

	/* "fe80::1%eth0": a zone, as ping and ip take a link-local address */
	zone = strchr(s, '%');
	if (!rest && zone && (size_t)(zone - s) < sizeof(host)) {
		memcpy(host, s, (size_t)(zone - s));
		host[zone - s] = 0;
		if (!drv_addr_parse(host, &a, &fam) && fam == DRV_FAMILY_V6)
			return perr(
				p, n, "'%s' is %s with a zone (%s): %s", key, host, zone,
				drv_addr_not_host(&a, fam) ?
					"an address here names no interface, so a link-local one cannot be used; give the node's global or unique-local address" :
					"give the address alone");
	}
	/* a host name (letters, digits, '-', '.'; not all digits and dots) */
	if (!rest &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") ==
		    strlen(s) &&
	    strspn(s, "0123456789.") != strlen(s))
		return perr(
			p, n,
			"'%s' is '%s', a name: drover does not resolve names; give its IPv4 or IPv6 address",
			key, s);
	if (!rest)
		return perr(
			p, n,
			"'%s' is not an IPv4 or IPv6 address: '%s'; give one like 10.0.0.100 or fd00::100",
			key, s);
	if (!*rest)
		return perr(p, n, "'%s' is %s in brackets: give the address alone", key, host);
	if (*rest == ':' && !strcmp(key, "address"))
		to_do = "; nodes receive the service's ports";
	else if (*rest == ':' && !strcmp(key, "vip"))
		to_do = "; list ports under 'ports:'";
	return perr(p, n, "'%s' is %s with %s (%s): give the address alone%s", key, host,
		    *rest == '/' ? "a prefix length" : "a port", rest, to_do);
}

static int get_addr(struct pctx *p, yaml_node_t *n, const char *key, union drv_addr *addr,
		    __u8 *family)
{
	const char *s, *why;
	int err = want_scalar(p, n, key, &s);

	if (err)
		return err;
	if (drv_addr_parse(s, addr, family))
		return addr_refused(p, n, key, s);
	why = drv_addr_not_host(addr, *family);
	if (why)
		return perr(p, n, "'%s' is %s '%s': give a host's address", key, why, s);
	return 0;
}

/* @max: the longest the key takes, said when the value does not even fit in 32 bits of ms */
static int get_duration(struct pctx *p, yaml_node_t *n, const char *key, const char *max, __u32 *ms)
{
	const char *s;
	int err = want_scalar(p, n, key, &s);

	if (err || (err = no_leading_zero(p, n, key, s)))
		return err;
	err = drv_duration_parse(s, ms);
	if (err == -ERANGE)
		return perr(p, n, "'%s' is %s, too long: at most %s", key, s, max);
	if (err)
		return perr(p, n, "'%s' is not a duration like 2s, 500ms, 1m or 1h: '%s'", key, s);
	return 0;
}

int drv_duration_parse(const char *s, __u32 *ms)
{
	unsigned long long v;
	bool overflow;
	__u64 mul;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	overflow = errno == ERANGE;
	if (errno && !overflow)
		return -EINVAL;
	if (!*end || !strcmp(end, "s"))
		mul = 1000;
	else if (!strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "m"))
		mul = 60000;
	else if (!strcmp(end, "h"))
		mul = 3600000;
	else
		return -EINVAL;
	if (overflow || v > UINT32_MAX / mul)
		return -ERANGE;
	*ms = (__u32)(v * mul);
	return 0;
}

const char *drv_hc_kind_name(enum drv_hc_kind kind)
{
	static const char *const names[] = { "tcp", "http", "https", "tls" };

	_Static_assert(ARRAY_SIZE(names) == __DRV_HC_MAX, "drv_hc_kind names");
	return (unsigned int)kind < __DRV_HC_MAX ? names[kind] : "?";
}

/* Check fields only (what to check), not timing. */
static void hc_reset_kind(struct drv_hc_conf *hc, enum drv_hc_kind kind)
{
	hc->kind = kind;
	hc->port = 0;
	strcpy(hc->path, "/");
	hc->host[0] = hc->sni[0] = hc->body[0] = 0;
	hc->expect[0] = 200;
	hc->nexpect = 1;
	hc->verify = false;
	hc->ca[0] = hc->cert[0] = hc->key[0] = 0;
}

void drv_hc_defaults(struct drv_hc_conf *hc)
{
	memset(hc, 0, sizeof(*hc));
	hc_reset_kind(hc, DRV_HC_TCP);
	/* Down in ≤ fall × interval + timeout = 7 s; see docs/agent.md for why. */
	hc->interval_ms = 2000;
	hc->timeout_ms = 1000;
	hc->rise = 2;
	hc->fall = 3;
	hc->jitter_pct = 10;
	/* Outlasts a check failure that hits every node a moment apart; see docs/agent.md. */
	hc->rehash_after_ms = 10000;
	/* The data path's idle timeout: a connection idle that long is gone anyway. */
	hc->leave_after_ms = 3600u * 1000;
}

int drv_hc_preset(const char *name, struct drv_hc_conf *hc)
{
	if (!strcmp(name, "tcp")) {
		hc_reset_kind(hc, DRV_HC_TCP);
	} else if (!strcmp(name, "rancher")) {
		/* Rancher's load balancer guides: GET /healthz on port 80, expect 200. */
		hc_reset_kind(hc, DRV_HC_HTTP);
		hc->port = 80;
		strcpy(hc->path, "/healthz");
	} else if (!strcmp(name, "kube-apiserver")) {
		/* /readyz fails while etcd is gone or the apiserver is hung; a TCP check passes. */
		hc_reset_kind(hc, DRV_HC_HTTPS);
		hc->port = 6443;
		strcpy(hc->path, "/readyz");
		strcpy(hc->sni, "kubernetes");
	} else if (!strcmp(name, "rke2-supervisor")) {
		/* k3s/RKE2 supervisor serves an unauthenticated GET /ping → 200 "pong". */
		hc_reset_kind(hc, DRV_HC_HTTPS);
		hc->port = 9345;
		strcpy(hc->path, "/ping");
		strcpy(hc->body, "pong");
	} else {
		return -ENOENT;
	}
	return 0;
}

static const char *const health_keys[] = {
	"preset",  "kind",   "port", "path",   "host",	       "sni",	      "expect",
	"body",	   "verify", "ca",   "cert",   "key",	       "source",      "interval",
	"timeout", "rise",   "fall", "jitter", "rehash-after", "leave-after", NULL,
};

static int parse_preset(struct pctx *p, yaml_node_t *n, const char *key, struct drv_hc_conf *hc)
{
	const char *s;
	int err = want_scalar(p, n, key, &s);

	if (err)
		return err;
	if (drv_hc_preset(s, hc))
		return perr(
			p, n,
			"unknown health preset '%s' (known: rancher, kube-apiserver, rke2-supervisor, tcp)%s",
			s, blank_hints[blank_kind(n)]);
	return 0;
}

/* Keys of mapping @n that the check's kind would ignore are refused: they say what is not checked. */
static int health_keys_fit_kind(struct pctx *p, yaml_node_t *n, const struct drv_hc_conf *hc)
{
	static const char *const http_keys[] = { "path", "host", "body", "expect" };
	static const char *const tls_keys[] = { "sni", "verify", "ca", "cert", "key" };
	bool http = hc->kind == DRV_HC_HTTP || hc->kind == DRV_HC_HTTPS;
	bool tls = hc->kind == DRV_HC_HTTPS || hc->kind == DRV_HC_TLS;
	yaml_node_t *v;
	size_t i;

	for (i = 0; !http && i < ARRAY_SIZE(http_keys); i++)
		if ((v = find(p, n, http_keys[i])))
			return perr(p, v, "'%s' is for kind http or https; this check is kind %s",
				    http_keys[i], drv_hc_kind_name(hc->kind));
	for (i = 0; !tls && i < ARRAY_SIZE(tls_keys); i++)
		if ((v = find(p, n, tls_keys[i])))
			return perr(p, v, "'%s' is for kind https or tls; this check is kind %s",
				    tls_keys[i], drv_hc_kind_name(hc->kind));
	return 0;
}

/*
 * @s, the value of @key at @n, is one word: a blank or control character in
 * the request line or a header (path, host) makes a request no server answers
 * with 200, and no TLS name holds one. Refused, saying @todo.
 */
static int want_word(struct pctx *p, yaml_node_t *n, const char *key, const char *s,
		     const char *todo)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return perr(p, n, "'%s' holds a blank or control character: %s", key, todo);
	return 0;
}

/* @n: a preset name or a mapping of health_keys, applied over @hc. */
static int parse_health(struct pctx *p, yaml_node_t *n, struct drv_hc_conf *hc)
{
	yaml_node_t *v;
	int err;

	if (n->type == YAML_SCALAR_NODE)
		err = parse_preset(p, n, "health", hc);
	else if (n->type != YAML_MAPPING_NODE)
		err = perr(p, n, "'health' must be a preset name or a mapping, got %s",
			   type_name(n));
	else
		err = check_keys(p, n, health_keys, "health");
	if (err || n->type == YAML_SCALAR_NODE)
		return err;

	/* preset and kind first: they reset what to check, the other keys refine it. */
	if ((v = find(p, n, "preset")) && (err = parse_preset(p, v, "preset", hc)))
		return err;
	if ((v = find(p, n, "kind"))) {
		const char *s;
		int k;

		if ((err = want_scalar(p, v, "kind", &s)))
			return err;
		for (k = 0; k < __DRV_HC_MAX; k++)
			if (!strcmp(s, drv_hc_kind_name(k)))
				break;
		if (k == __DRV_HC_MAX)
			return perr(p, v, "unknown health kind '%s' (known: tcp, http, https, tls)",
				    s);
		hc_reset_kind(hc, k);
	}
	if ((v = find(p, n, "port")) && (err = get_port(p, v, "port", &hc->port)))
		return err;
	if ((v = find(p, n, "path"))) {
		if ((err = get_str(p, v, "path", hc->path, sizeof(hc->path))))
			return err;
		if (hc->path[0] != '/')
			return perr(p, v, "'path' must start with '/', got '%s'", hc->path);
		if ((err = want_word(p, v, "path", hc->path,
				     "percent-encode it (%20 for a blank)")))
			return err;
	}
	if ((v = find(p, n, "host")) &&
	    ((err = get_str(p, v, "host", hc->host, sizeof(hc->host))) ||
	     (err = want_word(p, v, "host", hc->host, "give a name, NAME:PORT or ADDR"))))
		return err;
	if ((v = find(p, n, "sni")) &&
	    ((err = get_str(p, v, "sni", hc->sni, sizeof(hc->sni))) ||
	     (err = want_word(p, v, "sni", hc->sni, "give the server's host name"))))
		return err;
	if ((v = find(p, n, "body")) && (err = get_str(p, v, "body", hc->body, sizeof(hc->body))))
		return err;
	if ((v = find(p, n, "verify")) && (err = get_bool(p, v, "verify", &hc->verify)))
		return err;
	if ((v = find(p, n, "ca")) && (err = get_str(p, v, "ca", hc->ca, sizeof(hc->ca))))
		return err;
	if ((v = find(p, n, "cert")) && (err = get_str(p, v, "cert", hc->cert, sizeof(hc->cert))))
		return err;
	if ((v = find(p, n, "key")) && (err = get_str(p, v, "key", hc->key, sizeof(hc->key))))
		return err;
	if ((v = find(p, n, "source")) &&
	    (err = get_addr(p, v, "source", &hc->source, &hc->source_family)))
		return err;
	if ((v = find(p, n, "expect"))) {
		yaml_node_t *one[1] = { v };
		yaml_node_t **items = one;
		size_t cnt = 1, i;
		yaml_node_item_t *it;
		yaml_node_t *tmp[DRV_CONF_MAX_EXPECT];

		if (v->type == YAML_SEQUENCE_NODE) {
			cnt = 0;
			for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
			     it++) {
				if (cnt == DRV_CONF_MAX_EXPECT)
					return perr(p, v, "'expect' lists at most %d status codes",
						    DRV_CONF_MAX_EXPECT);
				tmp[cnt++] = node_at(p, *it);
			}
			if (!cnt)
				return perr(p, v, "'expect' needs at least one status code");
			items = tmp;
		}
		for (i = 0; i < cnt; i++) {
			__u32 code;

			if ((err = get_u32(p, items[i], "expect", 100, 599, &code)))
				return err;
			/* the check skips interim answers: such a code could never match */
			if (code < 200 && code != 101)
				return perr(
					p, items[i],
					"'expect' is %u, an interim answer that the check skips "
					"to judge the final status: expect that one (e.g. 200)",
					code);
			hc->expect[i] = (__u16)code;
		}
		hc->nexpect = cnt;
	}
	if ((v = find(p, n, "interval")) &&
	    (err = get_duration(p, v, "interval", "1h", &hc->interval_ms)))
		return err;
	if ((v = find(p, n, "timeout")) &&
	    (err = get_duration(p, v, "timeout", "1h", &hc->timeout_ms)))
		return err;
	if ((v = find(p, n, "rise")) && (err = get_u32(p, v, "rise", 1, 100, &hc->rise)))
		return err;
	if ((v = find(p, n, "fall")) && (err = get_u32(p, v, "fall", 1, 100, &hc->fall)))
		return err;
	if ((v = find(p, n, "jitter")) && (err = get_u32(p, v, "jitter", 0, 50, &hc->jitter_pct)))
		return err;
	if ((v = find(p, n, "rehash-after")) &&
	    (err = get_duration(p, v, "rehash-after", "1h", &hc->rehash_after_ms)))
		return err;
	if ((v = find(p, n, "leave-after")) &&
	    (err = get_duration(p, v, "leave-after", "24h", &hc->leave_after_ms)))
		return err;
	return health_keys_fit_kind(p, n, hc);
}

#define DRV_HC_INTERVAL_MAX_MS (3600u * 1000)
#define DRV_HC_LEAVE_MAX_MS (24u * 3600 * 1000)

/*
 * Where to point at a value of a resolved health check: @key's value when the
 * mapping @n says it, else @n itself (the value came from defaults, or is the
 * built-in one).
 */
static yaml_node_t *hc_at(struct pctx *p, yaml_node_t *n, const char *key)
{
	yaml_node_t *v = n->type == YAML_MAPPING_NODE ? find(p, n, key) : NULL;

	return v ?: n;
}

/* Cross-field rules of a resolved health check; @n is the health value (preset or mapping). */
static int check_health(struct pctx *p, yaml_node_t *n, const struct drv_hc_conf *hc)
{
	yaml_node_t *at;

	if (hc->interval_ms < 100 || hc->interval_ms > DRV_HC_INTERVAL_MAX_MS)
		return perr(
			p, hc_at(p, n, "interval"),
			"health interval is %ums, must be 100ms to 1h (a failed node leaves the table only after fall × interval)",
			hc->interval_ms);
	if (hc->timeout_ms < 10 || hc->timeout_ms > hc->interval_ms) {
		/* over the interval: the one of the two this mapping says */
		at = hc_at(p, n, "timeout");
		if (at == n && hc->timeout_ms >= 10)
			at = hc_at(p, n, "interval");
		return perr(
			p, at,
			"health timeout (%ums) must be 10ms or more and not longer than the interval (%ums)",
			hc->timeout_ms, hc->interval_ms);
	}
	if (hc->rehash_after_ms > DRV_HC_INTERVAL_MAX_MS)
		return perr(
			p, hc_at(p, n, "rehash-after"),
			"health rehash-after is %ums, must be 0 to 1h (how long a failed node keeps its open connections)",
			hc->rehash_after_ms);
	if (hc->leave_after_ms > DRV_HC_LEAVE_MAX_MS)
		return perr(
			p, hc_at(p, n, "leave-after"),
			"health leave-after is %ums, must be 0 to 24h (how long a node removed from the config keeps its open connections)",
			hc->leave_after_ms);
	if (!!hc->cert[0] != !!hc->key[0])
		return perr(p, hc_at(p, n, hc->cert[0] ? "cert" : "key"),
			    "health 'cert' and 'key' go together: give both or neither");
	return 0;
}

/* Service-level settings that `defaults:` may also carry. */
struct svc_defaults {
	__u8 mode;
	bool has_snat;
	union drv_addr snat;
	__u8 snat_family;
	__u16 snat_lo, snat_hi;
	__u32 table_size;
	struct drv_hc_conf hc;
	yaml_node_t *snat_node;
};

static int parse_mode(struct pctx *p, yaml_node_t *n, __u8 *mode)
{
	static const char *const names[] = { "nat", "dsr", "tunnel" };
	const char *s;
	int err = want_scalar(p, n, "mode", &s);
	unsigned int i;

	_Static_assert(ARRAY_SIZE(names) == __DRV_MODE_MAX, "mode names");
	if (err)
		return err;
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*mode = i;
			return 0;
		}
	return perr(p, n, "unknown mode '%s' (known: nat, dsr, tunnel)", s);
}

static int parse_snat_ports(struct pctx *p, yaml_node_t *n, __u16 *lo, __u16 *hi)
{
	unsigned int a, b;
	const char *s;
	int err = want_scalar(p, n, "snat-ports", &s), end = 0;

	if (err)
		return err;
	/* Digits only: sscanf would wrap 4294967297 to 1 and take signs and blanks. */
	if (strspn(s, "0123456789-") != strlen(s) || strlen(s) > 11 ||
	    sscanf(s, "%u-%u%n", &a, &b, &end) != 2 || s[end] || !a || b > 65535 || a > b)
		return perr(
			p, n,
			"'snat-ports' must be FIRST-LAST with 1 ≤ FIRST ≤ LAST ≤ 65535, got '%s'",
			s);
	*lo = (__u16)a;
	*hi = (__u16)b;
	return 0;
}

/* Keys shared by `defaults:` and each service. */
static int parse_svc_common(struct pctx *p, yaml_node_t *map, struct svc_defaults *d)
{
	yaml_node_t *v;
	int err;

	if ((v = find(p, map, "mode")) && (err = parse_mode(p, v, &d->mode)))
		return err;
	if ((v = find(p, map, "snat"))) {
		if ((err = get_addr(p, v, "snat", &d->snat, &d->snat_family)))
			return err;
		d->has_snat = true;
		d->snat_node = v;
	}
	if ((v = find(p, map, "snat-ports")) &&
	    (err = parse_snat_ports(p, v, &d->snat_lo, &d->snat_hi)))
		return err;
	if ((v = find(p, map, "table-size"))) {
		if ((err = get_u32(p, v, "table-size", 1, DRV_MAGLEV_MAX, &d->table_size)))
			return err;
		if (!drv_is_prime(d->table_size))
			return perr(
				p, v,
				"'table-size' %u is not a prime (try 251, 1021, 4093, 16381 or 65537)",
				d->table_size);
	}
	if ((v = find(p, map, "health"))) {
		if ((err = parse_health(p, v, &d->hc)))
			return err;
		if ((err = check_health(p, v, &d->hc)))
			return err;
	}
	return 0;
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static const char *const node_keys[] = { "address", "name", "weight", "drain", NULL };

static int parse_node(struct pctx *p, yaml_node_t *n, const struct drv_service_conf *svc,
		      struct drv_node_conf *node)
{
	yaml_node_t *v, *addr_node = n;
	char buf[DRV_ADDR_STRLEN];
	int err;

	memset(node, 0, sizeof(*node));
	node->weight = 1;
	node->line = (int)n->start_mark.line + 1;
	if (n->type == YAML_SCALAR_NODE) {
		if ((err = get_addr(p, n, "address", &node->addr, &node->family)))
			return err;
	} else if (n->type == YAML_MAPPING_NODE) {
		if ((err = check_keys(p, n, node_keys, "node")))
			return err;
		if (!(addr_node = find(p, n, "address")))
			return perr(p, n, "node has no 'address'");
		if ((err = get_addr(p, addr_node, "address", &node->addr, &node->family)))
			return err;
		if ((v = find(p, n, "name"))) {
			if ((err = get_str(p, v, "name", node->name, sizeof(node->name))))
				return err;
			if (!name_ok(node->name))
				return perr(
					p, v,
					"node name '%s' may hold only letters, digits, '-', '_' and '.'",
					node->name);
		}
		if ((v = find(p, n, "weight"))) {
			/* 0 first: it has a message of its own, saying what to do instead */
			if (v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), "0"))
				return perr(
					p, v,
					"'weight' is 0, must be 1..65535 (to take a node out of rotation, use drain: true)");
			if ((err = get_u32(p, v, "weight", 1, 65535, &node->weight)))
				return err;
		}
		if ((v = find(p, n, "drain")) && (err = get_bool(p, v, "drain", &node->drain)))
			return err;
	} else {
		return perr(p, n, "a node must be an address or a mapping with 'address', got %s",
			    type_name(n));
	}
	if (node->family != svc->family)
		return perr(p, addr_node, "node %s is IPv%u but VIP of service '%s' is IPv%u",
			    drv_addr_format(&node->addr, node->family, buf, sizeof(buf)),
			    node->family, svc->name, svc->family);
	if (!memcmp(&node->addr, &svc->vip, sizeof(node->addr)))
		return perr(p, addr_node,
			    "node %s is the VIP of service '%s': give a node's address",
			    drv_addr_format(&node->addr, node->family, buf, sizeof(buf)),
			    svc->name);
	if (!node->name[0])
		drv_addr_format(&node->addr, node->family, node->name, sizeof(node->name));
	return 0;
}

static const char *const service_keys[] = {
	"name", "vip", "ports", "mode", "snat", "snat-ports", "table-size", "health", "nodes", NULL,
};

static int parse_ports(struct pctx *p, yaml_node_t *n, struct drv_service_conf *svc)
{
	yaml_node_item_t *it;
	unsigned int i;
	int err;

	if (n->type == YAML_SCALAR_NODE) {
		svc->nports = 1;
		return get_port(p, n, "ports", &svc->ports[0]);
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return perr(p, n, "'ports' must be a port or a list of ports, got %s",
			    type_name(n));
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *pn = node_at(p, *it);
		__u16 port = 0;

		if (svc->nports == DRV_CONF_MAX_PORTS)
			return perr(p, pn, "a service has at most %d ports", DRV_CONF_MAX_PORTS);
		if ((err = get_port(p, pn, "ports", &port)))
			return err;
		for (i = 0; i < svc->nports; i++)
			if (svc->ports[i] == port)
				return perr(p, pn, "port %u is listed twice", port);
		svc->ports[svc->nports++] = port;
	}
	if (!svc->nports)
		return perr(p, n, "'ports' is empty: give at least one port");
	return 0;
}

static int parse_service(struct pctx *p, yaml_node_t *n, const struct svc_defaults *defs,
			 struct drv_service_conf *svc)
{
	struct svc_defaults d = *defs;
	yaml_node_t *v, *nodes;
	yaml_node_item_t *it;
	char buf[DRV_ADDR_STRLEN];
	size_t i, j;
	int err;

	svc->line = (int)n->start_mark.line + 1;
	if (n->type != YAML_MAPPING_NODE)
		return perr(p, n, "a service must be a mapping, got %s", type_name(n));
	if ((err = check_keys(p, n, service_keys, "service")))
		return err;
	if (!(v = find(p, n, "name")))
		return perr(p, n, "service has no 'name'");
	if ((err = get_str(p, v, "name", svc->name, sizeof(svc->name))))
		return err;
	if (!name_ok(svc->name))
		return perr(p, v,
			    "service name '%s' may hold only letters, digits, '-', '_' and '.'",
			    svc->name);
	if (!(v = find(p, n, "vip")))
		return perr(p, n, "service '%s' has no 'vip'", svc->name);
	if ((err = get_addr(p, v, "vip", &svc->vip, &svc->family)))
		return err;
	if (!(v = find(p, n, "ports")))
		return perr(p, n, "service '%s' has no 'ports'", svc->name);
	if ((err = parse_ports(p, v, svc)))
		return err;

	d.snat_node = NULL;
	if ((err = parse_svc_common(p, n, &d)))
		return err;
	svc->mode = d.mode;
	svc->table_size = d.table_size;
	svc->snat_port_lo = d.snat_lo;
	svc->snat_port_hi = d.snat_hi;
	svc->hc = d.hc;
	/* A `ca` without verification checks nothing: whoever wrote it believes it does. */
	if (svc->hc.ca[0] && !svc->hc.verify) {
		yaml_node_t *at = find(p, n, "health");

		if (at && at->type == YAML_MAPPING_NODE && find(p, at, "ca"))
			at = find(p, at, "ca");
		return perr(
			p, at ? at : n,
			"'ca' is used only with verify: true, and service '%s' does not verify; add verify: true (or drop 'ca')",
			svc->name);
	}
	/* keys that would do nothing are refused: they say what is not done */
	if (svc->mode != DRV_MODE_NAT && (v = find(p, n, "snat-ports")))
		return perr(p, v, "'snat-ports' is for mode nat; service '%s' is mode %s",
			    svc->name, drv_mode_name(svc->mode));
	/*
	 * A dsr service has no use for a snat: the defaults' one, of either
	 * family, does not bind it, and its own is refused. (tunnel wraps its
	 * packets from it.)
	 */
	if (svc->mode == DRV_MODE_DSR && d.snat_node)
		return perr(
			p, d.snat_node,
			"'snat' is for modes nat and tunnel; service '%s' is mode dsr (the node answers the client from the VIP)",
			svc->name);
	if (d.has_snat && svc->mode == DRV_MODE_DSR)
		d.has_snat = false;
	if (d.has_snat && d.snat_family != svc->family)
		return perr(p, d.snat_node ? d.snat_node : n,
			    "snat %s%s is IPv%u but VIP of service '%s' is IPv%u%s",
			    drv_addr_format(&d.snat, d.snat_family, buf, sizeof(buf)),
			    d.snat_node ? "" : " (from defaults)", d.snat_family, svc->name,
			    svc->family, d.snat_node ? "" : "; give the service its own 'snat'");
	if (svc->mode != DRV_MODE_DSR && !d.has_snat)
		return perr(p, n, "service '%s' is mode %s and needs 'snat: ADDR', %s", svc->name,
			    drv_mode_name(svc->mode), drv_snat_role(svc->mode));
	svc->has_snat = d.has_snat;
	svc->snat = d.snat;
	if (svc->hc.source_family && svc->hc.source_family != svc->family)
		return perr(p, find(p, n, "health") ? find(p, n, "health") : n,
			    "health source address is IPv%u but VIP of service '%s' is IPv%u",
			    svc->hc.source_family, svc->name, svc->family);

	if (!(nodes = find(p, n, "nodes")))
		return perr(p, n, "service '%s' has no 'nodes'", svc->name);
	if (nodes->type != YAML_SEQUENCE_NODE)
		return perr(p, nodes, "'nodes' must be a list, got %s", type_name(nodes));
	svc->nnodes = (size_t)(nodes->data.sequence.items.top - nodes->data.sequence.items.start);
	if (!svc->nnodes)
		return perr(p, nodes, "service '%s' has no nodes: list at least one", svc->name);
	if (svc->nnodes > DRV_CONF_MAX_NODES)
		return perr(
			p, nodes,
			"service '%s' has %zu nodes, at most %d are supported: list at most %d, or split them over two services with VIPs of their own",
			svc->name, svc->nnodes, DRV_CONF_MAX_NODES, DRV_CONF_MAX_NODES);
	svc->nodes = calloc(svc->nnodes, sizeof(*svc->nodes));
	if (!svc->nodes)
		return -ENOMEM;
	for (i = 0, it = nodes->data.sequence.items.start; it < nodes->data.sequence.items.top;
	     it++, i++) {
		yaml_node_t *nn = node_at(p, *it);

		if ((err = parse_node(p, nn, svc, &svc->nodes[i])))
			return err;
		for (j = 0; j < i; j++) {
			if (!memcmp(&svc->nodes[j].addr, &svc->nodes[i].addr,
				    sizeof(svc->nodes[i].addr)))
				return perr(p, nn,
					    "node %s is listed twice in service '%s' (line %d)",
					    drv_addr_format(&svc->nodes[i].addr,
							    svc->nodes[i].family, buf, sizeof(buf)),
					    svc->name, svc->nodes[j].line);
			if (!strcmp(svc->nodes[j].name, svc->nodes[i].name))
				return perr(p, nn, "node name '%s' is used twice in service '%s'",
					    svc->nodes[i].name, svc->name);
		}
	}
	/* Each node needs entries of its own in the Maglev table. */
	if (svc->table_size && svc->table_size < svc->nnodes)
		return perr(
			p, find(p, n, "table-size") ?: n,
			"'table-size' %u is smaller than the %zu nodes of service '%s': some would get no flows; choose a prime of at least 100 x the nodes (e.g. 65537)",
			svc->table_size, svc->nnodes, svc->name);
	return 0;
}

static int parse_ifaces(struct pctx *p, yaml_node_t *n, struct drv_config *cfg)
{
	yaml_node_t *one[1] = { n }, **items = one;
	yaml_node_item_t *it;
	size_t cnt = 1, i, j;
	yaml_node_t **tmp = NULL;
	int err = 0;

	if (n->type == YAML_SEQUENCE_NODE) {
		cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
		if (!cnt)
			return perr(p, n, "'interfaces' is empty: name at least one interface");
		if (cnt > DRV_MAX_IFACES)
			return perr(p, n, "at most %d interfaces", DRV_MAX_IFACES);
		tmp = calloc(cnt, sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
		for (i = 0, it = n->data.sequence.items.start; it < n->data.sequence.items.top;
		     it++, i++)
			tmp[i] = node_at(p, *it);
		items = tmp;
	}
	for (i = 0; i < cnt && !err; i++) {
		err = get_str(p, items[i], "interfaces", cfg->ifaces[i], IF_NAMESIZE);
		if (!err && !drv_ifname_valid(cfg->ifaces[i]))
			err = perr(
				p, items[i],
				"'%s' is not an interface name (not empty, '.' or '..'; no '/', ':' or blanks)",
				cfg->ifaces[i]);
		for (j = 0; j < i && !err; j++)
			if (!strcmp(cfg->ifaces[i], cfg->ifaces[j]))
				err = perr(p, items[i], "interface %s is listed twice",
					   cfg->ifaces[i]);
	}
	cfg->nifaces = cnt;
	free(tmp);
	return err;
}

/*
 * metrics.listen @s, at @n: ADDR:PORT or [ADDR6]:PORT (as metrics.c reads
 * it), else refused saying which part is wrong.
 */
static int check_listen(struct pctx *p, yaml_node_t *n, const char *s)
{
	static const char form[] =
		"'listen' must be ADDR:PORT ([ADDR]:PORT for IPv6) or off, got '%s'";
	char host[64];
	const char *colon;
	union drv_addr a;
	__u8 fam;
	__u32 port;
	int err;

	if (s[0] == '[') {
		colon = strstr(s, "]:");
		if (!colon || (size_t)(colon - s - 1) >= sizeof(host))
			return perr(p, n, form, s);
		memcpy(host, s + 1, colon - s - 1);
		host[colon - s - 1] = 0;
		colon++;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return perr(p, n, form, s);
		memcpy(host, s, colon - s);
		host[colon - s] = 0;
	}
	if (!all_digits(colon + 1))
		return perr(p, n, form, s);
	err = drv_u32_parse(colon + 1, 1, 65535, &port);
	if (err)
		return perr(p, n, "'listen' has port %s, must be 1..65535", colon + 1);
	if (drv_addr_parse(host, &a, &fam)) {
		if (strspn(host,
			   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") ==
		    strlen(host))
			return perr(
				p, n,
				"'listen' has address '%s', not an IPv4 or IPv6 address: drover resolves no names; give 127.0.0.1:%s or [::1]:%s",
				host, colon + 1, colon + 1);
		return perr(p, n, form, s);
	}
	/* "::1:9469" reads as [::1]:9469, and as the address ::1:9469 */
	if (s[0] != '[' && fam == DRV_FAMILY_V6)
		return perr(
			p, n,
			"'listen' is an IPv6 address and a port without brackets, which reads two ways: write '[%s]:%s', quoted",
			host, colon + 1);
	return 0;
}

static const char *const top_keys[] = {
	"interfaces", "xdp-mode", "metrics", "timeouts", "defaults", "services", NULL,
};
static const char *const defaults_keys[] = {
	"mode", "snat", "snat-ports", "table-size", "health", NULL,
};
static const char *const metrics_keys[] = { "listen", "stuck-after", NULL };
static const char *const timeouts_keys[] = { "tcp-idle", "tcp-fin", NULL };

/* Are the @len bytes at @s a key of any mapping of the configuration? */
static bool is_a_key(const char *s, size_t len)
{
	static const char *const *const lists[] = {
		top_keys,     metrics_keys, timeouts_keys, defaults_keys,
		service_keys, node_keys,    health_keys,
	};
	const char *const *k;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lists); i++)
		for (k = lists[i]; *k; k++)
			if (strlen(*k) == len && !strncmp(*k, s, len))
				return true;
	return false;
}

/*
 * key_home - where @key, unknown in the mapping @what (as check_keys names
 * it), is known: a key indented too little leaves the mapping it belongs to,
 * one indented too much lands in the mapping above it, and "unknown key"
 * alone does not say so.
 * Return: what to name ("health: check its indentation"), or NULL.
 */
static const char *key_home(const char *what, const char *key)
{
	static const struct {
		const char *in; /* the mapping the key was found in, NULL: any */
		const char *const *keys;
		const char *home;
	} homes[] = {
		{ "service", health_keys, "health: check its indentation" },
		{ "defaults", health_keys, "health: check its indentation" },
		{ "service", node_keys, "a node: check its indentation" },
		{ NULL, service_keys, "a service: check its indentation" },
		{ NULL, metrics_keys, "metrics: check its indentation" },
		{ NULL, timeouts_keys, "timeouts: check its indentation" },
		{ NULL, health_keys, "health: check its indentation" },
		{ NULL, top_keys, "the top level: check its indentation (it starts a line)" },
	};
	const char *const *k;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(homes); i++) {
		if (homes[i].in && strcmp(homes[i].in, what))
			continue;
		for (k = homes[i].keys; *k; k++)
			if (!strcmp(*k, key))
				return homes[i].home;
	}
	return NULL;
}

/*
 * Service @s (written at @sn) against service @o (maybe itself): its SNAT
 * address may be neither a node of @o (the node would answer itself) nor, in
 * nat, @o's VIP with a port in its SNAT range (the nodes' replies to that
 * port would reach @o as new flows).
 */
static int snat_clash(struct pctx *p, yaml_node_t *sn, const struct drv_service_conf *s,
		      const struct drv_service_conf *o)
{
	unsigned int lo = s->snat_port_lo ?: DRV_SNAT_PORT_LO_DEFAULT,
		     hi = s->snat_port_hi ?: DRV_SNAT_PORT_HI_DEFAULT, a;
	char buf[DRV_ADDR_STRLEN];
	yaml_node_t *at;
	size_t k;

	if (!s->has_snat || s->family != o->family)
		return 0;
	at = find(p, sn, "snat") ?: sn;
	drv_addr_format(&s->snat, s->family, buf, sizeof(buf));
	for (k = 0; k < o->nnodes; k++)
		if (!memcmp(&o->nodes[k].addr, &s->snat, sizeof(s->snat)))
			return perr(
				p, at,
				"snat %s of service '%s' is a node of service '%s' (line %d): give the balancer's own address",
				buf, s->name, o->name, o->nodes[k].line);
	if (s->mode != DRV_MODE_NAT || memcmp(&o->vip, &s->snat, sizeof(s->snat)))
		return 0;
	for (a = 0; a < o->nports; a++)
		if (o->ports[a] >= lo && o->ports[a] <= hi)
			return perr(
				p, find(p, sn, "snat-ports") ?: at,
				"SNAT ports %u-%u of service '%s' take port %u of VIP %s (service '%s', line %d): the nodes' replies to it would reach that service; choose snat-ports without it",
				lo, hi, s->name, o->ports[a], buf, o->name, o->line);
	return 0;
}

/*
 * No node of service @s (written at @sn) may be the VIP of service @o: its
 * flows would come back to the balancer as new flows of @o.
 */
static int node_is_vip(struct pctx *p, yaml_node_t *sn, const struct drv_service_conf *s,
		       const struct drv_service_conf *o)
{
	yaml_node_t *nodes = find(p, sn, "nodes");
	char buf[DRV_ADDR_STRLEN];
	size_t k;

	if (s->family != o->family)
		return 0;
	for (k = 0; k < s->nnodes; k++)
		if (!memcmp(&s->nodes[k].addr, &o->vip, sizeof(o->vip)))
			return perr(
				p, nodes ? node_at(p, nodes->data.sequence.items.start[k]) : sn,
				"node %s of service '%s' is the VIP of service '%s' (line %d): give the node's own address",
				drv_addr_format(&o->vip, o->family, buf, sizeof(buf)), s->name,
				o->name, o->line);
	return 0;
}

static int parse_top(struct pctx *p, yaml_node_t *root, struct drv_config *cfg)
{
	struct svc_defaults defs = { .mode = DRV_MODE_NAT };
	yaml_node_t *v, *services;
	yaml_node_item_t *it;
	size_t i, j, nexp = 0, nbes = 0;
	int err;

	drv_hc_defaults(&defs.hc);
	if (root->type != YAML_MAPPING_NODE)
		return perr(
			p, root,
			"the configuration must be a mapping (interfaces:, services:, ...), got %s",
			type_name(root));
	if ((err = check_keys(p, root, top_keys, "the configuration")))
		return err;

	if (!(v = find(p, root, "interfaces")))
		return perr(p, root, "no 'interfaces': name the interfaces to attach to");
	if ((err = parse_ifaces(p, v, cfg)))
		return err;
	cfg->xdp_mode = DRV_XDP_NATIVE;
	if ((v = find(p, root, "xdp-mode"))) {
		const char *s;

		if ((err = want_scalar(p, v, "xdp-mode", &s)))
			return err;
		if (!strcmp(s, "native"))
			cfg->xdp_mode = DRV_XDP_NATIVE;
		else if (!strcmp(s, "skb"))
			cfg->xdp_mode = DRV_XDP_SKB;
		else
			return perr(p, v, "unknown xdp-mode '%s' (known: native, skb)", s);
	}
	strcpy(cfg->metrics_listen, DRV_METRICS_DEFAULT);
	cfg->stuck_after_ms = DRV_STUCK_AFTER_DEFAULT_MS;
	if ((v = find(p, root, "metrics"))) {
		yaml_node_t *l;

		if ((err = want_mapping(p, v, "metrics")) ||
		    (err = check_keys(p, v, metrics_keys, "metrics")))
			return err;
		if ((l = find(p, v, "listen"))) {
			if ((err = get_str(p, l, "listen", cfg->metrics_listen,
					   sizeof(cfg->metrics_listen))))
				return err;
			if (!strcmp(cfg->metrics_listen, "off"))
				cfg->metrics_listen[0] = 0;
			else if ((err = check_listen(p, l, cfg->metrics_listen)))
				return err;
		}
		if ((l = find(p, v, "stuck-after"))) {
			if ((err = get_duration(p, l, "stuck-after", "1h", &cfg->stuck_after_ms)))
				return err;
			if (cfg->stuck_after_ms && (cfg->stuck_after_ms < DRV_STUCK_AFTER_MIN_MS ||
						    cfg->stuck_after_ms > DRV_STUCK_AFTER_MAX_MS))
				return perr(
					p, l,
					"'stuck-after' is %s, must be 2s to 1h, or 0 for never (the main loop polls every second; the default is 60s)",
					scalar(l));
		}
	}
	if ((v = find(p, root, "timeouts"))) {
		yaml_node_t *t;
		__u32 ms;

		if ((err = want_mapping(p, v, "timeouts")) ||
		    (err = check_keys(p, v, timeouts_keys, "timeouts")))
			return err;
		if ((t = find(p, v, "tcp-idle"))) {
			if ((err = get_duration(p, t, "tcp-idle", "1193h", &ms)))
				return err;
			if (ms < 1000 || ms % 1000)
				return perr(p, t,
					    "'tcp-idle' is %s, must be whole seconds, 1s to 1193h",
					    scalar(t));
			cfg->tcp_idle_timeout_s = ms / 1000;
		}
		if ((t = find(p, v, "tcp-fin"))) {
			if ((err = get_duration(p, t, "tcp-fin", "1193h", &ms)))
				return err;
			if (ms < 1000 || ms % 1000)
				return perr(p, t,
					    "'tcp-fin' is %s, must be whole seconds, 1s to 1193h",
					    scalar(t));
			cfg->tcp_fin_timeout_s = ms / 1000;
		}
		if ((cfg->tcp_fin_timeout_s ?: DRV_TCP_FIN_DEFAULT) >
		    (cfg->tcp_idle_timeout_s ?: DRV_TCP_IDLE_DEFAULT))
			return perr(
				p, v,
				"'tcp-fin' (%us%s) is longer than 'tcp-idle' (%us%s): a half-open or closing flow would outlive an open one; lower tcp-fin or raise tcp-idle",
				cfg->tcp_fin_timeout_s ?: DRV_TCP_FIN_DEFAULT,
				cfg->tcp_fin_timeout_s ? "" : ", the default",
				cfg->tcp_idle_timeout_s ?: DRV_TCP_IDLE_DEFAULT,
				cfg->tcp_idle_timeout_s ? "" : ", the default");
	}
	if ((v = find(p, root, "defaults"))) {
		if ((err = want_mapping(p, v, "defaults")) ||
		    (err = check_keys(p, v, defaults_keys, "defaults")) ||
		    (err = parse_svc_common(p, v, &defs)))
			return err;
	}

	if (!(services = find(p, root, "services")))
		return perr(p, root, "no 'services': nothing to balance");
	if (services->type != YAML_SEQUENCE_NODE)
		return perr(p, services, "'services' must be a list, got %s", type_name(services));
	cfg->nservices =
		(size_t)(services->data.sequence.items.top - services->data.sequence.items.start);
	if (!cfg->nservices)
		return perr(p, services, "'services' is empty: nothing to balance");
	cfg->services = calloc(cfg->nservices, sizeof(*cfg->services));
	if (!cfg->services)
		return -ENOMEM;
	for (i = 0, it = services->data.sequence.items.start;
	     it < services->data.sequence.items.top; it++, i++) {
		yaml_node_t *sn = node_at(p, *it);
		struct drv_service_conf *s = &cfg->services[i];

		if ((err = parse_service(p, sn, &defs, s)))
			return err;
		for (j = 0; j <= i; j++) {
			yaml_node_t *on = node_at(p, services->data.sequence.items.start[j]);
			struct drv_service_conf *o = &cfg->services[j];

			if ((err = snat_clash(p, sn, s, o)))
				return err;
			if (j < i &&
			    ((err = snat_clash(p, on, o, s)) || (err = node_is_vip(p, sn, s, o)) ||
			     (err = node_is_vip(p, on, o, s))))
				return err;
		}
		for (j = 0; j < i; j++) {
			struct drv_service_conf *o = &cfg->services[j];
			unsigned int a, b;

			if (!strcmp(o->name, s->name))
				return perr(p, sn,
					    "service name '%s' is used twice (first at line %d)",
					    s->name, o->line);
			if (o->family != s->family || memcmp(&o->vip, &s->vip, sizeof(s->vip)))
				continue;
			for (a = 0; a < s->nports; a++)
				for (b = 0; b < o->nports; b++)
					if (s->ports[a] == o->ports[b]) {
						char buf[DRV_ADDR_STRLEN];

						return perr(
							p, find(p, sn, "ports"),
							"VIP %s port %u of service '%s' is already used by service '%s' (line %d)",
							drv_addr_format(&s->vip, s->family, buf,
									sizeof(buf)),
							s->ports[a], s->name, o->name, o->line);
					}
		}
		nexp += s->nports;
		if (nexp > DRV_MAX_SVCS)
			return perr(
				p, sn,
				"too many VIP:port pairs: %zu up to service '%s' (each port of each service is one), at most %d: list fewer services or ports, or give some services a balancer of their own (another host)",
				nexp, s->name, DRV_MAX_SVCS);
		/* Each node of each port is one backend id; id 0 means none. */
		nbes += s->nports * s->nnodes;
		if (nbes > DRV_MAX_BACKENDS - 1)
			return perr(
				p, sn,
				"too many backends: nodes × ports over all services exceed %d (%zu up to service '%s'): list fewer nodes or ports, or give some services a balancer of their own (another host)",
				DRV_MAX_BACKENDS - 1, nbes, s->name);
	}
	return 0;
}

/* Line @line (from 0) of @text, its end in @eol; NULL past the last line. */
static const char *text_line(const char *text, size_t len, size_t line, const char **eol)
{
	const char *s = text, *end = text + len;

	for (; line && s; line--) {
		s = memchr(s, '\n', end - s);
		s = s ? s + 1 : NULL;
	}
	if (!s)
		return NULL;
	*eol = memchr(s, '\n', end - s);
	if (!*eol)
		*eol = end;
	return s;
}

/*
 * Does line @line (from 0) of @text hold "[...:...]:", an IPv6 address with a
 * port written unquoted (metrics' "listen: [::1]:9469")? YAML takes its '['
 * for the start of a list and fails there: the error should say to quote it.
 */
static bool line_has_bare_ip6_port(const char *text, size_t len, size_t line)
{
	const char *s, *eol, *b, *c;

	s = text_line(text, len, line, &eol);
	if (!s)
		return false;
	for (b = memchr(s, '[', eol - s); b; b = memchr(b + 1, '[', eol - b - 1)) {
		c = memchr(b, ']', eol - b);
		if (c && c + 1 < eol && c[1] == ':' && memchr(b, ':', c - b))
			return true;
	}
	return false;
}

/*
 * Is line @line (from 0) of @text indented with a tab? YAML indents with
 * spaces only, and libyaml's error there ("found character that cannot start
 * any token", "a tab character that violates indentation") does not say so.
 */
static bool line_indented_with_tab(const char *text, size_t len, size_t line)
{
	const char *s, *eol;

	s = text_line(text, len, line, &eol);
	for (; s && s < eol && (*s == ' ' || *s == '\t'); s++)
		if (*s == '\t')
			return true;
	return false;
}

/* The column (from 1) of the first character of line @line (from 0) of @text that is no blank. */
static size_t line_indent(const char *text, size_t len, size_t line)
{
	const char *s, *eol, *b;

	s = text_line(text, len, line, &eol);
	if (!s)
		return 0;
	for (b = s; b < eol && *b == ' '; b++)
		;
	return (size_t)(b - s) + 1;
}

/*
 * A syntax error that libyaml words without naming its cause: a line that
 * starts at a column none of its neighbours do (libyaml names the mapping or
 * list it broke off), a "key: value" indented deeper than the line above,
 * which YAML reads into that line's value, or an alias before its anchor.
 * Return "" for any other error.
 */
static const char *syntax_hint(const yaml_parser_t *parser, const char *text, size_t len, char *buf,
			       size_t buflen)
{
	const char *pr = parser->problem ? parser->problem : "", *ctx = parser->context;
	size_t line = parser->problem_mark.line, col = line_indent(text, len, line);

	if (ctx && (!strcmp(pr, "did not find expected key") ||
		    !strcmp(pr, "did not find expected '-' indicator"))) {
		bool map = strstr(ctx, "mapping");

		if (col == parser->context_mark.column + 1) {
			snprintf(
				buf, buflen,
				"; this line starts at column %zu, where the %s of the %s begun at line %zu start, but is %s",
				col, map ? "keys" : "items ('- ')", map ? "mapping" : "list",
				parser->context_mark.line + 1,
				map ? "no 'key: value'" :
				      "no item: indent a key as deep as the other keys of its mapping");
			return buf;
		}
		snprintf(
			buf, buflen,
			"; this line starts at column %zu, but the %s of the %s begun at line %zu start at column %zu: indent it as deep as the keys or items it belongs with",
			col, map ? "keys" : "items", map ? "mapping" : "list",
			parser->context_mark.line + 1, parser->context_mark.column + 1);
		return buf;
	}
	if (!strcmp(pr, "found undefined alias"))
		return "; an alias ('*NAME') must come after the anchor ('&NAME') it names, in the same document";
	if (!strcmp(pr, "mapping values are not allowed in this context") && line > 0 &&
	    col > line_indent(text, len, line - 1)) {
		snprintf(
			buf, buflen,
			"; this line starts at column %zu, deeper than the line above (column %zu), so YAML reads its 'key:' as part of that line's value: indent it as deep as the keys it belongs with",
			col, line_indent(text, len, line - 1));
		return buf;
	}
	return "";
}

/*
 * libyaml's reader stopped at @parser's problem_offset: a byte that is not
 * UTF-8 (or UTF-16, after its byte-order mark), or a control character YAML
 * allows nowhere. It gives the offset, not the line: count it here, columns
 * in characters as libyaml counts them (after a UTF-8 BOM, which it skips).
 */
static void reader_error(const yaml_parser_t *parser, const char *name, const char *text,
			 size_t len, char *err, size_t errlen)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t off = parser->problem_offset < len ? parser->problem_offset : len, i = 0;
	size_t line = 1, col = 1;
	bool u16 = len >= 2 && ((t[0] == 0xff && t[1] == 0xfe) || (t[0] == 0xfe && t[1] == 0xff));
	const char *what = parser->problem ? parser->problem : "unreadable text";

	if (u16) {
		/* code units of 2 bytes: a line ends at U+000A, a low surrogate is no character */
		for (i = 2; i + 1 < off; i += 2) {
			unsigned int u = t[0] == 0xff ? t[i] | t[i + 1] << 8 : t[i] << 8 | t[i + 1];

			if (u == '\n')
				line++, col = 1;
			else if (u < 0xdc00 || u > 0xdfff)
				col++;
		}
		snprintf(err, errlen,
			 "%s:%zu:%zu: the file is not valid UTF-16 text: %s; save it as UTF-8",
			 name, line, col, what);
		return;
	}
	/* an invalid trailing byte: the character starts at its lead byte */
	if (!strcmp(what, "invalid trailing UTF-8 octet"))
		while (off > 0 && (t[--off] & 0xc0) == 0x80)
			;
	if (len >= 3 && !memcmp(t, "\xef\xbb\xbf", 3))
		i = 3;
	for (; i < off; i++) {
		if (t[i] == '\n' || (t[i] == '\r' && (i + 1 >= len || t[i + 1] != '\n')))
			line++, col = 1;
		else if ((t[i] & 0xc0) != 0x80 && t[i] != '\r')
			col++;
	}
	if (off < len && (t[off] < 0x20 || t[off] == 0x7f))
		snprintf(
			err, errlen,
			"%s:%zu:%zu: a control character (byte 0x%02x) where YAML allows none: remove it (NUL bytes: is it UTF-16 without a byte-order mark? save it as UTF-8)",
			name, line, col, t[off]);
	else if (off < len)
		snprintf(
			err, errlen,
			"%s:%zu:%zu: the file is not UTF-8 text: %s (byte 0x%02x); save it as UTF-8 (e.g. iconv -f LATIN1 -t UTF-8)",
			name, line, col, what, t[off]);
	else
		snprintf(err, errlen,
			 "%s:%zu:%zu: the file is not UTF-8 text: %s; save it as UTF-8", name, line,
			 col, what);
}

/* One more use of node index @idx (from 1) of @n, or, with @share, at least two. */
static void ref_one(__u32 *refs, size_t n, int idx, bool share)
{
	/* a bad index cannot be: libyaml made them */
	if (idx < 1 || (size_t)idx > n)
		return;
	if (!share)
		refs[idx - 1]++;
	else if (refs[idx - 1] < 2)
		refs[idx - 1] = 2;
}

/* ref_one() for each node @nd holds (items; keys and values). */
static void ref_children(__u32 *refs, size_t n, const yaml_node_t *nd, bool share)
{
	yaml_node_item_t *it;
	yaml_node_pair_t *pr;

	if (nd->type == YAML_SEQUENCE_NODE)
		for (it = nd->data.sequence.items.start; it < nd->data.sequence.items.top; it++)
			ref_one(refs, n, *it, share);
	if (nd->type == YAML_MAPPING_NODE)
		for (pr = nd->data.mapping.pairs.start; pr < nd->data.mapping.pairs.top; pr++) {
			ref_one(refs, n, pr->key, share);
			ref_one(refs, n, pr->value, share);
		}
}

/*
 * How many times @doc uses each node (by index from 0): an alias is no node
 * of its own in libyaml's document, but one more use of its anchor's node.
 * What lies inside a node used more than once counts as used more than once.
 * NULL if out of memory.
 */
static __u32 *count_refs(yaml_document_t *doc)
{
	size_t n = (size_t)(doc->nodes.top - doc->nodes.start), i;
	__u32 *refs = calloc(n + 1, sizeof(*refs));

	if (!refs)
		return NULL;
	for (i = 0; i < n; i++)
		ref_children(refs, n, &doc->nodes.start[i], false);
	/*
	 * libyaml adds a node before what it holds, so each comes before its
	 * children (a child before its parent is an alias's anchor, already
	 * used twice): one pass in order takes sharing down to the leaves.
	 */
	for (i = 0; i < n; i++)
		if (refs[i] > 1)
			ref_children(refs, n, &doc->nodes.start[i], true);
	return refs;
}

/*
 * libyaml marks the end of a text without a final line break on a line past
 * its last (it ends the last line itself): an error there is put at the end
 * of the last line, where an editor shows it. @m is from 0, as libyaml's.
 */
static yaml_mark_t mark_in_text(yaml_mark_t m, const char *text, size_t len)
{
	size_t breaks = 0, last = 0, i;

	for (i = 0; i < len; i++)
		if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == len || text[i + 1] != '\n'))) {
			breaks++;
			last = i + 1;
		}
	if (m.line <= breaks)
		return m;
	m.line = breaks;
	/* libyaml skips a byte-order mark: it holds no column */
	if (!last && len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		last = 3;
	for (m.column = 0, i = last; i < len; i++)
		m.column += ((unsigned char)text[i] & 0xc0) != 0x80;
	return m;
}

int drv_config_parse(const char *name, const char *text, size_t len, struct drv_config **out,
		     char *err, size_t errlen)
{
	struct pctx p = { .name = name, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc;
	struct drv_config *cfg;
	yaml_node_t *root;
	int ret;

	*out = NULL;
	if (errlen)
		err[0] = 0;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser)) {
		ret = -ENOMEM;
		goto out_free_cfg;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		const char *hint = "";
		char hbuf[256];
		yaml_mark_t at;

		if (parser.error == YAML_READER_ERROR) {
			reader_error(&parser, name, text, len, err, errlen);
			ret = -EINVAL;
			goto out_delete_parser;
		}
		if (line_has_bare_ip6_port(text, len, parser.problem_mark.line))
			hint = "; an IPv6 address with a port, [ADDR]:PORT, is what YAML reads as a list: quote it (\"[::1]:9469\")";
		else if (line_indented_with_tab(text, len, parser.problem_mark.line))
			hint = "; the line is indented with a tab: YAML indents with spaces only, replace the tab with spaces";
		else
			hint = syntax_hint(&parser, text, len, hbuf, sizeof(hbuf));
		at = mark_in_text(parser.problem_mark, text, len);
		snprintf(err, errlen, "%s:%zu:%zu: YAML syntax error: %s%s%s%s", name, at.line + 1,
			 at.column + 1, parser.problem ? parser.problem : "unknown",
			 parser.context ? " " : "", parser.context ? parser.context : "", hint);
		ret = -EINVAL;
		goto out_delete_parser;
	}
	p.doc = &doc;
	p.refs = count_refs(&doc);
	if (!p.refs) {
		yaml_document_delete(&doc);
		ret = -ENOMEM;
		goto out_delete_parser;
	}
	root = yaml_document_get_root_node(&doc);
	/* nothing, comments, a bare "---" or "~": a template that rendered nothing, a cut copy */
	if (!root || is_null(root))
		ret = perr(
			&p, NULL,
			"the configuration is empty: it needs 'interfaces:' and 'services:' (see drover.yaml(5), or the examples/minimal.yaml drover ships)");
	else
		ret = parse_top(&p, root, cfg);
	free(p.refs);
	p.refs = NULL;
	yaml_document_delete(&doc);
	/* A second document (after ---) would be ignored: say so rather than drop it. */
	if (!ret && !yaml_parser_load(&parser, &doc)) {
		yaml_mark_t at = mark_in_text(parser.problem_mark, text, len);

		if (parser.error == YAML_READER_ERROR)
			reader_error(&parser, name, text, len, err, errlen);
		else
			snprintf(err, errlen,
				 "%s:%zu:%zu: YAML syntax error in a second document: %s", name,
				 at.line + 1, at.column + 1,
				 parser.problem ? parser.problem : "unknown");
		ret = -EINVAL;
	} else if (!ret) {
		yaml_node_t *more = yaml_document_get_root_node(&doc);

		if (more) {
			yaml_mark_t at = mark_in_text(more->start_mark, text, len);

			snprintf(
				err, errlen,
				"%s:%zu:%zu: a second YAML document: drover reads one; merge it into the first or remove it",
				name, at.line + 1, at.column + 1);
			ret = -EINVAL;
		}
		yaml_document_delete(&doc);
	}
out_delete_parser:
	yaml_parser_delete(&parser);
out_free_cfg:
	if (ret) {
		drv_config_free(cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

int drv_config_load(const char *path, struct drv_config **out, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int ret;

	*out = NULL;
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		if (ret == -ENOENT)
			snprintf(err, errlen,
				 "%s: cannot open: %s; check the path given to drover run config",
				 path, strerror(-ret));
		else if (ret == -EACCES)
			snprintf(
				err, errlen,
				"%s: cannot open: %s; make it readable to the user drover runs as (uid %u), or run drover as root",
				path, strerror(-ret), (unsigned int)geteuid());
		else
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-ret));
		return ret;
	}
	for (;;) {
		size_t n;

		if (len + 4096 > cap) {
			char *nb = realloc(buf, cap + 65536);

			if (!nb) {
				ret = -ENOMEM;
				snprintf(err, errlen, "%s: out of memory", path);
				goto out_close;
			}
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len > (16u << 20)) {
			ret = -EFBIG;
			snprintf(err, errlen, "%s: larger than 16 MiB, not a drover config", path);
			goto out_close;
		}
	}
	if (ferror(f)) {
		ret = errno ? -errno : -EIO;
		snprintf(err, errlen, "%s: cannot read: %s%s", path, strerror(-ret),
			 ret == -EISDIR ? " (give the config file, not its directory)" : "");
		goto out_close;
	}
	ret = drv_config_parse(path, buf ? buf : "", len, out, err, errlen);
out_close:
	fclose(f);
	free(buf);
	return ret;
}

void drv_config_free(struct drv_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->nservices; i++)
		free(cfg->services[i].nodes);
	free(cfg->services);
	free(cfg);
}
