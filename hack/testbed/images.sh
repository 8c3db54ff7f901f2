#!/usr/bin/env bash
# Builds look-alikes of the images critest pulls (it runs offline here) and
# pushes them to the test bed's registries. Debian's busybox (dynamic, applets
# as hard links) is the base; small static Go programs stand in for nginx,
# httpd, pause and nonewprivs. The OCI layout is cached in _output/images and
# rebuilt only when this script or the helpers change.
#
# With registry mirrors, registry.k8s.io/X, k8s.gcr.io/X and gcr.io/X all come
# from $TESTBED_REGISTRY/X.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${TESTBED_IMAGES_OUT:-$ROOT/_output/images}
REGISTRY=${TESTBED_REGISTRY:-127.0.0.1:5000}
AUTH_REGISTRY=${TESTBED_AUTH_REGISTRY:-127.0.0.1:5001}
LAYOUT=$OUT/layout
CRI=k8s-staging-cri-tools

# name-in-registry  tag-in-layout
IMAGES=(
	"e2e-test-images/busybox:1.29-2 busybox"
	"e2e-test-images/busybox:1.28 busybox"
	"e2e-test-images/nginx:1.14-2 nginx"
	"e2e-test-images/httpd:2.4.39-4 httpd"
	"e2e-test-images/nonewprivs:1.3 nonewprivs"
	"pause:3.9 pause"
	"pause:3.10 pause"
	"$CRI/test-image-latest:latest test-latest"
	"$CRI/test-image-tag:test test-tag"
	"$CRI/test-image-tag:all test-all"
	"$CRI/test-image-1:latest test-1"
	"$CRI/test-image-2:latest test-2"
	"$CRI/test-image-3:latest test-3"
	"$CRI/test-image-tags:1 tags"
	"$CRI/test-image-tags:2 tags"
	"$CRI/test-image-tags:3 tags"
	"$CRI/test-image-user-uid:latest user-uid"
	"$CRI/test-image-user-username:latest user-username"
	"$CRI/test-image-user-uid-group:latest user-uid-group"
	"$CRI/test-image-user-username-group:latest user-username-group"
	"$CRI/test-image-predefined-group:latest predefined-group"
	"$CRI/hostnet-nginx-amd64:latest hostnet-nginx"
	# An OCI image index (linux/amd64 is test-1, linux/arm64 test-2): rkt's
	# docker2aci cannot read one, rktlet picks the platform manifest itself.
	"rktlet-testbed/multiarch:oci multiarch"
)

inputs_hash() {
	{
		cat "$0"
		find "$ROOT/hack/testbed/images" -type f -name '*.go' | sort | xargs cat
		dpkg-query -W -f='${Version}' busybox
	} | sha256sum | cut -d' ' -f1
}

# base_rootfs DIR populates DIR with busybox, the libraries it links and the
# files a minimal distribution image has.
base_rootfs() {
	local r=$1
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib64,etc,root,tmp,var/log,proc,sys,dev,usr/local/bin}
	chmod 1777 "$r/tmp"
	install -m 0755 /usr/bin/busybox "$r/bin/busybox"
	local lib
	for lib in libc.so.6 libresolv.so.2 libm.so.6; do
		cp -L "/lib/x86_64-linux-gnu/$lib" "$r/lib/x86_64-linux-gnu/$lib"
	done
	cp -L /lib64/ld-linux-x86-64.so.2 "$r/lib64/ld-linux-x86-64.so.2"
	# Debian's busybox has no ipcs applet (the busybox image critest names
	# has; its IPC namespace specs call it): util-linux's, which links only
	# libc.
	install -m 0755 /usr/bin/ipcs "$r/usr/bin/ipcs"
	local applet
	for applet in $(/usr/bin/busybox --list-full); do
		[ "$applet" = bin/busybox ] && continue
		mkdir -p "$r/$(dirname "$applet")"
		ln -f "$r/bin/busybox" "$r/$applet"
	done
	cat >"$r/etc/passwd" <<-PASSWD
		root:x:0:0:root:/root:/bin/sh
		daemon:x:1:1:daemon:/usr/sbin:/bin/false
		www-data:x:33:33:www-data:/var/www:/bin/false
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	PASSWD
	cat >"$r/etc/group" <<-GROUP
		root:x:0:
		daemon:x:1:
		www-data:x:33:
		users:x:100:
		nogroup:x:65534:
	GROUP
	echo "hosts: files dns" >"$r/etc/nsswitch.conf"
	# Debian's busybox has no pgrep applet; critest's specs call it.
	cat >"$r/usr/bin/pgrep" <<-'PGREP'
		#!/bin/sh
		# pgrep NAME: the PIDs of processes whose command is NAME.
		found=1
		for d in /proc/[0-9]*; do
			[ "$(cat "$d/comm" 2>/dev/null)" = "$1" ] || continue
			echo "${d#/proc/}"
			found=0
		done
		exit $found
	PGREP
	chmod 0755 "$r/usr/bin/pgrep"
}

build_go() { # package output
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$2" "./hack/testbed/images/$1")
}

# variant FROM TO [umoci config flags...]
variant() {
	local from=$1 to=$2
	shift 2
	umoci config --image "$LAYOUT:$from" --tag "$to" "$@"
}

# with_files FROM TO DIR: FROM plus a layer holding DIR's content.
with_files() {
	local from=$1 to=$2 dir=$3 bundle=$OUT/work/bundle-$2
	rm -rf "$bundle"
	umoci unpack --image "$LAYOUT:$from" "$bundle" >/dev/null
	cp -a "$dir"/. "$bundle/rootfs/"
	umoci repack --image "$LAYOUT:$to" "$bundle" >/dev/null 2>&1 ||
		{ umoci config --image "$LAYOUT:$from" --tag "$to" && umoci repack --image "$LAYOUT:$to" "$bundle"; }
	rm -rf "$bundle"
}

build() {
	echo "images.sh: building test images"
	rm -rf "$OUT"
	mkdir -p "$OUT/work"
	local w=$OUT/work
	umoci init --layout "$LAYOUT"
	umoci new --image "$LAYOUT:scratch"
	umoci unpack --image "$LAYOUT:scratch" "$w/base" >/dev/null
	base_rootfs "$w/base/rootfs"
	umoci repack --image "$LAYOUT:base" "$w/base" >/dev/null
	rm -rf "$w/base"
	variant base busybox --config.cmd sh --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--author rktlet-testbed --architecture amd64 --os linux

	mkdir -p "$w/nginx/usr/sbin" "$w/httpd/usr/local/bin" "$w/pause" "$w/nnp/usr/local/bin"
	build_go webserver "$w/nginx/usr/sbin/nginx"
	cp "$w/nginx/usr/sbin/nginx" "$w/httpd/usr/local/bin/httpd-foreground"
	build_go pause "$w/pause/pause"
	build_go nonewprivs "$w/nnp/usr/local/bin/nnp"
	chown root:root "$w/nnp/usr/local/bin/nnp"
	chmod 4755 "$w/nnp/usr/local/bin/nnp"

	with_files busybox nginx-files "$w/nginx"
	variant nginx-files nginx --clear=config.cmd --config.entrypoint /usr/sbin/nginx \
		--config.cmd=-ports=80 --config.cmd=-name=nginx --config.exposedports 80/tcp
	variant nginx-files hostnet-nginx --clear=config.cmd --config.entrypoint /usr/sbin/nginx \
		--config.cmd=-ports=12003 --config.cmd=-name=nginx --config.exposedports 12003/tcp
	with_files busybox httpd-files "$w/httpd"
	variant httpd-files httpd --clear=config.cmd --config.entrypoint /usr/local/bin/httpd-foreground \
		--config.cmd=-ports=80 --config.cmd=-name=httpd --config.exposedports 80/tcp
	with_files busybox nnp-files "$w/nnp"
	variant nnp-files nonewprivs --clear=config.cmd --config.entrypoint /usr/local/bin/nnp

	# pause is its own image: no shell, one static binary.
	with_files scratch pause-files "$w/pause"
	variant pause-files pause --config.entrypoint /pause --architecture amd64 --os linux

	# Each test image differs from the others by one file, as cri-tools'
	# own are built (ADD $TEST); test-image-tags is one image under three tags.
	local n
	for n in 1 2 3 latest tag all private; do
		mkdir -p "$w/test-$n"
		echo "test-image-$n" >"$w/test-$n/test-$n"
		with_files busybox "test-$n" "$w/test-$n"
	done
	mkdir -p "$w/tags"
	echo "test-image-tags" >"$w/tags/tags"
	with_files busybox tags "$w/tags"

	variant busybox user-uid --config.user 1002
	variant busybox user-username --config.user www-data
	variant busybox user-uid-group --config.user 1003:users
	variant busybox user-username-group --config.user www-data:www-data

	mkdir -p "$w/predefined/etc"
	umoci unpack --image "$LAYOUT:busybox" "$w/predef-bundle" >/dev/null
	cp "$w/predef-bundle/rootfs/etc/passwd" "$w/predef-bundle/rootfs/etc/group" "$w/predefined/etc/"
	rm -rf "$w/predef-bundle"
	echo "default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh" >>"$w/predefined/etc/passwd"
	printf 'default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n' >>"$w/predefined/etc/group"
	mkdir -p "$w/predefined/home/default-user"
	chown 1000:1000 "$w/predefined/home/default-user"
	with_files busybox predefined-files "$w/predefined"
	variant predefined-files predefined-group --config.user 1000

	oci_index multiarch test-1 test-2

	umoci gc --layout "$LAYOUT"
	rm -rf "$w"
	inputs_hash >"$OUT/stamp"
}

# oci_index NAME AMD64-TAG ARM64-TAG adds an image index NAME to the layout
# whose linux/amd64 and linux/arm64 entries are the two tags' manifests.
oci_index() {
	local name=$1 amd64 arm64 index digest size
	amd64=$(jq -c --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | del(.annotations) + {platform: {architecture: "amd64", os: "linux"}}' "$LAYOUT/index.json")
	arm64=$(jq -c --arg t "$3" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | del(.annotations) + {platform: {architecture: "arm64", os: "linux"}}' "$LAYOUT/index.json")
	index=$(jq -cn --argjson a "$amd64" --argjson b "$arm64" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [$a, $b]}')
	digest=$(printf '%s' "$index" | sha256sum | cut -d' ' -f1)
	size=$(printf '%s' "$index" | wc -c)
	printf '%s' "$index" >"$LAYOUT/blobs/sha256/$digest"
	jq --arg d "sha256:$digest" --argjson s "$size" --arg n "$name" \
		'.manifests += [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": $n}}]' \
		"$LAYOUT/index.json" >"$LAYOUT/index.json.new"
	mv "$LAYOUT/index.json.new" "$LAYOUT/index.json"
}

push() {
	local entry name tag
	for entry in "${IMAGES[@]}"; do
		read -r name tag <<<"$entry"
		skopeo copy --quiet --multi-arch all --dest-tls-verify=false "oci:$LAYOUT:$tag" "docker://$REGISTRY/$name"
	done
	# The registry with auth holds one image of its own (no other registry
	# has it), so a pull with credentials has to fetch it.
	skopeo copy --quiet --dest-tls-verify=false --dest-creds testuser:testpassword \
		"oci:$LAYOUT:test-private" "docker://$AUTH_REGISTRY/private/busybox:1.29-2"
	echo "images.sh: pushed ${#IMAGES[@]} images to $REGISTRY and 1 to $AUTH_REGISTRY"
}

if [ "$(cat "$OUT/stamp" 2>/dev/null)" != "$(inputs_hash)" ]; then
	build
fi
# `images.sh build` only builds the layout (the cgroup v2 VM pushes it to a
# registry of its own).
[ "${1:-}" = build ] || push
