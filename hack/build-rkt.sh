#!/usr/bin/env bash
# Builds rkt v1.30.0 (stage0 `rkt` and stage1-host.aci) from the Go module
# proxy with the pinned vendor tree and the patches in hack/rkt/patches.
# Output: $OUT/bin/rkt, $OUT/bin/stage1-host.aci. A second run with the same
# inputs returns at once.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${RKT_OUT:-$ROOT/_output/rkt}
RKT_VERSION=v1.30.0
PINS=$ROOT/hack/rkt-vendor-versions.txt
PATCHES=$ROOT/hack/rkt/patches

stamp_inputs() {
	{
		echo "$RKT_VERSION"
		cat "$PINS" "$0"
		cat "$PATCHES"/*.patch
	} | sha256sum | cut -d' ' -f1
}
stamp=$(stamp_inputs)
if [ -x "$OUT/bin/rkt" ] && [ -f "$OUT/bin/stage1-host.aci" ] &&
	[ "$(cat "$OUT/stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi

# go mod download needs a module context; an empty one in a temp dir will do.
modctx=$(mktemp -d)
trap 'rm -rf "$modctx"' EXIT
(cd "$modctx" && go mod init rkt-build >/dev/null 2>&1)
moddir() {
	(cd "$modctx" && GOFLAGS=-mod=mod go mod download -json "$1@$2") |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

echo "build-rkt: fetching rkt $RKT_VERSION and its pinned dependencies"
rm -rf "$OUT/gopath" "$OUT/bin" "$OUT/stamp"
src=$OUT/gopath/src/github.com/rkt/rkt
mkdir -p "$(dirname "$src")" "$OUT/bin"
cp -r "$(moddir github.com/rkt/rkt $RKT_VERSION)" "$src"
chmod -R u+w "$src"
grep -v '^#' "$PINS" | while read -r mod ver; do
	[ -n "$mod" ] || continue
	dir=$(moddir "$mod" "$ver")
	[ -n "$dir" ] || { echo "build-rkt: cannot download $mod $ver" >&2; exit 1; }
	dst=$src/vendor/$mod
	mkdir -p "$dst"
	cp -r "$dir"/. "$dst"/
	chmod -R u+w "$dst"
	rm -f "$dst/go.mod" "$dst/go.sum"
done
# github.com/godbus/dbus v4 is pinned with its +incompatible suffix; the import
# path is the plain one, which the copy above already uses.

# The module zip carries no exec bits.
find "$src" -type f \( -name '*.sh' -o -name 'configure' -o -name 'config.guess' \
	-o -name 'config.sub' -o -name 'install-sh' \) -exec chmod +x {} +
find "$src/scripts" "$src/tools" "$src/stage1" -type f -path '*bin*' -exec chmod +x {} + 2>/dev/null || true

for p in "$PATCHES"/*.patch; do
	echo "build-rkt: applying $(basename "$p")"
	patch -s -p1 -d "$src" <"$p"
done

echo "build-rkt: configuring and building (about 2 minutes)"
cd "$src"
export GOPATH=$OUT/gopath GO111MODULE=off GOFLAGS= CGO_ENABLED=1
./autogen.sh >"$OUT/autogen.log" 2>&1 || { tail -40 "$OUT/autogen.log"; exit 1; }
./configure --with-stage1-flavors=host --with-stage1-default-flavor=host \
	--disable-tpm --disable-sdjournal >"$OUT/configure.log" 2>&1 ||
	{ tail -40 "$OUT/configure.log"; exit 1; }
make -j"$(nproc)" >"$OUT/make.log" 2>&1 || { tail -60 "$OUT/make.log"; exit 1; }

target=$(find "$src" -path '*/target/bin' -type d | head -1)
cp "$target/rkt" "$target/stage1-host.aci" "$OUT/bin/"
# Read whole, then matched: `rkt version | grep -q` failed now and then
# under pipefail, when grep exited before rkt had written everything.
version=$("$OUT/bin/rkt" version)
echo "$version"
case "$version" in
*"rkt Version: ${RKT_VERSION#v}"*) ;;
*) echo "build-rkt: unexpected rkt version" >&2; exit 1 ;;
esac
echo "$stamp" >"$OUT/stamp"
echo "build-rkt: $OUT/bin/rkt and $OUT/bin/stage1-host.aci are ready"
