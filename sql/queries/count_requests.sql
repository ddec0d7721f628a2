-- How many requests the Web API's list filters select: type ($1), life cycle state
-- ($2), the gateway's reference number ($3), each when not ''.
SELECT count(*)
FROM provisioning_requests
WHERE ($1::text = '' OR type = $1::text)
  AND ($2::text = '' OR life_cycle_state = $2::text)
  AND ($3::text = '' OR reference_number = $3::text)
