-- The schema version golang-migrate recorded.
SELECT version, dirty FROM schema_migrations
