-- Releases job $1's lock; false when this session no longer held it.
SELECT pg_advisory_unlock(hashtextextended('provisioner job ' || $1, 0))
