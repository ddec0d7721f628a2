-- The import that already brought in this content ($1 hex SHA-256), if any, with the
-- counts recorded at its commit: a file recovered after a crash between the commit
-- and its moves reports them (and exits 3 if rows were rejected).
SELECT id, name, rows_read, rows_created, rows_rejected FROM import_files WHERE sha256 = $1 AND state = 'IMPORTED'
