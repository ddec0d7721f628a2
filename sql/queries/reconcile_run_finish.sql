-- $1 id, $2 state, $3-$15 the counts in the table's order, $16 report path, $17 error.
UPDATE reconcile_runs
SET state = $2, checked = $3, in_sync = $4, drifted = $5, missing_products = $6, extra_products = $7,
    wrong_pairing = $8, missing_pairing = $9, extra_pairing = $10, busy = $11, unknown = $12,
    disabled = $13, uncorrectable = $14, corrections = $15, report = NULLIF($16, ''),
    error = NULLIF($17, ''), finished_at = now()
WHERE id = $1
