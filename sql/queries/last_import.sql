-- The file the importer finished last (import_files), however it was started: the
-- scheduler, `provisioner run import`, or a one-off `provisioner import`. None: no row.
SELECT id, name, state, rows_read, rows_created, rows_rejected, coalesce(error, '') AS error,
       started_at, finished_at
FROM import_files
ORDER BY id DESC
LIMIT 1
