#!/bin/sh
# make chaos: the full scenarios of the chaos suite (internal/chaos, docs/chaos.md),
# then issue 15's stale-statistics reproduction and the commands under PgBouncer in
# transaction pooling (cli), then the table of the scenarios and a line for each of
# those two. The test output goes to a log (named at the end); the table to stdout.
set -u
cd "$(dirname "$0")/.."
GO=${GO:-go}
log=${CHAOS_LOG:-${TMPDIR:-/tmp}/provisioner-chaos.log}
table=$(mktemp)
trap 'rm -f "$table"' EXIT
status=0

echo "chaos: the full scenarios (about 15 minutes); log: $log"
$GO test -count=1 -timeout 60m -v ./internal/chaos -args -chaos -chaos.table "$table" >"$log" 2>&1 || status=$?

# run NAME TEST: one cli test, its output appended to the log, its result a line.
results=""
run() {
	echo "chaos: $1 (cli $2)"
	if out=$($GO test -count=1 -v -run "^$2\$" ./cli 2>&1); then
		res=ok
		if echo "$out" | grep -q -- "--- SKIP: $2"; then
			res="skipped: $(echo "$out" | grep -A1 -- "--- SKIP: $2" | tail -1 | sed 's/^ *//')"
		fi
	else
		res=FAIL
		status=1
	fi
	echo "$out" >>"$log"
	results="$results$1 (cli $2): $res
"
}
run "scenario 0.2, plans on stale statistics" TestStaleStatistics
run "PgBouncer in transaction pooling" TestUnderPgBouncer

cat "$table"
printf '%s' "$results"
grep -E '^\s*--- (FAIL|SKIP)|skipped:' "$log" || true
if [ "$status" -ne 0 ]; then
	echo "chaos: FAILED (exit $status); see $log"
fi
exit "$status"
