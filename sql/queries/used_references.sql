-- Which of the callers' references ($1) some request already carries.
SELECT reference FROM provisioning_requests WHERE reference = ANY ($1::text[])
