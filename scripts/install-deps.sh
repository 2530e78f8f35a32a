#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Install the Debian packages drover's build and tests need, mount bpffs, and
# check that the kernel can run drover. Idempotent: does nothing when all is there.
set -eu

# One package a line; helpers of the build append here, nowhere else.
PKGS="
clang
libclang-rt-dev
llvm
gcc
make
pkg-config
libbpf-dev
bpftool
libelf-dev
zlib1g-dev
libcmocka-dev
libyaml-dev
libssl-dev
libmicrohttpd-dev
iproute2
ethtool
iputils-ping
python3
curl
openssl
jq
procps
nginx-light
socat
netcat-openbsd
hping3
nftables
haproxy
conntrack
mandoc
gdb
"

die() { echo "install-deps: $*" >&2; exit 1; }
# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"

# shellcheck disable=SC2086
missing=$(apt_missing $PKGS)
apt_install install-deps "$missing"
# nginx-light starts a service on install; the tests run their own servers.
if [ -n "$missing" ] && command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now nginx >/dev/null 2>&1 || true
fi

if [ "$(id -u)" -eq 0 ]; then
	if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
		mount -t bpf bpf /sys/fs/bpf || die "cannot mount bpffs on /sys/fs/bpf: mount -t bpf bpf /sys/fs/bpf"
	fi
fi
[ -r /sys/kernel/btf/vmlinux ] || die "kernel has no BTF (/sys/kernel/btf/vmlinux missing); build it with CONFIG_DEBUG_INFO_BTF=y"
[ -d /proc/sys/net/core ] || die "no /proc/sys/net: network namespace support missing"
if [ -r /proc/config.gz ]; then
	zcat /proc/config.gz | grep -q '^CONFIG_XDP_SOCKETS=y\|^CONFIG_BPF_SYSCALL=y' ||
		die "kernel lacks CONFIG_BPF_SYSCALL"
fi
bpftool version >/dev/null 2>&1 || die "bpftool does not run (package bpftool); needed for skeletons"
echo "install-deps: ok ($(uname -r), $(clang --version | head -1), libbpf $(pkg-config --modversion libbpf))"
