-- The migration lock, tried by `provisioner migrate` in a transaction that it keeps
-- open while it migrates: a transaction-level lock, which PgBouncer in transaction
-- pooling mode keeps on one server connection for as long as the transaction lasts
-- and which ends with it (a session-level lock would stay on whichever server
-- connection took it). Tried, not waited for: a migrate waiting for another would
-- otherwise hold a server connection of the pool, which the other may need.
-- $1: the lock's key, golang-migrate's for schema_migrations, so that an older
-- binary's migrate (a session lock on the same key) excludes it too.
SELECT pg_try_advisory_xact_lock($1)
