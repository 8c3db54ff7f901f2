# Shared by the hack/bench-*.sh scripts that trace rktlet: sourced, not run.

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
