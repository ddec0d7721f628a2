#!/usr/bin/env bash
# `make bench-console` (and `make bench`): the operator console's pages timed on a
# database of 10,000,000 requests (95% settled over 90 days, 5% PENDING in every wait
# state), p50/p95 per page against the 150 ms goal, with the plan of each. See
# internal/consolebench and docs/benchmarks.md. Creates and drops its own database.
#
#   CONSOLE_REQUESTS=1000000 scripts/bench-console.sh   fewer requests (default 10,000,000)
#   CONSOLE_ROUNDS=50                                   timed loads a page (default 20)
#   BENCH_SERVER_URL=...                                another server (default the local one)
#   CONSOLE_FLAGS="-reuse"                              keep the filled database and use it again
set -euo pipefail
cd "$(dirname "$0")/.."

server=${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
# shellcheck disable=SC2086 # CONSOLE_FLAGS is a list of flags
exec bin/consolebench -requests "${CONSOLE_REQUESTS:-10000000}" -rounds "${CONSOLE_ROUNDS:-20}" \
  -server "$server" ${CONSOLE_FLAGS:-}
