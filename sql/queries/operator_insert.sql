-- A new console operator (console.CreateOperator): $1 name, $2 role, $3 bcrypt hash,
-- $4 now. Returns its id; a name taken is a unique violation.
INSERT INTO operators (name, role, password_hash, created_at, updated_at)
VALUES ($1, $2, $3, $4, $4)
RETURNING id
