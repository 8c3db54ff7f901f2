#!/usr/bin/env bash
# Runs critest against rktlet inside the test bed with the focus and skip
# lists in test/critest/, writes the JUnit report to _output/critest/junit.xml
# and ends with "N passed, N failed, N skipped".
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOCKET=${RKTLET_SOCKET:-/run/rktlet/rktlet.sock}
CRITEST=${CRITEST:-$ROOT/_output/cri-tools/critest}
REPORT_DIR=${CRITEST_REPORT_DIR:-$ROOT/_output/critest}
FOCUS_FILE=${CRITEST_FOCUS_FILE:-$ROOT/test/critest/focus.txt}
SKIP_FILE=$ROOT/test/critest/skip.txt

# join_patterns FILE: the file's patterns (comments and reasons dropped)
# joined with "|".
join_patterns() {
	sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$1" | paste -sd'|' -
}

# Every skip must carry its reason.
if grep -vE '^[[:space:]]*(#|$)' "$SKIP_FILE" | grep -vE '[^[:space:]].*[[:space:]]#[[:space:]]*[^[:space:]]'; then
	echo "critest.sh: the skip lines above have no reason" >&2
	exit 1
fi

focus=$(join_patterns "$FOCUS_FILE")
skip=$(join_patterns "$SKIP_FILE")
mkdir -p "$REPORT_DIR"
rm -f "$REPORT_DIR/junit.xml"
args=(
	--runtime-endpoint "unix://$SOCKET"
	--image-endpoint "unix://$SOCKET"
	--ginkgo.focus "$focus"
	--ginkgo.junit-report "$REPORT_DIR/junit.xml"
	--ginkgo.no-color
	--ginkgo.timeout 60m
	# Specs in random order, all of them (not only the top-level
	# containers): a spec that passes only after another is caught.
	--ginkgo.randomize-all
)
[ -n "${CRITEST_SEED:-}" ] && args+=(--ginkgo.seed "$CRITEST_SEED")
[ -n "$skip" ] && args+=(--ginkgo.skip "$skip")
[ -n "${CRITEST_PARALLEL:-}" ] && args+=(--parallel "$CRITEST_PARALLEL")

set +e
"$CRITEST" "${args[@]}" "$@" 2>&1 | tee "$REPORT_DIR/critest.log"
rc=${PIPESTATUS[0]}
set -e

if [ ! -s "$REPORT_DIR/junit.xml" ]; then
	echo "critest.sh: critest wrote no report (exit $rc)" >&2
	exit 1
fi
# Count from the report: ginkgo writes each spec as a <testcase> named
# "[It] …" with status="passed|failed|skipped|pending|…"; suite nodes
# ([BeforeSuite] …) count only when they fail. Specs outside the focus are
# reported as skipped.
read -r passed failed skipped < <(awk '
	/<testcase / {
		name = $0; sub(/^.*<testcase name="/, "", name)
		st = $0; sub(/.*status="/, "", st); sub(/".*/, "", st)
		if (name ~ /^\[It\]/) {
			if (st == "passed") p++
			else if (st == "skipped" || st == "pending") s++
			else f++
		} else if (st != "passed" && st != "skipped") f++
	}
	END { print p + 0, f + 0, s + 0 }' "$REPORT_DIR/junit.xml")
echo "critest: report in $REPORT_DIR/junit.xml"
echo "critest: $passed passed, $failed failed, $skipped skipped"
if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
	exit 1
fi
