# Shared by the hack/bench/*.sh scripts: sourced, not run.

# bench_with_execve_trace NAME ARGS...: builds hack/bench/NAME, restarts the
# bed's rktlet, runs the program in the bed with ARGS and --sync-dir, and for
# exactly the phase between its ready-1 and ready-2 handshakes follows
# rktlet with `strace -f -e trace=execve`, then prints how many processes
# rktlet started (it must be 0: List and Status never spawn anything). The
# programs time their List/Status calls before that phase and repeat them
# inside it: ptrace stops rktlet at every system call, so latencies taken
# under strace would be the tracer's.
bench_with_execve_trace() {
	local name=$1
	shift
	local tb=hack/testbed/testbed.sh
	go build -o "_output/bin/bench-$name" "./hack/bench/$name"
	bash "$tb" start-rktlet --log-level=info
	local pid sync trace bench strace_job spawned
	pid=$(bash "$tb" exec systemctl show -p MainPID --value rktlet)
	sync=$(mktemp -d)
	trace=$PWD/_output/bench-$name.strace
	rm -f "$trace"

	bash "$tb" exec "$PWD/_output/bin/bench-$name" --sync-dir "$sync" "$@" &
	bench=$!
	wait_for() { while [ ! -e "$1" ]; do kill -0 "$bench" 2>/dev/null || return 1; sleep 0.1; done; }

	wait_for "$sync/ready-1" || { rm -rf "$sync"; return 1; }
	# strace runs in the bed's PID namespace: it records its own PID there,
	# and is stopped by that PID from inside.
	bash "$tb" exec bash -c 'echo $$ >"$1"; exec strace -f -qq -e trace=execve -o "$2" -p "$3"' \
		_ "$sync/strace.pid" "$trace" "$pid" &
	strace_job=$!
	sleep 1 # strace attaches to every thread
	touch "$sync/go-1"
	wait_for "$sync/ready-2" || { rm -rf "$sync"; return 1; }
	bash "$tb" exec kill "$(cat "$sync/strace.pid")"
	wait "$strace_job" 2>/dev/null || true
	touch "$sync/go-2"
	wait "$bench"
	rm -rf "$sync"
	spawned=$(grep -c execve "$trace" 2>/dev/null || true)
	echo "processes rktlet started during the List/Status phase (strace -f -e trace=execve -p $pid): ${spawned:-0}"
}

# A reference containerd (Debian's 1.6 + runc) for the benchmarks that put
# rktlet beside it: a private socket ($CONTAINERD_RUN/containerd.sock), its
# own root and state, a CNI network of its own on 10.88.99.0/24 with the
# bed's plugin chain (bridge with masquerading, portmap, loopback), the bed's
# registry as the mirror of the registries the tests name, cgroupfs (runc
# needs controllers, which the bed's cgroup2 lacks). containerd_up installs
# it if missing and starts it; containerd_down removes everything of it.
CONTAINERD_DIR=/var/lib/rktlet-bench-containerd
CONTAINERD_RUN=/run/rktlet-bench-containerd
CONTAINERD_BRIDGE=rktlet-bench0

containerd_down() {
	local crictl=$1 id pid
	if [ -S "$CONTAINERD_RUN/containerd.sock" ]; then
		for id in $($crictl --runtime-endpoint "unix://$CONTAINERD_RUN/containerd.sock" pods -q 2>/dev/null); do
			$crictl --runtime-endpoint "unix://$CONTAINERD_RUN/containerd.sock" rmp -f "$id" >/dev/null 2>&1 || true
		done
	fi
	pid=$(cat "$CONTAINERD_RUN/pid" 2>/dev/null) || true
	if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = containerd ]; then
		kill "$pid"
		for _ in $(seq 1 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
	fi
	# The shims' and snapshots' mounts, deepest first.
	grep -o " \($CONTAINERD_DIR\|$CONTAINERD_RUN\)/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done || true
	rm -rf "$CONTAINERD_DIR" "$CONTAINERD_RUN"
	# runc's parent cgroup of the pods, once empty.
	rmdir /sys/fs/cgroup/*/k8s.io 2>/dev/null || true
	ip link del "$CONTAINERD_BRIDGE" >/dev/null 2>&1 || true
}

containerd_up() {
	# REGISTRY: the bed's, which every registry a test names is sent to.
	local REGISTRY=$1 D=$CONTAINERD_DIR RUN=$CONTAINERD_RUN BRIDGE=$CONTAINERD_BRIDGE registry
	if ! command -v containerd >/dev/null || ! command -v runc >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends containerd runc >/dev/null
	fi
	mkdir -p "$D/net.d" "$D/certs.d"
	cat >"$D/config.toml" <<-EOF
		version = 2
		root = "$D/root"
		state = "$RUN/state"
		[grpc]
		  address = "$RUN/containerd.sock"
		[ttrpc]
		  address = "$RUN/containerd.sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "registry.k8s.io/pause:3.9"
		  # No CAP_SYS_RESOURCE here to lower an oom_score_adj.
		  restrict_oom_score_adj = true
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$D/net.d"
		  [plugins."io.containerd.grpc.v1.cri".registry]
		    config_path = "$D/certs.d"
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
	EOF
	cat >"$D/net.d/10-bench.conflist" <<-EOF
		{"cniVersion": "1.0.0", "name": "rktlet-bench", "plugins": [
		  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true,
		   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.99.0/24"}]],
		            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$D/ipam"}},
		  {"type": "portmap", "capabilities": {"portMappings": true}},
		  {"type": "loopback"}]}
	EOF
	for registry in registry.k8s.io gcr.io k8s.gcr.io public.ecr.aws docker.io; do
		mkdir -p "$D/certs.d/$registry"
		cat >"$D/certs.d/$registry/hosts.toml" <<-EOF
			server = "http://$REGISTRY"
			[host."http://$REGISTRY"]
			  capabilities = ["pull", "resolve"]
		EOF
	done
	mkdir -p "$RUN"
	containerd --config "$D/config.toml" >"$RUN/containerd.log" 2>&1 &
	echo $! >"$RUN/pid"
	for _ in $(seq 1 100); do
		[ -S "$RUN/containerd.sock" ] && break
		sleep 0.2
	done
	[ -S "$RUN/containerd.sock" ] || { cat "$RUN/containerd.log" >&2; return 1; }
}

# containerd_session CRICTL REGISTRY FILE...: a fresh reference containerd
# for the rest of the calling script, removed with the files FILE... when
# the script exits.
containerd_session() {
	CONTAINERD_SESSION_CRICTL=$1
	local registry=$2
	shift 2
	CONTAINERD_SESSION_FILES=("$@")
	containerd_session_end() {
		containerd_down "$CONTAINERD_SESSION_CRICTL"
		rm -f "${CONTAINERD_SESSION_FILES[@]}"
	}
	trap containerd_session_end EXIT
	containerd_session_end
	containerd_up "$registry"
}
