#!/usr/bin/env bash
# Benchmark (not a test): RunPodSandbox through rktlet against the same
# `rkt app sandbox` started directly with systemd-run, and ListPodSandbox /
# PodSandboxStatus with 50 pods alive. The List/Status calls are timed
# untraced, then repeated while strace follows rktlet and records every
# process it starts (execve): the count printed must be 0. Needs the test
# bed (make testbed-up).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
# shellcheck source=hack/bench/lib.sh
source hack/bench/lib.sh
# Every pod runs a systemd and journald, each holding inotify instances: 50
# pods need more than the kernel's default 128 (production nodes raise it
# too, see README, "Install on a node"). Raised for the run, put back after.
inotify=/proc/sys/fs/inotify/max_user_instances
old_inotify=$(cat "$inotify")
[ "$old_inotify" -ge 1024 ] || echo 1024 >"$inotify"
trap 'echo "$old_inotify" >"$inotify"' EXIT

bench_with_execve_trace sandbox --rkt "$ROOT/_output/rkt/bin/rkt" \
	--stage1 "$ROOT/_output/rkt/bin/stage1-host.aci" \
	--rkt-data-dir /var/lib/rktlet-testbed/rkt-bench-direct "$@"
