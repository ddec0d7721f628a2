-- The items of $1 (serial numbers) with their kind and whether the CRM's
-- entitlements list them: a reconciliation's scope, checked.
SELECT i.id, i.serial_number, i.kind,
       EXISTS (SELECT 1 FROM entitlements e WHERE e.smartcard_id = i.id) AS entitled
FROM installed_items i WHERE i.serial_number = ANY ($1::text[])
