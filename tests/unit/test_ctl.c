// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* The control library's pure parts: backend ids, validation, names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "ctl.h"
#include "util.h"

static struct drv_backend bes[DRV_MAX_BACKENDS];
static char msg[256];

static struct drv_be_conf be4(const char *addr, __u16 port)
{
	struct drv_be_conf c = { .weight = 1, .state = DRV_BE_UP };

	assert_int_equal(drv_addr_parse(addr, &c.addr, &c.family), 0);
	c.port = htons(port);
	return c;
}

static struct drv_svc_conf svc4(const char *vip, __u16 port, __u8 mode, const char *snat)
{
	struct drv_svc_conf c = { .mode = mode };

	assert_int_equal(drv_addr_parse(vip, &c.key.vip, &c.key.family), 0);
	c.key.port = htons(port);
	c.key.proto = 6;
	if (snat) {
		__u8 f;

		assert_int_equal(drv_addr_parse(snat, &c.snat, &f), 0);
	}
	return c;
}

static void put(__u32 id, __u32 svc_id, const char *addr, __u16 port)
{
	struct drv_be_conf c = be4(addr, port);

	bes[id].addr = c.addr;
	bes[id].family = c.family;
	bes[id].port = htons(port);
	bes[id].svc_id = svc_id;
	bes[id].weight = 1;
}

static int reset(void **state)
{
	(void)state;
	memset(bes, 0, sizeof(bes));
	return 0;
}

static void be_alloc_returns_lowest_free_id_above_zero(void **state)
{
	(void)state;
	assert_int_equal(drv_be_alloc(bes, DRV_MAX_BACKENDS), 1);
	put(1, 0, "10.0.1.1", 80);
	put(2, 0, "10.0.1.2", 80);
	put(4, 0, "10.0.1.4", 80);
	assert_int_equal(drv_be_alloc(bes, DRV_MAX_BACKENDS), 3);
	bes[1].family = 0;
	assert_int_equal(drv_be_alloc(bes, DRV_MAX_BACKENDS), 1);
}

static void be_alloc_reports_full_table(void **state)
{
	(void)state;
	for (__u32 i = 1; i < DRV_MAX_BACKENDS; i++)
		bes[i].family = DRV_FAMILY_V4;
	assert_int_equal(drv_be_alloc(bes, DRV_MAX_BACKENDS), -ENOSPC);
}

static void be_find_matches_address_port_and_service(void **state)
{
	struct drv_be_conf c = be4("10.0.1.2", 80);

	(void)state;
	put(1, 0, "10.0.1.1", 80);
	put(2, 3, "10.0.1.2", 80); /* other service */
	put(3, 0, "10.0.1.2", 8080);
	put(5, 0, "10.0.1.2", 80);
	assert_int_equal(drv_be_find(bes, DRV_MAX_BACKENDS, 0, htons(80), &c), 5);
	assert_int_equal(drv_be_find(bes, DRV_MAX_BACKENDS, 3, htons(80), &c), 2);
	c.port = htons(8080);
	assert_int_equal(drv_be_find(bes, DRV_MAX_BACKENDS, 0, htons(80), &c), 3);
	c.port = 0; /* 0 → the service port */
	assert_int_equal(drv_be_find(bes, DRV_MAX_BACKENDS, 0, htons(8080), &c), 3);
	c = be4("10.0.1.9", 80);
	assert_int_equal(drv_be_find(bes, DRV_MAX_BACKENDS, 0, htons(80), &c), -ENOENT);
}

static void be_find_ignores_freed_ids(void **state)
{
	struct drv_be_conf c = be4("10.0.1.1", 80);

	(void)state;
	put(1, 0, "10.0.1.1", 80);
	bes[1].family = 0;
	assert_int_equal(drv_be_find(bes, DRV_MAX_BACKENDS, 0, htons(80), &c), -ENOENT);
}

static void svc_conf_check_accepts_valid_services(void **state)
{
	struct drv_svc_conf c = svc4("10.0.0.1", 80, DRV_MODE_NAT, "10.0.1.1");

	(void)state;
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), 0);
	c.table_size = 251;
	c.snat_port_lo = 20000;
	c.snat_port_hi = 20010;
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), 0);
	c = svc4("fd00::1", 443, DRV_MODE_DSR, NULL);
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), 0);
}

static void svc_conf_check_rejects_table_size_not_prime(void **state)
{
	struct drv_svc_conf c = svc4("10.0.0.1", 80, DRV_MODE_DSR, NULL);

	(void)state;
	c.table_size = 1000;
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "1000"));
	c.table_size = 65539; /* prime, too big */
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), -EINVAL);
}

static void svc_conf_check_rejects_port_zero_mode_and_proto(void **state)
{
	struct drv_svc_conf c = svc4("10.0.0.1", 0, DRV_MODE_DSR, NULL);

	(void)state;
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "port 0"));
	c = svc4("10.0.0.1", 80, __DRV_MODE_MAX, NULL);
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "mode"));
	c = svc4("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	c.key.proto = 17;
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), -EINVAL);
}

static void svc_conf_check_requires_snat_in_nat_mode(void **state)
{
	struct drv_svc_conf c = svc4("10.0.0.1", 80, DRV_MODE_NAT, NULL);

	(void)state;
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "10.0.0.1"));
	assert_non_null(strstr(msg, "snat"));
	c = svc4("10.0.0.1", 80, DRV_MODE_NAT, "fd00::1");
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), -EINVAL);
}

static void svc_conf_check_rejects_inverted_snat_ports(void **state)
{
	struct drv_svc_conf c = svc4("10.0.0.1", 80, DRV_MODE_NAT, "10.0.1.1");

	(void)state;
	c.snat_port_lo = 30000;
	c.snat_port_hi = 20000;
	assert_int_equal(drv_svc_conf_check(&c, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "30000-20000"));
}

static void be_confs_check_rejects_duplicate_backend(void **state)
{
	struct drv_svc_conf s = svc4("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf b[3] = { be4("10.0.1.1", 80), be4("10.0.1.2", 80), be4("10.0.1.1", 0) };

	(void)state;
	assert_int_equal(drv_be_confs_check(&s.key, b, 2, msg, sizeof(msg)), 0);
	/* port 0 is the service port: the same backend as 10.0.1.1 port 80 */
	assert_int_equal(drv_be_confs_check(&s.key, b, 3, msg, sizeof(msg)), -EEXIST);
	assert_non_null(strstr(msg, "10.0.1.1"));
	b[2].port = htons(81);
	assert_int_equal(drv_be_confs_check(&s.key, b, 3, msg, sizeof(msg)), 0);
}

static void be_confs_check_rejects_family_mismatch_and_bad_state(void **state)
{
	struct drv_svc_conf s = svc4("10.0.0.1", 80, DRV_MODE_DSR, NULL);
	struct drv_be_conf b = { .weight = 1 };

	(void)state;
	assert_int_equal(drv_addr_parse("fd00::7", &b.addr, &b.family), 0);
	assert_int_equal(drv_be_confs_check(&s.key, &b, 1, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "fd00::7"));
	b = be4("10.0.1.1", 80);
	b.state = __DRV_BE_STATE_MAX;
	assert_int_equal(drv_be_confs_check(&s.key, &b, 1, msg, sizeof(msg)), -EINVAL);
	b = be4("0.0.0.0", 80);
	assert_int_equal(drv_be_confs_check(&s.key, &b, 1, msg, sizeof(msg)), -EINVAL);
	/* the service's own VIP, loopback, multicast, broadcast: no node there */
	b = be4("10.0.0.1", 80);
	assert_int_equal(drv_be_confs_check(&s.key, &b, 1, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "it is the service's VIP"));
	b = be4("127.0.0.1", 80);
	assert_int_equal(drv_be_confs_check(&s.key, &b, 1, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "loopback"));
	b = be4("224.0.0.1", 80);
	assert_int_equal(drv_be_confs_check(&s.key, &b, 1, msg, sizeof(msg)), -EINVAL);
	b = be4("255.255.255.255", 80);
	assert_int_equal(drv_be_confs_check(&s.key, &b, 1, msg, sizeof(msg)), -EINVAL);
	b = be4("10.0.1.255", 80); /* a host of some wider subnet: allowed */
	assert_int_equal(drv_be_confs_check(&s.key, &b, 1, msg, sizeof(msg)), 0);
}

static void stat_names_are_complete_and_unique(void **state)
{
	(void)state;
	for (int i = 0; i < __DRV_STAT_MAX; i++) {
		assert_non_null(drv_stat_names[i]);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(drv_stat_names[i], drv_stat_names[j]);
	}
	assert_string_equal(drv_stat_names[DRV_STAT_XDP_PASS], "xdp_pass");
	assert_string_equal(drv_stat_names[DRV_STAT_DROP_NO_BACKEND], "drop_no_backend");
}

static void names_of_modes_states_and_keys(void **state)
{
	struct drv_svc_conf c = svc4("fd00::1", 6443, DRV_MODE_TUNNEL, NULL);
	char buf[128];

	(void)state;
	assert_string_equal(drv_mode_name(DRV_MODE_NAT), "nat");
	assert_string_equal(drv_mode_name(DRV_MODE_TUNNEL), "tunnel");
	assert_string_equal(drv_mode_name(9), "?");
	assert_string_equal(drv_be_state_name(DRV_BE_DRAIN), "drain");
	assert_string_equal(drv_svc_key_str(&c.key, buf, sizeof(buf)),
			    "fd00::1 port 6443 proto tcp");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(be_alloc_returns_lowest_free_id_above_zero, reset),
		cmocka_unit_test_setup(be_alloc_reports_full_table, reset),
		cmocka_unit_test_setup(be_find_matches_address_port_and_service, reset),
		cmocka_unit_test_setup(be_find_ignores_freed_ids, reset),
		cmocka_unit_test(svc_conf_check_accepts_valid_services),
		cmocka_unit_test(svc_conf_check_rejects_table_size_not_prime),
		cmocka_unit_test(svc_conf_check_rejects_port_zero_mode_and_proto),
		cmocka_unit_test(svc_conf_check_requires_snat_in_nat_mode),
		cmocka_unit_test(svc_conf_check_rejects_inverted_snat_ports),
		cmocka_unit_test(be_confs_check_rejects_duplicate_backend),
		cmocka_unit_test(be_confs_check_rejects_family_mismatch_and_bad_state),
		cmocka_unit_test(stat_names_are_complete_and_unique),
		cmocka_unit_test(names_of_modes_states_and_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
