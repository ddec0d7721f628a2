-- Every installed item with the number of its subscription, in one sequential pass:
-- the importer reads it once for a file large enough that chunk-by-chunk lookups
-- would cost more (see importer/preload.go).
SELECT i.kind, i.serial_number, i.ca_id, coalesce(i.subscription_id, 0), coalesce(s.number, '')
FROM installed_items i
LEFT JOIN subscriptions s ON s.id = i.subscription_id
