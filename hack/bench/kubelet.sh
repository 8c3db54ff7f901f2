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
D=/var/lib/rktlet-bench-containerd
RUN=/run/rktlet-bench-containerd
BRIDGE=rktlet-bench0

if ! command -v containerd >/dev/null || ! command -v runc >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends containerd runc >/dev/null
fi
bash hack/build-kubelet.sh
go build -o _output/bin/bench-kubelet ./hack/bench/kubelet
bash "$TB" start-rktlet --log-level=info

CRICTL="$ROOT/_output/cri-tools/crictl --runtime-endpoint unix://$RUN/containerd.sock"
cleanup() {
	local id pid
	if [ -S "$RUN/containerd.sock" ]; then
		for id in $($CRICTL pods -q 2>/dev/null); do $CRICTL rmp -f "$id" >/dev/null 2>&1 || true; done
	fi
	pid=$(cat "$RUN/pid" 2>/dev/null) || true
	if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = containerd ]; then
		kill "$pid"
		for _ in $(seq 1 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
	fi
	# The shims' and snapshots' mounts, deepest first.
	grep -o " \($D\|$RUN\)/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done || true
	rm -rf "$D" "$RUN"
	# runc's parent cgroup of the pods, once empty.
	rmdir /sys/fs/cgroup/*/k8s.io 2>/dev/null || true
	ip link del "$BRIDGE" >/dev/null 2>&1 || true
	rm -f "$OUT_CONTAINERD" "$OUT_RKTLET"
}
OUT_CONTAINERD=$ROOT/_output/bench-kubelet-containerd.json
OUT_RKTLET=$ROOT/_output/bench-kubelet-rktlet.json
trap cleanup EXIT
cleanup

mkdir -p "$D/net.d" "$D/certs.d"
cat >"$D/config.toml" <<-EOF
	version = 2
	root = "$D/root"
	state = "$RUN/state"
	[grpc]
	  address = "$RUN/containerd.sock"
	[ttrpc]
	  address = "$RUN/containerd.sock.ttrpc"
	[debug]
	  address = ""
	[metrics]
	  address = ""
	[plugins."io.containerd.grpc.v1.cri"]
	  sandbox_image = "registry.k8s.io/pause:3.9"
	  # No CAP_SYS_RESOURCE here to lower an oom_score_adj.
	  restrict_oom_score_adj = true
	  [plugins."io.containerd.grpc.v1.cri".cni]
	    bin_dir = "/usr/lib/cni"
	    conf_dir = "$D/net.d"
	  [plugins."io.containerd.grpc.v1.cri".registry]
	    config_path = "$D/certs.d"
	  [plugins."io.containerd.grpc.v1.cri".containerd]
	    default_runtime_name = "runc"
	    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
	      runtime_type = "io.containerd.runc.v2"
	      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
	        SystemdCgroup = false
EOF
cat >"$D/net.d/10-bench.conflist" <<-EOF
	{"cniVersion": "1.0.0", "name": "rktlet-bench", "plugins": [
	  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
	   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.99.0/24"}]], "dataDir": "$D/ipam"}},
	  {"type": "loopback"}]}
EOF
for registry in registry.k8s.io gcr.io k8s.gcr.io public.ecr.aws docker.io; do
	mkdir -p "$D/certs.d/$registry"
	cat >"$D/certs.d/$registry/hosts.toml" <<-EOF
		server = "http://$REGISTRY"
		[host."http://$REGISTRY"]
		  capabilities = ["pull", "resolve"]
	EOF
done
mkdir -p "$RUN"
containerd --config "$D/config.toml" >"$RUN/containerd.log" 2>&1 &
echo $! >"$RUN/pid"
for _ in $(seq 1 100); do
	[ -S "$RUN/containerd.sock" ] && break
	sleep 0.2
done

BENCH=$ROOT/_output/bin/bench-kubelet
COMMON=(--kubelet "$ROOT/_output/kubelet/kubelet" --crictl "$ROOT/_output/cri-tools/crictl")
echo "bench-kubelet: containerd" >&2
"$BENCH" "${COMMON[@]}" --name containerd --endpoint "unix://$RUN/containerd.sock" \
	--cgroup-driver cgroupfs --unit "" --out "$OUT_CONTAINERD" "$@"
echo "bench-kubelet: rktlet" >&2
bash "$TB" exec "$BENCH" "${COMMON[@]}" --name rktlet --endpoint unix:///run/rktlet/rktlet.sock \
	--cgroup-driver systemd --out "$OUT_RKTLET" "$@"
"$BENCH" --report "$OUT_CONTAINERD" "$OUT_RKTLET"
