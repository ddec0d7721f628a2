#!/usr/bin/env bash
# `make bench`: the reconciliation of a 1,000,000-card fleet (entitlements for all, 1%
# drifted) against the gateway simulator in a process of its own, beside the
# simulator's query-only rate in the same run; prints the goals of issue 14 beside the
# figures (PASS/MISS). See internal/reconbench. Creates and drops its own database.
#
#   RECON_CARDS=100000 scripts/bench-reconcile.sh   a smaller fleet (default 1,000,000)
#   RECON_DRIFT=0.05                                 share drifted (default 0.01)
#   RECON_CONCURRENCY=8                              queries in flight (default 4)
#   BENCH_SERVER_URL=...                             another server (default the local one)
#   RECON_FLAGS=-keep                                keep the database and files
#   RECON_FLAGS="-reuse DIR"                         measure a kept fleet again (DIR: the
#                                                    folder -keep printed), no new fleet
#   RECON_FLAGS="-baseline OTHER/provisioner -rounds 2"   A/B against another build,
#                                                    alternated in the same run
set -euo pipefail
cd "$(dirname "$0")/.."

server=${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
# shellcheck disable=SC2086 # RECON_FLAGS is a list of flags
exec bin/reconbench -cards "${RECON_CARDS:-1000000}" -drift "${RECON_DRIFT:-0.01}" \
  -concurrency "${RECON_CONCURRENCY:-4}" -server "$server" \
  -provisioner bin/provisioner -simulator bin/cas-simulator ${RECON_FLAGS:-}
