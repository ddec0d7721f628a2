-- Ends the step begun by savepoint.sql, undoing what it did; the transaction goes on.
ROLLBACK TO SAVEPOINT provisioner_step
