/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Health checks of the agent: a rise/fall state machine (pure) and a
 * non-blocking checker (one epoll set, one thread) running TCP, HTTP, HTTPS
 * and TLS checks side by side, so a slow node never delays another.
 */
#ifndef __DROVER_HEALTH_H
#define __DROVER_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "drover/maps.h"
#include "config.h"

/* Rise/fall: @up changes only after @rise passes or @fall failures in a row. */
struct drv_hc_state {
	bool up;
	__u32 ok_run; /* consecutive passes */
	__u32 fail_run; /* consecutive failures */
};

enum drv_hc_event {
	DRV_HC_SAME = 0,
	DRV_HC_WENT_UP,
	DRV_HC_WENT_DOWN,
};

/* Start in state @up (adopted from the pinned maps or assumed), no streaks. */
void drv_hc_state_init(struct drv_hc_state *s, bool up);
/* Record one check result; returns whether the state flipped. */
enum drv_hc_event drv_hc_state_update(struct drv_hc_state *s, bool ok, __u32 rise, __u32 fall);

struct drv_check;
/* Called once per finished check. @why says what failed ("" when @ok). */
typedef void (*drv_check_cb)(struct drv_check *c, bool ok, const char *why, void *arg);

/* One node checked one way. The owner fills the first block and keeps @conf alive. */
struct drv_check {
	const struct drv_hc_conf *conf;
	union drv_addr addr;
	__u8 family;
	__u16 port; /* host order, resolved (conf->port or the service port) */
	drv_check_cb cb;
	void *arg;

	/* Results, for logs and metrics. */
	bool last_ok;
	double last_latency_s; /* duration of the last finished check */
	char last_why[160];
	__u64 n_ok, n_fail;

	/* Private to health.c. */
	int fd;
	int phase;
	__u32 events; /* what epoll waits for on fd */
	void *ssl_ctx, *ssl;
	__u64 started_ns, deadline_ns, next_ns;
	char *buf; /* request, then response */
	size_t len, off;
	size_t idx; /* position in drv_health.checks */
	size_t hpos; /* position in drv_health.due */
};

/* An entry of drv_health.due: when @c is next due, copied so the heap reads no check. */
struct drv_due {
	__u64 at;
	struct drv_check *c;
};

struct drv_health {
	int epfd;
	struct drv_check **checks;
	/*
	 * The same checks as a min-heap by when each is next due (its start when
	 * idle, its timeout in flight): a round looks at the due ones only, not
	 * at every check for every socket event.
	 */
	struct drv_due *due;
	size_t n, cap;
	__u64 looked; /* checks drv_health_process() looked at for a timer, ever */
	unsigned int seed;
	/* Checks put off for want of a socket (EMFILE ...): since when, last time, how many. */
	__u64 short_since_ns, short_last_ns;
	__u64 n_short;
	/* End of the last drv_health_process and its next timer: a later call was held up. */
	__u64 last_ns, due_ns;
};

/*
 * drv_hc_tls_check - can the TLS settings of @hc be used (CA bundle, client
 * certificate and key readable and matching)? For config validation.
 * Return: 0, or -EINVAL with @err set.
 */
int drv_hc_tls_check(const struct drv_hc_conf *hc, char *err, size_t len);

/**
 * drv_hc_tls_name - the name a TLS check sends (SNI) and verifies
 * @buf: room for the name when it comes from `host` (sizeof hc->host)
 * Return: `sni` if set, else `host` without its :port, else NULL (an IP
 * literal is no name: the certificate is then matched against the node's
 * address).
 */
const char *drv_hc_tls_name(const struct drv_hc_conf *hc, char *buf, size_t len);

/* Also raises the soft RLIMIT_NOFILE to the hard one: each check in flight holds a socket. */
int drv_health_init(struct drv_health *h);
void drv_health_fini(struct drv_health *h); /* aborts running checks, keeps the drv_checks */
/* Start checking @c: first check within min(interval, 1 s). 0 or -errno (message logged). */
int drv_health_add(struct drv_health *h, struct drv_check *c);
void drv_health_remove(struct drv_health *h, struct drv_check *c);
/* The fd to poll for readability (an epoll fd) and how long until a timer is due (ms, -1 none). */
int drv_health_fd(const struct drv_health *h);
int drv_health_next_ms(const struct drv_health *h);
/* Handle ready sockets, expired timeouts and due checks; never blocks. */
void drv_health_process(struct drv_health *h);

/*
 * drv_http_evaluate - judge an HTTP response received so far
 * @buf, @len: response bytes (need not be NUL-terminated)
 * @complete: no more bytes will come (EOF or buffer full)
 * @hc: expected status codes and body substring
 * @why, @whylen: reason on failure
 *
 * Return: 1 pass, 0 fail, -EAGAIN need more bytes.
 */
int drv_http_evaluate(const char *buf, size_t len, bool complete, const struct drv_hc_conf *hc,
		      char *why, size_t whylen);

#endif /* __DROVER_HEALTH_H */
