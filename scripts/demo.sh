#!/usr/bin/env bash
# The main job end to end on the bundled samples, in a database of its own
# (provisioner_demo, recreated each time so that the output is always the same):
# migrate, load the reference data, drop the sample instruction files in an inbox,
# import it, drop the same files again (nothing new is created), and show the requests.
set -euo pipefail
cd "$(dirname "$0")/.."

server=${DEMO_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL=${DATABASE_URL:-$server/provisioner_demo?sslmode=disable}
prov=bin/provisioner
demo=.demo
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

psql "$server/postgres?sslmode=disable" -qX -c 'DROP DATABASE IF EXISTS provisioner_demo WITH (FORCE)' -c 'CREATE DATABASE provisioner_demo'
rm -rf "$demo" && mkdir -p "$demo/inbox"

step "provisioner migrate"
$prov migrate

step "provisioner reference load samples/reference"
$prov reference load samples/reference

step "drop samples/inbox/*.csv into $demo/inbox, then: provisioner import --inbox $demo/inbox"
cp samples/inbox/*.csv "$demo/inbox/"
set +e
$prov import --inbox "$demo/inbox" --settle 0
code=$?
set -e
echo "exit code $code (3: done, but rows were rejected, as the samples mean to show)"
[ "$code" = 3 ] || { echo "demo: expected exit code 3" >&2; exit 1; }

step "the rejects files (fix a row and drop the file back in the inbox as it is)"
for f in "$demo"/inbox/rejects/*.csv; do echo "--- $f"; cat "$f"; done

step "the same files dropped again: reported as duplicates, nothing new created"
cp samples/inbox/*.csv "$demo/inbox/"
$prov import --inbox "$demo/inbox" --settle 0

step "the PENDING requests, in sending order"
psql "$DATABASE_URL" -X -P pager=off -c "
  SELECT number, type, priority, sequence_number AS seq, life_cycle_state AS state,
         to_char(scheduled_date, 'YYYY-MM-DD HH24:MI') AS scheduled, smartcard_ca_id AS smartcard,
         array_to_string(service_ca_ids, ',') AS services, stb_ca_id AS stb, reference, source_line AS line
  FROM provisioning_requests ORDER BY priority = 'REGULAR', sequence_number"
step "the inbox afterwards"
find "$demo/inbox" -type f | sort
