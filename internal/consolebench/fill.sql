-- The console bench's data (not the product's SQL: sql/ holds that): subscriptions,
-- smartcards and import files, then requests $1..$2 of $3, a statement a chunk, at $4
-- (now). Requests 1..$5 are settled over the 90 days before $4 (COMPLETED, 3%
-- REJECTED with an error code); the rest, the last 5% created, are PENDING, in
-- turn: due, blocked (behind the due one on its card), in flight, retry wait,
-- scheduled, held. Smartcards are C1..C{$6} (serial SN1..), each of subscription
-- S1..S{$7}; 80% of the requests came from one of $8 import files, in file order,
-- the rest from the Web API under one of three tokens. Then what the other pages
-- read: the settled counts (the triggers are off during the fill), 90 days of
-- processing runs and of the job ledger (a processing and an import run a minute, a
-- housekeeping and a reconciliation run a day: what housekeeping's 90 days keep),
-- and an audit trail.

-- name: subscriptions
INSERT INTO subscriptions (number, state)
SELECT 'S' || s, 'ACTIVE' FROM generate_series(1, $1::int) s

-- name: smartcards
INSERT INTO installed_items (kind, serial_number, ca_id, subscription_id)
SELECT 'SMARTCARD', 'SN' || c, 'C' || c, (c - 1) % $1::int + 1 FROM generate_series(1, $2::int) c

-- name: files
INSERT INTO import_files (name, sha256, state, rows_read, rows_created, started_at, finished_at)
SELECT format('bulk-%s.csv', lpad(f::text, 5, '0')), md5(f::text) || md5(f::text), 'IMPORTED', 0, 0,
       $1::timestamptz - interval '90 days' + (f - 1) * (interval '90 days' / $2::int),
       $1::timestamptz - interval '90 days' + (f - 1) * (interval '90 days' / $2::int)
FROM generate_series(1, $2::int) f

-- name: tokens
INSERT INTO api_tokens (name, token_sha256, created_at)
SELECT 'crm-' || t, md5('bench-token-' || t) || md5('bench-token-' || t), $1::timestamptz - interval '100 days'
FROM generate_series(1, 3) t

-- name: requests
INSERT INTO provisioning_requests (number, sequence_number, type, life_cycle_state, priority,
    scheduled_date, executed_date, request, response, reference_number, error_code, error_description,
    process_name, process_id, subscription_id, smartcard_ca_id, service_ca_ids, source_file_id, source_line,
    attempts, next_attempt_at, claimed_by, lease_expires_at, held_at, held_by, held_reason, created_at, updated_at,
    source_token_id)
SELECT i, i, type,
       CASE WHEN pending THEN 'PENDING' WHEN i % 33 = 0 THEN 'REJECTED' ELSE 'COMPLETED' END,
       CASE WHEN i % 50 = 7 THEN 'EXPRESS' ELSE 'REGULAR' END,
       CASE WHEN pending AND wait = 4 THEN $4::timestamptz + interval '1 day' + (j % 100) * interval '1 hour' ELSE created END,
       CASE WHEN pending THEN NULL ELSE created + (i % 600) * interval '1 second' END,
       CASE WHEN pending AND wait <> 3 THEN NULL ELSE
         format('{"command_id":"%s","type":"%s","smartcard":"C%s","services":["SVC%s","SVC%s"]}', i, type, card, i % 40, i % 13) END,
       CASE WHEN pending AND wait <> 3 THEN NULL WHEN i % 33 = 0 OR pending THEN '{"status":"REJECTED"}'
         ELSE format('{"status":"OK","reference":"GW%s"}', i) END,
       CASE WHEN NOT pending AND i % 33 <> 0 THEN 'GW' || i END,
       CASE WHEN pending AND wait = 3 THEN 'E_BUSY' WHEN NOT pending AND i % 33 = 0
         THEN (ARRAY['E_NOT_PAIRED','E_UNKNOWN_CARD','E_BUSY','E_INVALID_PRODUCT','E_CARD_DISABLED','E_TIMEOUT'])[1 + (i / 33) % 6] END,
       CASE WHEN NOT pending AND i % 33 = 0 THEN 'rejected by the bench' END,
       CASE WHEN NOT pending OR wait IN (2, 3) THEN 'process' END,
       CASE WHEN NOT pending OR wait IN (2, 3) THEN i / 5000 + 1 END,
       (card - 1) % $7::int + 1, 'C' || card,
       CASE WHEN type IN ('ADD_PRODUCTS', 'CANCEL_PRODUCTS') THEN ARRAY['SVC' || i % 40, 'SVC' || i % 13] END,
       CASE WHEN i % 5 <> 0 THEN (i - 1) / ($3::bigint / $8::int + 1) + 1 END,
       CASE WHEN i % 5 <> 0 THEN (i - 1) % ($3::bigint / $8::int + 1) + 2 END,
       CASE WHEN pending AND wait = 3 THEN 1 ELSE 0 END,
       CASE WHEN pending AND wait = 3 THEN $4::timestamptz + interval '1 day' END,
       CASE WHEN pending AND wait = 2 THEN 1 END,
       CASE WHEN pending AND wait = 2 THEN $4::timestamptz + interval '1 day' END,
       CASE WHEN pending AND wait = 5 THEN created END,
       CASE WHEN pending AND wait = 5 THEN 'bench' END,
       CASE WHEN pending AND wait = 5 THEN 'held by the bench' END,
       created, created,
       CASE WHEN i % 5 = 0 THEN (i / 5) % 3 + 1 END
FROM (
    SELECT i, pending, j, wait, created,
           CASE WHEN NOT pending THEN (i * 7919) % $6::int + 1
                ELSE (j - CASE WHEN wait = 1 THEN 1 ELSE 0 END) % $6::int + 1 END AS card,
           (ARRAY['ADD_PRODUCTS','ADD_PRODUCTS','ADD_PRODUCTS','ADD_PRODUCTS','CANCEL_PRODUCTS','CANCEL_PRODUCTS',
                  'PAIR','UNPAIR','RESET_PIN','RESET_SMARTCARD'])[1 + i % 10] AS type
    FROM (
        SELECT i, i > $5::bigint AS pending, i - $5::bigint - 1 AS j, (i - $5::bigint - 1) % 6 AS wait,
               $4::timestamptz - interval '90 days' + (i::float8 / $3::bigint) * interval '90 days' AS created
        FROM generate_series($1::bigint, $2::bigint) i
    ) g
) r;

-- name: settled_counts
INSERT INTO settled_counts (life_cycle_state, type, priority, n)
SELECT life_cycle_state, type, priority, count(*)
FROM provisioning_requests
WHERE life_cycle_state <> 'PENDING'
GROUP BY life_cycle_state, type, priority

-- name: pending_queue
INSERT INTO pending_queue (smartcard_ca_id, sequence_number, number, type, priority, scheduled_date,
                           created_at, held, next_attempt_at, lease_expires_at)
SELECT smartcard_ca_id, sequence_number, number, type, priority, scheduled_date,
       created_at, held_at IS NOT NULL, next_attempt_at, lease_expires_at
FROM provisioning_requests
WHERE life_cycle_state = 'PENDING'

-- name: rejected_counts
INSERT INTO rejected_counts (minute, error_code, n)
SELECT date_trunc('minute', executed_date, 'UTC'), coalesce(error_code, ''), count(*)
FROM provisioning_requests
WHERE life_cycle_state = 'REJECTED' AND executed_date >= now() - interval '2 days'
GROUP BY 1, 2

-- name: processes
INSERT INTO processes (name, host, pid, state, claimed, completed, rejected, retried, batches, started_at, finished_at)
SELECT 'PROVISIONING_REQUEST_PROCESSING_RUN', 'bench-host-' || m % 3, 1000 + m % 30000, 'SUCCEEDED',
       100, 97, 3, 0, 1, at, at + interval '20 seconds'
FROM (SELECT m, $1::timestamptz - interval '90 days' + m * interval '1 minute' AS at
      FROM generate_series(0, 90 * 1440 - 1) m) g

-- name: job_runs
INSERT INTO job_runs (job, tick, trigger, instance, state, started_at, finished_at, counts)
SELECT job, at, 'SCHEDULE', 'bench-host-' || m % 3 || ':' || (1000 + m % 30000),
       CASE WHEN m % 997 = 0 THEN 'FAILED' WHEN m % 101 = 0 THEN 'SKIPPED' ELSE 'SUCCEEDED' END,
       at, at + interval '20 seconds', '{"claimed": 100, "completed": 97, "rejected": 3}'
FROM (SELECT m, j.job, $1::timestamptz - interval '90 days' + m * interval '1 minute' AS at
      FROM generate_series(0, 90 * 1440 - 1) m,
           (VALUES ('process', 1), ('import', 1), ('housekeeping', 1440), ('reconcile', 1440)) j (job, every)
      WHERE m % j.every = 0) g

-- name: audit_log
INSERT INTO audit_log (at, operator, action, command, filters, touched, numbers)
SELECT $1::timestamptz - interval '90 days' + a * (interval '90 days' / 20000), 'operator-' || a % 7,
       (ARRAY['retry','hold','release','cancel','reschedule','priority','pause','resume'])[1 + a % 8],
       'requests ' || (ARRAY['retry','hold','release','cancel','reschedule','priority','pause','resume'])[1 + a % 8] || ' --state PENDING',
       '{"states": ["PENDING"]}', 3, ARRAY[a, a + 1, a + 2]::bigint[]
FROM generate_series(1, 20000) a
