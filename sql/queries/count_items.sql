-- How many installed items there are (the planner's estimate: exact after ANALYZE,
-- which every reference load runs, and free to read).
SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'installed_items'::regclass
