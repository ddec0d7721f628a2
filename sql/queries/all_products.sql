-- The whole product catalogue: small (hundreds of rows), read once per import.
SELECT code, classification, coalesce(ca_id, '') AS ca_id FROM products
