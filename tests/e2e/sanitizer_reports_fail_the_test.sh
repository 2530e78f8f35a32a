#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# make test-e2e-san runs every e2e test with a sanitized drover (DROVER_SAN=1):
# lib.sh must fail a test on any sanitizer report of it, also one from a call
# whose stderr the test drops (as CLI calls and agents' logs are). Checked with
# stand-ins for drover, built here as the SAN=1 build is (clang, same flags): one that
# leaks, one with undefined behaviour, one clean, each in a child test that
# sources lib.sh and ignores the stand-in's exit and stderr. Needs no root.
set -eu
. "$(dirname "$0")/lib.sh"
CC=${CLANG:-clang}
command -v "$CC" >/dev/null || skip "no $CC for the stand-ins"

san_flags=(-fsanitize=address,undefined -fno-omit-frame-pointer -O0 -g)
cat >"$E2E_TMP/leak.c" <<'EOF'
#include <stdlib.h>
void *volatile keep;
int main(void) { keep = malloc(40); keep = NULL; return 0; }
EOF
cat >"$E2E_TMP/ub.c" <<'EOF'
int main(int argc, char **argv) { volatile int x = 0x7fffffff; (void)argv; return x + argc; }
EOF
cat >"$E2E_TMP/clean.c" <<'EOF'
#include <stdlib.h>
int main(void) { free(malloc(40)); return 0; }
EOF
for p in leak ub clean; do
	"$CC" "${san_flags[@]}" "$E2E_TMP/$p.c" -o "$E2E_TMP/$p" ||
		skip "$CC cannot build with ${san_flags[*]} (no libasan/libubsan)"
done

# The child: a test like the others, which calls "$DROVER" as some do (stderr dropped,
# exit ignored) and passes unless lib.sh finds a report.
cat >"$E2E_TMP/child.sh" <<EOF
set -eu
. "$E2E_TOP/tests/e2e/lib.sh"
"\$DROVER" 2>/dev/null || true
EOF

# child PROGRAM: its exit code; its output in $E2E_TMP/PROGRAM.out
child() {
	local rc=0
	env -u ASAN_OPTIONS -u UBSAN_OPTIONS DROVER_SAN=1 DROVER="$E2E_TMP/$1" \
		bash "$E2E_TMP/child.sh" >"$E2E_TMP/$1.out" 2>&1 || rc=$?
	echo "$rc"
}

rc=$(child clean)
[ "$rc" = 0 ] || fail "a child test whose program reports nothing exited $rc: $(cat "$E2E_TMP/clean.out")"
grep -q 'sanitizer report' "$E2E_TMP/clean.out" && fail "a clean program was reported: $(cat "$E2E_TMP/clean.out")"
for p in leak ub; do
	rc=$(child "$p")
	[ "$rc" != 0 ] || fail "a child test passed although its $p program reported: $(cat "$E2E_TMP/$p.out")"
	grep -q 'sanitizer report' "$E2E_TMP/$p.out" ||
		fail "the $p child failed without showing the report: $(cat "$E2E_TMP/$p.out")"
done
grep -q 'LeakSanitizer: detected memory leaks' "$E2E_TMP/leak.out" ||
	fail "the leak report is not in the child's output: $(cat "$E2E_TMP/leak.out")"
grep -q 'runtime error: signed integer overflow' "$E2E_TMP/ub.out" ||
	fail "the UBSan report is not in the child's output: $(cat "$E2E_TMP/ub.out")"
log "ok: a leak and an overflow in a call with its stderr dropped fail the test, a clean run passes"
