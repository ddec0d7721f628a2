-- The stored installed items that share a serial number ($1), CA id ($2) or
-- alternative code ($3) with a chunk of rows to upsert: the loader reports a row whose
-- CA id or alternative code belongs to another item, or whose serial number is an
-- item of the other kind, instead of letting the upsert fail on a unique index.
SELECT serial_number, kind, ca_id, coalesce(alternative_code, '') AS alternative_code
FROM installed_items
WHERE serial_number = ANY ($1::text[]) OR ca_id = ANY ($2::text[]) OR alternative_code = ANY ($3::text[])
