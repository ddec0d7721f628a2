-- The first half of recording the schema version: the table holds one row.
DELETE FROM schema_migrations
