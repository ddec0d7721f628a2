DROP TRIGGER rejected_counts_truncate ON provisioning_requests;
DROP TRIGGER rejected_counts_insert ON provisioning_requests;
DROP TRIGGER rejected_counts_delete ON provisioning_requests;
DROP TRIGGER rejected_counts_update ON provisioning_requests;
DROP FUNCTION rejected_counts_truncate();
DROP FUNCTION rejected_counts_insert();
DROP FUNCTION rejected_counts_delete();
DROP FUNCTION rejected_counts_update();
DROP TABLE rejected_counts;
