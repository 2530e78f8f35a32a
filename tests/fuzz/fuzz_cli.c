// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The command line (drv_cli_parse) on arbitrary words: the input split at NUL
 * bytes is argv (after "drover"). No sanitizer report, no leak; a refusal has
 * a message; what is accepted holds only values the control library takes.
 * And the way back: the JSON writer (-j) quoting each word, which may hold any
 * bytes (as an interface name may), writes one valid JSON string.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

#include "cli.h"
#include "util.h"
#include "fuzz.h"

#define MAX_WORDS 32

static void check_req(const struct drv_cli_req *r)
{
	size_t i;

	if (r->help || r->version || r->obj == DRV_CLI_RUN)
		return; /* nothing parsed past the object */
	if (r->has_svc) {
		FUZZ_CHECK(r->svc.key.port, "service port 0");
		FUZZ_CHECK(r->svc.key.proto == 6, "proto %u", r->svc.key.proto);
		FUZZ_CHECK(!drv_addr_not_host(&r->svc.key.vip, r->svc.key.family),
			   "service address not a host's");
		FUZZ_CHECK(r->svc.mode < __DRV_MODE_MAX, "mode %u", r->svc.mode);
		FUZZ_CHECK(!r->svc.table_size || drv_is_prime(r->svc.table_size), "table-size %u",
			   r->svc.table_size);
		FUZZ_CHECK(r->svc.snat_port_lo <= r->svc.snat_port_hi &&
				   !r->svc.snat_port_lo == !r->svc.snat_port_hi,
			   "snat-ports %u-%u", r->svc.snat_port_lo, r->svc.snat_port_hi);
	}
	if (r->has_be) {
		FUZZ_CHECK(r->be.family == r->svc.key.family, "backend family %u", r->be.family);
		FUZZ_CHECK(r->be.weight <= 65535, "weight %u", r->be.weight);
		FUZZ_CHECK(r->be.weight || r->be.state != DRV_BE_UP, "weight 0 and up");
	}
	if (r->obj == DRV_CLI_LOOKUP)
		FUZZ_CHECK(r->client_port, "client port 0");
	if (r->obj == DRV_CLI_ATTACH || r->obj == DRV_CLI_DETACH)
		FUZZ_CHECK(drv_ifname_valid(r->ifname), "interface '%s'", r->ifname);
	if (r->obj == DRV_CLI_STATS)
		FUZZ_CHECK(r->watch_s <= 3600 && (!r->count || r->watch_s), "watch %u count %u",
			   r->watch_s, r->count);
	if (r->obj == DRV_CLI_NODE_SETUP) {
		FUZZ_CHECK(r->node.n >= 1 && r->node.n <= DRV_NODE_MAX_VIPS, "%zu VIPs", r->node.n);
		for (i = 0; i < r->node.n; i++)
			FUZZ_CHECK(!drv_addr_not_host(&r->node.vips[i], r->node.family[i]),
				   "VIP not a host's");
	}
}

/* @j is one JSON string (RFC 8259): quotes, escapes, no control byte, UTF-8 only. */
static bool json_string_ok(const unsigned char *j, size_t n)
{
	size_t i = 1, k, len;

	if (n < 2 || j[0] != '"' || j[n - 1] != '"')
		return false;
	while (i < n - 1) {
		unsigned char c = j[i];

		if (c == '"' || c < 0x20)
			return false;
		if (c == '\\') {
			if (i + 1 >= n - 1)
				return false;
			if (strchr("\"\\/bfnrt", j[i + 1])) {
				i += 2;
				continue;
			}
			if (j[i + 1] != 'u' || i + 6 > n - 1)
				return false;
			for (k = 2; k < 6; k++)
				if (!isxdigit(j[i + k]))
					return false;
			i += 6;
			continue;
		}
		len = c < 0x80		     ? 1 :
		      c >= 0xc2 && c < 0xe0  ? 2 :
		      c >= 0xe0 && c < 0xf0  ? 3 :
		      c >= 0xf0 && c <= 0xf4 ? 4 :
					       0;
		if (!len || i + len > n - 1)
			return false;
		for (k = 1; k < len; k++)
			if (j[i + k] < 0x80 || j[i + k] > 0xbf)
				return false;
		/* overlong, surrogates, above U+10FFFF */
		if ((c == 0xe0 && j[i + 1] < 0xa0) || (c == 0xed && j[i + 1] > 0x9f) ||
		    (c == 0xf0 && j[i + 1] < 0x90) || (c == 0xf4 && j[i + 1] > 0x8f))
			return false;
		i += len;
	}
	return true;
}

static void check_json(const char *s)
{
	struct drv_jw w;
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	if (!f)
		abort();
	drv_jw_init(&w, f, false);
	drv_jw_str(&w, s);
	fclose(f);
	FUZZ_CHECK(json_string_ok((const unsigned char *)out, n), "JSON of '%s': %.*s", s, (int)n,
		   out);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_WORDS + 2], *s = fuzz_str(data, size), *w = s, err[256];
	struct drv_cli_req req;
	int argc = 1, ret;

	argv[0] = "drover";
	while (argc <= MAX_WORDS && w <= s + size) {
		argv[argc++] = w;
		w += strlen(w) + 1;
	}
	argv[argc] = NULL;
	for (ret = 1; ret < argc; ret++)
		check_json(argv[ret]);
	ret = drv_cli_parse(argc, argv, &req, err, sizeof(err));
	FUZZ_CHECK(!ret || ret == -EINVAL || ret == -ENOMEM, "return %d", ret);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)), "error not terminated");
	if (ret)
		FUZZ_CHECK(err[0], "a refusal without a message");
	else
		check_req(&req);
	drv_cli_req_free(&req);
	free(s);
	return 0;
}
