-- Every instance with a heartbeat row, live or dead: `provisioner status`.
SELECT id, kind, name, host, pid, version, started_at, last_seen_at, doing
FROM instances
ORDER BY kind, name, id
