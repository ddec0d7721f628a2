-- Parallel arrays: $1 codes, $2 alternative codes ('' = none), $3 classifications,
-- $4 CA ids ('' = none); $5 says whether the file has the alternative_code column: a
-- column left out keeps what is stored.
INSERT INTO products (code, alternative_code, classification, ca_id)
SELECT r.code, NULLIF(r.alternative_code, ''), r.classification, NULLIF(r.ca_id, '')
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS r (code, alternative_code, classification, ca_id)
ON CONFLICT (code) DO UPDATE
    SET alternative_code = CASE WHEN $5 THEN EXCLUDED.alternative_code ELSE products.alternative_code END,
        classification   = EXCLUDED.classification,
        ca_id            = EXCLUDED.ca_id,
        updated_at       = now()
    WHERE (products.alternative_code, products.classification, products.ca_id)
          IS DISTINCT FROM (CASE WHEN $5 THEN EXCLUDED.alternative_code ELSE products.alternative_code END,
                            EXCLUDED.classification, EXCLUDED.ca_id)
