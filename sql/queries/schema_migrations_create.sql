-- The table golang-migrate records the schema version in (its layout), created by
-- `provisioner migrate` under the migration lock when the database has none.
CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)
