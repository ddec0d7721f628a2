-- The RUNNING processing runs by host: each run looks for those of its own host whose
-- process is gone (issue 16), without scanning the table of every run ever made.
CREATE INDEX processes_running ON processes (host) WHERE state = 'RUNNING';
