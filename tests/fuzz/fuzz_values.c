// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The parsers that turn one operator string into a value (util.c, config.c):
 * an address, a port, a number, a duration, an address written with a port
 * or prefix, an interface name. Each accepted value must be what the text
 * says, checked against an independent reading of the text.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

#include "config.h"
#include "util.h"
#include "fuzz.h"

/* The decimal @s (digits only) as a number, or UINT64_MAX when it does not fit 64 bits. */
static uint64_t decimal(const char *s, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return UINT64_MAX;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v;
}

static void check_duration(const char *s)
{
	size_t digits = strspn(s, "0123456789");
	const char *unit = s + digits;
	uint64_t v = decimal(s, digits), mul;
	__u32 ms = 0xdeadbeef;
	int err = drv_duration_parse(s, &ms);

	if (!strcmp(unit, "") || !strcmp(unit, "s"))
		mul = 1000;
	else if (!strcmp(unit, "ms"))
		mul = 1;
	else if (!strcmp(unit, "m"))
		mul = 60000;
	else if (!strcmp(unit, "h"))
		mul = 3600000;
	else
		mul = 0;
	if (!digits || !mul) {
		FUZZ_CHECK(err == -EINVAL, "duration '%s': %d, %u ms", s, err, ms);
		return;
	}
	if (v == UINT64_MAX || v > UINT32_MAX / mul) {
		FUZZ_CHECK(err == -ERANGE, "duration '%s': %d, %u ms", s, err, ms);
		return;
	}
	FUZZ_CHECK(!err && ms == v * mul, "duration '%s': %d, %u ms", s, err, ms);
}

static void check_number(const char *s, __u32 min, __u32 max)
{
	size_t digits = strspn(s, "0123456789");
	uint64_t v = decimal(s, digits);
	__u32 out = 0xdeadbeef;
	int err = drv_u32_parse(s, min, max, &out);
	__u16 port = 0xbeef;

	if (!digits || s[digits])
		FUZZ_CHECK(err == -EINVAL, "number '%s': %d, %u", s, err, out);
	else if (v < min || v > max)
		FUZZ_CHECK(err == -ERANGE || err == -EINVAL, "number '%s' in %u-%u: %d, %u", s, min,
			   max, err, out);
	else
		FUZZ_CHECK(!err && out == v, "number '%s': %d, %u", s, err, out);

	err = drv_port_parse(s, &port);
	if (!err)
		FUZZ_CHECK(digits && !s[digits] && v >= 1 && v <= 65535 && port == v,
			   "port '%s': %u", s, port);
	else
		FUZZ_CHECK(!digits || s[digits] || v < 1 || v > 65535, "port '%s' refused", s);
}

static void check_addr(const char *s)
{
	union drv_addr a, b;
	char buf[DRV_ADDR_STRLEN], host[DRV_ADDR_STRLEN];
	const char *rest;
	__u8 fam, fam2;

	if (!drv_addr_parse(s, &a, &fam)) {
		FUZZ_CHECK(fam == DRV_FAMILY_V4 || fam == DRV_FAMILY_V6, "'%s': family %u", s, fam);
		drv_addr_format(&a, fam, buf, sizeof(buf));
		FUZZ_CHECK(!drv_addr_parse(buf, &b, &fam2) && fam2 == fam &&
				   !memcmp(&a, &b, sizeof(a)),
			   "'%s' → '%s' does not read back", s, buf);
		if (fam == DRV_FAMILY_V4)
			FUZZ_CHECK(!a.v6[1] && !a.v6[2] && !a.v6[3], "'%s' not zero-padded", s);
	}
	rest = drv_addr_extra(s, host, sizeof(host));
	if (rest) {
		FUZZ_CHECK(!drv_addr_parse(host, &b, &fam2), "'%s': host '%s'", s, host);
		FUZZ_CHECK(rest >= s && rest <= s + strlen(s), "'%s': rest outside", s);
		FUZZ_CHECK(!*rest || ((*rest == ':' || *rest == '/') && rest[1] &&
				      strspn(rest + 1, "0123456789") == strlen(rest + 1)),
			   "'%s': rest '%s'", s, rest);
	}
	if (drv_ifname_valid(s))
		FUZZ_CHECK(s[0] && strlen(s) < 16 && !strpbrk(s, "/: \t\n\r\v\f") &&
				   strcmp(s, ".") && strcmp(s, ".."),
			   "interface name '%s'", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);

	check_duration(s);
	check_number(s, 0, UINT32_MAX);
	check_number(s, 1, 65535);
	check_addr(s);
	free(s);
	return 0;
}
