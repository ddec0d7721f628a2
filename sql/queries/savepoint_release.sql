-- Ends the step begun by savepoint.sql, keeping what it did.
RELEASE SAVEPOINT provisioner_step
