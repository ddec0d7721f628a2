-- A successful sign-in ($1 operator id): the count of failures starts afresh.
UPDATE operators SET failed_signins = 0, locked_until = NULL WHERE id = $1
