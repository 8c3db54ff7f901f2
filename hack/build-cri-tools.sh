#!/usr/bin/env bash
# Builds crictl, critest and ginkgo pinned to cri-tools v1.37.0 from the Go
# module proxy into $OUT (critest is a Go test binary of cri-tools). Cached: a second run with the same pins returns at once.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${CRI_TOOLS_OUT:-$ROOT/_output/cri-tools}
CRI_TOOLS_VERSION=v1.37.0
GINKGO_VERSION=v2.32.1 # the version in cri-tools' go.mod: critest --parallel execs it

stamp="$CRI_TOOLS_VERSION $GINKGO_VERSION"
if [ -x "$OUT/crictl" ] && [ -x "$OUT/critest" ] && [ -x "$OUT/ginkgo" ] &&
	[ "$(cat "$OUT/stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi
mkdir -p "$OUT"
export GOFLAGS=-mod=mod
echo "build-cri-tools: crictl $CRI_TOOLS_VERSION"
GOBIN=$OUT go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION"
echo "build-cri-tools: ginkgo $GINKGO_VERSION"
GOBIN=$OUT go install "github.com/onsi/ginkgo/v2/ginkgo@$GINKGO_VERSION"
echo "build-cri-tools: critest $CRI_TOOLS_VERSION"
modctx=$(mktemp -d)
trap 'rm -rf "$modctx"' EXIT
(cd "$modctx" && go mod init critest-build >/dev/null 2>&1)
dir=$(cd "$modctx" && go mod download -json "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
# The module cache is read-only; build from a copy.
cp -r "$dir" "$modctx/cri-tools"
chmod -R u+w "$modctx/cri-tools"
(cd "$modctx/cri-tools" && go test -c -o "$OUT/critest" ./cmd/critest)
echo "$stamp" >"$OUT/stamp"
