-- $1 kind text, then parallel arrays: $2 serial numbers, $3 alternative codes ('' = none),
-- $4 CA ids, $5 subscription numbers ('' = not installed); $6 and $7 say whether the
-- file has the alternative_code and subscription_number columns at all: a column left
-- out keeps what is stored instead of erasing it. Every subscription number must
-- exist, and no row may take another item's CA id or alternative code: the loader
-- checks first and reports such rows.
INSERT INTO installed_items (kind, serial_number, alternative_code, ca_id, subscription_id)
SELECT $1, r.serial_number, NULLIF(r.alternative_code, ''), r.ca_id, s.id
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
         AS r (serial_number, alternative_code, ca_id, subscription_number)
LEFT JOIN subscriptions s ON s.number = r.subscription_number
ON CONFLICT (serial_number) DO UPDATE
    SET alternative_code = CASE WHEN $6 THEN EXCLUDED.alternative_code ELSE installed_items.alternative_code END,
        ca_id            = EXCLUDED.ca_id,
        subscription_id  = CASE WHEN $7 THEN EXCLUDED.subscription_id ELSE installed_items.subscription_id END,
        updated_at       = now()
    WHERE (installed_items.alternative_code, installed_items.ca_id, installed_items.subscription_id)
          IS DISTINCT FROM (CASE WHEN $6 THEN EXCLUDED.alternative_code ELSE installed_items.alternative_code END,
                            EXCLUDED.ca_id,
                            CASE WHEN $7 THEN EXCLUDED.subscription_id ELSE installed_items.subscription_id END)
