-- Fresh planner statistics for the requests (store.RefreshRequestStats): ANALYZE
-- reads a sample of about 30,000 rows whatever the table's size.
ANALYZE provisioning_requests
