/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The agent's HTTP endpoint (libmicrohttpd, its own thread): /metrics in
 * Prometheus text format, /healthz (alive: the agent's main loop turns, else
 * 503) and /readyz (attached with a config loaded, else 503). What /metrics
 * says is rendered by the agent through a callback, from a copy of its
 * state taken under the agent's own lock. One thread serves every endpoint,
 * so ready and alive must not wait (they read a state published for them),
 * or /healthz, the liveness probe, waits too; render runs on a thread of its
 * own, one render at a time, while its request waits (render gives up with
 * -EBUSY, answered 503, so that scrapes do not pile up).
 */
#ifndef __DROVER_METRICS_H
#define __DROVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* A growing text buffer; after an allocation failure it stays failed (err set). */
struct drv_mbuf {
	char *p;
	size_t len, cap;
	int err;
};

void drv_mbuf_printf(struct drv_mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append the @len bytes at @s as they are. */
void drv_mbuf_put(struct drv_mbuf *b, const char *s, size_t len);
/* Append @s escaped as a Prometheus label value (\\, \" and \n). */
void drv_mbuf_label(struct drv_mbuf *b, const char *s);
void drv_mbuf_free(struct drv_mbuf *b);

struct drv_metrics_ops {
	/*
	 * Render /metrics into @b. Called from the render thread, never twice at once.
	 * Return: 0, or -EBUSY when the state can't be read now (answered 503).
	 */
	int (*render)(struct drv_mbuf *b, void *arg);
	/* Ready? If not, say why in @why. Must not wait for long. */
	bool (*ready)(void *arg, char *why, size_t len);
	/*
	 * Alive (/healthz, the liveness probe)? If not, say why in @why
	 * (answered 503). Must not wait. NULL: alive while the thread serves.
	 */
	bool (*alive)(void *arg, char *why, size_t len);
	void *arg;
	/*
	 * A connection that makes no progress this long in a request (or opened
	 * and never used) is closed; 0: 5 s (the agent's). Kept alive between
	 * requests, one waits 120 s.
	 */
	unsigned int idle_timeout_s;
};

struct drv_metrics;

/*
 * drv_metrics_start - serve on @listen ("ADDR:PORT" or "[ADDR6]:PORT")
 * Return: the server, or NULL with errno set (message logged).
 */
struct drv_metrics *drv_metrics_start(const char *listen, const struct drv_metrics_ops *ops);
void drv_metrics_stop(struct drv_metrics *m);

#endif /* __DROVER_METRICS_H */
