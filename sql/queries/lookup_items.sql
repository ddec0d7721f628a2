-- The installed items named in one chunk of instructions, by serial number ($1) or by
-- CA id ($2), with the subscription each is installed on.
SELECT i.kind, i.serial_number, i.ca_id,
       coalesce(s.id, 0)       AS subscription_id,
       coalesce(s.number, '')  AS subscription_number
FROM installed_items i
LEFT JOIN subscriptions s ON s.id = i.subscription_id
WHERE i.serial_number = ANY ($1::text[]) OR i.ca_id = ANY ($2::text[])
