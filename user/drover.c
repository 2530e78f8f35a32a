// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drover: the CLI (attach, detach, status, service, backend, stats, lookup)
 * and `drover run`, the agent. Parsing is in cli.c, map access in the
 * control library (ctl.h); this file runs a parsed request and prints results:
 * text, or stable JSON with -j (documented in docs/cli.md).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "drover/hash.h"
#include "drover/maps.h"
#include "agent.h"
#include "cli.h"
#include "ctl.h"
#include "log.h"
#include "util.h"

#define EXIT_USAGE 2

static struct drv_cli_req req;
static struct drv_jw jw;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* An attached interface's XDP mode as `status` shows it. */
static const char *iface_mode(const struct drv_prog_iface *f)
{
	if (!f->ifindex)
		return "defunct";
	if (f->renamed[0])
		return "renamed";
	/* A live link not on this namespace's device of that name: the pin root is shared. */
	return f->attach_mode ? drv_xdp_attach_mode_str(f->attach_mode) : "other-netns";
}

static int ctl_open(struct drv_ctl *ctl, bool lock)
{
	return drv_ctl_open(ctl, req.bpffs, lock ? DRV_CTL_F_LOCK : 0);
}

static void jw_svc_key(const struct drv_svc_key *k)
{
	char a[DRV_ADDR_STRLEN];

	drv_jw_kstr(&jw, "address", drv_addr_format(&k->vip, k->family, a, sizeof(a)));
	drv_jw_ku64(&jw, "port", ntohs(k->port));
	drv_jw_kstr(&jw, "proto", "tcp");
	drv_jw_ku64(&jw, "family", k->family);
}

static void jw_lb_counters(const char *key, const struct drv_lb_counters *c)
{
	drv_jw_key(&jw, key);
	drv_jw_obj_open(&jw);
	drv_jw_ku64(&jw, "packets", c->packets);
	drv_jw_ku64(&jw, "bytes", c->bytes);
	drv_jw_ku64(&jw, "new_flows", c->new_flows);
	drv_jw_ku64(&jw, "reply_packets", c->reply_packets);
	drv_jw_ku64(&jw, "reply_bytes", c->reply_bytes);
	drv_jw_ku64(&jw, "drops", c->drops);
	drv_jw_obj_close(&jw);
}

static void print_lb_counters(const struct drv_lb_counters *c)
{
	printf("packets %llu bytes %llu new_flows %llu reply_packets %llu reply_bytes %llu drops %llu",
	       (unsigned long long)c->packets, (unsigned long long)c->bytes,
	       (unsigned long long)c->new_flows, (unsigned long long)c->reply_packets,
	       (unsigned long long)c->reply_bytes, (unsigned long long)c->drops);
}

/* ---- attach / detach / status ---- */

static int do_attach(void)
{
	return drv_prog_attach(req.bpffs, req.ifname, req.xdp_mode, req.force) ? EXIT_FAILURE : 0;
}

static int do_detach(void)
{
	return drv_prog_detach_opts(req.bpffs, req.ifname, req.keep_maps) ? EXIT_FAILURE : 0;
}

/* Does @root hold drover's pinned maps? (Its services map stands for them all.) */
static bool maps_pinned(const char *root)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s", root, DRV_STR(DRV_MAP_SVCS));
	return !access(path, F_OK);
}

/*
 * The first program pin under <@root>/progs into @name, or false. With no map
 * pinned, one is left over (an older drover's last detach does not know that
 * directory) and keeps the program and every map it ran on loaded.
 */
static bool prog_pin_left(const char *root, char *name, size_t len)
{
	char dir[PATH_MAX + 32];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", root, DRV_PIN_PROGS_DIR);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(name, len, "%s/%s", dir, de->d_name);
		found = true;
	}
	closedir(d);
	return found;
}

static int do_status(void)
{
	struct drv_prog_iface ifs[DRV_MAX_IFACES];
	struct {
		const char *name;
		int *fd;
		bool count;
	} maps[11];
	struct drv_ctl ctl;
	__u32 nbes = 0, nprogs = 0, id, prog_id, build_id;
	char build_pin[PATH_MAX + 64];
	const char *build;
	bool icmp_prog = false;
	int n, i, err;
	size_t m;

	n = drv_prog_list(req.bpffs, ifs, DRV_MAX_IFACES);
	/*
	 * A pin root this process may not read (not root: bpffs directories are
	 * 0700) is not one with nothing attached: say so instead of "not attached".
	 */
	if ((access(req.bpffs, F_OK) && errno != ENOENT) || n < 0) {
		int e = n < 0 ? -n : errno;

		pr_warn("Error: can't read pin root %s: %s: %s\n", req.bpffs, strerror(e),
			drv_root_err_hint(-e));
		return EXIT_FAILURE;
	}
	build_id = drv_prog_build(req.bpffs, build_pin, sizeof(build_pin));
	build = strrchr(build_pin, '-') + 1; /* drover_xdp-BUILD */
	/*
	 * Not attached: no pin root, or one that holds nothing of drover (a
	 * bpffs mount point given as --bpffs outlives the last detach).
	 */
	if (access(req.bpffs, F_OK) || (n <= 0 && !maps_pinned(req.bpffs))) {
		char left[PATH_MAX * 2];
		bool prog_left = prog_pin_left(req.bpffs, left, sizeof(left));

		if (prog_left)
			pr_warn("Warning: nothing is attached, but %s still pins a program and the maps it ran on (an older drover's last detach leaves it): remove it (rm -r %s/%s), or attach and detach again\n",
				left, req.bpffs, DRV_PIN_PROGS_DIR);
		if (req.json) {
			drv_jw_obj_open(&jw);
			drv_jw_kstr(&jw, "version", DROVER_VERSION);
			drv_jw_ku64(&jw, "abi", DRV_ABI_VERSION);
			drv_jw_kstr(&jw, "pin_root", req.bpffs);
			drv_jw_kbool(&jw, "attached", false);
			drv_jw_obj_close(&jw);
			drv_jw_end(&jw);
		} else {
			printf("drover %s (map ABI v%d): not attached (%s %s)\n", DROVER_VERSION,
			       DRV_ABI_VERSION,
			       access(req.bpffs, F_OK) ? "no pin root" :
			       prog_left	       ? "no map pinned under" :
							 "nothing pinned under",
			       req.bpffs);
		}
		return 0;
	}
	err = ctl_open(&ctl, false);
	if (err) {
		/* the maps can't be used (say, an incompatible drover's): what to detach */
		for (i = 0; i < n; i++)
			fprintf(stderr, "attached: %s (drover detach %s)\n", ifs[i].ifname,
				ifs[i].ifname);
		return EXIT_FAILURE;
	}
	for (id = 1; id < DRV_MAX_BACKENDS; id++) {
		struct drv_backend b;

		if (!bpf_map_lookup_elem(ctl.bes_fd, &id, &b) && b.family)
			nbes++;
	}
	/* Slots of drv_progs that hold a program (a lookup gives its id). */
	for (id = 0; id < DRV_PROG_SLOTS; id++) {
		if (bpf_map_lookup_elem(ctl.progs_fd, &id, &prog_id))
			continue;
		nprogs++;
		icmp_prog |= id == DRV_PROG_ICMP;
	}
	if (n > 0 && !icmp_prog)
		pr_warn("Warning: %s/%s holds no ICMP program: too-big errors about flows pass untouched, so a narrower link becomes a path MTU black hole; detach every interface and attach again\n",
			req.bpffs, DRV_STR(DRV_MAP_PROGS));
	m = 0;
#define MAP(n, f, c) maps[m++] = (typeof(maps[0])){ DRV_STR(n), &ctl.f, c }
	MAP(DRV_MAP_SVCS, svcs_fd, true);
	MAP(DRV_MAP_BACKENDS, bes_fd, false);
	MAP(DRV_MAP_MAGLEV, maglev_fd, false);
	MAP(DRV_MAP_FLOWS, flows_fd, true);
	MAP(DRV_MAP_NAT, nat_fd, true);
	MAP(DRV_MAP_STATS, stats_fd, false);
	MAP(DRV_MAP_SVC_STATS, svc_stats_fd, false);
	MAP(DRV_MAP_BE_STATS, be_stats_fd, false);
	MAP(DRV_MAP_CFG, cfg_fd, false);
	MAP(DRV_MAP_TX_PORTS, tx_ports_fd, true);
	MAP(DRV_MAP_PROGS, progs_fd, false);
#undef MAP
	if (req.json) {
		drv_jw_obj_open(&jw);
		drv_jw_kstr(&jw, "version", DROVER_VERSION);
		drv_jw_ku64(&jw, "abi", DRV_ABI_VERSION);
		drv_jw_kstr(&jw, "pin_root", req.bpffs);
		drv_jw_kbool(&jw, "attached", n > 0);
		drv_jw_kstr(&jw, "build", build);
		drv_jw_ku64(&jw, "build_prog_id", build_id);
		drv_jw_key(&jw, "interfaces");
		drv_jw_arr_open(&jw);
	} else {
		printf("drover %s (map ABI v%d), pin root %s\n", DROVER_VERSION, DRV_ABI_VERSION,
		       req.bpffs);
		if (build_id)
			printf("program: this drover's build, prog id %u, pinned at %s\n", build_id,
			       build_pin);
		else if (n > 0)
			printf("program: this drover's build (%s) is not pinned: the interfaces run another build's; drover attach IFNAME force (or an agent start) swaps it in on all of them\n",
			       build);
		printf("interfaces:%s\n", n > 0 ? "" : " none");
	}
	for (i = 0; i < n; i++) {
		char pin[PATH_MAX * 2];

		snprintf(pin, sizeof(pin), "%s/%s/%s", req.bpffs, DRV_PIN_LINKS_DIR, ifs[i].ifname);
		if (req.json) {
			drv_jw_obj_open(&jw);
			drv_jw_kstr(&jw, "ifname", ifs[i].ifname);
			drv_jw_ku64(&jw, "ifindex", ifs[i].ifindex);
			drv_jw_ku64(&jw, "prog_id", ifs[i].prog_id);
			drv_jw_kbool(&jw, "this_build", build_id && ifs[i].prog_id == build_id);
			drv_jw_ku64(&jw, "link_id", ifs[i].link_id);
			drv_jw_kstr(&jw, "mode", iface_mode(&ifs[i]));
			drv_jw_kstr(&jw, "pin", pin);
			if (ifs[i].renamed[0])
				drv_jw_kstr(&jw, "renamed_to", ifs[i].renamed);
			drv_jw_obj_close(&jw);
		} else if (!ifs[i].ifindex) {
			printf("  %-12s defunct link (interface gone or XDP replaced): drover detach %s\n",
			       ifs[i].ifname, ifs[i].ifname);
		} else if (ifs[i].renamed[0]) {
			printf("  %-12s renamed %s (ifindex %u): drover runs on %s, link pinned at %s: drover detach %s takes it off %s\n",
			       ifs[i].ifname, ifs[i].renamed, ifs[i].ifindex, ifs[i].renamed, pin,
			       ifs[i].ifname, ifs[i].renamed);
		} else if (!ifs[i].attach_mode) {
			printf("  %-12s live link on ifindex %u of another network namespace (this pin root is shared with it); manage it from there\n",
			       ifs[i].ifname, ifs[i].ifindex);
		} else {
			printf("  %-12s ifindex %u  prog id %u  mode %s  link id %u  pin %s%s\n",
			       ifs[i].ifname, ifs[i].ifindex, ifs[i].prog_id, iface_mode(&ifs[i]),
			       ifs[i].link_id, pin,
			       build_id && ifs[i].prog_id != build_id ?
				       "  (not this build's program: drover attach IFNAME force)" :
				       "");
		}
	}
	if (req.json) {
		drv_jw_arr_close(&jw);
		drv_jw_key(&jw, "maps");
		drv_jw_arr_open(&jw);
	} else {
		printf("maps (pinned under %s):\n  %-16s %10s %10s\n", req.bpffs, "NAME", "ENTRIES",
		       "MAX");
	}
	for (m = 0; m < ARRAY_SIZE(maps); m++) {
		__u32 max = drv_map_max_entries(*maps[m].fd), cnt = 0;
		bool known = maps[m].count || *maps[m].fd == ctl.bes_fd ||
			     *maps[m].fd == ctl.progs_fd;

		if (maps[m].count)
			drv_map_count(*maps[m].fd, max, &cnt);
		else if (*maps[m].fd == ctl.bes_fd)
			cnt = nbes;
		else if (*maps[m].fd == ctl.progs_fd)
			cnt = nprogs;
		if (req.json) {
			drv_jw_obj_open(&jw);
			drv_jw_kstr(&jw, "name", maps[m].name);
			drv_jw_ku64(&jw, "max_entries", max);
			drv_jw_key(&jw, "entries");
			if (known)
				drv_jw_u64(&jw, cnt);
			else
				drv_jw_null(&jw);
			drv_jw_obj_close(&jw);
		} else if (known) {
			printf("  %-16s %10u %10u\n", maps[m].name, cnt, max);
		} else {
			printf("  %-16s %10s %10u\n", maps[m].name, "-", max);
		}
	}
	if (req.json) {
		drv_jw_arr_close(&jw);
		drv_jw_obj_close(&jw);
		drv_jw_end(&jw);
	}
	drv_ctl_close(&ctl);
	return 0;
}

/* ---- service ---- */

static void print_svc(const struct drv_svc_key *k, const struct drv_svc *s)
{
	char buf[128], a[DRV_ADDR_STRLEN];

	if (req.json) {
		drv_jw_obj_open(&jw);
		jw_svc_key(k);
		drv_jw_ku64(&jw, "id", s->id);
		drv_jw_kstr(&jw, "mode", drv_mode_name(s->mode));
		drv_jw_key(&jw, "snat");
		if (s->mode != DRV_MODE_DSR)
			drv_jw_str(&jw, drv_addr_format(&s->snat, k->family, a, sizeof(a)));
		else
			drv_jw_null(&jw);
		/* only nat translates source ports: null where the text shows none */
		drv_jw_key(&jw, "snat_port_lo");
		if (s->mode == DRV_MODE_NAT)
			drv_jw_u64(&jw, s->snat_port_lo);
		else
			drv_jw_null(&jw);
		drv_jw_key(&jw, "snat_port_hi");
		if (s->mode == DRV_MODE_NAT)
			drv_jw_u64(&jw, s->snat_port_hi);
		else
			drv_jw_null(&jw);
		drv_jw_ku64(&jw, "table_size", s->table_size);
		drv_jw_ku64(&jw, "active_slot", s->active);
		drv_jw_ku64(&jw, "backends_in_table", s->nbackends);
		drv_jw_obj_close(&jw);
		return;
	}
	printf("service %s  id %u  mode %s", drv_svc_key_str(k, buf, sizeof(buf)), s->id,
	       drv_mode_name(s->mode));
	if (s->mode == DRV_MODE_NAT)
		printf("  snat %s ports %u-%u", drv_addr_format(&s->snat, k->family, a, sizeof(a)),
		       s->snat_port_lo, s->snat_port_hi);
	else if (s->mode == DRV_MODE_TUNNEL)
		printf("  snat %s", drv_addr_format(&s->snat, k->family, a, sizeof(a)));
	printf("  table-size %u (slot %u)  backends in table %u\n", s->table_size, s->active,
	       s->nbackends);
}

static int svc_show_cb(const struct drv_svc_key *k, const struct drv_svc *s, void *arg)
{
	(*(int *)arg)++;
	print_svc(k, s);
	return 0;
}

/*
 * The program's FIB lookups need forwarding of the service's family on each
 * ingress device (drop_fib otherwise). Attach can't tell which families the
 * services use, so it stays quiet when one forwards: say it here, where the
 * family is known (as the agent does for its config).
 */
static void service_forwarding_warn(const struct drv_svc_key *key)
{
	struct drv_prog_iface ifs[DRV_MAX_IFACES];
	const char *fam = key->family == DRV_FAMILY_V6 ? "ipv6" : "ipv4";
	char buf[128], svc[160];
	int i, n;

	snprintf(svc, sizeof(svc), "service %s", drv_svc_key_str(key, buf, sizeof(buf)));
	n = drv_prog_list(req.bpffs, ifs, DRV_MAX_IFACES);
	for (i = 0; i < n; i++) {
		const char *dev = ifs[i].renamed[0] ? ifs[i].renamed : ifs[i].ifname;

		if (!ifs[i].ifindex)
			continue;
		drv_fwd_warn(fam, dev, svc);
	}
}

static int do_service(struct drv_ctl *ctl)
{
	struct drv_svc s;
	int err = 0, n = 0;

	switch (req.cmd) {
	case DRV_CLI_ADD:
		err = drv_service_add(ctl, &req.svc);
		if (!err)
			service_forwarding_warn(&req.svc.key);
		break;
	case DRV_CLI_SET:
		if (drv_service_get(ctl, &req.svc.key, &s)) {
			char buf[128];

			pr_warn("Error: service %s does not exist (see drover service show)\n",
				drv_svc_key_str(&req.svc.key, buf, sizeof(buf)));
			return EXIT_FAILURE;
		}
		if (!(req.svc_set & DRV_CLI_SVC_MODE))
			req.svc.mode = s.mode;
		if ((req.svc_set & DRV_CLI_SVC_PORTS) && req.svc.mode != DRV_MODE_NAT) {
			char buf[128];

			/* stored and shown by -j, but never used: refused, as the config does */
			pr_warn("Error: 'snat-ports' is for mode nat: service %s is mode %s, which keeps the client's source port; leave it out, or give mode nat (with snat ADDR) too\n",
				drv_svc_key_str(&req.svc.key, buf, sizeof(buf)),
				drv_mode_name(req.svc.mode));
			return EXIT_FAILURE;
		}
		/* a switch to dsr drops the snat; one given for dsr is refused */
		if (!(req.svc_set & DRV_CLI_SVC_SNAT))
			req.svc.snat = req.svc.mode == DRV_MODE_DSR ? (union drv_addr){} : s.snat;
		if (!(req.svc_set & DRV_CLI_SVC_PORTS)) {
			req.svc.snat_port_lo = s.snat_port_lo;
			req.svc.snat_port_hi = s.snat_port_hi;
		}
		if (!(req.svc_set & DRV_CLI_SVC_TSIZE))
			req.svc.table_size = s.table_size;
		err = drv_service_update(ctl, &req.svc);
		break;
	case DRV_CLI_DEL:
		err = drv_service_del(ctl, &req.svc.key);
		break;
	case DRV_CLI_SHOW:
		if (req.has_svc && drv_service_get(ctl, &req.svc.key, &s)) {
			char buf[128];

			/* before any output: stdout stays empty, not half a JSON array */
			pr_warn("Error: service %s does not exist (see drover service show)\n",
				drv_svc_key_str(&req.svc.key, buf, sizeof(buf)));
			return EXIT_FAILURE;
		}
		if (req.json)
			drv_jw_arr_open(&jw);
		if (req.has_svc) {
			print_svc(&req.svc.key, &s);
		} else {
			err = drv_service_foreach(ctl, svc_show_cb, &n);
			if (!n && !req.json)
				printf("no services\n");
		}
		if (req.json) {
			drv_jw_arr_close(&jw);
			drv_jw_end(&jw);
		}
		break;
	}
	return err ? EXIT_FAILURE : 0;
}

/* ---- backend ---- */

static int do_backend(struct drv_ctl *ctl)
{
	struct drv_be_info *list;
	__u32 *flows = NULL;
	int n = 0, i, err = 0;
	char a[DRV_ADDR_STRLEN];

	list = calloc(DRV_MAX_BACKENDS, sizeof(*list));
	if (!list)
		return EXIT_FAILURE;
	if (req.cmd == DRV_CLI_SET || req.cmd == DRV_CLI_SHOW) {
		n = drv_backend_list(ctl, &req.svc.key, list, DRV_MAX_BACKENDS);
		if (n < 0) {
			err = n;
			goto out;
		}
	}
	switch (req.cmd) {
	case DRV_CLI_ADD:
		err = drv_backend_add(ctl, &req.svc.key, &req.be);
		break;
	case DRV_CLI_DEL:
		err = drv_backend_del(ctl, &req.svc.key, &req.be);
		break;
	case DRV_CLI_SET: {
		__be16 port = req.be.port ? req.be.port : req.svc.key.port;
		struct drv_be_info *cur = NULL;

		for (i = 0; i < n; i++)
			if (list[i].be.port == port &&
			    !memcmp(&list[i].be.addr, &req.be.addr, sizeof(req.be.addr)))
				cur = &list[i];
		if (!cur) {
			/* let the library say it is not there */
			err = drv_backend_set(ctl, &req.svc.key, &req.be);
			break;
		}
		if (!(req.be_set & DRV_CLI_BE_WEIGHT))
			req.be.weight = cur->be.weight ? cur->be.weight : 1;
		if (!(req.be_set & DRV_CLI_BE_STATE)) {
			req.be.state = cur->be.state;
			/* a new weight > 0 undoes the drain that weight 0 implied */
			if ((req.be_set & DRV_CLI_BE_WEIGHT) && req.be.weight &&
			    cur->be.state == DRV_BE_DRAIN && !cur->be.weight)
				req.be.state = DRV_BE_UP;
			if ((req.be_set & DRV_CLI_BE_WEIGHT) && !req.be.weight)
				req.be.state = DRV_BE_DRAIN;
		}
		err = drv_backend_set(ctl, &req.svc.key, &req.be);
		break;
	}
	case DRV_CLI_SHOW:
		flows = calloc(DRV_MAX_BACKENDS, sizeof(*flows));
		err = flows ? drv_flows_per_backend(ctl, flows) : -ENOMEM;
		if (err) {
			/* unknown, not 0: shown as '-' (null in -j) */
			pr_warn("Warning: can't count flows per backend in %s/%s: %s; FLOWS shows '-': run it again for the counts\n",
				req.bpffs, DRV_STR(DRV_MAP_FLOWS), strerror(-err));
			free(flows);
			flows = NULL;
			err = 0;
		}
		if (req.json) {
			drv_jw_arr_open(&jw);
		} else if (n) {
			printf("%-5s %-39s %-5s %-6s %-7s %8s %12s %14s\n", "ID", "ADDRESS", "PORT",
			       "WEIGHT", "STATE", "FLOWS", "PACKETS", "BYTES");
		} else {
			printf("no backends\n");
		}
		for (i = 0; i < n; i++) {
			const struct drv_be_info *b = &list[i];
			char f[16] = "-";

			drv_addr_format(&b->be.addr, b->be.family, a, sizeof(a));
			if (req.json) {
				drv_jw_obj_open(&jw);
				drv_jw_ku64(&jw, "id", b->id);
				drv_jw_kstr(&jw, "address", a);
				drv_jw_ku64(&jw, "port", ntohs(b->be.port));
				drv_jw_ku64(&jw, "weight", b->be.weight);
				drv_jw_kstr(&jw, "state", drv_be_state_name(b->be.state));
				drv_jw_ku64(&jw, "gen", b->be.gen);
				drv_jw_key(&jw, "flows");
				if (flows)
					drv_jw_u64(&jw, flows[b->id]);
				else
					drv_jw_null(&jw);
				jw_lb_counters("counters", &b->cnt);
				drv_jw_obj_close(&jw);
			} else {
				if (flows)
					snprintf(f, sizeof(f), "%u", flows[b->id]);
				printf("%-5u %-39s %-5u %-6u %-7s %8s %12llu %14llu\n", b->id, a,
				       ntohs(b->be.port), b->be.weight,
				       drv_be_state_name(b->be.state), f,
				       (unsigned long long)b->cnt.packets,
				       (unsigned long long)b->cnt.bytes);
			}
		}
		if (req.json) {
			drv_jw_arr_close(&jw);
			drv_jw_end(&jw);
		}
		break;
	}
out:
	free(flows);
	free(list);
	return err ? EXIT_FAILURE : 0;
}

/* ---- stats ---- */

struct snap {
	struct drv_counter global[__DRV_STAT_MAX];
	int nsvcs;
	struct drv_svc_key keys[DRV_MAX_SVCS];
	struct drv_svc svcs[DRV_MAX_SVCS];
	struct drv_lb_counters svc_cnt[DRV_MAX_SVCS];
	struct drv_be_info *be_by_id; /* [DRV_MAX_BACKENDS]: bes[] by id; id 0 where none */
	struct drv_be_info *bes; /* backends of the shown services */
	int nbes;
	int *be_svc; /* index into svcs of each bes[] */
	struct timespec at;
};

static int snap_svc_cb(const struct drv_svc_key *k, const struct drv_svc *s, void *arg)
{
	struct snap *sn = arg;

	if (sn->nsvcs >= DRV_MAX_SVCS)
		return 0;
	sn->keys[sn->nsvcs] = *k;
	sn->svcs[sn->nsvcs] = *s;
	sn->nsvcs++;
	return 0;
}

static int snap_take(struct drv_ctl *ctl, struct snap *sn)
{
	int i, n, err;

	clock_gettime(CLOCK_MONOTONIC, &sn->at);
	for (i = 0; i < __DRV_STAT_MAX; i++) {
		err = drv_stats_read(ctl, i, &sn->global[i]);
		if (err) {
			pr_warn("Error: can't read %s/%s: %s; retry, and check --bpffs (drover status) if it goes on\n",
				req.bpffs, DRV_STR(DRV_MAP_STATS), strerror(-err));
			return err;
		}
	}
	sn->nsvcs = 0;
	sn->nbes = 0;
	/* an id this snapshot does not list must not show the one of two rounds ago */
	memset(sn->be_by_id, 0, DRV_MAX_BACKENDS * sizeof(*sn->be_by_id));
	if (req.has_svc) {
		if (drv_service_get(ctl, &req.svc.key, &sn->svcs[0])) {
			char buf[128];

			pr_warn("Error: service %s does not exist (see drover service show)\n",
				drv_svc_key_str(&req.svc.key, buf, sizeof(buf)));
			return -ENOENT;
		}
		sn->keys[0] = req.svc.key;
		sn->nsvcs = 1;
	} else {
		err = drv_service_foreach(ctl, snap_svc_cb, sn);
		if (err)
			return err;
	}
	for (i = 0; i < sn->nsvcs; i++) {
		drv_svc_stats_read(ctl, sn->svcs[i].id, &sn->svc_cnt[i]);
		n = drv_backend_list(ctl, &sn->keys[i], sn->bes + sn->nbes,
				     (size_t)(DRV_MAX_BACKENDS - sn->nbes));
		if (n < 0)
			continue;
		for (int j = 0; j < n; j++) {
			const struct drv_be_info *b = &sn->bes[sn->nbes + j];

			sn->be_svc[sn->nbes + j] = i;
			if (b->id && b->id < DRV_MAX_BACKENDS)
				sn->be_by_id[b->id] = *b;
		}
		sn->nbes += n;
	}
	return 0;
}

static int snap_alloc(struct snap *sn)
{
	memset(sn, 0, sizeof(*sn));
	sn->be_by_id = calloc(DRV_MAX_BACKENDS, sizeof(*sn->be_by_id));
	sn->bes = calloc(DRV_MAX_BACKENDS, sizeof(*sn->bes));
	sn->be_svc = calloc(DRV_MAX_BACKENDS, sizeof(*sn->be_svc));
	return sn->be_by_id && sn->bes && sn->be_svc ? 0 : -ENOMEM;
}

static void snap_free(struct snap *sn)
{
	free(sn->be_by_id);
	free(sn->bes);
	free(sn->be_svc);
}

/* d(cur - prev) / dt; prev NULL: the absolute value. */
static unsigned long long rate(__u64 cur, __u64 prev, double dt, bool have_prev)
{
	if (!have_prev)
		return cur;
	if (cur < prev || dt <= 0)
		return 0;
	return (unsigned long long)((double)(cur - prev) / dt + 0.5);
}

static void lb_delta(struct drv_lb_counters *out, const struct drv_lb_counters *c,
		     const struct drv_lb_counters *p, double dt, bool have_prev)
{
	out->packets = rate(c->packets, p ? p->packets : 0, dt, have_prev);
	out->bytes = rate(c->bytes, p ? p->bytes : 0, dt, have_prev);
	out->new_flows = rate(c->new_flows, p ? p->new_flows : 0, dt, have_prev);
	out->reply_packets = rate(c->reply_packets, p ? p->reply_packets : 0, dt, have_prev);
	out->reply_bytes = rate(c->reply_bytes, p ? p->reply_bytes : 0, dt, have_prev);
	out->drops = rate(c->drops, p ? p->drops : 0, dt, have_prev);
}

/* Print @cur, or with @prev the per-second rates since @prev. */
static void stats_print(const struct snap *cur, const struct snap *prev)
{
	double dt = 0;
	bool hp = prev != NULL;
	char buf[128], a[DRV_ADDR_STRLEN];
	int i;

	if (prev)
		dt = (double)(cur->at.tv_sec - prev->at.tv_sec) +
		     (double)(cur->at.tv_nsec - prev->at.tv_nsec) / 1e9;
	if (req.json) {
		drv_jw_init(&jw, stdout, req.pretty);
		drv_jw_obj_open(&jw);
		if (hp) {
			drv_jw_kstr(&jw, "unit", "per_second");
			drv_jw_ku64(&jw, "interval_ms", (unsigned long long)(dt * 1000 + 0.5));
		} else {
			drv_jw_kstr(&jw, "unit", "total");
		}
		drv_jw_key(&jw, "global");
		drv_jw_obj_open(&jw);
	} else if (hp) {
		printf("rates per second over %.1f s:\n", dt);
	}
	if (!req.json)
		printf("global:\n");
	for (i = 0; i < __DRV_STAT_MAX; i++) {
		unsigned long long p =
			rate(cur->global[i].packets, hp ? prev->global[i].packets : 0, dt, hp);
		unsigned long long b =
			rate(cur->global[i].bytes, hp ? prev->global[i].bytes : 0, dt, hp);

		if (req.json) {
			drv_jw_key(&jw, drv_stat_names[i]);
			drv_jw_obj_open(&jw);
			drv_jw_ku64(&jw, "packets", p);
			drv_jw_ku64(&jw, "bytes", b);
			drv_jw_obj_close(&jw);
		} else {
			printf("  %-20s packets %llu bytes %llu\n", drv_stat_names[i], p, b);
		}
	}
	if (req.json) {
		drv_jw_obj_close(&jw);
		drv_jw_key(&jw, "services");
		drv_jw_arr_open(&jw);
	}
	for (i = 0; i < cur->nsvcs; i++) {
		const struct drv_lb_counters *pc = NULL;
		struct drv_lb_counters d;
		int j, k;

		if (hp)
			for (k = 0; k < prev->nsvcs; k++)
				if (!memcmp(&prev->keys[k], &cur->keys[i], sizeof(cur->keys[i])) &&
				    prev->svcs[k].id == cur->svcs[i].id)
					pc = &prev->svc_cnt[k];
		lb_delta(&d, &cur->svc_cnt[i], pc, dt, hp);
		if (req.json) {
			drv_jw_obj_open(&jw);
			jw_svc_key(&cur->keys[i]);
			drv_jw_ku64(&jw, "id", cur->svcs[i].id);
			jw_lb_counters("counters", &d);
			drv_jw_key(&jw, "backends");
			drv_jw_arr_open(&jw);
		} else {
			printf("service %s (id %u): ",
			       drv_svc_key_str(&cur->keys[i], buf, sizeof(buf)), cur->svcs[i].id);
			print_lb_counters(&d);
			printf("\n");
		}
		for (j = 0; j < cur->nbes; j++) {
			const struct drv_be_info *b = &cur->bes[j];

			if (cur->be_svc[j] != i)
				continue;
			lb_delta(&d, &b->cnt, hp ? drv_stats_be_prev(prev->be_by_id, b) : NULL, dt,
				 hp);
			drv_addr_format(&b->be.addr, b->be.family, a, sizeof(a));
			if (req.json) {
				drv_jw_obj_open(&jw);
				drv_jw_ku64(&jw, "id", b->id);
				drv_jw_kstr(&jw, "address", a);
				drv_jw_ku64(&jw, "port", ntohs(b->be.port));
				jw_lb_counters("counters", &d);
				drv_jw_obj_close(&jw);
			} else {
				printf("  backend %u %s port %u: ", b->id, a, ntohs(b->be.port));
				print_lb_counters(&d);
				printf("\n");
			}
		}
		if (req.json) {
			drv_jw_arr_close(&jw);
			drv_jw_obj_close(&jw);
		}
	}
	if (req.json) {
		drv_jw_arr_close(&jw);
		drv_jw_obj_close(&jw);
		drv_jw_end(&jw);
	}
	fflush(stdout);
}

static int do_stats(struct drv_ctl *ctl)
{
	struct snap a, b, *cur = &a, *prev = &b, *t;
	__u32 rounds = 0;
	int err;

	if (snap_alloc(&a) || snap_alloc(&b)) {
		err = -ENOMEM;
		goto out;
	}
	err = snap_take(ctl, cur);
	if (err)
		goto out;
	if (!req.watch_s) {
		stats_print(cur, NULL);
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop && (!req.count || rounds < req.count)) {
		struct timespec ts = { (time_t)req.watch_s, 0 };

		/* nanosleep returns early on SIGINT; stop is checked right after */
		while (nanosleep(&ts, &ts) && errno == EINTR && !stop)
			;
		if (stop)
			break;
		t = prev;
		prev = cur;
		cur = t;
		err = snap_take(ctl, cur);
		if (err)
			break;
		stats_print(cur, prev);
		if (ferror(stdout))
			break; /* nobody reads the rates: main() says so */
		rounds++;
	}
out:
	snap_free(&a);
	snap_free(&b);
	return err ? EXIT_FAILURE : 0;
}

/* ---- lookup ---- */

static void jw_backend(const char *key, __u32 id, const struct drv_backend *be)
{
	char a[DRV_ADDR_STRLEN];

	drv_jw_key(&jw, key);
	drv_jw_obj_open(&jw);
	drv_jw_ku64(&jw, "id", id);
	drv_jw_kstr(&jw, "address", drv_addr_format(&be->addr, be->family, a, sizeof(a)));
	drv_jw_ku64(&jw, "port", ntohs(be->port));
	drv_jw_ku64(&jw, "weight", be->weight);
	drv_jw_kstr(&jw, "state", drv_be_state_name(be->state));
	drv_jw_ku64(&jw, "gen", be->gen);
	drv_jw_obj_close(&jw);
}

static int do_lookup(struct drv_ctl *ctl)
{
	struct drv_flow_key fk = {};
	struct drv_backend be, rbe = {};
	struct drv_flow flow;
	struct drv_svc s;
	char buf[128], a[DRV_ADDR_STRLEN], c[DRV_ADDR_STRLEN];
	bool recorded, usable = false, down = false, expired = false, binds;
	__u32 id, h;
	int err;

	err = drv_lookup(ctl, &req.svc.key, &req.client, req.client_port, &id, &be);
	if (err)
		return EXIT_FAILURE;
	/* read again for its numbers: gone or changed since is a race with a change */
	if (drv_service_get(ctl, &req.svc.key, &s) || !s.table_size) {
		pr_warn("Error: service %s changed while it was looked up: run the lookup again\n",
			drv_svc_key_str(&req.svc.key, buf, sizeof(buf)));
		return EXIT_FAILURE;
	}
	fk.saddr = req.client;
	fk.daddr = req.svc.key.vip;
	fk.sport = req.client_port;
	fk.dport = req.svc.key.port;
	fk.proto = req.svc.key.proto;
	fk.family = req.svc.key.family;
	h = drv_flow_hash(&fk);
	recorded = !drv_flow_lookup(ctl, &fk, &flow);
	if (recorded) {
		struct drv_cfg cfg = {};

		drv_cfg_read(ctl, &cfg);
		expired = drv_flow_expired(&cfg, &flow, drv_flow_now_ns());
	}
	/*
	 * Past its timeout, a record that is not half-open still keeps its node
	 * for every segment but a bare SYN (the program's flow_binds_past_expiry);
	 * its record and SNAT port may be taken for others meanwhile.
	 */
	binds = recorded && (!expired || flow.state != DRV_FLOW_SYN);
	if (binds && flow.backend_id && flow.backend_id < DRV_MAX_BACKENDS &&
	    !bpf_map_lookup_elem(ctl->bes_fd, &flow.backend_id, &rbe) && rbe.family &&
	    rbe.gen == flow.backend_gen && rbe.svc_id == flow.svc_id &&
	    (s.mode != DRV_MODE_NAT || flow.snat_port)) {
		usable = rbe.state != DRV_BE_DOWN;
		down = !usable;
	}
	drv_addr_format(&req.client, req.client_family, c, sizeof(c));
	if (req.json) {
		drv_jw_obj_open(&jw);
		drv_jw_key(&jw, "service");
		drv_jw_obj_open(&jw);
		jw_svc_key(&req.svc.key);
		drv_jw_ku64(&jw, "id", s.id);
		drv_jw_obj_close(&jw);
		drv_jw_key(&jw, "client");
		drv_jw_obj_open(&jw);
		drv_jw_kstr(&jw, "address", c);
		drv_jw_ku64(&jw, "port", ntohs(req.client_port));
		drv_jw_obj_close(&jw);
		drv_jw_ku64(&jw, "hash", h);
		drv_jw_ku64(&jw, "table_index", h % s.table_size);
		drv_jw_ku64(&jw, "active_slot", s.active);
		if (id)
			jw_backend("backend", id, &be);
		else
			drv_jw_key(&jw, "backend"), drv_jw_null(&jw);
		drv_jw_key(&jw, "recorded");
		if (recorded) {
			drv_jw_obj_open(&jw);
			drv_jw_ku64(&jw, "backend_id", flow.backend_id);
			drv_jw_ku64(&jw, "backend_gen", flow.backend_gen);
			drv_jw_kbool(&jw, "expired", expired);
			drv_jw_kbool(&jw, "usable", usable);
			drv_jw_kbool(&jw, "down", down);
			if (usable)
				jw_backend("backend", flow.backend_id, &rbe);
			drv_jw_obj_close(&jw);
		} else {
			drv_jw_null(&jw);
		}
		drv_jw_obj_close(&jw);
		drv_jw_end(&jw);
		return 0;
	}
	printf("flow %s port %u -> %s: hash 0x%08x, table entry %u of %u (slot %u)\n", c,
	       ntohs(req.client_port), drv_svc_key_str(&req.svc.key, buf, sizeof(buf)), h,
	       h % s.table_size, s.table_size, s.active);
	if (id)
		printf("new flow: backend %u %s port %u (%s, weight %u)%s\n", id,
		       drv_addr_format(&be.addr, be.family, a, sizeof(a)), ntohs(be.port),
		       drv_be_state_name(be.state), be.weight,
		       be.family && be.state == DRV_BE_UP ? "" : " -- not usable: dropped");
	else
		printf("new flow: no backend (dropped, drop_no_backend)\n");
	if (!recorded)
		printf("recorded: no (not in %s)\n", DRV_STR(DRV_MAP_FLOWS));
	else if (expired && !usable && !down)
		printf("recorded: expired (idle longer than its timeout): treated as a new flow\n");
	else if (usable)
		printf("recorded: %s, stays on backend %u %s port %u (%s)%s\n",
		       expired ? "expired (idle longer than its timeout)" : "yes", flow.backend_id,
		       drv_addr_format(&rbe.addr, rbe.family, a, sizeof(a)), ntohs(rbe.port),
		       drv_be_state_name(rbe.state),
		       expired ?
			       ": a bare SYN starts a new flow, and a new flow may take its record"
			       " and SNAT port" :
			       "");
	else if (down)
		printf("recorded: yes, backend %u %s port %u is down: its next packet is answered with a RST (a bare SYN starts a new flow on the new-flow backend)\n",
		       flow.backend_id, drv_addr_format(&rbe.addr, rbe.family, a, sizeof(a)),
		       ntohs(rbe.port));
	else
		printf("recorded: yes, backend %u gen %u is gone: the flow re-hashes to the new-flow backend\n",
		       flow.backend_id, flow.backend_gen);
	return 0;
}

/*
 * A change made beside a running agent lasts only until the agent next compares its config
 * with the maps (a reload, a restart, a node's health changing): say so, and where to make it.
 */
static void agent_running_warn(void)
{
	int pid = drv_agent_pid(req.bpffs);

	if (!pid)
		return;
	if (req.obj == DRV_CLI_DETACH)
		pr_warn("Warning: an agent (pid %d) runs on pin root %s and attaches the interfaces of its config again (at its next reload or restart; until then, with the last interface detached, it can't update forwarding): to take drover off, stop the agent first (systemctl stop drover), or take %s out of its config\n",
			pid, req.bpffs, req.ifname);
	else
		pr_warn("Warning: an agent (pid %d) runs on pin root %s and puts back what its config says (at its next reload or restart, or sooner): make this change in its config (drover.yaml(5)) and reload it, or stop the agent first (systemctl stop drover)\n",
			pid, req.bpffs);
}

/* ---- main ---- */

/*
 * Results that never reached their reader (a full disk, a closed pipe) must not
 * pass for a success: a script would take the half-written file for the whole.
 */
static int stdout_check(void)
{
	bool flush_failed = fflush(stdout) == EOF;
	int e = errno;

	if (!flush_failed && !ferror(stdout))
		return 0;
	pr_warn("Error: couldn't write the results to standard output (%s), so they are incomplete: check where it goes (a full disk, a closed pipe) and run the command again\n",
		flush_failed ? strerror(e) : "a write failed");
	return -EIO;
}

static const char *obj_word(enum drv_cli_obj obj)
{
	switch (obj) {
	case DRV_CLI_ATTACH:
		return "attach ";
	case DRV_CLI_DETACH:
		return "detach ";
	case DRV_CLI_STATUS:
		return "status ";
	case DRV_CLI_SERVICE:
		return "service ";
	case DRV_CLI_BACKEND:
		return "backend ";
	case DRV_CLI_STATS:
		return "stats ";
	case DRV_CLI_LOOKUP:
		return "lookup ";
	case DRV_CLI_RUN:
		return "run ";
	case DRV_CLI_NODE_SETUP:
		return "node-setup ";
	default:
		return "";
	}
}

int main(int argc, char **argv)
{
	struct drv_ctl ctl;
	char err[512];
	int rc, e;

	e = drv_cli_parse(argc, argv, &req, err, sizeof(err));
	if (e) {
		fprintf(stderr, "Error: %s\n", err);
		if (e == -EINVAL)
			fprintf(stderr, "Run 'drover %shelp' for the grammar.\n",
				obj_word(req.obj));
		drv_cli_req_free(&req);
		return e == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
	}
	drv_log_level = req.verbose >= 2 ? DRV_LOG_LIBBPF :
			req.verbose == 1 ? DRV_LOG_DEBUG :
					   DRV_LOG_WARN;
	drv_log_setup_libbpf();
	drv_jw_init(&jw, stdout, req.pretty);

	if (req.help && req.obj != DRV_CLI_RUN) { /* run: the agent's own help */
		printf("%s", drv_cli_help(req.obj));
		rc = 0;
		goto out;
	}
	switch (req.obj) {
	case DRV_CLI_VERSION:
		if (req.json) {
			drv_jw_obj_open(&jw);
			drv_jw_kstr(&jw, "version", DROVER_VERSION);
			drv_jw_ku64(&jw, "abi", DRV_ABI_VERSION);
			drv_jw_kstr(&jw, "libbpf", libbpf_version_string());
			drv_jw_obj_close(&jw);
			drv_jw_end(&jw);
		} else {
			printf("drover %s (map ABI v%d, libbpf %s)\n", DROVER_VERSION,
			       DRV_ABI_VERSION, libbpf_version_string());
		}
		rc = 0;
		break;
	case DRV_CLI_ATTACH:
		rc = do_attach();
		break;
	case DRV_CLI_DETACH:
		rc = do_detach();
		if (!rc)
			agent_running_warn();
		break;
	case DRV_CLI_STATUS:
		rc = do_status();
		break;
	case DRV_CLI_RUN:
		rc = drv_agent_main(req.bpffs, req.run_argc, req.run_argv);
		break;
	case DRV_CLI_NODE_SETUP:
		if (drv_log_level < DRV_LOG_INFO)
			drv_log_level = DRV_LOG_INFO; /* say what was done */
		rc = drv_node_setup(&req.node) ? EXIT_FAILURE : EXIT_SUCCESS;
		break;
	case DRV_CLI_SERVICE:
	case DRV_CLI_BACKEND:
	case DRV_CLI_STATS:
	case DRV_CLI_LOOKUP: {
		/* changes hold the pin-root lock; reads don't need it */
		bool change = (req.obj == DRV_CLI_SERVICE || req.obj == DRV_CLI_BACKEND) &&
			      req.cmd != DRV_CLI_SHOW;

		if (ctl_open(&ctl, change)) {
			rc = EXIT_FAILURE;
			break;
		}
		if (req.obj == DRV_CLI_SERVICE)
			rc = do_service(&ctl);
		else if (req.obj == DRV_CLI_BACKEND)
			rc = do_backend(&ctl);
		else if (req.obj == DRV_CLI_STATS)
			rc = do_stats(&ctl);
		else
			rc = do_lookup(&ctl);
		drv_ctl_close(&ctl);
		if (change && !rc)
			agent_running_warn();
		break;
	}
	default: /* no object: a usage error, like a wrong one */
		fprintf(stderr, "%s", drv_cli_help(DRV_CLI_NONE));
		rc = EXIT_USAGE;
	}
out:
	if (stdout_check() && rc != EXIT_USAGE)
		rc = EXIT_FAILURE;
	drv_cli_req_free(&req);
	return rc;
}
