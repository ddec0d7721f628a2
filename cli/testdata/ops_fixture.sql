-- A database with known contents for the operator's commands (status, requests
-- list|show|retry), seen at 2026-11-30T12:00:00Z (the tests' clock).
INSERT INTO subscriptions (number, state) VALUES ('S1001', 'ACTIVE'), ('S1002', 'ACTIVE');
INSERT INTO installed_items (kind, serial_number, ca_id, subscription_id) VALUES
    ('SMARTCARD', 'SC0000000001', '1000000001', 1),
    ('SMARTCARD', 'SC0000000002', '1000000002', 2),
    ('STB', 'STB-0001', '7700000001', 2);
INSERT INTO import_files (name, sha256, state, rows_read, rows_created, started_at, finished_at)
VALUES ('bulk.20261130T080000.000000Z.csv', 'aa', 'IMPORTED', 2, 2, '2026-11-30T08:00:00Z', '2026-11-30T08:00:01Z');

-- Numbers and sequence numbers 1..10 in this order (11 below).
INSERT INTO provisioning_requests (type, life_cycle_state, priority, scheduled_date, executed_date,
        subscription_id, smartcard_ca_id, service_ca_ids, stb_ca_id, pin, reference, source_file_id, source_line,
        request, response, reference_number, error_code, error_description, process_name, process_id, attempts,
        created_at, updated_at)
VALUES
 -- 1: completed from the file
 ('ADD_PRODUCTS', 'COMPLETED', 'REGULAR', '2026-11-30T08:00:00Z', '2026-11-30T08:05:00Z',
  1, '1000000001', '{P-1001}', NULL, NULL, 'crm-1', 1, 2,
  '{"command_id":"1","type":"ADD_PRODUCTS","smartcard":"1000000001","products":["P-1001"]}',
  '{"command_id":"1","status":"COMPLETED","reference":"GW-00000001"}', 'GW-00000001', NULL, NULL,
  'PROVISIONING_REQUEST_PROCESSING_RUN', 7, 0, '2026-11-30T08:00:00Z', '2026-11-30T08:05:00Z'),
 -- 2: rejected by the gateway
 ('CANCEL_PRODUCTS', 'REJECTED', 'REGULAR', '2026-11-30T08:00:00Z', '2026-11-30T08:05:00Z',
  1, '1000000001', '{P-1002}', NULL, NULL, NULL, 1, 3,
  '{"command_id":"2","type":"CANCEL_PRODUCTS","smartcard":"1000000001","products":["P-1002"]}',
  '{"command_id":"2","status":"REJECTED","reference":"GW-00000002","error_code":"E_NOT_ENTITLED","error_description":"smartcard 1000000001 is not entitled to P-1002"}',
  'GW-00000002', 'E_NOT_ENTITLED', 'smartcard 1000000001 is not entitled to P-1002',
  'PROVISIONING_REQUEST_PROCESSING_RUN', 7, 0, '2026-11-30T08:00:00Z', '2026-11-30T08:05:00Z'),
 -- 3: rejected by the gateway, EXPRESS
 ('PAIR', 'REJECTED', 'EXPRESS', '2026-11-30T09:00:00Z', '2026-11-30T09:00:00Z',
  2, '1000000002', NULL, '7700000001', NULL, NULL, NULL, NULL,
  '{"command_id":"3","type":"PAIR","smartcard":"1000000002","stb":"7700000001"}',
  '{"command_id":"3","status":"REJECTED","reference":"GW-00000003","error_code":"E_STB_PAIRED_ELSEWHERE","error_description":"7700000001 is paired with 1000000009"}',
  'GW-00000003', 'E_STB_PAIRED_ELSEWHERE', '7700000001 is paired with 1000000009',
  'PROVISIONING_REQUEST_PROCESSING_RUN', 8, 0, '2026-11-30T09:00:00Z', '2026-11-30T09:00:00Z'),
 -- 4: never settled: E_MAX_ATTEMPTS, last answer RETRY
 ('SET_PIN', 'REJECTED', 'REGULAR', '2026-11-30T09:00:00Z', '2026-11-30T10:00:00Z',
  2, '1000000002', NULL, NULL, '4821', NULL, NULL, NULL,
  '{"command_id":"4","type":"SET_PIN","smartcard":"1000000002","pin":"4821"}',
  '{"command_id":"4","status":"RETRY","error_code":"E_BUSY","error_description":"smartcard is busy, send again later"}',
  NULL, 'E_MAX_ATTEMPTS', 'not settled after 10 attempts; last: E_BUSY: smartcard is busy, send again later',
  'PROVISIONING_REQUEST_PROCESSING_RUN', 9, 10, '2026-11-30T09:00:00Z', '2026-11-30T10:00:00Z'),
 -- 5: rejected two days ago: not one of the last day's errors
 ('UNPAIR', 'REJECTED', 'REGULAR', '2026-11-28T06:00:00Z', '2026-11-28T06:00:00Z',
  1, '1000000001', NULL, NULL, NULL, NULL, NULL, NULL,
  '{"command_id":"5","type":"UNPAIR","smartcard":"1000000001"}',
  '{"command_id":"5","status":"REJECTED","reference":"GW-00000000","error_code":"E_NOT_PAIRED","error_description":"smartcard 1000000001 is not paired"}',
  'GW-00000000', 'E_NOT_PAIRED', 'smartcard 1000000001 is not paired',
  'PROVISIONING_REQUEST_PROCESSING_RUN', 3, 0, '2026-11-28T06:00:00Z', '2026-11-28T06:00:00Z'),
 -- 6: pending, due since 10:00, busy twice: the oldest pending
 ('RESET_PIN', 'PENDING', 'REGULAR', '2026-11-30T10:00:00Z', NULL,
  2, '1000000002', NULL, NULL, NULL, NULL, NULL, NULL,
  '{"command_id":"6","type":"RESET_PIN","smartcard":"1000000002"}',
  '{"command_id":"6","status":"RETRY","error_code":"E_BUSY","error_description":"smartcard is busy, send again later"}',
  NULL, 'E_BUSY', 'smartcard is busy, send again later', NULL, NULL, 2,
  '2026-11-30T09:30:00Z', '2026-11-30T11:00:00Z'),
 -- 7: pending EXPRESS, created 11:30
 ('RESET_SMARTCARD', 'PENDING', 'EXPRESS', '2026-11-30T11:30:00Z', NULL,
  1, '1000000001', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
  '2026-11-30T11:30:00Z', '2026-11-30T11:30:00Z'),
 -- 8: pending, scheduled tomorrow: not due
 ('ADD_PRODUCTS', 'PENDING', 'REGULAR', '2026-12-01T06:00:00Z', NULL,
  2, '1000000002', '{P-1003,P-1004}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
  '2026-11-30T07:00:00Z', '2026-11-30T07:00:00Z'),
 -- 9: completed EXPRESS
 ('ADD_PRODUCTS', 'COMPLETED', 'EXPRESS', '2026-11-30T10:55:00Z', '2026-11-30T11:00:00Z',
  1, '1000000001', '{P-1003}', NULL, NULL, NULL, NULL, NULL,
  '{"command_id":"9","type":"ADD_PRODUCTS","smartcard":"1000000001","products":["P-1003"]}',
  '{"command_id":"9","status":"COMPLETED","reference":"GW-00000009"}', 'GW-00000009', NULL, NULL,
  'PROVISIONING_REQUEST_PROCESSING_RUN', 9, 0, '2026-11-30T10:55:00Z', '2026-11-30T11:00:00Z'),
 -- 10: rejected by the gateway, the same code as 2
 ('CANCEL_PRODUCTS', 'REJECTED', 'REGULAR', '2026-11-30T10:55:00Z', '2026-11-30T11:00:00Z',
  2, '1000000002', '{P-1001}', NULL, NULL, NULL, NULL, NULL,
  '{"command_id":"10","type":"CANCEL_PRODUCTS","smartcard":"1000000002","products":["P-1001"]}',
  '{"command_id":"10","status":"REJECTED","reference":"GW-00000010","error_code":"E_NOT_ENTITLED","error_description":"smartcard 1000000002 is not entitled to P-1001"}',
  'GW-00000010', 'E_NOT_ENTITLED', 'smartcard 1000000002 is not entitled to P-1001',
  'PROVISIONING_REQUEST_PROCESSING_RUN', 9, 0, '2026-11-30T10:55:00Z', '2026-11-30T11:00:00Z');

-- What the PENDING ones wait for at 12:00: 6 backs off until 12:05 (retry wait); 7
-- was claimed by a run that died, its lease expired at 11:40 (due again); 8 is
-- scheduled tomorrow; 11 is in flight, its lease holds until 12:04.
UPDATE provisioning_requests SET next_attempt_at = '2026-11-30T12:05:00Z' WHERE number = 6;
UPDATE provisioning_requests SET claimed_by = 11, lease_expires_at = '2026-11-30T11:40:00Z' WHERE number = 7;
INSERT INTO provisioning_requests (type, priority, scheduled_date, subscription_id, smartcard_ca_id, pin,
        claimed_by, lease_expires_at, created_at, updated_at)
VALUES ('SET_PIN', 'REGULAR', '2026-11-30T11:50:00Z', 1, '1000000001', '1234',
        12, '2026-11-30T12:04:00Z', '2026-11-30T11:50:00Z', '2026-11-30T11:59:00Z');

-- The processing runs those ids name: 7 finished, 11 died (its row still RUNNING),
-- 12 is the one-off `provisioner process` in flight now, which the ledger does not see.
INSERT INTO processes (id, name, host, pid, state, claimed, completed, rejected, retried, batches, error, started_at, finished_at)
OVERRIDING SYSTEM VALUE VALUES
 (7, 'PROVISIONING_REQUEST_PROCESSING_RUN', 'host-a', 101, 'SUCCEEDED', 40, 38, 2, 0, 1, NULL, '2026-11-30T08:04:59Z', '2026-11-30T08:05:01.5Z'),
 (11, 'PROVISIONING_REQUEST_PROCESSING_RUN', 'host-b', 202, 'RUNNING', 1, 0, 0, 0, 1, NULL, '2026-11-30T11:34:00Z', NULL),
 (12, 'PROVISIONING_REQUEST_PROCESSING_RUN', 'ops-host', 404, 'RUNNING', 1, 0, 0, 0, 1, NULL, '2026-11-30T11:59:30Z', NULL);

-- The run ledger: the last run of each job (a SKIPPED tick is not one).
INSERT INTO job_runs (job, tick, trigger, instance, state, started_at, finished_at, counts, error) VALUES
 ('import', '2026-11-30T11:00:00Z', 'SCHEDULE', 'host-a:101', 'SUCCEEDED', '2026-11-30T11:00:00.2Z', '2026-11-30T11:00:02.7Z',
  '{"files": 2, "created": 118, "rejected": 3}', NULL),
 ('import', '2026-11-30T11:30:00Z', 'SCHEDULE', 'host-b:202', 'SKIPPED', '2026-11-30T11:30:00.1Z', '2026-11-30T11:30:00.1Z', '{}', NULL),
 ('process', '2026-11-30T11:00:00Z', 'SCHEDULE', 'host-a:101', 'SUCCEEDED', '2026-11-30T11:00:00Z', '2026-11-30T11:01:00Z',
  '{"claimed": 40, "completed": 40}', NULL),
 ('process', '2026-11-30T11:45:00Z', 'SCHEDULE', 'host-b:202', 'FAILED', '2026-11-30T11:45:00Z', '2026-11-30T11:45:03Z',
  '{"claimed": 100}', 'gateway: HTTP 401 invalid token: check the gateway token and destination id'),
 ('housekeeping', '2026-11-30T11:59:00Z', 'MANUAL', 'ops-host:303', 'RUNNING', '2026-11-30T11:59:00Z', NULL, '{}', NULL);

-- The sends' history (request_attempts): 2 was sent once and rejected; 4 was sent
-- twice before its E_MAX_ATTEMPTS (the fixture keeps two of its ten sends), the last
-- answered as a replay.
INSERT INTO request_attempts (request_id, process_id, batch_id, command_id, sent_at, answered_at, outcome,
        http_status, error_code, error_description, replayed)
SELECT r.id, a.process_id, a.batch_id, a.command_id, a.sent_at, a.answered_at, a.outcome, a.http_status,
       a.error_code, a.error_description, a.replayed
FROM (VALUES
 (2::bigint, 7::bigint, 'run-7-1', '2', '2026-11-30T08:04:59.5Z'::timestamptz, '2026-11-30T08:05:00Z'::timestamptz, 'rejected', 200,
  'E_NOT_ENTITLED', 'smartcard 1000000001 is not entitled to P-1002', false),
 (4, 7, 'run-7-1', '4', '2026-11-30T08:04:59.5Z', NULL, 'unknown', NULL,
  'E_OUTCOME_UNKNOWN', 'no answer within 30s (outcome unknown)', false),
 (4, 9, 'run-9-3', '4', '2026-11-30T10:59:59Z', '2026-11-30T11:00:00Z', 'retry', 200,
  'E_BUSY', 'smartcard is busy, send again later', true)
) AS a (number, process_id, batch_id, command_id, sent_at, answered_at, outcome, http_status, error_code, error_description, replayed)
JOIN provisioning_requests r ON r.number = a.number
ORDER BY a.sent_at, a.number;

-- Heartbeats at 12:00 (dead after 1m): host-a's scheduler is live; host-b's died at
-- 11:40; ops-host's `provisioner run housekeeping` (303) died at 11:59, 10 s after its
-- start (its last beat at 11:58:55), leaving its run RUNNING; the one-off `provisioner process` (404) is live.
INSERT INTO instances (kind, name, host, pid, version, started_at, last_seen_at, doing) VALUES
 ('scheduler', 'host-a:101', 'host-a', 101, 'provisioner v1.4.0', '2026-11-29T06:00:00Z', '2026-11-30T11:59:55Z', 'idle'),
 ('scheduler', 'host-b:202', 'host-b', 202, 'provisioner v1.4.0', '2026-11-29T06:00:00Z', '2026-11-30T11:40:00Z', 'running process'),
 ('run', 'ops-host:303', 'ops-host', 303, 'provisioner v1.4.0', '2026-11-30T11:58:50Z', '2026-11-30T11:58:55Z', 'running housekeeping'),
 ('process', 'ops-host:404', 'ops-host', 404, 'provisioner v1.4.0', '2026-11-30T11:59:30Z', '2026-11-30T11:59:50Z', 'processing run');
