// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The health checker's judgement of what a node answers to an http/https
 * check (drv_http_evaluate): untrusted bytes from the network. The first byte
 * picks the check (expected codes, a body to find, whether the response is
 * complete); the rest is the response (the function takes a length: a byte
 * past it, which ASan cannot flag in a libc function it does not intercept,
 * such as strtoul, is changed between two calls that must agree). A pass must be an
 * "HTTP/1.x NNN" status line (the first after any interim 1xx answers) with an
 * expected NNN (RFC 9112: three digits, then a space or the line's end).
 * The lines of a head (status line and header fields) end in CRLF or a bare
 * LF (RFC 9112 2.2): written with bare LFs, a head is judged the same; the
 * CRLF after a chunk's data stays strict.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "health.h"
#include "fuzz.h"

static bool status_line_ok(const char *b, size_t len, const struct drv_hc_conf *hc)
{
	unsigned int code, i;

	if (len < 12 || memcmp(b, "HTTP/1.", 7) || !isdigit((unsigned char)b[7]) || b[8] != ' ' ||
	    !isdigit((unsigned char)b[9]) || !isdigit((unsigned char)b[10]) ||
	    !isdigit((unsigned char)b[11]))
		return false;
	if (len > 12 && b[12] != ' ' && b[12] != '\r' && b[12] != '\n')
		return false;
	code = (unsigned int)(b[9] - '0') * 100 + (unsigned int)(b[10] - '0') * 10 +
	       (unsigned int)(b[11] - '0');
	for (i = 0; i < hc->nexpect; i++)
		if (hc->expect[i] == code)
			return true;
	return false;
}

/*
 * The bytes of the head at @b (status line, header fields, the empty line that
 * ends them: lines end in LF, a CR before it or not), or 0 if it does not end.
 */
static size_t head_len(const char *b, size_t len)
{
	const char *p = memchr(b, '\n', len), *end = b + len, *lf;

	for (p = p ? p + 1 : end; p < end; p = lf + 1) {
		lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf)
			break;
		if (lf == p || (lf == p + 1 && *p == '\r'))
			return (size_t)(lf + 1 - b);
	}
	return 0;
}

/*
 * Does the chunked body after the headers of @b hold @needle? The chunks'
 * data joined, read the plain way (sizes in hex, data, CRLF), as a second
 * opinion on what the checker found across chunks.
 */
static bool chunks_hold(const char *b, size_t len, const char *needle)
{
	const char *p, *end = b + len;
	char *data = malloc(len + 1);
	size_t n = 0, size, hl = head_len(b, len);
	bool found;

	if (!data)
		abort();
	for (p = hl ? b + hl : end; p < end;) {
		for (size = 0; p < end && isxdigit((unsigned char)*p) && size < (1ul << 32); p++)
			size = size * 16 +
			       (size_t)(isdigit((unsigned char)*p) ?
						*p - '0' :
						(tolower((unsigned char)*p) - 'a' + 10));
		p = memchr(p, '\n', (size_t)(end - p));
		if (!p || !size)
			break;
		p++;
		if (size > (size_t)(end - p))
			size = (size_t)(end - p);
		memcpy(data + n, p, size);
		n += size;
		p += size + 2;
	}
	found = memmem(data, n, needle, strlen(needle)) != NULL;
	free(data);
	return found;
}

/*
 * The answer @b (judged @r) with the CRLFs of its first head (up to its empty
 * line; all of @b if that has not come) written as bare LFs: judged @r too.
 * A CRLF after a CR stays (CR CR LF ends a line that is not empty).
 */
static void lf_head_judged_the_same(const char *b, size_t len, bool complete,
				    const struct drv_hc_conf *hc, int r)
{
	size_t hl = head_len(b, len), i, n = 0;
	char why[160], *lf = malloc(len + 1);
	int rl;

	if (!lf)
		abort();
	for (i = 0; i < len; i++) {
		/* not CR CR LF: no empty line there, and none after either */
		if (i + 1 < (hl ?: len) && b[i] == '\r' && b[i + 1] == '\n' &&
		    (!i || b[i - 1] != '\r'))
			continue;
		lf[n++] = b[i];
	}
	lf[n] = '7';
	if (n < len) {
		rl = drv_http_evaluate(lf, n, complete, hc, why, sizeof(why));
		FUZZ_CHECK(rl == r, "judged %d, but %d with the head's CRLFs as bare LFs", r, rl);
	}
	free(lf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drv_hc_conf hc;
	char why[160], *buf;
	bool complete;
	size_t len, cut;
	int r;

	if (!size)
		return 0;
	drv_hc_defaults(&hc);
	drv_hc_preset(data[0] & 1 ? "rke2-supervisor" : "rancher", &hc); /* body "pong" or none */
	complete = data[0] & 2;
	if (data[0] & 4) {
		hc.expect[1] = 204;
		hc.expect[2] = 301;
		hc.nexpect = 3;
	}
	len = size - 1;
	/* one byte more: what lies past the response must not change the judgement */
	buf = malloc(len + 1);
	if (!buf)
		abort();
	memcpy(buf, data + 1, len);
	buf[len] = '7';
	r = drv_http_evaluate(buf, len, complete, &hc, why, sizeof(why));
	buf[len] = '0';
	why[0] = 0;
	FUZZ_CHECK(drv_http_evaluate(buf, len, complete, &hc, why, sizeof(why)) == r,
		   "the byte past the response changed the judgement (%d)", r);
	FUZZ_CHECK(r == 1 || r == 0 || r == -EAGAIN, "return %d", r);
	FUZZ_CHECK(!complete || r != -EAGAIN, "waits for more after the end");
	/* the answer cut short (a read that has not brought it all): judged the same or not yet */
	for (cut = len / 8; len && cut < len; cut += len / 8 + 1) {
		int rc = drv_http_evaluate(buf, cut, false, &hc, why, sizeof(why));

		FUZZ_CHECK(rc == -EAGAIN ||
				   rc == drv_http_evaluate(buf, len, false, &hc, why, sizeof(why)),
			   "after %zu of %zu bytes judged %d, and otherwise once all came", cut,
			   len, rc);
	}
	lf_head_judged_the_same(buf, len, complete, &hc, r);
	why[0] = 0;
	drv_http_evaluate(buf, len, complete, &hc, why, sizeof(why));
	if (!r)
		FUZZ_CHECK(why[0] && memchr(why, 0, sizeof(why)), "a failure without a reason");
	if (r == 1) {
		const char *head = buf, *eol;
		size_t hl;

		/* past interim answers: "HTTP/1.x 1NN" but 101, up to their empty line */
		while ((eol = memchr(head, '\n', len - (size_t)(head - buf))) && eol - head >= 12 &&
		       !memcmp(head, "HTTP/1.", 7) && head[9] == '1' &&
		       memcmp(head + 9, "101", 3) &&
		       (hl = head_len(head, len - (size_t)(head - buf))))
			head += hl;
		FUZZ_CHECK(eol && status_line_ok(head, (size_t)(eol - head), &hc),
			   "passed on status line '%.*s'", (int)(eol ? eol - head : 0), head);
		FUZZ_CHECK(!hc.body[0] || memmem(buf, len, hc.body, strlen(hc.body)) ||
				   chunks_hold(head, len - (size_t)(head - buf), hc.body),
			   "passed without the body");
	}
	free(buf);
	return 0;
}
