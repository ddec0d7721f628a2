-- Clears the dead rows of pending_queue (migration 000035): every request a run
-- claims and writes back leaves one or two there, and status reads the whole table.
-- At the end of a processing run and by housekeeping, as autovacuum cannot be
-- counted on (it is off on some servers, and its thresholds are a fraction of the
-- table). The table is small, so this takes milliseconds; SKIP_LOCKED: a run that
-- ends while another one vacuums does not wait for it. Not in a transaction.
VACUUM (SKIP_LOCKED) pending_queue, settled_counts, rejected_counts
