// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Non-blocking health checks. Each check is a small state machine driven by
 * one epoll set: connect → (TLS handshake) → (send request → read response).
 * A check starts every interval (shortened by jitter), measured from the start
 * of the previous one, and fails at its timeout (≤ interval), so a node that
 * dies is seen failing `fall` times within fall × interval + timeout.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "health.h"
#include "log.h"
#include "util.h"

#define HC_BUF_SIZE 8192
/* A check that cannot get a socket tries again this much later... */
#define HC_SHORT_RETRY_NS 100000000ull
/* ... and the shortage is over (logged) once no check has waited for this long. */
#define HC_SHORT_OVER_NS 60000000000ull
/* Called this much after its next timer was due, the checker was held up (not the nodes). */
#define HC_LATE_NS 100000000ull

enum {
	PH_IDLE = 0,
	PH_CONNECT,
	PH_TLS,
	PH_SEND,
	PH_RECV,
};

static const char *const phase_names[] = { "idle", "connect", "TLS handshake", "send", "receive" };

void drv_hc_state_init(struct drv_hc_state *s, bool up)
{
	s->up = up;
	s->ok_run = 0;
	s->fail_run = 0;
}

enum drv_hc_event drv_hc_state_update(struct drv_hc_state *s, bool ok, __u32 rise, __u32 fall)
{
	if (ok) {
		s->fail_run = 0;
		if (s->ok_run < UINT32_MAX)
			s->ok_run++;
		if (!s->up && s->ok_run >= rise) {
			s->up = true;
			return DRV_HC_WENT_UP;
		}
	} else {
		s->ok_run = 0;
		if (s->fail_run < UINT32_MAX)
			s->fail_run++;
		if (s->up && s->fail_run >= fall) {
			s->up = false;
			return DRV_HC_WENT_DOWN;
		}
	}
	return DRV_HC_SAME;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/*
 * The body text to find, looked for in the body's bytes as they are walked,
 * piece by piece (the chunks of a chunked body): a text split across two
 * pieces is found by keeping the last nlen - 1 bytes seen.
 */
struct body_find {
	const char *needle;
	size_t nlen;
	bool found;
	size_t tlen;
	char tail[2 * DRV_CONF_STR_MAX];
};

static void body_feed(struct body_find *f, const char *p, size_t n)
{
	size_t keep = f->nlen - 1, k;

	if (!f->nlen || f->found || !n)
		return;
	/* the text across the last piece's end and this one's start */
	k = n < keep ? n : keep;
	memcpy(f->tail + f->tlen, p, k);
	if (memmem(f->tail, f->tlen + k, f->needle, f->nlen) || memmem(p, n, f->needle, f->nlen)) {
		f->found = true;
		return;
	}
	if (n >= keep) {
		memcpy(f->tail, p + n - keep, keep);
		f->tlen = keep;
	} else if (f->tlen + n > keep) {
		memmove(f->tail, f->tail + f->tlen + n - keep, keep);
		f->tlen = keep;
	} else {
		f->tlen += n;
	}
}

/* The line at @p: its end without a CR (NULL while its LF has not come), @next past the LF. */
static const char *line_end(const char *p, const char *end, const char **next)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));

	if (!lf)
		return NULL;
	*next = lf + 1;
	return lf > p && lf[-1] == '\r' ? lf - 1 : lf;
}

/*
 * head_end - the end of the head at @p (a status line, then header fields):
 * its first empty line. A line ends in CRLF or, as RFC 9112 2.2 lets a
 * recipient take it, a bare LF: small health endpoints (a script behind
 * socat or nc) answer so, and waiting for a CRLF CRLF that never comes would
 * fail them at the timeout, for nothing an operator could see.
 * Return: the empty line (just past the last field line's LF), with @body past
 * it; NULL while it has not come.
 */
static const char *head_end(const char *p, const char *end, const char **body)
{
	const char *eol, *next;

	if (!line_end(p, end, &next)) /* the status line */
		return NULL;
	for (p = next; (eol = line_end(p, end, &next)); p = next)
		if (eol == p) {
			*body = next;
			return p;
		}
	return NULL;
}

/*
 * chunked_walk - walk a chunked body (RFC 9112 7.1) from @p to @end, feeding
 * the chunks' data (only it: not sizes, extensions or trailers) to @f
 * @whole: set once the last chunk and the trailers' end have come
 *
 * The end is where the framing says, never bytes that look like it: a chunk's
 * data is skipped by its size, whatever it holds. A size line that has not
 * all come is waited for; one that is no hex number, or does not fit in
 * 64 bits, or a chunk not followed by its line end (the size lies) is a broken
 * answer.
 * Return: 0 (whole, found or waiting for more), or -EBADMSG with @why set.
 */
static int chunked_walk(const char *p, const char *end, struct body_find *f, bool *whole, char *why,
			size_t whylen)
{
	const char *eol, *next, *q;
	size_t size, avail;

	*whole = false;
	for (;;) {
		if (f->found)
			return 0;
		eol = line_end(p, end, &next);
		if (!eol)
			return 0;
		for (size = 0, q = p; q < eol && isxdigit((unsigned char)*q); q++) {
			if (size > SIZE_MAX >> 4) {
				snprintf(why, whylen,
					 "broken chunked body: chunk size '%.*s' too large",
					 (int)((size_t)(eol - p) < 24 ? eol - p : 24), p);
				return -EBADMSG;
			}
			size = size << 4 | (size_t)(isdigit((unsigned char)*q) ?
							    *q - '0' :
							    tolower((unsigned char)*q) - 'a' + 10);
		}
		if (q == p) {
			snprintf(why, whylen, "broken chunked body: no chunk size in '%.*s'",
				 (int)((size_t)(eol - p) < 24 ? eol - p : 24), p);
			return -EBADMSG;
		}
		while (q < eol && (*q == ' ' || *q == '\t'))
			q++;
		if (q < eol && *q != ';') {
			snprintf(why, whylen, "broken chunked body: '%.*s' after a chunk size",
				 (int)((size_t)(eol - q) < 24 ? eol - q : 24), q);
			return -EBADMSG;
		}
		p = next;
		if (!size) {
			/* the trailers, up to an empty line */
			while ((eol = line_end(p, end, &next))) {
				if (eol == p) {
					*whole = true;
					return 0;
				}
				p = next;
			}
			return 0;
		}
		avail = (size_t)(end - p);
		body_feed(f, p, size < avail ? size : avail);
		if (avail < size || f->found)
			return 0;
		/*
		 * CRLF, strictly (unlike the head's lines): a bare LF would let
		 * "5\r\npong\r\n" pass for a 4-byte chunk
		 */
		p += size;
		if (p < end && *p == '\n') {
			snprintf(
				why, whylen,
				"broken chunked body: a chunk of %zu bytes ends in a bare LF, not CRLF (RFC 9112 7.1)",
				size);
			return -EBADMSG;
		}
		if (p < end && (*p != '\r' || (p + 1 < end && p[1] != '\n'))) {
			snprintf(
				why, whylen,
				"broken chunked body: a chunk of %zu bytes is not followed by a line end (its size is wrong)",
				size);
			return -EBADMSG;
		}
		if (p + 1 >= end)
			return 0;
		p += 2;
	}
}

enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_TO_EOF };

static bool is_ows(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * body_framing - how the body after the head at @p is framed (RFC 9112 6.3)
 * @code: the status (204 and 304 have no body)
 * @hend: just past the head's last header line (its line end included)
 * @clen: the Content-Length, for BODY_LENGTH
 *
 * Transfer-Encoding overrides Content-Length wherever each comes; it is
 * chunked only when chunked is its last coding, else the body runs to the
 * close. A Content-Length that is no decimal (on its own line, or folded onto
 * the next, obs-fold: read as one), or two that disagree, give no length: the
 * response is judged when the server closes (we asked it to). No header at
 * all: no body to wait for (or one until EOF: the server closes). 204 and 304:
 * a body of length 0.
 */
static int body_framing(unsigned int code, const char *p, const char *hend, size_t *clen)
{
	const char *eol, *name, *v, *vend, *t;
	bool te = false, chunked = false, cl = false, cl_bad = false;
	size_t nlen, n, i;

	*clen = 0;
	if (code == 204 || code == 304)
		return BODY_LENGTH;
	p = memchr(p, '\n', (size_t)(hend - p)) + 1; /* past the status line */
	while (p < hend) {
		/* a field line and the lines folded onto it (they start with a blank) */
		name = p;
		eol = memchr(p, '\n', (size_t)(hend - p));
		while (eol + 1 < hend && (eol[1] == ' ' || eol[1] == '\t'))
			eol = memchr(eol + 1, '\n', (size_t)(hend - eol - 1));
		p = eol + 1;
		v = memchr(name, ':', (size_t)(eol - name));
		if (!v)
			continue;
		nlen = (size_t)(v - name);
		for (v++, vend = eol; v < vend && is_ows(*v); v++)
			;
		while (vend > v && is_ows(vend[-1]))
			vend--;
		if (nlen == 17 && !strncasecmp(name, "transfer-encoding", 17)) {
			/* the last coding: after the value's last comma */
			for (t = vend; t > v && t[-1] != ','; t--)
				;
			while (t < vend && is_ows(*t))
				t++;
			te = true;
			chunked = vend - t == 7 && !strncasecmp(t, "chunked", 7);
		} else if (nlen == 14 && !strncasecmp(name, "content-length", 14)) {
			for (n = 0, i = 0; v + i < vend && isdigit((unsigned char)v[i]) && i < 15;
			     i++)
				n = n * 10 + (size_t)(v[i] - '0');
			if (!i || v + i != vend || (cl && n != *clen))
				cl_bad = true;
			cl = true;
			*clen = n;
		}
	}
	if (te)
		return chunked ? BODY_CHUNKED : BODY_TO_EOF;
	if (cl)
		return cl_bad ? BODY_TO_EOF : BODY_LENGTH;
	return BODY_NONE;
}

/*
 * The status code of the status line at @p (up to its LF at @eol), or -1 with
 * @why set: "HTTP/1.x NNN", then a blank or the line's end (RFC 9112
 * status-line), not "200:OK" or "2000". Shorter lines are refused before any
 * byte past the end is read.
 */
static int status_code(const char *p, const char *eol, char *why, size_t whylen)
{
	char line[64];
	size_t ll = (size_t)(eol - p) < sizeof(line) - 1 ? (size_t)(eol - p) : sizeof(line) - 1, i;

	memcpy(line, p, ll);
	line[ll] = 0;
	if (ll < 12 || strncmp(line, "HTTP/1.", 7) || !isdigit((unsigned char)line[7]) ||
	    line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
	    !isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]) ||
	    (ll > 12 && line[12] != ' ' && line[12] != '\r')) {
		/* quoted into a log line: no control bytes (a NUL would also end it) */
		for (i = 0; i < ll; i++)
			if ((unsigned char)line[i] < ' ' || line[i] == 0x7f)
				line[i] = '?';
		snprintf(why, whylen, "not an HTTP response: '%.40s'", line);
		return -1;
	}
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

int drv_http_evaluate(const char *buf, size_t len, bool complete, const struct drv_hc_conf *hc,
		      char *why, size_t whylen)
{
	const char *eol, *hdr_end, *body, *end = buf + len, *head = buf;
	struct body_find f = { .needle = hc->body, .nlen = strlen(hc->body) };
	unsigned int code, i;
	bool whole = false;
	int framing = BODY_NONE, c;
	size_t clen = 0, avail;

	/* a TLS record (an alert, a handshake): the check is http, the port TLS */
	if (len >= 3 && (buf[0] == 0x15 || buf[0] == 0x16) && buf[1] == 0x03) {
		snprintf(
			why, whylen,
			"the node answered with TLS: use kind: https (or the node's plain HTTP port)");
		return 0;
	}
	/*
	 * A 1xx answer other than 101 is interim (RFC 9110 15.2: 100 Continue, 103
	 * Early Hints): its head is skipped, and the answer after it judged.
	 * Each round takes 16 bytes at least.
	 */
	for (;;) {
		eol = memchr(head, '\n', (size_t)(end - head));
		if (!eol) {
			if (!complete)
				return -EAGAIN;
			snprintf(why, whylen, "%s",
				 head > buf ? "connection closed after an interim answer (1xx)" :
				 len	    ? "no HTTP status line in the response" :
					      "connection closed without a response");
			return 0;
		}
		c = status_code(head, eol, why, whylen);
		if (c < 0)
			return 0;
		code = (unsigned int)c;
		if (code < 100 || code > 199 || code == 101)
			break;
		if (!head_end(head, end, &body)) {
			if (!complete)
				return -EAGAIN;
			snprintf(why, whylen, "connection closed after an interim answer (1xx)");
			return 0;
		}
		head = body;
	}
	for (i = 0; i < hc->nexpect; i++)
		if (hc->expect[i] == code)
			break;
	if (i == hc->nexpect) {
		snprintf(why, whylen, "HTTP status %u, expected %u%s", code, hc->expect[0],
			 hc->nexpect > 1 ? " or another listed code" : "");
		return 0;
	}
	hdr_end = head_end(head, end, &body);
	if (hdr_end) {
		avail = (size_t)(end - body);
		framing = body_framing(code, head, hdr_end, &clen);
		switch (framing) {
		case BODY_NONE:
		case BODY_TO_EOF:
			/* what comes before the server closes is looked at all the same */
			whole = framing == BODY_NONE;
			body_feed(&f, body, avail);
			break;
		case BODY_LENGTH:
			body_feed(&f, body, clen < avail ? clen : avail);
			whole = avail >= clen;
			break;
		default:
			if (chunked_walk(body, end, &f, &whole, why, whylen))
				return 0;
			break;
		}
	}
	if (f.nlen ? f.found : complete || whole)
		return 1;
	/*
	 * Without the text, wait for the close, unless the framing says the body
	 * has all come: a server that keeps its connection open (Go's net/http
	 * and nginx may, whatever we asked) is failed for the body, not after the
	 * timeout for want of a close.
	 */
	if (!complete && (!whole || framing == BODY_NONE))
		return -EAGAIN;
	if (!hdr_end)
		snprintf(
			why, whylen,
			"HTTP status %u but the answer's headers did not end in the %zu bytes that came",
			code, len);
	else
		snprintf(why, whylen,
			 "HTTP status %u but the body does not contain '%.40s' (%zu bytes came)",
			 code, hc->body, len);
	return 0;
}

/*
 * Each check in flight holds a socket, so a few hundred nodes outgrow the
 * usual soft limit of 1024 fds. Nothing in the agent uses select(), so the
 * soft limit can be the hard one (capped by fs.nr_open for an infinite one).
 */
static void nofile_raise(void)
{
	struct rlimit rl;
	rlim_t was;
	FILE *f;
	unsigned long nr_open;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (rl.rlim_cur == RLIM_INFINITY) {
		f = fopen("/proc/sys/fs/nr_open", "re");
		if (!f || fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 1048576;
		if (f)
			fclose(f);
		rl.rlim_cur = nr_open;
	}
	if (setrlimit(RLIMIT_NOFILE, &rl))
		pr_warn("health: cannot raise the open-file limit from %llu to %llu: %s; checks of many nodes may wait for sockets\n",
			(unsigned long long)was, (unsigned long long)rl.rlim_cur, strerror(errno));
	else
		pr_debug("health: open-file limit raised from %llu to %llu\n",
			 (unsigned long long)was, (unsigned long long)rl.rlim_cur);
}

int drv_health_init(struct drv_health *h)
{
	memset(h, 0, sizeof(*h));
	nofile_raise();
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		pr_warn("health: epoll_create1: %s\n", strerror(errno));
		return -errno;
	}
	h->seed = (unsigned int)now_ns() ^ (unsigned int)getpid();
	return 0;
}

static void check_close(struct drv_health *h, struct drv_check *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->phase = PH_IDLE;
}

void drv_health_fini(struct drv_health *h)
{
	while (h->n)
		drv_health_remove(h, h->checks[h->n - 1]);
	free(h->checks);
	h->checks = NULL;
	free(h->due);
	h->due = NULL;
	h->cap = 0;
	if (h->epfd >= 0)
		close(h->epfd);
	h->epfd = -1;
}

static bool is_ip_literal(const char *s)
{
	union drv_addr a;
	__u8 f;

	return !drv_addr_parse(s, &a, &f);
}

/* A TLS client context for @hc; NULL with @err set ("what failed: why"). */
static SSL_CTX *ssl_ctx_new(const struct drv_hc_conf *hc, char *err, size_t len)
{
	char ebuf[256];
	SSL_CTX *ctx;

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		snprintf(err, len, "cannot create a TLS context (out of memory?)");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (hc->verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (hc->ca[0] ? !SSL_CTX_load_verify_locations(ctx, hc->ca, NULL) :
				!SSL_CTX_set_default_verify_paths(ctx)) {
			ERR_error_string_n(ERR_get_error(), ebuf, sizeof(ebuf));
			snprintf(err, len, "cannot load CA bundle '%s' (health 'ca'): %s",
				 hc->ca[0] ? hc->ca : "(system default)", ebuf);
			goto out_free;
		}
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (hc->cert[0]) {
		if (!SSL_CTX_use_certificate_chain_file(ctx, hc->cert) ||
		    !SSL_CTX_use_PrivateKey_file(ctx, hc->key, SSL_FILETYPE_PEM) ||
		    !SSL_CTX_check_private_key(ctx)) {
			ERR_error_string_n(ERR_get_error(), ebuf, sizeof(ebuf));
			snprintf(
				err, len,
				"cannot load client certificate '%s' / key '%s' (health 'cert'/'key'): %s",
				hc->cert, hc->key, ebuf);
			goto out_free;
		}
	}
	ERR_clear_error();
	return ctx;
out_free:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

int drv_hc_tls_check(const struct drv_hc_conf *hc, char *err, size_t len)
{
	SSL_CTX *ctx;

	if (hc->kind != DRV_HC_HTTPS && hc->kind != DRV_HC_TLS)
		return 0;
	ctx = ssl_ctx_new(hc, err, len);
	if (!ctx)
		return -EINVAL;
	SSL_CTX_free(ctx);
	return 0;
}

/*
 * The TLS context of @c: the one of another check of the same conf (a CA
 * bundle takes most of a megabyte per context, and a service has one conf for
 * all its nodes), else a new one.
 */
static int ssl_ctx_make(struct drv_health *h, struct drv_check *c)
{
	char err[512];
	size_t i;

	for (i = 0; i < h->n; i++)
		if (h->checks[i]->conf == c->conf && h->checks[i]->ssl_ctx &&
		    SSL_CTX_up_ref(h->checks[i]->ssl_ctx)) {
			c->ssl_ctx = h->checks[i]->ssl_ctx;
			return 0;
		}
	c->ssl_ctx = ssl_ctx_new(c->conf, err, sizeof(err));
	if (!c->ssl_ctx) {
		pr_warn("health: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

/* When @c is next due: its start when idle, its timeout while in flight. */
static __u64 due_at(const struct drv_check *c)
{
	return c->phase == PH_IDLE ? c->next_ns : c->deadline_ns;
}

static void due_swap(struct drv_health *h, size_t a, size_t b)
{
	struct drv_due t = h->due[a];

	h->due[a] = h->due[b];
	h->due[b] = t;
	h->due[a].c->hpos = a;
	h->due[b].c->hpos = b;
}

static void due_down(struct drv_health *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && h->due[l].at < h->due[m].at)
			m = l;
		if (r < h->n && h->due[r].at < h->due[m].at)
			m = r;
		if (m == i)
			return;
		due_swap(h, i, m);
		i = m;
	}
}

/* @c's due time may have changed: put it in its place (O(log n)). */
static void due_fix(struct drv_health *h, struct drv_check *c)
{
	size_t i = c->hpos;

	if (i >= h->n || h->due[i].c != c)
		return;
	h->due[i].at = due_at(c);
	while (i && h->due[i].at < h->due[(i - 1) / 2].at) {
		due_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	due_down(h, i);
}

int drv_health_add(struct drv_health *h, struct drv_check *c)
{
	__u64 first;
	int err;

	c->fd = -1;
	c->phase = PH_IDLE;
	c->ssl = NULL;
	c->ssl_ctx = NULL;
	c->len = c->off = 0;
	if (!c->buf) {
		c->buf = malloc(HC_BUF_SIZE + 1);
		if (!c->buf)
			return -ENOMEM;
	}
	if (c->conf->kind == DRV_HC_HTTPS || c->conf->kind == DRV_HC_TLS) {
		err = ssl_ctx_make(h, c);
		if (err)
			goto out_free_buf;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct drv_check **nc = realloc(h->checks, cap * sizeof(*nc));
		struct drv_due *nd;

		if (!nc) {
			err = -ENOMEM;
			goto out_free_ctx;
		}
		h->checks = nc;
		nd = realloc(h->due, cap * sizeof(*nd));
		if (!nd) {
			err = -ENOMEM;
			goto out_free_ctx;
		}
		h->due = nd;
		h->cap = cap;
	}
	/* Spread first checks so a restart does not hit every node in the same millisecond. */
	first = (c->conf->interval_ms < 1000 ? c->conf->interval_ms : 1000);
	c->next_ns = now_ns() + (__u64)(rand_r(&h->seed) % (first + 1)) * 1000000ull;
	c->idx = h->n;
	c->hpos = h->n;
	h->checks[h->n] = c;
	h->due[h->n++].c = c;
	due_fix(h, c);
	if (c->next_ns < h->due_ns)
		h->due_ns = c->next_ns;
	return 0;
out_free_ctx:
	SSL_CTX_free(c->ssl_ctx);
	c->ssl_ctx = NULL;
out_free_buf:
	free(c->buf);
	c->buf = NULL;
	return err;
}

void drv_health_remove(struct drv_health *h, struct drv_check *c)
{
	size_t i = c->idx;

	if (i >= h->n || h->checks[i] != c)
		return;
	check_close(h, c);
	if (c->ssl_ctx) {
		SSL_CTX_free(c->ssl_ctx);
		c->ssl_ctx = NULL;
	}
	free(c->buf);
	c->buf = NULL;
	h->checks[i] = h->checks[h->n - 1];
	h->checks[i]->idx = i;
	/* the last leaf takes @c's place in the heap, then finds its own */
	i = c->hpos;
	h->due[i] = h->due[h->n - 1];
	h->due[i].c->hpos = i;
	h->n--;
	if (i < h->n)
		due_fix(h, h->due[i].c);
}

int drv_health_fd(const struct drv_health *h)
{
	return h->epfd;
}

/* When the next timer is due: a check to start or one to time out; UINT64_MAX if none. */
static __u64 next_due(const struct drv_health *h)
{
	return h->n ? h->due[0].at : UINT64_MAX;
}

int drv_health_next_ms(const struct drv_health *h)
{
	__u64 now = now_ns(), soonest = next_due(h);

	if (soonest == UINT64_MAX)
		return -1;
	if (soonest <= now)
		return 0;
	/* Round up, so we do not wake a hair early and spin. */
	return (int)((soonest - now + 999999) / 1000000);
}

static void finish(struct drv_health *h, struct drv_check *c, bool ok, const char *why)
{
	c->last_latency_s = (double)(now_ns() - c->started_ns) / 1e9;
	c->last_ok = ok;
	snprintf(c->last_why, sizeof(c->last_why), "%s", ok ? "" : why);
	if (ok)
		c->n_ok++;
	else
		c->n_fail++;
	check_close(h, c);
	if (c->cb)
		c->cb(c, ok, c->last_why, c->arg);
}

static void failf(struct drv_health *h, struct drv_check *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void failf(struct drv_health *h, struct drv_check *c, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	finish(h, c, false, why);
}

static int want(struct drv_health *h, struct drv_check *c, __u32 events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, c->fd, &ev)) {
		failf(h, c, "epoll: %s", strerror(errno));
		return -1;
	}
	c->events = events;
	return 0;
}

static void ssl_fail(struct drv_health *h, struct drv_check *c, const char *what, int ret)
{
	unsigned long e = ERR_get_error();
	/* Without verify, OpenSSL still records a result (self-signed ...) that failed nothing. */
	long vr = c->ssl && c->conf->verify ? SSL_get_verify_result(c->ssl) : X509_V_OK;
	char ebuf[160];

	if (vr != X509_V_OK) {
		failf(h, c, "%s: certificate verification failed: %s", what,
		      X509_verify_cert_error_string(vr));
		return;
	}
	if (e) {
		int r = ERR_GET_REASON(e);

		ERR_error_string_n(e, ebuf, sizeof(ebuf));
		/* an answer that is no TLS record: "HTTP/1.1 400" read as one */
		if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    (r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_PACKET_LENGTH_TOO_LONG ||
		     r == SSL_R_UNKNOWN_PROTOCOL))
			failf(h, c,
			      "%s: %s; the node answered without TLS (plain HTTP?): check the port, or use kind: http",
			      what, ebuf);
		else
			failf(h, c, "%s: %s", what, ebuf);
	} else if (ret == 0 || errno == 0) {
		failf(h, c, "%s: connection closed by the node", what);
	} else {
		failf(h, c, "%s: %s", what, strerror(errno));
	}
	ERR_clear_error();
}

static void build_request(struct drv_check *c)
{
	const struct drv_hc_conf *hc = c->conf;
	char host[DRV_CONF_STR_MAX + 64], a[DRV_ADDR_STRLEN];
	int n;

	if (hc->host[0]) {
		snprintf(host, sizeof(host), "%s", hc->host);
	} else {
		drv_addr_format(&c->addr, c->family, a, sizeof(a));
		if (c->family == DRV_FAMILY_V6)
			snprintf(host, sizeof(host), "[%s]:%u", a, c->port);
		else
			snprintf(host, sizeof(host), "%s:%u", a, c->port);
	}
	n = snprintf(
		c->buf, HC_BUF_SIZE,
		"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: drover-health\r\nAccept: */*\r\nConnection: close\r\n\r\n",
		hc->path, host);
	c->len = n < HC_BUF_SIZE ? (size_t)n : HC_BUF_SIZE;
	c->off = 0;
}

static void do_recv(struct drv_health *h, struct drv_check *c)
{
	char why[160];
	bool eof = false;
	int r;

	for (;;) {
		ssize_t n;

		if (c->len >= HC_BUF_SIZE) {
			eof = true;
			break;
		}
		if (c->ssl) {
			n = SSL_read(c->ssl, c->buf + c->len, (int)(HC_BUF_SIZE - c->len));
			if (n <= 0) {
				int e = SSL_get_error(c->ssl, (int)n);

				/* After a write it needed (a key update), wait for input again. */
				if (e == SSL_ERROR_WANT_READ) {
					if (c->events != EPOLLIN && want(h, c, EPOLLIN))
						return;
					break;
				}
				if (e == SSL_ERROR_WANT_WRITE) {
					want(h, c, EPOLLOUT);
					return;
				}
				if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !n) ||
				    c->len) {
					/* Servers often close without close_notify. */
					ERR_clear_error();
					eof = true;
					break;
				}
				ssl_fail(h, c, "TLS read", (int)n);
				return;
			}
		} else {
			n = recv(c->fd, c->buf + c->len, HC_BUF_SIZE - c->len, 0);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				if (c->len) {
					eof = true;
					break;
				}
				failf(h, c, "receive: %s", strerror(errno));
				return;
			}
			if (n == 0) {
				eof = true;
				break;
			}
		}
		c->len += (size_t)n;
	}
	c->buf[c->len] = 0;
	r = drv_http_evaluate(c->buf, c->len, eof, c->conf, why, sizeof(why));
	if (r == -EAGAIN)
		return;
	finish(h, c, r == 1, why);
}

static void do_send(struct drv_health *h, struct drv_check *c)
{
	while (c->off < c->len) {
		ssize_t n;

		if (c->ssl) {
			n = SSL_write(c->ssl, c->buf + c->off, (int)(c->len - c->off));
			if (n <= 0) {
				int e = SSL_get_error(c->ssl, (int)n);

				if (e == SSL_ERROR_WANT_WRITE) {
					want(h, c, EPOLLOUT);
					return;
				}
				if (e == SSL_ERROR_WANT_READ) {
					want(h, c, EPOLLIN);
					return;
				}
				ssl_fail(h, c, "TLS write", (int)n);
				return;
			}
		} else {
			n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					want(h, c, EPOLLOUT);
					return;
				}
				failf(h, c, "send: %s", strerror(errno));
				return;
			}
		}
		c->off += (size_t)n;
	}
	c->phase = PH_RECV;
	c->len = 0;
	if (want(h, c, EPOLLIN))
		return;
	do_recv(h, c);
}

static void start_http(struct drv_health *h, struct drv_check *c)
{
	build_request(c);
	c->phase = PH_SEND;
	do_send(h, c);
}

static void do_tls(struct drv_health *h, struct drv_check *c)
{
	int r = SSL_connect(c->ssl), e;

	if (r == 1) {
		if (c->conf->kind == DRV_HC_TLS)
			finish(h, c, true, "");
		else
			start_http(h, c);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		want(h, c, EPOLLIN);
	else if (e == SSL_ERROR_WANT_WRITE)
		want(h, c, EPOLLOUT);
	else
		ssl_fail(h, c, "TLS handshake", r);
}

const char *drv_hc_tls_name(const struct drv_hc_conf *hc, char *buf, size_t len)
{
	char *colon;

	if (hc->sni[0])
		return hc->sni;
	/* `host` is the Host header, maybe name:port; the TLS name is the name alone. */
	snprintf(buf, len, "%s", hc->host);
	colon = strchr(buf, ':');
	if (buf[0] != '[' && colon && !strchr(colon + 1, ':'))
		*colon = 0;
	return buf[0] && buf[0] != '[' && !is_ip_literal(buf) ? buf : NULL;
}

static void start_tls(struct drv_health *h, struct drv_check *c)
{
	const struct drv_hc_conf *hc = c->conf;
	char host[sizeof(hc->host)], a[DRV_ADDR_STRLEN];
	const char *name = drv_hc_tls_name(hc, host, sizeof(host));

	c->ssl = SSL_new(c->ssl_ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
		failf(h, c, "TLS: cannot set up a session (out of memory?)");
		return;
	}
	if (name)
		SSL_set_tlsext_host_name(c->ssl, name);
	if (hc->verify) {
		if (name) {
			SSL_set1_host(c->ssl, name);
		} else {
			drv_addr_format(&c->addr, c->family, a, sizeof(a));
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), a);
		}
	}
	c->phase = PH_TLS;
	do_tls(h, c);
}

static void connected(struct drv_health *h, struct drv_check *c)
{
	switch (c->conf->kind) {
	case DRV_HC_TCP:
		finish(h, c, true, "");
		break;
	case DRV_HC_HTTP:
		start_http(h, c);
		break;
	default:
		start_tls(h, c);
		break;
	}
}

/* Errors that say the balancer is short of fds or memory: no verdict on the node. */
static bool is_shortage(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == ENOSPC;
}

/*
 * put_off - @c could not start for a shortage of the balancer's own (@err from
 * @what): it is tried again shortly, and its node keeps its state, since
 * failing it would take healthy nodes out of every table at once (a false
 * failover). The first shortage is logged, then nothing until it has been
 * over for HC_SHORT_OVER_NS.
 */
static void put_off(struct drv_health *h, struct drv_check *c, __u64 now, const char *what, int err)
{
	struct rlimit rl = { 0 };
	char a[DRV_ADDR_STRLEN];

	check_close(h, c);
	c->next_ns = now + HC_SHORT_RETRY_NS;
	h->n_short++;
	h->short_last_ns = now;
	if (h->short_since_ns)
		return;
	h->short_since_ns = now;
	getrlimit(RLIMIT_NOFILE, &rl);
	drv_addr_format(&c->addr, c->family, a, sizeof(a));
	pr_warn("health: cannot %s to check %s port %u: %s (open-file limit %llu, %zu checks); checks wait for one and their nodes keep their state until then: raise the limit (LimitNOFILE= in the systemd unit, ulimit -n) or check fewer nodes\n",
		what, a, c->port, strerror(err), (unsigned long long)rl.rlim_cur, h->n);
}

static void shortage_end(struct drv_health *h, __u64 now)
{
	if (!h->short_since_ns || now - h->short_last_ns < HC_SHORT_OVER_NS)
		return;
	pr_info("health: checks get sockets again; %llu check starts waited for one in %.0f s\n",
		(unsigned long long)h->n_short,
		(double)(h->short_last_ns - h->short_since_ns) / 1e9);
	h->short_since_ns = 0;
	h->n_short = 0;
}

static void start(struct drv_health *h, struct drv_check *c, __u64 now)
{
	const struct drv_hc_conf *hc = c->conf;
	struct sockaddr_storage ss = { 0 }, src = { 0 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	socklen_t sl;
	__u64 interval = (__u64)hc->interval_ms * 1000000ull, jitter;
	int one = 1;

	c->started_ns = now;
	c->deadline_ns = now + (__u64)hc->timeout_ms * 1000000ull;
	/* Jitter only shortens the interval, so the fall × interval + timeout bound holds. */
	jitter = interval * hc->jitter_pct / 100;
	if (jitter) {
		/* rand_r gives 31 bits, 2.1 s in ns: two of them cover any jitter. */
		__u64 r = (__u64)rand_r(&h->seed) << 31 | (__u64)rand_r(&h->seed);

		jitter = r % jitter;
	}
	c->next_ns = now + interval - jitter;
	c->phase = PH_CONNECT;

	if (c->family == DRV_FAMILY_V6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->port);
		memcpy(&s6->sin6_addr, c->addr.v6, 16);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(c->port);
		s4->sin_addr.s_addr = c->addr.v4;
		sl = sizeof(*s4);
	}
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		if (is_shortage(errno))
			put_off(h, c, now, "open a socket", errno);
		else
			failf(h, c, "socket: %s", strerror(errno));
		return;
	}
	/* Close with RST: no TIME_WAIT pile-up from hundreds of checks a second. */
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	/* An IPv6 check must not pass over IPv4 where the data path sends IPv6. */
	if (ss.ss_family == AF_INET6)
		setsockopt(c->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(c->fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
	if (hc->source_family) {
		if (hc->source_family == DRV_FAMILY_V6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&src;

			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, hc->source.v6, 16);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&src;

			s4->sin_family = AF_INET;
			s4->sin_addr.s_addr = hc->source.v4;
		}
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&src, sl)) {
			failf(h, c, "bind to source address: %s", strerror(errno));
			return;
		}
	}
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, c->fd, &ev)) {
		if (is_shortage(errno))
			put_off(h, c, now, "watch a socket (epoll)", errno);
		else
			failf(h, c, "epoll: %s", strerror(errno));
		return;
	}
	c->events = ev.events;
	if (connect(c->fd, (struct sockaddr *)&ss, sl) == 0) {
		connected(h, c);
		return;
	}
	if (errno != EINPROGRESS)
		failf(h, c, "connect: %s", strerror(errno));
}

static void on_event(struct drv_health *h, struct drv_check *c, __u32 events)
{
	int err = 0;
	socklen_t el = sizeof(err);

	switch (c->phase) {
	case PH_CONNECT:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
			failf(h, c, "connect: %s", strerror(err ? err : errno));
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		connected(h, c);
		break;
	case PH_TLS:
		do_tls(h, c);
		break;
	case PH_SEND:
		do_send(h, c);
		break;
	case PH_RECV:
		do_recv(h, c);
		break;
	default:
		break;
	}
}

/*
 * The caller ran us well after our next timer (its loop held up by a /metrics
 * render or a reload): the time since our last run is given back to the checks
 * in flight, whose nodes may have answered meanwhile unheard, so that a stall
 * of the agent does not fail them all at once.
 */
static void stall_forgive(struct drv_health *h, __u64 now)
{
	__u64 gap = now - h->last_ns;
	size_t i;

	if (!h->last_ns || h->due_ns == UINT64_MAX || now < h->due_ns + HC_LATE_NS)
		return;
	pr_debug(
		"health: checks ran %.3f s late (the agent was busy); checks in flight get %.3f s more\n",
		(double)(now - h->due_ns) / 1e9, (double)gap / 1e9);
	for (i = 0; i < h->n; i++) {
		if (h->due[i].c->phase != PH_IDLE)
			h->due[i].c->deadline_ns += gap;
		h->due[i].at = due_at(h->due[i].c);
	}
	/* in-flight checks moved against idle ones: build the heap anew (rare: a stall) */
	for (i = h->n / 2; i-- > 0;)
		due_down(h, i);
}

void drv_health_process(struct drv_health *h)
{
	struct epoll_event evs[64];
	__u64 now;
	size_t i;
	int n, k, rounds;

	stall_forgive(h, now_ns());

	/* Bounded: at most 16 batches of ready sockets per call. */
	for (rounds = 0; rounds < 16; rounds++) {
		n = epoll_wait(h->epfd, evs, ARRAY_SIZE(evs), 0);
		for (k = 0; k < n; k++) {
			struct drv_check *c = evs[k].data.ptr;

			on_event(h, c, evs[k].events);
			due_fix(h, c);
		}
		if (n < (int)ARRAY_SIZE(evs))
			break;
	}
	now = now_ns();
	shortage_end(h, now);
	/*
	 * The due checks, soonest first. Each is due at most twice in a call (its
	 * timeout, then its start, which sets both times after now): 2n bounds it.
	 */
	for (i = 0; h->n && i < 2 * h->n && h->due[0].at <= now; i++) {
		struct drv_check *c = h->due[0].c;

		h->looked++;
		if (due_at(c) > now) { /* cannot happen: every change of a time fixes its entry */
			due_fix(h, c);
			continue;
		}
		/* in receive: whether the node said nothing, or began and stalled */
		if (c->phase == PH_RECV && c->len)
			failf(h, c,
			      "timeout after %ums (during receive), %zu bytes of an answer came, which had not ended",
			      c->conf->timeout_ms, c->len);
		else if (c->phase == PH_RECV)
			failf(h, c, "timeout after %ums (during receive), no answer came",
			      c->conf->timeout_ms);
		else if (c->phase != PH_IDLE)
			failf(h, c, "timeout after %ums (during %s)", c->conf->timeout_ms,
			      phase_names[c->phase]);
		else
			start(h, c, now);
		due_fix(h, c);
	}
	h->last_ns = now_ns();
	h->due_ns = next_due(h);
}
