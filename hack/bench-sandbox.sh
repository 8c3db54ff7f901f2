#!/usr/bin/env bash
# Benchmark (not a test): RunPodSandbox through rktlet against the same
# `rkt app sandbox` started directly with systemd-run, and ListPodSandbox /
# PodSandboxStatus with 50 pods alive. For exactly the List/Status phase,
# strace follows rktlet and records every process it starts (execve): the
# count printed must be 0. Needs the test bed (make testbed-up).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TB=hack/testbed.sh
go build -o _output/bin/bench-sandbox ./hack/bench/sandbox
bash "$TB" start-rktlet --log-level=info
pid=$(bash "$TB" exec systemctl show -p MainPID --value rktlet)
sync=$(mktemp -d)
trace=$ROOT/_output/bench-sandbox.strace
rm -f "$trace"
# Every pod runs a systemd and journald, each holding inotify instances: 50
# pods need more than the kernel's default 128 (production nodes raise it
# too, see README). Raised for the run, put back after.
inotify=/proc/sys/fs/inotify/max_user_instances
old_inotify=$(cat "$inotify")
[ "$old_inotify" -ge 1024 ] || echo 1024 >"$inotify"
trap 'rm -rf "$sync"; echo "$old_inotify" >"$inotify"' EXIT

bash "$TB" exec "$ROOT/_output/bin/bench-sandbox" \
	--rkt "$ROOT/_output/rkt/bin/rkt" --stage1 "$ROOT/_output/rkt/bin/stage1-host.aci" \
	--rkt-data-dir /var/lib/rktlet-testbed/rkt-bench-direct --sync-dir "$sync" "$@" &
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
