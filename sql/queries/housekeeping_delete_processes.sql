-- Deletes the finished processes records older than $1 seconds. Requests keep their
-- process_id (there is no foreign key): it only names the run that finished them.
DELETE FROM processes
WHERE state <> 'RUNNING' AND finished_at < now() - make_interval(secs => $1)
