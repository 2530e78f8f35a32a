// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Health checks: the rise/fall state machine, HTTP response judgement, and the
 * non-blocking checker against real servers on 127.0.0.1 (threads of this test).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "health.h"

/* ---- state machine ---- */

static void node_goes_down_after_exactly_fall_failures(void **state)
{
	struct drv_hc_state s;

	(void)state;
	drv_hc_state_init(&s, true);
	assert_int_equal(drv_hc_state_update(&s, false, 2, 3), DRV_HC_SAME);
	assert_int_equal(drv_hc_state_update(&s, false, 2, 3), DRV_HC_SAME);
	assert_true(s.up);
	assert_int_equal(drv_hc_state_update(&s, false, 2, 3), DRV_HC_WENT_DOWN);
	assert_false(s.up);
	assert_int_equal(drv_hc_state_update(&s, false, 2, 3), DRV_HC_SAME);
}

static void node_comes_back_after_exactly_rise_passes(void **state)
{
	struct drv_hc_state s;

	(void)state;
	drv_hc_state_init(&s, false);
	assert_int_equal(drv_hc_state_update(&s, true, 2, 3), DRV_HC_SAME);
	assert_false(s.up);
	assert_int_equal(drv_hc_state_update(&s, true, 2, 3), DRV_HC_WENT_UP);
	assert_true(s.up);
	assert_int_equal(drv_hc_state_update(&s, true, 2, 3), DRV_HC_SAME);
}

static void flapping_node_never_reaches_fall(void **state)
{
	struct drv_hc_state s;
	int i;

	(void)state;
	drv_hc_state_init(&s, true);
	/* fail, fail, pass, fail, fail, pass ...: never three failures in a row */
	for (i = 0; i < 30; i++)
		assert_int_equal(drv_hc_state_update(&s, i % 3 == 2, 2, 3), DRV_HC_SAME);
	assert_true(s.up);
	/* and a down node flapping pass/fail never reaches rise = 2 */
	drv_hc_state_init(&s, false);
	for (i = 0; i < 30; i++)
		assert_int_equal(drv_hc_state_update(&s, i % 2 == 0, 2, 3), DRV_HC_SAME);
	assert_false(s.up);
}

static void rise_and_fall_of_one_flip_on_each_result(void **state)
{
	struct drv_hc_state s;

	(void)state;
	drv_hc_state_init(&s, true);
	assert_int_equal(drv_hc_state_update(&s, false, 1, 1), DRV_HC_WENT_DOWN);
	assert_int_equal(drv_hc_state_update(&s, true, 1, 1), DRV_HC_WENT_UP);
	assert_int_equal(drv_hc_state_update(&s, false, 1, 1), DRV_HC_WENT_DOWN);
}

/* ---- HTTP judgement ---- */

static struct drv_hc_conf http_conf(const char *body, __u16 code1, __u16 code2)
{
	struct drv_hc_conf hc;

	drv_hc_defaults(&hc);
	assert_int_equal(drv_hc_preset("rancher", &hc), 0);
	hc.expect[0] = code1;
	hc.nexpect = 1;
	if (code2)
		hc.expect[hc.nexpect++] = code2;
	snprintf(hc.body, sizeof(hc.body), "%s", body);
	return hc;
}

#define EVAL(s, complete, hc) drv_http_evaluate(s, strlen(s), complete, hc, why, sizeof(why))

/* The TLS name: sni, else host without its port; an address is no name. */
static void tls_name_is_sni_or_the_host_without_its_port(void **state)
{
	static const struct {
		const char *host, *sni, *want;
	} cases[] = {
		{ "rancher.example.com", "", "rancher.example.com" },
		{ "rancher.example.com:8443", "", "rancher.example.com" },
		{ "rancher.example.com:8443", "kubernetes", "kubernetes" },
		{ "10.0.2.11:443", "", NULL },
		{ "10.0.2.11", "", NULL },
		{ "[fd02::11]:443", "", NULL },
		{ "fd02::11", "", NULL },
		{ "", "", NULL },
	};
	char buf[sizeof(((struct drv_hc_conf *)0)->host)];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct drv_hc_conf hc = {};
		const char *got;

		snprintf(hc.host, sizeof(hc.host), "%s", cases[i].host);
		snprintf(hc.sni, sizeof(hc.sni), "%s", cases[i].sni);
		got = drv_hc_tls_name(&hc, buf, sizeof(buf));
		if (cases[i].want)
			assert_string_equal(got ? got : "(none)", cases[i].want);
		else if (got)
			fail_msg("host '%s': TLS name '%s', want none", cases[i].host, got);
	}
}

static void http_status_in_expect_passes_others_fail(void **state)
{
	struct drv_hc_conf hc = http_conf("", 200, 204);
	char why[160];

	(void)state;
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, &hc), 1);
	assert_int_equal(EVAL("HTTP/1.0 204 No Content\r\n\r\n", true, &hc), 1);
	assert_int_equal(EVAL("HTTP/1.1 500 Internal Server Error\r\n", false, &hc), 0);
	assert_non_null(strstr(why, "HTTP status 500, expected 200"));
	assert_int_equal(EVAL("HTTP/1.1 401 Unauthorized\r\n", false, &hc), 0);
}

static void http_partial_status_line_waits_for_more(void **state)
{
	struct drv_hc_conf hc = http_conf("", 200, 0);
	char why[160];

	(void)state;
	assert_int_equal(EVAL("HTTP/1.1 20", false, &hc), -EAGAIN);
	assert_int_equal(EVAL("", true, &hc), 0);
	assert_non_null(strstr(why, "connection closed without a response"));
	assert_int_equal(EVAL("SSH-2.0-OpenSSH_9.2\r\n", false, &hc), 0);
	assert_non_null(strstr(why, "not an HTTP response"));
	/* A status line cut short never reads past its end (nor a code left there before). */
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\n\r\n", true, &hc), 1);
	assert_int_equal(EVAL("HTTP/1.\n\r\n\r\n", true, &hc), 0);
	assert_non_null(strstr(why, "not an HTTP response"));
	assert_int_equal(EVAL("HTTP/1.1200\r\n\r\n", true, &hc), 0);
}

/*
 * The status line is "HTTP/1.x NNN", then a blank or the line's end (RFC 9112): a
 * node answering "200:OK", "2000" or " 200" is not saying 200 (found by
 * tests/fuzz/fuzz_http.c).
 */
static void http_status_code_is_exactly_three_digits_then_a_blank(void **state)
{
	static const char *const bad[] = {
		"HTTP/1.1 200:OK\r\n\r\n",  "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
		"HTTP/1.1 +200 OK\r\n\r\n", "HTTP/1.x 200 OK\r\n\r\n",	"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",
	};
	struct drv_hc_conf hc = http_conf("", 200, 20);
	char why[160];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		if (EVAL(bad[i], true, &hc) != 0 || !strstr(why, "not an HTTP response"))
			fail_msg("'%.*s' passed or failed for another reason: '%s'",
				 (int)strcspn(bad[i], "\r"), bad[i], why);
	}
	/* a NUL byte is not the line's end */
	assert_int_equal(
		drv_http_evaluate("HTTP/1.1 200\0 OK\r\n\r\n", 20, true, &hc, why, sizeof(why)), 0);
	assert_int_equal(EVAL("HTTP/1.1 200\r\n\r\n", true, &hc), 1);
	assert_int_equal(EVAL("HTTP/1.1 200", true, &hc), 0); /* no line end: no status line */
	assert_int_equal(EVAL("HTTP/1.0 200 OK\n\n", true, &hc), 1);
}

static void http_pass_waits_for_the_whole_response(void **state)
{
	struct drv_hc_conf hc = http_conf("", 200, 0);
	char why[160];

	(void)state;
	/* status fine, but the server is still writing: do not cut it off */
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\n", false, &hc), -EAGAIN);
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok", false, &hc),
			 -EAGAIN);
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n", false, &hc), 1);
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n",
			      false, &hc),
			 -EAGAIN);
	assert_int_equal(
		EVAL("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		     false, &hc),
		1);
	/* closed by the server: judged on what came */
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\n", true, &hc), 1);
}

/*
 * A response is @len bytes that need not end in a NUL: what lies past them (the rest
 * of the receive buffer) never changes the judgement, and a Content-Length is read
 * within its own line. One the checker cannot read ("Content-Length:" and no digits
 * on its line) gives no length: the response is judged when it ends. (Found by
 * tests/fuzz/fuzz_http.c: strtoul read across the blank line into the body and past
 * the response.)
 */
static void http_content_length_is_read_within_its_line_and_the_response(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n";
	struct drv_hc_conf hc = http_conf("", 200, 0);
	size_t len = sizeof(head) - 1;
	char why[160], *a = malloc(len + 1), *b = malloc(len + 1);
	int ra, rb;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	memcpy(a, head, len);
	memcpy(b, head, len);
	a[len] = '0'; /* past the response: not part of it */
	b[len] = '7';
	ra = drv_http_evaluate(a, len, false, &hc, why, sizeof(why));
	rb = drv_http_evaluate(b, len, false, &hc, why, sizeof(why));
	if (ra != rb || ra != -EAGAIN)
		fail_msg(
			"with '0' past the response: %d, with '7': %d; want -EAGAIN (no length on the line: wait for the end)",
			ra, rb);
	assert_int_equal(drv_http_evaluate(a, len, true, &hc, why, sizeof(why)), 1);
	free(a);
	free(b);
	/* the digits of the body are not the header's value */
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n12", false, &hc), -EAGAIN);
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", false, &hc),
			 -EAGAIN);
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\nContent-Length:\t2 \r\n\r\nok", false, &hc), 1);
	assert_int_equal(
		EVAL("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nok", false,
		     &hc),
		-EAGAIN);
}

static void http_body_substring_is_required_when_set(void **state)
{
	struct drv_hc_conf hc = http_conf("pong", 200, 0);
	char why[160];

	(void)state;
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong", false, &hc), 1);
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npo", false, &hc),
			 -EAGAIN);
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\nX-Pong: pong\r\n\r\nnope", true, &hc), 0);
	assert_non_null(strstr(why, "body does not contain 'pong'"));
}

/*
 * Judge @resp as a node's answer arrives: cut at every byte (the first read),
 * then whole (the second), the server keeping its connection open (no EOF to
 * wait for). Every cut is judged @want or not yet (-EAGAIN), the whole answer
 * is judged @want, and with @at_end no cut before the end is judged at all
 * (the checker passes only once the answer is whole). Each cut is a buffer of
 * its own, so ASan sees a read past it.
 */
static void judge_as_it_arrives(const char *resp, const struct drv_hc_conf *hc, int want,
				bool at_end, const char *why_has)
{
	size_t len = strlen(resp), k;
	char why[160];
	int r;

	for (k = 0; k <= len; k++) {
		char *cut = malloc(k + 1);

		assert_non_null(cut);
		memcpy(cut, resp, k);
		why[0] = 0;
		r = drv_http_evaluate(cut, k, false, hc, why, sizeof(why));
		free(cut);
		if (k < len && r != -EAGAIN && (at_end || r != want))
			fail_msg("judged %d after %zu of %zu bytes ('%s'); want %s %d of:\n%s", r,
				 k, len, why,
				 at_end ? "nothing before the end, then" : "-EAGAIN or", want,
				 resp);
		if (k == len && r != want)
			fail_msg("the whole answer judged %d ('%s'), want %d:\n%s", r, why, want,
				 resp);
	}
	if (why_has && !strstr(why, why_has))
		fail_msg("failed for '%s', want a reason with '%s':\n%s", why, why_has, resp);
}

#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

/*
 * A chunked answer ends with its last chunk (size 0, maybe extensions) and
 * its trailers, wherever the reads cut it; bytes in a chunk's data are data
 * even when they read "0\r\n\r\n"; the body to find is the chunks' data (not
 * their sizes, extensions or the trailers), also split across chunks. A size
 * that lies (no line end after its data) or does not fit in 64 bits is a
 * broken answer, not a short one.
 */
static void http_chunked_answer_is_judged_by_its_chunks_wherever_it_is_cut(void **state)
{
	struct drv_hc_conf any = http_conf("", 200, 0), pong = http_conf("pong", 200, 0);
	struct drv_hc_conf ok = http_conf("ok", 200, 0);

	(void)state;
	judge_as_it_arrives(CHUNKED_HEAD "4\r\npong\r\n0\r\n\r\n", &any, 1, true, NULL);
	judge_as_it_arrives(CHUNKED_HEAD "4\r\npong\r\n0\r\n\r\n", &pong, 1, false, NULL);
	/* extensions on a chunk and on the last one; trailers */
	judge_as_it_arrives(CHUNKED_HEAD "4;name=\"v\"\r\npong\r\n0;last\r\n\r\n", &any, 1, true,
			    NULL);
	judge_as_it_arrives(CHUNKED_HEAD "4\r\npong\r\n0\r\nX-Checksum: 1\r\nX-B: 2\r\n\r\n", &any,
			    1, true, NULL);
	judge_as_it_arrives(CHUNKED_HEAD "0000004\r\npong\r\n0\r\n\r\n", &pong, 1, false, NULL);
	/* "0\r\n\r\n" inside a chunk's data is not the end */
	judge_as_it_arrives(CHUNKED_HEAD "9\r\nab0\r\n\r\ncd\r\n0\r\n\r\n", &any, 1, true, NULL);
	/* the body text split across two chunks is found */
	judge_as_it_arrives(CHUNKED_HEAD "2\r\npo\r\n2\r\nng\r\n0\r\n\r\n", &pong, 1, false, NULL);
	judge_as_it_arrives(CHUNKED_HEAD "1\r\np\r\n1\r\no\r\n1\r\nn\r\n1\r\ng\r\n0\r\n\r\n", &pong,
			    1, false, NULL);
	/* ... but not in an extension or a trailer */
	judge_as_it_arrives(CHUNKED_HEAD "2;ok\r\nno\r\n0\r\nX-State: ok\r\n\r\n", &ok, 0, false,
			    "does not contain 'ok'");
	/* a size that lies: the data is not followed by a line end */
	judge_as_it_arrives(CHUNKED_HEAD "5\r\npong\r\n0\r\n\r\n", &any, 0, false, "chunk");
	judge_as_it_arrives(CHUNKED_HEAD "3\r\npong\r\n0\r\n\r\n", &pong, 0, false, "chunk");
	/* sizes that do not fit: not read as 0 (2^64) or as anything */
	judge_as_it_arrives(CHUNKED_HEAD "10000000000000000\r\npong\r\n0\r\n\r\n", &any, 0, false,
			    "chunk");
	judge_as_it_arrives(CHUNKED_HEAD "FFFFFFFFFFFFFFFFFFFFFFFF\r\npong\r\n0\r\n\r\n", &any, 0,
			    false, "chunk");
	judge_as_it_arrives(CHUNKED_HEAD "10000000000000000\r\n", &any, 0, false, "chunk");
	/* no size at all */
	judge_as_it_arrives(CHUNKED_HEAD "pong\r\n0\r\n\r\n", &any, 0, false, "chunk");
}

/*
 * 1xx answers are interim (RFC 9110 15.2): 100 Continue or 103 Early Hints
 * come before the real answer, whose status is the one judged; 101 Switching
 * Protocols is final (and not what a check asks for). A node that closes after
 * an interim answer has not answered.
 */
static void http_interim_answers_are_skipped_for_the_final_one(void **state)
{
	struct drv_hc_conf any = http_conf("", 200, 0), pong = http_conf("pong", 200, 0);
	char why[160];

	(void)state;
	judge_as_it_arrives(
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &any,
		1, true, NULL);
	judge_as_it_arrives("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
			    "HTTP/1.1 100 Continue\r\n\r\n"
			    "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong",
			    &pong, 1, false, NULL);
	judge_as_it_arrives("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
			    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
			    &any, 0, false, "HTTP status 503");
	judge_as_it_arrives("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", &any, 0,
			    false, "HTTP status 101");
	assert_int_equal(EVAL("HTTP/1.1 100 Continue\r\n\r\n", true, &any), 0);
	assert_non_null(strstr(why, "after an interim answer"));
	assert_int_equal(EVAL("HTTP/1.1 100 Continue\r\n\r\nSSH-2.0-x\r\n", true, &any), 0);
	assert_non_null(strstr(why, "not an HTTP response"));
}

/*
 * The body is framed as RFC 9112 6.3 says: Transfer-Encoding overrides
 * Content-Length, whichever comes first; it is chunked only when chunked is
 * its last coding (else the body runs to the close); a value folded onto the
 * next line (obs-fold, 5.2) is read as one; 204 and 304 have no body whatever
 * their headers say.
 */
static void http_body_is_framed_as_rfc_9112_says(void **state)
{
	struct drv_hc_conf any = http_conf("", 200, 204), pong = http_conf("pong", 200, 0);
	struct drv_hc_conf nm = http_conf("", 304, 0);
	char why[160];

	(void)state;
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
			    "\r\n4\r\npong\r\n0\r\n\r\n",
			    &any, 1, true, NULL);
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n"
			    "\r\n4\r\npong\r\n0\r\n\r\n",
			    &pong, 1, false, NULL);
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
			    "4\r\npong\r\n0\r\n\r\n",
			    &any, 1, true, NULL);
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding:  "
			    "Chunked \r\n\r\n4\r\npong\r\n0\r\n\r\n",
			    &any, 1, true, NULL);
	/* not chunked last: the body runs to the close, whatever it holds */
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz\r\n0\r\n\r\n",
			    &any, -EAGAIN, false, NULL);
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz\r\n0\r\n\r\n",
			      true, &any),
			 1);
	/* folded values */
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
			    "4\r\npong\r\n0\r\n\r\n",
			    &any, 1, true, NULL);
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nContent-Length:\r\n\t4\r\n\r\npong", &any, 1, true,
			    NULL);
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nX-Note: a\r\n Content-Length: 0\r\n"
			    "Content-Length: 4\r\n\r\npong",
			    &any, 1, true, NULL);
	/* no body on a 204 or 304 */
	judge_as_it_arrives("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", &any,
			    1, true, NULL);
	judge_as_it_arrives("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", &nm, 1,
			    true, NULL);
	/* two lengths that disagree give none: the body runs to the close */
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\npong",
			    &any, -EAGAIN, false, NULL);
}

/*
 * A server that answers and keeps its connection open (it need not heed our
 * Connection: close): once the framing says the body has all come (its
 * Content-Length, its last chunk, none on a 204), a body without the text
 * fails at once for it, not at the timeout for want of a close. Bytes past
 * the length are not the body. A body that runs to the close is waited for.
 */
static void http_whole_body_without_the_text_fails_without_waiting_for_the_close(void **state)
{
	struct drv_hc_conf pong = http_conf("pong", 200, 204);

	(void)state;
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnope", &pong, 0, false,
			    "does not contain 'pong'");
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &pong, 0, false,
			    "does not contain 'pong'");
	judge_as_it_arrives(CHUNKED_HEAD "4\r\nnope\r\n0\r\n\r\n", &pong, 0, false,
			    "does not contain 'pong'");
	judge_as_it_arrives("HTTP/1.1 204 No Content\r\n\r\n", &pong, 0, false,
			    "does not contain 'pong'");
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nnopong", &pong, 0, false,
			    "does not contain 'pong'");
	judge_as_it_arrives("HTTP/1.1 200 OK\r\n\r\nnope", &pong, -EAGAIN, false, NULL);
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nnope, pong", &pong, 1,
			    false, NULL);
}

/*
 * A check that reads what it needs and no more (8 KiB): an answer whose head
 * does not end within what came, or whose body has not shown the text by
 * then, fails saying so and how much came, not that a body it never saw
 * lacks the text (a head of many cookies or security headers does this).
 */
static void http_answer_cut_off_in_its_head_says_so(void **state)
{
	static const char cookie[] = "Set-Cookie: c=0123456789012345678901\r\n";
	struct drv_hc_conf pong = http_conf("pong", 200, 0), any = http_conf("", 200, 0);
	size_t n = 8192, i;
	char why[160], *a = malloc(n + 1);

	(void)state;
	assert_non_null(a);
	i = (size_t)snprintf(a, n + 1, "HTTP/1.1 200 OK\r\n");
	for (; i + sizeof(cookie) - 1 < n; i += sizeof(cookie) - 1)
		memcpy(a + i, cookie, sizeof(cookie) - 1);
	memset(a + i, 'x', n - i);
	assert_int_equal(drv_http_evaluate(a, n, true, &pong, why, sizeof(why)), 0);
	if (!strstr(why, "headers did not end") || !strstr(why, "8192 bytes"))
		fail_msg("why: '%s'", why);
	/* the status is all a check without a body needs */
	assert_int_equal(drv_http_evaluate(a, n, true, &any, why, sizeof(why)), 1);
	assert_int_equal(EVAL("HTTP/1.1 200 OK\r\n\r\nnope", true, &pong), 0);
	if (!strstr(why, "does not contain 'pong'") || !strstr(why, "23 bytes"))
		fail_msg("why: '%s'", why);
	free(a);
}

/*
 * Small health endpoints (a shell one-liner behind socat or nc, some embedded
 * servers) end the lines of their head in a bare LF. RFC 9112 2.2 lets a
 * recipient take a bare LF for a line end in the status line and the header
 * fields, so the check does: such an answer is judged as soon as it has come,
 * as a CRLF one is, not at the timeout for want of a CRLF CRLF. A chunked
 * body keeps its CRLF after each chunk's data (its size is checked by it): a
 * bare LF there fails at once, saying so.
 */
static void http_head_with_bare_lf_line_ends_is_judged_at_once(void **state)
{
	struct drv_hc_conf any = http_conf("", 200, 0), pong = http_conf("pong", 200, 0);
	struct drv_hc_conf pong204 = http_conf("pong", 200, 204);

	(void)state;
	judge_as_it_arrives("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", &any, 1, true, NULL);
	judge_as_it_arrives("HTTP/1.0 200 OK\nContent-Type: text/plain\nContent-Length: 4\n\npong",
			    &pong, 1, false, NULL);
	judge_as_it_arrives("HTTP/1.1 200 OK\nContent-Length: 4\n\nnope", &pong, 0, false,
			    "does not contain 'pong'");
	judge_as_it_arrives("HTTP/1.1 503 Service Unavailable\nContent-Length: 0\n\n", &any, 0,
			    false, "HTTP status 503");
	judge_as_it_arrives("HTTP/1.1 204 No Content\n\n", &pong204, 0, false,
			    "does not contain 'pong'");
	/* CRLF and bare LF mixed, line by line */
	judge_as_it_arrives("HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok", &any, 1, true, NULL);
	judge_as_it_arrives("HTTP/1.1 200 OK\nContent-Length: 2\r\n\nok", &any, 1, true, NULL);
	/* an interim answer ended by bare LFs is skipped like any other */
	judge_as_it_arrives("HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nContent-Length: 4\n\npong",
			    &pong, 1, false, NULL);
	/* a body's framing headers are read from a bare-LF head */
	judge_as_it_arrives("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n4\r\npong\r\n0\r\n\r\n",
			    &any, 1, true, NULL);
	judge_as_it_arrives("HTTP/1.1 200 OK\nTransfer-Encoding:\n chunked\n\n2\r\npo\r\n"
			    "2\r\nng\r\n0\r\n\r\n",
			    &pong, 1, false, NULL);
	/* ... but a chunk's data ends in CRLF, strictly */
	judge_as_it_arrives("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n4\npong\n0\n\n", &any,
			    0, false, "bare LF");
}

/*
 * A node that answers an http check with TLS (kind http given for a TLS
 * port: its server sends a TLS alert, or a handshake record) fails saying so
 * and to use kind https; and what is quoted of an answer that is no HTTP
 * holds no control characters, which would garble the log line.
 */
static void http_check_answered_with_tls_says_so_and_quotes_no_control_bytes(void **state)
{
	static const char alert[] = "\x15\x03\x03\x00\x02\x02\x46";
	static const char junk[] = "HELLO\x1b[2J\r\x07 world\n";
	struct drv_hc_conf hc = http_conf("", 200, 0);
	char why[160];
	size_t i;

	(void)state;
	assert_int_equal(drv_http_evaluate(alert, sizeof(alert) - 1, true, &hc, why, sizeof(why)),
			 0);
	if (!strstr(why, "the node answered with TLS: use kind: https"))
		fail_msg("why: '%s'", why);
	assert_int_equal(drv_http_evaluate(junk, sizeof(junk) - 1, true, &hc, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "not an HTTP response: 'HELLO"));
	for (i = 0; why[i]; i++)
		if ((unsigned char)why[i] < ' ' || why[i] == 0x7f)
			fail_msg("control byte 0x%02x at %zu of '%s'", (unsigned char)why[i], i,
				 why);
}

/* ---- the checker against real loopback servers ---- */

enum srv_mode {
	SRV_200, /* answer 200 with body "ok" */
	SRV_500, /* answer 500 */
	SRV_HANG, /* accept, read, never answer */
	SRV_KEEP, /* answer 200 with body "nope" and a Content-Length, keep the connection open */
	SRV_KEEP_LF, /* SRV_KEEP's answer with body "pong", its head's lines ending in bare LFs */
	SRV_PART, /* answer the head of a 200 with a Content-Length of 10 and 2 bytes of body, hold */
};

struct srv {
	int lfd;
	__u16 port;
	enum srv_mode mode;
	volatile int stop;
	pthread_t th;
	int held[512];
	int nheld;
	volatile __u32 last_peer; /* IPv4 source of the last accepted connection, network order */
};

#define SRV_PART_ANSWER "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok"

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	int i;

	for (i = 0; i < 2000 && !s->stop; i++) {
		struct pollfd p = { .fd = s->lfd, .events = POLLIN };
		char buf[1024];
		int c;

		if (poll(&p, 1, 20) <= 0)
			continue;
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);

		c = accept(s->lfd, (struct sockaddr *)&peer, &pl);
		if (c < 0)
			continue;
		if (peer.sin_family == AF_INET)
			s->last_peer = peer.sin_addr.s_addr;
		if (s->mode == SRV_HANG) {
			if (s->nheld < 512)
				s->held[s->nheld++] = c;
			else
				close(c);
			continue;
		}
		p.fd = c;
		if (s->mode == SRV_KEEP || s->mode == SRV_KEEP_LF || s->mode == SRV_PART) {
			const char *r = s->mode == SRV_KEEP ?
						"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnope" :
					s->mode == SRV_KEEP_LF ?
						"HTTP/1.1 200 OK\nContent-Length: 4\n\npong" :
						SRV_PART_ANSWER;

			if (poll(&p, 1, 1000) > 0 && recv(c, buf, sizeof(buf), 0) > 0 &&
			    send(c, r, strlen(r), MSG_NOSIGNAL) < 0)
				(void)0;
			if (s->nheld < 512)
				s->held[s->nheld++] = c;
			else
				close(c);
			continue;
		}
		if (poll(&p, 1, 1000) > 0 && recv(c, buf, sizeof(buf), 0) > 0) {
			const char *r = s->mode == SRV_200 ?
						"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" :
						"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";

			/* The checker may already be gone (test over): nothing to report. */
			if (send(c, r, strlen(r), MSG_NOSIGNAL) < 0)
				(void)0;
		}
		close(c);
	}
	return NULL;
}

/* A socket listening on 127.0.0.1, on a port the kernel picks: its fd, and the port in *@port. */
static int listen_loopback(int backlog, __u16 *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void srv_start(struct srv *s, enum srv_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->lfd = listen_loopback(1024, &s->port);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
	int i;

	s->stop = 1;
	pthread_join(s->th, NULL);
	for (i = 0; i < s->nheld; i++)
		close(s->held[i]);
	close(s->lfd);
}

/*
 * A TLS node with a self-signed certificate that requires a client certificate
 * (mTLS): a check without one completes its handshake (TLS 1.3) and is then
 * refused with a "certificate required" alert. Serves connections until stopped.
 */
struct tls_srv {
	int lfd;
	__u16 port;
	volatile int stop;
	pthread_t th;
	SSL_CTX *ctx;
};

static int accept_any_cert(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

static SSL_CTX *tls_srv_ctx(void)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *crt = X509_new();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	assert_non_null(pk);
	assert_non_null(crt);
	assert_non_null(ctx);
	ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(crt), -60);
	X509_gmtime_adj(X509_getm_notAfter(crt), 3600);
	X509_set_pubkey(crt, pk);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(crt), "CN", MBSTRING_ASC,
				   (const unsigned char *)"node.test", -1, -1, 0);
	X509_set_issuer_name(crt, X509_get_subject_name(crt));
	assert_true(X509_sign(crt, pk, EVP_sha256()) > 0);
	assert_int_equal(SSL_CTX_use_certificate(ctx, crt), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, pk), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any_cert);
	X509_free(crt);
	EVP_PKEY_free(pk);
	return ctx;
}

static void *tls_srv_main(void *arg)
{
	struct tls_srv *s = arg;
	int i;

	for (i = 0; i < 2000 && !s->stop; i++) {
		struct pollfd p = { .fd = s->lfd, .events = POLLIN };
		struct timeval tv = { .tv_sec = 2 };
		char buf[1024];
		SSL *ssl;
		int c;

		if (poll(&p, 1, 20) <= 0)
			continue;
		c = accept(s->lfd, NULL, NULL);
		if (c < 0)
			continue;
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssl = SSL_new(s->ctx);
		if (ssl && SSL_set_fd(ssl, c))
			SSL_accept(ssl); /* fails: no client certificate; the alert is sent */
		SSL_free(ssl);
		/* Read what the check sent until it closes: a close with unread bytes would send a RST. */
		shutdown(c, SHUT_WR);
		while (recv(c, buf, sizeof(buf), 0) > 0)
			;
		close(c);
	}
	return NULL;
}

static void tls_srv_start(struct tls_srv *s)
{
	memset(s, 0, sizeof(*s));
	s->ctx = tls_srv_ctx();
	s->lfd = listen_loopback(64, &s->port);
	assert_int_equal(pthread_create(&s->th, NULL, tls_srv_main, s), 0);
}

static void tls_srv_stop(struct tls_srv *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
}

/* A port with nothing listening: bind, then close without listen. */
static __u16 closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	close(fd);
	return ntohs(a.sin_port);
}

struct result {
	int n;
	bool ok;
	char why[160];
	double at;
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record(struct drv_check *c, bool ok, const char *why, void *arg)
{
	struct result *r = arg;

	(void)c;
	if (r->n++ == 0) {
		r->ok = ok;
		snprintf(r->why, sizeof(r->why), "%s", why);
		r->at = mono();
	}
}

static void check_init(struct drv_check *c, const struct drv_hc_conf *hc, __u16 port,
		       struct result *r)
{
	memset(c, 0, sizeof(*c));
	memset(r, 0, sizeof(*r));
	c->conf = hc;
	c->addr.v4 = htonl(INADDR_LOOPBACK);
	c->family = DRV_FAMILY_V4;
	c->port = port;
	c->cb = record;
	c->arg = r;
}

/* Run the checker until every result has one entry; bounded by @limit_s. */
static void run_until(struct drv_health *h, struct result **rs, int n, double limit_s)
{
	double end = mono() + limit_s;
	int i, done;

	do {
		struct pollfd p = { .fd = drv_health_fd(h), .events = POLLIN };
		int t = drv_health_next_ms(h);

		poll(&p, 1, t < 0 || t > 50 ? 50 : t);
		drv_health_process(h);
		for (i = 0, done = 0; i < n; i++)
			done += rs[i]->n > 0;
	} while (done < n && mono() < end);
}

static void hc_fast(struct drv_hc_conf *hc, const char *preset, __u32 timeout_ms)
{
	drv_hc_defaults(hc);
	assert_int_equal(drv_hc_preset(preset, hc), 0);
	hc->port = 0;
	hc->interval_ms = 1000;
	hc->timeout_ms = timeout_ms;
}

static void tcp_check_passes_on_listener_fails_on_refused(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c1, c2;
	struct result r1, r2, *rs[] = { &r1, &r2 };
	struct srv s;

	(void)state;
	srv_start(&s, SRV_200);
	hc_fast(&hc, "tcp", 500);
	/*
	 * Each check's first run starts within 1 s: a second one of c1 before
	 * c2's first (c1.n 2) must not be possible, as it was with 1 s minus
	 * jitter between runs.
	 */
	hc.interval_ms = 10000;
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c1, &hc, s.port, &r1);
	check_init(&c2, &hc, closed_port(), &r2);
	assert_int_equal(drv_health_add(&h, &c1), 0);
	assert_int_equal(drv_health_add(&h, &c2), 0);
	run_until(&h, rs, 2, 10);
	drv_health_fini(&h);
	srv_stop(&s);
	assert_int_equal(r1.n, 1);
	assert_true(r1.ok);
	assert_int_equal(r2.n, 1);
	assert_false(r2.ok);
	assert_non_null(strstr(r2.why, "connect: Connection refused"));
}

/*
 * The agent's loop runs a round for every socket event: with thousands of nodes,
 * a round that looked at every check for its timer made the checks' CPU grow
 * with the square of the nodes. A round looks only at checks that are due.
 */
static void a_round_looks_only_at_the_checks_that_are_due(void **state)
{
	enum { N = 2048, ROUNDS = 1000 };
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check *c = calloc(N, sizeof(*c));
	struct result *r = calloc(N, sizeof(*r)), **rs = calloc(N, sizeof(*rs));
	__u64 looked;
	__u16 port = closed_port();
	int i, left = 0;

	(void)state;
	assert_non_null(c);
	assert_non_null(r);
	assert_non_null(rs);
	hc_fast(&hc, "tcp", 1000);
	hc.interval_ms = 3600000; /* each check's first run within 1 s, the next after 54 min */
	assert_int_equal(drv_health_init(&h), 0);
	for (i = 0; i < N; i++) {
		check_init(&c[i], &hc, port, &r[i]);
		rs[i] = &r[i];
		assert_int_equal(drv_health_add(&h, &c[i]), 0);
	}
	run_until(&h, rs, N, 30);
	for (i = 0; i < N; i++)
		assert_int_equal(r[i].n, 1);
	/* every third check goes: the others keep their place in the timer order */
	for (i = 0; i < N; i += 3)
		drv_health_remove(&h, &c[i]);
	assert_true(drv_health_next_ms(&h) > 50 * 60 * 1000);
	looked = h.looked;
	for (i = 0; i < ROUNDS; i++)
		drv_health_process(&h);
	if (h.looked != looked)
		fail_msg("%d rounds with none of %zu checks due looked at %llu checks, want 0",
			 ROUNDS, h.n, (unsigned long long)(h.looked - looked));
	for (i = 0; i < N; i++)
		left += r[i].n != 1;
	assert_int_equal(left, 0);
	/* and the first round looked at each check once or twice (start, then none was in flight) */
	assert_true(looked >= N && looked <= 2 * N);
	drv_health_fini(&h);
	free(rs);
	free(r);
	free(c);
}

static void http_check_judges_real_server_status(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c1, c2;
	struct result r1, r2, *rs[] = { &r1, &r2 };
	struct srv ok, bad;

	(void)state;
	srv_start(&ok, SRV_200);
	srv_start(&bad, SRV_500);
	hc_fast(&hc, "rancher", 800);
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c1, &hc, ok.port, &r1);
	check_init(&c2, &hc, bad.port, &r2);
	assert_int_equal(drv_health_add(&h, &c1), 0);
	assert_int_equal(drv_health_add(&h, &c2), 0);
	run_until(&h, rs, 2, 10);
	drv_health_fini(&h);
	srv_stop(&ok);
	srv_stop(&bad);
	assert_true(r1.ok);
	assert_false(r2.ok);
	assert_non_null(strstr(r2.why, "HTTP status 500"));
	assert_true(c1.last_latency_s >= 0 && c1.last_latency_s < 1);
}

/*
 * A node that answers and keeps its connection open (it need not heed our
 * Connection: close): its whole answer, without the body text, fails the
 * check for the body, not at the timeout for want of a close.
 */
static void node_keeping_its_connection_fails_for_the_body_not_the_timeout(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c;
	struct result r, *rs[] = { &r };
	struct srv keep;

	(void)state;
	srv_start(&keep, SRV_KEEP);
	hc_fast(&hc, "rancher", 1000);
	snprintf(hc.body, sizeof(hc.body), "pong");
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c, &hc, keep.port, &r);
	assert_int_equal(drv_health_add(&h, &c), 0);
	run_until(&h, rs, 1, 10);
	drv_health_fini(&h);
	srv_stop(&keep);
	assert_int_equal(r.n, 1);
	assert_false(r.ok);
	if (!strstr(r.why, "body does not contain 'pong'"))
		fail_msg("failed for '%s', want the body", r.why);
}

/*
 * A node whose answer's head ends its lines in bare LFs, and that keeps its
 * connection open: it passes as soon as its answer has come, not failed at
 * the timeout for want of a CRLF CRLF or a close.
 */
static void node_answering_with_bare_lf_lines_passes_without_waiting_for_the_close(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c;
	struct result r, *rs[] = { &r };
	struct srv keep;

	(void)state;
	srv_start(&keep, SRV_KEEP_LF);
	hc_fast(&hc, "rancher", 5000);
	snprintf(hc.body, sizeof(hc.body), "pong");
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c, &hc, keep.port, &r);
	assert_int_equal(drv_health_add(&h, &c), 0);
	run_until(&h, rs, 1, 15);
	drv_health_fini(&h);
	srv_stop(&keep);
	assert_int_equal(r.n, 1);
	if (!r.ok)
		fail_msg("failed for '%s', want a pass", r.why);
}

/*
 * A node that sends part of its answer and stalls fails at the timeout
 * saying how much came and that the answer had not ended, so the operator
 * looks at the node's answer, not at the network.
 */
static void node_stalling_in_its_answer_times_out_saying_how_much_came(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c;
	struct result r, *rs[] = { &r };
	struct srv part;
	char want[96];

	(void)state;
	srv_start(&part, SRV_PART);
	hc_fast(&hc, "rancher", 500);
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c, &hc, part.port, &r);
	assert_int_equal(drv_health_add(&h, &c), 0);
	run_until(&h, rs, 1, 15);
	drv_health_fini(&h);
	srv_stop(&part);
	assert_int_equal(r.n, 1);
	assert_false(r.ok);
	snprintf(want, sizeof(want),
		 "timeout after 500ms (during receive), %zu bytes of an answer came",
		 strlen(SRV_PART_ANSWER));
	if (!strstr(r.why, want) || !strstr(r.why, "had not ended"))
		fail_msg("timed out for '%s', want '%s' and that it had not ended", r.why, want);
}

static void hung_node_times_out_without_delaying_a_healthy_one(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c1, c2;
	struct result r1, r2, *rs[] = { &r1, &r2 };
	struct srv hang, ok;
	double t0;

	(void)state;
	srv_start(&hang, SRV_HANG);
	srv_start(&ok, SRV_200);
	hc_fast(&hc, "rancher", 600);
	/* First checks start within min(interval, 1 s): 20 ms makes the two overlap for sure. */
	hc.interval_ms = 20;
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c1, &hc, hang.port, &r1);
	check_init(&c2, &hc, ok.port, &r2);
	t0 = mono();
	assert_int_equal(drv_health_add(&h, &c1), 0);
	assert_int_equal(drv_health_add(&h, &c2), 0);
	run_until(&h, rs, 2, 10);
	drv_health_fini(&h);
	srv_stop(&hang);
	srv_stop(&ok);
	assert_false(r1.ok);
	assert_non_null(strstr(r1.why, "timeout after 600ms"));
	if (!strstr(r1.why, "no answer came"))
		fail_msg("timed out for '%s', want it to say no answer came", r1.why);
	assert_true(r2.ok);
	/* Both started within 20 ms; the healthy node's answer came before the hung one timed out. */
	assert_true(r2.at < r1.at);
	/* ... and the timeout fired at its deadline, not much later: first start ≤ 20 ms + 600 ms. */
	assert_true(r1.at - t0 < 0.62 + 2.0 /* slack for a busy machine */);
}

static void checks_repeat_every_interval(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c;
	struct result r;
	struct srv s;
	double end;

	(void)state;
	srv_start(&s, SRV_200);
	hc_fast(&hc, "tcp", 100);
	hc.interval_ms = 200;
	hc.jitter_pct = 0;
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c, &hc, s.port, &r);
	assert_int_equal(drv_health_add(&h, &c), 0);
	end = mono() + 20;
	while (c.n_ok < 4 && mono() < end) {
		struct pollfd p = { .fd = drv_health_fd(&h), .events = POLLIN };
		int t = drv_health_next_ms(&h);

		poll(&p, 1, t < 0 || t > 50 ? 50 : t);
		drv_health_process(&h);
	}
	drv_health_fini(&h);
	srv_stop(&s);
	assert_true(c.n_ok >= 4);
	assert_int_equal(c.n_fail, 0);
}

/* Jitter shortens long intervals by up to its whole share (rand_r alone reached 2.1 s). */
static void jitter_spans_its_whole_share_of_long_intervals(void **state)
{
	enum { N = 64 };
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c[N];
	struct result r[N], *rs[N];
	struct srv s;
	__u64 interval, cut, max_cut = 0;
	int i;

	(void)state;
	srv_start(&s, SRV_200);
	hc_fast(&hc, "tcp", 1000);
	hc.interval_ms = 60000;
	hc.jitter_pct = 50;
	interval = (__u64)hc.interval_ms * 1000000ull;
	assert_int_equal(drv_health_init(&h), 0);
	for (i = 0; i < N; i++) {
		check_init(&c[i], &hc, s.port, &r[i]);
		rs[i] = &r[i];
		assert_int_equal(drv_health_add(&h, &c[i]), 0);
	}
	run_until(&h, rs, N, 20);
	for (i = 0; i < N; i++) {
		assert_int_equal(r[i].n, 1);
		cut = c[i].started_ns + interval - c[i].next_ns;
		assert_true(cut <= interval / 2);
		if (cut > max_cut)
			max_cut = cut;
	}
	drv_health_fini(&h);
	srv_stop(&s);
	/* 64 draws over 0..30 s all below 5 s: odds of (1/6)^64 */
	assert_true(max_cut > 5000000000ull);
}

static void ipv6_node_is_checked_over_ipv6(void **state)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t l = sizeof(a);
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c;
	struct result r, *rs[] = { &r };
	int lfd = socket(AF_INET6, SOCK_STREAM, 0);

	(void)state;
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a))) {
		close(lfd);
		skip(); /* no IPv6 loopback here */
	}
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &l), 0);
	hc_fast(&hc, "tcp", 500);
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c, &hc, ntohs(a.sin6_port), &r);
	c.family = DRV_FAMILY_V6;
	memcpy(c.addr.v6, &in6addr_loopback, 16);
	assert_int_equal(drv_health_add(&h, &c), 0);
	run_until(&h, rs, 1, 10);
	drv_health_fini(&h);
	close(lfd);
	assert_int_equal(r.n, 1);
	assert_true(r.ok);
}

static void checks_use_the_configured_source_address(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c1, c2;
	struct result r1, r2, *rs[] = { &r1, &r2 };
	struct drv_hc_conf bad;
	struct srv s;

	(void)state;
	srv_start(&s, SRV_200);
	hc_fast(&hc, "tcp", 500);
	hc.source_family = DRV_FAMILY_V4;
	hc.source.v4 = htonl(0x7f000002); /* 127.0.0.2: local, and not the default */
	bad = hc;
	bad.source.v4 = htonl(0xc0000201); /* 192.0.2.1 (TEST-NET-1): not ours */
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c1, &hc, s.port, &r1);
	check_init(&c2, &bad, s.port, &r2);
	assert_int_equal(drv_health_add(&h, &c1), 0);
	assert_int_equal(drv_health_add(&h, &c2), 0);
	run_until(&h, rs, 2, 10);
	drv_health_fini(&h);
	for (int i = 0; i < 100 && !s.last_peer; i++)
		usleep(50000);
	srv_stop(&s);
	assert_true(r1.ok);
	assert_int_equal(s.last_peer, htonl(0x7f000002));
	assert_false(r2.ok);
	assert_non_null(strstr(r2.why, "bind to source address"));
}

static void tls_settings_that_cannot_load_are_reported(void **state)
{
	struct drv_hc_conf hc;
	char err[512];

	(void)state;
	drv_hc_defaults(&hc);
	assert_int_equal(drv_hc_tls_check(&hc, err, sizeof(err)), 0); /* tcp: nothing to load */
	assert_int_equal(drv_hc_preset("kube-apiserver", &hc), 0);
	assert_int_equal(drv_hc_tls_check(&hc, err, sizeof(err)), 0); /* no verify, no cert */
	hc.verify = true;
	strcpy(hc.ca, "/nonexistent/ca.pem");
	assert_int_equal(drv_hc_tls_check(&hc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cannot load CA bundle '/nonexistent/ca.pem'"));
	hc.verify = false;
	strcpy(hc.cert, "/nonexistent/c.pem");
	strcpy(hc.key, "/nonexistent/k.pem");
	assert_int_equal(drv_hc_tls_check(&hc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cannot load client certificate '/nonexistent/c.pem'"));
}

/*
 * With verify off, OpenSSL still records why the node's certificate would not
 * verify (here: self-signed); a check failing for another reason must say that
 * reason, not a verification nobody asked for.
 */
/*
 * An https (or tls) check of a port that answers without TLS (plain HTTP:
 * the ingress's port 80 given for 443, or a service without TLS) fails at
 * once saying the node answered without TLS and what to check, not only
 * OpenSSL's "wrong version number" or "packet length too long".
 */
static void tls_check_of_a_plain_http_node_says_it_answered_without_tls(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c;
	struct result r, *rs[] = { &r };
	struct srv plain;

	(void)state;
	srv_start(&plain, SRV_200);
	hc_fast(&hc, "kube-apiserver", 5000);
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c, &hc, plain.port, &r);
	assert_int_equal(drv_health_add(&h, &c), 0);
	run_until(&h, rs, 1, 15);
	drv_health_fini(&h);
	srv_stop(&plain);
	assert_int_equal(r.n, 1);
	assert_false(r.ok);
	if (!strstr(r.why, "TLS handshake: ") ||
	    !strstr(r.why, "the node answered without TLS (plain HTTP?)"))
		fail_msg("why: '%s', want the handshake's cause and that the node spoke no TLS",
			 r.why);
}

static void tls_failure_without_verify_names_its_real_cause(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c;
	struct result r, *rs[] = { &r };
	struct tls_srv s;

	(void)state;
	tls_srv_start(&s);
	hc_fast(&hc, "kube-apiserver", 2000);
	assert_false(hc.verify);
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c, &hc, s.port, &r);
	assert_int_equal(drv_health_add(&h, &c), 0);
	run_until(&h, rs, 1, 10);
	drv_health_fini(&h);
	tls_srv_stop(&s);
	assert_int_equal(r.n, 1);
	assert_false(r.ok);
	if (strstr(r.why, "certificate verification") || !strstr(r.why, "certificate required"))
		fail_msg("why: '%s', want the node's 'certificate required' alert", r.why);
}

#define MANY_OK 200
#define MANY_HUNG 50

static void hundreds_of_nodes_are_checked_in_parallel(void **state)
{
	static struct drv_check cs[MANY_OK + MANY_HUNG];
	static struct result rs[MANY_OK + MANY_HUNG];
	static struct result *rp[MANY_OK + MANY_HUNG];
	struct drv_hc_conf hc;
	struct drv_health h;
	struct srv ok, hang;
	double last_pass = 0, first_fail = 1e18;
	int i, npass = 0, ntimeout = 0;

	(void)state;
	srv_start(&ok, SRV_200);
	srv_start(&hang, SRV_HANG);
	/* First checks start within 1 s; hung ones fail at 3 s: 2 s for 200 answers. */
	hc_fast(&hc, "rancher", 3000);
	hc.interval_ms = 4000;
	assert_int_equal(drv_health_init(&h), 0);
	for (i = 0; i < MANY_OK + MANY_HUNG; i++) {
		check_init(&cs[i], &hc, i < MANY_OK ? ok.port : hang.port, &rs[i]);
		rp[i] = &rs[i];
		assert_int_equal(drv_health_add(&h, &cs[i]), 0);
	}
	run_until(&h, rp, MANY_OK + MANY_HUNG, 30);
	drv_health_fini(&h);
	srv_stop(&ok);
	srv_stop(&hang);
	for (i = 0; i < MANY_OK + MANY_HUNG; i++) {
		assert_true(rs[i].n >= 1); /* first result judged; a second round may have begun */
		if (i < MANY_OK) {
			npass += rs[i].ok;
			if (rs[i].at > last_pass)
				last_pass = rs[i].at;
		} else {
			ntimeout += !rs[i].ok && strstr(rs[i].why, "timeout after 3000ms");
			if (rs[i].at < first_fail)
				first_fail = rs[i].at;
		}
	}
	assert_int_equal(npass, MANY_OK);
	assert_int_equal(ntimeout, MANY_HUNG);
	/* No healthy node waited for a hung one. */
	assert_true(last_pass < first_fail);
}

/* Keep fds 0-2 and @keep (moved to 3), close every other: fds 4 and up are free. */
static int close_fds_but(int keep)
{
	DIR *d;
	struct dirent *e;
	int fd;

	if (dup2(keep, 3) < 0)
		return -1;
	d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		fd = atoi(e->d_name);
		if (fd > 3 && fd != dirfd(d))
			close(fd);
	}
	closedir(d);
	return 3;
}

#define FD_SHORT_CHECKS 40
#define FD_SHORT_FREE 8

/* What the child below saw: first results by cause, and the lines logged about the fd limit. */
struct fd_short_report {
	int results, timeouts, local_fails, log_lines;
	char first_local[160];
	char log[512];
};

static void fd_short_child(__u16 port, int out)
{
	static struct drv_check cs[FD_SHORT_CHECKS];
	static struct result rs[FD_SHORT_CHECKS];
	static struct result *rp[FD_SHORT_CHECKS];
	struct fd_short_report rep = { 0 };
	struct drv_hc_conf hc;
	struct drv_health h;
	struct rlimit rl;
	static char logged[65536];
	FILE *log = tmpfile();
	char *line, *save;
	ssize_t n;
	int i;

	/* stderr (the log) goes to a file that fd 2 alone keeps open. */
	if (!log || dup2(fileno(log), 2) < 0 || (out = close_fds_but(out)) < 0)
		_exit(3);
	setvbuf(stderr, NULL, _IONBF, 0);
	/* Soft and hard alike: fds 0-3, the epoll fd and FD_SHORT_FREE sockets, no more. */
	rl.rlim_cur = rl.rlim_max = 4 + 1 + FD_SHORT_FREE;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		_exit(3);
	drv_health_init(&h);
	/* Every node hangs: each check holds its socket until its 500 ms timeout. */
	hc_fast(&hc, "rancher", 500);
	hc.interval_ms = 60000;
	for (i = 0; i < FD_SHORT_CHECKS; i++) {
		check_init(&cs[i], &hc, port, &rs[i]);
		rp[i] = &rs[i];
		if (drv_health_add(&h, &cs[i]))
			_exit(3);
	}
	run_until(&h, rp, FD_SHORT_CHECKS, 60);
	drv_health_fini(&h);
	for (i = 0; i < FD_SHORT_CHECKS; i++) {
		if (!rs[i].n)
			continue;
		rep.results++;
		if (!rs[i].ok && strstr(rs[i].why, "timeout after 500ms"))
			rep.timeouts++;
		else if (!rep.local_fails++)
			snprintf(rep.first_local, sizeof(rep.first_local), "%s", rs[i].why);
	}
	n = pread(2, logged, sizeof(logged) - 1, 0);
	logged[n > 0 ? n : 0] = 0;
	for (line = strtok_r(logged, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, "open-file limit") && !rep.log_lines++)
			snprintf(rep.log, sizeof(rep.log), "%s", line);
	if (write(out, &rep, sizeof(rep)) != sizeof(rep))
		_exit(3);
	_exit(0);
}

/*
 * More checks in flight than free fds: a check that cannot get a socket is
 * the balancer's shortage, not the node's failure. It waits for a socket
 * (the node keeps its state: no false failover), and the shortage is logged
 * once, naming the limit.
 */
static void checks_out_of_fds_wait_instead_of_failing_the_node(void **state)
{
	struct fd_short_report rep;
	struct srv hang;
	ssize_t got;
	int p[2], st;
	pid_t pid;

	(void)state;
	srv_start(&hang, SRV_HANG);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		close(p[0]);
		fd_short_child(hang.port, p[1]);
	}
	close(p[1]);
	got = read(p[0], &rep, sizeof(rep));
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	srv_stop(&hang);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(got, sizeof(rep));
	if (rep.local_fails)
		fail_msg(
			"%d of %d checks failed the node for the balancer's own shortage, first: '%s'",
			rep.local_fails, rep.results, rep.first_local);
	assert_int_equal(rep.results, FD_SHORT_CHECKS);
	assert_int_equal(rep.timeouts, FD_SHORT_CHECKS);
	if (rep.log_lines != 1)
		fail_msg("%d log lines about the open-file limit, want 1 (first: '%s')",
			 rep.log_lines, rep.log);
}

/*
 * The default soft limit of 1024 fds is short of a few hundred nodes' checks
 * plus the agent's own: the checker raises it to the hard limit (no select()
 * in the agent, so fds above 1023 are fine).
 */
static void health_init_raises_the_open_file_soft_limit_to_the_hard_limit(void **state)
{
	struct rlimit rl;
	int p[2], st;
	pid_t pid;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < 2048)
		skip();
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct drv_health h;

		close(p[0]);
		rl.rlim_cur = 1024;
		rl.rlim_max = 2048;
		if (setrlimit(RLIMIT_NOFILE, &rl) || drv_health_init(&h))
			_exit(3);
		drv_health_fini(&h);
		if (getrlimit(RLIMIT_NOFILE, &rl) ||
		    write(p[1], &rl, sizeof(rl)) != (ssize_t)sizeof(rl))
			_exit(3);
		_exit(0);
	}
	close(p[1]);
	memset(&rl, 0, sizeof(rl));
	assert_int_equal(read(p[0], &rl, sizeof(rl)), sizeof(rl));
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(rl.rlim_max, 2048);
	assert_int_equal(rl.rlim_cur, 2048);
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char l[256];
	long kb = -1;

	assert_non_null(f);
	while (fgets(l, sizeof(l), f))
		if (!strncmp(l, "VmRSS:", 6))
			kb = strtol(l + 6, NULL, 10);
	fclose(f);
	return kb;
}

#define TLS_MANY 100
#define SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

/*
 * A CA bundle loaded into a TLS context takes most of a megabyte: one context
 * per node made a service of a few hundred verified nodes cost hundreds of
 * megabytes (and as many bundle reads at each reload). The checks of one
 * health conf share one context, and each still verifies on its own.
 */
static void tls_checks_of_one_conf_share_one_context(void **state)
{
	static struct drv_check cs[TLS_MANY];
	static struct result rs[TLS_MANY];
	static struct result *rp[TLS_MANY];
	struct drv_hc_conf hc;
	struct drv_health h;
	struct tls_srv s;
	long before, grew;
	int i, nverify = 0;

	(void)state;
	if (access(SYSTEM_CA, R_OK))
		skip();
	tls_srv_start(&s);
	hc_fast(&hc, "kube-apiserver", 8000);
	hc.interval_ms = 10000;
	hc.verify = true;
	snprintf(hc.ca, sizeof(hc.ca), "%s", SYSTEM_CA);
	assert_int_equal(drv_health_init(&h), 0);
	before = rss_kb();
	for (i = 0; i < TLS_MANY; i++) {
		check_init(&cs[i], &hc, s.port, &rs[i]);
		rp[i] = &rs[i];
		assert_int_equal(drv_health_add(&h, &cs[i]), 0);
	}
	grew = rss_kb() - before;
	run_until(&h, rp, TLS_MANY, 60);
	drv_health_fini(&h);
	tls_srv_stop(&s);
	for (i = 0; i < TLS_MANY; i++)
		nverify += rs[i].n && !rs[i].ok && strstr(rs[i].why, "certificate verification");
	/* The node's self-signed certificate is not in the system store. */
	assert_int_equal(nverify, TLS_MANY);
	if (grew > 20 * 1024)
		fail_msg("%d TLS checks of one conf grew the process by %ld kB, want < 20 MB",
			 TLS_MANY, grew);
}

/*
 * The agent's loop can be held up (a /metrics render under its lock, a reload
 * writing the maps): a node that answered meanwhile must not fail for the
 * time the checker did not run.
 */
static void agent_stall_does_not_time_out_a_check_in_flight(void **state)
{
	struct drv_hc_conf hc;
	struct drv_health h;
	struct drv_check c;
	struct result r, *rs[] = { &r };
	struct srv s;
	double end;

	(void)state;
	srv_start(&s, SRV_200);
	hc_fast(&hc, "rancher", 300);
	hc.interval_ms = 10000;
	assert_int_equal(drv_health_init(&h), 0);
	check_init(&c, &hc, s.port, &r);
	assert_int_equal(drv_health_add(&h, &c), 0);
	/* Run until the check is in flight (it has a socket), then stall for twice its timeout
	 * (the test server waits 1 s for a request). */
	end = mono() + 10;
	while (c.fd < 0 && !r.n && mono() < end) {
		usleep(5000);
		drv_health_process(&h);
	}
	assert_true(c.fd >= 0);
	usleep(600000);
	run_until(&h, rs, 1, 10);
	drv_health_fini(&h);
	srv_stop(&s);
	assert_int_equal(r.n, 1);
	if (!r.ok)
		fail_msg("the check failed across the checker's own stall: '%s'", r.why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(node_goes_down_after_exactly_fall_failures),
		cmocka_unit_test(node_comes_back_after_exactly_rise_passes),
		cmocka_unit_test(flapping_node_never_reaches_fall),
		cmocka_unit_test(rise_and_fall_of_one_flip_on_each_result),
		cmocka_unit_test(tls_name_is_sni_or_the_host_without_its_port),
		cmocka_unit_test(http_status_in_expect_passes_others_fail),
		cmocka_unit_test(http_partial_status_line_waits_for_more),
		cmocka_unit_test(http_status_code_is_exactly_three_digits_then_a_blank),
		cmocka_unit_test(http_pass_waits_for_the_whole_response),
		cmocka_unit_test(http_content_length_is_read_within_its_line_and_the_response),
		cmocka_unit_test(http_body_substring_is_required_when_set),
		cmocka_unit_test(http_chunked_answer_is_judged_by_its_chunks_wherever_it_is_cut),
		cmocka_unit_test(http_interim_answers_are_skipped_for_the_final_one),
		cmocka_unit_test(http_body_is_framed_as_rfc_9112_says),
		cmocka_unit_test(
			http_whole_body_without_the_text_fails_without_waiting_for_the_close),
		cmocka_unit_test(http_answer_cut_off_in_its_head_says_so),
		cmocka_unit_test(http_head_with_bare_lf_line_ends_is_judged_at_once),
		cmocka_unit_test(http_check_answered_with_tls_says_so_and_quotes_no_control_bytes),
		cmocka_unit_test(tcp_check_passes_on_listener_fails_on_refused),
		cmocka_unit_test(a_round_looks_only_at_the_checks_that_are_due),
		cmocka_unit_test(http_check_judges_real_server_status),
		cmocka_unit_test(hung_node_times_out_without_delaying_a_healthy_one),
		cmocka_unit_test(node_stalling_in_its_answer_times_out_saying_how_much_came),
		cmocka_unit_test(node_keeping_its_connection_fails_for_the_body_not_the_timeout),
		cmocka_unit_test(
			node_answering_with_bare_lf_lines_passes_without_waiting_for_the_close),
		cmocka_unit_test(checks_repeat_every_interval),
		cmocka_unit_test(jitter_spans_its_whole_share_of_long_intervals),
		cmocka_unit_test(ipv6_node_is_checked_over_ipv6),
		cmocka_unit_test(checks_use_the_configured_source_address),
		cmocka_unit_test(tls_settings_that_cannot_load_are_reported),
		cmocka_unit_test(tls_failure_without_verify_names_its_real_cause),
		cmocka_unit_test(tls_check_of_a_plain_http_node_says_it_answered_without_tls),
		cmocka_unit_test(hundreds_of_nodes_are_checked_in_parallel),
		cmocka_unit_test(checks_out_of_fds_wait_instead_of_failing_the_node),
		cmocka_unit_test(health_init_raises_the_open_file_soft_limit_to_the_hard_limit),
		cmocka_unit_test(tls_checks_of_one_conf_share_one_context),
		cmocka_unit_test(agent_stall_does_not_time_out_a_check_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
