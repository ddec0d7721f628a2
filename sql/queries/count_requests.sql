-- How many requests match a filter (ops.Filter): filter_requests.sql's count before
-- its limit and offset (the Web API's total_results). $1 to $17 are filter_requests.sql's.
-- The WHERE clause is filter_requests.sql's: sql.go puts it in place of {{filter}},
-- so that the two have one text. It is not a subquery of it, whose joins and order
-- would be paid for nothing.
SELECT count(*)
FROM provisioning_requests r
WHERE {{filter}}
