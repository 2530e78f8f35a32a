// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* The agent's YAML config: every feature, every refusal with its line:col. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "config.h"
#include "ctl.h"

#define NAME "t.yaml"

static char err[DRV_CONF_ERR_MAX];

static struct drv_config *parse_ok(const char *text)
{
	struct drv_config *cfg = NULL;
	int ret = drv_config_parse(NAME, text, strlen(text), &cfg, err, sizeof(err));

	if (ret)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(ret, 0);
	assert_non_null(cfg);
	return cfg;
}

/* Parse must fail with a message starting "t.yaml:LINE:COL: " and containing @what. */
static void parse_bad(const char *text, int line, int col, const char *what)
{
	struct drv_config *cfg = NULL;
	char prefix[64];
	int ret = drv_config_parse(NAME, text, strlen(text), &cfg, err, sizeof(err));

	assert_int_equal(ret, -EINVAL);
	assert_null(cfg);
	snprintf(prefix, sizeof(prefix), NAME ":%d:%d: ", line, col);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, what))
		print_error("got '%s', want prefix '%s' and '%s'\n", err, prefix, what);
	assert_memory_equal(err, prefix, strlen(prefix));
	assert_non_null(strstr(err, what));
}

/* parse_bad() of @len bytes, which may hold NULs */
static void parse_bad_n(const char *text, size_t len, int line, int col, const char *what)
{
	struct drv_config *cfg = NULL;
	char prefix[64];
	int ret = drv_config_parse(NAME, text, len, &cfg, err, sizeof(err));

	assert_int_equal(ret, -EINVAL);
	assert_null(cfg);
	snprintf(prefix, sizeof(prefix), NAME ":%d:%d: ", line, col);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, what))
		print_error("got '%s', want prefix '%s' and '%s'\n", err, prefix, what);
	assert_memory_equal(err, prefix, strlen(prefix));
	assert_non_null(strstr(err, what));
}

#define HEAD "interfaces: [eth0]\n"
#define SVC_HEAD                     \
	HEAD "services:\n"           \
	     "  - name: web\n"       \
	     "    vip: 10.0.0.100\n" \
	     "    snat: 10.0.0.2\n"

static void rancher_example_parses_to_two_services_with_presets(void **state)
{
	static const char text[] = "interfaces: [eth0, eth1]\n"
				   "xdp-mode: skb\n"
				   "metrics:\n"
				   "  listen: 127.0.0.1:9470\n"
				   "timeouts: {tcp-idle: 10m, tcp-fin: 15s}\n"
				   "defaults:\n"
				   "  snat: 10.0.0.2\n"
				   "  health: {interval: 3s, timeout: 2s}\n"
				   "services:\n"
				   "  - name: rancher\n"
				   "    vip: 10.0.0.100\n"
				   "    ports: [80, 443]\n"
				   "    health: rancher\n"
				   "    nodes:\n"
				   "      - {address: 10.0.0.11, name: rancher-1}\n"
				   "      - {address: 10.0.0.12, name: rancher-2, weight: 3}\n"
				   "      - {address: 10.0.0.13, name: rancher-3, drain: true}\n"
				   "  - name: api\n"
				   "    vip: 10.0.0.101\n"
				   "    ports: [6443, 9345]\n"
				   "    table-size: 4093\n"
				   "    health:\n"
				   "      preset: kube-apiserver\n"
				   "      fall: 2\n"
				   "    nodes: [10.0.0.21, 10.0.0.22]\n";
	struct drv_config *cfg = parse_ok(text);
	const struct drv_service_conf *r = &cfg->services[0], *a = &cfg->services[1];

	(void)state;
	assert_int_equal(cfg->nifaces, 2);
	assert_string_equal(cfg->ifaces[1], "eth1");
	assert_int_equal(cfg->xdp_mode, DRV_XDP_SKB);
	assert_string_equal(cfg->metrics_listen, "127.0.0.1:9470");
	assert_int_equal(cfg->tcp_idle_timeout_s, 600);
	assert_int_equal(cfg->tcp_fin_timeout_s, 15);
	assert_int_equal(cfg->nservices, 2);

	assert_string_equal(r->name, "rancher");
	assert_int_equal(r->nports, 2);
	assert_int_equal(r->ports[0], 80);
	assert_int_equal(r->ports[1], 443);
	assert_int_equal(r->mode, DRV_MODE_NAT);
	assert_true(r->has_snat);
	assert_int_equal(r->snat.v4, inet_addr("10.0.0.2"));
	assert_int_equal(r->hc.kind, DRV_HC_HTTP);
	assert_int_equal(r->hc.port, 80);
	assert_string_equal(r->hc.path, "/healthz");
	assert_int_equal(r->hc.nexpect, 1);
	assert_int_equal(r->hc.expect[0], 200);
	assert_int_equal(r->hc.interval_ms, 3000); /* from defaults */
	assert_int_equal(r->hc.timeout_ms, 2000);
	assert_int_equal(r->nnodes, 3);
	assert_string_equal(r->nodes[0].name, "rancher-1");
	assert_int_equal(r->nodes[1].weight, 3);
	assert_int_equal(r->nodes[0].weight, 1);
	assert_true(r->nodes[2].drain);
	assert_false(r->nodes[0].drain);

	assert_int_equal(a->table_size, 4093);
	assert_int_equal(a->hc.kind, DRV_HC_HTTPS);
	assert_int_equal(a->hc.port, 6443);
	assert_string_equal(a->hc.path, "/readyz");
	assert_string_equal(a->hc.sni, "kubernetes");
	assert_false(a->hc.verify);
	assert_int_equal(a->hc.fall, 2);
	assert_int_equal(a->hc.rise, 2);
	assert_string_equal(a->nodes[1].name, "10.0.0.22"); /* bare address: name = address */
	drv_config_free(cfg);
}

static void defaults_apply_when_nothing_is_said(void **state)
{
	struct drv_config *cfg = parse_ok(SVC_HEAD "    ports: 443\n    nodes: [10.0.0.11]\n");
	const struct drv_service_conf *s = &cfg->services[0];

	(void)state;
	assert_int_equal(cfg->xdp_mode, DRV_XDP_NATIVE);
	assert_string_equal(cfg->metrics_listen, DRV_METRICS_DEFAULT);
	assert_int_equal(s->nports, 1);
	assert_int_equal(s->ports[0], 443);
	assert_int_equal(s->table_size, 0);
	assert_int_equal(s->hc.kind, DRV_HC_TCP);
	assert_int_equal(s->hc.port, 0);
	assert_int_equal(s->hc.interval_ms, 2000);
	assert_int_equal(s->hc.timeout_ms, 1000);
	assert_int_equal(s->hc.rise, 2);
	assert_int_equal(s->hc.fall, 3);
	assert_int_equal(s->hc.rehash_after_ms, 10000);
	assert_int_equal(s->hc.leave_after_ms, 3600 * 1000);
	assert_int_equal(s->snat_port_lo, 0);
	drv_config_free(cfg);
}

static void health_mapping_sets_every_field(void **state)
{
	struct drv_config *cfg = parse_ok(SVC_HEAD "    ports: [443]\n"
						   "    health:\n"
						   "      kind: https\n"
						   "      port: 8443\n"
						   "      path: /ready\n"
						   "      host: rancher.example.com\n"
						   "      sni: rancher.example.com\n"
						   "      expect: [200, 204]\n"
						   "      body: ok\n"
						   "      verify: true\n"
						   "      ca: /etc/ssl/ca.pem\n"
						   "      cert: /etc/c.pem\n"
						   "      key: /etc/k.pem\n"
						   "      source: 10.0.0.2\n"
						   "      interval: 500ms\n"
						   "      timeout: 400ms\n"
						   "      rise: 1\n"
						   "      fall: 5\n"
						   "      jitter: 0\n"
						   "      rehash-after: 0\n"
						   "      leave-after: 90s\n"
						   "    nodes: [10.0.0.11]\n");
	const struct drv_hc_conf *hc = &cfg->services[0].hc;

	(void)state;
	assert_int_equal(hc->kind, DRV_HC_HTTPS);
	assert_int_equal(hc->port, 8443);
	assert_string_equal(hc->path, "/ready");
	assert_string_equal(hc->host, "rancher.example.com");
	assert_string_equal(hc->sni, "rancher.example.com");
	assert_int_equal(hc->nexpect, 2);
	assert_int_equal(hc->expect[1], 204);
	assert_string_equal(hc->body, "ok");
	assert_true(hc->verify);
	assert_string_equal(hc->ca, "/etc/ssl/ca.pem");
	assert_string_equal(hc->cert, "/etc/c.pem");
	assert_string_equal(hc->key, "/etc/k.pem");
	assert_int_equal(hc->source_family, DRV_FAMILY_V4);
	assert_int_equal(hc->interval_ms, 500);
	assert_int_equal(hc->timeout_ms, 400);
	assert_int_equal(hc->rise, 1);
	assert_int_equal(hc->fall, 5);
	assert_int_equal(hc->jitter_pct, 0);
	assert_int_equal(hc->rehash_after_ms, 0);
	assert_int_equal(hc->leave_after_ms, 90000);
	drv_config_free(cfg);
}

static void presets_set_what_rancher_and_rke2_serve(void **state)
{
	struct drv_hc_conf hc;

	(void)state;
	drv_hc_defaults(&hc);
	assert_int_equal(drv_hc_preset("rancher", &hc), 0);
	assert_int_equal(hc.kind, DRV_HC_HTTP);
	assert_int_equal(hc.port, 80);
	assert_string_equal(hc.path, "/healthz");
	assert_int_equal(hc.expect[0], 200);

	assert_int_equal(drv_hc_preset("kube-apiserver", &hc), 0);
	assert_int_equal(hc.kind, DRV_HC_HTTPS);
	assert_int_equal(hc.port, 6443);
	assert_string_equal(hc.path, "/readyz");
	assert_false(hc.verify);

	assert_int_equal(drv_hc_preset("rke2-supervisor", &hc), 0);
	assert_int_equal(hc.kind, DRV_HC_HTTPS);
	assert_int_equal(hc.port, 9345);
	assert_string_equal(hc.path, "/ping");
	assert_string_equal(hc.body, "pong");

	assert_int_equal(drv_hc_preset("tcp", &hc), 0);
	assert_int_equal(hc.kind, DRV_HC_TCP);
	assert_int_equal(hc.port, 0);
	assert_int_equal(drv_hc_preset("nginx", &hc), -ENOENT);
	/* Presets say what to check; timing stays as it was. */
	assert_int_equal(hc.interval_ms, 2000);
	assert_int_equal(hc.fall, 3);
}

static void ipv6_service_with_dsr_needs_no_snat(void **state)
{
	struct drv_config *cfg =
		parse_ok(HEAD "services:\n"
			      "  - name: v6\n"
			      "    vip: 2001:db8::100\n"
			      "    mode: dsr\n"
			      "    ports: [443]\n"
			      "    nodes: ['2001:db8::11', {address: '2001:db8::12'}]\n");

	(void)state;
	assert_int_equal(cfg->services[0].family, DRV_FAMILY_V6);
	assert_int_equal(cfg->services[0].mode, DRV_MODE_DSR);
	assert_false(cfg->services[0].has_snat);
	assert_int_equal(cfg->services[0].nnodes, 2);
	drv_config_free(cfg);
}

static void snat_ports_and_metrics_off_parse(void **state)
{
	struct drv_config *cfg = parse_ok("interfaces: eth0\nmetrics: {listen: off}\n"
					  "services:\n"
					  "  - name: web\n"
					  "    vip: 10.0.0.100\n"
					  "    snat: 10.0.0.2\n"
					  "    snat-ports: 20000-20999\n"
					  "    ports: [80]\n"
					  "    nodes: [10.0.0.11]\n");

	(void)state;
	assert_int_equal(cfg->nifaces, 1);
	assert_string_equal(cfg->metrics_listen, "");
	assert_int_equal(cfg->services[0].snat_port_lo, 20000);
	assert_int_equal(cfg->services[0].snat_port_hi, 20999);
	drv_config_free(cfg);
}

static void durations_parse_with_units(void **state)
{
	__u32 ms;

	(void)state;
	assert_int_equal(drv_duration_parse("2s", &ms), 0);
	assert_int_equal(ms, 2000);
	assert_int_equal(drv_duration_parse("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(drv_duration_parse("1m", &ms), 0);
	assert_int_equal(ms, 60000);
	assert_int_equal(drv_duration_parse("7", &ms), 0);
	assert_int_equal(ms, 7000);
	assert_int_equal(drv_duration_parse("1h", &ms), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(drv_duration_parse("2d", &ms), -EINVAL);
	assert_int_equal(drv_duration_parse("-1s", &ms), -EINVAL);
	assert_int_equal(drv_duration_parse("s", &ms), -EINVAL);
}

/* ---- refusals, each with the line and column of what is wrong ---- */

static void unknown_top_key_is_refused_at_its_position(void **state)
{
	(void)state;
	parse_bad(HEAD "servics: []\n", 2, 1, "unknown key 'servics'");
}

static void unknown_service_key_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    prots: [81]\n    nodes: [10.0.0.11]\n", 7, 5,
		  "unknown key 'prots' in service");
}

static void unknown_health_key_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: http, paht: /x}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 26, "unknown key 'paht' in health");
}

/* libyaml does not merge '<<: *anchor': say so and what to use, not "unknown key '<<'". */
static void yaml_merge_key_is_refused_naming_defaults(void **state)
{
	(void)state;
	parse_bad(HEAD "defaults: &d {snat: 10.0.0.2}\nservices:\n  - <<: *d\n    name: web\n"
		       "    vip: 10.0.0.100\n    ports: [80]\n    nodes: [10.0.0.11]\n",
		  4, 5,
		  "YAML merge keys ('<<') are not supported: put what services share under 'defaults:'");
}

static void duplicate_key_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    ports: [81]\n    nodes: [10.0.0.11]\n", 7, 5,
		  "duplicate key 'ports'");
}

static void wrong_type_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: {a: 1}\n    nodes: [10.0.0.11]\n", 6, 12,
		  "'ports' must be a port or a list of ports, got a mapping");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: 10.0.0.11\n", 7, 12,
		  "'nodes' must be a list");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [{address: 10.0.0.11, weight: [1]}]\n", 7,
		  42, "'weight' needs a value, got a list");
}

static void second_yaml_document_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\n---\ninterfaces: [eth1]\n", 9,
		  1, "a second YAML document");
	/* one that does not even parse is not ignored either */
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\n---\nbad: [\n", 10, 1,
		  "YAML syntax error in a second document");
}

static void bad_interface_name_is_refused(void **state)
{
	(void)state;
	parse_bad("interfaces: ['']\n", 1, 14, "'' is not an interface name");
	parse_bad("interfaces: [eth0, '..']\n", 1, 20, "'..' is not an interface name");
	parse_bad("interfaces: ['eth0:1']\n", 1, 14, "'eth0:1' is not an interface name");
	parse_bad("interfaces: [\"lo\\0x\"]\n", 1, 14, "holds a NUL character");
}

static void bad_address_is_refused(void **state)
{
	(void)state;
	parse_bad(HEAD "services:\n  - name: web\n    vip: 10.0.0.300\n", 4, 10,
		  "'vip' is not an IPv4 or IPv6 address: '10.0.0.300'");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11, rancher1]\n", 7, 24,
		  "'address' is 'rancher1', a name: drover does not resolve names");
	parse_bad(HEAD "services:\n  - name: web\n    vip: 0.0.0.0\n", 4, 10,
		  "'vip' is the unspecified address '0.0.0.0'");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11, '::']\n", 7, 24,
		  "'address' is the unspecified address '::'");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11, 127.0.0.2]\n", 7, 24,
		  "'address' is a loopback address '127.0.0.2'");
	/* An IPv6 service's node the kernel would reach over IPv4; one that needs an interface. */
	parse_bad(HEAD "services:\n  - name: web\n    vip: '::ffff:10.0.0.100'\n", 4, 10,
		  "'vip' is an IPv4-mapped IPv6 address '::ffff:10.0.0.100'");
	parse_bad(HEAD "services:\n  - name: web\n    vip: fe80::1\n", 4, 10,
		  "'vip' is a link-local address 'fe80::1'");
}

/*
 * Addresses written the way other balancers take them (nginx/HAProxy
 * "ADDR:PORT", keepalived/MetalLB "ADDR/32") are refused saying what to write.
 */
static void address_with_port_or_prefix_says_to_give_it_alone(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [443]\n    nodes: [10.0.0.11:443]\n", 7, 13,
		  "'address' is 10.0.0.11 with a port (:443): give the address alone; nodes receive the service's ports");
	parse_bad(SVC_HEAD "    ports: [443]\n    nodes: [{address: '[2001:db8::11]:443'}]\n", 7,
		  23,
		  "'address' is 2001:db8::11 with a port (:443): give the address alone; nodes receive the service's ports");
	parse_bad(HEAD "services:\n  - name: web\n    vip: 10.0.0.100/32\n", 4, 10,
		  "'vip' is 10.0.0.100 with a prefix length (/32): give the address alone");
	parse_bad(HEAD "services:\n  - name: web\n    vip: 10.0.0.100:80\n", 4, 10,
		  "'vip' is 10.0.0.100 with a port (:80): give the address alone; list ports under 'ports:'");
	parse_bad(SVC_HEAD "    ports: [443]\n    nodes: ['[2001:db8::11]']\n", 7, 13,
		  "'address' is 2001:db8::11 in brackets: give the address alone");
	/* a bare IPv6 address is not taken for ADDR:PORT */
	parse_bad(SVC_HEAD "    ports: [443]\n    nodes: ['2001:db8::11:443']\n", 7, 13,
		  "node 2001:db8::11:443 is IPv6 but VIP of service 'web' is IPv4");
}

/* A SNAT address that is a node, or a VIP whose port lies in the SNAT range, takes replies. */
/*
 * An IPv6 address with a zone ("%eth0", as ping and ip take a link-local
 * one) and a host name (as nginx and HAProxy take nodes) are no addresses
 * drover takes: each is refused saying what it is and what to give instead,
 * not only that it is no address.
 */
static void address_with_zone_or_a_name_says_what_to_give(void **state)
{
	(void)state;
	parse_bad(HEAD "services:\n  - {name: w, vip: 'fd00::1%eth0', mode: dsr, ports: [80],"
		       " nodes: ['fd00::2']}\n",
		  3, 20, "'vip' is fd00::1 with a zone (%eth0): give the address alone");
	parse_bad(HEAD "services:\n  - {name: w, vip: 'fd00::1', mode: dsr, ports: [80],"
		       " nodes: ['fe80::2%eth1']}\n",
		  3, 63,
		  "'address' is fe80::2 with a zone (%eth1): an address here names no interface, so a link-local one cannot be used; give the node's global or unique-local address");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {source: 'fd00::9%lo'}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 22, "'source' is fd00::9 with a zone (%lo): give the address alone");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11, rancher-1.example.com]\n", 7, 24,
		  "'address' is 'rancher-1.example.com', a name: drover does not resolve names; give its IPv4 or IPv6 address");
	parse_bad(HEAD "services:\n  - name: web\n    vip: 10.0.0.300\n", 4, 10,
		  "'vip' is not an IPv4 or IPv6 address: '10.0.0.300'; give one like 10.0.0.100 or fd00::100");
}

static void snat_that_takes_replies_is_refused(void **state)
{
	(void)state;
	parse_bad(HEAD "services:\n"
		       "  - name: web\n"
		       "    vip: 10.0.0.100\n"
		       "    snat: 10.0.0.100\n"
		       "    snat-ports: 20000-20000\n"
		       "    ports: [80, 20000]\n"
		       "    nodes: [10.0.0.11]\n",
		  6, 17, "take port 20000 of VIP 10.0.0.100 (service 'web', line 3)");
	drv_config_free(parse_ok(HEAD "services:\n"
				      "  - name: web\n"
				      "    vip: 10.0.0.100\n"
				      "    snat: 10.0.0.100\n"
				      "    snat-ports: 21000-21000\n"
				      "    ports: [80, 20000]\n"
				      "    nodes: [10.0.0.11]\n"));
	/* the other service's VIP, written before or after */
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\n"
			   "  - name: other\n"
			   "    vip: 10.0.0.2\n"
			   "    snat: 10.0.0.3\n"
			   "    ports: [10080]\n"
			   "    nodes: [10.0.0.12]\n",
		  5, 11, "take port 10080 of VIP 10.0.0.2 (service 'other', line 8)");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11, 10.0.0.2]\n", 5, 11,
		  "snat 10.0.0.2 of service 'web' is a node of service 'web'");
}

/*
 * A node that is another service's VIP (the Rancher VIP listed among the
 * 6443 nodes): its flows would go back to the balancer, written before or
 * after that service, in either family's services.
 */
static void node_that_is_another_services_vip_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\n"
			   "  - name: api\n"
			   "    vip: 10.0.0.101\n"
			   "    snat: 10.0.0.2\n"
			   "    ports: [6443]\n"
			   "    nodes: [10.0.0.11, 10.0.0.100]\n",
		  12, 24,
		  "node 10.0.0.100 of service 'api' is the VIP of service 'web' (line 3): give the node's own address");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11, {address: 10.0.0.101}]\n"
			   "  - name: api\n"
			   "    vip: 10.0.0.101\n"
			   "    snat: 10.0.0.2\n"
			   "    ports: [6443]\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 24,
		  "node 10.0.0.101 of service 'web' is the VIP of service 'api' (line 8): give the node's own address");
	/* another family's VIP and a node of another service are fine */
	drv_config_free(parse_ok(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\n"
				 "  - name: api\n"
				 "    vip: 10.0.0.101\n"
				 "    snat: 10.0.0.2\n"
				 "    ports: [6443]\n"
				 "    nodes: [10.0.0.11]\n"));
}

static void snat_ports_are_plain_numbers(void **state)
{
	static const char *const bad[] = { "'4294967297-5'", "'10- +20'", "'2000-1000'", "0-10",
					   "'1-65536'" };
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 SVC_HEAD "    snat-ports: %s\n    ports: [80]\n    nodes: [10.0.0.11]\n",
			 bad[i]);
		parse_bad(text, 6, 17, "'snat-ports' must be FIRST-LAST");
	}
}

static void table_smaller_than_the_nodes_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    table-size: 2\n    ports: [80]\n"
			   "    nodes: [10.0.0.11, 10.0.0.12, 10.0.0.13]\n",
		  6, 17, "'table-size' 2 is smaller than the 3 nodes of service 'web'");
}

static void timeouts_are_whole_seconds_and_fin_within_idle(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\ntimeouts: {tcp-idle: 1500ms}\n",
		  8, 22, "'tcp-idle' is 1500ms, must be whole seconds, 1s to 1193h");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\ntimeouts: {tcp-fin: 0}\n", 8,
		  21, "'tcp-fin' is 0, must be whole seconds, 1s to 1193h");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\ntimeouts: {tcp-idle: 999ms}\n",
		  8, 22, "'tcp-idle' is 999ms, must be whole seconds, 1s to 1193h");
	/* just inside: 1s each, and the longest that holds */
	drv_config_free(parse_ok(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\n"
					  "timeouts: {tcp-idle: 1s, tcp-fin: 1s}\n"));
	drv_config_free(parse_ok(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\n"
					  "timeouts: {tcp-idle: 1193h, tcp-fin: 1193h}\n"));
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\ntimeouts: {tcp-idle: 5s}\n",
		  8, 11, "'tcp-fin' (10s, the default) is longer than 'tcp-idle' (5s)");
}

static void duplicate_vip_port_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80, 443]\n    nodes: [10.0.0.11]\n"
			   "  - name: web2\n"
			   "    vip: 10.0.0.100\n"
			   "    snat: 10.0.0.2\n"
			   "    ports: [443]\n"
			   "    nodes: [10.0.0.12]\n",
		  11, 12,
		  "VIP 10.0.0.100 port 443 of service 'web2' is already used by service 'web' (line 3)");
}

static void missing_nodes_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n", 3, 5, "service 'web' has no 'nodes'");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: []\n", 7, 12, "has no nodes");
}

static void port_zero_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80, 0]\n    nodes: [10.0.0.11]\n", 6, 17,
		  "'ports' is 0, must be a port 1..65535");
	parse_bad(SVC_HEAD "    ports: [80, 80]\n    nodes: [10.0.0.11]\n", 6, 17,
		  "port 80 is listed twice");
	parse_bad(SVC_HEAD "    ports: [70000]\n    nodes: [10.0.0.11]\n", 6, 13,
		  "'ports' is 70000, must be a port 1..65535");
}

static void table_size_not_prime_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    table-size: 1000\n    nodes: [10.0.0.11]\n", 7, 17,
		  "'table-size' 1000 is not a prime");
	parse_bad(SVC_HEAD "    ports: [80]\n    table-size: 65539\n    nodes: [10.0.0.11]\n", 7,
		  17, "must be 1..65537");
}

static void nat_without_snat_is_refused(void **state)
{
	(void)state;
	parse_bad(HEAD "services:\n  - name: web\n    vip: 10.0.0.100\n    ports: [80]\n"
		       "    nodes: [10.0.0.11]\n",
		  3, 5, "mode nat and needs 'snat: ADDR'");
}

static void mixed_families_are_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: ['2001:db8::1']\n", 7, 13,
		  "node 2001:db8::1 is IPv6 but VIP of service 'web' is IPv4");
	parse_bad(HEAD "services:\n  - name: web\n    vip: 10.0.0.100\n    snat: '2001:db8::2'\n"
		       "    ports: [80]\n    nodes: [10.0.0.11]\n",
		  5, 11, "snat 2001:db8::2 is IPv6");
	/* An inherited snat of the other family: named as such, with what to do. */
	parse_bad(HEAD "defaults: {snat: 10.0.0.2}\nservices:\n  - name: v6\n"
		       "    vip: '2001:db8::100'\n    ports: [80]\n    nodes: ['2001:db8::1']\n",
		  4, 5, "snat 10.0.0.2 (from defaults) is IPv4 but VIP of service 'v6' is IPv6; give the service its own 'snat'");
}

/* tunnel wraps from its snat (the defaults' one will do); dsr takes none of its own. */
static void tunnel_needs_snat_and_dsr_refuses_one(void **state)
{
	struct drv_config *cfg =
		parse_ok(HEAD "defaults: {snat: 10.0.0.2}\n"
			      "services:\n"
			      "  - name: api\n"
			      "    vip: 10.0.0.100\n"
			      "    mode: tunnel\n"
			      "    ports: [6443]\n"
			      "    nodes: [10.0.0.11]\n");

	(void)state;
	assert_true(cfg->services[0].has_snat);
	drv_config_free(cfg);
	parse_bad(HEAD "services:\n  - name: api\n    vip: 10.0.0.100\n    mode: tunnel\n"
		       "    ports: [6443]\n    nodes: [10.0.0.11]\n",
		  3, 5, "service 'api' is mode tunnel and needs 'snat: ADDR', the outer source address");
	parse_bad(SVC_HEAD "    mode: dsr\n    ports: [80]\n    nodes: [10.0.0.11]\n", 5, 11,
		  "'snat' is for modes nat and tunnel; service 'web' is mode dsr");
}

/* dsr never uses snat: one set in defaults for the nat services does not bind it. */
static void defaults_snat_does_not_bind_dsr_services_of_the_other_family(void **state)
{
	struct drv_config *cfg =
		parse_ok(HEAD "defaults: {snat: 10.0.0.2}\n"
			      "services:\n"
			      "  - name: web\n"
			      "    vip: 10.0.0.100\n"
			      "    ports: [80]\n"
			      "    nodes: [10.0.0.11]\n"
			      "  - name: v6\n"
			      "    vip: 2001:db8::100\n"
			      "    mode: dsr\n"
			      "    ports: [443]\n"
			      "    nodes: ['2001:db8::11']\n");

	(void)state;
	assert_true(cfg->services[0].has_snat);
	assert_false(cfg->services[1].has_snat);
	drv_config_free(cfg);
}

static void zero_weight_points_to_drain(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [{address: 10.0.0.11, weight: 0}]\n", 7, 42,
		  "use drain: true");
}

/* The range a refused weight is told is the one it takes: 0 is not in it. */
static void weight_over_the_range_names_1_to_65535(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [{address: 10.0.0.11, weight: 70000}]\n", 7,
		  42, "'weight' is 70000, must be 1..65535");
}

static void duplicate_node_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes:\n      - 10.0.0.11\n      - 10.0.0.11\n", 9,
		  9, "node 10.0.0.11 is listed twice in service 'web' (line 8)");
}

static void bad_health_values_are_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    health: nginx\n    nodes: [10.0.0.11]\n", 7, 13,
		  "unknown health preset 'nginx'");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: udp}\n    nodes: [10.0.0.11]\n", 7,
		  20, "unknown health kind 'udp'");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {interval: 1s, timeout: 2s}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 37, "must be 10ms or more and not longer than the interval");
	parse_bad(SVC_HEAD
		  "    ports: [80]\n    health: {interval: soon}\n    nodes: [10.0.0.11]\n",
		  7, 24, "'interval' is not a duration");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {interval: 2h}\n    nodes: [10.0.0.11]\n",
		  7, 24, "health interval is 7200000ms, must be 100ms to 1h");
	parse_bad(SVC_HEAD
		  "    ports: [80]\n    health: {rehash-after: 61m}\n    nodes: [10.0.0.11]\n",
		  7, 28, "health rehash-after is 3660000ms, must be 0 to 1h");
	parse_bad(SVC_HEAD
		  "    ports: [80]\n    health: {rehash-after: -1}\n    nodes: [10.0.0.11]\n",
		  7, 28, "'rehash-after' is not a duration");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: http, path: healthz}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 32, "'path' must start with '/'");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: http, expect: 99}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 34, "'expect' is 99, must be 100..599");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: http, expect: [200, 103]}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 40,
		  "'expect' is 103, an interim answer that the check skips to judge the final "
		  "status: expect that one (e.g. 200)");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {fall: 0}\n    nodes: [10.0.0.11]\n", 7,
		  20, "'fall' is 0, must be 1..100");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: https, cert: /c.pem}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 33, "'cert' and 'key' go together");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: tcp, path: /healthz}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 31, "'path' is for kind http or https; this check is kind tcp");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: http, verify: true}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 34, "'verify' is for kind https or tls; this check is kind http");
	/* a CA that would verify nothing */
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: https, ca: /c.pem}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 31, "'ca' is used only with verify: true");
	/* ... but a ca from defaults with verify in the service is a verifying check */
	drv_config_free(parse_ok(HEAD "defaults: {health: {kind: https, ca: /c.pem}}\n"
				      "services:\n  - name: web\n    vip: 10.0.0.100\n"
				      "    snat: 10.0.0.2\n    ports: [443]\n"
				      "    health: {verify: true}\n    nodes: [10.0.0.11]\n"));
	/* a node that is the VIP itself */
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11, 10.0.0.100]\n", 7, 24,
		  "node 10.0.0.100 is the VIP of service 'web'");
	/* no SNAT ports outside nat */
	parse_bad(SVC_HEAD "    mode: dsr\n    ports: [80]\n    snat-ports: 20000-20010\n"
			   "    nodes: [10.0.0.11]\n",
		  8, 17, "'snat-ports' is for mode nat; service 'web' is mode dsr");
}

/*
 * A health value out of range is reported where it is written (its line and
 * column), not at the `health:` mapping that holds it; one that came from
 * defaults is reported at the mapping that made it wrong.
 */
static void health_value_out_of_range_is_refused_at_the_value(void **state)
{
#define HC_BLOCK SVC_HEAD "    ports: [80]\n    health:\n      kind: tcp\n"
	(void)state;
	parse_bad(HC_BLOCK "      interval: 99ms\n    nodes: [10.0.0.11]\n", 9, 17,
		  "health interval is 99ms, must be 100ms to 1h");
	parse_bad(HC_BLOCK "      interval: 3600001ms\n    nodes: [10.0.0.11]\n", 9, 17,
		  "health interval is 3600001ms, must be 100ms to 1h");
	parse_bad(HC_BLOCK "      timeout: 9ms\n    nodes: [10.0.0.11]\n", 9, 16,
		  "health timeout (9ms) must be 10ms or more");
	parse_bad(HC_BLOCK "      timeout: 2001ms\n    nodes: [10.0.0.11]\n", 9, 16,
		  "health timeout (2001ms) must be 10ms or more and not longer than the interval (2000ms)");
	/* the timeout is the default one: the interval written is what made it too long */
	parse_bad(HC_BLOCK "      interval: 500ms\n    nodes: [10.0.0.11]\n", 9, 17,
		  "health timeout (1000ms) must be 10ms or more and not longer than the interval (500ms)");
	parse_bad(HC_BLOCK "      rehash-after: 3600001ms\n    nodes: [10.0.0.11]\n", 9, 21,
		  "health rehash-after is 3600001ms, must be 0 to 1h");
	parse_bad(HC_BLOCK "      leave-after: 25h\n    nodes: [10.0.0.11]\n", 9, 20,
		  "health leave-after is 90000000ms, must be 0 to 24h");
	parse_bad(HC_BLOCK "      leave-after: never\n    nodes: [10.0.0.11]\n", 9, 20,
		  "'leave-after' is not a duration");
	parse_bad(SVC_HEAD "    ports: [443]\n    health:\n      kind: https\n"
			   "      key: /k.pem\n    nodes: [10.0.0.11]\n",
		  9, 12, "'cert' and 'key' go together");
	/* the timeout from defaults: the service's interval that makes the pair wrong */
	parse_bad(HEAD "defaults: {health: {timeout: 1500ms}}\n"
		       "services:\n  - name: web\n    vip: 10.0.0.100\n    snat: 10.0.0.2\n"
		       "    ports: [80]\n    health: {rise: 1,\n      interval: 1s}\n"
		       "    nodes: [10.0.0.11]\n",
		  9, 17, "health timeout (1500ms) must be 10ms or more and not longer than the interval (1000ms)");
#undef HC_BLOCK
}

/*
 * A blank or control character in the request path or Host header makes a
 * request no node can answer (GET /a b HTTP/1.1): every check would fail and
 * the service fail open. Refused where it is written.
 */
static void blank_in_http_path_or_host_is_refused(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: http, path: '/health z'}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 32, "'path' holds a blank or control character: percent-encode it");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: http, path: \"/a\\tb\"}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 32, "'path' holds a blank or control character");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: http, host: 'rancher .example'}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 32, "'host' holds a blank or control character");
	parse_bad(SVC_HEAD "    ports: [443]\n    health: {kind: tls, sni: 'a b'}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 30, "'sni' holds a blank or control character");
	/* a percent-encoded path and a query are fine */
	drv_config_free(parse_ok(SVC_HEAD "    ports: [80]\n"
					  "    health: {kind: http, path: '/health%20z?a=1&b'}\n"
					  "    nodes: [10.0.0.11]\n"));
}

static void bad_top_level_values_are_refused(void **state)
{
	(void)state;
	parse_bad("services: []\n", 1, 1, "no 'interfaces'");
	parse_bad(HEAD, 1, 1, "no 'services'");
	parse_bad(HEAD "services: []\n", 2, 11, "'services' is empty");
	parse_bad(HEAD "xdp-mode: turbo\nservices: []\n", 2, 11, "unknown xdp-mode 'turbo'");
	parse_bad(HEAD "metrics: {listen: 9469}\nservices: []\n", 2, 19,
		  "'listen' must be ADDR:PORT");
	parse_bad("interfaces: [eth0, eth0]\nservices: []\n", 1, 20, "listed twice");
	parse_bad("- a\n- b\n", 1, 1, "must be a mapping");
	parse_bad("", 1, 1, "the configuration is empty");
}

/*
 * A file with no configuration in it (empty, only comments, only "---": a
 * template that rendered nothing, a copy cut short) is refused saying what
 * a configuration needs and where to find one, not only that it is empty.
 */
static void empty_file_says_what_a_configuration_needs(void **state)
{
	static const char *const empty[] = { "", "\n\n", "# drover\n", "---\n", "---\n...\n", "~\n" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		parse_bad(empty[i], 1, 1,
			  "the configuration is empty: it needs 'interfaces:' and 'services:'");
		assert_non_null(strstr(err, "examples/minimal.yaml"));
	}
	parse_bad(HEAD "services:\n  - name: web\n    mode: fast\n", 3, 5,
		  "service 'web' has no 'vip'");
}

/*
 * Each limit's refusal says how far over it the file went and what to do, not only
 * that it is exceeded: an operator at the limits must learn where it was crossed and
 * how to get under it.
 */
static void limits_say_how_far_and_what_to_do(void **state)
{
	size_t cap = 64 * 1024, off = 0;
	char *t = malloc(cap);
	int i;

	(void)state;
	assert_non_null(t);
	/* 8 ports × 512 nodes = 4096 backends > 4095 ids */
	off += snprintf(t + off, cap - off,
			HEAD "services:\n  - name: big\n    vip: 10.0.0.100\n    snat: 10.0.0.2\n"
			     "    ports: [1, 2, 3, 4, 5, 6, 7, 8]\n    nodes:\n");
	for (i = 0; i < 512; i++)
		off += snprintf(t + off, cap - off, "      - 10.1.%d.%d\n", i / 256, i % 256);
	parse_bad(t, 3, 5,
		  "exceed 4095 (4096 up to service 'big'): list fewer nodes or ports, or give some services a balancer of their own (another host)");

	/* 9 services of 8 ports: the 65th VIP:port pair is in service s8 (line 3 + 5 × 8) */
	off = 0;
	off += snprintf(t + off, cap - off, HEAD "services:\n");
	for (i = 0; i < 9; i++)
		off += snprintf(t + off, cap - off,
				"  - name: s%d\n    vip: 10.0.0.%d\n    snat: 10.0.0.2\n"
				"    ports: [1, 2, 3, 4, 5, 6, 7, 8]\n    nodes: [10.1.0.1]\n",
				i, 100 + i);
	parse_bad(t, 43, 5,
		  "too many VIP:port pairs: 72 up to service 's8' (each port of each service is one), at most 64: list fewer services or ports, or give some services a balancer of their own (another host)");

	/* 513 nodes in one service */
	off = 0;
	off += snprintf(t + off, cap - off,
			HEAD "services:\n  - name: wide\n    vip: 10.0.0.100\n    snat: 10.0.0.2\n"
			     "    ports: [80]\n    nodes:\n");
	for (i = 0; i < 513; i++)
		off += snprintf(t + off, cap - off, "      - 10.1.%d.%d\n", i / 256, i % 256);
	parse_bad(t, 8, 7,
		  "service 'wide' has 513 nodes, at most 512 are supported: list at most 512, or split them over two services with VIPs of their own");
	free(t);
}

/* A value too large to hold is out of range, not malformed: say the range, not "not a number". */
static void numbers_too_large_to_hold_are_out_of_range(void **state)
{
	__u32 ms;

	(void)state;
	assert_int_equal(drv_duration_parse("1193h", &ms), 0);
	assert_int_equal(drv_duration_parse("1194h", &ms), -ERANGE);
	assert_int_equal(drv_duration_parse("99999999999999999999999d", &ms), -EINVAL);
	parse_bad(SVC_HEAD "    ports: [99999999999999999999]\n    nodes: [10.0.0.11]\n", 6, 13,
		  "'ports' is 99999999999999999999, must be a port 1..65535");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {rise: 18446744073709551617}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 20, "'rise' is 18446744073709551617, must be 1..100");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {interval: 5000000s}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 24, "'interval' is 5000000s, too long: at most 1h");
	parse_bad(HEAD "timeouts: {tcp-idle: 2000h}\nservices: []\n", 2, 22,
		  "'tcp-idle' is 2000h, too long: at most 1193h");
	parse_bad(HEAD "timeouts: {tcp-fin: 99999999999999999999999ms}\nservices: []\n", 2, 21,
		  "'tcp-fin' is 99999999999999999999999ms, too long: at most 1193h");
}

#define ONE_SVC                      \
	"services:\n"                \
	"  - name: web\n"            \
	"    vip: 10.0.0.100\n"      \
	"    snat: 10.0.0.2\n"       \
	"    ports: [80]\n"          \
	"    nodes: [10.0.0.11]\n"

/* metrics.stuck-after: 60s unless said (also beside listen), 2s to 1h, or 0 for never. */
static void stuck_after_defaults_to_60s_and_takes_0_for_never(void **state)
{
	static const struct {
		const char *v;
		__u32 ms;
	} ok[] = {
		{ "2s", 2000 },	    { "2000ms", 2000 }, { "90s", 90000 }, { "5m", 300000 },
		{ "1h", 3600000 }, { "0", 0 },		{ "0s", 0 },
	};
	struct drv_config *cfg;
	char text[512];
	size_t i;

	(void)state;
	cfg = parse_ok(HEAD ONE_SVC);
	assert_int_equal(cfg->stuck_after_ms, 60000);
	drv_config_free(cfg);
	cfg = parse_ok(HEAD "metrics: {listen: 127.0.0.1:9470}\n" ONE_SVC);
	assert_int_equal(cfg->stuck_after_ms, 60000);
	drv_config_free(cfg);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), HEAD "metrics:\n  stuck-after: %s\n" ONE_SVC, ok[i].v);
		cfg = parse_ok(text);
		assert_int_equal(cfg->stuck_after_ms, ok[i].ms);
		assert_string_equal(cfg->metrics_listen, DRV_METRICS_DEFAULT);
		drv_config_free(cfg);
	}
}

/* Below 2s /healthz would fail between two polls; each refusal points at the value. */
static void stuck_after_out_of_range_is_refused_at_the_value(void **state)
{
	(void)state;
	parse_bad(HEAD "metrics: {stuck-after: 1s}\n" ONE_SVC, 2, 24,
		  "'stuck-after' is 1s, must be 2s to 1h, or 0 for never");
	parse_bad(HEAD "metrics: {stuck-after: 1999ms}\n" ONE_SVC, 2, 24,
		  "'stuck-after' is 1999ms, must be 2s to 1h, or 0 for never");
	parse_bad(HEAD "metrics: {stuck-after: 61m}\n" ONE_SVC, 2, 24,
		  "'stuck-after' is 61m, must be 2s to 1h, or 0 for never");
	parse_bad(HEAD "metrics:\n  listen: 127.0.0.1:9470\n  stuck-after: 2h\n" ONE_SVC, 4, 16,
		  "'stuck-after' is 2h, must be 2s to 1h");
	parse_bad(HEAD "metrics: {stuck-after: 99999999999h}\n" ONE_SVC, 2, 24,
		  "'stuck-after' is 99999999999h, too long: at most 1h");
	parse_bad(HEAD "metrics: {stuck-after: soon}\n" ONE_SVC, 2, 24,
		  "'stuck-after' is not a duration like 2s, 500ms, 1m or 1h: 'soon'");
	parse_bad(HEAD "metrics: {stuck-after: -1}\n" ONE_SVC, 2, 24,
		  "'stuck-after' is not a duration");
	parse_bad(HEAD "metrics: {stuck-after: [60s]}\n" ONE_SVC, 2, 24, "'stuck-after'");
	parse_bad(HEAD "metrics: {stuck-afterr: 60s}\n" ONE_SVC, 2, 11, "stuck-afterr");
}

static void yaml_syntax_error_names_its_position(void **state)
{
	(void)state;
	parse_bad(HEAD "services: [\n  - name: x\n", 3, 3, "YAML syntax error");
}

static void unquoted_ipv6_listen_with_port_says_to_quote_it(void **state)
{
	struct drv_config *cfg;

	(void)state;
	/* YAML takes the '[' for a list: the documented [ADDR6]:PORT must be quoted */
	parse_bad(HEAD "metrics:\n  listen: [::1]:9469\nservices: []\n", 3, 12,
		  "YAML reads as a list: quote it (\"[::1]:9469\")");
	parse_bad(HEAD "metrics: {listen: [fd00::1]:9469}\nservices: []\n", 2, 28,
		  "YAML reads as a list: quote it");
	/* no hint where the line holds no [IPv6]:PORT */
	parse_bad(HEAD "services: [\n  - name: x\n", 3, 3, "YAML syntax error");
	assert_null(strstr(err, "quote it"));
	cfg = parse_ok(HEAD "metrics:\n  listen: '[::1]:9469'\nservices:\n"
			    "  - {name: web6, vip: 'fd00::100', ports: [80], mode: dsr, nodes: ['fd00:2::11']}\n");
	assert_string_equal(cfg->metrics_listen, "[::1]:9469");
	drv_config_free(cfg);
}

/*
 * YAML indents with spaces only; a tab there (an editor's habit, or a blank
 * line holding one) stops libyaml with a message that names no tab. The error
 * says so, at the tab's line, and to indent with spaces.
 */
static void tab_indentation_says_to_indent_with_spaces(void **state)
{
	(void)state;
	parse_bad(HEAD "services:\n\t- name: x\n", 3, 1, "indented with a tab");
	assert_non_null(strstr(err, "YAML indents with spaces only"));
	parse_bad(SVC_HEAD "\tports: [80]\n", 6, 1, "indented with a tab");
	parse_bad(SVC_HEAD "    \tports: [80]\n", 6, 5, "indented with a tab");
	parse_bad(HEAD "defaults:\n  snat: 10.0.0.9\n\t\nservices: []\n", 4, 1,
		  "indented with a tab");
	parse_bad(HEAD "interfaces2:\n\t- eth0\n", 3, 1, "indented with a tab");
	/* no tab hint for other syntax errors */
	parse_bad(HEAD "services: [\n  - name: x\n", 3, 3, "YAML syntax error");
	assert_null(strstr(err, "tab"));
}

/*
 * A file that is not UTF-8 (Latin-1 from an old editor, UTF-16 without its
 * byte-order mark, a binary) stops libyaml's reader, which gives a byte offset
 * and no line: the error names the line and column of the first bad byte, the
 * byte, and what to do, not 1:1.
 */
static void file_not_utf8_is_refused_at_its_first_bad_byte(void **state)
{
	static const char nul[] = HEAD "services: []\n  \0\n";
	static const char u16[] = "i\0n\0t\0";

	(void)state;
	/* é in Latin-1 */
	parse_bad(HEAD "services:\n  - name: w\xe9"
		       "b\n",
		  3, 12, "not UTF-8 text");
	assert_non_null(strstr(err, "byte 0xe9"));
	assert_non_null(strstr(err, "save it as UTF-8"));
	parse_bad(HEAD "# caf\xe9\nservices: []\n", 2, 6, "not UTF-8 text");
	parse_bad(HEAD "services: [\xff]\n", 2, 12, "byte 0xff");
	/* counted in characters, as libyaml counts columns, after a BOM */
	parse_bad("\xef\xbb\xbf" HEAD "services: [\xc3\xa9, \xc3]\n", 2, 15, "not UTF-8 text");
	/* also where libyaml reads it only after the document, in what follows */
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\n---\n\xe9\n", 9, 1,
		  "not UTF-8 text");
	parse_bad_n(nul, sizeof(nul) - 1, 3, 3, "control character (byte 0x00)");
	parse_bad_n(u16, sizeof(u16) - 1, 1, 2, "control character (byte 0x00)");
	assert_non_null(strstr(err, "UTF-16"));
}

/*
 * A key or a list item at the wrong indentation is YAML's commonest mistake,
 * and libyaml's words for it ("did not find expected key", "mapping values
 * are not allowed in this context") name no indentation. Each error says the
 * line's column and the column its neighbours are at.
 */
static void key_at_the_wrong_indentation_says_where_it_belongs(void **state)
{
	(void)state;
	/* one column short of the service's keys, one deeper */
	parse_bad(SVC_HEAD "    ports: [80]\n   nodes: [10.0.0.11]\n", 7, 4,
		  "this line starts at column 4, but the items of the list begun at line 3 start at column 3");
	parse_bad(SVC_HEAD "    ports: [80]\n     nodes: [10.0.0.11]\n", 7, 6,
		  "this line starts at column 6, but the keys of the mapping begun at line 3 start at column 5");
	assert_non_null(strstr(err, "indent it as deep as the keys or items it belongs with"));
	/* a key of a list's item at the column of the items' '- ' */
	parse_bad(SVC_HEAD "    ports: [80]\n  nodes: [10.0.0.11]\n", 7, 3,
		  "this line starts at column 3, where the items ('- ') of the list begun at line 3 start, but is no item");
	/* a key deeper than the one above: YAML reads it into that key's value */
	parse_bad(SVC_HEAD "    ports: [80]\n    health:\n      kind: http\n       path: /x\n", 9,
		  12, "mapping values are not allowed");
	assert_non_null(strstr(err, "this line starts at column 8, deeper than the line above"));
	/* a key of a mapping written outside it, or inside another */
	parse_bad(SVC_HEAD "    ports: [80]\n    health:\n    kind: http\n    nodes: [10.0.0.11]\n", 8,
		  5, "unknown key 'kind' in service");
	assert_non_null(strstr(err, "'kind' is a key of health: check its indentation"));
	parse_bad(SVC_HEAD "    ports: [80]\n    health:\n      kind: tcp\n      nodes: [10.0.0.11]\n",
		  9, 7, "'nodes' is a key of a service: check its indentation");
	parse_bad(HEAD "metrics:\nlisten: 127.0.0.1:9469\nservices: []\n", 3, 1,
		  "'listen' is a key of metrics: check its indentation");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes:\n      - address: 10.0.0.11\n    weight: 2\n", 9,
		  5, "'weight' is a key of a node: check its indentation");
	/* no hint for a key known nowhere */
	parse_bad(HEAD "servics: []\n", 2, 1, "unknown key 'servics'");
	assert_null(strstr(err, "indentation"));
	/* an item deeper than the one above: YAML joins it to that item's value */
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes:\n      - 10.0.0.11\n        - 10.0.0.12\n", 8,
		  9, "'address' is not an IPv4 or IPv6 address");
	assert_non_null(strstr(err, "the value runs on over lines 8 to 9"));
	assert_non_null(strstr(err, "check the indentation"));
}

/*
 * "\0" in a double-quoted YAML string is a NUL character: C reads the value
 * only up to it, so "10.0.0.100\0junk" was taken for 10.0.0.100 and "2s\0x"
 * for 2s, and a key "ports\0x" for ports. Each value and key holding one is
 * refused at it.
 */
static void nul_in_a_value_or_key_is_refused_not_cut_off(void **state)
{
	(void)state;
	parse_bad(HEAD "services:\n  - name: web\n    vip: \"10.0.0.100\\0junk\"\n", 4, 10,
		  "'vip' holds a NUL character");
	parse_bad(SVC_HEAD "    ports: [\"80\\0\"]\n    nodes: [10.0.0.11]\n", 6, 13,
		  "'ports' holds a NUL character");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [\"10.0.0.11\\0\"]\n", 7, 13,
		  "'address' holds a NUL character");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {interval: \"2s\\0x\"}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 24, "'interval' holds a NUL character");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: http, expect: [\"200\\0\"]}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 35, "'expect' holds a NUL character");
	parse_bad(SVC_HEAD "    \"ports\\0x\": [80]\n    nodes: [10.0.0.11]\n", 6, 5,
		  "a key holds a NUL character");
	parse_bad(HEAD "services:\n  - name: \"web\\0\"\n", 3, 11, "'name' holds a NUL character");
}

/*
 * A number with a leading 0 is octal to YAML 1.1 readers (PyYAML, Go's
 * yaml.v2: "ports: [0120]" is port 80 to them) and decimal to drover: a
 * file that tools read two ways is refused, saying what to write. A quoted
 * number is a number (drover reads values by their key, not their YAML
 * type), as docs/agent.md says.
 */
static void number_with_a_leading_zero_is_refused_quoted_one_is_taken(void **state)
{
	struct drv_config *cfg;

	(void)state;
	parse_bad(SVC_HEAD "    ports: [0120]\n    nodes: [10.0.0.11]\n", 6, 13,
		  "'ports' is 0120, a number with a leading 0, which YAML 1.1 readers take for octal: write 120");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [{address: 10.0.0.11, weight: 010}]\n", 7, 42,
		  "'weight' is 010, a number with a leading 0");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {rise: 02}\n    nodes: [10.0.0.11]\n", 7, 20,
		  "'rise' is 02, a number with a leading 0");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {interval: 010}\n    nodes: [10.0.0.11]\n", 7,
		  24, "'interval' is 010, a number with a leading 0");
	cfg = parse_ok(SVC_HEAD "    ports: ['80', \"443\"]\n    health: {rise: '3', jitter: 0}\n"
				"    nodes: [{address: 10.0.0.11, weight: \"2\"}]\n");
	assert_int_equal(cfg->services[0].ports[0], 80);
	assert_int_equal(cfg->services[0].ports[1], 443);
	assert_int_equal(cfg->services[0].hc.rise, 3);
	assert_int_equal(cfg->services[0].hc.jitter_pct, 0);
	assert_int_equal(cfg->services[0].nodes[0].weight, 2);
	drv_config_free(cfg);
}

/*
 * Anchors and aliases work, but libyaml keeps one node for an anchored value
 * and every alias of it: an error about the value where an alias uses it is
 * found at the anchor, in another service. The error says the value is used
 * through an alias, and names the service it is about.
 */
static void error_in_a_value_used_through_an_alias_says_so(void **state)
{
	struct drv_config *cfg;

	(void)state;
	/* an alias before its anchor, or of one never written */
	parse_bad(HEAD "defaults: {snat: 10.0.0.2}\nservices:\n"
		       "  - {name: a, vip: 10.0.0.100, ports: *p, nodes: [10.0.0.11]}\n"
		       "  - {name: b, vip: 10.0.0.101, ports: &p [80], nodes: [10.0.0.12]}\n",
		  4, 39,
		  "found undefined alias; an alias ('*NAME') must come after the anchor ('&NAME') it names");
	parse_bad(HEAD "defaults: {snat: 10.0.0.2}\nservices:\n"
		       "  - {name: a, vip: 10.0.0.100, ports: &p [80], nodes: [10.0.0.11]}\n"
		       "  - {name: b, vip: 10.0.0.100, ports: *p, nodes: [10.0.0.12]}\n",
		  4, 39, "VIP 10.0.0.100 port 80 of service 'b' is already used by service 'a' (line 4)");
	assert_non_null(strstr(err, "used again through an alias"));
	parse_bad(HEAD "defaults: {snat: 10.0.0.2}\nservices:\n"
		       "  - {name: a, vip: 10.0.0.100, ports: [80], nodes: &n [10.0.0.11]}\n"
		       "  - {name: b, vip: 'fd00::100', mode: dsr, ports: [80], nodes: *n}\n",
		  4, 56, "node 10.0.0.11 is IPv4 but VIP of service 'b' is IPv6");
	assert_non_null(strstr(err, "used again through an alias"));
	/* no such words for a value used once */
	parse_bad(HEAD "defaults: {snat: 10.0.0.2}\nservices:\n"
		       "  - {name: a, vip: 10.0.0.100, ports: &p [80], nodes: [10.0.0.11]}\n"
		       "  - {name: b, vip: 10.0.0.100, ports: [80], nodes: [10.0.0.12]}\n",
		  5, 39, "VIP 10.0.0.100 port 80 of service 'b' is already used");
	assert_null(strstr(err, "alias"));
	cfg = parse_ok(HEAD "defaults: {snat: 10.0.0.2}\nservices:\n"
			    "  - {name: a, vip: 10.0.0.100, ports: [80], nodes: &n [10.0.0.11]}\n"
			    "  - {name: b, vip: 10.0.0.101, ports: [80], nodes: *n}\n");
	assert_int_equal(cfg->services[1].nnodes, 1);
	drv_config_free(cfg);
}

/*
 * A file from Windows (CRLF line ends, a UTF-8 byte-order mark) or with a tab
 * between a key and its value reads as its LF twin, and its errors are at the
 * same line and column (docs/agent.md says it is taken).
 */
static void crlf_bom_and_tab_after_a_key_read_as_plain_yaml(void **state)
{
	struct drv_config *cfg;

	(void)state;
	cfg = parse_ok("\xef\xbb\xbfinterfaces: [eth0]\r\nservices:\r\n  - name: web\r\n"
		       "    vip:\t10.0.0.100\r\n    snat: 10.0.0.2\r\n    ports: [80]\r\n"
		       "    nodes:\r\n      - 10.0.0.11\r\n");
	assert_string_equal(cfg->ifaces[0], "eth0");
	assert_string_equal(cfg->services[0].name, "web");
	assert_int_equal(cfg->services[0].vip.v4, inet_addr("10.0.0.100"));
	assert_int_equal(cfg->services[0].nnodes, 1);
	drv_config_free(cfg);
	parse_bad("\xef\xbb\xbfinterfacs: [eth0]\r\n", 1, 1, "unknown key 'interfacs'");
	parse_bad("interfaces: [eth0]\r\nservics: []\r\n", 2, 1, "unknown key 'servics'");
}

/*
 * A list item without the blank after its '-' ("-10.0.0.11"), a key without
 * the blank after its ':' ("name:web") and a list written without brackets
 * ("80, 443") are plain strings to YAML: the error says which blank or
 * brackets are missing, not only that a string came where a list or a
 * mapping was wanted.
 */
static void missing_blank_or_brackets_say_what_yaml_read(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes:\n      -10.0.0.11\n", 8, 7,
		  "'nodes' must be a list, got a scalar (a list item needs a blank after its '-')");
	parse_bad(HEAD "services:\n  - name:web\n", 3, 5,
		  "a service must be a mapping, got a scalar (a key needs a blank after its ':')");
	parse_bad(SVC_HEAD "    ports: [80]\n    health:\n      kind:http\n    nodes: [10.0.0.11]\n", 8,
		  7, "(a key needs a blank after its ':')");
	parse_bad(SVC_HEAD "    ports: 80, 443\n    nodes: [10.0.0.11]\n", 6, 12,
		  "'ports' must be a port number, got '80, 443' (a list is written in brackets: [80, 443])");
	parse_bad(SVC_HEAD "    ports: [80]\n    health:\n      kind: http\n      expect: 200, 204\n"
			   "    nodes: [10.0.0.11]\n",
		  9, 15, "(a list is written in brackets");
	/* an IPv6 address is no 'key:value' */
	parse_bad(SVC_HEAD "    ports: [80]\n    health: 'fd00::1'\n    nodes: [10.0.0.11]\n", 7, 13,
		  "unknown health preset 'fd00::1'");
	assert_null(strstr(err, "blank after"));
}

/*
 * metrics.listen with a port out of range or a name for its address says
 * which part is wrong and what to give, not only that it must be ADDR:PORT.
 */
static void metrics_listen_says_which_part_is_wrong(void **state)
{
	(void)state;
	parse_bad(HEAD "metrics: {listen: '127.0.0.1:0'}\nservices: []\n", 2, 19,
		  "'listen' has port 0, must be 1..65535");
	parse_bad(HEAD "metrics: {listen: '[::1]:65536'}\nservices: []\n", 2, 19,
		  "'listen' has port 65536, must be 1..65535");
	parse_bad(HEAD "metrics: {listen: 'localhost:9469'}\nservices: []\n", 2, 19,
		  "'listen' has address 'localhost', not an IPv4 or IPv6 address: drover resolves no names; give 127.0.0.1:9469 or [::1]:9469");
	parse_bad(HEAD "metrics: {listen: 'http://127.0.0.1:9469'}\nservices: []\n", 2, 19,
		  "'listen' must be ADDR:PORT ([ADDR]:PORT for IPv6) or off, got 'http://127.0.0.1:9469'");
	parse_bad(HEAD "metrics: {listen: 9469}\nservices: []\n", 2, 19,
		  "'listen' must be ADDR:PORT ([ADDR]:PORT for IPv6) or off, got '9469'");
	/* an IPv6 address and a port without brackets reads two ways */
	parse_bad(HEAD "metrics: {listen: '::1:9469'}\nservices: []\n", 2, 19,
		  "'listen' is an IPv6 address and a port without brackets, which reads two ways: write '[::1]:9469', quoted");
}

/*
 * At the end of a text without a final line break, libyaml puts its mark on a
 * line past the last: a file cut short ("services: [" and nothing more) was
 * refused at a line it does not have. The error is at the end of its last line.
 * (Found by tests/fuzz/fuzz_config.c, which now checks every error's place is
 * within the input.)
 */
static void syntax_error_at_the_end_is_on_the_last_line(void **state)
{
	(void)state;
	parse_bad(HEAD "services: [", 2, 12, "YAML syntax error");
	parse_bad("[", 1, 2, "YAML syntax error");
	parse_bad("\xef\xbb\xbf[", 1, 2, "YAML syntax error");
	parse_bad(HEAD "services: [\xc3\xa9", 2, 13, "YAML syntax error");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes: [10.0.0.11]\n---\nservices: [", 9, 12,
		  "YAML syntax error in a second document");
	/* with its final line break, the end is the start of the line after it */
	parse_bad(HEAD "services: [\n", 3, 1, "YAML syntax error");
}

/*
 * A key with nothing after it ("services:" and no items under it: they were
 * forgotten, or indented as its siblings) holds no value, not "a scalar": the
 * error says it got nothing.
 */
static void key_without_a_value_says_it_got_nothing(void **state)
{
	(void)state;
	parse_bad(HEAD "services:\n", 2, 10, "'services' must be a list, got nothing");
	parse_bad(SVC_HEAD "    ports: [80]\n    nodes:\n", 7, 11, "'nodes' must be a list, got nothing");
	parse_bad(HEAD "metrics:\nservices: []\n", 2, 9,
		  "'metrics' must be a mapping (key: value lines), got nothing");
	parse_bad(HEAD "services: [~]\n", 2, 12, "a service must be a mapping, got nothing");
}

/*
 * A key written with '_' for '-' (snat_ports, as in many other tools'
 * configs) or in another case (Ports) is unknown: the error names the key
 * that was meant, not only the list of known ones.
 */
static void key_with_underscore_or_capitals_names_the_key_meant(void **state)
{
	(void)state;
	parse_bad(SVC_HEAD "    ports: [80]\n    snat_ports: 20000-30000\n    nodes: [10.0.0.11]\n", 7,
		  5, "unknown key 'snat_ports' in service (known keys: ");
	assert_non_null(strstr(err, "; did you mean 'snat-ports'?"));
	parse_bad(SVC_HEAD "    Ports: [80]\n    nodes: [10.0.0.11]\n", 6, 5,
		  "; did you mean 'ports'?");
	parse_bad(HEAD "metrics: {stuck_after: 10s}\nservices: []\n", 2, 11,
		  "; did you mean 'stuck-after'?");
	parse_bad(SVC_HEAD "    ports: [80]\n    health: {kind: http, Rehash_After: 1s}\n"
			   "    nodes: [10.0.0.11]\n",
		  7, 26, "; did you mean 'rehash-after'?");
	/* nothing meant: no guess */
	parse_bad(HEAD "servics: []\n", 2, 1, "unknown key 'servics'");
	assert_null(strstr(err, "did you mean"));
}

static void missing_file_says_so_and_to_check_the_path(void **state)
{
	struct drv_config *cfg;

	(void)state;
	assert_int_equal(drv_config_load("/nonexistent/drover.yaml", &cfg, err, sizeof(err)),
			 -ENOENT);
	if (!strstr(err, "check the path"))
		print_error("got '%s'\n", err);
	assert_non_null(strstr(err, "/nonexistent/drover.yaml: cannot open: No such file or directory"));
	assert_non_null(strstr(err, "check the path"));
}

/*
 * A directory given for the file, and a file the agent may not read: each
 * refused naming the path, the cause and what to do. Root reads any mode, so the read is
 * made as nobody in a child when the test runs as root.
 */
static void directory_or_unreadable_file_is_refused_saying_so(void **state)
{
	char dir[] = "/tmp/drover-test-config.XXXXXX", file[64];
	struct drv_config *cfg = NULL;
	int fd, st = 0;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(drv_config_load(dir, &cfg, err, sizeof(err)), -EISDIR);
	assert_null(cfg);
	if (!strstr(err, "cannot read: Is a directory (give the config file, not its directory)"))
		print_error("got '%s'\n", err);
	assert_memory_equal(err, dir, strlen(dir));
	assert_non_null(
		strstr(err, "cannot read: Is a directory (give the config file, not its directory)"));

	snprintf(file, sizeof(file), "%s/drover.yaml", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, HEAD, strlen(HEAD)), (ssize_t)strlen(HEAD));
	close(fd);
	assert_int_equal(chmod(dir, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int ret;

		if (!geteuid() && (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
				   setresuid(65534, 65534, 65534)))
			_exit(3);
		ret = drv_config_load(file, &cfg, err, sizeof(err));
		if (ret != -EACCES || strncmp(err, file, strlen(file)) ||
		    !strstr(err, ": cannot open: Permission denied") ||
		    !strstr(err, "make it readable to the user drover runs as (uid 65534)")) {
			fprintf(stderr, "got %d '%s'\n", ret, err);
			_exit(1);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unlink(file);
	rmdir(dir);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void shipped_examples_parse(void **state)
{
	static const char *const files[] = {
		"examples/rancher.yaml",
		"examples/rke2-api.yaml",
		"examples/minimal.yaml",
	};
	struct drv_config *cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int ret = drv_config_load(files[i], &cfg, err, sizeof(err));

		if (ret)
			print_error("%s\n", err);
		assert_int_equal(ret, 0);
		drv_config_free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rancher_example_parses_to_two_services_with_presets),
		cmocka_unit_test(defaults_apply_when_nothing_is_said),
		cmocka_unit_test(health_mapping_sets_every_field),
		cmocka_unit_test(presets_set_what_rancher_and_rke2_serve),
		cmocka_unit_test(ipv6_service_with_dsr_needs_no_snat),
		cmocka_unit_test(snat_ports_and_metrics_off_parse),
		cmocka_unit_test(durations_parse_with_units),
		cmocka_unit_test(unknown_top_key_is_refused_at_its_position),
		cmocka_unit_test(unknown_service_key_is_refused),
		cmocka_unit_test(unknown_health_key_is_refused),
		cmocka_unit_test(duplicate_key_is_refused),
		cmocka_unit_test(yaml_merge_key_is_refused_naming_defaults),
		cmocka_unit_test(wrong_type_is_refused),
		cmocka_unit_test(bad_address_is_refused),
		cmocka_unit_test(address_with_port_or_prefix_says_to_give_it_alone),
		cmocka_unit_test(address_with_zone_or_a_name_says_what_to_give),
		cmocka_unit_test(second_yaml_document_is_refused),
		cmocka_unit_test(bad_interface_name_is_refused),
		cmocka_unit_test(duplicate_vip_port_is_refused),
		cmocka_unit_test(snat_that_takes_replies_is_refused),
		cmocka_unit_test(node_that_is_another_services_vip_is_refused),
		cmocka_unit_test(timeouts_are_whole_seconds_and_fin_within_idle),
		cmocka_unit_test(table_smaller_than_the_nodes_is_refused),
		cmocka_unit_test(snat_ports_are_plain_numbers),
		cmocka_unit_test(missing_nodes_is_refused),
		cmocka_unit_test(port_zero_is_refused),
		cmocka_unit_test(table_size_not_prime_is_refused),
		cmocka_unit_test(nat_without_snat_is_refused),
		cmocka_unit_test(mixed_families_are_refused),
		cmocka_unit_test(defaults_snat_does_not_bind_dsr_services_of_the_other_family),
		cmocka_unit_test(tunnel_needs_snat_and_dsr_refuses_one),
		cmocka_unit_test(zero_weight_points_to_drain),
		cmocka_unit_test(weight_over_the_range_names_1_to_65535),
		cmocka_unit_test(duplicate_node_is_refused),
		cmocka_unit_test(bad_health_values_are_refused),
		cmocka_unit_test(health_value_out_of_range_is_refused_at_the_value),
		cmocka_unit_test(blank_in_http_path_or_host_is_refused),
		cmocka_unit_test(bad_top_level_values_are_refused),
		cmocka_unit_test(empty_file_says_what_a_configuration_needs),
		cmocka_unit_test(limits_say_how_far_and_what_to_do),
		cmocka_unit_test(numbers_too_large_to_hold_are_out_of_range),
		cmocka_unit_test(stuck_after_defaults_to_60s_and_takes_0_for_never),
		cmocka_unit_test(stuck_after_out_of_range_is_refused_at_the_value),
		cmocka_unit_test(yaml_syntax_error_names_its_position),
		cmocka_unit_test(unquoted_ipv6_listen_with_port_says_to_quote_it),
		cmocka_unit_test(tab_indentation_says_to_indent_with_spaces),
		cmocka_unit_test(file_not_utf8_is_refused_at_its_first_bad_byte),
		cmocka_unit_test(key_at_the_wrong_indentation_says_where_it_belongs),
		cmocka_unit_test(nul_in_a_value_or_key_is_refused_not_cut_off),
		cmocka_unit_test(number_with_a_leading_zero_is_refused_quoted_one_is_taken),
		cmocka_unit_test(error_in_a_value_used_through_an_alias_says_so),
		cmocka_unit_test(crlf_bom_and_tab_after_a_key_read_as_plain_yaml),
		cmocka_unit_test(missing_blank_or_brackets_say_what_yaml_read),
		cmocka_unit_test(metrics_listen_says_which_part_is_wrong),
		cmocka_unit_test(syntax_error_at_the_end_is_on_the_last_line),
		cmocka_unit_test(key_without_a_value_says_it_got_nothing),
		cmocka_unit_test(key_with_underscore_or_capitals_names_the_key_meant),
		cmocka_unit_test(missing_file_says_so_and_to_check_the_path),
		cmocka_unit_test(directory_or_unreadable_file_is_refused_saying_so),
		cmocka_unit_test(shipped_examples_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
