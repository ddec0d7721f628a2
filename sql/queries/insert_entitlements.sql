-- Parallel arrays: $1 smartcard ids, $2 product ids as array literals ('{3,7}'),
-- $3 STB ids (0 = none); $4 says whether the file has the stb_serial_number column
-- (without it, pairings are not reconciled).
INSERT INTO entitlements (smartcard_id, product_ids, stb_id, stb_checked)
SELECT r.smartcard_id, r.product_ids::bigint[], NULLIF(r.stb_id, 0), $4
FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS r (smartcard_id, product_ids, stb_id)
