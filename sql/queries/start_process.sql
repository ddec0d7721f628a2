-- $1 name, $2 host, $3 pid. (The Web API's one-request runs are recorded by
-- claim_request.sql, in the statement that claims their request.)
INSERT INTO processes (name, host, pid)
VALUES ($1::text, $2::text, $3::integer)
RETURNING id
