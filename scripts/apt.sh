# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Sourced by scripts/install-deps.sh and scripts/install-image-deps.sh: which
# Debian packages are missing, and installing them. The caller defines die().

# apt_missing PKG...: print the PKGs dpkg does not list as installed, each after a space.
apt_missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			printf ' %s' "$p"
	done
}

# apt_install WHO " PKG...": install the packages (none: nothing); WHO names the caller.
apt_install() {
	local who=$1 missing=$2
	[ -n "$missing" ] || return 0
	[ "$(id -u)" -eq 0 ] || die "missing Debian packages:$missing; run as root or: sudo apt-get install$missing"
	echo "$who: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || die "apt-get update failed; check the Debian mirror in /etc/apt/sources.list"
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		die "apt-get install failed for:$missing"
}
