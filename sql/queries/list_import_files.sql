-- The imported files (import_files), newest first: in state $1 ('' for any), before
-- id $2 (0: from the newest; keyset paging), at most $3; $4 one file by id (0: any).
-- The console's Files page.
SELECT id, name, state, rows_read, rows_created, rows_rejected, coalesce(error, '') AS error,
       started_at, finished_at
FROM import_files
WHERE ($1::text = '' OR state = $1::text) AND ($2::bigint = 0 OR id < $2::bigint)
  AND ($4::bigint = 0 OR id = $4::bigint)
ORDER BY id DESC
LIMIT $3
