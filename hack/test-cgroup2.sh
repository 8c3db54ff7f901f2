#!/usr/bin/env bash
# `make test-cgroup2`: the cgroup v2 suite (test/cgroup2) on a real systemd
# host with a pure unified hierarchy, a Debian 12 VM under qemu
# (hack/vm/cgroup2-host.sh), with rkt, stage1, rktlet, crictl and the tests
# built here and copied in. The VM image is built once and cached in
# $CGROUP2_VMDIR (the packages the guest needs baked in).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export VMDIR=${CGROUP2_VMDIR:-$ROOT/_output/vm}
# Debian's registry and skopeo to serve the test images, its CNI plugins.
export EXTRA_PKGS=docker-registry,skopeo,containernetworking-plugins,iptables,ca-certificates,curl,libacl1
start=$(date +%s)

make --no-print-directory build
bash hack/build-rkt.sh
bash hack/build-cri-tools.sh
bash hack/testbed/images.sh build
go test -c -tags cgroup2 -o _output/bin/cgroup2.test ./test/cgroup2
bash hack/vm/cgroup2-host.sh build

out=$ROOT/_output/cgroup2
rm -rf "$out"
files=("$ROOT/_output/bin/rktlet" "$ROOT/_output/rkt/bin/rkt" "$ROOT/_output/rkt/bin/stage1-host.aci"
	"$ROOT/_output/cri-tools/crictl" "$ROOT/_output/bin/cgroup2.test" "$ROOT/_output/images/layout")
# The kubelet the kubelet suite builds (cached in _output/kubelet) runs in
# the VM too (TestKubelet). CGROUP2_KUBELET=0 leaves it out, for a quicker
# run while working on the limits.
if [ "${CGROUP2_KUBELET:-1}" != 0 ]; then
	bash hack/build-kubelet.sh
	files+=("$ROOT/_output/kubelet/kubelet")
fi
rc=0
OUTDIR=$out TIMEOUT=${CGROUP2_TIMEOUT:-1500} bash hack/vm/cgroup2-host.sh run hack/vm/guest-cgroup2.sh "${files[@]}" || rc=$?
# The copies of the binaries are not worth keeping.
rm -rf "$out/share/layout" "$out/share/rktlet" "$out/share/rkt" "$out/share/stage1-host.aci" "$out/share/crictl" "$out/share/kubelet" "$out/share/cgroup2.test"
echo "test-cgroup2: rc $rc in $(($(date +%s) - start)) s; guest output in $out/share/out"
exit $rc
