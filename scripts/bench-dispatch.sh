#!/usr/bin/env bash
# The processing run's benchmarks (dispatcher/bench_test.go): one Run end to end
# against PostgreSQL and the gateway simulator over HTTP, beside the same claim and
# write-back SQL with no HTTP (the baseline) and the same HTTP with no database,
# alternated over rounds in one run; and in the same rounds a run against a gateway
# with 20 ms of latency beside concurrency × batch size / latency, the same run with
# no latency (the machine's ceiling), the latency run against the simulator in
# a process of its own, with the CPU time of each part, and the floor: the run's
# write-back statement alone, which no run on this machine can outrun; and, last in
# each round, the run and the immediate send (Options.FileID) over a table with settled
# history, analysed after the import beside analysed only before it (stale statistics,
# issue 15; the stale run's own statistics refresh is in its time). Prints the figures
# with the goals (PASS/MISS). Each run creates and drops its own database (internal/pgtest).
# About 6 to 7 minutes on an idle 2-core machine. Exit status: go test's.
#
#   DISPATCH_BENCH_N=100000            requests per e2e/baseline run (default 60000)
#   DISPATCH_BENCH_LATENCY_N=200000    requests of the latency run (default 160000)
#   DISPATCH_BENCH_ROUNDS=5            rounds (default 3); the table shows medians
#   DISPATCH_BENCH_EXPRESS=0           share of EXPRESS requests (default 0.02)
#   DISPATCH_BENCH_PER_CARD=3          mean requests per smartcard (default 2)
#   DISPATCH_BENCH_NOT_DUE=20000       extra requests scheduled for tomorrow (default 0)
#   DISPATCH_BENCH_BATCHES=100         batch sizes (default 100,500)
#   DISPATCH_BENCH_LATENCY_MS=100      gateway latency of the latency run (default 20)
#   DISPATCH_BENCH_STALE_N=20000       requests of the stale-statistics pairs (default DISPATCH_BENCH_N)
#   DISPATCH_BENCH_HISTORY=500000      settled requests beside them (default 2 × their number)
#   DISPATCH_BENCH_IMMEDIATE=0.05      share of process_immediately requests, immediate pair (default 0.01)
#   DISPATCH_BENCH_ONLY=stale          only the stale-statistics pairs
#   DISPATCH_BENCH_SIMULATOR=          no run against a simulator process (default: built here)
#   DISPATCH_BENCH_LOG=1               show the runs' warnings on standard error
#   DISPATCH_BENCH_FLAGS='-cpuprofile /tmp/dispatch.cpu'   extra go test flags
#   TEST_DATABASE_URL=...              another server (default the local one)
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
# The latency run once more against the simulator in a process of its own, to split
# the CPU time between the run, the simulator and PostgreSQL.
if [ -z "${DISPATCH_BENCH_SIMULATOR+set}" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  go build -o "$tmp/cas-simulator" ./cmd/cas-simulator
  export DISPATCH_BENCH_SIMULATOR=$tmp/cas-simulator
fi
# shellcheck disable=SC2086 # DISPATCH_BENCH_FLAGS is a list of flags
go test -run '^$' -bench '^BenchmarkDispatch$' -benchtime 1x -timeout 60m -count 1 \
  ${DISPATCH_BENCH_FLAGS:-} ./dispatcher/
