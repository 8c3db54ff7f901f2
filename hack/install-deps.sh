#!/usr/bin/env bash
# Installs the Debian packages the build and the test bed need. Idempotent and
# quick when everything is already installed.
set -euo pipefail

packages=(
	# rkt's autotools build (hack/build-rkt.sh)
	autoconf automake libacl1-dev cpio gperf pkg-config make gcc git
	# cgo for the journal reader
	libsystemd-dev
	# test bed: systemd-nspawn/machined, CNI plugins, registry, image tools
	systemd systemd-container dbus containernetworking-plugins docker-registry
	skopeo umoci busybox iptables iproute2 apache2-utils util-linux
	procps psmisc curl jq ca-certificates strace
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# docker-registry's postinst starts nothing without a running init; the test bed
# starts its own registries on loopback.
apt-get install -y -q --no-install-recommends "${missing[@]}"
