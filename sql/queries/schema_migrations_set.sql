-- The second half of recording the schema version, in the same transaction.
-- $1 version, $2 dirty (a migration begun and not known to have finished).
INSERT INTO schema_migrations (version, dirty) VALUES ($1, $2)
