-- The cards (CA ids) with a PENDING request, in flight or not, at most $1 of them:
-- read once at the start of `reconcile --all`, which then knows a busy card without
-- asking (reconcile.pendingSet). The card_queue index holds exactly these rows.
SELECT DISTINCT smartcard_ca_id FROM provisioning_requests WHERE life_cycle_state = 'PENDING' LIMIT $1
