// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* drv_cli_parse: every command of the grammar and every usage error; the JSON writer. */
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

#include "cli.h"
#include "util.h"

static struct drv_cli_req req;
static char err[512];
static char line[8192];
static char *words[64];

/* Parse @cmdline (words split on spaces, "drover" prepended). */
static int parse(const char *cmdline)
{
	int argc = 0;
	char *tok, *save;

	drv_cli_req_free(&req);
	snprintf(line, sizeof(line), "%s", cmdline);
	words[argc++] = "drover";
	for (tok = strtok_r(line, " ", &save); tok && argc < 63; tok = strtok_r(NULL, " ", &save))
		words[argc++] = tok;
	words[argc] = NULL;
	return drv_cli_parse(argc, words, &req, err, sizeof(err));
}

/* Parse the words of @w (NULL-terminated) as they are: a word may be empty or hold blanks. */
static int parse_words(const char *const *w)
{
	int argc = 0;

	drv_cli_req_free(&req);
	words[argc++] = "drover";
	for (; *w && argc < 63; w++)
		words[argc++] = (char *)*w;
	words[argc] = NULL;
	return drv_cli_parse(argc, words, &req, err, sizeof(err));
}

static void assert_words_usage_error(const char *const *w, const char *needle)
{
	int rc = parse_words(w);

	if (rc != -EINVAL || !strstr(err, needle))
		fail_msg("'%s %s': rc %d, message '%s', expected -EINVAL naming '%s'", w[0],
			 w[1] ? w[1] : "", rc, err, needle);
}

/* Usage error whose message contains @needle (it names the bad object). */
static void assert_usage_error(const char *cmdline, const char *needle)
{
	int rc = parse(cmdline);

	if (rc != -EINVAL || !strstr(err, needle))
		fail_msg("'%s': rc %d, message '%s', expected -EINVAL naming '%s'", cmdline, rc,
			 err, needle);
}

static void assert_ok(const char *cmdline)
{
	int rc = parse(cmdline);

	if (rc)
		fail_msg("'%s': rc %d, message '%s'", cmdline, rc, err);
}

static int teardown(void **state)
{
	(void)state;
	drv_cli_req_free(&req);
	return 0;
}

/* `drover` alone: no object, which main() answers with the grammar on stderr and status 2. */
static void no_words_is_a_usage_error(void **state)
{
	(void)state;
	assert_ok("");
	assert_false(req.help);
	assert_int_equal(req.obj, DRV_CLI_NONE);
	assert_non_null(strstr(drv_cli_help(DRV_CLI_NONE), "drover attach IFNAME"));
}

static void help_is_accepted_at_every_level(void **state)
{
	(void)state;
	assert_ok("help");
	assert_true(req.help);
	assert_ok("service help");
	assert_true(req.help);
	assert_int_equal(req.obj, DRV_CLI_SERVICE);
	assert_ok("backend add help");
	assert_true(req.help);
	assert_int_equal(req.obj, DRV_CLI_BACKEND);
	assert_ok("attach help");
	assert_int_equal(req.obj, DRV_CLI_ATTACH);
	assert_ok("stats help");
	assert_int_equal(req.obj, DRV_CLI_STATS);
	assert_ok("lookup help");
	assert_int_equal(req.obj, DRV_CLI_LOOKUP);
	assert_non_null(strstr(drv_cli_help(DRV_CLI_BACKEND), "drain"));
}

/*
 * `down` resets a backend's recorded flows (a RST answers their next packet, bpf/lib/reset.h):
 * the help said it "moves its flows to other backends", which no flow of it does.
 */
static void backend_help_says_down_answers_recorded_flows_with_a_rst(void **state)
{
	const char *h = drv_cli_help(DRV_CLI_BACKEND);

	(void)state;
	assert_null(strstr(h, "moves its flows"));
	assert_non_null(strstr(h, "with a RST"));
}

/*
 * An unknown object is answered with the objects there are: every one the top-level grammar
 * names (its "drover WORD" lines). `version` was missing from that list.
 */
static void unknown_object_error_names_every_object_of_the_grammar(void **state)
{
	const char *h = drv_cli_help(DRV_CLI_NONE), *l;
	char word[32];
	int n = 0;

	(void)state;
	assert_usage_error("frobnicate", "'frobnicate'");
	for (l = h; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *d = strstr(l, "drover ");
		size_t len;

		if (!d || d - l > 7 || strchr("[{", d[7]))
			continue; /* not a "drover OBJECT" line, or the OPTIONS one */
		d += 7;
		len = strcspn(d, " \n");
		assert_true(len > 0 && len < sizeof(word));
		memcpy(word, d, len);
		word[len] = 0;
		if (!strstr(err, word))
			fail_msg("'drover frobnicate' says '%s', which does not name object '%s'", err,
				 word);
		n++;
	}
	assert_true(n >= 10);
}

/* `drover help OBJECT` is `drover OBJECT help`: that object's grammar, not the top level's. */
static void help_before_an_object_gives_that_objects_help(void **state)
{
	(void)state;
	assert_ok("help service");
	assert_true(req.help);
	assert_int_equal(req.obj, DRV_CLI_SERVICE);
	assert_ok("help backend add");
	assert_true(req.help);
	assert_int_equal(req.obj, DRV_CLI_BACKEND);
	assert_ok("help attach");
	assert_int_equal(req.obj, DRV_CLI_ATTACH);
	assert_ok("help stats");
	assert_int_equal(req.obj, DRV_CLI_STATS);
	assert_ok("help status");
	assert_int_equal(req.obj, DRV_CLI_STATUS);
	assert_ok("help node-setup");
	assert_int_equal(req.obj, DRV_CLI_NODE_SETUP);
	/* the agent prints its own help: it gets `help` as `drover run help` gives it */
	assert_ok("help run");
	assert_int_equal(req.obj, DRV_CLI_RUN);
	assert_int_equal(req.run_argc, 1);
	assert_string_equal(req.run_argv[0], "help");
	assert_usage_error("help frobnicate", "'frobnicate'");
}

/*
 * Help is read in an 80-column terminal, says what each command does (status
 * has its own) and states the ranges the parser enforces.
 */
static void help_fits_80_columns_and_states_the_ranges(void **state)
{
	static const enum drv_cli_obj objs[] = {
		DRV_CLI_NONE,	    DRV_CLI_ATTACH,  DRV_CLI_DETACH, DRV_CLI_STATUS,
		DRV_CLI_SERVICE,    DRV_CLI_BACKEND, DRV_CLI_STATS,  DRV_CLI_LOOKUP,
		DRV_CLI_NODE_SETUP, DRV_CLI_RUN,
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(objs); i++) {
		const char *h = drv_cli_help(objs[i]), *c;
		int col = 0;

		for (c = h; *c; c++) {
			if (*c == '\n') {
				col = 0;
				continue;
			}
			if (((unsigned char)*c & 0xc0) != 0x80) /* count UTF-8 characters */
				col++;
			if (col > 80)
				fail_msg("help of object %d has a line over 80 columns: %.60s...",
					 objs[i], c - 80);
		}
	}
	assert_ptr_not_equal(drv_cli_help(DRV_CLI_STATUS), drv_cli_help(DRV_CLI_ATTACH));
	assert_non_null(strstr(drv_cli_help(DRV_CLI_STATUS), "not attached"));
	assert_non_null(strstr(drv_cli_help(DRV_CLI_STATS), "1-3600"));
	assert_non_null(strstr(drv_cli_help(DRV_CLI_BACKEND), "0-65535"));
	assert_non_null(strstr(drv_cli_help(DRV_CLI_SERVICE), "65537"));
}

static void global_options_are_parsed_anywhere_before_run(void **state)
{
	(void)state;
	assert_ok("-j --bpffs /tmp/x status -vv");
	assert_true(req.json);
	assert_false(req.pretty);
	assert_int_equal(req.verbose, 2);
	assert_string_equal(req.bpffs, "/tmp/x");
	assert_int_equal(req.obj, DRV_CLI_STATUS);
	assert_ok("-p status");
	assert_true(req.json && req.pretty);
	assert_ok("--bpffs=/tmp/y status");
	assert_string_equal(req.bpffs, "/tmp/y");
	assert_ok("status");
	assert_string_equal(req.bpffs, "/sys/fs/bpf/drover");
	assert_ok("-V");
	assert_int_equal(req.obj, DRV_CLI_VERSION);
	assert_ok("--version");
	assert_int_equal(req.obj, DRV_CLI_VERSION);
}

/*
 * `drover version` is a command like `status`: the top-level grammar names it (an operator reads
 * the help, and the man page check takes its words from there), it is parsed as -V is, and it
 * takes no argument.
 */
static void version_is_a_command_the_help_names(void **state)
{
	(void)state;
	if (!strstr(drv_cli_help(DRV_CLI_NONE), "\n       drover version\n"))
		fail_msg("the top-level help does not name 'drover version':\n%s",
			 drv_cli_help(DRV_CLI_NONE));
	assert_ok("version");
	assert_int_equal(req.obj, DRV_CLI_VERSION);
	assert_ok("-j version");
	assert_int_equal(req.obj, DRV_CLI_VERSION);
	assert_true(req.json);
	assert_usage_error("version now", "'now'");
}

/*
 * An unknown option after the object (`drover stats SVC --bogus`): the error
 * points at that object's help (main prints "Run 'drover stats help'") and
 * lists the options there are.
 */
static void unknown_option_after_the_object_points_at_its_help(void **state)
{
	(void)state;
	assert_usage_error("stats 10.0.0.1 port 80 --bogus", "'--bogus'");
	assert_int_equal(req.obj, DRV_CLI_STATS);
	assert_non_null(strstr(err, "--bpffs PATH"));
	assert_usage_error("serv show -x", "'-x'");
	assert_int_equal(req.obj, DRV_CLI_SERVICE);
	assert_usage_error("--bogus stats", "'--bogus'");
	assert_int_equal(req.obj, DRV_CLI_NONE);
}

static void unknown_option_is_a_usage_error(void **state)
{
	(void)state;
	assert_usage_error("-x status", "'-x'");
	assert_usage_error("--frobnicate status", "'--frobnicate'");
	assert_usage_error("status --bpffs", "--bpffs needs a PATH");
	{
		char cmd[5000];

		memset(cmd, 'a', sizeof(cmd));
		memcpy(cmd, "status --bpffs /", 16);
		cmd[sizeof(cmd) - 1] = 0;
		assert_usage_error(cmd, "--bpffs path is longer");
	}
}

static void unknown_object_is_a_usage_error_naming_it(void **state)
{
	(void)state;
	assert_usage_error("frobnicate", "'frobnicate'");
	assert_usage_error("s", "ambiguous");
}

/*
 * An ambiguous object names the objects it could be, not all nine: "'st' is
 * ambiguous (objects: attach, detach, status, ...)" left the operator to
 * work out which ones start with it.
 */
static void ambiguous_object_names_only_the_objects_it_could_be(void **state)
{
	(void)state;
	assert_usage_error("st", "'st' is ambiguous: status or stats? type more of it");
	assert_null(strstr(err, "attach"));
	assert_usage_error("s", "'s' is ambiguous: status, service or stats?");
	assert_usage_error("stat", "'stat' is ambiguous: status or stats?");
	assert_usage_error("help st", "'st' is ambiguous: status or stats?");
}

static void objects_and_commands_match_by_prefix(void **state)
{
	(void)state;
	assert_ok("serv sh");
	assert_int_equal(req.obj, DRV_CLI_SERVICE);
	assert_int_equal(req.cmd, DRV_CLI_SHOW);
	assert_ok("b a 10.0.0.1 port 80 10.0.1.1");
	assert_int_equal(req.obj, DRV_CLI_BACKEND);
	assert_int_equal(req.cmd, DRV_CLI_ADD);
	assert_ok("statu");
	assert_int_equal(req.obj, DRV_CLI_STATUS);
}

/*
 * A prefix of a word and of its alias (de: del and delete) names one command:
 * `drover service de SVC` was refused as "what is 'service de'?". A prefix of
 * two different words stays ambiguous.
 */
static void prefix_of_a_word_and_its_alias_is_that_word(void **state)
{
	(void)state;
	assert_ok("service de 10.0.0.1 port 80");
	assert_int_equal(req.obj, DRV_CLI_SERVICE);
	assert_int_equal(req.cmd, DRV_CLI_DEL);
	assert_ok("service d 10.0.0.1 port 80");
	assert_int_equal(req.cmd, DRV_CLI_DEL);
	assert_ok("backend de 10.0.0.1 port 80 10.0.1.1");
	assert_int_equal(req.obj, DRV_CLI_BACKEND);
	assert_int_equal(req.cmd, DRV_CLI_DEL);
	assert_ok("service dele 10.0.0.1 port 80");
	assert_int_equal(req.cmd, DRV_CLI_DEL);
	/* set and show are two commands: s names neither */
	assert_usage_error("service s 10.0.0.1 port 80", "'service s'");
	assert_usage_error("backend s 10.0.0.1 port 80", "'backend s'");
}

static void run_passes_every_following_word_to_the_agent(void **state)
{
	(void)state;
	assert_ok("--bpffs /tmp/z run config /etc/drover.yaml --detach-on-exit --frob");
	assert_int_equal(req.obj, DRV_CLI_RUN);
	assert_int_equal(req.run_argc, 4);
	assert_string_equal(req.run_argv[0], "config");
	assert_string_equal(req.run_argv[2], "--detach-on-exit");
	assert_string_equal(req.run_argv[3], "--frob"); /* the agent names what it doesn't know */
	assert_int_equal(req.verbose, 0);
	assert_string_equal(req.bpffs, "/tmp/z");
}

/* `drover ru config F --check` said "unknown option '--check'": only "run" itself passed words on. */
static void run_by_prefix_passes_every_following_word_to_the_agent(void **state)
{
	(void)state;
	assert_ok("ru config /etc/drover.yaml --check");
	assert_int_equal(req.obj, DRV_CLI_RUN);
	assert_int_equal(req.run_argc, 3);
	assert_string_equal(req.run_argv[2], "--check");
	assert_ok("-v r -c /etc/drover.yaml --detach-on-exit --check");
	assert_int_equal(req.obj, DRV_CLI_RUN);
	assert_int_equal(req.run_argc, 4);
	assert_string_equal(req.run_argv[0], "-c");
	assert_string_equal(req.run_argv[3], "--check");
	assert_int_equal(req.verbose, 1);
}

/*
 * drover's own options given after `run` reached the agent, which said only
 * "what is '-v'?" (and refused -h, which every other object takes): -h there
 * is the agent's help, as `drover run help`; -j, -p, -v, -V, --bpffs are
 * refused saying to give them before `run`. A FILE named like one is a FILE.
 */
static void drover_options_after_run_say_to_give_them_before_run(void **state)
{
	(void)state;
	assert_ok("run -h");
	assert_int_equal(req.obj, DRV_CLI_RUN);
	assert_int_equal(req.run_argc, 1);
	assert_string_equal(req.run_argv[0], "help");
	assert_ok("run config /etc/drover.yaml -h");
	assert_int_equal(req.run_argc, 1);
	assert_string_equal(req.run_argv[0], "help");
	assert_usage_error(
		"run config /etc/drover.yaml --check -v",
		"'-v' is an option of drover, not of run: give it before 'run' (drover -v run config FILE");
	assert_usage_error("run config /etc/drover.yaml --bpffs /tmp/z",
			   "give it before 'run' (drover --bpffs /tmp/z run config FILE");
	assert_usage_error("run --bpffs=/tmp/z -c /etc/drover.yaml",
			   "'--bpffs=/tmp/z' is an option of drover");
	assert_usage_error("ru -j config /etc/drover.yaml", "'-j' is an option of drover");
	assert_usage_error("run config /etc/drover.yaml --verbose", "'--verbose'");
	assert_usage_error("run config /etc/drover.yaml -vv", "'-vv'");
	/* the word after config, --config and -c is the FILE, whatever it looks like */
	assert_ok("run config -v --check");
	assert_int_equal(req.run_argc, 3);
	assert_string_equal(req.run_argv[1], "-v");
	assert_ok("run -c -h");
	assert_int_equal(req.run_argc, 2);
	assert_string_equal(req.run_argv[1], "-h");
}

static void attach_parses_ifname_mode_and_force(void **state)
{
	(void)state;
	assert_ok("attach eth0");
	assert_string_equal(req.ifname, "eth0");
	assert_int_equal(req.xdp_mode, DRV_XDP_NATIVE);
	assert_false(req.force);
	assert_ok("attach eth1 mode skb force");
	assert_string_equal(req.ifname, "eth1");
	assert_int_equal(req.xdp_mode, DRV_XDP_SKB);
	assert_true(req.force);
	assert_ok("attach eth1 mode native");
	assert_int_equal(req.xdp_mode, DRV_XDP_NATIVE);
}

static void attach_rejects_bad_words(void **state)
{
	(void)state;
	assert_usage_error("attach", "IFNAME");
	assert_usage_error("attach eth0 mode turbo", "'turbo'");
	assert_usage_error("attach eth0 mode", "native or skb");
	assert_usage_error("attach eth0 quickly", "'quickly'");
	assert_usage_error("attach averyveryverylongname0", "'averyveryverylongname0'");
	assert_usage_error("attach ../etc", "'../etc'");
	assert_usage_error("attach eth0 mode skb mode native", "'mode' given twice");
}

static void detach_parses_ifname_and_keep_maps(void **state)
{
	(void)state;
	assert_ok("detach eth0");
	assert_string_equal(req.ifname, "eth0");
	assert_false(req.keep_maps);
	assert_ok("detach eth0 keep-maps");
	assert_true(req.keep_maps);
	assert_usage_error("detach", "IFNAME");
	assert_usage_error("detach eth0 now", "'now'");
}

/* '' named the links directory: detach tried to unlink it, attach said "interface '' does not exist". */
static void attach_and_detach_refuse_names_the_kernel_refuses(void **state)
{
	static const char *const bad[] = { "", "a b", "eth0:1", "eth0\n", "." };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *att[] = { "attach", bad[i], NULL }, *det[] = { "detach", bad[i], NULL };

		assert_words_usage_error(att, "is not an interface name");
		assert_words_usage_error(det, "is not an interface name");
	}
	assert_ok("attach eth0.100");
	assert_ok("detach veth-lb_1");
}

/* 'attach e0 force force' was taken, like every flag given twice; keyword options were refused. */
static void flags_given_twice_are_refused(void **state)
{
	(void)state;
	assert_usage_error("attach eth0 force force", "'force' given twice");
	assert_usage_error("detach eth0 keep-maps keep-maps", "'keep-maps' given twice");
	assert_usage_error("node-setup dsr 10.0.0.1 undo undo", "'undo' given twice");
	assert_usage_error("node-setup dsr 10.0.0.1 10.0.0.2 10.0.0.1",
			   "VIP 10.0.0.1 is given twice");
	assert_usage_error("node-setup tunnel fd00::1 fd00:0::1", "VIP fd00:0::1 is given twice");
	assert_ok("node-setup dsr 10.0.0.1 10.0.0.2 undo");
}

static void status_takes_no_arguments(void **state)
{
	(void)state;
	assert_usage_error("status eth0", "'eth0'");
}

static void service_add_parses_every_option(void **state)
{
	(void)state;
	assert_ok(
		"service add 10.0.0.1 port 443 proto tcp mode nat snat 10.0.1.1 snat-ports 20000-20999 table-size 4093");
	assert_int_equal(req.cmd, DRV_CLI_ADD);
	assert_int_equal(req.svc.key.family, DRV_FAMILY_V4);
	assert_int_equal(req.svc.key.vip.v4, htonl(0x0a000001));
	assert_int_equal(req.svc.key.port, htons(443));
	assert_int_equal(req.svc.key.proto, 6);
	assert_int_equal(req.svc.mode, DRV_MODE_NAT);
	assert_int_equal(req.svc.snat.v4, htonl(0x0a000101));
	assert_int_equal(req.svc.snat_port_lo, 20000);
	assert_int_equal(req.svc.snat_port_hi, 20999);
	assert_int_equal(req.svc.table_size, 4093);
	assert_int_equal(req.svc_set, DRV_CLI_SVC_MODE | DRV_CLI_SVC_SNAT | DRV_CLI_SVC_PORTS |
					      DRV_CLI_SVC_TSIZE);
}

static void service_add_defaults_are_nat_and_default_table(void **state)
{
	(void)state;
	assert_ok("service add 10.0.0.1 port 80 snat 10.0.1.1");
	assert_int_equal(req.svc.mode, DRV_MODE_NAT);
	assert_int_equal(req.svc.table_size, 0); /* library: DRV_MAGLEV_MAX */
	assert_int_equal(req.svc.snat_port_lo, 0);
}

static void service_add_accepts_ipv6_and_dsr_without_snat(void **state)
{
	(void)state;
	assert_ok("service add fd00::1 port 6443 mode dsr");
	assert_int_equal(req.svc.key.family, DRV_FAMILY_V6);
	assert_int_equal(req.svc.mode, DRV_MODE_DSR);
	/* tunnel's snat is the outer source address: required; dsr has no use for one */
	assert_usage_error("service add 10.0.0.2 port 9345 mode tunnel",
			   "mode tunnel needs 'snat ADDR': the outer source address");
	/* which service: one VIP may have several ports */
	assert_usage_error("service add 10.0.0.2 port 9345 mode tunnel",
			   "service 10.0.0.2 port 9345 proto tcp in mode tunnel");
	assert_ok("service add 10.0.0.2 port 9345 mode tunnel snat 10.0.1.1");
	assert_int_equal(req.svc.mode, DRV_MODE_TUNNEL);
	assert_usage_error("service add 10.0.0.2 port 80 mode dsr snat 10.0.1.1",
			   "mode dsr takes no 'snat'");
}

static void service_add_rejects_bad_address(void **state)
{
	(void)state;
	assert_usage_error("service add 10.0.0.256 port 80 snat 10.0.1.1", "'10.0.0.256'");
	assert_usage_error("service add vip.example port 80 snat 10.0.1.1", "'vip.example'");
	assert_usage_error("service add 10.0.0.1 port 80 snat 10.0.1", "'10.0.1'");
	assert_usage_error("service add", "service address");
	assert_usage_error("service add 0.0.0.0 port 80 snat 10.0.1.1", "'0.0.0.0' is the unspecified");
	assert_usage_error("service set 10.0.0.1 port 80", "changes nothing without an option");
	assert_usage_error("service add 10.0.0.1 port 80 snat 0.0.0.0", "snat address '0.0.0.0'");
	assert_usage_error("backend add fd00::1 port 80 ::", "'::' is the unspecified");
	assert_usage_error("backend add 10.0.0.1 port 80 127.0.0.1", "'127.0.0.1' is a loopback");
	assert_usage_error("backend add fd00::1 port 80 ::1", "'::1' is a loopback");
	assert_usage_error("service add 224.0.0.1 port 80 snat 10.0.1.1", "is a multicast");
	assert_usage_error("service add ff02::1 port 80 mode dsr", "'ff02::1' is a multicast");
	assert_usage_error("backend add fd00::1 port 80 ::ffff:10.0.1.5", "is an IPv4-mapped");
	assert_usage_error("service add fe80::1 port 80 mode dsr", "'fe80::1' is a link-local");
	assert_usage_error("backend add 10.0.0.1 port 80 255.255.255.255", "the broadcast address");
	/* wrong on the command line alone: a usage error (2), as the others, not a refusal (1) */
	assert_usage_error("backend add 10.0.0.1 port 80 10.0.0.1",
			   "backend address '10.0.0.1' is the service's VIP: give a node's address");
	assert_usage_error("backend del fd00::1 port 443 fd00::1", "is the service's VIP");
}

/* ADDR:PORT and [IPv6] are refused with the spelling the grammar wants. */
static void address_with_port_or_brackets_is_refused_saying_how_to_write_it(void **state)
{
	(void)state;
	assert_usage_error("service add 10.0.0.1:80 mode dsr", "10.0.0.1 port 80");
	assert_usage_error("service add [fd00::1]:443 mode dsr", "fd00::1 port 443");
	assert_usage_error("service add [fd00::1] port 443 mode dsr", "without brackets: fd00::1");
	assert_usage_error("backend add 10.0.0.1 port 80 10.0.1.2:8080", "10.0.1.2 port 8080");
	assert_usage_error("lookup 10.0.0.1 port 80 from 10.0.1.2:5000", "10.0.1.2 port 5000");
	assert_usage_error("service add 10.0.0.1/32 port 80 mode dsr",
			   "no prefix length, write '10.0.0.1'");
	assert_usage_error("node-setup dsr 10.0.0.1:80", "it takes no port, write '10.0.0.1'");
	/* not an address with a port: no made-up advice */
	assert_usage_error("service add 10.0.0.1:http mode dsr", "'10.0.0.1:http' is not an IPv4");
	assert_usage_error("service add [vip]:80 mode dsr", "'[vip]:80' is not an IPv4");
	assert_null(strstr(err, "port 80"));
}

static void service_add_rejects_port_zero_and_65536(void **state)
{
	(void)state;
	assert_usage_error("service add 10.0.0.1 port 0 snat 10.0.1.1", "'0'");
	assert_usage_error("service add 10.0.0.1 port 65536 snat 10.0.1.1", "'65536'");
	assert_usage_error("service add 10.0.0.1 port -1 snat 10.0.1.1", "'-1'");
	assert_usage_error("service add 10.0.0.1 port http snat 10.0.1.1", "'http'");
	assert_usage_error("service add 10.0.0.1 port", "after 'port'");
	assert_usage_error("service add 10.0.0.1 80", "'80'");
}

static void service_add_rejects_unknown_mode(void **state)
{
	(void)state;
	assert_usage_error("service add 10.0.0.1 port 80 mode magic", "'magic'");
	assert_usage_error("service add 10.0.0.1 port 80 mode", "after 'mode'");
}

static void service_add_rejects_table_size_not_prime(void **state)
{
	(void)state;
	assert_usage_error("service add 10.0.0.1 port 80 mode dsr table-size 1000", "1000");
	assert_usage_error("service add 10.0.0.1 port 80 mode dsr table-size 65539", "'65539'");
	assert_usage_error("service add 10.0.0.1 port 80 mode dsr table-size 1", "'1'");
	assert_usage_error("service add 10.0.0.1 port 80 mode dsr table-size many", "'many'");
	assert_ok("service add 10.0.0.1 port 80 mode dsr table-size 65537");
	assert_ok("service add 10.0.0.1 port 80 mode dsr table-size 2");
}

static void service_add_nat_without_snat_is_refused(void **state)
{
	(void)state;
	assert_usage_error("service add 10.0.0.1 port 80", "snat ADDR");
	assert_usage_error("service add 10.0.0.1 port 80 mode nat", "10.0.0.1");
}

static void service_add_rejects_snat_of_other_family(void **state)
{
	(void)state;
	assert_usage_error("service add 10.0.0.1 port 80 snat fd00::5", "fd00::5");
	assert_usage_error("service add fd00::1 port 80 snat 10.0.0.5", "10.0.0.5");
}

static void service_add_rejects_bad_snat_ports(void **state)
{
	(void)state;
	assert_usage_error("service add 10.0.0.1 port 80 snat 10.0.1.1 snat-ports 2000", "'2000'");
	assert_usage_error("service add 10.0.0.1 port 80 snat 10.0.1.1 snat-ports 3000-2000",
			   "'3000-2000'");
	assert_usage_error("service add 10.0.0.1 port 80 snat 10.0.1.1 snat-ports 0-2000",
			   "'0-2000'");
	assert_usage_error("service add 10.0.0.1 port 80 snat 10.0.1.1 snat-ports 1-70000",
			   "'1-70000'");
}

/* dsr and tunnel keep the client's source port: the range was stored, unused (the config refuses it). */
static void snat_ports_are_refused_outside_mode_nat(void **state)
{
	(void)state;
	assert_usage_error("service add 10.0.0.1 port 80 mode dsr snat-ports 20000-20010",
			   "'snat-ports' is for mode nat: mode dsr");
	assert_usage_error(
		"service add 10.0.0.1 port 80 mode tunnel snat 10.0.1.1 snat-ports 20000-20010",
		"'snat-ports' is for mode nat: mode tunnel");
	assert_usage_error("service set 10.0.0.1 port 80 snat-ports 20000-20010 mode dsr",
			   "'snat-ports' is for mode nat");
	assert_ok("service add 10.0.0.1 port 80 mode nat snat 10.0.1.1 snat-ports 20000-20010");
	/* set without a mode: the service's own mode decides, once it is read */
	assert_ok("service set 10.0.0.1 port 80 snat-ports 20000-20010");
}

static void service_rejects_unknown_proto_and_words(void **state)
{
	(void)state;
	assert_usage_error("service add 10.0.0.1 port 80 proto udp snat 10.0.1.1", "'udp'");
	assert_usage_error("service add 10.0.0.1 port 80 snat 10.0.1.1 colour blue", "'colour'");
	assert_usage_error("service add 10.0.0.1 port 80 snat 10.0.1.1 snat 10.0.1.2",
			   "'snat' is given twice");
	assert_usage_error("service frob 10.0.0.1 port 80", "'service frob'");
}

static void service_del_and_show_take_only_svc(void **state)
{
	(void)state;
	assert_ok("service del 10.0.0.1 port 80");
	assert_int_equal(req.cmd, DRV_CLI_DEL);
	assert_true(req.has_svc);
	assert_ok("service show");
	assert_int_equal(req.cmd, DRV_CLI_SHOW);
	assert_false(req.has_svc);
	assert_ok("service");
	assert_int_equal(req.cmd, DRV_CLI_SHOW);
	assert_ok("service show fd00::1 port 443");
	assert_true(req.has_svc);
	assert_usage_error("service del 10.0.0.1 port 80 mode dsr", "'mode'");
	assert_usage_error("service del", "service address");
}

static void service_set_records_only_given_options(void **state)
{
	(void)state;
	assert_ok("service set 10.0.0.1 port 80 table-size 251");
	assert_int_equal(req.cmd, DRV_CLI_SET);
	assert_int_equal(req.svc_set, DRV_CLI_SVC_TSIZE);
	assert_int_equal(req.svc.table_size, 251);
}

static void backend_add_parses_every_option(void **state)
{
	(void)state;
	assert_ok("backend add 10.0.0.1 port 80 10.0.1.5 port 8080 weight 7 drain");
	assert_int_equal(req.cmd, DRV_CLI_ADD);
	assert_int_equal(req.svc.key.port, htons(80));
	assert_true(req.has_be);
	assert_int_equal(req.be.family, DRV_FAMILY_V4);
	assert_int_equal(req.be.addr.v4, htonl(0x0a000105));
	assert_int_equal(req.be.port, htons(8080));
	assert_int_equal(req.be.weight, 7);
	assert_int_equal(req.be.state, DRV_BE_DRAIN);
	assert_int_equal(req.be_set, DRV_CLI_BE_PORT | DRV_CLI_BE_WEIGHT | DRV_CLI_BE_STATE);
}

static void backend_add_defaults_to_weight_1_up_service_port(void **state)
{
	(void)state;
	assert_ok("backend add fd00::1 port 443 fd00::10");
	assert_int_equal(req.be.family, DRV_FAMILY_V6);
	assert_int_equal(req.be.port, 0); /* library: the service port */
	assert_int_equal(req.be.weight, 1);
	assert_int_equal(req.be.state, DRV_BE_UP);
}

static void backend_weight_zero_means_drain(void **state)
{
	(void)state;
	assert_ok("backend set 10.0.0.1 port 80 10.0.1.5 weight 0");
	assert_int_equal(req.be.weight, 0);
	assert_int_equal(req.be.state, DRV_BE_DRAIN);
	assert_ok("backend set 10.0.0.1 port 80 10.0.1.5 weight 0 down");
	assert_int_equal(req.be.state, DRV_BE_DOWN);
	assert_usage_error("backend set 10.0.0.1 port 80 10.0.1.5 weight 0 up", "weight 0");
}

static void backend_states_parse(void **state)
{
	(void)state;
	assert_ok("backend set 10.0.0.1 port 80 10.0.1.5 down");
	assert_int_equal(req.be.state, DRV_BE_DOWN);
	assert_ok("backend set 10.0.0.1 port 80 10.0.1.5 up");
	assert_int_equal(req.be.state, DRV_BE_UP);
	assert_usage_error("backend set 10.0.0.1 port 80 10.0.1.5 up down", "state given twice");
}

static void backend_rejects_bad_address_port_and_weight(void **state)
{
	(void)state;
	assert_usage_error("backend add 10.0.0.1 port 80 10.0.1.500", "'10.0.1.500'");
	assert_usage_error("backend add 10.0.0.1 port 80 10.0.1.5 port 0", "'0'");
	assert_usage_error("backend add 10.0.0.1 port 80 10.0.1.5 port 65536", "'65536'");
	assert_usage_error("backend add 10.0.0.1 port 80 10.0.1.5 weight 70000", "'70000'");
	assert_usage_error("backend add 10.0.0.1 port 80 10.0.1.5 weight heavy", "'heavy'");
	/* a negative number is the value it is, not an unknown option */
	assert_usage_error("backend add 10.0.0.1 port 80 10.0.1.5 weight -1", "weight '-1'");
	assert_usage_error("backend add 10.0.0.1 port -3 10.0.1.5", "port '-3'");
	assert_usage_error("backend add 10.0.0.1 port 80", "backend address");
	assert_usage_error("backend add 10.0.0.1 port 80 10.0.1.5 sideways", "'sideways'");
}

/* strtoull() skipped leading blanks: port " 81" was taken while "81 " was refused. */
static void numbers_with_blanks_or_signs_are_refused(void **state)
{
	static const char *const port[] = { "service", "add",  "10.0.0.1", "port",
					    " 81",     "snat", "10.0.1.1", NULL };
	static const char *const tabbed[] = { "service", "add",	 "10.0.0.1", "port",
					      "\t81",	 "snat", "10.0.1.1", NULL };
	static const char *const weight[] = { "backend",  "add",    "10.0.0.1", "port", "80",
					      "10.0.1.5", "weight", " 5",	NULL };
	static const char *const tsize[] = { "service", "add", "10.0.0.1",   "port", "80",
					     "mode",	"dsr", "table-size", " 251", NULL };
	static const char *const ports[] = { "service", "add",	    "10.0.0.1",	  "port", "80",
					     "snat",	"10.0.1.1", "snat-ports", " 1-5", NULL };
	static const char *const watch[] = { "stats", "--watch", " 2", NULL };

	(void)state;
	assert_words_usage_error(port, "' 81'");
	assert_words_usage_error(tabbed, "'\t81'");
	assert_words_usage_error(weight, "' 5'");
	assert_words_usage_error(tsize, "' 251'");
	assert_words_usage_error(ports, "' 1-5'");
	assert_words_usage_error(watch, "' 2'");
	assert_usage_error("backend add 10.0.0.1 port 80 10.0.1.5 weight +5", "'+5'");
	assert_ok("service add 10.0.0.1 port 080 snat 10.0.1.1");
	assert_int_equal(req.svc.key.port, htons(80));
}

/* It exited 0 having changed nothing, where service set says so. */
static void backend_set_without_a_change_is_refused(void **state)
{
	(void)state;
	assert_usage_error("backend set 10.0.0.1 port 80 10.0.1.5", "changes nothing");
	assert_usage_error("backend set 10.0.0.1 port 80 10.0.1.5 port 8080", "changes nothing");
	assert_ok("backend set 10.0.0.1 port 80 10.0.1.5 port 8080 weight 2");
	assert_ok("backend set 10.0.0.1 port 80 10.0.1.5 drain");
}

static void backend_of_other_family_is_refused(void **state)
{
	(void)state;
	assert_usage_error("backend add 10.0.0.1 port 80 fd00::5", "fd00::5");
}

static void backend_del_takes_only_addr_and_port(void **state)
{
	(void)state;
	assert_ok("backend del 10.0.0.1 port 80 10.0.1.5 port 8080");
	assert_int_equal(req.cmd, DRV_CLI_DEL);
	assert_int_equal(req.be.port, htons(8080));
	assert_usage_error("backend del 10.0.0.1 port 80 10.0.1.5 weight 3", "'weight'");
}

static void backend_show_needs_svc(void **state)
{
	(void)state;
	assert_ok("backend show 10.0.0.1 port 80");
	assert_int_equal(req.cmd, DRV_CLI_SHOW);
	assert_false(req.has_be);
	assert_usage_error("backend show", "SVC");
	assert_usage_error("backend", "add, set, del, show");
	assert_usage_error("backend show 10.0.0.1 port 80 10.0.1.5", "'10.0.1.5'");
	assert_usage_error("backend zap 10.0.0.1 port 80", "'backend zap'");
}

static void stats_parses_svc_watch_and_count(void **state)
{
	(void)state;
	assert_ok("stats");
	assert_false(req.has_svc);
	assert_int_equal(req.watch_s, 0);
	assert_ok("stats show 10.0.0.1 port 80");
	assert_true(req.has_svc);
	assert_ok("stats 10.0.0.1 port 80 --watch 2 count 3");
	assert_true(req.has_svc);
	assert_int_equal(req.watch_s, 2);
	assert_int_equal(req.count, 3);
	assert_ok("stats watch 5");
	assert_int_equal(req.watch_s, 5);
	/* show by prefix and its alias list, as for service and backend */
	assert_ok("stats sh 10.0.0.1 port 80");
	assert_true(req.has_svc);
	assert_ok("stats list --watch 1");
	assert_int_equal(req.watch_s, 1);
	assert_usage_error("--watch 5 stats", "'--watch'");
}

static void stats_rejects_bad_watch_and_count(void **state)
{
	(void)state;
	assert_usage_error("stats --watch 0", "'0'");
	assert_usage_error("stats --watch soon", "'soon'");
	assert_usage_error("stats count 3", "--watch");
	assert_usage_error("stats --watch 1 count 0", "'0'");
	assert_usage_error("stats everything", "'everything'");
	assert_usage_error("stats 10.0.0.1 port 0", "'0'");
}

/*
 * `--watch=2` was refused ("unknown option '--watch=2'") though `--bpffs=PATH` is
 * taken: a long option that takes a value takes it after '=' too.
 */
static void long_options_take_their_value_after_an_equals_sign(void **state)
{
	(void)state;
	assert_ok("stats --watch=2 count 3");
	assert_int_equal(req.watch_s, 2);
	assert_int_equal(req.count, 3);
	assert_ok("stats 10.0.0.1 port 80 --watch=7");
	assert_true(req.has_svc);
	assert_int_equal(req.watch_s, 7);
	assert_ok("--bpffs=/tmp/q stats --watch=1");
	assert_string_equal(req.bpffs, "/tmp/q");
	assert_int_equal(req.watch_s, 1);
	assert_usage_error("stats --watch=", "--watch ''");
	assert_usage_error("stats --watch=0", "'0'");
	assert_usage_error("stats --watch=1 --watch=2", "given twice");
	/* every argument turned into two words: no overflow of the word array */
	assert_usage_error("stats --watch=1 --watch=2 --watch=3 --watch=4", "given twice");
	/* the agent's --config=FILE goes to it, as --config FILE does */
	assert_ok("run --config=/etc/drover.yaml --check");
	assert_int_equal(req.run_argc, 2);
	assert_string_equal(req.run_argv[0], "--config=/etc/drover.yaml");
}

static void lookup_parses_svc_and_client(void **state)
{
	(void)state;
	assert_ok("lookup 10.0.0.1 port 80 from 192.0.2.7 port 40000");
	assert_int_equal(req.obj, DRV_CLI_LOOKUP);
	assert_int_equal(req.client_family, DRV_FAMILY_V4);
	assert_int_equal(req.client.v4, htonl(0xc0000207));
	assert_int_equal(req.client_port, htons(40000));
}

static void lookup_rejects_bad_client(void **state)
{
	(void)state;
	assert_usage_error("lookup 10.0.0.1 port 80 from 192.0.2.300 port 4", "'192.0.2.300'");
	assert_usage_error("lookup 10.0.0.1 port 80 from 192.0.2.3 port 0", "'0'");
	assert_usage_error("lookup 10.0.0.1 port 80 from 192.0.2.3 port 65536", "'65536'");
	assert_usage_error("lookup 10.0.0.1 port 80 to 192.0.2.3 port 4", "'to'");
	assert_usage_error("lookup 10.0.0.1 port 80 from fd00::3 port 4", "fd00::3");
	assert_usage_error("lookup 10.0.0.1 port 80 from 192.0.2.3", "'port PORT'");
	assert_usage_error("lookup", "SVC");
}

static void json_writer_writes_compact_nested_documents(void **state)
{
	struct drv_jw w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	drv_jw_init(&w, f, false);
	drv_jw_obj_open(&w);
	drv_jw_kstr(&w, "name", "a\"b\\c\n");
	drv_jw_ku64(&w, "n", 18446744073709551615ULL);
	drv_jw_key(&w, "list");
	drv_jw_arr_open(&w);
	drv_jw_u64(&w, 1);
	drv_jw_obj_open(&w);
	drv_jw_kbool(&w, "ok", true);
	drv_jw_obj_close(&w);
	drv_jw_null(&w);
	drv_jw_arr_close(&w);
	drv_jw_key(&w, "empty");
	drv_jw_arr_open(&w);
	drv_jw_arr_close(&w);
	drv_jw_obj_close(&w);
	drv_jw_end(&w);
	fclose(f);
	assert_string_equal(buf, "{\"name\":\"a\\\"b\\\\c\\n\",\"n\":18446744073709551615,"
				 "\"list\":[1,{\"ok\":true},null],\"empty\":[]}\n");
	free(buf);
}

/* Strings stay JSON: UTF-8 passes, other bytes (an interface name may hold them) become U+FFFD. */
static void json_writer_keeps_utf8_and_replaces_other_bytes(void **state)
{
	struct drv_jw w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	drv_jw_init(&w, f, false);
	/* é, €, 😀; a lone continuation byte, a cut-off sequence, an overlong '/', a surrogate */
	drv_jw_str(&w, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80");
	drv_jw_end(&w);
	fclose(f);
	assert_string_equal(buf, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\\ufffd|\\ufffd\\ufffd|"
				 "\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\"\n");
	free(buf);
}

static void json_writer_pretty_prints_with_indentation(void **state)
{
	struct drv_jw w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	drv_jw_init(&w, f, true);
	drv_jw_obj_open(&w);
	drv_jw_ku64(&w, "a", 1);
	drv_jw_key(&w, "b");
	drv_jw_arr_open(&w);
	drv_jw_str(&w, "x");
	drv_jw_arr_close(&w);
	drv_jw_obj_close(&w);
	drv_jw_end(&w);
	fclose(f);
	assert_string_equal(buf, "{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ]\n}\n");
	free(buf);
}

static void node_setup_parses_mode_vips_and_undo(void **state)
{
	(void)state;
	assert_ok("node-setup tunnel 10.0.0.100 fd00::100 undo");
	assert_int_equal(req.obj, DRV_CLI_NODE_SETUP);
	assert_int_equal(req.node.mode, DRV_MODE_TUNNEL);
	assert_int_equal(req.node.n, 2);
	assert_int_equal(req.node.family[1], DRV_FAMILY_V6);
	assert_true(req.node.undo);
	assert_ok("node-setup dsr 10.0.0.100");
	assert_int_equal(req.node.mode, DRV_MODE_DSR);
	assert_false(req.node.undo);
}

static void node_setup_rejects_nat_missing_vip_and_bad_address(void **state)
{
	(void)state;
	assert_usage_error("node-setup", "expected dsr or tunnel");
	assert_usage_error("node-setup nat 10.0.0.1", "'nat' is not dsr or tunnel");
	assert_usage_error("node-setup dsr", "at least one VIP");
	assert_usage_error("node-setup dsr 10.0.0.300", "'10.0.0.300' is not an IPv4 or IPv6");
}

/*
 * stats --watch: a backend's rate is taken against its own previous counters,
 * never those of another node that held its id before (freed and reused: gen).
 */
static void stats_rate_is_not_taken_against_a_reused_backend_id(void **state)
{
	static struct drv_be_info prev[DRV_MAX_BACKENDS];
	struct drv_be_info cur = { .id = 7 };
	const struct drv_lb_counters *p;

	(void)state;
	memset(prev, 0, sizeof(prev));
	cur.be.family = 4;
	cur.be.addr.v4 = inet_addr("10.1.0.2");
	cur.be.port = htons(80);
	cur.be.svc_id = 3;
	cur.be.gen = 2;
	/* the id was free in the previous snapshot */
	assert_null(drv_stats_be_prev(prev, &cur));
	/* the same backend: its counters */
	prev[7] = cur;
	prev[7].cnt.packets = 1000;
	p = drv_stats_be_prev(prev, &cur);
	assert_non_null(p);
	assert_int_equal(p->packets, 1000);
	/* another node held the id then (older generation) */
	prev[7].be.gen = 1;
	assert_null(drv_stats_be_prev(prev, &cur));
	/* same generation, but another address, port or service (maps pinned anew) */
	prev[7] = cur;
	prev[7].be.addr.v4 = inet_addr("10.1.0.1");
	assert_null(drv_stats_be_prev(prev, &cur));
	prev[7] = cur;
	prev[7].be.port = htons(81);
	assert_null(drv_stats_be_prev(prev, &cur));
	prev[7] = cur;
	prev[7].be.svc_id = 4;
	assert_null(drv_stats_be_prev(prev, &cur));
	/* an id out of range has no slot */
	cur.id = DRV_MAX_BACKENDS;
	assert_null(drv_stats_be_prev(prev, &cur));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(no_words_is_a_usage_error, teardown),
		cmocka_unit_test_teardown(help_is_accepted_at_every_level, teardown),
		cmocka_unit_test_teardown(help_before_an_object_gives_that_objects_help, teardown),
		cmocka_unit_test(backend_help_says_down_answers_recorded_flows_with_a_rst),
		cmocka_unit_test_teardown(unknown_object_error_names_every_object_of_the_grammar,
					  teardown),
		cmocka_unit_test(help_fits_80_columns_and_states_the_ranges),
		cmocka_unit_test_teardown(global_options_are_parsed_anywhere_before_run, teardown),
		cmocka_unit_test_teardown(version_is_a_command_the_help_names, teardown),
		cmocka_unit_test_teardown(unknown_option_is_a_usage_error, teardown),
		cmocka_unit_test_teardown(unknown_option_after_the_object_points_at_its_help,
					  teardown),
		cmocka_unit_test_teardown(unknown_object_is_a_usage_error_naming_it, teardown),
		cmocka_unit_test_teardown(objects_and_commands_match_by_prefix, teardown),
		cmocka_unit_test_teardown(ambiguous_object_names_only_the_objects_it_could_be, teardown),
		cmocka_unit_test_teardown(prefix_of_a_word_and_its_alias_is_that_word, teardown),
		cmocka_unit_test_teardown(run_passes_every_following_word_to_the_agent, teardown),
		cmocka_unit_test_teardown(run_by_prefix_passes_every_following_word_to_the_agent,
					  teardown),
		cmocka_unit_test_teardown(long_options_take_their_value_after_an_equals_sign,
					  teardown),
		cmocka_unit_test_teardown(drover_options_after_run_say_to_give_them_before_run,
					  teardown),
		cmocka_unit_test_teardown(attach_parses_ifname_mode_and_force, teardown),
		cmocka_unit_test_teardown(attach_rejects_bad_words, teardown),
		cmocka_unit_test_teardown(detach_parses_ifname_and_keep_maps, teardown),
		cmocka_unit_test_teardown(attach_and_detach_refuse_names_the_kernel_refuses,
					  teardown),
		cmocka_unit_test_teardown(flags_given_twice_are_refused, teardown),
		cmocka_unit_test_teardown(status_takes_no_arguments, teardown),
		cmocka_unit_test_teardown(service_add_parses_every_option, teardown),
		cmocka_unit_test_teardown(service_add_defaults_are_nat_and_default_table, teardown),
		cmocka_unit_test_teardown(service_add_accepts_ipv6_and_dsr_without_snat, teardown),
		cmocka_unit_test_teardown(service_add_rejects_bad_address, teardown),
		cmocka_unit_test_teardown(
			address_with_port_or_brackets_is_refused_saying_how_to_write_it, teardown),
		cmocka_unit_test_teardown(service_add_rejects_port_zero_and_65536, teardown),
		cmocka_unit_test_teardown(service_add_rejects_unknown_mode, teardown),
		cmocka_unit_test_teardown(service_add_rejects_table_size_not_prime, teardown),
		cmocka_unit_test_teardown(service_add_nat_without_snat_is_refused, teardown),
		cmocka_unit_test_teardown(service_add_rejects_snat_of_other_family, teardown),
		cmocka_unit_test_teardown(service_add_rejects_bad_snat_ports, teardown),
		cmocka_unit_test_teardown(snat_ports_are_refused_outside_mode_nat, teardown),
		cmocka_unit_test_teardown(service_rejects_unknown_proto_and_words, teardown),
		cmocka_unit_test_teardown(service_del_and_show_take_only_svc, teardown),
		cmocka_unit_test_teardown(service_set_records_only_given_options, teardown),
		cmocka_unit_test_teardown(backend_add_parses_every_option, teardown),
		cmocka_unit_test_teardown(backend_add_defaults_to_weight_1_up_service_port,
					  teardown),
		cmocka_unit_test_teardown(backend_weight_zero_means_drain, teardown),
		cmocka_unit_test_teardown(backend_states_parse, teardown),
		cmocka_unit_test_teardown(backend_rejects_bad_address_port_and_weight, teardown),
		cmocka_unit_test_teardown(numbers_with_blanks_or_signs_are_refused, teardown),
		cmocka_unit_test_teardown(backend_set_without_a_change_is_refused, teardown),
		cmocka_unit_test_teardown(backend_of_other_family_is_refused, teardown),
		cmocka_unit_test_teardown(backend_del_takes_only_addr_and_port, teardown),
		cmocka_unit_test_teardown(backend_show_needs_svc, teardown),
		cmocka_unit_test_teardown(stats_parses_svc_watch_and_count, teardown),
		cmocka_unit_test_teardown(stats_rejects_bad_watch_and_count, teardown),
		cmocka_unit_test_teardown(lookup_parses_svc_and_client, teardown),
		cmocka_unit_test_teardown(lookup_rejects_bad_client, teardown),
		cmocka_unit_test_teardown(node_setup_parses_mode_vips_and_undo, teardown),
		cmocka_unit_test_teardown(node_setup_rejects_nat_missing_vip_and_bad_address,
					  teardown),
		cmocka_unit_test(json_writer_writes_compact_nested_documents),
		cmocka_unit_test(json_writer_keeps_utf8_and_replaces_other_bytes),
		cmocka_unit_test(json_writer_pretty_prints_with_indentation),
		cmocka_unit_test(stats_rate_is_not_taken_against_a_reused_backend_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
