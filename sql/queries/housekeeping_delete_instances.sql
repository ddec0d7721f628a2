-- Deletes the rows of instances not seen for more than $1 seconds: dead for long.
DELETE FROM instances WHERE last_seen_at < now() - make_interval(secs => $1)
