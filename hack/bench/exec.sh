#!/usr/bin/env bash
# Benchmark (not a test): exec round trips of `true` in a running container,
# `rkt enter` run directly against ExecSync and a streamed Exec (RPC + SPDY)
# through rktlet, in one run. Needs the test bed (make testbed-up). Flags go
# to hack/bench/exec (--runs N).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TB=hack/testbed/testbed.sh
go build -o _output/bin/bench-exec ./hack/bench/exec
bash "$TB" start-rktlet --log-level=info
bash "$TB" exec "$ROOT/_output/bin/bench-exec" --rkt "$ROOT/_output/rkt/bin/rkt" \
	--rkt-data-dir /var/lib/rktlet-testbed/rkt "$@"
