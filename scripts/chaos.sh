#!/bin/sh
# make chaos: the full scenarios of the chaos suite (internal/chaos, docs/chaos.md),
# then issue 15's stale-statistics reproduction, then the table of the scenarios.
# The test output goes to a log (named at the end); the table to stdout.
set -u
cd "$(dirname "$0")/.."
GO=${GO:-go}
log=${CHAOS_LOG:-${TMPDIR:-/tmp}/provisioner-chaos.log}
table=$(mktemp)
trap 'rm -f "$table"' EXIT
status=0

echo "chaos: the full scenarios (about 15 minutes); log: $log"
$GO test -count=1 -timeout 60m -v ./internal/chaos -args -chaos -chaos.table "$table" >"$log" 2>&1 || status=$?

echo "chaos: scenario 0.2, plans on stale statistics (cli TestStaleStatistics)"
$GO test -count=1 -run '^TestStaleStatistics$' ./cli || status=$?

cat "$table"
grep -E '^\s*--- (FAIL|SKIP)|skipped:' "$log" || true
if [ "$status" -ne 0 ]; then
	echo "chaos: FAILED (exit $status); see $log"
fi
exit "$status"
