-- The corrections of one chunk of a reconciliation run, in one statement (one round
-- trip a chunk, where one a correction held the run's one handling step up). The
-- importer's columns (copy_requests.sql), one array each, one element a correction:
-- $1 type, $2 priority, $3 scheduled_date, $4 process_immediately, $5 subscription_id
-- (0: none), $6 smartcard_ca_id, $7 service_ca_ids as array literals, $8 stb_ca_id,
-- $9 pin, $10 reference ('': none); then the run ($11) as their source. The rows go
-- in in the arrays' order (ORDER BY the ordinality), so the numbers, taken from
-- their sequence row by row, rise in that order.
INSERT INTO provisioning_requests (type, priority, scheduled_date, process_immediately, subscription_id,
                                   smartcard_ca_id, service_ca_ids, stb_ca_id, pin, reference,
                                   source_reconcile_run_id)
SELECT c.type, c.priority, c.scheduled_date, c.process_immediately, nullif(c.subscription_id, 0),
       c.smartcard_ca_id, nullif(c.service_ca_ids, '')::text[], nullif(c.stb_ca_id, ''), nullif(c.pin, ''),
       nullif(c.reference, ''), $11
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::boolean[], $5::bigint[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[])
     WITH ORDINALITY AS c(type, priority, scheduled_date, process_immediately, subscription_id, smartcard_ca_id,
                          service_ca_ids, stb_ca_id, pin, reference, ord)
ORDER BY c.ord
RETURNING number
