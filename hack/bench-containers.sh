#!/usr/bin/env bash
# Benchmark (not a test): CreateContainer, StartContainer, StopContainer and
# RemoveContainer through rktlet against the same `rkt app add/start/stop/rm`
# run directly on the same pod, then ListContainers and ContainerStatus with
# 100 containers. For exactly the List/Status phase, strace follows rktlet
# and records every process it starts (execve): the count printed must be 0.
# Needs the test bed (make testbed-up). Flags go to hack/bench/containers
# (--runs, --containers, --calls).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TB=hack/testbed.sh
go build -o _output/bin/bench-containers ./hack/bench/containers
bash "$TB" start-rktlet --log-level=info
pid=$(bash "$TB" exec systemctl show -p MainPID --value rktlet)
sync=$(mktemp -d)
trace=$ROOT/_output/bench-containers.strace
rm -f "$trace"
trap 'rm -rf "$sync"' EXIT

bash "$TB" exec "$ROOT/_output/bin/bench-containers" \
	--rkt "$ROOT/_output/rkt/bin/rkt" \
	--rkt-data-dir /var/lib/rktlet-testbed/rkt --sync-dir "$sync" "$@" &
bench=$!
wait_for() { while [ ! -e "$1" ]; do kill -0 "$bench" 2>/dev/null || exit 1; sleep 0.1; done; }

wait_for "$sync/ready-1"
# strace runs in the bed's PID namespace: it records its own PID there, and
# is stopped by that PID from inside.
bash "$TB" exec bash -c 'echo $$ >"$1"; exec strace -f -qq -e trace=execve -o "$2" -p "$3"' \
	_ "$sync/strace.pid" "$trace" "$pid" &
strace_job=$!
sleep 1 # strace attaches to every thread
touch "$sync/go-1"
wait_for "$sync/ready-2"
bash "$TB" exec kill "$(cat "$sync/strace.pid")"
wait "$strace_job" 2>/dev/null || true
touch "$sync/go-2"
wait "$bench"
spawned=$(grep -c execve "$trace" 2>/dev/null || true)
echo "processes rktlet started during the List/Status phase (strace -f -e trace=execve -p $pid): ${spawned:-0}"
