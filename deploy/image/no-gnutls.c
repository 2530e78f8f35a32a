// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Linked only into the static drover (.output/drover-static, the container image).
 *
 * Debian's libmicrohttpd.a is built with HTTPS support and references 37 GnuTLS symbols;
 * libgnutls.a in turn needs p11-kit and libunistring, which Debian ships without .a files.
 * drover's metrics server never sets MHD_USE_TLS, so those code paths are dead. mk/image.mk
 * points every gnutls_* symbol libmicrohttpd.a needs and this file does not define at
 * drv_no_gnutls() (-Wl,--defsym, list generated with nm), so any other missing symbol still
 * fails the link. Defined here: what libmicrohttpd touches without TLS (global init and deinit,
 * called from its constructor and destructor) and the gnutls_malloc variable.
 */
#include <stdio.h>
#include <stdlib.h>

int gnutls_global_init(void);
void gnutls_global_deinit(void);
void drv_no_gnutls(void);

/* GNUTLS_E_SUCCESS: libmicrohttpd's constructor carries on as if TLS were ready. */
int gnutls_global_init(void)
{
	return 0;
}

void gnutls_global_deinit(void)
{
}

void *(*gnutls_malloc)(size_t) = malloc;

/* Reached only if a TLS daemon were started: say why and stop instead of jumping to nowhere. */
void drv_no_gnutls(void)
{
	fputs("drover: this static build has no TLS in libmicrohttpd (see mk/image.mk); serve metrics over plain HTTP\n",
	      stderr);
	abort();
}
