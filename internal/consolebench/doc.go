// Package consolebench is `make bench-console`: it fills a database with millions
// of provisioning requests (by default 10,000,000: 95% settled over 90 days, 5%
// PENDING in every wait state), serves the operator console on it over real HTTP,
// and times every page and every filter of the Requests page as a signed-in
// operator's browser asks for them, printing p50 and p95 per page against the
// console's goal (150 ms) and the plan PostgreSQL chose for each (EXPLAIN ANALYZE:
// the indexes used, the rows read, whether the count stopped at its cap). See
// docs/benchmarks.md.
//
// The fill is generate_series in SQL (fill.sql), one statement per million rows,
// with the table's secondary indexes dropped and built again after (as a restore
// does): the bench's data, not the product's SQL, which lives in sql/.
package consolebench
