-- Turns JIT compilation off for the rest of status's transaction (ops.Snapshot):
-- its reads of the PENDING requests are estimated by how many there are, and after
-- a bulk import (the importer's statistics refresh counts its rows) the estimate
-- passed jit_above_cost: at 10 million requests PostgreSQL then compiled each of
-- them, 75-150 ms a statement, for reads that take no longer without it. SET LOCAL,
-- so that it holds behind PgBouncer in transaction pooling and ends with the
-- transaction.
SET LOCAL jit = off
