#!/usr/bin/env bash
# Builds the end-to-end tests and runs them inside the test bed against the
# bed's rktlet (started by `testbed.sh start-rktlet`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
go test -c -tags e2e -o _output/bin/e2e.test ./test/e2e
# TestInstalledUnit runs what `make install` puts in a scratch root.
rm -rf _output/install-root
make --no-print-directory install-files DESTDIR="$ROOT/_output/install-root" >/dev/null
bash hack/testbed/testbed.sh exec -- env \
	RKTLET_SOCKET=/run/rktlet/rktlet.sock \
	RKTLET_BIN="$ROOT/_output/bin/rktlet" \
	RKT_PATH="$ROOT/_output/rkt/bin/rkt" \
	STAGE1_PATH="$ROOT/_output/rkt/bin/stage1-host.aci" \
	CRICTL="$ROOT/_output/cri-tools/crictl" \
	RKTLET_STATE_DIR=/var/lib/rktlet-testbed/state \
	RKT_DATA_DIR=/var/lib/rktlet-testbed/rkt \
	CNI_CONF_DIR="$ROOT/_output/testbed/cni/net.d" \
	CNI_PLUGIN_DIRS=/opt/cni/bin,/usr/lib/cni \
	TESTBED_REGISTRY="${TESTBED_REGISTRY:-127.0.0.1:5000}" \
	CRASH_ROUNDS="${CRASH_ROUNDS:-}" \
	INSTALL_ROOT="$ROOT/_output/install-root" \
	TESTBED_UNITS="${TESTBED_DIR:-$ROOT/_output/testbed}/units" \
	"$ROOT/_output/bin/e2e.test" -test.v -test.timeout 30m "$@"
