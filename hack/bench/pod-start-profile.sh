#!/usr/bin/env bash
# Profile (not a test): where one RunPodSandbox's time goes, from the
# timestamps the parts leave behind: the call itself (crictl runp), the pod
# unit's properties (when systemd forked `rkt app sandbox`, after rktlet
# made the network namespace and ran CNI ADD; when nspawn said READY), and
# the pod's own journal (its journald's start; the pod's systemd logs
# nothing, stage1 runs it with --log-target=null). Prints each step's offset
# from the call. Needs the test bed (make testbed-up).
# Usage: hack/bench/pod-start-profile.sh [ROUNDS]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TB=hack/testbed/testbed.sh
ROUNDS=${1:-3}
CRICTL=$ROOT/_output/cri-tools/crictl

bash "$TB" exec bash -s "$CRICTL" "$ROUNDS" <<'IN_BED'
set -euo pipefail
crictl=$1 rounds=$2
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
for round in $(seq 1 "$rounds"); do
	printf '{"metadata":{"name":"profile-%s","namespace":"bench","uid":"profile-%s-%s"},"linux":{}}' "$round" "$$" "$round" >"$cfg"
	t0=$(date +%s.%N)
	id=$($crictl runp "$cfg")
	t1=$(date +%s.%N)
	unit=rktlet-pod-$id.service
	uuid=$($crictl inspectp "$id" | sed -n 's/.*"rktUUID": *"\([^"]*\)".*/\1/p' | head -1)
	echo "== round $round: pod ${id:0:12}, rkt pod $uuid"
	{
		echo "$t0 RunPodSandbox called"
		echo "$t1 RunPodSandbox returned"
		# The bed's systemd logs to its console: the unit's times come
		# from its properties.
		for prop in "ExecMainStartTimestamp rkt app sandbox forked (netns and CNI ADD done)" "ActiveEnterTimestamp the pod unit active (nspawn READY)"; do
			at=$(systemctl show -p "${prop%% *}" --value --timestamp=us+utc "$unit")
			echo "$(date -d "$at" +%s.%N) host: ${prop#* }"
		done
		dir=$(find /var/lib/rktlet-testbed/rkt/pods -maxdepth 8 -type d -path "*$uuid*" -name journal 2>/dev/null | head -1)
		if [ -n "$dir" ]; then
			journalctl -D "$dir" -o short-unix --no-pager 2>/dev/null | awk 'NR==1 {print $1, "pod: first journal entry:", substr($0, index($0,$3))} / (Started|Reached target|Finished) / {print $1, "pod:", substr($0, index($0,$3))}'
		fi
	} | sort -n | awk -v t0="$t0" '{ printf "%8.0f ms  %s\n", ($1 - t0) * 1000, substr($0, index($0,$2)) }'
	$crictl stopp "$id" >/dev/null
	$crictl rmp "$id" >/dev/null
done
IN_BED
