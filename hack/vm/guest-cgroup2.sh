#!/bin/sh
# Runs inside the cgroup v2 VM (hack/vm/cgroup2-host.sh run): a registry with
# the test images, a CNI bridge and rktlet as a unit, then the cgroup v2
# suite (test/cgroup2). The files come in through the share, the cwd.
set -eu
S=$(pwd)
B=/var/tmp/rktlet
mkdir -p $B
cp "$S"/rktlet "$S"/rkt "$S"/stage1-host.aci "$S"/crictl "$S"/cgroup2.test $B/
chmod +x $B/rktlet $B/rkt $B/crictl $B/cgroup2.test
KUBELET=
if [ -f "$S/kubelet" ]; then
	cp "$S/kubelet" $B/ && chmod +x $B/kubelet && KUBELET=$B/kubelet
fi

# Debian's docker-registry package starts its own on :5000; this one holds
# only what the suite pushes.
systemctl stop docker-registry.service 2>/dev/null || true
mkdir -p /var/lib/test-registry/data
cat >/var/lib/test-registry/config.yml <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/test-registry/data
http:
  addr: 127.0.0.1:5000
YAML
systemd-run --quiet --unit=test-registry /usr/bin/docker-registry serve /var/lib/test-registry/config.yml
i=0
until curl -s -o /dev/null http://127.0.0.1:5000/v2/; do
	i=$((i + 1)); [ $i -lt 120 ] || { echo "guest: the registry did not start" >&2; exit 1; }
	sleep 0.5
done
skopeo copy --quiet --dest-tls-verify=false "oci:$S/layout:busybox" docker://127.0.0.1:5000/e2e-test-images/busybox:1.29-2
skopeo copy --quiet --dest-tls-verify=false "oci:$S/layout:pause" docker://127.0.0.1:5000/pause:3.10

mkdir -p /etc/cni/net.d
cat >/etc/cni/net.d/10-rktlet.conflist <<JSON
{"cniVersion": "1.0.0", "name": "rktlet", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON

# As the installed unit runs it: restarted when it dies (the suite kills it).
systemd-run --quiet --unit=rktlet -p Type=notify -p KillMode=process -p Restart=on-failure -p RestartSec=200ms \
	--setenv=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	$B/rktlet --socket=/run/rktlet/rktlet.sock --rkt-path=$B/rkt --stage1-path=$B/stage1-host.aci \
	--cni-plugin-dirs=/usr/lib/cni --registry-mirror=registry.k8s.io=http://127.0.0.1:5000 --registry-mirrors-only \
	--log-level=debug

rc=0
env RKTLET_SOCKET=/run/rktlet/rktlet.sock RKTLET_UNIT=rktlet CRICTL=$B/crictl KUBELET=$KUBELET \
	$B/cgroup2.test -test.v -test.timeout 20m || rc=$?
journalctl -u rktlet --no-pager >"$S/out/rktlet.log" 2>&1 || true
journalctl -u test-kubelet --no-pager >"$S/out/kubelet.log" 2>&1 || true
exit $rc
