// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drover-bench-pkt: per-packet cost of drover_xdp with bpf_prog_test_run_opts,
 * next to floor programs (bare XDP_TX; parse + one lookup, on one hot key and
 * spread like the established cases; parse + one LRU insert; parse + the map
 * operations of a nat new flow: a lookup miss and two inserts), in one process
 * on one pinned CPU. The new-flow case runs for a nat service and, in a
 * fresh copy of drover, for the same service in dsr; a third copy times an
 * IPv6 nat service (hot flow, NAT reply, new flows) next to an IPv6 parse +
 * lookup floor. The hot floor is timed again at the end, to show whether
 * the machine's speed drifted meanwhile.
 *
 * Programs that rewrite the packet run behind bench_wrap, which restores the
 * frame before each iteration (and varies the 5-tuple for the new-flow and
 * many-flows cases); bench_wrap's own cost, measured with an empty tail-call
 * target in the same mode, is subtracted. Every timed run is checked: the
 * verdict of the last iteration and the delta of drover's verdict/event
 * counters must account for every iteration, or the figure is reported as
 * failed.
 *
 * Run it in a network namespace where IFNAME routes 10.88.1.0/24,
 * 10.88.2.0/24, fd88:1::/64 and fd88:2::/64 with permanent neighbours
 * (bench/pkt-ns.sh sets that up):
 * drover's FIB lookup must resolve for the forward paths to be timed.
 *
 * usage: drover-bench-pkt -i IFNAME [-r REPEAT] [-c CPU] [-R ROUNDS] [-F FLOWS_MAX]
 *                         [-m MANY_FLOWS]
 * (-F resizes drv_flows and drv_nat, and the floors' tables with them, to see
 * what the tables' size costs)
 * Output: key=value lines on stdout; diagnostics on stderr.
 */
#include <errno.h>
#include <stdbool.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "drover/maps.h"

#include "bench_pkt.skel.h"
#include "drover.skel.h"
#include "maglev.h"

#define FRAME_LEN 54 /* Ethernet + IPv4 + TCP, no options */
#define FRAME6_LEN 74 /* Ethernet + IPv6 + TCP, no extension headers or options */

/* A test frame; b is as long as bench_tmpl's value, which holds the longest frame. */
struct pkt {
	__u8 b[FRAME6_LEN + 2];
	__u32 len;
	bool v6;
};

#define NBACKENDS 128 /* × 55536 SNAT ports: new flows never run out */
#define SNAT_LO 10000
#define SNAT_HI 65535

static const char *ifname;
static __u32 ifindex;
static unsigned int repeat = 1000000, rounds = 3;
static int ncpus;
static int failures;
static __u32 flows_max; /* -F: drv_flows, drv_nat and the floors' table size (0: as built) */
static __u32 many_flows = 65536; /* -m: flows the "established, many" case spreads over */
#define FEW_FLOWS 1024 /* the "established, few" case: their entries stay in the caches */

static __be32 ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static union drv_addr ip6(const char *s)
{
	union drv_addr a;

	inet_pton(AF_INET6, s, &a);
	return a;
}

/* The unfolded 16-bit sum of @len bytes (for a pseudo-header, or to fold). */
static __u32 sum16(const __u8 *b, size_t len)
{
	__u32 sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (__u32)(b[i] << 8 | b[i + 1]);
	return sum;
}

/* The Internet checksum of @len bytes, with @sum (a pseudo-header's) added. */
static __u16 csum16(const __u8 *b, size_t len, __u32 sum)
{
	sum += sum16(b, len);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* TCP header @tcp (20 bytes) with @flags and its checksum over @pseudo (pseudo-header sum). */
static void tcp_fill(__u8 *tcp, __u16 sport, __u16 dport, __u8 flags, __u32 pseudo)
{
	__u16 c;

	tcp[0] = sport >> 8;
	tcp[1] = sport & 0xff;
	tcp[2] = dport >> 8;
	tcp[3] = dport & 0xff;
	tcp[7] = 1;
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	tcp[14] = 0xff;
	c = htons(csum16(tcp, 20, pseudo));
	memcpy(tcp + 16, &c, 2);
}

/* Ethernet/IPv4/TCP frame with valid checksums; @flags: TCP flags byte. */
static void frame(struct pkt *p, __be32 saddr, __be32 daddr, __u16 sport, __u16 dport, __u8 flags)
{
	__u8 *f = p->b, *ip = f + 14;
	__u16 c;

	memset(p, 0, sizeof(*p));
	p->len = FRAME_LEN;
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00", 14);
	ip[0] = 0x45;
	ip[3] = 40;
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, &saddr, 4);
	memcpy(ip + 16, &daddr, 4);
	c = htons(csum16(ip, 20, 0));
	memcpy(ip + 10, &c, 2);
	tcp_fill(ip + 20, sport, dport, flags, sum16(ip + 12, 8) + 6 + 20);
}

/* Ethernet/IPv6/TCP frame with a valid TCP checksum. */
static void frame6(struct pkt *p, union drv_addr saddr, union drv_addr daddr, __u16 sport,
		   __u16 dport, __u8 flags)
{
	__u8 *f = p->b, *ip = f + 14;

	memset(p, 0, sizeof(*p));
	p->len = FRAME6_LEN;
	p->v6 = true;
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x86\xdd", 14);
	ip[0] = 0x60;
	ip[5] = 20; /* payload length */
	ip[6] = 6; /* next header: TCP */
	ip[7] = 64;
	memcpy(ip + 8, &saddr, 16);
	memcpy(ip + 24, &daddr, 16);
	tcp_fill(ip + 40, sport, dport, flags, sum16(ip + 8, 32) + 6 + 20);
}

/*
 * One timed run: ns per iteration as the kernel measures it (whole ns; the
 * kernel stops its clock while the loop yields the CPU, so other load on
 * the machine does not inflate it), or -1.
 */
static double run(int prog_fd, const struct pkt *p, unsigned int reps, __u32 *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = p->len, .repeat = reps);
	int err = bpf_prog_test_run_opts(prog_fd, &o);

	if (err) {
		fprintf(stderr, "drover-bench-pkt: test run of prog fd %d: %s\n", prog_fd,
			strerror(errno));
		return -1;
	}
	*retval = o.retval;
	return (double)o.duration;
}

static __u64 stat_sum(int fd, __u32 idx)
{
	struct drv_counter v[ncpus];
	__u64 s = 0;

	if (bpf_map_lookup_elem(fd, &idx, v))
		return 0;
	for (int i = 0; i < ncpus; i++)
		s += v[i].packets;
	return s;
}

/* A wrapped figure less the wrapper's own cost; -1 if either failed. */
static double minus(double ns, double wrap)
{
	return ns < 0 || wrap < 0 ? -1 : ns - wrap;
}

static void report(const char *key, double ns)
{
	printf("%s=%.2f\n", key, ns);
}

/* Best of @rounds runs; a round whose verdict differs from @want fails the figure. */
static double best(const char *name, int prog_fd, const struct pkt *p, __u32 want)
{
	double b = -1;

	for (unsigned int r = 0; r < rounds; r++) {
		__u32 ret = ~0u;
		double ns = run(prog_fd, p, repeat, &ret);

		if (ns < 0 || ret != want) {
			fprintf(stderr, "drover-bench-pkt: %s: verdict %u, want %u\n", name, ret, want);
			failures++;
			return -1;
		}
		if (b < 0 || ns < b)
			b = ns;
	}
	return b;
}

struct dstats {
	__u64 v[__DRV_STAT_MAX];
};

static void dstats_read(int fd, struct dstats *s)
{
	for (__u32 i = 0; i < __DRV_STAT_MAX; i++)
		s->v[i] = stat_sum(fd, i);
}

/* Give bench_wrap @p as its template, varied in @vary mode (see bench_pkt.bpf.c). */
static void tmpl(struct bench_pkt_bpf *b, const struct pkt *p, __u32 vary)
{
	__u32 zero = 0;

	if (bpf_map__value_size(b->maps.bench_tmpl) != sizeof(p->b) ||
	    bpf_map_update_elem(bpf_map__fd(b->maps.bench_tmpl), &zero, p->b, BPF_ANY)) {
		fprintf(stderr, "drover-bench-pkt: setting bench_wrap's template: %s\n",
			strerror(errno));
		failures++;
	}
	b->bss->bench_v6 = p->v6;
	b->bss->bench_vary = vary;
	b->bss->bench_iter = 0;
}

/* @fk's NAT reply, as its node sends it to @snat and the flow's SNAT port; 0 or -1. */
static int reply_frame(struct drover_bpf *d, const struct drv_flow_key *fk, union drv_addr snat,
		       struct pkt *p)
{
	struct drv_flow flow;
	struct drv_backend be;

	if (bpf_map_lookup_elem(bpf_map__fd(d->maps.DRV_MAP_FLOWS), fk, &flow) ||
	    bpf_map_lookup_elem(bpf_map__fd(d->maps.DRV_MAP_BACKENDS), &flow.backend_id, &be)) {
		fprintf(stderr, "drover-bench-pkt: the hot flow was not recorded in drv_flows\n");
		failures++;
		return -1;
	}
	if (fk->family == DRV_FAMILY_V6)
		frame6(p, be.addr, snat, ntohs(be.port), ntohs(flow.snat_port), 0x10);
	else
		frame(p, be.addr.v4, snat.v4, ntohs(be.port), ntohs(flow.snat_port), 0x10);
	return 0;
}

/* Run @p (a SYN) through the wrapper for @n new flows (0: the one flow of @p), untimed. */
static void record(struct bench_pkt_bpf *b, const struct pkt *p, __u32 n)
{
	__u32 r;

	tmpl(b, p, n);
	run(bpf_program__fd(b->progs.bench_wrap), p, n ?: 1, &r);
}

/*
 * Time drover behind the wrapper in @vary mode; checks that each of the
 * rounds × repeat iterations ended in @want and counted @event (if ≥ 0)
 * @event_per_iter times per iteration.
 */
static double drover_case(const char *name, struct bench_pkt_bpf *b, int stats_fd,
			  const struct pkt *p, __u32 vary, __u32 want, int event,
			  unsigned int event_per_iter)
{
	struct dstats s0, s1;
	double ns;
	__u64 n = (__u64)repeat * rounds;

	tmpl(b, p, vary);
	dstats_read(stats_fd, &s0);
	ns = best(name, bpf_program__fd(b->progs.bench_wrap), p, want);
	dstats_read(stats_fd, &s1);
	if (ns < 0) {
		for (__u32 i = 0; i < __DRV_STAT_MAX; i++)
			if (s1.v[i] != s0.v[i])
				fprintf(stderr, "drover-bench-pkt: %s: counter %u moved %llu\n", name, i,
					(unsigned long long)(s1.v[i] - s0.v[i]));
		return -1;
	}
	if (s1.v[want] - s0.v[want] != n) {
		fprintf(stderr, "drover-bench-pkt: %s: %llu of %llu iterations counted verdict %u\n",
			name, (unsigned long long)(s1.v[want] - s0.v[want]), (unsigned long long)n,
			want);
		failures++;
		return -1;
	}
	if (event >= 0 && s1.v[event] - s0.v[event] != n * event_per_iter) {
		fprintf(stderr, "drover-bench-pkt: %s: counter %d moved %llu, want %llu\n", name,
			event, (unsigned long long)(s1.v[event] - s0.v[event]),
			(unsigned long long)(n * event_per_iter));
		failures++;
		return -1;
	}
	return ns;
}

/*
 * Put the @n keys bench_wrap makes from @k (source port 1024 + i % 64512,
 * source address + i / 64512) into the floor's table @fd.
 */
static int floor_fill(int fd, const struct drv_flow_key *k, __u32 n)
{
	struct drv_flow_key key = *k;
	__u32 one = 1;

	for (__u32 i = 0; i < n; i++) {
		key.sport = htons(1024 + i % 64512);
		key.saddr.v4 = htonl(ntohl(k->saddr.v4) + i / 64512);
		if (bpf_map_update_elem(fd, &key, &one, BPF_ANY)) {
			fprintf(stderr, "drover-bench-pkt: filling the floor's table (%u keys): %s\n",
				n, strerror(errno));
			failures++;
			return -1;
		}
	}
	return 0;
}

/* A private, unpinned copy of drover (its maps are pinned by name otherwise), tables sized by -F. */
static struct drover_bpf *drover_load(void)
{
	struct drover_bpf *d = drover_bpf__open();
	struct bpf_map *m;

	if (!d) {
		fprintf(stderr, "drover-bench-pkt: opening drover.bpf.o: %s\n", strerror(errno));
		return NULL;
	}
	bpf_object__for_each_map(m, d->obj)
		bpf_map__set_pin_path(m, NULL);
	if (flows_max) {
		bpf_map__set_max_entries(d->maps.DRV_MAP_FLOWS, flows_max);
		bpf_map__set_max_entries(d->maps.DRV_MAP_NAT, flows_max);
	}
	if (drover_bpf__load(d)) {
		fprintf(stderr, "drover-bench-pkt: loading drover.bpf.o: %s\n", strerror(errno));
		drover_bpf__destroy(d);
		return NULL;
	}
	return d;
}

/*
 * One service in @mode with NBACKENDS backends, and pp0 as a redirect
 * target: 10.88.0.100:80 on nodes 10.88.2.11-138, or with @v6
 * [fd88::100]:80 on nodes fd88:2::100-17f.
 */
static int drover_setup(struct drover_bpf *d, __u8 mode, bool v6)
{
	struct drv_maglev_backend mb[NBACKENDS];
	struct drv_svc_key sk = {};
	struct drv_svc svc = {};
	struct drv_cfg cfg = {};
	__u32 *table, zero = 0;
	int err;

	cfg.reply_port_lo = SNAT_LO;
	cfg.reply_port_hi = SNAT_HI;
	err = bpf_map_update_elem(bpf_map__fd(d->maps.DRV_MAP_CFG), &zero, &cfg, BPF_ANY);
	memset(mb, 0, sizeof(mb));
	for (__u32 i = 0; i < NBACKENDS && !err; i++) {
		struct drv_backend be = {};
		__u32 id = i + 1;
		char a[32];

		if (v6) {
			snprintf(a, sizeof(a), "fd88:2::%x", 0x100 + i);
			be.addr = ip6(a);
		} else {
			snprintf(a, sizeof(a), "10.88.%u.%u", 2 + (11 + i) / 250, (11 + i) % 250);
			be.addr.v4 = ip4(a);
		}
		be.port = htons(80);
		be.family = v6 ? DRV_FAMILY_V6 : DRV_FAMILY_V4;
		be.state = DRV_BE_UP;
		be.svc_id = 0;
		be.weight = 1;
		be.gen = 1;
		err = bpf_map_update_elem(bpf_map__fd(d->maps.DRV_MAP_BACKENDS), &id, &be, BPF_ANY);
		mb[i].addr = be.addr;
		mb[i].port = be.port;
		mb[i].family = be.family;
		mb[i].weight = 1;
		mb[i].id = id;
	}
	table = calloc(DRV_MAGLEV_MAX, sizeof(*table));
	if (err || !table)
		goto out;
	err = drv_maglev_build(mb, NBACKENDS, DRV_MAGLEV_MAX, table);
	for (__u32 i = 0; i < DRV_MAGLEV_MAX && !err; i++) {
		__u32 idx = DRV_MAGLEV_INDEX(0, 0, i);

		err = bpf_map_update_elem(bpf_map__fd(d->maps.DRV_MAP_MAGLEV), &idx, &table[i],
					  BPF_ANY);
	}
	free(table);
	if (err)
		goto out;
	if (v6)
		sk.vip = ip6("fd88::100");
	else
		sk.vip.v4 = ip4("10.88.0.100");
	sk.port = htons(80);
	sk.proto = 6;
	sk.family = v6 ? DRV_FAMILY_V6 : DRV_FAMILY_V4;
	svc.id = 0;
	svc.table_size = DRV_MAGLEV_MAX;
	svc.mode = mode;
	svc.active = 0;
	svc.snat_port_lo = SNAT_LO;
	svc.snat_port_hi = SNAT_HI;
	svc.nbackends = NBACKENDS;
	if (v6)
		svc.snat = ip6("fd88:2::1");
	else
		svc.snat.v4 = ip4("10.88.2.1");
	err = bpf_map_update_elem(bpf_map__fd(d->maps.DRV_MAP_SVCS), &sk, &svc, BPF_ANY);
	if (err)
		goto out;
	err = bpf_map_update_elem(bpf_map__fd(d->maps.DRV_MAP_TX_PORTS), &ifindex, &ifindex,
				  BPF_ANY);
out:
	if (err)
		fprintf(stderr, "drover-bench-pkt: filling drover's maps: %s\n", strerror(errno));
	return err ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct bench_pkt_bpf *b = NULL;
	struct drover_bpf *d = NULL;
	struct pkt f_syn, f_est, f_reply, f_other, f_new, f6_syn, f6_est, f6_reply, f6_new;
	struct drv_flow_key fk6;
	union drv_addr snat = {};
	struct drv_flow_key fk = {};
	__u32 zero = 0, one_val = 1;
	double floor_tx, floor_parse, wrap0, wrapn, wrapm, wrap6_0, wrap6_n, ns;
	unsigned int rounds_saved;
	int opt, cpu = -1, stats_fd, target_fd, rc = 1;

	while ((opt = getopt(argc, argv, "i:r:c:R:F:m:")) != -1) {
		switch (opt) {
		case 'i':
			ifname = optarg;
			break;
		case 'r':
			repeat = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'R':
			rounds = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			many_flows = (__u32)strtoul(optarg, NULL, 10);
			break;
		case 'F':
			flows_max = (__u32)strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (!ifname || many_flows <= FEW_FLOWS || many_flows > 1000000 || repeat < 1000 ||
	    repeat > 100000000 || rounds < 1 || rounds > 10)
		goto usage;
	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "drover-bench-pkt: no interface %s in this namespace\n", ifname);
		return 1;
	}
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, "drover-bench-pkt: pin to CPU %d: %s\n", cpu, strerror(errno));
			return 1;
		}
	}
	ncpus = libbpf_num_possible_cpus();

	b = bench_pkt_bpf__open();
	if (b && flows_max) {
		bpf_map__set_max_entries(b->maps.bench_flows, flows_max);
		bpf_map__set_max_entries(b->maps.bench_lru, flows_max);
	}
	if (!b || bench_pkt_bpf__load(b)) {
		fprintf(stderr, "drover-bench-pkt: loading bench_pkt.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	d = drover_load();
	if (!d || drover_setup(d, DRV_MODE_NAT, false))
		goto out;
	stats_fd = bpf_map__fd(d->maps.DRV_MAP_STATS);
	target_fd = bpf_map__fd(b->maps.bench_target);

	frame(&f_syn, ip4("10.88.1.2"), ip4("10.88.0.100"), 40000, 80, 0x02);
	frame(&f_est, ip4("10.88.1.2"), ip4("10.88.0.100"), 40000, 80, 0x10);
	/* new flows count up from another client address: none of them was seen before */
	frame(&f_new, ip4("10.88.1.100"), ip4("10.88.0.100"), 1024, 80, 0x02);
	frame(&f_other, ip4("10.88.1.2"), ip4("10.88.9.9"), 40000, 80, 0x10);
	printf("repeat=%u\nrounds=%u\ncpu=%d\nflows_max=%u\nmany_flows=%u\n", repeat, rounds, cpu,
	       bpf_map__max_entries(d->maps.DRV_MAP_FLOWS), many_flows);

	/* Floors, run bare: neither rewrites the packet. */
	floor_tx = best("floor_tx", bpf_program__fd(b->progs.bench_floor_tx), &f_est, XDP_TX);
	fk.saddr.v4 = ip4("10.88.1.2");
	fk.daddr.v4 = ip4("10.88.0.100");
	fk.sport = htons(40000);
	fk.dport = htons(80);
	fk.proto = 6;
	fk.family = DRV_FAMILY_V4;
	bpf_map_update_elem(bpf_map__fd(b->maps.bench_flows), &fk, &one_val, BPF_ANY);
	floor_parse = best("floor_parse", bpf_program__fd(b->progs.bench_floor_parse), &f_est,
			   XDP_PASS);
	report("floor_tx_ns", floor_tx);
	report("floor_parse_ns", floor_parse);

	/* The wrapper's own cost in each mode, with an empty target. */
	int empty_fd = bpf_program__fd(b->progs.bench_empty);

	bpf_map_update_elem(target_fd, &zero, &empty_fd, BPF_ANY);
	tmpl(b, &f_est, 0);
	wrap0 = best("wrap_fixed", bpf_program__fd(b->progs.bench_wrap), &f_est, XDP_PASS);
	tmpl(b, &f_est, many_flows);
	wrapm = best("wrap_many", bpf_program__fd(b->progs.bench_wrap), &f_est, XDP_PASS);
	tmpl(b, &f_est, ~0u);
	wrapn = best("wrap_new", bpf_program__fd(b->progs.bench_wrap), &f_est, XDP_PASS);
	/*
	 * New 5-tuple each iteration (behind the wrapper): one LRU insert, then
	 * drover's nat new-flow map operations alone (a lookup miss, two inserts).
	 */
	{
		const struct {
			const char *name, *key;
			struct bpf_program *prog;
		} ins[] = { { "floor_insert", "floor_insert_ns", b->progs.bench_floor_insert },
			    { "floor_insert2", "floor_insert2_ns", b->progs.bench_floor_insert2 } };

		tmpl(b, &f_est, ~0u);
		rounds_saved = rounds;
		rounds = 1; /* every run inserts new keys: one run of repeat keys */
		for (size_t i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
			int ins_fd = bpf_program__fd(ins[i].prog);

			bpf_map_update_elem(target_fd, &zero, &ins_fd, BPF_ANY);
			ns = best(ins[i].name, bpf_program__fd(b->progs.bench_wrap), &f_est,
				  XDP_PASS);
			report(ins[i].key, minus(ns, wrapn));
		}
		rounds = rounds_saved;
		bpf_map_update_elem(target_fd, &zero, &empty_fd, BPF_ANY);
	}
	report("wrap_fixed_ns", wrap0);
	report("wrap_many_ns", wrapm);
	report("wrap_new_ns", wrapn);

	/*
	 * The parse+lookup floor with its hits spread like the established
	 * cases' below (same keys, same wrapper): what reaching one entry among
	 * that many costs any program on this machine.
	 */
	{
		const __u32 counts[] = { FEW_FLOWS, many_flows };
		const char *const keys[] = { "floor_parse_few_ns", "floor_parse_many_ns" };
		int parse_fd = bpf_program__fd(b->progs.bench_floor_parse);

		bpf_map_update_elem(target_fd, &zero, &parse_fd, BPF_ANY);
		for (unsigned int c = 0; c < 2; c++) {
			ns = -1;
			if (floor_fill(bpf_map__fd(b->maps.bench_flows), &fk, counts[c]) == 0) {
				tmpl(b, &f_est, counts[c]);
				b->bss->bench_misses = 0;
				ns = best(keys[c], bpf_program__fd(b->progs.bench_wrap), &f_est, XDP_PASS);
				if (b->bss->bench_misses) {
					fprintf(stderr, "drover-bench-pkt: %s: %llu lookups missed\n",
						keys[c], (unsigned long long)b->bss->bench_misses);
					failures++;
					ns = -1;
				}
			}
			report(keys[c], minus(ns, wrapm));
		}
		bpf_map_update_elem(target_fd, &zero, &empty_fd, BPF_ANY);
	}

	int drv_fd = bpf_program__fd(d->progs.drover_xdp);
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);

	/* Program size and the verifier's work, as bpftool prog show reports them. */
	if (!bpf_obj_get_info_by_fd(drv_fd, &info, &info_len))
		printf("drover_xlated_insns=%u\ndrover_jited_bytes=%u\ndrover_verified_insns=%u\n",
		       info.xlated_prog_len / 8, info.jited_prog_len, info.verified_insns);

	bpf_map_update_elem(target_fd, &zero, &drv_fd, BPF_ANY);

	/* Non-VIP TCP, outside every SNAT range: untouched, so timed bare. */
	{
		struct dstats s0, s1;

		dstats_read(stats_fd, &s0);
		ns = best("nonvip", drv_fd, &f_other, XDP_PASS);
		dstats_read(stats_fd, &s1);
		if (ns >= 0 && s1.v[XDP_PASS] - s0.v[XDP_PASS] != (__u64)repeat * rounds) {
			fprintf(stderr, "drover-bench-pkt: nonvip: XDP_PASS moved %llu\n",
				(unsigned long long)(s1.v[XDP_PASS] - s0.v[XDP_PASS]));
			failures++;
			ns = -1;
		}
		report("drover_nonvip_ns", ns);
	}

	/* One hot flow: record it (SYN, untimed), then time its established packets. */
	record(b, &f_syn, 0);
	ns = drover_case("est_hot", b, stats_fd, &f_est, 0, XDP_REDIRECT, DRV_STAT_NEW_FLOW, 0);
	report("drover_est_hot_ns", minus(ns, wrap0));

	/*
	 * Spread flows: record FEW_FLOWS, then many_flows, untimed; then hits
	 * spread over all of them. Same code either way: the difference is what
	 * the flows' table entries cost to reach (caches, TLB).
	 */
	{
		const __u32 counts[] = { FEW_FLOWS, many_flows };
		const char *const names[] = { "est_few", "est_many" };
		const char *const keys[] = { "drover_est_few_ns", "drover_est_many_ns" };

		for (unsigned int c = 0; c < 2; c++) {
			record(b, &f_syn, counts[c]);
			ns = drover_case(names[c], b, stats_fd, &f_est, counts[c], XDP_REDIRECT,
					 DRV_STAT_NEW_FLOW, 0);
			report(keys[c], minus(ns, wrapm));
		}
	}

	/* NAT reply of the hot flow: node:80 → SNAT addr:port. */
	snat.v4 = ip4("10.88.2.1");
	ns = -1;
	if (!reply_frame(d, &fk, snat, &f_reply))
		ns = drover_case("reply", b, stats_fd, &f_reply, 0, XDP_REDIRECT, DRV_STAT_NAT_REPLY,
				 1);
	report("drover_reply_ns", minus(ns, wrap0));

	/* New flows: every iteration a new 5-tuple (insert into drv_flows and drv_nat). */
	rounds_saved = rounds;
	rounds = 1;
	ns = drover_case("new", b, stats_fd, &f_new, ~0u, XDP_REDIRECT, DRV_STAT_NEW_FLOW, 1);
	report("drover_new_ns", minus(ns, wrapn));

	/*
	 * The same service in dsr, in a fresh copy of drover whose drv_flows is
	 * first given the flows the nat case found (the hot one and the spread
	 * ones, recorded the same way, untimed): a new flow then inserts into
	 * drv_flows only.
	 */
	bpf_map_update_elem(target_fd, &zero, &empty_fd, BPF_ANY); /* let the old copy go */
	drover_bpf__destroy(d);
	d = drover_load();
	ns = -1;
	if (!d || drover_setup(d, DRV_MODE_DSR, false)) {
		failures++;
	} else {
		const __u32 counts[] = { 0, FEW_FLOWS, many_flows }; /* 0: the hot flow */

		drv_fd = bpf_program__fd(d->progs.drover_xdp);
		bpf_map_update_elem(target_fd, &zero, &drv_fd, BPF_ANY);
		for (unsigned int c = 0; c < 3; c++)
			record(b, &f_syn, counts[c]);
		ns = drover_case("new_dsr", b, bpf_map__fd(d->maps.DRV_MAP_STATS), &f_new, ~0u,
				 XDP_REDIRECT, DRV_STAT_NEW_FLOW, 1);
	}
	report("drover_new_dsr_ns", minus(ns, wrapn));
	rounds = rounds_saved;

	/*
	 * IPv6: the nat service again on [fd88::100]:80, in a fresh copy of
	 * drover, next to the parse + lookup floor and the wrapper's own cost
	 * for IPv6 frames: one hot flow, its NAT reply, new flows.
	 */
	frame6(&f6_syn, ip6("fd88:1::2"), ip6("fd88::100"), 40000, 80, 0x02);
	frame6(&f6_est, ip6("fd88:1::2"), ip6("fd88::100"), 40000, 80, 0x10);
	frame6(&f6_new, ip6("fd88:1::100"), ip6("fd88::100"), 1024, 80, 0x02);
	fk6 = fk;
	fk6.saddr = ip6("fd88:1::2");
	fk6.daddr = ip6("fd88::100");
	fk6.family = DRV_FAMILY_V6;
	bpf_map_update_elem(bpf_map__fd(b->maps.bench_flows), &fk6, &one_val, BPF_ANY);
	report("floor_parse6_ns", best("floor_parse6", bpf_program__fd(b->progs.bench_floor_parse6),
				       &f6_est, XDP_PASS));
	bpf_map_update_elem(target_fd, &zero, &empty_fd, BPF_ANY); /* let the dsr copy go */
	tmpl(b, &f6_est, 0);
	wrap6_0 = best("wrap6_fixed", bpf_program__fd(b->progs.bench_wrap), &f6_est, XDP_PASS);
	tmpl(b, &f6_est, ~0u);
	wrap6_n = best("wrap6_new", bpf_program__fd(b->progs.bench_wrap), &f6_est, XDP_PASS);
	report("wrap6_fixed_ns", wrap6_0);
	report("wrap6_new_ns", wrap6_n);
	drover_bpf__destroy(d);
	d = drover_load();
	if (!d || drover_setup(d, DRV_MODE_NAT, true)) {
		failures++;
		report("drover_est6_hot_ns", -1);
		report("drover_reply6_ns", -1);
		report("drover_new6_ns", -1);
	} else {
		stats_fd = bpf_map__fd(d->maps.DRV_MAP_STATS);
		drv_fd = bpf_program__fd(d->progs.drover_xdp);
		bpf_map_update_elem(target_fd, &zero, &drv_fd, BPF_ANY);
		record(b, &f6_syn, 0);
		ns = drover_case("est6_hot", b, stats_fd, &f6_est, 0, XDP_REDIRECT,
				 DRV_STAT_NEW_FLOW, 0);
		report("drover_est6_hot_ns", minus(ns, wrap6_0));
		ns = -1;
		if (!reply_frame(d, &fk6, ip6("fd88:2::1"), &f6_reply))
			ns = drover_case("reply6", b, stats_fd, &f6_reply, 0, XDP_REDIRECT,
					 DRV_STAT_NAT_REPLY, 1);
		report("drover_reply6_ns", minus(ns, wrap6_0));
		/* as many flows recorded as in the IPv4 case before its new flows */
		record(b, &f6_syn, FEW_FLOWS);
		record(b, &f6_syn, many_flows);
		rounds = 1;
		ns = drover_case("new6", b, stats_fd, &f6_new, ~0u, XDP_REDIRECT,
				 DRV_STAT_NEW_FLOW, 1);
		rounds = rounds_saved;
		report("drover_new6_ns", minus(ns, wrap6_n));
	}

	/* The hot floor once more, as often: did the machine's speed drift during the run? */
	report("floor_parse_end_ns", best("floor_parse_end", bpf_program__fd(b->progs.bench_floor_parse),
					  &f_est, XDP_PASS));

	printf("failures=%d\n", failures);
	rc = failures ? 1 : 0;
out:
	drover_bpf__destroy(d);
	bench_pkt_bpf__destroy(b);
	return rc;
usage:
	fprintf(stderr, "usage: %s -i IFNAME [-r REPEAT (≥1000)] [-c CPU] [-R ROUNDS] [-F FLOWS_MAX] [-m MANY_FLOWS (>1024)]\n", argv[0]);
	return 2;
}
