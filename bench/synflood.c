// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * drover-bench-syn: a bounded TCP SYN sender for the benchmark lab. Builds
 * Ethernet/IPv4/TCP SYN frames with correct checksums and sends them on one
 * interface through AF_PACKET (qdisc bypassed) in sendmmsg batches. Source
 * port and source address rotate so that every frame is a new 5-tuple until
 * the space (ports × addresses) wraps. Stops after -d seconds or -n frames,
 * whichever comes first; -r paces to a fixed rate.
 *
 * -x sends the same frames as XDP frames instead (synflood.bpf.c, run by
 * BPF_PROG_RUN in live-frames mode, XDP_TX on IFNAME): they reach the peer
 * veth the way a NIC's receive ring hands frames to XDP. The peer must have
 * an XDP program attached (a pass-through one will do), or veth drops them.
 *
 * usage: drover-bench-syn -i IFNAME -M DSTMAC -S SRCIP[/COUNT] -D DSTIP -p DPORT
 *                         [-d SECONDS] [-n FRAMES] [-r PPS | -x]
 * Output: key=value lines on stdout.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "synflood.skel.h"

#define BATCH 32
#define XDP_CHUNK 16384 /* frames per BPF_PROG_RUN call in -x mode (~20-50 ms) */
#define FRAME_LEN 54 /* 14 + 20 + 20 */

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Our CPU time so far (user + system), seconds. */
static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static unsigned int csum_add(unsigned int sum, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (unsigned int)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (unsigned int)b[len - 1] << 8;
	return sum;
}

static unsigned short csum_fold(unsigned int sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (unsigned short)~sum;
}

static int parse_mac(const char *s, unsigned char mac[6])
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		      &mac[4], &mac[5]) == 6 ? 0 : -1;
}

/* Fill @f: SYN from @saddr:@sport to @daddr:@dport (addresses in network order). */
static void build(unsigned char *f, const unsigned char dmac[6], const unsigned char smac[6],
		  unsigned int saddr, unsigned int daddr, unsigned short sport,
		  unsigned short dport, unsigned int seq)
{
	unsigned char *ip = f + 14, *tcp = f + 34, pseudo[12];
	unsigned short c;

	memset(f, 0, FRAME_LEN);
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = 40;			/* total length */
	ip[4] = (unsigned char)(seq >> 8);
	ip[5] = (unsigned char)seq;	/* id */
	ip[6] = 0x40;			/* DF */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, &saddr, 4);
	memcpy(ip + 16, &daddr, 4);
	c = htons(csum_fold(csum_add(0, ip, 20)));
	memcpy(ip + 10, &c, 2);

	tcp[0] = (unsigned char)(sport >> 8);
	tcp[1] = (unsigned char)sport;
	tcp[2] = (unsigned char)(dport >> 8);
	tcp[3] = (unsigned char)dport;
	tcp[4] = (unsigned char)(seq >> 24);
	tcp[5] = (unsigned char)(seq >> 16);
	tcp[6] = (unsigned char)(seq >> 8);
	tcp[7] = (unsigned char)seq;
	tcp[12] = 5 << 4;
	tcp[13] = 0x02;			/* SYN */
	tcp[14] = 0xff;
	tcp[15] = 0xff;			/* window */
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = 0;
	pseudo[11] = 20;
	c = htons(csum_fold(csum_add(csum_add(0, pseudo, 12), tcp, 20)));
	memcpy(tcp + 16, &c, 2);
}

/*
 * -x: send from template @f as XDP frames on @ifindex for @duration_ns or
 * @max_frames, timed (*@t0, *@cpu0) from after the program's load.
 * Return: frames sent, or -1 (message printed).
 */
static long long xdp_flood(const unsigned char *f, int ifindex, unsigned int saddr,
			   unsigned int nsrc, unsigned int port_span,
			   unsigned long long duration_ns, unsigned long long max_frames,
			   const char *ifname, unsigned long long *t0, double *cpu0)
{
	struct xdp_md md = { .data_end = FRAME_LEN, .ingress_ifindex = (__u32)ifindex };
	struct synflood_bpf *skel = synflood_bpf__open_and_load();
	unsigned long long end_ns;
	long long sent = -1;

	if (!skel) {
		fprintf(stderr, "drover-bench-syn: loading synflood.bpf.o: %s\n", strerror(errno));
		return -1;
	}
	memcpy(skel->bss->gen_tmpl, f, FRAME_LEN);
	skel->bss->gen_saddr = ntohl(saddr);
	skel->bss->gen_nsrc = nsrc;
	skel->bss->gen_span = port_span;
	*cpu0 = cpu_now();
	*t0 = now_ns();
	end_ns = *t0 + duration_ns;
	while (now_ns() < end_ns && skel->bss->gen_iter < max_frames) {
		unsigned long long left = max_frames - skel->bss->gen_iter;
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = FRAME_LEN,
			    .ctx_in = &md, .ctx_size_in = sizeof(md),
			    .repeat = left < XDP_CHUNK ? (__u32)left : XDP_CHUNK,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

		if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.syn_gen), &o)) {
			fprintf(stderr, "drover-bench-syn: XDP live frames on %s: %s\n", ifname,
				strerror(errno));
			goto out;
		}
	}
	sent = (long long)skel->bss->gen_iter;
out:
	synflood_bpf__destroy(skel);
	return sent;
}

int main(int argc, char **argv)
{
	static unsigned char frames[BATCH][FRAME_LEN];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	unsigned char dmac[6], smac[6];
	const char *ifname = NULL;
	unsigned int saddr = 0, daddr = 0, nsrc = 1, port_span = 64512;
	unsigned short dport = 0;
	double duration = 3, rate = 0, cpu0;
	unsigned long long max_frames = 100000000ULL, sent = 0, fails = 0, t0, end, t;
	unsigned int seq = 1;
	struct ifreq ifr;
	int fd, opt, one = 1, xdp = 0;

	memset(dmac, 0, sizeof(dmac));
	while ((opt = getopt(argc, argv, "i:M:S:D:p:d:n:r:x")) != -1) {
		char *slash;

		switch (opt) {
		case 'i':
			ifname = optarg;
			break;
		case 'M':
			if (parse_mac(optarg, dmac))
				goto usage;
			break;
		case 'S':
			slash = strchr(optarg, '/');
			if (slash) {
				*slash = '\0';
				nsrc = (unsigned int)atoi(slash + 1);
			}
			if (inet_pton(AF_INET, optarg, &saddr) != 1 || nsrc < 1 || nsrc > 256)
				goto usage;
			break;
		case 'D':
			if (inet_pton(AF_INET, optarg, &daddr) != 1)
				goto usage;
			break;
		case 'p':
			dport = (unsigned short)atoi(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'n':
			max_frames = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 'x':
			xdp = 1;
			break;
		default:
			goto usage;
		}
	}
	if (!ifname || !saddr || !daddr || !dport || duration <= 0 || duration > 60 || rate < 0 ||
	    (xdp && rate > 0))
		goto usage;

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		fprintf(stderr, "drover-bench-syn: AF_PACKET socket: %s (needs CAP_NET_RAW)\n",
			strerror(errno));
		return 1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		fprintf(stderr, "drover-bench-syn: interface %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	sll.sll_protocol = htons(ETH_P_IP);
	/* -x sends through BPF_PROG_RUN: the socket only told us the MAC address. */
	if (!xdp && bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		fprintf(stderr, "drover-bench-syn: bind to %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = frames[i];
		iov[i].iov_len = FRAME_LEN;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	/* Timed from here (-x: from after the program's load): not our start-up, not ip netns exec's. */
	cpu0 = cpu_now();
	t0 = now_ns();
	end = t0 + (unsigned long long)(duration * 1e9);
	if (xdp) {
		long long n;

		build(frames[0], dmac, smac, saddr, daddr, 1024, dport, 0);
		n = xdp_flood(frames[0], sll.sll_ifindex, saddr, nsrc, port_span,
			      (unsigned long long)(duration * 1e9), max_frames, ifname, &t0, &cpu0);
		if (n < 0)
			return 1;
		sent = (unsigned long long)n;
	}
	for (t = t0; !xdp && t < end && sent < max_frames; t = now_ns()) {
		int n, want = BATCH;

		if (rate > 0) {
			unsigned long long due = t0 + (unsigned long long)(sent / rate * 1e9);

			if (due > t) {
				struct timespec ts = { .tv_sec = (time_t)((due - t) / 1000000000ULL),
						       .tv_nsec = (long)((due - t) % 1000000000ULL) };

				nanosleep(&ts, NULL);
				continue;
			}
		}
		if (max_frames - sent < (unsigned long long)want)
			want = (int)(max_frames - sent);
		for (int i = 0; i < want; i++, seq++) {
			unsigned int k = (unsigned int)(sent + (unsigned long long)i);
			unsigned short sport = (unsigned short)(1024 + k % port_span);
			unsigned int src = htonl(ntohl(saddr) + (k / port_span) % nsrc);

			build(frames[i], dmac, smac, src, daddr, sport, dport, seq * 2654435761u);
		}
		n = sendmmsg(fd, msgs, (unsigned int)want, 0);
		if (n < 0) {
			fails++;
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
				fprintf(stderr, "drover-bench-syn: send on %s: %s\n", ifname,
					strerror(errno));
				break;
			}
			continue;
		}
		sent += (unsigned long long)n;
	}
	t = now_ns();
	/*
	 * Our CPU time while sending: with tick accounting, softirq work done in
	 * our context (the receive path of the veth we send into, and everything
	 * it runs synchronously) is charged to us as system time.
	 */
	printf("sent=%llu\nseconds=%.3f\npps=%.0f\nsend_errors=%llu\ncpu_s=%.3f\n", sent,
	       (t - t0) / 1e9, sent / ((t - t0) / 1e9), fails, cpu_now() - cpu0);
	close(fd);
	return 0;
usage:
	fprintf(stderr, "usage: %s -i IFNAME -M DSTMAC -S SRCIP[/COUNT] -D DSTIP -p DPORT "
			"[-d SECONDS (≤60)] [-n FRAMES] [-r PPS | -x]\n", argv[0]);
	return 2;
}
