#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Install what `make image` and `make test-image` need beyond scripts/install-deps.sh: buildah to
# build, podman + runc to run the image, Node.js to validate the manifests (the npm packages go
# into .output/image/npm, installed once; the checks themselves run offline). Kept apart from
# install-deps.sh so `make test` does not pay for them. Idempotent.
set -eu
cd "$(dirname "$0")/.."

# One package a line.
PKGS="
buildah
podman
runc
containernetworking-plugins
catatonit
libcap2-bin
util-linux
iproute2
curl
python3
python3-yaml
"
# Pinned npm packages for tests/image/validate-manifests.sh (node >= 14, as Debian 12's nodejs).
NPM_PKGS="kubernetes-models@4.5.1 kubernetes-types@1.30.0 typescript@5.4.5"
NPM_DIR=.output/image/npm

die() { echo "install-image-deps: $*" >&2; exit 1; }
# shellcheck source=scripts/apt.sh
. scripts/apt.sh

# shellcheck disable=SC2086
missing=$(apt_missing $PKGS)
# Node.js may come from elsewhere (nodesource); only install Debian's when there is none.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
apt_install install-image-deps "$missing"

stamp="$NPM_DIR/.installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$NPM_PKGS" ]; then
	echo "install-image-deps: npm install $NPM_PKGS (into $NPM_DIR)"
	rm -rf "$NPM_DIR" && mkdir -p "$NPM_DIR"
	echo '{ "name": "drover-manifest-checks", "private": true }' > "$NPM_DIR/package.json"
	# shellcheck disable=SC2086
	(cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error $NPM_PKGS >/dev/null) ||
		die "npm install failed for $NPM_PKGS; check that the npm registry is reachable"
	echo "$NPM_PKGS" > "$stamp"
fi
echo "install-image-deps: ok ($(buildah --version | cut -d' ' -f1-3), $(podman --version), node $(node --version))"
