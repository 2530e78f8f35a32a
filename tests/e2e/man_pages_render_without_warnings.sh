#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The manual pages in man/ (drover(8), drover.yaml(5)) render with no warning from
# either formatter an operator's `man` may use: groff (-ww: every warning) and mandoc's
# linter (-W warning), and each has the sections a manual page of its kind is read for.
# First both checks must catch a copy with a broken macro, so a run that prints nothing
# because a tool is mute cannot pass. Needs no root.
set -eu
. "$(dirname "$0")/lib.sh"
require_cmds groff mandoc
cd "$E2E_TOP"

shopt -s nullglob
pages=(man/*.[1-8])
shopt -u nullglob
[ "${#pages[@]}" -ge 2 ] || fail "expected man/drover.8 and man/drover.yaml.5, found: ${pages[*]}"

# The two linters: each prints its complaints about PAGE, nothing for a clean page.
lint_groff() { groff -man -ww -z "$1" 2>&1 || true; }
lint_mandoc() { mandoc -T lint -W warning "$1" 2>&1 || true; }

# Self-check: each linter reports an unknown macro, by name.
{ cat man/drover.8; printf '.XY broken\n'; } >"$E2E_TMP/broken.8"
for l in lint_groff lint_mandoc; do
	out=$($l "$E2E_TMP/broken.8")
	printf '%s\n' "$out" | grep -q 'XY' ||
		fail "${l#lint_} did not report the unknown macro .XY in a broken copy: '$out'"
	log "${l#lint_} catches a broken copy: $(printf '%s\n' "$out" | head -1)"
done

for p in "${pages[@]}"; do
	out="$(lint_groff "$p")$(lint_mandoc "$p")"
	[ -z "$out" ] || fail "$p does not render cleanly (groff -man -ww -z, mandoc -T lint -W warning):
$out"
	for sec in NAME SYNOPSIS DESCRIPTION FILES EXAMPLES "SEE ALSO"; do
		grep -qx "\.SH \"\?$sec\"\?" "$p" || fail "$p has no $sec section (.SH $sec)"
	done
	log "ok: $p"
done
for sec in OPTIONS COMMANDS "EXIT STATUS" ENVIRONMENT; do
	grep -qx "\.SH \"\?$sec\"\?" man/drover.8 || fail "man/drover.8 has no $sec section (.SH $sec)"
done
log "${#pages[@]} pages render without warnings"
