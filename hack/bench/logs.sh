#!/usr/bin/env bash
# Benchmark (not a test): container output through the pod's journal into the
# CRI log file by rktlet, next to the same output read from the pod's journal
# with `journalctl -f -o json` alone, in one run: sustained lines/s and the
# delay from write(2) to the line's arrival. Needs the test bed (make
# testbed-up). Flags go to hack/bench/logs (--lines, --rate, --seconds).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TB=hack/testbed/testbed.sh
# Static: the same binary is mounted into the container as its writer.
CGO_ENABLED=0 go build -o _output/bin/bench-logs ./hack/bench/logs
bash "$TB" start-rktlet --log-level=info
bash "$TB" exec "$ROOT/_output/bin/bench-logs" "$@"
