#!/usr/bin/env bash
# Compares the processing run's `make bench` figures (dispatcher BenchmarkDispatch,
# its e2e runs: one Run end to end against PostgreSQL and the simulator over HTTP,
# batch 100 and 500) of BASE_REV and of this work tree, on this machine, in one
# session: both test binaries are built first, then run alternately, ROUNDS rounds
# (BASE_REV first in odd rounds, this tree first in even ones, so that neither always
# runs on a warmer or busier machine). Prints every round and the medians with
# their ratio (this tree / BASE_REV). Used for issue 12's acceptance 4 (the run with
# its sends recorded at least 0.9 x of before); see docs/benchmarks.md.
#
#   scripts/bench-compare.sh 53303ed
#   BENCH_COMPARE_ROUNDS=3      rounds (default 3)
#   DISPATCH_BENCH_N=60000      requests per run (default 60000, as make bench)
#   TEST_DATABASE_URL=...       another server (default the local one)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/bench-compare.sh BASE_REV}
rounds=${BENCH_COMPARE_ROUNDS:-3}
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
# Only the e2e runs: one round each per invocation; the stale-statistics pairs'
# history template made small (it is built whatever runs); no simulator process.
export DISPATCH_BENCH_ROUNDS=1 DISPATCH_BENCH_STALE_N=1000 DISPATCH_BENCH_HISTORY=1000 DISPATCH_BENCH_SIMULATOR=

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/base"
git archive "$base" | tar -x -C "$tmp/base"
(cd "$tmp/base" && go test -c -o "$tmp/base.test" ./dispatcher/)
go test -c -o "$tmp/head.test" ./dispatcher/
rev=$(git rev-parse --short HEAD)
[ -z "$(git status --porcelain)" ] || rev="$rev+changes"

# run NAME DIR: one e2e round of that build, from its package directory; prints
# "B100 B500" (requests per second).
run() {
  (cd "$2/dispatcher" && "$tmp/$1.test" -test.run '^$' -test.bench '^BenchmarkDispatch$/^e2e$/' \
      -test.benchtime 1x -test.timeout 30m) >"$tmp/$1.out" 2>&1 || { cat "$tmp/$1.out" >&2; exit 1; }
  awk '$1 == "batch" && $2 == "100" { a = $3 } $1 == "batch" && $2 == "500" { b = $3 } END { print a, b }' "$tmp/$1.out"
}

echo "processing run, e2e req/s (concurrency 4, ${DISPATCH_BENCH_N:-60000} requests): $base against $rev, $rounds rounds alternated"
printf '%-6s %-6s %10s %10s\n' round build "batch 100" "batch 500"
: >"$tmp/all"
for r in $(seq 1 "$rounds"); do
  order="base head"
  [ $((r % 2)) -eq 0 ] && order="head base"
  for b in $order; do
    dir=$tmp/base
    [ "$b" = head ] && dir=$PWD
    read -r x y < <(run "$b" "$dir")
    printf '%-6s %-6s %10s %10s\n' "$r" "$b" "$x" "$y"
    echo "$b $x $y" >>"$tmp/all"
  done
done
# Medians of each build, and their ratio, per batch size.
awk -v base="$base" -v rev="$rev" '
  function median(arr, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
    return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
  }
  $1 == "base" { nb++; b1[nb] = $2; b5[nb] = $3 }
  $1 == "head" { nh++; h1[nh] = $2; h5[nh] = $3 }
  END {
    mb1 = median(b1, nb); mb5 = median(b5, nb); mh1 = median(h1, nh); mh5 = median(h5, nh)
    printf "median %-6s %10.0f %10.0f   (%s)\n", "base", mb1, mb5, base
    printf "median %-6s %10.0f %10.0f   (%s)\n", "head", mh1, mh5, rev
    printf "ratio  head/base %5.2f %10.2f   goal >= 0.90: %s\n", mh1 / mb1, mh5 / mb5, (mh1 / mb1 >= 0.9 && mh5 / mb5 >= 0.9) ? "PASS" : "MISS"
  }' "$tmp/all"
