-- The installed items of $1 (serial numbers), with their ids: the entitlements'
-- smartcards and STBs.
SELECT id, kind, serial_number FROM installed_items WHERE serial_number = ANY ($1::text[])
