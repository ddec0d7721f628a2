-- $1 name, $2 host, $3 pid.
INSERT INTO processes (name, host, pid) VALUES ($1, $2, $3) RETURNING id
