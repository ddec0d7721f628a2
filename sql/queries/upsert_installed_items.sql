-- $1 kind text, then parallel arrays: $2 serial numbers, $3 alternative codes ('' = none),
-- $4 CA ids, $5 subscription numbers ('' = not installed). Every subscription number
-- must exist: the loader checks first and reports the rows that name an unknown one.
INSERT INTO installed_items (kind, serial_number, alternative_code, ca_id, subscription_id)
SELECT $1, r.serial_number, NULLIF(r.alternative_code, ''), r.ca_id, s.id
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
         AS r (serial_number, alternative_code, ca_id, subscription_number)
LEFT JOIN subscriptions s ON s.number = r.subscription_number
ON CONFLICT (serial_number) DO UPDATE
    SET kind             = EXCLUDED.kind,
        alternative_code = EXCLUDED.alternative_code,
        ca_id            = EXCLUDED.ca_id,
        subscription_id  = EXCLUDED.subscription_id,
        updated_at       = now()
    WHERE (installed_items.kind, installed_items.alternative_code, installed_items.ca_id, installed_items.subscription_id)
          IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.alternative_code, EXCLUDED.ca_id, EXCLUDED.subscription_id)
