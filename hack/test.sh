#!/usr/bin/env bash
# `make test`: installs what the tests need, builds everything, runs lint,
# unit tests and the cgroup v2 suite (in a VM), brings the test bed up, runs
# the smoke test, the end-to-end tests, the kubelet suite, the fuzzer and
# critest, and takes the bed down again, also when a step fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
start=$(date +%s)
step() { echo; echo "=== $* ($(($(date +%s) - start)) s)"; }

step "install packages"
bash hack/install-deps.sh
step "lint"
make --no-print-directory lint
step "unit tests"
make --no-print-directory test-unit
step "build"
make --no-print-directory build
# Before the bed is up: 7 to 13 min with cold Go caches, cached under _output.
bash hack/build-kubelet.sh
step "cgroup v2 suite (a VM with a pure unified hierarchy)"
# Before the bed, on a quiet machine: the VM runs under emulation at nice 19.
bash hack/test-cgroup2.sh

trap 'step "test bed down"; bash hack/testbed/testbed.sh down' EXIT
step "test bed up"
bash hack/testbed/testbed.sh down >/dev/null 2>&1 || true
bash hack/testbed/testbed.sh up
step "smoke test"
bash hack/testbed/testbed.sh exec -- bash test/smoke.sh
step "end-to-end tests"
bash hack/testbed/testbed.sh start-rktlet
bash hack/test-e2e.sh
step "kubelet end-to-end suite"
bash hack/testbed/testbed.sh start-rktlet
bash hack/test-kubelet.sh
step "fuzz"
# A fixed seed, so that a failure here repeats; `make fuzz` takes others.
bash hack/testbed/testbed.sh start-rktlet
bash hack/test-fuzz.sh -requests 10000 -seed 1 >"$ROOT/_output/fuzz.out" 2>&1 || { tail -n 80 "$ROOT/_output/fuzz.out"; exit 1; }
grep -E '^(\||fuzz:)' "$ROOT/_output/fuzz.out"
# run_critest NAME LINES [VAR=VALUE...] -- [ARGS...] runs test/critest.sh in
# the bed with ARGS, its output in _output/NAME.out (the last LINES shown),
# and sets critest_rc and critest_result ("N passed, N failed, N skipped").
run_critest() {
	local out=$ROOT/_output/$1.out lines=$2
	shift 2
	local vars=()
	while [ "$1" != -- ]; do
		vars+=("$1")
		shift
	done
	shift
	set +e
	bash hack/testbed/testbed.sh exec -- env "${vars[@]}" bash test/critest.sh "$@" >"$out" 2>&1
	critest_rc=$?
	set -e
	tail -n "$lines" "$out"
	critest_result=$(grep '^critest: .* passed, ' "$out" | tail -1 | sed 's/^critest: //')
}
step "critest"
bash hack/testbed/testbed.sh start-rktlet
run_critest critest 60 --
rc=$critest_rc result=$critest_result
# The Streaming specs again, with critest's websocket clients: v5 channels
# for exec and attach, SPDY tunnelled through a websocket for port-forward.
step "critest, streaming over websockets"
run_critest critest-websocket 20 CRITEST_FOCUS_FILE="$ROOT/test/critest/focus-websocket.txt" \
	CRITEST_REPORT_DIR="$ROOT/_output/critest-websocket" \
	-- --websocket-exec --websocket-attach --websocket-portforward
ws_rc=$critest_rc ws_result=$critest_result
trap - EXIT
step "test bed down"
bash hack/testbed/testbed.sh down
echo
echo "make test: all steps passed in $(($(date +%s) - start)) s; critest:"
if [ "$ws_rc" -ne 0 ]; then
	echo "critest over websockets failed; full log in _output/critest-websocket.out" >&2
	echo "critest (websockets): ${ws_result:-no result}"
fi
if [ "$rc" -ne 0 ]; then
	echo "critest failed; full log in _output/critest.out" >&2
	echo "critest: ${result:-no result}"
	exit 1
fi
[ "$ws_rc" -eq 0 ] || exit 1
echo "critest (websockets): $ws_result"
echo "critest: $result"
