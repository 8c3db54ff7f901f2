#!/usr/bin/env bash
# Says how to reach the rktlet that `make run` started.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BED=$ROOT/_output/testbed
cat <<MSG

rktlet is running as the unit rktlet.service, serving CRI v1 on /run/rktlet/rktlet.sock.
MSG
if [ "$(cat "$BED/mode" 2>/dev/null)" = private ]; then
	pid=$(cat "$BED/pid")
	cat <<MSG
This host's PID 1 is not systemd, so rktlet runs inside the test bed's private
systemd (PID $pid on the host). Reach it:

  crictl from inside the bed:  hack/testbed/testbed.sh exec -- _output/cri-tools/crictl version
  the socket from the host:    _output/cri-tools/crictl --runtime-endpoint unix:///proc/$pid/root/run/rktlet/rktlet.sock version
  its log:                     hack/testbed/testbed.sh exec -- journalctl -u rktlet -f
  pods as machines:            hack/testbed/testbed.sh exec -- machinectl list
  stop it all:                 make testbed-down
MSG
else
	cat <<MSG
  crictl:   _output/cri-tools/crictl --runtime-endpoint unix:///run/rktlet/rktlet.sock version
  its log:  journalctl -u rktlet -f
  stop:     make testbed-down
MSG
fi
