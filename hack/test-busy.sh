#!/usr/bin/env bash
# `make test-busy`: `make test` with both cores kept busy for the whole run
# by two `yes > /dev/null` at normal priority, so that a test passing only
# by the luck of a quiet machine's timing fails here. The two are ended
# (by the PIDs started here) when the run ends, also when it fails. The
# cgroup v2 VM runs at normal priority here (VM_NICE=): at its usual nice 19
# the two loops would starve it, not load it.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
cleanup() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
for _ in 1 2; do
	yes >/dev/null &
	pids+=($!)
done
echo "test-busy: two busy loops running (PIDs ${pids[*]})"
VM_NICE= make --no-print-directory test
