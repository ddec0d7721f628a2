-- The products a Web API call names by code ($1), id ($2) or alternative code ($3),
-- with the columns of all_products.sql.
SELECT id, code, coalesce(alternative_code, '') AS alternative_code, classification, coalesce(ca_id, '') AS ca_id
FROM products
WHERE code = ANY ($1::text[]) OR id = ANY ($2::bigint[]) OR alternative_code = ANY ($3::text[])
