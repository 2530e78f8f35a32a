// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The agent's config loader (drv_config_parse, what `drover run --check` and
 * every reload use) on arbitrary bytes: no sanitizer report, no leak; a
 * refusal says "FILE:LINE:COL: ..." at a place within the input; what it
 * accepts holds only values the agent can apply (docs/agent.md's ranges).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "util.h"
#include "fuzz.h"

#define NAME "fuzz.yaml"

static void check_hc(const struct drv_hc_conf *hc, const char *svc)
{
	unsigned int i;

	FUZZ_CHECK(hc->kind < __DRV_HC_MAX, "service %s: kind %d", svc, hc->kind);
	FUZZ_CHECK(hc->path[0] == '/', "service %s: path '%s'", svc, hc->path);
	FUZZ_CHECK(hc->nexpect >= 1 && hc->nexpect <= DRV_CONF_MAX_EXPECT, "service %s: %u codes",
		   svc, hc->nexpect);
	for (i = 0; i < hc->nexpect; i++)
		FUZZ_CHECK(hc->expect[i] >= 100 && hc->expect[i] <= 599, "service %s: expect %u",
			   svc, hc->expect[i]);
	FUZZ_CHECK(hc->interval_ms >= 100 && hc->interval_ms <= 3600000, "service %s: interval %u",
		   svc, hc->interval_ms);
	FUZZ_CHECK(hc->timeout_ms >= 10 && hc->timeout_ms <= hc->interval_ms,
		   "service %s: timeout %u, interval %u", svc, hc->timeout_ms, hc->interval_ms);
	FUZZ_CHECK(hc->rise >= 1 && hc->rise <= 100, "service %s: rise %u", svc, hc->rise);
	FUZZ_CHECK(hc->fall >= 1 && hc->fall <= 100, "service %s: fall %u", svc, hc->fall);
	FUZZ_CHECK(hc->jitter_pct <= 50, "service %s: jitter %u", svc, hc->jitter_pct);
	FUZZ_CHECK(hc->rehash_after_ms <= 3600000, "service %s: rehash-after %u", svc,
		   hc->rehash_after_ms);
	FUZZ_CHECK(hc->leave_after_ms <= 24u * 3600000, "service %s: leave-after %u", svc,
		   hc->leave_after_ms);
	FUZZ_CHECK(!hc->cert[0] == !hc->key[0], "service %s: cert without key", svc);
	FUZZ_CHECK(!strpbrk(hc->path, " \r\n\t") && !strpbrk(hc->host, " \r\n\t"),
		   "service %s: blank in path or host", svc);
}

static void check_service(const struct drv_service_conf *s)
{
	unsigned int i, j;

	FUZZ_CHECK(s->name[0], "a service without a name");
	FUZZ_CHECK(s->family == DRV_FAMILY_V4 || s->family == DRV_FAMILY_V6,
		   "service %s: family %u", s->name, s->family);
	FUZZ_CHECK(!drv_addr_not_host(&s->vip, s->family), "service %s: VIP not a host's", s->name);
	FUZZ_CHECK(s->mode < __DRV_MODE_MAX, "service %s: mode %u", s->name, s->mode);
	FUZZ_CHECK(s->nports >= 1 && s->nports <= DRV_CONF_MAX_PORTS, "service %s: %u ports",
		   s->name, s->nports);
	for (i = 0; i < s->nports; i++) {
		FUZZ_CHECK(s->ports[i] != 0, "service %s: port 0", s->name);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(s->ports[i] != s->ports[j], "service %s: port %u twice", s->name,
				   s->ports[i]);
	}
	FUZZ_CHECK(!s->snat_port_lo == !s->snat_port_hi && s->snat_port_lo <= s->snat_port_hi,
		   "service %s: snat-ports %u-%u", s->name, s->snat_port_lo, s->snat_port_hi);
	FUZZ_CHECK(s->mode != DRV_MODE_DSR || !s->has_snat, "service %s: dsr with snat", s->name);
	FUZZ_CHECK(s->mode == DRV_MODE_DSR || s->has_snat, "service %s: no snat", s->name);
	FUZZ_CHECK(!s->table_size ||
			   (drv_is_prime(s->table_size) && s->table_size <= DRV_MAGLEV_MAX &&
			    s->table_size >= s->nnodes),
		   "service %s: table-size %u", s->name, s->table_size);
	FUZZ_CHECK(s->nnodes >= 1 && s->nnodes <= DRV_CONF_MAX_NODES, "service %s: %zu nodes",
		   s->name, s->nnodes);
	for (i = 0; i < s->nnodes; i++) {
		const struct drv_node_conf *n = &s->nodes[i];

		FUZZ_CHECK(n->family == s->family, "service %s: node family %u", s->name,
			   n->family);
		FUZZ_CHECK(n->weight >= 1 && n->weight <= 65535, "service %s: weight %u", s->name,
			   n->weight);
		FUZZ_CHECK(n->name[0], "service %s: a node without a name", s->name);
		FUZZ_CHECK(!drv_addr_not_host(&n->addr, n->family), "service %s: node not a host",
			   s->name);
	}
	check_hc(&s->hc, s->name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drv_config *cfg = NULL;
	char err[DRV_CONF_ERR_MAX];
	size_t i;
	int ret;

	/* Fed as is, not NUL-terminated: the parser takes a length. */
	ret = drv_config_parse(NAME, (const char *)data, size, &cfg, err, sizeof(err));
	if (ret) {
		size_t line = 0, col = 0, breaks = 0;
		int at = 0;

		FUZZ_CHECK(ret == -EINVAL || ret == -ENOMEM, "return %d", ret);
		FUZZ_CHECK(!cfg, "a config with return %d", ret);
		FUZZ_CHECK(memchr(err, 0, sizeof(err)), "error not terminated");
		FUZZ_CHECK(!strncmp(err, NAME ":", strlen(NAME ":")), "error '%s'", err);
		if (ret == -ENOMEM)
			return 0;
		/*
		 * FILE:LINE:COL within the input: a line per line break (YAML 1.1's: LF, CR,
		 * NEL, LS, PS; their last bytes bound their count), a column per byte at most
		 */
		for (i = 0; i < size; i++)
			breaks += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 ||
				  data[i] == 0xa8 || data[i] == 0xa9;
		FUZZ_CHECK(sscanf(err, NAME ":%zu:%zu: %n", &line, &col, &at) == 2 && at,
			   "error without its line and column: '%s'", err);
		FUZZ_CHECK(line >= 1 && line <= breaks + 1 && col >= 1 && col <= size + 1,
			   "error at %zu:%zu of %zu line breaks and %zu bytes: '%s'", line, col,
			   breaks, size, err);
		return 0;
	}
	FUZZ_CHECK(cfg, "no config with return 0");
	FUZZ_CHECK(cfg->nifaces >= 1 && cfg->nifaces <= DRV_MAX_IFACES, "%u interfaces",
		   cfg->nifaces);
	for (i = 0; i < cfg->nifaces; i++)
		FUZZ_CHECK(drv_ifname_valid(cfg->ifaces[i]), "interface '%s'", cfg->ifaces[i]);
	FUZZ_CHECK(!cfg->stuck_after_ms || (cfg->stuck_after_ms >= DRV_STUCK_AFTER_MIN_MS &&
					    cfg->stuck_after_ms <= DRV_STUCK_AFTER_MAX_MS),
		   "stuck-after %u", cfg->stuck_after_ms);
	FUZZ_CHECK((cfg->tcp_fin_timeout_s ?: DRV_TCP_FIN_DEFAULT) <=
			   (cfg->tcp_idle_timeout_s ?: DRV_TCP_IDLE_DEFAULT),
		   "tcp-fin %u over tcp-idle %u", cfg->tcp_fin_timeout_s, cfg->tcp_idle_timeout_s);
	FUZZ_CHECK(cfg->nservices >= 1, "no services");
	for (i = 0; i < cfg->nservices; i++)
		check_service(&cfg->services[i]);
	drv_config_free(cfg);
	return 0;
}
