-- A failed sign-in ($1 operator id, $2 now, $3 the failures that lock, $4 the lock's
-- end): counts it, and at the limit locks the account and starts the count afresh.
UPDATE operators
SET failed_signins = CASE WHEN failed_signins + 1 >= $3 THEN 0 ELSE failed_signins + 1 END,
    locked_until   = CASE WHEN failed_signins + 1 >= $3 THEN $4::timestamptz ELSE locked_until END
WHERE id = $1
RETURNING locked_until
