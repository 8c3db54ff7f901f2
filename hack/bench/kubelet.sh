#!/usr/bin/env bash
# Benchmark (not a test): a kubelet's static pod, manifest → container
# Running → pod Ready, on rktlet and on Debian's containerd 1.6 + runc, in
# one run, with the same kubelet and its same settings, the image cached and
# pulled from the bed's registry. rktlet's kubelet runs inside the test bed
# (systemd cgroup driver). containerd's runs on the host (cgroupfs driver):
# runc needs cgroup controllers, and the bed's cgroup2 has none. containerd
# runs on a private socket with its own root, state, CNI bridge
# (10.88.99.0/24) and registry mirror, and everything of it is removed
# afterwards. Needs the test bed (make testbed-up); installs containerd and
# runc from Debian if missing.
# Usage: hack/bench/kubelet.sh [--rounds N]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TB=hack/testbed/testbed.sh
REGISTRY=${TESTBED_REGISTRY:-127.0.0.1:5000}

# shellcheck source=hack/bench/lib.sh
. hack/bench/lib.sh
bash hack/build-kubelet.sh
go build -o _output/bin/bench-kubelet ./hack/bench/kubelet
bash "$TB" start-rktlet --log-level=info

CRICTL=$ROOT/_output/cri-tools/crictl
OUT_CONTAINERD=$ROOT/_output/bench-kubelet-containerd.json
OUT_RKTLET=$ROOT/_output/bench-kubelet-rktlet.json
containerd_session "$CRICTL" "$REGISTRY" "$OUT_CONTAINERD" "$OUT_RKTLET"
RUN=$CONTAINERD_RUN

BENCH=$ROOT/_output/bin/bench-kubelet
COMMON=(--kubelet "$ROOT/_output/kubelet/kubelet" --crictl "$ROOT/_output/cri-tools/crictl")
echo "bench-kubelet: containerd" >&2
"$BENCH" "${COMMON[@]}" --name containerd --endpoint "unix://$RUN/containerd.sock" \
	--cgroup-driver cgroupfs --unit "" --out "$OUT_CONTAINERD" "$@"
echo "bench-kubelet: rktlet" >&2
bash "$TB" exec "$BENCH" "${COMMON[@]}" --name rktlet --endpoint unix:///run/rktlet/rktlet.sock \
	--cgroup-driver systemd --out "$OUT_RKTLET" "$@"
"$BENCH" --report "$OUT_CONTAINERD" "$OUT_RKTLET"
