-- A failed sign-in ($1 operator id, $2 the failures in a row that lock, $3 the
-- lock's end): counts it, and at the limit locks the account and starts the count
-- afresh. Returns the lock's end (NULL: not locked by this failure or before).
UPDATE operators
SET failed_signins = CASE WHEN failed_signins + 1 >= $2 THEN 0 ELSE failed_signins + 1 END,
    locked_until   = CASE WHEN failed_signins + 1 >= $2 THEN $3::timestamptz ELSE locked_until END
WHERE id = $1
RETURNING locked_until
