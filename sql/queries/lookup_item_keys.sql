-- The installed items a Web API call names by id ($1) or alternative code ($2),
-- with the same columns as lookup_items.sql and the keys they were found by.
SELECT i.id, coalesce(i.alternative_code, '') AS alternative_code,
       i.kind, i.serial_number, i.ca_id, coalesce(i.subscription_id, 0) AS subscription_id,
       coalesce((SELECT s.number FROM subscriptions s WHERE s.id = i.subscription_id), '') AS subscription_number
FROM installed_items i
WHERE i.id = ANY ($1::bigint[]) OR i.alternative_code = ANY ($2::text[])
