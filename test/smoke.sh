#!/usr/bin/env bash
# Smoke test of the stack rktlet stands on, run inside the test bed: a
# transient unit running `rkt app sandbox` (stage1-host), a busybox app added
# and started in it, seen running and printing, stopped, removed, and the unit
# gone. Everything it makes is removed, also when a step fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RKT=${RKT:-$ROOT/_output/rkt/bin/rkt}
STAGE1=${STAGE1:-$ROOT/_output/rkt/bin/stage1-host.aci}
REGISTRY=${TESTBED_REGISTRY:-127.0.0.1:5000}
DATA=$(mktemp -d /var/lib/rktlet-smoke.XXXXXX)
UNIT=rktlet-smoke-$$
IMAGE=docker://$REGISTRY/e2e-test-images/busybox:1.29-2
export RKT_EXPERIMENT_APP=true
rkt() { "$RKT" --dir="$DATA" --insecure-options=image,http "$@"; }

pass=0
fail() {
	echo "smoke: FAIL: $*" >&2
	exit 1
}
ok() {
	echo "smoke: ok: $*"
	pass=$((pass + 1))
}

cleanup() {
	systemctl stop "$UNIT" >/dev/null 2>&1 || true
	systemctl reset-failed "$UNIT" >/dev/null 2>&1 || true
	rkt gc --grace-period=0s >/dev/null 2>&1 || true
	# rkt rm of every pod unmounts what rkt mounted; then drop the data dir.
	for uuid in $(rkt list --no-legend --full 2>/dev/null | awk '{print $1}'); do
		rkt rm "$uuid" >/dev/null 2>&1 || true
	done
	{ grep -o " $DATA[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$DATA"
}
trap cleanup EXIT

image_id=$(rkt fetch --full "$IMAGE" 2>/dev/null | tail -1)
[[ $image_id == sha512-* ]] || fail "rkt fetch $IMAGE gave $image_id"
ok "fetched $IMAGE as ${image_id:0:19}"

uuid_file=$DATA/pod.uuid
start=$(date +%s%N)
systemd-run --quiet --unit="$UNIT" --service-type=notify --property=KillMode=mixed \
	--setenv=RKT_EXPERIMENT_APP=true \
	"$RKT" --dir="$DATA" --insecure-options=image app sandbox --net=host \
	--stage1-path="$STAGE1" --uuid-file-save="$uuid_file" ||
	fail "unit did not start: $(journalctl -u "$UNIT" --no-pager -n 10 2>&1)"
ok "pod unit $UNIT active after $((($(date +%s%N) - start) / 1000000)) ms"
uuid=$(cat "$uuid_file")
systemctl is-active --quiet "$UNIT" || fail "unit not active"
machinectl show "rkt-$uuid" >/dev/null 2>&1 || fail "pod not registered with machined as rkt-$uuid"
ok "pod $uuid registered as machine rkt-$uuid"

rkt app add "$uuid" "$image_id" --name=smoke --exec=/bin/sh -- -c 'echo smoke-says-hello; exec sleep 1000' 2>/dev/null ||
	fail "app add"
rkt app start "$uuid" --app=smoke 2>/dev/null || fail "app start"
state=""
for _ in $(seq 1 50); do
	state=$(rkt app status "$uuid" --app=smoke 2>/dev/null | sed -n 's/^state=//p')
	[ "$state" = running ] && break
	sleep 0.1
done
[ "$state" = running ] || fail "app state $state, want running"
ok "app smoke running"
seen=""
for _ in $(seq 1 50); do
	if journalctl -M "rkt-$uuid" --no-pager -o cat SYSLOG_IDENTIFIER=smoke 2>/dev/null | grep -q smoke-says-hello; then
		seen=yes
		break
	fi
	sleep 0.1
done
[ -n "$seen" ] || fail "app output not in the pod journal"
ok "app output in the pod journal (journalctl -M rkt-$uuid)"

rkt app stop "$uuid" --app=smoke 2>/dev/null || fail "app stop"
# stage1's reaper records the exit a moment after the stop job ends.
for _ in $(seq 1 50); do
	state=$(rkt app status "$uuid" --app=smoke 2>/dev/null | sed -n 's/^state=//p')
	[ "$state" = exited ] && break
	sleep 0.1
done
[ "$state" = exited ] || fail "app state after stop $state, want exited"
ok "app stopped"
rkt app rm "$uuid" --app=smoke 2>/dev/null || fail "app rm"
[ -z "$(rkt app list "$uuid" --no-legend 2>/dev/null)" ] || fail "app still listed after rm"
ok "app removed"

start=$(date +%s%N)
systemctl stop "$UNIT"
stop_ms=$((($(date +%s%N) - start) / 1000000))
systemctl is-active --quiet "$UNIT" && fail "unit still active"
if systemctl list-units --all --no-legend "$UNIT.service" | grep -q .; then
	fail "unit $UNIT still loaded after stop"
fi
ok "unit stopped in $stop_ms ms and gone"
machinectl show "rkt-$uuid" >/dev/null 2>&1 && fail "machine rkt-$uuid still registered"
rkt rm "$uuid" >/dev/null 2>&1 || fail "rkt rm $uuid"
ok "pod removed"

echo "smoke: all $pass checks passed"
