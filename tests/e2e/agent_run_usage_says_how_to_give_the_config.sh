#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# `drover run` with its configuration file given the wrong way is a usage
# error (exit 2) that says how to give it: a FILE without the word `config`
# (an existing file, or a name ending in .yaml or .yml) is told to be written
# `drover run config FILE`. Before, the agent said only "what is 'FILE'?".
# A word that is no file and no YAML name keeps the plain "what is" error.
# --config=FILE is taken as --config FILE (and --bpffs=PATH) are. A usage
# error of drover's own parser about run points to `drover run help`.
# Needs no root: the agent refuses these before it touches anything.
set -eu
. "$(dirname "$0")/lib.sh"
[ -x "$DROVER" ] || fail "$DROVER not built: run make"

CFG=$E2E_TMP/drover.yaml
cp "$E2E_TOP/examples/minimal.yaml" "$CFG"
cp "$CFG" "$E2E_TMP/plain-name" # an existing file whose name says nothing
# usage_err NEEDLE WORD...: drover run WORD... exits 2, its stderr says NEEDLE
usage_err() {
	local needle=$1 out rc=0
	shift
	out=$("$DROVER" --bpffs "$E2E_TMP/none" run "$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" = 2 ] || fail "'drover run $*' exited $rc, want 2: $out"
	grep -qF -- "$needle" <<<"$out" || fail "'drover run $*' does not say '$needle': $out"
}

log "a FILE given without the word config says how to give it"
for f in "$CFG" "$E2E_TMP/plain-name" "$E2E_TMP/missing.yml" "$E2E_TMP/missing.yaml"; do
	usage_err "drover run config $f" "$f"
	usage_err "drover run config $f" "$f" --check
done
log "a word that is no file and no YAML name is only asked about"
out=$("$DROVER" run frobnicate 2>&1 >/dev/null) || true
grep -qF "what is 'frobnicate'?" <<<"$out" || fail "drover run frobnicate: $out"
! grep -qF "drover run config frobnicate" <<<"$out" || fail "drover run frobnicate is told it is a file: $out"
log "--config=FILE gives the file, as --config FILE and --bpffs=PATH do"
out=$("$DROVER" --bpffs="$E2E_TMP/none" run --config="$CFG" --check 2>/dev/null) ||
	fail "drover run --config=FILE --check refused a good file: $("$DROVER" run --config="$CFG" --check 2>&1)"
[ "$out" = "$CFG: ok (1 services, 1 interfaces)" ] || fail "drover run --config=FILE --check said: $out"
usage_err "'--config=' needs a FILE" --config=
usage_err "is given twice" --config="$CFG" config "$CFG"
log "an option of drover given after run points to run's grammar, not the top level's"
usage_err "Run 'drover run help' for the grammar." config "$CFG" -v
h=$("$DROVER" run help) || fail "drover run help failed"
grep -q -- "--detach-on-exit" <<<"$h" || fail "drover run help does not print run's grammar: $h"
log "PASS"
