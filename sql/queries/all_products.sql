-- The whole product catalogue: small (hundreds of rows), read once per import.
SELECT id, code, coalesce(alternative_code, '') AS alternative_code, classification, coalesce(ca_id, '') AS ca_id FROM products
