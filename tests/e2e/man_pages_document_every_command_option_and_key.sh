#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The manual pages cannot drift from the program: tests/tools/mancheck.py takes every
# command, keyword and option of `drover help` and of each object's `help`, and every key
# of docs/agent.md's configuration reference, and names each one that drover(8), or
# drover.yaml(5) for the keys, does not set in bold; the pages' version must be the
# binary's. It must then catch copies with one word taken out of each page. The config
# example in drover.yaml(5) passes `drover run --check`. Needs no root.
set -eu
. "$(dirname "$0")/lib.sh"
[ -x "$DROVER" ] || fail "$DROVER not built: run make"
require_cmds groff python3 openssl
cd "$E2E_TOP"
check=(python3 tests/tools/mancheck.py "$DROVER")

out=$("${check[@]}" man/drover.8 man/drover.yaml.5 docs/agent.md 2>&1) ||
	fail "the manual pages miss what drover's help or docs/agent.md has:
$out"
log "$out"

# Self-check: one keyword out of drover(8), one key out of drover.yaml(5).
sed 's/keep\\-maps//g' man/drover.8 >"$E2E_TMP/drover.8"
sed 's/rehash\\-after//g' man/drover.yaml.5 >"$E2E_TMP/drover.yaml.5"
if out=$("${check[@]}" "$E2E_TMP/drover.8" "$E2E_TMP/drover.yaml.5" docs/agent.md 2>&1); then
	fail "mancheck passed pages without keep-maps and rehash-after: $out"
fi
printf '%s\n' "$out" | grep -q "drover.8 does not document 'keep-maps' (from drover" ||
	fail "mancheck did not name keep-maps missing from drover.8: $out"
printf '%s\n' "$out" | grep -q "drover.yaml.5 does not document 'rehash-after'" ||
	fail "mancheck did not name rehash-after missing from drover.yaml.5: $out"
log "copies with a word taken out are caught:"
printf '%s\n' "$out"

# drover.yaml(5)'s example (its .EX block), TLS paths pointed at a throwaway pair.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=drover-man-check -keyout "$E2E_TMP/tls.key" -out "$E2E_TMP/tls.crt" 2>/dev/null ||
	fail "openssl could not make a certificate"
awk '/^\.EX/ { n++; next } /^\.EE/ { exit } n == 1' man/drover.yaml.5 |
	sed -e 's/\\-/-/g' -e "s#\(cert: *\)/[^ ]*#\\1$E2E_TMP/tls.crt#" \
		-e "s#\(key: *\)/[^ ]*#\\1$E2E_TMP/tls.key#" >"$E2E_TMP/example.yaml"
grep -q '^services:' "$E2E_TMP/example.yaml" || fail "no YAML example (.EX ... .EE) in man/drover.yaml.5"
out=$("$DROVER" run config "$E2E_TMP/example.yaml" --check 2>&1) ||
	fail "man/drover.yaml.5's example does not pass drover run --check: $out"
log "man/drover.yaml.5's example: $(printf '%s\n' "$out" | grep ': ok (')"
