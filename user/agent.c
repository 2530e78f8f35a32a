// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The agent, `drover run config FILE`: attach, health-check every node, keep
 * the pinned maps equal to config × health, serve /metrics, reload on SIGHUP
 * or when the file changes. One thread runs everything but the HTTP server;
 * the lock guards what both read. The main thread may hold it for seconds (a
 * reload that attaches runs the verifier; a large sync), and the HTTP server
 * has one thread for every endpoint, so /healthz (liveness) would queue behind
 * a request that waits for it: /readyz reads what the main thread publishes
 * (struct agent_pub) instead. /metrics is rendered on a thread of its own
 * (metrics.c), one render at a time: it waits for the lock a bounded time,
 * holds it only to copy what it renders (struct m_snap), and reads the maps
 * and writes its text without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <bpf/libbpf.h>

#include "agent.h"
#include "config.h"
#include "ctl.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "reconcile.h"
#include "sdnotify.h"
#include "util.h"

#define AGENT_POLL_MS 1000 /* config file change poll */
#define AGENT_RETRY_MS 2000 /* after a failed map update */
#define AGENT_LOCK_RETRY_MS 100 /* after finding the pin root locked by a drover command */
/* backends read back per service (metrics, adoption): all a service can have */
#define AGENT_MAX_BES DRV_MAX_BACKENDS
/*
 * How long /metrics waits for ag->lock before it answers 503: the first
 * request of a hold, then each one after it until the lock is had again.
 * (On the render thread: /healthz never waits for it.)
 */
#define AGENT_RENDER_WAIT_MS 1000
#define AGENT_RENDER_WAIT_AGAIN_MS 100
/*
 * Leavers' flows are counted at most this often; a walk of drv_flows that took
 * longer (up to ~1 s for 1M entries) spaces the next ones more, up to
 * AGENT_LEAVE_COUNT_MAX_S.
 */
#define AGENT_LEAVE_COUNT_S 5.0
#define AGENT_LEAVE_COUNT_MAX_S 15.0

struct agent_leaver;

struct agent_node {
	struct drv_check chk;
	struct drv_hc_state st;
	struct agent_svc *svc;
	struct agent *ag;
	size_t idx;
	bool fresh; /* svcs_build: in neither the old config nor the maps */
	bool held_up; /* while the service settles: the state its table keeps */
	bool verdict; /* had `rise` passes or `fall` failures in a row since it started settling */
	/*
	 * mono_now() when a failed node's recorded flows re-hash: until then it
	 * is FAILING in the maps (out of the table, its open connections stay),
	 * then DOWN. 0: no hold running.
	 */
	double rehash_at;
	/*
	 * mono_now() when the running hold began (the node failed, or a
	 * fail-open keeping it UP ended): a reload that changes rehash-after
	 * moves rehash_at to this plus the new value.
	 */
	double hold_from;
	struct agent_leaver *leaver; /* a leaver's checks; NULL: a node of the config */
};

/*
 * A node a reload removed from a service that stays, or a backend a restarted
 * agent found in the maps and in no node of its config: LEAVING in the maps
 * (out of the table, its open connections stay) and still checked, until its
 * recorded flows have all ended or health leave-after passes. Then it is
 * freed as a node removed at once is (its id goes; any flows left re-hash).
 * Failing its checks `fall` times in a row it keeps its flows for
 * rehash-after, as a node of the config does (a check failure is not always
 * a dead node); still failing then, it is dead: DOWN in the maps, so the data
 * path resets each of its flows at their next packet (freed then, a flow
 * would re-hash to a node that resets it, or that holds its 4-tuple in
 * TIME_WAIT and leaves the client hanging); passing `rise` again it leaves
 * as before.
 */
struct agent_leaver {
	struct drv_node_conf conf; /* a copy: the config that named it is gone */
	struct agent_node node;
	double from; /* mono_now() when it began leaving (or was adopted) */
	double until; /* from + leave-after */
	long flows; /* its live recorded flows at the last count; -1: not counted yet */
	bool dead; /* fails its checks: DOWN in the maps until freed, or it passes again */
	bool gone; /* freed: no check, not in the maps */
};

/*
 * A service this agent has no health state for yet (at start-up every one; at
 * a reload a new service, or one whose nodes were all replaced) settles: its
 * table keeps the states it started with (adopted from the maps, or assumed)
 * until every node has a verdict or settle_until passes, then takes all of
 * them at once. Applied one at a time, the first failing nodes would leave the
 * table before the last one showed that none passes, and a fail-open the maps
 * cannot record would be lost (its nodes all UP there) on the way to a new one.
 */
struct agent_svc {
	const struct drv_service_conf *conf;
	struct agent_node *nodes;
	struct agent_leaver *leavers; /* gone ones stay until the next reload builds anew */
	size_t nleavers;
	bool all_down;
	double settle_until; /* mono_now() bound of the settle; 0: not settling */
	double settle_from;
};

/*
 * A configured interface whose link the kernel took away, or that did not
 * exist when its config was loaded (ifaces_follow attaches it once it appears).
 */
struct iface_watch {
	bool waiting; /* it did not exist when the config was loaded: nothing of ours on it yet */
	bool locked; /* waiting: it existed, but a drover command held the pin root's lock */
	bool gone_said; /* "is gone" (or "does not exist", or "can't be attached") was logged */
	char renamed_said[IF_NAMESIZE]; /* the name "was renamed" was logged with; "" if none */
	int tried_ifindex; /* the device a failed attach was tried on, */
	__u64 tried_xdp; /* and the XDP programs it had then (drv << 32 | skb) */
	double next_try, backoff; /* mono_now() when a failed attach is tried again */
};

/*
 * What /readyz and /healthz need, published by the main thread (agent_publish,
 * agent_doing) so that the HTTP thread never waits for ag->lock to answer
 * them. pub_lock is held only to copy this.
 */
struct agent_pub {
	bool ready;
	char not_ready[128];
	unsigned int nifaces;
	char ifaces[DRV_MAX_IFACES][IF_NAMESIZE];
	/*
	 * Liveness: mono_now() when the main loop last finished a round (it
	 * runs one at least every AGENT_POLL_MS), 0 before the first; what it
	 * has been doing since ("" if nothing worth naming), and how old the
	 * round may get before /healthz fails (metrics.stuck-after, 0: never).
	 */
	double round_at;
	char doing[96];
	__u32 stuck_after_ms;
};

struct agent {
	const char *root;
	char cfg_path[PATH_MAX];
	bool detach_on_exit;

	pthread_mutex_t lock;
	struct drv_config *cfg;
	struct agent_svc *svcs;
	size_t nsvcs;
	struct drv_health hc;
	struct drv_want applied;
	bool dirty;
	struct timespec retry_at;
	bool retry;

	struct drv_ctl ro; /* handle for reading maps and counters, without the pin lock */
	bool ro_open; /* false while no maps are pinned (see ro_follow_pins) */
	bool ro_ever; /* ro was open once: maps pinned later replaced those */
	unsigned int ro_gen; /* bumped each time ro changes */
	__u64 ro_failed_sig; /* drv_pins_sig of pins that could not be opened */
	bool adopt_pending; /* pins_adopt failed: retried each poll */
	bool ready;
	bool first_write; /* ready once the maps are first written (start-up met the lock) */
	bool upgrade_pending; /* start-up met the lock: swap this build's program in later */
	char not_ready[128];
	struct drv_metrics *metrics;
	char metrics_listen[64];
	bool metrics_dirty; /* listen address may have changed: apply outside the lock */
	pthread_mutex_t pub_lock; /* guards pub only, held only to copy it */
	struct agent_pub pub;
	bool render_gave_up; /* render thread only: the last wait for ag->lock timed out */
	double stuck_for; /* HTTP thread only: the main loop's age /healthz last failed on; 0: alive */

	struct stat cfg_st;
	bool cfg_st_valid;
	__u64 tls_sig; /* tls_files_sig() of the running config when last loaded */
	__u64 reloads_ok, reloads_failed, sync_errors;
	bool last_reload_ok;
	double last_reload_ok_ts;
	/* A failed reload is tried again (its cause may pass) from this time, 0 for never. */
	double reload_retry_at, reload_backoff;
	char reload_err[DRV_CONF_ERR_MAX]; /* why the last reload failed, said once */
	__u32 flows_cached;
	double flows_cached_at;
	double leave_count_at; /* mono_now() of the next count of the leavers' flows */
	struct iface_watch ifw[DRV_MAX_IFACES]; /* by index in cfg->ifaces; main thread only */
	/*
	 * Interfaces a reload removed from the config while a drover command
	 * held the pin root's lock: detached once it lets go (detach_pending_run).
	 * Main thread only.
	 */
	char detach_pending[DRV_MAX_IFACES][IF_NAMESIZE];
	unsigned int ndetach_pending;

	/*
	 * systemd (Type=notify; sdnotify.h): READY=1 sent (main thread only);
	 * the STATUS= line last sent (under pub_lock: the watchdog thread clears
	 * it when it says the loop is stuck, so the loop sends its own again).
	 * The watchdog thread pings while the main loop is alive (loop_alive).
	 */
	struct drv_sd sd;
	bool sd_ready;
	bool sd_send_failed; /* a failed send was said (atomic: two threads send) */
	char sd_status[512];
	pthread_t wd_thread;
	bool wd_running;
	bool wd_stop; /* under wd_lock */
	pthread_mutex_t wd_lock;
	pthread_cond_t wd_cond;
};

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *node_addr(const struct agent_node *n, char *buf, size_t len)
{
	return drv_addr_format(&n->chk.addr, n->chk.family, buf, len);
}

/* Added to a node's UP/DOWN line while its service settles. */
#define SETTLE_HELD " (start-up settle: the table changes once every node has a verdict)"

/*
 * The longest a service settles: every node's max(rise, fall)-th check has
 * ended by then (the first starts within min(interval, 1 s), jitter only
 * shortens intervals), so a node whose checks never end (one that could not
 * start) holds the others no longer.
 */
static double settle_bound_s(const struct drv_hc_conf *hc)
{
	__u32 k = hc->rise > hc->fall ? hc->rise : hc->fall;

	return ((double)(k + 1) * hc->interval_ms + hc->timeout_ms) / 1000.0;
}

/* When a node failing its checks from @now on lets go of its flows; 0: at once. */
static double hold_end(const struct drv_hc_conf *hc, double now)
{
	return hc->rehash_after_ms ? now + hc->rehash_after_ms / 1000.0 : 0;
}

/* Start @n's hold at @now, for its service's rehash-after (none if that is 0). */
static void hold_start(struct agent_node *n, double now)
{
	n->rehash_at = hold_end(&n->svc->conf->hc, now);
	n->hold_from = now;
}

/*
 * End @as's settle once every node has a verdict or its bound has passed: the
 * next reconcile takes every node's health at once (failing open if none
 * passes). Caller holds ag->lock.
 */
static void settle_check(struct agent *ag, struct agent_svc *as, double now)
{
	const struct drv_service_conf *s = as->conf;
	size_t j, up = 0, pending = 0, first = 0;

	if (!as->settle_until)
		return;
	for (j = 0; j < s->nnodes; j++) {
		up += as->nodes[j].st.up;
		if (!as->nodes[j].verdict && !pending++)
			first = j;
	}
	if (pending && now < as->settle_until)
		return;
	as->settle_until = 0;
	ag->dirty = true;
	/*
	 * Up now: a hold kept over the settle (on_check) is over, its
	 * connections never left it. Failing, one the settle kept in the table
	 * took connections meanwhile: it leaves holding them for a new
	 * rehash-after, as when a fail-open ends (the hold its failure began
	 * may have run out in the settle: it would be DOWN at once).
	 */
	for (j = 0; j < s->nnodes; j++)
		if (as->nodes[j].st.up)
			as->nodes[j].rehash_at = 0;
		else if (as->nodes[j].held_up)
			hold_start(&as->nodes[j], now);
	if (!pending)
		pr_info("service %s: start-up settle over: every node has a verdict (%zu up, %zu down)\n",
			s->name, up, s->nnodes - up);
	else
		pr_warn("service %s: start-up settle over after %.1f s (%zu up, %zu down); %zu nodes had no verdict (first: %s) and count with their current state\n",
			s->name, now - as->settle_from, up, s->nnodes - up, pending,
			s->nodes[first].name);
}

/*
 * Say that a reload changed the rehash-after of node @name (@a; @leaving: ""
 * or ", leaving") of @s from @old_ms: its hold, begun at @from, ends at @end.
 */
static void hold_move_say(const struct drv_service_conf *s, const char *name, const char *a,
			  const char *leaving, __u32 old_ms, double from, double end, double now)
{
	if (end > now)
		pr_info("service %s: node %s (%s)%s: rehash-after is now %.1f s (was %.1f s): its open connections stay %.1f s more (it failed %.1f s ago)\n",
			s->name, name, a, leaving, s->hc.rehash_after_ms / 1000.0, old_ms / 1000.0,
			end - now, now - from);
	else
		pr_info("service %s: node %s (%s)%s: rehash-after is now %.1f s (was %.1f s): it failed %.1f s ago, so its hold is over\n",
			s->name, name, a, leaving, s->hc.rehash_after_ms / 1000.0, old_ms / 1000.0,
			now - from);
}

/*
 * A reload changed @n's rehash-after from @old_ms: its running hold ends
 * rehash-after from when it began, as if that had been the value all along.
 * One already over (also rehash-after 0) ends in the next holds_check, which
 * says so; rehash_at stays non-zero for it (hold_from > 0).
 */
static void hold_move(struct agent_node *n, __u32 old_ms, double now)
{
	const struct drv_service_conf *s = n->svc->conf;
	char a[DRV_ADDR_STRLEN];

	n->rehash_at = n->hold_from + s->hc.rehash_after_ms / 1000.0;
	hold_move_say(s, s->nodes[n->idx].name, node_addr(n, a, sizeof(a)), "", old_ms,
		      n->hold_from, n->rehash_at, now);
}

static const char *dur_str(__u32 ms, char *buf, size_t len)
{
	if (ms % 3600000 == 0)
		snprintf(buf, len, "%uh", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%us", ms / 1000);
	else
		snprintf(buf, len, "%.1fs", ms / 1000.0);
	return buf;
}

static const char *flows_str(long flows, char *buf, size_t len)
{
	if (flows < 0)
		snprintf(buf, len, "its open connections");
	else
		snprintf(buf, len, "its %ld open connections", flows);
	return buf;
}

/* Leaver @l is dead (@why): DOWN in the maps, drover resets its flows. */
static void leaver_dies(struct agent_leaver *l, const char *why)
{
	const struct drv_service_conf *s = l->node.svc->conf;
	char a[DRV_ADDR_STRLEN], d[32], f[64];

	node_addr(&l->node, a, sizeof(a));
	pr_info("service %s: node %s (%s), leaving, is down: %s: drover resets %s at their next packet; it is freed once they have ended (at most leave-after %s)\n",
		s->name, l->conf.name, a, why, flows_str(l->flows, f, sizeof(f)),
		dur_str(s->hc.leave_after_ms, d, sizeof(d)));
	l->dead = true;
	l->node.ag->dirty = true;
}

/*
 * End the holds that ran out: a node (or a leaver) that still fails its
 * checks when its rehash-after has passed turns DOWN in the maps, and the data
 * path resets its recorded flows (a bare SYN on one re-hashes). A fail-open keeps it UP meanwhile (its hold starts again when the
 * fail-open ends: reconcile); a settling service applies it when it settles.
 * Caller holds ag->lock.
 */
static void holds_check(struct agent *ag, struct agent_svc *as, double now)
{
	const struct drv_service_conf *s = as->conf;
	char a[DRV_ADDR_STRLEN], why[96];
	size_t j;

	for (j = 0; j < s->nnodes; j++) {
		struct agent_node *n = &as->nodes[j];

		/* passing its checks, held over a settle (on_check): never down */
		if (!n->rehash_at || now < n->rehash_at || n->st.up)
			continue;
		n->rehash_at = 0;
		ag->dirty = true;
		if (as->all_down || as->settle_until)
			continue;
		node_addr(n, a, sizeof(a));
		pr_info("service %s: node %s (%s) still fails its checks after rehash-after %.1f s: it is down: drover resets its open connections at their next packet\n",
			s->name, s->nodes[j].name, a, s->hc.rehash_after_ms / 1000.0);
	}
	for (j = 0; j < as->nleavers; j++) {
		struct agent_leaver *l = &as->leavers[j];

		/* passing its checks: never down (leaver_on_check ends the hold then) */
		if (l->gone || !l->node.rehash_at || now < l->node.rehash_at || l->node.st.up)
			continue;
		l->node.rehash_at = 0;
		snprintf(why, sizeof(why), "it still fails its checks after rehash-after %.1f s",
			 s->hc.rehash_after_ms / 1000.0);
		leaver_dies(l, why);
	}
}

/*
 * A leaver's check result: `fall` failures in a row and it keeps its
 * connections for rehash-after (a node too busy to answer, or a network
 * blip, still serves them); still failing then (holds_check), it is dead:
 * DOWN in the maps, so that drover resets its connections (a connection would
 * wait on a node that is gone); freed by leavers_check once they have ended.
 * rehash-after 0: dead at once. `rise` passes in a row and it leaves again
 * (LEAVING: what is left of them stays).
 */
static void leaver_on_check(struct agent_node *n, bool ok, const char *why)
{
	const struct drv_service_conf *s = n->svc->conf;
	struct agent_leaver *l = n->leaver;
	char a[DRV_ADDR_STRLEN], r[256];
	enum drv_hc_event ev = drv_hc_state_update(&n->st, ok, s->hc.rise, s->hc.fall);

	node_addr(n, a, sizeof(a));
	if (ev == DRV_HC_WENT_DOWN && !l->dead && !s->hc.rehash_after_ms) {
		snprintf(r, sizeof(r), "it failed %u %s checks (%s)", s->hc.fall,
			 drv_hc_kind_name(s->hc.kind), why);
		leaver_dies(l, r);
	} else if (ev == DRV_HC_WENT_DOWN && !l->dead) {
		pr_info("service %s: node %s (%s), leaving, fails its checks: it failed %u %s checks (%s): its open connections stay for rehash-after %.1f s; if it still fails then, drover resets them\n",
			s->name, l->conf.name, a, s->hc.fall, drv_hc_kind_name(s->hc.kind), why,
			s->hc.rehash_after_ms / 1000.0);
		hold_start(n, mono_now());
	} else if (ev == DRV_HC_WENT_UP && (l->dead || n->rehash_at)) {
		pr_info("service %s: node %s (%s), leaving, passes its checks again after %u %s checks: it leaves as before (%s)\n",
			s->name, l->conf.name, a, s->hc.rise, drv_hc_kind_name(s->hc.kind),
			l->dead ? "its open connections not reset yet stay" :
				  "within rehash-after: its open connections never left it");
		l->dead = false;
		n->rehash_at = 0;
		n->ag->dirty = true;
	} else if (!ok) {
		pr_debug("service %s: leaving node %s check failed (%u/%u): %s\n", s->name,
			 l->conf.name, n->st.fail_run, s->hc.fall, why);
	}
}

/*
 * Free the leavers whose time is up: its recorded flows all ended (at the
 * last count; a dead one's end at drover's RST, then tcp-fin), or health
 * leave-after passed. The next reconcile frees its backend ids. Caller holds
 * ag->lock.
 */
static void leavers_check(struct agent *ag, struct agent_svc *as, double now)
{
	const struct drv_service_conf *s = as->conf;
	char a[DRV_ADDR_STRLEN], d[32], f[64];
	size_t k;

	for (k = 0; k < as->nleavers; k++) {
		struct agent_leaver *l = &as->leavers[k];

		if (l->gone)
			continue;
		node_addr(&l->node, a, sizeof(a));
		if (!l->flows) {
			pr_info("service %s: node %s (%s), leaving, freed: its open connections have all ended (after %.1f s%s)\n",
				s->name, l->conf.name, a, now - l->from,
				l->dead ? "; it is down" : "");
		} else if (now >= l->until) {
			pr_info("service %s: node %s (%s), leaving, freed: health leave-after %s has passed: %s move to other nodes (they re-hash)\n",
				s->name, l->conf.name, a,
				dur_str(s->hc.leave_after_ms, d, sizeof(d)),
				flows_str(l->flows, f, sizeof(f)));
		} else {
			continue;
		}
		drv_health_remove(&ag->hc, &l->node.chk);
		l->gone = true;
		ag->dirty = true;
	}
}

/* Health callback: one result of one node of one service. */
static void on_check(struct drv_check *c, bool ok, const char *why, void *arg)
{
	struct agent_node *n = arg;
	const struct drv_service_conf *s = n->svc->conf;
	const struct drv_node_conf *nc = &s->nodes[n->idx];
	char a[DRV_ADDR_STRLEN];
	enum drv_hc_event ev;
	const char *held = n->svc->settle_until ? SETTLE_HELD : "", *kept = "";

	if (n->leaver) {
		leaver_on_check(n, ok, why);
		return;
	}
	ev = drv_hc_state_update(&n->st, ok, s->hc.rise, s->hc.fall);
	node_addr(n, a, sizeof(a));
	if (ev == DRV_HC_WENT_UP && n->rehash_at && !n->svc->all_down)
		kept = "; its open connections never left it (within rehash-after)";
	if (n->st.ok_run >= s->hc.rise || n->st.fail_run >= s->hc.fall)
		n->verdict = true;
	if (ev == DRV_HC_WENT_DOWN) {
		pr_info("service %s: node %s (%s) is DOWN after %u failed %s checks: %s%s\n",
			s->name, nc->name, a, s->hc.fall, drv_hc_kind_name(s->hc.kind), why, held);
		hold_start(n, mono_now());
		n->ag->dirty = true;
	} else if (ev == DRV_HC_WENT_UP) {
		pr_info("service %s: node %s (%s) is UP after %u passed %s checks, the last in %.1f ms%s%s\n",
			s->name, nc->name, a, s->hc.rise, drv_hc_kind_name(s->hc.kind),
			c->last_latency_s * 1e3, held, kept);
		/*
		 * While the service settles its table keeps the node out (held_up):
		 * the hold keeps it FAILING, not DOWN, so its connections stay until
		 * the settle ends (settle_check) and it is UP.
		 */
		if (!n->svc->settle_until)
			n->rehash_at = 0;
		n->ag->dirty = true;
	} else if (!ok) {
		pr_debug("service %s: node %s (%s) check failed (%u/%u): %s\n", s->name, nc->name,
			 a, n->st.fail_run, s->hc.fall, why);
	}
	settle_check(n->ag, n->svc, mono_now());
}

/* A service's backends in the pinned maps, read once for all its nodes (adopted_state). */
struct adopt_src {
	bool read;
	int n; /* backends in infos; 0: a new service, nothing to adopt */
	__be16 port;
	struct drv_be_info *infos;
};

static void adopt_read(struct agent *ag, const struct drv_service_conf *s, struct adopt_src *src)
{
	struct drv_svc_key key;
	struct drv_svc svc;

	src->read = true;
	if (!ag->ro_open)
		return;
	drv_svc_key_make(s, s->ports[0], &key);
	src->port = key.port;
	if (drv_service_get(&ag->ro, &key, &svc))
		return; /* a new service: nothing to adopt */
	src->infos = calloc(AGENT_MAX_BES, sizeof(*src->infos));
	if (src->infos)
		src->n = drv_backend_list(&ag->ro, &key, src->infos, AGENT_MAX_BES);
	if (src->n < 0)
		src->n = 0;
}

/*
 * The state of @nc's backend in the pinned maps (enum drv_be_state), or -1: not
 * there. It gives the node's initial health (svcs_build): a DOWN or FAILING
 * backend stays out until it rises (a FAILING one holds its flows for another
 * rehash-after); any other, or none, is assumed UP, so a restarted agent keeps
 * forwarding as before and never empties a table while its first checks run.
 */
static int adopted_state(struct agent *ag, const struct drv_service_conf *s, struct adopt_src *src,
			 const struct drv_node_conf *nc)
{
	int i;

	if (!src->read)
		adopt_read(ag, s, src);
	for (i = 0; i < src->n; i++)
		if (drv_node_is_backend(nc, src->port, &src->infos[i].be))
			return src->infos[i].be.state;
	return -1;
}

static void svcs_free(struct agent_svc *svcs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(svcs[i].nodes);
		free(svcs[i].leavers);
	}
	free(svcs);
}

static bool addr_same(__u8 fa, const union drv_addr *a, __u8 fb, const union drv_addr *b)
{
	return fa == fb && !memcmp(a, b, sizeof(*a));
}

/* Node @nc's index in @s, or -1. */
static int node_find(const struct drv_service_conf *s, const struct drv_node_conf *nc)
{
	size_t j;

	for (j = 0; j < s->nnodes; j++)
		if (addr_same(s->nodes[j].family, &s->nodes[j].addr, nc->family, &nc->addr))
			return (int)j;
	return -1;
}

/* A leaver of @os (not freed) with @nc's address, or NULL. */
static struct agent_leaver *leaver_find(struct agent_svc *os, const struct drv_node_conf *nc)
{
	size_t k;

	for (k = 0; os && k < os->nleavers; k++)
		if (!os->leavers[k].gone &&
		    addr_same(os->leavers[k].conf.family, &os->leavers[k].conf.addr, nc->family,
			      &nc->addr))
			return &os->leavers[k];
	return NULL;
}

/* A new leaver of @as for @nc, leaving from @from; its pointers are set by leavers_wire. */
static struct agent_leaver *leaver_add(struct agent_svc *as, const struct drv_node_conf *nc,
				       double from)
{
	struct agent_leaver *nl = realloc(as->leavers, (as->nleavers + 1) * sizeof(*nl));

	if (!nl)
		return NULL;
	as->leavers = nl;
	nl = &nl[as->nleavers++];
	memset(nl, 0, sizeof(*nl));
	nl->conf = *nc;
	nl->from = from;
	nl->until = from + as->conf->hc.leave_after_ms / 1000.0;
	nl->flows = -1;
	return nl;
}

/* Point @as's leavers' checks at themselves (the array moved while it grew). */
static void leavers_wire(struct agent *ag, struct agent_svc *as)
{
	const struct drv_service_conf *s = as->conf;
	size_t k;

	for (k = 0; k < as->nleavers; k++) {
		struct agent_leaver *l = &as->leavers[k];
		struct agent_node *n = &l->node;

		n->svc = as;
		n->ag = ag;
		n->leaver = l;
		n->verdict = true;
		n->chk.conf = &s->hc;
		n->chk.addr = l->conf.addr;
		n->chk.family = l->conf.family;
		n->chk.port = s->hc.port ? s->hc.port : s->ports[0];
		n->chk.cb = on_check;
		n->chk.arg = n;
		n->chk.fd = -1;
	}
}

/* A node's health state and check counters carried over from @on (a reload, a leaver). */
static void node_state_copy(struct agent_node *n, const struct agent_node *on)
{
	n->st = on->st;
	n->chk.last_ok = on->chk.last_ok;
	n->chk.last_latency_s = on->chk.last_latency_s;
	n->chk.n_ok = on->chk.n_ok;
	n->chk.n_fail = on->chk.n_fail;
}

/*
 * Leaver @l takes over @on's hold (a failing node, or a leaver failing its
 * checks): it ends rehash-after (@s's) from when it began. A reload that
 * changed rehash-after (from @old_ms) moves it, as hold_move does, and says
 * so. A node that passes its checks has none to carry, even one still held
 * over its service's settle (on_check): a leaver has no settle to end it, and
 * the hold would take it down, passing, when it ran out.
 */
static void leaver_hold_carry(struct agent_leaver *l, const struct agent_node *on,
			      const struct drv_service_conf *s, __u32 old_ms, double now)
{
	char a[DRV_ADDR_STRLEN];

	if (!on->rehash_at || on->st.up)
		return;
	l->node.hold_from = on->hold_from;
	l->node.rehash_at = on->hold_from + s->hc.rehash_after_ms / 1000.0;
	if (old_ms != s->hc.rehash_after_ms)
		hold_move_say(s, l->conf.name,
			      drv_addr_format(&l->conf.addr, l->conf.family, a, sizeof(a)),
			      ", leaving", old_ms, l->node.hold_from, l->node.rehash_at, now);
}

/*
 * The leavers of @as (a service of the new config; @os: the same service in
 * the running one, or NULL): the nodes of @os the new config no longer has and
 * the leavers of @os it does not have again go on leaving. Without @os (start-
 * up, or a service new to this agent), the backends of the service in the
 * pinned maps that no node has are adopted as leavers with a fresh
 * leave-after (a DOWN one dead): a restart never frees a node still holding
 * connections. With leave-after 0, nodes removed are freed at once.
 */
static int leavers_build(struct agent *ag, struct agent_svc *as, struct agent_svc *os, double now)
{
	const struct drv_service_conf *s = as->conf;
	char a[DRV_ADDR_STRLEN], d[32], f[64];
	struct drv_be_info *infos;
	struct agent_leaver *l;
	const char *kept_by;
	size_t m;
	unsigned int p;
	int k, nb;

	dur_str(s->hc.leave_after_ms, d, sizeof(d));
	for (m = 0; os && m < os->conf->nnodes; m++) {
		const struct drv_node_conf *nc = &os->conf->nodes[m];
		const struct agent_node *on = &os->nodes[m];

		if (node_find(s, nc) >= 0)
			continue;
		drv_addr_format(&nc->addr, nc->family, a, sizeof(a));
		if (!s->hc.leave_after_ms) {
			pr_info("service %s: node %s (%s) is no longer in the config: freed at once (health leave-after is 0): its open connections move to other nodes (they re-hash)\n",
				s->name, nc->name, a);
			continue;
		}
		l = leaver_add(as, nc, now);
		if (!l)
			return -ENOMEM;
		node_state_copy(&l->node, on);
		/*
		 * A failing node goes on holding its connections: what is left
		 * of its rehash-after. One a fail-open or a settle kept in the
		 * table took connections meanwhile: it holds them for a new
		 * rehash-after, as the nodes that still fail when a fail-open
		 * (reconcile) or a settle (settle_check) ends do, not down at
		 * once for a hold that ran out while it was UP.
		 */
		kept_by = NULL;
		if (!on->st.up && os->all_down)
			kept_by = "the fail-open";
		else if (!on->st.up && os->settle_until && on->held_up)
			kept_by = "the start-up settle";
		if (kept_by) {
			l->node.hold_from = now;
			l->node.rehash_at = hold_end(&s->hc, now);
		} else {
			leaver_hold_carry(l, on, s, os->conf->hc.rehash_after_ms, now);
		}
		l->dead = !on->st.up && !l->node.rehash_at;
		ag->leave_count_at = 0; /* count its flows soon */
		if (l->node.rehash_at && kept_by)
			pr_info("service %s: node %s (%s) is no longer in the config and fails its checks (%s kept it in the table): it leaves: out of the table, its open connections stay for rehash-after (%.1f s); if it still fails then, drover resets them\n",
				s->name, nc->name, a, kept_by, s->hc.rehash_after_ms / 1000.0);
		else if (l->node.rehash_at)
			pr_info("service %s: node %s (%s) is no longer in the config and fails its checks: it leaves: out of the table, its open connections stay for what is left of rehash-after (%.1f s); if it still fails then, drover resets them\n",
				s->name, nc->name, a,
				l->node.rehash_at > now ? l->node.rehash_at - now : 0.0);
		else if (l->dead)
			pr_info("service %s: node %s (%s) is no longer in the config and fails its checks: it leaves down: drover resets its open connections at their next packet; it is freed once they have ended (at most leave-after %s)\n",
				s->name, nc->name, a, d);
		else
			pr_info("service %s: node %s (%s) is no longer in the config: it leaves: out of the table, its open connections stay until they end (at most leave-after %s); if its checks fail, drover resets them\n",
				s->name, nc->name, a, d);
	}
	for (m = 0; os && m < os->nleavers; m++) {
		const struct agent_leaver *ol = &os->leavers[m];

		if (ol->gone || node_find(s, &ol->conf) >= 0)
			continue; /* freed, or back in the config (svcs_build) */
		drv_addr_format(&ol->conf.addr, ol->conf.family, a, sizeof(a));
		if (!s->hc.leave_after_ms) {
			pr_info("service %s: node %s (%s), leaving, freed: health leave-after is now 0: %s move to other nodes (they re-hash)\n",
				s->name, ol->conf.name, a, flows_str(ol->flows, f, sizeof(f)));
			continue;
		}
		l = leaver_add(as, &ol->conf, ol->from);
		if (!l)
			return -ENOMEM;
		node_state_copy(&l->node, &ol->node);
		leaver_hold_carry(l, &ol->node, s, os->conf->hc.rehash_after_ms, now);
		l->flows = ol->flows;
		l->dead = ol->dead;
	}
	if (os || !ag->ro_open || !s->hc.leave_after_ms)
		return 0;
	infos = calloc(AGENT_MAX_BES, sizeof(*infos));
	if (!infos)
		return -ENOMEM;
	for (p = 0; p < s->nports; p++) {
		struct drv_svc_key key;
		struct drv_svc svc;

		drv_svc_key_make(s, s->ports[p], &key);
		if (drv_service_get(&ag->ro, &key, &svc))
			continue;
		nb = drv_backend_list(&ag->ro, &key, infos, AGENT_MAX_BES);
		for (k = 0; k < nb; k++) {
			const struct drv_backend *be = &infos[k].be;
			struct drv_node_conf nc = { 0 };
			size_t j;
			bool known = false;

			if (be->port != key.port)
				continue;
			for (j = 0; j < s->nnodes && !known; j++)
				known = drv_node_is_backend(&s->nodes[j], key.port, be);
			nc.addr = be->addr;
			nc.family = be->family;
			nc.weight = be->weight;
			drv_addr_format(&be->addr, be->family, nc.name, sizeof(nc.name));
			if (known || leaver_find(as, &nc))
				continue;
			l = leaver_add(as, &nc, now);
			if (!l) {
				free(infos);
				return -ENOMEM;
			}
			/* DOWN: a leaver that died under the agent before (its flows are reset) */
			l->dead = be->state == DRV_BE_DOWN;
			drv_hc_state_init(&l->node.st, !l->dead);
			ag->leave_count_at = 0;
			if (l->dead)
				pr_info("service %s: backend %s (down in the pinned maps) is no node of the config: it leaves down: drover resets its open connections at their next packet; it is freed once they have ended (at most leave-after %s)\n",
					s->name, nc.name, d);
			else
				pr_info("service %s: backend %s (%s in the pinned maps) is no node of the config: it leaves: out of the table, its open connections stay until they end (at most leave-after %s); if its checks fail, drover resets them\n",
					s->name, nc.name, drv_be_state_name(be->state), d);
		}
	}
	free(infos);
	return 0;
}

/*
 * Say what becomes of leaver @ol, back in the config as node @n (its state
 * taken over): one that passes its checks is in the table again, its
 * connections never moved; one that fails them goes on holding them for what
 * is left of rehash-after (FAILING); a dead one stays DOWN, its connections
 * reset. Either of the last two joins once `rise` checks pass.
 */
static void leaver_back_say(const struct agent_node *n, const struct agent_leaver *ol, double now)
{
	const struct drv_service_conf *s = n->svc->conf;
	const char *name = s->nodes[n->idx].name;
	char a[DRV_ADDR_STRLEN], f[64];

	node_addr(n, a, sizeof(a));
	if (n->st.up)
		pr_info("service %s: node %s (%s), leaving, is back in the config: it stays (same backend; its open connections never moved)\n",
			s->name, name, a);
	else if (n->rehash_at)
		pr_info("service %s: node %s (%s), leaving, is back in the config and fails its checks: it stays out of the table (same backend), its open connections held for what is left of rehash-after (%.1f s); if it still fails then, drover resets them; it joins once %u checks pass\n",
			s->name, name, a, n->rehash_at > now ? n->rehash_at - now : 0.0,
			s->hc.rise);
	else
		pr_info("service %s: node %s (%s), leaving, is back in the config and down: it stays down (same backend): drover resets %s at their next packet; it joins once %u checks pass\n",
			s->name, name, a, flows_str(ol->flows, f, sizeof(f)), s->hc.rise);
}

/*
 * Build the per-node health state for @cfg. A node known in @old (same service
 * name and address) keeps its state and counters; another one is adopted from
 * the maps. A node new to a service that keeps other nodes (from @old or
 * the maps) starts DOWN and joins once `rise` checks pass: assumed UP, it
 * would take new connections before any check, and end a fail-open (moving
 * every open connection off the other nodes) without having passed one. When
 * no node carries over (a new service, or all its nodes replaced), they start
 * UP: a table is never emptied, nor a fail-open started, before any check.
 * A service none of whose nodes is in @old settles (struct agent_svc); one
 * settling in @old goes on settling.
 */
static int svcs_build(struct agent *ag, const struct drv_config *cfg, struct agent_svc *old,
		      size_t nold, struct agent_svc **out)
{
	struct agent_svc *svcs;
	size_t i, j, k, m, carried, kept;
	double now = mono_now();

	svcs = calloc(cfg->nservices, sizeof(*svcs));
	if (!svcs)
		return -ENOMEM;
	for (i = 0; i < cfg->nservices; i++) {
		const struct drv_service_conf *s = &cfg->services[i];
		struct adopt_src src = { 0 };
		struct agent_svc *os = NULL;

		svcs[i].conf = s;
		svcs[i].nodes = calloc(s->nnodes, sizeof(*svcs[i].nodes));
		if (!svcs[i].nodes) {
			svcs_free(svcs, i);
			return -ENOMEM;
		}
		for (k = 0; k < nold; k++)
			if (!strcmp(old[k].conf->name, s->name))
				os = &old[k];
		if (os)
			svcs[i].all_down = os->all_down;
		carried = 0;
		kept = 0;
		for (j = 0; j < s->nnodes; j++) {
			struct agent_node *n = &svcs[i].nodes[j];
			const struct drv_node_conf *nc = &s->nodes[j];
			const struct agent_leaver *ol;
			bool found = false, up;

			n->svc = &svcs[i];
			n->ag = ag;
			n->idx = j;
			n->chk.conf = &s->hc;
			n->chk.addr = nc->addr;
			n->chk.family = nc->family;
			n->chk.port = s->hc.port ? s->hc.port : s->ports[0];
			n->chk.cb = on_check;
			n->chk.arg = n;
			n->chk.fd = -1;
			for (m = 0; os && m < os->conf->nnodes; m++) {
				if (memcmp(&os->conf->nodes[m].addr, &nc->addr, sizeof(nc->addr)))
					continue;
				node_state_copy(n, &os->nodes[m]);
				n->held_up = os->nodes[m].held_up;
				n->verdict = os->nodes[m].verdict;
				n->rehash_at = os->nodes[m].rehash_at;
				n->hold_from = os->nodes[m].hold_from;
				/*
				 * One that passes its checks, held over a settle
				 * (on_check), is up when it ends: no hold to move.
				 */
				if (n->rehash_at && !n->st.up &&
				    s->hc.rehash_after_ms != os->conf->hc.rehash_after_ms)
					hold_move(n, os->conf->hc.rehash_after_ms, now);
				found = true;
				kept++;
				break;
			}
			ol = found ? NULL : leaver_find(os, nc);
			if (ol) {
				node_state_copy(n, &ol->node);
				n->held_up = n->st.up;
				n->verdict = true;
				/* failing its checks: it holds its connections on, as FAILING */
				n->rehash_at = ol->node.rehash_at;
				n->hold_from = ol->node.hold_from;
				if (n->rehash_at &&
				    s->hc.rehash_after_ms != os->conf->hc.rehash_after_ms)
					hold_move(n, os->conf->hc.rehash_after_ms, now);
				found = true;
				kept++;
				leaver_back_say(n, ol, now);
			}
			if (!found) {
				int st = adopted_state(ag, s, &src, nc);

				found = st >= 0;
				up = st != DRV_BE_DOWN && st != DRV_BE_FAILING;
				drv_hc_state_init(&n->st, up);
				n->held_up = up; /* a node that joins a settling service too */
				if (st == DRV_BE_FAILING)
					hold_start(n, now);
				if (!up)
					pr_info("service %s: node %s is %s in the pinned maps; it stays out until %u checks pass%s\n",
						s->name, nc->name,
						st == DRV_BE_DOWN ? "DOWN" : "failing", s->hc.rise,
						n->rehash_at ?
							", its open connections held for rehash-after" :
							"");
			}
			n->fresh = !found;
			carried += found;
		}
		free(src.infos);
		if (leavers_build(ag, &svcs[i], os, now)) {
			svcs_free(svcs, i + 1);
			return -ENOMEM;
		}
		leavers_wire(ag, &svcs[i]);
		/* all nodes replaced: a fresh start, no fail-open to end */
		if (!carried)
			svcs[i].all_down = false;
		/* Nodes new to a service that keeps others wait for their checks. */
		for (j = 0; carried && j < s->nnodes; j++) {
			if (!svcs[i].nodes[j].fresh)
				continue;
			drv_hc_state_init(&svcs[i].nodes[j].st, false);
			svcs[i].nodes[j].held_up = false;
			pr_info("service %s: node %s is new; it joins once %u checks pass\n",
				s->name, s->nodes[j].name, s->hc.rise);
		}
		if (kept) {
			svcs[i].settle_until = os->settle_until;
			svcs[i].settle_from = os->settle_from;
		} else {
			svcs[i].settle_until = now + settle_bound_s(&s->hc);
			svcs[i].settle_from = now;
		}
	}
	*out = svcs;
	return 0;
}

static void checks_stop(struct agent *ag)
{
	size_t i, j;

	for (i = 0; i < ag->nsvcs; i++) {
		for (j = 0; j < ag->svcs[i].conf->nnodes; j++)
			drv_health_remove(&ag->hc, &ag->svcs[i].nodes[j].chk);
		for (j = 0; j < ag->svcs[i].nleavers; j++)
			drv_health_remove(&ag->hc, &ag->svcs[i].leavers[j].node.chk);
	}
}

/* What drv_snat_warn says of each nat service: its ports and its address on this host. */
static void snat_check(const struct drv_config *cfg)
{
	const struct drv_service_conf *s;
	size_t i;

	for (i = 0; i < cfg->nservices; i++) {
		s = &cfg->services[i];
		if (s->mode == DRV_MODE_NAT)
			drv_snat_warn(s->name, s->family, &s->snat, s->snat_port_lo,
				      s->snat_port_hi);
	}
}

/* Start every node's checks; one that cannot start does not keep the others from theirs. */
static int checks_start(struct agent *ag)
{
	size_t i, j;
	int err, first = 0;

	for (i = 0; i < ag->nsvcs; i++)
		for (j = 0; j < ag->svcs[i].conf->nnodes; j++) {
			err = drv_health_add(&ag->hc, &ag->svcs[i].nodes[j].chk);
			if (err) {
				pr_warn("service %s: cannot check node %s: %s\n",
					ag->svcs[i].conf->name, ag->svcs[i].conf->nodes[j].name,
					strerror(-err));
				if (!first)
					first = err;
			}
		}
	for (i = 0; i < ag->nsvcs; i++)
		for (j = 0; j < ag->svcs[i].nleavers; j++) {
			struct agent_leaver *l = &ag->svcs[i].leavers[j];

			if (l->gone)
				continue;
			err = drv_health_add(&ag->hc, &l->node.chk);
			if (err) {
				pr_warn("service %s: cannot check leaving node %s: %s\n",
					ag->svcs[i].conf->name, l->conf.name, strerror(-err));
				if (!first)
					first = err;
			}
		}
	return first;
}

/* Collect the pinned services as "unknown" applied state, so the next plan deletes strays. */
static int collect_pinned(const struct drv_svc_key *key, const struct drv_svc *svc, void *arg)
{
	struct drv_want *w = arg;
	struct drv_want_svc *ns;

	(void)svc;
	ns = realloc(w->svcs, (w->n + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	w->svcs = ns;
	memset(&w->svcs[w->n], 0, sizeof(w->svcs[w->n]));
	w->svcs[w->n].conf.key = *key;
	w->svcs[w->n].unknown = true;
	w->n++;
	return 0;
}

/*
 * Forget what we believe we applied and take the pinned services, as unknown,
 * instead (at start-up, and at each reload): the next reconcile then compares
 * the config with the maps themselves, so changes made behind the agent's back
 * (the CLI, a detach and re-attach that made fresh maps) are put right.
 * Return: 0, or -errno with the applied state kept as it was.
 */
static int applied_from_pins(struct agent *ag, struct drv_ctl *ctl)
{
	struct drv_want pinned = { 0 };
	int err = drv_service_foreach(ctl, collect_pinned, &pinned);

	if (err) {
		drv_want_free(&pinned);
		return err;
	}
	drv_want_free(&ag->applied);
	ag->applied = pinned;
	return 0;
}

static void set_retry_ms(struct agent *ag, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, &ag->retry_at);
	ag->retry_at.tv_nsec += ms * 1000000;
	ag->retry_at.tv_sec += ag->retry_at.tv_nsec / 1000000000;
	ag->retry_at.tv_nsec %= 1000000000;
	ag->retry = true;
}

static void set_retry(struct agent *ag)
{
	set_retry_ms(ag, AGENT_RETRY_MS);
}

static int cfg_timeouts_write(struct agent *ag, struct drv_ctl *ctl)
{
	struct drv_cfg c;
	int err = drv_cfg_read(ctl, &c);

	if (err)
		return err;
	if (c.tcp_idle_timeout_s == ag->cfg->tcp_idle_timeout_s &&
	    c.tcp_fin_timeout_s == ag->cfg->tcp_fin_timeout_s)
		return 0;
	c.tcp_idle_timeout_s = ag->cfg->tcp_idle_timeout_s;
	c.tcp_fin_timeout_s = ag->cfg->tcp_fin_timeout_s;
	return drv_cfg_write(ctl, &c);
}

struct reconcile_arg {
	struct agent *ag;
	struct drv_ctl *rw;
	const struct drv_want *next;
	struct drv_want *done; /* what is applied once the plan ran */
};

static int reconcile_step(const struct drv_plan_step *st, void *arg)
{
	struct reconcile_arg *ra = arg;
	const struct drv_want_svc *w = &ra->next->svcs[st->idx];

	if (st->op == DRV_PLAN_DEL) {
		int err = drv_service_del(ra->rw, &st->key);

		return err == -ENOENT ? 0 : err;
	}
	return drv_service_sync(ra->rw, &w->conf, w->bes, w->nbes);
}

static void reconcile_step_done(const struct drv_plan_step *st, int err, void *arg)
{
	struct reconcile_arg *ra = arg;
	struct drv_want *done = ra->done;
	struct drv_want_svc *ns;
	char kbuf[128], ids[96] = "";
	__u32 used;

	drv_svc_key_str(&st->key, kbuf, sizeof(kbuf));
	if (st->op == DRV_PLAN_DEL) {
		if (!err) {
			pr_info("removed service %s (no longer in the config)\n", kbuf);
			return;
		}
		pr_warn("reconcile: cannot delete service %s: %s\n", kbuf, strerror(-err));
		/* Keep it as applied (unknown), so the next round tries again. */
		ns = realloc(done->svcs, (done->n + 1) * sizeof(*ns));
		if (ns) {
			done->svcs = ns;
			memset(&ns[done->n], 0, sizeof(ns[done->n]));
			ns[done->n].conf.key = st->key;
			ns[done->n].unknown = true;
			done->n++;
		}
		return;
	}
	if (!err) {
		pr_debug("reconcile: service %s updated\n", kbuf);
		return;
	}
	if (err == -ENOSPC && !drv_backend_ids_used(ra->rw, &used))
		snprintf(ids, sizeof(ids), " (%u of the %d backend ids are in use)", used,
			 DRV_MAX_BACKENDS - 1);
	pr_warn("reconcile: cannot update service %s (%s): %s%s; retrying\n", kbuf,
		ra->ag->cfg->services[ra->next->svcs[st->idx].cfg_idx].name, strerror(-err), ids);
	done->svcs[st->idx].unknown = true;
}

static const struct drv_plan_ops reconcile_ops = { .run = reconcile_step,
						   .done = reconcile_step_done };

/* Does every node of @s have drain: true (its table empty on purpose, no fail-open)? */
static bool svc_all_drained(const struct drv_service_conf *s)
{
	size_t j;

	for (j = 0; j < s->nnodes; j++)
		if (!s->nodes[j].drain)
			return false;
	return true;
}

/* Make the maps equal config × health. Caller holds ag->lock. */
static int reconcile(struct agent *ag)
{
	struct drv_want next, done;
	struct drv_plan plan = { 0 };
	struct reconcile_arg ra;
	struct drv_ctl rw;
	struct drv_leavers *leave;
	struct drv_leaver *lv, *lv0;
	bool **up, **hold;
	double now = mono_now();
	size_t i, j, nlv = 0;
	int err, failed = 0;

	ag->dirty = false;
	ag->retry = false;
	for (i = 0; i < ag->nsvcs; i++)
		nlv += ag->svcs[i].nleavers;
	up = calloc(ag->nsvcs ? 2 * ag->nsvcs : 1, sizeof(*up));
	leave = calloc(ag->nsvcs ? ag->nsvcs : 1, sizeof(*leave));
	lv0 = lv = calloc(nlv ? nlv : 1, sizeof(*lv));
	if (!up || !leave || !lv) {
		free(lv0);
		free(leave);
		free(up);
		set_retry(ag); /* the health states are not written yet: try again */
		return -ENOMEM;
	}
	hold = up + ag->nsvcs;
	for (i = 0; i < ag->nsvcs; i++) {
		struct agent_svc *as = &ag->svcs[i];
		bool any_up = false, any_active = false;

		up[i] = calloc(2 * as->conf->nnodes, sizeof(**up));
		if (!up[i]) {
			err = -ENOMEM;
			goto out_free_up;
		}
		hold[i] = up[i] + as->conf->nnodes;
		for (j = 0; j < as->conf->nnodes; j++) {
			up[i][j] = as->settle_until ? as->nodes[j].held_up : as->nodes[j].st.up;
			if (as->conf->nodes[j].drain)
				continue;
			any_active = true;
			any_up |= up[i][j];
		}
		/*
		 * The nodes a fail-open kept UP that still fail leave the table
		 * when it ends (a node passes again, or a reload drained every
		 * one): they hold the flows they took meanwhile, as a node that
		 * has just failed does.
		 */
		for (j = 0; as->all_down && (any_up || !any_active) && j < as->conf->nnodes; j++)
			if (!up[i][j])
				hold_start(&as->nodes[j], now);
		for (j = 0; j < as->conf->nnodes; j++)
			hold[i][j] = as->nodes[j].rehash_at != 0;
		leave[i].v = lv;
		for (j = 0; j < as->nleavers; j++) {
			if (as->leavers[j].gone)
				continue;
			lv->addr = as->leavers[j].conf.addr;
			lv->family = as->leavers[j].conf.family;
			lv->down = as->leavers[j].dead;
			lv++;
			leave[i].n++;
		}
	}
	err = drv_want_build(ag->cfg, up, hold, leave, &next);
	if (err)
		goto out_free_up;
	for (i = 0; i < next.n; i++) {
		struct agent_svc *as = &ag->svcs[next.svcs[i].cfg_idx];

		if (next.svcs[i].port != as->conf->ports[0] ||
		    next.svcs[i].all_down == as->all_down)
			continue;
		as->all_down = next.svcs[i].all_down;
		if (as->all_down)
			pr_warn("service %s: no node passes its health check; failing open: every non-drained node stays in the table until one recovers\n",
				as->conf->name);
		else if (svc_all_drained(as->conf) && as->conf->hc.rehash_after_ms)
			pr_info("service %s: every node is drained; fail-open is over (the table is empty on purpose): the nodes that still fail hold their open connections for rehash-after %.1f s\n",
				as->conf->name, as->conf->hc.rehash_after_ms / 1000.0);
		else if (svc_all_drained(as->conf))
			pr_info("service %s: every node is drained; fail-open is over (the table is empty on purpose): drover resets the open connections of the nodes that still fail\n",
				as->conf->name);
		else
			pr_info("service %s: a node passes its health check again; fail-open is over\n",
				as->conf->name);
	}
	err = drv_plan_make(&ag->applied, &next, &plan);
	if (err)
		goto out_free_next;
	if (!plan.n)
		goto out_free_plan;

	/*
	 * Never wait for the lock here: the health checks run in this loop. A
	 * drover command holds it for milliseconds (an attach, while the
	 * verifier runs: seconds); try again shortly.
	 */
	err = drv_ctl_open(&rw, ag->root, DRV_CTL_F_LOCK | DRV_CTL_F_TRYLOCK);
	if (err == -EWOULDBLOCK) {
		set_retry_ms(ag, AGENT_LOCK_RETRY_MS);
		goto out_free_plan;
	}
	if (err) {
		pr_warn("reconcile: cannot open the pinned maps under %s: %s; retrying\n", ag->root,
			strerror(-err));
		ag->sync_errors++;
		set_retry(ag);
		goto out_free_plan;
	}
	err = drv_want_copy(&next, &done);
	if (err)
		goto out_close;
	ra = (struct reconcile_arg){ .ag = ag, .rw = &rw, .next = &next, .done = &done };
	failed = drv_plan_run(&plan, &reconcile_ops, &ra);
	drv_want_free(&ag->applied);
	ag->applied = done;
	if (failed) {
		ag->sync_errors += failed;
		set_retry(ag);
	}
	err = failed ? -EIO : 0;
out_close:
	drv_ctl_close(&rw);
out_free_plan:
	drv_plan_free(&plan);
out_free_next:
	drv_want_free(&next);
out_free_up:
	for (i = 0; i < ag->nsvcs; i++)
		free(up[i]);
	free(up);
	free(lv0);
	free(leave);
	if (err == -ENOMEM)
		set_retry(ag); /* the health states are not written yet: try again */
	return err;
}

static bool iface_in(const struct drv_config *cfg, const char *ifname)
{
	unsigned int i;

	for (i = 0; cfg && i < cfg->nifaces; i++)
		if (!strcmp(cfg->ifaces[i], ifname))
			return true;
	return false;
}

/* The link pin named @ifname among the @n of drv_prog_list (one per name), or NULL. */
static const struct drv_prog_iface *iface_pin(const struct drv_prog_iface *ifs, int n,
					      const char *ifname)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(ifs[i].ifname, ifname))
			return &ifs[i];
	return NULL;
}

static bool iface_attached(struct agent *ag, const char *ifname)
{
	struct drv_prog_iface ifs[DRV_MAX_IFACES];
	const struct drv_prog_iface *p =
		iface_pin(ifs, drv_prog_list(ag->root, ifs, DRV_MAX_IFACES), ifname);

	return p && p->ifindex && !p->renamed[0];
}

/*
 * Say so when an interface does not forward a family that services use: the
 * program's FIB lookups need forwarding on the ingress device, and without it
 * every packet of those services is dropped (drop_fib). The pod can't set it.
 */
static void forwarding_check_iface(const struct drv_config *cfg, const char *ifname)
{
	static const char *const fam[2] = { "ipv4", "ipv6" };
	bool used[2] = { false, false };
	unsigned int i, f;

	for (i = 0; i < cfg->nservices; i++)
		used[cfg->services[i].family == DRV_FAMILY_V6] = true;
	for (f = 0; f < 2; f++)
		if (used[f])
			drv_fwd_warn(fam[f], ifname, f ? "the IPv6 services" : "the IPv4 services");
}

/*
 * The agent's attaches (DRV_ATTACH_F_NO_FWD_WARN) leave this to it: it knows
 * which families are used, and says it once per interface and occasion.
 */
static void forwarding_check(const struct drv_config *cfg)
{
	unsigned int i;

	for (i = 0; i < cfg->nifaces; i++)
		forwarding_check_iface(cfg, cfg->ifaces[i]);
}

/*
 * Is @ifname, an interface of the running config, away: its pin holds drover's
 * link on a device deleted (defunct) or renamed since? ifaces_follow attaches
 * it again when it is back; a reload must not try (and fail) meanwhile.
 */
static bool iface_away(struct agent *ag, const char *ifname)
{
	struct drv_prog_iface ifs[DRV_MAX_IFACES];
	const struct drv_prog_iface *p;

	if (!iface_in(ag->cfg, ifname))
		return false;
	p = iface_pin(ifs, drv_prog_list(ag->root, ifs, DRV_MAX_IFACES), ifname);
	return p && (!p->ifindex || p->renamed[0]);
}

/* Why ifaces_attach left an interface to ifaces_follow. */
enum iface_left {
	IFACE_HANDLED, /* attached (now or before), or away (iface_away) */
	IFACE_MISSING, /* it does not exist (yet) */
	IFACE_LOCKED, /* a drover command holds the pin root's lock */
};

/*
 * Attach every interface of @cfg that is not attached yet; on failure undo what
 * this call did. @attached (NULL: not wanted; indexed like @cfg->ifaces) says
 * which ones this call attached, the others being attached before, left to
 * ifaces_follow, or not tried after a failure. An interface that does not exist (yet: a bond or VLAN the OS
 * creates after the agent starts) is no failure: it is marked in @missing, and
 * ifaces_follow attaches it once it appears. So is one met while a drover
 * command holds the pin root's lock (an attach: seconds): the agent never
 * waits for it, as its checks, signals and /metrics would wait too. A reload
 * leaves those of the running config that are away (iface_away) to
 * ifaces_follow as well.
 */
static int ifaces_attach(struct agent *ag, const struct drv_config *cfg, enum iface_left *missing,
			 bool *attached)
{
	bool done[DRV_MAX_IFACES] = { false };
	unsigned int i;
	int err = 0;

	if (attached)
		memset(attached, 0, cfg->nifaces * sizeof(*attached));

	for (i = 0; i < cfg->nifaces; i++) {
		missing[i] = IFACE_HANDLED;
		if (iface_attached(ag, cfg->ifaces[i]))
			continue;
		if (cfg != ag->cfg && iface_away(ag, cfg->ifaces[i])) {
			pr_info("reload: %s is away (deleted or renamed, said above): attached again once it is back\n",
				cfg->ifaces[i]);
			continue;
		}
		if (!if_nametoindex(cfg->ifaces[i])) {
			missing[i] = IFACE_MISSING;
			continue;
		}
		err = drv_prog_attach_flags(ag->root, cfg->ifaces[i], cfg->xdp_mode,
					    DRV_ATTACH_F_TRYLOCK | DRV_ATTACH_F_NO_FWD_WARN);
		if (err == -ENODEV || err == -EWOULDBLOCK) {
			/* deleted since if_nametoindex(), or the lock is held */
			missing[i] = err == -ENODEV ? IFACE_MISSING : IFACE_LOCKED;
			err = 0;
			continue;
		}
		if (err) {
			pr_warn("cannot attach to %s: %s (see the message above)\n", cfg->ifaces[i],
				strerror(-err));
			break;
		}
		done[i] = true; /* drv_prog_attach logged it */
	}
	if (err) {
		for (i = 0; i < cfg->nifaces; i++)
			if (done[i])
				drv_prog_detach(ag->root, cfg->ifaces[i]);
	} else if (attached) {
		memcpy(attached, done, cfg->nifaces * sizeof(*attached));
	}
	return err;
}

/*
 * A start-up failed after attaching: take drover off the interfaces it
 * attached (@attached, from ifaces_attach), which would run an XDP program
 * that no agent updates, so the host is as it was before the agent started.
 * Those attached before it started (by drover attach, or an earlier agent this
 * one adopted) keep drover and forward with the tables they have: they
 * forwarded so before, and a next agent adopts them. @keep_maps: maps were
 * pinned before the start-up (an earlier detach keep-maps kept them): they
 * stay even when the last interface goes; else the maps this start-up pinned
 * go with it. What its first write of the maps got through stays (it is what
 * the config asks for).
 */
static void startup_undo(struct agent *ag, const bool *attached, bool keep_maps)
{
	unsigned int i;

	for (i = 0; i < ag->cfg->nifaces; i++) {
		const char *name = ag->cfg->ifaces[i];

		if (attached[i]) {
			if (drv_prog_detach_opts(ag->root, name, keep_maps)) /* said why */
				pr_warn("agent: start-up failed: drover stays on %s, which it attached, with no agent updating it: take it off (drover detach %s) or start the agent again once the cause is fixed\n",
					name, name);
		} else if (iface_attached(ag, name)) {
			pr_info("agent: start-up failed: %s was attached before this agent started: it keeps drover, forwarding with the tables it has\n",
				name);
		}
	}
}

/*
 * Mark the interfaces ifaces_attach left (@missing) as waited for in @ifw
 * (indexed like @cfg->ifaces), and say so once: not again for one that was
 * waited for already (@ifw carries it over from the running config).
 */
static void ifaces_wait(const struct agent *ag, const struct drv_config *cfg,
			const enum iface_left *missing, struct iface_watch *ifw)
{
	unsigned int i;

	for (i = 0; i < cfg->nifaces; i++) {
		bool locked = missing[i] == IFACE_LOCKED;

		if (missing[i] == IFACE_HANDLED) {
			ifw[i].waiting = false;
			continue;
		}
		if (locked && (!ifw[i].waiting || !ifw[i].locked))
			pr_info("interface %s: a drover command holds the lock on %s: the agent attaches drover to it once it lets go; /readyz answers 503 until then\n",
				cfg->ifaces[i], ag->root);
		else if (!locked && (!ifw[i].waiting || ifw[i].locked))
			pr_warn("interface %s does not exist (yet) in this network namespace: the agent attaches drover to it once it appears; /readyz answers 503 until then (an interface of another namespace, a container's, needs the agent run inside it)\n",
				cfg->ifaces[i]);
		memset(&ifw[i], 0, sizeof(ifw[i]));
		ifw[i].waiting = true;
		ifw[i].locked = locked;
		ifw[i].gone_said = true;
	}
}

/* Retries after a failure (a reload, an attach): 2 s, then twice as long each time, up to a minute. */
#define AGENT_RETRY_MIN_S 2.0
#define AGENT_RETRY_MAX_S 60.0

/* The wait before the next retry, the last one having waited @cur (0: none yet). */
static double retry_backoff(double cur)
{
	if (!cur)
		return AGENT_RETRY_MIN_S;
	return cur * 2 > AGENT_RETRY_MAX_S ? AGENT_RETRY_MAX_S : cur * 2;
}

/*
 * Attach drover again to the configured interfaces whose link the kernel took
 * away. Deleting an interface leaves its link pin defunct (a link with no
 * device); when an interface of that name is there again (re-created: a new
 * ifindex), drover is attached to it within a poll, without a reload. So is an
 * interface that did not exist when the config was loaded (waiting), once it
 * appears. A pin removed (drover detach) is left alone: that detach was meant,
 * and a reload attaches again. An attach the kernel or another XDP program refuses is tried
 * again 2 s later, then twice as long each time up to a minute, and at once
 * when the device or its XDP programs change. Main thread, without ag->lock
 * (an attach may run the verifier); never waits for the pin root's lock.
 */
static void ifaces_follow(struct agent *ag)
{
	struct drv_prog_iface ifs[DRV_MAX_IFACES];
	int n = drv_prog_list(ag->root, ifs, DRV_MAX_IFACES), idx, err;
	double now = mono_now();
	unsigned int i;

	if (n < 0)
		return; /* the pin root can't be read: the next poll */
	for (i = 0; i < ag->cfg->nifaces; i++) {
		const char *name = ag->cfg->ifaces[i];
		const struct drv_prog_iface *p = iface_pin(ifs, n, name);
		struct iface_watch *w = &ag->ifw[i];
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		__u64 xdp;

		/* Each change is said once: renamed, renamed again, then deleted... */
		if (p && p->renamed[0]) {
			if (strcmp(w->renamed_said, p->renamed))
				pr_warn("interface %s was renamed %s (ifindex %u), which drover stays attached to: %s is not attached until it is renamed back, or drover detach %s (takes drover off %s) and a reload\n",
					name, p->renamed, p->ifindex, name, name, p->renamed);
			snprintf(w->renamed_said, sizeof(w->renamed_said), "%s", p->renamed);
			w->gone_said = false;
			continue;
		}
		w->renamed_said[0] = 0;
		if ((!p && !w->waiting) || (p && p->ifindex)) {
			memset(w, 0, sizeof(*w)); /* attached, or detached on purpose */
			continue;
		}
		idx = (int)if_nametoindex(name);
		if (!idx) {
			if (!w->gone_said)
				pr_warn("interface %s is gone (deleted, renamed or moved to another network namespace), and drover's XDP link with it: the agent attaches drover again once %s is back; /readyz answers 503 until then\n",
					name, name);
			w->gone_said = true;
			continue;
		}
		if (bpf_xdp_query(idx, 0, &q))
			memset(&q, 0, sizeof(q));
		xdp = (__u64)q.drv_prog_id << 32 | q.skb_prog_id;
		if (w->next_try && now < w->next_try && idx == w->tried_ifindex &&
		    xdp == w->tried_xdp)
			continue;
		err = drv_prog_attach_flags(ag->root, name, ag->cfg->xdp_mode,
					    DRV_ATTACH_F_TRYLOCK | DRV_ATTACH_F_NO_FWD_WARN);
		if (err == -EWOULDBLOCK)
			continue; /* a drover command holds the lock: the next poll */
		if (!err) {
			if (w->locked)
				pr_info("interface %s: drover attached (the lock on %s is free again)\n",
					name, ag->root);
			else if (w->waiting)
				pr_info("interface %s is there now (ifindex %d): drover attached\n",
					name, idx);
			else
				pr_info("interface %s is back (ifindex %d): drover attached again\n",
					name, idx);
			forwarding_check_iface(ag->cfg, name);
			memset(w, 0, sizeof(*w));
			continue;
		}
		w->backoff = retry_backoff(w->backoff);
		w->next_try = now + w->backoff;
		w->tried_ifindex = idx;
		w->tried_xdp = xdp;
		w->gone_said = true;
		pr_warn("interface %s is %s (ifindex %d) but drover can't be attached to it (said above): tried again in %.0f s, or at once when its XDP programs change\n",
			name, w->waiting ? "there now" : "back", idx, w->backoff);
	}
}

/*
 * Serve /metrics, /healthz and /readyz where the config says. A new address
 * is bound before the old one is let go, so a busy port (said by
 * drv_metrics_start) leaves the old endpoint serving, and the liveness probe
 * that reads it passing; the next reload tries again.
 * Return: 0, or -errno when the configured address is not served.
 */
static int metrics_apply(struct agent *ag, const struct drv_metrics_ops *ops)
{
	const char *want = ag->cfg->metrics_listen;
	struct drv_metrics *nm = NULL;
	int err;

	if (!strcmp(ag->metrics_listen, want) && (ag->metrics || !want[0]))
		return 0;
	if (want[0]) {
		nm = drv_metrics_start(want, ops);
		if (!nm && ag->metrics) {
			/* The same port on another address of this host: let the old go first. */
			err = errno;
			drv_metrics_stop(ag->metrics);
			ag->metrics = NULL;
			nm = drv_metrics_start(want, ops);
			if (!nm) {
				ag->metrics = drv_metrics_start(ag->metrics_listen, ops);
				errno = err;
			}
		}
		if (!nm) {
			err = -errno;
			if (ag->metrics)
				pr_warn("still serving /metrics, /healthz and /readyz on http://%s\n",
					ag->metrics_listen);
			return err;
		}
	}
	drv_metrics_stop(ag->metrics);
	ag->metrics = nm;
	snprintf(ag->metrics_listen, sizeof(ag->metrics_listen), "%s", want);
	if (nm)
		pr_info("serving /metrics, /healthz and /readyz on http://%s\n", want);
	return 0;
}

static void stat_cfg(struct agent *ag)
{
	ag->cfg_st_valid = !stat(ag->cfg_path, &ag->cfg_st);
}

static bool cfg_changed(struct agent *ag)
{
	struct stat st;

	if (stat(ag->cfg_path, &st))
		return false; /* being replaced; look again later */
	if (!ag->cfg_st_valid)
		return true;
	return st.st_ino != ag->cfg_st.st_ino || st.st_dev != ag->cfg_st.st_dev ||
	       st.st_size != ag->cfg_st.st_size || st.st_mtim.tv_sec != ag->cfg_st.st_mtim.tv_sec ||
	       st.st_mtim.tv_nsec != ag->cfg_st.st_mtim.tv_nsec;
}

static __u64 sig_mix(__u64 h, __u64 v)
{
	return (h ^ v) * 1099511628211ULL; /* FNV-1a step, a word at a time */
}

/*
 * A signature of the TLS files @cfg names (CA bundles, client certificates,
 * keys), from their stat: a renewed certificate is read again without a change
 * to the config (a Secret volume swaps a symlink, so the inode changes too).
 */
static __u64 tls_files_sig(const struct drv_config *cfg)
{
	__u64 h = 1469598103934665603ULL;
	size_t i, k;

	for (i = 0; i < cfg->nservices; i++) {
		const struct drv_hc_conf *hc = &cfg->services[i].hc;
		const char *paths[] = { hc->ca, hc->cert, hc->key };

		for (k = 0; k < ARRAY_SIZE(paths); k++) {
			struct stat st;

			if (!paths[k][0])
				continue;
			if (stat(paths[k], &st)) {
				h = sig_mix(h, (__u64)errno);
				continue;
			}
			h = sig_mix(h, (__u64)st.st_dev);
			h = sig_mix(h, (__u64)st.st_ino);
			h = sig_mix(h, (__u64)st.st_size);
			h = sig_mix(h, (__u64)st.st_mtim.tv_sec);
			h = sig_mix(h, (__u64)st.st_mtim.tv_nsec);
		}
	}
	return h;
}

/* What the parser cannot see: TLS files must load. "FILE:LINE: service 'x': why" in @err. */
static int cfg_tls_check(const char *path, const struct drv_config *cfg, char *err, size_t len)
{
	char why[256];
	size_t i;

	for (i = 0; i < cfg->nservices; i++) {
		if (!drv_hc_tls_check(&cfg->services[i].hc, why, sizeof(why)))
			continue;
		snprintf(err, len, "%.150s:%d: service '%s': %s", path, cfg->services[i].line,
			 cfg->services[i].name, why);
		return -EINVAL;
	}
	return 0;
}

/*
 * Write the flow timeouts and take the pinned services as what is applied, so
 * the next reconcile compares the config with the maps themselves. @why names
 * the occasion in the message. A failure is said once and retried each poll
 * (adopt_pending). Caller holds ag->lock.
 * Return: 0, or -errno.
 */
static int pins_adopt(struct agent *ag, const char *why)
{
	struct drv_ctl rw;
	int e = drv_ctl_open(&rw, ag->root, DRV_CTL_F_LOCK | DRV_CTL_F_TRYLOCK);

	if (!e) {
		e = cfg_timeouts_write(ag, &rw);
		if (!e)
			e = applied_from_pins(ag, &rw);
		drv_ctl_close(&rw);
	}
	if (e && e != -EWOULDBLOCK && !ag->adopt_pending)
		pr_warn("%s: cannot write the flow timeouts to %s or read the services pinned under %s: %s\n",
			why, DRV_STR(DRV_MAP_CFG), ag->root, strerror(-e));
	ag->adopt_pending = e != 0;
	ag->dirty = true;
	return e;
}

/*
 * Follow the pinned maps when they change behind the agent's back. Detaching
 * the last interface removes them: the agent lets go of the old ones at once,
 * so neither /metrics nor node adoption reads maps that nothing forwards with
 * (and their memory is freed), and forgets what it had written there. An
 * attach then pins fresh, empty maps: the agent opens them and fills them from
 * the config and the current health states. Called every poll and at reload
 * (which may fail after it: the new maps get the running config's timeouts).
 * Caller holds ag->lock.
 */
static void ro_follow_pins(struct agent *ag)
{
	struct drv_ctl nro;
	__u64 sig;
	int r = drv_pins_sig(ag->root, &sig);

	if (r == -ENOENT) {
		if (ag->ro_open) {
			pr_warn("the maps pinned under %s are gone (detaching the last interface removes them): the agent cannot update forwarding until a reload or drover attach pins new ones, which it then fills\n",
				ag->root);
			drv_ctl_close(&ag->ro);
			ag->ro_open = false;
			ag->ro_gen++;
			ag->flows_cached = 0;
			drv_want_free(&ag->applied);
		}
		return;
	}
	if (r || (ag->ro_open && sig == drv_ctl_sig(&ag->ro)))
		return;
	if (sig == ag->ro_failed_sig)
		return; /* these pins could not be opened: drv_ctl_open said why, once */
	if (drv_ctl_open(&nro, ag->root, 0)) {
		ag->ro_failed_sig = sig;
		return;
	}
	ag->ro_failed_sig = 0;
	if (ag->ro_open)
		drv_ctl_close(&ag->ro);
	ag->ro = nro;
	ag->ro_open = true;
	ag->ro_gen++;
	ag->flows_cached_at = 0;
	/* Whatever adoption finds, every service is written again (an upsert). */
	drv_want_free(&ag->applied);
	ag->dirty = true;
	if (ag->ro_ever)
		pr_warn("the maps pinned under %s were replaced (an attach after the last detach): filling them from the config\n",
			ag->root);
	else
		pr_info("the maps are pinned under %s now (an interface was attached): filling them from the config\n",
			ag->root);
	ag->ro_ever = true;
	pins_adopt(ag, "new maps");
}

/*
 * A reload failed because of @err. It is tried again, 2 s later and then
 * twice as long each time up to a minute: the cause may pass without the file
 * changing (a Secret mounted after the ConfigMap that names it, an interface
 * created later). A retry that fails the same way is not said again, nor
 * counted as another failed reload.
 */
static void reload_failed(struct agent *ag, const char *why, const char *err)
{
	bool retry = !strcmp(why, "retry");

	/* a retry that fails another way is a new failure: said and counted like one */
	if (!retry || strcmp(err, ag->reload_err)) {
		pr_warn("reload (%s) failed, running configuration kept: %s (tried again until it loads or the file changes)\n",
			why, err);
		ag->reloads_failed++;
	}
	/* 2, 4, ... 32, then 60 s, not 64 */
	ag->reload_backoff = retry_backoff(retry ? ag->reload_backoff : 0);
	snprintf(ag->reload_err, sizeof(ag->reload_err), "%s", err);
	ag->reload_retry_at = mono_now() + ag->reload_backoff;
	ag->last_reload_ok = false;
}

/* Reload the config: all or nothing. Caller holds ag->lock. */
static void reload_apply(struct agent *ag, const char *why, const struct drv_metrics_ops *ops)
{
	struct drv_config *ncfg, *ocfg;
	struct iface_watch nifw[DRV_MAX_IFACES];
	enum iface_left missing[DRV_MAX_IFACES];
	struct agent_svc *nsvcs;
	char err[DRV_CONF_ERR_MAX];
	unsigned int i, j;
	__u64 tls_sig = 0;
	int ret, err_detach;

	stat_cfg(ag);
	ag->tls_sig = tls_files_sig(ag->cfg);
	ret = drv_config_load(ag->cfg_path, &ncfg, err, sizeof(err));
	/*
	 * The new files' signature before anything reads them (here and when
	 * the checks start): a file that changes after it reloads again.
	 */
	if (!ret)
		tls_sig = tls_files_sig(ncfg);
	if (!ret && (ret = cfg_tls_check(ag->cfg_path, ncfg, err, sizeof(err))))
		drv_config_free(ncfg);
	if (ret) {
		reload_failed(ag, why, err);
		return;
	}
	ret = ifaces_attach(ag, ncfg, missing, NULL);
	if (ret) {
		reload_failed(ag, why, "cannot attach the new interfaces (said above)");
		drv_config_free(ncfg);
		return;
	}
	if (ncfg->xdp_mode != ag->cfg->xdp_mode)
		pr_warn("reload: xdp-mode is now %s; interfaces attached already keep %s until detached (drover detach IFNAME, then a reload attaches them again)\n",
			drv_xdp_mode_str(ncfg->xdp_mode), drv_xdp_mode_str(ag->cfg->xdp_mode));
	/* An attach above may have pinned fresh maps: adopt node states from those. */
	ro_follow_pins(ag);
	snat_check(ncfg);
	ret = svcs_build(ag, ncfg, ag->svcs, ag->nsvcs, &nsvcs);
	if (ret) {
		reload_failed(ag, why, strerror(-ret));
		drv_config_free(ncfg);
		return;
	}
	checks_stop(ag);
	for (i = 0; i < ag->cfg->nifaces; i++) {
		if (iface_in(ncfg, ag->cfg->ifaces[i]))
			continue;
		if (ag->ifw[i].waiting) {
			pr_info("reload: %s is no longer in the config: no longer waited for\n",
				ag->cfg->ifaces[i]);
			continue;
		}
		/* Never wait for the lock here: the loop, checks and /metrics would wait too. */
		err_detach = drv_prog_detach_try(ag->root, ag->cfg->ifaces[i]);
		if (err_detach == -EWOULDBLOCK && ag->ndetach_pending < DRV_MAX_IFACES) {
			pr_info("reload: %s is no longer in the config: a drover command holds the lock on %s: detached once it lets go\n",
				ag->cfg->ifaces[i], ag->root);
			snprintf(ag->detach_pending[ag->ndetach_pending++], IF_NAMESIZE, "%s",
				 ag->cfg->ifaces[i]);
		} else if (err_detach) {
			pr_warn("reload: cannot detach from %s (no longer in the config): %s\n",
				ag->cfg->ifaces[i], strerror(-err_detach));
		} else {
			pr_info("reload: %s is no longer in the config: detached\n",
				ag->cfg->ifaces[i]);
		}
	}
	/* One back in the config stays attached. */
	for (i = 0; i < ag->ndetach_pending;)
		if (iface_in(ncfg, ag->detach_pending[i]))
			memmove(ag->detach_pending[i], ag->detach_pending[i + 1],
				(--ag->ndetach_pending - i) * IF_NAMESIZE);
		else
			i++;
	svcs_free(ag->svcs, ag->nsvcs);
	/* indexed by the config's interfaces: an interface away stays said once */
	memset(nifw, 0, sizeof(nifw));
	for (i = 0; i < ncfg->nifaces; i++)
		for (j = 0; j < ag->cfg->nifaces; j++)
			if (!strcmp(ncfg->ifaces[i], ag->cfg->ifaces[j]))
				nifw[i] = ag->ifw[j];
	ifaces_wait(ag, ncfg, missing, nifw);
	memcpy(ag->ifw, nifw, sizeof(nifw));
	ocfg = ag->cfg;
	ag->cfg = ncfg;
	ag->svcs = nsvcs;
	ag->nsvcs = ncfg->nservices;
	drv_config_free(ocfg);
	for (i = 0; i < ag->nsvcs; i++) /* a hold a shorter rehash-after ended: now */
		holds_check(ag, &ag->svcs[i], mono_now());
	if (checks_start(ag))
		pr_warn("reload: some health checks could not start; those nodes keep their last state\n");
	pins_adopt(ag, "reload");
	/* The render thread takes ag->lock: restart it only after the caller unlocks. */
	ag->metrics_dirty = true;
	ag->dirty = true;
	ag->reloads_ok++;
	ag->last_reload_ok = true;
	ag->last_reload_ok_ts = wall_now();
	ag->reload_retry_at = 0;
	ag->reload_err[0] = 0;
	ag->tls_sig = tls_sig;
	pr_info("reload (%s) ok: %zu services, %u interfaces\n", why, ncfg->nservices,
		ncfg->nifaces);
	forwarding_check(ncfg);
}

static void sd_send(struct agent *ag, const char *msg);

/*
 * reload_apply, which systemd sees as RELOADING=1 ... READY=1 once the agent
 * told it it was ready (a reload that fails is over too: the running
 * configuration stays; STATUS= says it failed). Caller holds ag->lock.
 */
static void reload(struct agent *ag, const char *why, const struct drv_metrics_ops *ops)
{
	char msg[64];

	if (ag->sd_ready) {
		snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
			 (unsigned long long)(mono_now() * 1e6));
		sd_send(ag, msg);
	}
	reload_apply(ag, why, ops);
	if (ag->sd_ready)
		sd_send(ag, "READY=1");
}

/* ---- /metrics ---- */

/*
 * What /metrics renders of the agent's state, copied under ag->lock (names,
 * addresses, health: small, and quick to copy); the maps are read and the
 * text rendered after the lock is let go, through fds of its own (a reload
 * may close ag->ro's meanwhile), so the main loop never waits for a render.
 */
struct m_health {
	bool up;
	double latency_s;
	__u64 n_ok, n_fail;
};

struct m_ssvc {
	char name[DRV_CONF_NAME_MAX];
	union drv_addr vip;
	__u8 family;
	__u16 ports[DRV_CONF_MAX_PORTS];
	unsigned int nports;
	bool all_down, settling;
	/* copies: the config's nodes (nnodes), then the leavers not gone (nleavers) */
	struct drv_node_conf *nodes;
	size_t nnodes, nleavers;
	struct m_health *h; /* of the config's nodes */
	/* node j's labels are lbl.p[lofs[j]..lofs[j + 1]) (snap_labels); lofs NULL: none */
	struct drv_mbuf lbl;
	size_t *lofs;
};

struct m_snap {
	__u64 reloads_ok, reloads_failed, sync_errors;
	bool last_reload_ok;
	double last_reload_ok_ts;
	__u32 flows_cached;
	bool flows_due; /* count the flows (at most every 15 s) */
	unsigned int ro_gen;
	bool ro_open;
	struct drv_ctl ro; /* its own fds on ag->ro's maps */
	struct m_ssvc *svcs;
	size_t nsvcs;
};

static void snap_free(struct m_snap *sn)
{
	size_t i;

	for (i = 0; sn->svcs && i < sn->nsvcs; i++) {
		free(sn->svcs[i].nodes);
		free(sn->svcs[i].h);
		free(sn->svcs[i].lofs);
		drv_mbuf_free(&sn->svcs[i].lbl);
	}
	free(sn->svcs);
	if (sn->ro_open)
		drv_ctl_close(&sn->ro);
	memset(sn, 0, sizeof(*sn));
}

/* Copy what /metrics renders into @sn. Under ag->lock. 0 or -errno (@sn freed). */
static int snap_take(struct agent *ag, struct m_snap *sn, double now)
{
	size_t i, j, k;
	int err;

	memset(sn, 0, sizeof(*sn));
	sn->reloads_ok = ag->reloads_ok;
	sn->reloads_failed = ag->reloads_failed;
	sn->sync_errors = ag->sync_errors;
	sn->last_reload_ok = ag->last_reload_ok;
	sn->last_reload_ok_ts = ag->last_reload_ok_ts;
	sn->flows_cached = ag->flows_cached;
	sn->flows_due = !ag->flows_cached_at || now - ag->flows_cached_at > 15;
	sn->ro_gen = ag->ro_gen;
	if (ag->ro_open) {
		err = drv_ctl_dup(&ag->ro, &sn->ro);
		if (err)
			return err;
		sn->ro_open = true;
	}
	sn->svcs = calloc(ag->nsvcs ?: 1, sizeof(*sn->svcs));
	if (!sn->svcs)
		goto out_nomem;
	sn->nsvcs = ag->nsvcs;
	for (i = 0; i < ag->nsvcs; i++) {
		const struct agent_svc *as = &ag->svcs[i];
		const struct drv_service_conf *c = as->conf;
		struct m_ssvc *ss = &sn->svcs[i];

		snprintf(ss->name, sizeof(ss->name), "%s", c->name);
		ss->vip = c->vip;
		ss->family = c->family;
		memcpy(ss->ports, c->ports, sizeof(ss->ports));
		ss->nports = c->nports;
		ss->all_down = as->all_down;
		ss->settling = as->settle_until != 0;
		ss->nodes = calloc(c->nnodes + as->nleavers ?: 1, sizeof(*ss->nodes));
		ss->h = calloc(c->nnodes ?: 1, sizeof(*ss->h));
		if (!ss->nodes || !ss->h)
			goto out_nomem;
		memcpy(ss->nodes, c->nodes, c->nnodes * sizeof(*ss->nodes));
		ss->nnodes = c->nnodes;
		for (j = 0; j < c->nnodes; j++) {
			const struct drv_check *chk = &as->nodes[j].chk;

			ss->h[j] = (struct m_health){ .up = as->nodes[j].st.up,
						      .latency_s = chk->last_latency_s,
						      .n_ok = chk->n_ok,
						      .n_fail = chk->n_fail };
		}
		for (k = 0; k < as->nleavers; k++)
			if (!as->leavers[k].gone)
				ss->nodes[ss->nnodes + ss->nleavers++] = as->leavers[k].conf;
	}
	return 0;
out_nomem:
	snap_free(sn);
	return -ENOMEM;
}

static void m_help(struct drv_mbuf *b, const char *name, const char *type, const char *help)
{
	drv_mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void m_svc_labels(struct drv_mbuf *b, const struct m_ssvc *s, __u16 port)
{
	char a[DRV_ADDR_STRLEN];

	drv_mbuf_printf(b, "service=\"");
	drv_mbuf_label(b, s->name);
	drv_mbuf_printf(b, "\",vip=\"%s\",port=\"%u\"",
			drv_addr_format(&s->vip, s->family, a, sizeof(a)), port);
}

static void m_node_labels_fmt(struct drv_mbuf *b, const struct m_ssvc *s,
			      const struct drv_node_conf *n)
{
	char a[DRV_ADDR_STRLEN];

	drv_mbuf_printf(b, "service=\"");
	drv_mbuf_label(b, s->name);
	drv_mbuf_printf(b, "\",node=\"");
	drv_mbuf_label(b, n->name);
	drv_mbuf_printf(b, "\",address=\"%s\"", drv_addr_format(&n->addr, n->family, a, sizeof(a)));
}

/*
 * Each node's labels, formatted once per render (they go on up to 15 lines
 * each: escaping and formatting them again took most of a render's time).
 * Outside ag->lock. Without memory for them, each line formats its own.
 */
static void snap_labels(struct m_snap *sn)
{
	size_t i, j;

	for (i = 0; i < sn->nsvcs; i++) {
		struct m_ssvc *ss = &sn->svcs[i];
		size_t n = ss->nnodes + ss->nleavers;

		ss->lofs = calloc(n + 1, sizeof(*ss->lofs));
		if (!ss->lofs)
			continue;
		for (j = 0; j < n; j++) {
			ss->lofs[j] = ss->lbl.len;
			m_node_labels_fmt(&ss->lbl, ss, &ss->nodes[j]);
		}
		ss->lofs[n] = ss->lbl.len;
		if (ss->lbl.err || !ss->lbl.p) {
			drv_mbuf_free(&ss->lbl);
			free(ss->lofs);
			ss->lofs = NULL;
		}
	}
}

static void m_node_labels(struct drv_mbuf *b, const struct m_ssvc *s, const struct drv_node_conf *n)
{
	size_t j = (size_t)(n - s->nodes);

	if (!s->lofs) {
		m_node_labels_fmt(b, s, n);
		return;
	}
	drv_mbuf_put(b, s->lbl.p + s->lofs[j], s->lofs[j + 1] - s->lofs[j]);
}

static const struct {
	const char *name, *help;
	size_t off;
} lb_fields[] = {
	{ "packets", "client to node packets forwarded",
	  __builtin_offsetof(struct drv_lb_counters, packets) },
	{ "bytes", "client to node bytes forwarded",
	  __builtin_offsetof(struct drv_lb_counters, bytes) },
	{ "new_flows", "flows recorded", __builtin_offsetof(struct drv_lb_counters, new_flows) },
	{ "reply_packets", "node to client packets translated (nat)",
	  __builtin_offsetof(struct drv_lb_counters, reply_packets) },
	{ "reply_bytes", "node to client bytes translated (nat)",
	  __builtin_offsetof(struct drv_lb_counters, reply_bytes) },
	{ "drops", "packets dropped", __builtin_offsetof(struct drv_lb_counters, drops) },
};

static __u64 lb_get(const struct drv_lb_counters *c, size_t off)
{
	return *(const __u64 *)((const char *)c + off);
}

struct m_svc {
	const struct m_ssvc *s;
	__u16 port;
	bool have;
	struct drv_svc svc;
	struct drv_lb_counters cnt;
	/* node j's backend, matched by address and port; family 0: it has none */
	struct drv_be_info *bes;
};

/* The data path's counters and states, read from the maps through @sn->ro. */
static void render_datapath(const struct m_snap *sn, struct drv_mbuf *b)
{
	struct drv_ctl *ctl = (struct drv_ctl *)&sn->ro;
	struct drv_counter cnt[__DRV_STAT_MAX];
	struct drv_lb_counters *svc_cnt;
	struct drv_be_info *list, *all;
	struct m_svc *ms;
	size_t nms = 0, i, j, f;
	__u32 nmax, id, nbes = 0;
	int k, idx;

	/* Counters and backends are read in a few batch lookups, not a syscall per backend. */
	if (drv_stats_read_all(ctl, cnt))
		memset(cnt, 0, sizeof(cnt));
	m_help(b, "drover_packets_total", "counter", "packets seen by the XDP program, by verdict");
	for (k = DRV_STAT_XDP_ABORTED; k <= DRV_STAT_XDP_REDIRECT; k++)
		drv_mbuf_printf(b, "drover_packets_total{action=\"%s\"} %llu\n",
				drv_stat_names[k] + 4, (unsigned long long)cnt[k].packets);
	m_help(b, "drover_bytes_total", "counter", "bytes seen by the XDP program, by verdict");
	for (k = DRV_STAT_XDP_ABORTED; k <= DRV_STAT_XDP_REDIRECT; k++)
		drv_mbuf_printf(b, "drover_bytes_total{action=\"%s\"} %llu\n",
				drv_stat_names[k] + 4, (unsigned long long)cnt[k].bytes);
	/* The enum only grows at its end: drop reasons are told apart by name. */
	m_help(b, "drover_drops_total", "counter", "packets dropped, by reason");
	for (k = DRV_STAT_DROP_ETH_TRUNC; k < __DRV_STAT_MAX; k++)
		if (!strncmp(drv_stat_names[k], "drop_", 5))
			drv_mbuf_printf(b, "drover_drops_total{reason=\"%s\"} %llu\n",
					drv_stat_names[k] + 5, (unsigned long long)cnt[k].packets);
	m_help(b, "drover_events_total", "counter",
	       "data path events (new flows, re-hashes, RSTs for down nodes, NAT replies, FIB pass, ICMP errors, SNAT port reclaims)");
	for (k = DRV_STAT_DROP_ETH_TRUNC; k < __DRV_STAT_MAX; k++)
		if (strncmp(drv_stat_names[k], "drop_", 5))
			drv_mbuf_printf(b, "drover_events_total{event=\"%s\"} %llu\n",
					drv_stat_names[k], (unsigned long long)cnt[k].packets);

	ms = calloc(DRV_MAX_SVCS, sizeof(*ms));
	/* Every backend of the service: the CLI may have added some no node has. */
	list = calloc(AGENT_MAX_BES, sizeof(*list));
	all = calloc(DRV_MAX_BACKENDS, sizeof(*all));
	svc_cnt = calloc(DRV_MAX_SVCS, sizeof(*svc_cnt));
	if (!ms || !list || !all || !svc_cnt) {
		free(svc_cnt);
		free(all);
		free(list);
		free(ms);
		b->err = -ENOMEM;
		return;
	}
	if (drv_svc_stats_read_all(ctl, svc_cnt))
		memset(svc_cnt, 0, DRV_MAX_SVCS * sizeof(*svc_cnt));
	if (drv_backends_read_all(ctl, all))
		memset(all, 0, DRV_MAX_BACKENDS * sizeof(*all)); /* no backend shown */
	for (id = 1; id < DRV_MAX_BACKENDS; id++)
		nbes += all[id].be.family != 0;
	for (i = 0; i < sn->nsvcs; i++) {
		const struct m_ssvc *s = &sn->svcs[i];
		unsigned int p;

		for (p = 0; p < s->nports && nms < DRV_MAX_SVCS; p++) {
			struct m_svc *m = &ms[nms++];
			struct drv_svc_key key = { .vip = s->vip,
						   .port = htons(s->ports[p]),
						   .proto = 6, /* IPPROTO_TCP */
						   .family = s->family };

			m->s = s;
			m->port = s->ports[p];
			if (drv_service_get(ctl, &key, &m->svc))
				continue;
			m->have = true;
			if (m->svc.id < DRV_MAX_SVCS)
				m->cnt = svc_cnt[m->svc.id];
			m->bes = calloc(s->nnodes + s->nleavers ?: 1, sizeof(*m->bes));
			if (!m->bes) {
				b->err = -ENOMEM;
				continue;
			}
			/* the service's backends by id, as drv_backend_list() lists them */
			for (k = 0, id = 1; id < DRV_MAX_BACKENDS && k < AGENT_MAX_BES; id++)
				if (all[id].be.family && all[id].be.svc_id == m->svc.id)
					list[k++] = all[id];
			/* a node of the config: the first that matches; a leaver: the last */
			for (j = 0; j < s->nnodes + s->nleavers; j++)
				for (idx = 0; idx < k; idx++) {
					if (!drv_node_is_backend(&s->nodes[j], key.port,
								 &list[idx].be))
						continue;
					m->bes[j] = list[idx];
					if (j < s->nnodes)
						break;
				}
		}
	}
	free(svc_cnt);
	free(all);
	free(list);
	for (f = 0; f < ARRAY_SIZE(lb_fields); f++) {
		char name[64];

		snprintf(name, sizeof(name), "drover_service_%s_total", lb_fields[f].name);
		m_help(b, name, "counter", lb_fields[f].help);
		for (i = 0; i < nms; i++) {
			if (!ms[i].have)
				continue;
			drv_mbuf_printf(b, "%s{", name);
			m_svc_labels(b, ms[i].s, ms[i].port);
			drv_mbuf_printf(b, "} %llu\n",
					(unsigned long long)lb_get(&ms[i].cnt, lb_fields[f].off));
		}
	}
	m_help(b, "drover_service_table_backends", "gauge",
	       "backends in the service's active Maglev table");
	for (i = 0; i < nms; i++) {
		if (!ms[i].have)
			continue;
		drv_mbuf_printf(b, "drover_service_table_backends{");
		m_svc_labels(b, ms[i].s, ms[i].port);
		drv_mbuf_printf(b, "} %u\n", ms[i].svc.nbackends);
	}
	for (f = 0; f < ARRAY_SIZE(lb_fields); f++) {
		char name[64];

		snprintf(name, sizeof(name), "drover_backend_%s_total", lb_fields[f].name);
		m_help(b, name, "counter", lb_fields[f].help);
		for (i = 0; i < nms; i++)
			for (j = 0; ms[i].bes && j < ms[i].s->nnodes + ms[i].s->nleavers; j++) {
				if (!ms[i].bes[j].be.family)
					continue;
				drv_mbuf_printf(b, "%s{", name);
				m_node_labels(b, ms[i].s, &ms[i].s->nodes[j]);
				drv_mbuf_printf(b, ",port=\"%u\"} %llu\n", ms[i].port,
						(unsigned long long)lb_get(&ms[i].bes[j].cnt,
									   lb_fields[f].off));
			}
	}
	m_help(b, "drover_backend_state", "gauge",
	       "1 for the backend's state in the maps (up: in the table; drain: out, flows kept; down: out, its flows reset; failing: out, flows kept until rehash-after; leaving: removed from the config, out, flows kept until they end or leave-after)");
	for (i = 0; i < nms; i++)
		for (j = 0; ms[i].bes && j < ms[i].s->nnodes + ms[i].s->nleavers; j++) {
			__u8 z;

			if (!ms[i].bes[j].be.family)
				continue;
			for (z = 0; z < __DRV_BE_STATE_MAX; z++) {
				drv_mbuf_printf(b, "drover_backend_state{");
				m_node_labels(b, ms[i].s, &ms[i].s->nodes[j]);
				drv_mbuf_printf(b, ",port=\"%u\",state=\"%s\"} %d\n", ms[i].port,
						drv_be_state_name(z), ms[i].bes[j].be.state == z);
			}
		}
	for (i = 0; i < nms; i++)
		free(ms[i].bes);
	free(ms);

	/* Map fill; flows are counted by render() at most every 15 s. */
	m_help(b, "drover_map_entries", "gauge", "entries in use in a pinned map");
	{
		__u32 nsvc = 0;

		drv_map_count(ctl->svcs_fd, DRV_MAX_SVCS, &nsvc);
		drv_mbuf_printf(b, "drover_map_entries{map=\"services\"} %u\n", nsvc);
		drv_mbuf_printf(b, "drover_map_entries{map=\"flows\"} %u\n", sn->flows_cached);
		drv_mbuf_printf(b, "drover_map_entries{map=\"backends\"} %u\n", nbes);
	}
	m_help(b, "drover_map_max_entries", "gauge", "capacity of a pinned map");
	drv_mbuf_printf(b, "drover_map_max_entries{map=\"services\"} %u\n",
			drv_map_max_entries(ctl->svcs_fd));
	drv_mbuf_printf(b, "drover_map_max_entries{map=\"flows\"} %u\n",
			drv_map_max_entries(ctl->flows_fd));
	/* backend id 0 means "none": ids 1..max_entries-1 can be used */
	nmax = drv_map_max_entries(ctl->bes_fd);
	drv_mbuf_printf(b, "drover_map_max_entries{map=\"backends\"} %u\n", nmax ? nmax - 1 : 0);
}

/*
 * Publish what /readyz and /healthz need (struct agent_pub), at the end of a
 * round of the main loop. Main thread, under ag->lock.
 */
static void agent_publish(struct agent *ag)
{
	unsigned int i;

	pthread_mutex_lock(&ag->pub_lock);
	ag->pub.round_at = mono_now();
	ag->pub.doing[0] = 0;
	ag->pub.stuck_after_ms = ag->cfg->stuck_after_ms;
	ag->pub.ready = ag->ready;
	snprintf(ag->pub.not_ready, sizeof(ag->pub.not_ready), "%s", ag->not_ready);
	ag->pub.nifaces = ag->cfg->nifaces;
	for (i = 0; i < ag->cfg->nifaces; i++)
		snprintf(ag->pub.ifaces[i], sizeof(ag->pub.ifaces[i]), "%s", ag->cfg->ifaces[i]);
	pthread_mutex_unlock(&ag->pub_lock);
}

/*
 * Say what the main loop does from now until the end of its round (or the
 * next call): /healthz names it if the loop gets stuck there. Main thread.
 */
static void agent_doing(struct agent *ag, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void agent_doing(struct agent *ag, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ag->pub_lock);
	va_start(ap, fmt);
	vsnprintf(ag->pub.doing, sizeof(ag->pub.doing), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&ag->pub_lock);
}

/*
 * Alive: the main loop finished a round within metrics.stuck-after. A loop
 * stuck for good (a deadlock, a loop that never ends, a syscall that never
 * returns) applies no health check and no change any more, while forwarding
 * goes on with the tables it last wrote: /healthz fails so that the liveness
 * probe restarts the agent, which adopts the pinned maps. The main thread
 * cannot say it is stuck, so the first failure and the recovery are logged
 * here. HTTP thread only (stuck_for); reads the published state, never
 * ag->lock.
 */
/*
 * The judgement of is_alive (and of the systemd watchdog): has the main loop
 * finished a round within metrics.stuck-after? If not, why says so. Reads the
 * published state only: any thread.
 */
static bool loop_alive(struct agent *ag, char *why, size_t len, __u32 *limit, double *agep)
{
	char doing[sizeof(ag->pub.doing)];
	double round_at, age;
	__u32 limit_ms;

	pthread_mutex_lock(&ag->pub_lock);
	round_at = ag->pub.round_at;
	limit_ms = ag->pub.stuck_after_ms;
	memcpy(doing, ag->pub.doing, sizeof(doing));
	pthread_mutex_unlock(&ag->pub_lock);
	age = mono_now() - round_at;
	*limit = limit_ms;
	*agep = age;
	if (!round_at || !limit_ms || age * 1000 < limit_ms)
		return true;
	snprintf(
		why, len,
		"main loop stuck for %.0f s%s%s%s: the agent is not applying health checks; restart it",
		age, doing[0] ? " (since " : "", doing, doing[0] ? ")" : "");
	return false;
}

static bool is_alive(void *arg, char *why, size_t len)
{
	struct agent *ag = arg;
	__u32 limit_ms;
	double age;

	if (loop_alive(ag, why, len, &limit_ms, &age)) {
		if (ag->stuck_for)
			pr_info("agent: the main loop finishes its rounds again (it was stuck for %.0f s or more): /healthz answers 200 again\n",
				ag->stuck_for);
		ag->stuck_for = 0;
		return true;
	}
	if (!ag->stuck_for)
		pr_warn("agent: /healthz answers 503 (metrics.stuck-after is %.0f s): %s\n",
			limit_ms / 1000.0, why);
	ag->stuck_for = age;
	return false;
}

/*
 * Ready: a config applied and every configured interface carries our XDP
 * link. An interface that is not is named first: it is what an operator has
 * to see (one that does not exist yet also explains why nothing is written).
 * Reads the published state and the pins, never ag->lock: any thread.
 */
static bool agent_ready(struct agent *ag, char *why, size_t len)
{
	struct drv_prog_iface ifs[DRV_MAX_IFACES];
	struct agent_pub pub;
	unsigned int i;
	int n;

	pthread_mutex_lock(&ag->pub_lock);
	pub = ag->pub;
	pthread_mutex_unlock(&ag->pub_lock);
	n = drv_prog_list(ag->root, ifs, DRV_MAX_IFACES);
	for (i = 0; i < pub.nifaces; i++) {
		const char *name = pub.ifaces[i];
		const struct drv_prog_iface *p = iface_pin(ifs, n, name);

		if (p && p->renamed[0]) {
			snprintf(why, len, "not attached to %s (renamed %s, which drover runs on)",
				 name, p->renamed);
			return false;
		}
		if (p && p->ifindex)
			continue;
		/* no pin at all (a defunct one: deleted, said as such) */
		if (!p && !if_nametoindex(name))
			snprintf(
				why, len,
				"not attached to %s (it does not exist yet: attached once it appears)",
				name);
		else
			snprintf(why, len, "not attached to %s", name);
		return false;
	}
	if (!pub.ready) {
		snprintf(why, len, "%s", pub.not_ready);
		return false;
	}
	return true;
}

/*
 * Take ag->lock for /metrics, waiting AGENT_RENDER_WAIT_MS at most (then
 * AGENT_RENDER_WAIT_AGAIN_MS until it is had again, so a burst of scrapes
 * during one long hold does not add up). Render thread only (one render at a time).
 * Return: 0 with the lock held, or -EBUSY.
 */
static int render_lock(struct agent *ag)
{
	long ms = ag->render_gave_up ? AGENT_RENDER_WAIT_AGAIN_MS : AGENT_RENDER_WAIT_MS;
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += ms * 1000000;
	t.tv_sec += t.tv_nsec / 1000000000;
	t.tv_nsec %= 1000000000;
	ag->render_gave_up = pthread_mutex_clocklock(&ag->lock, CLOCK_MONOTONIC, &t) != 0;
	return ag->render_gave_up ? -EBUSY : 0;
}

static int render(struct drv_mbuf *b, void *arg)
{
	struct agent *ag = arg;
	size_t i, j;
	double now = mono_now(), age, locked, held;
	__u32 nflows = 0;
	bool counted = false;
	struct m_snap sn;
	char why[128];
	int err;

	/*
	 * Under the lock only the copy (struct m_snap): the main loop (health
	 * checks, holds, reloads) never waits for the maps to be read or the
	 * text rendered, which take long with thousands of backends.
	 */
	if (render_lock(ag))
		return -EBUSY;
	locked = mono_now();
	err = snap_take(ag, &sn, now);
	pthread_mutex_unlock(&ag->lock);
	held = mono_now() - locked;
	if (err) {
		b->err = err;
		return 0;
	}
	snap_labels(&sn);
	/*
	 * Counting flows walks the whole LRU map (up to a second when full): at
	 * most every 15 s, through the snapshot's own fd.
	 */
	if (sn.ro_open && sn.flows_due &&
	    !drv_map_count(sn.ro.flows_fd, drv_map_max_entries(sn.ro.flows_fd), &nflows)) {
		sn.flows_cached = nflows;
		counted = true;
	}
	m_help(b, "drover_build_info", "gauge", "drover version");
	drv_mbuf_printf(b, "drover_build_info{version=\"%s\"} 1\n", DROVER_VERSION);
	m_help(b, "drover_ready", "gauge", "1 when attached with a configuration applied");
	drv_mbuf_printf(b, "drover_ready %d\n", agent_ready(ag, why, sizeof(why)));
	/*
	 * From the published state, like /healthz. Rendered only while the main
	 * loop lets go of ag->lock: one stuck holding it makes /metrics say busy.
	 */
	m_help(b, "drover_agent_main_loop_round_age_seconds", "gauge",
	       "time since the agent's main loop last finished a round (/healthz fails past metrics.stuck-after)");
	pthread_mutex_lock(&ag->pub_lock);
	age = ag->pub.round_at ? now - ag->pub.round_at : 0;
	pthread_mutex_unlock(&ag->pub_lock);
	drv_mbuf_printf(b, "drover_agent_main_loop_round_age_seconds %.3f\n", age);
	m_help(b, "drover_config_reloads_total", "counter", "configuration reloads, by result");
	drv_mbuf_printf(b, "drover_config_reloads_total{result=\"success\"} %llu\n",
			(unsigned long long)sn.reloads_ok);
	drv_mbuf_printf(b, "drover_config_reloads_total{result=\"failure\"} %llu\n",
			(unsigned long long)sn.reloads_failed);
	m_help(b, "drover_config_last_reload_successful", "gauge",
	       "1 if the last load of the configuration file succeeded");
	drv_mbuf_printf(b, "drover_config_last_reload_successful %d\n", sn.last_reload_ok);
	m_help(b, "drover_config_last_reload_success_timestamp_seconds", "gauge",
	       "time of the last successful load of the configuration");
	drv_mbuf_printf(b, "drover_config_last_reload_success_timestamp_seconds %.3f\n",
			sn.last_reload_ok_ts);
	m_help(b, "drover_reconcile_errors_total", "counter", "map updates that failed (retried)");
	drv_mbuf_printf(b, "drover_reconcile_errors_total %llu\n",
			(unsigned long long)sn.sync_errors);

	m_help(b, "drover_service_all_down", "gauge",
	       "1 when no node of the service passes its health check (failing open)");
	for (i = 0; i < sn.nsvcs; i++) {
		drv_mbuf_printf(b, "drover_service_all_down{service=\"");
		drv_mbuf_label(b, sn.svcs[i].name);
		drv_mbuf_printf(b, "\"} %d\n", sn.svcs[i].all_down);
	}
	m_help(b, "drover_service_settling", "gauge",
	       "1 while the service's table keeps its start-up states until every node has a verdict");
	for (i = 0; i < sn.nsvcs; i++) {
		drv_mbuf_printf(b, "drover_service_settling{service=\"");
		drv_mbuf_label(b, sn.svcs[i].name);
		drv_mbuf_printf(b, "\"} %d\n", sn.svcs[i].settling);
	}
	m_help(b, "drover_node_healthy", "gauge",
	       "1 if the node passes its health check (after rise/fall)");
	for (i = 0; i < sn.nsvcs; i++)
		for (j = 0; j < sn.svcs[i].nnodes; j++) {
			drv_mbuf_printf(b, "drover_node_healthy{");
			m_node_labels(b, &sn.svcs[i], &sn.svcs[i].nodes[j]);
			drv_mbuf_printf(b, "} %d\n", sn.svcs[i].h[j].up);
		}
	m_help(b, "drover_node_check_duration_seconds", "gauge",
	       "duration of the node's last health check");
	for (i = 0; i < sn.nsvcs; i++)
		for (j = 0; j < sn.svcs[i].nnodes; j++) {
			drv_mbuf_printf(b, "drover_node_check_duration_seconds{");
			m_node_labels(b, &sn.svcs[i], &sn.svcs[i].nodes[j]);
			drv_mbuf_printf(b, "} %.6f\n", sn.svcs[i].h[j].latency_s);
		}
	m_help(b, "drover_node_checks_total", "counter", "health checks run, by result");
	for (i = 0; i < sn.nsvcs; i++)
		for (j = 0; j < sn.svcs[i].nnodes; j++) {
			const struct m_health *h = &sn.svcs[i].h[j];

			drv_mbuf_printf(b, "drover_node_checks_total{");
			m_node_labels(b, &sn.svcs[i], &sn.svcs[i].nodes[j]);
			drv_mbuf_printf(b, ",result=\"pass\"} %llu\n", (unsigned long long)h->n_ok);
			drv_mbuf_printf(b, "drover_node_checks_total{");
			m_node_labels(b, &sn.svcs[i], &sn.svcs[i].nodes[j]);
			drv_mbuf_printf(b, ",result=\"fail\"} %llu\n",
					(unsigned long long)h->n_fail);
		}
	if (sn.ro_open)
		render_datapath(&sn, b);
	/*
	 * The count is kept unless the maps it counted were replaced meanwhile,
	 * or the main loop holds the lock now (the next scrape counts again).
	 */
	if (counted && !pthread_mutex_trylock(&ag->lock)) {
		locked = mono_now();
		if (ag->ro_gen == sn.ro_gen) {
			ag->flows_cached = nflows;
			ag->flows_cached_at = now;
		}
		pthread_mutex_unlock(&ag->lock);
		held += mono_now() - locked;
	}
	snap_free(&sn);
	pr_debug(
		"metrics: /metrics rendered (%zu bytes) in %.1f ms, %.1f ms of them holding the agent's lock\n",
		b->len, (mono_now() - now) * 1e3, held * 1e3);
	return 0;
}

static bool is_ready(void *arg, char *why, size_t len)
{
	return agent_ready(arg, why, len);
}

/* ---- systemd: Type=notify and the watchdog (sdnotify.h) ---- */

/* Send @msg to systemd, if it asked; a failure is said once. Any thread. */
static void sd_send(struct agent *ag, const char *msg)
{
	int err = drv_sd_send(&ag->sd, msg);

	if (err && !__atomic_exchange_n(&ag->sd_send_failed, true, __ATOMIC_RELAXED))
		pr_warn("agent: cannot notify systemd on $NOTIFY_SOCKET: %s; systemd may not see the agent ready or alive (said once)\n",
			strerror(-err));
}

/*
 * Tell systemd how the agent is: STATUS= (services, nodes up, readiness,
 * a failed reload) when it changes, and READY=1 once the agent serves
 * traffic as configured: attached to every interface that exists and the
 * maps written (ag->ready). With no interface there yet and no maps pinned,
 * start-up is done too: it waits for an interface that may take long to
 * appear, and systemd would fail a start that waits past TimeoutStartSec=.
 * Main thread, under ag->lock, after agent_publish.
 */
static void sd_update(struct agent *ag)
{
	char text[512], line[sizeof(ag->sd_status)], msg[sizeof(line) + 16];
	char why[128];
	bool waits = !ag->ro_open, ready, changed;
	size_t i, j, up = 0, n = 0;
	int len;

	if (ag->sd.fd < 0)
		return;
	for (i = 0; i < ag->cfg->nifaces; i++)
		waits &= ag->ifw[i].waiting && !ag->ifw[i].locked;
	for (i = 0; i < ag->nsvcs; i++)
		for (j = 0; j < ag->svcs[i].conf->nnodes; j++, n++)
			up += ag->svcs[i].nodes[j].st.up;
	ready = agent_ready(ag, why, sizeof(why));
	len = snprintf(text, sizeof(text),
		       "%s%s%s: %zu services, %zu of %zu nodes up, %u interfaces",
		       ready ? "ready" : "not ready (", ready ? "" : why, ready ? "" : ")",
		       ag->cfg->nservices, up, n, ag->cfg->nifaces);
	if (!ag->last_reload_ok && len > 0 && (size_t)len < sizeof(text))
		snprintf(text + len, sizeof(text) - (size_t)len,
			 "; reload failed, running configuration kept: %.160s", ag->reload_err);
	drv_sd_status(line, sizeof(line), text);
	pthread_mutex_lock(&ag->pub_lock);
	changed = strcmp(line, ag->sd_status);
	if (changed)
		memcpy(ag->sd_status, line, sizeof(line));
	pthread_mutex_unlock(&ag->pub_lock);
	if (!ag->sd_ready && (ag->ready || waits)) {
		snprintf(msg, sizeof(msg), "READY=1\n%s", line);
		sd_send(ag, msg);
		ag->sd_ready = true;
	} else if (changed) {
		sd_send(ag, line);
	}
}

/*
 * The watchdog thread: WATCHDOG=1 every half of $WATCHDOG_USEC, only while
 * the main loop is alive as /healthz judges it (loop_alive): a loop stuck
 * past metrics.stuck-after gets no pings, so systemd restarts the agent once
 * WatchdogSec= passes (forwarding goes on meanwhile; the next agent adopts
 * the maps). A process that hangs as a whole stops them too.
 */
static void *watchdog_main(void *arg)
{
	struct agent *ag = arg;
	__u64 every_us = ag->sd.watchdog_usec / 2;
	char why[256], line[sizeof(ag->sd_status)];
	bool stuck = false;
	struct timespec next;
	__u32 limit_ms;
	double age;

	if (every_us < 1000)
		every_us = 1000;
	pthread_mutex_lock(&ag->wd_lock);
	while (!ag->wd_stop) {
		pthread_mutex_unlock(&ag->wd_lock);
		if (loop_alive(ag, why, sizeof(why), &limit_ms, &age)) {
			if (stuck)
				pr_info("agent: the main loop finishes its rounds again: the systemd watchdog is pinged again\n");
			stuck = false;
			sd_send(ag, "WATCHDOG=1");
		} else if (!stuck) {
			stuck = true;
			pr_warn("agent: systemd watchdog pings stop (metrics.stuck-after is %.0f s): %s; systemd restarts the agent once the unit's WatchdogSec= passes\n",
				limit_ms / 1000.0, why);
			sd_send(ag, drv_sd_status(line, sizeof(line), why));
			pthread_mutex_lock(&ag->pub_lock);
			ag->sd_status[0] = 0; /* the loop says how it is once it runs again */
			pthread_mutex_unlock(&ag->pub_lock);
		}
		clock_gettime(CLOCK_MONOTONIC, &next);
		next.tv_sec += (time_t)(every_us / 1000000);
		next.tv_nsec += (long)(every_us % 1000000) * 1000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&ag->wd_lock);
		while (!ag->wd_stop &&
		       pthread_cond_timedwait(&ag->wd_cond, &ag->wd_lock, &next) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&ag->wd_lock);
	return NULL;
}

/* Start the watchdog thread if systemd asked for pings. Return: 0 or -errno (said). */
static int watchdog_start(struct agent *ag)
{
	pthread_condattr_t ca;
	int err;

	if (ag->sd.fd < 0 || !ag->sd.watchdog_usec)
		return 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ag->wd_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&ag->wd_lock, NULL);
	err = pthread_create(&ag->wd_thread, NULL, watchdog_main, ag);
	if (err) {
		pr_warn("agent: cannot start the systemd watchdog thread: %s\n", strerror(err));
		pthread_cond_destroy(&ag->wd_cond);
		pthread_mutex_destroy(&ag->wd_lock);
		return -err;
	}
	ag->wd_running = true;
	return 0;
}

static void watchdog_stop(struct agent *ag)
{
	if (!ag->wd_running)
		return;
	pthread_mutex_lock(&ag->wd_lock);
	ag->wd_stop = true;
	pthread_cond_signal(&ag->wd_cond);
	pthread_mutex_unlock(&ag->wd_lock);
	pthread_join(ag->wd_thread, NULL);
	pthread_cond_destroy(&ag->wd_cond);
	pthread_mutex_destroy(&ag->wd_lock);
	ag->wd_running = false;
}

/* Is @w, a word of `drover run` that is no option, a configuration file given without `config`? */
static bool looks_like_config(const char *w)
{
	size_t n = strlen(w);
	struct stat st;

	if ((n > 5 && !strcmp(w + n - 5, ".yaml")) || (n > 4 && !strcmp(w + n - 4, ".yml")))
		return true;
	return !stat(w, &st) && S_ISREG(st.st_mode);
}

/* Usage on @f: stdout when asked for (help), stderr after an error. */
static void usage(FILE *f)
{
	fprintf(f,
		"Usage: drover run config FILE [--detach-on-exit] [--check]\n"
		"       drover run { --config FILE | --config=FILE | -c FILE } ...\n"
		"  config FILE       the YAML configuration, described in drover.yaml(5)\n"
		"  --detach-on-exit  on SIGTERM/SIGINT detach XDP; the default leaves forwarding in place\n"
		"  --check           only validate FILE: exit 0 if good, 2 with FILE:LINE:COL: reason\n"
		"Exit status: 0 stopped by SIGTERM/SIGINT (--check: FILE is good), 1 failure (the\n"
		"message says what failed and what to do), 2 usage error or a bad FILE.\n"
		"More: man drover (drover(8): the agent, its signals, endpoints and logs) and\n"
		"man drover.yaml (drover.yaml(5): every key); drover(8) names where make install\n"
		"put the README (PREFIX/share/doc/drover/README.md, PREFIX /usr/local by default).\n");
}

static int ms_until(const struct timespec *t)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (ms > INT_MAX ? INT_MAX : (int)ms);
}

/*
 * Interfaces attached by a drover of another build (an image or package
 * upgrade) get this one's program, swapped in without a gap. Never waits
 * for the lock: a drover command holding it puts the swap off to a later poll.
 * Called without ag->lock (the verifier takes seconds; /metrics goes on
 * answering), from the main thread only, which alone reads upgrade_pending.
 */
static void prog_upgrade(struct agent *ag)
{
	int err = drv_prog_upgrade(ag->root);

	ag->upgrade_pending = err == -EWOULDBLOCK;
	if (err && !ag->upgrade_pending)
		pr_warn("agent: the interfaces keep the XDP program they run (said above); forwarding goes on with it\n");
}

/*
 * Detach the interfaces a reload removed while the pin root was locked
 * (detach_pending). @wait: at exit, wait for the lock (the reload's intent is
 * carried out even so); else never (main loop, without ag->lock).
 * Return: how many could not be detached (said).
 */
static int detach_pending_run(struct agent *ag, bool wait)
{
	unsigned int i = 0;
	int err, failed = 0;

	while (i < ag->ndetach_pending) {
		const char *name = ag->detach_pending[i];

		err = wait ? drv_prog_detach(ag->root, name) : drv_prog_detach_try(ag->root, name);
		if (err == -EWOULDBLOCK && !wait) {
			i++;
			continue;
		}
		if (err) {
			pr_warn("cannot detach from %s (no longer in the config): %s; detach it with drover detach %s\n",
				name, strerror(-err), name);
			failed++;
		}
		memmove(ag->detach_pending[i], ag->detach_pending[i + 1],
			(--ag->ndetach_pending - i) * IF_NAMESIZE);
	}
	return failed;
}

/*
 * The live recorded flows of each leaver of @as into @n (@n[k] for leaver k),
 * from @counts (drv_flows_per_backend); @infos: room for a service's backends.
 * Each port's backends are listed once.
 */
static void leavers_flows(struct agent *ag, const struct agent_svc *as, const __u32 *counts,
			  struct drv_be_info *infos, long *n)
{
	const struct drv_service_conf *s = as->conf;
	unsigned int p;
	size_t j;
	int k, nb;

	for (p = 0; p < s->nports; p++) {
		struct drv_svc_key key;

		drv_svc_key_make(s, s->ports[p], &key);
		nb = drv_backend_list(&ag->ro, &key, infos, AGENT_MAX_BES);
		for (k = 0; k < nb; k++)
			for (j = 0; j < as->nleavers; j++)
				if (!as->leavers[j].gone && infos[k].id < DRV_MAX_BACKENDS &&
				    drv_node_is_backend(&as->leavers[j].conf, key.port,
							&infos[k].be))
					n[j] += counts[infos[k].id];
	}
}

/*
 * While some node leaves, count its live recorded flows (one that has none
 * left is freed by leavers_check). The walk of drv_flows takes up to ~1 s on a
 * full map, so it runs without ag->lock (only this thread changes the agent's
 * state and ag->ro; /metrics goes on meanwhile), and at most every
 * AGENT_LEAVE_COUNT_S, spaced more when a walk takes longer.
 */
static void leavers_count(struct agent *ag)
{
	struct drv_be_info *infos = NULL;
	__u32 *counts = NULL;
	bool any = false;
	double t0 = mono_now(), gap;
	size_t i, k;
	int err = -ENOMEM;

	pthread_mutex_lock(&ag->lock);
	for (i = 0; i < ag->nsvcs && !any; i++)
		for (k = 0; k < ag->svcs[i].nleavers && !any; k++)
			any = !ag->svcs[i].leavers[k].gone;
	any = any && ag->ro_open && t0 >= ag->leave_count_at;
	pthread_mutex_unlock(&ag->lock);
	if (!any)
		return;
	counts = calloc(DRV_MAX_BACKENDS, sizeof(*counts));
	if (counts)
		err = drv_flows_per_backend(&ag->ro, counts);
	if (!err) {
		infos = calloc(AGENT_MAX_BES, sizeof(*infos));
		err = infos ? 0 : -ENOMEM;
	}
	gap = 10 * (mono_now() - t0);
	if (gap < AGENT_LEAVE_COUNT_S)
		gap = AGENT_LEAVE_COUNT_S;
	if (gap > AGENT_LEAVE_COUNT_MAX_S)
		gap = AGENT_LEAVE_COUNT_MAX_S;
	pthread_mutex_lock(&ag->lock);
	ag->leave_count_at = mono_now() + gap;
	if (err)
		pr_warn("agent: cannot count the open connections of the leaving nodes in %s/%s: %s; they are freed when leave-after passes, or counted again in %.0f s\n",
			ag->root, DRV_STR(DRV_MAP_FLOWS), strerror(-err), gap);
	for (i = 0; !err && i < ag->nsvcs; i++) {
		long *n = calloc(ag->svcs[i].nleavers + 1, sizeof(*n));

		if (!n)
			break; /* counted again next time */
		leavers_flows(ag, &ag->svcs[i], counts, infos, n);
		for (k = 0; k < ag->svcs[i].nleavers; k++) {
			struct agent_leaver *l = &ag->svcs[i].leavers[k];
			char a[DRV_ADDR_STRLEN];
			long was = l->flows;

			if (l->gone)
				continue;
			l->flows = n[k];
			if (was < 0 && l->flows > 0)
				pr_info("service %s: node %s (%s), leaving: %ld open connections to wait for\n",
					ag->svcs[i].conf->name, l->conf.name,
					node_addr(&l->node, a, sizeof(a)), l->flows);
			else
				pr_debug("service %s: node %s, leaving: %ld open connections\n",
					 ag->svcs[i].conf->name, l->conf.name, l->flows);
		}
		free(n);
	}
	for (i = 0; !err && i < ag->nsvcs; i++)
		leavers_check(ag, &ag->svcs[i], mono_now());
	pthread_mutex_unlock(&ag->lock);
	free(infos);
	free(counts);
}

/*
 * Take ag->lock in the main loop. Only a /metrics render holds it elsewhere:
 * a wait is how late that made the loop (health checks, holds, reloads), said
 * at -v.
 */
static void loop_lock(struct agent *ag)
{
	double t0 = mono_now(), w;

	pthread_mutex_lock(&ag->lock);
	w = mono_now() - t0;
	if (w >= 0.001)
		pr_debug(
			"agent: the main loop waited %.1f ms for its lock (a /metrics render held it)\n",
			w * 1e3);
}

static int run_loop(struct agent *ag, int sfd, const struct drv_metrics_ops *ops)
{
	struct epoll_event ev = { .events = EPOLLIN };
	double next_poll = mono_now() + AGENT_POLL_MS / 1000.0;
	int epfd, err = 0;
	bool stop = false, metrics_dirty;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	ev.data.fd = sfd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = drv_health_fd(&ag->hc);
	epoll_ctl(epfd, EPOLL_CTL_ADD, drv_health_fd(&ag->hc), &ev);

	while (!stop) {
		struct epoll_event evs[4];
		int timeout, t, n, k;
		bool upgrade = false, follow = false;
		double now;
		size_t i;

		agent_doing(ag, "waiting for its own lock");
		loop_lock(ag);
		timeout = drv_health_next_ms(&ag->hc);
		pthread_mutex_unlock(&ag->lock);
		t = (int)((next_poll - mono_now()) * 1000) + 1;
		if (t < 0)
			t = 0;
		if (timeout < 0 || t < timeout)
			timeout = t;
		if (ag->retry && ms_until(&ag->retry_at) < timeout)
			timeout = ms_until(&ag->retry_at);

		agent_doing(ag, "waiting %d ms for a health check, a signal or the next poll",
			    timeout);
		n = epoll_wait(epfd, evs, ARRAY_SIZE(evs), timeout);
		if (n < 0 && errno != EINTR) {
			err = -errno;
			pr_warn("agent: epoll_wait: %s\n", strerror(errno));
			break;
		}
		for (k = 0; k < n; k++) {
			struct signalfd_siginfo si;

			if (evs[k].data.fd != sfd)
				continue;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					agent_doing(ag, "reloading the config on SIGHUP");
					loop_lock(ag);
					reload(ag, "SIGHUP", ops);
					pthread_mutex_unlock(&ag->lock);
				} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					pr_info("received %s, stopping\n",
						strsignal((int)si.ssi_signo));
					stop = true;
				}
			}
		}
		agent_doing(ag, "running the health checks");
		loop_lock(ag);
		drv_health_process(&ag->hc);
		now = mono_now();
		for (i = 0; i < ag->nsvcs; i++) {
			settle_check(ag, &ag->svcs[i], now);
			holds_check(ag, &ag->svcs[i], now);
			leavers_check(ag, &ag->svcs[i], now);
		}
		if (now >= next_poll) {
			next_poll = now + AGENT_POLL_MS / 1000.0;
			agent_doing(ag, "following the pinned maps");
			ro_follow_pins(ag);
			if (ag->adopt_pending && ag->ro_open)
				pins_adopt(ag, "retry");
			upgrade = ag->upgrade_pending;
			follow = true;
			agent_doing(ag, "polling the config file %s", ag->cfg_path);
			if (cfg_changed(ag)) {
				agent_doing(ag, "reloading the config, whose file changed");
				reload(ag, "file changed", ops);
			} else if (tls_files_sig(ag->cfg) != ag->tls_sig) {
				agent_doing(ag,
					    "reloading the config, as a TLS file it names changed");
				reload(ag, "TLS file changed", ops);
			} else if (ag->reload_retry_at && now >= ag->reload_retry_at) {
				agent_doing(ag, "retrying a reload that failed");
				reload(ag, "retry", ops);
			}
		}
		/* With no maps pinned there is nothing to write: it waits until there are. */
		if (ag->ro_open && (ag->dirty || (ag->retry && !ms_until(&ag->retry_at)))) {
			agent_doing(ag, "writing the maps");
			reconcile(ag);
		}
		if (ag->first_write && ag->ro_open && !ag->dirty && !ag->retry &&
		    !ag->adopt_pending) {
			ag->first_write = false;
			ag->ready = true;
			pr_info("agent ready: the maps are written: %zu services, %u interfaces\n",
				ag->cfg->nservices, ag->cfg->nifaces);
		}
		metrics_dirty = ag->metrics_dirty;
		ag->metrics_dirty = false;
		agent_publish(ag);
		sd_update(ag);
		pthread_mutex_unlock(&ag->lock);
		if (upgrade) {
			agent_doing(ag, "swapping this build's XDP program in");
			prog_upgrade(ag);
		}
		if (follow) {
			agent_doing(ag, "following the configured interfaces");
			detach_pending_run(ag, false);
			ifaces_follow(ag);
		}
		agent_doing(ag, "counting the open connections of the leaving nodes");
		leavers_count(ag);
		if (metrics_dirty)
			agent_doing(ag, "moving the metrics endpoint");
		if (metrics_dirty && metrics_apply(ag, ops))
			pr_warn("reload: the new metrics address is not served (said above); the next reload tries again\n");
	}
	close(epfd);
	return err;
}

int drv_agent_main(const char *root, int argc, char **argv)
{
	struct agent *ag;
	struct drv_metrics_ops ops;
	char err_text[DRV_CONF_ERR_MAX];
	const char *path = NULL;
	bool check_only = false;
	sigset_t mask, omask;
	enum iface_left missing[DRV_MAX_IFACES];
	bool all_missing = true, attached[DRV_MAX_IFACES] = { false }, maps_before = false;
	bool started = false;
	__u64 sig;
	int i, sfd = -1, ret = 1, err, agent_lock_fd = -1;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		/* --config=FILE, as --bpffs=PATH: a long option takes its value either way */
		bool eq = !strncmp(a, "--config=", 9);

		if (eq || ((!strcmp(a, "config") || !strcmp(a, "--config") || !strcmp(a, "-c")) &&
			   i + 1 < argc)) {
			if (eq && !a[9]) {
				fprintf(stderr, "Error: '--config=' needs a FILE after the '='\n");
				usage(stderr);
				return 2;
			}
			if (path) {
				fprintf(stderr,
					"Error: '%s' is given twice: the agent runs one configuration\n",
					eq ? "--config" : a);
				usage(stderr);
				return 2;
			}
			path = eq ? a + 9 : argv[++i];
		} else if (!strcmp(a, "config") || !strcmp(a, "--config") || !strcmp(a, "-c")) {
			fprintf(stderr, "Error: '%s' needs a FILE\n", a);
			usage(stderr);
			return 2;
		} else if (!strcmp(argv[i], "--detach-on-exit")) {
			continue;
		} else if (!strcmp(argv[i], "--check")) {
			check_only = true;
		} else if (!strcmp(argv[i], "help") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (looks_like_config(a)) {
			/* `drover run FILE`: the word config was left out */
			fprintf(stderr,
				"Error: what is '%s'? A configuration file is given after the word config: drover run config %s\n",
				a, a);
			usage(stderr);
			return 2;
		} else {
			fprintf(stderr, "Error: what is '%s'?\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "Error: no configuration file: drover run config FILE\n");
		usage(stderr);
		return 2;
	}

	ag = calloc(1, sizeof(*ag));
	if (!ag)
		return 1;
	ag->root = root;
	for (i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--detach-on-exit"))
			ag->detach_on_exit = true;
	snprintf(ag->cfg_path, sizeof(ag->cfg_path), "%s", path);
	pthread_mutex_init(&ag->lock, NULL);
	pthread_mutex_init(&ag->pub_lock, NULL);
	ag->hc.epfd = -1;
	ag->sd.fd = -1; /* drv_sd_open has not run: nothing for drv_sd_close to close */
	snprintf(ag->not_ready, sizeof(ag->not_ready), "starting");

	stat_cfg(ag);
	err = drv_config_load(path, &ag->cfg, err_text, sizeof(err_text));
	if (!err)
		err = cfg_tls_check(path, ag->cfg, err_text, sizeof(err_text));
	if (err) {
		fprintf(stderr, "%s\n", err_text);
		ret = 2;
		goto out_free_cfg; /* NULL unless only the TLS check failed */
	}
	if (check_only) {
		char msg[3 * PATH_MAX + 256];

		/* what start-up would warn about on this host: said, not refused */
		snat_check(ag->cfg);
		for (i = 0; i < (int)ag->cfg->nifaces; i++)
			if (!if_nametoindex(ag->cfg->ifaces[i]))
				pr_warn("Warning: %s: interface '%s' does not exist in this network namespace: the agent would wait for it (it attaches drover once the interface appears; /readyz answers 503 until then); an interface of another namespace (a container's) is checked from inside it: ip netns exec NS drover run config %s --check\n",
					path, ag->cfg->ifaces[i], path);
		forwarding_check(ag->cfg);
		/* start-up would exit 1 on it: not the file's fault, so a warning too */
		if (drv_bpffs_probe(root, msg, sizeof(msg)))
			pr_warn("Warning: %s: the agent would exit 1 at start-up on this host (before touching any interface): %s\n",
				path, msg);
		printf("%s: ok (%zu services, %u interfaces)\n", path, ag->cfg->nservices,
		       ag->cfg->nifaces);
		ret = 0;
		goto out_free_cfg;
	}
	if (drv_sd_open(&ag->sd, err_text, sizeof(err_text)))
		pr_warn("agent: %s: systemd is not told that the agent is ready or alive (a Type=notify unit fails to start); fix the unit's environment\n",
			err_text);
	else if (ag->sd.fd >= 0)
		pr_info("agent: telling systemd how it is on $NOTIFY_SOCKET%s\n",
			ag->sd.watchdog_usec ?
				", with a watchdog ping every half of $WATCHDOG_USEC while the main loop is alive" :
				"");
	ag->reloads_ok = 1;
	ag->last_reload_ok = true;
	ag->last_reload_ok_ts = wall_now();
	ag->tls_sig = tls_files_sig(ag->cfg);
	drv_log_timestamps = 1;
	if (drv_log_level < DRV_LOG_INFO)
		drv_log_level = DRV_LOG_INFO;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, &omask);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		pr_warn("agent: signalfd: %s\n", strerror(errno));
		goto out_sigmask;
	}

	pr_info("drover agent %s starting: config %s, pins under %s\n", DROVER_VERSION, path, root);
	/*
	 * What can fail cheaply fails before any NIC is touched: an exit after
	 * attaching would leave interfaces running XDP (and maps pinned) that no
	 * agent updates. The endpoints serve from here on, so /healthz also
	 * answers while the first attach runs the verifier.
	 */
	if (drv_bpffs_check(root)) {
		pr_warn("agent: exiting (said above); no interface was touched\n");
		goto out_close_sfd;
	}
	/* one agent per pin root, for its lifetime; drover commands keep working */
	agent_lock_fd = drv_agent_lock(root);
	if (agent_lock_fd < 0) {
		pr_warn("agent: exiting (said above); no interface was touched\n");
		goto out_close_sfd;
	}
	ops = (struct drv_metrics_ops){
		.render = render, .ready = is_ready, .alive = is_alive, .arg = ag
	};
	pthread_mutex_lock(&ag->lock);
	agent_publish(ag); /* /healthz counts a stuck start-up from here */
	pthread_mutex_unlock(&ag->lock);
	watchdog_start(ag); /* so does the watchdog: a start-up stuck for good is restarted */
	agent_doing(ag, "starting: attaching and writing the first tables");
	if (metrics_apply(ag, &ops)) {
		pr_warn("agent: exiting: /metrics, /healthz and /readyz can't be served on http://%s (said above); no interface was touched: fix the cause, or metrics: listen: in %s (off: no endpoints)\n",
			ag->cfg->metrics_listen, path);
		goto out_close_sfd;
	}
	forwarding_check(ag->cfg);
	prog_upgrade(ag);
	maps_before = !drv_pins_sig(root, &sig);
	if (ifaces_attach(ag, ag->cfg, missing, attached))
		goto out_health;
	ifaces_wait(ag, ag->cfg, missing, ag->ifw);
	for (i = 0; i < (int)ag->cfg->nifaces; i++)
		all_missing &= missing[i] != IFACE_HANDLED;
	/*
	 * No interface exists yet, and no maps are pinned (by an agent before
	 * this one): the maps come with the first attach (ro_follow_pins).
	 */
	if (all_missing && drv_pins_sig(root, &sig) == -ENOENT) {
		pr_info("agent: no maps are pinned under %s yet: the services are written once an interface is attached\n",
			root);
	} else {
		pthread_mutex_lock(&ag->lock); /* render reads ro from here on */
		err = drv_ctl_open(&ag->ro, root, 0);
		ag->ro_open = !err;
		ag->ro_ever = !err;
		pthread_mutex_unlock(&ag->lock);
		if (err) {
			pr_warn("agent: cannot open the pinned maps under %s: %s\n", root,
				strerror(-err));
			goto out_health;
		}
	}
	err = drv_health_init(&ag->hc);
	if (err)
		goto out_health;

	pthread_mutex_lock(&ag->lock);
	snat_check(ag->cfg);
	err = svcs_build(ag, ag->cfg, NULL, 0, &ag->svcs);
	if (!err)
		ag->nsvcs = ag->cfg->nservices;
	if (!err && !ag->ro_open) {
		snprintf(ag->not_ready, sizeof(ag->not_ready),
			 "no interface attached yet: the maps are written once one is");
		ag->first_write = true;
		ag->dirty = true;
	} else if (!err) {
		err = pins_adopt(ag, "agent");
		if (!err)
			err = reconcile(ag);
	}
	/*
	 * A drover command holds the pin root's lock (an attach: seconds): the
	 * run loop writes the maps once it is free, as after a reload.
	 */
	if (err == -EWOULDBLOCK) {
		pr_info("agent: a drover command holds the lock on %s: the maps are written once it lets go\n",
			root);
		snprintf(ag->not_ready, sizeof(ag->not_ready),
			 "waiting for the lock on %s (a drover command holds it) to write the maps",
			 root);
		ag->first_write = true;
		err = 0;
	}
	if (err) {
		pthread_mutex_unlock(&ag->lock);
		pr_warn("agent: the first update of the maps failed; see the messages above\n");
		goto out_health;
	}
	err = checks_start(ag);
	if (err) {
		pthread_mutex_unlock(&ag->lock);
		goto out_health;
	}
	ag->ready = !ag->first_write;
	agent_publish(ag);
	sd_update(ag);
	pthread_mutex_unlock(&ag->lock);

	if (!ag->first_write)
		pr_info("agent ready: %zu services, %u interfaces\n", ag->cfg->nservices,
			ag->cfg->nifaces);

	started = true;
	err = run_loop(ag, sfd, &ops);
	ret = err ? 1 : 0;
	sd_send(ag, "STOPPING=1");

	drv_metrics_stop(ag->metrics);
	ag->metrics = NULL;
	if (detach_pending_run(ag, true))
		ret = 1;
	if (ag->detach_on_exit) {
		struct drv_prog_iface ifs[DRV_MAX_IFACES];
		int n = drv_prog_list(root, ifs, DRV_MAX_IFACES);

		for (i = 0; i < (int)ag->cfg->nifaces; i++) {
			const char *name = ag->cfg->ifaces[i];

			if (ag->ifw[i].waiting)
				continue; /* never attached */
			/* detached meanwhile (drover detach): that was meant, nothing to undo */
			if (n >= 0 && !iface_pin(ifs, n, name)) {
				pr_info("%s: no link pin (detached meanwhile): nothing to detach\n",
					name);
				continue;
			}
			if (drv_prog_detach(root, name)) /* each says "detached drover from" */
				ret = 1;
		}
	} else {
		pr_info("exiting; XDP stays attached and forwarding continues with the last tables\n");
	}
out_health:
	drv_metrics_stop(ag->metrics); /* before the state it renders goes */
	ag->metrics = NULL;
	checks_stop(ag);
	drv_health_fini(&ag->hc);
	if (ag->ro_open)
		drv_ctl_close(&ag->ro);
	if (!started) {
		sd_send(ag, "STOPPING=1");
		startup_undo(ag, attached, maps_before);
	}
out_close_sfd:
	watchdog_stop(ag);
	drv_agent_unlock(root, agent_lock_fd);
	close(sfd);
out_sigmask:
	sigprocmask(SIG_SETMASK, &omask, NULL);
	svcs_free(ag->svcs, ag->nsvcs);
	drv_want_free(&ag->applied);
out_free_cfg:
	drv_sd_close(&ag->sd);
	drv_config_free(ag->cfg);
	pthread_mutex_destroy(&ag->pub_lock);
	pthread_mutex_destroy(&ag->lock);
	free(ag);
	return ret;
}
