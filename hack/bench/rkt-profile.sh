#!/usr/bin/env bash
# Profile (not a test): where the time of the rkt commands behind a pod and
# a container goes, from rkt's own --debug lines, each stamped as it is
# written (bash's EPOCHREALTIME, no process per line): a pod start
# (`rkt app sandbox --stage1-hash`, under systemd-run --service-type=notify
# as rktlet starts it: stage0, stage1's init, nspawn and the pod's systemd
# until READY), then `rkt app add`, `app start`, `app stop` and `app rm` of
# a container in that pod, as rktlet runs them, and a bare `rkt version`:
# what starting the rkt binary alone costs. Offsets are from each command's
# start. Needs the test bed (make testbed-up); everything it makes is removed.
# Usage: hack/bench/rkt-profile.sh [ROUNDS]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
ROUNDS=${1:-3}

bash hack/testbed/testbed.sh exec bash -s "$ROOT" "$ROUNDS" <<'IN_BED'
set -euo pipefail
root=$1 rounds=$2
rkt=$root/_output/rkt/bin/rkt
data=/var/lib/rktlet-testbed/rkt
export RKT_EXPERIMENT_APP=true RKT_EXPERIMENT_ATTACH=true
R=("$rkt" "--dir=$data" --insecure-options=image)
work=$(mktemp -d)
unit=rkt-profile-$$
cleanup() {
	systemctl stop "$unit" >/dev/null 2>&1 || true
	systemctl reset-failed "$unit" >/dev/null 2>&1 || true
	if [ -s "$work/uuid" ]; then "${R[@]}" rm "$(cat "$work/uuid")" >/dev/null 2>&1 || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

# stamp T0 < lines: each line with its offset in ms from T0 (µs epoch).
stamp() {
	local t0=$1 line now
	while IFS= read -r line; do
		now=${EPOCHREALTIME/./}
		printf '%8.1f ms  %s\n' "$(((now - t0) / 100))e-1" "${line:0:150}"
	done
}
# run NAME CMD...: runs CMD with --debug lines stamped from its start.
run() {
	local name=$1 t0
	shift
	echo "== $name"
	t0=${EPOCHREALTIME/./}
	"$@" 2>&1 | stamp "$t0"
	echo "$(printf '%8.1f ms' "$(((${EPOCHREALTIME/./} - t0) / 100))e-1")  (returned)"
}

stage1=$("${R[@]}" fetch --full "$root/_output/rkt/bin/stage1-host.aci" 2>/dev/null | tail -1)
image=$("${R[@]}" image list --full --no-legend 2>/dev/null | awk '/busybox/ {print $1; exit}')
[ -n "$image" ] || { echo "rkt-profile: no busybox image in the bed's rkt store (run a pod with it first)" >&2; exit 1; }

run "rkt version (the binary's start alone)" "${R[@]}" version

# The pod, as rktlet's unit runs it: its stderr goes to a FIFO stamped by
# a reader here, so that the unit's main process is rkt itself and has no
# child but the pod's (rkt finds the pod's PID 1 as its only child).
mkfifo "$work/stderr"
t0=${EPOCHREALTIME/./}
stamp "$t0" <"$work/stderr" >"$work/pod.log" &
echo "== rkt app sandbox --stage1-hash (systemd-run --service-type=notify returns at READY)"
systemd-run --quiet --unit="$unit" --service-type=notify -p KillMode=mixed -p Delegate=yes \
	-p StandardError=file:"$work/stderr" --setenv=RKT_EXPERIMENT_APP=true \
	"${R[@]}" --debug app sandbox --stage1-hash="$stage1" \
	--uuid-file-save="$work/uuid" --net=host --dns=host --hostname=profile
ready=$(printf '%8.1f ms' "$(((${EPOCHREALTIME/./} - t0) / 100))e-1")
sleep 0.5
grep -v '^ *[0-9.]* ms  *$' "$work/pod.log" | head -60 || true
echo "$ready  (systemd-run returned: the pod is ready)"
uuid=$(cat "$work/uuid")

for i in $(seq 1 "$rounds"); do
	app=profile-$i
	run "app add $i" "${R[@]}" --debug app add "$uuid" "$image" --name="$app" --user=0 --group=0 \
		--stdin=null --stdout=stream --stderr=stream --exec=sleep -- 3600
	run "app start $i" "${R[@]}" --debug app start "$uuid" --app="$app"
	run "app stop $i" "${R[@]}" --debug app stop "$uuid" --app="$app"
	run "app rm $i" "${R[@]}" --debug app rm "$uuid" --app="$app"
done
IN_BED
