-- A lever's dry run told in counts (ops.PullSummary: the console's bulk
-- confirmation page): the requests a filter matches, grouped by what the lever's
-- rule reads of each (ops.Lever.skips: in flight, held, priority), so that ops
-- decides each group as Pull decides each request and the rule keeps one home.
-- The sum of the groups is the count Pull compares with the one confirmed: the
-- same WHERE clause, which sql.go puts in place of {{filter}}, $1 to $17 as
-- filter_requests.sql's (ops sets the state PENDING); $18 the lever's now.
-- Before it, the page read all 10,000 PENDING EXPRESS requests whole, every column
-- and their names, to show 20 (2.3 s at p95 at 10 million requests); this reads the
-- four columns of the rule.
SELECT (r.lease_expires_at IS NOT NULL AND r.lease_expires_at > $18::timestamptz) AS in_flight,
       r.held_at IS NOT NULL AS held, r.priority, count(*) AS n
FROM provisioning_requests r
WHERE {{filter}}
GROUP BY 1, 2, 3
