-- Turns JIT compilation off for the rest of the claim's transaction (ClaimRequests
-- runs next in it). The claim's cost estimate grows with the PENDING requests that
-- its walk may pass (requests scheduled later, or behind their card's first): with
-- some 40,000 of them it passed jit_optimize_above_cost (500,000), and PostgreSQL
-- compiled and optimised the claim's expressions at every claim: 0.7 to 1.0 s of a
-- 2 s claim at 10 million requests (docs/benchmarks.md, "Cost as history grows"), for
-- a statement that reads a few hundred rows by index. SET LOCAL, in a transaction of
-- its own, so that it holds behind PgBouncer in transaction pooling and ends with it.
SET LOCAL jit = off
