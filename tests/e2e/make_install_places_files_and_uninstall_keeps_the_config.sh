#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# `make install` and `make uninstall` (mk/install.mk) into temporary DESTDIRs, as a package
# build would: every file lands where docs/deploy.md says (and only those files), the
# installed binary runs, the unit's ExecStart= and Documentation= name what was installed
# (also with PREFIX=/usr), `man` finds the pages, and every help points only to them (not to docs/), an operator's /etc/drover/drover.yaml is
# kept by install (and by a second install) and the example installed only where there is
# none; uninstall leaves only the config, and warns while interfaces are still attached.
# Writes only under its own temporary directory. Needs no root.
set -eu
. "$(dirname "$0")/lib.sh"
[ -x "$DROVER" ] || fail "$DROVER not built: run make"
require_cmds make man
cd "$E2E_TOP"
# A make of its own: not the jobserver of a `make test` this may run under.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s "$@"; }

# files ROOT: every file and symlink under ROOT, relative to it, sorted.
files() { (cd "$1" && find . \( -type f -o -type l \) | sed 's#^\./#/#' | LC_ALL=C sort); }

# --- PREFIX default (/usr/local), an operator's config already there
D1=$E2E_TMP/d1
mkdir -p "$D1/etc/drover"
printf '# the operator'"'"'s config\n' | cat - examples/minimal.yaml >"$D1/etc/drover/drover.yaml"
cp "$D1/etc/drover/drover.yaml" "$E2E_TMP/mine.yaml"
out=$(mk install DESTDIR="$D1" 2>&1) || fail "make install DESTDIR=$D1 failed: $out"
log "make install DESTDIR=\$D1:"
printf '%s\n' "$out" | sed "s#$D1#\$D1#g"

want=(/etc/drover/drover.yaml /usr/local/bin/drover /usr/local/lib/systemd/system/drover.service
	/usr/local/share/doc/drover/README.md /usr/local/share/man/man5/drover.yaml.5
	/usr/local/share/man/man8/drover.8)
for e in examples/*.yaml; do want+=("/usr/local/share/doc/drover/examples/${e#examples/}"); done
printf '%s\n' "${want[@]}" | LC_ALL=C sort >"$E2E_TMP/want"
files "$D1" >"$E2E_TMP/got"
diff -u "$E2E_TMP/want" "$E2E_TMP/got" >&2 || fail "make install put other files than these (- wanted, + got)"
log "the ${#want[@]} files are where they belong"

# Each place is documented, in docs/deploy.md and its README copy.
for p in /usr/local/bin/drover /usr/local/lib/systemd/system/drover.service \
	/usr/local/share/man/man8/drover.8 /usr/local/share/man/man5/drover.yaml.5 \
	/usr/local/share/doc/drover/README.md /usr/local/share/doc/drover/examples/ \
	/etc/drover/drover.yaml; do
	for md in docs/deploy.md README.md; do
		grep -qF "$p" "$md" || fail "$md does not say that make install puts $p"
	done
done

cmp -s "$E2E_TMP/mine.yaml" "$D1/etc/drover/drover.yaml" ||
	fail "make install changed the operator's $D1/etc/drover/drover.yaml"
printf '%s\n' "$out" | grep -q "KEPT.*$D1/etc/drover/drover.yaml" ||
	fail "make install did not say it kept the existing config: $out"
[ -x "$D1/usr/local/bin/drover" ] || fail "the installed drover is not executable"
v=$("$D1/usr/local/bin/drover" --version) || fail "the installed drover --version failed"
[ "$v" = "$("$DROVER" --version)" ] || fail "installed: '$v', built: '$("$DROVER" --version)'"
log "installed binary: $v"
unit=$D1/usr/local/lib/systemd/system/drover.service
grep -qx 'ExecStart=/usr/local/bin/drover run config /etc/drover/drover.yaml' "$unit" ||
	fail "the unit does not start /usr/local/bin/drover: $(grep ^ExecStart "$unit")"
grep -q '^Documentation=man:drover(8) ' "$unit" || fail "the unit's Documentation= is not man:drover(8): $(grep ^Documentation "$unit")"
cmp -s "$unit" deploy/systemd/drover.service || fail "with PREFIX=/usr/local the unit should be installed as it is"
for p in drover.8:man8 drover.yaml.5:man5; do
	cmp -s "man/${p%:*}" "$D1/usr/local/share/man/${p#*:}/${p%:*}" || fail "man/${p%:*} installed changed"
done
w=$(MANPATH=$D1/usr/local/share/man man -w 'drover(8)' 'drover.yaml(5)' 2>&1) ||
	fail "man does not find the installed pages: $w"
log "man -w finds: $(printf '%s ' $w | sed "s#$D1#\$D1#g")"

# Every help of the installed binary points to what an installed host has: `drover run help`
# named docs/agent.md, a file of the source tree only.
for lvl in "" attach status service backend stats lookup run node-setup; do
	# shellcheck disable=SC2086
	h=$("$D1/usr/local/bin/drover" $lvl help) || fail "the installed drover $lvl help failed"
	! grep -q 'docs/[a-z]*\.md' <<<"$h" ||
		fail "drover $lvl help names a file of the source tree, which make install does not install: $(grep 'docs/' <<<"$h")"
	for pg in $(grep -o 'drover[a-z.]*([0-9])' <<<"$h" | sort -u); do
		MANPATH=$D1/usr/local/share/man man -w "$pg" >/dev/null 2>&1 ||
			fail "drover $lvl help names $pg, which make install does not install"
	done
done
h=$("$D1/usr/local/bin/drover" run help)
for pg in 'drover(8)' 'drover.yaml(5)' 'share/doc/drover/README.md'; do
	grep -qF "$pg" <<<"$h" || fail "drover run help does not point to $pg: $h"
done
log "every help names only what make install installs; run help points to drover(8), drover.yaml(5) and the README"

# A second install (an upgrade from a hand-made setup: its unit in /etc/systemd/system, which
# overrides the installed one) keeps the config too, and says to remove that unit.
mkdir -p "$D1/etc/systemd/system" && cp deploy/systemd/drover.service "$D1/etc/systemd/system/"
out=$(mk install DESTDIR="$D1" 2>&1) || fail "a second make install DESTDIR=$D1 failed: $out"
cmp -s "$E2E_TMP/mine.yaml" "$D1/etc/drover/drover.yaml" || fail "a second make install changed the config"
printf '%s\n' "$out" | grep -q "Warning: $D1/etc/systemd/system/drover.service .*overrides.*remove it" ||
	fail "make install did not warn about the unit in /etc/systemd/system: $out"
rm -r "$D1/etc/systemd"

# --- PREFIX=/usr, no config yet: the example is installed, the unit names /usr paths
D2=$E2E_TMP/d2
out=$(mk install DESTDIR="$D2" PREFIX=/usr 2>&1) || fail "make install PREFIX=/usr failed: $out"
cmp -s examples/rancher.yaml "$D2/etc/drover/drover.yaml" ||
	fail "with no config, make install did not install examples/rancher.yaml as /etc/drover/drover.yaml"
printf '%s\n' "$out" | grep -q "INSTALL.*$D2/etc/drover/drover.yaml" || fail "make install did not say it installed the config: $out"
"$D2/usr/bin/drover" --version >/dev/null || fail "$D2/usr/bin/drover does not run"
u2=$D2/usr/lib/systemd/system/drover.service
grep -qx 'ExecStart=/usr/bin/drover run config /etc/drover/drover.yaml' "$u2" ||
	fail "PREFIX=/usr: the unit does not start /usr/bin/drover: $(grep ^ExecStart "$u2")"
grep -qx 'Documentation=man:drover(8) man:drover.yaml(5) file:///usr/share/doc/drover/README.md' "$u2" ||
	fail "PREFIX=/usr: $(grep ^Documentation "$u2")"
if grep -n '/usr/local/\(bin\|lib\|share\)' "$u2" "$D2"/usr/share/man/man*/*; then
	fail "PREFIX=/usr: the unit or a page still names a /usr/local path (above)"
fi
log "PREFIX=/usr: $(grep ^ExecStart= "$u2"), example config installed"

# --- uninstall: only the config stays; warns about attached interfaces
mkdir -p "$D1/sys/fs/bpf/drover/links" && : >"$D1/sys/fs/bpf/drover/links/eth7"
out=$(mk uninstall DESTDIR="$D1" 2>&1) || fail "make uninstall DESTDIR=$D1 failed: $out"
rm -r "$D1/sys"
log "make uninstall DESTDIR=\$D1:"
printf '%s\n' "$out" | sed "s#$D1#\$D1#g"
printf '%s\n' "$out" | grep -q 'still forwards on eth7.*drover detach' ||
	fail "make uninstall did not warn that eth7 is still attached: $out"
left=$(files "$D1")
[ "$left" = /etc/drover/drover.yaml ] || fail "make uninstall left more than the config: $left"
cmp -s "$E2E_TMP/mine.yaml" "$D1/etc/drover/drover.yaml" || fail "make uninstall changed the config"
[ ! -e "$D1/usr/local/share/doc/drover" ] || fail "make uninstall left $D1/usr/local/share/doc/drover"
mk uninstall DESTDIR="$D2" PREFIX=/usr >/dev/null 2>&1 || fail "make uninstall PREFIX=/usr failed"
left=$(files "$D2")
[ "$left" = /etc/drover/drover.yaml ] || fail "make uninstall PREFIX=/usr left more than the config: $left"
log "uninstall leaves only /etc/drover/drover.yaml, unchanged"
