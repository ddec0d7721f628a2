-- The heartbeat of instance $1: seen now, doing $2. One row by its primary key.
UPDATE instances SET last_seen_at = now(), doing = $2 WHERE id = $1
