-- The subscriptions named in one chunk of instructions ($1 numbers).
SELECT id, number FROM subscriptions WHERE number = ANY ($1::text[])
