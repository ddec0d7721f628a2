-- entitlements.csv replaces every entitlement: each of its rows is the CRM's whole
-- view of a card, and a card it no longer lists is no longer reconciled.
DELETE FROM entitlements
