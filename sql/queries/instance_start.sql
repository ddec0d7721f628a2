-- Records a live instance: $1 kind, $2 name, $3 host, $4 pid, $5 version, $6 doing.
INSERT INTO instances (kind, name, host, pid, version, doing) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
