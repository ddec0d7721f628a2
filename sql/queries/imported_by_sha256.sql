-- The import that already brought in this content ($1 hex SHA-256), if any.
SELECT id, name FROM import_files WHERE sha256 = $1 AND state = 'IMPORTED'
