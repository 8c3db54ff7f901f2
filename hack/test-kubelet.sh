#!/usr/bin/env bash
# The kubelet end-to-end suite: builds the kubelet (cached) and the tests,
# and runs them inside the test bed against the bed's rktlet (started by
# `testbed.sh start-rktlet`).
#
# The kubelet sets host-wide sysctls at start. The tests restore them, and
# so does this script afterwards, whatever became of the tests (a timeout
# kills them before their cleanup runs); it also stops a kubelet left
# running and removes /var/lib/kubelet and /var/log/containers if the
# kubelet created them.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash hack/build-kubelet.sh
go test -c -tags e2e -o _output/bin/kubelet.test ./test/kubelet

SYSCTLS="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes"
declare -A saved
for s in $SYSCTLS; do saved[$s]=$(cat "/proc/sys/$s"); done
# The tests' kubelet directory goes here (TMPDIR), so that it goes too.
work=$ROOT/_output/kubelet-work
rm -rf "$work" && mkdir -p "$work"
had_kubelet_dir=false had_log_links=false
[ -e /var/lib/kubelet ] && had_kubelet_dir=true
[ -e /var/log/containers ] && had_log_links=true
restore() {
	# Its output may go to a pipe nobody reads any more: it must not end it.
	trap '' PIPE
	bash hack/testbed/testbed.sh exec -- systemctl stop rktlet-e2e-kubelet.service >/dev/null 2>&1 || true
	local s
	for s in $SYSCTLS; do
		if [ "$(cat "/proc/sys/$s")" != "${saved[$s]}" ]; then
			echo "test-kubelet: restoring $s=${saved[$s]}" >&2 || true
			echo "${saved[$s]}" >"/proc/sys/$s"
		fi
	done
	$had_kubelet_dir || rm -rf /var/lib/kubelet
	$had_log_links || rm -rf /var/log/containers
	rm -rf "$work"
}
trap restore EXIT
# A signal (a closed pipe, a timeout) ends the script through exit, so
# that restore runs.
trap 'exit 1' INT TERM HUP PIPE

bash hack/testbed/testbed.sh exec -- env \
	RKTLET_SOCKET=/run/rktlet/rktlet.sock \
	KUBELET_BIN="$ROOT/_output/kubelet/kubelet" \
	CRICTL="$ROOT/_output/cri-tools/crictl" \
	RKTLET_STATE_DIR=/var/lib/rktlet-testbed/state \
	CNI_IPAM_DIR=/var/lib/rktlet-testbed/cni-ipam \
	TMPDIR="$work" \
	"$ROOT/_output/bin/kubelet.test" -test.v -test.timeout 20m "$@"
