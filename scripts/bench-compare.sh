#!/usr/bin/env bash
# Compares the processing run's `make bench` figures (dispatcher BenchmarkDispatch)
# of BASE_REV and of this work tree (or of HEAD_REV), on this machine, in one session: its e2e runs
# (one Run end to end against PostgreSQL and the simulator over HTTP, concurrency 4,
# batch 100 and 500) and its no-latency run (concurrency 8, batch 100), with that
# run's CPU time per request (this process and the simulator, and PostgreSQL's
# backends), which a busy machine disturbs far less than the rates. Both test
# binaries are built first, then run alternately, ROUNDS rounds (BASE_REV first in
# odd rounds, this tree first in even ones, so that neither always runs on a warmer
# or busier machine). Prints every round and the medians with their ratios (rates:
# this tree / BASE_REV; CPU: BASE_REV / this tree, so that above 1 is better for
# both). Used for issue 12's acceptance 4 (the run with its sends recorded at least
# 0.9 x of before); see docs/benchmarks.md.
#
#   scripts/bench-compare.sh 53303ed            this work tree against 53303ed
#   scripts/bench-compare.sh 53303ed 1bd07a5    one commit against another
#   BENCH_COMPARE_ROUNDS=3      rounds (default 3)
#   BENCH_COMPARE_E2E=0         only the no-latency run and its CPU per request (faster)
#   DISPATCH_BENCH_N=60000      requests per e2e run (default 60000, as make bench)
#   DISPATCH_BENCH_LATENCY_N    requests of the no-latency run (default 60000 here)
#   TEST_DATABASE_URL=...       another server (default the local one)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/bench-compare.sh BASE_REV [HEAD_REV]}
head=${2:-}
rounds=${BENCH_COMPARE_ROUNDS:-3}
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
# Only the e2e runs: one round each per invocation; the stale-statistics pairs'
# history template made small (it is built whatever runs); no simulator process.
export DISPATCH_BENCH_ROUNDS=1 DISPATCH_BENCH_STALE_N=1000 DISPATCH_BENCH_HISTORY=1000 DISPATCH_BENCH_SIMULATOR=
export DISPATCH_BENCH_LATENCY_N=${DISPATCH_BENCH_LATENCY_N:-60000}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/base"
git archive "$base" | tar -x -C "$tmp/base"
(cd "$tmp/base" && go test -c -o "$tmp/base.test" ./dispatcher/)
headdir=$PWD
if [ -n "$head" ]; then
  headdir=$tmp/head
  mkdir "$headdir"
  git archive "$head" | tar -x -C "$headdir"
  rev=$head
else
  rev=$(git rev-parse --short HEAD)
  [ -z "$(git status --porcelain)" ] || rev="$rev+changes"
fi
(cd "$headdir" && go test -c -o "$tmp/head.test" ./dispatcher/)
runs='^(e2e|no-latency)$'
[ "${BENCH_COMPARE_E2E:-1}" = 0 ] && runs='^no-latency$'

# run NAME DIR: one round of that build, from its package directory; prints the e2e
# rates of batch 100 and 500, the no-latency run's rate, and its CPU µs per request
# of the run (with the simulator) and of PostgreSQL.
run() {
  (cd "$2/dispatcher" && "$tmp/$1.test" -test.run '^$' -test.bench "^BenchmarkDispatch\$/$runs/" \
      -test.benchtime 1x -test.timeout 30m) >"$tmp/$1.out" 2>&1 || { cat "$tmp/$1.out" >&2; exit 1; }
  awk '$1 == "batch" && $2 == "100" { a = $3 } $1 == "batch" && $2 == "500" { b = $3 }
       $1 == "latency" && NF >= 7 { c = $6 } $1 ~ /^no-latency\// && $2 == "CPU" { g = $5; p = $12 }
       END { print (a == "" ? "-" : a), (b == "" ? "-" : b), c, g, p }' "$tmp/$1.out"
}

echo "processing run: $base against $rev, $rounds rounds alternated; e2e req/s (concurrency 4, ${DISPATCH_BENCH_N:-60000} requests),"
echo "no-latency req/s (concurrency 8, batch 100, $DISPATCH_BENCH_LATENCY_N requests) and its CPU µs per request"
printf '%-6s %-6s %10s %10s %10s %9s %9s\n' round build "e2e b100" "e2e b500" "no-lat" "run µs" "pg µs"
: >"$tmp/all"
for r in $(seq 1 "$rounds"); do
  order="base head"
  [ $((r % 2)) -eq 0 ] && order="head base"
  for b in $order; do
    dir=$tmp/base
    [ "$b" = head ] && dir=$headdir
    read -r x y z g p < <(run "$b" "$dir")
    printf '%-6s %-6s %10s %10s %10s %9s %9s\n' "$r" "$b" "$x" "$y" "$z" "$g" "$p"
    echo "$b $x $y $z $g $p" >>"$tmp/all"
  done
done
# Medians of each build, and their ratios.
awk -v base="$base" -v rev="$rev" '
  function median(arr, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
    return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
  }
  # "-": not measured (BENCH_COMPARE_E2E=0).
  function ratio(a, b) { return b + 0 > 0 && a + 0 > 0 ? sprintf("%.2f", a / b) : "-" }
  function verdict(r) { return r == "-" ? "not measured" : (r + 0 >= 0.9 ? "PASS" : "MISS") }
  { n[$1]++; k = n[$1]; for (f = 2; f <= 6; f++) v[$1, f, k] = $f }
  END {
    for (b in n) for (f = 2; f <= 6; f++) { for (k = 1; k <= n[b]; k++) tmp[k] = v[b, f, k]; m[b, f] = median(tmp, n[b]) }
    printf "median base   %10.0f %10.0f %10.0f %9.1f %9.1f   (%s)\n", m["base", 2], m["base", 3], m["base", 4], m["base", 5], m["base", 6], base
    printf "median head   %10.0f %10.0f %10.0f %9.1f %9.1f   (%s)\n", m["head", 2], m["head", 3], m["head", 4], m["head", 5], m["head", 6], rev
    r2 = ratio(m["head", 2], m["base", 2]); r3 = ratio(m["head", 3], m["base", 3]); r4 = ratio(m["head", 4], m["base", 4])
    cpu = ratio(m["base", 5] + m["base", 6], m["head", 5] + m["head", 6])
    printf "ratio         %10s %10s %10s %19s   (rates head/base; CPU per request base/head, run + PostgreSQL)\n", r2, r3, r4, cpu
    printf "goal >= 0.90: e2e b100 %s, e2e b500 %s, no-latency %s, CPU per request %s\n", verdict(r2), verdict(r3), verdict(r4), verdict(cpu)
  }' "$tmp/all"
