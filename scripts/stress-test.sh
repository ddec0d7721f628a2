#!/usr/bin/env bash
# The whole `make test` with a CPU hog on every core, N rounds: a test that waits on
# time, or on a log line that comes before the state it checks, fails here sooner or
# later (issue 11). Every round must pass.
#
#   scripts/stress-test.sh          3 rounds
#   scripts/stress-test.sh 1        one round
#   TEST_CMD=.ci/run scripts/stress-test.sh   another command than `make test`
#
# It prints PASS or FAIL per round (with the failing tests and where the round's log
# is) and exits 1 if any round failed, 2 on bad usage. The hogs are busy shell loops,
# one per core (nproc), at the tests' own priority; they stop when the script ends,
# however it ends: the EXIT trap kills them, and each also stops by itself within a
# second once the script is gone (a SIGKILL runs no trap).
set -uo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/stress-test.sh [ROUNDS]   (ROUNDS: a number, 1 or more; default 3)" >&2
  exit 2
fi
cmd=${TEST_CMD:-make test}
cores=$(nproc)
logs=$(mktemp -d "${TMPDIR:-/tmp}/provisioner-stress.XXXXXX")

hogs=()
stop_hogs() {
  if ((${#hogs[@]})); then
    kill "${hogs[@]}" 2>/dev/null
    wait "${hogs[@]}" 2>/dev/null
  fi
  hogs=()
}
trap stop_hogs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# hog spins until its parent, this script, is gone: then it has been given another
# parent (kill -0 would still find the script while it is an unreaped zombie).
hog() {
  local parent=$1 i pid comm state ppid rest
  while read -r pid comm state ppid rest </proc/$BASHPID/stat && [[ $ppid == "$parent" ]]; do
    for ((i = 0; i < 50000; i++)); do :; done
  done
}

echo "stress test: $rounds round(s) of '$cmd' with $cores CPU hog(s); logs in $logs"
for ((c = 0; c < cores; c++)); do
  hog $$ &
  hogs+=($!)
done

failed=0
for ((r = 1; r <= rounds; r++)); do
  log=$logs/round-$r.log
  start=$(date +%s)
  if $cmd >"$log" 2>&1; then
    echo "round $r/$rounds: PASS ($(($(date +%s) - start)) s)"
  else
    failed=$((failed + 1))
    echo "round $r/$rounds: FAIL ($(($(date +%s) - start)) s; log: $log)"
    grep -E '^(--- FAIL|FAIL|panic:)|: race detected|DATA RACE' "$log" | head -20 | sed 's/^/  /'
  fi
done
stop_hogs

echo "stress test: $((rounds - failed))/$rounds rounds passed"
((failed == 0))
