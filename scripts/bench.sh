#!/usr/bin/env bash
# `make bench`: the importer as operators run it (bin/provisioner import FILE) against a
# raw COPY of the very same rows into the same table, measured in one run and
# alternated over a few rounds, with the goals beside the figures. See
# internal/benchrun. It creates and drops its own database and temporary files.
#
#   ROWS=200000 make bench      a quicker run (default 1,000,000 rows)
#   ROUNDS=5 make bench         more rounds (default 3)
#   BENCH_SERVER_URL=...        another server (default the local one, as the tests use)
#   BENCH_FLAGS=-keep           keep the database and files to look at them
#   BENCH_FLAGS='-base OLD/provisioner'  another build's import in every round too
set -euo pipefail
cd "$(dirname "$0")/.."

server=${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
# shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags
exec bin/benchrun -rows "${ROWS:-1000000}" -rounds "${ROUNDS:-3}" -server "$server" \
  -provisioner bin/provisioner ${BENCH_FLAGS:-}
