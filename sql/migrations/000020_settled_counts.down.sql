DROP TRIGGER settled_counts_truncate ON provisioning_requests;
DROP TRIGGER settled_counts_insert ON provisioning_requests;
DROP TRIGGER settled_counts_delete ON provisioning_requests;
DROP TRIGGER settled_counts_update ON provisioning_requests;
DROP FUNCTION settled_counts_truncate();
DROP FUNCTION settled_counts_insert();
DROP FUNCTION settled_counts_delete();
DROP FUNCTION settled_counts_update();
DROP TABLE settled_counts;
