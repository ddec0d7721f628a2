#!/usr/bin/env bash
# `make bench`: the Web API (bin/provisioner serve) creating requests for 32 callers
# at once beside pgbench's TPC-B-like TPS on the same server, and the latency of a
# process_immediately call against cas-simulator with no latency, alternated over a
# few rounds in one run, with the goals of issue 16 beside the figures. See
# internal/apibench. It creates and drops its own two databases.
#
#   ROUNDS=5 scripts/bench-api.sh          more rounds (default 3)
#   API_BENCH_DURATION=20s                 each pgbench and creates measurement (default 10s)
#   BENCH_SERVER_URL=...                   another server (default the local one)
#   API_BENCH_FLAGS='-immediate 500 -keep' more flags of bin/apibench
#   API_BENCH_FLAGS='-base OLD/provisioner' immediate calls alternated with another build's serve
set -euo pipefail
cd "$(dirname "$0")/.."

server=${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
pgbench=$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)
# shellcheck disable=SC2086 # API_BENCH_FLAGS is a list of flags
exec bin/apibench -rounds "${ROUNDS:-3}" -duration "${API_BENCH_DURATION:-10s}" -server "$server" \
  -provisioner bin/provisioner -simulator bin/cas-simulator -pgbench "$pgbench" ${API_BENCH_FLAGS:-}
