#!/usr/bin/env bash
# Benchmark (not a test): CreateContainer, StartContainer, StopContainer and
# RemoveContainer through rktlet against the same `rkt app add/start/stop/rm`
# run directly on the same pod, then ListContainers and ContainerStatus with
# 100 containers. The List/Status calls are timed
# untraced, then repeated while strace follows rktlet and records every
# process it starts (execve): the count printed must be 0.
# Needs the test bed (make testbed-up). Flags go to hack/bench/containers
# (--runs, --containers, --calls).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
# shellcheck source=hack/bench/lib.sh
source hack/bench/lib.sh
bench_with_execve_trace containers --rkt "$ROOT/_output/rkt/bin/rkt" \
	--rkt-data-dir /var/lib/rktlet-testbed/rkt "$@"
