-- The stored products that share a code ($1), CA id ($2) or alternative code ($3) with
-- a chunk of rows to upsert (see item_conflicts.sql).
SELECT code, coalesce(ca_id, '') AS ca_id, coalesce(alternative_code, '') AS alternative_code
FROM products
WHERE code = ANY ($1::text[]) OR ca_id = ANY ($2::text[]) OR alternative_code = ANY ($3::text[])
