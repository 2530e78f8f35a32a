// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics.h"

/*
 * The probes (kubelet on 127.0.0.1) share their address with every local
 * client, so a limit per address would let any process of the host that holds
 * a few idle connections shut them out. Past CONN_SOFT connections instead,
 * the one idle longest (kept alive after its answer, or opened and not used)
 * is shut down to make room, as nginx reuses its keep-alive connections.
 * Connections with a request in flight are left alone; CONN_MAX bounds all,
 * with room for those shut down that MHD has not reaped yet.
 */
#define CONN_MAX 64u
#define CONN_SOFT 48u
/*
 * Each /metrics answer is a buffer of its own (megabytes with thousands of
 * backends) until its reader has it all: readers that stall would grow the
 * agent up to its memory limit. Past this many in flight, /metrics says 503.
 */
#define METRICS_IN_FLIGHT 8u
/* A connection that makes no progress this long is closed (a reader that stalls for good). */
#define IDLE_TIMEOUT_S 5u
/*
 * Between requests, a connection kept alive waits this long for the next one:
 * Prometheus scrapes every 15 s to 1 min on one connection per target (its
 * client keeps idle ones 5 min), and one closed sooner is one more connect per
 * scrape. Idle connections are bounded all the same: the one idle longest is
 * shut down to make room (conns_make_room).
 */
#define KEEPALIVE_TIMEOUT_S 120u

/*
 * A /metrics render, done on the render thread while its connection is
 * suspended, so that MHD's thread, which answers every request in turn, never
 * waits for one: /healthz is the liveness probe (3 s). The request's state
 * (MHD's *state) points here from the request whole to its answer.
 */
struct render_job {
	struct render_job *next;
	struct MHD_Connection *conn;
	struct drv_mbuf b;
	int ret; /* of ops.render; -ECANCELED: the server stops */
};

/* One open connection; touched only from MHD's thread. */
struct conn {
	struct conn *next, **pprev;
	int fd;
	bool busy; /* a request is in flight */
	bool shut; /* shut down to make room, not reaped yet */
	bool metrics; /* sending a /metrics answer */
	unsigned long long idle_seq; /* when it became idle: the lowest goes first */
};

struct drv_metrics {
	struct MHD_Daemon *d;
	struct drv_metrics_ops ops;
	struct conn *conns;
	unsigned int nconns; /* not shut down */
	unsigned long long seq;
	unsigned int idle_s; /* MHD_CONNECTION_OPTION_TIMEOUT while a request is in flight */
	/*
	 * Renders to do, in order, by one thread: one at a time, so the render
	 * callback never runs twice at once. Under jobs_lock.
	 */
	pthread_t render_thread;
	pthread_mutex_t jobs_lock;
	pthread_cond_t jobs_cond;
	struct render_job *jobs, **jobs_tail;
	unsigned int suspended; /* connections suspended for a render, not answered or closed yet */
	bool stopping;
};

static void job_free(struct render_job *j)
{
	drv_mbuf_free(&j->b);
	free(j);
}

/* A request's render job ends (answered or its connection closed): MHD's thread. */
static void job_end(struct drv_metrics *m, struct render_job *j)
{
	job_free(j);
	pthread_mutex_lock(&m->jobs_lock);
	m->suspended--;
	pthread_cond_broadcast(&m->jobs_cond);
	pthread_mutex_unlock(&m->jobs_lock);
}

static void *render_main(void *arg)
{
	struct drv_metrics *m = arg;
	struct render_job *j;

	pthread_mutex_lock(&m->jobs_lock);
	for (;;) {
		while (!m->jobs && !m->stopping)
			pthread_cond_wait(&m->jobs_cond, &m->jobs_lock);
		if (m->stopping)
			break; /* drv_metrics_stop answers those left */
		j = m->jobs;
		m->jobs = j->next;
		if (!m->jobs)
			m->jobs_tail = &m->jobs;
		pthread_mutex_unlock(&m->jobs_lock);
		/*
		 * This thread's malloc arena holds what the last render freed (its
		 * text, freed by MHD once sent; tables past glibc's mmap threshold,
		 * which rises as they are freed): give it back, or the agent's RSS
		 * drifts up by a render's size or two with each new high.
		 */
		malloc_trim(0);
		j->ret = m->ops.render(&j->b, m->ops.arg);
		/* MHD calls handle() again, which answers: j is MHD's from here */
		MHD_resume_connection(j->conn);
		pthread_mutex_lock(&m->jobs_lock);
	}
	pthread_mutex_unlock(&m->jobs_lock);
	return NULL;
}

static void conns_make_room(struct drv_metrics *m, const struct conn *keep)
{
	struct conn *k, *oldest;

	while (m->nconns > CONN_SOFT) {
		oldest = NULL;
		for (k = m->conns; k; k = k->next)
			if (k != keep && !k->busy && !k->shut && k->fd >= 0 &&
			    (!oldest || k->idle_seq < oldest->idle_seq))
				oldest = k;
		if (!oldest)
			return;
		/* MHD sees the end of the stream and closes it (on_conn CLOSED). */
		shutdown(oldest->fd, SHUT_RDWR);
		oldest->shut = true;
		m->nconns--;
	}
}

static void on_conn(void *cls, struct MHD_Connection *c, void **sctx,
		    enum MHD_ConnectionNotificationCode code)
{
	struct drv_metrics *m = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn *k = *sctx;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		k = calloc(1, sizeof(*k));
		if (!k)
			return; /* not tracked: never shut down */
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		k->fd = ci ? ci->connect_fd : -1;
		k->idle_seq = ++m->seq;
		k->next = m->conns;
		k->pprev = &m->conns;
		if (m->conns)
			m->conns->pprev = &k->next;
		m->conns = k;
		m->nconns++;
		*sctx = k;
		conns_make_room(m, k);
		return;
	}
	if (!k)
		return;
	*k->pprev = k->next;
	if (k->next)
		k->next->pprev = k->pprev;
	if (!k->shut)
		m->nconns--;
	free(k);
	*sctx = NULL;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* A request ended (answered, or the connection closed): the connection is idle from now. */
static void on_completed(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode toe)
{
	struct drv_metrics *m = cls;
	struct conn *k = conn_of(c);

	/* a render done but not answered (the connection closed, or the server stops) */
	if (*state && *state != c)
		job_end(m, *state);
	*state = NULL;
	/*
	 * Answered: wait for the next request longer than for a reader. (If MHD
	 * closes the connection next, Connection: close, this changes nothing.)
	 */
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, KEEPALIVE_TIMEOUT_S);
	if (!k)
		return;
	k->busy = false;
	k->metrics = false;
	k->idle_seq = ++m->seq;
}

static void mbuf_grow(struct drv_mbuf *b, size_t need)
{
	size_t cap;
	char *np;

	if (b->err || b->len + need + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + need + 1)
		cap *= 2;
	np = realloc(b->p, cap);
	if (!np) {
		b->err = -ENOMEM;
		return;
	}
	b->p = np;
	b->cap = cap;
}

void drv_mbuf_printf(struct drv_mbuf *b, const char *fmt, ...)
{
	size_t room = b->cap - b->len;
	va_list ap;
	int n;

	if (b->err)
		return;
	/* Formatted once where it fits (nearly always): twice only to grow. */
	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = -EINVAL;
		return;
	}
	if ((size_t)n >= room) {
		mbuf_grow(b, (size_t)n);
		if (b->err)
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void drv_mbuf_put(struct drv_mbuf *b, const char *s, size_t len)
{
	mbuf_grow(b, len);
	if (b->err)
		return;
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = 0;
}

void drv_mbuf_label(struct drv_mbuf *b, const char *s)
{
	size_t n = strlen(s), i, run;

	mbuf_grow(b, 2 * n); /* every character escaped, at most */
	if (b->err)
		return;
	for (i = 0; i < n; i += run) {
		run = strcspn(s + i, "\\\"\n");
		memcpy(b->p + b->len, s + i, run);
		b->len += run;
		if (i + run == n)
			break;
		b->p[b->len++] = '\\';
		b->p[b->len++] = s[i + run] == '\n' ? 'n' : s[i + run];
		run++;
	}
	b->p[b->len] = 0;
}

void drv_mbuf_free(struct drv_mbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
			     char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * The request says it has a body: a Content-Length other than 0, chunks, or an
 * Expect (100-continue: the client waits before sending one). MHD 0.9.75 sends
 * "100 Continue" to any request with Expect not answered on the first call,
 * then waits for a body that may never come (none after Content-Length: 0).
 */
static bool has_body(struct MHD_Connection *conn)
{
	const char *len =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT))
		return true;
	return len && len[strspn(len, "0")];
}

static const char stopping[] = "the agent is stopping or moving this endpoint; try again\n";

/* Answer a /metrics request from its render (@j, freed). */
static enum MHD_Result metrics_answer(struct drv_metrics *m, struct MHD_Connection *conn,
				      struct render_job *j)
{
	static const char text[] = "text/plain; charset=utf-8";
	enum MHD_Result ret;

	if (j->ret == -EBUSY) {
		static const char busy[] =
			"busy: the agent is applying a change (a reload, a map update); try again\n";

		ret = reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text, (char *)busy,
			    sizeof(busy) - 1, MHD_RESPMEM_PERSISTENT);
	} else if (j->ret == -ECANCELED) {
		ret = reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text, (char *)stopping,
			    sizeof(stopping) - 1, MHD_RESPMEM_PERSISTENT);
	} else if (j->b.err || !j->b.p) {
		ret = reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "out of memory\n", 14,
			    MHD_RESPMEM_PERSISTENT);
	} else {
		/* MHD frees b.p with free() once sent. */
		ret = reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", j->b.p,
			    j->b.len, MHD_RESPMEM_MUST_FREE);
		j->b.p = NULL;
	}
	job_end(m, j);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	struct drv_metrics *m = cls;
	static const char text[] = "text/plain; charset=utf-8";
	char why[256], msg[300];
	struct conn *k;
	int n;

	(void)version;
	(void)upload;
	k = conn_of(conn);
	if (k)
		k->busy = true;
	/* resumed: its render is done */
	if (*state && *state != conn) {
		struct render_job *j = *state;

		*state = conn;
		return metrics_answer(m, conn, j);
	}
	/*
	 * MHD calls first with the headers alone, then again once the request
	 * is whole. An answer queued on the first call is "early": MHD 0.9.75
	 * then reads no more of the connection and closes it after the answer
	 * (Connection: close), so it is queued on the second call and the
	 * connection stays open for the next request. A request with a body
	 * (these endpoints take none) is answered at once: its body is not
	 * read, which a client streaming one without end would make last for
	 * ever, and the connection closes.
	 */
	if (!*state) {
		*state = conn;
		/* a request in flight: a reader that stalls is closed soon (on_completed) */
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, m->idle_s);
		if (!has_body(conn))
			return MHD_YES;
	} else if (*upload_len) {
		*upload_len = 0; /* a body has_body() did not see: dropped */
		return MHD_YES;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, "only GET and HEAD\n", 18,
			     MHD_RESPMEM_PERSISTENT);
	if (!strcmp(url, "/metrics")) {
		unsigned int inflight = 0;
		struct render_job *j;
		struct conn *o;

		/*
		 * HEAD is answered as GET is, rendered, so its status and headers
		 * are the GET's (RFC 9110 9.3.2), 503 and Content-Length included;
		 * MHD sends no body after it and keeps the connection. Go's
		 * net/http (Prometheus' own exporters) renders for a HEAD too.
		 */
		for (o = m->conns; o; o = o->next)
			inflight += o->metrics;
		if (inflight >= METRICS_IN_FLIGHT) {
			n = snprintf(msg, sizeof(msg),
				     "busy: %u /metrics answers are still being sent; try again\n",
				     inflight);
			return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text, msg, (size_t)n,
				     MHD_RESPMEM_MUST_COPY);
		}
		j = calloc(1, sizeof(*j));
		if (!j)
			return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "out of memory\n",
				     14, MHD_RESPMEM_PERSISTENT);
		/*
		 * Rendered on the render thread: the connection waits suspended
		 * (no timeout runs meanwhile), and handle() answers once resumed.
		 * Suspended before it is queued, so never resumed before; none
		 * is queued once drv_metrics_stop has begun.
		 */
		pthread_mutex_lock(&m->jobs_lock);
		if (m->stopping) {
			pthread_mutex_unlock(&m->jobs_lock);
			free(j);
			return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text, (char *)stopping,
				     sizeof(stopping) - 1, MHD_RESPMEM_PERSISTENT);
		}
		j->conn = conn;
		*state = j;
		if (k)
			k->metrics = true; /* in flight from now: queued, rendered, then sent */
		MHD_suspend_connection(conn);
		m->suspended++;
		*m->jobs_tail = j;
		m->jobs_tail = &j->next;
		pthread_cond_signal(&m->jobs_cond);
		pthread_mutex_unlock(&m->jobs_lock);
		return MHD_YES;
	}
	if (!strcmp(url, "/healthz")) {
		why[0] = 0;
		if (!m->ops.alive || m->ops.alive(m->ops.arg, why, sizeof(why)))
			return reply(conn, MHD_HTTP_OK, text, "ok\n", 3, MHD_RESPMEM_PERSISTENT);
		n = snprintf(msg, sizeof(msg), "%s\n", why);
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text, msg,
			     n < (int)sizeof(msg) ? (size_t)n : sizeof(msg) - 1,
			     MHD_RESPMEM_MUST_COPY);
	}
	if (!strcmp(url, "/readyz")) {
		why[0] = 0;
		if (m->ops.ready(m->ops.arg, why, sizeof(why)))
			return reply(conn, MHD_HTTP_OK, text, "ready\n", 6, MHD_RESPMEM_PERSISTENT);
		n = snprintf(msg, sizeof(msg), "not ready: %s\n", why);
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text, msg,
			     n < (int)sizeof(msg) ? (size_t)n : sizeof(msg) - 1,
			     MHD_RESPMEM_MUST_COPY);
	}
	return reply(conn, MHD_HTTP_NOT_FOUND, text, "not found: try /metrics, /healthz, /readyz\n",
		     43, MHD_RESPMEM_PERSISTENT);
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (listen[0] == '[') {
		colon = strstr(listen, "]:");
		if (!colon || (size_t)(colon - listen - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen + 1, colon - listen - 1);
		host[colon - listen - 1] = 0;
		colon++;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || (size_t)(colon - listen) >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen, colon - listen);
		host[colon - listen] = 0;
	}
	port = strtoul(colon + 1, &end, 10);
	if (*end || !port || port > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((unsigned short)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((unsigned short)port);
		return 0;
	}
	return -EINVAL;
}

static void render_thread_stop(struct drv_metrics *m)
{
	pthread_mutex_lock(&m->jobs_lock);
	m->stopping = true;
	pthread_cond_signal(&m->jobs_cond);
	pthread_mutex_unlock(&m->jobs_lock);
	pthread_join(m->render_thread, NULL);
}

struct drv_metrics *drv_metrics_start(const char *listen, const struct drv_metrics_ops *ops)
{
	struct sockaddr_storage ss;
	struct drv_metrics *m;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			     MHD_ALLOW_SUSPEND_RESUME;
	unsigned int idle = ops->idle_timeout_s ? ops->idle_timeout_s : IDLE_TIMEOUT_S;
	unsigned short port;
	int err;

	if (parse_listen(listen, &ss)) {
		pr_warn("metrics: cannot parse listen address '%s': use ADDR:PORT\n", listen);
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->ops = *ops;
	m->idle_s = idle;
	m->jobs_tail = &m->jobs;
	pthread_mutex_init(&m->jobs_lock, NULL);
	pthread_cond_init(&m->jobs_cond, NULL);
	err = pthread_create(&m->render_thread, NULL, render_main, m);
	if (err) {
		pr_warn("metrics: cannot start the thread that renders /metrics: %s; free some memory or raise the process's thread limit\n",
			strerror(err));
		goto out_free;
	}
	if (ss.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	m->d = MHD_start_daemon(flags, port, NULL, NULL, handle, m, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, CONN_MAX,
				MHD_OPTION_NOTIFY_CONNECTION, on_conn, m,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
				MHD_OPTION_CONNECTION_TIMEOUT, idle, MHD_OPTION_END);
	if (!m->d) {
		int e = errno ? errno : EADDRINUSE;
		const char *hint;

		if (e == EADDRINUSE)
			hint = "another process (another agent?) listens there: stop it, or set another port with metrics: listen: in the config";
		else if (e == EADDRNOTAVAIL)
			hint = "that address is not one of this host (or network namespace): set metrics: listen: in the config to one that is, such as 127.0.0.1";
		else if (e == EACCES)
			hint = "a port below 1024 needs CAP_NET_BIND_SERVICE: set a higher one with metrics: listen: in the config";
		else
			hint = "set another address with metrics: listen: in the config";
		pr_warn("metrics: cannot listen on %s: %s; %s\n", listen, strerror(e), hint);
		err = e;
		goto out_stop_thread;
	}
	return m;
out_stop_thread:
	render_thread_stop(m);
out_free:
	pthread_cond_destroy(&m->jobs_cond);
	pthread_mutex_destroy(&m->jobs_lock);
	free(m);
	errno = err;
	return NULL;
}

void drv_metrics_stop(struct drv_metrics *m)
{
	struct render_job *j;
	struct timespec until;

	if (!m)
		return;
	/*
	 * The render under way ends first (render gives up waiting for the
	 * agent's lock within a second); those not begun are answered 503.
	 * MHD 0.9.75 stops only with no connection left suspended.
	 */
	render_thread_stop(m);
	pthread_mutex_lock(&m->jobs_lock);
	while ((j = m->jobs)) {
		m->jobs = j->next;
		j->ret = -ECANCELED;
		MHD_resume_connection(j->conn);
	}
	/*
	 * ... and only once MHD's thread has taken them back (answered or
	 * closed): one resumed just before MHD_stop_daemon still counts as
	 * suspended there. Bounded, in case MHD never does.
	 */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	while (m->suspended &&
	       pthread_cond_timedwait(&m->jobs_cond, &m->jobs_lock, &until) != ETIMEDOUT)
		;
	if (m->suspended)
		pr_warn("metrics: %u /metrics requests still wait for their answer after 10 s; stopping the endpoint all the same\n",
			m->suspended);
	pthread_mutex_unlock(&m->jobs_lock);
	MHD_stop_daemon(m->d);
	pthread_cond_destroy(&m->jobs_cond);
	pthread_mutex_destroy(&m->jobs_lock);
	free(m);
}
