/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Shared by the libFuzzer harnesses of tests/fuzz: each calls a real parser of
 * user/ (linked from .output-fuzz/libdrover.a, built by make FUZZ=1) on the
 * fuzzer's bytes and checks what it accepted. A value a parser accepts but
 * should not have (FUZZ_CHECK) aborts like a sanitizer report does.
 */
#ifndef __DROVER_FUZZ_H
#define __DROVER_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                                  \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: accepted but wrong: %s: ", __FILE__, __LINE__, \
				#cond);                                                        \
			fprintf(stderr, __VA_ARGS__);                                          \
			fputc('\n', stderr);                                                   \
			abort();                                                               \
		}                                                                              \
	} while (0)

/* @data as a NUL-terminated string in a buffer of its own (ASan sees every byte past it). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

#endif /* __DROVER_FUZZ_H */
