-- Records a lever pulled (ops.Audit): $1 operator, $2 action, $3 command as given,
-- $4 filters and parameters (JSON), $5 how many requests it changed, $6 the first of
-- their numbers (ops caps them), $7 when.
INSERT INTO audit_log (operator, action, command, filters, touched, numbers, at)
VALUES ($1, $2, $3, $4::jsonb, $5, $6::bigint[], $7)
RETURNING id
