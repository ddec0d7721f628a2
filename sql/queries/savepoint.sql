-- A savepoint of the caller's transaction, so that a step that may fail (the
-- importer's statistics refresh, store.RefreshRequestStatsTx) costs it nothing. The
-- name is fixed: savepoints nest, and the step releases or rolls back to it.
SAVEPOINT provisioner_step
