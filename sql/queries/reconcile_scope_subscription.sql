-- The smartcards installed on subscription $1 (its number): a reconciliation's scope.
SELECT i.id FROM installed_items i JOIN subscriptions s ON s.id = i.subscription_id
WHERE s.number = $1 AND i.kind = 'SMARTCARD'
