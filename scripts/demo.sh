#!/usr/bin/env bash
# The whole job end to end on the bundled samples, in a database of its own
# (provisioner_demo, recreated each time so that the output is always the same):
# migrate, load the reference data, start the CAS gateway simulator, drop the sample
# instruction files in an inbox and import them (process_immediately rows are sent at
# once), drop the same files again (nothing new is created), run the processing, and
# show what became of each request.
set -euo pipefail
cd "$(dirname "$0")/.."

server=${DEMO_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL=${DATABASE_URL:-$server/provisioner_demo?sslmode=disable}
export LOG_FORMAT=${LOG_FORMAT:-text}
export CAS_GATEWAY_TOKEN=demo-token CAS_DESTINATION_ID=CRM01
prov=bin/provisioner
demo=.demo
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

psql "$server/postgres?sslmode=disable" -qX -c 'DROP DATABASE IF EXISTS provisioner_demo WITH (FORCE)' -c 'CREATE DATABASE provisioner_demo'
rm -rf "$demo" && mkdir -p "$demo/inbox"

step "provisioner migrate"
$prov migrate

step "provisioner reference load samples/reference"
$prov reference load samples/reference

step "cas-simulator: the CAS gateway, knowing the same reference data (port chosen by the system)"
bin/cas-simulator -addr 127.0.0.1:0 -reference samples/reference -token "$CAS_GATEWAY_TOKEN" \
  -destination "$CAS_DESTINATION_ID" -seed 42 >"$demo/simulator.out" 2>"$demo/simulator.log" &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  addr=$(sed -n 's/^listening on //p' "$demo/simulator.out")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "demo: the simulator did not start:" >&2; cat "$demo/simulator.log" >&2; exit 1; }
export CAS_GATEWAY_URL=$addr
echo "gateway at $CAS_GATEWAY_URL"

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

step "provisioner process: one processing run"
set +e
$prov process
code=$?
set -e
echo "exit code $code (3: some requests were rejected by the gateway, as the samples mean to show)"
[ "$code" = 3 ] || { echo "demo: expected exit code 3" >&2; exit 1; }

step "what became of each request (two are scheduled for later and still PENDING)"
psql "$DATABASE_URL" -X -P pager=off -c "
  SELECT number, type, priority AS prio, sequence_number AS seq, life_cycle_state AS state,
         to_char(scheduled_date, 'YYYY-MM-DD HH24:MI') AS scheduled, smartcard_ca_id AS smartcard,
         coalesce(array_to_string(service_ca_ids, ','), stb_ca_id, CASE WHEN pin IS NOT NULL THEN 'PIN ****' END, '') AS params,
         reference_number AS gw_ref, error_code, process_id AS run, source_line AS line
  FROM provisioning_requests ORDER BY sequence_number"
step "the inbox afterwards"
find "$demo/inbox" -type f | sort

step "provisioner status: the operator's one look (queue, inbox, last runs, errors of the day)"
$prov status --inbox "$demo/inbox"

step "provisioner requests list --state REJECTED: what to look at, and retry once fixed"
$prov requests list --state REJECTED

step "the operator console on the demo's database"
# A demo operator, its password generated and shown here (kept in $demo for
# scripts that take the README's picture: internal/consoleshot).
$prov operators create demo --role operator >"$demo/console-password" 2>/dev/null
cat <<TXT
Serve it (the Web API and the console, on one listener; Ctrl-C stops it):

  DATABASE_URL='$DATABASE_URL' bin/provisioner serve --listen 127.0.0.1:8080

then open http://127.0.0.1:8080/console/ and sign in as demo, password $(cat "$demo/console-password")
TXT
