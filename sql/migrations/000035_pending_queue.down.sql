DROP TRIGGER pending_queue_truncate ON provisioning_requests;
DROP TRIGGER pending_queue_delete ON provisioning_requests;
DROP TRIGGER pending_queue_update ON provisioning_requests;
DROP TRIGGER pending_queue_insert ON provisioning_requests;
DROP FUNCTION pending_queue_truncate();
DROP FUNCTION pending_queue_delete();
DROP FUNCTION pending_queue_update();
DROP FUNCTION pending_queue_insert();
DROP TABLE pending_queue;
