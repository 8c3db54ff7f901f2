#!/usr/bin/env bash
# Benchmark (not a test): the CRI calls of a pod's start and teardown, and
# List and Status with 20 pods and 20 containers alive, on rktlet and on
# Debian's containerd 1.6 + runc, in one run, with the same program
# (hack/bench/vscontainerd), the same image from the bed's registry and the
# same pod and container configs; then critest's own "start a container
# from scratch" benchmark against each. containerd runs on the host on a
# private socket with its own root, state, CNI bridge (10.88.99.0/24) and
# registry mirror (hack/bench/lib.sh), and everything of it is removed
# afterwards; rktlet is the bed's. Needs the test bed (make testbed-up).
# Usage: hack/bench/vs-containerd.sh [--rounds N] [--alive N] [--calls N]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TB=hack/testbed/testbed.sh
REGISTRY=${TESTBED_REGISTRY:-127.0.0.1:5000}
# shellcheck source=hack/bench/lib.sh
. hack/bench/lib.sh

go build -o _output/bin/bench-vscontainerd ./hack/bench/vscontainerd
bash hack/build-cri-tools.sh
bash "$TB" start-rktlet --log-level=info

CRICTL=$ROOT/_output/cri-tools/crictl
OUT_CONTAINERD=$ROOT/_output/bench-vscontainerd-containerd.json
OUT_RKTLET=$ROOT/_output/bench-vscontainerd-rktlet.json
containerd_session "$CRICTL" "$REGISTRY" "$OUT_CONTAINERD" "$OUT_RKTLET"

BENCH=$ROOT/_output/bin/bench-vscontainerd
echo "vs-containerd: containerd" >&2
"$BENCH" --name containerd --socket "$CONTAINERD_RUN/containerd.sock" --out "$OUT_CONTAINERD" "$@"
echo "vs-containerd: rktlet" >&2
bash "$TB" exec "$BENCH" --name rktlet --socket /run/rktlet/rktlet.sock --out "$OUT_RKTLET" "$@"
"$BENCH" --report "$OUT_CONTAINERD" "$OUT_RKTLET"

# critest's benchmark of a pod and a container from scratch (run, create,
# start, stop, remove; it fails above its 5 s limit).
scratch() {
	local name=$1 endpoint=$2 exec=$3 log verdict=passed
	log=$ROOT/_output/bench-vscontainerd-critest-$name.log
	$exec "$ROOT/_output/cri-tools/critest" --runtime-endpoint "$endpoint" --image-endpoint "$endpoint" \
		-benchmark --ginkgo.focus 'start a container from scratch' >"$log" 2>&1 || verdict="FAILED (see $log)"
	echo "critest \"start a container from scratch\" on $name: $verdict; $(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -o 'create PodSandbox and container \[duration\].*' | head -1)"
}
scratch containerd "unix://$CONTAINERD_RUN/containerd.sock" ""
scratch rktlet unix:///run/rktlet/rktlet.sock "bash $TB exec"
