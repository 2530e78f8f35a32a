#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Every agent config the documentation shows passes the agent's own check,
# `drover run config FILE --check`: each ```yaml block of README.md and
# docs/*.md (taken from the markdown, so docs and parser cannot drift apart),
# the files in examples/ and the DaemonSet's deploy/base/drover.yaml. The TLS
# files the examples name (/etc/drover/..., the RKE2 server CA) are not on
# this machine: every ca/cert/key path is pointed at a throwaway certificate
# and key first, which is all an operator has to supply. Needs no root.
set -eu
. "$(dirname "$0")/lib.sh"
[ -x "$DROVER" ] || fail "$DROVER not built: run make"
command -v openssl >/dev/null || skip "openssl not installed (needed to make the TLS files)"
cd "$E2E_TOP"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=drover-docs-check -keyout "$E2E_TMP/tls.key" -out "$E2E_TMP/tls.crt" 2>/dev/null ||
	fail "openssl could not make a certificate"

# tls FILE: every `ca:`, `cert:` or `key:` path → the throwaway files.
tls() {
	sed -E -e "s#((ca|cert): *)/[^ ,}]+#\\1$E2E_TMP/tls.crt#g" \
		-e "s#(key: *)/[^ ,}]+#\\1$E2E_TMP/tls.key#g" "$1"
}

# The ```yaml blocks of one markdown file, as $E2E_TMP/NAME-N.yaml.
extract() {
	awk -v out="$E2E_TMP/$(basename "$1" .md)" '
		/^```yaml[ \t]*$/ { n++; f = out "-" n ".yaml"; inb = 1; next }
		/^```/ && inb { inb = 0; close(f); next }
		inb { print > f }' "$1"
}

docs=(README.md docs/*.md)
nblocks=0
for md in "${docs[@]}"; do
	case $md in docs/bench.md) continue ;; esac
	extract "$md"
done
checked=0
for f in "$E2E_TMP"/*-[0-9]*.yaml examples/*.yaml deploy/base/drover.yaml; do
	[ -f "$f" ] || continue
	case $f in "$E2E_TMP"/*) nblocks=$((nblocks + 1)) ;; esac
	tls "$f" >"$E2E_TMP/check.yaml"
	if ! out=$("$DROVER" run config "$E2E_TMP/check.yaml" --check 2>&1); then
		printf '%s\n' "$out" | sed "s#$E2E_TMP/check.yaml#$f#" >&2
		fail "$f does not pass drover run --check"
	fi
	printf '%s\n' "$out" | grep -q ': ok (' || fail "$f: --check said no 'ok': $out"
	log "ok: $f"
	checked=$((checked + 1))
done
# README.md and docs/agent.md each show the Rancher example.
[ "$nblocks" -ge 2 ] || fail "found $nblocks \`\`\`yaml blocks in the docs, expected at least 2"
log "$checked configs pass --check ($nblocks from the markdown)"
