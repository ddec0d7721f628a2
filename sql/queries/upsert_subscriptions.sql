-- $1 numbers text[], $2 states text[] (parallel arrays).
INSERT INTO subscriptions (number, state)
SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT (number) DO UPDATE
    SET state = EXCLUDED.state, updated_at = now()
    WHERE subscriptions.state IS DISTINCT FROM EXCLUDED.state
