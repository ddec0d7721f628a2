#!/usr/bin/env bash
# Cost as history grows (issue 16, part 3; internal/historybench): the same work
# beside 0, 1M and 10M settled requests already in the table, one database each,
# alternated over rounds in one run: the processing run and the importer (rates),
# the Web API's create (rate) and show (p50), `status` and `requests list` with each
# filter (times), with the goals (throughputs at least 0.9x the figure at 0, reads
# under 50 ms), then on the largest history the processing run while housekeeping
# deletes the oldest part of it (at least 0.8x the run alone). Prints one table.
#
# It runs on a PostgreSQL cluster of its own (internal/pgcluster), made under
# HISTORY_CLUSTER with the settings docs/operating.md recommends for production
# (shared_buffers, max_wal_size, checkpoint_timeout, wal_compression): on
# PostgreSQL's defaults the figures at 10M measure the server's checkpoints more
# than the provisioner (docs/benchmarks.md). BENCH_SERVER_URL runs it on that server
# instead, with whatever settings it has; the table's header prints them.
#
# The fill is bounded: 10M settled requests (and their sends) take about 10 GB of
# disk (and up to 16 GB of WAL more in the own cluster) and, on an idle 2-core
# machine, about 5 minutes to write and index; the databases (and the own cluster)
# are dropped at the end unless HISTORY_FLAGS=-keep.
#
#   HISTORY_SIZES=0,100k,1M           the histories (default 0,1M,10M; the first is the baseline)
#   HISTORY_ROUNDS=5                  rounds (default 3); the table shows medians
#   HISTORY_FLAGS='-keep'             keep the databases; then '-keep -reuse' measures
#                                     again on them without filling them again
#   HISTORY_FLAGS='-keep -reuse -reads-only'   the operator's reads alone, on kept databases
#   HISTORY_FLAGS='-database-prefix h_x_history'   other names for the databases
#   HISTORY_FLAGS='-import-rows 100000 -cards 500000 -housekeep-age 0'   see bin/historybench -h
#   HISTORY_CLUSTER=/var/tmp/hb       where the own cluster lives (default
#                                     $TMPDIR/provisioner-bench-history-cluster; kept there with -keep)
#   BENCH_SERVER_URL=...              that server instead of a cluster of the bench's own
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x bin/historybench ] || go build -o bin/ ./cmd/historybench
if [ -n "${BENCH_SERVER_URL:-}" ]; then
  where=(-server "$BENCH_SERVER_URL")
else
  where=(-cluster "${HISTORY_CLUSTER:-${TMPDIR:-/tmp}/provisioner-bench-history-cluster}")
fi
# shellcheck disable=SC2086 # HISTORY_FLAGS is a list of flags
exec bin/historybench -sizes "${HISTORY_SIZES:-0,1M,10M}" -rounds "${HISTORY_ROUNDS:-3}" "${where[@]}" \
  ${HISTORY_FLAGS:-}
