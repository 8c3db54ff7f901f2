#!/usr/bin/env bash
# Builds the fuzzer (test/fuzz) and runs it inside the test bed against the
# bed's rktlet (started by `testbed.sh start-rktlet`). Arguments go to it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
go build -o _output/bin/fuzz ./test/fuzz
bash hack/testbed/testbed.sh exec -- "$ROOT/_output/bin/fuzz" -socket /run/rktlet/rktlet.sock -duration 15m "$@"
