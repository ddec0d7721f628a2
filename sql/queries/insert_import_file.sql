-- $1 name, $2 sha256, $3 state, $4 started_at, $5 duplicate_of (nullable), $6 error (nullable).
-- An import inserts its record first in its transaction: the partial unique index on
-- sha256 makes a concurrent import of the same content wait here, then fail, before
-- any row is copied.
INSERT INTO import_files (name, sha256, state, started_at, duplicate_of, error)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id
