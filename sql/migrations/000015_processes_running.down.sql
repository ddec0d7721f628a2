DROP INDEX IF EXISTS processes_running;
