#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The grammar at the top of docs/cli.md (and its copy in README.md, which must be the
# same, word for word) cannot drift from the program: every object of `drover help`
# ("drover OBJECT ..." lines) has a "drover OBJECT" line there, and every option the
# help names is in it. It must catch a copy with one object's line taken out. Before,
# `drover version` was in the help and in drover(8), not in the docs. Needs no root.
set -eu
. "$(dirname "$0")/lib.sh"
[ -x "$DROVER" ] || fail "$DROVER not built: run make"
require_cmds python3
cd "$E2E_TOP"

# grammar FILE: the first ``` block of FILE
grammar() { awk '/^```/ { if (n++) exit; next } n' "$1"; }
help=$("$DROVER" help) || fail "drover help failed"
objects=$(sed -n 's/^\(Usage:\)\{0,1\} *drover \([a-z][a-z-]*\).*/\2/p' <<<"$help")
options=$(grep -oE -- '(^|[][ |{(])--?[a-zA-Z][a-zA-Z-]*' <<<"$help" | sed 's/^[][ |{(]//' | sort -u)
[ "$(wc -w <<<"$objects")" -ge 10 ] || fail "found too few objects in drover help: $objects"
[ "$(wc -w <<<"$options")" -ge 8 ] || fail "found too few options in drover help: $options"

# check FILE: print what FILE's grammar block misses, exit 1 if anything
check() {
	local g w miss=""
	g=$(grammar "$1")
	for w in $objects; do
		grep -q "^drover $w\b" <<<"$g" || miss="$miss object '$w' (no 'drover $w' line);"
	done
	for w in $options; do
		grep -q -- "$w\b" <<<"$g" || miss="$miss option '$w';"
	done
	[ -z "$miss" ] || { echo "$1's grammar misses what drover help has:$miss"; return 1; }
}

out=$(check docs/cli.md) || fail "$out"
grammar docs/cli.md >"$E2E_TMP/grammar"
python3 -c 'import sys; sys.exit(open(sys.argv[1]).read() not in open(sys.argv[2]).read())' \
	"$E2E_TMP/grammar" README.md || fail "README.md has no word-for-word copy of docs/cli.md's grammar"
log "docs/cli.md's grammar (and README.md's copy) names $(wc -w <<<"$objects") objects and $(wc -w <<<"$options") options"

# Self-check: the same docs without the status line must fail, naming it.
sed '/^drover status$/d' docs/cli.md >"$E2E_TMP/cli.md"
if out=$(check "$E2E_TMP/cli.md"); then fail "the check passed a grammar without 'drover status'"; fi
grep -q "object 'status'" <<<"$out" || fail "the check did not name status: $out"
log "PASS"
