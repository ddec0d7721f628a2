-- Fresh planner statistics after a reference load: the importer's lookups are planned
-- on them, and autovacuum may be off or late after a bulk load.
ANALYZE subscriptions, installed_items, products, entitlements
