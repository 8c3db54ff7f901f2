#!/usr/bin/env bash
# Benchmark (not a test): PullImage through rktlet against the same `rkt
# fetch` run directly (each pull of an image pushed just before, so nothing
# is cached), then ListImages and ImageStatus with 50 images in the index.
# The List/Status calls are timed untraced, then repeated while strace follows
# rktlet and records every process it starts (execve): the count printed must
# be 0. Needs the test bed (make testbed-up). Flags go to hack/bench/images
# (--runs, --images, ...).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
# shellcheck source=hack/bench/lib.sh
source hack/bench/lib.sh
bench_with_execve_trace images --rkt "$ROOT/_output/rkt/bin/rkt" \
	--rkt-data-dir /var/lib/rktlet-testbed/rkt-bench-direct "$@"
