-- How many requests match a filter (ops.Filter): filter_requests.sql's count before
-- its limit and offset (the Web API's total_results). $1 to $17 are filter_requests.sql's.
-- The WHERE clause is filter_requests.sql's, word for word (sql's tests check it);
-- it is not a subquery of it, whose joins and order would be paid for nothing.
SELECT count(*)
FROM provisioning_requests r
WHERE ($1::text[] IS NULL OR r.life_cycle_state = ANY ($1::text[]))
  AND ($2::text[] IS NULL OR r.type = ANY ($2::text[]))
  AND ($3::text[] IS NULL OR r.priority = ANY ($3::text[]))
  AND ($4::text[] IS NULL OR CASE WHEN cardinality($4::text[]) = 1 THEN r.error_code = ($4::text[])[1] ELSE r.error_code = ANY ($4::text[]) END)
  AND ($5::text[] IS NULL OR CASE WHEN cardinality($5::text[]) = 1 THEN r.smartcard_ca_id = ($5::text[])[1] ELSE r.smartcard_ca_id = ANY ($5::text[]) END)
  AND ($6::bigint IS NULL OR r.subscription_id = $6::bigint)
  AND ($7::bigint[] IS NULL OR CASE WHEN cardinality($7::bigint[]) = 1 THEN r.source_file_id = ($7::bigint[])[1] ELSE r.source_file_id = ANY ($7::bigint[]) END)
  AND ($8::timestamptz IS NULL OR r.created_at >= $8::timestamptz)
  AND ($9::timestamptz IS NULL OR r.created_at < $9::timestamptz)
  AND ($10::timestamptz IS NULL OR r.executed_date >= $10::timestamptz)
  AND ($11::timestamptz IS NULL OR r.executed_date < $11::timestamptz)
  AND ($12::bigint = 0 OR r.number = $12::bigint)
  AND ($13::text = '' OR r.reference_number = $13::text)
  AND ($14::bigint = 0 OR r.id = $14::bigint)
  AND ($15::bigint = 0 OR r.number > $15::bigint)
  AND ($16::bigint = 0 OR r.number >= $16::bigint)
  AND ($17::bigint = 0 OR r.number <= $17::bigint)
  AND (NOT coalesce($1::text[] <@ ARRAY['PENDING'], false) OR r.number > 0)
