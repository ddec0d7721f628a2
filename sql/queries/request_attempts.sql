-- The sends of request $1 (its id), oldest first: `requests show`.
-- Through request_attempts_request (request_id, id).
SELECT id, process_id, batch_id, command_id, sent_at, answered_at, outcome, http_status,
       coalesce(error_code, '') AS error_code, coalesce(error_description, '') AS error_description, replayed
FROM request_attempts
WHERE request_id = $1
ORDER BY sent_at, id
