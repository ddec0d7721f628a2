-- $1 id, $2 rows read, $3 rows created, $4 rows rejected.
UPDATE import_files
SET rows_read = $2, rows_created = $3, rows_rejected = $4, finished_at = now()
WHERE id = $1
