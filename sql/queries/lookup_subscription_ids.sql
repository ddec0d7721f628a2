-- The subscriptions a Web API call names by id ($1 ids).
SELECT id, number FROM subscriptions WHERE id = ANY ($1::bigint[])
