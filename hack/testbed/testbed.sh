#!/usr/bin/env bash
# The test bed: a real systemd (the host's when it is PID 1, otherwise a
# private one in its own PID/mount/UTS/cgroup namespaces; docs/testing.md),
# real rkt, CNI plugins and registries on 127.0.0.1, in which rktlet and its
# tests run.
#
#   testbed.sh up                 install packages, build tools and images, start it all
#   testbed.sh down               remove everything `up` made (also after a failed run)
#   testbed.sh status             say what runs
#   testbed.sh exec -- CMD...     run CMD inside the bed (its namespaces and systemd)
#   testbed.sh start-rktlet [ARGS...]  (re)start rktlet as the unit rktlet.service
#   testbed.sh stop-rktlet
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BED=${TESTBED_DIR:-$ROOT/_output/testbed}
CGROUP=/sys/fs/cgroup/unified/rktlet-testbed
# The bed's own cgroup in each cgroup v1 hierarchy that limits memory or CPU
# (hybrid hosts bind those controllers to v1, so no systemd here can use
# them; rktlet limits containers there itself).
V1_CGROUP_NAME=rktlet-testbed
VARDIR=/var/lib/rktlet-testbed
REGISTRY=127.0.0.1:${TESTBED_REGISTRY_PORT:-5000}
AUTH_REGISTRY=127.0.0.1:${TESTBED_AUTH_REGISTRY_PORT:-5001}
SOCKET=/run/rktlet/rktlet.sock
CNI_BRIDGE=rktlet-tb0
CNI_NETWORK=rktlet-testbed
export TESTBED_REGISTRY=$REGISTRY TESTBED_AUTH_REGISTRY=$AUTH_REGISTRY

log() { echo "testbed: $*" >&2; }

host_has_systemd() { [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; }

bed_pid() {
	local pid
	pid=$(cat "$BED/pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] || return 1
	echo "$pid"
}

# in_bed runs a command inside the bed: on a systemd host directly, otherwise
# in the private systemd's namespaces, from a cgroup of its tree.
in_bed() {
	if [ "$(cat "$BED/mode" 2>/dev/null)" = host ]; then
		"$@"
		return
	fi
	local pid
	pid=$(bed_pid) || { log "not up (run: $0 up)"; return 1; }
	mkdir -p "$CGROUP/testbed-exec"
	# The subshell moves itself, then execs nsenter; the caller stays put.
	(
		echo "$BASHPID" >"$CGROUP/testbed-exec/cgroup.procs"
		exec nsenter -t "$pid" -m -p -u -C --wd="$PWD" -- "$@"
	)
}

# --- the private systemd --------------------------------------------------

# v1_hierarchies prints "controllers mountpoint fsroot" for each mounted
# cgroup v1 hierarchy that holds memory, cpu or pids.
v1_hierarchies() {
	findmnt -rn -t cgroup -o TARGET,FSROOT,FS-OPTIONS | while read -r target fsroot opts; do
		local ctrls
		ctrls=$(echo "$opts" | tr , '\n' | grep -v -e '^rw$' -e '^ro$' -e '^relatime$' -e '^nosuid$' -e '^nodev$' -e '^noexec$' | paste -sd, -)
		case ",$ctrls," in *,memory,* | *,cpu,* | *,pids,*) echo "$ctrls $target $fsroot" ;; esac
	done
}

# v1_bed_dirs prints "controllers dir" for the bed's cgroup in each of them.
v1_bed_dirs() {
	v1_hierarchies | while read -r ctrls target fsroot; do
		local own
		own=$(awk -F: -v c="$ctrls" '$2 == c { print $3 }' /proc/self/cgroup)
		[ -n "$own" ] || continue
		[ "$fsroot" = / ] || own=${own#"$fsroot"}
		echo "$ctrls ${target}${own%/}/$V1_CGROUP_NAME"
	done
}

# init_bed runs as PID 1 of the new namespaces and becomes systemd.
init_bed() {
	mount -t proc proc /proc
	# systemd PID 1 makes / shared, except with container= set: rkt needs it
	# shared or the app's overlay never appears inside the pod.
	mount --make-rshared /
	mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
	mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
	# The memory, cpu and pids v1 hierarchies, rooted (cgroup namespace) at the
	# bed's own cgroup there: rktlet finds them in its mountinfo.
	local ctrls
	for ctrls in $V1_CONTROLLERS; do
		mkdir -p "/run/cgroup-v1/$ctrls"
		mount -t cgroup -o "$ctrls" cgroup "/run/cgroup-v1/$ctrls"
	done
	# PID 1 otherwise raises host-global sysctls at boot; made writable again
	# once it is up (start_private_systemd).
	mount --bind /proc/sys /proc/sys
	mount -o remount,bind,ro /proc/sys
	: >"$BED/console"
	mount --bind "$BED/console" /dev/console
	mount --bind "$BED/journald.conf" /etc/systemd/journald.conf
	hostname rktlet-testbed
	export container=rktlet-testbed
	# Transient units (pods, rktlet) are kept in /run/systemd/transient: on
	# the unit path, a daemon-reload finds them again.
	export SYSTEMD_UNIT_PATH=$BED/units:/run/systemd/transient SYSTEMD_GENERATOR_PATH=$BED/empty
	export SYSTEMD_ENVIRONMENT_GENERATOR_PATH=$BED/empty
	exec /lib/systemd/systemd --system --log-target=console --show-status=no
}

start_private_systemd() {
	rm -rf "$BED/units" "$BED/empty"
	mkdir -p "$BED/empty"
	cp -a "$ROOT/hack/testbed/units" "$BED/units"
	cat >"$BED/journald.conf" <<-CONF
		[Journal]
		Storage=volatile
		RuntimeMaxUse=256M
		RateLimitIntervalSec=0
		RateLimitBurst=0
	CONF
	mkdir -p "$CGROUP"
	local v1_dirs="" v1_ctrls="" ctrls dir
	while read -r ctrls dir; do
		mkdir -p "$dir"
		v1_dirs="$v1_dirs $dir" v1_ctrls="$v1_ctrls $ctrls"
	done < <(v1_bed_dirs | tee "$BED/v1-cgroups")
	# Start from a detached process: it moves into the bed's cgroups, then
	# unshare makes them the roots of the new cgroup namespace.
	V1_CONTROLLERS="$v1_ctrls" setsid bash -c '
		echo $$ >"$1/cgroup.procs"
		for d in $3; do echo $$ >"$d/cgroup.procs"; done
		exec unshare --pid --mount --uts --cgroup --fork --propagation private -- "$2" _init
	' _ "$CGROUP" "$ROOT/hack/testbed/testbed.sh" "$v1_dirs" </dev/null >"$BED/init.log" 2>&1 &
	local launcher=$!
	local pid="" i
	for i in $(seq 1 100); do
		pid=$(pgrep -P "$launcher" -x systemd 2>/dev/null | head -1) || true
		if [ -z "$pid" ]; then
			local child
			for child in $(pgrep -P "$launcher" 2>/dev/null); do
				pid=$(pgrep -P "$child" -x systemd 2>/dev/null | head -1) || true
				[ -n "$pid" ] && break
				[ "$(cat /proc/"$child"/comm 2>/dev/null)" = systemd ] && pid=$child && break
			done
		fi
		[ -n "$pid" ] && break
		sleep 0.1
	done
	[ -n "$pid" ] || { log "private systemd did not start:"; cat "$BED/init.log" >&2; return 1; }
	echo "$pid" >"$BED/pid"
	echo private >"$BED/mode"
	for i in $(seq 1 100); do
		if in_bed systemctl is-active --quiet dbus.socket systemd-journald.service 2>/dev/null; then
			# /proc/sys was read-only only while PID 1 booted (it raises
			# host-global limits then); CNI plugins need it writable for the
			# bridge's and the pods' settings.
			in_bed mount -o remount,bind,rw /proc/sys
			log "private systemd up (PID $pid on the host)"
			return 0
		fi
		sleep 0.1
	done
	log "private systemd did not become ready:"
	tail -30 "$BED/console" >&2 || true
	return 1
}

# --- up / down ------------------------------------------------------------

# The CNI bridge plugin needs IPv4 forwarding in the node's network
# namespace, which is the host's: turn it on for the bed's lifetime and put
# back the host's setting at down. (The bed's /proc/sys is read-only.)
enable_ip_forward() {
	local f=/proc/sys/net/ipv4/ip_forward
	if [ ! -f "$BED/ip_forward.orig" ]; then
		cat "$f" >"$BED/ip_forward.orig"
	fi
	[ "$(cat "$f")" = 1 ] || echo 1 >"$f"
}

restore_ip_forward() {
	if [ -f "$BED/ip_forward.orig" ]; then
		cat "$BED/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward || true
		rm -f "$BED/ip_forward.orig"
	fi
}

write_cni_config() {
	mkdir -p "$BED/cni/net.d"
	cat >"$BED/cni/net.d/10-$CNI_NETWORK.conflist" <<-JSON
		{
		  "cniVersion": "1.0.0",
		  "name": "$CNI_NETWORK",
		  "plugins": [
		    {
		      "type": "bridge",
		      "bridge": "$CNI_BRIDGE",
		      "isGateway": true,
		      "ipMasq": true,
		      "ipam": {
		        "type": "host-local",
		        "ranges": [[{"subnet": "10.88.77.0/24"}]],
		        "routes": [{"dst": "0.0.0.0/0"}],
		        "dataDir": "$VARDIR/cni-ipam"
		      }
		    },
		    {"type": "portmap", "capabilities": {"portMappings": true}}
		  ]
		}
	JSON
}

up() {
	mkdir -p "$BED"
	bash "$ROOT/hack/install-deps.sh"
	bash "$ROOT/hack/build-rkt.sh"
	bash "$ROOT/hack/build-cri-tools.sh"
	if bed_pid >/dev/null || [ "$(cat "$BED/mode" 2>/dev/null)" = host ]; then
		log "already up"
	elif host_has_systemd; then
		echo host >"$BED/mode"
		log "host PID 1 is systemd: using it"
	else
		start_private_systemd
	fi
	mkdir -p "$VARDIR"
	enable_ip_forward
	write_cni_config
	# crictl reads crictl.yaml next to its binary when /etc has none.
	printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' "$SOCKET" "$SOCKET" \
		>"$ROOT/_output/cri-tools/crictl.yaml"
	bash "$ROOT/hack/testbed/registry.sh" start
	bash "$ROOT/hack/testbed/images.sh"
	log "up: run commands inside with: $0 exec -- CMD"
}

stop_bed_systemd() {
	local pid
	pid=$(bed_pid) || return 0
	log "stopping private systemd (PID $pid)"
	in_bed systemctl --no-block exit >/dev/null 2>&1 || kill -s SIGRTMIN+3 "$pid" 2>/dev/null || true
	local i
	for i in $(seq 1 100); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
	log "private systemd did not exit in 10 s: killing it"
	kill -KILL "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
}

remove_cgroup_tree() {
	local dir=$1
	[ -d "$dir" ] || return 0
	# Deepest first; any process left is killed (all were started by the bed).
	find "$dir" -depth -type d | while read -r d; do
		if [ -s "$d/cgroup.procs" ]; then
			while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$d/cgroup.procs"
		fi
	done
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[ -d "$dir" ] || return 0
		sleep 0.2
	done
	log "could not remove cgroup $dir"
}

cleanup_network() {
	ip link del "$CNI_BRIDGE" 2>/dev/null || true
	# CNI's bridge (ipMasq) and portmap plugins add iptables chains whose rules
	# carry the network name in a comment; remove ours.
	local table
	for table in nat filter; do
		{ iptables-save -t "$table" 2>/dev/null || true; } | { grep -e "$CNI_NETWORK" || true; } | { grep '^-A' || true; } |
			sed 's/^-A/-D/' | while read -r rule; do
			eval "iptables -t $table $rule" 2>/dev/null || true
		done
	done
}

down() {
	if [ "$(cat "$BED/mode" 2>/dev/null)" = host ]; then
		stop_rktlet || true
		bash "$ROOT/hack/testbed/registry.sh" stop || true
	fi
	stop_bed_systemd
	remove_cgroup_tree "$CGROUP"
	local ctrls dir
	if [ -f "$BED/v1-cgroups" ]; then
		while read -r ctrls dir; do remove_cgroup_tree "$dir"; done <"$BED/v1-cgroups"
	fi
	cleanup_network
	restore_ip_forward
	# Mounts made inside the private bed died with its mount namespace; on a
	# systemd host rkt's mounts live in the host namespace.
	if [ -d "$VARDIR" ]; then
		{ grep -o " $VARDIR[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do
			umount -l "$m" 2>/dev/null || true
		done
		rm -rf "$VARDIR"
	fi
	rm -f "$ROOT/_output/cri-tools/crictl.yaml"
	rm -rf "$BED/units" "$BED/empty" "$BED/pid" "$BED/mode" "$BED/cni" "$BED/registry" "$BED/console" "$BED/journald.conf" "$BED/v1-cgroups"
	log "down"
}

status() {
	local mode
	mode=$(cat "$BED/mode" 2>/dev/null || echo down)
	echo "mode: $mode"
	[ "$mode" = down ] && return 0
	if [ "$mode" = private ]; then
		echo "systemd: PID $(bed_pid || echo 'gone')"
	fi
	in_bed systemctl list-units --no-pager --no-legend 'rktlet*' 'testbed-*' 2>/dev/null || true
	in_bed machinectl list --no-pager --no-legend 2>/dev/null || true
}

# --- rktlet as a unit in the bed -------------------------------------------

start_rktlet() {
	stop_rktlet
	# Type=notify: systemd-run returns once rktlet said READY=1, which it
	# does when it serves and has recovered its pods (or once it failed).
	if ! in_bed systemd-run --unit=rktlet --collect --quiet \
		--property=Type=notify --property=KillMode=process \
		--property=Restart=on-failure --property=RestartSec=200ms \
		--setenv=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		"$ROOT/_output/bin/rktlet" \
		--socket="$SOCKET" \
		--rkt-path="$ROOT/_output/rkt/bin/rkt" \
		--stage1-path="$ROOT/_output/rkt/bin/stage1-host.aci" \
		--rkt-data-dir="$VARDIR/rkt" \
		--state-dir="$VARDIR/state" \
		--cni-conf-dir="$BED/cni/net.d" \
		--cni-plugin-dirs=/opt/cni/bin,/usr/lib/cni \
		--registry-mirror="registry.k8s.io=http://$REGISTRY" \
		--registry-mirror="gcr.io=http://$REGISTRY" \
		--registry-mirror="k8s.gcr.io=http://$REGISTRY" \
		--registry-mirror="public.ecr.aws=http://$REGISTRY" \
		--registry-mirrors-only \
		--log-level=debug "$@"; then
		log "rktlet did not start:"
		in_bed journalctl -u rktlet --no-pager -n 30 >&2 || true
		return 1
	fi
	# And so Status says: until then pod and container calls answer
	# Unavailable, and RuntimeReady says Recovering.
	local i ready
	for i in $(seq 1 600); do
		if in_bed test -S "$SOCKET"; then
			ready=$(in_bed "$ROOT/_output/cri-tools/crictl" --runtime-endpoint "unix://$SOCKET" info -o go-template \
				--template '{{range .status.conditions}}{{if eq .type "RuntimeReady"}}{{.status}}/{{.reason}}{{end}}{{end}}' 2>/dev/null) || ready=
			case "$ready" in true/* | false/?*) [ "$ready" = false/Recovering ] || return 0 ;; esac
		fi
		in_bed systemctl is-active --quiet rktlet || break
		sleep 0.1
	done
	log "rktlet did not come up:"
	in_bed journalctl -u rktlet --no-pager -n 30 >&2 || true
	return 1
}

stop_rktlet() {
	in_bed systemctl stop rktlet >/dev/null 2>&1 || true
	in_bed systemctl reset-failed rktlet >/dev/null 2>&1 || true
}

case "${1:-}" in
_init) init_bed ;;
up) up ;;
down) down ;;
status) status ;;
exec)
	shift
	[ "${1:-}" = -- ] && shift
	in_bed "$@"
	;;
start-rktlet)
	shift
	start_rktlet "$@"
	;;
stop-rktlet) stop_rktlet ;;
*)
	sed -n '2,14p' "$0" >&2
	exit 2
	;;
esac
